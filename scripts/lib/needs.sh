# Sourced by the project's scripts: make sure a system package, Rust component/target or
# command is there before a step that needs it, installing it where this machine allows.
#
#   . "$(dirname "$0")/lib/needs.sh"
#   need_apt gcc-aarch64-linux-gnu || skip_or_fail "the NEON tests" "apt-get install gcc-aarch64-linux-gnu"
#
# Every function returns 0 when the thing is there (or was just installed) and 1 otherwise;
# `skip_or_fail` then either prints a loud SKIPPED line (a developer's run) or fails the
# script (CI=true), so a step that cannot run is never silently green in CI.
#
# Installing: Debian packages with apt-get as root, or through `sudo -n` (no password
# prompt); Rust targets and components with rustup. GGUFEMBED_NO_INSTALL=1 installs nothing
# (every missing need is then SKIPPED, or fails in CI).

_needs_apt_updated=""

# The command prefix that runs apt-get with root rights, or nothing (and status 1) if none.
_needs_root() {
    if [ "$(id -u)" = 0 ]; then
        printf ''
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        printf 'sudo -n '
    else
        return 1
    fi
}

# need_apt PACKAGE...: every Debian package is installed (installs the missing ones).
need_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "${GGUFEMBED_NO_INSTALL:-0}" = 1 ]; then
        echo "needs: ${missing[*]} not installed (GGUFEMBED_NO_INSTALL=1: not installing)" >&2
        return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "needs: ${missing[*]} not installed and this machine has no apt-get" >&2
        return 1
    fi
    local root
    if ! root=$(_needs_root); then
        echo "needs: ${missing[*]} not installed, and installing needs root (or sudo without a password)" >&2
        return 1
    fi
    echo "needs: installing ${missing[*]} (apt-get)" >&2
    if [ -z "$_needs_apt_updated" ]; then
        $root apt-get update -qq >&2 || echo "needs: apt-get update failed; trying the install anyway" >&2
        _needs_apt_updated=1
    fi
    # shellcheck disable=SC2086
    $root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || return 1
}

# need_rust_target TRIPLE: the standard library for TRIPLE is installed (rustup).
need_rust_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
    [ "${GGUFEMBED_NO_INSTALL:-0}" = 1 ] && return 1
    command -v rustup >/dev/null 2>&1 || return 1
    echo "needs: installing the Rust target $1 (rustup)" >&2
    timeout 600 rustup target add "$1" >&2
}

# need_rust_component NAME CHECK...: CHECK (a command) works, else `rustup component add NAME`.
need_rust_component() {
    local name=$1
    shift
    "$@" >/dev/null 2>&1 && return 0
    [ "${GGUFEMBED_NO_INSTALL:-0}" = 1 ] && return 1
    command -v rustup >/dev/null 2>&1 || return 1
    echo "needs: installing the Rust component $name (rustup)" >&2
    timeout 600 rustup component add "$name" >&2 && "$@" >/dev/null 2>&1
}

# need_cmd COMMAND: COMMAND is on PATH (nothing is installed: say what to install with
# skip_or_fail).
need_cmd() {
    command -v "$1" >/dev/null 2>&1
}

# skip_or_fail WHAT HOW: WHAT could not run; HOW says what to install. Fails in CI.
skip_or_fail() {
    if [ "${CI:-}" = true ]; then
        echo "error: $1 cannot run on this machine; install: $2" >&2
        exit 1
    fi
    echo "SKIPPED: $1 (install: $2)"
}
