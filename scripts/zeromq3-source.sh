#!/usr/bin/env bash
# Fetches Debian bookworm's `zeromq3` source package (libzmq 4.3.4 with
# Debian's patches) into DIR once, through apt-get with a private apt
# configuration (its own sources.list with one deb-src line, its own lists
# and cache under DIR: the system's apt sources, lists and cache are left
# alone), unpacks it and applies debian/patches/series. Prints the patched
# source tree's path (DIR/tree/libzmq-4.3.4) on stdout; logs go to stderr.
#
# Used by scripts/peer-suites.sh (libzmq's own tests) and
# benches/libzmq-perf.sh (libzmq's perf tools). Nothing of the package is
# kept in the repository. Network: deb.debian.org, on the first run only.
#
# Usage: scripts/zeromq3-source.sh DIR
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)
dl=$dir/download
apt=$dir/apt

if ! compgen -G "$dl/zeromq3_*.orig.tar.gz" >/dev/null; then
    echo "== zeromq3-source: fetching Debian bookworm's zeromq3 source package" >&2
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dl"
    echo "deb-src http://deb.debian.org/debian bookworm main" >"$apt/sources.list"
    opts=(-q -o "Dir::Etc::SourceList=$apt/sources.list"
        -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$apt/lists"
        -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1)
    if ! { apt-get "${opts[@]}" update &&
        (cd "$dl" && apt-get "${opts[@]}" source --download-only zeromq3); } \
        >"$dir/apt.log" 2>&1; then
        cat "$dir/apt.log" >&2
        echo "zeromq3-source: apt-get failed" >&2
        exit 1
    fi
fi

if [ ! -f "$dir/tree/.patched" ]; then
    echo "== zeromq3-source: unpacking and patching" >&2
    rm -rf "$dir/tree"
    mkdir -p "$dir/tree"
    tar -xzf "$(compgen -G "$dl/zeromq3_*.orig.tar.gz" | head -n1)" -C "$dir/tree"
    src=$(compgen -G "$dir/tree/*/tests/testutil.cpp" | head -n1)
    src=${src%/tests/testutil.cpp}
    tar -xJf "$(compgen -G "$dl/zeromq3_*.debian.tar.xz" | head -n1)" -C "$src"
    while read -r p; do
        case $p in '' | '#'*) continue ;; esac
        patch -s -p1 -d "$src" <"$src/debian/patches/$p"
    done <"$src/debian/patches/series"
    touch "$dir/tree/.patched"
fi

src=$(compgen -G "$dir/tree/*/tests/testutil.cpp" | head -n1)
echo "${src%/tests/testutil.cpp}"
