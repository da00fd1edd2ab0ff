# Demo of docs/lessons/03-linear-and-ssm.md's code file (see README.md): appended from the next line.
# ruff: noqa: F821
if __name__ == "__main__":
    torch.manual_seed(0)
    T = 45  # not a multiple of the chunk
    q, k, v = (torch.randn(1, 2, T, 8, dtype=torch.float64) for _ in range(3))
    phi_q, phi_k = elu_feature(q), elu_feature(k)
    # the definition, one query at a time: out_i = sum_{j <= i} w_ij v_j / sum_{j <= i} w_ij
    expected = torch.empty_like(v)
    for i in range(T):
        w = phi_q[:, :, i, None, :] @ phi_k[:, :, : i + 1].transpose(-2, -1)  # [1, 2, 1, i + 1]
        expected[:, :, i] = (w @ v[:, :, : i + 1])[:, :, 0] / w.sum(dim=-1)
    for out in (
        linear_parallel(phi_q, phi_k, v),
        linear_recurrent(phi_q, phi_k, v)[0],
        linear_chunked(phi_q, phi_k, v, chunk_size=16)[0],
    ):
        assert torch.allclose(out, expected, atol=1e-12)
    print("the parallel, recurrent and chunked forms of linear attention match the formula")
