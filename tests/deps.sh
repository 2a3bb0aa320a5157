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
# numpy and the DejaVu fonts for the glyph benchmark (examples/glyphs, run by the docs test);
# python3-onnx and numpy to check exported models (tests/e2e_export.sh); scipy for the
# reference of the boundary metrics (tests/scipy_surface.py; skipped without it); time
# (GNU time, the peak RSS of a planned training: tests/e2e_plan.sh)
NETC_TEST_PACKAGES="clang libclang-rt-14-dev valgrind chromium graphviz python3-pil python3-numpy fonts-dejavu-core python3-torch python3-onnx python3-scipy time"
# npm (and with it node) for ONNX Runtime in tests/e2e_export.sh, only when
# no npm is on PATH: Debian's npm conflicts with a nodejs from elsewhere
# (nodesource's bundles npm); the test skips when neither is there.
netc_install_npm() {
    command -v npm >/dev/null || netc_install_deps npm || echo "npm not installed: tests/e2e_export.sh will skip"
}

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
