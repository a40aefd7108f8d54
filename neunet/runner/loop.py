"""Event-loop choice of the sweep runner: uvloop where installed, else asyncio's own loop."""
from __future__ import annotations

import asyncio


def run_async(coro):
    """Run a coroutine to completion on uvloop when installed, else with `asyncio.run`."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    if hasattr(uvloop, "run"):
        return uvloop.run(coro)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(coro)
