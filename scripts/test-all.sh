#!/usr/bin/env bash
# Runs every test of the workspace, installing first what the suite needs.
#
# - pyzmq (which bundles libzmq) for the wire tests against real libzmq
#   peers; with ZMTP_REQUIRE_PYZMQ=1 a missing pyzmq fails those tests
#   instead of skipping them, and this script always sets it.
# - cppzmq's headers for the Zeek program (libzmq/tests/zeek_cppzmq.rs): the
#   test fetches Debian's cppzmq-dev itself with `apt-get download` (never
#   installed: it would pull in the real libzmq); this script only makes sure
#   apt's package lists know it, and sets ZMTP_REQUIRE_CPPZMQ=1 so a missing
#   package fails that test instead of skipping it. g++ and dpkg are needed.
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

if command -v apt-get >/dev/null 2>&1 && ! apt-cache show cppzmq-dev >/dev/null 2>&1; then
    echo "== apt-get update (package lists, for apt-get download cppzmq-dev)"
    # A failure here is not fatal: the cppzmq test then fails saying why.
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq || echo "== apt-get update failed"
    else
        sudo -n apt-get update -qq || echo "== apt-get update failed (not root, no sudo)"
    fi
fi
export ZMTP_REQUIRE_CPPZMQ=1
# Plain `cargo test --workspace` works on a fresh clone (the C ABI test
# builds the library it links); this script only adds the pyzmq and apt set-up.
cargo test --workspace --locked "$@"

# The bridge protocol's deterministic simulation, at CI size (about a
# minute on two cores); its last line is `schedules: N, violations: V`.
SIM_SCHEDULES=${SIM_SCHEDULES:-100000} \
    cargo test --locked -p serializer-bridge --test simulation -- --nocapture
