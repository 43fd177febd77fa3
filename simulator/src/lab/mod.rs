//! The lab layer: the simulated estate as a user writes it in TOML (devices with their
//! partitions, client hosts with the slots they see, HA groups), and what it defines. It owns
//! the lab file's schema, per device kind (`schema`), the Crypto Command Center a lab may state
//! with its checks and typed view (`ccc`), the reading of the file as written, the
//! older flat form included (`written`), the checks, with errors that name the file, line and
//! column, what is wrong and what is allowed (`validation`), the vendor models the devices have
//! (`vendor_models`), the engine's `Config` for one host's view (`definition`) and the built-in
//! labs (`fixtures`). It uses `base` to `models`, never `estate`, `engine` or `pkcs11`.
pub mod ccc;
pub mod definition;
pub mod fixtures;
pub mod schema;
mod validation;
mod vendor_models;
mod written;

pub use ccc::{Ccc, CccOrganisation, CccService, CccTemplate, CccUser};
pub use fixtures::{
    BUILT_IN, DEFAULT_USER_PIN, built_in_text, ped_variant, with_policies, without_cloning,
};
pub use schema::{
    CccAuthentication, CccBackupType, CccPerformance, CccRole, CccServiceType, DEVICE_KINDS,
    DecanusDef, DeviceDef, DeviceVendor, HaGroupDef, HostDef, LUNA_DEFAULT_FIRMWARE, LabFile,
    LabInfo, LunaDeviceDef, LunaPartitionDef, PRIMUS_DEFAULT_FIRMWARE, PartitionDef,
    PartitionVendor, PrimusDeviceDef, PrimusPartitionDef, SlotDef,
};

use crate::base::ids::{HaGroupId, PartitionId};
use crate::models::TokenModel;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// A lab that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabError {
    pub file: String,
    /// 1-based line and column, when the error has a place.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for LabError {}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, col)
}

/// A parsed and validated lab, with its source for error positions.
#[derive(Debug)]
pub struct Lab {
    pub file: LabFile,
    pub source_name: String,
    /// Each device's token model, by device name.
    pub models: HashMap<String, TokenModel>,
}

/// A Luna HA group as the lab defines it: its label and its member partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaGroup {
    pub label: HaGroupId,
    pub members: Vec<PartitionId>,
}

impl Lab {
    /// Parses and validates a lab's text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Lab, LabError> {
        let error = |span: Option<std::ops::Range<usize>>, message: String| LabError {
            file: source_name.to_string(),
            position: span.map(|s| position(text, s.start)),
            message,
        };
        let file = written::read(text).map_err(|(span, m)| error(span, m))?;
        let models = validation::validate(&file, &error)?;
        Ok(Lab {
            models,
            file,
            source_name: source_name.to_string(),
        })
    }

    /// Reads and validates a lab file.
    pub fn load(path: &Path) -> Result<Lab, LabError> {
        let text = crate::base::files::read_to_string(path).map_err(|e| LabError {
            file: path.display().to_string(),
            position: None,
            message: format!("cannot read the lab file: {e}"),
        })?;
        Lab::parse(&text, &path.display().to_string())
    }

    /// A built-in lab by name.
    pub fn built_in(name: &str) -> Result<Lab, LabError> {
        let text = built_in_text(name)?;
        Lab::parse(text, &format!("fixtures/labs/{name}.toml"))
    }

    /// The lab's Luna HA groups (`[[ha_group]]`), in lab order.
    pub fn ha_groups(&self) -> Vec<HaGroup> {
        self.file
            .ha_groups
            .iter()
            .map(|g| HaGroup {
                label: HaGroupId::new(g.label.get_ref().as_str()),
                // Validation saw that each names a partition of the lab.
                members: g
                    .members
                    .get_ref()
                    .iter()
                    .filter_map(|m| PartitionId::parse(m.get_ref()))
                    .collect(),
            })
            .collect()
    }

    /// The lab's client host names, in lab order.
    pub fn host_names(&self) -> Vec<&str> {
        self.file
            .hosts
            .iter()
            .map(|h| h.name.get_ref().as_str())
            .collect()
    }

    /// A Luna device's memory for partitions (`[device.luna] memory`; a Backup HSM's for its
    /// backup partitions), if the lab limits it.
    pub fn device_memory(&self, device: &str) -> Option<u64> {
        self.file
            .devices
            .iter()
            .find(|d| d.name.get_ref() == device)?
            .luna()?
            .memory
            .as_ref()
            .map(|m| *m.get_ref())
    }

    /// The host a Backup HSM (kind "luna-backup") is attached to when the lab starts
    /// (`[device.luna] attached_to`), if the lab says.
    pub fn backup_hsm_host(&self, device: &str) -> Option<&str> {
        self.file
            .devices
            .iter()
            .find(|d| d.name.get_ref() == device)?
            .luna()?
            .attached_to
            .as_ref()
            .map(|h| h.get_ref().as_str())
    }
}
