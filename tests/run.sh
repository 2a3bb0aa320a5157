#!/usr/bin/env bash
# tests/run.sh — install what is missing, build, and run the whole test suite
# three times: in build/ (gcc, release: unit, errors, grad, memcheck, e2e);
# in build-asan/ under ASan + UBSan the same but the PyTorch checks (suite
# torch; clang when installed, which also builds the libFuzzer targets and
# runs each for FUZZ_SECONDS, default 30, suite fuzz; the e2e scripts sized
# down: E2E_QUICK); in build-valgrind/ the memcheck and e2e suites under
# valgrind memcheck (no -march=native: valgrind decodes no AVX-512; memcheck
# compiles every tests/errors/ file in one process, whose messages the errors
# suite checks in the other two builds).  Ends with the line
# "N passed, N failed, N skipped" over all three.
#
#   tests/run.sh            the whole run (CI: .ci/run)
#   tests/run.sh quick      build/ only, suites unit, errors and grad (day to day)
#   tests/run.sh ARGS...    build/ only, ARGS to its `meson test` (e.g. --suite unit)
# tests/README.md says which tests check what.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
netc_install_deps "$NETC_PACKAGES $NETC_TEST_PACKAGES"
netc_install_npm

if [ "${1:-}" = quick ]; then
    shift
    set -- --suite unit --suite errors --suite grad "$@"
fi

status=0 passed=0 failed=0 skipped=0
# run_tests DIR ARGS...: meson test in DIR, its results added to the counts
run_tests() {
    local dir=$1 rc=0 log=testlog prev="" a p f s
    shift
    for a in "$@"; do # meson names the log after the setup
        [ "$prev" = --setup ] && log=testlog-$a
        prev=$a
    done
    log=$dir/meson-logs/$log.json
    rm -f "$log"
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
    p=$(grep -c '"result": "OK"' "$log" 2>/dev/null || true)
    f=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" 2>/dev/null || true)
    s=$(grep -c '"result": "SKIP"' "$log" 2>/dev/null || true)
    p=${p:-0} f=${f:-0} s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1   # meson itself failed
    fi
    [ "$rc" -ne 0 ] && status=1
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

netc_build build
run_tests build "$@"

if [ $# -eq 0 ]; then
    # a sanitizer's report must not pass for the exit status 1 a test expects
    export ASAN_OPTIONS=detect_leaks=1:exitcode=86
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86
    export E2E_QUICK=1
    asan_cc=gcc
    command -v clang >/dev/null && asan_cc=clang
    CC=$asan_cc netc_build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized
    run_tests build-asan --no-suite torch
    unset ASAN_OPTIONS UBSAN_OPTIONS E2E_QUICK

    netc_build build-valgrind -Doptimization=1
    run_tests build-valgrind --setup valgrind --suite memcheck --suite e2e
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
