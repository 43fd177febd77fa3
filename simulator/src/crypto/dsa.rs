//! DSA (FIPS 186-4) on aws-lc: `CKM_DSA_PARAMETER_GEN` (a `CKO_DOMAIN_PARAMETERS` object with
//! `CKA_PRIME`, `CKA_SUBPRIME`, `CKA_BASE`, `CKA_PRIME_BITS`), `CKM_DSA_KEY_PAIR_GEN` (domain
//! parameters from the public template), `CKM_DSA` (the data is the digest) and
//! `CKM_DSA_SHA1`, `CKM_DSA_SHA224`, `CKM_DSA_SHA256`, `CKM_DSA_SHA384`, `CKM_DSA_SHA512`.
//! Signatures are PKCS#11's `r || s`, each half as long as the subprime.
//!
//! aws-lc-rs has no DSA, so this family calls aws-lc through aws-lc-sys (the `ffi` submodule,
//! which `dh.rs` shares for its bignums): parameter and key generation, signing and verifying
//! are aws-lc's `DSA_generate_parameters_ex`, `DSA_generate_key`, `DSA_do_sign` and
//! `DSA_do_verify`; a private key's public value (which PKCS#11 private keys do not carry, and
//! which aws-lc requires) is recomputed as `g^x mod p` with aws-lc's constant-time modular
//! exponentiation.
//!
//! Choices (simulator-defined where PKCS#11 is silent):
//! - prime sizes 512 to 3072 bits for parameter generation (a subprime of 160 bits below 2048,
//!   256 bits from 2048, as aws-lc chooses) and for keys; subprimes of 160, 224 or 256 bits
//!   (aws-lc's limits). Others are `CKR_KEY_SIZE_RANGE` (`CKR_TEMPLATE_INCONSISTENT` for a
//!   parameter-generation template without `CKA_PRIME_BITS`: it is `CKR_TEMPLATE_INCOMPLETE`);
//! - `CKM_DSA` signs any digest length (aws-lc truncates digests longer than the subprime);
//! - a signature of the wrong length is `CKR_SIGNATURE_LEN_RANGE`.
use super::*;
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const MIN_BITS: usize = 512;
const MAX_BITS: usize = 3072;

/// A DSA key: the domain parameters and either the public value `y` or the private value `x`.
pub struct DsaKey {
    p: Vec<u8>,
    q: Vec<u8>,
    g: Vec<u8>,
    value: Zeroizing<Vec<u8>>,
    private: bool,
}

impl DsaKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<DsaKey> {
        Ok(DsaKey {
            p: attrs.require_bytes(CKA_PRIME)?.to_vec(),
            q: attrs.require_bytes(CKA_SUBPRIME)?.to_vec(),
            g: attrs.require_bytes(CKA_BASE)?.to_vec(),
            value: Zeroizing::new(attrs.require_bytes(CKA_VALUE)?.to_vec()),
            private: class == CKO_PRIVATE_KEY,
        })
    }

    /// The aws-lc key, checked (`CKR_KEY_SIZE_RANGE` for out-of-range sizes).
    fn dsa(&self) -> Result<ffi::Dsa> {
        check_sizes(&self.p, &self.q)?;
        let dsa = if self.private {
            ffi::Dsa::new(&self.p, &self.q, &self.g, None, Some(&self.value))
        } else {
            ffi::Dsa::new(&self.p, &self.q, &self.g, Some(&self.value), None)
        };
        dsa.ok_or_else(|| err(CKR_KEY_TYPE_INCONSISTENT, "aws-lc refuses this DSA key"))
    }

    fn q_len(&self) -> usize {
        ffi::significant(&self.q).len()
    }
}

fn check_sizes(p: &[u8], q: &[u8]) -> Result<()> {
    let p_bits = ffi::bit_len(p);
    let q_bits = ffi::bit_len(q);
    if !(MIN_BITS..=MAX_BITS).contains(&p_bits) || !matches!(q_bits, 160 | 224 | 256) {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            "DSA primes are 512 to 3072 bits with a 160, 224 or 256-bit subprime",
        ));
    }
    Ok(())
}

/// `CKM_DSA_PARAMETER_GEN`: the attributes of the new domain parameters object.
pub fn generate_parameters(template: &Attributes) -> Result<Attributes> {
    let bits = template.require_ulong(CKA_PRIME_BITS)? as usize;
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            "DSA domain parameters are 512 to 3072 bits",
        ));
    }
    let (p, q, g) = ffi::generate_parameters(bits)
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "DSA parameter generation failed"))?;
    let mut out = Attributes::new();
    out.set_ulong(CKA_KEY_TYPE, CKK_DSA);
    out.set_ulong(CKA_PRIME_BITS, ffi::bit_len(&p) as CK_ULONG);
    out.set_bytes(CKA_PRIME, p);
    out.set_bytes(CKA_SUBPRIME, q);
    out.set_bytes(CKA_BASE, g);
    out.set_bool(CKA_LOCAL, true);
    Ok(out)
}

/// `CKM_DSA_KEY_PAIR_GEN`: the domain parameters come from the public template.
pub fn generate_key_pair(
    public_template: &Attributes,
    _private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let p = public_template.require_bytes(CKA_PRIME)?;
    let q = public_template.require_bytes(CKA_SUBPRIME)?;
    let g = public_template.require_bytes(CKA_BASE)?;
    check_sizes(p, q)?;
    let (y, x) = ffi::generate_key(p, q, g).ok_or_else(|| {
        err(
            CKR_TEMPLATE_INCONSISTENT,
            "aws-lc cannot generate a key with these domain parameters",
        )
    })?;
    let mut public = Attributes::new();
    let mut private = Attributes::new();
    for a in [&mut public, &mut private] {
        a.set_ulong(CKA_KEY_TYPE, CKK_DSA);
        a.set_bytes(CKA_PRIME, p.to_vec());
        a.set_bytes(CKA_SUBPRIME, q.to_vec());
        a.set_bytes(CKA_BASE, g.to_vec());
    }
    public.set_bytes(CKA_VALUE, y);
    private.set_bytes(CKA_VALUE, x.to_vec());
    Ok((public, private))
}

fn dsa_key(key: &KeyMaterial) -> Result<&DsaKey> {
    match key {
        KeyMaterial::Dsa(k) => Ok(k),
        _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "a DSA key is required")),
    }
}

/// The digest of a hashed DSA mechanism (`None` for `CKM_DSA`, whose data is the digest).
fn hasher(mech: &Mechanism) -> Result<Option<Box<dyn DigestOperation>>> {
    mech.expect_no_params()?;
    let digest = match mech.mechanism_type {
        CKM_DSA => return Ok(None),
        CKM_DSA_SHA1 => CKM_SHA_1,
        CKM_DSA_SHA224 => CKM_SHA224,
        CKM_DSA_SHA256 => CKM_SHA256,
        CKM_DSA_SHA384 => CKM_SHA384,
        CKM_DSA_SHA512 => CKM_SHA512,
        _ => return Err(err(CKR_MECHANISM_INVALID, "not a DSA mechanism")),
    };
    digest::digester(digest).map(Some)
}

/// Collects the data (`CKM_DSA`) or hashes it (`CKM_DSA_SHA*`).
struct Input {
    hash: Option<Box<dyn DigestOperation>>,
    data: Vec<u8>,
    done: bool,
}

impl Input {
    fn new(mech: &Mechanism) -> Result<Input> {
        Ok(Input {
            hash: hasher(mech)?,
            data: Vec::new(),
            done: false,
        })
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.done {
            return Err(finished());
        }
        match &mut self.hash {
            Some(h) => h.update(data),
            None => self.data.extend_from_slice(data),
        }
        Ok(())
    }
    fn digest(&mut self) -> Result<Vec<u8>> {
        if self.done {
            return Err(finished());
        }
        self.done = true;
        Ok(match &mut self.hash {
            Some(h) => h.finish(),
            None => std::mem::take(&mut self.data),
        })
    }
}

fn finished() -> crate::base::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "the operation has already finished",
    )
}

pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    let k = dsa_key(key)?;
    if !k.private {
        return Err(err(
            CKR_KEY_TYPE_INCONSISTENT,
            "signing needs a private key",
        ));
    }
    let dsa = k.dsa()?;
    Ok(Box::new(DsaSign {
        input: Input::new(mech)?,
        dsa,
        q_len: k.q_len(),
    }))
}

pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    let k = dsa_key(key)?;
    if k.private {
        return Err(err(
            CKR_KEY_TYPE_INCONSISTENT,
            "verification needs a public key",
        ));
    }
    let dsa = k.dsa()?;
    Ok(Box::new(DsaVerify {
        input: Input::new(mech)?,
        dsa,
        q_len: k.q_len(),
    }))
}

struct DsaSign {
    input: Input,
    dsa: ffi::Dsa,
    q_len: usize,
}

impl SignOperation for DsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let digest = self.input.digest()?;
        self.dsa
            .sign(&digest, self.q_len)
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "DSA signing failed"))
    }
}

struct DsaVerify {
    input: Input,
    dsa: ffi::Dsa,
    q_len: usize,
}

impl VerifyOperation for DsaVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let digest = self.input.digest()?;
        if signature.len() != 2 * self.q_len {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                "a DSA signature is twice the subprime's length",
            ));
        }
        let (r, s) = signature.split_at(self.q_len);
        if self.dsa.verify(&digest, r, s) {
            Ok(())
        } else {
            Err(err(
                CKR_SIGNATURE_INVALID,
                "the DSA signature does not verify",
            ))
        }
    }
}

/// The C ABI boundary to aws-lc (through aws-lc-sys) for DSA, and the bignum helpers `dh.rs`
/// shares. Every `unsafe` block of the DSA and DH families is here; every pointer aws-lc hands
/// out is owned by an RAII wrapper that frees it on drop; failures come back as `None`/`false`.
pub(super) mod ffi {
    use aws_lc_sys as lc;
    use std::ptr::{NonNull, null, null_mut};
    use zeroize::Zeroizing;

    /// `bytes` without leading zero bytes.
    pub(crate) fn significant(bytes: &[u8]) -> &[u8] {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        &bytes[start..]
    }

    /// The bit length of a big-endian unsigned integer.
    pub(crate) fn bit_len(bytes: &[u8]) -> usize {
        let s = significant(bytes);
        match s.first() {
            Some(top) => (s.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
            None => 0,
        }
    }

    /// An owned `BIGNUM`, cleared and freed on drop.
    pub(crate) struct Bn(NonNull<lc::BIGNUM>);

    impl Bn {
        pub(crate) fn from_be(bytes: &[u8]) -> Option<Bn> {
            // SAFETY: `bytes` is valid for `bytes.len()` bytes; a null `ret` asks aws-lc to
            // allocate a new BIGNUM, which we own from here on.
            let p = unsafe { lc::BN_bin2bn(bytes.as_ptr(), bytes.len(), null_mut()) };
            NonNull::new(p).map(Bn)
        }
        pub(crate) fn new() -> Option<Bn> {
            // SAFETY: allocates a fresh BIGNUM (or returns null), which we own.
            NonNull::new(unsafe { lc::BN_new() }).map(Bn)
        }
        pub(crate) fn as_ptr(&self) -> *const lc::BIGNUM {
            self.0.as_ptr()
        }
        pub(crate) fn as_mut_ptr(&mut self) -> *mut lc::BIGNUM {
            self.0.as_ptr()
        }
        /// Gives up ownership (to a call that takes it over, such as `DSA_set0_pqg`).
        pub(crate) fn into_raw(self) -> *mut lc::BIGNUM {
            let p = self.0.as_ptr();
            std::mem::forget(self);
            p
        }
    }

    impl Drop for Bn {
        fn drop(&mut self) {
            // SAFETY: we own this BIGNUM, allocated by aws-lc, and free it exactly once.
            unsafe { lc::BN_clear_free(self.0.as_ptr()) }
        }
    }

    /// The minimal big-endian encoding of a BIGNUM aws-lc owns (`None` if null).
    pub(crate) fn to_be(bn: *const lc::BIGNUM) -> Option<Vec<u8>> {
        padded(bn, 0)
    }

    /// A BIGNUM's big-endian encoding left-padded to `len` bytes (or minimal when `len` is
    /// smaller than its length).
    pub(crate) fn padded(bn: *const lc::BIGNUM, len: usize) -> Option<Vec<u8>> {
        if bn.is_null() {
            return None;
        }
        // SAFETY: `bn` is a valid BIGNUM (non-null, owned by a live aws-lc object).
        let n = unsafe { lc::BN_num_bytes(bn) } as usize;
        let mut out = vec![0u8; n.max(len)];
        // SAFETY: `out` is writable for `out.len()` bytes, enough for the value.
        let ok = unsafe { lc::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), bn) };
        (ok == 1).then_some(out)
    }

    /// An owned `BN_CTX`.
    pub(crate) struct BnCtx(NonNull<lc::BN_CTX>);

    impl BnCtx {
        pub(crate) fn new() -> Option<BnCtx> {
            // SAFETY: allocates a fresh BN_CTX (or returns null), which we own.
            NonNull::new(unsafe { lc::BN_CTX_new() }).map(BnCtx)
        }
        pub(crate) fn as_mut_ptr(&mut self) -> *mut lc::BN_CTX {
            self.0.as_ptr()
        }
    }

    impl Drop for BnCtx {
        fn drop(&mut self) {
            // SAFETY: we own this BN_CTX and free it exactly once.
            unsafe { lc::BN_CTX_free(self.0.as_ptr()) }
        }
    }

    /// An owned `DSA`.
    pub(crate) struct Dsa(NonNull<lc::DSA>);

    // SAFETY: a `DSA` is only read by `DSA_do_sign` / `DSA_do_verify` (aws-lc locks its lazily
    // built Montgomery contexts), and this wrapper gives no shared mutable access.
    unsafe impl Send for Dsa {}

    impl Drop for Dsa {
        fn drop(&mut self) {
            // SAFETY: we own this DSA and free it exactly once.
            unsafe { lc::DSA_free(self.0.as_ptr()) }
        }
    }

    /// An owned `DSA_SIG`.
    struct Sig(NonNull<lc::DSA_SIG>);

    impl Drop for Sig {
        fn drop(&mut self) {
            // SAFETY: we own this DSA_SIG and free it exactly once.
            unsafe { lc::DSA_SIG_free(self.0.as_ptr()) }
        }
    }

    fn new_dsa() -> Option<Dsa> {
        // SAFETY: allocates a fresh DSA (or returns null), which we own.
        NonNull::new(unsafe { lc::DSA_new() }).map(Dsa)
    }

    /// `p`, `q` and `g` of a DSA.
    fn pqg(dsa: &Dsa) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let (mut p, mut q, mut g) = (null(), null(), null());
        // SAFETY: `dsa` is a valid DSA; the out-pointers are valid locals; the returned
        // pointers borrow from `dsa`, which outlives their use here.
        unsafe { lc::DSA_get0_pqg(dsa.0.as_ptr(), &mut p, &mut q, &mut g) };
        Some((to_be(p)?, to_be(q)?, to_be(g)?))
    }

    /// `DSA_generate_parameters_ex` with a prime of `bits` bits: `(p, q, g)`.
    pub(crate) fn generate_parameters(bits: usize) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let dsa = new_dsa()?;
        let bits = u32::try_from(bits).ok()?;
        // SAFETY: `dsa` is a valid DSA; no seed (null, 0), no counter/h outputs and no callback
        // (all null) are documented as allowed.
        let ok = unsafe {
            lc::DSA_generate_parameters_ex(
                dsa.0.as_ptr(),
                bits,
                null(),
                0,
                null_mut(),
                null_mut(),
                null_mut(),
            )
        };
        if ok != 1 {
            return None;
        }
        pqg(&dsa)
    }

    impl Dsa {
        /// A DSA from its parameters and a public and/or private value. With only a private
        /// value, the public value is computed as `g^x mod p` (aws-lc requires one).
        pub(crate) fn new(
            p: &[u8],
            q: &[u8],
            g: &[u8],
            y: Option<&[u8]>,
            x: Option<&[u8]>,
        ) -> Option<Dsa> {
            let dsa = new_dsa()?;
            let (bp, bq, bg) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?);
            let y = match (y, x) {
                (Some(y), _) => Bn::from_be(y)?,
                (None, Some(x)) => mod_exp(&bg, &Bn::from_be(x)?, &bp)?,
                (None, None) => return None,
            };
            let x = match x {
                Some(x) => Some(Bn::from_be(x)?),
                None => None,
            };
            // SAFETY: `dsa` is valid; the three BIGNUMs are freshly allocated and owned by us;
            // on success `DSA_set0_pqg` takes ownership of them (so we release them).
            let ok = unsafe {
                lc::DSA_set0_pqg(
                    dsa.0.as_ptr(),
                    bp.as_ptr() as *mut _,
                    bq.as_ptr() as *mut _,
                    bg.as_ptr() as *mut _,
                )
            };
            if ok != 1 {
                return None;
            }
            let _ = (bp.into_raw(), bq.into_raw(), bg.into_raw());
            let x_ptr = x.as_ref().map_or(null_mut(), |b| b.as_ptr() as *mut _);
            // SAFETY: as above, for the key values; a null private key is allowed.
            let ok = unsafe { lc::DSA_set0_key(dsa.0.as_ptr(), y.as_ptr() as *mut _, x_ptr) };
            if ok != 1 {
                return None;
            }
            let _ = y.into_raw();
            if let Some(x) = x {
                let _ = x.into_raw();
            }
            Some(dsa)
        }

        /// Signs a digest: `r || s`, each left-padded to `q_len` bytes.
        pub(crate) fn sign(&self, digest: &[u8], q_len: usize) -> Option<Vec<u8>> {
            // SAFETY: `digest` is valid for its length; `self` is a valid DSA with a private
            // key; the returned DSA_SIG (or null) is ours.
            let sig = NonNull::new(unsafe {
                lc::DSA_do_sign(digest.as_ptr(), digest.len(), self.0.as_ptr())
            })
            .map(Sig)?;
            let (mut r, mut s) = (null(), null());
            // SAFETY: `sig` is valid; the returned pointers borrow from it.
            unsafe { lc::DSA_SIG_get0(sig.0.as_ptr(), &mut r, &mut s) };
            let mut out = padded(r, q_len)?;
            out.extend(padded(s, q_len)?);
            (out.len() == 2 * q_len).then_some(out)
        }

        /// Verifies `(r, s)` over a digest.
        pub(crate) fn verify(&self, digest: &[u8], r: &[u8], s: &[u8]) -> bool {
            let (Some(r), Some(s)) = (Bn::from_be(r), Bn::from_be(s)) else {
                return false;
            };
            // SAFETY: allocates a fresh DSA_SIG (or null), which we own.
            let Some(sig) = NonNull::new(unsafe { lc::DSA_SIG_new() }).map(Sig) else {
                return false;
            };
            // SAFETY: `sig` is valid; `r` and `s` are ours and `DSA_SIG_set0` takes them over
            // (it cannot fail with non-null values).
            unsafe { lc::DSA_SIG_set0(sig.0.as_ptr(), r.into_raw(), s.into_raw()) };
            // SAFETY: `digest` is valid for its length; `sig` and `self` are valid.
            let ok = unsafe {
                lc::DSA_do_verify(
                    digest.as_ptr(),
                    digest.len(),
                    sig.0.as_ptr(),
                    self.0.as_ptr(),
                )
            };
            ok == 1
        }
    }

    /// `DSA_generate_key` for the given parameters: `(y, x)`.
    pub(crate) fn generate_key(
        p: &[u8],
        q: &[u8],
        g: &[u8],
    ) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let dsa = new_dsa()?;
        let (bp, bq, bg) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?);
        // SAFETY: `dsa` is valid; the BIGNUMs are ours and taken over on success.
        let ok = unsafe {
            lc::DSA_set0_pqg(
                dsa.0.as_ptr(),
                bp.as_ptr() as *mut _,
                bq.as_ptr() as *mut _,
                bg.as_ptr() as *mut _,
            )
        };
        if ok != 1 {
            return None;
        }
        let _ = (bp.into_raw(), bq.into_raw(), bg.into_raw());
        // SAFETY: `dsa` is a valid DSA with parameters set.
        if unsafe { lc::DSA_generate_key(dsa.0.as_ptr()) } != 1 {
            return None;
        }
        let (mut y, mut x) = (null(), null());
        // SAFETY: `dsa` is valid; the returned pointers borrow from it.
        unsafe { lc::DSA_get0_key(dsa.0.as_ptr(), &mut y, &mut x) };
        Some((to_be(y)?, Zeroizing::new(to_be(x)?)))
    }

    /// `base^exp mod m`, constant-time in `exp` (aws-lc's `BN_mod_exp_mont_consttime`).
    pub(crate) fn mod_exp(base: &Bn, exp: &Bn, m: &Bn) -> Option<Bn> {
        let mut ctx = BnCtx::new()?;
        let mut out = Bn::new()?;
        // SAFETY: every BIGNUM and the BN_CTX are valid and owned by us; a null Montgomery
        // context asks aws-lc to build one.
        let ok = unsafe {
            lc::BN_mod_exp_mont_consttime(
                out.as_mut_ptr(),
                base.as_ptr(),
                exp.as_ptr(),
                m.as_ptr(),
                ctx.as_mut_ptr(),
                null(),
            )
        };
        (ok == 1).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn keys(params: &Attributes) -> (Arc<KeyMaterial>, Arc<KeyMaterial>) {
        let (public, private) = generate_key_pair(params, &Attributes::new()).unwrap();
        (
            Arc::new(KeyMaterial::Dsa(
                DsaKey::from_attributes(CKO_PUBLIC_KEY, &public).unwrap(),
            )),
            Arc::new(KeyMaterial::Dsa(
                DsaKey::from_attributes(CKO_PRIVATE_KEY, &private).unwrap(),
            )),
        )
    }

    #[test]
    fn generate_sign_verify_round_trip() {
        let mut t = Attributes::new();
        t.set_ulong(CKA_PRIME_BITS, 1024);
        let params = generate_parameters(&t).unwrap();
        assert_eq!(params.ulong(CKA_PRIME_BITS), Some(1024));
        assert_eq!(params.bytes(CKA_SUBPRIME).unwrap().len(), 20);
        let (public, private) = keys(&params);
        for m in [CKM_DSA_SHA1, CKM_DSA_SHA224, CKM_DSA_SHA256, CKM_DSA_SHA512] {
            let mech = Mechanism::new(m);
            let mut s = signer(&mech, &private).unwrap();
            s.update(b"Message ").unwrap();
            s.update(b"to sign").unwrap();
            let sig = s.finish().unwrap();
            assert_eq!(sig.len(), 40);
            verifier(&mech, &public)
                .unwrap()
                .one_shot(b"Message to sign", &sig)
                .unwrap();
            let e = verifier(&mech, &public)
                .unwrap()
                .one_shot(b"Message to sigN", &sig)
                .unwrap_err();
            assert_eq!(e.rv, CKR_SIGNATURE_INVALID);
            let e = verifier(&mech, &public)
                .unwrap()
                .one_shot(b"Message to sign", &sig[1..])
                .unwrap_err();
            assert_eq!(e.rv, CKR_SIGNATURE_LEN_RANGE);
        }
        let digest = [5u8; 20];
        let sig = signer(&Mechanism::new(CKM_DSA), &private)
            .unwrap()
            .one_shot(&digest)
            .unwrap();
        verifier(&Mechanism::new(CKM_DSA), &public)
            .unwrap()
            .one_shot(&digest, &sig)
            .unwrap();
        assert_eq!(
            signer(&Mechanism::new(CKM_DSA), &public).err().unwrap().rv,
            CKR_KEY_TYPE_INCONSISTENT
        );
        let mut t = Attributes::new();
        t.set_ulong(CKA_PRIME_BITS, 256);
        assert_eq!(generate_parameters(&t).unwrap_err().rv, CKR_KEY_SIZE_RANGE);
    }

    /// FIPS 186-2 Appendix 5 example (DSA with SHA-1, 512-bit p): the published signature
    /// verifies, and a signature by the published private key verifies under the public key.
    #[test]
    fn fips186_2_example() {
        let p = hex(
            "8df2a494492276aa3d25759bb06869cbeac0d83afb8d0cf7cbb8324f0d7882e5
                     d0762fc5b7210eafc2e9adac32ab7aac49693dfbf83724c2ec0736ee31c80291",
        );
        let q = hex("c773218c737ec8ee993b4f2ded30f48edace915f");
        let g = hex(
            "626d027839ea0a13413163a55b4cb500299d5522956cefcb3bff10f399ce2c2e
                     71cb9de5fa24babf58e5b79521925c9cc42e9f6f464b088cc572af53e6d78802",
        );
        let x = hex("2070b3223dba372fde1c0ffc7b2e3b498b260614");
        let y = hex(
            "19131871d75b1612a819f29d78d1b0d7346f7aa77bb62a859bfd6c5675da9d21
                     2d3a36ef1672ef660b8c7c255cc0ec74858fba33f44c06699630a76b030ee333",
        );
        let r = hex("8bac1ab66410435cb7181f95b16ab97c92b341c0");
        let s = hex("41e2345f1f56df2458f426d155b4ba2db6dcd8c8");
        let mut attrs = Attributes::new();
        attrs.set_bytes(CKA_PRIME, p);
        attrs.set_bytes(CKA_SUBPRIME, q);
        attrs.set_bytes(CKA_BASE, g);
        attrs.set_bytes(CKA_VALUE, y);
        let public = Arc::new(KeyMaterial::Dsa(
            DsaKey::from_attributes(CKO_PUBLIC_KEY, &attrs).unwrap(),
        ));
        let mut sig = r.clone();
        sig.extend_from_slice(&s);
        verifier(&Mechanism::new(CKM_DSA_SHA1), &public)
            .unwrap()
            .one_shot(b"abc", &sig)
            .unwrap();
        attrs.set_bytes(CKA_VALUE, x);
        let private = Arc::new(KeyMaterial::Dsa(
            DsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap(),
        ));
        let sig = signer(&Mechanism::new(CKM_DSA_SHA1), &private)
            .unwrap()
            .one_shot(b"abc")
            .unwrap();
        verifier(&Mechanism::new(CKM_DSA_SHA1), &public)
            .unwrap()
            .one_shot(b"abc", &sig)
            .unwrap();
    }
}
