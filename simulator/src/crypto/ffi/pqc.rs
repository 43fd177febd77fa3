//! The C ABI boundary to aws-lc for ML-DSA (FIPS 204) and ML-KEM (FIPS 203) where aws-lc-rs
//! has no API:
//! - ML-DSA signing and verification with an explicit message prefix and randomness
//!   (`ml_dsa_{44,65,87}_sign_internal` / `verify_internal`, FIPS 204 Algorithms 7 and 8 on
//!   M' = pre || M): context strings, deterministic signing and HashML-DSA. These are aws-lc's
//!   internal functions, not bound by aws-lc-sys: they are declared here with the symbol
//!   prefix of aws-lc-sys 0.47.0 (`aws_lc_0_47_0_`), which the workspace pins exactly
//!   (`aws-lc-sys = "=0.47.0"`): another version renames them and the link fails loudly; the
//!   unit tests of `crypto::ml_dsa` check the results against aws-lc-rs's public verifier.
//! - ML-KEM key generation from the 64-byte seed d || z (`EVP_PKEY_keygen_deterministic`).
//! - PKCS#8 of ML-DSA and ML-KEM private keys read with `EVP_parse_private_key` (with the seed
//!   when the PKCS#8 has one, `EVP_PKEY_get_private_seed`; ML-KEM's "both" form, which aws-lc
//!   does not read, split with aws-lc's DER reader `CBS`), ML-KEM PKCS#8 written with
//!   `EVP_marshal_private_key`, and the `SubjectPublicKeyInfo` of both with
//!   `EVP_marshal_public_key`.
//! - SHAKE128 / SHAKE256 with a chosen output length (`EVP_DigestFinalXOF`) and SHA-3.
use aws_lc_sys as lc;
use std::ffi::c_int;
use std::ptr::null_mut;
use zeroize::Zeroizing;

// SAFETY: these are aws-lc's own functions (crypto/fipsmodule/ml_dsa/ml_dsa.h of aws-lc-sys
// 0.47.0), linked from the static library aws-lc-sys builds; the signatures below are copied
// from that header. They return 1 on success.
unsafe extern "C" {
    #[link_name = "aws_lc_0_47_0_ml_dsa_44_sign_internal"]
    fn ml_dsa_44_sign_internal(
        sk: *const u8,
        sig: *mut u8,
        sig_len: *mut usize,
        msg: *const u8,
        msg_len: usize,
        pre: *const u8,
        pre_len: usize,
        rnd: *const u8,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_65_sign_internal"]
    fn ml_dsa_65_sign_internal(
        sk: *const u8,
        sig: *mut u8,
        sig_len: *mut usize,
        msg: *const u8,
        msg_len: usize,
        pre: *const u8,
        pre_len: usize,
        rnd: *const u8,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_87_sign_internal"]
    fn ml_dsa_87_sign_internal(
        sk: *const u8,
        sig: *mut u8,
        sig_len: *mut usize,
        msg: *const u8,
        msg_len: usize,
        pre: *const u8,
        pre_len: usize,
        rnd: *const u8,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_44_verify_internal"]
    fn ml_dsa_44_verify_internal(
        pk: *const u8,
        sig: *const u8,
        sig_len: usize,
        msg: *const u8,
        msg_len: usize,
        pre: *const u8,
        pre_len: usize,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_65_verify_internal"]
    fn ml_dsa_65_verify_internal(
        pk: *const u8,
        sig: *const u8,
        sig_len: usize,
        msg: *const u8,
        msg_len: usize,
        pre: *const u8,
        pre_len: usize,
    ) -> c_int;
    #[link_name = "aws_lc_0_47_0_ml_dsa_87_verify_internal"]
    fn ml_dsa_87_verify_internal(
        pk: *const u8,
        sig: *const u8,
        sig_len: usize,
        msg: *const u8,
        msg_len: usize,
        pre: *const u8,
        pre_len: usize,
    ) -> c_int;
}

/// The sizes of one ML-DSA parameter set: public key, expanded private key, signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MlDsaSizes {
    pub public: usize,
    pub private: usize,
    pub signature: usize,
}

/// ML-DSA-44, -65 and -87 (FIPS 204 Table 2), by security category 2, 3, 5 as 44/65/87.
pub(crate) fn ml_dsa_sizes(set: u16) -> Option<MlDsaSizes> {
    Some(match set {
        44 => MlDsaSizes {
            public: 1312,
            private: 2560,
            signature: 2420,
        },
        65 => MlDsaSizes {
            public: 1952,
            private: 4032,
            signature: 3309,
        },
        87 => MlDsaSizes {
            public: 2592,
            private: 4896,
            signature: 4627,
        },
        _ => return None,
    })
}

/// ML-DSA.Sign_internal(sk, pre || msg, rnd) of parameter set `set` (44, 65 or 87); `sk` is
/// the expanded private key. `None` on a wrong key length or a failure.
pub(crate) fn ml_dsa_sign(
    set: u16,
    sk: &[u8],
    msg: &[u8],
    pre: &[u8],
    rnd: &[u8; 32],
) -> Option<Vec<u8>> {
    let sizes = ml_dsa_sizes(set)?;
    if sk.len() != sizes.private {
        return None;
    }
    let f = match set {
        44 => ml_dsa_44_sign_internal,
        65 => ml_dsa_65_sign_internal,
        _ => ml_dsa_87_sign_internal,
    };
    let mut sig = vec![0u8; sizes.signature];
    let mut len = sig.len();
    // SAFETY: `sk` has the parameter set's private key length (checked), `sig` holds a whole
    // signature, the message and prefix pointers are valid for their lengths, and `rnd` is 32
    // bytes, as ml_dsa.h requires.
    let ok = unsafe {
        f(
            sk.as_ptr(),
            sig.as_mut_ptr(),
            &mut len,
            msg.as_ptr(),
            msg.len(),
            pre.as_ptr(),
            pre.len(),
            rnd.as_ptr(),
        )
    };
    if ok != 1 || len != sizes.signature {
        return super::fail();
    }
    Some(sig)
}

/// ML-DSA.Verify_internal(pk, pre || msg, sig) of parameter set `set`.
pub(crate) fn ml_dsa_verify(set: u16, pk: &[u8], sig: &[u8], msg: &[u8], pre: &[u8]) -> bool {
    let Some(sizes) = ml_dsa_sizes(set) else {
        return false;
    };
    if pk.len() != sizes.public || sig.len() != sizes.signature {
        return false;
    }
    let f = match set {
        44 => ml_dsa_44_verify_internal,
        65 => ml_dsa_65_verify_internal,
        _ => ml_dsa_87_verify_internal,
    };
    // SAFETY: `pk` and `sig` have the parameter set's lengths (checked); the other pointers are
    // valid for their lengths.
    let ok = unsafe {
        f(
            pk.as_ptr(),
            sig.as_ptr(),
            sig.len(),
            msg.as_ptr(),
            msg.len(),
            pre.as_ptr(),
            pre.len(),
        )
    };
    if ok != 1 {
        super::clear_errors();
    }
    ok == 1
}

/// An owned `EVP_PKEY_CTX`.
struct Ctx(*mut lc::EVP_PKEY_CTX);
impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: we own the context (null is accepted too) and free it once.
        unsafe { lc::EVP_PKEY_CTX_free(self.0) }
    }
}

/// An owned `EVP_PKEY`.
struct Pkey(*mut lc::EVP_PKEY);
impl Drop for Pkey {
    fn drop(&mut self) {
        // SAFETY: we own the key (null is accepted too) and free it once.
        unsafe { lc::EVP_PKEY_free(self.0) }
    }
}

/// ML-KEM key generation from the seed d || z (FIPS 203 ML-KEM.KeyGen_internal) for
/// ML-KEM-512/768/1024 (`set`), as an `EVP_PKEY` that keeps the seed.
fn ml_kem_key_from_seed(set: u16, seed: &[u8; 64]) -> Option<Pkey> {
    let nid = pqc_nid(set).filter(|_| set >= 512)?;
    // SAFETY: a new context of the KEM type; owned by `ctx`.
    let ctx = Ctx(unsafe { lc::EVP_PKEY_CTX_new_id(lc::EVP_PKEY_KEM, null_mut()) });
    if ctx.0.is_null() {
        return super::fail();
    }
    // SAFETY: a valid context.
    if unsafe { lc::EVP_PKEY_CTX_kem_set_params(ctx.0, nid) } != 1
    // SAFETY: a valid context.
        || unsafe { lc::EVP_PKEY_keygen_init(ctx.0) } != 1
    {
        return super::fail();
    }
    let mut key = Pkey(null_mut());
    let mut seed_len = seed.len();
    // SAFETY: a valid context in keygen state, an out-pointer, and a 64-byte seed.
    if unsafe { lc::EVP_PKEY_keygen_deterministic(ctx.0, &mut key.0, seed.as_ptr(), &mut seed_len) }
        != 1
        || key.0.is_null()
    {
        return super::fail();
    }
    Some(key)
}

/// ML-KEM key generation from the seed d || z (FIPS 203 ML-KEM.KeyGen_internal), for
/// ML-KEM-512/768/1024 (`set`): (encapsulation key, decapsulation key).
pub(crate) fn ml_kem_keypair_from_seed(
    set: u16,
    seed: &[u8; 64],
) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let key = ml_kem_key_from_seed(set, seed)?;
    match (
        key.read(lc::EVP_PKEY_get_raw_public_key),
        key.read(lc::EVP_PKEY_get_raw_private_key),
    ) {
        (Some(ek), Some(dk)) => Some((ek.to_vec(), dk)),
        _ => super::fail(),
    }
}

/// SHA3-224/256/384/512 (`bits`) of `data`, one-shot (`EVP_Digest`): the pre-hashes of the
/// HashML-DSA SHA-3 variants (aws-lc-rs has no SHA3-224).
pub(crate) fn sha3(bits: u16, data: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: these return pointers to aws-lc's static digest descriptions.
    let md = unsafe {
        match bits {
            224 => lc::EVP_sha3_224(),
            256 => lc::EVP_sha3_256(),
            384 => lc::EVP_sha3_384(),
            512 => lc::EVP_sha3_512(),
            _ => return None,
        }
    };
    let mut out = vec![0u8; 64];
    let mut len: std::ffi::c_uint = 0;
    // SAFETY: `data` is valid for its length, `out` holds the largest SHA-3 digest (64 bytes),
    // `md` is a static digest and no engine is used.
    let ok = unsafe {
        lc::EVP_Digest(
            data.as_ptr().cast(),
            data.len(),
            out.as_mut_ptr(),
            &mut len,
            md,
            null_mut(),
        )
    };
    if ok != 1 {
        return super::fail();
    }
    out.truncate(len as usize);
    Some(out)
}

/// The aws-lc NID of a post-quantum parameter set: ML-DSA-44/65/87 (`set` 44, 65, 87) or
/// ML-KEM-512/768/1024 (`set` 512, 768, 1024); the numbers do not overlap.
fn pqc_nid(set: u16) -> Option<c_int> {
    Some(match set {
        44 => lc::NID_MLDSA44,
        65 => lc::NID_MLDSA65,
        87 => lc::NID_MLDSA87,
        512 => lc::NID_MLKEM512,
        768 => lc::NID_MLKEM768,
        1024 => lc::NID_MLKEM1024,
        _ => return None,
    })
}

/// The parameter set (as `pqc_nid` numbers it) of an expanded private key, by its length
/// (FIPS 204 Table 2, FIPS 203 Table 3: all six lengths differ).
fn set_of_private_len(len: usize) -> Option<u16> {
    Some(match len {
        2560 => 44,
        4032 => 65,
        4896 => 87,
        1632 => 512,
        2400 => 768,
        3168 => 1024,
        _ => return None,
    })
}

impl Pkey {
    /// The raw public key, expanded private key or private seed, by `get`
    /// (`EVP_PKEY_get_raw_public_key`, `..._private_key`, `EVP_PKEY_get_private_seed`); `None`
    /// (with the error queue cleared) when the key has no such part.
    fn read(
        &self,
        get: unsafe extern "C" fn(*const lc::EVP_PKEY, *mut u8, *mut usize) -> c_int,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let mut len = 0usize;
        // SAFETY: a valid key; a null buffer asks for the length.
        if unsafe { get(self.0, null_mut(), &mut len) } != 1 {
            return super::fail();
        }
        let mut out = Zeroizing::new(vec![0u8; len]);
        // SAFETY: the buffer holds `len` bytes.
        if unsafe { get(self.0, out.as_mut_ptr(), &mut len) } != 1 {
            return super::fail();
        }
        out.truncate(len);
        Some(out)
    }
}

/// DER written by `write` into a fresh `CBB` (aws-lc's DER builder), copied out.
fn marshal(write: impl FnOnce(*mut lc::CBB) -> c_int) -> Option<Zeroizing<Vec<u8>>> {
    // SAFETY: `CBB` is a C struct of pointers and integers whose all-zero value is the state
    // `CBB_zero` sets.
    let mut top: lc::CBB = unsafe { std::mem::zeroed() };
    let mut data: *mut u8 = null_mut();
    let mut len = 0usize;
    // SAFETY: `top` is initialised before `write` uses it and cleaned up below on failure; on
    // success `data` is a buffer of `len` bytes that we own.
    let ok = unsafe {
        lc::CBB_init(&mut top, 256) == 1
            && write(&mut top) == 1
            && lc::CBB_finish(&mut top, &mut data, &mut len) == 1
    };
    if !ok {
        // SAFETY: `top` was zeroed or initialised; cleaning up either is allowed.
        unsafe { lc::CBB_cleanup(&mut top) };
        return super::fail();
    }
    // SAFETY: on success `data` holds `len` initialised bytes.
    let out = Zeroizing::new(unsafe { std::slice::from_raw_parts(data, len) }.to_vec());
    // SAFETY: `data` was allocated by aws-lc and is freed once.
    unsafe { lc::OPENSSL_free(data.cast()) };
    Some(out)
}

/// The DER `SubjectPublicKeyInfo` of a raw ML-DSA or ML-KEM public key of parameter set `set`
/// (`pqc_nid` numbering): the RFC 9881 / RFC 9935 form aws-lc's `EVP_marshal_public_key` writes
/// (the algorithm's OID without parameters, the raw key as the BIT STRING).
pub(crate) fn public_key_info(set: u16, public: &[u8]) -> Option<Vec<u8>> {
    let nid = pqc_nid(set)?;
    let new = if set >= 512 {
        lc::EVP_PKEY_kem_new_raw_public_key
    } else {
        lc::EVP_PKEY_pqdsa_new_raw_public_key
    };
    // SAFETY: `public` is readable for its length; aws-lc checks the length against the NID
    // and returns null on a mismatch. The key is owned by `key`.
    let key = Pkey(unsafe { new(nid, public.as_ptr(), public.len()) });
    if key.0.is_null() {
        return super::fail();
    }
    // SAFETY: `cbb` is the initialised builder `marshal` hands over; `key.0` is a valid key.
    marshal(|cbb| unsafe { lc::EVP_marshal_public_key(cbb, key.0) }).map(|der| der.to_vec())
}

/// An ML-DSA or ML-KEM private key read from PKCS#8: its parameter set (`pqc_nid` numbering),
/// the expanded private key, the raw public key when aws-lc knows it (ML-DSA always, ML-KEM
/// from a seed), and the seed when the PKCS#8 holds one.
pub(crate) struct Pkcs8PqcKey {
    pub set: u16,
    pub private: Zeroizing<Vec<u8>>,
    pub public: Option<Vec<u8>>,
    pub seed: Option<Zeroizing<Vec<u8>>>,
}

/// Reads a PKCS#8 `PrivateKeyInfo` of ML-DSA (RFC 9881: seed, expanded or both) or ML-KEM
/// (RFC 9935: seed or expanded) with `EVP_parse_private_key`, and ML-KEM's "both" form, which
/// aws-lc 0.47 does not read, with `parse_ml_kem_both_form`. `None` if `der` is not exactly one
/// such structure.
pub(crate) fn parse_pqc_pkcs8(der: &[u8]) -> Option<Pkcs8PqcKey> {
    let mut cbs = lc::CBS {
        data: der.as_ptr(),
        len: der.len(),
    };
    // SAFETY: `cbs` points into `der`, which outlives the call; aws-lc only reads through it
    // and advances it. The returned key is owned by `key`.
    let key = Pkey(unsafe { lc::EVP_parse_private_key(&mut cbs) });
    if key.0.is_null() {
        super::clear_errors();
        return parse_ml_kem_both_form(der);
    }
    // SAFETY: a valid key.
    let id = unsafe { lc::EVP_PKEY_id(key.0) };
    if cbs.len != 0 || !(id == lc::EVP_PKEY_PQDSA || id == lc::EVP_PKEY_KEM) {
        return None;
    }
    let private = key.read(lc::EVP_PKEY_get_raw_private_key)?;
    let set = set_of_private_len(private.len())?;
    let public = key
        .read(lc::EVP_PKEY_get_raw_public_key)
        .map(|p| p.to_vec());
    let seed = key.read(lc::EVP_PKEY_get_private_seed);
    Some(Pkcs8PqcKey {
        set,
        private,
        public,
        seed,
    })
}

/// The DER contents of the ML-KEM OIDs (2.16.840.1.101.3.4.4.1/2/3) and their parameter sets.
const ML_KEM_OIDS: [([u8; 9], u16); 3] = [
    ([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x01], 512),
    ([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02], 768),
    ([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x03], 1024),
];

/// An ML-KEM PKCS#8 in RFC 9935's "both" form, `privateKey` = SEQUENCE { seed OCTET STRING,
/// expandedKey OCTET STRING }, read with aws-lc's DER reader `CBS` (version 0 or 1; attributes
/// and a public key after the private key are ignored, as `EVP_parse_private_key` does). The
/// key is regenerated from the seed and must equal the expanded key (RFC 9935 §6).
fn parse_ml_kem_both_form(der: &[u8]) -> Option<Pkcs8PqcKey> {
    let view = |bytes: &[u8]| lc::CBS {
        data: bytes.as_ptr(),
        len: bytes.len(),
    };
    let empty = || view(&[]);
    let mut input = view(der);
    let (mut info, mut algorithm, mut oid, mut octets, mut both, mut seed, mut expanded) = (
        empty(),
        empty(),
        empty(),
        empty(),
        empty(),
        empty(),
        empty(),
    );
    let mut version = u64::MAX;
    // SAFETY: every CBS points into `der` (or is empty), which outlives them; aws-lc only reads
    // through them and advances them; the out-pointers are valid.
    let ok = unsafe {
        lc::CBS_get_asn1(&mut input, &mut info, lc::CBS_ASN1_SEQUENCE as u32) == 1
            && input.len == 0
            && lc::CBS_get_asn1_uint64(&mut info, &mut version) == 1
            && version <= 1
            && lc::CBS_get_asn1(&mut info, &mut algorithm, lc::CBS_ASN1_SEQUENCE as u32) == 1
            && lc::CBS_get_asn1(&mut algorithm, &mut oid, lc::CBS_ASN1_OBJECT as u32) == 1
            && algorithm.len == 0
            && lc::CBS_get_asn1(&mut info, &mut octets, lc::CBS_ASN1_OCTETSTRING as u32) == 1
            && lc::CBS_get_asn1(&mut octets, &mut both, lc::CBS_ASN1_SEQUENCE as u32) == 1
            && octets.len == 0
            && lc::CBS_get_asn1(&mut both, &mut seed, lc::CBS_ASN1_OCTETSTRING as u32) == 1
            && lc::CBS_get_asn1(&mut both, &mut expanded, lc::CBS_ASN1_OCTETSTRING as u32) == 1
            && both.len == 0
    };
    if !ok {
        return super::fail();
    }
    // SAFETY: each CBS read above covers `len` bytes inside `der`.
    let part = |c: &lc::CBS| unsafe { std::slice::from_raw_parts(c.data, c.len) };
    let set = ML_KEM_OIDS
        .iter()
        .find(|(o, _)| o.as_slice() == part(&oid))
        .map(|(_, set)| *set)?;
    let seed: &[u8; 64] = part(&seed).try_into().ok()?;
    let (ek, dk) = ml_kem_keypair_from_seed(set, seed)?;
    if dk.as_slice() != part(&expanded) {
        return None;
    }
    Some(Pkcs8PqcKey {
        set,
        private: dk,
        public: Some(ek),
        seed: Some(Zeroizing::new(seed.to_vec())),
    })
}

/// An ML-KEM private key of parameter set `set` (512, 768, 1024) as PKCS#8 (RFC 9935, written
/// by `EVP_marshal_private_key`): the seed form `[0]` d || z when `seed` is given (the key is
/// regenerated from it), else the expanded form (the OCTET STRING dk).
pub(crate) fn ml_kem_to_pkcs8(
    set: u16,
    seed: Option<&[u8; 64]>,
    dk: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let key = match seed {
        Some(seed) => ml_kem_key_from_seed(set, seed)?,
        None => {
            let nid = pqc_nid(set).filter(|_| set >= 512)?;
            // SAFETY: `dk` is readable for its length; aws-lc checks it against the NID. The
            // key is owned by the `Pkey`.
            Pkey(unsafe { lc::EVP_PKEY_kem_new_raw_secret_key(nid, dk.as_ptr(), dk.len()) })
        }
    };
    if key.0.is_null() {
        return super::fail();
    }
    // SAFETY: `cbb` is the initialised builder `marshal` hands over; `key.0` is a valid key.
    marshal(|cbb| unsafe { lc::EVP_marshal_private_key(cbb, key.0) })
}

/// SHAKE128 (`bits` 128) or SHAKE256 (256) of `data`, `out_len` bytes of output
/// (`EVP_DigestFinalXOF`): the pre-hashes of HashML-DSA with SHAKE (FIPS 204 §5.4).
pub(crate) fn shake(bits: u16, data: &[u8], out_len: usize) -> Option<Vec<u8>> {
    // SAFETY: these return pointers to aws-lc's static digest descriptions.
    let md = unsafe {
        match bits {
            128 => lc::EVP_shake128(),
            256 => lc::EVP_shake256(),
            _ => return None,
        }
    };
    /// An owned `EVP_MD_CTX`.
    struct MdCtx(*mut lc::EVP_MD_CTX);
    impl Drop for MdCtx {
        fn drop(&mut self) {
            // SAFETY: we own the context (null is accepted too) and free it once.
            unsafe { lc::EVP_MD_CTX_free(self.0) }
        }
    }
    // SAFETY: a new digest context, owned by `ctx`.
    let ctx = MdCtx(unsafe { lc::EVP_MD_CTX_new() });
    if ctx.0.is_null() {
        return super::fail();
    }
    let mut out = vec![0u8; out_len];
    // SAFETY: a valid context and static digest, no engine; `data` is readable and `out`
    // writable for their lengths.
    let ok = unsafe {
        lc::EVP_DigestInit_ex(ctx.0, md, null_mut()) == 1
            && lc::EVP_DigestUpdate(ctx.0, data.as_ptr().cast(), data.len()) == 1
            && lc::EVP_DigestFinalXOF(ctx.0, out.as_mut_ptr(), out.len()) == 1
    };
    if !ok {
        return super::fail();
    }
    Some(out)
}
