//! The Thales Luna model: devices (Network, PCIe, USB, Backup HSM) with a firmware version and
//! its era, password or PED authentication, HSM capabilities and policies; partitions with
//! their policies (ids of pycryptoki's `CONTAINER_CONFIG_*`), defaults, capability ceilings,
//! destructive transitions and dependencies; the roles each era has and who initialises whom.
//! Sources: docs/sources.md, "Luna" (pycryptoki `defines.py`, thalesdocs.com); choices the
//! documents leave open are marked "simulator-defined".
pub mod ca;
pub mod ped;

use super::{Consequence, FailedLoginRule};
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Luna's vendor user types (pycryptoki `defines.py`).
pub const CKU_CRYPTO_OFFICER: CK_USER_TYPE = CKU_USER;
pub const CKU_CRYPTO_USER: CK_USER_TYPE = 0x8000_0001;
pub const CKU_AUDIT: CK_USER_TYPE = 0x8000_0002;
pub const CKU_LIMITED_CRYPTO_OFFICER: CK_USER_TYPE = 0x8000_0003;

pub use crate::base::vendor_codes::{
    CKR_CERTIFICATE_INVALID, CKR_CLONING_PARAMETER_ALREADY_EXISTS, CKR_CLONING_PARAMETER_MISSING,
    CKR_CONFIG_CHANGE_ILLEGAL, CKR_CONFIG_FAILS_DEPENDENCIES, CKR_CONFIG_ILLEGAL,
    CKR_CONTAINER_HANDLE_INVALID, CKR_CONTAINER_OBJECT_STORAGE_FULL, CKR_OPERATION_NOT_ALLOWED,
    CKR_POLICY_ID_INVALID, CKR_USER_NOT_AUTHORIZED,
};

pub use crate::base::vendor_codes::CKA_OUID;

/// The mechanisms a Luna partition offers only outside FIPS mode: single DES (Luna offers it
/// for legacy keys; DES is not a FIPS algorithm).
pub const NON_FIPS_MECHANISMS: &[CK_MECHANISM_TYPE] =
    &[CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD];

/// The Weierstrass curves Luna firmware offers for `CKK_EC` keys: all the simulator has
/// (simulator-defined: the Luna sources give no curve list; Luna 7 documents a wider set than this).
pub const EC_CURVES: &[crate::crypto::ec::Curve] = &crate::crypto::ec::Curve::ALL;

/// A Luna device kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Network,
    Pcie,
    Usb,
    Backup,
}

impl DeviceKind {
    /// From a lab's device kind (`luna-network`, ...).
    pub fn from_lab(kind: &str) -> Option<DeviceKind> {
        Some(match kind {
            "luna-network" => DeviceKind::Network,
            "luna-pcie" => DeviceKind::Pcie,
            "luna-usb" => DeviceKind::Usb,
            "luna-backup" => DeviceKind::Backup,
            _ => return None,
        })
    }
}

/// How roles authenticate; fixed per device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Password,
    Ped,
}

impl Auth {
    pub fn from_lab(auth: &str) -> Option<Auth> {
        match auth {
            "password" => Some(Auth::Password),
            "ped" => Some(Auth::Ped),
            _ => None,
        }
    }
    /// As Luna prints it in configuration texts: "PW" or "PED".
    pub fn short(self) -> &'static str {
        match self {
            Auth::Password => "PW",
            Auth::Ped => "PED",
        }
    }
}

/// A firmware version, `major.minor.subminor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Firmware {
    pub major: u8,
    pub minor: u8,
    pub subminor: u8,
}

impl Firmware {
    pub const fn new(major: u8, minor: u8, subminor: u8) -> Firmware {
        Firmware {
            major,
            minor,
            subminor,
        }
    }

    /// Parses "6.21.2", "7.4" or "5.x" ("x" and a missing part read as 0).
    pub fn parse(text: &str) -> Option<Firmware> {
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| -> Option<u8> {
            match parts.next() {
                None if !required => Some(0),
                Some("x") if !required => Some(0),
                Some(p) => p.parse().ok(),
                None => None,
            }
        };
        let fw = Firmware::new(next(true)?, next(false)?, next(false)?);
        (parts.next().is_none() && (5..=7).contains(&fw.major)).then_some(fw)
    }

    /// The era that decides roles, partition versions and cloning rules (Luna §2.3).
    pub fn era(self) -> Era {
        match self {
            f if f < Firmware::new(6, 22, 0) => Era::Legacy,
            f if f.major == 6 => Era::Ppso6,
            f if f < Firmware::new(7, 7, 0) => Era::Luna7,
            f if f < Firmware::new(7, 8, 0) => Era::Luna77,
            _ => Era::Luna78,
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.subminor)
    }
}

/// Firmware eras (Luna §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Era {
    /// Before 6.22.0: the HSM SO owns application partitions; the owner logs in as `CKU_USER`.
    Legacy,
    /// 6.22.0 and later 6.x: per-partition SO when HSM policy 41 allows it.
    Ppso6,
    /// 7.0 to 7.4: every partition has its SO; roles PO, CO, CU and LCO.
    Luna7,
    /// 7.7.x: partitions are V0 or V1 (partition policy 41).
    Luna77,
    /// 7.8 and later: several cloning domains, one primary.
    Luna78,
}

/// HSM capability and policy ids (pycryptoki `HSM_CONFIG_*`).
pub mod hsm_policy {
    pub const PIN_AUTH: u64 = 0;
    pub const PED_AUTH: u64 = 1;
    pub const MASKING: u64 = 6;
    pub const CLONING: u64 = 7;
    pub const NON_FIPS_ALGORITHMS: u64 = 12;
    pub const SO_CAN_RESET_PIN: u64 = 15;
    pub const NETWORK_REPLICATION: u64 = 16;
    pub const FORCE_PIN_CHANGE: u64 = 21;
    pub const PER_PARTITION_SO: u64 = 41;
}

/// Partition policy ids (pycryptoki `CONTAINER_CONFIG_*`).
pub mod partition_policy {
    pub const PRIVATE_KEY_CLONING: u64 = 0;
    pub const PRIVATE_KEY_WRAPPING: u64 = 1;
    pub const PRIVATE_KEY_UNWRAPPING: u64 = 2;
    pub const PRIVATE_KEY_MASKING: u64 = 3;
    pub const SECRET_KEY_CLONING: u64 = 4;
    pub const SECRET_KEY_WRAPPING: u64 = 5;
    pub const SECRET_KEY_UNWRAPPING: u64 = 6;
    pub const SECRET_KEY_MASKING: u64 = 7;
    pub const MAX_FAILED_USER_LOGINS: u64 = 20;
    pub const ACTIVATION: u64 = 22;
    pub const AUTO_ACTIVATION: u64 = 23;
    pub const PARTITION_VERSION: u64 = 41;
    pub const NON_FIPS_ALGORITHMS: u64 = 43;
}

/// One configuration element (an HSM or partition policy) as `CA_GetConfigurationElementDescription`
/// describes it.
#[derive(Debug, Clone, Copy)]
pub struct Element {
    pub id: u64,
    pub description: &'static str,
    /// Value when nothing set it.
    pub default: u64,
    /// Largest value (1 for on/off policies).
    pub max: u64,
    /// Turning it on (0 -> non-zero) erases the partition's objects.
    pub off_to_on_destructive: bool,
    /// Turning it off erases the partition's objects.
    pub on_to_off_destructive: bool,
    /// The HSM policy that must be on for this partition policy to be turned on.
    pub ceiling: Option<u64>,
    /// The first era that has it.
    pub since: Era,
}

const fn element(id: u64, description: &'static str, default: u64) -> Element {
    Element {
        id,
        description,
        default,
        max: 1,
        off_to_on_destructive: false,
        on_to_off_destructive: false,
        ceiling: None,
        since: Era::Legacy,
    }
}

/// The partition policies the simulator models. Defaults and destructiveness of 0, 1, 4, 22,
/// 23, 41 and 43 are documented (Luna §2.1); the others are simulator-defined (on/off
/// policies default to the permissive value and are not destructive).
pub const PARTITION_POLICIES: &[Element] = &[
    Element {
        off_to_on_destructive: true,
        ceiling: Some(hsm_policy::CLONING),
        ..element(0, "Allow private key cloning", 1)
    },
    Element {
        off_to_on_destructive: true,
        ..element(1, "Allow private key wrapping", 0)
    },
    element(2, "Allow private key unwrapping", 1),
    Element {
        ceiling: Some(hsm_policy::MASKING),
        ..element(3, "Allow private key masking", 0)
    },
    Element {
        off_to_on_destructive: true,
        ceiling: Some(hsm_policy::CLONING),
        ..element(4, "Allow secret key cloning", 1)
    },
    element(5, "Allow secret key wrapping", 1),
    element(6, "Allow secret key unwrapping", 1),
    Element {
        ceiling: Some(hsm_policy::MASKING),
        ..element(7, "Allow secret key masking", 0)
    },
    Element {
        on_to_off_destructive: true,
        ..element(10, "Allow multipurpose keys", 1)
    },
    Element {
        on_to_off_destructive: true,
        ..element(11, "Allow changing key attributes", 1)
    },
    element(15, "Ignore failed challenge responses", 0),
    element(16, "Operate without RSA blinding", 0),
    element(17, "Allow signing with non-local keys", 1),
    element(18, "Allow raw RSA operations", 1),
    Element {
        max: 255,
        ..element(20, "Max failed user logins allowed", 10)
    },
    element(21, "Allow high availability recovery", 1),
    element(22, "Allow activation", 0),
    element(23, "Allow auto-activation", 0),
    // 0 -> 1 converts V0 to V1 in place (documented); 1 -> 0 erases the partition, whose
    // objects depend on its SMK (simulator-defined).
    Element {
        since: Era::Luna77,
        on_to_off_destructive: true,
        ..element(41, "Enable partition version (0 = V0, 1 = V1)", 0)
    },
    Element {
        ceiling: Some(hsm_policy::NON_FIPS_ALGORITHMS),
        since: Era::Luna77,
        ..element(43, "Allow non-FIPS algorithms", 1)
    },
];

/// The HSM policies the simulator models (documented ids; defaults simulator-defined except 15,
/// documented off, and 21, documented on).
pub const HSM_POLICIES: &[Element] = &[
    Element {
        off_to_on_destructive: true,
        on_to_off_destructive: true,
        ..element(hsm_policy::MASKING, "Allow masking", 0)
    },
    Element {
        off_to_on_destructive: true,
        on_to_off_destructive: true,
        ..element(hsm_policy::CLONING, "Allow cloning", 1)
    },
    element(
        hsm_policy::NON_FIPS_ALGORITHMS,
        "Allow non-FIPS algorithms",
        1,
    ),
    // Off by default, destructive when turned on (documented, 7.7 `partition_reset_cred.htm`).
    Element {
        off_to_on_destructive: true,
        ..element(
            hsm_policy::SO_CAN_RESET_PIN,
            "SO can reset partition PIN",
            0,
        )
    },
    element(
        hsm_policy::NETWORK_REPLICATION,
        "Allow network replication",
        1,
    ),
    element(
        hsm_policy::FORCE_PIN_CHANGE,
        "Force user PIN change after set/reset",
        1,
    ),
    Element {
        since: Era::Ppso6,
        ..element(hsm_policy::PER_PARTITION_SO, "Allow per-partition SO", 1)
    },
];

pub fn partition_policy(id: u64) -> Option<&'static Element> {
    PARTITION_POLICIES.iter().find(|e| e.id == id)
}

pub fn hsm_policy_element(id: u64) -> Option<&'static Element> {
    HSM_POLICIES.iter().find(|e| e.id == id)
}

/// The HSM policy `id` as firmware `firmware` has it: `CKR_POLICY_ID_INVALID` when it is not
/// modelled (or the firmware predates it).
pub fn hsm_policy_for(firmware: Firmware, id: u64) -> Result<&'static Element> {
    hsm_policy_element(id)
        .filter(|e| firmware.era() >= e.since)
        .ok_or_else(|| {
            err(
                CKR_POLICY_ID_INVALID,
                format!(
                    "HSM policy {id} is not modelled for firmware {firmware}; modelled: {}",
                    HSM_POLICIES
                        .iter()
                        .filter(|e| firmware.era() >= e.since)
                        .map(|e| e.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// Checks a value for HSM policy `id`: the element, or `CKR_POLICY_ID_INVALID` /
/// `CKR_CONFIG_ILLEGAL`.
pub fn check_hsm_policy(firmware: Firmware, id: u64, value: u64) -> Result<&'static Element> {
    let e = hsm_policy_for(firmware, id)?;
    if value > e.max {
        return Err(err(
            CKR_CONFIG_ILLEGAL,
            format!("HSM policy {id} takes 0 to {}, not {value}", e.max),
        ));
    }
    Ok(e)
}

/// HSM policies changed at run time (`CA_SetHSMPolicy`), shared by every slot of the device
/// in this process and refreshed from the store when another process changes them.
#[derive(Debug, Default)]
pub struct ChangedPolicies(parking_lot::RwLock<BTreeMap<u64, u64>>);

impl ChangedPolicies {
    pub fn get(&self) -> BTreeMap<u64, u64> {
        self.0.read().clone()
    }
    pub fn set(&self, policies: BTreeMap<u64, u64>) {
        *self.0.write() = policies;
    }
}

impl Clone for ChangedPolicies {
    fn clone(&self) -> Self {
        ChangedPolicies(parking_lot::RwLock::new(self.get()))
    }
}

impl PartialEq for ChangedPolicies {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for ChangedPolicies {}

/// A Luna device as the lab defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
    pub firmware: Firmware,
    pub auth: Auth,
    pub serial: String,
    /// HSM policies the lab sets (the others have their defaults).
    pub hsm_policies: BTreeMap<u64, u64>,
    /// HSM policies changed since (persisted per device in the store).
    pub changed: ChangedPolicies,
}

impl Device {
    /// An HSM policy's value (its capability and policy are one value here, simulator-defined):
    /// as changed at run time, else as the lab sets it, else its default.
    pub fn hsm_policy(&self, id: u64) -> u64 {
        let changed = self.changed.0.read().get(&id).copied();
        changed
            .or_else(|| self.hsm_policies.get(&id).copied())
            .or_else(|| {
                hsm_policy_element(id)
                    .filter(|e| self.firmware.era() >= e.since)
                    .map(|e| e.default)
            })
            .unwrap_or(0)
    }

    /// Partitions have their own SO (PPSO): from 6.22.0 when HSM policy 41 allows it, always on 7.x.
    pub fn per_partition_so(&self) -> bool {
        match self.firmware.era() {
            Era::Legacy => false,
            Era::Ppso6 => self.hsm_policy(hsm_policy::PER_PARTITION_SO) != 0,
            _ => true,
        }
    }

    /// The roles a partition of this device has, besides `CKU_SO` and `CKU_USER`.
    pub fn extra_roles(&self) -> &'static [CK_USER_TYPE] {
        if !self.per_partition_so() || self.kind == DeviceKind::Backup {
            &[]
        } else if self.firmware.era() >= Era::Luna7 {
            &[CKU_CRYPTO_USER, CKU_LIMITED_CRYPTO_OFFICER]
        } else {
            &[CKU_CRYPTO_USER]
        }
    }

    /// `CKR_USER_TYPE_INVALID` unless partitions of this device have the role.
    pub fn check_role(&self, user: CK_USER_TYPE) -> Result<()> {
        if user == CKU_SO || user == CKU_USER || self.extra_roles().contains(&user) {
            return Ok(());
        }
        let why = match (user, self.per_partition_so()) {
            (CKU_CRYPTO_USER | CKU_LIMITED_CRYPTO_OFFICER, false) => format!(
                "firmware {} partitions have no per-partition SO roles (owner only: CKU_USER)",
                self.firmware
            ),
            (CKU_LIMITED_CRYPTO_OFFICER, true) => format!(
                "firmware {} has no Limited Crypto Officer (7.x adds it)",
                self.firmware
            ),
            _ => format!("user type 0x{user:X} is not a Luna partition role"),
        };
        Err(err(CKR_USER_TYPE_INVALID, why))
    }

    /// Who may initialise `user`'s PIN: the PO initialises the CO; the CO initialises the CU and
    /// the LCO (Luna §2.4). Pre-PPSO partitions: the SO (the HSM SO, their owner) sets the
    /// owner's PIN.
    pub fn initialiser_of(&self, user: CK_USER_TYPE) -> Option<CK_USER_TYPE> {
        match user {
            CKU_USER => Some(CKU_SO),
            CKU_CRYPTO_USER | CKU_LIMITED_CRYPTO_OFFICER => Some(CKU_USER),
            _ => None,
        }
    }

    /// The role is the HSM SO: the SO of the admin partition, or of a pre-PPSO partition
    /// (which the HSM SO owns).
    pub fn is_hsm_so(&self, user: CK_USER_TYPE, admin: bool) -> bool {
        user == CKU_SO && (admin || !self.per_partition_so())
    }

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

    /// Whether the role that initialises `user` may reset its existing credential: the
    /// Partition SO (or the HSM SO of a pre-PPSO partition) resets the Crypto Officer's only
    /// under HSM policy 15; the CO resets the CU's and LCO's at any time (documented,
    /// `partition_reset_cred.htm`). The refusal's code is simulator-defined.
    pub fn check_reset(&self, user: CK_USER_TYPE) -> Result<()> {
        if user == CKU_USER && self.hsm_policy(hsm_policy::SO_CAN_RESET_PIN) == 0 {
            return Err(err(
                CKR_USER_NOT_AUTHORIZED,
                "the SO may not reset the Crypto Officer's credential: HSM policy 15 (SO can reset partition PIN) is off",
            ));
        }
        Ok(())
    }

    /// "Luna User Partition With SO (PW) Signing With Cloning Mode" and the like, as LunaCM
    /// shows a slot's configuration.
    pub fn configuration_text(&self, key_export: bool) -> String {
        let mode = if key_export {
            "Key Export"
        } else {
            "Signing With Cloning Mode"
        };
        match (self.kind, self.per_partition_so()) {
            (DeviceKind::Backup, _) => format!("Luna Backup HSM ({})", self.auth.short()),
            (_, true) if self.firmware.era() >= Era::Luna7 => {
                format!("Luna User Partition With SO ({}) {mode}", self.auth.short())
            }
            (_, true) => format!(
                "Luna User Slot {} ({}) {mode}",
                self.firmware,
                self.auth.short()
            ),
            (_, false) => format!("Luna User Partition ({}) {mode}", self.auth.short()),
        }
    }

    /// A partition of this device is in FIPS mode: HSM policy 12 ("Allow non-FIPS
    /// algorithms") off makes the whole HSM FIPS; from 7.7 a partition is also FIPS when its own
    /// policy 43 ("Allow non-FIPS algorithms") is off (Luna §2.1, §2.2; CRN 7.7.1).
    pub fn fips_mode(&self, state: &PartitionState) -> bool {
        self.hsm_policy(hsm_policy::NON_FIPS_ALGORITHMS) == 0
            || (self.firmware.era() >= Era::Luna77
                && state.policy(self, partition_policy::NON_FIPS_ALGORITHMS) == 0)
    }

    /// `CKR_MECHANISM_INVALID` for a non-FIPS mechanism on a partition in FIPS mode: Luna
    /// leaves such mechanisms out of `C_GetMechanismList` and answers `C_GetMechanismInfo` with
    /// "invalid mechanism" (thalesdocs 7.x `sdk/mechanisms/rsa-mechanism-remap.htm`); using
    /// one answers the same (simulator-defined: the documents name no other code).
    pub fn check_mechanism(
        &self,
        state: &PartitionState,
        mechanism: CK_MECHANISM_TYPE,
    ) -> Result<()> {
        if NON_FIPS_MECHANISMS.contains(&mechanism) && self.fips_mode(state) {
            return Err(err(
                CKR_MECHANISM_INVALID,
                format!(
                    "mechanism 0x{mechanism:X} is not a FIPS algorithm and the partition is in FIPS mode (HSM policy 12 or partition policy 43 is off)"
                ),
            ));
        }
        Ok(())
    }

    /// `CK_TOKEN_INFO.model` (simulator-defined after real captures: "LunaSA", "Luna K7", ...).
    pub fn model(&self) -> String {
        match (self.kind, self.firmware.major) {
            (DeviceKind::Network, 7) => "LunaSA 7".into(),
            (DeviceKind::Network, _) => "LunaSA".into(),
            (DeviceKind::Pcie, 7) => "Luna K7".into(),
            (DeviceKind::Pcie, _) => "Luna K6".into(),
            (DeviceKind::Usb, _) => "Luna G5".into(),
            (DeviceKind::Backup, 7) => "Luna Backup HSM 7".into(),
            (DeviceKind::Backup, _) => "Luna Backup HSM G5".into(),
        }
    }
}

/// The HSM SO's threshold: three consecutive failures zeroise the HSM (documented, fixed).
pub const HSM_SO_MAX_FAILED_LOGINS: u32 = 3;
/// Before firmware 7.0 a locked partition role waits ten minutes (documented, fixed).
pub const PRE7_LOCKOUT_SECS: u64 = 600;

/// The PED key colour that authenticates a role (Luna §2.4; the Limited Crypto Officer's
/// gray key is simulator-defined).
pub fn ped_colour(user: CK_USER_TYPE) -> crate::models::ped::Colour {
    use crate::models::ped::Colour;
    match user {
        CKU_SO => Colour::Blue,
        CKU_USER => Colour::Black,
        _ => Colour::Gray,
    }
}

/// A partition's vendor state, persisted with its token: policies and cloning domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionState {
    /// Partition policies set away from their defaults.
    #[serde(default)]
    pub policies: BTreeMap<u64, u64>,
    /// Verifier of the cloning domain (see `domain_verifier`), set at initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Vec<u8>>,
    /// Firmware 7.8+ ("Extended Domain Management"): further cloning domains besides the
    /// primary one (`domain`), as verifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_domains: Vec<Vec<u8>>,
    /// V1 partitions (7.7+, policy 41 on): the identity of the partition's SKS master key
    /// (SMK), 16 random hex digits made at the V0 -> V1 conversion. Backups of a V1 partition
    /// stay encrypted under it and restoring needs it (Luna §3.2); the key material itself
    /// is simulator-defined and never leaves the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smk: Option<String>,
    /// Destructiveness fixed at initialisation (`CA_InitToken`'s `CK_POLICY_INFO`), by id:
    /// (off -> on, on -> off). Policies not named keep their element's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub destructive: BTreeMap<u64, (bool, bool)>,
}

impl PartitionState {
    /// A policy's value on a partition of `device`.
    pub fn policy(&self, device: &Device, id: u64) -> u64 {
        self.policies
            .get(&id)
            .copied()
            .or_else(|| {
                partition_policy(id)
                    .filter(|e| device.firmware.era() >= e.since)
                    .map(|e| e.default.min(ceiling_value(device, e)))
            })
            .unwrap_or(0)
    }

    /// Applies policy changes, all or none. Returns whether the partition's objects must be
    /// erased (a destructive transition). `allow_destructive` false refuses those with
    /// `CKR_CONFIG_CHANGE_ILLEGAL` (simulator-defined: Luna's tools ask to type "proceed").
    pub fn apply(
        &mut self,
        device: &Device,
        changes: &[(u64, u64)],
        allow_destructive: bool,
    ) -> Result<bool> {
        let mut next = self.clone();
        let mut destructive = false;
        for &(id, value) in changes {
            let e = partition_policy(id)
                .filter(|e| device.firmware.era() >= e.since)
                .ok_or_else(|| {
                    err(
                        CKR_POLICY_ID_INVALID,
                        format!(
                            "firmware {} partitions have no policy {id}",
                            device.firmware
                        ),
                    )
                })?;
            if value > e.max {
                return Err(err(
                    CKR_CONFIG_ILLEGAL,
                    format!(
                        "policy {id} ({}) takes 0 to {}, not {value}",
                        e.description, e.max
                    ),
                ));
            }
            if value > ceiling_value(device, e) {
                return Err(err(
                    CKR_CONFIG_ILLEGAL,
                    format!(
                        "policy {id} ({}) cannot be looser than the HSM allows (HSM policy {} is off)",
                        e.description,
                        e.ceiling.unwrap_or_default()
                    ),
                ));
            }
            let old = next.policy(device, id);
            let (off_to_on, on_to_off) = self.destructiveness(e);
            if (old == 0 && value != 0 && off_to_on) || (old != 0 && value == 0 && on_to_off) {
                destructive = true;
            }
            next.policies.insert(id, value);
        }
        if next.policy(device, partition_policy::PRIVATE_KEY_CLONING) != 0
            && next.policy(device, partition_policy::PRIVATE_KEY_WRAPPING) != 0
        {
            return Err(err(
                CKR_CONFIG_FAILS_DEPENDENCIES,
                "policies 0 (private key cloning) and 1 (private key wrapping) cannot both be on",
            ));
        }
        if destructive && !allow_destructive {
            return Err(err(
                CKR_CONFIG_CHANGE_ILLEGAL,
                "the change is destructive (it erases every object on the partition); confirm it",
            ));
        }
        *self = next;
        Ok(destructive)
    }
}

/// A partition's version (Luna §2.3): V0 or V1 from firmware 7.7, none before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartitionVersion {
    /// Before 7.7: neither V0 nor V1.
    Legacy,
    V0,
    V1,
}

impl PartitionState {
    pub fn version(&self, device: &Device) -> PartitionVersion {
        if device.firmware.era() < Era::Luna77 {
            PartitionVersion::Legacy
        } else if self.policy(device, partition_policy::PARTITION_VERSION) != 0 {
            PartitionVersion::V1
        } else {
            PartitionVersion::V0
        }
    }

    /// Keeps the SMK in step with the version after a policy change: a V1 partition gets
    /// one (`make_smk` makes it), a V0 one has none.
    pub fn settle_version(
        &mut self,
        device: &Device,
        make_smk: impl FnOnce() -> Result<String>,
    ) -> Result<()> {
        match (self.version(device), &self.smk) {
            (PartitionVersion::V1, None) => self.smk = Some(make_smk()?),
            (PartitionVersion::V1, Some(_)) => {}
            _ => self.smk = None,
        }
        Ok(())
    }
}

/// Cloning domains (Luna §2.3, §3.1): one per partition before 7.8; from 7.8 several, one
/// of them primary.
impl PartitionState {
    /// Every domain verifier, the primary first.
    pub fn domains(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.domain.iter().chain(self.other_domains.iter())
    }

    pub fn has_domain(&self, verifier: &[u8]) -> bool {
        self.domains().any(|d| d.as_slice() == verifier)
    }

    /// Adds a domain (7.8+ only; a partition without one gets it as its primary).
    pub fn add_domain(&mut self, device: &Device, verifier: Vec<u8>) -> Result<()> {
        if self.has_domain(&verifier) {
            return Err(err(
                CKR_CLONING_PARAMETER_ALREADY_EXISTS,
                "the partition already has this cloning domain",
            ));
        }
        if self.domain.is_none() {
            self.domain = Some(verifier);
            return Ok(());
        }
        if device.firmware.era() < Era::Luna78 {
            return Err(err(
                CKR_OPERATION_NOT_ALLOWED,
                format!(
                    "firmware {} partitions have one cloning domain; several need 7.8 or later",
                    device.firmware
                ),
            ));
        }
        self.other_domains.push(verifier);
        Ok(())
    }

    /// Makes one of the partition's domains the primary one.
    pub fn set_primary_domain(&mut self, verifier: &[u8]) -> Result<()> {
        let Some(i) = self
            .other_domains
            .iter()
            .position(|d| d.as_slice() == verifier)
        else {
            return if self.domain.as_deref() == Some(verifier) {
                Ok(())
            } else {
                Err(err(
                    CKR_CLONING_PARAMETER_MISSING,
                    "the partition has no such cloning domain",
                ))
            };
        };
        let new = self.other_domains.remove(i);
        if let Some(old) = self.domain.replace(new) {
            self.other_domains.insert(0, old);
        }
        Ok(())
    }

    /// Removes a domain that is not the primary one (the primary stays: simulator-defined,
    /// choose another primary first).
    pub fn remove_domain(&mut self, verifier: &[u8]) -> Result<()> {
        if self.domain.as_deref() == Some(verifier) {
            return Err(err(
                CKR_OPERATION_NOT_ALLOWED,
                "the primary cloning domain cannot be removed; make another domain primary first",
            ));
        }
        let before = self.other_domains.len();
        self.other_domains.retain(|d| d.as_slice() != verifier);
        if self.other_domains.len() == before {
            return Err(err(
                CKR_CLONING_PARAMETER_MISSING,
                "the partition has no such cloning domain",
            ));
        }
        Ok(())
    }
}

/// Whether objects may be cloned between two partitions as far as their cloning domains go:
/// two 7.8+ partitions need any domain in common; when one side is older than 7.8, the
/// shared domain must be the 7.8+ side's *primary* one (documented, 7 `migration.htm`);
/// otherwise the domains are equal. A mismatch is `CKR_CERTIFICATE_INVALID` (Luna §3.2).
pub fn check_shared_domain(
    a: (&PartitionState, Firmware),
    b: (&PartitionState, Firmware),
) -> Result<()> {
    let modern = |fw: Firmware| fw.era() >= Era::Luna78;
    let shared = if modern(a.1) && modern(b.1) {
        a.0.domains().any(|d| b.0.has_domain(d))
    } else {
        a.0.domain.is_some() && a.0.domain == b.0.domain
    };
    if shared {
        return Ok(());
    }
    let hint = match (modern(a.1), modern(b.1)) {
        (true, false) if b.0.domain.as_ref().is_some_and(|d| a.0.has_domain(d)) => {
            " (the 7.8+ side has the domain, but not as its primary one)"
        }
        (false, true) if a.0.domain.as_ref().is_some_and(|d| b.0.has_domain(d)) => {
            " (the 7.8+ side has the domain, but not as its primary one)"
        }
        _ => "",
    };
    Err(err(
        CKR_CERTIFICATE_INVALID,
        format!("the partitions do not share a cloning domain{hint}"),
    ))
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

    /// A policy's destructiveness on this partition: (off -> on, on -> off).
    pub fn destructiveness(&self, e: &Element) -> (bool, bool) {
        self.destructive
            .get(&e.id)
            .copied()
            .unwrap_or((e.off_to_on_destructive, e.on_to_off_destructive))
    }

    /// The capability behind a policy: the largest value the HSM lets it take.
    pub fn capability(device: &Device, e: &Element) -> u64 {
        ceiling_value(device, e)
    }
}

fn ceiling_value(device: &Device, e: &Element) -> u64 {
    match e.ceiling {
        Some(h) if device.hsm_policy(h) == 0 => 0,
        _ => e.max,
    }
}

/// What a partition stores of its cloning domain: the secrets kit's cloning-domain verifier
/// (its KDF with a fixed, public salt), so that two partitions can be compared without the
/// domain in clear (simulator-defined).
pub use crate::base::secrets::verifier::cloning_domain_verifier as domain_verifier;

/// A new SMK identity: 16 random hex digits (simulator-defined).
pub fn new_smk_id() -> Result<String> {
    Ok(format!("{:016x}", crate::base::random::random_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(fw: &str) -> Device {
        Device {
            name: "hsm".into(),
            kind: DeviceKind::Network,
            firmware: Firmware::parse(fw).unwrap(),
            auth: Auth::Password,
            serial: "1".into(),
            hsm_policies: BTreeMap::new(),
            changed: ChangedPolicies::default(),
        }
    }

    /// FIPS mode: HSM policy 12 off on any firmware; partition policy 43 off from 7.7 only.
    #[test]
    fn fips_mode_and_non_fips_mechanisms() {
        let open = PartitionState::default();
        let mut own = PartitionState::default();
        own.policies
            .insert(partition_policy::NON_FIPS_ALGORITHMS, 0);
        for fw in ["6.21.2", "7.4.2", "7.7.1", "7.8.4"] {
            let d = device(fw);
            assert!(!d.fips_mode(&open), "{fw}");
            assert_eq!(d.fips_mode(&own), fw >= "7.7", "{fw}");
            let mut fips = device(fw);
            fips.hsm_policies.insert(hsm_policy::NON_FIPS_ALGORITHMS, 0);
            assert!(fips.fips_mode(&open), "{fw}");
            for m in NON_FIPS_MECHANISMS {
                assert_eq!(
                    fips.check_mechanism(&open, *m).unwrap_err().rv,
                    CKR_MECHANISM_INVALID
                );
                assert!(d.check_mechanism(&open, *m).is_ok());
            }
            assert!(fips.check_mechanism(&open, CKM_DES3_ECB).is_ok());
            assert!(fips.check_mechanism(&open, CKM_AES_GCM).is_ok());
        }
    }

    #[test]
    fn firmware_parses_and_has_its_era() {
        assert_eq!(Firmware::parse("6.21.2").unwrap().era(), Era::Legacy);
        assert_eq!(Firmware::parse("5.x").unwrap().era(), Era::Legacy);
        assert_eq!(Firmware::parse("6.22.0").unwrap().era(), Era::Ppso6);
        assert_eq!(Firmware::parse("7.4").unwrap().era(), Era::Luna7);
        assert_eq!(Firmware::parse("7.7.1").unwrap().era(), Era::Luna77);
        assert_eq!(Firmware::parse("7.8.4").unwrap().era(), Era::Luna78);
        assert!(Firmware::parse("8.0").is_none());
        assert!(Firmware::parse("seven").is_none());
        assert!(Firmware::parse("7.1.2.3").is_none());
    }

    #[test]
    fn roles_follow_the_era() {
        assert_eq!(
            device("6.21.2").check_role(CKU_CRYPTO_USER).unwrap_err().rv,
            CKR_USER_TYPE_INVALID
        );
        assert!(device("6.22.0").check_role(CKU_CRYPTO_USER).is_ok());
        assert_eq!(
            device("6.22.0")
                .check_role(CKU_LIMITED_CRYPTO_OFFICER)
                .unwrap_err()
                .rv,
            CKR_USER_TYPE_INVALID
        );
        assert!(
            device("7.4.2")
                .check_role(CKU_LIMITED_CRYPTO_OFFICER)
                .is_ok()
        );
        let mut no_ppso = device("6.22.0");
        no_ppso.hsm_policies.insert(hsm_policy::PER_PARTITION_SO, 0);
        assert!(no_ppso.check_role(CKU_CRYPTO_USER).is_err());
    }

    #[test]
    fn policies_check_dependencies_ceilings_and_destructiveness() {
        let d = device("7.4.2");
        let mut p = PartitionState::default();
        assert_eq!(p.policy(&d, 0), 1);
        assert_eq!(
            p.apply(&d, &[(1, 1)], true).unwrap_err().rv,
            CKR_CONFIG_FAILS_DEPENDENCIES
        );
        // 0 off is not destructive; then 1 on (off -> on) is.
        assert!(!p.apply(&d, &[(0, 0)], false).unwrap());
        assert_eq!(
            p.apply(&d, &[(1, 1)], false).unwrap_err().rv,
            CKR_CONFIG_CHANGE_ILLEGAL
        );
        assert!(p.apply(&d, &[(1, 1)], true).unwrap());
        assert_eq!(p.policy(&d, 1), 1);
        assert_eq!(
            p.apply(&d, &[(99, 1)], true).unwrap_err().rv,
            CKR_POLICY_ID_INVALID
        );
        assert_eq!(
            p.apply(&d, &[(41, 1)], true).unwrap_err().rv,
            CKR_POLICY_ID_INVALID,
            "7.4 has no partition versions"
        );
        let mut no_cloning = device("7.7.1");
        no_cloning.hsm_policies.insert(hsm_policy::CLONING, 0);
        let mut q = PartitionState::default();
        assert_eq!(q.policy(&no_cloning, 4), 0, "capped by HSM policy 7");
        assert_eq!(
            q.apply(&no_cloning, &[(4, 1)], true).unwrap_err().rv,
            CKR_CONFIG_ILLEGAL
        );
        assert!(q.apply(&no_cloning, &[(41, 1)], true).is_ok());
    }

    #[test]
    fn failed_logins_have_the_documented_consequences() {
        let d7 = device("7.4.2");
        let rule = |d: &Device, user, admin| d.failed_login_rule(user, admin, 10);
        assert_eq!(
            rule(&d7, CKU_SO, true),
            FailedLoginRule {
                threshold: 3,
                consequence: Consequence::ZeroiseDevice
            }
        );
        assert_eq!(
            rule(&d7, CKU_SO, false).consequence,
            Consequence::ZeroisePartition
        );
        assert_eq!(
            rule(&d7, CKU_USER, false).consequence,
            Consequence::LockUntilReset
        );
        assert_eq!(rule(&device("6.21.2"), CKU_SO, false).threshold, 3);
        assert_eq!(
            rule(&device("6.22.0"), CKU_USER, false).consequence,
            Consequence::LockFor(600)
        );
        assert_eq!(d7.locked_along_with(CKU_CRYPTO_USER), Some(CKU_USER));
        assert_eq!(device("6.22.0").locked_along_with(CKU_CRYPTO_USER), None);
        assert_eq!(
            d7.check_reset(CKU_USER).unwrap_err().rv,
            CKR_USER_NOT_AUTHORIZED
        );
        assert!(d7.check_reset(CKU_CRYPTO_USER).is_ok());
    }

    #[test]
    fn several_domains_need_7_8_and_older_peers_need_the_primary() {
        let (a, b, c) = (
            domain_verifier(b"domain-a"),
            domain_verifier(b"domain-b"),
            domain_verifier(b"domain-c"),
        );
        let fw78 = Firmware::parse("7.8.4").unwrap();
        let fw6 = Firmware::parse("6.22.0").unwrap();
        let mut old = PartitionState {
            domain: Some(a.clone()),
            ..PartitionState::default()
        };
        assert_eq!(
            old.add_domain(&device("7.7.1"), b.clone()).unwrap_err().rv,
            CKR_OPERATION_NOT_ALLOWED
        );
        let mut new = PartitionState {
            domain: Some(b.clone()),
            ..PartitionState::default()
        };
        new.add_domain(&device("7.8.4"), a.clone()).unwrap();
        assert_eq!(
            new.add_domain(&device("7.8.4"), a.clone()).unwrap_err().rv,
            CKR_CLONING_PARAMETER_ALREADY_EXISTS
        );
        // The 6.x peer's domain is there, but not primary.
        let e = check_shared_domain((&new, fw78), (&old, fw6)).unwrap_err();
        assert_eq!(e.rv, CKR_CERTIFICATE_INVALID);
        assert!(e.detail.contains("primary"), "{}", e.detail);
        // Between two 7.8+ partitions any common domain will do.
        assert!(check_shared_domain((&new, fw78), (&old, fw78)).is_ok());
        new.set_primary_domain(&a).unwrap();
        assert!(check_shared_domain((&old, fw6), (&new, fw78)).is_ok());
        assert_eq!(new.domains().count(), 2);
        assert_eq!(
            new.remove_domain(&a).unwrap_err().rv,
            CKR_OPERATION_NOT_ALLOWED
        );
        assert_eq!(
            new.set_primary_domain(&c).unwrap_err().rv,
            CKR_CLONING_PARAMETER_MISSING
        );
        new.remove_domain(&b).unwrap();
        assert_eq!(new.domains().count(), 1);
        assert!(!old.has_domain(&c));
    }

    #[test]
    fn configuration_texts() {
        assert_eq!(
            device("7.4.2").configuration_text(false),
            "Luna User Partition With SO (PW) Signing With Cloning Mode"
        );
        assert_eq!(
            device("6.22.0").configuration_text(false),
            "Luna User Slot 6.22.0 (PW) Signing With Cloning Mode"
        );
    }

    #[test]
    fn equal_domains_have_equal_verifiers_and_no_clear_text() {
        let a = domain_verifier(b"my-domain");
        assert_eq!(a, domain_verifier(b"my-domain"));
        assert_ne!(a, domain_verifier(b"other"));
        assert!(!a.windows(9).any(|w| w == b"my-domain"));
    }
}
