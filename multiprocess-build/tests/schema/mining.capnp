# A Mining-like interface: a method that blocks until it is woken, and an
# interrupt that runs on the event loop, as in Bitcoin Core's mining.capnp.

@0x88a580c7eac70e4e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("test::messages");

using Proxy = import "/mp/proxy.capnp";

interface Mining $Proxy.wrap("test::Mining") {
    destroy @0 (context :Proxy.Context) -> ();
    waitNext @1 (context :Proxy.Context, known :UInt64, timeoutMillis :UInt32) -> (result :UInt64, hasResult :Bool);
    # Blocks until the latest submitted value differs from `known` and returns
    # it, or returns no value once `interrupt` is called or the timeout passes.
    submit @2 (context :Proxy.Context, value :UInt64) -> ();
    interrupt @3 () -> ();
    # Makes the waiting waitNext call, or the next one, return no value.
}
