"""The worker's cache of decoded states: bounded, least recently used first out."""

from __future__ import annotations

from streams.engine import UserState
from streams.worker.state_cache import StateCache


def _state(user_id: str) -> UserState:
    return UserState(user_id, "consumer", "active", 0, 0)


def test_the_least_recently_used_user_leaves_first_when_full() -> None:
    cache = StateCache(2)
    for user_id in ("a", "b"):
        cache.put(user_id, _state(user_id))
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.put("c", _state("c"))
    assert len(cache) == 2
    assert cache.get("b") is None
    assert [cache.get(u) is not None for u in ("a", "c")] == [True, True]


def test_a_newer_state_replaces_the_older_and_zero_capacity_keeps_nothing() -> None:
    cache = StateCache(2)
    cache.put("a", _state("a"))
    newer = _state("a")
    cache.put("a", newer)
    assert cache.get("a") is newer and len(cache) == 1
    none = StateCache(0)
    none.put("a", _state("a"))
    assert none.get("a") is None and len(none) == 0
