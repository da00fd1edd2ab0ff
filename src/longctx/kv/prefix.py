"""Prefix caching: keep the keys and values of prompts already seen, and reuse the longest match.

Two requests that start with the same tokens (a system prompt, the earlier turns of a chat, a
shared document) have the same keys and values for those tokens in every layer, because a
token's K and V depend only on the tokens before it. A server that keeps them computes the
prefill only for the part after the longest cached prefix. SGLang's RadixAttention (Zheng et al.,
2023, arXiv:2312.07104) keeps the cached prefixes in a radix tree with least-recently-used
eviction of leaves; vLLM's automatic prefix caching hashes whole KV blocks instead.

This module is the bookkeeping only, with no tensors: a trie of token ids, one node per cached
token (a radix tree is the same trie with chains of single children merged into one edge), a
capacity in tokens, LRU eviction of leaves, and a synthetic multi-turn chat workload to measure
the hit rate on.
"""

from __future__ import annotations

import random

from longctx import checks

__all__ = [
    "PrefixTrie",
    "multi_turn_requests",
    "prefill_saving",
    "prefix_cache_hit_rate",
    "prefix_cache_table",
    "shared_prompt_hit_rate",
]


# --8<-- [start:prefix-trie]
import heapq
import itertools


class PrefixTrie:
    """Cached token prefixes, one node per token's keys and values; LRU eviction of leaves."""

    def __init__(self, capacity: int):
        self.capacity, self.size, self.clock = capacity, 0, itertools.count(1)
        self.root = {"children": {}, "used": 0, "parent": None, "token": None}
        self.leaves = []  # heap of (last use, tie-break, node); stale entries are skipped

    def touch(self, node: dict, now: int) -> None:
        node["used"] = now
        if not node["children"]:
            heapq.heappush(self.leaves, (now, next(self.clock), node))

    def match(self, tokens: list[int]) -> int:
        """Length of the longest cached prefix of ``tokens``; marks it as just used."""
        node, now, n = self.root, next(self.clock), 0
        while n < len(tokens) and tokens[n] in node["children"]:
            node, n = node["children"][tokens[n]], n + 1
            self.touch(node, now)
        return n

    def insert(self, tokens: list[int]) -> None:
        """Cache every prefix of ``tokens``, then evict least recently used leaves to fit."""
        node, now = self.root, next(self.clock)
        for t in tokens:
            if t not in node["children"]:
                node["children"][t] = {"children": {}, "used": now, "parent": node, "token": t}
                self.size += 1
            node = node["children"][t]
            self.touch(node, now)
        while self.size > self.capacity:
            self.evict_one()

    def evict_one(self) -> None:
        """Drop the least recently used leaf: a token that no longer cached prefix needs."""
        while True:
            used, _, node = heapq.heappop(self.leaves)
            alive = node["parent"]["children"].get(node["token"]) is node
            if alive and used == node["used"] and not node["children"]:
                break
        parent = node["parent"]
        del parent["children"][node["token"]]
        self.size -= 1
        if not parent["children"] and parent is not self.root:
            heapq.heappush(self.leaves, (parent["used"], next(self.clock), parent))


# --8<-- [end:prefix-trie]


def multi_turn_requests(
    conversations: int = 16,
    turns: int = 6,
    *,
    system_tokens: int = 200,
    user_tokens: int = 40,
    reply_tokens: int = 80,
    seed: int = 0,
) -> list[list[int]]:
    """A synthetic chat workload: the prompt of every request, in arrival order.

    Every conversation starts with the same system prompt. Turn t's prompt is the system prompt,
    the earlier turns (each a user message and the model's reply) and a new user message; the
    conversations' turns arrive interleaved in a random (seeded) order, each conversation's in
    sequence. Token ids are random, so different messages share no prefix by chance.
    """
    conversations = checks.positive_int("conversations", conversations)
    turns = checks.positive_int("turns", turns)
    system_tokens = checks.nonneg_int("system_tokens", system_tokens)
    user_tokens = checks.positive_int("user_tokens", user_tokens)
    reply_tokens = checks.nonneg_int("reply_tokens", reply_tokens)
    rng = random.Random(checks.nonneg_int("seed", seed))
    fresh = iter(range(1, 2**62))

    def new(n):  # noqa: E306
        return [next(fresh) for _ in range(n)]

    system = new(system_tokens)
    history = [list(system) for _ in range(conversations)]
    order = [c for c in range(conversations) for _ in range(turns)]
    rng.shuffle(order)
    requests = []
    for c in order:
        prompt = history[c] + new(user_tokens)
        requests.append(prompt)
        history[c] = prompt + new(reply_tokens)  # the next turn carries this one and its reply
    return requests


def prefix_cache_hit_rate(requests: list[list[int]], capacity_tokens: int) -> dict:
    """Replay ``requests`` through a :class:`PrefixTrie` of ``capacity_tokens`` tokens.

    For each request the longest cached prefix is reused and the prompt is then cached. (A
    real server also caches the generated reply; the next turn's prompt carries it, so here it
    is cached when that prompt arrives, which undercounts slightly.)

    Returns:
        dict with ``prompt_tokens`` (all prompts together), ``hit_tokens`` (tokens whose K/V
        came from the cache), ``hit_rate`` (their ratio) and ``prefill_tokens`` (what was left
        to compute).
    """
    capacity = checks.positive_int("capacity_tokens", capacity_tokens)
    if not isinstance(requests, list) or not all(isinstance(r, list) for r in requests):
        raise TypeError("requests must be a list of token-id lists")
    trie, total, hits = PrefixTrie(capacity), 0, 0
    for prompt in requests:
        hit = trie.match(prompt)
        total, hits = total + len(prompt), hits + hit
        trie.insert(prompt)
    return {
        "prompt_tokens": total,
        "hit_tokens": hits,
        "hit_rate": hits / total if total else 0.0,
        "prefill_tokens": total - hits,
    }


def prefix_cache_table(
    capacities: tuple[int, ...] = (1_000, 4_000, 16_000, 64_000), **workload
) -> list[dict]:
    """Hit rate of the default workload (:func:`multi_turn_requests`) for several capacities."""
    requests = multi_turn_requests(**workload)
    rows = []
    for c in capacities:
        r = prefix_cache_hit_rate(requests, c)
        rows.append({"capacity": c, **r})
    return rows


def prefill_saving(capacity_tokens: int = 64_000) -> float:
    """Prompt tokens over prefill tokens left to compute, for the default workload at one capacity."""
    r = prefix_cache_hit_rate(multi_turn_requests(), capacity_tokens)
    return r["prompt_tokens"] / r["prefill_tokens"]


def shared_prompt_hit_rate(
    requests: int, system_tokens: int, user_tokens: int, *, capacity_tokens: int = 10**7
) -> float:
    """Hit rate when ``requests`` single-turn requests share one system prompt of ``system_tokens``
    tokens, each followed by ``user_tokens`` of its own: ``(R - 1) P / (R (P + U))`` when the
    cache holds them all."""
    reqs = multi_turn_requests(
        requests, 1, system_tokens=system_tokens, user_tokens=user_tokens, reply_tokens=0
    )
    return prefix_cache_hit_rate(reqs, capacity_tokens)["hit_rate"]
