#!/usr/bin/env bash
# Runs every test of the workspace, installing first what the suite needs.
#
# - pyzmq (which bundles libzmq) for the wire tests against real libzmq
#   peers; with ZMTP_REQUIRE_PYZMQ=1 a missing pyzmq fails those tests
#   instead of skipping them, and this script always sets it.
# - Nothing else: Rust crates come through cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${ZMTP_PYTHON:-python3}
if ! "$python" -c 'import zmq' 2>/dev/null; then
    echo "== installing pyzmq from PyPI"
    "$python" -m pip install --quiet --disable-pip-version-check 'pyzmq>=25'
fi
"$python" -c 'import zmq; print("== pyzmq", zmq.__version__, "with libzmq", zmq.zmq_version())'

export ZMTP_REQUIRE_PYZMQ=1
# Plain `cargo test --workspace` works on a fresh clone (the C ABI test
# builds the library it links); this script only adds the pyzmq set-up.
cargo test --workspace --locked "$@"

# The bridge protocol's deterministic simulation, at CI size (about a
# minute on two cores); its last line is `schedules: N, violations: V`.
SIM_SCHEDULES=${SIM_SCHEDULES:-100000} \
    cargo test --locked -p serializer-bridge --test simulation -- --nocapture
