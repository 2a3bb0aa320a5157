#!/bin/sh
# valgrind.sh PROGRAM [ARGS...] — the wrapper of `meson test --setup valgrind`:
# a compiled test runs under memcheck; a test script runs as it is, with
# E2E_VALGRIND set to the memcheck command it runs the tools under (e2e_lib.sh,
# check_errors.sh).  Memcheck errors and leaks (definite, indirect, possible)
# make the program exit 99; valgrind.supp lists what is no leak.
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible"
vg="$vg --show-leak-kinds=definite,indirect,possible --suppressions=$(cd "$(dirname "$0")" && pwd)/valgrind.supp"
if [ "$(head -c 2 "$1")" = "#!" ]; then
    E2E_VALGRIND=$vg exec "$@"
fi
exec $vg "$@"
