"""The Rust calc parent driving py_printer.py, a pycapnp server in a child process.

calc spawns the script with `--printer-cmd` (or `--solver-cmd`) and passes it
the descriptor number of its end of a socket pair as the last argument. Each
test runs calc in a new session, so calc and every child it spawns share one
process group that the test can check and clean up by its id.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from support import STEP_TIMEOUT, kill_process_group, process_group_exists, wait_for_group_exit

PY_PRINTER = Path(__file__).resolve().parent / "py_printer.py"

# Seconds that one calc run, which solves a few equations, may take.
CALC_TIMEOUT = 60.0


def python_command():
    """The --printer-cmd value that runs py_printer.py with this interpreter.

    calc splits the value at whitespace, so neither path may contain any.
    """
    parts = [sys.executable, str(PY_PRINTER)]
    if any(any(c.isspace() for c in part) for part in parts):
        pytest.skip(f"calc splits commands at whitespace, and a path contains some: {parts}")
    return " ".join(parts)


def run_calc(calc_binary, args):
    """Run calc with `args` in its own session and return the completed process.

    On timeout the whole process group is killed. A group that still has a
    process after calc exits fails the test.
    """
    process = subprocess.Popen(
        [str(calc_binary), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pgid = process.pid
    try:
        stdout, stderr = process.communicate(timeout=CALC_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_process_group(pgid)
        stdout, stderr = process.communicate(timeout=STEP_TIMEOUT)
        pytest.fail(f"calc did not exit within {CALC_TIMEOUT} s\nstdout:\n{stdout}\nstderr:\n{stderr}")

    try:
        assert wait_for_group_exit(pgid), (
            f"a child of calc was still running {STEP_TIMEOUT} s after calc exited\nstderr:\n{stderr}"
        )
    finally:
        if process_group_exists(pgid):
            kill_process_group(pgid)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_rust_parent_drives_python_printer(calc_binary):
    result = run_calc(calc_binary, ["--printer-cmd", python_command(), "1+1", "2*(3+4)"])
    details = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    assert result.returncode == 0, details
    lines = result.stdout.splitlines()
    assert "py-printer: 1+1 = 2" in lines, details
    assert "py-printer: 2*(3+4) = 14" in lines, details
    # The Rust parent destroys the printer before it closes the connection, and
    # py_printer.py exits when the connection closes.
    assert "py_printer: printer destroyed" in result.stderr, details
    assert "py_printer: connection closed; exiting" in result.stderr, details
    # makePrinter, the prints and destroy all come from calc's main thread:
    # the solver aims its print callbacks at the callbackThread of the
    # solveEquation call, and the parent's main thread waits in that call. So
    # calc requests one thread only from py_printer.py's ThreadMap.
    made_threads = [line for line in result.stderr.splitlines() if line.startswith("py_printer: made thread")]
    assert len(made_threads) == 1, details


def test_rust_parent_with_threadless_printer(calc_binary):
    command = python_command() + " --no-thread-map"
    result = run_calc(calc_binary, ["--printer-cmd", command, "1+1", "2*(3+4)"])
    details = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    # py_printer.py rejects every call whose context.thread is set, since it
    # sent calc no ThreadMap to make one with.
    assert result.returncode == 0, details
    assert result.stdout.splitlines() == ["py-printer: 1+1 = 2", "py-printer: 2*(3+4) = 14"], details
    assert "py_printer: printer destroyed" in result.stderr, details
    assert "py_printer: connection closed; exiting" in result.stderr, details


def test_rust_parent_reports_invalid_equation(calc_binary):
    result = run_calc(calc_binary, ["--printer-cmd", python_command(), "1+1", "2*(", "3*3"])
    details = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    assert result.returncode == 1, details
    assert result.stdout.splitlines() == ["py-printer: 1+1 = 2", "py-printer: 3*3 = 9"], details
    assert 'invalid equation "2*("' in result.stderr, details
    assert "py_printer: connection closed; exiting" in result.stderr, details


def test_python_printer_rejects_solver_role(calc_binary):
    result = run_calc(calc_binary, ["--solver-cmd", python_command(), "1+1"])
    details = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    assert result.returncode == 1, details
    assert "makeCalculator failed" in result.stderr, details
    assert "this process has the printer role" in result.stderr, details
    assert "py_printer: connection closed; exiting" in result.stderr, details


def test_rust_parent_reports_null_result(calc_binary):
    command = python_command() + " --null-printer"
    result = run_calc(calc_binary, ["--printer-cmd", command, "1+1"])
    details = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    # A null capability where the schema requires a Printer is an error that
    # names the method and the cause, not an empty message.
    assert result.returncode == 1, details
    assert "makePrinter: printer (pid" in result.stderr, details
    assert "returned no object (a null capability) where the result is an interface" in result.stderr, details
    assert "py_printer: connection closed; exiting" in result.stderr, details
