#!/usr/bin/env bash
# The estate over the network: a lab's Network HSM partition served with p11-kit's remoting
# (`p11-kit server` on the HSM side, `p11-kit-client.so` on the client side) over a Unix
# socket, as a real client reaches a networked module. Each step checked:
#
#   .ci/remoting.sh [path/to/hsmsim]     (libhsmsim.so beside it or in its deps/)
#
# HSM side: a fresh copy of the built-in `luna-ccc` lab, served as its host `app-client` sees
# it (HSMSIM_CONF and HSMSIM_HOST are set for `p11-kit server` only; every client connection
# forks a `p11-kit-remote` that loads libhsmsim.so with that environment). Client side: an
# environment with no HSMSIM_* variable, only P11_KIT_SERVER_ADDRESS, and p11-kit-client.so as
# the module. Checked: the host's five slots and tokens; the mechanisms that cross (a subset
# of the module's: p11-kit 0.24's RPC carries only the mechanisms it can serialise); RSA and
# ECDSA keys generated, signed with and verified (openssl too) through the socket; a mechanism
# that does not cross (ECDSA-SHA256) refused; an attribute array (CKA_WRAP_TEMPLATE) refused
# and p11-kit-client.so's function table PKCS#11 2.40 (no C_GetInterface, no 3.x function);
# the objects made remotely seen, and the keys used, on the HSM side by a local
# `hsmsim lunacm` and the module itself (the same estate); vendor `CA_*` calls not crossing
# (LunaCM on p11-kit-client.so is refused); and `hsmsim conformance run --target` against the
# remoted token: no scenario fails, some pass, the others are not applicable with their
# reasons, and the token holds afterwards exactly what it held before. The server is stopped
# and the work directory removed on exit. Log: $HSMSIM_EXT_WORK/logs/remoting.log, the
# conformance report beside it (remoting-conformance.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .ci/external/lib.sh

hsmsim="${1:-target/release/hsmsim}"
[ -x "$hsmsim" ] || die "$hsmsim is not built (cargo build --release)"
hsmsim="$(cd "$(dirname "$hsmsim")" && pwd)/$(basename "$hsmsim")"
module="$(dirname "$hsmsim")/libhsmsim.so"
[ -f "$module" ] || module="$(ls -t "$(dirname "$hsmsim")"/deps/libhsmsim.so 2>/dev/null | head -1)"
[ -f "$module" ] || die "no libhsmsim.so beside $hsmsim (cargo build --release)"
ensure_apt p11-kit p11-kit-modules opensc openssl
client_so=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
[ -f "$client_so" ] || die "$client_so is missing (Debian package p11-kit-modules)"

W="$(mktemp -d "$HSMSIM_EXT_WORK/remoting.XXXXXX")"
LOG="$LOG_DIR/remoting.log"
: >"$LOG"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$W"
}
trap cleanup EXIT
cd "$W"

TOKEN=vault-sks          # sa7-c/vault: Luna Network HSM 7.7.1, app-client's slot 4
CO_PIN=CO-vault-2025     # its Crypto Officer (fixtures/labs/luna-ccc.toml)
SOCK="$W/p11.sock"
[ "${#SOCK}" -lt 100 ] || die "the socket path $SOCK is too long for a Unix socket (set HSMSIM_EXT_WORK shorter)"
TAG="rmt$$"
N=0

say "hsmsim: $hsmsim  module: $module  work: $W  log: $LOG"

out_lacks() { ! grep -q -- "$1" out.txt || { echo "did not expect '$1' in the output:"; cat out.txt; return 1; }; }

# The two sides' environments: nothing of the caller's leaks into either.
hsm_side() {
    env -i PATH=/usr/bin:/bin HOME="$W" TMPDIR="$W" \
        HSMSIM_CONF="$W/lab/lab.toml" HSMSIM_HOST=app-client "$@"
}
client_side() {
    env -i PATH=/usr/bin:/bin HOME="$W" TMPDIR="$W" \
        P11_KIT_SERVER_ADDRESS="unix:path=$SOCK" "$@"
}
remote() { client_side pkcs11-tool --module "$client_so" --token-label "$TOKEN" "$@"; }
local_tool() { hsm_side pkcs11-tool --module "$module" --token-label "$TOKEN" "$@"; }

# --- the HSM side ------------------------------------------------------------------------------
step "a fresh luna-ccc lab" "$hsmsim" lab init --fixture luna-ccc --dir "$W/lab"
step "app-client's slots on the HSM side" hsm_side "$hsmsim" slots
check "slot 4 is sa7-c/vault ($TOKEN)" out_has "^4 .*sa7-c/vault .*$TOKEN"
cp out.txt slots-local.txt

say "p11-kit server -f -n $SOCK $module (HSMSIM_CONF=$W/lab/lab.toml HSMSIM_HOST=app-client)"
# env execs p11-kit, which runs the server in the foreground (-f): $! is the server itself.
env -i PATH=/usr/bin:/bin HOME="$W" TMPDIR="$W" HSMSIM_CONF="$W/lab/lab.toml" HSMSIM_HOST=app-client \
    p11-kit server -f -n "$SOCK" "$module" >server.out 2>server.err &
server_pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && grep -q P11_KIT_SERVER_PID server.out && break; sleep 0.1; done
step "the server listens and prints its address" cat server.out
check "P11_KIT_SERVER_ADDRESS=unix:path=$SOCK" out_has "P11_KIT_SERVER_ADDRESS=unix:path=$SOCK;"
check "the socket exists" test -S "$SOCK"
check "the server printed its own process id" out_has "P11_KIT_SERVER_PID=$server_pid;"

# --- the client side: what crosses -------------------------------------------------------------
step "pkcs11-tool -L through the socket" client_side pkcs11-tool --module "$client_so" -L
for t in payments legacy-pki web-ha-1 web-ha-2 "$TOKEN"; do
    check "token $t listed" out_has "token label *: $t\$"
done
check "five slots, as app-client sees them" bash -c '[ "$(grep -c "^Slot " out.txt)" = 5 ]'

step "the module's mechanisms on the HSM side" local_tool -M
sed -n 's/^  \([^,]*\).*/\1/p' out.txt | sort >mech-local.txt
step "the mechanisms through the socket" remote -M
sed -n 's/^  \([^,]*\).*/\1/p' out.txt | sort >mech-remote.txt
check "the remote list is a subset of the module's" bash -c '[ -z "$(comm -13 mech-local.txt mech-remote.txt)" ]'
for m in RSA-PKCS-KEY-PAIR-GEN RSA-PKCS SHA256-RSA-PKCS RSA-PKCS-PSS RSA-PKCS-OAEP ECDSA-KEY-PAIR-GEN ECDSA AES-KEY-GEN AES-ECB SHA256-HMAC; do
    check "$m crosses" grep -qx "$m" mech-remote.txt
done
# p11-kit 0.24.1's (Debian 12) allow-list; later p11-kit versions carry more (AES-GCM, ...).
for m in AES-CBC-PAD AES-GCM AES-KEY-WRAP ECDSA-SHA256 ECDH1-DERIVE SHA256-RSA-PKCS-PSS EDDSA; do
    check "$m is the module's and does not cross" bash -c "grep -qx $m mech-local.txt && ! grep -qx $m mech-remote.txt"
done
say "crosses: $(tr '\n' ' ' <mech-remote.txt)"
say "does not cross: $(comm -23 mech-local.txt mech-remote.txt | tr '\n' ' ')"

# --- keys made, used and read through the socket -----------------------------------------------
head -c 1000 /dev/urandom >data.bin
openssl dgst -sha256 -binary data.bin >data.sha256
U=(--login --pin "$CO_PIN")
step "RSA-2048 key pair generated remotely" remote "${U[@]}" --keypairgen --key-type rsa:2048 --label "rsa-$TAG" --id 0a01
step "SHA256-RSA-PKCS signature remotely" remote "${U[@]}" --sign -m SHA256-RSA-PKCS --id 0a01 -i data.bin -o rsa.sig
step "verified remotely" remote --verify -m SHA256-RSA-PKCS --id 0a01 -i data.bin --signature-file rsa.sig
check "pkcs11-tool says valid" out_has "Signature is valid"
step "the RSA public key read remotely" remote --read-object --type pubkey --id 0a01 -o rsa.der
step "verified by openssl" openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in rsa.der) -signature rsa.sig data.bin
step "EC P-256 key pair generated remotely" remote "${U[@]}" --keypairgen --key-type EC:prime256v1 --label "ec-$TAG" --id 0a02
step "ECDSA signature of a SHA-256 digest remotely" remote "${U[@]}" --sign -m ECDSA --id 0a02 -i data.sha256 -o ec.sig --signature-format openssl
step "the EC public key read remotely" remote --read-object --type pubkey --id 0a02 -o ec.der
step "verified by openssl" openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in ec.der) -signature ec.sig data.bin
step "ECDSA-SHA256 through the module on the HSM side" local_tool "${U[@]}" --sign -m ECDSA-SHA256 --id 0a02 -i data.bin -o ec-local.sig --signature-format openssl
step "verified by openssl with the key read remotely" openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in ec.der) -signature ec-local.sig data.bin
expect_fail "ECDSA-SHA256 (the module's, not carried by p11-kit 0.24) refused remotely" \
    remote "${U[@]}" --sign -m ECDSA-SHA256 --id 0a02 -i data.bin -o ec2.sig
check "C_SignInit: CKR_MECHANISM_INVALID" out_has "C_SignInit failed: rv = CKR_MECHANISM_INVALID"
step "the objects listed remotely" remote "${U[@]}" -O
check "both pairs listed" bash -c "[ \"\$(grep -c 'label: *\(rsa\|ec\)-$TAG' out.txt)\" = 4 ]"

# Attribute arrays (CKA_WRAP_TEMPLATE) do not cross p11-kit 0.24's RPC: the same C_GenerateKey
# through the module directly and through the socket (raw calls: pkcs11-tool sets no template).
cat >template.py <<'PY'
import ctypes, sys
U, P = ctypes.c_ulong, ctypes.c_void_p
class Attr(ctypes.Structure): _fields_ = [("type", U), ("value", P), ("len", U)]
class Mech(ctypes.Structure): _fields_ = [("mech", U), ("param", P), ("len", U)]
lib = ctypes.CDLL(sys.argv[1])
table = P()
assert lib.C_GetFunctionList(ctypes.byref(table)) == 0
version = ctypes.cast(table.value, ctypes.POINTER(ctypes.c_ubyte * 2)).contents
print("function list: %d.%d; C_GetInterface: %s" % (version[0], version[1], hasattr(lib, "C_GetInterface")))
def fn(index, *args):  # the index-th function of the 2.40 CK_FUNCTION_LIST
    entry = ctypes.cast(table.value + 8 + 8 * index, ctypes.POINTER(P)).contents.value
    return ctypes.CFUNCTYPE(U, *args)(entry)
slot, pin = int(sys.argv[2]), sys.argv[3].encode()
session = U()
assert fn(0, P)(None) == 0                                       # C_Initialize
assert fn(12, U, U, P, P, P)(slot, 6, None, None, ctypes.byref(session)) == 0  # C_OpenSession
assert fn(18, U, U, ctypes.c_char_p, U)(session, 1, pin, len(pin)) == 0        # C_Login CKU_USER
yes, no, size = ctypes.c_ubyte(1), ctypes.c_ubyte(0), U(32)
inner = (Attr * 1)(Attr(0x162, ctypes.cast(ctypes.byref(yes), P), 1))        # CKA_EXTRACTABLE
def generate(template):
    attrs = [Attr(0x161, ctypes.cast(ctypes.byref(size), P), ctypes.sizeof(size)),  # CKA_VALUE_LEN
             Attr(0x1, ctypes.cast(ctypes.byref(no), P), 1)]                       # CKA_TOKEN false
    if template:
        attrs.append(Attr(0x40000211, ctypes.cast(inner, P), ctypes.sizeof(inner)))  # CKA_WRAP_TEMPLATE
    array, mech, key = (Attr * len(attrs))(*attrs), Mech(0x1080, None, 0), U()      # CKM_AES_KEY_GEN
    return fn(58, U, P, P, U, P)(session, ctypes.byref(mech), array, len(attrs), ctypes.byref(key))
print("without CKA_WRAP_TEMPLATE: 0x%X" % generate(False))
print("with CKA_WRAP_TEMPLATE: 0x%X" % generate(True))
PY
step "an AES key with CKA_WRAP_TEMPLATE through the module on the HSM side" hsm_side python3 template.py "$module" 4 "$CO_PIN"
check "made (CKR_OK)" out_has "^with CKA_WRAP_TEMPLATE: 0x0$"
step "the same through the socket" client_side python3 template.py "$client_so" 4 "$CO_PIN"
check "p11-kit-client.so's table is PKCS#11 2.40 (no 3.x functions cross)" out_has "^function list: 2.40; C_GetInterface: False$"
check "without the template made, with it refused (CKR_DEVICE_ERROR: the RPC cannot carry it)" \
    bash -c 'grep -q "^without CKA_WRAP_TEMPLATE: 0x0$" out.txt && grep -q "^with CKA_WRAP_TEMPLATE: 0x30$" out.txt'

# --- the same estate: the HSM side sees and uses what the client made --------------------------
printf 'slot set -slot 4\nrole login -name co -password %s\npartition contents\n' "$CO_PIN" >contents.lunacm
step "LunaCM on the HSM side lists the objects made remotely" hsm_side "$hsmsim" lunacm -f contents.lunacm
check "rsa-$TAG and ec-$TAG, public and private" bash -c "[ \"\$(grep -cE 'Label: *(rsa|ec)-$TAG' out.txt)\" = 4 ]"
check "4 objects on the partition" out_has "Number of objects: *4"
step "the remotely made RSA key signs through the module on the HSM side" local_tool "${U[@]}" --sign -m SHA256-RSA-PKCS --id 0a01 -i data.bin -o rsa-local.sig
step "verified by openssl with the key read remotely" openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER -in rsa.der) -signature rsa-local.sig data.bin
check "RSA PKCS#1 v1.5 is deterministic: the same signature both ways" cmp rsa.sig rsa-local.sig

# --- what does not cross: the vendor CA_* calls ------------------------------------------------
expect_fail "LunaCM on p11-kit-client.so (no CA_* extensions cross)" \
    client_side "$hsmsim" lunacm --module "$client_so" -c "slot list"
check "the refusal names the missing CA_* extensions" out_has "does not export Luna's CA_\* extensions"

# --- a conformance run against the remoted token -----------------------------------------------
target="pkcs11:token=$TOKEN?module-path=$client_so&pin-value=$CO_PIN"
t0=$(date +%s)
# The report is kept in the log directory whatever the outcome; the report step below prints
# every failed scenario before the run's exit status is checked.
rc=0
client_side "$hsmsim" conformance run --target "$target" --format json --out "$W/conformance.json" \
    >>"$LOG" 2>&1 || rc=$?
secs=$(( $(date +%s) - t0 ))
[ -f "$W/conformance.json" ] && cp "$W/conformance.json" "$LOG_DIR/remoting-conformance.json"
step "the conformance report" python3 - "$W/conformance.json" <<'PY'
import json, sys
from collections import OrderedDict
report = json.load(open(sys.argv[1]))
reasons, failed = OrderedDict(), []
for r in report["results"]:
    if r["status"] == "pass":
        print("   %-34s %-28s pass" % (r["procedure"], r["variant"]))
    elif r["status"] == "fail":
        failed.append("   %-34s %-28s FAIL  %s: %s" % (r["procedure"], r["variant"], r["failed_step"] or "", r["detail"]))
    else:
        # the reason without the token's name, which every line repeats
        why = r["detail"].split("): ", 1)[-1] if "): " in r["detail"] else r["detail"]
        reasons.setdefault((r["procedure"].split(".")[0], why), []).append(r["procedure"] + " " + r["variant"])
for (family, why), which in reasons.items():
    print("   not applicable x%-3d %s.*: %s" % (len(which), family, why))
for line in failed[:12]:
    print(line)
if len(failed) > 12:
    print("   ... %d more failed (the report: remoting-conformance.json)" % (len(failed) - 12))
s = report["summary"]
print("   %d passed, %d failed, %d not applicable" % (s["pass"], s["fail"], s["not-applicable"]))
assert s["fail"] == 0, "a scenario failed"
assert s["pass"] > 0, "nothing passed"
PY
sed 's/^/ /' out.txt
conf_line="$(tail -1 out.txt | sed 's/^ *//')"
step "hsmsim conformance run --target (the remoted token) exited 0" test "$rc" = 0
step "LunaCM on the HSM side after the run" hsm_side "$hsmsim" lunacm -f contents.lunacm
check "the run left the token as it was (4 objects)" out_has "Number of objects: *4"

# --- stop the server: nothing left behind ------------------------------------------------------
pid="$server_pid"
kill "$pid"
wait "$pid" || true     # p11-kit 0.24's server exits 255 on SIGTERM
server_pid=""
step "the server stopped (SIGTERM)" bash -c "! kill -0 $pid 2>/dev/null"
check "the server removed its socket" test ! -e "$SOCK"

echo "remoting: $N passed, 0 failed (conformance through p11-kit: $conf_line, ${secs}s)"
say "OK ($N steps); log: $LOG"
