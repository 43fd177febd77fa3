//! The C ABI boundary to aws-lc for the EC and EdDSA families: the only place these families call
//! aws-lc-sys directly. It covers what aws-lc-rs's safe API does not offer:
//! - ECDSA over a digest of any length with any curve (`ECDSA_do_sign` / `ECDSA_do_verify`, which
//!   truncate or left-pad the digest as X9.62 specifies), for hash/curve pairs that aws-lc-rs has no
//!   `EcdsaSigningAlgorithm` / `EcdsaVerificationAlgorithm` for;
//! - the curves aws-lc-rs has no algorithms for (secp224r1, secp256k1, the brainpool curves, and
//!   secp192r1, which aws-lc does not name and which is built here with its custom-curve support,
//!   `EC_GROUP_new_curve_GFp`): groups, key generation, public points, ECDH, and PKCS#8 (written
//!   with aws-lc's DER builder `CBB`, read with its DER reader `CBS` and `EC_KEY_parse_private_key`);
//! - Ed25519ctx and Ed25519ph (RFC 8032 §5.1).
//!
//! Every pointer aws-lc hands out is owned by an RAII wrapper that frees it on drop (groups live for
//! the whole process, see [`Group`]); nothing here panics, failures come back as `None` / `false`.
use super::bignum::Bn;
use aws_lc_sys as lc;
use std::ptr::{NonNull, null, null_mut};
use zeroize::Zeroizing;

pub(crate) const NID_P224: i32 = lc::NID_secp224r1;
pub(crate) const NID_P256: i32 = lc::NID_X9_62_prime256v1;
pub(crate) const NID_P384: i32 = lc::NID_secp384r1;
pub(crate) const NID_P521: i32 = lc::NID_secp521r1;
pub(crate) const NID_SECP256K1: i32 = lc::NID_secp256k1;
pub(crate) const NID_BRAINPOOL_P256R1: i32 = lc::NID_brainpoolP256r1;
pub(crate) const NID_BRAINPOOL_P384R1: i32 = lc::NID_brainpoolP384r1;
pub(crate) const NID_BRAINPOOL_P512R1: i32 = lc::NID_brainpoolP512r1;

/// id-ecPublicKey (1.2.840.10045.2.1), the content of its OBJECT IDENTIFIER.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];

/// An owned `EC_POINT`.
struct Point(NonNull<lc::EC_POINT>);

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: we own this EC_POINT, allocated by `EC_POINT_new`, and free it exactly once.
        unsafe { lc::EC_POINT_free(self.0.as_ptr()) }
    }
}

/// Domain parameters of a prime-field short-Weierstrass curve y² = x³ + ax + b with cofactor 1,
/// as hexadecimal digits (the form SEC 2 and RFC 5639 print them in).
pub(crate) struct DomainParams {
    pub(crate) p: &'static str,
    pub(crate) a: &'static str,
    pub(crate) b: &'static str,
    pub(crate) gx: &'static str,
    pub(crate) gy: &'static str,
    pub(crate) n: &'static str,
}

/// An aws-lc `EC_GROUP` that lives as long as the process: a built-in curve (static inside aws-lc)
/// or a custom curve built once by [`Group::custom`] and deliberately never freed. Only ever read
/// after construction; every `EC_KEY` takes its own reference or copy (`EC_KEY_set_group`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group(NonNull<lc::EC_GROUP>);

// SAFETY: the group is never mutated after construction and never freed, and aws-lc only reads a
// group when keys are built on it (`EC_KEY_set_group` copies a custom group); reading one group from
// several threads is what aws-lc does with its own static built-in groups.
unsafe impl Send for Group {}
// SAFETY: as for `Send`: shared references only ever lead to reads.
unsafe impl Sync for Group {}

/// A custom group under construction, freed on drop unless construction succeeds.
struct OwnedGroup(NonNull<lc::EC_GROUP>);

impl Drop for OwnedGroup {
    fn drop(&mut self) {
        // SAFETY: we own this group, allocated by `EC_GROUP_new_curve_GFp`, and free it once.
        unsafe { lc::EC_GROUP_free(self.0.as_ptr()) }
    }
}

impl Group {
    /// One of aws-lc's named curves (static inside aws-lc: never freed).
    pub(crate) fn named(nid: i32) -> Option<Group> {
        // SAFETY: a plain lookup; a null return (unknown curve) is handled by `NonNull::new`.
        NonNull::new(unsafe { lc::EC_GROUP_new_by_curve_name(nid) }).map(Group)
    }

    /// A curve aws-lc does not name, from its domain parameters (`EC_GROUP_new_curve_GFp`, then
    /// `EC_GROUP_set_generator`, which checks the generator is on the curve and the order fits).
    /// The group is never freed: build it once per curve and keep it.
    pub(crate) fn custom(d: &DomainParams) -> Option<Group> {
        let [p, a, b, gx, gy, n] = [d.p, d.a, d.b, d.gx, d.gy, d.n].map(Bn::from_hex);
        let (p, a, b, gx, gy, n) = (p?, a?, b?, gx?, gy?, n?);
        // SAFETY: the BIGNUMs are valid; a null BN_CTX is allowed; the new group is ours (a null
        // return is handled by `NonNull::new`).
        let group = OwnedGroup(NonNull::new(unsafe {
            lc::EC_GROUP_new_curve_GFp(p.0.as_ptr(), a.0.as_ptr(), b.0.as_ptr(), null_mut())
        })?);
        // SAFETY: `group` is valid; the new point is ours.
        let generator = Point(NonNull::new(unsafe { lc::EC_POINT_new(group.0.as_ptr()) })?);
        // SAFETY: `group`, `generator`, `gx` and `gy` are valid; aws-lc refuses a point that is not
        // on the curve.
        let on_curve = unsafe {
            lc::EC_POINT_set_affine_coordinates_GFp(
                group.0.as_ptr(),
                generator.0.as_ptr(),
                gx.0.as_ptr(),
                gy.0.as_ptr(),
                null_mut(),
            )
        };
        if on_curve != 1 {
            return None;
        }
        // SAFETY: `group` is fresh from `EC_GROUP_new_curve_GFp` (no generator yet), `generator` is
        // a point of it, `n` is valid and `BN_value_one()` is aws-lc's static 1 (the cofactor);
        // aws-lc copies what it keeps.
        let set = unsafe {
            lc::EC_GROUP_set_generator(
                group.0.as_ptr(),
                generator.0.as_ptr(),
                n.0.as_ptr(),
                lc::BN_value_one(),
            )
        };
        if set != 1 {
            return None;
        }
        let built = Group(group.0);
        // The group now lives for the rest of the process (see the type's comment).
        std::mem::forget(group);
        Some(built)
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

/// An aws-lc `EC_KEY` with its public point and optionally its private scalar. Built once, never
/// mutated afterwards.
pub(crate) struct EcKeyHandle {
    key: NonNull<lc::EC_KEY>,
    field_len: usize,
}

// SAFETY: the EC_KEY is exclusively owned by this handle and freed only on drop; moving it to
// another thread is sound.
unsafe impl Send for EcKeyHandle {}
// SAFETY: after construction the EC_KEY is only ever passed as `const EC_KEY *` (to
// `ECDSA_do_sign` / `ECDSA_do_verify`, `ECDH_compute_key`, `EC_KEY_marshal_private_key` and the
// `EC_KEY_get0_*` readers), which aws-lc documents as safe to call concurrently on a shared key
// (aws-lc-rs relies on the same for its `Sync` key pairs).
unsafe impl Sync for EcKeyHandle {}

impl Drop for EcKeyHandle {
    fn drop(&mut self) {
        // SAFETY: we own this EC_KEY, allocated by `EC_KEY_new` or `EC_KEY_parse_private_key`,
        // and free it once.
        unsafe { lc::EC_KEY_free(self.key.as_ptr()) }
    }
}

impl EcKeyHandle {
    /// An empty key on `group`.
    fn on(group: Group, field_len: usize) -> Option<Self> {
        // SAFETY: plain constructor; a null return is handled by `NonNull::new`.
        let key = NonNull::new(unsafe { lc::EC_KEY_new() })?;
        let handle = EcKeyHandle { key, field_len };
        // SAFETY: `key` is a fresh EC_KEY without a group; `group` lives for the whole process and
        // aws-lc keeps its own reference (a copy for a custom group).
        let set = unsafe { lc::EC_KEY_set_group(key.as_ptr(), group.0.as_ptr()) };
        (set == 1).then_some(handle)
    }

    /// The key's group (set by every constructor, alive as long as the key).
    fn group(&self) -> *const lc::EC_GROUP {
        // SAFETY: `self.key` is a valid EC_KEY.
        unsafe { lc::EC_KEY_get0_group(self.key.as_ptr()) }
    }

    /// A point of the key's group from its octet encoding; `None` unless it is on the curve.
    fn point(&self, bytes: &[u8]) -> Option<Point> {
        let group = self.group();
        if group.is_null() {
            return None;
        }
        // SAFETY: `group` is valid (checked above); the new point is ours.
        let pt = Point(NonNull::new(unsafe { lc::EC_POINT_new(group) })?);
        // SAFETY: `group` and `pt` are valid; `bytes` is readable for its length; a null BN_CTX
        // is allowed. aws-lc refuses points that are not on the curve.
        let ok = unsafe {
            lc::EC_POINT_oct2point(
                group,
                pt.0.as_ptr(),
                bytes.as_ptr(),
                bytes.len(),
                null_mut(),
            )
        };
        (ok == 1).then_some(pt)
    }

    /// A key on `group` with the uncompressed `point` and, for a private key, the big-endian
    /// `scalar`. `None` when aws-lc rejects either.
    pub(crate) fn new(
        group: Group,
        field_len: usize,
        point: &[u8],
        scalar: Option<&[u8]>,
    ) -> Option<Self> {
        let handle = Self::on(group, field_len)?;
        let pt = handle.point(point)?;
        // SAFETY: `key` and `pt` are valid; aws-lc copies the point.
        if unsafe { lc::EC_KEY_set_public_key(handle.key.as_ptr(), pt.0.as_ptr()) } != 1 {
            return None;
        }
        if let Some(scalar) = scalar {
            let bn = Bn::from_be(scalar)?;
            // SAFETY: `key` and `bn` are valid; aws-lc copies the scalar (and rejects 0 or >= n).
            if unsafe { lc::EC_KEY_set_private_key(handle.key.as_ptr(), bn.0.as_ptr()) } != 1 {
                return None;
            }
        }
        Some(handle)
    }

    /// A private key on `group` from its big-endian scalar, with the public point computed from
    /// it. `None` when the scalar is 0 or not below the group order.
    pub(crate) fn from_scalar(group: Group, field_len: usize, scalar: &[u8]) -> Option<Self> {
        let handle = Self::on(group, field_len)?;
        let bn = Bn::from_be(scalar)?;
        // SAFETY: `key` and `bn` are valid; aws-lc copies the scalar (and rejects 0 or >= n).
        if unsafe { lc::EC_KEY_set_private_key(handle.key.as_ptr(), bn.0.as_ptr()) } != 1 {
            return None;
        }
        let group = handle.group();
        // SAFETY: `group` is the key's valid group; the new point is ours.
        let pt = Point(NonNull::new(unsafe { lc::EC_POINT_new(group) })?);
        // SAFETY: `group`, `pt` and `bn` are valid; with a null second point and scalar this
        // computes scalar × generator; a null BN_CTX is allowed.
        let mul = unsafe {
            lc::EC_POINT_mul(
                group,
                pt.0.as_ptr(),
                bn.0.as_ptr(),
                null(),
                null(),
                null_mut(),
            )
        };
        // SAFETY: `key` and `pt` are valid; aws-lc copies the point.
        if mul != 1 || unsafe { lc::EC_KEY_set_public_key(handle.key.as_ptr(), pt.0.as_ptr()) } != 1
        {
            return None;
        }
        Some(handle)
    }

    /// A new random key pair on `group` (aws-lc's DRBG).
    pub(crate) fn generate(group: Group, field_len: usize) -> Option<Self> {
        let handle = Self::on(group, field_len)?;
        // SAFETY: `key` is a valid EC_KEY with a group; aws-lc sets both halves of the pair.
        let ok = unsafe { lc::EC_KEY_generate_key(handle.key.as_ptr()) };
        (ok == 1).then_some(handle)
    }

    /// A private key from the DER of an RFC 5915 `ECPrivateKey` on `group`, read by aws-lc
    /// (`EC_KEY_parse_private_key`): a `[0]` curve in it must be one aws-lc names and equal to
    /// `group`; a `[1]` public key must be the scalar's (aws-lc checks the pair).
    pub(crate) fn from_ec_private_key(group: Group, field_len: usize, der: &[u8]) -> Option<Self> {
        let mut cbs = cbs_of(der);
        // SAFETY: `cbs` points into `der`, which outlives the call; aws-lc only reads through it
        // and advances it; `group` is valid. The returned key is ours (null is handled).
        let key =
            NonNull::new(unsafe { lc::EC_KEY_parse_private_key(&mut cbs, group.0.as_ptr()) })?;
        let handle = EcKeyHandle { key, field_len };
        (cbs.len == 0).then_some(handle)
    }

    /// The uncompressed public point (04 || X || Y).
    pub(crate) fn public_point(&self) -> Option<Vec<u8>> {
        // SAFETY: `self.key` is valid; the point is borrowed from it, used only while it lives.
        let pt = unsafe { lc::EC_KEY_get0_public_key(self.key.as_ptr()) };
        if pt.is_null() {
            return None;
        }
        let mut out = vec![0u8; 2 * self.field_len + 1];
        // SAFETY: the group and `pt` are valid; `out` is writable for its length; a null BN_CTX
        // is allowed. aws-lc returns 0 if the encoding does not fit.
        let written = unsafe {
            lc::EC_POINT_point2oct(
                self.group(),
                pt,
                lc::point_conversion_form_t::POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                null_mut(),
            )
        };
        (written == out.len()).then_some(out)
    }

    /// The private scalar, big-endian, `field_len` bytes.
    pub(crate) fn private_scalar(&self) -> Option<Zeroizing<Vec<u8>>> {
        // SAFETY: `self.key` is valid; the BIGNUM is borrowed from it, used only while it lives.
        let bn = unsafe { lc::EC_KEY_get0_private_key(self.key.as_ptr()) };
        if bn.is_null() {
            return None;
        }
        let mut out = Zeroizing::new(vec![0u8; self.field_len]);
        // SAFETY: `out` is writable for `field_len` bytes; `bn` is valid. Fails (0) if the value
        // does not fit.
        let ok = unsafe { lc::BN_bn2bin_padded(out.as_mut_ptr(), self.field_len, bn) };
        (ok == 1).then_some(out)
    }

    /// ECDH (SEC 1 §3.3.1) with the peer's encoded point: the x coordinate of the shared point,
    /// `field_len` bytes. `None` when the point is not on the curve (or this is a public key).
    pub(crate) fn ecdh(&self, peer: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let pt = self.point(peer)?;
        let mut out = Zeroizing::new(vec![0u8; self.field_len]);
        // SAFETY: `out` is writable for its length; `pt` is a valid point of this key's group;
        // `self.key` is valid (aws-lc fails without a private scalar); no KDF.
        let written = unsafe {
            lc::ECDH_compute_key(
                out.as_mut_ptr().cast(),
                out.len(),
                pt.0.as_ptr(),
                self.key.as_ptr(),
                None,
            )
        };
        (usize::try_from(written).ok() == Some(self.field_len)).then_some(out)
    }

    /// The private key as a PKCS#8 `PrivateKeyInfo` v1 (RFC 5208) of id-ecPublicKey with the
    /// curve `curve_oid` (a DER OBJECT IDENTIFIER) and an RFC 5915 `ECPrivateKey` holding the
    /// scalar and the public key, the curve given once in the AlgorithmIdentifier (as aws-lc-rs
    /// writes P-256/384/521 keys). Written with aws-lc's DER builder.
    pub(crate) fn to_pkcs8(&self, curve_oid: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        // SAFETY: `CBB` is a C struct of pointers and integers whose all-zero value is the state
        // `CBB_zero` sets; every CBB here stays in place once a child refers to it.
        let (mut top, mut info, mut algorithm, mut oid, mut octets): (
            lc::CBB,
            lc::CBB,
            lc::CBB,
            lc::CBB,
            lc::CBB,
        ) = unsafe { std::mem::zeroed() };
        let mut data: *mut u8 = null_mut();
        let mut len = 0usize;
        // SAFETY: `top` is initialised before use and cleaned up below; each child is added to
        // its parent before it is written, and aws-lc flushes pending children when the parent is
        // written again or finished; the byte slices are readable for their lengths; `self.key`
        // is valid. On success `data` is a buffer of `len` bytes that we own.
        let ok = unsafe {
            lc::CBB_init(&mut top, 128) == 1
                && lc::CBB_add_asn1(&mut top, &mut info, lc::CBS_ASN1_SEQUENCE as u32) == 1
                && lc::CBB_add_asn1_uint64(&mut info, 0) == 1
                && lc::CBB_add_asn1(&mut info, &mut algorithm, lc::CBS_ASN1_SEQUENCE as u32) == 1
                && lc::CBB_add_asn1(&mut algorithm, &mut oid, lc::CBS_ASN1_OBJECT as u32) == 1
                && lc::CBB_add_bytes(
                    &mut oid,
                    OID_EC_PUBLIC_KEY.as_ptr(),
                    OID_EC_PUBLIC_KEY.len(),
                ) == 1
                && lc::CBB_add_bytes(&mut algorithm, curve_oid.as_ptr(), curve_oid.len()) == 1
                && lc::CBB_add_asn1(&mut info, &mut octets, lc::CBS_ASN1_OCTETSTRING as u32) == 1
                && lc::EC_KEY_marshal_private_key(
                    &mut octets,
                    self.key.as_ptr(),
                    lc::EC_PKEY_NO_PARAMETERS as u32,
                ) == 1
                && lc::CBB_finish(&mut top, &mut data, &mut len) == 1
        };
        if !ok {
            // SAFETY: `top` was zeroed or initialised; cleaning up either is allowed.
            unsafe { lc::CBB_cleanup(&mut top) };
            return None;
        }
        // SAFETY: on success `data` holds `len` initialised bytes.
        let out = Zeroizing::new(unsafe { std::slice::from_raw_parts(data, len) }.to_vec());
        // SAFETY: `data` was allocated by aws-lc and is freed once (aws-lc clears it first).
        unsafe { lc::OPENSSL_free(data.cast()) };
        Some(out)
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

/// A `CBS` reading `bytes`.
fn cbs_of(bytes: &[u8]) -> lc::CBS {
    lc::CBS {
        data: bytes.as_ptr(),
        len: bytes.len(),
    }
}

/// The part of `der` that a `CBS` read out of it covers.
fn slice_of<'a>(der: &'a [u8], cbs: &lc::CBS) -> Option<&'a [u8]> {
    let start = (cbs.data as usize).checked_sub(der.as_ptr() as usize)?;
    der.get(start..start.checked_add(cbs.len)?)
}

/// Splits a PKCS#8 `PrivateKeyInfo` (RFC 5208 v1, or RFC 5958 v2) of id-ecPublicKey into the
/// DER of its curve parameters and the DER of its `ECPrivateKey`, read with aws-lc's DER reader.
/// Attributes and a v2 public key after the private key are ignored; anything after the outer
/// SEQUENCE is refused. `None` if `der` is not such a structure.
pub(crate) fn split_ec_pkcs8(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut input = cbs_of(der);
    let empty = || cbs_of(&[]);
    let (mut info, mut algorithm, mut oid, mut params, mut key) =
        (empty(), empty(), empty(), empty(), empty());
    let mut version = u64::MAX;
    // SAFETY: every CBS points into `der` (or is empty), which outlives them; aws-lc only reads
    // through them and advances them; the out-pointers are valid.
    let ok = unsafe {
        lc::CBS_get_asn1(&mut input, &mut info, lc::CBS_ASN1_SEQUENCE as u32) == 1
            && input.len == 0
            && lc::CBS_get_asn1_uint64(&mut info, &mut version) == 1
            && lc::CBS_get_asn1(&mut info, &mut algorithm, lc::CBS_ASN1_SEQUENCE as u32) == 1
            && lc::CBS_get_asn1(&mut algorithm, &mut oid, lc::CBS_ASN1_OBJECT as u32) == 1
            && lc::CBS_get_any_asn1_element(&mut algorithm, &mut params, null_mut(), null_mut())
                == 1
            && algorithm.len == 0
            && lc::CBS_get_asn1(&mut info, &mut key, lc::CBS_ASN1_OCTETSTRING as u32) == 1
    };
    if !ok || version > 1 || slice_of(der, &oid)? != OID_EC_PUBLIC_KEY {
        return None;
    }
    Some((slice_of(der, &params)?, slice_of(der, &key)?))
}
