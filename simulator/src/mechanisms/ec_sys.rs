//! The C ABI boundary to aws-lc for the EC and EdDSA families: the only place these families call
//! aws-lc-sys directly. It covers what aws-lc-rs's safe API does not offer:
//! - ECDSA over a digest of any length with any curve (`ECDSA_do_sign` / `ECDSA_do_verify`, which
//!   truncate or left-pad the digest as X9.62 specifies), for hash/curve pairs that aws-lc-rs has no
//!   `EcdsaSigningAlgorithm` / `EcdsaVerificationAlgorithm` for;
//! - Ed25519ctx and Ed25519ph (RFC 8032 §5.1).
//!
//! Every pointer aws-lc hands out is owned by an RAII wrapper that frees it on drop; nothing here
//! panics, failures come back as `None` / `false`.
use aws_lc_sys as lc;
use std::ptr::{NonNull, null_mut};

pub(crate) const NID_P256: i32 = lc::NID_X9_62_prime256v1;
pub(crate) const NID_P384: i32 = lc::NID_secp384r1;
pub(crate) const NID_P521: i32 = lc::NID_secp521r1;

/// An owned `BIGNUM`, cleared and freed on drop.
struct Bn(NonNull<lc::BIGNUM>);

impl Bn {
    fn from_be(bytes: &[u8]) -> Option<Bn> {
        // SAFETY: `bytes` is a valid slice for `bytes.len()` bytes; a null `ret` asks aws-lc to
        // allocate a new BIGNUM, which we own from here on.
        let p = unsafe { lc::BN_bin2bn(bytes.as_ptr(), bytes.len(), null_mut()) };
        NonNull::new(p).map(Bn)
    }
    /// Gives up ownership (after a call that took it over, such as `ECDSA_SIG_set0`).
    fn into_raw(self) -> *mut lc::BIGNUM {
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

/// An owned `EC_POINT`.
struct Point(NonNull<lc::EC_POINT>);

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: we own this EC_POINT, allocated by `EC_POINT_new`, and free it exactly once.
        unsafe { lc::EC_POINT_free(self.0.as_ptr()) }
    }
}

/// An owned `ECDSA_SIG`.
struct Sig(NonNull<lc::ECDSA_SIG>);

impl Drop for Sig {
    fn drop(&mut self) {
        // SAFETY: we own this ECDSA_SIG, allocated by aws-lc, and free it exactly once.
        unsafe { lc::ECDSA_SIG_free(self.0.as_ptr()) }
    }
}

/// An aws-lc `EC_KEY` on a named curve, with its public point and optionally its private scalar.
/// Built once, never mutated afterwards.
pub(crate) struct EcKeyHandle {
    key: NonNull<lc::EC_KEY>,
    field_len: usize,
}

// SAFETY: the EC_KEY is exclusively owned by this handle and freed only on drop; moving it to
// another thread is sound.
unsafe impl Send for EcKeyHandle {}
// SAFETY: after construction the EC_KEY is only ever passed as `const EC_KEY *` to
// `ECDSA_do_sign` / `ECDSA_do_verify`, which aws-lc documents as safe to call concurrently on a
// shared key (aws-lc-rs relies on the same for its `Sync` key pairs).
unsafe impl Sync for EcKeyHandle {}

impl Drop for EcKeyHandle {
    fn drop(&mut self) {
        // SAFETY: we own this EC_KEY, allocated by `EC_KEY_new_by_curve_name`, and free it once.
        unsafe { lc::EC_KEY_free(self.key.as_ptr()) }
    }
}

impl EcKeyHandle {
    /// A key on curve `nid` with the uncompressed `point` and, for a private key, the big-endian
    /// `scalar`. `None` when aws-lc rejects either.
    pub(crate) fn new(
        nid: i32,
        field_len: usize,
        point: &[u8],
        scalar: Option<&[u8]>,
    ) -> Option<Self> {
        // SAFETY: plain constructor; a null return is handled by `NonNull::new`.
        let key = NonNull::new(unsafe { lc::EC_KEY_new_by_curve_name(nid) })?;
        let handle = EcKeyHandle { key, field_len };
        // SAFETY: `key` is a valid EC_KEY; its group is set by the constructor and lives as long
        // as the key.
        let group = unsafe { lc::EC_KEY_get0_group(key.as_ptr()) };
        if group.is_null() {
            return None;
        }
        // SAFETY: `group` is valid (checked above).
        let pt = Point(NonNull::new(unsafe { lc::EC_POINT_new(group) })?);
        // SAFETY: `group` and `pt` are valid; `point` is readable for `point.len()` bytes; a null
        // BN_CTX is allowed.
        let ok = unsafe {
            lc::EC_POINT_oct2point(
                group,
                pt.0.as_ptr(),
                point.as_ptr(),
                point.len(),
                null_mut(),
            )
        };
        if ok != 1 {
            return None;
        }
        // SAFETY: `key` and `pt` are valid; aws-lc copies the point.
        if unsafe { lc::EC_KEY_set_public_key(key.as_ptr(), pt.0.as_ptr()) } != 1 {
            return None;
        }
        if let Some(scalar) = scalar {
            let bn = Bn::from_be(scalar)?;
            // SAFETY: `key` and `bn` are valid; aws-lc copies the scalar (and rejects 0 or >= n).
            if unsafe { lc::EC_KEY_set_private_key(key.as_ptr(), bn.0.as_ptr()) } != 1 {
                return None;
            }
        }
        Some(handle)
    }

    /// ECDSA over `digest` (any length): the raw signature r || s, each `field_len` bytes.
    pub(crate) fn sign(&self, digest: &[u8]) -> Option<Vec<u8>> {
        // SAFETY: `digest` is readable for its length; `self.key` is a valid EC_KEY holding a
        // private scalar (or aws-lc returns null, handled below).
        let sig = Sig(NonNull::new(unsafe {
            lc::ECDSA_do_sign(digest.as_ptr(), digest.len(), self.key.as_ptr())
        })?);
        let mut r: *const lc::BIGNUM = std::ptr::null();
        let mut s: *const lc::BIGNUM = std::ptr::null();
        // SAFETY: `sig` is a valid ECDSA_SIG; `r` and `s` are valid out-pointers and receive
        // pointers borrowed from `sig`, used only while `sig` lives.
        unsafe { lc::ECDSA_SIG_get0(sig.0.as_ptr(), &mut r, &mut s) };
        if r.is_null() || s.is_null() {
            return None;
        }
        let n = self.field_len;
        let mut out = vec![0u8; 2 * n];
        let (out_r, out_s) = out.split_at_mut(n);
        // SAFETY: `out_r` / `out_s` are writable for `n` bytes each; `r` / `s` are valid BIGNUMs
        // owned by `sig`, still alive. The call fails (returns 0) if a value does not fit.
        let ok = unsafe {
            lc::BN_bn2bin_padded(out_r.as_mut_ptr(), n, r) == 1
                && lc::BN_bn2bin_padded(out_s.as_mut_ptr(), n, s) == 1
        };
        ok.then_some(out)
    }

    /// Checks a raw r || s signature over `digest` (any length).
    pub(crate) fn verify(&self, digest: &[u8], signature: &[u8]) -> bool {
        let n = self.field_len;
        if signature.len() != 2 * n {
            return false;
        }
        let (Some(r), Some(s)) = (Bn::from_be(&signature[..n]), Bn::from_be(&signature[n..]))
        else {
            return false;
        };
        // SAFETY: plain constructor; a null return is handled by `NonNull::new`.
        let Some(sig) = NonNull::new(unsafe { lc::ECDSA_SIG_new() }).map(Sig) else {
            return false;
        };
        // SAFETY: `sig`, `r` and `s` are valid; on success `sig` takes ownership of both BIGNUMs.
        if unsafe { lc::ECDSA_SIG_set0(sig.0.as_ptr(), r.0.as_ptr(), s.0.as_ptr()) } != 1 {
            return false;
        }
        let _ = (r.into_raw(), s.into_raw());
        // SAFETY: `digest` is readable for its length; `sig` and `self.key` are valid.
        unsafe {
            lc::ECDSA_do_verify(
                digest.as_ptr(),
                digest.len(),
                sig.0.as_ptr(),
                self.key.as_ptr(),
            ) == 1
        }
    }
}

/// Ed25519ctx (`prehash == false`) or Ed25519ph over the SHA-512 `digest` of the message
/// (`prehash == true`) with the 64-byte aws-lc private key (seed || public key). `context` must be
/// at most 255 bytes (checked by the caller; aws-lc fails otherwise).
pub(crate) fn ed25519_sign(
    private_key: &[u8; 64],
    data: &[u8],
    context: &[u8],
    prehash: bool,
) -> Option<[u8; 64]> {
    let mut sig = [0u8; 64];
    let ok = if prehash {
        let digest: &[u8; 64] = data.try_into().ok()?;
        // SAFETY: `sig` is writable for 64 bytes, `digest` and `private_key` readable for 64,
        // `context` for its length.
        unsafe {
            lc::ED25519ph_sign_digest(
                sig.as_mut_ptr(),
                digest.as_ptr(),
                private_key.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        }
    } else {
        // SAFETY: `sig` is writable for 64 bytes, `private_key` readable for 64, `data` and
        // `context` for their lengths.
        unsafe {
            lc::ED25519ctx_sign(
                sig.as_mut_ptr(),
                data.as_ptr(),
                data.len(),
                private_key.as_ptr(),
                context.as_ptr(),
                context.len(),
            )
        }
    };
    (ok == 1).then_some(sig)
}

/// Verifies an Ed25519ctx signature over `data`, or an Ed25519ph one over the SHA-512 `digest`
/// of the message (`prehash == true`).
pub(crate) fn ed25519_verify(
    public_key: &[u8; 32],
    data: &[u8],
    signature: &[u8; 64],
    context: &[u8],
    prehash: bool,
) -> bool {
    if prehash {
        let Ok(digest) = <&[u8; 64]>::try_from(data) else {
            return false;
        };
        // SAFETY: `digest` and `signature` are readable for 64 bytes, `public_key` for 32,
        // `context` for its length.
        unsafe {
            lc::ED25519ph_verify_digest(
                digest.as_ptr(),
                signature.as_ptr(),
                public_key.as_ptr(),
                context.as_ptr(),
                context.len(),
            ) == 1
        }
    } else {
        // SAFETY: `data` and `context` are readable for their lengths, `signature` for 64 bytes,
        // `public_key` for 32.
        unsafe {
            lc::ED25519ctx_verify(
                data.as_ptr(),
                data.len(),
                signature.as_ptr(),
                public_key.as_ptr(),
                context.as_ptr(),
                context.len(),
            ) == 1
        }
    }
}

/// The NID of the named curve that a DER `ECParameters` value denotes: a namedCurve OID, or
/// specifiedCurve (explicit) parameters equal to one of aws-lc's built-in curves.
pub(crate) fn curve_nid_of_parameters(der: &[u8]) -> Option<i32> {
    let mut cbs = lc::CBS {
        data: der.as_ptr(),
        len: der.len(),
    };
    // SAFETY: `cbs` points into `der`, which outlives the call; aws-lc only reads through it and
    // advances it. The returned group is static or owned by us, freed below.
    let group = unsafe { lc::EC_KEY_parse_parameters(&mut cbs) };
    let group = NonNull::new(group)?;
    // SAFETY: `group` is a valid EC_GROUP returned just above.
    let nid = unsafe { lc::EC_GROUP_get_curve_name(group.as_ptr()) };
    // SAFETY: we own the reference returned by EC_KEY_parse_parameters; freeing a static group
    // is a no-op.
    unsafe { lc::EC_GROUP_free(group.as_ptr()) };
    (cbs.len == 0).then_some(nid)
}
