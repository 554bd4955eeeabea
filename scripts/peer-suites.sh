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
# sdist, the copied tests and the results: pyzmq.log (pytest's output),
# pyzmq-results.tsv (every report), pyzmq-failures.txt (each failure's
# traceback), pyzmq-crashes.txt, pyzmq-junit.xml
# (all attempts merged) and pytest's own pyzmq-junit.attemptN.xml.
# Re-running rebuilds only the library. Network: PyPI through pip, once.
#
# A test that kills the interpreter (segfault, abort) or hangs past the
# per-test timeout is recorded in pyzmq-crashes.txt, and the suite resumes
# without it and without the tests already reported (at most
# $PEER_SUITES_MAX_RESTARTS times).
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

# The venv and the sdist (network, once); before the library is built.
pyzmq_prepare() {
    pyzmq_venv
    pyzmq_sdist
}

# A pytest plugin that records, outside the process, the test about to run
# and every report's outcome, so a run that dies (segfault, per-test
# timeout) says which test killed it and the next run can resume after it.
pyzmq_progress_plugin() {
    cat >"$run/peer_suites_progress.py" <<'PY'
"""Records the running test and each report's outcome for peer-suites.sh."""
import os

def pytest_runtest_logstart(nodeid, location):
    with open(os.environ["PEER_SUITES_CURRENT"], "w") as f:
        f.write(nodeid + "\n")

def pytest_runtest_logreport(report):
    with open(os.environ["PEER_SUITES_RESULTS"], "a") as f:
        f.write(f"{report.nodeid}\t{report.when}\t{report.outcome}\n")
    if report.failed:  # an attempt that dies never prints its failures
        with open(os.environ["PEER_SUITES_FAILURES"], "a") as f:
            f.write(f"_____ {report.nodeid} ({report.when})\n{report.longreprtext}\n")
PY
}

pyzmq_suite() {
    pyzmq_build

    run=$work/pyzmq-run
    rm -rf "$run"
    mkdir -p "$run"
    # Out of the sdist so that its zmq/ source tree is not imported.
    cp -r "$src/tests" "$src/pytest.ini" "$run/"
    pyzmq_progress_plugin

    local logfile=$work/pyzmq.log
    local crashes=$work/pyzmq-crashes.txt
    local results=$work/pyzmq-results.tsv
    local failures=$work/pyzmq-failures.txt
    local current=$run/current-test
    rm -f "$work"/pyzmq-junit*.xml
    : >"$crashes"
    : >"$results"
    : >"$failures"
    : >"$logfile"
    local attempt=0 rc
    while :; do
        attempt=$((attempt + 1))
        rm -f "$current"
        # Tests already reported (by an earlier attempt that died) and the
        # ones that killed it are not run again.
        local deselect=()
        while IFS= read -r id; do
            deselect+=(--deselect "$id")
        done < <(cut -f1 "$results" "$crashes" | sort -u)
        log "running pyzmq's suite, attempt $attempt (log: $logfile)"
        echo "=== attempt $attempt" >>"$logfile"
        set +e
        (cd "$run" && env CI=true \
            CPATH="$prefix/include" LIBRARY_PATH="$prefix/lib" \
            PEER_SUITES_CURRENT="$current" PEER_SUITES_RESULTS="$results" \
            PEER_SUITES_FAILURES="$failures" \
            PYTHONPATH="$run" \
            timeout -k 30 "$run_timeout" "$venv/bin/python" -m pytest -q -rs \
            -p no:cacheprovider -p peer_suites_progress \
            --timeout 120 --timeout-method thread \
            --junitxml="$work/pyzmq-junit.attempt$attempt.xml" \
            "${deselect[@]}" tests) >>"$logfile" 2>&1
        rc=$?
        set -e
        # pytest's own codes: 0 all passed, 1 some failed, 5 none collected
        # (everything left was deselected); with its junit written the run
        # finished. Otherwise the interpreter died or was killed.
        if [ -f "$work/pyzmq-junit.attempt$attempt.xml" ] &&
            { [ $rc -eq 0 ] || [ $rc -eq 1 ] || [ $rc -eq 5 ]; }; then
            break
        fi
        local id=unknown
        [ -f "$current" ] && id=$(cat "$current")
        local why="exit $rc"
        [ $rc -eq 124 ] && why="whole run timed out after ${run_timeout}s"
        [ $rc -gt 128 ] && why="killed by signal $((rc - 128))"
        if sed -n "/^=== attempt $attempt\$/,\$p" "$logfile" | grep -q '+ Timeout +'; then
            why="hung past the 120 s per-test timeout"
        fi
        log "the run died in $id: $why"
        printf '%s\t%s\n' "$id" "$why" >>"$crashes"
        if [ "$id" = unknown ] || [ $attempt -gt "$max_restarts" ]; then
            break
        fi
    done
    pyzmq_summary "$results" "$crashes" "$work/pyzmq-junit.xml" || status=1
}

# Prints `pyzmq suite: P passed, F failed, S skipped, E errors of N` from
# the recorded outcomes of every attempt (tests that crashed or hung the
# interpreter count as errors) and writes them as one junit file.
pyzmq_summary() {
    "$venv/bin/python" - "$@" <<'PY'
import sys
import xml.etree.ElementTree as ET
results, crashes, junit = sys.argv[1:4]
reports = {}
for line in open(results):
    nodeid, when, outcome = line.rstrip("\n").split("\t")
    if outcome == "rerun":  # pytest-rerunfailures: only the last try counts
        reports[nodeid] = {}
        continue
    reports.setdefault(nodeid, {})[when] = outcome
verdict = {}
for nodeid, d in reports.items():
    if d.get("call") == "failed":
        verdict[nodeid] = "failed"
    elif "failed" in (d.get("setup"), d.get("teardown")):
        verdict[nodeid] = "error"
    elif "skipped" in d.values():
        verdict[nodeid] = "skipped"
    else:
        verdict[nodeid] = "passed"
dead = {}
for line in open(crashes):
    if line.strip():
        nodeid, why = line.rstrip("\n").split("\t", 1)
        verdict[nodeid] = "error"
        dead[nodeid] = why
count = {k: sum(1 for v in verdict.values() if v == k)
         for k in ("passed", "failed", "skipped", "error")}
suite = ET.Element("testsuite", name="pyzmq", tests=str(len(verdict)),
                   failures=str(count["failed"]), errors=str(count["error"]),
                   skipped=str(count["skipped"]))
for nodeid, v in sorted(verdict.items()):
    path, _, name = nodeid.partition("::")
    case = ET.SubElement(suite, "testcase", classname=path, name=name)
    if v == "failed":
        ET.SubElement(case, "failure", message="failed (details in pyzmq.log)")
    elif v == "error":
        ET.SubElement(case, "error", message=dead.get(nodeid, "error in setup or teardown"))
    elif v == "skipped":
        ET.SubElement(case, "skipped")
ET.ElementTree(suite).write(junit, encoding="utf-8", xml_declaration=True)
print(f"pyzmq suite: {count['passed']} passed, {count['failed']} failed, "
      f"{count['skipped']} skipped, {count['error']} errors of {len(verdict)}")
for nodeid, why in dead.items():
    print(f"  crashed or hung: {nodeid} ({why})")
sys.exit(0 if count["failed"] == 0 and count["error"] == 0 else 1)
PY
}

# Each part: a *_prepare (downloads, once) before the library is built, a
# *_suite after, which sets status=1 on a failure. libzmq's own tests
# (shared/LIBZMQ-ABI-NOTES.md section 6) are to be added the same way.
status=0
pyzmq_prepare
build_prefix
pyzmq_suite
if [ $report -eq 1 ]; then
    exit 0
fi
exit $status
