#!/usr/bin/env bash
# Builds the drop-in libzmq (package `zmtp-libzmq`, release) and lays it out
# as an install prefix that C programs and pyzmq's build can be pointed at:
#
#   DIR/include/zmq.h
#   DIR/lib/libzmq.so.5        the cdylib (SONAME libzmq.so.5)
#   DIR/lib/libzmq.so          -> libzmq.so.5
#   DIR/lib/pkgconfig/libzmq.pc (Version 4.3.5)
#
# Usage: scripts/libzmq-prefix.sh DIR
# Honours CARGO_TARGET_DIR. Idempotent: files are replaced, not appended.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}

(cd "$repo" && cargo build --release --locked -p zmtp-libzmq)

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
install -m 0644 "$repo/libzmq/include/zmq.h" "$prefix/include/zmq.h"
install -m 0755 "$target/release/libzmq.so" "$prefix/lib/libzmq.so.5"
ln -sfn libzmq.so.5 "$prefix/lib/libzmq.so"
cat >"$prefix/lib/pkgconfig/libzmq.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libzmq
Description: ZeroMQ C ABI (zmtp-rs drop-in)
Version: 4.3.5
Libs: -L\${libdir} -lzmq
Cflags: -I\${includedir}
PC

soname=$(readelf -d "$prefix/lib/libzmq.so.5" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libzmq.so.5" ]; then
    echo "libzmq-prefix: SONAME is '$soname', expected libzmq.so.5" >&2
    exit 1
fi
echo "libzmq-prefix: $prefix (SONAME $soname)"
