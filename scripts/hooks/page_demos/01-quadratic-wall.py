# Demo of docs/lessons/01-quadratic-wall.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    import math

    import torch.nn.functional as F

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 37, 16, dtype=torch.float64) for _ in range(3))
    pos = torch.arange(37)
    out = naive_attention(q, k, v, position_keep(pos, pos, (-1, 0)), 1 / math.sqrt(16))  # causal
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(out, expected, atol=1e-12), (out - expected).abs().max()
    n, d = 1000, 64
    assert attention_flops(n, d) == 4 * n * n * d  # QK^T and PV, 2 FLOPs per multiply-add
    print(
        "naive_attention with a causal keep mask matches scaled_dot_product_attention; attention_flops is 4 n^2 d"
    )
