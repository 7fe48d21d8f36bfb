#!/usr/bin/env bash
# Runs the pycapnp interop tests.
#
# Creates the virtual environment .venv at the repository root if it is
# missing, installs interop/requirements.txt into it, builds the calc example
# and runs pytest on interop/. Arguments are passed to pytest. Needs python3
# (with its venv module) and cargo. Environment:
#   PYTHON           interpreter that creates the environment (default: python3)
#   INTEROP_TIMEOUT  seconds pytest may run in all (default: 600)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="$repo_root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    echo "run.sh: creating the virtual environment $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt

cargo build --example calc
target_dir="$(cargo metadata --format-version 1 --no-deps |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
export CALC_BINARY="$target_dir/debug/examples/calc"

pytest_command=("$venv/bin/python" -m pytest interop "$@")
if command -v timeout >/dev/null; then
    exec timeout --kill-after=10 "${INTEROP_TIMEOUT:-600}" "${pytest_command[@]}"
else
    echo "run.sh: timeout(1) not found; only the tests' own per-step timeouts apply" >&2
    exec "${pytest_command[@]}"
fi
