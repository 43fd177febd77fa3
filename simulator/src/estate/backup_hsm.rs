//! The Luna Backup HSM as the estate keeps it (Luna §3.4; seed 003 chapters 2-5): which client
//! host it is attached to (persisted; the lab's `attached_to` is the start), moving it
//! (`hsmsim lab attach`), and LunaCM's `partition archive backup|restore|list|contents|delete`
//! run on that host. Backup partitions are created on demand by a backup and kept as device
//! items of the Backup HSM (one per partition, one per object: its clone blob, sealed under the
//! cloning domain, opaque to the store); the rules are the Luna model's (`models::luna`:
//! `check_backup`, `check_restore`, the clone blobs and the per-object behaviour by era).
//! Every operation checks its credentials as logins do (counted, with their consequences): the
//! Crypto Officer of the partition backed up or restored to, the Backup HSM's HSM SO to create,
//! change or delete a backup partition, the backup partition's password to read or restore it.
use super::hsm_so::check_role_credential;
use super::*;
use crate::base::attribute::Attributes;
use crate::base::secrets::seal::object_binding;
use crate::base::secrets::verifier::Verifier;
use crate::models::luna::{self, BackupOrigin, CKR_CONTAINER_HANDLE_INVALID, CloneSide};
use crate::models::luna_ca::{luna_device, state_of};
use crate::object::Object;
use crate::store::{StoredObject, seal_object};
use serde::Deserialize;

/// Device-item kinds: the attachment (name `ATTACHMENT_NAME`), the backup partitions (by
/// name), each partition's objects (kind `OBJECT_KIND_PREFIX` + the partition's name; by
/// handle, ten digits).
const ATTACHMENT_KIND: &str = "luna-backup-hsm";
const ATTACHMENT_NAME: &str = "attached";
const PARTITION_KIND: &str = "luna-backup-partition";
const OBJECT_KIND_PREFIX: &str = "luna-backup-objects/";

fn object_kind(partition: &str) -> String {
    format!("{OBJECT_KIND_PREFIX}{partition}")
}

/// A Backup HSM of the lab: its device, model, the lab partition that holds its HSM SO and
/// cloning domain (and is its slot on the host it is attached to), and its memory.
#[derive(Debug, Clone)]
pub struct BackupHsm {
    pub device: DeviceId,
    pub model: TokenModel,
    /// The partition whose SO is the Backup HSM's HSM SO (the lab's admin partition of the
    /// device, else its first), shown as the Backup HSM's slot.
    pub slot_partition: PartitionId,
    ped_keys: Vec<(CK_USER_TYPE, PathBuf)>,
    /// Memory for backup partitions (`[device.luna] memory`); `None`: unlimited.
    pub memory: Option<u64>,
}

impl BackupHsm {
    fn luna(&self) -> &luna::Device {
        self.model.luna().expect("a Backup HSM has the Luna model")
    }

    /// A backup partition's credential: the password given; on a PED Backup HSM an empty
    /// one (LunaCM asks the PED, not the keyboard) is the black PED key presented, imprinted
    /// when the backup partition is made (simulator-defined: the documents say a PED Backup
    /// HSM takes keys, not how its backup partitions are protected).
    fn partition_secret(&self, given: &[u8]) -> Result<Vec<u8>> {
        if given.is_empty() && self.luna().auth == luna::Auth::Ped {
            return crate::models::luna::ped::presented_credential(CKU_USER, &self.ped_keys, true);
        }
        Ok(given.to_vec())
    }
}

/// The lab's Backup HSM `device`: refused unless the lab defines it with kind "luna-backup" and
/// at least one partition (its HSM SO and slot).
pub fn backup_hsm(selection: &LabSelection, device: &DeviceId) -> Result<BackupHsm> {
    let model = selection.device_model(device)?;
    if model.luna().map(|d| d.kind) != Some(luna::DeviceKind::Backup) {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("device \"{device}\" is not a Luna Backup HSM (kind \"luna-backup\")"),
        ));
    }
    let def = selection
        .lab
        .file
        .devices
        .iter()
        .find(|d| d.name.get_ref() == device.as_str());
    let chosen = def.and_then(|d| {
        d.partitions
            .iter()
            .find(|p| p.is_admin())
            .or(d.partitions.first())
    });
    let slot_partition = chosen
        .map(|p| device.partition(p.name.get_ref().as_str()))
        .ok_or_else(|| {
            err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "Backup HSM \"{device}\" has no partition in the lab: give it one with its HSM SO's `so_pin` (or `so_ped_key`) and `domain`; hosts show it as the Backup HSM's slot"
                ),
            )
        })?;
    let ped_keys = preset_ped_keys(selection, &slot_partition);
    Ok(BackupHsm {
        device: device.clone(),
        memory: selection.lab.device_memory(device.as_str()),
        model,
        slot_partition,
        ped_keys,
    })
}

/// The lab's PED key files of a partition's roles.
pub(super) fn preset_ped_keys(
    selection: &LabSelection,
    partition: &PartitionId,
) -> Vec<(CK_USER_TYPE, PathBuf)> {
    selection
        .lab
        .partitions()
        .into_iter()
        .find(|(p, _, _)| p == partition)
        .and_then(|(_, _, preset)| preset)
        .map(|p| p.ped_key_files(&selection.state_dir))
        .unwrap_or_default()
}

#[derive(Serialize, Deserialize)]
struct Attachment {
    host: String,
}

/// The host the Backup HSM is attached to now: as last moved (`attach_backup_hsm`), else as
/// the lab starts it (`attached_to`); `None`: the lab does not say (every host that lists its
/// slot sees it).
pub fn backup_hsm_host(selection: &LabSelection, device: &DeviceId) -> Result<Option<String>> {
    backup_hsm(selection, device)?;
    attached_host(selection, &open_store(selection)?, device)
}

fn attached_host(
    selection: &LabSelection,
    store: &Store,
    device: &DeviceId,
) -> Result<Option<String>> {
    backup_hsm_attached_to(
        store,
        device,
        selection.lab.backup_hsm_host(device.as_str()),
    )
}

/// The host a Backup HSM is attached to, as `store` has it, else `start_host` (the lab's
/// `attached_to`): what the engine asks to show the Backup HSM's slot with or without a token.
pub fn backup_hsm_attached_to(
    store: &Store,
    device: &DeviceId,
    start_host: Option<&str>,
) -> Result<Option<String>> {
    if let Some(value) = store.device_item(device, ATTACHMENT_KIND, ATTACHMENT_NAME)? {
        let a: Attachment = from_item(value, "the Backup HSM's attachment")?;
        return Ok(Some(a.host));
    }
    Ok(start_host.map(str::to_string))
}

/// `hsmsim lab attach DEVICE --host H`: moves the Backup HSM to `host` (unplugged from the
/// host it was on; one host at a time). The host must exist and list the Backup HSM's slot
/// (the lab's hosts say which slots a host has). Persisted in the store; the lab file stays
/// the start state. Modules see it on their next call: the slot has a token on that host only
/// (`C_GetSlotList(CK_TRUE)` lists it there; elsewhere `CKR_TOKEN_NOT_PRESENT`).
pub fn attach_backup_hsm(selection: &LabSelection, device: &DeviceId, host: &str) -> Result<()> {
    let hsm = backup_hsm(selection, device)?;
    slot_on_host(selection, host, &hsm.slot_partition)?;
    let store = open_store(selection)?;
    let value = serde_json::to_value(Attachment {
        host: host.to_string(),
    })
    .map_err(|e| err(CKR_GENERAL_ERROR, e.to_string()))?;
    store
        .update_device_items(|items| items.put(device, ATTACHMENT_KIND, ATTACHMENT_NAME, &value))?;
    // A change of the Backup HSM's token record tells every process to look again: the slot
    // has its token on the new host only.
    for (partition, _, _) in selection.lab.partitions() {
        if partition.is_on(device) {
            store.update_token(&partition, |_| Ok(((), true)))?;
        }
    }
    Ok(())
}

/// The host the operations run on: the selection's (`HSMSIM_HOST`), else the lab's first.
fn operating_host(selection: &LabSelection) -> Result<String> {
    selection
        .host
        .clone()
        .or_else(|| {
            selection
                .lab
                .file
                .hosts
                .first()
                .map(|h| h.name.get_ref().clone())
        })
        .ok_or_else(|| err(CKR_ARGUMENTS_BAD, "the lab has no host"))
}

/// The slot `host` shows `partition` in (its capacity): `CKR_SLOT_ID_INVALID` when the host
/// has no such host or slot.
fn slot_on_host(
    selection: &LabSelection,
    host: &str,
    partition: &PartitionId,
) -> Result<crate::lab::definition::SlotConfig> {
    let config = selection
        .lab
        .config(Some(host), selection.state_dir.clone())
        .map_err(|e| err(CKR_ARGUMENTS_BAD, e.message))?;
    config
        .slots
        .into_iter()
        .find(|s| s.backing == crate::lab::definition::SlotBacking::Partition(partition.clone()))
        .ok_or_else(|| {
            err(
                CKR_SLOT_ID_INVALID,
                format!("host \"{host}\" has no slot showing {partition}"),
            )
        })
}

/// The Backup HSM as the operating host sees it: `CKR_TOKEN_NOT_PRESENT` when it is attached
/// to another host (saying which, and how to move it).
fn attached_here(
    selection: &LabSelection,
    store: &Store,
    hsm: &BackupHsm,
    host: &str,
) -> Result<()> {
    slot_on_host(selection, host, &hsm.slot_partition)?;
    match attached_host(selection, store, &hsm.device)? {
        Some(on) if on != host => Err(err(
            CKR_TOKEN_NOT_PRESENT,
            format!(
                "the Backup HSM \"{}\" is attached to host \"{on}\", not \"{host}\": move it with `hsmsim lab attach {} --host {host}`",
                hsm.device, hsm.device
            ),
        )),
        _ => Ok(()),
    }
}

/// A backup partition as the Backup HSM keeps it.
#[derive(Serialize, Deserialize)]
struct BackupPartitionRecord {
    /// The partition's password, set when a backup creates it.
    password: Verifier,
    /// The cloning domain (its verifier) the partition opens objects with.
    #[serde(with = "hex")]
    domain: Vec<u8>,
    origin: BackupOrigin,
    /// The handle the next object gets (1 for the first).
    next_handle: u64,
    /// Objects held and their bytes (as the source partition counted them).
    objects: u64,
    bytes: u64,
}

/// One object of a backup partition: what `partition archive contents` shows, its size and
/// its clone blob.
#[derive(Serialize, Deserialize)]
struct BackupObjectRecord {
    #[serde(with = "hex")]
    ouid: Vec<u8>,
    class: CK_OBJECT_CLASS,
    label: String,
    size: u64,
    #[serde(with = "hex")]
    blob: Vec<u8>,
}

fn from_item<T: for<'de> Deserialize<'de>>(value: serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("{what} is damaged in the store: {e}"),
        )
    })
}

fn to_item<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| err(CKR_GENERAL_ERROR, e.to_string()))
}

fn handle_name(handle: u64) -> String {
    format!("{handle:010}")
}

fn unknown_backup_partition(hsm: &BackupHsm, name: &str) -> crate::base::error::Error {
    err(
        CKR_CONTAINER_HANDLE_INVALID,
        format!(
            "the Backup HSM \"{}\" has no backup partition \"{name}\"",
            hsm.device
        ),
    )
}

/// What a backup does with an existing backup partition of the name it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupMode {
    /// The partition must not exist yet (an existing one: `CKR_ARGUMENTS_BAD`, naming the
    /// two modes below).
    New,
    /// Adds to an existing partition (created when missing): an object whose `CKA_OUID` the
    /// partition already holds replaces that copy (new or changed objects; LunaSH 5's "add").
    Append,
    /// Empties an existing partition first (created when missing): destructive to the backup
    /// partition only.
    Replace,
}

/// `partition archive backup -slot <Backup HSM> -partition <name> [-append|-replace]` on the
/// current slot `source`, as the Crypto Officer.
#[derive(Debug, Clone, Copy)]
pub struct BackupRequest<'a> {
    pub source: &'a PartitionId,
    /// The source's Crypto Officer credential (PED: empty, the black key).
    pub co_pin: &'a [u8],
    pub backup_hsm: &'a DeviceId,
    /// The Backup HSM's HSM SO (PED: empty, the blue key).
    pub so_password: &'a [u8],
    pub partition: &'a str,
    /// The backup partition's password: set when created, checked otherwise.
    pub password: &'a [u8],
    /// The cloning domain a new backup partition gets (`None`: the Backup HSM's own, the lab's
    /// `domain` or red key of its partition).
    pub domain: Option<&'a [u8]>,
    pub mode: BackupMode,
}

/// One object's result in a backup or restore run, in order.
#[derive(Debug, Clone)]
pub struct ArchivedObject {
    pub ouid: Vec<u8>,
    pub label: String,
    pub result: Result<()>,
}

/// What a backup or restore did: the backup partition, whether the run created it, and each
/// object's result (a run that stopped at a failure answers `CKR_CLONE_NOT_ATTEMPTED` for the
/// rest).
#[derive(Debug, Clone)]
pub struct ArchiveRun {
    pub partition: String,
    pub created: bool,
    pub objects: Vec<ArchivedObject>,
}

impl ArchiveRun {
    /// The run's answer as LunaCM gives it: `Ok` when every object went; else the one
    /// object's error, or `CKR_FAILED_TO_CLONE_AN_OBJECT` naming how many failed
    /// (`luna::run_outcome`).
    pub fn outcome(&self) -> Result<()> {
        let results: Vec<Result<()>> = self.objects.iter().map(|o| o.result.clone()).collect();
        luna::run_outcome(&results)
    }
}

/// A source partition's token objects with their secrets opened by `key`.
pub(super) fn opened_objects(
    store: &Store,
    partition: &PartitionId,
    key: &TokenKey,
) -> Result<Vec<Object>> {
    let token = partition.to_string();
    store
        .objects(partition)?
        .into_iter()
        .map(|o| {
            let stored = Object::stored(0, 0, o.public, o.sealed);
            match &stored.sealed {
                None => Ok(stored),
                Some(sealed) => {
                    let secrets =
                        key.open_secrets(&object_binding(&token, stored.unique_id()), sealed)?;
                    Ok(stored.unsealed(&secrets))
                }
            }
        })
        .collect()
}

/// The Crypto Officer of a Luna partition, authenticated as a login is (`check_role_credential`):
/// the partition's model and state, its token key and the incarnation the key opens.
struct CryptoOfficer {
    model: TokenModel,
    state: luna::PartitionState,
    key: TokenKey,
    seen: crate::store::records::Incarnation,
}

impl CryptoOfficer {
    /// Checks `pin` as the Crypto Officer of `partition` (a Luna partition the lab defines;
    /// `CKR_TOKEN_NOT_PRESENT` when it was removed).
    fn login(
        selection: &LabSelection,
        store: &Store,
        partition: &PartitionId,
        pin: &[u8],
    ) -> Result<CryptoOfficer> {
        let model = selection.device_model(partition.device())?;
        luna_device(&model)?;
        let row = store
            .token(partition)?
            .filter(|r| r.present)
            .ok_or_else(|| {
                err(
                    CKR_TOKEN_NOT_PRESENT,
                    format!("the partition {partition} was removed"),
                )
            })?;
        let state = state_of(&row.record);
        let (key, seen) = check_role_credential(
            store,
            &model,
            partition,
            &preset_ped_keys(selection, partition),
            (CKU_USER, false),
            pin,
        )?;
        Ok(CryptoOfficer {
            model,
            state,
            key,
            seen,
        })
    }

    /// The partition's side of a clone, the Crypto Officer logged in.
    fn side(&self) -> Result<CloneSide<'_>> {
        Ok(CloneSide {
            device: luna_device(&self.model)?,
            state: &self.state,
            login: Some(CKU_USER),
        })
    }
}

/// The Backup HSM's side of a clone: its device and a backup partition's domain.
fn backup_state(domain: &[u8]) -> luna::PartitionState {
    luna::PartitionState {
        domain: Some(domain.to_vec()),
        ..Default::default()
    }
}

/// `partition archive backup` (Luna §3.4): run on the operating host, to which the Backup HSM
/// must be attached and which shows the source. In order: the Backup HSM here and the source
/// visible; the source's Crypto Officer authenticates (counted as a login); the Luna model's
/// preconditions (`luna::check_backup`); the Backup HSM's HSM SO; the backup partition's
/// mode and password; the space: the source's objects must fit in the Backup HSM's free
/// memory, or the backup is cancelled with `CKR_DEVICE_MEMORY` and nothing is created. Then
/// each object travels as a clone blob that the backup partition opens with its domain (a
/// mismatch or a policy 0/4 refusal fails that object; a pre-7.7 source goes on, a V0/V1
/// source stops at the first failure), and the backup partition is written in one
/// transaction: a new one is created even when every object failed (the documented empty
/// backup partition, which must be deleted by hand).
pub fn archive_backup(selection: &LabSelection, request: &BackupRequest<'_>) -> Result<ArchiveRun> {
    let store = open_store(selection)?;
    let host = operating_host(selection)?;
    let hsm = backup_hsm(selection, request.backup_hsm)?;
    attached_here(selection, &store, &hsm, &host)?;
    slot_on_host(selection, &host, request.source)?;
    if request.partition.is_empty() {
        return Err(err(CKR_ARGUMENTS_BAD, "the backup partition needs a name"));
    }
    let officer = CryptoOfficer::login(selection, &store, request.source, request.co_pin)?;
    let source = officer.side()?;
    luna::check_backup(&source, hsm.luna())?;
    let secret = hsm.partition_secret(request.password)?;
    check_role_credential(
        &store,
        &hsm.model,
        &hsm.slot_partition,
        &hsm.ped_keys,
        (CKU_SO, true),
        request.so_password,
    )?;

    let existing: Option<BackupPartitionRecord> = store
        .device_item(&hsm.device, PARTITION_KIND, request.partition)?
        .map(|v| from_item(v, "a backup partition"))
        .transpose()?;
    let created = existing.is_none();
    let mut record = match existing {
        Some(_) if request.mode == BackupMode::New => {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "the backup partition \"{}\" exists: append to it or replace it",
                    request.partition
                ),
            ));
        }
        Some(record) => {
            if !record.password.matches(&secret) {
                return Err(err(
                    CKR_PIN_INCORRECT,
                    "wrong password for the backup partition",
                ));
            }
            record
        }
        None => new_backup_partition(&store, &hsm, &source, request, &secret)?,
    };
    let origin = BackupOrigin::of(&source);
    match request.mode {
        // Emptied first: the partition now holds this source's objects.
        BackupMode::Replace => record.origin = origin,
        // One partition holds one version's objects (and one V1 source's SMK), so its restore
        // rules stay one (simulator-defined).
        BackupMode::Append
            if !created
                && (record.origin.version != origin.version || record.origin.smk != origin.smk) =>
        {
            return Err(err(
                luna::CKR_OPERATION_NOT_ALLOWED,
                format!(
                    "the backup partition holds the objects of a {:?} partition{}; this source is {:?}{}: replace it or use another backup partition",
                    record.origin.version,
                    smk_text(&record.origin),
                    origin.version,
                    smk_text(&origin)
                ),
            ));
        }
        _ => {}
    }

    let objects = opened_objects(&store, request.source, &officer.key)?;
    let needed: u64 = objects.iter().map(Object::storage_size).sum();
    if let Some(memory) = hsm.memory {
        let used = backup_bytes(&store, &hsm)?
            - if request.mode == BackupMode::Replace {
                record.bytes
            } else {
                0
            };
        if used + needed > memory {
            return Err(err(
                CKR_DEVICE_MEMORY,
                format!(
                    "the backup is cancelled: the source's objects take {needed} bytes and the Backup HSM \"{}\" has {} of its {memory} bytes free",
                    hsm.device,
                    memory.saturating_sub(used)
                ),
            ));
        }
    }

    let backup_side_state = backup_state(&record.domain);
    let target = CloneSide {
        device: hsm.luna(),
        state: &backup_side_state,
        login: Some(CKU_USER),
    };
    let results = luna::clone_run(luna::on_object_failure(&source), objects.iter(), |o| {
        luna::check_object_clonable(&source, o.class())?;
        let payload = luna::backup_payload(&source, &o.attrs)?;
        let blob = luna::seal_clone(&source, &target, &payload)?;
        // The Backup HSM opens and verifies each object with its domain before keeping it.
        luna::open_clone(&target, &source, &blob)?;
        Ok(BackupObjectRecord {
            ouid: o.attrs.bytes(luna::CKA_OUID).unwrap_or_default().to_vec(),
            class: o.class(),
            label: label_of(&o.attrs),
            size: o.storage_size(),
            blob,
        })
    });

    let kind = object_kind(request.partition);
    let summary = objects
        .iter()
        .zip(&results)
        .map(|(o, r)| ArchivedObject {
            ouid: o.attrs.bytes(luna::CKA_OUID).unwrap_or_default().to_vec(),
            label: label_of(&o.attrs),
            result: r.as_ref().map(drop).map_err(Clone::clone),
        })
        .collect();
    store.update_device_items(|items| {
        let mut by_ouid = std::collections::HashMap::new();
        if request.mode == BackupMode::Replace {
            items.remove_kind(&hsm.device, &kind)?;
            record.objects = 0;
            record.bytes = 0;
        } else if !created {
            for (name, value) in items.list(&hsm.device, &kind)? {
                let o: BackupObjectRecord = from_item(value, "a backup object")?;
                by_ouid.insert(o.ouid, (name, o.size));
            }
        }
        for object in results.into_iter().flatten() {
            let name = match by_ouid.remove(&object.ouid) {
                Some((name, size)) => {
                    record.objects -= 1;
                    record.bytes -= size;
                    name
                }
                None => {
                    record.next_handle += 1;
                    handle_name(record.next_handle - 1)
                }
            };
            record.objects += 1;
            record.bytes += object.size;
            items.put(&hsm.device, &kind, &name, &to_item(&object)?)?;
        }
        items.put(
            &hsm.device,
            PARTITION_KIND,
            request.partition,
            &to_item(&record)?,
        )
    })?;
    Ok(ArchiveRun {
        partition: request.partition.to_string(),
        created,
        objects: summary,
    })
}

/// A new backup partition's record: the password (Luna's rule, 8 to 255 characters), the
/// domain the request names or the Backup HSM's, the source's origin.
fn new_backup_partition(
    store: &Store,
    hsm: &BackupHsm,
    source: &CloneSide<'_>,
    request: &BackupRequest<'_>,
    password: &[u8],
) -> Result<BackupPartitionRecord> {
    if !(8..=255).contains(&password.len()) {
        return Err(err(
            CKR_PIN_LEN_RANGE,
            "a backup partition's password has 8 to 255 characters",
        ));
    }
    let domain = match request.domain {
        Some(d) if !d.is_empty() => luna::domain_verifier(d),
        _ => store
            .token(&hsm.slot_partition)?
            .and_then(|row| state_of(&row.record).domain)
            .ok_or_else(|| {
                err(
                    luna::CKR_CLONING_PARAMETER_MISSING,
                    format!(
                        "the Backup HSM \"{}\" has no cloning domain and the backup names none",
                        hsm.device
                    ),
                )
            })?,
    };
    Ok(BackupPartitionRecord {
        password: Verifier::new(password)?,
        domain,
        origin: BackupOrigin::of(source),
        next_handle: 1,
        objects: 0,
        bytes: 0,
    })
}

/// " (SMK <id>)" for a V1 origin.
fn smk_text(origin: &BackupOrigin) -> String {
    origin
        .smk
        .as_ref()
        .map(|smk| format!(" (SMK {smk})"))
        .unwrap_or_default()
}

fn label_of(attrs: &Attributes) -> String {
    String::from_utf8_lossy(attrs.bytes(CKA_LABEL).unwrap_or_default()).into_owned()
}

/// The bytes every backup partition of the Backup HSM holds.
fn backup_bytes(store: &Store, hsm: &BackupHsm) -> Result<u64> {
    store
        .device_items(&hsm.device, PARTITION_KIND)?
        .into_iter()
        .map(|(_, v)| from_item::<BackupPartitionRecord>(v, "a backup partition").map(|r| r.bytes))
        .sum()
}

/// Which objects of a backup partition a restore takes (LunaCM `-objects`, client 10.3+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectSelector {
    /// The object's handle on the backup partition (`partition archive contents`).
    Handle(u64),
    /// The object's `CKA_OUID`.
    Ouid(Vec<u8>),
}

/// `partition archive restore -slot <Backup HSM> -partition <name> [-objects ...] [-smkonly]`
/// into the current slot `target`, as its Crypto Officer.
#[derive(Debug, Clone, Copy)]
pub struct RestoreRequest<'a> {
    pub backup_hsm: &'a DeviceId,
    pub partition: &'a str,
    /// The backup partition's password.
    pub password: &'a [u8],
    pub target: &'a PartitionId,
    /// The target's Crypto Officer credential (PED: empty, the black key).
    pub co_pin: &'a [u8],
    /// `None`: every object.
    pub objects: Option<&'a [ObjectSelector]>,
    /// Restore only the SKS master key of a V1 backup (fw 7.7+ `-smkonly`).
    pub smk_only: bool,
}

/// `partition archive restore` (Luna §3.4): adds the backup partition's objects (or those
/// `objects` selects) into the target partition, which keeps what it holds. In order: the
/// Backup HSM here and the target visible; the backup partition and its password; the
/// target's Crypto Officer (counted as a login); the Luna model's rules
/// (`luna::check_restore`: no V0/V1 backup into a pre-7.7 partition, a V1 backup only where its
/// SMK is); every selected object exists (`CKR_OBJECT_HANDLE_INVALID` otherwise); they fit in
/// the target's `size`. Then each object is opened with the target's domain (a mismatch fails
/// that object, as the backed-up partition's era does after it), a V1 object with the target's
/// SMK, and the opened ones are written in one transaction: every attribute and `CKA_OUID`
/// kept, new unique ids (the engine gives new handles). `smk_only` writes only the SMK.
pub fn archive_restore(
    selection: &LabSelection,
    request: &RestoreRequest<'_>,
) -> Result<ArchiveRun> {
    let store = open_store(selection)?;
    let host = operating_host(selection)?;
    let hsm = backup_hsm(selection, request.backup_hsm)?;
    attached_here(selection, &store, &hsm, &host)?;
    let slot = slot_on_host(selection, &host, request.target)?;
    let record = backup_partition_with_password(&store, &hsm, request.partition, request.password)?;
    let officer = CryptoOfficer::login(selection, &store, request.target, request.co_pin)?;
    let target = officer.side()?;
    let seen = officer.seen;
    luna::check_restore(&record.origin, hsm.luna(), &target, request.smk_only)?;
    if request.smk_only {
        let smk = record.origin.smk.clone();
        store.update_token(request.target, |r| {
            if r.incarnation() != seen {
                return Err(crate::store::records::replaced_error());
            }
            let mut state = state_of(r);
            state.smk = smk;
            r.vendor = Some(crate::models::PartitionState::Luna(state).stored());
            Ok(((), true))
        })?;
        return Ok(ArchiveRun {
            partition: request.partition.to_string(),
            created: false,
            objects: Vec::new(),
        });
    }

    let kind = object_kind(request.partition);
    let mut held = Vec::new();
    for (name, value) in store.device_items(&hsm.device, &kind)? {
        let handle: u64 = name.parse().unwrap_or_default();
        held.push((
            handle,
            from_item::<BackupObjectRecord>(value, "a backup object")?,
        ));
    }
    let selected: Vec<&BackupObjectRecord> = match request.objects {
        None => held.iter().map(|(_, o)| o).collect(),
        Some(selectors) => selectors
            .iter()
            .map(|s| {
                held.iter()
                    .find(|(handle, o)| match s {
                        ObjectSelector::Handle(h) => handle == h,
                        ObjectSelector::Ouid(ouid) => &o.ouid == ouid,
                    })
                    .map(|(_, o)| o)
                    .ok_or_else(|| {
                        err(
                            CKR_OBJECT_HANDLE_INVALID,
                            format!(
                                "the backup partition \"{}\" holds no object {s:?}",
                                request.partition
                            ),
                        )
                    })
            })
            .collect::<Result<_>>()?,
    };
    if let Some(capacity) = slot.capacity {
        let used: u64 = store
            .objects(request.target)?
            .into_iter()
            .map(|o| Object::stored(0, 0, o.public, o.sealed).storage_size())
            .sum();
        let adding = selected.iter().map(|o| o.size).sum();
        officer.model.check_capacity(used, adding, capacity)?;
    }

    let backup_side_state = backup_state(&record.domain);
    let source = CloneSide {
        device: hsm.luna(),
        state: &backup_side_state,
        login: Some(CKU_USER),
    };
    let results = luna::clone_run(record.origin.on_object_failure(), selected.iter(), |o| {
        let payload = luna::open_clone(&target, &source, &o.blob)?;
        let mut attrs = luna::restored_object(&officer.state, payload)?;
        let uid = crate::base::random::new_unique_id()?;
        attrs.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
        let (public, sealed) = seal_object(request.target, &attrs, Some(&officer.key))?;
        Ok(StoredObject {
            unique_id: uid.into_bytes(),
            public,
            sealed,
        })
    });
    let summary = selected
        .iter()
        .zip(&results)
        .map(|(o, r)| ArchivedObject {
            ouid: o.ouid.clone(),
            label: o.label.clone(),
            result: r.as_ref().map(drop).map_err(Clone::clone),
        })
        .collect();
    let restored: Vec<StoredObject> = results.into_iter().flatten().collect();
    if !restored.is_empty() {
        store.insert_objects(request.target, seen, &restored)?;
    }
    Ok(ArchiveRun {
        partition: request.partition.to_string(),
        created: false,
        objects: summary,
    })
}

fn backup_partition_with_password(
    store: &Store,
    hsm: &BackupHsm,
    name: &str,
    password: &[u8],
) -> Result<BackupPartitionRecord> {
    let password = &hsm.partition_secret(password)?;
    let record: BackupPartitionRecord = store
        .device_item(&hsm.device, PARTITION_KIND, name)?
        .map(|v| from_item(v, "a backup partition"))
        .transpose()?
        .ok_or_else(|| unknown_backup_partition(hsm, name))?;
    if !record.password.matches(password) {
        return Err(err(
            CKR_PIN_INCORRECT,
            "wrong password for the backup partition",
        ));
    }
    Ok(record)
}

/// A backup partition as `partition archive list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupPartitionInfo {
    pub name: String,
    pub objects: u64,
    /// The bytes its objects take on the Backup HSM.
    pub bytes: u64,
    pub origin: BackupOrigin,
}

/// `partition archive list -slot <Backup HSM>`: the backup partitions, by name. Needs no
/// credential (simulator-defined), only the Backup HSM attached to the operating host.
pub fn archive_list(
    selection: &LabSelection,
    device: &DeviceId,
) -> Result<Vec<BackupPartitionInfo>> {
    let store = open_store(selection)?;
    let hsm = backup_hsm(selection, device)?;
    attached_here(selection, &store, &hsm, &operating_host(selection)?)?;
    store
        .device_items(device, PARTITION_KIND)?
        .into_iter()
        .map(|(name, v)| {
            let r: BackupPartitionRecord = from_item(v, "a backup partition")?;
            Ok(BackupPartitionInfo {
                name,
                objects: r.objects,
                bytes: r.bytes,
                origin: r.origin,
            })
        })
        .collect()
}

/// An object of a backup partition as `partition archive contents` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupObjectInfo {
    /// Its handle on the backup partition (what `ObjectSelector::Handle` names).
    pub handle: u64,
    pub class: CK_OBJECT_CLASS,
    pub label: String,
    pub ouid: Vec<u8>,
    pub size: u64,
}

/// `partition archive contents -slot <Backup HSM> -partition <name>`: the partition's objects
/// in handle order; needs the partition's password (simulator-defined).
pub fn archive_contents(
    selection: &LabSelection,
    device: &DeviceId,
    partition: &str,
    password: &[u8],
) -> Result<Vec<BackupObjectInfo>> {
    let store = open_store(selection)?;
    let hsm = backup_hsm(selection, device)?;
    attached_here(selection, &store, &hsm, &operating_host(selection)?)?;
    backup_partition_with_password(&store, &hsm, partition, password)?;
    store
        .device_items(device, &object_kind(partition))?
        .into_iter()
        .map(|(name, v)| {
            let o: BackupObjectRecord = from_item(v, "a backup object")?;
            Ok(BackupObjectInfo {
                handle: name.parse().unwrap_or_default(),
                class: o.class,
                label: o.label,
                ouid: o.ouid,
                size: o.size,
            })
        })
        .collect()
}

/// `partition archive delete -slot <Backup HSM> -partition <name>`: the Backup HSM's HSM SO
/// deletes a backup partition and its objects (how the empty partition a failed backup leaves
/// goes).
pub fn archive_delete(
    selection: &LabSelection,
    device: &DeviceId,
    so_password: &[u8],
    partition: &str,
) -> Result<()> {
    let store = open_store(selection)?;
    let hsm = backup_hsm(selection, device)?;
    attached_here(selection, &store, &hsm, &operating_host(selection)?)?;
    check_role_credential(
        &store,
        &hsm.model,
        &hsm.slot_partition,
        &hsm.ped_keys,
        (CKU_SO, true),
        so_password,
    )?;
    let kind = object_kind(partition);
    store.update_device_items(|items| {
        if !items.remove(device, PARTITION_KIND, partition)? {
            return Err(unknown_backup_partition(&hsm, partition));
        }
        items.remove_kind(device, &kind).map(drop)
    })
}

/// Erases every backup partition of `device` (a zeroised Backup HSM keeps none; where it is
/// attached stays); nothing for other devices.
pub(super) fn erase_backup_partitions(store: &Store, device: &DeviceId) -> Result<()> {
    let partitions = store.device_items(device, PARTITION_KIND)?;
    if partitions.is_empty() {
        return Ok(());
    }
    store.update_device_items(|items| {
        for (name, _) in &partitions {
            items.remove_kind(device, &object_kind(name))?;
        }
        items.remove_kind(device, PARTITION_KIND).map(drop)
    })
}
