"""The serving process's collector thresholds."""

from __future__ import annotations

import gc

from sipswitch.runtime.collector import freeze_startup, tune_collector


def test_tune_raises_the_young_threshold_and_never_lowers_it() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_collector(5_000)
        assert gc.get_threshold() == (5_000, 2, 10)
        tune_collector(1_000, 3)
        assert gc.get_threshold() == (5_000, 3, 10)
    finally:
        gc.set_threshold(*saved)


def test_freeze_startup_moves_the_living_to_the_permanent_generation() -> None:
    try:
        freeze_startup()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
