@0xe2b4b0c4b9a7f0d1;

# Interfaces that the runtime's integration tests call through child processes.

using Proxy = import "/mp/proxy.capnp";

interface TestInit {
    construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
    add @1 (context :Proxy.Context, a :Int64, b :Int64) -> (result :Int64);
    # Calls `callback.call(depth)` from the server thread and returns its result.
    callBack @2 (context :Proxy.Context, callback :Callback, depth :UInt32) -> (result :Text);
    # Panics on the server thread with `message`.
    panic @3 (context :Proxy.Context, message :Text) -> ();
    sleep @4 (context :Proxy.Context, millis :UInt32) -> ();
    # Returns the name of the server thread that runs the call.
    threadName @5 (context :Proxy.Context) -> (result :Text);
    # Runs on the event loop, without a context.
    addOnLoop @6 (a :Int64, b :Int64) -> (result :Int64);
    # Returns the process id of the server.
    pid @7 (context :Proxy.Context) -> (result :UInt32);
    # Returns a new counter object after waiting `delayMillis` milliseconds.
    makeCounter @8 (context :Proxy.Context, delayMillis :UInt32) -> (result :Counter);
    # Returns the number of counter objects alive in the server process.
    liveCounters @9 (context :Proxy.Context) -> (result :UInt64);
}

interface Callback {
    call @0 (context :Proxy.Context, depth :UInt32) -> (result :Text);
}

interface Counter {
    destroy @0 (context :Proxy.Context) -> ();
    increment @1 (context :Proxy.Context) -> (result :UInt64);
}
