#!/usr/bin/env bash
# Runs every test of the workspace on this machine: the Rust tests, clippy
# with warnings denied, and the interop tests against pycapnp. Installs what
# they need first: the capnp schema compiler (Debian packages capnproto and
# libcapnp-dev, for the tests that regenerate checked-in code), valgrind for
# the leak check, and pycapnp in a virtual environment under .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v capnp >/dev/null || [ ! -f /usr/include/capnp/c++.capnp ]; then
    echo "== installing capnproto and libcapnp-dev"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q capnproto libcapnp-dev
fi

echo "== cargo test"
# `cargo test` builds examples as test executables only, and the demo's tests
# run the example itself, so build it first.
cargo build --workspace --examples
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== leak check (valgrind)"
scripts/leak-check.sh

echo "== interop tests (pycapnp)"
interop/run.sh

echo "== interop with libmultiprocess's C++ examples"
# Skipped, with a message, unless LIBMULTIPROCESS_EXAMPLES names a folder
# with a libmultiprocess build of its example programs.
interop/libmultiprocess.sh
