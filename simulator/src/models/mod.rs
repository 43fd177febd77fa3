//! Vendor models: what makes a token behave like a vendor's partition rather than a plain soft
//! token (roles, PIN rules, lockout, policies, token information, the elliptic curves offered). The engine asks the slot's
//! `TokenModel`; the model's persistent part (`PartitionState`) lives in the token record.
//! "Luna §N" and "Primus §N" in comments here and in the engine are sections of
//! docs/sources.md, which names the vendors' public documents each rests on.
mod login;
pub mod luna;
mod objects;
pub mod primus;

/// The Luna model's `CA_*` answers and its PED, by their paths before the Luna folder.
pub use luna::{ca as luna_ca, ped};

use crate::base::attribute::Attributes;
use crate::base::error::{Result, err};
use crate::crypto::ec::Curve;
use crate::store::records::{
    MAX_FAILED_LOGINS, MAX_PIN_LEN, MIN_PIN_LEN, RoleRecord, TokenRecord, VendorState,
};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a slot's token behaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TokenModel {
    /// A plain PKCS#11 soft token.
    #[default]
    Soft,
    /// A partition of a Luna device.
    Luna(Arc<luna::Device>),
    /// A partition of a Securosys Primus device (on premises or CloudHSM).
    Primus(Arc<primus::Device>),
}

/// A partition's vendor state, persisted in its token record (externally tagged: serde's
/// internally tagged enums cannot read the integer map keys of the policies).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PartitionState {
    Luna(luna::PartitionState),
    Primus(primus::SecurityPolicy),
}

/// Luna passwords are 8 to 255 characters (Luna §2.4).
const LUNA_MIN_PIN_LEN: usize = 8;

/// Options of a token initialisation beyond the SO PIN and label (Luna's `CA_InitToken`).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The cloning domain.
    pub domain: Option<Vec<u8>>,
    /// Partition policies to set, by id.
    pub policies: Vec<(u64, u64)>,
    /// Destructiveness of policies fixed for this partition, by id: (off -> on, on -> off).
    pub destructive: Vec<(u64, (bool, bool))>,
}

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

impl PartitionState {
    /// The vendor state a token record holds, decoded (once per loaded record).
    pub fn of(record: &TokenRecord) -> Option<Arc<PartitionState>> {
        record.vendor.as_ref()?.decode::<PartitionState>()
    }

    /// The form a token record stores.
    pub fn stored(self) -> VendorState {
        VendorState::encode(self)
    }
}

impl TokenModel {
    /// The vendor state a newly initialised partition starts with.
    pub fn initial_state(&self) -> Option<PartitionState> {
        match self {
            TokenModel::Soft => None,
            TokenModel::Luna(_) => Some(PartitionState::Luna(luna::PartitionState::default())),
            TokenModel::Primus(_) => {
                Some(PartitionState::Primus(primus::SecurityPolicy::default()))
            }
        }
    }

    pub fn primus(&self) -> Option<&primus::Device> {
        match self {
            TokenModel::Primus(d) => Some(d),
            _ => None,
        }
    }

    pub fn luna(&self) -> Option<&luna::Device> {
        match self {
            TokenModel::Luna(d) => Some(d),
            _ => None,
        }
    }

    /// The Weierstrass curves the model's firmware offers for `CKK_EC` keys.
    pub fn ec_curves(&self) -> &'static [Curve] {
        match self {
            TokenModel::Soft => &Curve::ALL,
            TokenModel::Luna(_) => luna::EC_CURVES,
            TokenModel::Primus(_) => primus::EC_CURVES,
        }
    }

    /// `CKR_CURVE_NOT_SUPPORTED` for a new `CKK_EC` key (generated, created or unwrapped) on a
    /// curve the firmware does not offer. Other objects, and keys without `CKA_EC_PARAMS` (the
    /// key's own checks answer for those), pass.
    pub fn check_key_curve(&self, attrs: &Attributes) -> Result<()> {
        let Some(params) = attrs
            .bytes(CKA_EC_PARAMS)
            .filter(|_| attrs.ulong(CKA_KEY_TYPE) == Some(CKK_EC))
        else {
            return Ok(());
        };
        let curve = Curve::from_params(params)?;
        if self.ec_curves().contains(&curve) {
            Ok(())
        } else {
            Err(err(
                CKR_CURVE_NOT_SUPPORTED,
                format!("this token's firmware does not offer {}", curve.names()[0]),
            ))
        }
    }

    /// The shortest and longest PIN.
    pub fn pin_len_range(&self) -> (usize, usize) {
        match self {
            TokenModel::Soft => (MIN_PIN_LEN, MAX_PIN_LEN),
            TokenModel::Luna(_) => (LUNA_MIN_PIN_LEN, MAX_PIN_LEN),
            TokenModel::Primus(_) => primus::PIN_LEN_RANGE,
        }
    }

    /// `CKR_PIN_LEN_RANGE` unless the PIN's length is in range.
    pub fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
        let (min, max) = self.pin_len_range();
        if (min..=max).contains(&pin.len()) {
            Ok(())
        } else {
            Err(err(
                CKR_PIN_LEN_RANGE,
                format!("a PIN must be {min} to {max} characters long"),
            ))
        }
    }

    /// `CKR_USER_TYPE_INVALID` unless the token has the role.
    pub fn check_role(&self, user: CK_USER_TYPE) -> Result<()> {
        match self {
            TokenModel::Soft if user == CKU_SO || user == CKU_USER => Ok(()),
            TokenModel::Soft => Err(err(
                CKR_USER_TYPE_INVALID,
                format!("user type 0x{user:X} is not known"),
            )),
            TokenModel::Luna(d) => d.check_role(user),
            TokenModel::Primus(_) if user == CKU_USER => Ok(()),
            TokenModel::Primus(_) => Err(err(
                CKR_USER_TYPE_INVALID,
                "Primus partitions have only the user (CKU_USER): SO functions run on the device or Decanus",
            )),
        }
    }

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

    /// What a device restart after an outage of `outage_secs` does to a partition's record:
    /// Luna drops its roles' activation unless auto-activation keeps it (policy 23, outages up
    /// to two hours); Primus clears login lockouts ("a device restart clears lockouts",
    /// Primus §1.4). Returns the roles that lost their activation.
    pub fn restart(&self, record: &mut TokenRecord, outage_secs: u64) -> Vec<CK_USER_TYPE> {
        match (self, PartitionState::of(record).as_deref().cloned()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(state))) => {
                if state.keeps_activation(d, outage_secs) {
                    return Vec::new();
                }
                let mut dropped = Vec::new();
                for (user, role) in record.roles.iter_mut().filter(|(_, r)| r.activated) {
                    role.activated = false;
                    dropped.push(*user);
                }
                dropped
            }
            (TokenModel::Primus(_), _) => {
                for role in record.roles.values_mut() {
                    role.throttle = None;
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// A PIN set by another role must be changed at its first use: Luna HSM policy 21 (on by
    /// default). Soft tokens: never.
    pub fn forces_pin_change(&self) -> bool {
        self.luna()
            .is_some_and(|d| d.hsm_policy(luna::hsm_policy::FORCE_PIN_CHANGE) != 0)
    }

    /// The slot description a client shows for this model's partitions, when the vendor's
    /// client has its own: a Luna Network HSM partition is a "Net Token Slot" (Luna §6).
    pub fn slot_description(&self) -> Option<&'static str> {
        match self {
            TokenModel::Luna(d) if d.kind == luna::DeviceKind::Network => Some("Net Token Slot"),
            _ => None,
        }
    }

    /// The throttle on PKCS#11 logins (Primus: `threshold` wrong PINs within a window lock
    /// logins for a time, Primus §1.4); none elsewhere.
    pub fn login_throttle(&self) -> Option<primus::ThrottleRule> {
        match self {
            TokenModel::Primus(d) => Some(d.throttle),
            _ => None,
        }
    }

    /// A login of `user` caches the role's secret (Luna PED partitions under partition policy
    /// 22, activation; the SO's is never cached, Luna §2.4).
    pub fn activates_on_login(&self, record: &TokenRecord, user: CK_USER_TYPE) -> bool {
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(s))) if user != CKU_SO => {
                s.policy(d, luna::partition_policy::ACTIVATION) != 0
            }
            _ => false,
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

    /// `C_InitToken` is not how this model's partitions are set up (Primus: on the device or
    /// with Decanus; simulator-defined answer).
    pub fn check_init_token(&self) -> Result<()> {
        match self {
            TokenModel::Primus(_) => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "Primus partitions are created and initialised on the device or with Decanus, not with C_InitToken (simulator-defined)",
            )),
            _ => Ok(()),
        }
    }

    /// `C_InitPIN` is not how this model's user PIN is set (Primus: by its SO on the device
    /// or with Decanus; simulator-defined answer).
    pub fn check_init_pin(&self) -> Result<()> {
        match self {
            TokenModel::Primus(_) => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "a Primus partition's PKCS#11 PIN is set by its SO on the device or with Decanus (simulator-defined)",
            )),
            _ => Ok(()),
        }
    }

    /// The role that sets `user`'s PIN (Luna: its model of roles; elsewhere the SO sets the
    /// user's), if any.
    pub fn initialiser_of(&self, user: CK_USER_TYPE) -> Option<CK_USER_TYPE> {
        match self {
            TokenModel::Luna(d) => d.initialiser_of(user),
            _ => (user == CKU_USER).then_some(CKU_SO),
        }
    }

    /// Another role may replace `user`'s existing PIN (Luna: the PO resets the CO only under
    /// HSM policy 15; others always).
    pub fn check_pin_reset(&self, user: CK_USER_TYPE) -> Result<()> {
        match self {
            TokenModel::Luna(d) => d.check_reset(user),
            _ => Ok(()),
        }
    }

    /// The name of `user`'s role when it has read-only rights on objects (Luna's Crypto User
    /// and, simulator-defined, its Limited Crypto Officer): it may create, change or destroy
    /// public objects only, and export no keys.
    fn read_only_role(&self, user: Option<CK_USER_TYPE>) -> Option<&'static str> {
        match (self, user) {
            (TokenModel::Luna(_), Some(luna::CKU_CRYPTO_USER)) => Some("Crypto User"),
            (TokenModel::Luna(_), Some(luna::CKU_LIMITED_CRYPTO_OFFICER)) => {
                Some("Limited Crypto Officer")
            }
            _ => None,
        }
    }

    /// Token objects may be created, changed or destroyed (a Primus Clone without
    /// `clone_modify` refuses, Primus §2.1).
    pub fn check_token_object_change(&self) -> Result<()> {
        match self {
            TokenModel::Primus(d) => d.check_object_change(),
            _ => Ok(()),
        }
    }

    /// The name of the device whose partition this is (none for a plain soft token).
    pub fn device_name(&self) -> Option<&str> {
        match self {
            TokenModel::Luna(d) => Some(&d.name),
            TokenModel::Primus(d) => Some(&d.name),
            TokenModel::Soft => None,
        }
    }

    /// Reads the device-wide state other processes may change (Luna: HSM policies changed
    /// since the lab set them) from the store.
    pub fn read_device_state(&self, store: &crate::store::Store) -> Result<()> {
        if let TokenModel::Luna(d) = self {
            d.changed.set(store.device_policies(&d.name)?);
        }
        Ok(())
    }

    /// Another process changed `device`'s policies to `policies`: this model takes them if
    /// the device is its own (Luna HSM policies).
    pub fn device_policies_changed(
        &self,
        device: &str,
        policies: &std::collections::BTreeMap<u64, u64>,
    ) {
        if let TokenModel::Luna(d) = self
            && d.name == device
        {
            d.changed.set(policies.clone());
        }
    }

    /// Challenge secrets (a PED partition's second factor for activated roles) exist here.
    pub fn check_challenge_secrets(&self) -> Result<()> {
        match self {
            TokenModel::Luna(_) => Ok(()),
            _ => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                "challenge secrets belong to Luna partitions",
            )),
        }
    }

    /// The vendor state `C_InitToken` (Luna: `CA_InitToken`) gives a partition: the cloning
    /// domain (`options`, else a PED partition's presented red key `red_key`), partition
    /// policies and their fixed destructiveness. Options on a model without them are
    /// `CKR_ARGUMENTS_BAD`.
    pub fn init_token_state(
        &self,
        options: &InitOptions,
        red_key: Option<&[u8]>,
    ) -> Result<Option<PartitionState>> {
        let mut vendor = self.initial_state();
        match (self, vendor.as_mut()) {
            (TokenModel::Luna(device), Some(PartitionState::Luna(state))) => {
                state.domain = options
                    .domain
                    .as_deref()
                    .or(red_key)
                    .map(luna::domain_verifier);
                for (id, d) in &options.destructive {
                    if luna::partition_policy(*id).is_none() {
                        return Err(err(
                            luna::CKR_POLICY_ID_INVALID,
                            format!("there is no partition policy {id}"),
                        ));
                    }
                    state.destructive.insert(*id, *d);
                }
                state.apply(device, &options.policies, true)?;
                state.settle_version(device, luna::new_smk_id)?;
            }
            _ if options.domain.is_some()
                || !options.policies.is_empty()
                || !options.destructive.is_empty() =>
            {
                return Err(err(
                    CKR_ARGUMENTS_BAD,
                    "cloning domains and partition policies apply to Luna partitions only",
                ));
            }
            _ => {}
        }
        Ok(vendor)
    }

    /// The partition authenticates with PED keys (Luna PED devices).
    pub fn uses_ped(&self) -> bool {
        self.luna().is_some_and(|d| d.auth == luna::Auth::Ped)
    }

    /// `CK_TOKEN_INFO.hardwareVersion`: Primus reports the HSM firmware there (Primus §1.3).
    pub fn hardware_version(&self) -> CK_VERSION {
        match self {
            TokenModel::Primus(d) => CK_VERSION {
                major: d.firmware.0,
                minor: d.firmware.1,
            },
            _ => CK_VERSION { major: 1, minor: 0 },
        }
    }

    /// `CKR_MECHANISM_INVALID` unless the partition offers the mechanism: a Luna partition in
    /// FIPS mode lacks the non-FIPS ones, Primus lacks single DES; a soft token offers all.
    pub fn check_mechanism(
        &self,
        record: &TokenRecord,
        mechanism: CK_MECHANISM_TYPE,
    ) -> Result<()> {
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Luna(d), Some(PartitionState::Luna(s))) => d.check_mechanism(s, mechanism),
            (TokenModel::Luna(d), _) => {
                d.check_mechanism(&luna::PartitionState::default(), mechanism)
            }
            (TokenModel::Primus(_), _) if primus::ABSENT_MECHANISMS.contains(&mechanism) => {
                Err(err(
                    CKR_MECHANISM_INVALID,
                    format!("Primus does not offer mechanism 0x{mechanism:X}"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The partition's Primus security policy, if it is a Primus partition.
    fn primus_policy(&self, record: &TokenRecord) -> Option<primus::SecurityPolicy> {
        match (self, PartitionState::of(record).as_deref()) {
            (TokenModel::Primus(_), Some(PartitionState::Primus(p))) => Some(*p),
            (TokenModel::Primus(_), _) => Some(primus::SecurityPolicy::default()),
            _ => None,
        }
    }

    /// `CK_TOKEN_INFO.manufacturerID`, `model`, and firmware version.
    pub fn token_identity(&self) -> (&'static str, String, CK_VERSION) {
        match self {
            TokenModel::Primus(_) => (
                primus::MANUFACTURER,
                primus::MODEL.to_string(),
                primus::PROVIDER_VERSION,
            ),
            TokenModel::Soft => (
                crate::base::identity::MANUFACTURER,
                crate::base::identity::MODEL.to_string(),
                crate::base::identity::LIBRARY_VERSION,
            ),
            TokenModel::Luna(d) => (
                "Safenet, Inc.",
                d.model(),
                CK_VERSION {
                    major: d.firmware.major,
                    minor: d.firmware.minor,
                },
            ),
        }
    }
}
