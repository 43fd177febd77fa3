//! The C ABI boundary to aws-lc for the RSA family: every `aws_lc_sys` call of the family lives in
//! this module, behind safe wrappers. It covers what the aws-lc-rs safe API does not offer: keys
//! built from (or split into) components, raw and PKCS#1 v1.5 type 1 private operations over
//! arbitrary data, PSS with any salt length and MGF1 hash, OAEP with any hash / MGF1 hash / label,
//! key generation at any size from 1024 to 4096 bits, and PKCS#8 marshal/parse.
//!
//! Owned pointers (`RSA*`, `EVP_PKEY*`, `EVP_PKEY_CTX*`, `BIGNUM*`, `BN_CTX*`, `CBB`) are held by
//! RAII types that free them on drop. Failures clear aws-lc's thread-local error queue and come
//! back as `None`/`false`; the parent module maps them to `CKR_*` values.
use super::bignum::{Bn, BnCtx, to_be};
use super::{clear_errors, fail};
use crate::crypto::rsa::Hash;
use aws_lc_sys as ffi;
use std::ffi::{c_int, c_uint, c_void};
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};
use zeroize::Zeroizing;

/// The shape of aws-lc's raw RSA operations (`RSA_sign_raw`, `RSA_verify_raw`, `RSA_encrypt`,
/// `RSA_decrypt`).
type RawRsaOp = unsafe extern "C" fn(
    *mut ffi::RSA,
    *mut usize,
    *mut u8,
    usize,
    *const u8,
    usize,
    c_int,
) -> c_int;

/// The `EVP_MD` of a hash (a static table entry inside aws-lc, never freed).
fn evp_md(hash: Hash) -> *const ffi::EVP_MD {
    // SAFETY: the EVP_sha* functions take no argument and return pointers to static tables.
    unsafe {
        match hash {
            Hash::Sha1 => ffi::EVP_sha1(),
            Hash::Sha224 => ffi::EVP_sha224(),
            Hash::Sha256 => ffi::EVP_sha256(),
            Hash::Sha384 => ffi::EVP_sha384(),
            Hash::Sha512 => ffi::EVP_sha512(),
        }
    }
}

fn nid(hash: Hash) -> c_int {
    match hash {
        Hash::Sha1 => ffi::NID_sha1,
        Hash::Sha224 => ffi::NID_sha224,
        Hash::Sha256 => ffi::NID_sha256,
        Hash::Sha384 => ffi::NID_sha384,
        Hash::Sha512 => ffi::NID_sha512,
    }
}

/// The padding of a raw RSA operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    /// PKCS#1 v1.5: type 1 for signatures, type 2 for encryption.
    Pkcs1,
    /// None (`CKM_RSA_X_509`): the input is exactly the modulus length.
    None,
}

impl Padding {
    fn raw(self) -> c_int {
        match self {
            Padding::Pkcs1 => ffi::RSA_PKCS1_PADDING,
            Padding::None => ffi::RSA_NO_PADDING,
        }
    }
}

/// An owned `EVP_PKEY_CTX`.
struct PkeyCtx(NonNull<ffi::EVP_PKEY_CTX>);

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: self.0 was allocated by EVP_PKEY_CTX_new and is owned by this value only.
        unsafe { ffi::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

/// An owned, initialised `CBB` (growable output buffer), cleaned up on drop.
struct Cbb(Box<MaybeUninit<ffi::CBB>>);

impl Cbb {
    fn new(capacity: usize) -> Option<Cbb> {
        let mut cbb = Box::new(MaybeUninit::<ffi::CBB>::zeroed());
        // SAFETY: cbb points to writable storage for a CBB; CBB_init initialises it.
        if unsafe { ffi::CBB_init(cbb.as_mut_ptr(), capacity) } != 1 {
            return fail();
        }
        Some(Cbb(cbb))
    }

    fn as_mut_ptr(&mut self) -> *mut ffi::CBB {
        self.0.as_mut_ptr()
    }

    /// A copy of the bytes written so far.
    fn contents(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        let cbb = self.as_mut_ptr();
        // SAFETY: cbb is initialised; CBB_flush completes any pending child.
        if unsafe { ffi::CBB_flush(cbb) } != 1 {
            return fail();
        }
        // SAFETY: cbb is initialised and flushed; CBB_data/CBB_len describe its buffer.
        let (data, len) = unsafe { (ffi::CBB_data(cbb), ffi::CBB_len(cbb)) };
        if data.is_null() {
            return fail();
        }
        // SAFETY: data is valid for len reads while the CBB lives (it does for this call).
        Some(Zeroizing::new(
            unsafe { std::slice::from_raw_parts(data, len) }.to_vec(),
        ))
    }
}

impl Drop for Cbb {
    fn drop(&mut self) {
        // SAFETY: the CBB was initialised by CBB_init; CBB_cleanup frees its buffer (aws-lc's
        // OPENSSL_free clears it first).
        unsafe { ffi::CBB_cleanup(self.0.as_mut_ptr()) }
    }
}

/// The components of an RSA key, big-endian, minimal.
pub(crate) struct Components {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Option<Zeroizing<Vec<u8>>>,
    /// p, q, d mod (p-1), d mod (q-1), q^-1 mod p.
    pub crt: Option<[Zeroizing<Vec<u8>>; 5]>,
}

/// An RSA key inside aws-lc: the `RSA` object and an `EVP_PKEY` wrapping it (for the EVP-level
/// operations: OAEP with a label, PKCS#8). Immutable after construction.
pub(crate) struct RsaHandle {
    rsa: NonNull<ffi::RSA>,
    pkey: NonNull<ffi::EVP_PKEY>,
}

// SAFETY: the handle owns one reference to each object and never mutates them through the safe
// API. aws-lc documents RSA objects as safe to use from several threads at once for public and
// private operations: the lazily computed Montgomery contexts are set up under the RSA's internal
// lock, and blinding values are taken from a lock-protected cache (or made per call). aws-lc-rs
// relies on the same property for its `Send + Sync` `RsaKeyPair`. EVP_PKEY_CTX_new only takes an
// atomic reference on the EVP_PKEY.
unsafe impl Send for RsaHandle {}
// SAFETY: see the `Send` impl: concurrent use through `&RsaHandle` is thread-safe in aws-lc.
unsafe impl Sync for RsaHandle {}

impl Drop for RsaHandle {
    fn drop(&mut self) {
        // SAFETY: each pointer holds one reference owned by this handle (the EVP_PKEY holds its
        // own extra reference to the RSA, released by EVP_PKEY_free).
        unsafe {
            ffi::EVP_PKEY_free(self.pkey.as_ptr());
            ffi::RSA_free(self.rsa.as_ptr());
        }
    }
}

impl RsaHandle {
    /// Takes ownership of `rsa` (one reference) and wraps it in an `EVP_PKEY`.
    fn from_rsa(rsa: *mut ffi::RSA) -> Option<RsaHandle> {
        let Some(rsa) = NonNull::new(rsa) else {
            return fail();
        };
        // SAFETY: EVP_PKEY_new has no preconditions.
        let pkey = unsafe { ffi::EVP_PKEY_new() };
        let Some(pkey) = NonNull::new(pkey) else {
            // SAFETY: we own the reference to rsa and give it up here.
            unsafe { ffi::RSA_free(rsa.as_ptr()) };
            return fail();
        };
        let handle = RsaHandle { rsa, pkey };
        // SAFETY: both pointers are valid; set1 takes its own reference to the RSA.
        if unsafe { ffi::EVP_PKEY_set1_RSA(pkey.as_ptr(), rsa.as_ptr()) } != 1 {
            return fail(); // handle's Drop frees both
        }
        Some(handle)
    }

    /// A public key (n, e); aws-lc checks n is odd and at most 16384 bits, e odd and >= 3.
    pub fn new_public(n: &[u8], e: &[u8]) -> Option<RsaHandle> {
        let (n, e) = (Bn::from_be(n)?, Bn::from_be(e)?);
        // SAFETY: n and e are valid BIGNUMs; the function copies them.
        RsaHandle::from_rsa(unsafe { ffi::RSA_new_public_key(n.as_mut_ptr(), e.as_mut_ptr()) })
    }

    /// A private key, with all CRT components or none; aws-lc runs `RSA_check_key` on it.
    pub fn new_private(n: &[u8], e: &[u8], d: &[u8], crt: Option<[&[u8]; 5]>) -> Option<RsaHandle> {
        let (n, e, d) = (Bn::from_be(n)?, Bn::from_be(e)?, Bn::from_be(d)?);
        let rsa = match crt {
            Some([p, q, dp, dq, qinv]) => {
                let (p, q) = (Bn::from_be(p)?, Bn::from_be(q)?);
                let (dp, dq, qinv) = (Bn::from_be(dp)?, Bn::from_be(dq)?, Bn::from_be(qinv)?);
                // SAFETY: all arguments are valid BIGNUMs; the function copies them.
                unsafe {
                    ffi::RSA_new_private_key(
                        n.as_mut_ptr(),
                        e.as_mut_ptr(),
                        d.as_mut_ptr(),
                        p.as_mut_ptr(),
                        q.as_mut_ptr(),
                        dp.as_mut_ptr(),
                        dq.as_mut_ptr(),
                        qinv.as_mut_ptr(),
                    )
                }
            }
            // SAFETY: all arguments are valid BIGNUMs; the function copies them.
            None => unsafe {
                ffi::RSA_new_private_key_no_crt(n.as_mut_ptr(), e.as_mut_ptr(), d.as_mut_ptr())
            },
        };
        RsaHandle::from_rsa(rsa)
    }

    /// Generates a key of exactly `bits` bits with public exponent `e` (odd, 3 ..= 2^32-1).
    pub fn generate(bits: usize, e: u64) -> Option<RsaHandle> {
        if bits & 127 == 0 {
            Self::generate_standard(bits, e)
        } else {
            Self::generate_any_size(bits, e)
        }
    }

    /// aws-lc's own generator (FIPS 186-4 B.3 style); it only makes multiples of 128 bits.
    fn generate_standard(bits: usize, e: u64) -> Option<RsaHandle> {
        let bits = c_int::try_from(bits).ok()?;
        let e = Bn::from_u64(e)?;
        // SAFETY: RSA_new has no preconditions.
        let handle = Self::from_rsa(unsafe { ffi::RSA_new() })?;
        // SAFETY: the RSA is freshly allocated and not yet shared; e is a valid BIGNUM; the
        // callback may be null.
        let ok = unsafe {
            ffi::RSA_generate_key_ex(handle.rsa.as_ptr(), bits, e.as_mut_ptr(), ptr::null_mut())
        };
        (ok == 1 && handle.bits() == bits as usize)
            .then_some(handle)
            .or_else(fail)
    }

    /// Sizes that are not a multiple of 128 bits: two primes whose top two bits are set (so their
    /// product has exactly `bits` bits), then d = e^-1 mod lcm(p-1, q-1) and the CRT values;
    /// `RSA_new_private_key` checks the result.
    fn generate_any_size(bits: usize, e: u64) -> Option<RsaHandle> {
        let p_bits = c_int::try_from(bits.div_ceil(2)).ok()?;
        let q_bits = c_int::try_from(bits / 2).ok()?;
        let ctx = BnCtx::new()?;
        let e_bn = Bn::from_u64(e)?;
        let one = Bn::from_u64(1)?;
        let prime = |bits: c_int| -> Option<(Bn, Bn)> {
            // A prime r with gcd(r - 1, e) = 1, and r - 1.
            for _ in 0..1000 {
                let r = Bn::new()?;
                // SAFETY: r is a valid BIGNUM; add/rem/callback may be null.
                let ok = unsafe {
                    ffi::BN_generate_prime_ex(
                        r.as_mut_ptr(),
                        bits,
                        0,
                        ptr::null(),
                        ptr::null(),
                        ptr::null_mut(),
                    )
                };
                if ok != 1 {
                    return fail();
                }
                let (r1, g) = (Bn::new()?, Bn::new()?);
                // SAFETY: all BIGNUMs are valid and distinct; ctx is a valid BN_CTX.
                let ok = unsafe {
                    ffi::BN_sub(r1.as_mut_ptr(), r.as_mut_ptr(), one.as_mut_ptr()) == 1
                        && ffi::BN_gcd(
                            g.as_mut_ptr(),
                            r1.as_mut_ptr(),
                            e_bn.as_mut_ptr(),
                            ctx.as_mut_ptr(),
                        ) == 1
                };
                if !ok {
                    return fail();
                }
                // SAFETY: g is a valid BIGNUM.
                if unsafe { ffi::BN_is_one(g.as_mut_ptr()) } == 1 {
                    return Some((r, r1));
                }
            }
            None
        };
        for _ in 0..100 {
            let (mut p, mut p1) = prime(p_bits)?;
            let (mut q, mut q1) = prime(q_bits)?;
            // SAFETY: p and q are valid BIGNUMs.
            let cmp = unsafe { ffi::BN_cmp(p.as_mut_ptr(), q.as_mut_ptr()) };
            if cmp == 0 {
                continue;
            }
            if cmp < 0 {
                std::mem::swap(&mut p, &mut q);
                std::mem::swap(&mut p1, &mut q1);
            }
            let (n, phi, g, lcm, rem) =
                (Bn::new()?, Bn::new()?, Bn::new()?, Bn::new()?, Bn::new()?);
            let (dp, dq) = (Bn::new()?, Bn::new()?);
            let c = ctx.as_mut_ptr();
            // SAFETY: all BIGNUMs are valid, outputs are distinct from inputs, c is a BN_CTX.
            let ok = unsafe {
                ffi::BN_mul(n.as_mut_ptr(), p.as_mut_ptr(), q.as_mut_ptr(), c) == 1
                    && ffi::BN_mul(phi.as_mut_ptr(), p1.as_mut_ptr(), q1.as_mut_ptr(), c) == 1
                    && ffi::BN_gcd(g.as_mut_ptr(), p1.as_mut_ptr(), q1.as_mut_ptr(), c) == 1
                    && ffi::BN_div(
                        lcm.as_mut_ptr(),
                        rem.as_mut_ptr(),
                        phi.as_mut_ptr(),
                        g.as_mut_ptr(),
                        c,
                    ) == 1
            };
            if !ok {
                return fail();
            }
            // SAFETY: n is a valid BIGNUM.
            if unsafe { ffi::BN_num_bits(n.as_mut_ptr()) } as usize != bits {
                continue;
            }
            // SAFETY: valid BIGNUMs and ctx; a null `out` asks for a new BIGNUM.
            let d = NonNull::new(unsafe {
                ffi::BN_mod_inverse(ptr::null_mut(), e_bn.as_mut_ptr(), lcm.as_mut_ptr(), c)
            })
            .map(Bn);
            let Some(d) = d else {
                clear_errors();
                continue;
            };
            // SAFETY: valid BIGNUMs and ctx; a null `out` asks for a new BIGNUM.
            let qinv = NonNull::new(unsafe {
                ffi::BN_mod_inverse(ptr::null_mut(), q.as_mut_ptr(), p.as_mut_ptr(), c)
            })
            .map(Bn);
            let Some(qinv) = qinv else {
                clear_errors();
                continue;
            };
            // SAFETY: valid, distinct BIGNUMs and ctx.
            let ok = unsafe {
                ffi::BN_nnmod(dp.as_mut_ptr(), d.as_mut_ptr(), p1.as_mut_ptr(), c) == 1
                    && ffi::BN_nnmod(dq.as_mut_ptr(), d.as_mut_ptr(), q1.as_mut_ptr(), c) == 1
            };
            if !ok {
                return fail();
            }
            // SAFETY: all arguments are valid BIGNUMs; the function copies them and checks the
            // key with RSA_check_key.
            let rsa = unsafe {
                ffi::RSA_new_private_key(
                    n.as_mut_ptr(),
                    e_bn.as_mut_ptr(),
                    d.as_mut_ptr(),
                    p.as_mut_ptr(),
                    q.as_mut_ptr(),
                    dp.as_mut_ptr(),
                    dq.as_mut_ptr(),
                    qinv.as_mut_ptr(),
                )
            };
            return Self::from_rsa(rsa);
        }
        None
    }

    /// Parses a PKCS#8 `PrivateKeyInfo` holding an `rsaEncryption` key (no trailing data).
    pub fn from_pkcs8(der: &[u8]) -> Option<RsaHandle> {
        let mut cbs = MaybeUninit::<ffi::CBS>::uninit();
        // SAFETY: cbs is writable storage for a CBS; der outlives every use of it.
        unsafe { ffi::CBS_init(cbs.as_mut_ptr(), der.as_ptr(), der.len()) };
        // SAFETY: CBS_init initialised cbs; EVP_parse_private_key advances it over what it reads.
        let pkey = unsafe { ffi::EVP_parse_private_key(cbs.as_mut_ptr()) };
        let Some(pkey) = NonNull::new(pkey) else {
            return fail();
        };
        // SAFETY: cbs is initialised (above).
        let rest = unsafe { ffi::CBS_len(cbs.as_ptr()) };
        // SAFETY: pkey is a valid EVP_PKEY owned by us.
        let (id, rsa) = unsafe {
            (
                ffi::EVP_PKEY_id(pkey.as_ptr()),
                ffi::EVP_PKEY_get1_RSA(pkey.as_ptr()),
            )
        };
        // SAFETY: we own one reference to pkey; rsa (if any) holds its own reference.
        unsafe { ffi::EVP_PKEY_free(pkey.as_ptr()) };
        if rest != 0 || id != ffi::EVP_PKEY_RSA {
            if !rsa.is_null() {
                // SAFETY: get1 gave us a reference, released here.
                unsafe { ffi::RSA_free(rsa) };
            }
            return fail();
        }
        let handle = Self::from_rsa(rsa)?;
        handle.is_private().then_some(handle)
    }

    /// The PKCS#8 `PrivateKeyInfo` DER of a private key with CRT components.
    pub fn to_pkcs8(&self) -> Option<Zeroizing<Vec<u8>>> {
        let mut cbb = Cbb::new(256 + 5 * self.size())?;
        // SAFETY: cbb is initialised and pkey is a valid EVP_PKEY.
        if unsafe { ffi::EVP_marshal_private_key(cbb.as_mut_ptr(), self.pkey.as_ptr()) } != 1 {
            return fail();
        }
        cbb.contents()
    }

    fn rsa(&self) -> *mut ffi::RSA {
        self.rsa.as_ptr()
    }

    pub fn bits(&self) -> usize {
        // SAFETY: rsa is valid for the life of self.
        unsafe { ffi::RSA_bits(self.rsa()) as usize }
    }

    /// The modulus length in bytes (k).
    pub fn size(&self) -> usize {
        // SAFETY: rsa is valid for the life of self.
        unsafe { ffi::RSA_size(self.rsa()) as usize }
    }

    pub fn is_private(&self) -> bool {
        // SAFETY: rsa is valid for the life of self.
        !unsafe { ffi::RSA_get0_d(self.rsa()) }.is_null()
    }

    pub fn components(&self) -> Option<Components> {
        let rsa = self.rsa();
        // SAFETY: rsa is valid; the getters return borrowed pointers (possibly null) that live as
        // long as rsa, and to_be copies them out immediately.
        unsafe {
            let n = to_be(ffi::RSA_get0_n(rsa))?;
            let e = to_be(ffi::RSA_get0_e(rsa))?;
            let d = to_be(ffi::RSA_get0_d(rsa)).map(Zeroizing::new);
            let crt = (|| {
                Some([
                    Zeroizing::new(to_be(ffi::RSA_get0_p(rsa))?),
                    Zeroizing::new(to_be(ffi::RSA_get0_q(rsa))?),
                    Zeroizing::new(to_be(ffi::RSA_get0_dmp1(rsa))?),
                    Zeroizing::new(to_be(ffi::RSA_get0_dmq1(rsa))?),
                    Zeroizing::new(to_be(ffi::RSA_get0_iqmp(rsa))?),
                ])
            })();
            Some(Components { n, e, d, crt })
        }
    }

    /// RSASSA-PKCS1-v1_5 over a digest (DigestInfo added by aws-lc); `out` is k bytes.
    pub fn sign_digest_pkcs1(&self, hash: Hash, digest: &[u8], out: &mut [u8]) -> Option<usize> {
        if out.len() < self.size() {
            return None;
        }
        let mut out_len: c_uint = 0;
        // SAFETY: digest is valid for its length; out has at least RSA_size bytes, which is the
        // most RSA_sign writes; rsa is a valid private key (checked by the caller, and aws-lc
        // fails cleanly otherwise).
        let ok = unsafe {
            ffi::RSA_sign(
                nid(hash),
                digest.as_ptr(),
                digest.len(),
                out.as_mut_ptr(),
                &mut out_len,
                self.rsa(),
            )
        };
        (ok == 1).then_some(out_len as usize).or_else(fail)
    }

    pub fn verify_digest_pkcs1(&self, hash: Hash, digest: &[u8], sig: &[u8]) -> bool {
        // SAFETY: digest and sig are valid for their lengths; rsa is valid.
        let ok = unsafe {
            ffi::RSA_verify(
                nid(hash),
                digest.as_ptr(),
                digest.len(),
                sig.as_ptr(),
                sig.len(),
                self.rsa(),
            )
        };
        ok == 1 || {
            clear_errors();
            false
        }
    }

    /// One of aws-lc's four raw RSA calls that share a signature (`RSA_sign_raw`,
    /// `RSA_verify_raw`, `RSA_encrypt`, `RSA_decrypt`): `input` through the key with `padding`
    /// into `out`, returning the output length.
    fn raw_op(
        &self,
        op: RawRsaOp,
        padding: Padding,
        input: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let mut out_len = 0usize;
        // SAFETY: `op` is one of the four aws-lc functions above; input and out are valid for
        // their lengths and max_out is out.len().
        let ok = unsafe {
            op(
                self.rsa(),
                &mut out_len,
                out.as_mut_ptr(),
                out.len(),
                input.as_ptr(),
                input.len(),
                padding.raw(),
            )
        };
        (ok == 1 && out_len <= out.len())
            .then_some(out_len)
            .or_else(fail)
    }

    /// The private-key operation with PKCS#1 type 1 padding or none; `out` is k bytes.
    pub fn sign_raw(&self, padding: Padding, input: &[u8], out: &mut [u8]) -> Option<usize> {
        self.raw_op(ffi::RSA_sign_raw, padding, input, out)
    }

    /// The public-key operation on a signature, removing type 1 padding (or none).
    pub fn verify_raw(&self, padding: Padding, sig: &[u8], out: &mut [u8]) -> Option<usize> {
        self.raw_op(ffi::RSA_verify_raw, padding, sig, out)
    }

    /// RSASSA-PSS over a digest with the given MGF1 hash and salt length; `out` is k bytes.
    pub fn sign_pss(
        &self,
        hash: Hash,
        mgf: Hash,
        salt_len: usize,
        digest: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let salt_len = c_int::try_from(salt_len).ok()?;
        let mut out_len = 0usize;
        // SAFETY: digest and out are valid for their lengths, max_out is out.len(), the EVP_MDs
        // are static tables.
        let ok = unsafe {
            ffi::RSA_sign_pss_mgf1(
                self.rsa(),
                &mut out_len,
                out.as_mut_ptr(),
                out.len(),
                digest.as_ptr(),
                digest.len(),
                evp_md(hash),
                evp_md(mgf),
                salt_len,
            )
        };
        (ok == 1 && out_len <= out.len())
            .then_some(out_len)
            .or_else(fail)
    }

    pub fn verify_pss(
        &self,
        hash: Hash,
        mgf: Hash,
        salt_len: usize,
        digest: &[u8],
        sig: &[u8],
    ) -> bool {
        let Ok(salt_len) = c_int::try_from(salt_len) else {
            return false;
        };
        // SAFETY: digest and sig are valid for their lengths; the EVP_MDs are static tables.
        let ok = unsafe {
            ffi::RSA_verify_pss_mgf1(
                self.rsa(),
                digest.as_ptr(),
                digest.len(),
                evp_md(hash),
                evp_md(mgf),
                salt_len,
                sig.as_ptr(),
                sig.len(),
            )
        };
        ok == 1 || {
            clear_errors();
            false
        }
    }

    /// Public-key encryption with PKCS#1 type 2 padding or none; `out` is k bytes.
    pub fn encrypt(&self, padding: Padding, input: &[u8], out: &mut [u8]) -> Option<usize> {
        self.raw_op(ffi::RSA_encrypt, padding, input, out)
    }

    /// Private-key decryption removing PKCS#1 type 2 padding (or none); `out` is k bytes.
    pub fn decrypt(&self, padding: Padding, input: &[u8], out: &mut [u8]) -> Option<usize> {
        self.raw_op(ffi::RSA_decrypt, padding, input, out)
    }

    /// An `EVP_PKEY_CTX` set up for OAEP encryption or decryption with the given parameters.
    fn oaep_ctx(&self, encrypt: bool, hash: Hash, mgf: Hash, label: &[u8]) -> Option<PkeyCtx> {
        // SAFETY: pkey is valid; the context takes its own reference; the engine may be null.
        let ctx =
            NonNull::new(unsafe { ffi::EVP_PKEY_CTX_new(self.pkey.as_ptr(), ptr::null_mut()) })
                .map(PkeyCtx)
                .or_else(fail)?;
        let c = ctx.0.as_ptr();
        // SAFETY: c is a valid EVP_PKEY_CTX over an RSA key; the EVP_MDs are static tables.
        let ok = unsafe {
            (if encrypt {
                ffi::EVP_PKEY_encrypt_init(c)
            } else {
                ffi::EVP_PKEY_decrypt_init(c)
            }) == 1
                && ffi::EVP_PKEY_CTX_set_rsa_padding(c, ffi::RSA_PKCS1_OAEP_PADDING) == 1
                && ffi::EVP_PKEY_CTX_set_rsa_oaep_md(c, evp_md(hash)) == 1
                && ffi::EVP_PKEY_CTX_set_rsa_mgf1_md(c, evp_md(mgf)) == 1
        };
        if !ok {
            return fail();
        }
        if !label.is_empty() {
            // SAFETY: OPENSSL_malloc has no preconditions; null is handled.
            let buf = unsafe { ffi::OPENSSL_malloc(label.len()) }.cast::<u8>();
            if buf.is_null() {
                return fail();
            }
            // SAFETY: buf has label.len() writable bytes and does not overlap label.
            unsafe { ptr::copy_nonoverlapping(label.as_ptr(), buf, label.len()) };
            // SAFETY: c is valid; on success the context owns buf (freed with OPENSSL_free).
            if unsafe { ffi::EVP_PKEY_CTX_set0_rsa_oaep_label(c, buf, label.len()) } != 1 {
                // SAFETY: ownership was not taken, so buf is still ours to free.
                unsafe { ffi::OPENSSL_free(buf.cast::<c_void>()) };
                return fail();
            }
        }
        Some(ctx)
    }

    /// RSAES-OAEP encryption; returns the k-byte ciphertext.
    pub fn oaep_encrypt(
        &self,
        hash: Hash,
        mgf: Hash,
        label: &[u8],
        input: &[u8],
    ) -> Option<Vec<u8>> {
        let ctx = self.oaep_ctx(true, hash, mgf, label)?;
        let mut out = vec![0u8; self.size()];
        let mut out_len = out.len();
        // SAFETY: ctx is initialised for encryption; out has out_len writable bytes; input is
        // valid for its length.
        let ok = unsafe {
            ffi::EVP_PKEY_encrypt(
                ctx.0.as_ptr(),
                out.as_mut_ptr(),
                &mut out_len,
                input.as_ptr(),
                input.len(),
            )
        };
        if ok != 1 || out_len > out.len() {
            return fail();
        }
        out.truncate(out_len);
        Some(out)
    }

    /// RSAES-OAEP decryption.
    pub fn oaep_decrypt(
        &self,
        hash: Hash,
        mgf: Hash,
        label: &[u8],
        input: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let ctx = self.oaep_ctx(false, hash, mgf, label)?;
        let mut out = Zeroizing::new(vec![0u8; self.size()]);
        let mut out_len = out.len();
        // SAFETY: ctx is initialised for decryption; out has out_len writable bytes; input is
        // valid for its length.
        let ok = unsafe {
            ffi::EVP_PKEY_decrypt(
                ctx.0.as_ptr(),
                out.as_mut_ptr(),
                &mut out_len,
                input.as_ptr(),
                input.len(),
            )
        };
        if ok != 1 || out_len > out.len() {
            return fail();
        }
        out.truncate(out_len);
        Some(out)
    }
}
