# Demo of docs/topics/frontier.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    import math

    torch.manual_seed(0)
    B, H, T, D = 1, 2, 37, 8
    q, k, v = (torch.randn(B, H, T, D, dtype=torch.float64) for _ in range(3))
    # MoBA with every block chosen is causal attention
    out, _ = moba_core(q, k, v, 5, 8, 1 / math.sqrt(D))
    full = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(out, full, atol=1e-12)
    print("moba_core with every block chosen equals causal attention (SDPA)")
    # the chunked delta rule equals the step-by-step recurrence, for a ragged last chunk
    kn = torch.nn.functional.normalize(k, dim=-1)
    beta, g = torch.rand(B, H, T, dtype=torch.float64), -0.2 * torch.rand(B, H, T, dtype=torch.float64)
    S0 = torch.zeros(B, H, D, D, dtype=torch.float64)
    o1, s1 = delta_rule_recurrence(q, kn, v, beta, g, 0.5, S0)
    o2, s2 = delta_rule_chunks(q, kn, v, beta, g, 0.5, S0, 16)
    assert torch.allclose(o1, o2, atol=1e-10) and torch.allclose(s1, s2, atol=1e-10)
    print("delta_rule_chunks equals delta_rule_recurrence")
    trie = PrefixTrie(capacity=100)
    trie.insert([1, 2, 3, 4])
    assert trie.match([1, 2, 3, 9]) == 3 and trie.match([7]) == 0
    print("PrefixTrie finds the longest cached prefix")
