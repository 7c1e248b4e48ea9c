"""streams.tools.bench.paced: the bench's load generator sends with the cycle collector off, so that no
collection pause turns part of the steady load into a burst."""

from __future__ import annotations

import gc

import pytest

from streams.tools.bench.paced import no_collector_pauses


def test_inside_the_collector_is_off_and_what_existed_is_frozen() -> None:
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    with no_collector_pauses():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_collector_is_back_on_after_an_error() -> None:
    with pytest.raises(RuntimeError), no_collector_pauses():
        raise RuntimeError("the send failed")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with no_collector_pauses():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_the_process_froze_before_stays_frozen() -> None:
    gc.freeze()  # as tune_gc does at start-up
    try:
        with no_collector_pauses():
            pass
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
    finally:
        gc.unfreeze()
