//! Encryption at rest. Each token has a random 256-bit token key; the store keeps it only sealed
//! under a key derived from each PIN (PBKDF2-HMAC-SHA256 with a random salt, then AES-256-GCM),
//! so a PIN opens the token key and proves itself in one step. Object secrets (the values of
//! private and secret keys, and of data objects) are sealed under the token key with AES-256-GCM,
//! bound to their token and object by the associated data. Public attributes stay readable so
//! objects can be listed and found without the key.
use crate::attribute::Attributes;
use crate::error::{Result, err};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::pbkdf2;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

/// PBKDF2 iterations for PIN seals (simulator-defined: slow enough to be a real KDF, fast
/// enough for test suites that log in thousands of times).
const PIN_KDF_ITERATIONS: u32 = 10_000;
const KEY_LEN: usize = 32;

/// A token's key in memory; zeroised when dropped.
pub struct TokenKey(Zeroizing<[u8; KEY_LEN]>);

impl TokenKey {
    pub fn generate() -> Result<TokenKey> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        crate::mechanisms::random_fill(&mut k[..])?;
        Ok(TokenKey(k))
    }

    /// The key's bytes (only for the schema-1 migration record).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<TokenKey> {
        let k: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| err(CKR_DEVICE_ERROR, "a stored token key has the wrong length"))?;
        Ok(TokenKey(Zeroizing::new(k)))
    }

    fn aead(&self) -> Result<LessSafeKey> {
        aead_key(&self.0[..])
    }

    /// Seals an object's secret attributes, bound to `binding` (token and object identity).
    pub fn seal_secrets(&self, binding: &[u8], secrets: &Attributes) -> Result<Vec<u8>> {
        let plain = Zeroizing::new(postcard::to_stdvec(secrets).map_err(|e| {
            err(
                CKR_GENERAL_ERROR,
                format!("cannot encode object secrets: {e}"),
            )
        })?);
        seal(&self.aead()?, binding, &plain)
    }

    /// Opens what `seal_secrets` sealed; `CKR_DEVICE_ERROR` when the data was tampered with.
    pub fn open_secrets(&self, binding: &[u8], sealed: &[u8]) -> Result<Attributes> {
        let plain = open(&self.aead()?, binding, sealed).ok_or_else(|| {
            err(
                CKR_DEVICE_ERROR,
                "an object's sealed secrets do not authenticate (damaged store?)",
            )
        })?;
        postcard::from_bytes(&plain).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("an object's secrets are damaged: {e}"),
            )
        })
    }
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| err(CKR_GENERAL_ERROR, "AES-256-GCM key setup failed"))
}

/// `nonce || ciphertext || tag`.
fn seal(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::mechanisms::random_fill(&mut nonce)?;
    let mut out = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut out,
    )
    .map_err(|_| err(CKR_GENERAL_ERROR, "sealing failed"))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&out);
    Ok(sealed)
}

fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf[..])
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

/// The token key sealed under one PIN. Opening it with a PIN both checks the PIN and yields the
/// key; the PIN itself is never stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PinSeal {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub sealed_key: Vec<u8>,
}

impl PinSeal {
    /// Seals `key` under `pin`; `context` (the token's identity) is bound in.
    pub fn new(pin: &[u8], key: &TokenKey, context: &[u8]) -> Result<PinSeal> {
        let mut salt = vec![0u8; 16];
        crate::mechanisms::random_fill(&mut salt)?;
        let kek = pin_key(pin, &salt, PIN_KDF_ITERATIONS)?;
        Ok(PinSeal {
            sealed_key: seal(&kek, context, &key.0[..])?,
            salt,
            iterations: PIN_KDF_ITERATIONS,
        })
    }

    /// The token key if `pin` is the right one.
    pub fn open(&self, pin: &[u8], context: &[u8]) -> Option<TokenKey> {
        let kek = pin_key(pin, &self.salt, self.iterations).ok()?;
        let plain = open(&kek, context, &self.sealed_key)?;
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().ok()?;
        Some(TokenKey(Zeroizing::new(bytes)))
    }
}

fn pin_key(pin: &[u8], salt: &[u8], iterations: u32) -> Result<LessSafeKey> {
    let iterations = NonZeroU32::new(iterations)
        .ok_or_else(|| err(CKR_DEVICE_ERROR, "a PIN seal has zero KDF iterations"))?;
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        pin,
        &mut kek[..],
    );
    aead_key(&kek[..])
}

/// True for the attributes sealed at rest for an object of this class: the key values of
/// private and secret keys (every attribute PKCS#11 marks sensitive) and the value of data
/// objects (simulator-defined: data objects often carry secrets). The rule depends only on the
/// class, which never changes, so an object's sealed part is fixed at creation.
pub fn is_sealed(class: CK_OBJECT_CLASS, t: CK_ATTRIBUTE_TYPE) -> bool {
    match class {
        CKO_SECRET_KEY | CKO_DATA => t == CKA_VALUE,
        CKO_PRIVATE_KEY => matches!(
            t,
            CKA_VALUE
                | CKA_PRIVATE_EXPONENT
                | CKA_PRIME_1
                | CKA_PRIME_2
                | CKA_EXPONENT_1
                | CKA_EXPONENT_2
                | CKA_COEFFICIENT
        ),
        _ => false,
    }
}

/// What binds an object's sealed secrets to it: its token and unique id.
pub fn object_binding(token: &str, unique_id: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(token.len() + unique_id.len() + 1);
    b.extend_from_slice(token.as_bytes());
    b.push(0);
    b.extend_from_slice(unique_id);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_seal_opens_only_with_its_pin_and_context() {
        let key = TokenKey::generate().unwrap();
        let seal = PinSeal::new(b"12345678", &key, b"hsm/p").unwrap();
        let opened = seal.open(b"12345678", b"hsm/p").unwrap();
        assert_eq!(&opened.0[..], &key.0[..]);
        assert!(seal.open(b"12345679", b"hsm/p").is_none());
        assert!(seal.open(b"12345678", b"hsm/q").is_none());
        assert!(!seal.sealed_key.windows(8).any(|w| w == &key.0[..8]));
    }

    #[test]
    fn secrets_round_trip_and_are_bound_to_their_object() {
        let key = TokenKey::generate().unwrap();
        let mut secrets = Attributes::new();
        secrets.set_bytes(CKA_VALUE, vec![0x5A; 32]);
        let sealed = key.seal_secrets(b"t\0uid1", &secrets).unwrap();
        assert!(!sealed.windows(16).any(|w| w == [0x5A; 16]));
        assert_eq!(key.open_secrets(b"t\0uid1", &sealed).unwrap(), secrets);
        assert_eq!(
            key.open_secrets(b"t\0uid2", &sealed).unwrap_err().rv,
            CKR_DEVICE_ERROR
        );
        let other = TokenKey::generate().unwrap();
        assert!(other.open_secrets(b"t\0uid1", &sealed).is_err());
    }
}
