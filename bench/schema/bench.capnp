@0x926a176c40dc447d;

# Interfaces that the benchmarks call in a child process. Every method does as
# little work as it can, so that a measurement shows the cost of the call.

using Proxy = import "/mp/proxy.capnp";

interface BenchInit {
    construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
    # Runs on the server thread mapped to the caller and returns at once.
    ping @1 (context :Proxy.Context) -> ();
    # Runs on the server's event loop, without a context.
    pingOnLoop @2 () -> ();
    # Calls `callback.call()` once from the server thread, then returns.
    callBack @3 (context :Proxy.Context, callback :Callback) -> ();
    # Returns `data` unchanged, copied through the server thread.
    echoData @4 (context :Proxy.Context, data :Data) -> (result :Data);
}

interface Callback {
    call @0 (context :Proxy.Context) -> ();
}

# Served by a plain capnp-rpc server without a thread map, as the baseline of
# Cap'n Proto RPC alone.
interface Echo {
    echo @0 (value :UInt64) -> (value :UInt64);
}
