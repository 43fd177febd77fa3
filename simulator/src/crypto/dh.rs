//! PKCS #3 Diffie-Hellman on aws-lc: `CKM_DH_PKCS_PARAMETER_GEN` (a `CKO_DOMAIN_PARAMETERS`
//! object with `CKA_PRIME`, `CKA_BASE`, `CKA_PRIME_BITS`), `CKM_DH_PKCS_KEY_PAIR_GEN` (prime and
//! base from the public template, optional `CKA_VALUE_BITS` in the private template) and
//! `CKM_DH_PKCS_DERIVE` (the parameter is the other party's public value).
//!
//! aws-lc-rs has no finite-field DH, so this family calls aws-lc through aws-lc-sys (the `ffi`
//! submodule, with the bignum wrappers of `dsa::ffi`): `DH_generate_parameters_ex` (generator 2),
//! `DH_generate_key` and `DH_compute_key_padded`, which checks the peer's value
//! (`DH_check_pub_key`).
//!
//! Choices (simulator-defined where PKCS#11 is silent):
//! - primes of 512 to 4096 bits (`CKR_KEY_SIZE_RANGE` otherwise);
//! - the shared secret is PKCS #3's octet string as long as the prime; a derived key of a
//!   shorter length keeps its trailing bytes ("the truncation removes bytes from the leading
//!   end", as PKCS#11 specifies for DH derivation); a longer one is `CKR_TEMPLATE_INCONSISTENT`;
//! - a peer value aws-lc refuses (not in `[2, p-2]`, ...) is `CKR_MECHANISM_PARAM_INVALID`.
use super::dsa::ffi::{Bn, bit_len, to_be};
use super::*;
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const MIN_BITS: usize = 512;
const MAX_BITS: usize = 4096;

/// A DH key: prime, base and either the public or the private value.
pub struct DhKey {
    p: Vec<u8>,
    g: Vec<u8>,
    value: Zeroizing<Vec<u8>>,
    private: bool,
}

impl DhKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<DhKey> {
        Ok(DhKey {
            p: attrs.require_bytes(CKA_PRIME)?.to_vec(),
            g: attrs.require_bytes(CKA_BASE)?.to_vec(),
            value: Zeroizing::new(attrs.require_bytes(CKA_VALUE)?.to_vec()),
            private: class == CKO_PRIVATE_KEY,
        })
    }
}

fn check_prime(p: &[u8]) -> Result<()> {
    if (MIN_BITS..=MAX_BITS).contains(&bit_len(p)) {
        Ok(())
    } else {
        Err(err(CKR_KEY_SIZE_RANGE, "DH primes are 512 to 4096 bits"))
    }
}

/// `CKM_DH_PKCS_PARAMETER_GEN`: the attributes of the new domain parameters object.
pub fn generate_parameters(template: &Attributes) -> Result<Attributes> {
    let bits = template.require_ulong(CKA_PRIME_BITS)? as usize;
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(err(
            CKR_KEY_SIZE_RANGE,
            "DH domain parameters are 512 to 4096 bits",
        ));
    }
    let (p, g) = ffi::generate_parameters(bits)
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "DH parameter generation failed"))?;
    let mut out = Attributes::new();
    out.set_ulong(CKA_KEY_TYPE, CKK_DH);
    out.set_ulong(CKA_PRIME_BITS, bit_len(&p) as CK_ULONG);
    out.set_bytes(CKA_PRIME, p);
    out.set_bytes(CKA_BASE, g);
    out.set_bool(CKA_LOCAL, true);
    Ok(out)
}

/// `CKM_DH_PKCS_KEY_PAIR_GEN`.
pub fn generate_key_pair(
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let p = public_template.require_bytes(CKA_PRIME)?;
    let g = public_template.require_bytes(CKA_BASE)?;
    check_prime(p)?;
    let value_bits = match private_template.ulong(CKA_VALUE_BITS) {
        Some(b) if b == 0 || b as usize >= bit_len(p) => {
            return Err(err(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_VALUE_BITS must be below the prime's size",
            ));
        }
        Some(b) => Some(b as u32),
        None => None,
    };
    let (y, x) = ffi::generate_key(p, g, value_bits).ok_or_else(|| {
        err(
            CKR_TEMPLATE_INCONSISTENT,
            "aws-lc cannot generate a key with this prime and base",
        )
    })?;
    let mut public = Attributes::new();
    let mut private = Attributes::new();
    for a in [&mut public, &mut private] {
        a.set_ulong(CKA_KEY_TYPE, CKK_DH);
        a.set_bytes(CKA_PRIME, p.to_vec());
        a.set_bytes(CKA_BASE, g.to_vec());
    }
    public.set_bytes(CKA_VALUE, y);
    private.set_ulong(CKA_VALUE_BITS, bit_len(&x) as CK_ULONG);
    private.set_bytes(CKA_VALUE, x.to_vec());
    Ok((public, private))
}

/// `CKM_DH_PKCS_DERIVE`: the shared secret, truncated to `len` from the leading end.
pub fn derive(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    let MechParams::Bytes(peer) = &mech.params else {
        return Err(err(
            CKR_MECHANISM_PARAM_INVALID,
            "CKM_DH_PKCS_DERIVE needs the other party's public value",
        ));
    };
    let KeyMaterial::Dh(k) = key.as_ref() else {
        return Err(err(
            CKR_KEY_TYPE_INCONSISTENT,
            "a DH private key is required",
        ));
    };
    if !k.private {
        return Err(err(
            CKR_KEY_TYPE_INCONSISTENT,
            "a DH private key is required",
        ));
    }
    check_prime(&k.p)?;
    let secret = ffi::compute(&k.p, &k.g, &k.value, peer).ok_or_else(|| {
        err(
            CKR_MECHANISM_PARAM_INVALID,
            "the other party's DH public value is invalid",
        )
    })?;
    match len {
        None => Ok(secret),
        Some(l) if l > 0 && l <= secret.len() => {
            Ok(Zeroizing::new(secret[secret.len() - l..].to_vec()))
        }
        Some(_) => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "the derived key is longer than the DH shared secret",
        )),
    }
}

/// The C ABI boundary to aws-lc for DH. Every pointer aws-lc hands out is owned by an RAII
/// wrapper; failures come back as `None`.
mod ffi {
    use super::{Bn, to_be};
    use aws_lc_sys as lc;
    use std::ptr::{NonNull, null, null_mut};
    use zeroize::Zeroizing;

    /// An owned `DH`.
    struct Dh(NonNull<lc::DH>);

    impl Drop for Dh {
        fn drop(&mut self) {
            // SAFETY: we own this DH and free it exactly once.
            unsafe { lc::DH_free(self.0.as_ptr()) }
        }
    }

    impl Dh {
        fn new() -> Option<Dh> {
            // SAFETY: allocates a fresh DH (or returns null), which we own.
            NonNull::new(unsafe { lc::DH_new() }).map(Dh)
        }

        /// A DH with prime `p` and generator `g` (no subgroup order).
        fn with_pg(p: &[u8], g: &[u8]) -> Option<Dh> {
            let dh = Dh::new()?;
            let (bp, bg) = (Bn::from_be(p)?, Bn::from_be(g)?);
            // SAFETY: `dh` is valid; `bp` and `bg` are ours; on success `DH_set0_pqg` takes
            // them over (released below), a null `q` is allowed.
            let ok = unsafe {
                lc::DH_set0_pqg(
                    dh.0.as_ptr(),
                    bp.as_ptr() as *mut _,
                    null_mut(),
                    bg.as_ptr() as *mut _,
                )
            };
            if ok != 1 {
                return None;
            }
            let _ = (bp.into_raw(), bg.into_raw());
            Some(dh)
        }
    }

    /// `DH_generate_parameters_ex` with generator 2: `(p, g)`.
    pub(super) fn generate_parameters(bits: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        let dh = Dh::new()?;
        let bits = i32::try_from(bits).ok()?;
        // SAFETY: `dh` is valid; no callback (null) is allowed.
        let ok = unsafe { lc::DH_generate_parameters_ex(dh.0.as_ptr(), bits, 2, null_mut()) };
        if ok != 1 {
            return None;
        }
        let (mut p, mut q, mut g) = (null(), null(), null());
        // SAFETY: `dh` is valid; the returned pointers borrow from it while it lives.
        unsafe { lc::DH_get0_pqg(dh.0.as_ptr(), &mut p, &mut q, &mut g) };
        Some((to_be(p)?, to_be(g)?))
    }

    /// `DH_generate_key`: `(y, x)`; `value_bits` bounds the private value's length.
    pub(super) fn generate_key(
        p: &[u8],
        g: &[u8],
        value_bits: Option<u32>,
    ) -> Option<(Vec<u8>, Zeroizing<Vec<u8>>)> {
        let dh = Dh::with_pg(p, g)?;
        if let Some(bits) = value_bits {
            // SAFETY: `dh` is valid.
            if unsafe { lc::DH_set_length(dh.0.as_ptr(), bits) } != 1 {
                return None;
            }
        }
        // SAFETY: `dh` is valid with its parameters set.
        if unsafe { lc::DH_generate_key(dh.0.as_ptr()) } != 1 {
            return None;
        }
        let (mut y, mut x) = (null(), null());
        // SAFETY: `dh` is valid; the returned pointers borrow from it while it lives.
        unsafe { lc::DH_get0_key(dh.0.as_ptr(), &mut y, &mut x) };
        Some((to_be(y)?, Zeroizing::new(to_be(x)?)))
    }

    /// `DH_compute_key_padded`: the shared secret, as long as the prime.
    pub(super) fn compute(p: &[u8], g: &[u8], x: &[u8], peer: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let dh = Dh::with_pg(p, g)?;
        let bx = Bn::from_be(x)?;
        // SAFETY: `dh` is valid; `bx` is ours and taken over on success; a null public value
        // leaves it unset (only the private value is needed here).
        if unsafe { lc::DH_set0_key(dh.0.as_ptr(), null_mut(), bx.as_ptr() as *mut _) } != 1 {
            return None;
        }
        let _ = bx.into_raw();
        let peer = Bn::from_be(peer)?;
        // SAFETY: `dh` is valid.
        let size = usize::try_from(unsafe { lc::DH_size(dh.0.as_ptr()) }).ok()?;
        let mut out = Zeroizing::new(vec![0u8; size]);
        // SAFETY: `out` is writable for `DH_size(dh)` bytes, which is what aws-lc writes;
        // `peer` and `dh` are valid.
        let n =
            unsafe { lc::DH_compute_key_padded(out.as_mut_ptr(), peer.as_ptr(), dh.0.as_ptr()) };
        (usize::try_from(n).ok()? == size).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(params: &Attributes) -> (Attributes, Arc<KeyMaterial>) {
        let (public, private) = generate_key_pair(params, &Attributes::new()).unwrap();
        (
            public,
            Arc::new(KeyMaterial::Dh(
                DhKey::from_attributes(CKO_PRIVATE_KEY, &private).unwrap(),
            )),
        )
    }

    #[test]
    fn agree_on_a_shared_secret() {
        // RFC 7919 ffdhe2048 would be slow to generate; use a generated 512-bit group.
        let mut t = Attributes::new();
        t.set_ulong(CKA_PRIME_BITS, 512);
        let params = generate_parameters(&t).unwrap();
        assert_eq!(params.ulong(CKA_PRIME_BITS), Some(512));
        assert_eq!(params.bytes(CKA_PRIME).unwrap().len(), 64);
        let (a_pub, a_priv) = keys(&params);
        let (b_pub, b_priv) = keys(&params);
        let derive_with = |k: &Arc<KeyMaterial>, peer: &Attributes, len| {
            let mech = Mechanism::with(
                CKM_DH_PKCS_DERIVE,
                MechParams::Bytes(peer.bytes(CKA_VALUE).unwrap().to_vec()),
            );
            derive(&mech, k, len)
        };
        let ab = derive_with(&a_priv, &b_pub, None).unwrap();
        let ba = derive_with(&b_priv, &a_pub, None).unwrap();
        assert_eq!(ab.len(), 64);
        assert_eq!(*ab, *ba);
        let short = derive_with(&a_priv, &b_pub, Some(16)).unwrap();
        assert_eq!(short[..], ab[48..]);
        assert_eq!(
            derive_with(&a_priv, &b_pub, Some(65)).unwrap_err().rv,
            CKR_TEMPLATE_INCONSISTENT
        );
        let bad = Mechanism::with(CKM_DH_PKCS_DERIVE, MechParams::Bytes(vec![1]));
        assert_eq!(
            derive(&bad, &a_priv, None).unwrap_err().rv,
            CKR_MECHANISM_PARAM_INVALID
        );
        let none = Mechanism::new(CKM_DH_PKCS_DERIVE);
        assert_eq!(
            derive(&none, &a_priv, None).unwrap_err().rv,
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
