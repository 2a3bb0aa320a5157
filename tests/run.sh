#!/usr/bin/env bash
# tests/run.sh — install what is missing, build, and run the whole test suite
# (unit, errors, grad, e2e).  Ends with the line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/deps.sh
netc_install_deps
netc_build build

status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?

log=build/meson-logs/testlog.json
passed=$(grep -c '"result": "OK"' "$log" || true)
failed=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
skipped=$(grep -c '"result": "SKIP"' "$log" || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1   # meson itself failed
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
