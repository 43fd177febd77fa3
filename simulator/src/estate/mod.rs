//! A lab's state, managed from outside the module and by it: which lab and state directory a
//! process uses (selection.rs), a partition's token as the lab makes it (presets.rs), and one
//! operation per file: creating a lab from a fixture (init.rs), reporting on it (report.rs),
//! checking its integrity (check.rs), resetting it (reset.rs), snapshots (snapshots.rs),
//! removing or adding partitions (partitions.rs), restarting a device (restart.rs), Luna HA
//! groups and device health (`lab fail|recover`, ha_groups.rs), zeroising
//! one (zeroise.rs), changing a Luna device's HSM policy (hsm_policy.rs, also LunaSH's `hsm
//! showpolicies|changepolicy`), LunaSH's appliance operations as the HSM SO: `hsm login`
//! (hsm_so.rs), `partition list|show` (appliance_partitions.rs), `partition
//! showpolicies|changepolicy` (partition_policy.rs), a pre-PPSO PED partition's `partition
//! createchallenge|activate` (partition_activation.rs); the Crypto Command Center's devices, organisations, templates
//! and services (ccc/); the Luna Backup HSM: its attachment to a
//! host and LunaCM's `partition archive` operations (backup_hsm.rs); a Primus lab's cards and
//! credentials (primus.rs). Everything goes through the store's transactions, so it is safe
//! while other processes use the lab; they see the result on their next call.
mod appliance_partitions;
mod backup_hsm;
pub mod ccc;
mod check;
pub mod ha_groups;
mod hsm_policy;
mod hsm_so;
mod init;
mod partition_activation;
mod partition_policy;
mod partitions;
mod presets;
pub mod primus;
mod report;
mod reset;
mod restart;
mod selection;
mod snapshots;
#[cfg(test)]
mod tests;
mod zeroise;

pub use appliance_partitions::*;
pub use backup_hsm::*;
pub use check::*;
pub use ha_groups::{fail_device, recover_device};
pub use hsm_policy::*;
pub use hsm_so::*;
pub use init::*;
pub use partition_activation::*;
pub use partition_policy::*;
pub use partitions::*;
pub use presets::*;
pub use report::*;
pub use reset::*;
pub use restart::*;
pub use selection::*;
pub use snapshots::*;
pub use zeroise::*;

use crate::base::error::{Result, err};
use crate::base::ids::{DeviceId, PartitionId};
use crate::base::secrets::seal::{PinSeal, SealContext, TokenKey};
use crate::lab::definition::{Config, TokenPreset, VendorPreset};
use crate::lab::{Lab, LabError, built_in_text};
use crate::models::TokenModel;
use crate::store::records::TokenRecord;
use crate::store::{SCHEMA_VERSION, Store};
use cryptoki_sys::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
