# Parameter and result layouts of the `construct` method that an Init
# interface starts with. The runtime uses them to make and answer that call
# on any Init interface without knowing its generated types.

@0xd6b3b5bb8d3c45a1;

using Proxy = import "/mp/proxy.capnp";

struct ConstructParams {
    threadMap @0 :Proxy.ThreadMap;
}

struct ConstructResults {
    threadMap @0 :Proxy.ThreadMap;
}
