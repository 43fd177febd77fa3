//! The Crypto Command Center (seed 004, CCC 3.9 Service Management) as the estate keeps it:
//! the Luna Network HSMs CCC manages (devices.rs), its organisations and users
//! (organisations.rs), service templates (templates.rs), services (services.rs) and their life
//! after creation: initialisation, activation, partitions added and removed, size, keys and
//! clients (lifecycle.rs). The lab's
//! `[ccc]` is the starting state; once a change is written, the stored state wins. The whole
//! state is one device item (simulator-defined: device "ccc", kind `CCC_ITEM`, name
//! `CCC_STATE_NAME`), so every change is one store transaction and concurrent changes are
//! serialised by it; like other device items, `lab reset` keeps it. The product rules (name
//! and size limits, template capabilities by device) are `models::ccc`'s. Refusals are
//! `CKR_ARGUMENTS_BAD` for a name that does not exist and `CKR_FUNCTION_FAILED` for a change
//! CCC refuses, each with a sentence.
use super::*;
use crate::lab::ccc::{Ccc, CccService};
use serde::Deserialize;
use serde_json::Value;

mod devices;
mod import;
mod lifecycle;
mod migrate;
mod organisations;
mod services;
mod templates;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_import;
#[cfg(test)]
mod tests_lifecycle;
#[cfg(test)]
mod tests_migrate;

pub use devices::*;
pub use import::*;
pub use lifecycle::*;
pub use migrate::*;
pub use organisations::*;
pub use services::*;
pub use templates::*;

/// The device name the CCC state is kept under (simulator-defined: CCC is no device of the lab).
pub const CCC_DEVICE: &str = "ccc";
/// The device-item kind of the CCC state.
pub const CCC_ITEM: &str = "ccc";
/// The name of the CCC state's device item.
pub const CCC_STATE_NAME: &str = "state";

/// CCC's state: the lab's `[ccc]` shape (organisations, templates, services, licences) and the
/// devices added to CCC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccState {
    pub ccc: Ccc,
    pub devices: Vec<CccDevice>,
    /// What CCC knows of each service beyond the lab's shape, by service name (lifecycle.rs).
    #[serde(default)]
    pub statuses: std::collections::BTreeMap<String, CccServiceStatus>,
    /// The saved partition import table, if discovery ran (import.rs).
    #[serde(default)]
    pub import_table: Option<CccImportTable>,
    /// Migrate Service runs, oldest first (migrate.rs).
    #[serde(default)]
    pub migrations: Vec<CccMigration>,
}

/// A Luna Network HSM added to CCC; `authorised` once CCC logged in as its HSM SO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccDevice {
    pub device: DeviceId,
    pub authorised: bool,
    /// Unreachable from CCC (simulator-defined switch, `set_ccc_device_offline`).
    #[serde(default)]
    pub offline: bool,
}

/// The state the lab starts CCC with: its `[ccc]` (none: empty), and the devices of its
/// services added and authorised (simulator-defined: a lab's services are managed, so their
/// devices are).
fn initial_state(selection: &LabSelection) -> CccState {
    let ccc = selection.lab.ccc().unwrap_or(Ccc {
        partition_licences: None,
        organisations: Vec::new(),
        templates: Vec::new(),
        services: Vec::new(),
    });
    let mut devices: Vec<CccDevice> = Vec::new();
    for partition in ccc.services.iter().flat_map(|s| &s.partitions) {
        if !devices.iter().any(|d| &d.device == partition.device()) {
            devices.push(CccDevice {
                device: partition.device().clone(),
                authorised: true,
                offline: false,
            });
        }
    }
    CccState {
        ccc,
        devices,
        statuses: Default::default(),
        import_table: None,
        migrations: Vec::new(),
    }
}

fn stored_state(selection: &LabSelection, stored: Option<Value>) -> Result<CccState> {
    match stored {
        None => Ok(initial_state(selection)),
        Some(value) => CccState::deserialize(value).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("the store holds a damaged CCC state: {e}"),
            )
        }),
    }
}

/// CCC's state as the store holds it (the lab's `[ccc]` until changed).
pub fn ccc_state(selection: &LabSelection) -> Result<CccState> {
    let stored =
        open_store(selection)?.device_item(&DeviceId::new(CCC_DEVICE), CCC_ITEM, CCC_STATE_NAME)?;
    stored_state(selection, stored)
}

/// Reads, changes and writes CCC's state in one store transaction (written only when
/// `change` succeeds).
fn update_ccc<T>(
    selection: &LabSelection,
    change: impl FnOnce(&mut CccState) -> Result<T>,
) -> Result<T> {
    update_ccc_with_items(selection, |state, _| change(state))
}

/// `update_ccc` whose change also acts on the store's device items and partitions in the same
/// transaction (`DeviceItems`).
fn update_ccc_with_items<T>(
    selection: &LabSelection,
    change: impl FnOnce(&mut CccState, &crate::store::DeviceItems) -> Result<T>,
) -> Result<T> {
    let ccc = DeviceId::new(CCC_DEVICE);
    open_store(selection)?.update_device_items(|items| {
        let mut state = stored_state(selection, items.get(&ccc, CCC_ITEM, CCC_STATE_NAME)?)?;
        let out = change(&mut state, items)?;
        let value = serde_json::to_value(&state).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("cannot encode the CCC state: {e}"),
            )
        })?;
        items.put(&ccc, CCC_ITEM, CCC_STATE_NAME, &value)?;
        Ok(out)
    })
}

/// A change CCC refuses.
fn refused(message: impl Into<String>) -> crate::base::error::Error {
    err(CKR_FUNCTION_FAILED, message.into())
}

/// A name CCC does not know.
fn unknown(message: impl Into<String>) -> crate::base::error::Error {
    err(CKR_ARGUMENTS_BAD, message.into())
}

/// Names for errors that list them ("none" when empty).
fn listed<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Where the item called `name` is in `items`; `CKR_ARGUMENTS_BAD` listing their names
/// otherwise ("CCC has no {what} \"{name}\"; {what}s: ...").
fn named_at<T>(items: &[T], name_of: impl Fn(&T) -> &str, what: &str, name: &str) -> Result<usize> {
    items
        .iter()
        .position(|i| name_of(i) == name)
        .ok_or_else(|| {
            unknown(format!(
                "CCC has no {what} \"{name}\"; {what}s: {}",
                listed(items.iter().map(&name_of))
            ))
        })
}

impl CccState {
    /// The service named `name`.
    pub fn service(&self, name: &str) -> Result<&CccService> {
        Ok(&self.ccc.services[self.position(name)?])
    }

    fn service_mut(&mut self, name: &str) -> Result<&mut CccService> {
        let at = self.position(name)?;
        Ok(&mut self.ccc.services[at])
    }

    fn position(&self, name: &str) -> Result<usize> {
        named_at(&self.ccc.services, |s| &s.name, "service", name)
    }
}
