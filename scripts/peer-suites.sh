#!/usr/bin/env bash
# Runs other projects' own test suites against the drop-in libzmq
# (`libzmq/`, see docs/libzmq.md "pyzmq's suite against the drop-in").
#
# Parts (each a function below; more can be added beside `pyzmq_suite`):
#   pyzmq   pyzmq 27.3.0's tests/ from its sdist, with pyzmq built from
#           that sdist against the drop-in's prefix (never a pyzmq wheel:
#           wheels bundle the real libzmq).
#
# Usage: scripts/peer-suites.sh [--report]
#   --report  measure only: exit 0 whatever the suite's result.
#   Without it the exit code is 0 only if nothing failed, errored, crashed
#   or hung.
#
# Everything is cached under $PEER_SUITES_DIR (default
# ${CARGO_TARGET_DIR:-target}/peer-suites): the prefix, the venv, the
# sdist, the copied tests and the results (pyzmq-junit.xml, pyzmq.log).
# Re-running rebuilds only the library. Network: PyPI through pip, once.
#
# A test that kills the interpreter (segfault, abort) or hangs past the
# per-test timeout is recorded in pyzmq-crashes.txt, deselected, and the
# suite runs again without it (at most $PEER_SUITES_MAX_RESTARTS times).
set -euo pipefail

report=0
for arg in "$@"; do
    case $arg in
    --report) report=1 ;;
    *)
        echo "usage: $0 [--report]" >&2
        exit 2
        ;;
    esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
work=${PEER_SUITES_DIR:-$target/peer-suites}
prefix=$work/prefix
python=${ZMTP_PYTHON:-python3}
pyzmq_version=27.3.0
# Guards one whole pytest run; a hung zmq_ctx_term must not hang this.
run_timeout=${PEER_SUITES_TIMEOUT:-1200}
max_restarts=${PEER_SUITES_MAX_RESTARTS:-10}
mkdir -p "$work"

log() { echo "== peer-suites: $*"; }

# --- the library ---------------------------------------------------------
build_prefix() {
    log "building the drop-in into $prefix"
    "$repo/scripts/libzmq-prefix.sh" "$prefix"
}

# --- pyzmq ---------------------------------------------------------------
pyzmq_venv() {
    venv=$work/pyzmq-venv
    if [ ! -f "$venv/.deps-done" ]; then
        log "making the venv $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        # Wheels only: `--no-binary :all:` would compile cmake from source.
        "$venv/bin/python" -m pip install --quiet --only-binary :all: \
            scikit-build-core 'cython>=3' packaging cmake ninja \
            pytest pytest-asyncio pytest-timeout pytest-rerunfailures tornado
        touch "$venv/.deps-done"
    fi
}

pyzmq_sdist() {
    sdist_dir=$work/pyzmq-sdist
    src=$sdist_dir/pyzmq-$pyzmq_version
    if [ ! -d "$src" ]; then
        log "downloading the pyzmq $pyzmq_version sdist"
        mkdir -p "$sdist_dir"
        # --no-binary for pyzmq only; never :all: (see above).
        "$venv/bin/python" -m pip download --quiet --no-deps \
            --no-binary pyzmq -d "$sdist_dir" "pyzmq==$pyzmq_version"
        tar -xzf "$sdist_dir/pyzmq-$pyzmq_version.tar.gz" -C "$sdist_dir"
    fi
}

pyzmq_build() {
    local stamp=$venv/.pyzmq-built
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$prefix" ]; then
        log "building pyzmq against $prefix"
        (cd "$src" && ZMQ_PREFIX=$prefix PYZMQ_NO_BUNDLE=1 \
            "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-deps .)
        echo "$prefix" >"$stamp"
    fi
    pyzmq_check_linkage
}

# The extension must need libzmq.so.5 with the prefix as RUNPATH, and the
# library the interpreter maps must be ours.
pyzmq_check_linkage() {
    local ext
    ext=$("$venv/bin/python" - <<'PY'
import importlib.util
print(importlib.util.find_spec("zmq.backend.cython._zmq").origin)
PY
)
    local dyn
    dyn=$(objdump -p "$ext")
    if ! grep -q 'NEEDED *libzmq\.so\.5$' <<<"$dyn"; then
        echo "peer-suites: $ext does not need libzmq.so.5" >&2
        exit 1
    fi
    if ! grep -Eq "(RUNPATH|RPATH) *$prefix/lib\$" <<<"$dyn"; then
        echo "peer-suites: $ext has no RUNPATH $prefix/lib" >&2
        exit 1
    fi
    PREFIX=$prefix "$venv/bin/python" - <<'PY'
import os, sys
import zmq
maps = {line.split()[-1] for line in open("/proc/self/maps") if "libzmq" in line}
ours = os.path.realpath(os.path.join(os.environ["PREFIX"], "lib", "libzmq.so.5"))
if {os.path.realpath(m) for m in maps} != {ours}:
    sys.exit(f"peer-suites: pyzmq loaded {sorted(maps)}, not {ours}")
print(f"== peer-suites: pyzmq {zmq.__version__} on libzmq {zmq.zmq_version()} from {ours}")
PY
}

# A pytest plugin that writes the id of the test being run, so a run that
# dies can say which test killed it.
pyzmq_progress_plugin() {
    cat >"$run/peer_suites_progress.py" <<'PY'
"""Writes each test's id to $PEER_SUITES_CURRENT before it runs."""
import os

def pytest_runtest_logstart(nodeid, location):
    with open(os.environ["PEER_SUITES_CURRENT"], "w") as f:
        f.write(nodeid + "\n")
PY
}

# The venv and the sdist (network, once); before the library is built.
pyzmq_prepare() {
    pyzmq_venv
    pyzmq_sdist
}

pyzmq_suite() {
    pyzmq_build

    run=$work/pyzmq-run
    rm -rf "$run"
    mkdir -p "$run"
    # Out of the sdist so that its zmq/ source tree is not imported.
    cp -r "$src/tests" "$src/pytest.ini" "$run/"
    pyzmq_progress_plugin

    local junit=$work/pyzmq-junit.xml
    local logfile=$work/pyzmq.log
    local crashes=$work/pyzmq-crashes.txt
    local current=$run/current-test
    : >"$crashes"
    : >"$logfile"
    local deselect=() restarts=0 rc
    while :; do
        rm -f "$junit" "$current"
        log "running pyzmq's suite (log: $logfile)"
        set +e
        (cd "$run" && env CI=true \
            CPATH="$prefix/include" LIBRARY_PATH="$prefix/lib" \
            PEER_SUITES_CURRENT="$current" PYTHONPATH="$run" \
            timeout -k 30 "$run_timeout" "$venv/bin/python" -m pytest -q -rs \
            -p no:cacheprovider -p peer_suites_progress \
            --timeout 120 --timeout-method thread \
            --junitxml="$junit" "${deselect[@]}" tests) >>"$logfile" 2>&1
        rc=$?
        set -e
        # pytest's own codes: 0 passed, 1 some failed; anything else with no
        # junit written means the interpreter died or was killed.
        if [ -f "$junit" ] && { [ $rc -eq 0 ] || [ $rc -eq 1 ]; }; then
            break
        fi
        local id=unknown
        [ -f "$current" ] && id=$(cat "$current")
        local why="exit $rc"
        [ $rc -eq 124 ] && why="whole run timed out after ${run_timeout}s"
        [ $rc -gt 128 ] && why="killed by signal $((rc - 128))"
        grep -q 'Timeout +++' <(tail -n 400 "$logfile") && why="$why (per-test timeout: hang)"
        log "the run died in $id: $why"
        echo "$id	$why" >>"$crashes"
        if [ "$id" = unknown ] || [ $restarts -ge "$max_restarts" ]; then
            break
        fi
        deselect+=(--deselect "$id")
        restarts=$((restarts + 1))
    done
    pyzmq_summary "$junit" "$crashes" || status=1
}

# Prints `pyzmq suite: P passed, F failed, S skipped, E errors of N`;
# tests that crashed or hung the interpreter count as errors.
pyzmq_summary() {
    "$venv/bin/python" - "$1" "$2" <<'PY'
import os, sys
import xml.etree.ElementTree as ET
junit, crashes = sys.argv[1], sys.argv[2]
dead = [l.rstrip("\n") for l in open(crashes) if l.strip()]
t = f = s = e = 0
if os.path.exists(junit):
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    for su in suites:
        t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
        s += int(su.get("skipped", 0)); e += int(su.get("errors", 0))
p = t - f - s - e
e += len(dead); t += len(dead)
print(f"pyzmq suite: {p} passed, {f} failed, {s} skipped, {e} errors of {t}")
for d in dead:
    print(f"  crashed or hung: {d}")
sys.exit(0 if f == 0 and e == 0 and os.path.exists(junit) else 1)
PY
}

status=0
pyzmq_prepare
build_prefix
pyzmq_suite
if [ $report -eq 1 ]; then
    exit 0
fi
exit $status
