"""Load the calculator demo's Cap'n Proto schemas with pycapnp.

The schemas import `/capnp/c++.capnp` and `/mp/proxy.capnp`. The first comes
from the pycapnp wheel, which ships it inside its `capnp` package, or from a
system include folder (Debian's libcapnp-dev installs /usr/include/capnp). The
second comes from this repository's multiprocess/schema folder.
"""

import os
from pathlib import Path
from types import SimpleNamespace

import capnp

REPO_ROOT = Path(__file__).resolve().parent.parent
MP_SCHEMA_DIR = REPO_ROOT / "multiprocess" / "schema"
DEMO_SCHEMA_DIR = REPO_ROOT / "examples" / "schema"
SYSTEM_INCLUDE_DIRS = ["/usr/local/include", "/usr/include"]


def capnp_import_dirs():
    """Return the import folders for the schemas, failing if one is missing.

    Each folder is a root for absolute imports: `/mp/proxy.capnp` is looked up
    as DIR/mp/proxy.capnp.
    """
    if not (MP_SCHEMA_DIR / "mp" / "proxy.capnp").is_file():
        raise FileNotFoundError(f"mp/proxy.capnp not found under {MP_SCHEMA_DIR}")

    # The folder that contains pycapnp's package folder `capnp` is a root in
    # which capnp/c++.capnp exists when the wheel bundles it.
    pycapnp_root = Path(capnp.__file__).resolve().parent.parent
    candidates = [str(pycapnp_root)] + SYSTEM_INCLUDE_DIRS
    cxx_roots = [root for root in candidates if os.path.isfile(os.path.join(root, "capnp", "c++.capnp"))]
    if not cxx_roots:
        raise FileNotFoundError(
            "capnp/c++.capnp not found in pycapnp's package or in "
            + ", ".join(SYSTEM_INCLUDE_DIRS)
            + "; install a pycapnp wheel that bundles it or the capnp headers (Debian: libcapnp-dev)"
        )
    return [str(MP_SCHEMA_DIR), cxx_roots[0]]


def load_schemas():
    """Load proxy.capnp and the demo's schemas, returned as attributes.

    The result has `proxy` (ThreadMap, Thread, Context), `init`
    (InitInterface), `calculator` (CalculatorInterface) and `printer`
    (PrinterInterface).
    """
    imports = capnp_import_dirs()
    return SimpleNamespace(
        proxy=capnp.load(str(MP_SCHEMA_DIR / "mp" / "proxy.capnp"), imports=imports),
        init=capnp.load(str(DEMO_SCHEMA_DIR / "init.capnp"), imports=imports),
        calculator=capnp.load(str(DEMO_SCHEMA_DIR / "calculator.capnp"), imports=imports),
        printer=capnp.load(str(DEMO_SCHEMA_DIR / "printer.capnp"), imports=imports),
    )
