"""Cycle-collector tuning for the serving process.

The switch keeps tens of thousands of live objects per thousand requests a second (server
transactions wait out Timer J for 32 s, RFC 3261 §17.2.2), and CPython's default young
generation (700 allocations) makes the collector walk them over and over: at 1,000
registrations/s about a tenth of the CPU went to full collections. A larger young generation
collects as much garbage, a few dozen times less often.
"""

from __future__ import annotations

import gc

#: allocations between young collections while serving (CPython's default is 700)
YOUNG_THRESHOLD = 20_000


def tune_collector(young: int = YOUNG_THRESHOLD) -> None:
    """Raise the young-generation threshold to ``young`` (never lowers it); idempotent."""
    first, second, third = gc.get_threshold()
    if first < young:
        gc.set_threshold(young, second, third)
