#!/bin/sh
# check_errors.sh NETC FILE.net — golden test for netc's diagnostics.
# FILE.net says what netc must report in lines "# expect: LINE:COL: error: MSG"
# and, for the call chain under an error, "# expect-note: in f() called from L:C".
# An error in a file FILE.net imports is expected as "# expect: lib/x.net:L:C:
# error: MSG", its path relative to FILE.net's directory.
# Runs NETC on it (under $E2E_VALGRIND when set), requires exit status 1,
# takes the "FILE:LINE:COL: error:" lines of stderr (FILE: prefix stripped)
# and compares them, in order and exactly, with the expected lines; prints a
# diff and exits 1 on mismatch.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 NETC FILE.net" >&2
    exit 2
fi
netc=$1
src=$2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check_errors.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

sed -n -e 's/^#[[:space:]]*expect:[[:space:]]*//p' \
       -e 's/^#[[:space:]]*expect-note:[[:space:]]*/note: /p' "$src" > "$tmp/expected"
if [ ! -s "$tmp/expected" ]; then
    echo "$src: no '# expect:' lines" >&2
    exit 2
fi

# shellcheck disable=SC2086 # E2E_VALGRIND: a command line (tests/valgrind.sh)
${E2E_VALGRIND:-} "$netc" "$src" -o "$tmp/out.netg" > "$tmp/stdout" 2> "$tmp/stderr"
status=$?

# Error lines: "$src:LINE:COL: error: ..." with the prefix stripped; also any
# other "...: error: ..." line at the start of a line that is not a source
# echo of ours (e.g. another file's), kept whole so that it shows in the diff.
awk -v prefix="$src:" -v dir="$(dirname "$src")/" '
    index($0, prefix) == 1 {
        rest = substr($0, length(prefix) + 1)
        if (rest ~ /^[0-9]+:[0-9]+: error: /) { print rest; next }
    }
    index($0, dir) == 1 {
        rest = substr($0, length(dir) + 1)
        if (rest ~ /^[^ \t:]+:[0-9]+:[0-9]+: error: /) { print rest; next }
    }
    /^  in .*\(\) called from / {
        line = substr($0, 3)
        gsub(prefix, "", line)
        print "note: " line
        next
    }
    /^[^ \t#][^ \t]*:[0-9]+:[0-9]+: error: / || /^netc: error: / { print }
' "$tmp/stderr" > "$tmp/actual"

fail=0
if [ "$status" -ne 1 ]; then
    echo "$src: netc exited with status $status, expected 1" >&2
    fail=1
fi
if ! diff -u --label "$src (expected)" --label "$src (netc)" \
        "$tmp/expected" "$tmp/actual" >&2; then
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    echo "--- netc stderr:" >&2
    cat "$tmp/stderr" >&2
fi
exit "$fail"
