#!/bin/bash
# Run the unit tests (cmocka binaries BUILD_DIR/tests/test-*) and the
# integration tests (tests/integration/test_*.py), count the results over
# both, and end with exactly one line:
#     N passed, N failed[, N skipped]
# Exit status 1 when anything failed.
#
# usage: tests/run-tests.sh [--unit-only|--integration-only] BUILD_DIR
#
# Unit tests: one count per cmocka test case, from cmocka's summary lines
#   "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)..." /
#   "[  SKIPPED ] N test(s)..."; a binary that dies without reporting a
#   failure counts as one failure.
# Fuzz targets: tests/fuzz/run.sh for CATS_FUZZ_TIME seconds each
#   (default 20), one count per target.
# Integration tests: one count per "PASS: ", "FAIL: " or "SKIP: " line.
#   They need root and Debian's /usr/bin/python3 with mininet; without
#   them each script counts as one skip.  Each script is bounded by
#   CATS_IT_TIMEOUT seconds (default 300).

set -u

mode=all
build=
for arg in "$@"; do
    case "$arg" in
        --unit-only) mode=unit ;;
        --integration-only) mode=integration ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run-tests.sh: unknown option $arg" >&2; exit 2 ;;
        *) build=$arg ;;
    esac
done
if [ -z "$build" ]; then
    echo "usage: $0 [--unit-only|--integration-only] BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$build" 2>/dev/null && pwd) || {
    echo "run-tests.sh: no build directory $build" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
unit_timeout=${CATS_UNIT_TIMEOUT:-120}
it_timeout=${CATS_IT_TIMEOUT:-300}
fuzz_time=${CATS_FUZZ_TIME:-20}

passed=0
failed=0
skipped=0
log=$(mktemp /tmp/cats-run-tests.XXXXXX)
trap 'rm -f "$log"' EXIT

# Sum of N over lines "[  WORD  ] N test(s)" in $log.
cmocka_sum() {
    sed -n "s/^\[ *$1 *\] \([0-9][0-9]*\) test(s).*/\1/p" "$log" |
        awk '{s += $1} END {print s + 0}'
}

run_unit() {
    local bin name rc p f s n=0
    for bin in "$build"/tests/test-*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        n=$((n + 1))
        name=$(basename "$bin")
        echo "== unit: $name"
        timeout -k 5 "$unit_timeout" "$bin" > "$log" 2>&1
        rc=$?
        cat "$log"
        p=$(cmocka_sum PASSED)
        f=$(cmocka_sum FAILED)
        s=$(cmocka_sum SKIPPED)
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            if [ "$rc" -eq 124 ]; then
                echo "FAIL: $name: timed out after ${unit_timeout}s"
            else
                echo "FAIL: $name: exited with status $rc"
            fi
            f=1
        elif [ "$rc" -eq 0 ] && [ $((p + f + s)) -eq 0 ]; then
            echo "PASS: $name (no cmocka summary; exit status 0)"
            p=1
        fi
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + s))
    done
    [ "$n" -gt 0 ] || echo "== unit: no test binaries in $build/tests"
}

integration_scripts() {
    # The quick ones first, restarts (which restart ovs-vswitchd) last.
    local s
    for s in steering reweight split services restart; do
        [ -f "$here/integration/test_$s.py" ] &&
            echo "$here/integration/test_$s.py"
    done
    for s in "$here"/integration/test_*.py; do
        [ -f "$s" ] || continue
        case "$(basename "$s")" in
            test_steering.py|test_reweight.py|test_split.py|\
            test_services.py|test_restart.py)
                ;;
            *) echo "$s" ;;
        esac
    done
}

run_integration() {
    local reason= script name rc p f s t0
    if [ "$(id -u)" -ne 0 ]; then
        reason="needs root"
    elif [ ! -x "$PY" ]; then
        reason="no $PY"
    elif ! "$PY" -c 'import mininet.net' 2>/dev/null; then
        reason="no mininet module in $PY"
    fi
    for script in $(integration_scripts); do
        name=$(basename "$script" .py)
        if [ -n "$reason" ]; then
            echo "SKIP: $name: $reason"
            skipped=$((skipped + 1))
            continue
        fi
        echo "== integration: $name"
        t0=$(date +%s)
        timeout -k 15 "$it_timeout" "$PY" "$script" --build-dir "$build" \
            2>&1 | tee "$log"
        rc=${PIPESTATUS[0]}
        echo "== $name: $(( $(date +%s) - t0 ))s"
        p=$(grep -c '^PASS: ' "$log")
        f=$(grep -c '^FAIL: ' "$log")
        s=$(grep -c '^SKIP: ' "$log")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
                echo "FAIL: $name: timed out after ${it_timeout}s"
            else
                echo "FAIL: $name: exited with status $rc"
            fi
            f=1
        elif [ $((p + f + s)) -eq 0 ]; then
            echo "FAIL: $name: reported no results"
            f=1
        fi
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + s))
    done
}

# Fuzz targets, each for CATS_FUZZ_TIME seconds (a short, bounded run;
# `make fuzz` runs them longer).
run_fuzz() {
    local p f
    ls "$build"/fuzz/fuzz-* > /dev/null 2>&1 || {
        echo "== fuzz: no fuzz targets in $build/fuzz"; return; }
    echo "== fuzz: ${fuzz_time}s per target"
    "$here/fuzz/run.sh" "$build" "$fuzz_time" 2>&1 | tee "$log"
    p=$(grep -c '^PASS: ' "$log")
    f=$(grep -c '^FAIL: ' "$log")
    passed=$((passed + p))
    failed=$((failed + f))
}

[ "$mode" = integration ] || run_unit
[ "$mode" = integration ] || run_fuzz
[ "$mode" = unit ] || run_integration

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
