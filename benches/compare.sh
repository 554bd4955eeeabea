#!/usr/bin/env bash
# zmtp-rs against libzmq, whole system, in one run: markdown tables.
#
#   benches/compare.sh            (from anywhere; about 3 minutes on 2 cores,
#                                 more the first time: it builds the bridge
#                                 bench)
#
# Needs a C compiler and libzmq's headers (Debian/Ubuntu:
# `apt-get install -y libzmq3-dev`). libzmq enters only here: the probe
# benches/probe/zmq_probe.c is built with `cc -O2 ... -lzmq` into
# target/compare/, never by cargo. Ours is `zmtp-perf` (benches/src/bin),
# built --release. Both have libzmq's perf-tool modes and output lines.
#
# Every row runs libzmq and ours alternately, A B A B ..., ROUNDS times each,
# and reports the median of each side; the runs themselves are listed under
# the table. Throughput is timed by the receiver from its first message to
# its last (libzmq's local_thr); latency is half the mean REQ/REP round trip
# (libzmq's remote_lat), with the median and 99th percentile round trip.
#
# Settings (environment):
#   ROUNDS=5    runs per side and row
#   SCALE=1     multiplies every message count (0.2 for a quick look)
#   ROWS=...    only rows whose name matches this extended regex (a plain
#               word is a substring: ROWS=tcp; ROWS='1 MiB|raw|bridge|idle'
#               for the rows below and what they compare against)
#   OURS=path   a zmtp-perf binary to use instead of building this tree's
#               (to set a patched build against the same libzmq runs)
#   LIMIT=30    seconds any single run may take
#   ZMTP_PERF_RUNTIME, ZMTP_PERF_API, ZMTP_PERF_PAYLOAD: see zmtp_perf.rs
#
# Rows against a baseline rather than libzmq, in a second table:
# - raw TCP loopback: benches/probe/tcp_probe.c (built with cc like the libzmq
#   probe) moves 2 GB through one loopback connection with plain write() and
#   read(), in 65,472-byte writes and, for comparison, 65,536-byte ones
#   (issue 15 saw about 9.8 GB/s against 1.9 GB/s on a quiet VM: a power of
#   two does not fit the loopback's segments). ROUNDS runs of each,
#   alternating, median; the receiver's clock runs from its first read.
# - PUSH/PULL tcp 1 MiB as a fraction of raw TCP: both sides' medians from the
#   1 MiB row over the 65,472-byte raw median (needs both rows selected).
#   The raw runs come after the libzmq table, not interleaved with the 1 MiB
#   row's, so on a loaded machine this fraction moves with the load (above 1
#   was seen on a busy VM); quote it from a quiet run only.
# - the serializer bridge: `cargo bench --bench bridge` (benches/benches/
#   bridge.rs; built from this tree even with OURS=), its chunks/s over bare
#   PUSH/PULL msg/s (the bench's own push_pull group: shared `Socket` calls,
#   each end on a one-worker runtime, as the bridge runs its sockets) at 256 B
#   and 64 KiB; criterion's estimate over 10 samples in 1.5 s, not ROUNDS runs.
# And in the libzmq table, one memory row: 1,000 idle peers (one PUSH socket,
# one connection and one 16 B message each, not scaled by SCALE) connect to
# one PULL, which reports how much its resident memory grew per connection
# once it has each peer's message (every connection up, past its handshake).
#
# The tables go to stdout, progress to stderr. Run it on a quiet machine
# and quote the load averages it prints with the figures.

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$TARGET/compare
ROUNDS=${ROUNDS:-5}
SCALE=${SCALE:-1}
ROWS=${ROWS:-}
# Seconds any single run may take. A run that hangs counts as failed (NA in
# the run list, left out of the median): libzmq 4.3.4's PULL over ipc://
# now and then stops a few hundred messages short of COUNT (one run in five
# to twenty of 3 M here) although its PUSH side reports all sent.
LIMIT=${LIMIT:-30}

mkdir -p "$OUT"
LIBZMQ=$OUT/zmq_probe
TCP_PROBE=$OUT/tcp_probe

echo "building the libzmq probe and zmtp-perf ..." >&2
cc -O2 -Wall -Wextra -o "$LIBZMQ" benches/probe/zmq_probe.c -lzmq -lpthread
cc -O2 -Wall -Wextra -o "$TCP_PROBE" benches/probe/tcp_probe.c
if [ -z "${OURS:-}" ]; then
    OURS=$TARGET/release/zmtp-perf
    OURS_LABEL="zmtp-rs $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "?")"
    cargo build --quiet --release -p zmtp-benches --bin zmtp-perf
else
    OURS_LABEL="zmtp-rs from $OURS"
fi

# Every run gets an endpoint of its own: a port below the kernel's ephemeral
# range (which other connections draw from) that nothing uses, or a fresh
# socket file.
# The idle-connections row opens 1,000 connections on each side (libzmq's
# client also an eventfd per socket): more descriptors than a default soft
# limit of 1,024.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -Sn 4096 2>/dev/null || ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
fi

read -r EPHEMERAL_LOW _ </proc/sys/net/ipv4/ip_local_port_range
PORT=$((10000 + RANDOM % (EPHEMERAL_LOW - 12000)))
next_port() {
    PORT=$((PORT + 1))
    while ss -Htan "sport = :$PORT" | grep -q .; do PORT=$((PORT + 1)); done
}
endpoint() { # TRANSPORT SERIAL
    case $1 in
    tcp) echo "tcp://127.0.0.1:$2" ;;
    ipc) echo "ipc://$OUT/perf-$$-$2.sock" ;;
    esac
}

# Waits until something listens on EP while PID (the binding side) lives, so
# the connecting side's first attempt succeeds (a failed connect retries
# only after 100 ms, which would land in the latency figure).
wait_listening() {
    local ep=$1 pid=$2 i
    for ((i = 0; i < 1000; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        case $ep in
        tcp://*) ss -Hltn "sport = :${ep##*:}" | grep -q . && return 0 ;;
        ipc://*) [ -S "${ep#ipc://}" ] && return 0 ;;
        esac
        sleep 0.005
    done
    echo "compare.sh: nothing listens on $ep" >&2
    return 1
}

# One measured run. TOOL KIND TRANSPORT SIZE COUNT SERIAL; prints the
# figures ("msg/s" for thr, "avg p50 p99" in us for lat) or "NA" if it
# failed.
measure() {
    local tool=$1 kind=$2 transport=$3 size=$4 count=$5 serial=$6
    local local_out=$OUT/local.out remote_out=$OUT/remote.out ep pid remote i ok=1
    rm -f "$local_out" "$remote_out"
    if [ "$transport" = inproc ]; then
        timeout $LIMIT "$tool" inproc_thr "$size" "$count" >"$local_out" 2>&1 || ok=0
    elif [ "$kind" = idle ]; then
        # The receiver reports once every peer's message is in; the peers
        # idle until killed.
        ep=$(endpoint "$transport" "$serial")
        timeout $LIMIT "$tool" local_idle "$ep" "$size" "$count" >"$local_out" 2>&1 &
        pid=$!
        if wait_listening "$ep" "$pid"; then
            timeout $LIMIT "$tool" remote_idle "$ep" "$size" "$count" >"$remote_out" 2>&1 &
            remote=$!
            wait "$pid" || ok=0
            kill "$remote" 2>/dev/null || true
            wait "$remote" 2>/dev/null || true
        else
            ok=0
            kill "$pid" 2>/dev/null || true
            wait "$pid" || true
        fi
    elif [ "$kind" = mem ]; then
        # The receiver never reads; the sender reports and the receiver is
        # then killed.
        ep=$(endpoint "$transport" "$serial")
        timeout $LIMIT "$tool" local_mem "$ep" "$size" "$count" >"$local_out" 2>&1 &
        pid=$!
        if wait_listening "$ep" "$pid"; then
            timeout $LIMIT "$tool" remote_mem "$ep" "$size" "$count" >"$remote_out" 2>&1 || ok=0
        else
            ok=0
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    else
        ep=$(endpoint "$transport" "$serial")
        timeout $LIMIT "$tool" "local_$kind" "$ep" "$size" "$count" >"$local_out" 2>&1 &
        pid=$!
        if wait_listening "$ep" "$pid"; then
            timeout $LIMIT "$tool" "remote_$kind" "$ep" "$size" "$count" >"$remote_out" 2>&1 &
            remote=$!
            wait "$pid" || ok=0
            # The remote side ends right after the local one (a sender once
            # its last message is written); do not wait on one whose peer
            # failed.
            for ((i = 0; i < 500; i++)); do
                kill -0 "$remote" 2>/dev/null || break
                sleep 0.01
            done
            kill "$remote" 2>/dev/null || true
            wait "$remote" || ok=0
        else
            ok=0
            kill "$pid" 2>/dev/null || true
            wait "$pid" || true
        fi
        if [ "$transport" = ipc ]; then rm -f "${ep#ipc://}"; fi
    fi
    if [ $ok = 0 ]; then
        echo "compare.sh: $tool $kind $transport $size $count failed:" >&2
        cat "$local_out" "$remote_out" >&2 2>/dev/null || true
        echo NA
    elif [ "$kind" = thr ]; then
        awk '/msg\/s/ { print $3 }' "$local_out"
    elif [ "$kind" = mem ]; then
        awk '/sender memory/ { print $3 }' "$remote_out"
    elif [ "$kind" = idle ]; then
        awk '/memory per connection/ { print $4 }' "$local_out"
    else
        awk '/average latency/ { a = $3 } /p50 roundtrip/ { p = $3 }
             /p99 roundtrip/ { q = $3 } END { print a, p, q }' "$remote_out"
    fi
}

# Median of the numbers on stdin, one per line (NA skipped).
median() {
    grep -v NA | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "NA"; exit }
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

group() { # a number with thousands separators
    awk -v n="$1" 'BEGIN {
        if (n == "NA") { print "n/a"; exit }
        s = sprintf("%.0f", n); out = ""
        while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        print s out }'
}

# Median of field F over the "avg p50 p99" runs given.
lat() { printf '%s\n' "${@:2}" | awk -v f="$1" '{ print ($0 == "NA") ? "NA" : $f }' | median; }

calc() { awk "BEGIN { if (\"$*\" ~ /NA/) print \"NA\"; else printf \"%.${PREC:-2}f\", $* }"; }

count_of() { awk -v c="$1" -v s="$SCALE" 'BEGIN { n = int(c * s); printf "%.0f\n", (n < 1) ? 1 : n }'; }

# name | kind | transport | size | count (sized for about a second a run)
# | security (curve: PERF_CURVE=1, both tools then use CURVE with fixed
# benchmark keys; libzmq's CURVE is libsodium's)
ROW_SPECS=(
    "PUSH/PULL tcp 16 B|thr|tcp|16|3000000"
    "PUSH/PULL tcp 64 B|thr|tcp|64|3000000"
    "PUSH/PULL tcp 256 B|thr|tcp|256|2000000"
    "PUSH/PULL tcp 1 KiB|thr|tcp|1024|1000000"
    "PUSH/PULL tcp 64 KiB|thr|tcp|65536|40000"
    "PUSH/PULL tcp 1 MiB|thr|tcp|1048576|2000"
    "PUSH/PULL ipc 64 B|thr|ipc|64|3000000"
    "PUSH/PULL inproc 64 B|thr|inproc|64|2000000"
    "REQ/REP tcp 64 B latency|lat|tcp|64|20000"
    "CURVE PUSH/PULL tcp 64 B|thr|tcp|64|300000|curve"
    "CURVE PUSH/PULL tcp 64 KiB|thr|tcp|65536|10000|curve"
    "PUSH to a stalled PULL, 64 KiB: sender memory|mem|tcp|65536|100000"
    "1,000 idle connections: receiver memory per connection|idle|tcp|16|1000"
)

# The second table's rows: name | kind | size (write or chunk size) | bytes
# per run (raw only, scaled by SCALE)
EXTRA_SPECS=(
    "raw TCP loopback, 65,472-byte writes|raw|65472|2000000000"
    "raw TCP loopback, 65,536-byte writes|raw|65536|2000000000"
    "bridge chunks vs bare PUSH/PULL, 256 B|bridge|256|"
    "bridge chunks vs bare PUSH/PULL, 64 KiB|bridge|65536|"
)

# Bytes per second of one tcp_probe run, or NA.
raw_tcp() { # WRITE_SIZE BYTES
    local out
    if out=$(timeout $LIMIT "$TCP_PROBE" "$1" "$2" 2>&1); then
        awk '/raw tcp/ { print $3 }' <<<"$out"
    else
        echo "compare.sh: tcp_probe $1 $2 failed: $out" >&2
        echo NA
    fi
}

# The bridge bench's results, "name value" per line (elements per second),
# for bridge/chunks/{256B,64KiB} and push_pull/msgs/{256B,64KiB}; runs the
# bench the first time only.
bridge_results() {
    local out=$OUT/bridge.out
    if [ ! -e "$OUT/bridge.parsed" ]; then
        echo "bridge bench (cargo bench --bench bridge, about 15 s; load $(cut -d' ' -f1 /proc/loadavg)) ..." >&2
        if cargo bench --quiet -p zmtp-benches --bench bridge -- \
            --warm-up-time 0.5 --measurement-time 1.5 --noplot \
            'bridge/chunks|push_pull/msgs' >"$out" 2>&1; then
            # The first thrpt line after a benchmark's name is its estimate
            # (low, middle, high); a second one is the change since the last
            # run.
            awk '/^(bridge\/chunks|push_pull\/msgs)\// { name = $1 }
                 /thrpt:/ && name != "" && $5 ~ /elem\/s/ {
                     m = ($5 ~ /^K/) ? 1e3 : ($5 ~ /^M/) ? 1e6 : ($5 ~ /^G/) ? 1e9 : 1
                     printf "%s %.0f\n", name, $4 * m; name = "" }' "$out" >"$OUT/bridge.parsed"
        else
            echo "compare.sh: the bridge bench failed:" >&2
            cat "$out" >&2
            : >"$OUT/bridge.parsed"
        fi
    fi
    cat "$OUT/bridge.parsed"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date +%s)
TABLE=()
RAW=()
declare -A MED_ZMQ MED_OURS
rm -f "$OUT/bridge.parsed"
for spec in "${ROW_SPECS[@]}"; do
    IFS='|' read -r name kind transport size count security <<<"$spec"
    if [ "${security:-}" = curve ]; then export PERF_CURVE=1; else unset PERF_CURVE; fi
    [[ -n "$ROWS" && ! "$name" =~ $ROWS ]] && continue
    if [ "$kind" != idle ]; then count=$(count_of "$count"); fi
    echo "$name: $count messages, $ROUNDS rounds (load $(cut -d' ' -f1 /proc/loadavg)) ..." >&2
    zmq_runs=()
    our_runs=()
    for ((r = 0; r < ROUNDS; r++)); do
        next_port
        zmq_runs+=("$(measure "$LIBZMQ" "$kind" "$transport" "$size" "$count" $PORT)")
        next_port
        our_runs+=("$(measure "$OURS" "$kind" "$transport" "$size" "$count" $PORT)")
    done
    RAW+=("| $name | $(
        IFS=';'
        echo "${zmq_runs[*]}"
    ) | $(
        IFS=';'
        echo "${our_runs[*]}"
    ) |")
    if [ "$kind" = mem ]; then
        zmq=$(printf '%s\n' "${zmq_runs[@]}" | median)
        ours=$(printf '%s\n' "${our_runs[@]}" | median)
        zmq_mb=$(PREC=1 calc "$zmq / 1e6")
        our_mb=$(PREC=1 calc "$ours / 1e6")
        ratio=$(calc "$ours / $zmq")
        TABLE+=("| $name | – | – | $zmq_mb MB | $our_mb MB | – | – | **$ratio** (HWM x size: $(PREC=1 calc "1000 * $size / 1e6") MB) |")
    elif [ "$kind" = idle ]; then
        zmq=$(printf '%s\n' "${zmq_runs[@]}" | median)
        ours=$(printf '%s\n' "${our_runs[@]}" | median)
        ratio=$(calc "$ours / $zmq")
        TABLE+=("| $name | – | – | $(PREC=1 calc "$zmq / 1e3") KB | $(PREC=1 calc "$ours / 1e3") KB | – | – | **$ratio** |")
    elif [ "$kind" = thr ]; then
        zmq=$(printf '%s\n' "${zmq_runs[@]}" | median)
        ours=$(printf '%s\n' "${our_runs[@]}" | median)
        zmq_mb=$(PREC=1 calc "$zmq * $size / 1e6")
        our_mb=$(PREC=1 calc "$ours * $size / 1e6")
        ratio=$(calc "$ours / $zmq")
        MED_ZMQ[$name]=$zmq_mb MED_OURS[$name]=$our_mb
        TABLE+=("| $name | $(group "$zmq") | $(group "$ours") | $zmq_mb | $our_mb | – | – | **$ratio** |")
    else
        zmq_avg=$(lat 1 "${zmq_runs[@]}") zmq_p50=$(lat 2 "${zmq_runs[@]}") zmq_p99=$(lat 3 "${zmq_runs[@]}")
        our_avg=$(lat 1 "${our_runs[@]}") our_p50=$(lat 2 "${our_runs[@]}") our_p99=$(lat 3 "${our_runs[@]}")
        zmq_lat="$(PREC=1 calc "$zmq_avg") / $(PREC=1 calc "$zmq_p50") / $(PREC=1 calc "$zmq_p99")"
        our_lat="$(PREC=1 calc "$our_avg") / $(PREC=1 calc "$our_p50") / $(PREC=1 calc "$our_p99")"
        # Round trips per second, from the mean round trip (2 x latency).
        zmq_rate=$(PREC=0 calc "1e6 / (2 * $zmq_avg)")
        our_rate=$(PREC=0 calc "1e6 / (2 * $our_avg)")
        ratio=$(calc "$zmq_avg / $our_avg")
        TABLE+=("| $name | $(group "$zmq_rate") rt/s | $(group "$our_rate") rt/s | – | – | $zmq_lat | $our_lat | **$ratio** |")
    fi
done

# The second table: rows against raw TCP and bare sockets.
EXTRA=()
RAW_A=
for spec in "${EXTRA_SPECS[@]}"; do
    IFS='|' read -r name kind size bytes <<<"$spec"
    [[ -n "$ROWS" && ! "$name" =~ $ROWS ]] && continue
    if [ "$kind" = raw ]; then
        # Both write sizes run alternately, ROUNDS times each, when the
        # first of their rows is reached.
        [ -n "$RAW_A" ] && continue
        bytes=$(count_of "$bytes")
        echo "raw TCP loopback: $bytes bytes, 65,472 and 65,536-byte writes, $ROUNDS rounds (load $(cut -d' ' -f1 /proc/loadavg)) ..." >&2
        a_runs=() b_runs=()
        for ((r = 0; r < ROUNDS; r++)); do
            a_runs+=("$(raw_tcp 65472 "$bytes")")
            b_runs+=("$(raw_tcp 65536 "$bytes")")
        done
        RAW_A=$(printf '%s\n' "${a_runs[@]}" | median)
        raw_b=$(printf '%s\n' "${b_runs[@]}" | median)
        a_mb=$(PREC=0 calc "$RAW_A / 1e6")
        b_mb=$(PREC=0 calc "$raw_b / 1e6")
        EXTRA+=("| raw TCP loopback, 65,472-byte writes | – | $(group "$a_mb") MB/s | – |")
        EXTRA+=("| raw TCP loopback, 65,536-byte writes | 65,472-byte writes: $(group "$a_mb") MB/s | $(group "$b_mb") MB/s | **$(calc "$raw_b / $RAW_A")** |")
        RAW+=("| raw TCP loopback, 65,472-byte writes (B/s) | $(
            IFS=';'
            echo "${a_runs[*]}"
        ) | – |")
        RAW+=("| raw TCP loopback, 65,536-byte writes (B/s) | $(
            IFS=';'
            echo "${b_runs[*]}"
        ) | – |")
        one_mib="PUSH/PULL tcp 1 MiB"
        if [ -n "${MED_OURS[$one_mib]:-}" ]; then
            EXTRA+=("| $one_mib, fraction of raw TCP (65,472-byte writes) | raw TCP: $(group "$a_mb") MB/s | libzmq $(group "${MED_ZMQ[$one_mib]}") MB/s, ours $(group "${MED_OURS[$one_mib]}") MB/s | libzmq $(calc "${MED_ZMQ[$one_mib]} / $a_mb"), ours **$(calc "${MED_OURS[$one_mib]} / $a_mb")** |")
        fi
    else
        if [ "$size" = 256 ]; then label=256B; else label=64KiB; fi
        results=$(bridge_results)
        bridge=$(awk -v n="bridge/chunks/$label" '$1 == n { print $2 }' <<<"$results")
        bare=$(awk -v n="push_pull/msgs/$label" '$1 == n { print $2 }' <<<"$results")
        bridge=${bridge:-NA} bare=${bare:-NA}
        EXTRA+=("| $name | bare PUSH/PULL: $(group "$bare") msg/s | $(group "$bridge") chunks/s | **$(calc "$bridge / $bare")** |")
        RAW+=("| $name (criterion estimates, per s) | bare $bare | bridge $bridge |")
    fi
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

cat <<EOF
libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo "?") vs $OURS_LABEL \
(runtime ${ZMTP_PERF_RUNTIME:-current_thread}); $(nproc) cores, $(uname -r);
median of $ROUNDS alternating runs per side; load average $LOAD_START at the start, $LOAD_END at the end; $(($(date +%s) - STARTED)) s.

| row | libzmq msg/s | ours msg/s | libzmq MB/s | ours MB/s | libzmq latency avg / p50 rt / p99 rt (µs) | ours latency avg / p50 rt / p99 rt (µs) | ours / libzmq |
|---|---:|---:|---:|---:|---:|---:|---:|
EOF
printf '%s\n' "${TABLE[@]}"
if [ ${#EXTRA[@]} -gt 0 ]; then
    cat <<EOF

Against raw TCP and bare sockets (same run):

| row | baseline | measured | measured / baseline |
|---|---:|---:|---:|
EOF
    printf '%s\n' "${EXTRA[@]}"
fi
cat <<EOF

ours / libzmq: throughput ratio (above 1: we are faster); for REQ/REP the
ratio of round-trip rates, libzmq's mean latency over ours; for the memory
row, how much the sender's resident memory grew while it queued messages
for a receiver that never reads (default high-water marks of 1000), ours
over libzmq's (below 1: we hold less); for the idle-connections row, how
much the receiver's resident memory grew per connected idle peer (KB: 10^3
bytes), ours over libzmq's. Latency "avg" is
half the mean round trip (libzmq's remote_lat); p50/p99 are of whole round
trips. MB/s is 10^6 bytes of payload per second.

Runs (msg/s, avg p50 p99 in µs, bytes of sender memory or per idle connection, raw TCP B/s), in the order taken:

| row | libzmq | ours |
|---|---|---|
EOF
printf '%s\n' "${RAW[@]}"
