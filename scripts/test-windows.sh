#!/usr/bin/env bash
# Cross-builds the workspace for x86_64-pc-windows-gnu, runs clippy for that
# target with warnings denied, and runs the tests under Wine.
#
# Needs a cargo that can build for x86_64-pc-windows-gnu. With rustup, run
# `rustup target add x86_64-pc-windows-gnu`, or set WINDOWS_TOOLCHAIN to run
# `cargo +TOOLCHAIN` instead of plain cargo. Also needs the MinGW-w64 linker and
# a cargo runner for Windows executables, given as
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=scripts/wine-runner.sh (as a full path)
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=()
if [ -n "${WINDOWS_TOOLCHAIN:-}" ]; then
    toolchain=("+$WINDOWS_TOOLCHAIN")
fi
target=x86_64-pc-windows-gnu
: "${CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER:?set the MinGW-w64 linker for $target}"
: "${CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER:?set a cargo runner that runs Windows executables}"

# MinGW's dlltool leaves empty temporary files behind; keep them in one place.
export TMPDIR="${TMPDIR:-/tmp}/multiprocess-windows-build"
mkdir -p "$TMPDIR"

# The benchmark crate is not part of the Windows suite: it measures Linux
# resident memory and compares against Unix socket pairs.
packages=(-p multiprocess -p multiprocess-build -p multiprocess-testing -p multiprocess-examples)

echo "== cargo build ($target)"
cargo "${toolchain[@]}" build --target "$target" "${packages[@]}" --all-targets

echo "== cargo clippy ($target)"
cargo "${toolchain[@]}" clippy --target "$target" "${packages[@]}" --all-targets -- -D warnings

echo "== cargo test ($target, under the runner)"
cargo "${toolchain[@]}" test --no-fail-fast --target "$target" -p multiprocess -p multiprocess-testing
# The generator's own tests and the demo's generated-code check run the schema
# compiler at test time. Here it runs under Wine as a Windows program, and the
# embedded compiler reaches only the working folder's drive (Z: under Wine),
# while the temporary folder is on C:. Builds for Windows run the generator on
# the build host, which is Linux here, so the Linux suite covers those tests.
cargo "${toolchain[@]}" test --no-fail-fast --target "$target" -p multiprocess-build --lib --bins --test calls
cargo "${toolchain[@]}" test --no-fail-fast --target "$target" -p multiprocess-examples --lib --test demo

echo "== the demo ($target)"
output=$(cargo "${toolchain[@]}" run -q --target "$target" --example calc -- "1+1" "2*(3+4)")
echo "$output"
grep -qx "1+1 = 2" <<<"$output"
grep -qx "2\*(3+4) = 14" <<<"$output"
