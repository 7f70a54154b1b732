# Sourced by scripts/test.sh and scripts/demo.sh: a virtualenv with the project and the system packages it needs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

apt_install() {
    # Installs Debian packages when a command is missing; says how when we cannot.
    local missing=()
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "Missing: ${missing[*]}. Install them (for example: sudo apt-get install ${missing[*]}) and run again." >&2
        exit 1
    fi
    echo "Installing ${missing[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

make_venv() {
    # $1: the pip extras to install, for example "tests". Installs only when the venv lacks them or setup.py has
    # changed since: a stamp per extras in the venv holds what was installed. A lock serialises demo.sh, test.sh
    # and lint.sh started together, since two editable installs at once break each other.
    local extras="$1" lock wanted
    mkdir -p "$VENV"
    exec {lock}>"$VENV/.install.lock"
    if ! flock -n "$lock"; then
        echo "Waiting for another install into $VENV to finish" >&2
        flock "$lock"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    wanted="$ROOT [$extras] $(sha256sum "$ROOT/setup.py" | cut -d' ' -f1)"
    if [ "$(cat "$VENV/.installed-$extras" 2>/dev/null)" != "$wanted" ]; then
        echo "Installing channels-fanout[$extras] into $VENV" >&2
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[$extras]"
        echo "$wanted" >"$VENV/.installed-$extras"
    fi
    exec {lock}>&-
}
