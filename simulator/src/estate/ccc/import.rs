//! Discovering and Importing Unmanaged Partitions, and Canceling Partition Import (seed 004):
//! Get Started finds the initialised partitions of the authorised devices that no service
//! manages and proposes standalone services and HA groups; the import table is saved in the CCC
//! state (kept between sessions), edited row by row, and Finish Imports turns it into services
//! (one per standalone row, one per HA group) in one store transaction; Cancel discards it.
//!
//! Simulator-defined choices (the guide is silent):
//! - discovery skips the devices marked offline, admin partitions (the HSM SO's) and removed
//!   partitions; when it finds nothing, no table is saved;
//! - CCC cannot read an HA group's label (it lives on the clients: "vtl haAdmin show"), so it
//!   proposes the default labels `HA_1`, `HA_2`, ... in table order. It identifies a group from
//!   the lab's HA groups in force (`[[ha_group]]`s and `hagroup` changes) when two or more of
//!   its members are discovered, else (partitions in no group in force) by its heuristic:
//!   partitions on different devices with the same cloning domain and the same label stem (the
//!   label without its trailing digits and separators, e.g. "web-ha-1" and "web-ha-2"), the
//!   first of each device;
//! - an HA group's service name, description and organisation are the group's: editing them on
//!   one member's row sets them on every member's row, and a row that joins a group takes the
//!   group's; a row that leaves a group keeps them;
//! - Finish Imports checks every row (a service name of 1 to 28 characters, unique among the
//!   table and the services; an existing organisation; the device added, authorised and
//!   online; the partition still initialised and unmanaged), each HA group (two or more
//!   partitions, on different devices, sharing a cloning domain) and its HA Group Label: a
//!   default label `HA_n` must be replaced ("Delete the default HA Group label (HA_n), and
//!   replace it with the actual HA Group Label"), and the label must be an HA group in force
//!   whose members are exactly the group's rows (the simulator knows the clients' groups);
//! - an imported service records no template (`IMPORTED_TEMPLATE`, the empty name, which no
//!   template has): CCC did not create it from one. It keeps, as its status's template copy,
//!   the capabilities CCC found on its partitions (`found_capabilities`): the service type by
//!   its partition count, the device's authentication, Per-Partition SO and STC as discovered,
//!   no Scalable Key Storage, and the first partition's lab `size` (else
//!   `IMPORTED_PARTITION_SIZE`), so it is managed (resized, grown, migrated) like a created
//!   one;
//! - a service is imported with reduced functionality when one of its partitions has both the
//!   STC and the PPSO policies. Discovery reads STC from the partition's Luna policy 37
//!   ("Secure trusted channel", `CccImportRow::secure_trusted_channel` when it is 1; a lab
//!   states it with `policies = { 37 = 1 }` in `[device.partition.luna]`) and PPSO from the
//!   device's per-partition SO.
use super::*;
use crate::base::ids::HaGroupId;
use crate::lab::ccc::CccTemplate;
use crate::lab::definition::HaGroupSpec;
use crate::lab::schema::CccServiceType;
use crate::models::{ccc, luna};
use std::collections::BTreeSet;

/// The template an imported service records: none (simulator-defined; template names are not
/// empty).
pub const IMPORTED_TEMPLATE: &str = "";

/// The partition size an imported service records when the lab states none for its first
/// partition (simulator-defined: CCC reads it from the device; the lab's partitions have no
/// size unless stated).
pub const IMPORTED_PARTITION_SIZE: u64 = 100_000;

/// The start of the HA Group labels CCC proposes (`HA_1`, `HA_2`, ...).
pub const DEFAULT_HA_GROUP_PREFIX: &str = "HA_";

/// The saved partition import table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccImportTable {
    /// When it was first created and last edited (RFC 3339, UTC).
    pub created: String,
    pub edited: String,
    /// Standalone partitions first, then the HA groups, each group's rows together.
    pub rows: Vec<CccImportRow>,
}

/// One discovered partition of the import table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccImportRow {
    pub partition: PartitionId,
    /// The HA group field (empty: a standalone service).
    pub ha_group: String,
    pub service_name: String,
    pub description: String,
    pub organisation: String,
    /// The partition's label, as discovered.
    #[serde(default)]
    pub label: String,
    /// The partition has its own SO (the PPSO policy), as discovered.
    #[serde(default)]
    pub per_partition_so: bool,
    /// The partition has the Secure Trusted Channel policy (Luna partition policy 37 is 1), as
    /// discovered.
    #[serde(default)]
    pub secure_trusted_channel: bool,
}

/// A change to one row of the import table; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRowEdit {
    pub ha_group: Option<String>,
    pub service_name: Option<String>,
    pub description: Option<String>,
    pub organisation: Option<String>,
}

/// The saved import table, if any.
pub fn ccc_import_table(selection: &LabSelection) -> Result<Option<CccImportTable>> {
    Ok(ccc_state(selection)?.import_table)
}

/// Get Started: with a saved table, that table ("the currently saved partition import table
/// will be displayed", documented); otherwise discovers the initialised partitions of the
/// devices added to CCC and authorised that no service manages, proposes HA groups (see the
/// module comment) and saves the table, standalone partitions first.
pub fn discover_ccc_partitions(selection: &LabSelection) -> Result<CccImportTable> {
    let state = ccc_state(selection)?;
    if let Some(table) = state.import_table {
        return Ok(table);
    }
    let store = open_store(selection)?;
    for device in &state.devices {
        selection
            .device_model(&device.device)?
            .read_device_state(&store)?;
    }
    let groups = crate::estate::ha_groups::groups_in_force(selection, &store)?;
    let admins = admin_partitions(selection);
    let now = now_rfc3339();
    update_ccc_with_items(selection, |state, items| {
        if let Some(table) = &state.import_table {
            return Ok(table.clone());
        }
        let mut found = Vec::new();
        for (partition, model, _) in selection.lab.partitions() {
            let reachable = state
                .devices
                .iter()
                .any(|d| &d.device == partition.device() && d.authorised && !d.offline);
            let managed = service_of(state, &partition).is_some();
            let TokenModel::Luna(device) = &model else {
                continue;
            };
            if !reachable || managed || admins.contains(&partition) {
                continue;
            }
            let Some(row) = items.token(&partition)? else {
                continue;
            };
            if !row.present || !row.record.initialized {
                continue;
            }
            let partition_state = luna::ca::state_of(&row.record);
            let secure_trusted_channel =
                partition_state.policy(device, luna::partition_policy::SECURE_TRUSTED_CHANNEL) == 1;
            found.push(Found {
                domain: partition_state.domain,
                row: CccImportRow {
                    partition,
                    ha_group: String::new(),
                    service_name: String::new(),
                    description: String::new(),
                    organisation: String::new(),
                    label: row.record.label.trim_end().to_string(),
                    per_partition_so: device.per_partition_so(),
                    secure_trusted_channel,
                },
            });
        }
        let mut rows = proposed_rows(found, &groups);
        sort_rows(&mut rows);
        let table = CccImportTable {
            created: now.clone(),
            edited: now,
            rows,
        };
        if !table.rows.is_empty() {
            state.import_table = Some(table.clone());
        }
        Ok(table)
    })
}

/// Edits the row of `partition`: its HA Group field (a group's name moves it to that group,
/// empty makes it standalone; surrounding spaces are dropped), its service name (28 characters
/// at most; may be left empty until Finish Imports), description and organisation (one CCC has,
/// or empty). Service fields edited on an HA group's row are the group's (module comment).
pub fn edit_ccc_import_row(
    selection: &LabSelection,
    partition: &PartitionId,
    edit: ImportRowEdit,
) -> Result<CccImportTable> {
    if let Some(name) = edit.service_name.as_deref().filter(|n| !n.is_empty()) {
        ccc::check_service_name(name).map_err(refused)?;
    }
    let now = now_rfc3339();
    update_ccc(selection, |state| {
        if let Some(organisation) = edit.organisation.as_deref().filter(|o| !o.is_empty()) {
            organisations::organisation_at(state, organisation)?;
        }
        let table = saved_table(state)?;
        let at = row_at(table, partition)?;
        if let Some(group) = &edit.ha_group {
            let group = group.trim();
            if !group.is_empty()
                && group != table.rows[at].ha_group
                && let Some(member) = table.rows.iter().find(|r| r.ha_group == group)
            {
                let (name, description, organisation) = (
                    member.service_name.clone(),
                    member.description.clone(),
                    member.organisation.clone(),
                );
                let row = &mut table.rows[at];
                row.service_name = name;
                row.description = description;
                row.organisation = organisation;
            }
            table.rows[at].ha_group = group.to_string();
        }
        let group = table.rows[at].ha_group.clone();
        for (i, row) in table.rows.iter_mut().enumerate() {
            if i != at && (group.is_empty() || row.ha_group != group) {
                continue;
            }
            if let Some(name) = &edit.service_name {
                row.service_name = name.clone();
            }
            if let Some(description) = &edit.description {
                row.description = description.clone();
            }
            if let Some(organisation) = &edit.organisation {
                row.organisation = organisation.clone();
            }
        }
        sort_rows(&mut table.rows);
        table.edited = now;
        Ok(table.clone())
    })
}

/// Deletes the row of `partition` from the current import ("removed from the current import
/// only": the next discovery finds the partition again).
pub fn delete_ccc_import_row(
    selection: &LabSelection,
    partition: &PartitionId,
) -> Result<CccImportTable> {
    let now = now_rfc3339();
    update_ccc(selection, |state| {
        let table = saved_table(state)?;
        let at = row_at(table, partition)?;
        table.rows.remove(at);
        table.edited = now;
        Ok(table.clone())
    })
}

/// Finish Imports: a service for each standalone row and each HA group, with an
/// "initialised, not by CCC" status (reduced for STC + PPSO partitions), in one store
/// transaction; the table is then emptied (discarded). Refused, writing nothing, when the rows
/// ask for more partitions than the partition licences leave ("If the number of partitions
/// specified for import exceeds the partitions available, the Import Partitions option is
/// disabled", documented; counted as `create_ccc_service` counts them) or break a rule of the
/// module comment. Returns the services made, in table order.
pub fn finish_ccc_import(selection: &LabSelection) -> Result<Vec<CccService>> {
    let store = open_store(selection)?;
    let groups = crate::estate::ha_groups::groups_in_force(selection, &store)?;
    update_ccc_with_items(selection, |state, items| {
        let table = state.import_table.clone().ok_or_else(no_table)?;
        if table.rows.is_empty() {
            return Err(refused(
                "the partition import table is empty: cancel it and discover the partitions again",
            ));
        }
        let used: usize = state.ccc.services.iter().map(|s| s.partitions.len()).sum();
        if let Some(licences) = state.ccc.partition_licences {
            let available = licences.saturating_sub(used as u64);
            if table.rows.len() as u64 > available {
                return Err(refused(format!(
                    "the import asks for {} partitions, more than the {available} partitions available ({licences} partition licences, {used} in use): reduce the number of partitions for import to {available} or fewer",
                    table.rows.len()
                )));
            }
        }
        let planned = planned_services(&table.rows);
        let mut names = BTreeSet::new();
        for service in &planned {
            check_planned(state, service, &mut names)?;
            for row in &service.rows {
                check_importable(selection, state, items, row)?;
            }
            if let Some(label) = &service.ha_group {
                check_ha_group(selection, items, label, &service.rows, &groups)?;
            }
        }
        let mut made = Vec::new();
        for service in planned {
            let first = service.rows[0];
            let imported = CccService {
                name: first.service_name.clone(),
                description: first.description.clone(),
                template: IMPORTED_TEMPLATE.into(),
                organisation: first.organisation.clone(),
                partitions: service.rows.iter().map(|r| r.partition.clone()).collect(),
                ha_group: service.ha_group.as_deref().map(HaGroupId::new),
            };
            let reduced = service
                .rows
                .iter()
                .any(|r| r.secure_trusted_channel && r.per_partition_so);
            let template = found_capabilities(selection, &service)?;
            state.statuses.insert(
                imported.name.clone(),
                CccServiceStatus {
                    initialised: true,
                    initialised_by_ccc: false,
                    reduced,
                    template: Some(template),
                    ..Default::default()
                },
            );
            state.ccc.services.push(imported.clone());
            made.push(imported);
        }
        state.import_table = None;
        Ok(made)
    })
}

/// Canceling Partition Import: the saved table is discarded ("The current table is deleted",
/// documented); refused when there is none (simulator-defined).
pub fn cancel_ccc_import(selection: &LabSelection) -> Result<()> {
    update_ccc(selection, |state| {
        state.import_table.take().ok_or_else(no_table)?;
        Ok(())
    })
}

/// A discovered partition and its cloning domain (verifier), for the heuristic.
struct Found {
    row: CccImportRow,
    domain: Option<Vec<u8>>,
}

/// One service Finish Imports makes: its rows, and its HA group label (`None`: standalone).
struct Planned<'a> {
    ha_group: Option<String>,
    rows: Vec<&'a CccImportRow>,
}

/// What CCC found on an imported service's partitions, as a template copy (module comment).
fn found_capabilities(selection: &LabSelection, service: &Planned) -> Result<CccTemplate> {
    let first = service.rows[0];
    let device = super::services::network_hsm(selection, &first.partition)?;
    let size = match super::lifecycle::lab_size(selection, &first.partition) {
        0 => IMPORTED_PARTITION_SIZE,
        stated => stated,
    };
    Ok(CccTemplate {
        name: IMPORTED_TEMPLATE.into(),
        description: "imported: the capabilities CCC found on the partitions".into(),
        service_type: if service.rows.len() == 1 {
            CccServiceType::HsmPartition
        } else {
            CccServiceType::HsmPartitionHaGroup
        },
        authentication: device.auth,
        performance: None,
        partition_size: size,
        per_partition_so: first.per_partition_so,
        scalable_key_storage: false,
        secure_trusted_channel: service.rows.iter().any(|r| r.secure_trusted_channel),
        backup_type: Default::default(),
    })
}

fn no_table() -> crate::base::error::Error {
    refused("there is no saved partition import table: discover the partitions first (Get Started)")
}

fn now_rfc3339() -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(crate::base::clock::now());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The lab's admin partitions (the HSM SO's, `admin = true`): never services.
fn admin_partitions(selection: &LabSelection) -> BTreeSet<PartitionId> {
    selection
        .lab
        .file
        .devices
        .iter()
        .flat_map(|d| {
            let device = DeviceId::new(d.name.get_ref());
            d.partitions
                .iter()
                .filter(|p| p.is_admin())
                .map(move |p| device.partition(p.name.get_ref().as_str()))
        })
        .collect()
}

/// The service `partition` serves, if any.
fn service_of<'a>(state: &'a CccState, partition: &PartitionId) -> Option<&'a CccService> {
    state
        .ccc
        .services
        .iter()
        .find(|s| s.partitions.contains(partition))
}

/// The saved table, to change; refused when there is none.
fn saved_table(state: &mut CccState) -> Result<&mut CccImportTable> {
    state.import_table.as_mut().ok_or_else(no_table)
}

/// Where the row of `partition` is; `CKR_ARGUMENTS_BAD` naming the table's partitions otherwise.
fn row_at(table: &CccImportTable, partition: &PartitionId) -> Result<usize> {
    table
        .rows
        .iter()
        .position(|r| &r.partition == partition)
        .ok_or_else(|| {
            let names: Vec<String> = table.rows.iter().map(|r| r.partition.to_string()).collect();
            unknown(format!(
                "the partition import table has no partition \"{partition}\"; partitions: {}",
                listed(names.iter().map(String::as_str))
            ))
        })
}

/// What the heuristic groups partitions by: their label stem and cloning domain (verifier).
type LookAlike<'a> = (&'a str, &'a [u8]);

/// The partitions, in order, for an error ("a/p1, b/p2").
fn partition_list(partitions: &BTreeSet<&PartitionId>) -> String {
    let names: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
    names.join(", ")
}

/// The label with its trailing digits and then separators removed ("web-ha-1" -> "web-ha").
fn label_stem(label: &str) -> &str {
    label
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches(['-', '_', ' ', '.'])
}

/// The discovered partitions as rows, the identified HA groups labelled `HA_1`, `HA_2`, ... in
/// the order of their first member (module comment).
fn proposed_rows(found: Vec<Found>, groups: &[HaGroupSpec]) -> Vec<CccImportRow> {
    let mut group_of: Vec<Option<usize>> = vec![None; found.len()];
    let mut next = 0;
    let mut assign = |group_of: &mut Vec<Option<usize>>, members: &[usize]| {
        if members.len() >= 2 {
            for &m in members {
                group_of[m] = Some(next);
            }
            next += 1;
        }
    };
    for group in groups {
        let members: Vec<usize> = (0..found.len())
            .filter(|&i| group.members.contains(&found[i].row.partition))
            .collect();
        assign(&mut group_of, &members);
    }
    // The heuristic leaves alone the members of the groups in force.
    let grouped = |f: &Found| groups.iter().any(|g| g.members.contains(&f.row.partition));
    let mut buckets: Vec<(LookAlike<'_>, Vec<usize>)> = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let stem = label_stem(&f.row.label);
        let (false, Some(domain), false) = (grouped(f), &f.domain, stem.is_empty()) else {
            continue;
        };
        let key = (stem, domain.as_slice());
        match buckets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => {
                if !members
                    .iter()
                    .any(|&m| found[m].row.partition.device() == f.row.partition.device())
                {
                    members.push(i);
                }
            }
            None => buckets.push((key, vec![i])),
        }
    }
    for (_, members) in &buckets {
        assign(&mut group_of, members);
    }
    // Number the groups by their first member.
    let mut numbers: Vec<usize> = Vec::new();
    for group in group_of.iter().flatten() {
        if !numbers.contains(group) {
            numbers.push(*group);
        }
    }
    found
        .into_iter()
        .zip(group_of)
        .map(|(f, group)| {
            let mut row = f.row;
            if let Some(group) = group {
                let n = numbers.iter().position(|g| *g == group).unwrap_or(0) + 1;
                row.ha_group = format!("{DEFAULT_HA_GROUP_PREFIX}{n}");
            }
            row
        })
        .collect()
}

/// Sorts the rows by service type: standalone rows first, then each HA group's rows together,
/// groups in the order of their first row (stable otherwise).
fn sort_rows(rows: &mut [CccImportRow]) {
    let keys: Vec<(bool, usize)> = rows
        .iter()
        .enumerate()
        .map(
            |(i, r)| match rows.iter().position(|o| o.ha_group == r.ha_group) {
                Some(first) if !r.ha_group.is_empty() => (true, first),
                _ => (false, i),
            },
        )
        .collect();
    let mut keyed: Vec<((bool, usize), CccImportRow)> =
        keys.into_iter().zip(rows.to_vec()).collect();
    keyed.sort_by_key(|(k, _)| *k);
    for (slot, (_, row)) in rows.iter_mut().zip(keyed) {
        *slot = row;
    }
}

/// The services the table asks for, in table order: one per standalone row, one per HA group.
fn planned_services(rows: &[CccImportRow]) -> Vec<Planned<'_>> {
    let mut planned: Vec<Planned<'_>> = Vec::new();
    for row in rows {
        if row.ha_group.is_empty() {
            planned.push(Planned {
                ha_group: None,
                rows: vec![row],
            });
        } else if let Some(group) = planned
            .iter_mut()
            .find(|p| p.ha_group.as_deref() == Some(row.ha_group.as_str()))
        {
            group.rows.push(row);
        } else {
            planned.push(Planned {
                ha_group: Some(row.ha_group.clone()),
                rows: vec![row],
            });
        }
    }
    planned
}

/// What the table says of the service: a service name (1 to 28 characters, not taken by
/// another row or a service) and an existing organisation ("To add a partition or HA group as
/// a service in CCC, you must enter a service name and choose the organization", documented).
fn check_planned(
    state: &CccState,
    service: &Planned<'_>,
    names: &mut BTreeSet<String>,
) -> Result<()> {
    let first = service.rows[0];
    let what = match &service.ha_group {
        Some(label) => format!("HA group \"{label}\""),
        None => format!("partition \"{}\"", first.partition),
    };
    if first.service_name.is_empty() {
        return Err(refused(format!(
            "{what} has no service name: enter the name that will identify the service in CCC (28 characters at most)"
        )));
    }
    ccc::check_service_name(&first.service_name)
        .map_err(|rule| refused(format!("{what}: {rule}")))?;
    if first.organisation.is_empty() {
        return Err(refused(format!(
            "{what} has no organisation: choose the organisation that will own the service"
        )));
    }
    organisations::organisation_at(state, &first.organisation)?;
    let name = &first.service_name;
    if state.ccc.services.iter().any(|s| &s.name == name) {
        return Err(refused(format!(
            "{what}: CCC service \"{name}\" exists; enter another service name"
        )));
    }
    if !names.insert(name.clone()) {
        return Err(refused(format!(
            "{what}: service name \"{name}\" is given to two services of the import; a service name identifies one service"
        )));
    }
    Ok(())
}

/// A row's partition is still importable: its device added to CCC, authorised and online; it
/// is present, initialised and serves no service.
fn check_importable(
    selection: &LabSelection,
    state: &CccState,
    items: &crate::store::DeviceItems,
    row: &CccImportRow,
) -> Result<()> {
    let partition = &row.partition;
    let device = partition.device();
    match state.devices.iter().find(|d| &d.device == device) {
        Some(d) if d.authorised && !d.offline => {}
        Some(d) if d.offline => {
            return Err(refused(format!(
                "device \"{device}\" of partition \"{partition}\" is offline: CCC cannot reach it"
            )));
        }
        _ => {
            return Err(refused(format!(
                "device \"{device}\" of partition \"{partition}\" is not added to CCC and authorised: CCC must log in as its HSM SO"
            )));
        }
    }
    selection.device_model(device)?;
    let token = items
        .token(partition)?
        .ok_or_else(|| unknown(format!("the lab defines no partition \"{partition}\"")))?;
    if !token.present || !token.record.initialized {
        return Err(refused(format!(
            "partition \"{partition}\" is no longer initialised: delete its row, or cancel the import and discover the partitions again"
        )));
    }
    if let Some(other) = service_of(state, partition) {
        return Err(refused(format!(
            "partition \"{partition}\" serves service \"{}\"; a partition serves one service: delete its row",
            other.name
        )));
    }
    Ok(())
}

/// An HA group of the table: two or more partitions, on different devices, sharing a cloning
/// domain; its label an HA group in force, not a default `HA_n`, whose members are the rows'.
fn check_ha_group(
    selection: &LabSelection,
    items: &crate::store::DeviceItems,
    label: &str,
    rows: &[&CccImportRow],
    groups: &[HaGroupSpec],
) -> Result<()> {
    if rows.len() < 2 {
        return Err(refused(format!(
            "HA group \"{label}\" has one partition: an HA group has two or more, each on a different device (empty its HA Group field to import it as a standalone service)"
        )));
    }
    let mut sides: Vec<(&PartitionId, luna::PartitionState, luna::Firmware)> = Vec::new();
    for row in rows {
        let partition = &row.partition;
        if let Some((other, _, _)) = sides
            .iter()
            .find(|(p, _, _)| p.device() == partition.device())
        {
            return Err(refused(format!(
                "HA group \"{label}\" has partitions \"{other}\" and \"{partition}\" on one device; an HA group's partitions are each on a different device"
            )));
        }
        let firmware = match selection.device_model(partition.device())? {
            TokenModel::Luna(d) => d.firmware,
            _ => {
                return Err(refused(format!(
                    "CCC manages Luna Network HSMs only; \"{partition}\" is not on one"
                )));
            }
        };
        let state = items
            .token(partition)?
            .map(|t| luna::ca::state_of(&t.record))
            .unwrap_or_default();
        sides.push((partition, state, firmware));
    }
    let (first, first_state, first_firmware) = &sides[0];
    for (other, state, firmware) in &sides[1..] {
        luna::check_shared_domain((first_state, *first_firmware), (state, *firmware)).map_err(
            |_| {
                refused(format!(
                    "HA group \"{label}\": partitions \"{first}\" and \"{other}\" do not share a cloning domain; an HA group's partitions share one"
                ))
            },
        )?;
    }
    let in_force = groups.iter().find(|g| g.label.as_str() == label);
    let is_default = label
        .strip_prefix(DEFAULT_HA_GROUP_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    let Some(group) = in_force else {
        let known = listed(groups.iter().map(|g| g.label.as_str()));
        return Err(refused(if is_default {
            format!(
                "HA group \"{label}\" has the default HA Group label: replace it with the actual HA Group Label (vtl haAdmin show on a client of the group); HA groups: {known}"
            )
        } else {
            format!(
                "no client has an HA group \"{label}\": enter the actual HA Group Label (vtl haAdmin show on a client of the group); HA groups: {known}"
            )
        }));
    };
    let members: BTreeSet<&PartitionId> = group.members.iter().collect();
    let imported: BTreeSet<&PartitionId> = rows.iter().map(|r| &r.partition).collect();
    if members != imported {
        return Err(refused(format!(
            "HA group \"{label}\" has the members {}; the import table gives it {}: an HA group's service has all its members",
            partition_list(&members),
            partition_list(&imported),
        )));
    }
    Ok(())
}
