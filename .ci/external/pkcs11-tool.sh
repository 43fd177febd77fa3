#!/usr/bin/env bash
# OpenSC pkcs11-tool (Debian 12: opensc 0.23) flows against our module, each step checked,
# stopping at the first failure with a clear message.
#
#   .ci/external/pkcs11-tool.sh [path/to/libhsmsim.so]
#
# Fresh HSMSIM_STATE_DIR, HSMSIM_LAB=generic (slots 0 and 1, both blank); works on slot 1.
# Cross-checks with openssl 3 wherever the result can be checked independently:
# RSA and ECDSA signatures verified with the public key read from the token, RSA-OAEP
# ciphertext made by openssl and decrypted on the token, AES-KEY-WRAP output compared
# byte for byte with `openssl enc -id-aes256-wrap`, AES-CBC-PAD ciphertext compared with
# `openssl enc -aes-256-cbc`.
#
# pkcs11-tool 0.23 limits, and what is done instead:
# - `--encrypt` only looks for secret keys ("Secret key not found" for an RSA key), so
#   RSA-PKCS-OAEP is encrypted by openssl with the public key read from the token and
#   decrypted with `pkcs11-tool --decrypt -m RSA-PKCS-OAEP`.
# - `--wrap/--unwrap -m AES-KEY-WRAP` exist in 0.23; the key to wrap is chosen with
#   --application-id, the wrapping key with --id. AES-KEY-WRAP-PAD has no name in 0.23
#   (-M shows it as mechtype-0x210A); it is used by number.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODULE="$(resolve_module "${1:-}")"
ensure_apt opensc opensc-pkcs11 openssl xxd

W="$(mktemp -d "$HSMSIM_EXT_WORK/pkcs11-tool.XXXXXX")"
export HSMSIM_STATE_DIR="$(fresh_state_dir pkcs11-tool)"
export HSMSIM_LAB=generic
export HSMSIM_LOG="${HSMSIM_LOG:-debug}"
LOG="$LOG_DIR/pkcs11-tool.log"
: >"$LOG"
cd "$W"

SLOT=1
SO_PIN=87654321
PIN=12345678
P=(pkcs11-tool --module "$MODULE" --slot "$SLOT")
U=("${P[@]}" --login --pin "$PIN")
N=0

say "module: $MODULE  state: $HSMSIM_STATE_DIR  work: $W  log: $LOG"


head -c 1000 /dev/urandom >data.bin
openssl dgst -sha256 -binary data.bin >data.sha256
head -c 32 /dev/urandom >secret.bin
IV=000102030405060708090a0b0c0d0e0f

# --- slots, tokens, mechanisms -----------------------------------------------------------
step "-L lists slots 0 and 1" pkcs11-tool --module "$MODULE" -L
check "two slots, slot 1 uninitialised" bash -c 'grep -q "^Slot 0 " out.txt && grep -q "^Slot 1 " out.txt && sed -n "/^Slot 1/,\$p" out.txt | grep -q uninitialized' 
step "-I library info" pkcs11-tool --module "$MODULE" -I
check "Cryptoki version 3.x reported" out_has "Cryptoki version 3"
step "-M mechanism list of slot $SLOT" "${P[@]}" -M
for m in RSA-PKCS-KEY-PAIR-GEN RSA-PKCS RSA-PKCS-OAEP SHA256-RSA-PKCS ECDSA-KEY-PAIR-GEN ECDSA ECDSA-SHA256 AES-KEY-GEN AES-CBC-PAD AES-KEY-WRAP; do
    check "-M lists $m" grep -qE "^  $m," out.txt
done

# --- token and PIN initialisation ---------------------------------------------------------
step "--init-token slot $SLOT, label ci-token" "${P[@]}" --init-token --label ci-token --so-pin "$SO_PIN"
step "-L after init" pkcs11-tool --module "$MODULE" -L
check "slot 1 shows label ci-token, token initialized" bash -c 'sed -n "/^Slot 1/,\$p" out.txt | grep -q "token label *: ci-token" && sed -n "/^Slot 1/,\$p" out.txt | grep -q "token initialized"'
step "--init-pin as SO" "${P[@]}" --login --login-type so --so-pin "$SO_PIN" --init-pin --pin "$PIN"
step "-L after init-pin" pkcs11-tool --module "$MODULE" -L
check "slot 1 token flags show PIN initialized" bash -c 'sed -n "/^Slot 1/,\$p" out.txt | grep -q "PIN initialized"'
expect_fail "login with a wrong user PIN" "${P[@]}" --login --pin 99999999 -O
check "wrong PIN answered CKR_PIN_INCORRECT" out_has CKR_PIN_INCORRECT
step "user login with the new PIN, list objects" "${U[@]}" -O

# --- key generation -------------------------------------------------------------------------
step "--keypairgen rsa:2048" "${U[@]}" --keypairgen --key-type rsa:2048 --id 01 --label rsa-key --usage-sign --usage-decrypt
check "RSA 2048 public key reported" out_has "RSA 2048 bits"
step "--keypairgen EC:prime256v1" "${U[@]}" --keypairgen --key-type EC:prime256v1 --id 02 --label ec-key --usage-sign
check "EC public key has prime256v1 params" out_has "EC_PARAMS:  06082a8648ce3d030107"
step "--keygen AES:32 (--private --sensitive: pkcs11-tool otherwise sets CKA_PRIVATE false)" "${U[@]}" --keygen --key-type AES:32 --id 03 --label aes-key --usage-decrypt --private --sensitive
check "AES key of 32 bytes reported" out_has "AES length 32"

# --- objects ----------------------------------------------------------------------------------
step "-O lists the objects" "${U[@]}" -O
check "-O shows 2 public, 2 private, 1 secret key with their labels" bash -c '
    [ "$(grep -c "^Public Key Object" out.txt)" = 2 ] && [ "$(grep -c "^Private Key Object" out.txt)" = 2 ] &&
    [ "$(grep -c "^Secret Key Object" out.txt)" = 1 ] &&
    grep -q "label: *rsa-key" out.txt && grep -q "label: *ec-key" out.txt && grep -q "label: *aes-key" out.txt'
step "-O without login shows public objects only" "${P[@]}" -O
check "no private or secret keys without login" bash -c '! grep -q "^Private Key Object\|^Secret Key Object" out.txt && grep -q "^Public Key Object" out.txt'
step "--read-object RSA public key (id 01)" "${P[@]}" --read-object --type pubkey --id 01 -o rsa.der
check "openssl parses it as a 2048-bit RSA SubjectPublicKeyInfo" bash -c 'openssl pkey -pubin -inform DER -in rsa.der -out rsa.pem && openssl pkey -pubin -in rsa.pem -noout -text | grep -q "Public-Key: (2048 bit)"'
step "--read-object EC public key (id 02)" "${P[@]}" --read-object --type pubkey --id 02 -o ec.der
check "openssl parses it as a P-256 SubjectPublicKeyInfo" bash -c 'openssl pkey -pubin -inform DER -in ec.der -out ec.pem && openssl pkey -pubin -in ec.pem -noout -text | grep -q "prime256v1"'

# --- sign / verify ------------------------------------------------------------------------------
step "sign RSA-PKCS (raw data)" "${U[@]}" -s -m RSA-PKCS --id 01 -i data.sha256 -o rsa-pkcs.sig
step "verify RSA-PKCS with pkcs11-tool" "${U[@]}" --verify -m RSA-PKCS --id 01 -i data.sha256 --signature-file rsa-pkcs.sig
check "pkcs11-tool says valid" out_has "Signature is valid"
check "openssl recovers the signed data with the token's public key" bash -c 'openssl pkeyutl -verifyrecover -pubin -inkey rsa.pem -in rsa-pkcs.sig -out rec.bin && cmp rec.bin data.sha256'
step "sign SHA256-RSA-PKCS" "${U[@]}" -s -m SHA256-RSA-PKCS --id 01 -i data.bin -o rsa-sha256.sig
step "verify SHA256-RSA-PKCS with pkcs11-tool" "${U[@]}" --verify -m SHA256-RSA-PKCS --id 01 -i data.bin --signature-file rsa-sha256.sig
check "pkcs11-tool says valid" out_has "Signature is valid"
check "openssl dgst -sha256 -verify accepts the signature" openssl dgst -sha256 -verify rsa.pem -signature rsa-sha256.sig data.bin
cp rsa-sha256.sig bad.sig; printf '\x00' | dd of=bad.sig bs=1 seek=10 conv=notrunc status=none
[ "$(xxd -p -s 10 -l 1 rsa-sha256.sig)" != 00 ] || printf '\x01' | dd of=bad.sig bs=1 seek=10 conv=notrunc status=none
expect_fail "a corrupted SHA256-RSA-PKCS signature does not verify" bash -c '"$@" | grep -q "Signature is valid"' _ "${U[@]}" --verify -m SHA256-RSA-PKCS --id 01 -i data.bin --signature-file bad.sig
step "sign ECDSA (pre-hashed SHA-256)" "${U[@]}" -s -m ECDSA --id 02 -i data.sha256 -o ecdsa.sig -f openssl
step "verify ECDSA with pkcs11-tool" "${U[@]}" --verify -m ECDSA --id 02 -i data.sha256 --signature-file ecdsa.sig -f openssl
check "pkcs11-tool says valid" out_has "Signature is valid"
check "openssl verifies the ECDSA signature over the hash" openssl pkeyutl -verify -pubin -inkey ec.pem -in data.sha256 -sigfile ecdsa.sig
step "sign ECDSA-SHA256" "${U[@]}" -s -m ECDSA-SHA256 --id 02 -i data.bin -o ecdsa-sha256.sig -f openssl
step "verify ECDSA-SHA256 with pkcs11-tool" "${U[@]}" --verify -m ECDSA-SHA256 --id 02 -i data.bin --signature-file ecdsa-sha256.sig -f openssl
check "pkcs11-tool says valid" out_has "Signature is valid"
check "openssl dgst -sha256 -verify accepts the ECDSA signature" openssl dgst -sha256 -verify ec.pem -signature ecdsa-sha256.sig data.bin

# --- encrypt / decrypt ----------------------------------------------------------------------------
check "openssl encrypts RSA-OAEP(SHA-256) with the token's public key" openssl pkeyutl -encrypt -pubin -inkey rsa.pem \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in secret.bin -out oaep.ct
step "decrypt RSA-PKCS-OAEP (SHA256, MGF1-SHA256) on the token" "${U[@]}" --decrypt -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 --id 01 -i oaep.ct -o oaep.pt
check "decrypted OAEP plaintext equals the input" cmp oaep.pt secret.bin
step "encrypt AES-CBC-PAD" "${U[@]}" --encrypt -m AES-CBC-PAD --iv "$IV" --id 03 -i data.bin -o cbc.ct
check "ciphertext is padded to 1008 bytes" bash -c '[ "$(stat -c %s cbc.ct)" = 1008 ]'
step "decrypt AES-CBC-PAD" "${U[@]}" --decrypt -m AES-CBC-PAD --iv "$IV" --id 03 -i cbc.ct -o cbc.pt
check "decrypted AES-CBC-PAD plaintext equals the input" cmp cbc.pt data.bin

# --- wrap / unwrap (keys of known value, so openssl can check the bytes) ----------------------------
KEK=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
TK=7070707070707070707070707070707070707070707070707070707070707070
printf '%s' "$KEK" | xxd -p -r >kek.bin
printf '%s' "$TK" | xxd -p -r >tk.bin
step "write the AES-256 wrapping key (id 10)" "${U[@]}" --write-object kek.bin --type secrkey --key-type AES:32 --id 10 --label kek --usage-wrap
step "write an extractable AES-256 key to wrap (id 11)" "${U[@]}" --write-object tk.bin --type secrkey --key-type AES:32 --id 11 --label to-wrap --usage-decrypt --extractable
step "--wrap -m AES-KEY-WRAP key 11 under key 10" "${U[@]}" --wrap -m AES-KEY-WRAP --id 10 --application-id 11 -o wrapped.bin
check "wrapped bytes equal openssl enc -id-aes256-wrap (RFC 3394)" bash -c "openssl enc -id-aes256-wrap -e -K $KEK -iv a6a6a6a6a6a6a6a6 -in tk.bin -out wrapped.ossl && cmp wrapped.bin wrapped.ossl"
step "--unwrap -m AES-KEY-WRAP as a new AES key (id 12)" "${U[@]}" --unwrap -m AES-KEY-WRAP --id 10 -i wrapped.bin --key-type AES: --application-id 12 --application-label unwrapped --extractable
step "--read-object the unwrapped key's value" "${U[@]}" --read-object --type secrkey --id 12 -o unwrapped.bin
check "unwrapped key value equals the original" cmp unwrapped.bin tk.bin
step "encrypt AES-CBC-PAD with the unwrapped key" "${U[@]}" --encrypt -m AES-CBC-PAD --iv "$IV" --id 12 -i data.bin -o cbc2.ct
check "ciphertext equals openssl enc -aes-256-cbc with the original key" bash -c "openssl enc -aes-256-cbc -K $TK -iv $IV -in data.bin -out cbc2.ossl && cmp cbc2.ct cbc2.ossl"
expect_fail "--wrap of a non-extractable key (id 03) is refused" "${U[@]}" --wrap -m AES-KEY-WRAP --id 10 --application-id 03 -o nope.bin
check "refusal is CKR_KEY_UNEXTRACTABLE" out_has CKR_KEY_UNEXTRACTABLE
step "--wrap -m AES-KEY-WRAP-PAD (0x210A, RFC 5649) key 11 under key 10" "${U[@]}" --wrap -m 0x210A --id 10 --application-id 11 -o wrapped-pad.bin
check "wrapped bytes equal openssl enc -id-aes256-wrap-pad" bash -c "openssl enc -id-aes256-wrap-pad -e -K $KEK -iv a65959a6 -in tk.bin -out wrapped-pad.ossl && cmp wrapped-pad.bin wrapped-pad.ossl"

# --- persistence: a second process sees the token objects --------------------------------------------
step "-O again in a new process" "${U[@]}" -O
check "all 8 token objects are still there" bash -c '[ "$(grep -c "Key Object" out.txt)" = 8 ]'

# --- through OpenSC's pkcs11-spy, which writes into the function tables it is given -----------------
SPY=/usr/lib/x86_64-linux-gnu/pkcs11-spy.so
step "-O through pkcs11-spy (PKCS11SPY=module)" env PKCS11SPY="$MODULE" PKCS11SPY_OUTPUT="$W/spy.log" pkcs11-tool --module "$SPY" --slot "$SLOT" --login --pin "$PIN" -O
# OpenSC 0.23's spy wraps the 3.0 and 2.40 tables it knows; the module's default interface is
# 3.2 (whose table starts as 3.0's), which the spy hands to pkcs11-tool as it is, untraced.
check "the spy loaded the module (C_GetInterface CKR_OK, the 3.2 table passed through) and the objects are listed" bash -c "grep -q C_GetInterface '$W/spy.log' && grep -q 'Returned:  0 CKR_OK' '$W/spy.log' && [ \"\$(grep -c 'Key Object' out.txt)\" = 8 ]"

echo "pkcs11-tool: $N passed, 0 failed"
say "OK ($N steps); log: $LOG"
rm -rf "$W"
