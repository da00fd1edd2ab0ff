"""Prefix caching against a brute-force replay written here: every cached prefix kept as a tuple."""

from __future__ import annotations

import pytest

from longctx.kv.prefix import PrefixTrie, multi_turn_requests, prefix_cache_hit_rate, prefix_cache_table


def brute_force_hits(requests, capacity):
    """Cache = a dict prefix -> last use. Match: the longest cached prefix (marked used). Insert:
    every prefix (marked used). Over capacity: drop the least recently used prefix that no longer
    cached prefix extends, until the cache fits."""
    used, clock, hits = {}, 0, []
    for prompt in requests:
        clock += 1
        n = 0
        while n < len(prompt) and tuple(prompt[: n + 1]) in used:
            n += 1
            used[tuple(prompt[:n])] = clock
        hits.append(n)
        clock += 1
        for i in range(1, len(prompt) + 1):
            used[tuple(prompt[:i])] = clock
        while len(used) > capacity:
            parents = {p[:-1] for p in used}
            leaf = min((p for p in used if p not in parents), key=lambda p: used[p])
            del used[leaf]
    return hits


@pytest.mark.parametrize("capacity", [1, 7, 20, 45, 1000])
@pytest.mark.parametrize("seed", [0, 3])
def test_trie_matches_brute_force(capacity, seed):
    requests = multi_turn_requests(4, 3, system_tokens=5, user_tokens=3, reply_tokens=4, seed=seed)
    want = brute_force_hits(requests, capacity)
    trie, got = PrefixTrie(capacity), []
    for prompt in requests:
        got.append(trie.match(prompt))
        trie.insert(prompt)
        assert trie.size <= capacity
    assert got == want
    r = prefix_cache_hit_rate(requests, capacity)
    assert r["hit_tokens"] == sum(want) and r["prompt_tokens"] == sum(map(len, requests))
    assert r["hit_rate"] == pytest.approx(sum(want) / r["prompt_tokens"])
    assert r["prefill_tokens"] == r["prompt_tokens"] - r["hit_tokens"]


def test_workload_shape_and_unbounded_hit_rate():
    C, turns, s, u, rep = 3, 4, 10, 2, 5
    requests = multi_turn_requests(C, turns, system_tokens=s, user_tokens=u, reply_tokens=rep, seed=1)
    assert len(requests) == C * turns
    lengths = sorted(map(len, requests))
    assert lengths == sorted(s + t * (u + rep) + u for t in range(turns) for _ in range(C))
    assert all(r[:s] == requests[0][:s] for r in requests)  # one shared system prompt
    # with room for everything: the system prompt is a hit after the first request, and a later
    # turn reuses the whole previous prompt (its reply was not cached: it was generated)
    hits = (C - 1) * s + C * sum(s + (t - 1) * (u + rep) + u for t in range(1, turns))
    assert prefix_cache_hit_rate(requests, 10**6)["hit_tokens"] == hits
    rows = prefix_cache_table(
        (50, 10**6), conversations=C, turns=turns, system_tokens=s, user_tokens=u, reply_tokens=rep
    )
    assert rows[0]["hit_rate"] <= rows[1]["hit_rate"] and rows[1]["hit_tokens"] == hits


def test_bad_input_names_the_argument():
    for call, exc, name in [
        (lambda: multi_turn_requests(0), ValueError, "conversations"),
        (lambda: multi_turn_requests(2, user_tokens=0), ValueError, "user_tokens"),
        (lambda: multi_turn_requests(2, system_tokens=-1), ValueError, "system_tokens"),
        (lambda: prefix_cache_hit_rate([[1, 2]], 0), ValueError, "capacity_tokens"),
        (lambda: prefix_cache_hit_rate([(1, 2)], 5), TypeError, "requests"),
    ]:
        with pytest.raises(exc, match=name):
            call()


def test_prefill_saving_is_prompt_over_prefill():
    r = prefix_cache_hit_rate(multi_turn_requests(), 64_000)
    from longctx.kv.prefix import prefill_saving

    assert prefill_saving(64_000) == pytest.approx(r["prompt_tokens"] / r["prefill_tokens"])


@pytest.mark.parametrize("R, P, U", [(100, 2000, 500), (3, 7, 1), (1, 10, 10)])
def test_shared_prompt_hit_rate(R, P, U):
    from longctx.kv.prefix import shared_prompt_hit_rate

    assert shared_prompt_hit_rate(R, P, U) == pytest.approx((R - 1) * P / (R * (P + U)))
