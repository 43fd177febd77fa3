//! Luna HA groups and device health as estate operations (LunaCM's `hagroup` commands,
//! seed 003's "Cloning Using an HA Group", Luna §3.5): the lab file's `[[ha_group]]`s are the
//! start state, every change is kept in the store's device items (device "", kinds
//! `ha-group`, `ha-sync`, `ha-only`), so the CLI and every process see it. Operations: create
//! a group from one member with its objects kept ("copy"), add a member or a standby member,
//! remove a member (removing the member that numbers the group changes the group's serial),
//! synchronise (objects cloned to every member that lacks them, by `CKA_OUID`, under the
//! cloning rules), recover the failed members (`recover_group`), delete the group (objects
//! stay on the members), HA-only mode per host.
//! The rules are the Luna model's (`models::luna::check_ha_member`, `check_clone`, ...).
//!
//! A device's health (`hsmsim lab fail|recover`): a device item `health` of the device,
//! written with a device change in the change log, so running processes see it on their next
//! call (`engine::ha` serves HA slots from the live members and marks a group "needs sync"
//! when a write missed a member, `mark_missed`).
//!
//! HA groups show in a process's slot list from its next `C_Initialize` (as LunaCM advises
//! restarting itself after `hagroup creategroup`, Luna §6); health changes show at once.
use super::*;
use crate::base::attribute::Attributes;
use crate::base::ids::HaGroupId;
use crate::lab::definition::HaGroupSpec;
use crate::models::luna::{self, CloneSide, HaSide};
use crate::store::StoredObject;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The device-items "device" the lab-wide HA state is kept under (no lab device has an empty
/// name).
const LAB_WIDE: &str = "";
const GROUP_KIND: &str = "ha-group";
const SYNC_KIND: &str = "ha-sync";
const HA_ONLY_KIND: &str = "ha-only";
const HEALTH_KIND: &str = "health";
const HEALTH_NAME: &str = "state";

/// A group as the store keeps it (a lab group's tombstone has `deleted`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredGroup {
    #[serde(default)]
    deleted: bool,
    members: Vec<String>,
    #[serde(default)]
    standby: Vec<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
}

/// A group's synchronisation state: "Needs sync" and the members that missed writes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SyncState {
    needs_sync: bool,
    #[serde(default)]
    missed: Vec<String>,
}

/// One member as `hagroup listgroups` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HaMemberStatus {
    pub partition: String,
    pub serial: String,
    pub standby: bool,
    /// False while its device is failed (`hsmsim lab fail`).
    pub alive: bool,
}

/// A group as `hagroup listgroups` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HaGroupStatus {
    pub label: String,
    /// The HA group number: the serial its virtual slot shows.
    pub serial: String,
    pub members: Vec<HaMemberStatus>,
    pub hosts: Vec<String>,
    /// "Needs sync: yes": a member missed writes, was added since the last synchronisation,
    /// or the members' objects differ (by `CKA_OUID`).
    pub needs_sync: bool,
}

/// What `synchronise` copied: (member, objects it received).
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub label: String,
    pub copied: Vec<(String, usize)>,
}

fn item_error(what: &str, e: impl std::fmt::Display) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("{what} in the store is damaged: {e}"),
    )
}

fn lab_wide() -> DeviceId {
    DeviceId::new(LAB_WIDE)
}

/// The groups in force: the lab's, with the store's changes over them, then the groups made
/// since, in label order.
pub fn effective_groups(store: &Store, lab_groups: &[HaGroupSpec]) -> Result<Vec<HaGroupSpec>> {
    let stored: BTreeMap<String, StoredGroup> = store
        .device_items(&lab_wide(), GROUP_KIND)?
        .into_iter()
        .map(|(name, v)| {
            serde_json::from_value(v)
                .map(|g| (name, g))
                .map_err(|e| item_error("an HA group", e))
        })
        .collect::<Result<_>>()?;
    let spec = |label: &str, g: &StoredGroup| HaGroupSpec {
        label: HaGroupId::new(label),
        members: g
            .members
            .iter()
            .chain(&g.standby)
            .filter_map(|m| PartitionId::parse(m))
            .collect(),
        standby: g
            .standby
            .iter()
            .filter_map(|m| PartitionId::parse(m))
            .collect(),
        serial: g.serial.clone(),
        hosts: g.hosts.clone(),
    };
    let mut out = Vec::new();
    for group in lab_groups {
        match stored.get(group.label.as_str()) {
            None => out.push(group.clone()),
            Some(g) if g.deleted => {}
            Some(g) => out.push(spec(group.label.as_str(), g)),
        }
    }
    for (label, g) in &stored {
        if !g.deleted && !lab_groups.iter().any(|l| l.label.as_str() == label) {
            out.push(spec(label, g));
        }
    }
    Ok(out)
}

/// The engine's view with the groups in force and the host's HA-only mode applied.
pub fn apply_to_config(store: &Store, config: &mut Config) -> Result<()> {
    let groups = effective_groups(store, &config.ha_groups)?;
    let ha_only = ha_only(store, &config.host)?;
    config.show_ha_groups(&groups, ha_only);
    Ok(())
}

/// Whether `host` is in HA-only mode (`hagroup haonly`).
pub fn ha_only(store: &Store, host: &str) -> Result<bool> {
    Ok(store
        .device_item(&lab_wide(), HA_ONLY_KIND, host)?
        .is_some_and(|v| v.as_bool() == Some(true)))
}

/// The devices that are down (`hsmsim lab fail`).
pub fn down_devices(store: &Store, devices: &[DeviceId]) -> Result<BTreeSet<DeviceId>> {
    let mut out = BTreeSet::new();
    for device in devices {
        if device_down(store, device)? {
            out.insert(device.clone());
        }
    }
    Ok(out)
}

/// Whether `device` is down.
pub fn device_down(store: &Store, device: &DeviceId) -> Result<bool> {
    Ok(store
        .device_item(device, HEALTH_KIND, HEALTH_NAME)?
        .and_then(|v| v.get("down").and_then(Value::as_bool))
        .unwrap_or(false))
}

/// Records that a write on the HA slot of `group` did not reach `members` (they were down, or
/// not logged in by the writing process): the group needs sync.
pub fn mark_missed(store: &Store, group: &HaGroupId, members: &[PartitionId]) -> Result<()> {
    store.update_device_item(&lab_wide(), SYNC_KIND, group.as_str(), |v| {
        let mut state: SyncState = match v {
            Some(v) => serde_json::from_value(v).map_err(|e| item_error("HA sync state", e))?,
            None => SyncState::default(),
        };
        state.needs_sync = true;
        for m in members {
            let m = m.to_string();
            if !state.missed.contains(&m) {
                state.missed.push(m);
            }
        }
        Ok((Some(json!(state)), ()))
    })
}

/// The members of `group` that missed writes (or joined) since the last synchronisation: the
/// HA slot gives them no sessions until `synchronise` (simulator-defined).
pub fn unsynchronised(store: &Store, group: &HaGroupId) -> Result<Vec<PartitionId>> {
    Ok(read_sync(store, group)?
        .missed
        .iter()
        .filter_map(|m| PartitionId::parse(m))
        .collect())
}

/// `hsmsim lab fail DEVICE`: the device stops answering. Its partitions' slots show no token
/// and their sessions answer `CKR_DEVICE_REMOVED`; HA groups with a member on it fail over.
pub fn fail_device(selection: &LabSelection, device: &DeviceId) -> Result<()> {
    set_health(selection, device, true)
}

/// `hsmsim lab recover DEVICE`: the device answers again (HA auto-recovery brings its members
/// back; a group whose member missed writes needs sync). Sessions it had are gone.
pub fn recover_device(selection: &LabSelection, device: &DeviceId) -> Result<()> {
    set_health(selection, device, false)
}

fn set_health(selection: &LabSelection, device: &DeviceId, down: bool) -> Result<()> {
    selection.device_model(device)?;
    let store = open_store(selection)?;
    let now = crate::base::clock::now();
    store.update_device_items(|items| {
        let was = items
            .get(device, HEALTH_KIND, HEALTH_NAME)?
            .and_then(|v| v.get("down").and_then(Value::as_bool))
            .unwrap_or(false);
        if was == down {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "device {device} is already {}",
                    if down { "failed" } else { "up" }
                ),
            ));
        }
        items.put(
            device,
            HEALTH_KIND,
            HEALTH_NAME,
            &json!({"down": down, "since": now}),
        )?;
        items.log_device_change(device)
    })
}

/// `hagroup haonly -enable|-disable` on `host` (default: the selection's host, else the lab's
/// first host): while on, the host lists only its HA virtual slots (from each process's next
/// `C_Initialize`).
pub fn set_ha_only(selection: &LabSelection, host: Option<&str>, on: bool) -> Result<String> {
    let host = client_host(selection, host)?;
    let store = open_store(selection)?;
    store.update_device_item(&lab_wide(), HA_ONLY_KIND, &host, |_| {
        Ok((on.then_some(json!(true)), ()))
    })?;
    Ok(host)
}

/// The client host a command acts for: `host`, else the selection's, else the lab's first.
fn client_host(selection: &LabSelection, host: Option<&str>) -> Result<String> {
    let host = host
        .map(str::to_string)
        .or_else(|| selection.host.clone())
        .or_else(|| {
            selection
                .lab
                .file
                .hosts
                .first()
                .map(|h| h.name.get_ref().clone())
        })
        .ok_or_else(|| err(CKR_ARGUMENTS_BAD, "the lab has no client host"))?;
    if !selection
        .lab
        .file
        .hosts
        .iter()
        .any(|h| *h.name.get_ref() == host)
    {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("the lab has no client host \"{host}\""),
        ));
    }
    Ok(host)
}

/// A member as the rules see it: its id (and name), model, token record and Luna state.
struct Member {
    id: PartitionId,
    name: String,
    model: TokenModel,
    record: TokenRecord,
    state: luna::PartitionState,
}

impl Member {
    fn device(&self) -> Result<&luna::Device> {
        self.model.luna().ok_or_else(|| {
            err(
                CKR_ARGUMENTS_BAD,
                format!("{} is not a Luna partition: HA groups are Luna's", self.id),
            )
        })
    }
    fn side(&self) -> Result<HaSide<'_>> {
        Ok(HaSide {
            name: self.name(),
            device: self.device()?,
            state: &self.state,
        })
    }
    fn clone_side(&self) -> Result<CloneSide<'_>> {
        Ok(CloneSide {
            device: self.device()?,
            state: &self.state,
            login: Some(CKU_USER),
        })
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Reads a member of the lab from the store (its device's run-time HSM policies included).
fn member(selection: &LabSelection, store: &Store, id: &PartitionId) -> Result<Member> {
    let (_, model, _) = selection
        .lab
        .partitions()
        .into_iter()
        .find(|(p, _, _)| p == id)
        .ok_or_else(|| {
            err(
                CKR_ARGUMENTS_BAD,
                format!("the lab has no partition {id} (name it \"device/partition\")"),
            )
        })?;
    model.read_device_state(store)?;
    let row = store
        .token(id)?
        .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{id} has no token")))?;
    if !row.present {
        return Err(err(
            CKR_TOKEN_NOT_PRESENT,
            format!("partition {id} was removed"),
        ));
    }
    if !row.record.initialized {
        return Err(err(
            CKR_TOKEN_NOT_RECOGNIZED,
            format!("partition {id} is not initialised"),
        ));
    }
    let state = luna::ca::state_of(&row.record);
    Ok(Member {
        id: id.clone(),
        name: id.to_string(),
        model,
        record: row.record,
        state,
    })
}

/// Opens a member's token key with the Crypto Officer's credential (`-password`): HA members
/// share one Crypto Officer credential (Luna §3.5); on a PED partition it is the activated
/// Crypto Officer's challenge secret (seed 003: "create a challenge secret for the Crypto
/// Officer. This is required to set an HA activation policy"). A wrong one is
/// `CKR_PIN_INCORRECT` (simulator-defined: not counted as a failed login).
fn open_member_key(m: &Member, password: &str) -> Result<TokenKey> {
    let context = SealContext {
        partition: &m.id,
        generation: m.record.generation,
    };
    let role = m.record.role(CKU_USER);
    let seal = if m.model.uses_ped() {
        role.filter(|r| r.activated)
            .and_then(|r| r.challenge.as_ref())
    } else {
        role.and_then(|r| r.seal.as_ref())
    };
    seal.and_then(|seal| seal.open(password.as_bytes(), context))
        .ok_or_else(|| {
            err(
                CKR_PIN_INCORRECT,
                format!(
                    "the Crypto Officer password does not open {}: HA members share one Crypto \
                     Officer credential",
                    m.id
                ),
            )
        })
}

/// `CKR_DEVICE_REMOVED` when the member's device is down.
fn check_up(store: &Store, id: &PartitionId) -> Result<()> {
    if device_down(store, id.device())? {
        return Err(err(
            CKR_DEVICE_REMOVED,
            format!(
                "device {} of {id} is down (hsmsim lab fail): recover it first",
                id.device()
            ),
        ));
    }
    Ok(())
}

/// The rules between a group's primary (its first active member) and `candidate`.
fn check_member_rules(primary: &Member, candidate: &Member) -> Result<()> {
    luna::check_ha_member(&primary.side()?, &candidate.side()?)
}

/// A group in force, by label, with its stored form; `CKR_ARGUMENTS_BAD` naming the groups when
/// there is none.
fn find_group(selection: &LabSelection, store: &Store, label: &str) -> Result<HaGroupSpec> {
    let groups = effective_groups(store, &lab_groups(selection))?;
    groups
        .iter()
        .find(|g| g.label.as_str() == label)
        .cloned()
        .ok_or_else(|| {
            err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "no HA group \"{label}\"; groups: {}",
                    groups
                        .iter()
                        .map(|g| g.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// The groups in force in the selected lab (`effective_groups` over its `[[ha_group]]`s).
pub fn groups_in_force(selection: &LabSelection, store: &Store) -> Result<Vec<HaGroupSpec>> {
    effective_groups(store, &lab_groups(selection))
}

fn lab_groups(selection: &LabSelection) -> Vec<HaGroupSpec> {
    selection
        .lab
        .config(selection.host.as_deref(), selection.state_dir.clone())
        .map(|c| c.ha_groups)
        .unwrap_or_default()
}

fn write_group(store: &Store, group: &HaGroupSpec) -> Result<()> {
    let stored = StoredGroup {
        deleted: false,
        members: group
            .members
            .iter()
            .filter(|m| !group.standby.contains(m))
            .map(ToString::to_string)
            .collect(),
        standby: group.standby.iter().map(ToString::to_string).collect(),
        serial: group.serial.clone(),
        hosts: group.hosts.clone(),
    };
    store.update_device_item(&lab_wide(), GROUP_KIND, group.label.as_str(), |_| {
        Ok((Some(json!(stored)), ()))
    })
}

fn write_sync(store: &Store, label: &HaGroupId, state: &SyncState) -> Result<()> {
    store.update_device_item(&lab_wide(), SYNC_KIND, label.as_str(), |_| {
        Ok((Some(json!(state)), ()))
    })
}

fn read_sync(store: &Store, label: &HaGroupId) -> Result<SyncState> {
    match store.device_item(&lab_wide(), SYNC_KIND, label.as_str())? {
        Some(v) => serde_json::from_value(v).map_err(|e| item_error("HA sync state", e)),
        None => Ok(SyncState::default()),
    }
}

/// The host shows `partition` among its slots (a Luna client reaches the members of its
/// groups), else `CKR_SLOT_ID_INVALID`.
fn check_host_sees(selection: &LabSelection, host: &str, partition: &PartitionId) -> Result<()> {
    let config = selection
        .lab
        .config(Some(host), selection.state_dir.clone())
        .map_err(|e| err(CKR_ARGUMENTS_BAD, e.to_string()))?;
    if config.slots.iter().any(|s| s.partition() == partition) {
        Ok(())
    } else {
        Err(err(
            CKR_SLOT_ID_INVALID,
            format!(
                "host \"{host}\" has no slot showing {partition}: register it with the client first"
            ),
        ))
    }
}

/// `hagroup creategroup -label L -slot S -password P`: a new group with `first` as its only
/// (primary) member, its objects kept (the "copy" option), configured on the client host
/// (`host`, else the selection's). Its serial is "1" + the member's serial unless `serial`
/// says. `CKR_ARGUMENTS_BAD` for a label in use.
pub fn create_group(
    selection: &LabSelection,
    label: &str,
    first: &PartitionId,
    password: &str,
    serial: Option<String>,
) -> Result<HaGroupStatus> {
    let store = open_store(selection)?;
    if label.is_empty() || label.len() > 32 {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            "an HA group label is 1 to 32 characters",
        ));
    }
    if let Some(s) = &serial
        && !(1..=16).contains(&s.len())
    {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            "an HA group serial is 1 to 16 characters",
        ));
    }
    if effective_groups(&store, &lab_groups(selection))?
        .iter()
        .any(|g| g.label.as_str() == label)
    {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("an HA group \"{label}\" exists already"),
        ));
    }
    check_up(&store, first)?;
    let host = client_host(selection, None)?;
    check_host_sees(selection, &host, first)?;
    let m = member(selection, &store, first)?;
    // The member's own prerequisites (HSM policies 7 and 16, PED activation, a domain).
    luna::check_ha_member(&m.side()?, &m.side()?)?;
    open_member_key(&m, password)?;
    let group = HaGroupSpec {
        label: HaGroupId::new(label),
        members: vec![first.clone()],
        standby: Vec::new(),
        serial,
        hosts: vec![host],
    };
    write_group(&store, &group)?;
    write_sync(&store, &group.label, &SyncState::default())?;
    status(selection, &store, &group)
}

/// `hagroup addmember` (and, with `standby`, `hagroup addstandby`): `partition` joins the
/// group after checking Luna's prerequisites against the primary and the other members
/// (`check_ha_member`, `check_primary_over`) and the shared Crypto Officer credential; the
/// group needs sync until `synchronise`.
pub fn add_member(
    selection: &LabSelection,
    label: &str,
    partition: &PartitionId,
    password: &str,
    standby: bool,
) -> Result<HaGroupStatus> {
    let store = open_store(selection)?;
    let mut group = find_group(selection, &store, label)?;
    if group.members.contains(partition) {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("{partition} is a member of \"{label}\" already"),
        ));
    }
    if group
        .members
        .iter()
        .any(|m| m.device() == partition.device())
    {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "\"{label}\" has a member on device {} already: members are on different devices",
                partition.device()
            ),
        ));
    }
    if group.members.len() >= luna::HA_MAX_MEMBERS {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("an HA group has at most {} members", luna::HA_MAX_MEMBERS),
        ));
    }
    check_up(&store, partition)?;
    for host in &group.hosts {
        check_host_sees(selection, host, partition)?;
    }
    let candidate = member(selection, &store, partition)?;
    let primary = member(selection, &store, &group.members[0])?;
    check_member_rules(&primary, &candidate)?;
    // A 7.7+ primary over an older secondary is refused either way round: an older candidate
    // under a newer primary (above), and no older member may sit under it.
    open_member_key(&primary, password)?;
    open_member_key(&candidate, password)?;
    if standby {
        group.members.push(partition.clone());
        group.standby.push(partition.clone());
    } else {
        let at = group.members.len() - group.standby.len();
        group.members.insert(at, partition.clone());
    }
    write_group(&store, &group)?;
    // The new member lacks the group's objects until synchronised: it counts as having
    // missed writes (no sessions on the HA slot until then).
    let mut sync = read_sync(&store, &group.label)?;
    sync.needs_sync = true;
    if !sync.missed.contains(&partition.to_string()) {
        sync.missed.push(partition.to_string());
    }
    write_sync(&store, &group.label, &sync)?;
    status(selection, &store, &group)
}

/// `hagroup removemember`: `partition` leaves the group (its objects stay). Removing the first
/// member, which numbers the group, changes the group's serial (Luna §3.5, `add_remove.htm`):
/// it becomes "1" + the next member's serial, a serial the lab gave included. The last member
/// is not removed (`hagroup deletegroup` deletes the group), nor one whose removal would leave
/// a 7.7+ primary over an older secondary (`check_primary_after_removal`).
pub fn remove_member(
    selection: &LabSelection,
    label: &str,
    partition: &PartitionId,
) -> Result<HaGroupStatus> {
    let store = open_store(selection)?;
    let mut group = find_group(selection, &store, label)?;
    let Some(at) = group.members.iter().position(|m| m == partition) else {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("{partition} is not a member of \"{label}\""),
        ));
    };
    if group.members.len() == 1 {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "{partition} is the last member of \"{label}\": delete the group instead (hagroup deletegroup)"
            ),
        ));
    }
    group.members.remove(at);
    group.standby.retain(|m| m != partition);
    if at == 0 {
        group.serial = None;
    }
    if group.members.len() == group.standby.len() {
        // Only standby members left: the first becomes active.
        group.standby.remove(0);
    }
    check_primary_after_removal(selection, &store, &group, partition)?;
    write_group(&store, &group)?;
    let mut sync = read_sync(&store, &group.label)?;
    sync.missed.retain(|m| *m != partition.to_string());
    write_sync(&store, &group.label, &sync)?;
    status(selection, &store, &group)
}

/// The group left by removing `removed` keeps Luna's rule that a 7.7+ partition is never
/// primary over an older secondary (Luna §3.5): its new primary (first active member) is checked
/// against every other member, and a removal that breaks the rule is refused
/// (`CKR_OPERATION_NOT_ALLOWED`, nothing changed). Refusing rather than choosing another primary
/// is simulator-defined: the documents state the rule, not what a removal does about it.
fn check_primary_after_removal(
    selection: &LabSelection,
    store: &Store,
    group: &HaGroupSpec,
    removed: &PartitionId,
) -> Result<()> {
    let Some(primary) = group.members.iter().find(|m| !group.standby.contains(m)) else {
        return Ok(());
    };
    let primary = member(selection, store, primary)?;
    for other in group.members.iter().filter(|m| **m != primary.id) {
        let other = member(selection, store, other)?;
        luna::check_primary_over(&primary.side()?, &other.side()?).map_err(|e| {
            err(
                e.rv,
                format!(
                    "removing {removed} from \"{}\" would leave {}: keep it, or remove the older \
                     members first",
                    group.label, e.detail
                ),
            )
        })?;
    }
    Ok(())
}

/// `hagroup deletegroup -label L`: the group goes; its members' objects stay on them.
pub fn delete_group(selection: &LabSelection, label: &str) -> Result<()> {
    let store = open_store(selection)?;
    let group = find_group(selection, &store, label)?;
    let in_lab = lab_groups(selection).iter().any(|g| g.label == group.label);
    store.update_device_items(|items| {
        if in_lab {
            items.put(
                &lab_wide(),
                GROUP_KIND,
                label,
                &json!(StoredGroup {
                    deleted: true,
                    ..StoredGroup::default()
                }),
            )?;
        } else {
            items.remove(&lab_wide(), GROUP_KIND, label)?;
        }
        items.remove(&lab_wide(), SYNC_KIND, label)?;
        Ok(())
    })
}

/// `hagroup listgroups`: every group in force with its members (serial, standby, alive) and
/// "Needs sync".
pub fn list_groups(selection: &LabSelection) -> Result<Vec<HaGroupStatus>> {
    let store = open_store(selection)?;
    effective_groups(&store, &lab_groups(selection))?
        .iter()
        .map(|g| status(selection, &store, g))
        .collect()
}

/// One group's status.
pub fn group_status(selection: &LabSelection, label: &str) -> Result<HaGroupStatus> {
    let store = open_store(selection)?;
    let group = find_group(selection, &store, label)?;
    status(selection, &store, &group)
}

fn status(selection: &LabSelection, store: &Store, group: &HaGroupSpec) -> Result<HaGroupStatus> {
    let _ = selection;
    let mut members = Vec::new();
    let mut ouids: Vec<BTreeSet<Vec<u8>>> = Vec::new();
    for m in &group.members {
        let row = store.token(m)?;
        members.push(HaMemberStatus {
            partition: m.to_string(),
            serial: row
                .as_ref()
                .map(|r| r.record.serial.clone())
                .unwrap_or_default(),
            standby: group.standby.contains(m),
            alive: !device_down(store, m.device())?,
        });
        ouids.push(
            store
                .objects(m)?
                .iter()
                .filter_map(|o| o.public.bytes(luna::CKA_OUID).map(<[u8]>::to_vec))
                .collect(),
        );
    }
    let differ = ouids.windows(2).any(|w| w[0] != w[1]);
    let serial = group.serial.clone().unwrap_or_else(|| {
        luna::ha_group_serial(members.first().map_or("", |m| m.serial.as_str()))
    });
    Ok(HaGroupStatus {
        label: group.label.to_string(),
        serial,
        members,
        hosts: group.hosts.clone(),
        needs_sync: read_sync(store, &group.label)?.needs_sync || differ,
    })
}

/// `hagroup synchronize -group L -password P`: every member receives the objects it lacks (by
/// `CKA_OUID`) from the first member that has them (each member's size checked first:
/// `CKR_CONTAINER_OBJECT_STORAGE_FULL` naming the member, nothing written), each cloned under
/// the cloning rules
/// (`check_clone` per pair of members, refusing the whole synchronisation; then per object
/// `check_object_clonable`, sealed under the source's cloning domain and opened by the
/// target's: a domain mismatch is `CKR_CERTIFICATE_INVALID`; a source older than 7.7 goes on
/// after a failed object, a V0/V1 source stops, `clone_run`). Every member must be up. The
/// copies that cloned are written in one transaction (simulator-defined: a member's objects
/// changed or destroyed on another member are not reconciled; synchronisation adds). With
/// every object cloned the group no longer needs sync; otherwise the answer is the failure
/// (`run_outcome`: one object's code, else `CKR_FAILED_TO_CLONE_AN_OBJECT`), naming each pair,
/// and the group still needs sync.
pub fn synchronise(selection: &LabSelection, label: &str, password: &str) -> Result<SyncReport> {
    let store = open_store(selection)?;
    let group = find_group(selection, &store, label)?;
    let capacities: Vec<Option<u64>> = group
        .members
        .iter()
        .map(|m| member_capacity(selection, &group, m))
        .collect::<Result<_>>()?;
    let receives = vec![true; group.members.len()];
    let (copied, failures) =
        clone_missing(selection, &group.members, password, &capacities, &receives)?;
    if let Some(first) = failures.first() {
        // The objects that cloned are written; the group still needs sync.
        let mut sync = read_sync(&store, &group.label)?;
        sync.needs_sync = true;
        write_sync(&store, &group.label, &sync)?;
        let copied: usize = copied.iter().sum();
        return Err(err(
            first.rv,
            format!(
                "{} (objects cloned: {copied}; the group still needs sync)",
                failures
                    .iter()
                    .map(|e| e.detail.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    write_sync(&store, &group.label, &SyncState::default())?;
    Ok(SyncReport {
        label: label.to_string(),
        copied: group
            .members
            .iter()
            .map(ToString::to_string)
            .zip(copied)
            .collect(),
    })
}

/// What `recover_group` did: the members brought back (each with the objects it received),
/// and whether the group was in need of recovery at all.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub label: String,
    /// The members that had failed (missed writes while down, or joined and never
    /// synchronised) and are back in service, with the objects cloned to each.
    pub recovered: Vec<(String, usize)>,
}

/// `hagroup recover -group L`: the manual recovery of failed members (Luna §3.5; thalesdocs
/// "HA Recovery": without auto-recovery a failed member comes back only by a manual recovery,
/// and only when its HSM is reachable again). A member is failed while its device is down
/// (`hsmsim lab fail`) and, once the device is back (`hsmsim lab recover`), until the writes it
/// missed reach it: the HA slot gives it no sessions until then (`unsynchronised`).
/// Simulator-defined, as the documents do not say how the library brings a member up to date:
/// a member whose device is still down refuses the recovery (`CKR_DEVICE_REMOVED` naming it,
/// nothing done); otherwise the failed members get the objects they lack from the others under
/// the cloning rules (as `synchronise`, with the shared Crypto Officer credential that the
/// client library caches on a real client, checked on every member first: a wrong one is
/// `CKR_PIN_INCORRECT`) and the group no longer needs sync. A group with no failed member is
/// left as it is (an empty report).
pub fn recover_group(
    selection: &LabSelection,
    label: &str,
    password: &str,
) -> Result<RecoveryReport> {
    let store = open_store(selection)?;
    let group = find_group(selection, &store, label)?;
    for m in &group.members {
        check_up(&store, m).map_err(|e| {
            err(
                e.rv,
                format!(
                    "HA group \"{label}\" cannot recover its members: {}",
                    e.detail
                ),
            )
        })?;
    }
    // The shared Crypto Officer credential opens every member, recovery or not.
    for m in &group.members {
        open_member_key(&member(selection, &store, m)?, password)?;
    }
    let failed: Vec<String> = read_sync(&store, &group.label)?
        .missed
        .into_iter()
        .filter(|m| group.members.iter().any(|g| g.to_string() == *m))
        .collect();
    if failed.is_empty() {
        return Ok(RecoveryReport {
            label: label.to_string(),
            recovered: Vec::new(),
        });
    }
    let report = synchronise(selection, label, password)?;
    Ok(RecoveryReport {
        label: label.to_string(),
        recovered: report
            .copied
            .into_iter()
            .filter(|(m, _)| failed.contains(m))
            .collect(),
    })
}

/// A member's size (the lab partition's `size`) as the group's first host sees it.
fn member_capacity(
    selection: &LabSelection,
    group: &HaGroupSpec,
    partition: &PartitionId,
) -> Result<Option<u64>> {
    let config = selection
        .lab
        .config(
            group.hosts.first().map(String::as_str),
            selection.state_dir.clone(),
        )
        .map_err(|e| err(CKR_ARGUMENTS_BAD, e.to_string()))?;
    Ok(config
        .slots
        .iter()
        .find(|s| s.backing == crate::lab::definition::SlotBacking::Partition(partition.clone()))
        .and_then(|s| s.capacity))
}

/// The space a stored object takes on a partition (`Object::storage_size`).
fn stored_size(o: &StoredObject) -> u64 {
    crate::object::Object::stored(0, 0, o.public.clone(), o.sealed.clone()).storage_size()
}

/// Clones to each of `partitions` whose `receives` is true the objects of the others it lacks
/// (by `CKA_OUID`), as `synchronise` does for a group's members, for partitions in no HA group
/// (CCC's Migrate Service and service synchronisation, `estate::ccc`): every partition up and
/// initialised, each opened by the shared Crypto Officer credential `password`;
/// `capacities[i]`: the size of `partitions[i]` in bytes (`None`: unlimited). Returns how many
/// objects each received and the failures of each pair (the copies that cloned are written).
pub fn clone_missing(
    selection: &LabSelection,
    partitions: &[PartitionId],
    password: &str,
    capacities: &[Option<u64>],
    receives: &[bool],
) -> Result<(Vec<usize>, Vec<crate::base::error::Error>)> {
    let store = open_store(selection)?;
    for p in partitions {
        check_up(&store, p)?;
    }
    let members: Vec<Member> = partitions
        .iter()
        .map(|p| member(selection, &store, p))
        .collect::<Result<_>>()?;
    let keys: Vec<TokenKey> = members
        .iter()
        .map(|m| open_member_key(m, password))
        .collect::<Result<_>>()?;
    synchronise_members(&store, &members, &keys, capacities, receives)
}

/// The copies each member lacks, made and written in one transaction: how many each got, and
/// the failures of each (source, target) pair whose objects did not all clone. Only the
/// members whose `receives` is true get copies. Every receiving member's capacity
/// (`capacities`, in member order) is checked before anything is cloned: a member the copies
/// do not fit is `CKR_CONTAINER_OBJECT_STORAGE_FULL` naming it, and nothing is written.
fn synchronise_members(
    store: &Store,
    members: &[Member],
    keys: &[TokenKey],
    capacities: &[Option<u64>],
    receives: &[bool],
) -> Result<(Vec<usize>, Vec<crate::base::error::Error>)> {
    let receives = |index: usize| receives.get(index).copied().unwrap_or(false);
    let objects: Vec<Vec<StoredObject>> = members
        .iter()
        .map(|m| store.objects(&m.id))
        .collect::<Result<_>>()?;
    let ouid = |o: &StoredObject| o.public.bytes(luna::CKA_OUID).map(<[u8]>::to_vec);
    let held: Vec<HashSet<Vec<u8>>> = objects
        .iter()
        .map(|list| list.iter().filter_map(ouid).collect())
        .collect();
    // Each OUID's source: the first member holding it.
    let mut source_of: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for (mi, list) in objects.iter().enumerate() {
        for (oi, o) in list.iter().enumerate() {
            if let Some(id) = ouid(o) {
                source_of.entry(id).or_insert((mi, oi));
            }
        }
    }
    let mut order: Vec<(&Vec<u8>, &(usize, usize))> = source_of.iter().collect();
    order.sort_by_key(|(_, at)| **at);
    for (target_index, target) in members.iter().enumerate() {
        let Some(capacity) = capacities.get(target_index).copied().flatten() else {
            continue;
        };
        if !receives(target_index) {
            continue;
        }
        let used: u64 = objects[target_index].iter().map(stored_size).sum();
        let adding: u64 = order
            .iter()
            .filter(|(id, _)| !held[target_index].contains(*id))
            .map(|(_, (si, oi))| stored_size(&objects[*si][*oi]))
            .sum();
        target
            .model
            .check_capacity(used, adding, capacity)
            .map_err(|e| {
                err(
                    e.rv,
                    format!(
                        "HA member {}: {} (nothing was synchronised)",
                        target.id, e.detail
                    ),
                )
            })?;
    }
    let mut copies: Vec<Vec<StoredObject>> = members.iter().map(|_| Vec::new()).collect();
    let mut failures = Vec::new();
    for (target_index, target) in members.iter().enumerate() {
        if !receives(target_index) {
            continue;
        }
        let target_side = target.clone_side()?;
        for (source_index, source) in members.iter().enumerate() {
            // What this target lacks that this member is the first to hold, in its order.
            let wanted: Vec<usize> = order
                .iter()
                .filter(|(id, (si, _))| *si == source_index && !held[target_index].contains(*id))
                .map(|(_, (_, oi))| *oi)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let source_side = source.clone_side()?;
            luna::check_clone(&source_side, &target_side)
                .map_err(|e| of_pair(source, target, e))?;
            // Per object, as cloning does (Luna §3.2): all or nothing on the target; a source
            // older than 7.7 goes on after a failure, a V0/V1 source stops.
            let results = luna::clone_run(luna::on_object_failure(&source_side), wanted, |oi| {
                let stored = &objects[source_index][oi];
                let attrs = full_attributes(source, &keys[source_index], stored)?;
                let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
                luna::check_object_clonable(&source_side, class)?;
                let blob = luna::seal_clone(&source_side, &target_side, &attrs)?;
                let mut attrs = luna::open_clone(&target_side, &source_side, &blob)?;
                let uid = crate::base::random::new_unique_id()?.into_bytes();
                attrs.set_bytes(CKA_UNIQUE_ID, uid.clone());
                let (public, sealed) =
                    crate::store::seal_object(&target.id, &attrs, Some(&keys[target_index]))?;
                Ok(StoredObject {
                    unique_id: uid,
                    public,
                    sealed,
                })
            });
            if let Err(e) = luna::run_outcome(&results) {
                failures.push(of_pair(source, target, e));
            }
            copies[target_index].extend(results.into_iter().flatten());
        }
    }
    let writes: Vec<(
        &PartitionId,
        crate::store::records::Incarnation,
        &[StoredObject],
    )> = members
        .iter()
        .zip(&copies)
        .filter(|(_, c)| !c.is_empty())
        .map(|(m, c)| (&m.id, m.record.incarnation(), c.as_slice()))
        .collect();
    if !writes.is_empty() {
        store.insert_objects_on(&writes)?;
    }
    Ok((copies.iter().map(Vec::len).collect(), failures))
}

fn of_pair(
    source: &Member,
    target: &Member,
    e: crate::base::error::Error,
) -> crate::base::error::Error {
    err(
        e.rv,
        format!("synchronising {} to {}: {}", source.id, target.id, e.detail),
    )
}

/// A stored object's attributes with its secrets opened by its member's key.
fn full_attributes(m: &Member, key: &TokenKey, stored: &StoredObject) -> Result<Attributes> {
    let mut attrs = stored.public.clone();
    if let Some(sealed) = &stored.sealed {
        let binding =
            crate::base::secrets::seal::object_binding(&m.id.to_string(), &stored.unique_id);
        attrs.merge(&key.open_secrets(&binding, sealed)?);
    }
    Ok(attrs)
}

/// Forgets every HA change and brings every device of the lab up (`hsmsim lab reset`: back
/// to the lab's groups).
pub fn forget(selection: &LabSelection, store: &Store) -> Result<()> {
    store.update_device_items(|items| {
        for kind in [GROUP_KIND, SYNC_KIND, HA_ONLY_KIND] {
            for (name, _) in items.list(&lab_wide(), kind)? {
                items.remove(&lab_wide(), kind, &name)?;
            }
        }
        for device in selection.lab.models.keys() {
            let device = DeviceId::new(device.as_str());
            if items.remove(&device, HEALTH_KIND, HEALTH_NAME)? {
                items.log_device_change(&device)?;
            }
        }
        Ok(())
    })
}
