"""One sandbox pool per test module (workers take ~0.2 s to start)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from sipswitch.services.dialplan.sandbox import SandboxConfig, ScriptLimits, ScriptRunner

# Small limits keep the misbehaving scripts quick to stop.
TEST_LIMITS = ScriptLimits(cpu_seconds=1, first_dial_timeout=10.0, absolute_timeout=30.0)
TEST_CONFIG = SandboxConfig(workers=3, memory_bytes=96 * 1024 * 1024)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner() -> AsyncIterator[ScriptRunner]:
    async with ScriptRunner(TEST_CONFIG) as started:
        yield started
