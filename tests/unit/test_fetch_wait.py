"""streams.worker.fetch_wait: the worker's aiokafka consumer waits at most 100 ms per fetch, where
faust-streaming would create it with 1,500 ms (why: the module's docstring, and
tests/integration/test_fetch_wait.py against the broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streams.kafka.settings import Settings
from streams.policy import default_policy
from streams.worker.app import create_app
from streams.worker.fetch_wait import (
    FETCH_MAX_WAIT_MS,
    GATHER_MAX_WAIT_MS,
    GATHER_MIN_BYTES,
    bound_fetch_wait,
    shape_fetches,
)
from streams.worker.parts import CreditApp


@pytest.fixture()
def parts(tmp_path: Path) -> Iterator[CreditApp]:
    settings = Settings.from_environment(
        {
            "CREDITSTREAM_STORE": "memory",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": "fetch",
        }
    )
    built = create_app(settings, default_policy())
    built.app.finalize()
    yield built


def _created_consumer(thread: Any) -> Any:
    """The aiokafka consumer faust's consumer thread would start (created, not started)."""

    async def create() -> Any:
        return thread._create_consumer(loop=asyncio.get_running_loop())

    return asyncio.run(create())


def test_the_workers_consumer_waits_at_most_100_ms_per_fetch(parts: CreditApp) -> None:
    consumer: Any = parts.app.consumer  # faust's concrete consumer: its thread
    client = _created_consumer(consumer._thread)
    assert FETCH_MAX_WAIT_MS == 100
    assert client._fetch_max_wait_ms == FETCH_MAX_WAIT_MS


def test_without_the_bound_faust_creates_it_with_1500_ms(parts: CreditApp) -> None:
    consumer: Any = parts.app.consumer
    thread = consumer._thread
    faust_create = type(thread)._create_consumer.__get__(thread)  # faust's own, not the bound one
    assert _created_consumer(SimpleNamespace(_create_consumer=faust_create))._fetch_max_wait_ms == 1500


def test_a_shorter_wait_already_set_is_kept() -> None:
    created = SimpleNamespace(_fetch_max_wait_ms=20)
    thread = SimpleNamespace(_create_consumer=lambda **_: created)
    assert bound_fetch_wait(SimpleNamespace(_thread=thread))
    assert thread._create_consumer(loop=None)._fetch_max_wait_ms == 20


def test_a_consumer_without_the_parts_is_left_alone() -> None:
    assert not bound_fetch_wait(SimpleNamespace())
    assert not bound_fetch_wait(SimpleNamespace(_thread=SimpleNamespace()))


def test_an_aiokafka_consumer_without_the_field_is_an_error_not_a_silent_1500_ms() -> None:
    thread = SimpleNamespace(_create_consumer=lambda **_: SimpleNamespace())
    bound_fetch_wait(SimpleNamespace(_thread=thread))
    with pytest.raises(RuntimeError, match="_fetch_max_wait_ms"):
        thread._create_consumer(loop=None)


def _started(fetcher: Any) -> Any:
    """faust's consumer with its thread's aiokafka consumer started, as far as shape_fetches sees."""
    return SimpleNamespace(_thread=SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher)))


@pytest.mark.parametrize(
    ("gather", "min_bytes", "max_wait_ms"),
    [(True, GATHER_MIN_BYTES, GATHER_MAX_WAIT_MS), (False, 1, FETCH_MAX_WAIT_MS)],
    ids=["gathering", "first-byte"],
)
def test_fetches_gather_up_to_64_kib_or_5_ms_or_return_at_the_first_byte(
    gather: bool, min_bytes: int, max_wait_ms: int
) -> None:
    fetcher = SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
    assert (GATHER_MIN_BYTES, GATHER_MAX_WAIT_MS) == (65536, 5)
    assert shape_fetches(_started(fetcher), gather=not gather)  # from the other shape
    assert shape_fetches(_started(fetcher), gather=gather)
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == (min_bytes, max_wait_ms)


def test_before_the_consumer_starts_fetches_are_left_as_created(parts: CreditApp) -> None:
    assert not shape_fetches(parts.app.consumer, gather=True)  # faust's: its thread has no consumer yet
    assert not shape_fetches(SimpleNamespace(), gather=True)
    assert not shape_fetches(_started(SimpleNamespace(_fetch_min_bytes=1)), gather=True)


class _RecordingFetcher:
    """A fetcher that notes the pair of fields a fetch built after each write would read."""

    _fetch_min_bytes: int
    _fetch_max_wait_ms: int

    def __init__(self, min_bytes: int, max_wait_ms: int) -> None:
        self.seen: list[tuple[int, int]] = []
        object.__setattr__(self, "_fetch_min_bytes", min_bytes)
        object.__setattr__(self, "_fetch_max_wait_ms", max_wait_ms)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name.startswith("_fetch_"):
            self.seen.append((self._fetch_min_bytes, self._fetch_max_wait_ms))


@pytest.mark.parametrize("gather", [True, False], ids=["to-gathering", "to-first-byte"])
def test_a_fetch_built_between_the_two_writes_never_waits_100_ms_for_64_kib(gather: bool) -> None:
    start = (1, FETCH_MAX_WAIT_MS) if gather else (GATHER_MIN_BYTES, GATHER_MAX_WAIT_MS)
    fetcher = _RecordingFetcher(*start)
    shape_fetches(_started(fetcher), gather=gather)
    assert (GATHER_MIN_BYTES, FETCH_MAX_WAIT_MS) not in fetcher.seen
    assert fetcher.seen[-1] == ((GATHER_MIN_BYTES, GATHER_MAX_WAIT_MS) if gather else (1, FETCH_MAX_WAIT_MS))
