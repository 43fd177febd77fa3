#!/usr/bin/env python3
"""Known-answer vectors for the ML-DSA and ML-KEM unit tests (crypto::ml_dsa, crypto::ml_kem).

Computed with independent pure-Python implementations of the final standards:
dilithium-py 1.5.1 (FIPS 204) and kyber-py 1.2.0 (FIPS 203), from PyPI; their `pkcs` modules
(with ecdsa 0.19.2's DER encoder) write the SubjectPublicKeyInfo (RFC 9881 / RFC 9935) and the
PKCS#8 private keys in the seed, expanded and both forms.

Regenerate (the output replaces tests/data/pqc_kat.txt):
    python3 -m venv /tmp/kat-venv
    /tmp/kat-venv/bin/pip install dilithium-py==1.5.1 kyber-py==1.2.0 ecdsa==0.19.2
    /tmp/kat-venv/bin/python simulator/tests/data/pqc_kat.py > simulator/tests/data/pqc_kat.txt

Each line is `name hex`. Long outputs are given as their SHA-256 (`*_sha256`).
"""
from hashlib import sha256, shake_128, shake_256

from dilithium_py.ml_dsa import ML_DSA_44, ML_DSA_65, ML_DSA_87
from dilithium_py.ml_dsa import pkcs as dsa_pkcs
from dilithium_py.ml_dsa.default_parameters import (
    HASH_ML_DSA_44_WITH_SHA512,
    HASH_ML_DSA_65_WITH_SHA512,
    HASH_ML_DSA_87_WITH_SHA512,
)
from kyber_py.ml_kem import ML_KEM_512, ML_KEM_768, ML_KEM_1024
from kyber_py.ml_kem import pkcs as kem_pkcs

MESSAGE = b"hsmsim known-answer test message"
# OIDs of FIPS 204 section 5.4 (NIST hash arc 2.16.840.1.101.3.4.2.n, DER).
OID_SHAKE256 = bytes.fromhex("060960864801650304020c")


def fixed(label: str, n: int) -> bytes:
    """A fixed, reproducible seed of n bytes."""
    return shake_256(label.encode()).digest(n)


def out(name: str, value: bytes) -> None:
    print(f"{name} {value.hex()}")


for set_, pure, hashed in [
    (44, ML_DSA_44, HASH_ML_DSA_44_WITH_SHA512),
    (65, ML_DSA_65, HASH_ML_DSA_65_WITH_SHA512),
    (87, ML_DSA_87, HASH_ML_DSA_87_WITH_SHA512),
]:
    xi = fixed(f"ml-dsa-{set_} seed", 32)
    pk, sk = pure.key_derive(xi)
    out(f"ml_dsa_{set_}_seed", xi)
    out(f"ml_dsa_{set_}_pk_sha256", sha256(pk).digest())
    out(f"ml_dsa_{set_}_sk_sha256", sha256(sk).digest())
    out(f"ml_dsa_{set_}_spki_sha256", sha256(dsa_pkcs.pk_to_der(pure, pk)).digest())
    if set_ == 65:
        for form in ("seed", "expanded", "both"):
            out(f"ml_dsa_65_pkcs8_{form}", dsa_pkcs.sk_to_der(pure, sk, xi, form))
    # Pure ML-DSA, empty context, deterministic (rnd = 32 zero bytes).
    sig = pure.sign(sk, MESSAGE, ctx=b"", deterministic=True)
    assert pure.verify(pk, MESSAGE, sig)
    out(f"ml_dsa_{set_}_sig_sha256", sha256(sig).digest())
    # HashML-DSA with SHAKE128 (dilithium-py's own pre-hash code), empty context.
    sig = hashed._sign_with_pre_hash(sk, MESSAGE, "SHAKE128", b"", deterministic=True)
    out(f"hash_ml_dsa_{set_}_shake128_sig_sha256", sha256(sig).digest())
    # HashML-DSA with SHAKE256 (dilithium-py has no SHAKE256 pre-hash: FIPS 204 Algorithm 4
    # written out, PH = SHAKE256(M, 512 bits)), empty context.
    m_prime = bytes([1, 0]) + OID_SHAKE256 + shake_256(MESSAGE).digest(64)
    sig = hashed._sign_internal(sk, m_prime, bytes(32))
    out(f"hash_ml_dsa_{set_}_shake256_sig_sha256", sha256(sig).digest())

for set_, kem in [(512, ML_KEM_512), (768, ML_KEM_768), (1024, ML_KEM_1024)]:
    d_z = fixed(f"ml-kem-{set_} seed", 64)
    ek, dk = kem.key_derive(d_z)
    out(f"ml_kem_{set_}_seed", d_z)
    out(f"ml_kem_{set_}_ek_sha256", sha256(ek).digest())
    out(f"ml_kem_{set_}_dk_sha256", sha256(dk).digest())
    out(f"ml_kem_{set_}_spki_sha256", sha256(kem_pkcs.ek_to_der(kem, ek)).digest())
    if set_ == 768:
        for form in ("seed", "expanded", "both"):
            out(f"ml_kem_768_pkcs8_{form}", kem_pkcs.dk_to_der(kem, dk, d_z, form))
    # Deterministic encapsulation with a fixed m (ML-KEM.Encaps_internal).
    m = fixed(f"ml-kem-{set_} m", 32)
    shared, ct = kem._encaps_internal(ek, m)
    assert kem.decaps(dk, ct) == shared
    out(f"ml_kem_{set_}_m", m)
    out(f"ml_kem_{set_}_ct", ct)
    out(f"ml_kem_{set_}_ss", shared)
