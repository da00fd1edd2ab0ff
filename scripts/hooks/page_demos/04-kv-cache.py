# Demo of docs/lessons/04-kv-cache.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    import math

    import torch.nn.functional as F

    torch.manual_seed(0)
    B, H, H_kv, T, D = 2, 8, 2, 23, 16  # grouped-query attention: 4 query heads per KV head
    q = torch.randn(B, H, T, D, dtype=torch.float64)
    k, v = (torch.randn(B, H_kv, T, D, dtype=torch.float64) for _ in range(2))
    out = F.scaled_dot_product_attention(
        q, repeat_kv_heads(k, H // H_kv), repeat_kv_heads(v, H // H_kv), is_causal=True
    )
    expected = torch.empty_like(out)  # the formula, head by head: query head h reads KV head h // 4
    for h in range(H):
        scores = q[:, h] @ k[:, h // (H // H_kv)].transpose(-2, -1) / math.sqrt(D)  # [B, T, T]
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -math.inf)
        expected[:, h] = torch.softmax(scores, dim=-1) @ v[:, h // (H // H_kv)]
    assert torch.allclose(out, expected, atol=1e-12)
    print("attention over repeat_kv_heads' shared heads matches the grouped-query formula")
