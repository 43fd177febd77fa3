//! The Decanus terminal and the preconditions of a partition backup with it (Primus §2.3, for
//! migration to CloudHSM): the terminal's release and pairing, a partition's administration
//! state, and every unmet precondition by id.
use super::{Device, HaRole, Licence};
use serde::Serialize;

/// A Decanus terminal: its release and whether it is paired with the device (Device
/// Administration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decanus {
    pub version: (u8, u8, u8),
    pub device_administration: bool,
}

/// The Decanus release the partition migration needs (Primus §2.3: "Rel. v2.1.3 and later").
pub const DECANUS_MIGRATION_VERSION: (u8, u8, u8) = (2, 1, 3);

impl Decanus {
    /// Parses "2.1.3" ("2.1" reads as 2.1.0).
    pub fn parse_version(text: &str) -> Option<(u8, u8, u8)> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut v = [0u8; 3];
        for (slot, part) in v.iter_mut().zip(&parts) {
            *slot = part.parse().ok()?;
        }
        Some((v[0], v[1], v[2]))
    }

    pub fn version_text(&self) -> String {
        let (a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }
}

/// A partition's administration state (Primus §2.3 step 1): "Management access" enabled
/// (device XML `<management>`), and the Decanus paired with its Partition Administration (PA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PartitionAdmin {
    pub management: bool,
    pub partition_administration: bool,
}

/// A precondition of a partition backup for migration (Primus §2.3) the device does not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmet {
    /// A stable name for scripts: `master`, `decanus`, `decanus-version`,
    /// `decanus-device-pairing`, `management-access`, `partition-administration-pairing`,
    /// `licence:<item>`, `partition`.
    pub id: String,
    pub message: String,
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.message)
    }
}

impl Device {
    /// The preconditions of Primus §2.3 (partition backup with Decanus, for migration to
    /// CloudHSM) for `partition`: every one the device does not meet, or `Ok`. Checked: the
    /// partition exists; the device is the Master (Decanus Partition Administration works on
    /// the HA Master only, §2.1); a Decanus terminal of release 2.1.3 or later, paired with the
    /// device (Device Administration) and with the partition's Partition Administration, whose
    /// "Management access" is enabled; the licence items Partition Administration and Device
    /// Backup. (Decanus Remote Terminal is optional; cards are checked by their own commands.)
    pub fn partition_backup_preconditions(
        &self,
        partition: &str,
    ) -> std::result::Result<(), Vec<Unmet>> {
        let mut unmet = Vec::new();
        let mut miss = |id: &str, message: String| {
            unmet.push(Unmet {
                id: id.to_string(),
                message,
            })
        };
        let admin = self.partitions.get(partition);
        if admin.is_none() {
            miss(
                "partition",
                format!("{} has no partition \"{partition}\"", self.name),
            );
        }
        if let HaRole::Clone { .. } = self.role {
            miss(
                "master",
                format!(
                    "{} is a Clone: Decanus Partition Administration works on the HA Master only",
                    self.name
                ),
            );
        }
        match &self.decanus {
            None => miss(
                "decanus",
                format!(
                    "no Decanus terminal for {}: the migration needs Decanus release 2.1.3 or later",
                    self.name
                ),
            ),
            Some(d) => {
                if d.version < DECANUS_MIGRATION_VERSION {
                    miss(
                        "decanus-version",
                        format!(
                            "the Decanus terminal is release {}: the migration needs 2.1.3 or later",
                            d.version_text()
                        ),
                    );
                }
                if !d.device_administration {
                    miss(
                        "decanus-device-pairing",
                        format!(
                            "the Decanus terminal is not paired with {} (Device Administration)",
                            self.name
                        ),
                    );
                }
            }
        }
        if let Some(admin) = admin {
            if !admin.management {
                miss(
                    "management-access",
                    format!(
                        "\"Management access\" is disabled for partition {partition} (SETUP > CONFIGURATION > SECURITY > USER)"
                    ),
                );
            }
            if !admin.partition_administration {
                miss(
                    "partition-administration-pairing",
                    format!(
                        "the Decanus terminal is not paired with the Partition Administration of {partition} (onboard it with a Partition SO card)"
                    ),
                );
            }
        }
        for licence in [Licence::PartitionAdministration, Licence::DeviceBackup] {
            if !self.licences.contains(&licence) {
                miss(
                    &format!("licence:{}", licence.lab_name()),
                    format!(
                        "{} is not licensed for {} (check SYSTEM > DIAG. DEVICE > LICENSE)",
                        self.name,
                        licence.title()
                    ),
                );
            }
        }
        if unmet.is_empty() { Ok(()) } else { Err(unmet) }
    }
}
