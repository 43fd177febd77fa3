//! Salted verifiers: a secret kept only as its `kdf` output, so it can be checked but not read
//! back. One type for every verifier: Primus card PINs, setup passwords and permanent secrets,
//! and the PIN verifiers of schema-1 stores. The Luna cloning-domain verifier is the kit's one
//! unsalted special case (`cloning_domain_verifier`).
//!
//! Stored formats (pinned by the tests below): `{"salt": [..], "hash": [..]}` for the Primus
//! verifiers, whose cost was never recorded and is `IMPLIED_ITERATIONS`; schema-1 PIN verifiers
//! add `"iterations"`. Each keeps its shape when written again.
use super::kdf;
use crate::base::error::Result;
use serde::{Deserialize, Serialize};

/// The PBKDF2 cost of a verifier that does not record one (every Primus verifier, and every
/// verifier `Verifier::new` makes): simulator-defined.
pub const IMPLIED_ITERATIONS: u32 = 10_000;
/// The length of a new verifier's random salt.
pub const SALT_LEN: usize = 16;
/// The length of a verifier's hash (and of the cloning-domain verifier).
pub const HASH_LEN: usize = 32;

/// A secret kept only as a salted PBKDF2-HMAC-SHA256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
    /// The PBKDF2 cost, where the format records it (schema-1 PIN verifiers); absent:
    /// `IMPLIED_ITERATIONS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
}

impl Verifier {
    /// A verifier of `secret` with a random salt at `IMPLIED_ITERATIONS`, which it does not
    /// record (the Primus format).
    pub fn new(secret: &[u8]) -> Result<Verifier> {
        Verifier::make(secret, IMPLIED_ITERATIONS, None)
    }

    /// A verifier of `secret` with a random salt at `iterations`, which it records.
    pub fn with_iterations(secret: &[u8], iterations: u32) -> Result<Verifier> {
        Verifier::make(secret, iterations, Some(iterations))
    }

    fn make(secret: &[u8], cost: u32, iterations: Option<u32>) -> Result<Verifier> {
        let mut salt = vec![0u8; SALT_LEN];
        crate::base::random::random_fill(&mut salt)?;
        let mut hash = vec![0u8; HASH_LEN];
        kdf::derive(secret, &salt, cost, &mut hash)?;
        Ok(Verifier {
            salt,
            hash,
            iterations,
        })
    }

    /// The PBKDF2 cost of this verifier.
    pub fn iterations(&self) -> u32 {
        self.iterations.unwrap_or(IMPLIED_ITERATIONS)
    }

    /// Whether `secret` is the secret verified (constant-time comparison).
    pub fn matches(&self, secret: &[u8]) -> bool {
        kdf::verify(secret, &self.salt, self.iterations(), &self.hash)
    }
}

/// The fixed, public salt of the cloning-domain verifier (simulator-defined).
pub const CLONING_DOMAIN_SALT: &[u8] = b"hsmsim luna cloning domain";

/// What a Luna partition stores of its cloning domain: the kit's KDF of the domain with the
/// fixed, public `CLONING_DOMAIN_SALT` at `IMPLIED_ITERATIONS`, `HASH_LEN` bytes. Unlike a
/// `Verifier` it is deterministic, so that two partitions (and lab files naming the domain)
/// can be compared without the domain in clear (simulator-defined). It is also the domain
/// secret the `transport` blobs of the domain are sealed under.
pub fn cloning_domain_verifier(domain: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HASH_LEN];
    kdf::derive(domain, CLONING_DOMAIN_SALT, IMPLIED_ITERATIONS, &mut out)
        .expect("the cloning-domain cost is not zero");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Primus verifier (card PIN "1234-5678") exactly as the code before the kit stored it.
    const PRIMUS_FORMAT: &str = r#"{"salt":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"hash":[244,160,242,223,154,77,3,138,101,204,67,107,185,61,189,141,240,142,0,21,50,133,121,44,128,163,71,31,142,186,155,89]}"#;
    /// A schema-1 PIN verifier ("userpin1") as the code before the kit read and kept it.
    const SCHEMA_1_FORMAT: &str = r#"{"salt":[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9],"hash":[111,173,161,19,214,125,132,203,248,80,122,62,183,104,221,23,212,63,87,249,11,1,176,9,87,223,47,219,75,3,251,73],"iterations":10000}"#;

    #[test]
    fn a_primus_verifier_of_the_earlier_code_verifies_and_keeps_its_shape() {
        let v: Verifier = serde_json::from_str(PRIMUS_FORMAT).unwrap();
        assert_eq!(v.iterations(), IMPLIED_ITERATIONS);
        assert!(v.matches(b"1234-5678"));
        assert!(!v.matches(b"1234-5679"));
        assert_eq!(serde_json::to_string(&v).unwrap(), PRIMUS_FORMAT);
    }

    #[test]
    fn a_schema_1_verifier_verifies_and_keeps_its_shape() {
        let v: Verifier = serde_json::from_str(SCHEMA_1_FORMAT).unwrap();
        assert_eq!(v.iterations, Some(10_000));
        assert!(v.matches(b"userpin1"));
        assert!(!v.matches(b"userpin2"));
        assert_eq!(serde_json::to_string(&v).unwrap(), SCHEMA_1_FORMAT);
        let mut zero = v.clone();
        zero.iterations = Some(0);
        assert!(!zero.matches(b"userpin1"));
    }

    #[test]
    fn new_verifiers_are_salted_and_written_in_their_format() {
        let a = Verifier::new(b"secret").unwrap();
        let b = Verifier::new(b"secret").unwrap();
        assert_ne!(a.salt, b.salt);
        assert!(a.matches(b"secret") && b.matches(b"secret"));
        assert!(!a.matches(b"secreT"));
        let text = serde_json::to_value(&a).unwrap();
        assert_eq!(text.as_object().unwrap().len(), 2, "{text}");
        let c = Verifier::with_iterations(b"secret", 1_000).unwrap();
        assert!(c.matches(b"secret"));
        assert_eq!(serde_json::to_value(&c).unwrap()["iterations"], 1_000);
    }

    #[test]
    fn the_cloning_domain_verifier_is_the_earlier_codes() {
        assert_eq!(
            cloning_domain_verifier(b"my-domain"),
            [
                68, 85, 78, 59, 122, 63, 62, 182, 123, 171, 226, 199, 75, 19, 76, 9, 251, 18, 108,
                222, 186, 198, 35, 221, 130, 154, 221, 200, 75, 119, 197, 112
            ]
        );
        assert_ne!(
            cloning_domain_verifier(b"my-domain"),
            cloning_domain_verifier(b"other")
        );
    }
}
