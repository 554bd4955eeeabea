#!/usr/bin/env bash
# The hostile-peer attacks of issue 13 against libzmq and against us, side
# by side: one row per attack, each cell the server's peak memory growth
# (VmHWM minus its resident size before the attack) and whether a
# well-behaved peer was still served within 5 s.
#
# Run from anywhere (not run by CI; needs python3 with pyzmq):
#     benches/hostile.sh                    # every attack (about 2 minutes)
#     benches/hostile.sh empty-flood churn  # some of them
#     target/release/hostile-attack --list  # their names
#
# The attacker is tests/src/bin/hostile-attack.rs (the attacks are in
# tests/src/hostile.rs, shared with tests/tests/hostile.rs); the servers are
# tests/src/bin/hostile_server.rs (ours) and benches/hostile_server.py
# (libzmq), each a process of its own. Everything is built in release mode.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python3 -c 'import zmq' || { echo "hostile.sh: python3 cannot import zmq (pip install pyzmq)" >&2; exit 1; }
cargo build --quiet --release -p zmtp-tests --bin hostile-attack --bin hostile_server
target=${CARGO_TARGET_DIR:-$root/target}/release

if [ $# -gt 0 ]; then
    attacks=("$@")
else
    mapfile -t attacks < <("$target/hostile-attack" --list)
fi

libzmq=$(python3 -c 'import zmq; print(zmq.zmq_version())')
echo "| attack | libzmq $libzmq (pyzmq) | zmtp-rs |"
echo "|---|---|---|"
for attack in "${attacks[@]}"; do
    if [ "$attack" = tls-silent ]; then
        theirs="n/a (libzmq has no tls://)"
    else
        theirs=$("$target/hostile-attack" --attack "$attack" -- python3 "$root/benches/hostile_server.py" 2>/dev/null || true)
    fi
    ours=$("$target/hostile-attack" --attack "$attack" -- "$target/hostile_server" 2>/dev/null || true)
    echo "| $attack | ${theirs:-failed} | ${ours:-failed} |"
done
