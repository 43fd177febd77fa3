//! Encryption at rest. Each token has a random 256-bit token key; the store keeps it only sealed
//! under a key derived from each PIN (PBKDF2-HMAC-SHA256 with a random salt, then AES-256-GCM),
//! so a PIN opens the token key and proves itself in one step. A PIN seal records its KDF
//! parameters and is bound (AES-GCM associated data) to its token's partition and generation:
//! a seal written for one initialisation of a token never opens another. Object secrets (the
//! values of private and secret keys, and of data objects) are sealed under the token key with
//! AES-256-GCM, bound to their token and object by the associated data. Public attributes stay
//! readable so objects can be listed and found without the key.
use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::base::ids::PartitionId;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256 (the kit's `kdf`) iterations of new PIN seals unless `HSMSIM_PIN_KDF_ITERATIONS` says
/// otherwise: OWASP's 2023 figure for PBKDF2-HMAC-SHA256 (simulator-defined choice of KDF:
/// PBKDF2 is the FIPS 140 (SP 800-132) password KDF the simulated HSMs' world uses, and
/// aws-lc-rs already has it; Argon2id would need a second crypto library).
pub const DEFAULT_PIN_KDF_ITERATIONS: u32 = 600_000;
/// The least a lab may choose: SP 800-132's minimum iteration count.
pub const MIN_PIN_KDF_ITERATIONS: u32 = 1_000;
/// The most a lab may choose (about seconds per login), so a typo cannot hang every login.
pub const MAX_PIN_KDF_ITERATIONS: u32 = 10_000_000;
/// The environment variable with which a lab chooses a lower (or higher) cost for the PIN seals
/// written from then on (test suites that log in thousands of times); existing seals keep the
/// cost they were written with.
pub const PIN_KDF_ITERATIONS_VARIABLE: &str = "HSMSIM_PIN_KDF_ITERATIONS";
/// The PIN seal format this build writes: 1 binds the partition, the token generation and the
/// KDF parameters. Format 0 (hsmsim before it) bound the partition only; such seals still open
/// and are rewritten in format 1 at their PIN's next successful login or change.
pub const PIN_SEAL_FORMAT: u32 = 1;

/// The iterations of the PIN seals written now: `HSMSIM_PIN_KDF_ITERATIONS` when set (a whole
/// number from `MIN_PIN_KDF_ITERATIONS` to `MAX_PIN_KDF_ITERATIONS`), else
/// `DEFAULT_PIN_KDF_ITERATIONS`. Any other value is refused (`CKR_DEVICE_ERROR`, naming the
/// variable, as for a lab that is not usable) rather than silently weakened or ignored.
pub fn pin_kdf_iterations() -> Result<u32> {
    let chosen = SCRATCH_PIN_KDF_ITERATIONS.load(std::sync::atomic::Ordering::Relaxed);
    if chosen != 0 {
        return Ok(chosen);
    }
    let text = std::env::var_os(PIN_KDF_ITERATIONS_VARIABLE);
    #[cfg(test)]
    if text.is_none() {
        return Ok(UNIT_TEST_PIN_KDF_ITERATIONS);
    }
    parse_iterations(text.as_deref().map(|t| t.to_string_lossy()).as_deref())
}

/// The cost of the PIN seals this crate's unit tests write when the variable is not set (the
/// cost the integration tests set), so that their thousands of seals do not each spend 600,000
/// PBKDF2 iterations; the default itself is tested through `parse_iterations`.
#[cfg(test)]
pub const UNIT_TEST_PIN_KDF_ITERATIONS: u32 = 10_000;

/// The cost a program chose for the PIN seals this process writes (0: none chosen), ahead of
/// `HSMSIM_PIN_KDF_ITERATIONS`: for a program whose labs hold nothing of value and live for
/// one run (the conformance runner's scenario labs, served in-process by the CCC server),
/// as `HSMSIM_PIN_KDF_ITERATIONS` does for the processes it starts. Simulator-defined.
static SCRATCH_PIN_KDF_ITERATIONS: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(0);

/// Chooses the cost of every PIN seal this process writes from now on (a whole number from
/// `MIN_PIN_KDF_ITERATIONS` to `MAX_PIN_KDF_ITERATIONS`; anything else is refused), for
/// programs whose labs are scratch copies thrown away after a run (see
/// `SCRATCH_PIN_KDF_ITERATIONS`); existing seals keep the cost they were written with.
pub fn choose_scratch_pin_kdf_iterations(iterations: u32) -> Result<()> {
    let checked = parse_iterations(Some(&iterations.to_string()))?;
    SCRATCH_PIN_KDF_ITERATIONS.store(checked, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// `pin_kdf_iterations` for the variable's value (`None`: not set).
fn parse_iterations(text: Option<&str>) -> Result<u32> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_PIN_KDF_ITERATIONS);
    };
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (MIN_PIN_KDF_ITERATIONS..=MAX_PIN_KDF_ITERATIONS).contains(n))
        .ok_or_else(|| {
            err(
                CKR_DEVICE_ERROR,
                format!(
                    "{PIN_KDF_ITERATIONS_VARIABLE}={text:?}: the PIN KDF's iterations must be a whole number from {MIN_PIN_KDF_ITERATIONS} to {MAX_PIN_KDF_ITERATIONS} (default {DEFAULT_PIN_KDF_ITERATIONS})"
                ),
            )
        })
}

const KEY_LEN: usize = 32;

/// A token's key in memory; zeroised when dropped.
pub struct TokenKey(Zeroizing<[u8; KEY_LEN]>);

impl TokenKey {
    pub fn generate() -> Result<TokenKey> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        crate::base::random::random_fill(&mut k[..])?;
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
        seal_with(&self.aead()?, binding, &plain)
    }

    /// Opens what `seal_secrets` sealed; `CKR_DEVICE_ERROR` when the data was tampered with.
    pub fn open_secrets(&self, binding: &[u8], sealed: &[u8]) -> Result<Attributes> {
        let plain = open_with(&self.aead()?, binding, sealed).ok_or_else(|| {
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

pub(crate) fn aead_key(bytes: &[u8]) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| err(CKR_GENERAL_ERROR, "AES-256-GCM key setup failed"))
}

/// `nonce || ciphertext || tag`.
pub(crate) fn seal_with(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::base::random::random_fill(&mut nonce)?;
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

pub(crate) fn open_with(
    key: &LessSafeKey,
    aad: &[u8],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
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

/// What a PIN seal is bound to: its token's partition and the generation of the token
/// (new at every initialisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    pub partition: &'a PartitionId,
    pub generation: u64,
}

/// The key derivation of a PIN seal.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PinKdf {
    /// PBKDF2-HMAC-SHA256 over the PIN with the seal's salt and iterations.
    #[default]
    Pbkdf2HmacSha256,
}

/// The token key sealed under one PIN. Opening it with a PIN both checks the PIN and yields the
/// key; the PIN itself is never stored. The KDF parameters are stored with it, so seals written
/// at another cost (older labs, labs that chose a lower one) still open.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PinSeal {
    /// `PIN_SEAL_FORMAT` when written by this build; 0 (absent) for the format before it.
    #[serde(default)]
    pub format: u32,
    #[serde(default)]
    pub kdf: PinKdf,
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// Format 1: the token generation the seal belongs to, in clear so `hsmsim lab check` can
    /// compare it with the token's, and bound by the associated data so it cannot be edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    pub sealed_key: Vec<u8>,
}

impl PinSeal {
    /// Seals `key` under `pin` for the token `context` names, at the cost `pin_kdf_iterations`
    /// chooses.
    pub fn new(pin: &[u8], key: &TokenKey, context: SealContext) -> Result<PinSeal> {
        PinSeal::with_iterations(pin, key, context, pin_kdf_iterations()?)
    }

    /// `new` at a given PBKDF2 cost.
    pub fn with_iterations(
        pin: &[u8],
        key: &TokenKey,
        context: SealContext,
        iterations: u32,
    ) -> Result<PinSeal> {
        let mut salt = vec![0u8; 16];
        crate::base::random::random_fill(&mut salt)?;
        let mut seal = PinSeal {
            format: PIN_SEAL_FORMAT,
            kdf: PinKdf::Pbkdf2HmacSha256,
            salt,
            iterations,
            generation: Some(context.generation),
            sealed_key: Vec::new(),
        };
        let kek = pin_key(pin, &seal.salt, iterations)?;
        seal.sealed_key = seal_with(&kek, &seal.associated_data(context), &key.0[..])?;
        Ok(seal)
    }

    /// The token key if `pin` is the right one and the seal belongs to the token `context`
    /// names (a format-1 seal of another generation does not open, without a key derivation).
    pub fn open(&self, pin: &[u8], context: SealContext) -> Option<TokenKey> {
        if self.format > PIN_SEAL_FORMAT
            || (self.format >= 1 && self.generation != Some(context.generation))
        {
            return None;
        }
        let kek = pin_key(pin, &self.salt, self.iterations).ok()?;
        let plain = open_with(&kek, &self.associated_data(context), &self.sealed_key)?;
        let bytes: [u8; KEY_LEN] = plain.as_slice().try_into().ok()?;
        Some(TokenKey(Zeroizing::new(bytes)))
    }

    /// The seal is in an older format: it should be rewritten once its PIN is known.
    pub fn is_outdated(&self) -> bool {
        self.format < PIN_SEAL_FORMAT
    }

    /// Whether the seal belongs to a token of `generation`: `None` when its format does not
    /// say (format 0).
    pub fn belongs_to(&self, generation: u64) -> Option<bool> {
        (self.format >= 1).then(|| self.generation == Some(generation))
    }

    /// Format 0: the partition name. Format 1: a label, the partition, the generation and the
    /// KDF parameters.
    fn associated_data(&self, context: SealContext) -> Vec<u8> {
        if self.format == 0 {
            return context.partition.to_string().into_bytes();
        }
        let mut aad = b"hsmsim PIN seal 1\0".to_vec();
        aad.extend_from_slice(context.partition.to_string().as_bytes());
        aad.push(0);
        aad.extend_from_slice(&context.generation.to_be_bytes());
        aad.push(match self.kdf {
            PinKdf::Pbkdf2HmacSha256 => 1,
        });
        aad.extend_from_slice(&self.iterations.to_be_bytes());
        aad
    }
}

fn pin_key(pin: &[u8], salt: &[u8], iterations: u32) -> Result<LessSafeKey> {
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    super::kdf::derive(pin, salt, iterations, &mut kek[..])?;
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

    static HSM_P: std::sync::LazyLock<PartitionId> =
        std::sync::LazyLock::new(|| PartitionId::parse("hsm/p").unwrap());
    static HSM_Q: std::sync::LazyLock<PartitionId> =
        std::sync::LazyLock::new(|| PartitionId::parse("hsm/q").unwrap());

    fn p() -> SealContext<'static> {
        SealContext {
            partition: &HSM_P,
            generation: 7,
        }
    }

    #[test]
    fn a_pin_seal_opens_only_with_its_pin_partition_and_generation() {
        let key = TokenKey::generate().unwrap();
        let seal =
            PinSeal::with_iterations(b"12345678", &key, p(), MIN_PIN_KDF_ITERATIONS).unwrap();
        assert_eq!(seal.format, PIN_SEAL_FORMAT);
        assert_eq!(seal.generation, Some(7));
        let opened = seal.open(b"12345678", p()).unwrap();
        assert_eq!(&opened.0[..], &key.0[..]);
        assert!(seal.open(b"12345679", p()).is_none());
        let other_partition = SealContext {
            partition: &HSM_Q,
            ..p()
        };
        assert!(seal.open(b"12345678", other_partition).is_none());
        let next_generation = SealContext {
            generation: 8,
            ..p()
        };
        assert!(seal.open(b"12345678", next_generation).is_none());
        assert_eq!(seal.belongs_to(7), Some(true));
        assert_eq!(seal.belongs_to(8), Some(false));
        assert!(!seal.sealed_key.windows(8).any(|w| w == &key.0[..8]));
        // The recorded generation is bound: edited to match another token, it does not open.
        let mut moved = seal.clone();
        moved.generation = Some(8);
        assert!(moved.open(b"12345678", next_generation).is_none());
        // So are the KDF parameters.
        let mut cheaper = seal.clone();
        cheaper.iterations += 1;
        assert!(cheaper.open(b"12345678", p()).is_none());
    }

    /// A seal as hsmsim wrote them before format 1: PBKDF2 at 10,000 iterations, AES-256-GCM
    /// over the token key with the partition name as associated data, no format, KDF or
    /// generation recorded.
    fn format_0_seal(pin: &[u8], key: &TokenKey, partition: &str) -> PinSeal {
        let salt = vec![3u8; 16];
        let kek = pin_key(pin, &salt, 10_000).unwrap();
        let json = serde_json::json!({
            "salt": salt,
            "iterations": 10_000,
            "sealed_key": seal_with(&kek, partition.as_bytes(), &key.0[..]).unwrap(),
        });
        serde_json::from_value(json).unwrap()
    }

    /// A format-1 seal (PIN "12345678", token key 100..132, partition "hsm/p", generation 7)
    /// and a format-0 seal of the same key, exactly as the code before the kit stored them.
    const FORMAT_1_SEAL: &str = r#"{"format":1,"kdf":"pbkdf2-hmac-sha256","salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iterations":1000,"generation":7,"sealed_key":[165,165,165,165,165,165,165,165,165,165,165,165,186,130,50,167,249,195,249,175,188,104,136,61,41,37,236,22,54,34,86,225,114,124,46,117,55,212,165,220,73,63,224,81,204,113,0,139,157,30,106,166,151,99,227,29,127,169,59,5]}"#;
    const FORMAT_0_SEAL: &str = r#"{"salt":[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3],"iterations":10000,"sealed_key":[90,90,90,90,90,90,90,90,90,90,90,90,209,51,124,58,60,239,240,114,63,135,192,17,53,215,85,124,187,128,87,216,158,41,3,232,4,48,230,232,56,163,40,73,252,7,81,237,43,62,143,22,202,224,36,33,150,234,46,81]}"#;

    #[test]
    fn seals_of_the_earlier_code_open_and_keep_their_shape() {
        let key: Vec<u8> = (100..132).collect();
        let seal: PinSeal = serde_json::from_str(FORMAT_1_SEAL).unwrap();
        assert_eq!(seal.open(b"12345678", p()).unwrap().to_bytes(), key);
        assert!(seal.open(b"12345679", p()).is_none());
        assert_eq!(serde_json::to_string(&seal).unwrap(), FORMAT_1_SEAL);
        let old: PinSeal = serde_json::from_str(FORMAT_0_SEAL).unwrap();
        assert!(old.is_outdated());
        assert_eq!(old.open(b"12345678", p()).unwrap().to_bytes(), key);
    }

    #[test]
    fn a_format_0_seal_still_opens_and_is_outdated() {
        let key = TokenKey::generate().unwrap();
        let old = format_0_seal(b"12345678", &key, "hsm/p");
        assert_eq!(old.format, 0);
        assert_eq!(old.kdf, PinKdf::Pbkdf2HmacSha256);
        assert!(old.is_outdated());
        assert_eq!(old.belongs_to(7), None);
        assert_eq!(&old.open(b"12345678", p()).unwrap().0[..], &key.0[..]);
        assert!(old.open(b"87654321", p()).is_none());
        let new = PinSeal::with_iterations(b"12345678", &key, p(), MIN_PIN_KDF_ITERATIONS).unwrap();
        assert!(!new.is_outdated());
        // A seal from a newer format is not guessed at.
        let mut future = new.clone();
        future.format = PIN_SEAL_FORMAT + 1;
        assert!(future.open(b"12345678", p()).is_none());
    }

    #[test]
    fn a_seal_records_its_kdf_parameters_in_the_store_text() {
        let key = TokenKey::generate().unwrap();
        let seal = PinSeal::with_iterations(b"12345678", &key, p(), 2_000).unwrap();
        let text = serde_json::to_value(&seal).unwrap();
        assert_eq!(text["format"], 1);
        assert_eq!(text["kdf"], "pbkdf2-hmac-sha256");
        assert_eq!(text["iterations"], 2_000);
        assert_eq!(text["generation"], 7);
        assert_eq!(text["salt"].as_array().unwrap().len(), 16);
    }

    #[test]
    fn a_scratch_cost_outside_the_bounds_is_refused_and_not_kept() {
        // Only refusals here: a chosen cost is process-wide and would reach the other tests.
        for bad in [0, 999, 10_000_001] {
            let e = choose_scratch_pin_kdf_iterations(bad).unwrap_err();
            assert_eq!(e.rv, CKR_DEVICE_ERROR, "{bad}");
        }
        assert_eq!(
            SCRATCH_PIN_KDF_ITERATIONS.load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn the_kdf_cost_is_the_default_unless_a_valid_one_is_chosen() {
        assert_eq!(DEFAULT_PIN_KDF_ITERATIONS, 600_000);
        assert_eq!(parse_iterations(None).unwrap(), DEFAULT_PIN_KDF_ITERATIONS);
        assert_eq!(
            parse_iterations(Some("")).unwrap(),
            DEFAULT_PIN_KDF_ITERATIONS
        );
        assert_eq!(parse_iterations(Some(" 1000 ")).unwrap(), 1_000);
        assert_eq!(parse_iterations(Some("10000000")).unwrap(), 10_000_000);
        for bad in ["999", "0", "-5", "lots", "1e6", "10000001"] {
            let e = parse_iterations(Some(bad)).unwrap_err();
            assert_eq!(e.rv, CKR_DEVICE_ERROR, "{bad}");
            assert!(
                e.detail.contains(PIN_KDF_ITERATIONS_VARIABLE),
                "{}",
                e.detail
            );
        }
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
