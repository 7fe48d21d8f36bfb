@0x893db95f456ed0e3;

using Cxx = import "/capnp/c++.capnp";
using Proxy = import "/mp/proxy.capnp";

interface PrinterInterface $Proxy.wrap("Printer") {
    destroy @0 (context :Proxy.Context) -> ();
    print @1 (context :Proxy.Context, text :Text) -> ();
}
