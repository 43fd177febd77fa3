//! DSA (FIPS 186-4) on aws-lc: `CKM_DSA_PARAMETER_GEN` (a `CKO_DOMAIN_PARAMETERS` object with
//! `CKA_PRIME`, `CKA_SUBPRIME`, `CKA_BASE`, `CKA_PRIME_BITS`), `CKM_DSA_KEY_PAIR_GEN` (domain
//! parameters from the public template), `CKM_DSA` (the data is the digest) and
//! `CKM_DSA_SHA1`, `CKM_DSA_SHA224`, `CKM_DSA_SHA256`, `CKM_DSA_SHA384`, `CKM_DSA_SHA512`.
//! Signatures are PKCS#11's `r || s`, each half as long as the subprime.
//!
//! aws-lc-rs has no DSA, so this family calls aws-lc through aws-lc-sys (`ffi::dsa`, imported
//! as `sys`, with the big numbers of `ffi::bignum`): parameter and key generation, signing and
//! verifying are aws-lc's `DSA_generate_parameters_ex`, `DSA_generate_key`, `DSA_do_sign` and
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
use super::ffi::bignum::{bit_len, significant};
use super::ffi::dsa as sys;
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
    fn dsa(&self) -> Result<sys::Dsa> {
        check_sizes(&self.p, &self.q)?;
        let dsa = if self.private {
            sys::Dsa::new(&self.p, &self.q, &self.g, None, Some(&self.value))
        } else {
            sys::Dsa::new(&self.p, &self.q, &self.g, Some(&self.value), None)
        };
        dsa.ok_or_else(|| err(CKR_KEY_TYPE_INCONSISTENT, "aws-lc refuses this DSA key"))
    }

    fn q_len(&self) -> usize {
        significant(&self.q).len()
    }
}

fn check_sizes(p: &[u8], q: &[u8]) -> Result<()> {
    let p_bits = bit_len(p);
    let q_bits = bit_len(q);
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
    let (p, q, g) = sys::generate_parameters(bits)
        .ok_or_else(|| err(CKR_FUNCTION_FAILED, "DSA parameter generation failed"))?;
    let mut out = Attributes::new();
    out.set_ulong(CKA_KEY_TYPE, CKK_DSA);
    out.set_ulong(CKA_PRIME_BITS, bit_len(&p) as CK_ULONG);
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
    let (y, x) = sys::generate_key(p, q, g).ok_or_else(|| {
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
    dsa: sys::Dsa,
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
    dsa: sys::Dsa,
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
