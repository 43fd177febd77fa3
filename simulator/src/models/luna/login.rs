//! How Luna's roles log in and what failing does: the PED key colour of each role, the
//! failed-login rule by role and era (zeroise the HSM, zeroise the partition, lock until reset,
//! lock for a while), the Crypto User locked along with the Crypto Officer, and activation
//! kept across a restart under auto-activation (thalesdocs "Failed Login Attempts",
//! `activation.htm`).
use super::ped::Colour;
use super::{CKU_CRYPTO_USER, Device, Era, PartitionState, partition_policy};
use crate::models::{Consequence, FailedLoginRule};
use cryptoki_sys::*;

/// The HSM SO's threshold: three consecutive failures zeroise the HSM (documented, fixed).
pub const HSM_SO_MAX_FAILED_LOGINS: u32 = 3;
/// Before firmware 7.0 a locked partition role waits ten minutes (documented, fixed).
pub const PRE7_LOCKOUT_SECS: u64 = 600;

/// The PED key colour that authenticates a role (Luna §2.4; the Limited Crypto Officer's
/// gray key is simulator-defined).
pub fn ped_colour(user: CK_USER_TYPE) -> Colour {
    match user {
        CKU_SO => Colour::Blue,
        CKU_USER => Colour::Black,
        _ => Colour::Gray,
    }
}

impl Device {
    /// The failed-login rule of `user` on a partition whose policy 20 is `max_failed` (the
    /// partition roles' threshold; the HSM SO's is fixed at 3).
    pub fn failed_login_rule(
        &self,
        user: CK_USER_TYPE,
        admin: bool,
        max_failed: u32,
    ) -> FailedLoginRule {
        if self.is_hsm_so(user, admin) {
            return FailedLoginRule {
                threshold: HSM_SO_MAX_FAILED_LOGINS,
                consequence: Consequence::ZeroiseDevice,
            };
        }
        let consequence = match (self.firmware.era() >= Era::Luna7, user) {
            (false, _) => Consequence::LockFor(PRE7_LOCKOUT_SECS),
            (true, CKU_SO) => Consequence::ZeroisePartition,
            (true, _) => Consequence::LockUntilReset,
        };
        FailedLoginRule {
            threshold: max_failed,
            consequence,
        }
    }

    /// The role whose lockout also locks `user`: on 7.x a locked-out Crypto Officer locks
    /// the Crypto User out too (documented, 7.x `partition_login.htm`).
    pub fn locked_along_with(&self, user: CK_USER_TYPE) -> Option<CK_USER_TYPE> {
        (self.firmware.era() >= Era::Luna7 && user == CKU_CRYPTO_USER).then_some(CKU_USER)
    }
}

/// Auto-activation (partition policy 23) keeps activated roles across a restart or an outage
/// of up to two hours (documented, 7.7 `activation.htm`).
pub const AUTO_ACTIVATION_MAX_OUTAGE_SECS: u64 = 2 * 60 * 60;

impl PartitionState {
    /// Whether activated roles stay activated after the device restarts following an outage
    /// of `outage_secs`: only under auto-activation, and for at most two hours.
    pub fn keeps_activation(&self, device: &Device, outage_secs: u64) -> bool {
        self.policy(device, partition_policy::AUTO_ACTIVATION) != 0
            && outage_secs <= AUTO_ACTIVATION_MAX_OUTAGE_SECS
    }
}
