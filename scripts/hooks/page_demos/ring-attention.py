# Demo of docs/topics/ring-attention.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    import torch.nn.functional as F

    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 24, 16, dtype=torch.float64) for _ in range(3))
    for causal in (False, True):
        out, _ = simulate_ring(q, k, v, 4, causal, 16**-0.5)  # 4 ranks of 6 positions each
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        assert torch.allclose(out, expected, atol=1e-12)
    print("Ring Attention over 4 simulated ranks matches scaled_dot_product_attention")
