#!/bin/sh
# Cargo runner for x86_64-pc-windows-gnu programs: runs them under 64-bit
# Wine, without a display. Set it as CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER.
#
# On first use it creates a Wine prefix (WINEPREFIX, by default
# multiprocess-wine in the user's cache folder) and installs a bcryptprimitives.dll built from
# scripts/wine/processprng.c with MinGW-w64, because Wine 8.0 lacks that DLL
# and Rust programs cannot start without it.
#
# Needs: wine64 (Debian: apt-get install wine64) and x86_64-w64-mingw32-gcc
# (Debian: apt-get install gcc-mingw-w64-x86-64-win32).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
export WINEPREFIX="${WINEPREFIX:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/multiprocess-wine}"
export WINEDEBUG="${WINEDEBUG:--all}"
wine=$(command -v wine64 || true)
if [ -z "$wine" ] && [ -x /usr/lib/wine/wine64 ]; then
    wine=/usr/lib/wine/wine64
fi
if [ -z "$wine" ]; then
    echo "wine-runner: wine64 is not installed; on Debian run: apt-get install wine64" >&2
    exit 1
fi

dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$dll" ]; then
    mkdir -p "$(dirname "$WINEPREFIX")"
    (
        # Several test processes may start at once; one of them sets up.
        flock 9
        if [ ! -f "$dll" ]; then
            WINEDLLOVERRIDES="mscoree,mshtml=" "$wine" wineboot --init >/dev/null 2>&1 || true
            if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
                echo "wine-runner: wineboot failed to create the prefix $WINEPREFIX" >&2
                exit 1
            fi
            x86_64-w64-mingw32-gcc -O2 -shared -o "$dll.tmp" "$here/wine/processprng.c" -ladvapi32
            mv "$dll.tmp" "$dll"
        fi
    ) 9>"$WINEPREFIX.lock"
fi

exec "$wine" "$@"
