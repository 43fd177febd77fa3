//! A Luna device as the lab defines it: its kind (Network, PCIe, USB, Backup HSM), firmware
//! version and era, how its roles authenticate, the HSM policies it runs under (as the lab sets
//! them and as changed at run time), its FIPS mode and the mechanisms and curves it offers, and
//! how LunaCM and `CK_TOKEN_INFO` name it (Luna §2.1-§2.3, §6).
use super::PartitionState;
use super::policies::{hsm_policy, hsm_policy_element, partition_policy};
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use std::collections::BTreeMap;
use std::fmt;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

    /// `CKR_MECHANISM_INVALID` for ML-DSA and ML-KEM before firmware 7.9 (simulator-defined:
    /// the Luna documents used here are silent on post-quantum mechanisms; 7.9 is the first
    /// firmware the simulator gives them), and for a non-FIPS mechanism on a partition in FIPS
    /// mode: Luna
    /// leaves such mechanisms out of `C_GetMechanismList` and answers `C_GetMechanismInfo` with
    /// "invalid mechanism" (thalesdocs 7.x `sdk/mechanisms/rsa-mechanism-remap.htm`); using
    /// one answers the same (simulator-defined: the documents name no other code).
    pub fn check_mechanism(
        &self,
        state: &PartitionState,
        mechanism: CK_MECHANISM_TYPE,
    ) -> Result<()> {
        if crate::crypto::is_post_quantum(mechanism)
            && (self.firmware.major, self.firmware.minor) < (7, 9)
        {
            return Err(err(
                CKR_MECHANISM_INVALID,
                format!(
                    "mechanism 0x{mechanism:X} (ML-DSA / ML-KEM) needs Luna firmware 7.9 or later; this HSM runs {}",
                    self.firmware
                ),
            ));
        }
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
