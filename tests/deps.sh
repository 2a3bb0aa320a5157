# deps.sh — sourced by the README's two commands: installs the Debian
# packages the build needs when they are missing, then configures and builds.
NETC_PACKAGES="gcc flex bison meson ninja-build pkg-config libopenblas-dev libpng-dev"

netc_install_deps() {
    local missing=""
    for p in $NETC_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
}

netc_build() {
    local dir="${1:-build}"
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir"
    fi
    ninja -C "$dir"
}
