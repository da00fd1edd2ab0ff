# Demo of docs/lessons/02-sparse-and-flash.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    import math

    import torch.nn.functional as F

    torch.manual_seed(0)
    T, D, block = 45, 16, 8  # 45 is not a multiple of the tile: the last tile is ragged
    q, k, v = (torch.randn(1, 2, T, D, dtype=torch.float64) for _ in range(3))
    m = torch.full((1, 2, T), -math.inf, dtype=torch.float64)
    l = torch.zeros(1, 2, T, dtype=torch.float64)
    acc = torch.zeros(1, 2, T, D, dtype=torch.float64)
    for j in range(0, T, block):  # stream the keys one tile at a time, as FlashAttention does
        s = q @ k[:, :, j : j + block].transpose(-2, -1) / math.sqrt(D)
        m, l, acc = online_softmax_update(m, l, acc, s, v[:, :, j : j + block])
    expected = F.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(acc / l[..., None], expected, atol=1e-12)
    print("online_softmax_update, tile by tile, matches scaled_dot_product_attention")
