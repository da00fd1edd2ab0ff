# Demo of docs/topics/positions.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    import math

    torch.manual_seed(0)
    D, T = 8, 11
    x = torch.randn(1, 1, T, D, dtype=torch.float64)
    positions = torch.arange(T)
    freqs = rope_theta(D)  # theta_i = 10000^(-2i/D)
    out = rope_rotate(x, positions, freqs)
    expected = torch.empty_like(x)  # pair i is (x[i], x[i + D/2]), turned by m * theta_i
    for m in range(T):
        for i in range(D // 2):
            angle = m * 10000.0 ** (-2 * i / D)
            a, b = x[0, 0, m, i], x[0, 0, m, i + D // 2]
            expected[0, 0, m, i] = a * math.cos(angle) - b * math.sin(angle)
            expected[0, 0, m, i + D // 2] = a * math.sin(angle) + b * math.cos(angle)
    assert torch.allclose(out, expected, atol=1e-12)
    print("rope_rotate turns every pair by m * theta_i, as the formula says")
