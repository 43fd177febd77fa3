//! A Primus lab's cards and partition-user credentials, and the security-configuration changes
//! SO cards authorise (the `hsmsim primus` commands). Cards and credentials are device items in
//! the lab's store (`store::device_items`, JSON written here, read by no one else): kind
//! `primus-card` holds a card (kind, partition, PIN verifier, attempts left) by card name;
//! `primus-user` holds a partition user's setup password and permanent secret as verifiers
//! (never in plaintext) and the API-login throttle, by partition name; the migration to
//! CloudHSM (seed 000) adds `primus-decanus` (the Decanus terminal's release and pairing),
//! `primus-partition-admin` (a partition's management access, management password verifier,
//! Partition Administration pairing and Partition SO card, by partition) and
//! `primus-backup-key` (a partition's P-Backup card and public key, by partition): see
//! `decanus.rs` and `partition_backup.rs` (the backup file: `backup_file.rs`). Every PIN check,
//! credential change and throttle update is one read-modify-write in one store transaction,
//! so attempts presented at the same instant by several processes all count. They are not
//! part of the lab's definition: `lab reset` keeps them; snapshots hold them. Earlier builds
//! kept them as JSON files (`primus/<device>/cards/<card>.json`,
//! `primus/<device>/users/<partition>.json`): opening the lab's store imports them once
//! (`import_legacy_files`). A configuration change is written to the partition's token record
//! in the store, so the PKCS#11 module in another process sees it on its next call.
mod backup_file;
mod cards;
mod credentials;
mod decanus;
mod legacy;
#[cfg(test)]
mod migration_tests;
mod partition_backup;
mod policy;
#[cfg(test)]
mod tests;

pub use cards::*;
pub use credentials::*;
pub use decanus::*;
pub(crate) use legacy::import_legacy_files;
pub use partition_backup::*;
pub use policy::*;

use crate::base::error::{Result, err};
use crate::base::ids::DeviceId;
use crate::estate::{LabSelection, open_store};
use crate::models::PartitionState;
use crate::models::primus::{
    Card, CardKind, Device, SecurityPolicy, SetupPassword, Throttle, Verifier,
    authorize_configuration_change, check_card_pin,
};
use crate::store::Store;
use cryptoki_sys::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The device-item kind of a card (named by the card).
pub const CARD_ITEM: &str = "primus-card";
/// The device-item kind of a partition user's credentials (named by the partition).
pub const USER_ITEM: &str = "primus-user";

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

/// The Primus device `name` of the lab; the error lists the lab's Primus devices.
pub fn device<'a>(selection: &'a LabSelection, name: &str) -> Result<&'a Device> {
    selection
        .lab
        .models
        .get(name)
        .and_then(|m| m.primus())
        .ok_or_else(|| {
            let mut known: Vec<&str> = selection
                .lab
                .models
                .iter()
                .filter(|(_, m)| m.primus().is_some())
                .map(|(n, _)| n.as_str())
                .collect();
            known.sort_unstable();
            err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "the lab has no Primus device \"{name}\"; Primus devices: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
}

/// A Primus partition written "device/partition": its device and partition name.
pub fn partition<'a>(selection: &'a LabSelection, text: &str) -> Result<(&'a Device, String)> {
    let (d, p) = text.split_once('/').ok_or_else(|| {
        err(
            CKR_ARGUMENTS_BAD,
            format!("write the partition as \"device/partition\", not \"{text}\""),
        )
    })?;
    let device = device(selection, d)?;
    if !device.partitions.contains_key(p) {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "device {d} has no partition \"{p}\"; partitions: {}",
                device
                    .partitions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok((device, p.to_string()))
}

fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "{what} \"{name}\" is not usable: 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
            ),
        ))
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot encode a Primus item: {e}"),
        )
    })
}

fn decode<T: DeserializeOwned>(device: &str, kind: &str, name: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("the store holds a damaged {kind} item \"{name}\" of {device}: {e}"),
        )
    })
}

/// A card as the store holds it; `CKR_ARGUMENTS_BAD` when there is none.
fn stored_card(device_name: &str, name: &str, value: Option<Value>) -> Result<Card> {
    let value = value.ok_or_else(|| {
        err(
            CKR_ARGUMENTS_BAD,
            format!("device {device_name} has no card \"{name}\""),
        )
    })?;
    decode(device_name, CARD_ITEM, name, value)
}

/// A partition user's credentials as the store holds them (empty when none were issued).
fn stored_credentials(
    device_name: &str,
    partition: &str,
    value: Option<Value>,
) -> Result<UserCredentials> {
    value.map_or(Ok(UserCredentials::default()), |v| {
        decode(device_name, USER_ITEM, partition, v)
    })
}
