//! Tokens: the persisted record (label, serial, the token key sealed under each PIN, failure
//! counters, and the generation and restart count that make up a token's incarnation) with the
//! PIN rules of PKCS#11 (length range, lockout).
use crate::base::error::{Result, err};
use crate::base::ids::PartitionId;
use crate::base::secrets::seal::PinSeal;
use cryptoki_sys::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Shortest and longest PIN a token accepts (`ulMinPinLen` / `ulMaxPinLen`).
pub const MIN_PIN_LEN: usize = 4;
pub const MAX_PIN_LEN: usize = 255;
/// Consecutive wrong PINs after which a role is locked (simulator-defined; vendor models set
/// their own).
pub const MAX_FAILED_LOGINS: u32 = 10;

/// A salted PBKDF2-HMAC-SHA256 verifier of a PIN, as schema-1 stores kept it (the secrets
/// kit's `Verifier`, with its iterations recorded). Only read when migrating such a store: the
/// first login with the PIN replaces it with a `PinSeal`.
pub type LegacyPinVerifier = crate::base::secrets::verifier::Verifier;

/// One role of a token (`CKU_SO`, `CKU_USER`, and the vendor roles such as Luna's Crypto User):
/// the token key sealed under its PIN, its failed-login counter, and whether its PIN must be
/// changed before it may do anything else.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleRecord {
    pub seal: Option<PinSeal>,
    /// Schema-1 migration only: a PIN verifier not yet turned into a seal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy: Option<LegacyPinVerifier>,
    pub failures: u32,
    /// The PIN was set by another role (Luna HSM policy 21): every call but `C_SetPIN` and
    /// `C_Logout` answers `CKR_PIN_EXPIRED` until it is changed.
    #[serde(default)]
    pub must_change: bool,
    /// Luna PED partitions: the token key sealed under the role's challenge secret, which
    /// logs the role in once it is activated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<PinSeal>,
    /// Luna PED partitions: the role's PED secret is cached (partition policy 22), so its
    /// challenge secret alone logs it in, until `CA_Deactivate`.
    #[serde(default)]
    pub activated: bool,
    /// Primus: the login throttle (failures within a window, lock time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<crate::base::throttle::Throttle>,
    /// A lockout that ends by itself (Luna before 7.0: ten minutes), in seconds since the
    /// epoch; `None` while the role is not locked for a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<u64>,
}

impl RoleRecord {
    pub fn has_pin(&self) -> bool {
        self.seal.is_some() || self.legacy.is_some()
    }

    /// The failures that still count at `now`: none once a timed lockout has ended.
    pub fn counted_failures(&self, now: u64) -> u32 {
        if self.locked_until.is_some_and(|t| t <= now) {
            0
        } else {
            self.failures
        }
    }
}

/// `CKR_SESSION_CLOSED`: a write meant for one incarnation of a token found another (the
/// token was re-initialised, zeroised or restarted by another process during the call).
/// Simulator-defined: PKCS#11's code for a session closed while the function ran; the process
/// closes its sessions on the token (at once, or at its next call).
pub fn replaced_error() -> crate::base::error::Error {
    err(
        CKR_SESSION_CLOSED,
        "another process re-initialised or zeroised the token (or restarted its device) during \
         the call: it is a new token now and this process's sessions on it are closed",
    )
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One incarnation of a token (`TokenRecord::incarnation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incarnation {
    pub generation: u64,
    pub restarts: u64,
}

/// What the store keeps of a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    /// 32 bytes, blank-padded, as `CK_TOKEN_INFO.label`.
    pub label: String,
    pub serial: String,
    pub initialized: bool,
    /// The roles with a PIN (or a failure count), by user type.
    #[serde(default)]
    pub roles: BTreeMap<CK_USER_TYPE, RoleRecord>,
    /// Random, new at every initialisation: another process that sees it change knows the
    /// token was replaced (its objects, sessions and unlocked key are gone). PIN seals are
    /// bound to it.
    #[serde(default)]
    pub generation: u64,
    /// Counts the device's restarts (`hsmsim lab restart`): like a new generation it ends every
    /// session and login on the token in every process, but the token, its objects and its PIN
    /// seals stay.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u64,
    /// Schema-1 migration only: the token key kept in clear until every PIN has sealed it
    /// (schema 1 kept key values in clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_key: Option<Vec<u8>>,
    /// Vendor state of the partition (Luna policies, cloning domain); `None` for soft tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<VendorState>,
}

/// A partition's vendor state as the store keeps it: the JSON its vendor model wrote, opaque to
/// the store (which knows no vendor). The model reads its typed view with `decode`, parsed once
/// per loaded record and shared by its clones; a changed state is stored with `encode`.
#[derive(Clone)]
pub struct VendorState {
    json: serde_json::Value,
    typed: Arc<OnceLock<Option<Arc<dyn Any + Send + Sync>>>>,
}

impl VendorState {
    /// The stored form of a model's state.
    pub fn encode<T: Serialize + Send + Sync + 'static>(state: T) -> VendorState {
        let json = serde_json::to_value(&state).unwrap_or(serde_json::Value::Null);
        let typed: Arc<dyn Any + Send + Sync> = Arc::new(state);
        VendorState {
            json,
            typed: Arc::new(OnceLock::from(Some(typed))),
        }
    }

    /// The model's typed view, or `None` when the stored JSON is not a `T`.
    pub fn decode<T: DeserializeOwned + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.typed
            .get_or_init(|| {
                serde_json::from_value::<T>(self.json.clone())
                    .ok()
                    .map(|t| Arc::new(t) as Arc<dyn Any + Send + Sync>)
            })
            .clone()
            .and_then(|any| any.downcast::<T>().ok())
    }
}

impl std::fmt::Debug for VendorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.json.fmt(f)
    }
}

impl PartialEq for VendorState {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for VendorState {}

impl Serialize for VendorState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

impl<'de> Deserialize<'de> for VendorState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(VendorState {
            json: serde_json::Value::deserialize(d)?,
            typed: Arc::new(OnceLock::new()),
        })
    }
}

impl TokenRecord {
    /// A blank token of a partition; its serial number is derived from the partition's name,
    /// so it is the same in every process and every host's view.
    pub fn uninitialized(partition: &PartitionId) -> Self {
        Self::uninitialized_named(&partition.to_string())
    }

    /// `uninitialized` for a token as the store names it (a migration's rows).
    pub(super) fn uninitialized_named(partition: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, partition.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        TokenRecord {
            label: String::new(),
            serial: format!("{:016}", u64::from_be_bytes(first) % 10_u64.pow(16)),
            initialized: false,
            roles: BTreeMap::new(),
            generation: 0,
            restarts: 0,
            migration_key: None,
            vendor: None,
        }
    }

    /// What a process compares to know whether the token it holds is still the stored one:
    /// any change (a re-initialisation, a zeroisation, a device restart) replaces the token
    /// in that process, and a read-check-write that read one incarnation may only write to it.
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            generation: self.generation,
            restarts: self.restarts,
        }
    }

    pub fn role(&self, user: CK_USER_TYPE) -> Option<&RoleRecord> {
        self.roles.get(&user)
    }

    pub fn role_mut(&mut self, user: CK_USER_TYPE) -> &mut RoleRecord {
        self.roles.entry(user).or_default()
    }

    /// The role has a PIN.
    pub fn has_pin(&self, user: CK_USER_TYPE) -> bool {
        self.role(user).is_some_and(RoleRecord::has_pin)
    }

    pub fn failures(&self, user: CK_USER_TYPE) -> u32 {
        self.role(user).map_or(0, |r| r.failures)
    }

    /// `CK_TOKEN_INFO.flags` for this record at `now`, with `user_limit` / `so_limit` failed
    /// logins locking the user / the SO (a timed lockout that has ended no longer counts).
    pub fn flags(&self, user_limit: u32, so_limit: u32, now: u64) -> CK_FLAGS {
        let failures = |u| self.role(u).map_or(0, |r| r.counted_failures(now));
        // CKF_RESTORE_KEY_NOT_NEEDED: no saved operation state ever needs a key to restore
        // (C_GetOperationState answers CKR_FUNCTION_NOT_SUPPORTED); the OASIS profile test
        // cases' token flags list it (simulator-defined: set on every token).
        let mut f =
            CKF_RNG | CKF_LOGIN_REQUIRED | CKF_DUAL_CRYPTO_OPERATIONS | CKF_RESTORE_KEY_NOT_NEEDED;
        if self.initialized {
            f |= CKF_TOKEN_INITIALIZED;
        }
        if self.has_pin(CKU_USER) {
            f |= CKF_USER_PIN_INITIALIZED;
        }
        if self.role(CKU_USER).is_some_and(|r| r.must_change) {
            f |= CKF_USER_PIN_TO_BE_CHANGED;
        }
        if self.role(CKU_SO).is_some_and(|r| r.must_change) {
            f |= CKF_SO_PIN_TO_BE_CHANGED;
        }
        f |= counter_flags(
            failures(CKU_USER),
            user_limit,
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        );
        f |= counter_flags(
            failures(CKU_SO),
            so_limit,
            CKF_SO_PIN_COUNT_LOW,
            CKF_SO_PIN_FINAL_TRY,
            CKF_SO_PIN_LOCKED,
        );
        f
    }
}

fn counter_flags(
    failures: u32,
    limit: u32,
    low: CK_FLAGS,
    final_try: CK_FLAGS,
    locked: CK_FLAGS,
) -> CK_FLAGS {
    match failures {
        0 => 0,
        n if n >= limit => locked,
        n if n + 1 == limit => low | final_try,
        _ => low,
    }
}

/// `CKR_PIN_LEN_RANGE` unless the PIN's length is in range.
pub fn check_pin_len(pin: &[u8]) -> Result<()> {
    if (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(err(
            CKR_PIN_LEN_RANGE,
            format!("a PIN must be {MIN_PIN_LEN} to {MAX_PIN_LEN} bytes long"),
        ))
    }
}

/// Blank-pads (or truncates) a label to the 32 bytes of `CK_TOKEN_INFO.label`.
pub fn pad32(label: &[u8]) -> [u8; 32] {
    let mut out = [b' '; 32];
    let n = label.len().min(32);
    out[..n].copy_from_slice(&label[..n]);
    out
}

/// Replaces a token's record with a blank one that keeps its serial and has a new generation
/// (a zeroised partition: other processes see the token replaced).
pub fn blank_record_keeping_serial(token: &PartitionId, record: &mut TokenRecord) -> Result<()> {
    let mut blank = TokenRecord::uninitialized(token);
    blank.serial = record.serial.clone();
    blank.generation = crate::base::random::random_u64()?;
    *record = blank;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_failure_counter() {
        let mut r = TokenRecord::uninitialized(&PartitionId::parse("hsm/p").unwrap());
        r.initialized = true;
        let limit = MAX_FAILED_LOGINS;
        assert_eq!(r.flags(limit, limit, 0) & CKF_USER_PIN_COUNT_LOW, 0);
        r.role_mut(CKU_USER).failures = 1;
        assert_ne!(r.flags(limit, limit, 0) & CKF_USER_PIN_COUNT_LOW, 0);
        r.role_mut(CKU_USER).failures = limit - 1;
        assert_ne!(r.flags(limit, limit, 0) & CKF_USER_PIN_FINAL_TRY, 0);
        r.role_mut(CKU_USER).failures = limit;
        assert_ne!(r.flags(limit, limit, 0) & CKF_USER_PIN_LOCKED, 0);
        assert_eq!(r.flags(3, 3, 0) & CKF_USER_PIN_LOCKED, CKF_USER_PIN_LOCKED);
    }
}
