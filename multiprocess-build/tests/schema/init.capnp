# The first object a test child serves: the connection handshake and
# factories of the other test interfaces.

@0xee957191693167ef;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("test::messages");

using Proxy = import "/mp/proxy.capnp";
using Types = import "types.capnp";
using Mining = import "mining.capnp";

interface InitInterface $Proxy.wrap("test::Init") {
    construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
    makeTypes @1 (context :Proxy.Context) -> (result :Types.TypeTest);
    # Returns the interface whose methods cover every type mapping.
    makeCounter @2 (context :Proxy.Context, start :Int64) -> (result :Types.Counter);
    # Returns a new counter object; dropping its proxy destroys it.
    liveCounters @3 (context :Proxy.Context) -> (result :UInt32);
    # Returns how many counter objects exist in the serving process.
    makeMining @4 (context :Proxy.Context) -> (result :Mining.Mining);
    processId @5 () -> (result :UInt32);
    # Returns the serving process's id; runs on the event loop.
}
