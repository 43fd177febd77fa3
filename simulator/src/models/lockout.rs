//! What failed logins do, as a vendor model rules it and the engine carries it out: the
//! threshold and consequence per role (lock until reset, lock for a while, zeroise the
//! partition or the device), whether a role is locked, and counting an attempt under the
//! model's login throttle (Primus, Primus §1.4).
use super::{PartitionState, TokenModel, luna, primus};
use crate::base::error::Result;
use crate::store::records::{MAX_FAILED_LOGINS, RoleRecord, TokenRecord};
use cryptoki_sys::*;

/// What too many consecutive failed logins of a role do, as the model rules it (Luna:
/// thalesdocs "Failed Login Attempts", 6.0 `failed_logins.htm` and 7.x `partition_login.htm` /
/// `hsm_login.htm`); the engine carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consequence {
    /// The device is zeroised: every partition of it loses its objects and roles (Luna's HSM
    /// SO after 3 failures, "not adjustable").
    ZeroiseDevice,
    /// The partition is zeroised (Luna 7.x's Partition SO).
    ZeroisePartition,
    /// The role stays locked until another role resets its credential.
    LockUntilReset,
    /// The role is locked for this many seconds, contents untouched (Luna before 7.0: ten
    /// minutes).
    LockFor(u64),
}

/// A role's failed-login threshold and what reaching it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedLoginRule {
    pub threshold: u32,
    pub consequence: Consequence,
}

/// What counting a login attempt did (`TokenModel::count_login_attempt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginAttempt {
    /// This failure made the model's throttle lock logins.
    pub throttled: bool,
    /// The role record changed and must be written.
    pub changed: bool,
}

impl TokenModel {
    /// Failed logins after which a role is locked and what that does: Luna's rules by role and
    /// era (partition policy 20, default 10; the HSM SO 3), else 10 consecutive failures lock
    /// the role until its PIN is set again (simulator-defined). Primus locks by a time window
    /// instead (`primus::Throttle`).
    pub fn failed_login_rule(
        &self,
        record: &TokenRecord,
        user: CK_USER_TYPE,
        admin: bool,
    ) -> FailedLoginRule {
        let until_reset = |threshold| FailedLoginRule {
            threshold,
            consequence: Consequence::LockUntilReset,
        };
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(s))) => {
                let max = s
                    .policy(d, luna::partition_policy::MAX_FAILED_USER_LOGINS)
                    .clamp(1, u32::MAX as u64) as u32;
                d.failed_login_rule(user, admin, max)
            }
            (TokenModel::Luna(d), _) => d.failed_login_rule(user, admin, MAX_FAILED_LOGINS),
            (TokenModel::Primus(_), _) => until_reset(u32::MAX),
            (TokenModel::Soft, _) => until_reset(MAX_FAILED_LOGINS),
        }
    }

    /// `user` is locked out at `now` (seconds since the epoch): by its own failures (a timed
    /// lockout ends by itself), or, on Luna 7.x, because the Crypto Officer is.
    pub fn is_locked(
        &self,
        record: &TokenRecord,
        user: CK_USER_TYPE,
        admin: bool,
        now: u64,
    ) -> bool {
        let rule = self.failed_login_rule(record, user, admin);
        let role = record.role(user);
        // A timed lockout that has ended counts no failures (`counted_failures`).
        let own = role.is_some_and(|r| r.counted_failures(now) >= rule.threshold);
        own || self
            .luna()
            .and_then(|d| d.locked_along_with(user))
            .is_some_and(|other| self.is_locked(record, other, admin, now))
    }

    /// The throttle on PKCS#11 logins (Primus: `threshold` wrong PINs within a window lock
    /// logins for a time, Primus §1.4); none elsewhere.
    pub fn login_throttle(&self) -> Option<primus::ThrottleRule> {
        match self {
            TokenModel::Primus(d) => Some(d.throttle),
            _ => None,
        }
    }

    /// `CKR_PIN_LOCKED` while the model's login throttle holds `role` (Primus).
    pub fn check_login_throttle(&self, role: &RoleRecord, now: u64) -> Result<()> {
        match self.login_throttle() {
            Some(_) => role.throttle.unwrap_or_default().check(now),
            None => Ok(()),
        }
    }

    /// Counts a login attempt of `role` at `now` under the role's failed-login `rule` and the
    /// model's throttle: the failures (a timed lockout that has ended starts the count again;
    /// reaching the threshold of a timed rule locks for its time), the throttle's window.
    pub fn count_login_attempt(
        &self,
        role: &mut RoleRecord,
        rule: &FailedLoginRule,
        now: u64,
        failed: bool,
    ) -> LoginAttempt {
        let mut attempt = LoginAttempt::default();
        if let Some(throttle) = self.login_throttle() {
            let mut t = role.throttle.unwrap_or_default();
            attempt.throttled = t.record(&throttle, now, !failed);
            attempt.changed |= role.throttle != Some(t);
            role.throttle = Some(t);
        }
        let before = (role.failures, role.locked_until);
        let counted = role.counted_failures(now);
        role.failures = if failed { counted + 1 } else { 0 };
        role.locked_until = match rule.consequence {
            Consequence::LockFor(secs) if role.failures >= rule.threshold => Some(now + secs),
            _ => None,
        };
        attempt.changed |= (role.failures, role.locked_until) != before;
        attempt
    }
}
