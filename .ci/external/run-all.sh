#!/usr/bin/env bash
# Run every external-client suite against the module and summarise.
#
#   .ci/external/run-all.sh [path/to/libhsmsim.so]
#
# Suites: pkcs11-tool.sh (OpenSC flows), python-pkcs11.sh (python-pkcs11 0.10.1's tests),
# cryptoki-tests.sh (rust cryptoki 0.12.1's tests), and, where its source can be had,
# pycryptoki.sh (Thales's pycryptoki on the Luna CA_ surface: it is not on PyPI, so it runs by
# default only when PYCRYPTOKI_SRC names a local clone; CI has the package registries only, and
# simulator/tests/luna_client.rs makes pycryptoki's C calls there). Each runs even when an
# earlier one failed; the exit status is non-zero when any failed. Set EXTERNAL_SUITES="a b" to
# run a subset (names without .sh; "pycryptoki" clones it from GitHub when PYCRYPTOKI_SRC is
# unset). Logs: $HSMSIM_EXT_WORK/logs (default ${TMPDIR:-/tmp}/hsmsim-ext/logs).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODULE="$(resolve_module "${1:-}")"
DEFAULT_SUITES="pkcs11-tool python-pkcs11 cryptoki-tests${PYCRYPTOKI_SRC:+ pycryptoki}"
SUITES=(${EXTERNAL_SUITES:-$DEFAULT_SUITES})

declare -A RC SECS LINE
for s in "${SUITES[@]}"; do
    say "=== $s"
    t0=$(date +%s)
    rc=0
    bash "$EXT_DIR/$s.sh" "$MODULE" 2>&1 | tee "$LOG_DIR/run-all-$s.out" || rc=${PIPESTATUS[0]}
    RC[$s]=$rc
    SECS[$s]=$(( $(date +%s) - t0 ))
    # each suite ends with a "<suite>: N passed, N failed[, N skipped]" line
    LINE[$s]="$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' "$LOG_DIR/run-all-$s.out" | tail -1 || true)"
done

echo
echo "External PKCS#11 clients against $MODULE"
printf '  %-16s %-6s %6s  %s\n' suite result time counts
total_failed=0
for s in "${SUITES[@]}"; do
    res=PASS; [ "${RC[$s]}" -eq 0 ] || { res=FAIL; total_failed=$((total_failed + 1)); }
    printf '  %-16s %-6s %5ss  %s\n' "$s" "$res" "${SECS[$s]}" "${LINE[$s]#*: }"
done
n=${#SUITES[@]}
echo "external-suites: $((n - total_failed)) passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
