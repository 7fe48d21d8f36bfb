"""Serve the demo's InitInterface with pycapnp, in the printer role.

usage: py_printer.py [--no-thread-map] [--null-printer] CONNECTION_ARG

CONNECTION_ARG, the last argument, is the number of an inherited file
descriptor of a connected Unix stream socket, as the Rust `calc` parent passes
it to a `--printer-cmd` program. The script serves InitInterface on that socket
as the server side of Cap'n Proto two-party RPC and exits when the peer closes
the connection.

It plays the part of a C++ libmultiprocess server: `construct` returns a
ThreadMap implemented here, and every call with a Context must name in
`context.thread` a Thread that this ThreadMap made, or it fails. With
`--no-thread-map` it plays a server without threads instead: `construct`
returns a null ThreadMap, and every `context.thread` must be null.

`makePrinter` returns a Printer that writes each text to standard output after
the prefix "py-printer: ". With `--null-printer` it returns a null capability
instead, as a C++ server does for a null `std::unique_ptr` result.
Diagnostics go to standard error.
"""

import asyncio
import itertools
import socket
import sys

import capnp

from schemas import load_schemas

SCHEMAS = load_schemas()
OUTPUT_PREFIX = "py-printer: "


def log(message):
    print(f"py_printer: {message}", file=sys.stderr, flush=True)


class Thread(SCHEMAS.proxy.Thread.Server):
    """A Thread handle of this process.

    pycapnp runs every call on its one event loop, so the handle names no OS thread.
    """

    def __init__(self, name):
        self.name = name

    async def getName(self, _context, **kwargs):
        return self.name


class ThreadMap(SCHEMAS.proxy.ThreadMap.Server):
    """Makes Thread handles and stores the name of each one it made."""

    _serials = itertools.count(1)

    def __init__(self, name_prefix="py"):
        self.name_prefix = name_prefix
        self.made_names = []
        self.requested_names = []
        self.pool_sizes = []

    async def makeThread(self, name, _context, **kwargs):
        self.requested_names.append(name)
        # The serial keeps names unique, so a name identifies the handle.
        thread_name = f"{self.name_prefix}-{next(self._serials)}/{name}"
        self.made_names.append(thread_name)
        log(f"made thread {thread_name!r}")
        return Thread(thread_name)

    async def makePool(self, count, _context, **kwargs):
        self.pool_sizes.append(count)


async def thread_name_of(context):
    """Return the name that `context.thread` reports, or None if the field is null."""
    if not context._has("thread"):
        return None
    response = await context.thread.getName()
    return response.result


async def check_context_thread(method, context, thread_map):
    """Raise unless `context.thread` is a Thread that `thread_map` made.

    With `thread_map` None, raise unless `context.thread` is null.
    """
    name = await thread_name_of(context)
    if thread_map is None:
        if name is not None:
            raise ValueError(f"{method}: context.thread {name!r} is set, but this side sent no ThreadMap")
        return
    if name is None:
        raise ValueError(f"{method}: context.thread is null; a Thread made by this side's makeThread is required")
    if name not in thread_map.made_names:
        raise ValueError(f"{method}: context.thread {name!r} was not made by this side's makeThread")


class Printer(SCHEMAS.printer.PrinterInterface.Server):
    """Writes each text to standard output after OUTPUT_PREFIX."""

    def __init__(self, thread_map):
        self.thread_map = thread_map

    async def print(self, context, text, _context, **kwargs):
        await check_context_thread("print", context, self.thread_map)
        print(f"{OUTPUT_PREFIX}{text}", flush=True)

    async def destroy(self, context, _context, **kwargs):
        await check_context_thread("destroy", context, self.thread_map)
        log("printer destroyed")


class Init(SCHEMAS.init.InitInterface.Server):
    """The bootstrap capability: a factory of printers."""

    def __init__(self, with_thread_map=True, null_printer=False):
        self.thread_map = ThreadMap("py-printer") if with_thread_map else None
        self.null_printer = null_printer
        self.peer_thread_map = None

    async def construct(self, threadMap, _context, **kwargs):
        self.peer_thread_map = threadMap
        return self.thread_map

    async def makeCalculator(self, context, print, _context, **kwargs):
        raise ValueError("makeCalculator: this process has the printer role; ask a solver for a calculator")

    async def makePrinter(self, context, _context, **kwargs):
        await check_context_thread("makePrinter", context, self.thread_map)
        if self.null_printer:
            log("returning a null printer")
            return None
        return Printer(self.thread_map)


async def serve(fd, with_thread_map, null_printer):
    sock = socket.socket(fileno=fd)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"descriptor {fd} is not a Unix stream socket")
    stream = await capnp.AsyncIoStream.create_unix_connection(sock=sock)
    server = capnp.TwoPartyServer(stream, bootstrap=Init(with_thread_map, null_printer))
    await server.on_disconnect()
    log("connection closed; exiting")


USAGE = "usage: py_printer.py [--no-thread-map] [--null-printer] CONNECTION_ARG"


def main(argv):
    options, connection_arg = argv[1:-1], argv[-1:]
    if not connection_arg or any(option not in ("--no-thread-map", "--null-printer") for option in options):
        log(f"invalid arguments {argv[1:]}\n{USAGE}")
        return 2
    try:
        fd = int(connection_arg[0])
    except ValueError:
        log(f"invalid connection argument {connection_arg[0]!r}: expected a file descriptor number\n{USAGE}")
        return 2
    with_thread_map = "--no-thread-map" not in options
    asyncio.run(capnp.run(serve(fd, with_thread_map, null_printer="--null-printer" in options)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
