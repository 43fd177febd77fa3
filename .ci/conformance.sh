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
# Safety against a real token (SoftHSMv2): a wrong PIN stops the run (exit 2) after one failed
# login; Ctrl-C mid-run exits 130 with a report marked interrupted and leaves no object on the
# token (SoftHSMv2's file store keeps one .object file per token object).
say "softhsm safety: wrong PIN, dry run, Ctrl-C"
objects() { find "$out/softhsm/tokens" -name '*.object' | wc -l; }
before=$(objects)
rc=0; "$hsmsim" conformance run --target "pkcs11:token=peer?module-path=$softhsm&pin-value=00000000" \
    2>"$out/wrong-pin.err" >/dev/null || rc=$?
[ "$rc" = 2 ] && grep -q "could not start: --target: .*refused the PIN" "$out/wrong-pin.err" \
    || die "wrong PIN: exit $rc, $(cat "$out/wrong-pin.err")"
"$hsmsim" conformance run --dry-run --target "$peer" >"$out/dry-run.txt" \
    || die "dry run failed"
[ "$(objects)" = "$before" ] || die "the dry run changed the token"
"$hsmsim" conformance run --procedure 'primus.key-migration.*' --target "$peer" --format json \
    --out "$out/interrupted.json" 2>"$out/interrupted.err" &
pid=$!
for _ in $(seq 600); do grep -q '\[1/' "$out/interrupted.err" 2>/dev/null && break; sleep 0.1; done
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || die "Ctrl-C: exit $rc, not 130: $(cat "$out/interrupted.err")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["interrupted"] is True, r' \
    "$out/interrupted.json" || die "the report is not marked interrupted"
[ "$(objects)" = "$before" ] || die "Ctrl-C left $(( $(objects) - before )) object(s) on the token"
say "all conformance runs passed"
