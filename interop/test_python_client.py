"""pycapnp as the client of the Rust solver: `calc solver --listen PATH`.

Each test starts its own solver (the `solver_process` fixture), connects over
the Unix socket, performs the `construct` handshake and calls the solver's
InitInterface and CalculatorInterface, with a Printer implemented in Python as
the callback.
"""

import asyncio
import time
from pathlib import Path

import capnp
import pytest

from py_printer import SCHEMAS, Thread, ThreadMap, thread_name_of
from support import STEP_TIMEOUT, run_with_kj_loop, step


class RecordingPrinter(SCHEMAS.printer.PrinterInterface.Server):
    """Records each printed text and the name of the Thread in the call's context."""

    def __init__(self):
        self.printed = []
        self.thread_names = []
        self.destroy_count = 0

    async def print(self, context, text, _context, **kwargs):
        self.thread_names.append(await thread_name_of(context))
        self.printed.append(text)

    async def destroy(self, context, _context, **kwargs):
        self.destroy_count += 1


async def open_stream(socket_path):
    """Connect to `socket_path`, retrying while the connection is refused.

    The socket file exists from the solver's bind() on, but connections are
    refused until its listen(), a moment later.
    """
    while True:
        try:
            return await capnp.AsyncIoStream.create_unix_connection(str(socket_path))
        except ConnectionRefusedError:
            await asyncio.sleep(0.02)


class Connection:
    """A pycapnp two-party client and the socket stream under it."""

    def __init__(self, stream):
        self.stream = stream
        self.client = capnp.TwoPartyClient(stream)

    def close(self):
        self.client.close()
        self.stream.close()


async def connect(socket_path):
    """Connect to the solver and return the Connection and the solver's InitInterface.

    Keep the Connection referenced: pycapnp closes a client that is garbage collected.
    """
    stream = await step(f"connecting to {socket_path}", open_stream(socket_path))
    connection = Connection(stream)
    init = connection.client.bootstrap().cast_as(SCHEMAS.init.InitInterface)
    return connection, init


async def construct(init, thread_map):
    """Send `thread_map` (a null capability for None) and return the solver's ThreadMap."""
    request = init.construct_request()
    if thread_map is not None:
        request.threadMap = thread_map
    response = await step("construct", request.send())
    return response.threadMap


async def make_thread(thread_map, name):
    request = thread_map.makeThread_request()
    request.name = name
    response = await step(f"makeThread({name!r})", request.send())
    return response.result


def set_context(request, thread=None, callback_thread=None):
    """Fill `request.context`. A None argument leaves that field null."""
    if thread is not None:
        request.context.thread = thread
    if callback_thread is not None:
        request.context.callbackThread = callback_thread


async def make_calculator(init, printer, thread=None, callback_thread=None):
    request = init.makeCalculator_request()
    set_context(request, thread, callback_thread)
    request.print = printer
    response = await step("makeCalculator", request.send())
    return response.result


async def solve_equation(calculator, eqn, thread=None, callback_thread=None):
    request = calculator.solveEquation_request()
    set_context(request, thread, callback_thread)
    request.eqn = eqn
    await step(f"solveEquation({eqn!r})", request.send())


async def expect_remote_error(description, awaitable):
    """Await `awaitable`, which must fail with a remote exception, and return its text."""
    with pytest.raises(capnp.KjException) as raised:
        await step(description, awaitable)
    return str(raised.value)


def test_make_thread_keeps_name(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        thread = await make_thread(solver_threads, "py-main")

        response = await step("getName", thread.getName())
        assert response.result == "py-main"

    run_with_kj_loop(session)


def test_solve_with_callback_thread(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        client_threads = ThreadMap()
        solver_threads = await construct(init, client_threads)
        thread = await make_thread(solver_threads, "py-main")
        callback_thread = Thread("py-callback")
        printer = RecordingPrinter()

        calculator = await make_calculator(init, printer, thread, callback_thread)
        await solve_equation(calculator, "2*(3+4)", thread, callback_thread)

        assert printer.printed == ["2*(3+4) = 14"]
        # The solver aims its callback at the callbackThread of the call it
        # serves, so it needs no thread of its own on this side.
        assert printer.thread_names == ["py-callback"]
        assert client_threads.made_names == []

    run_with_kj_loop(session)


def test_solve_with_pipelined_thread(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        callback_thread = Thread("py-callback")
        printer = RecordingPrinter()

        # Like a C++ libmultiprocess client, send construct, makeThread and
        # makeCalculator without waiting for the replies: each request names a
        # capability from the previous reply, which is still a promise.
        construct_request = init.construct_request()
        construct_request.threadMap = ThreadMap()
        solver_threads = construct_request.send().threadMap
        make_thread_request = solver_threads.makeThread_request()
        make_thread_request.name = "py-pipelined"
        thread = make_thread_request.send().result
        make_calculator_request = init.makeCalculator_request()
        set_context(make_calculator_request, thread, callback_thread)
        make_calculator_request.print = printer
        calculator = make_calculator_request.send().result

        await solve_equation(calculator, "2*(3+4)", thread, callback_thread)

        assert printer.printed == ["2*(3+4) = 14"]
        assert printer.thread_names == ["py-callback"]
        response = await step("getName", thread.getName())
        assert response.result == "py-pipelined"

    run_with_kj_loop(session)


def test_solve_without_callback_thread(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        client_threads = ThreadMap()
        solver_threads = await construct(init, client_threads)
        thread = await make_thread(solver_threads, "py-main")
        printer = RecordingPrinter()

        calculator = await make_calculator(init, printer, thread)
        await solve_equation(calculator, "2*(3+4)", thread)

        assert printer.printed == ["2*(3+4) = 14"]
        # Without a callbackThread, the solver's thread requests a thread named
        # after itself from this side's ThreadMap and aims the callback at it.
        assert client_threads.requested_names == ["py-main"]
        assert printer.thread_names == client_threads.made_names

    run_with_kj_loop(session)


def test_solve_with_null_thread_map(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, None)
        thread = await make_thread(solver_threads, "py-main")
        printer = RecordingPrinter()

        calculator = await make_calculator(init, printer, thread)
        await solve_equation(calculator, "2*(3+4)", thread)

        assert printer.printed == ["2*(3+4) = 14"]
        # With neither a ThreadMap nor a callbackThread from this side, the
        # callback arrives with a null context.thread.
        assert printer.thread_names == [None]

    run_with_kj_loop(session)


def test_invalid_equation_names_it(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        thread = await make_thread(solver_threads, "py-main")
        printer = RecordingPrinter()
        calculator = await make_calculator(init, printer, thread)

        request = calculator.solveEquation_request()
        set_context(request, thread)
        request.eqn = "2*("
        message = await expect_remote_error("solveEquation('2*(')", request.send())

        assert 'invalid equation "2*("' in message
        assert printer.printed == []

        # The calculator still works after the failed call.
        await solve_equation(calculator, "1+1", thread)
        assert printer.printed == ["1+1 = 2"]

    run_with_kj_loop(session)


def test_null_thread_without_pool_fails(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        await construct(init, ThreadMap())

        request = init.makeCalculator_request()
        request.print = RecordingPrinter()
        message = await expect_remote_error("makeCalculator without a thread", request.send())

        assert "makeCalculator" in message
        assert "no thread specified and no pool configured" in message

    run_with_kj_loop(session)


def test_null_thread_runs_on_pool(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        request = solver_threads.makePool_request()
        request.count = 2
        await step("makePool(2)", request.send())
        printer = RecordingPrinter()

        calculator = await make_calculator(init, printer)
        await solve_equation(calculator, "2*(3+4)")
        await solve_equation(calculator, "1+1")

        assert printer.printed == ["2*(3+4) = 14", "1+1 = 2"]

    run_with_kj_loop(session)


def test_foreign_thread_handle_rejected(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        await construct(init, ThreadMap())

        request = init.makeCalculator_request()
        # A Thread of this side, which the solver did not make.
        set_context(request, Thread("py-not-a-solver-thread"))
        request.print = RecordingPrinter()
        message = await expect_remote_error("makeCalculator with a foreign thread", request.send())

        assert "invalid thread handle" in message

    run_with_kj_loop(session)


def test_destroy_releases_printer(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        thread = await make_thread(solver_threads, "py-main")
        printer = RecordingPrinter()
        calculator = await make_calculator(init, printer, thread)

        request = calculator.destroy_request()
        set_context(request, thread)
        await step("destroy", request.send())

        # Dropping the solver's calculator drops its Printer proxy, which calls
        # destroy on this side's printer before the calculator's destroy returns.
        assert printer.destroy_count == 1

        request = calculator.solveEquation_request()
        set_context(request, thread)
        request.eqn = "1+1"
        message = await expect_remote_error("solveEquation after destroy", request.send())
        assert "called after destroy" in message
        assert printer.printed == []

    run_with_kj_loop(session)


def test_solver_rejects_make_printer(solver_socket):
    async def session():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        thread = await make_thread(solver_threads, "py-main")

        request = init.makePrinter_request()
        set_context(request, thread)
        message = await expect_remote_error("makePrinter", request.send())

        assert "solver role" in message

    run_with_kj_loop(session)


class BlockingPrinter(SCHEMAS.printer.PrinterInterface.Server):
    """A printer whose print never returns. `entered` is set when a print arrives."""

    def __init__(self):
        self.entered = asyncio.Event()

    async def print(self, context, text, _context, **kwargs):
        self.entered.set()
        await asyncio.Event().wait()

    async def destroy(self, context, _context, **kwargs):
        pass


def thread_names_of(pid):
    """Return the names of the threads of process `pid`, cut to 15 bytes by Linux.

    Returns None where /proc lists no threads (not Linux).
    """
    if not Path(f"/proc/{pid}/task").is_dir():
        return None
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except FileNotFoundError:
            pass  # The thread exited meanwhile.
    return names


def test_disconnect_during_callback(solver_socket, solver_process):
    async def disconnect_in_callback():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        thread = await make_thread(solver_threads, "py-stuck")
        printer = BlockingPrinter()
        calculator = await make_calculator(init, printer, thread)

        request = calculator.solveEquation_request()
        set_context(request, thread)
        request.eqn = "1+1"
        call = asyncio.ensure_future(request.send())
        await step("the solver's print callback", printer.entered.wait())
        thread_names = thread_names_of(solver_process.pid)
        assert thread_names is None or "py-stuck" in thread_names

        # Closing the connection while the solver's thread is blocked in the
        # callback must interrupt that call and stop the thread.
        connection.close()
        with pytest.raises(capnp.KjException):
            await step("solveEquation after the connection closed", call)

    run_with_kj_loop(disconnect_in_callback)

    deadline = time.monotonic() + STEP_TIMEOUT
    while "py-stuck" in (thread_names_of(solver_process.pid) or []):
        assert time.monotonic() < deadline, f"the solver's thread py-stuck still runs {STEP_TIMEOUT} s after disconnect"
        time.sleep(0.02)

    async def solve_on_new_connection():
        connection, init = await connect(solver_socket)
        solver_threads = await construct(init, ThreadMap())
        thread = await make_thread(solver_threads, "py-main")
        printer = RecordingPrinter()
        calculator = await make_calculator(init, printer, thread)
        await solve_equation(calculator, "2*(3+4)", thread)
        assert printer.printed == ["2*(3+4) = 14"]

    run_with_kj_loop(solve_on_new_connection)
