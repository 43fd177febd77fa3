//! Tokens: the persisted record (label, serial, the token key sealed under each PIN, failure
//! counters) and the
//! process-local login state, with the PIN rules of PKCS#11 (length range, lockout).
use crate::error::{Result, err};
use crate::seal::PinSeal;
use aws_lc_rs::pbkdf2;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// Shortest and longest PIN a token accepts (`ulMinPinLen` / `ulMaxPinLen`).
pub const MIN_PIN_LEN: usize = 4;
pub const MAX_PIN_LEN: usize = 255;
/// Consecutive wrong PINs after which a role is locked (simulator-defined; vendor models set
/// their own).
pub const MAX_FAILED_LOGINS: u32 = 10;

/// A salted PBKDF2-HMAC-SHA256 verifier of a PIN, as schema-1 stores kept it. Only read when
/// migrating such a store: the first login with the PIN replaces it with a `PinSeal`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LegacyPinVerifier {
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
    pub iterations: u32,
}

impl LegacyPinVerifier {
    pub fn matches(&self, pin: &[u8]) -> bool {
        let Some(iterations) = NonZeroU32::new(self.iterations) else {
            return false;
        };
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &self.salt,
            pin,
            &self.hash,
        )
        .is_ok()
    }
}

/// What the store keeps of a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    /// 32 bytes, blank-padded, as `CK_TOKEN_INFO.label`.
    pub label: String,
    pub serial: String,
    pub initialized: bool,
    /// The token key sealed under the SO PIN and under the user PIN.
    pub so_seal: Option<PinSeal>,
    pub user_seal: Option<PinSeal>,
    pub so_failures: u32,
    pub user_failures: u32,
    /// Random, new at every initialisation: another process that sees it change knows the
    /// token was replaced (its objects, sessions and unlocked key are gone).
    #[serde(default)]
    pub generation: u64,
    /// Schema-1 migration only: PIN verifiers not yet turned into seals, and the token key
    /// kept in clear until every PIN has sealed it (schema 1 kept key values in clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_so: Option<LegacyPinVerifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_user: Option<LegacyPinVerifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_key: Option<Vec<u8>>,
}

impl TokenRecord {
    /// A blank token of a partition; its serial number is derived from the partition's name,
    /// so it is the same in every process and every host's view.
    pub fn uninitialized(partition: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, partition.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        TokenRecord {
            label: String::new(),
            serial: format!("{:016}", u64::from_be_bytes(first) % 10_u64.pow(16)),
            initialized: false,
            so_seal: None,
            user_seal: None,
            so_failures: 0,
            user_failures: 0,
            generation: 0,
            legacy_so: None,
            legacy_user: None,
            migration_key: None,
        }
    }

    pub fn user_locked(&self) -> bool {
        self.user_failures >= MAX_FAILED_LOGINS
    }
    pub fn so_locked(&self) -> bool {
        self.so_failures >= MAX_FAILED_LOGINS
    }

    /// `CK_TOKEN_INFO.flags` for this record.
    pub fn flags(&self) -> CK_FLAGS {
        let mut f = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_DUAL_CRYPTO_OPERATIONS;
        if self.initialized {
            f |= CKF_TOKEN_INITIALIZED;
        }
        if self.user_seal.is_some() || self.legacy_user.is_some() {
            f |= CKF_USER_PIN_INITIALIZED;
        }
        f |= counter_flags(
            self.user_failures,
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        );
        f |= counter_flags(
            self.so_failures,
            CKF_SO_PIN_COUNT_LOW,
            CKF_SO_PIN_FINAL_TRY,
            CKF_SO_PIN_LOCKED,
        );
        f
    }
}

fn counter_flags(failures: u32, low: CK_FLAGS, final_try: CK_FLAGS, locked: CK_FLAGS) -> CK_FLAGS {
    match failures {
        0 => 0,
        n if n >= MAX_FAILED_LOGINS => locked,
        n if n + 1 == MAX_FAILED_LOGINS => low | final_try,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_failure_counter() {
        let mut r = TokenRecord::uninitialized("hsm/p");
        r.initialized = true;
        assert_eq!(r.flags() & CKF_USER_PIN_COUNT_LOW, 0);
        r.user_failures = 1;
        assert_ne!(r.flags() & CKF_USER_PIN_COUNT_LOW, 0);
        r.user_failures = MAX_FAILED_LOGINS - 1;
        assert_ne!(r.flags() & CKF_USER_PIN_FINAL_TRY, 0);
        r.user_failures = MAX_FAILED_LOGINS;
        assert_ne!(r.flags() & CKF_USER_PIN_LOCKED, 0);
        assert!(r.user_locked());
    }
}
