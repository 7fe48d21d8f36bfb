"""Fixtures for the pycapnp interop tests: the calc binary and a listening solver."""

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from schemas import REPO_ROOT
from support import STEP_TIMEOUT

# Unix socket paths are limited to 108 bytes on Linux, including the final NUL.
MAX_SOCKET_PATH_BYTES = 100


@pytest.fixture(scope="session")
def calc_binary():
    """Path of the calc example: $CALC_BINARY, or else target/debug/examples/calc."""
    path = Path(os.environ.get("CALC_BINARY", REPO_ROOT / "target" / "debug" / "examples" / "calc"))
    if not path.is_file():
        pytest.fail(f"calc binary not found at {path}; build it with `cargo build --example calc` or set CALC_BINARY")
    return path


@pytest.fixture
def socket_dir(tmp_path):
    """A per-test folder short enough for a Unix socket path inside it."""
    if len(os.fsencode(tmp_path / "solver.sock")) <= MAX_SOCKET_PATH_BYTES:
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="mp-interop-", dir="/tmp") as short_dir:
        yield Path(short_dir)


def stop_process(process):
    """Kill `process` if it is still running and reap it within STEP_TIMEOUT."""
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pid {process.pid} did not exit within {STEP_TIMEOUT} s of SIGKILL")


@pytest.fixture
def solver_process(calc_binary, socket_dir, tmp_path):
    """Start `calc solver --listen PATH` and return the process once the socket file exists.

    PATH is `socket_path` of the returned process. Connections may still be
    refused for a moment, until the solver's listen(). The solver is killed and
    reaped when the test ends. If it exited on its own during the test, the
    teardown fails and shows its output.
    """
    socket_path = socket_dir / "solver.sock"
    log_path = tmp_path / "solver.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [str(calc_binary), "solver", "--listen", str(socket_path)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    process.socket_path = socket_path

    def read_log():
        return log_path.read_text(errors="replace")

    try:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not socket_path.exists():
            if process.poll() is not None:
                pytest.fail(f"calc solver exited with status {process.returncode} before listening:\n{read_log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"calc solver did not create {socket_path} within {STEP_TIMEOUT} s:\n{read_log()}")
            time.sleep(0.02)

        yield process

        exit_status = process.poll()
        assert exit_status is None, f"calc solver exited during the test with status {exit_status}:\n{read_log()}"
    finally:
        stop_process(process)


@pytest.fixture
def solver_socket(solver_process):
    """The socket path of a `calc solver --listen PATH` that runs for this test."""
    return solver_process.socket_path
