#!/usr/bin/env bash
# Runs the short in-process stress test under valgrind and fails on any
# definitely lost memory or memory error. Installs valgrind with apt-get if
# it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q valgrind
fi

binary=$(cargo test -p multiprocess-testing --test races --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*races-[^"]*"' | cut -d'"' -f4 | tail -n 1)
if [ -z "$binary" ]; then
    echo "leak-check: could not find the races test binary" >&2
    exit 1
fi
valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 --quiet \
    "$binary" stress_in_process_with_disconnects --test-threads=1
