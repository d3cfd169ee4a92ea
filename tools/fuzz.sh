#!/usr/bin/env bash
# `make fuzz`: coverage-guided fuzzing of the parsers with clang's libFuzzer.
#
#   tools/fuzz.sh BUILD SECONDS
#
# Each target is built with the project's warnings as errors, then run for
# SECONDS. libFuzzer's own output (a status line per new input, the
# "Recommended dictionary" at the end) goes to BUILD/fuzz/NAME.log; the
# terminal gets one line per target and a pass/fail count, so `make check`
# ends with its summary. A crash prints the end of the log and the input
# that caused it (BUILD/fuzz/crash-*), and fails. With RESULTS=FILE the
# counts are added to FILE for `make check`'s total (tests/run summary).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SECONDS_EACH=${2:-30}
out=$BUILD/fuzz
mkdir -p "$out"
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -Werror
        -fsanitize=fuzzer,address,undefined)
# name: sources
targets=(
    "http_parse:tests/fuzz/fuzz_http_parse.c core/http_parse.c"
    "conf:tests/fuzz/fuzz_conf.c core/conf.c core/log.c"
)
pass=0 fail=0
for t in "${targets[@]}"; do
    name=${t%%:*}
    # shellcheck disable=SC2206
    srcs=(${t#*:})
    log=$out/$name.log
    if ! clang "${CFLAGS[@]}" -o "$out/$name" "${srcs[@]}" >"$log" 2>&1; then
        echo "FAIL fuzz $name: does not build"; sed 's/^/    /' "$log" | tail -40
        fail=$((fail + 1)); continue
    fi
    if "$out/$name" -max_total_time="$SECONDS_EACH" -max_len=4096 -artifact_prefix="$out/" \
        >>"$log" 2>&1; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -1)
        printf 'PASS fuzz %-12s %s, no crash (%s)\n' "$name" "${runs:-done}" "$log"
        pass=$((pass + 1))
    else
        echo "FAIL fuzz $name: see $log"; tail -40 "$log" | sed 's/^/    /'
        fail=$((fail + 1))
    fi
done
echo "== fuzz: $pass passed, $fail failed"
[ -z "${RESULTS:-}" ] || echo "fuzz $pass $fail 0" >>"$RESULTS"
[ "$fail" = 0 ]
