#!/usr/bin/env bash
# Run Thales's pycryptoki (the Python client of the Luna library) against our module, as a Luna
# user would: its own ctypes bindings and helpers, the module named by CHRYSTOKI_CONF_DLL.
#
#   .ci/external/pycryptoki.sh [path/to/libhsmsim.so]
#
# pycryptoki is not on PyPI: its source is cloned from GitHub at a pinned commit (set
# PYCRYPTOKI_SRC to a local clone instead) into $HSMSIM_EXT_WORK, and its dependencies
# (future, six, rpyc) are pip-installed into a venv there. The checks are
# .ci/external/pycryptoki_luna.py, on the lab of tests/luna_client.rs
# (simulator/tests/pycryptoki/lab.toml: 7.4.2 Luna HSMs with an application and an admin
# partition, and a soft token) in a fresh state directory.
#
# Requirement: every check passes.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODULE="$(resolve_module "${1:-}")"
COMMIT=ae98be3b9271e90fe9d38905884bfae79bd7dbe0
VENV="$HSMSIM_EXT_WORK/pycryptoki-venv"
SRC="${PYCRYPTOKI_SRC:-$HSMSIM_EXT_WORK/pycryptoki-$COMMIT}"

ensure_apt python3-venv git
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"

if [ ! -d "$SRC/pycryptoki" ]; then
    say "cloning ThalesGroup/pycryptoki at $COMMIT"
    rm -rf "$SRC"
    git clone -q https://github.com/ThalesGroup/pycryptoki "$SRC"
    git -C "$SRC" checkout -q "$COMMIT"
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating venv $VENV"
    "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import future, six, rpyc' 2>/dev/null; then
    say "pip install future six==1.16.0 rpyc==6.0.0"
    "$VENV/bin/pip" install -q future six==1.16.0 rpyc==6.0.0
fi

STATE="$(fresh_state_dir pycryptoki)"
cp "$REPO_ROOT/simulator/tests/pycryptoki/lab.toml" "$STATE/lab.toml"

say "module: $MODULE  pycryptoki: $SRC  state: $STATE  log: $LOG_DIR/pycryptoki.log"
set +e
(
    cd "$STATE"
    PYTHONPATH="$SRC" CHRYSTOKI_CONF_DLL="$MODULE" HSMSIM_CONF="$STATE/lab.toml" \
        HSMSIM_LOG="${HSMSIM_LOG:-debug}" \
        "$VENV/bin/python" "$EXT_DIR/pycryptoki_luna.py"
) >"$LOG_DIR/pycryptoki.log" 2>&1
rc=$?
set -e
grep -E '^(ok|FAIL) ' "$LOG_DIR/pycryptoki.log" || true
line="$(grep -E '^pycryptoki: [0-9]+ passed, [0-9]+ failed' "$LOG_DIR/pycryptoki.log" || true)"
[ -n "$line" ] || { tail -40 "$LOG_DIR/pycryptoki.log" >&2; die "the pycryptoki checks did not finish (rc $rc)"; }
echo "$line"
[ "$rc" -eq 0 ] || die "pycryptoki checks failed (log: $LOG_DIR/pycryptoki.log)"
