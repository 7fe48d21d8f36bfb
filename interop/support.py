"""Helpers for the interop tests: timeouts on blocking steps and process groups."""

import asyncio
import os
import signal
import time

import capnp

# Seconds that one blocking step (a call, a process start or exit) may take
# before the test fails. Generous, because debug builds on a busy machine are
# slow, while a working step takes milliseconds.
STEP_TIMEOUT = 15.0

# Seconds that the Cap'n Proto part of one test may take in all.
TEST_TIMEOUT = 60.0


async def step(description, awaitable, timeout=STEP_TIMEOUT):
    """Await `awaitable`, failing with a message that names `description` after `timeout` seconds."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{description} timed out after {timeout} s") from None


def run_with_kj_loop(coroutine_function, timeout=TEST_TIMEOUT):
    """Run `coroutine_function()` in a new asyncio loop with pycapnp's KJ loop.

    The timeout applies inside the KJ loop, so that pycapnp closes its
    connections and cancels its calls before the loop ends either way.
    """

    async def bounded():
        return await step("the test's Cap'n Proto session", coroutine_function(), timeout)

    return asyncio.run(capnp.run(bounded()))


def process_group_exists(pgid):
    """Return True while any process of group `pgid` exists, zombies included."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_group_exit(pgid, timeout=STEP_TIMEOUT):
    """Wait until process group `pgid` is empty. Return False on timeout."""
    deadline = time.monotonic() + timeout
    while process_group_exists(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill_process_group(pgid):
    """Send SIGKILL to every process of group `pgid`, if any is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
