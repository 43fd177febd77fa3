//! ML-DSA family (FIPS 204; PKCS#11 3.2 §6.67): `CKM_ML_DSA_KEY_PAIR_GEN`, `CKM_ML_DSA` (pure,
//! multi-part by buffering), `CKM_HASH_ML_DSA` (HashML-DSA over a digest the caller computed:
//! single-part only) and `CKM_HASH_ML_DSA_<hash>` (HashML-DSA hashing the data itself,
//! multi-part) on `CKK_ML_DSA` keys of ML-DSA-44/65/87.
//!
//! Keys: `CKA_PARAMETER_SET` (`CKP_ML_DSA_44/65/87`), public `CKA_VALUE` = the raw public key,
//! private `CKA_SEED` = xi (32 bytes) and `CKA_VALUE` = the expanded private key; generation
//! gives both, `C_CreateObject` needs at least one (the seed wins and must agree with a given
//! value). Key generation and the public key from a seed use aws-lc-rs; signing and verifying
//! go through aws-lc's `ML-DSA.Sign_internal` / `Verify_internal` (`ffi::pqc`), which take
//! M' = pre || M (FIPS 204 Algorithms 2, 3, 4, 5) and the randomness: pure ML-DSA uses
//! pre = 0 || |ctx| || ctx, HashML-DSA pre = 1 || |ctx| || ctx || OID(hash) and M = PH(M).
//!
//! Parameters (`CK_SIGN_ADDITIONAL_CONTEXT`, `CK_HASH_SIGN_ADDITIONAL_CONTEXT`): none =
//! `CKH_HEDGE_PREFERRED` without context; the context is at most 255 bytes
//! (`CKR_MECHANISM_PARAM_INVALID` otherwise); `CKH_HEDGE_PREFERRED` and `CKH_HEDGE_REQUIRED`
//! draw 32 fresh random bytes, `CKH_DETERMINISTIC_REQUIRED` uses 32 zero bytes (FIPS 204's
//! deterministic variant); the hedge variant is ignored when verifying. HashML-DSA hashes:
//! SHA-224/256/384/512, SHA3-224/256/384/512, SHAKE128 (256-bit output) and SHAKE256 (512-bit
//! output) (FIPS 204 §5.4, OIDs 2.16.840.1.101.3.4.2.1-4, 7-12). `CKM_HASH_ML_DSA_SHAKE128` /
//! `_SHAKE256` hash the data themselves; PKCS#11 3.2 has no SHAKE digest mechanism to name in
//! `CK_HASH_SIGN_ADDITIONAL_CONTEXT.hash`, so `CKM_HASH_ML_DSA` takes
//! `CKM_SHAKE_128_KEY_DERIVATION` / `CKM_SHAKE_256_KEY_DERIVATION` there for a 32- / 64-byte
//! SHAKE pre-hash (simulator-defined).
//!
//! `CKA_PUBLIC_KEY_INFO` (the DER SubjectPublicKeyInfo, RFC 9881) is computed for both keys of
//! a generated pair and for an unwrapped private key; one given to `C_CreateObject` must be the
//! key's (checked when the public key is known: public keys, private keys with a seed).
//!
//! A private key is wrapped as PKCS#8 in the seed form (RFC 9881), which needs its seed; an
//! unwrapped PKCS#8 key of any form gets `CKA_VALUE`, and `CKA_SEED` too when the PKCS#8 holds
//! the seed (so it can be wrapped again).
use super::ffi::pqc;
use super::*;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsRawBytes;
use aws_lc_rs::signature::{
    KeyPair, ML_DSA_44_SIGNING, ML_DSA_65_SIGNING, ML_DSA_87_SIGNING, PqdsaKeyPair,
    PqdsaSigningAlgorithm,
};

/// Largest context string (FIPS 204: 255 bytes).
const MAX_CONTEXT_LEN: usize = 255;

/// The parameter set of `CKA_PARAMETER_SET`: 44, 65 or 87.
fn parameter_set(value: CK_ULONG) -> Result<u16> {
    match value {
        CKP_ML_DSA_44 => Ok(44),
        CKP_ML_DSA_65 => Ok(65),
        CKP_ML_DSA_87 => Ok(87),
        _ => Err(err(
            CKR_PARAMETER_SET_NOT_SUPPORTED,
            "CKA_PARAMETER_SET must be CKP_ML_DSA_44, CKP_ML_DSA_65 or CKP_ML_DSA_87",
        )),
    }
}

fn signing_algorithm(set: u16) -> &'static PqdsaSigningAlgorithm {
    match set {
        44 => &ML_DSA_44_SIGNING,
        65 => &ML_DSA_65_SIGNING,
        _ => &ML_DSA_87_SIGNING,
    }
}

fn sizes(set: u16) -> Result<pqc::MlDsaSizes> {
    pqc::ml_dsa_sizes(set).ok_or_else(|| err(CKR_GENERAL_ERROR, "unknown ML-DSA parameter set"))
}

fn bad_value(what: &'static str) -> crate::base::error::Error {
    err(CKR_ATTRIBUTE_VALUE_INVALID, what)
}

/// A parsed ML-DSA key: public (the raw public key) or private (the expanded key, and the seed
/// when known).
pub struct MlDsaKey {
    set: u16,
    public: Vec<u8>,
    private: Option<Zeroizing<Vec<u8>>>,
    seed: Option<Zeroizing<Vec<u8>>>,
}

/// The public key, expanded private key and seed of the key pair of seed `xi`.
fn from_seed(set: u16, seed: &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    let pair = PqdsaKeyPair::from_seed(signing_algorithm(set), seed)
        .map_err(|_| bad_value("CKA_SEED is not a 32-byte ML-DSA seed"))?;
    let expanded = pair
        .private_key()
        .as_raw_bytes()
        .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot expand the ML-DSA private key"))?;
    Ok((
        pair.public_key().as_ref().to_vec(),
        Zeroizing::new(expanded.as_ref().to_vec()),
    ))
}

impl MlDsaKey {
    pub fn from_attributes(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<Self> {
        let set = parameter_set(attrs.require_ulong(CKA_PARAMETER_SET)?)?;
        let sizes = sizes(set)?;
        match class {
            CKO_PUBLIC_KEY => {
                let public = attrs.require_bytes(CKA_VALUE)?;
                if public.len() != sizes.public {
                    return Err(bad_value(
                        "CKA_VALUE is not a public key of the parameter set",
                    ));
                }
                super::check_public_key_info(attrs, || public_key_info(set, public))?;
                Ok(MlDsaKey {
                    set,
                    public: public.to_vec(),
                    private: None,
                    seed: None,
                })
            }
            CKO_PRIVATE_KEY => match (attrs.bytes(CKA_SEED), attrs.bytes(CKA_VALUE)) {
                (Some(seed), value) => {
                    let (public, expanded) = from_seed(set, seed)?;
                    if value.is_some_and(|v| v != expanded.as_slice()) {
                        return Err(err(
                            CKR_TEMPLATE_INCONSISTENT,
                            "CKA_VALUE is not the private key of CKA_SEED",
                        ));
                    }
                    super::check_public_key_info(attrs, || public_key_info(set, &public))?;
                    Ok(MlDsaKey {
                        set,
                        public,
                        private: Some(expanded),
                        seed: Some(Zeroizing::new(seed.to_vec())),
                    })
                }
                (None, Some(value)) => {
                    if value.len() != sizes.private {
                        return Err(bad_value(
                            "CKA_VALUE is not an expanded private key of the parameter set",
                        ));
                    }
                    Ok(MlDsaKey {
                        set,
                        public: Vec::new(),
                        private: Some(Zeroizing::new(value.to_vec())),
                        seed: None,
                    })
                }
                (None, None) => Err(err(
                    CKR_TEMPLATE_INCOMPLETE,
                    "an ML-DSA private key needs CKA_SEED or CKA_VALUE",
                )),
            },
            _ => Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "not an ML-DSA public or private key",
            )),
        }
    }

    /// The parameter set (44, 65 or 87).
    pub fn set(&self) -> u16 {
        self.set
    }

    fn private(&self) -> Result<&[u8]> {
        self.private.as_deref().map(Vec::as_slice).ok_or_else(|| {
            err(
                CKR_KEY_TYPE_INCONSISTENT,
                "this operation needs an ML-DSA private key",
            )
        })
    }

    /// The private key as PKCS#8 v1 in the seed form (RFC 9881).
    pub fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        let seed = self.seed.as_ref().ok_or_else(|| {
            err(
                CKR_KEY_NOT_WRAPPABLE,
                "an ML-DSA private key without CKA_SEED cannot be wrapped (PKCS#8 needs the seed)",
            )
        })?;
        let pair = PqdsaKeyPair::from_seed(signing_algorithm(self.set), seed)
            .map_err(|_| err(CKR_FUNCTION_FAILED, "cannot rebuild the ML-DSA key"))?;
        let doc = pair.to_pkcs8v1().map_err(|_| {
            err(
                CKR_FUNCTION_FAILED,
                "cannot encode the ML-DSA key as PKCS#8",
            )
        })?;
        Ok(Zeroizing::new(doc.as_ref().to_vec()))
    }
}

/// The parameter-set value of a set number (44, 65, 87).
fn parameter_value(set: u16) -> CK_ULONG {
    match set {
        44 => CKP_ML_DSA_44,
        65 => CKP_ML_DSA_65,
        _ => CKP_ML_DSA_87,
    }
}

/// The DER SubjectPublicKeyInfo of a raw public key (`CKA_PUBLIC_KEY_INFO`).
fn public_key_info(set: u16, public: &[u8]) -> Result<Vec<u8>> {
    pqc::public_key_info(set, public).ok_or_else(|| {
        err(
            CKR_FUNCTION_FAILED,
            "cannot encode the ML-DSA public key info",
        )
    })
}

/// The attributes of an ML-DSA private key in PKCS#8 (seed, expanded or both forms):
/// `CKA_KEY_TYPE`, `CKA_PARAMETER_SET`, `CKA_VALUE` (the expanded key), `CKA_SEED` (when the
/// PKCS#8 holds it) and `CKA_PUBLIC_KEY_INFO` (aws-lc computes the public key from either).
pub fn attributes_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let not_ml_dsa = || err(CKR_WRAPPED_KEY_INVALID, "not a PKCS#8 ML-DSA private key");
    let key = pqc::parse_pqc_pkcs8(der).ok_or_else(not_ml_dsa)?;
    if !matches!(key.set, 44 | 65 | 87) {
        return Err(not_ml_dsa());
    }
    let public = key.public.as_ref().ok_or_else(not_ml_dsa)?;
    let mut out = Attributes::new();
    out.set_ulong(CKA_KEY_TYPE, CKK_ML_DSA);
    out.set_ulong(CKA_PARAMETER_SET, parameter_value(key.set));
    out.set_bytes(CKA_VALUE, key.private.to_vec());
    if let Some(seed) = &key.seed {
        out.set_bytes(CKA_SEED, seed.to_vec());
    }
    out.set_bytes(CKA_PUBLIC_KEY_INFO, public_key_info(key.set, public)?);
    Ok(out)
}

/// `CKM_ML_DSA_KEY_PAIR_GEN`: `CKA_PARAMETER_SET` comes from the public template (required).
pub fn generate_key_pair(
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    let (mut public, mut private) = super::seeded_key_pair::<32>(
        public_template,
        private_template,
        CKK_ML_DSA,
        |param, seed| from_seed(parameter_set(param)?, seed),
    )?;
    let set = parameter_set(public.require_ulong(CKA_PARAMETER_SET)?)?;
    let info = public_key_info(set, public.require_bytes(CKA_VALUE)?)?;
    public.set_bytes(CKA_PUBLIC_KEY_INFO, info.clone());
    private.set_bytes(CKA_PUBLIC_KEY_INFO, info);
    Ok((public, private))
}

/// The pre-hash of a HashML-DSA mechanism: how to hash, and the DER of the hash's OID.
#[derive(Clone, Copy)]
enum PreHash {
    Sha2(&'static digest::Algorithm),
    Sha3(u16),
    /// SHAKE128 or SHAKE256 (bits), with the output length in bytes.
    Shake(u16, usize),
}

/// The DER-encoded OID (NIST hash algorithms arc 2.16.840.1.101.3.4.2.n) and hash of a digest
/// mechanism HashML-DSA supports.
fn prehash(hash: CK_MECHANISM_TYPE) -> Result<(PreHash, [u8; 11], usize)> {
    let (h, n, len) = match hash {
        CKM_SHA224 => (PreHash::Sha2(&digest::SHA224), 4, 28),
        CKM_SHA256 => (PreHash::Sha2(&digest::SHA256), 1, 32),
        CKM_SHA384 => (PreHash::Sha2(&digest::SHA384), 2, 48),
        CKM_SHA512 => (PreHash::Sha2(&digest::SHA512), 3, 64),
        CKM_SHA3_224 => (PreHash::Sha3(224), 7, 28),
        CKM_SHA3_256 => (PreHash::Sha3(256), 8, 32),
        CKM_SHA3_384 => (PreHash::Sha3(384), 9, 48),
        CKM_SHA3_512 => (PreHash::Sha3(512), 10, 64),
        // PKCS#11 3.2 names no SHAKE digest mechanism: the SHAKE key-derivation mechanisms
        // stand for the XOFs here (simulator-defined).
        CKM_SHAKE_128_KEY_DERIVATION => (PreHash::Shake(128, 32), 11, 32),
        CKM_SHAKE_256_KEY_DERIVATION => (PreHash::Shake(256, 64), 12, 64),
        _ => {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "HashML-DSA supports SHA-224/256/384/512, SHA3-224/256/384/512 and SHAKE128/256 \
                 (CKM_SHAKE_128_KEY_DERIVATION / CKM_SHAKE_256_KEY_DERIVATION)",
            ));
        }
    };
    let oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, n,
    ];
    Ok((h, oid, len))
}

/// The digest mechanism of a `CKM_HASH_ML_DSA_<hash>` mechanism.
fn hash_of(mechanism_type: CK_MECHANISM_TYPE) -> Option<CK_MECHANISM_TYPE> {
    Some(match mechanism_type {
        CKM_HASH_ML_DSA_SHA224 => CKM_SHA224,
        CKM_HASH_ML_DSA_SHA256 => CKM_SHA256,
        CKM_HASH_ML_DSA_SHA384 => CKM_SHA384,
        CKM_HASH_ML_DSA_SHA512 => CKM_SHA512,
        CKM_HASH_ML_DSA_SHA3_224 => CKM_SHA3_224,
        CKM_HASH_ML_DSA_SHA3_256 => CKM_SHA3_256,
        CKM_HASH_ML_DSA_SHA3_384 => CKM_SHA3_384,
        CKM_HASH_ML_DSA_SHA3_512 => CKM_SHA3_512,
        CKM_HASH_ML_DSA_SHAKE128 => CKM_SHAKE_128_KEY_DERIVATION,
        CKM_HASH_ML_DSA_SHAKE256 => CKM_SHAKE_256_KEY_DERIVATION,
        _ => return None,
    })
}

/// How the data becomes M: as given (pure), a digest the caller made (`CKM_HASH_ML_DSA`, of
/// this length), or hashed here (`CKM_HASH_ML_DSA_<hash>`).
#[derive(Clone, Copy)]
enum Input {
    Pure,
    Digest(usize),
    Hash(PreHash),
}

/// An ML-DSA signature or verification: the prefix M' starts with, the input form, the data
/// so far and the randomness choice.
struct Operation {
    key: Arc<KeyMaterial>,
    pre: Vec<u8>,
    input: Input,
    data: Zeroizing<Vec<u8>>,
    deterministic: bool,
}

impl Operation {
    fn new(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Self> {
        let KeyMaterial::MlDsa(_) = key.as_ref() else {
            return Err(err(CKR_KEY_TYPE_INCONSISTENT, "an ML-DSA key is required"));
        };
        let (hedge, context, given_hash) = match &mech.params {
            MechParams::None => (CKH_HEDGE_PREFERRED, Vec::new(), None),
            MechParams::SignContext {
                hedge,
                context,
                hash,
            } => (*hedge, context.clone(), *hash),
            _ => {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "ML-DSA takes a CK_SIGN_ADDITIONAL_CONTEXT parameter",
                ));
            }
        };
        if context.len() > MAX_CONTEXT_LEN {
            return Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "the ML-DSA context string is at most 255 bytes",
            ));
        }
        let deterministic = match hedge {
            CKH_HEDGE_PREFERRED | CKH_HEDGE_REQUIRED => false,
            CKH_DETERMINISTIC_REQUIRED => true,
            _ => {
                return Err(err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "hedgeVariant must be CKH_HEDGE_PREFERRED, CKH_HEDGE_REQUIRED or CKH_DETERMINISTIC_REQUIRED",
                ));
            }
        };
        let hash = match mech.mechanism_type {
            CKM_ML_DSA => None,
            CKM_HASH_ML_DSA => Some(given_hash.ok_or_else(|| {
                err(
                    CKR_MECHANISM_PARAM_INVALID,
                    "CKM_HASH_ML_DSA needs a CK_HASH_SIGN_ADDITIONAL_CONTEXT naming the hash",
                )
            })?),
            other => Some(
                hash_of(other)
                    .ok_or_else(|| err(CKR_MECHANISM_INVALID, "not an ML-DSA mechanism"))?,
            ),
        };
        let mut pre = vec![u8::from(hash.is_some()), context.len() as u8];
        pre.extend_from_slice(&context);
        let input = match hash {
            None => Input::Pure,
            Some(h) => {
                let (ph, oid, len) = prehash(h)?;
                pre.extend_from_slice(&oid);
                if mech.mechanism_type == CKM_HASH_ML_DSA {
                    Input::Digest(len)
                } else {
                    Input::Hash(ph)
                }
            }
        };
        Ok(Operation {
            key: key.clone(),
            pre,
            input,
            data: Zeroizing::new(Vec::new()),
            deterministic,
        })
    }

    fn key(&self) -> &MlDsaKey {
        match self.key.as_ref() {
            KeyMaterial::MlDsa(k) => k,
            // `new` checked the key type.
            _ => unreachable!("ML-DSA operation on another key type"),
        }
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        if let Input::Digest(_) = self.input {
            return Err(err(
                CKR_OPERATION_NOT_INITIALIZED,
                "CKM_HASH_ML_DSA is single-part only (PKCS#11 3.2): use C_Sign / C_Verify",
            ));
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    /// M: the data, or its digest.
    fn message(&self, data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(match self.input {
            Input::Pure => data.to_vec(),
            Input::Digest(len) => {
                if data.len() != len {
                    return Err(err(
                        CKR_DATA_LEN_RANGE,
                        "the data must be a digest of the hash the parameter names",
                    ));
                }
                data.to_vec()
            }
            Input::Hash(PreHash::Sha2(alg)) => digest::digest(alg, data).as_ref().to_vec(),
            Input::Hash(PreHash::Sha3(bits)) => {
                pqc::sha3(bits, data).ok_or_else(|| err(CKR_FUNCTION_FAILED, "SHA-3 failed"))?
            }
            Input::Hash(PreHash::Shake(bits, len)) => pqc::shake(bits, data, len)
                .ok_or_else(|| err(CKR_FUNCTION_FAILED, "SHAKE failed"))?,
        }))
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        let key = self.key();
        let message = self.message(data)?;
        let mut rnd = [0u8; 32];
        if !self.deterministic {
            random_fill(&mut rnd)?;
        }
        pqc::ml_dsa_sign(key.set, key.private()?, &message, &self.pre, &rnd)
            .ok_or_else(|| err(CKR_FUNCTION_FAILED, "ML-DSA signing failed"))
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<()> {
        let key = self.key();
        if key.public.is_empty() {
            return Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "verification needs an ML-DSA public key",
            ));
        }
        if signature.len() != sizes(key.set)?.signature {
            return Err(err(
                CKR_SIGNATURE_LEN_RANGE,
                "the signature has the wrong length for the parameter set",
            ));
        }
        let message = self.message(data)?;
        if pqc::ml_dsa_verify(key.set, &key.public, signature, &message, &self.pre) {
            Ok(())
        } else {
            Err(err(
                CKR_SIGNATURE_INVALID,
                "the ML-DSA signature is invalid",
            ))
        }
    }
}

impl SignOperation for Operation {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        Operation::update(self, data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let data = std::mem::take(&mut self.data);
        self.sign(&data)
    }
    fn one_shot(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.sign(data)
    }
}

impl VerifyOperation for Operation {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        Operation::update(self, data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let data = std::mem::take(&mut self.data);
        self.verify(&data, signature)
    }
    fn one_shot(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.verify(data, signature)
    }
}

pub fn signer(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    let op = Operation::new(mech, key)?;
    if let KeyMaterial::MlDsa(k) = key.as_ref() {
        k.private()?;
    }
    Ok(Box::new(op))
}

pub fn verifier(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    Ok(Box::new(Operation::new(mech, key)?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{ML_DSA_44, ML_DSA_65, ML_DSA_87, UnparsedPublicKey};

    fn pair(set: u16) -> (Arc<KeyMaterial>, Arc<KeyMaterial>) {
        let param = match set {
            44 => CKP_ML_DSA_44,
            65 => CKP_ML_DSA_65,
            _ => CKP_ML_DSA_87,
        };
        let mut t = Attributes::new();
        t.set_ulong(CKA_PARAMETER_SET, param);
        let (public, private) = generate_key_pair(&t, &Attributes::new()).unwrap();
        (
            Arc::new(KeyMaterial::MlDsa(
                MlDsaKey::from_attributes(CKO_PUBLIC_KEY, &public).unwrap(),
            )),
            Arc::new(KeyMaterial::MlDsa(
                MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &private).unwrap(),
            )),
        )
    }

    fn with_context(m: CK_MECHANISM_TYPE, hedge: CK_ULONG, context: &[u8]) -> Mechanism {
        Mechanism::with(
            m,
            MechParams::SignContext {
                hedge,
                context: context.to_vec(),
                hash: None,
            },
        )
    }

    /// The internal-symbol route agrees with aws-lc-rs's public verifier (pure ML-DSA, empty
    /// context): a renamed or changed internal function fails here, not only at link time.
    #[test]
    fn pure_signatures_verify_with_aws_lc_rs_public_api() {
        for (set, alg) in [(44, &ML_DSA_44), (65, &ML_DSA_65), (87, &ML_DSA_87)] {
            let (public, private) = pair(set);
            let sig = signer(&Mechanism::new(CKM_ML_DSA), &private)
                .unwrap()
                .one_shot(b"message")
                .unwrap();
            let KeyMaterial::MlDsa(k) = public.as_ref() else {
                panic!("not ML-DSA")
            };
            UnparsedPublicKey::new(alg, &k.public)
                .verify(b"message", &sig)
                .expect("aws-lc-rs verifies the signature");
            assert!(
                UnparsedPublicKey::new(alg, &k.public)
                    .verify(b"other", &sig)
                    .is_err()
            );
        }
    }

    #[test]
    fn deterministic_signing_repeats_and_the_context_binds() {
        let (public, private) = pair(65);
        let m = with_context(CKM_ML_DSA, CKH_DETERMINISTIC_REQUIRED, b"ctx");
        let a = signer(&m, &private).unwrap().one_shot(b"data").unwrap();
        let b = signer(&m, &private).unwrap().one_shot(b"data").unwrap();
        assert_eq!(a, b);
        let hedged = with_context(CKM_ML_DSA, CKH_HEDGE_REQUIRED, b"ctx");
        let c = signer(&hedged, &private)
            .unwrap()
            .one_shot(b"data")
            .unwrap();
        assert_ne!(a, c);
        verifier(&m, &public)
            .unwrap()
            .one_shot(b"data", &c)
            .unwrap();
        let other = with_context(CKM_ML_DSA, CKH_HEDGE_PREFERRED, b"other");
        let e = verifier(&other, &public)
            .unwrap()
            .one_shot(b"data", &a)
            .unwrap_err();
        assert_eq!(e.rv, CKR_SIGNATURE_INVALID);
        let long = with_context(CKM_ML_DSA, CKH_HEDGE_PREFERRED, &[0; 256]);
        assert_eq!(
            signer(&long, &private).err().map(|e| e.rv),
            Some(CKR_MECHANISM_PARAM_INVALID)
        );
    }

    #[test]
    fn hash_ml_dsa_is_single_part_and_matches_the_hashing_variant() {
        let (public, private) = pair(44);
        let digest = digest::digest(&digest::SHA384, b"data");
        let m = Mechanism::with(
            CKM_HASH_ML_DSA,
            MechParams::SignContext {
                hedge: CKH_DETERMINISTIC_REQUIRED,
                context: Vec::new(),
                hash: Some(CKM_SHA384),
            },
        );
        let mut s = signer(&m, &private).unwrap();
        assert_eq!(
            s.update(b"x").unwrap_err().rv,
            CKR_OPERATION_NOT_INITIALIZED
        );
        let sig = signer(&m, &private)
            .unwrap()
            .one_shot(digest.as_ref())
            .unwrap();
        // CKM_HASH_ML_DSA_SHA384 over the data gives the same M': the same deterministic
        // signature, in parts.
        let h = with_context(CKM_HASH_ML_DSA_SHA384, CKH_DETERMINISTIC_REQUIRED, b"");
        let mut s = signer(&h, &private).unwrap();
        s.update(b"da").unwrap();
        s.update(b"ta").unwrap();
        assert_eq!(s.finish().unwrap(), sig);
        verifier(&m, &public)
            .unwrap()
            .one_shot(digest.as_ref(), &sig)
            .unwrap();
        // Pure ML-DSA over the same bytes is another M'.
        let e = verifier(&Mechanism::new(CKM_ML_DSA), &public)
            .unwrap()
            .one_shot(digest.as_ref(), &sig)
            .unwrap_err();
        assert_eq!(e.rv, CKR_SIGNATURE_INVALID);
        let sha3 = with_context(CKM_HASH_ML_DSA_SHA3_224, CKH_HEDGE_REQUIRED, b"");
        let sig3 = signer(&sha3, &private).unwrap().one_shot(b"data").unwrap();
        verifier(&sha3, &public)
            .unwrap()
            .one_shot(b"data", &sig3)
            .unwrap();
    }

    #[test]
    fn keys_from_seed_or_value_and_pkcs8() {
        let (_, private) = pair(87);
        let KeyMaterial::MlDsa(k) = private.as_ref() else {
            panic!("not ML-DSA")
        };
        let der = k.to_pkcs8().unwrap();
        let attrs = attributes_from_pkcs8(&der).unwrap();
        assert_eq!(attrs.ulong(CKA_PARAMETER_SET), Some(CKP_ML_DSA_87));
        assert_eq!(
            attrs.bytes(CKA_VALUE),
            k.private.as_deref().map(Vec::as_slice)
        );
        // The seed form keeps the seed, so the copy wraps again to the same PKCS#8.
        assert_eq!(attrs.bytes(CKA_SEED), k.seed.as_deref().map(Vec::as_slice));
        let copy = MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
        assert_eq!(copy.to_pkcs8().unwrap(), der);
        let mut value_only = attrs.clone();
        value_only.remove(CKA_SEED);
        let from_value = MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &value_only).unwrap();
        assert_eq!(
            from_value.to_pkcs8().err().map(|e| e.rv),
            Some(CKR_KEY_NOT_WRAPPABLE)
        );
        let mut wrong = attrs.clone();
        wrong.set_bytes(CKA_SEED, vec![7; 32]);
        assert!(MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &wrong).is_err());
    }

    /// The known-answer vectors of tests/data/pqc_kat.txt (`name hex` lines).
    pub(crate) fn kat(name: &str) -> Vec<u8> {
        let line = include_str!("../../tests/data/pqc_kat.txt")
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no vector {name}"));
        (0..line.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
            .collect()
    }

    fn sha256(data: &[u8]) -> Vec<u8> {
        digest::digest(&digest::SHA256, data).as_ref().to_vec()
    }

    /// FIPS 204 known answers from an independent implementation (dilithium-py 1.5.1; see
    /// tests/data/pqc_kat.py, which regenerates tests/data/pqc_kat.txt): for one fixed seed
    /// per parameter set, the key pair, a deterministic pure signature (empty context) and
    /// deterministic HashML-DSA signatures with SHAKE128 and SHAKE256, all of one message.
    #[test]
    fn known_answers_agree_with_dilithium_py() {
        let message = b"hsmsim known-answer test message";
        for (set, param) in [
            (44, CKP_ML_DSA_44),
            (65, CKP_ML_DSA_65),
            (87, CKP_ML_DSA_87),
        ] {
            let seed = kat(&format!("ml_dsa_{set}_seed"));
            let mut attrs = Attributes::new();
            attrs.set_ulong(CKA_PARAMETER_SET, param);
            attrs.set_bytes(CKA_SEED, seed);
            let key = MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
            assert_eq!(
                sha256(&key.public),
                kat(&format!("ml_dsa_{set}_pk_sha256")),
                "ML-DSA-{set} public key"
            );
            assert_eq!(
                sha256(key.private().unwrap()),
                kat(&format!("ml_dsa_{set}_sk_sha256")),
                "ML-DSA-{set} private key"
            );
            let private = Arc::new(KeyMaterial::MlDsa(key));
            for (mechanism, name) in [
                (CKM_ML_DSA, format!("ml_dsa_{set}_sig_sha256")),
                (
                    CKM_HASH_ML_DSA_SHAKE128,
                    format!("hash_ml_dsa_{set}_shake128_sig_sha256"),
                ),
                (
                    CKM_HASH_ML_DSA_SHAKE256,
                    format!("hash_ml_dsa_{set}_shake256_sig_sha256"),
                ),
            ] {
                let m = with_context(mechanism, CKH_DETERMINISTIC_REQUIRED, b"");
                let sig = signer(&m, &private).unwrap().one_shot(message).unwrap();
                assert_eq!(sha256(&sig), kat(&name), "{name}");
            }
        }
    }

    /// `CKM_HASH_ML_DSA` with the SHAKE stand-ins signs the caller's SHAKE digest as the
    /// hashing mechanisms sign the data; the digest must have the XOF's output length.
    #[test]
    fn shake_pre_hash_mechanisms_agree_with_the_digest_form() {
        let (public, private) = pair(44);
        for (hashing, hash, bits, len) in [
            (
                CKM_HASH_ML_DSA_SHAKE128,
                CKM_SHAKE_128_KEY_DERIVATION,
                128,
                32,
            ),
            (
                CKM_HASH_ML_DSA_SHAKE256,
                CKM_SHAKE_256_KEY_DERIVATION,
                256,
                64,
            ),
        ] {
            let h = with_context(hashing, CKH_DETERMINISTIC_REQUIRED, b"c");
            let mut s = signer(&h, &private).unwrap();
            s.update(b"da").unwrap();
            s.update(b"ta").unwrap();
            let sig = s.finish().unwrap();
            let digest = pqc::shake(bits, b"data", len).unwrap();
            let m = Mechanism::with(
                CKM_HASH_ML_DSA,
                MechParams::SignContext {
                    hedge: CKH_DETERMINISTIC_REQUIRED,
                    context: b"c".to_vec(),
                    hash: Some(hash),
                },
            );
            assert_eq!(
                signer(&m, &private).unwrap().one_shot(&digest).unwrap(),
                sig
            );
            verifier(&m, &public)
                .unwrap()
                .one_shot(&digest, &sig)
                .unwrap();
            assert_eq!(
                signer(&m, &private)
                    .unwrap()
                    .one_shot(&digest[1..])
                    .unwrap_err()
                    .rv,
                CKR_DATA_LEN_RANGE
            );
        }
        // SHAKE128 and SHAKE256 are different pre-hashes of the same data.
        let a = with_context(CKM_HASH_ML_DSA_SHAKE128, CKH_HEDGE_PREFERRED, b"");
        let b = with_context(CKM_HASH_ML_DSA_SHAKE256, CKH_HEDGE_PREFERRED, b"");
        let sig = signer(&a, &private).unwrap().one_shot(b"data").unwrap();
        assert_eq!(
            verifier(&b, &public)
                .unwrap()
                .one_shot(b"data", &sig)
                .unwrap_err()
                .rv,
            CKR_SIGNATURE_INVALID
        );
    }

    /// `CKA_PUBLIC_KEY_INFO`: the same SubjectPublicKeyInfo on both generated keys and on a
    /// private key read from PKCS#8: id-ml-dsa-NN (2.16.840.1.101.3.4.3.17/18/19) without
    /// parameters and the raw public key as the BIT STRING.
    #[test]
    fn public_key_info_is_the_spki_of_the_raw_public_key() {
        for (param, last_arc) in [
            (CKP_ML_DSA_44, 0x11),
            (CKP_ML_DSA_65, 0x12),
            (CKP_ML_DSA_87, 0x13),
        ] {
            let mut t = Attributes::new();
            t.set_ulong(CKA_PARAMETER_SET, param);
            let (public, private) = generate_key_pair(&t, &Attributes::new()).unwrap();
            let info = public.bytes(CKA_PUBLIC_KEY_INFO).unwrap();
            assert_eq!(private.bytes(CKA_PUBLIC_KEY_INFO), Some(info));
            let raw = public.bytes(CKA_VALUE).unwrap();
            let algorithm = [
                0x30, 0x0B, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, last_arc,
            ];
            assert_eq!(info[0], 0x30);
            assert_eq!(&info[4..4 + algorithm.len()], &algorithm);
            assert!(info.ends_with(raw));
            assert_eq!(info.len(), 4 + algorithm.len() + 5 + raw.len());
            let key = MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &private).unwrap();
            let unwrapped = attributes_from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
            assert_eq!(unwrapped.bytes(CKA_PUBLIC_KEY_INFO), Some(info));
        }
    }

    /// PKCS#8 written by dilithium-py's `pkcs` module in the three forms of RFC 9881 (seed,
    /// expanded, both) reads as the same key, with the seed when the form has it; the
    /// SubjectPublicKeyInfo agrees with dilithium-py's for every parameter set.
    #[test]
    fn pkcs8_and_spki_of_dilithium_py_agree() {
        for set in [44, 65, 87] {
            let (public, _) = from_seed(set, &kat(&format!("ml_dsa_{set}_seed"))).unwrap();
            assert_eq!(
                sha256(&public_key_info(set, &public).unwrap()),
                kat(&format!("ml_dsa_{set}_spki_sha256")),
                "SubjectPublicKeyInfo {set}"
            );
        }
        let seed = kat("ml_dsa_65_seed");
        for (form, has_seed) in [("seed", true), ("expanded", false), ("both", true)] {
            let der = kat(&format!("ml_dsa_65_pkcs8_{form}"));
            let attrs = attributes_from_pkcs8(&der).unwrap_or_else(|e| panic!("{form}: {e:?}"));
            assert_eq!(attrs.ulong(CKA_PARAMETER_SET), Some(CKP_ML_DSA_65));
            assert_eq!(
                sha256(attrs.bytes(CKA_VALUE).unwrap()),
                kat("ml_dsa_65_sk_sha256"),
                "{form}"
            );
            assert_eq!(
                attrs.bytes(CKA_SEED),
                has_seed.then_some(seed.as_slice()),
                "{form}"
            );
            assert_eq!(
                sha256(attrs.bytes(CKA_PUBLIC_KEY_INFO).unwrap()),
                kat("ml_dsa_65_spki_sha256"),
                "{form}"
            );
            // The seed form is what this module writes.
            if form == "seed" {
                let key = MlDsaKey::from_attributes(CKO_PRIVATE_KEY, &attrs).unwrap();
                assert_eq!(key.to_pkcs8().unwrap().as_slice(), der.as_slice());
            }
        }
    }
}
