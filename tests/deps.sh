# deps.sh — sourced by the README's two commands: installs the Debian
# packages the build needs when they are missing, then configures and builds.
# Open MPI (libopenmpi-dev, openmpi-bin) is for data-parallel training
# (mpirun -np N netrun train; meson option mpi): without it netrun builds as
# one process and tests/e2e_mpi.sh skips.
NETC_PACKAGES="gcc flex bison meson ninja-build pkg-config libopenblas-dev libpng-dev libturbojpeg0-dev libopenmpi-dev openmpi-bin"
# and the test command's (tests/run.sh): clang with libFuzzer for the
# sanitizer and fuzz runs, valgrind for memcheck, chromium (headless) to
# render the HTML report, graphviz for netc --emit svg, PIL to read the
# screenshot (tests/e2e_report.sh), PyTorch for the reference checks of the
# grad suite (tests/torch_ops.py, tests/torch_optim.py, bench/torch_variants.py; skipped without it);
# numpy and the DejaVu fonts for the glyph benchmark (examples/glyphs, run by the docs test)
NETC_TEST_PACKAGES="clang libclang-rt-14-dev valgrind chromium graphviz python3-pil python3-numpy fonts-dejavu-core python3-torch time"

# netc_install_deps [PACKAGES]: those missing of PACKAGES (default
# NETC_PACKAGES) with apt-get.
netc_install_deps() {
    local missing=""
    for p in ${1:-$NETC_PACKAGES}; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
}

# netc_build [DIR [SETUP OPTIONS...]]: configure DIR (default build) once
# with the options, then build it.
netc_build() {
    local dir="${1:-build}"
    [ $# -gt 0 ] && shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@"
    fi
    ninja -C "$dir"
}
