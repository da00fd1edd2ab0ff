# Demo of docs/topics/evaluation.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    hay = make_haystack(200, [0.25, 0.75], seed=0)
    readout = needle_readout("softmax", hay)  # [m, d_v]: one answer per needle, asked at the end
    assert readout.shape[0] == 2
    print("needle_readout answers both needles of a 200-position haystack")
