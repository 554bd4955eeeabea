#!/usr/bin/env bash
# libzmq's own perf tools (perf/local_thr, remote_thr, local_lat,
# remote_lat from Debian's zeromq3 4.3.4 source package) built twice, once
# against the system's real libzmq (libzmq3-dev) and once against the
# drop-in (`libzmq/`, through scripts/libzmq-prefix.sh), and run side by
# side over tcp on 127.0.0.1: throughput (PUSH/PULL, msg/s) and latency
# (REQ/REP round trip halved, as remote_lat prints it, us) for each message
# size. Each figure is the median of --runs runs; real and drop-in runs
# alternate so that a load change hits both.
#
# Usage: benches/libzmq-perf.sh [--runs N] [--sizes "64 1024"]
#                               [--count N] [--roundtrips N]
# Needs a quiet machine for figures worth quoting (nice does not make a
# loaded machine quiet). Work dir: ${CARGO_TARGET_DIR:-target}/libzmq-perf.
set -euo pipefail

runs=3
sizes="64 1024"
count=1000000
roundtrips=20000
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --count) count=$2; shift ;;
    --roundtrips) roundtrips=$2; shift ;;
    *)
        echo "usage: $0 [--runs N] [--sizes \"64 1024\"] [--count N] [--roundtrips N]" >&2
        exit 2
        ;;
    esac
    shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
work=$target/libzmq-perf
prefix=$work/prefix
real_header=${REAL_ZMQ_H:-/usr/include/zmq.h}
real_lib_dir=${REAL_ZMQ_LIBDIR:-/usr/lib/x86_64-linux-gnu}
mkdir -p "$work"

if [ ! -f "$real_header" ] || [ ! -e "$real_lib_dir/libzmq.so" ]; then
    echo "libzmq-perf: no real libzmq ($real_header, $real_lib_dir/libzmq.so): install libzmq3-dev" >&2
    exit 1
fi

src=$("$repo/scripts/zeromq3-source.sh" "$target/peer-suites/zeromq3")
"$repo/scripts/libzmq-prefix.sh" "$prefix" >&2

# The tools include "../include/zmq.h": each build gets its own copy of
# perf/ beside the header it is meant to use.
build() { # name header ldflags...
    local name=$1 header=$2
    shift 2
    local dir=$work/$name
    mkdir -p "$dir/perf" "$dir/include" "$dir/bin"
    cp "$header" "$dir/include/zmq.h"
    local tool
    for tool in local_thr remote_thr local_lat remote_lat; do
        cp "$src/perf/$tool.cpp" "$dir/perf/"
        g++ -O2 -w -pthread "$dir/perf/$tool.cpp" -o "$dir/bin/$tool" "$@" -lzmq
    done
}
echo "== libzmq-perf: building the perf tools" >&2
build real "$real_header" -L"$real_lib_dir"
build ours "$prefix/include/zmq.h" -L"$prefix/lib" -Wl,-rpath,"$prefix/lib"

# Each build must load the library it was built for.
check_lib() { # name expected-path
    local got
    got=$(ldd "$work/$1/bin/local_thr" | awk '/libzmq\.so/ { print $3 }')
    if [ "$(readlink -f "$got")" != "$(readlink -f "$2")" ]; then
        echo "libzmq-perf: $1 loads $got, not $2" >&2
        exit 1
    fi
}
check_lib real "$real_lib_dir/libzmq.so.5"
check_lib ours "$prefix/lib/libzmq.so.5"

port=$((20000 + RANDOM % 20000))
next_endpoint() {
    port=$((port + 1))
    echo "tcp://127.0.0.1:$port"
}

thr() { # name size -> msg/s
    local bin=$work/$1/bin ep out
    ep=$(next_endpoint)
    out=$(mktemp)
    "$bin/local_thr" "$ep" "$2" "$count" >"$out" &
    local pid=$!
    sleep 0.3
    "$bin/remote_thr" "$ep" "$2" "$count" >/dev/null
    wait $pid
    awk '/mean throughput: .*msg\/s/ { print $3 }' "$out"
    rm -f "$out"
}

lat() { # name size -> us
    local bin=$work/$1/bin ep
    ep=$(next_endpoint)
    "$bin/local_lat" "$ep" "$2" "$roundtrips" >/dev/null &
    local pid=$!
    sleep 0.3
    "$bin/remote_lat" "$ep" "$2" "$roundtrips" | awk '/average latency/ { print $3 }'
    wait $pid
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-18s %6s %16s %16s %8s\n' test size "real libzmq" zmtp-rs ours/real
for size in $sizes; do
    for kind in thr lat; do
        r=""
        o=""
        for _ in $(seq "$runs"); do
            r="$r $($kind real "$size")"
            o="$o $($kind ours "$size")"
        done
        rm=$(echo "$r" | median)
        om=$(echo "$o" | median)
        if [ $kind = thr ]; then
            label="throughput msg/s"
        else
            label="latency us"
        fi
        printf '%-18s %6s %16s %16s %8s\n' "$label" "$size B" "$rm" "$om" \
            "$(awk -v a="$om" -v b="$rm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    done
done
echo "(tcp over 127.0.0.1; medians of $runs runs; $count messages per throughput run, $roundtrips round trips per latency run)"
