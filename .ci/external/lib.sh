# Shared helpers for the external-client suites. Source it; do not run it.
# shellcheck shell=bash

EXT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$EXT_DIR/../.." && pwd)"

# Work area (venvs, crate sources, logs, state dirs): in the temporary directory, never
# anywhere else outside the checkout (a directory outside the cargo workspace, because the
# cryptoki suite builds a crate of its own there). Kept between runs as a cache.
HSMSIM_EXT_WORK="${HSMSIM_EXT_WORK:-${TMPDIR:-/tmp}/hsmsim-ext}"
export HSMSIM_EXT_WORK
mkdir -p "$HSMSIM_EXT_WORK/logs"
LOG_DIR="$HSMSIM_EXT_WORK/logs"

say()  { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*"; }
die()  { printf '[%s] FAIL: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

# resolve_module [path] -> prints an absolute path to the module, or dies.
resolve_module() {
    local m="${1:-target/release/libhsmsim.so}"
    case "$m" in
        /*) ;;
        *) if [ -e "$m" ]; then m="$(pwd)/$m"; else m="$REPO_ROOT/$m"; fi ;;
    esac
    [ -f "$m" ] || die "module not found: $m (build it: cargo build --release -p hsmsim)"
    m="$(cd "$(dirname "$m")" && pwd)/$(basename "$m")"
    case "$m" in
        *softhsm*|*kryoptic*) die "module path $m contains softhsm/kryoptic: cryptoki's tests would switch to that vendor's quirks" ;;
    esac
    printf '%s\n' "$m"
}

# ensure_apt pkg... : install the Debian packages that are missing (idempotent).
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Another apt may be running (e.g. machine setup): wait for its lock.
    say "apt-get install ${missing[*]}"
    $sudo apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
}

# fresh_state_dir NAME -> prints a new empty directory for HSMSIM_STATE_DIR.
fresh_state_dir() {
    mkdir -p "$HSMSIM_EXT_WORK/state"
    mktemp -d "$HSMSIM_EXT_WORK/state/$1.XXXXXX"
}

# The numbered steps of a script (pkcs11-tool.sh, remoting.sh): the caller sets LOG (the log
# file) and N=0, and runs in its work directory.
# step "what" cmd...        : run; its output goes to the log and (for later checks) to
#                             out.txt; die on a non-zero exit.
# expect_fail "what" cmd... : the same, dying when the command succeeds.
# check "what" cmd...       : like step, but leaves out.txt alone, so a check can inspect
#                             the output of the step before it.
# out_has TEXT              : out.txt contains TEXT (for check).
_run() {
    local kind="$1" what="$2"; shift 2
    N=$((N + 1))
    printf '\n### %d. %s\n$ %s\n' "$N" "$what" "$*" >>"$LOG"
    local rc=0
    "$@" >cur.txt 2>&1 || rc=$?
    cat cur.txt >>"$LOG"
    if [ "$kind" = expect_fail ]; then
        if [ "$rc" -eq 0 ]; then
            printf '  FAIL %2d. %s: succeeded but must fail\n' "$N" "$what"
            sed 's/^/       | /' cur.txt | tail -25
            die "step $N '$what' succeeded but must fail: $*"
        fi
        printf '  ok   %2d. %s (refused, as it must be)\n' "$N" "$what"
    elif [ "$rc" -ne 0 ]; then
        printf '  FAIL %2d. %s (exit %d)\n' "$N" "$what" "$rc"
        sed 's/^/       | /' cur.txt | tail -25
        die "step $N '$what' failed: $*"
    else
        printf '  ok   %2d. %s\n' "$N" "$what"
    fi
    [ "$kind" = check ] || mv cur.txt out.txt
}
step()        { _run step "$@"; }
expect_fail() { _run expect_fail "$@"; }
check()       { _run check "check: $1" "${@:2}"; }
out_has() { grep -q -- "$1" out.txt || { echo "expected '$1' in the output:"; cat out.txt; return 1; }; }
