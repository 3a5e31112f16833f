"""Asyncio glue: event bus, logging, metrics, endpoint, clock and supervisor."""
