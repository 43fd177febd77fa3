//! Mechanisms: the registry of every supported `CKM_*` with its `CK_MECHANISM_INFO`, the parsed
//! mechanism parameters, key material held in memory behind object handles, the traits of an
//! operation in progress, and the dispatch from a mechanism to its family module (one module per
//! algorithm family, all on aws-lc-rs).
//!
//! Contract between the engine and the families:
//! - the engine checks the key's usage attribute (`CKA_SIGN`, ...), `CKA_ALLOWED_MECHANISMS`, and
//!   that the key type is one the registry lists for the mechanism, before calling a family;
//! - families check parameters (`CKR_MECHANISM_PARAM_INVALID`), key sizes (`CKR_KEY_SIZE_RANGE`)
//!   and data lengths (`CKR_DATA_LEN_RANGE`, `CKR_ENCRYPTED_DATA_LEN_RANGE`,
//!   `CKR_SIGNATURE_LEN_RANGE`, `CKR_SIGNATURE_INVALID`);
//! - an operation object never touches storage: it holds an `Arc` of parsed key material.
pub mod aes;
pub mod aes_mac;
pub mod authenticated_wrap;
pub mod des;
pub mod dh;
pub mod digest;
pub mod dsa;
pub mod ec;
pub mod eddsa;
pub mod ffi;
pub mod hmac;
pub mod kdf;
pub mod ml_dsa;
pub mod ml_kem;
pub mod montgomery;
pub mod rsa;

use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::base::random::random_fill;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Mechanism parameters, converted from the C structures at the ABI boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MechParams {
    None,
    /// An IV (CBC, CBC_PAD, AES_KEY_WRAP*'s optional alternative IV) or other plain byte param.
    Bytes(Vec<u8>),
    /// `CK_AES_CTR_PARAMS`.
    Ctr {
        counter_bits: CK_ULONG,
        counter_block: [u8; 16],
    },
    /// `CK_GCM_PARAMS`.
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: CK_ULONG,
    },
    /// `CK_RSA_PKCS_OAEP_PARAMS`; `source_data` is the label (`CKZ_DATA_SPECIFIED`).
    Oaep {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        source_data: Vec<u8>,
    },
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    Pss {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        salt_len: CK_ULONG,
    },
    /// `CK_ECDH1_DERIVE_PARAMS`.
    Ecdh {
        kdf: CK_EC_KDF_TYPE,
        shared_data: Vec<u8>,
        public_data: Vec<u8>,
    },
    /// `CK_RSA_AES_KEY_WRAP_PARAMS` (OAEP parameters inside).
    RsaAesKeyWrap {
        aes_key_bits: CK_ULONG,
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        source_data: Vec<u8>,
    },
    /// `CK_EDDSA_PARAMS`.
    Eddsa {
        prehash: bool,
        context: Vec<u8>,
    },
    /// `CK_SIGN_ADDITIONAL_CONTEXT` (`CKM_ML_DSA`, `CKM_HASH_ML_DSA_<hash>`) and
    /// `CK_HASH_SIGN_ADDITIONAL_CONTEXT` (`CKM_HASH_ML_DSA`, with `hash`).
    SignContext {
        hedge: CK_ULONG,
        context: Vec<u8>,
        hash: Option<CK_MECHANISM_TYPE>,
    },
    /// `CK_MAC_GENERAL_PARAMS` (the `*_HMAC_GENERAL` output length).
    MacLength(CK_ULONG),
    /// `CKM_CONCATENATE_BASE_AND_KEY`'s second key.
    KeyHandle(CK_OBJECT_HANDLE),
    /// `CK_EXTRACT_PARAMS`: the index of the first bit to extract.
    ExtractBit(CK_ULONG),
    /// `CK_AES_CBC_ENCRYPT_DATA_PARAMS`.
    AesCbcData {
        iv: [u8; 16],
        data: Vec<u8>,
    },
    /// `CK_SP800_108_KDF_PARAMS` / `CK_SP800_108_FEEDBACK_KDF_PARAMS`.
    Kbkdf(Box<kdf::KbkdfParams>),
}

/// A mechanism and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mechanism {
    pub mechanism_type: CK_MECHANISM_TYPE,
    pub params: MechParams,
}

impl Mechanism {
    pub fn new(mechanism_type: CK_MECHANISM_TYPE) -> Self {
        Mechanism {
            mechanism_type,
            params: MechParams::None,
        }
    }
    pub fn with(mechanism_type: CK_MECHANISM_TYPE, params: MechParams) -> Self {
        Mechanism {
            mechanism_type,
            params,
        }
    }
    /// `CKR_MECHANISM_PARAM_INVALID` unless the mechanism has no parameter.
    pub fn expect_no_params(&self) -> Result<()> {
        match &self.params {
            MechParams::None => Ok(()),
            _ => Err(err(
                CKR_MECHANISM_PARAM_INVALID,
                "this mechanism takes no parameter",
            )),
        }
    }
}

/// Parsed key material, shared by every operation that uses the key.
pub enum KeyMaterial {
    Rsa(rsa::RsaKey),
    Ec(ec::EcKey),
    Ed25519(eddsa::EdKey),
    X25519(montgomery::X25519Key),
    Dsa(dsa::DsaKey),
    Dh(dh::DhKey),
    MlDsa(ml_dsa::MlDsaKey),
    MlKem(ml_kem::MlKemKey),
    /// AES, DES, DES2, DES3 and generic-secret/HMAC keys: the value itself.
    Secret(SecretKey),
}

/// A symmetric key value with its type.
pub struct SecretKey {
    pub key_type: CK_KEY_TYPE,
    pub value: Zeroizing<Vec<u8>>,
}

impl KeyMaterial {
    /// Parses an object's key attributes once, when the key is first used.
    pub fn from_attributes(
        class: CK_OBJECT_CLASS,
        key_type: CK_KEY_TYPE,
        attrs: &Attributes,
    ) -> Result<KeyMaterial> {
        match (class, key_type) {
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_RSA) => Ok(KeyMaterial::Rsa(
                rsa::RsaKey::from_attributes(class, attrs)?,
            )),
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_EC) => {
                Ok(KeyMaterial::Ec(ec::EcKey::from_attributes(class, attrs)?))
            }
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_EC_EDWARDS) => Ok(KeyMaterial::Ed25519(
                eddsa::EdKey::from_attributes(class, attrs)?,
            )),
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY) => Ok(KeyMaterial::X25519(
                montgomery::X25519Key::from_attributes(class, attrs)?,
            )),
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_DSA) => Ok(KeyMaterial::Dsa(
                dsa::DsaKey::from_attributes(class, attrs)?,
            )),
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_DH) => {
                Ok(KeyMaterial::Dh(dh::DhKey::from_attributes(class, attrs)?))
            }
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_ML_DSA) => Ok(KeyMaterial::MlDsa(
                ml_dsa::MlDsaKey::from_attributes(class, attrs)?,
            )),
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_ML_KEM) => Ok(KeyMaterial::MlKem(
                ml_kem::MlKemKey::from_attributes(class, attrs)?,
            )),
            (CKO_SECRET_KEY, _) => Ok(KeyMaterial::Secret(SecretKey {
                key_type,
                value: Zeroizing::new(attrs.require_bytes(CKA_VALUE)?.to_vec()),
            })),
            _ => Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                "not a key this simulator can use",
            )),
        }
    }

    pub fn secret(&self) -> Result<&SecretKey> {
        match self {
            KeyMaterial::Secret(s) => Ok(s),
            _ => Err(err(CKR_KEY_TYPE_INCONSISTENT, "a secret key is required")),
        }
    }
}

/// A signature (or MAC) operation in progress. Data-buffering mechanisms (raw RSA, raw ECDSA)
/// collect `update`s and sign in `finish`.
pub trait SignOperation: Send {
    fn update(&mut self, data: &[u8]) -> Result<()>;
    fn finish(&mut self) -> Result<Vec<u8>>;
    fn one_shot(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.update(data)?;
        self.finish()
    }
}

/// A verification (or MAC check) in progress. A wrong signature is `CKR_SIGNATURE_INVALID`, a
/// signature of impossible length `CKR_SIGNATURE_LEN_RANGE`.
pub trait VerifyOperation: Send {
    fn update(&mut self, data: &[u8]) -> Result<()>;
    fn finish(&mut self, signature: &[u8]) -> Result<()>;
    fn one_shot(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.update(data)?;
        self.finish(signature)
    }
}

/// An encryption or decryption in progress. `update` returns whatever output is ready.
pub trait CipherOperation: Send {
    fn update(&mut self, input: &[u8]) -> Result<Vec<u8>>;
    fn finish(&mut self) -> Result<Vec<u8>>;
    fn one_shot(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = self.update(input)?;
        out.extend(self.finish()?);
        Ok(out)
    }
    /// The exact length `update` returns for `input_len` more bytes, found without changing
    /// the operation: a length query or a short buffer of `C_*Update` consumes nothing.
    fn update_len(&self, input_len: usize) -> usize;
    /// The exact length `finish` returns, when known without doing the work (`None`: the
    /// engine runs `finish` for a length query and holds the output for the repeated call).
    fn finish_len(&self) -> Option<usize> {
        None
    }
    /// As `finish_len`, for `one_shot` of `input_len` bytes.
    fn one_shot_len(&self, _input_len: usize) -> Option<usize> {
        None
    }
}

/// A digest in progress.
pub trait DigestOperation: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(&mut self) -> Vec<u8>;
}

/// Which family implements a mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rsa,
    Ec,
    Eddsa,
    /// X25519 (`montgomery.rs`).
    Montgomery,
    Aes,
    /// DES, DES2 and DES3 (`des.rs`).
    Des,
    Digest,
    Hmac,
    GenericSecret,
    /// `CKM_AES_MAC`, `CKM_AES_MAC_GENERAL` (`aes_mac.rs`).
    AesMac,
    Dsa,
    Dh,
    /// Derivation from secret keys (`kdf.rs`).
    Kdf,
    /// ML-DSA (`ml_dsa.rs`).
    MlDsa,
    /// ML-KEM (`ml_kem.rs`).
    MlKem,
}

/// One supported mechanism: its `CK_MECHANISM_INFO` and the key types it accepts.
#[derive(Debug, Clone, Copy)]
pub struct MechanismEntry {
    pub mechanism_type: CK_MECHANISM_TYPE,
    pub name: &'static str,
    pub family: Family,
    pub min_key_size: CK_ULONG,
    pub max_key_size: CK_ULONG,
    pub flags: CK_FLAGS,
    /// Key types the mechanism operates on (empty for digests and key generation).
    pub key_types: &'static [CK_KEY_TYPE],
}

const RSA: &[CK_KEY_TYPE] = &[CKK_RSA];
const EC: &[CK_KEY_TYPE] = &[CKK_EC];
const EDW: &[CK_KEY_TYPE] = &[CKK_EC_EDWARDS];
const AES: &[CK_KEY_TYPE] = &[CKK_AES];
const DES3: &[CK_KEY_TYPE] = &[CKK_DES2, CKK_DES3];
const DES: &[CK_KEY_TYPE] = &[CKK_DES];
const NONE: &[CK_KEY_TYPE] = &[];
const DSA: &[CK_KEY_TYPE] = &[CKK_DSA];
const DH: &[CK_KEY_TYPE] = &[CKK_DH];
const ML_DSA: &[CK_KEY_TYPE] = &[CKK_ML_DSA];
const ML_KEM: &[CK_KEY_TYPE] = &[CKK_ML_KEM];
/// Key encapsulation (PKCS#11 3.2 `C_EncapsulateKey` / `C_DecapsulateKey`).
const KEM: CK_FLAGS = CKF_ENCAPSULATE | CKF_DECAPSULATE;
/// Base keys of the secret-key derivations: any secret key.
const SECRET_KEYS: &[CK_KEY_TYPE] = &[
    CKK_GENERIC_SECRET,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_AES,
    CKK_DES,
    CKK_DES2,
    CKK_DES3,
];
/// Keys an HMAC may use: generic secrets and the typed HMAC keys (any secret bytes work).
const MAC_KEYS: &[CK_KEY_TYPE] = &[
    CKK_GENERIC_SECRET,
    CKK_SHA_1_HMAC,
    CKK_SHA224_HMAC,
    CKK_SHA256_HMAC,
    CKK_SHA384_HMAC,
    CKK_SHA512_HMAC,
    CKK_AES,
];

const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const ED: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const WU: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;
/// The message-based API (PKCS#11 3.0 `C_MessageEncryptInit`, ...).
const MSG: CK_FLAGS = CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE;
const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

macro_rules! entry {
    ($m:ident, $fam:ident, $min:expr, $max:expr, $flags:expr, $keys:expr) => {
        MechanismEntry {
            mechanism_type: $m,
            name: stringify!($m),
            family: Family::$fam,
            min_key_size: $min,
            max_key_size: $max,
            flags: $flags,
            key_types: $keys,
        }
    };
}

/// Every mechanism the simulator implements. Key sizes: RSA and EC in bits, AES, DES and HMAC
/// keys in bytes, generic-secret generation in bits (as PKCS#11 3.0 §6 specifies per family).
pub static MECHANISMS: &[MechanismEntry] = &[
    entry!(
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        Rsa,
        1024,
        4096,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(
        CKM_RSA_PKCS,
        Rsa,
        512,
        4096,
        SV | ED | WU | CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER,
        RSA
    ),
    entry!(
        CKM_RSA_X_509,
        Rsa,
        512,
        4096,
        SV | ED | WU | CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER,
        RSA
    ),
    entry!(CKM_RSA_PKCS_PSS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_RSA_PKCS_OAEP, Rsa, 512, 4096, ED | WU, RSA),
    entry!(CKM_SHA1_RSA_PKCS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA224_RSA_PKCS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA256_RSA_PKCS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA384_RSA_PKCS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA512_RSA_PKCS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA1_RSA_PKCS_PSS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA224_RSA_PKCS_PSS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA256_RSA_PKCS_PSS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA384_RSA_PKCS_PSS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_SHA512_RSA_PKCS_PSS, Rsa, 512, 4096, SV, RSA),
    entry!(CKM_RSA_AES_KEY_WRAP, Rsa, 512, 4096, WU, RSA),
    entry!(
        CKM_EC_KEY_PAIR_GEN,
        Ec,
        192,
        521,
        CKF_GENERATE_KEY_PAIR | EC_FLAGS,
        NONE
    ),
    entry!(CKM_ECDSA, Ec, 192, 521, SV | EC_FLAGS, EC),
    entry!(CKM_ECDSA_SHA1, Ec, 192, 521, SV | EC_FLAGS, EC),
    entry!(CKM_ECDSA_SHA224, Ec, 192, 521, SV | EC_FLAGS, EC),
    entry!(CKM_ECDSA_SHA256, Ec, 192, 521, SV | EC_FLAGS, EC),
    entry!(CKM_ECDSA_SHA384, Ec, 192, 521, SV | EC_FLAGS, EC),
    entry!(CKM_ECDSA_SHA512, Ec, 192, 521, SV | EC_FLAGS, EC),
    entry!(
        CKM_ECDH1_DERIVE,
        Ec,
        192,
        521,
        CKF_DERIVE | EC_FLAGS,
        &[CKK_EC, CKK_EC_MONTGOMERY]
    ),
    entry!(
        CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
        Montgomery,
        255,
        255,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(
        CKM_EC_EDWARDS_KEY_PAIR_GEN,
        Eddsa,
        255,
        255,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(CKM_EDDSA, Eddsa, 255, 255, SV, EDW),
    // ML-DSA and ML-KEM: the key sizes are the range of CKA_PARAMETER_SET values (PKCS#11 3.2).
    entry!(
        CKM_ML_DSA_KEY_PAIR_GEN,
        MlDsa,
        1,
        3,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(CKM_ML_DSA, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA224, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA256, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA384, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA512, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA3_224, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA3_256, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA3_384, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHA3_512, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHAKE128, MlDsa, 1, 3, SV, ML_DSA),
    entry!(CKM_HASH_ML_DSA_SHAKE256, MlDsa, 1, 3, SV, ML_DSA),
    entry!(
        CKM_ML_KEM_KEY_PAIR_GEN,
        MlKem,
        1,
        3,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(CKM_ML_KEM, MlKem, 1, 3, KEM, ML_KEM),
    entry!(CKM_AES_KEY_GEN, Aes, 16, 32, CKF_GENERATE, NONE),
    entry!(CKM_AES_ECB, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_AES_CBC, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_AES_CBC_PAD, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_AES_CTR, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_AES_GCM, Aes, 16, 32, ED | WU | MSG, AES),
    entry!(CKM_AES_CMAC, Aes, 16, 32, SV, AES),
    entry!(CKM_AES_KEY_WRAP, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_AES_KEY_WRAP_PAD, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_AES_KEY_WRAP_KWP, Aes, 16, 32, ED | WU, AES),
    entry!(CKM_DES3_KEY_GEN, Des, 24, 24, CKF_GENERATE, NONE),
    entry!(CKM_DES3_ECB, Des, 16, 24, ED | WU, DES3),
    entry!(CKM_DES3_CBC, Des, 16, 24, ED | WU, DES3),
    entry!(CKM_DES3_CBC_PAD, Des, 16, 24, ED | WU, DES3),
    entry!(CKM_DES_KEY_GEN, Des, 8, 8, CKF_GENERATE, NONE),
    entry!(CKM_DES_ECB, Des, 8, 8, ED | WU, DES),
    entry!(CKM_DES_CBC, Des, 8, 8, ED | WU, DES),
    entry!(CKM_DES_CBC_PAD, Des, 8, 8, ED | WU, DES),
    entry!(
        CKM_GENERIC_SECRET_KEY_GEN,
        GenericSecret,
        8,
        4096,
        CKF_GENERATE,
        NONE
    ),
    entry!(CKM_SHA_1_KEY_GEN, GenericSecret, 1, 512, CKF_GENERATE, NONE),
    entry!(
        CKM_SHA224_KEY_GEN,
        GenericSecret,
        1,
        512,
        CKF_GENERATE,
        NONE
    ),
    entry!(
        CKM_SHA256_KEY_GEN,
        GenericSecret,
        1,
        512,
        CKF_GENERATE,
        NONE
    ),
    entry!(
        CKM_SHA384_KEY_GEN,
        GenericSecret,
        1,
        512,
        CKF_GENERATE,
        NONE
    ),
    entry!(
        CKM_SHA512_KEY_GEN,
        GenericSecret,
        1,
        512,
        CKF_GENERATE,
        NONE
    ),
    entry!(CKM_SHA_1_HMAC, Hmac, 1, 512, SV, MAC_KEYS),
    entry!(CKM_SHA224_HMAC, Hmac, 1, 512, SV, MAC_KEYS),
    entry!(CKM_SHA256_HMAC, Hmac, 1, 512, SV, MAC_KEYS),
    entry!(CKM_SHA384_HMAC, Hmac, 1, 512, SV, MAC_KEYS),
    entry!(CKM_SHA512_HMAC, Hmac, 1, 512, SV, MAC_KEYS),
    entry!(CKM_SHA_1, Digest, 0, 0, CKF_DIGEST, NONE),
    entry!(CKM_SHA224, Digest, 0, 0, CKF_DIGEST, NONE),
    entry!(CKM_SHA256, Digest, 0, 0, CKF_DIGEST, NONE),
    entry!(CKM_SHA384, Digest, 0, 0, CKF_DIGEST, NONE),
    entry!(CKM_SHA512, Digest, 0, 0, CKF_DIGEST, NONE),
    entry!(CKM_AES_MAC, AesMac, 16, 32, SV, AES),
    entry!(CKM_AES_MAC_GENERAL, AesMac, 16, 32, SV, AES),
    entry!(CKM_DES2_KEY_GEN, Des, 16, 16, CKF_GENERATE, NONE),
    entry!(CKM_DSA_PARAMETER_GEN, Dsa, 512, 3072, CKF_GENERATE, NONE),
    entry!(
        CKM_DSA_KEY_PAIR_GEN,
        Dsa,
        512,
        3072,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(CKM_DSA, Dsa, 512, 3072, SV, DSA),
    entry!(CKM_DSA_SHA1, Dsa, 512, 3072, SV, DSA),
    entry!(CKM_DSA_SHA224, Dsa, 512, 3072, SV, DSA),
    entry!(CKM_DSA_SHA256, Dsa, 512, 3072, SV, DSA),
    entry!(CKM_DSA_SHA384, Dsa, 512, 3072, SV, DSA),
    entry!(CKM_DSA_SHA512, Dsa, 512, 3072, SV, DSA),
    entry!(CKM_DH_PKCS_PARAMETER_GEN, Dh, 512, 4096, CKF_GENERATE, NONE),
    entry!(
        CKM_DH_PKCS_KEY_PAIR_GEN,
        Dh,
        512,
        4096,
        CKF_GENERATE_KEY_PAIR,
        NONE
    ),
    entry!(CKM_DH_PKCS_DERIVE, Dh, 512, 4096, CKF_DERIVE, DH),
    entry!(
        CKM_CONCATENATE_BASE_AND_KEY,
        Kdf,
        1,
        512,
        CKF_DERIVE,
        SECRET_KEYS
    ),
    entry!(
        CKM_CONCATENATE_BASE_AND_DATA,
        Kdf,
        1,
        512,
        CKF_DERIVE,
        SECRET_KEYS
    ),
    entry!(
        CKM_CONCATENATE_DATA_AND_BASE,
        Kdf,
        1,
        512,
        CKF_DERIVE,
        SECRET_KEYS
    ),
    entry!(CKM_XOR_BASE_AND_DATA, Kdf, 1, 512, CKF_DERIVE, SECRET_KEYS),
    entry!(
        CKM_EXTRACT_KEY_FROM_KEY,
        Kdf,
        1,
        512,
        CKF_DERIVE,
        SECRET_KEYS
    ),
    entry!(CKM_AES_ECB_ENCRYPT_DATA, Kdf, 16, 32, CKF_DERIVE, AES),
    entry!(CKM_AES_CBC_ENCRYPT_DATA, Kdf, 16, 32, CKF_DERIVE, AES),
    entry!(
        CKM_SP800_108_COUNTER_KDF,
        Kdf,
        1,
        512,
        CKF_DERIVE,
        SECRET_KEYS
    ),
    entry!(
        CKM_SP800_108_FEEDBACK_KDF,
        Kdf,
        1,
        512,
        CKF_DERIVE,
        SECRET_KEYS
    ),
];

/// The registry entry of a mechanism, or `CKR_MECHANISM_INVALID`.
pub fn lookup(mechanism_type: CK_MECHANISM_TYPE) -> Result<&'static MechanismEntry> {
    MECHANISMS
        .iter()
        .find(|e| e.mechanism_type == mechanism_type)
        .ok_or_else(|| {
            err(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mechanism_type:X} is not supported"),
            )
        })
}

/// Whether a mechanism is one of PKCS#11 3.2's post-quantum ones (ML-DSA, ML-KEM), which
/// vendor models offer from some firmware on.
pub fn is_post_quantum(mechanism_type: CK_MECHANISM_TYPE) -> bool {
    lookup(mechanism_type).is_ok_and(|e| matches!(e.family, Family::MlDsa | Family::MlKem))
}

/// The entry of a mechanism, checked to support `flag` (`CKR_MECHANISM_INVALID` otherwise).
pub fn lookup_for(
    mechanism_type: CK_MECHANISM_TYPE,
    flag: CK_FLAGS,
) -> Result<&'static MechanismEntry> {
    let entry = lookup(mechanism_type)?;
    if entry.flags & flag == 0 {
        return Err(err(
            CKR_MECHANISM_INVALID,
            format!("{} cannot be used for this operation", entry.name),
        ));
    }
    Ok(entry)
}

/// Starts a signature (`CKF_SIGN`) with the given key.
pub fn sign_init(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn SignOperation>> {
    match lookup_for(mech.mechanism_type, CKF_SIGN)?.family {
        Family::Rsa => rsa::signer(mech, key),
        Family::Ec => ec::signer(mech, key),
        Family::Eddsa => eddsa::signer(mech, key),
        Family::Aes => aes::signer(mech, key),
        Family::Hmac => hmac::signer(mech, key),
        Family::AesMac => aes_mac::signer(mech, key),
        Family::Dsa => dsa::signer(mech, key),
        Family::MlDsa => ml_dsa::signer(mech, key),
        _ => Err(err(CKR_MECHANISM_INVALID, "mechanism cannot sign")),
    }
}

/// Starts a verification (`CKF_VERIFY`) with the given key.
pub fn verify_init(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn VerifyOperation>> {
    match lookup_for(mech.mechanism_type, CKF_VERIFY)?.family {
        Family::Rsa => rsa::verifier(mech, key),
        Family::Ec => ec::verifier(mech, key),
        Family::Eddsa => eddsa::verifier(mech, key),
        Family::Aes => aes::verifier(mech, key),
        Family::Hmac => hmac::verifier(mech, key),
        Family::AesMac => aes_mac::verifier(mech, key),
        Family::Dsa => dsa::verifier(mech, key),
        Family::MlDsa => ml_dsa::verifier(mech, key),
        _ => Err(err(CKR_MECHANISM_INVALID, "mechanism cannot verify")),
    }
}

/// Signs with message recovery (`CKM_RSA_PKCS`, `CKM_RSA_X_509`): one-shot only.
pub fn sign_recover(mech: &Mechanism, key: &Arc<KeyMaterial>, data: &[u8]) -> Result<Vec<u8>> {
    lookup_for(mech.mechanism_type, CKF_SIGN_RECOVER)?;
    rsa::sign_recover(mech, key, data)
}

/// Verifies a signature and returns the recovered data.
pub fn verify_recover(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    signature: &[u8],
) -> Result<Vec<u8>> {
    lookup_for(mech.mechanism_type, CKF_VERIFY_RECOVER)?;
    rsa::verify_recover(mech, key, signature)
}

/// The cipher operation of a family (encryption when `encrypt`, else decryption); wrapping
/// and unwrapping use the same operations.
fn cipher(
    family: Family,
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    encrypt: bool,
) -> Result<Box<dyn CipherOperation>> {
    match (family, encrypt) {
        (Family::Rsa, true) => rsa::encryptor(mech, key),
        (Family::Rsa, false) => rsa::decryptor(mech, key),
        (Family::Aes, true) => aes::encryptor(mech, key),
        (Family::Aes, false) => aes::decryptor(mech, key),
        (Family::Des, true) => des::encryptor(mech, key),
        (Family::Des, false) => des::decryptor(mech, key),
        _ => Err(err(
            CKR_MECHANISM_INVALID,
            "the mechanism has no cipher operation",
        )),
    }
}

/// Starts an encryption.
pub fn encrypt_init(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher(
        lookup_for(mech.mechanism_type, CKF_ENCRYPT)?.family,
        mech,
        key,
        true,
    )
}

/// Starts a decryption.
pub fn decrypt_init(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<Box<dyn CipherOperation>> {
    cipher(
        lookup_for(mech.mechanism_type, CKF_DECRYPT)?.family,
        mech,
        key,
        false,
    )
}

/// Starts a digest.
pub fn digest_init(mech: &Mechanism) -> Result<Box<dyn DigestOperation>> {
    lookup_for(mech.mechanism_type, CKF_DIGEST)?;
    mech.expect_no_params()?;
    digest::digester(mech.mechanism_type)
}

/// The block size of the ECB and CBC mechanisms without padding: wrapping with them pads the
/// key with zeros to a whole number of blocks (PKCS#11 3.0, the AES, DES and DES3 ECB and CBC
/// mechanisms: the key value is "padded on the trailing end with up to block size minus one
/// null bytes").
fn zero_padded_block(mechanism_type: CK_MECHANISM_TYPE) -> Option<usize> {
    match mechanism_type {
        CKM_AES_ECB | CKM_AES_CBC => Some(16),
        CKM_DES_ECB | CKM_DES_CBC | CKM_DES3_ECB | CKM_DES3_CBC => Some(8),
        _ => None,
    }
}

/// Wraps `key_bytes` (a secret key's value, or a private key's PKCS#8 encoding) under
/// `wrapping_key`. `CKM_RSA_AES_KEY_WRAP` and every mechanism with `CKF_WRAP` are accepted.
pub fn wrap(
    mech: &Mechanism,
    wrapping_key: &Arc<KeyMaterial>,
    key_bytes: &[u8],
) -> Result<Vec<u8>> {
    let entry = lookup_for(mech.mechanism_type, CKF_WRAP)?;
    if mech.mechanism_type == CKM_RSA_AES_KEY_WRAP {
        return rsa::rsa_aes_wrap(mech, wrapping_key, key_bytes);
    }
    let mut input = Zeroizing::new(key_bytes.to_vec());
    if let Some(block) = zero_padded_block(mech.mechanism_type) {
        input.resize(key_bytes.len().div_ceil(block) * block, 0);
    }
    cipher(entry.family, mech, wrapping_key, true)?
        .one_shot(&input)
        .map_err(|e| {
            if e.rv == CKR_DATA_LEN_RANGE {
                err(
                    CKR_KEY_SIZE_RANGE,
                    "the key's length does not suit the wrapping mechanism",
                )
            } else {
                e
            }
        })
}

/// The `len`-byte value of a secret key in the bytes `unwrap` returned: raw RSA
/// (`CKM_RSA_X_509`) gives a block as long as the modulus holding the key as a big-endian
/// number, so the key is its rightmost bytes; the block ciphers put zero padding after the
/// key, so it is the leftmost. `len` is at most `plain.len()`.
pub fn unwrapped_value<'a>(mech: &Mechanism, plain: &'a [u8], len: usize) -> &'a [u8] {
    match mech.mechanism_type {
        CKM_RSA_X_509 => &plain[plain.len().saturating_sub(len)..],
        _ => &plain[..len.min(plain.len())],
    }
}

/// Whether `unwrap` with this mechanism may return more bytes than the key: zero padding of
/// the block ciphers' ECB/CBC modes, raw RSA's modulus-long block. Without `CKA_VALUE_LEN` (or
/// a fixed-length key type) the key's length then cannot be known; with the other mechanisms
/// the unwrapped bytes are the key.
pub fn unwrap_may_pad(mech: &Mechanism) -> bool {
    matches!(
        mech.mechanism_type,
        CKM_RSA_X_509
            | CKM_AES_ECB
            | CKM_AES_CBC
            | CKM_DES_ECB
            | CKM_DES_CBC
            | CKM_DES3_ECB
            | CKM_DES3_CBC
    )
}

/// Unwraps `wrapped` with `unwrapping_key`, returning the key bytes (a secret value or PKCS#8).
pub fn unwrap(
    mech: &Mechanism,
    unwrapping_key: &Arc<KeyMaterial>,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let entry = lookup_for(mech.mechanism_type, CKF_UNWRAP)?;
    if mech.mechanism_type == CKM_RSA_AES_KEY_WRAP {
        return rsa::rsa_aes_unwrap(mech, unwrapping_key, wrapped).map(Zeroizing::new);
    }
    cipher(entry.family, mech, unwrapping_key, false)?
        .one_shot(wrapped)
        .map(Zeroizing::new)
        .map_err(|e| match e.rv {
            CKR_ENCRYPTED_DATA_INVALID | CKR_ENCRYPTED_DATA_LEN_RANGE => {
                err(CKR_WRAPPED_KEY_INVALID, "the wrapped key does not decrypt")
            }
            _ => e,
        })
}

/// Derives secret bytes from a base key (`CKM_ECDH1_DERIVE`); `len` is the wanted length when
/// the template gives one.
pub fn derive(
    mech: &Mechanism,
    base: &Arc<KeyMaterial>,
    len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>> {
    match lookup_for(mech.mechanism_type, CKF_DERIVE)?.family {
        Family::Ec => match base.as_ref() {
            KeyMaterial::X25519(_) => montgomery::derive(mech, base, len),
            _ => ec::derive(mech, base, len),
        },
        Family::Dh => dh::derive(mech, base, len),
        _ => Err(err(CKR_MECHANISM_INVALID, "mechanism cannot derive")),
    }
}

/// Derives the values of one or more secret keys from a base key: one value per entry of
/// `lens` (the main key's wanted length, then SP 800-108's additional keys'). `other` is
/// `CKM_CONCATENATE_BASE_AND_KEY`'s second key.
pub fn derive_keys(
    mech: &Mechanism,
    base: &Arc<KeyMaterial>,
    other: Option<&KeyMaterial>,
    lens: &[Option<usize>],
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    match lookup_for(mech.mechanism_type, CKF_DERIVE)?.family {
        Family::Kdf => kdf::derive(mech, base, other, lens),
        _ => Ok(vec![derive(mech, base, lens.first().copied().flatten())?]),
    }
}

/// The ciphertext length of a key encapsulation with this (public) key, known without the
/// work (`C_EncapsulateKey`'s length query).
pub fn encapsulated_len(mech: &Mechanism, key: &Arc<KeyMaterial>) -> Result<usize> {
    match lookup_for(mech.mechanism_type, CKF_ENCAPSULATE)?.family {
        Family::MlKem => ml_kem::ciphertext_len(mech, key),
        _ => Err(err(CKR_MECHANISM_INVALID, "mechanism cannot encapsulate")),
    }
}

/// Encapsulates a fresh shared secret to a public key: (ciphertext, shared secret).
pub fn encapsulate(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)> {
    match lookup_for(mech.mechanism_type, CKF_ENCAPSULATE)?.family {
        Family::MlKem => ml_kem::encapsulate(mech, key),
        _ => Err(err(CKR_MECHANISM_INVALID, "mechanism cannot encapsulate")),
    }
}

/// Recovers the shared secret of a ciphertext with a private key.
pub fn decapsulate(
    mech: &Mechanism,
    key: &Arc<KeyMaterial>,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    match lookup_for(mech.mechanism_type, CKF_DECAPSULATE)?.family {
        Family::MlKem => ml_kem::decapsulate(mech, key, ciphertext),
        _ => Err(err(CKR_MECHANISM_INVALID, "mechanism cannot decapsulate")),
    }
}

/// Generates a secret key's value: returns the attributes to store (`CKA_VALUE`, `CKA_VALUE_LEN`
/// and `CKA_KEY_TYPE`). `template` is the caller's template (for `CKA_VALUE_LEN`).
pub fn generate_key(mech: &Mechanism, template: &Attributes) -> Result<Attributes> {
    mech.expect_no_params()?;
    let entry = lookup_for(mech.mechanism_type, CKF_GENERATE)?;
    let (key_type, len) = match entry.family {
        Family::Dsa => return dsa::generate_parameters(template),
        Family::Dh => return dh::generate_parameters(template),
        Family::Aes => {
            let len = template.require_ulong(CKA_VALUE_LEN)? as usize;
            if !matches!(len, 16 | 24 | 32) {
                return Err(err(CKR_KEY_SIZE_RANGE, "AES keys are 16, 24 or 32 bytes"));
            }
            (CKK_AES, len)
        }
        Family::Des => {
            let key_type = match mech.mechanism_type {
                CKM_DES_KEY_GEN => CKK_DES,
                CKM_DES2_KEY_GEN => CKK_DES2,
                _ => CKK_DES3,
            };
            let len = des::fixed_value_len(key_type).unwrap_or(24);
            // DES keys have no CKA_VALUE_LEN in PKCS#11, but Luna clients send it equal to the
            // fixed length: accepted then. Any other value conflicts with the mechanism:
            // CKR_TEMPLATE_INCONSISTENT, as for a CKA_KEY_TYPE other than the mechanism's and
            // for a C_CreateObject CKA_VALUE_LEN that differs from the value (the value alone
            // is a valid length, so not CKR_ATTRIBUTE_VALUE_INVALID).
            if template
                .ulong(CKA_VALUE_LEN)
                .is_some_and(|l| l != len as CK_ULONG)
            {
                return Err(err(
                    CKR_TEMPLATE_INCONSISTENT,
                    format!("CKA_VALUE_LEN must be {len}, the key type's fixed length"),
                ));
            }
            (key_type, len)
        }
        Family::GenericSecret => {
            let len = template.require_ulong(CKA_VALUE_LEN)? as usize;
            if !(1..=512).contains(&len) {
                return Err(err(
                    CKR_KEY_SIZE_RANGE,
                    "generic secrets are 1 to 512 bytes",
                ));
            }
            // The 3.0 SHA-n key generators make typed HMAC keys; the generic one honours the
            // template's key type.
            let key_type = match mech.mechanism_type {
                CKM_SHA_1_KEY_GEN => CKK_SHA_1_HMAC,
                CKM_SHA224_KEY_GEN => CKK_SHA224_HMAC,
                CKM_SHA256_KEY_GEN => CKK_SHA256_HMAC,
                CKM_SHA384_KEY_GEN => CKK_SHA384_HMAC,
                CKM_SHA512_KEY_GEN => CKK_SHA512_HMAC,
                _ => template.ulong(CKA_KEY_TYPE).unwrap_or(CKK_GENERIC_SECRET),
            };
            (key_type, len)
        }
        _ => {
            return Err(err(
                CKR_MECHANISM_INVALID,
                "mechanism does not generate secret keys",
            ));
        }
    };
    let mut value = Zeroizing::new(vec![0u8; len]);
    random_fill(&mut value)?;
    if let Some(fixed) = des::fixed_value_len(key_type) {
        // The generic generator may be asked for a DES key type of another length.
        if len != fixed {
            return Err(err(
                CKR_KEY_SIZE_RANGE,
                "a DES, DES2 or DES3 key has its key type's fixed length",
            ));
        }
        des::set_odd_parity(&mut value);
        // A weak or semi-weak DES key (or component) is drawn with probability about 2^-52;
        // a few draws always suffice, the bound only guards against a broken check.
        let mut draws = 1;
        while !des::usable(key_type, &value) {
            if draws == 16 {
                return Err(err(CKR_GENERAL_ERROR, "no usable DES key value was drawn"));
            }
            random_fill(&mut value)?;
            des::set_odd_parity(&mut value);
            draws += 1;
        }
    }
    let mut out = Attributes::new();
    out.set_ulong(CKA_KEY_TYPE, key_type);
    out.set_ulong(CKA_VALUE_LEN, len as CK_ULONG);
    out.set_bytes(CKA_VALUE, value.to_vec());
    Ok(out)
}

/// Generates a key pair: returns (public key attributes, private key attributes) with the key
/// values (`CKA_MODULUS`, `CKA_EC_POINT`, ...) and `CKA_KEY_TYPE`.
pub fn generate_key_pair(
    mech: &Mechanism,
    public_template: &Attributes,
    private_template: &Attributes,
) -> Result<(Attributes, Attributes)> {
    mech.expect_no_params()?;
    match lookup_for(mech.mechanism_type, CKF_GENERATE_KEY_PAIR)?.family {
        Family::Rsa => rsa::generate_key_pair(public_template, private_template),
        Family::Ec => ec::generate_key_pair(public_template, private_template),
        Family::Eddsa => eddsa::generate_key_pair(public_template, private_template),
        Family::Montgomery => montgomery::generate_key_pair(public_template, private_template),
        Family::Dsa => dsa::generate_key_pair(public_template, private_template),
        Family::Dh => dh::generate_key_pair(public_template, private_template),
        Family::MlDsa => ml_dsa::generate_key_pair(public_template, private_template),
        Family::MlKem => ml_kem::generate_key_pair(public_template, private_template),
        _ => Err(err(
            CKR_MECHANISM_INVALID,
            "mechanism does not generate key pairs",
        )),
    }
}

/// A private key's PKCS#8 `PrivateKeyInfo`, the form `C_WrapKey` wraps.
pub fn private_key_to_pkcs8(key: &KeyMaterial) -> Result<Zeroizing<Vec<u8>>> {
    match key {
        KeyMaterial::Rsa(k) => k.to_pkcs8(),
        KeyMaterial::Ec(k) => k.to_pkcs8(),
        KeyMaterial::Ed25519(k) => k.to_pkcs8(),
        KeyMaterial::X25519(k) => k.to_pkcs8(),
        KeyMaterial::Secret(_) => Err(err(CKR_KEY_NOT_WRAPPABLE, "not a private key")),
        KeyMaterial::MlDsa(k) => k.to_pkcs8(),
        KeyMaterial::MlKem(k) => k.to_pkcs8(),
        KeyMaterial::Dsa(_) | KeyMaterial::Dh(_) => Err(err(
            CKR_KEY_NOT_WRAPPABLE,
            "wrapping DSA and DH private keys is not supported",
        )),
    }
}

/// The attributes of a private key unwrapped from PKCS#8: its key type and values.
///
/// Up to 15 zero bytes after the DER are accepted (simulator-defined, found by the conformance
/// suite): SoftHSMv2 2.6.1 zero-pads a private key's PKCS#8 to a multiple of 8 bytes before
/// wrapping it with `CKM_AES_KEY_WRAP_PAD`, and OpenSSL-based tokens read such blobs; the ECB
/// and CBC mechanisms pad it to a whole block of up to 16 bytes (`wrap`).
pub fn private_key_from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let parse = |d: &[u8]| {
        rsa::attributes_from_pkcs8(d)
            .or_else(|_| ec::attributes_from_pkcs8(d))
            .or_else(|_| eddsa::attributes_from_pkcs8(d))
            .or_else(|_| montgomery::attributes_from_pkcs8(d))
            .or_else(|_| ml_dsa::attributes_from_pkcs8(d))
            .or_else(|_| ml_kem::attributes_from_pkcs8(d))
    };
    let zeros = der.iter().rev().take(15).take_while(|b| **b == 0).count();
    (0..=zeros)
        .find_map(|k| parse(&der[..der.len() - k]).ok())
        .ok_or(())
        .map_err(|_| {
            err(
                CKR_WRAPPED_KEY_INVALID,
                format!(
                    "the unwrapped data ({} bytes) is not a PKCS#8 private key this module reads",
                    der.len()
                ),
            )
        })
}

/// The class of the object `C_GenerateKey` makes with this mechanism: domain parameters for the
/// parameter generators, a secret key otherwise.
pub fn generated_class(mechanism_type: CK_MECHANISM_TYPE) -> CK_OBJECT_CLASS {
    match mechanism_type {
        CKM_DSA_PARAMETER_GEN | CKM_DH_PKCS_PARAMETER_GEN => CKO_DOMAIN_PARAMETERS,
        _ => CKO_SECRET_KEY,
    }
}

/// Checks a post-quantum key's `CKA_PUBLIC_KEY_INFO`, when the object has a non-empty one (a
/// caller may give it to `C_CreateObject`), against the SubjectPublicKeyInfo of the key's
/// public key (`expected`): `CKR_TEMPLATE_INCONSISTENT` if they differ.
pub(crate) fn check_public_key_info(
    attrs: &Attributes,
    expected: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<()> {
    match attrs.bytes(CKA_PUBLIC_KEY_INFO) {
        Some(given) if !given.is_empty() && given != expected()?.as_slice() => Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "CKA_PUBLIC_KEY_INFO is not the SubjectPublicKeyInfo of the key's public key",
        )),
        _ => Ok(()),
    }
}

/// A post-quantum key pair (ML-DSA, ML-KEM) generated from a fresh random seed of `SEED`
/// bytes: `CKA_PARAMETER_SET` from the public template (required; the private template may
/// repeat it, not differ), `make` turning the parameter set and the seed into the public
/// `CKA_VALUE` and the private `CKA_VALUE`; the private key keeps the seed (`CKA_SEED`).
pub(crate) fn seeded_key_pair<const SEED: usize>(
    public_template: &Attributes,
    private_template: &Attributes,
    key_type: CK_KEY_TYPE,
    make: impl FnOnce(CK_ULONG, &[u8]) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>)>,
) -> Result<(Attributes, Attributes)> {
    let param = public_template.require_ulong(CKA_PARAMETER_SET)?;
    if private_template
        .ulong(CKA_PARAMETER_SET)
        .is_some_and(|p| p != param)
    {
        return Err(err(
            CKR_TEMPLATE_INCONSISTENT,
            "the templates give different CKA_PARAMETER_SET",
        ));
    }
    let mut seed = Zeroizing::new([0u8; SEED]);
    random_fill(seed.as_mut())?;
    let (public_value, private_value) = make(param, seed.as_ref())?;
    let mut public = Attributes::new();
    public.set_ulong(CKA_KEY_TYPE, key_type);
    public.set_ulong(CKA_PARAMETER_SET, param);
    public.set_bytes(CKA_VALUE, public_value);
    let mut private = Attributes::new();
    private.set_ulong(CKA_KEY_TYPE, key_type);
    private.set_ulong(CKA_PARAMETER_SET, param);
    private.set_bytes(CKA_SEED, seed.to_vec());
    private.set_bytes(CKA_VALUE, private_value.to_vec());
    Ok((public, private))
}
