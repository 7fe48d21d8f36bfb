#!/usr/bin/env bash
# Runs the calculator demo against the C++ example programs of libmultiprocess,
# in both directions:
#   1. the Rust parent spawns the C++ mpcalculator and mpprinter children;
#   2. the C++ mpexample parent spawns Rust children in their place.
#
# Needs a libmultiprocess build with its examples (`make mpexamples` in a
# CMake build folder). Set LIBMULTIPROCESS_EXAMPLES to the folder that contains
# mpexample, mpcalculator and mpprinter. Without it the script prints that it
# is skipped and exits with status 0.
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${LIBMULTIPROCESS_EXAMPLES:-}"
if [ -z "$examples" ]; then
    echo "skipped: set LIBMULTIPROCESS_EXAMPLES to the folder with libmultiprocess's mpexample, mpcalculator and mpprinter"
    exit 0
fi
for program in mpexample mpcalculator mpprinter; do
    if [ ! -x "$examples/$program" ]; then
        echo "libmultiprocess.sh: $examples/$program is missing; build it with 'make mpexamples' in the libmultiprocess build folder" >&2
        exit 1
    fi
done

cargo build -q --example calc
calc="$(pwd)/target/debug/examples/calc"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== Rust parent, C++ children"
# The C++ calculator replies to every equation with a remark that it prints
# through the printer it was given, here a Rust proxy of the C++ printer.
# The C++ printer writes debug.log into its working folder, so it runs in $work.
output=$(cd "$work" && timeout 60 "$calc" --solver-cmd "$examples/mpcalculator" --printer-cmd "$examples/mpprinter" "1+1" "2*(3+4)")
echo "$output"
grep -q "mpprinter: Wow 1+1, that's a tough one." <<<"$output"
grep -q "mpprinter: Wow 2\*(3+4), that's a tough one." <<<"$output"

echo "== C++ parent, Rust children"
# mpexample starts the programs named mpcalculator and mpprinter next to
# itself, so they are scripts that run the Rust roles.
cp "$examples/mpexample" "$work/"
printf '#!/bin/sh\nexec "%s" solver "$@"\n' "$calc" >"$work/mpcalculator"
printf '#!/bin/sh\nexec "%s" printer "$@"\n' "$calc" >"$work/mpprinter"
chmod +x "$work/mpcalculator" "$work/mpprinter"
# mpexample's own log lines start with "{mpexample"; only the answers and
# the prompts are of interest here.
output=$(cd "$work" && printf '1+1\n2*(3+4)\nexit\n' | timeout 60 ./mpexample 2>&1 | grep -v '^{mpexample' || true)
echo "$output"
grep -q "1+1 = 2" <<<"$output"
grep -q "2\*(3+4) = 14" <<<"$output"
grep -q "Bye!" <<<"$output"
echo "libmultiprocess interop: both directions passed"
