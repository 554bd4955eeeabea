#!/usr/bin/env bash
# Instructions per message on each side of a tcp link, counted by
# callgrind: the per-message budget of docs/performance.md.
#
#   benches/callgrind.sh [SIZE...]        (default: 16 64)
#
# For each size, each side (PULL receiving, PUSH sending; REP and REQ for
# one round trip each) runs under callgrind twice, with N1 and N2 messages,
# while the other side runs natively; the difference of the two totals over
# N2 - N1 is the cost of one message, with start-up and handshake taken out.
# Instruction counts repeat to within about 1% from run to run, whatever
# the machine's load, unlike times. The side under callgrind runs about 50
# times slower than its peer, so a receiver finds full reads and full
# queues and a sender rarely waits: the counts are those of a side that is
# the bottleneck, which is what throughput measures.
#
# Settings (environment):
#   OURS=path     the zmtp-perf binary (default: this tree's, built --release)
#   LIBZMQ=1      count libzmq too (benches/probe/zmq_probe.c, built with cc;
#                 all of its threads are counted)
#   N1=100000 N2=400000   messages per run (round trips: a tenth of these)
#   KEEP=dir      keep the callgrind files there (for callgrind_annotate)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${KEEP:-$TARGET/callgrind}
N1=${N1:-100000}
N2=${N2:-400000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(16 64)
mkdir -p "$OUT"

if [ -z "${OURS:-}" ]; then
    cargo build --quiet --release -p zmtp-benches --bin zmtp-perf
    OURS=$TARGET/release/zmtp-perf
fi
TOOLS=("ours:$OURS")
if [ "${LIBZMQ:-0}" = 1 ]; then
    cc -O2 -Wall -Wextra -o "$OUT/zmq_probe" benches/probe/zmq_probe.c -lzmq -lpthread
    TOOLS+=("libzmq:$OUT/zmq_probe")
fi

read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range
PORT=$((10000 + RANDOM % (EPHEMERAL_LOW - 12000)))
next_port() {
    PORT=$((PORT + 1))
    while ss -Htan "sport = :$PORT" | grep -q .; do PORT=$((PORT + 1)); done
}

# Instructions of one run: TOOL MODE_UNDER_CALLGRIND MODE_NATIVE SIZE COUNT
# NAME. The binding side (local_*) starts first either way.
count_run() {
    local tool=$1 measured=$2 native=$3 size=$4 count=$5 name=$6 ep pid
    next_port
    ep=tcp://127.0.0.1:$PORT
    local file=$OUT/$name.$count.out
    if [[ $measured == local_* ]]; then
        valgrind --tool=callgrind --callgrind-out-file="$file" "$tool" "$measured" "$ep" "$size" "$count" \
            >/dev/null 2>"$OUT/valgrind.err" &
        pid=$!
        while ! ss -Hltn "sport = :$PORT" | grep -q .; do sleep 0.05; done
        "$tool" "$native" "$ep" "$size" "$count" >/dev/null
        wait $pid
    else
        "$tool" "$native" "$ep" "$size" "$count" >/dev/null &
        pid=$!
        while ! ss -Hltn "sport = :$PORT" | grep -q .; do sleep 0.01; done
        valgrind --tool=callgrind --callgrind-out-file="$file" "$tool" "$measured" "$ep" "$size" "$count" \
            >/dev/null 2>"$OUT/valgrind.err"
        wait $pid
    fi
    awk '/refs:/ { gsub(",", "", $4); print $4 }' "$OUT/valgrind.err"
}

# Instructions per message: TOOL MEASURED NATIVE SIZE N1 N2 NAME.
per_message() {
    local a b
    a=$(count_run "$1" "$2" "$3" "$4" "$5" "$7")
    b=$(count_run "$1" "$2" "$3" "$4" "$6" "$7")
    awk -v a="$a" -v b="$b" -v n="$(($6 - $5))" 'BEGIN { printf "%.0f", (b - a) / n }'
}

echo "instructions per message (callgrind, N1=$N1 N2=$N2; load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "| tool | size | PUSH sends | PULL receives | REQ per round trip | REP per round trip |"
echo "|---|---:|---:|---:|---:|---:|"
for entry in "${TOOLS[@]}"; do
    label=${entry%%:*} tool=${entry#*:}
    for size in "${SIZES[@]}"; do
        send=$(per_message "$tool" remote_thr local_thr "$size" "$N1" "$N2" "$label-send-$size")
        recv=$(per_message "$tool" local_thr remote_thr "$size" "$N1" "$N2" "$label-recv-$size")
        req=$(per_message "$tool" remote_lat local_lat "$size" $((N1 / 10)) $((N2 / 10)) "$label-req-$size")
        rep=$(per_message "$tool" local_lat remote_lat "$size" $((N1 / 10)) $((N2 / 10)) "$label-rep-$size")
        echo "| $label | $size B | $send | $recv | $req | $rep |"
    done
done
