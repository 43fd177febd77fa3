//! PKCS #3 Diffie-Hellman on aws-lc: `CKM_DH_PKCS_PARAMETER_GEN` (a `CKO_DOMAIN_PARAMETERS`
//! object with `CKA_PRIME`, `CKA_BASE`, `CKA_PRIME_BITS`), `CKM_DH_PKCS_KEY_PAIR_GEN` (prime and
//! base from the public template, optional `CKA_VALUE_BITS` in the private template) and
//! `CKM_DH_PKCS_DERIVE` (the parameter is the other party's public value).
//!
//! aws-lc-rs has no finite-field DH, so this family calls aws-lc through aws-lc-sys (`ffi::dh`,
//! imported as `sys`, with the big numbers of `ffi::bignum`): `DH_generate_parameters_ex`
//! (generator 2), `DH_generate_key` and `DH_compute_key_padded`, which checks the peer's value
//! (`DH_check_pub_key`).
//!
//! Choices (simulator-defined where PKCS#11 is silent):
//! - primes of 512 to 4096 bits (`CKR_KEY_SIZE_RANGE` otherwise);
//! - the shared secret is PKCS #3's octet string as long as the prime; a derived key of a
//!   shorter length keeps its trailing bytes ("the truncation removes bytes from the leading
//!   end", as PKCS#11 specifies for DH derivation); a longer one is `CKR_TEMPLATE_INCONSISTENT`;
//! - a peer value aws-lc refuses (not in `[2, p-2]`, ...) is `CKR_MECHANISM_PARAM_INVALID`.
use super::ffi::bignum::bit_len;
use super::ffi::dh as sys;
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
    let (p, g) = sys::generate_parameters(bits)
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
    let (y, x) = sys::generate_key(p, g, value_bits).ok_or_else(|| {
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
    let secret = sys::compute(&k.p, &k.g, &k.value, peer).ok_or_else(|| {
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
