#!/usr/bin/env bash
# Run Thales's pycryptoki (the Python client of the Luna library) against our module, as a Luna
# user would: its own ctypes bindings and helpers, the module named by CHRYSTOKI_CONF_DLL.
#
#   .ci/external/pycryptoki.sh [path/to/libhsmsim.so]
#
# pycryptoki is not on PyPI: its source is cloned from GitHub at a pinned commit (set
# PYCRYPTOKI_SRC to a local clone instead) into $HSMSIM_EXT_WORK, and its dependencies
# (future, six, rpyc) are pip-installed into a venv there. The checks are
# .ci/external/pycryptoki_luna.py, on a lab of its own (a 7.4.2 Luna Network HSM with an
# application and an admin partition, and a soft token) in a fresh state directory.
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
cat >"$STATE/lab.toml" <<'LAB'
[lab]
name = "pycryptoki"

[[device]]
name = "sa7"
kind = "luna-network"
firmware = "7.4.2"
hsm_policies = { 15 = 1, 21 = 0 }
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_pin = "hso-pin-0001"
  admin = true
  [[device.partition]]
  name = "app"
  label = "app"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  policies = { 20 = 3 }
  size = 100000

[[device]]
name = "soft"
kind = "soft"
  [[device.partition]]
  name = "t"
  label = "soft"
  so_pin = "so-pin-0001"
  user_pin = "co-pin-0001"

[[host]]
name = "client"
slot = [
  { id = 0, partition = "sa7/app" },
  { id = 1, partition = "soft/t" },
  { id = 2, partition = "sa7/admin" },
]
LAB

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
