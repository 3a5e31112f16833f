"""Cycle-collector tuning for the serving process.

The switch keeps tens of thousands of live objects per thousand requests a second (server
transactions wait out Timer J for 32 s, RFC 3261 §17.2.2), and CPython's default young
generation (700 allocations) makes the collector walk them over and over: at 1,000
registrations/s about a tenth of the CPU went to full collections. A larger young generation
collects as much garbage, a few dozen times less often.

What the serving process loads at start-up (accounts, bindings: 100,000 of each is a few
hundred thousand objects living as long as the process) is then frozen out of the collector's
reach (:func:`freeze_startup`), so full collections walk only what the traffic creates.
"""

from __future__ import annotations

import gc

#: allocations between young collections while serving (CPython's default is 700)
YOUNG_THRESHOLD = 60_000
#: young collections between middle-generation ones (CPython's default is 10): what survives
#: a young collection here is mostly transactions waiting out Timer J, and a middle collection
#: walks all of them, so fewer at a time keeps each pause short (~50 ms rather than ~130 ms
#: at 4,000 registrations/s)
MIDDLE_THRESHOLD = 2


def tune_collector(young: int = YOUNG_THRESHOLD, middle: int = MIDDLE_THRESHOLD) -> None:
    """Raise the young-generation threshold to ``young`` (never lowers it) and collect the
    middle generation every ``middle`` young collections; idempotent."""
    first, _, third = gc.get_threshold()
    gc.set_threshold(max(first, young), middle, third)


def freeze_startup() -> None:
    """Collect once, then move every object alive to the permanent generation
    (:func:`gc.freeze`): for a serving process, once it has loaded what it keeps."""
    gc.collect()
    gc.freeze()
