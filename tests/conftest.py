"""Suite-wide test settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# No deadlines: the machine is shared (2 cores) and timing is not what property tests check.
settings.register_profile("default", deadline=None)
# In CI, the same examples every run: a red build must be reproducible, never a coin toss.
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")
