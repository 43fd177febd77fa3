//! A Primus device as the lab defines it: where it runs (on premises or CloudHSM), its
//! firmware, licence items, Master/Clone role (a Clone refuses token-object changes without
//! `clone_modify`, Primus §2.1), its Decanus terminal and partitions, and the token serial
//! derived from a partition.
use super::{Decanus, PartitionAdmin, ThrottleRule};
use crate::base::error::{Result, err};
use cryptoki_sys::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Where the device runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    OnPremises,
    CloudHsm,
}

/// A CloudHSM service (Primus §4): shared (HSMaaS, multi-tenant) or dedicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloudService {
    Shared,
    Dedicated,
}

/// A licence item (Primus §2.3; `SYSTEM > DIAG. DEVICE > LICENSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Licence {
    PartitionAdministration,
    DeviceBackup,
    DecanusRemoteTerminal,
}

impl Licence {
    pub const ALL: [Licence; 3] = [
        Licence::PartitionAdministration,
        Licence::DeviceBackup,
        Licence::DecanusRemoteTerminal,
    ];

    /// The name a lab writes.
    pub fn lab_name(self) -> &'static str {
        match self {
            Licence::PartitionAdministration => "partition-administration",
            Licence::DeviceBackup => "device-backup",
            Licence::DecanusRemoteTerminal => "decanus-remote-terminal",
        }
    }

    /// The name the licence diagnostics show.
    pub fn title(self) -> &'static str {
        match self {
            Licence::PartitionAdministration => "Partition Administration",
            Licence::DeviceBackup => "Device Backup",
            Licence::DecanusRemoteTerminal => "Decanus Remote Terminal",
        }
    }

    pub fn from_lab(text: &str) -> Option<Licence> {
        Licence::ALL.into_iter().find(|l| l.lab_name() == text)
    }
}

/// How a Clone follows its Master (Primus §2.1: the wizard asks "HA clone" or manual).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloneMode {
    Ha,
    Manual,
}

/// The device's state from the initial wizard (Primus §2.1): Master ("MSTR") or Clone
/// ("CLON"); `clone_modify` is the device XML switch "object creation allowed on clones".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase", tag = "role")]
pub enum HaRole {
    #[default]
    Master,
    Clone {
        mode: CloneMode,
        clone_modify: bool,
    },
}

/// A Primus device as the lab defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub deployment: Deployment,
    /// CloudHSM devices: shared or dedicated (`None` on premises).
    pub cloud_service: Option<CloudService>,
    /// The HSM firmware ("2.11", "3.2"), reported as the token's hardware version.
    pub firmware: (u8, u8),
    /// Login throttle parameters (defaults: Primus §1.4's XML defaults).
    pub throttle: ThrottleRule,
    /// Licence items (default: none; simulator-defined).
    pub licences: BTreeSet<Licence>,
    /// Master or Clone (default Master; simulator-defined).
    pub role: HaRole,
    /// The Decanus terminal, if the lab has one for this device.
    pub decanus: Option<Decanus>,
    /// Each partition's administration state, by partition name.
    pub partitions: BTreeMap<String, PartitionAdmin>,
}

/// Answered when a Clone refuses to create, change or destroy token objects
/// (simulator-defined code; Primus §2.1 says these operations need the Master).
pub const CKR_CLONE_READ_ONLY: CK_RV = CKR_TOKEN_WRITE_PROTECTED;

impl Device {
    /// The device's id in the estate (its lab name).
    pub fn id(&self) -> crate::base::ids::DeviceId {
        crate::base::ids::DeviceId::new(self.name.as_str())
    }

    /// A device with the documented defaults and nothing else: on premises, Master, no
    /// licence items, no Decanus.
    pub fn new(name: &str, deployment: Deployment, firmware: (u8, u8)) -> Device {
        Device {
            name: name.to_string(),
            deployment,
            cloud_service: (deployment == Deployment::CloudHsm).then_some(CloudService::Shared),
            firmware,
            throttle: ThrottleRule::default(),
            licences: BTreeSet::new(),
            role: HaRole::Master,
            decanus: None,
            partitions: BTreeMap::new(),
        }
    }

    /// Whether token objects may be created, changed or destroyed here: on the Master, or on
    /// a Clone with `clone_modify`. Otherwise `CKR_TOKEN_WRITE_PROTECTED` (simulator-defined:
    /// the documents say such operations need the Master, and disagree on whether they are
    /// queued while it is unreachable or refused; the simulator refuses, as the CloudHSM
    /// documents say).
    pub fn check_object_change(&self) -> Result<()> {
        match self.role {
            HaRole::Clone {
                clone_modify: false,
                ..
            } => Err(err(
                CKR_CLONE_READ_ONLY,
                format!(
                    "{} is a Clone without clone_modify: creating, changing or destroying keys and objects needs the Master",
                    self.name
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Parses "2.11" or "3.2.1" (major 2 or 3).
    pub fn parse_firmware(text: &str) -> Option<(u8, u8)> {
        let mut parts = text.trim().split('.');
        let major: u8 = parts.next()?.parse().ok()?;
        let minor: u8 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
        if parts.clone().any(|p| p.parse::<u8>().is_err()) || !(2..=3).contains(&major) {
            return None;
        }
        Some((major, minor))
    }

    /// The token's serial: 16 hex digits derived from the partition (Primus §1.3 shows
    /// `a7176edc3c192207`; the derivation is simulator-defined).
    pub fn serial(partition: &str) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, partition.as_bytes());
        d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}
