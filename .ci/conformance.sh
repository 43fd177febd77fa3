#!/usr/bin/env bash
# The conformance suite as CI runs it: every documented procedure with the simulator on both
# sides (a scratch lab), then between the simulator and SoftHSMv2 in both directions. Each run
# writes its JSON report to $HSMSIM_EXT_WORK/conformance, prints every scenario, and fails CI
# when a scenario fails ("not applicable" scenarios, with their reason, do not fail it).
# Usage: bash .ci/conformance.sh [path/to/hsmsim]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .ci/external/lib.sh

hsmsim="${1:-target/release/hsmsim}"
[ -x "$hsmsim" ] || die "$hsmsim is not built (cargo build --release)"
ensure_apt softhsm2
softhsm=/usr/lib/softhsm/libsofthsm2.so
[ -f "$softhsm" ] || softhsm=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so

out="$HSMSIM_EXT_WORK/conformance"
rm -rf "$out"; mkdir -p "$out/softhsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$out/softhsm/tokens" \
    > "$out/softhsm/softhsm2.conf"
export SOFTHSM2_CONF="$out/softhsm/softhsm2.conf"
softhsm2-util --init-token --free --label peer --so-pin 87654321 --pin 12345678 >/dev/null
peer="pkcs11:token=peer?module-path=$softhsm&pin-value=12345678"

run() {
    local name="$1"; shift
    say "$name"
    local rc=0
    "$hsmsim" conformance run "$@" --format json --out "$out/$name.json" || rc=$?
    python3 - "$out/$name.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for r in report["results"]:
    line = "   %-34s %-28s %s" % (r["procedure"], r["variant"], r["status"])
    if r["status"] != "pass":
        line += "  %s: %s" % (r["failed_step"] or "", r["detail"])
    print(line)
s = report["summary"]
print("   %d passed, %d failed, %d not applicable" % (s["pass"], s["fail"], s["not-applicable"]))
assert s["pass"] > 0, "nothing passed"
PY
    [ "$rc" = 0 ] || die "$name: a scenario failed (exit $rc; report $out/$name.json)"
}

run sim-to-sim
run sim-to-softhsm --target "$peer"
run softhsm-to-sim --origin "$peer"
say "all conformance runs passed"
