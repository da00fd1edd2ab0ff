# Demo of docs/topics/evaluation.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    keys, values = unit_pairs(200, 32, 32, torch.Generator().manual_seed(0))  # a 200-position haystack
    needles = torch.tensor([50, 150])
    q = keys[needles]  # [2, d]: each question is its needle's key
    weights = torch.exp(50.0 * (q @ keys.T))  # the softmax written out, in float64
    expected = (weights / weights.sum(dim=1, keepdim=True)) @ values
    assert torch.allclose(needle_memory("full", q, keys, values), expected, atol=1e-12)
    assert torch.allclose(needle_memory("linear", q, keys, values), q @ keys.T @ values, atol=1e-12)
    found = (needle_memory("full", q, keys, values) @ values.T).argmax(dim=1)
    assert found.tolist() == needles.tolist()
    print("full attention finds both needles of a 200-position haystack; the linear state is q K^T V")
