#!/bin/bash
# Runs every fuzz target in BUILD_DIR/fuzz for SECONDS each, starting from
# the seeds in tests/fuzz/corpus/NAME/ (new inputs go to
# BUILD_DIR/fuzz/corpus-NAME/, never into the seeds).  Prints one
# "PASS: fuzz.NAME" or "FAIL: fuzz.NAME: ..." line per target, and exits 1
# if any target found a crash (its reproducer is left in BUILD_DIR/fuzz/).
#
# usage: tests/fuzz/run.sh BUILD_DIR SECONDS

set -u
build=${1:?usage: $0 BUILD_DIR SECONDS}
seconds=${2:?usage: $0 BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
rc=0

for bin in "$build"/fuzz/fuzz-*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); name=${name#fuzz-}
    seeds=$here/corpus/$name
    work=$build/fuzz/corpus-$name
    dict=$here/$name.dict
    mkdir -p "$work"
    log=$build/fuzz/$name.log
    args=(-max_total_time="$seconds" -max_len=8192 -print_final_stats=1
          -artifact_prefix="$build/fuzz/$name-")
    [ -f "$dict" ] && args+=(-dict="$dict")
    if "$bin" "${args[@]}" "$work" "$seeds" > "$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "PASS: fuzz.$name (${runs:-?} inputs in ${seconds}s, no crash)"
    else
        echo "FAIL: fuzz.$name: crash or leak, see $log and" \
             "$build/fuzz/$name-*"
        # The top of the report (where it failed) and its end; then each
        # reproducer, compressed, so that a log alone can replay it:
        # base64 -d | gunzip > unit; $bin unit
        grep -m1 -A24 -E '^==[0-9]+==|runtime error:' "$log"
        echo "    [...]"
        tail -8 "$log"
        for unit in "$build/fuzz/$name"-*; do
            [ -f "$unit" ] || continue
            echo "    reproducer $(basename "$unit")" \
                 "($(stat -c %s "$unit") bytes, gzip | base64):"
            gzip -9n < "$unit" | base64 -w 76 | head -200 | sed 's/^/    /'
        done
        rc=1
    fi
done
exit $rc
