//! A Primus partition backup for migration to CloudHSM (Primus §2.3, §4; seed 000): the
//! Partition-Backup ("Yellow") card of a partition, the backup file the device writes to a USB
//! drive (a directory) in Partition Administration mode with the backup password it shows
//! once, reading a backup file's header, and restoring it into a CloudHSM partition (the
//! Securosys operator's step) or, the reverse direction, into an on-premises one. The file
//! format is `backup_file`'s (its module comment); every refusal is described where it is
//! made; what the documents leave open is simulator-defined. The device keeps each partition's
//! backup public key as a device item (`BACKUP_KEY_ITEM`, by partition); the card keeps the
//! key pair, its private key sealed under the card PIN (`models::primus::CardBackupKey`).
use super::backup_file::{self, BackupContents};
use super::*;
use crate::base::secrets::seal::TokenKey;
use crate::models::primus::{CardBackupKey, DECANUS_MIGRATION_VERSION, Licence};
use crate::store::StoredObject;
use std::path::{Path, PathBuf};

/// What the device keeps of a partition's Partition-Backup card: its name and public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupKeyRecord {
    pub card: String,
    #[serde(with = "hex")]
    pub public: Vec<u8>,
}

/// `BACKUP > PARTITION BACKUP > P-BACKUP CARD > "PARTITION" > INSERT Yellow Card into Slot 2 >
/// new PIN twice`: makes `card` the partition's Partition-Backup card. An empty
/// Partition-Backup card gets a new backup key pair and the PIN; an existing card of the same
/// partition needs its current PIN (`current_pin`) and keeps its key; a card of another
/// partition, of another kind, blocked, or PINs that differ are refused. Needs SO activation
/// (two SO cards) and the licence item Device Backup.
pub fn create_partition_backup_card(
    selection: &LabSelection,
    partition_text: &str,
    so_cards: &[(String, String)],
    card: &str,
    current_pin: Option<&str>,
    new_pin: &str,
    new_pin_again: &str,
) -> Result<Card> {
    let (device, p) = partition(selection, partition_text)?;
    migration_terminal(selection, device)?;
    if !device.licences.contains(&Licence::DeviceBackup) {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "{} is not licensed for Device Backup (see SYSTEM > DIAG. DEVICE > LICENSE)",
                device.name
            ),
        ));
    }
    check_name("card name", card)?;
    so_activation(selection, &device.name, so_cards)?;
    if new_pin != new_pin_again {
        return Err(err(CKR_PIN_INVALID, "the two P-Backup card PINs differ"));
    }
    check_card_pin(new_pin)?;
    let id = device.id();
    let store = open_store(selection)?;
    store.update_device_items(|items| {
        let mut c = stored_card(&device.name, card, items.get(&id, CARD_ITEM, card)?)?;
        if c.kind != CardKind::PartitionBackup {
            return Ok(Err(err(
                CKR_FUNCTION_FAILED,
                format!(
                    "card {card} is a {} card, not a Partition-Backup (Yellow) card",
                    c.kind.lab_name()
                ),
            )));
        }
        if c.blocked() {
            return Ok(Err(err(CKR_PIN_LOCKED, format!("card {card} is blocked"))));
        }
        let key = if c.is_empty() {
            CardBackupKey::generate(card, new_pin)?
        } else {
            if c.partition.as_deref() != Some(p.as_str()) {
                return Ok(Err(err(
                    CKR_FUNCTION_FAILED,
                    format!(
                        "card {card} belongs to partition {}, not {p}",
                        c.partition.as_deref().unwrap_or("(none)")
                    ),
                )));
            }
            let Some(current) = current_pin else {
                return Ok(Err(err(
                    CKR_PIN_INCORRECT,
                    format!("card {card} is already {p}'s P-Backup card: give its current PIN"),
                )));
            };
            // Counted whatever the outcome: the card is written back before the answer.
            if let Err(e) = c.present(current) {
                items.put(&id, CARD_ITEM, card, &encode(&c)?)?;
                return Ok(Err(e));
            }
            match &c.backup_key {
                Some(key) => key.resealed(card, current, new_pin)?,
                None => CardBackupKey::generate(card, new_pin)?,
            }
        };
        c.bind(&p, new_pin)?;
        let record = BackupKeyRecord {
            card: card.to_string(),
            public: key.public.clone(),
        };
        c.backup_key = Some(key);
        items.put(&id, CARD_ITEM, card, &encode(&c)?)?;
        items.put(&id, BACKUP_KEY_ITEM, &p, &encode(&record)?)?;
        Ok(Ok(c))
    })?
}

/// The device's Decanus for the migration's operations: present, paired with the device and of
/// release 2.1.3 or later.
fn migration_terminal(selection: &LabSelection, device: &Device) -> Result<()> {
    let state = decanus_state(selection, &device.name)?.ok_or_else(|| {
        err(
            CKR_FUNCTION_FAILED,
            format!("{} has no Decanus terminal", device.name),
        )
    })?;
    if !state.device_administration {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "the Decanus terminal is not paired with {} (Device Administration)",
                device.name
            ),
        ));
    }
    if state.version < DECANUS_MIGRATION_VERSION {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "the Decanus terminal is release {}: the partition backup needs release 2.1.3 or later",
                decanus_model(&state).version_text()
            ),
        ));
    }
    Ok(())
}

/// What `create_partition_backup` needs: the partition (in Partition Administration mode,
/// logged in with its password), the USB drive (a directory).
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
    /// The partition, as "device/partition".
    pub partition: &'a str,
    /// The partition login of Partition Administration mode.
    pub partition_password: &'a str,
    pub usb: &'a Path,
}

/// A backup written: the file, the backup password the device shows once ("Write down the
/// Backup password"), and what it holds.
#[derive(Debug, Clone)]
pub struct BackupCreated {
    pub file: PathBuf,
    pub password: String,
    pub header: BackupHeader,
}

/// A backup file's header (readable without card or password, integrity-checked by the
/// card's key when restoring).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format: u32,
    pub partition: String,
    pub source_device: String,
    pub source_firmware: (u8, u8),
    pub card: String,
    pub objects: usize,
    pub created_at: u64,
}

/// `BACKUP > CREATE` in Partition Administration mode (seed 000): preconditions met (Primus
/// §2.3), the partition's Partition-Backup card made, the partition login right; writes every
/// object of the partition (all attributes and key values), its security policy and users,
/// the source firmware and device to a new file in `usb`, encrypted to the card's key and
/// bound to a generated backup password. Nothing is written on refusal.
pub fn create_partition_backup(
    selection: &LabSelection,
    request: &BackupRequest<'_>,
) -> Result<BackupCreated> {
    let (device, p) = partition(selection, request.partition)?;
    let unmet = partition_backup_preconditions(selection, request.partition)?;
    if !unmet.is_empty() {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "the partition backup's preconditions are not met: {}",
                unmet
                    .iter()
                    .map(|u| u.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    let store = open_store(selection)?;
    let id = device.id();
    let key: BackupKeyRecord = store
        .device_item(&id, BACKUP_KEY_ITEM, &p)?
        .map(|v| decode(&device.name, BACKUP_KEY_ITEM, &p, v))
        .transpose()?
        .ok_or_else(|| {
            err(
                CKR_FUNCTION_FAILED,
                format!(
                    "partition {p} has no Partition-Backup card: make one first (BACKUP > PARTITION BACKUP > P-BACKUP CARD)"
                ),
            )
        })?;
    if !request.usb.is_dir() {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("no USB drive at {} (a directory)", request.usb.display()),
        ));
    }
    let (partition_id, token_key) =
        logged_in(selection, &store, device, &p, request.partition_password)?;
    let policy = security_policy(selection, request.partition)?;
    let objects: Vec<crate::base::attribute::Attributes> =
        super::super::backup_hsm::opened_objects(&store, &partition_id, &token_key)?
            .into_iter()
            .map(|o| o.attrs)
            .collect();
    let created_at = crate::base::clock::now();
    let header = BackupHeader {
        format: backup_file::BACKUP_FORMAT,
        partition: p.clone(),
        source_device: device.name.clone(),
        source_firmware: device.firmware,
        card: key.card.clone(),
        objects: objects.len(),
        created_at,
    };
    let password = crate::models::primus::grouped_password()?;
    let bytes = backup_file::write(
        &header,
        &key.public,
        &password,
        &BackupContents {
            policy,
            user_password: request.partition_password.to_string(),
            objects,
        },
    )?;
    if bytes.len() as u64 > crate::base::files::MAX_READ {
        return Err(err(
            CKR_DEVICE_MEMORY,
            format!(
                "the backup of {p} would take {} bytes, more than a backup file may ({} bytes)",
                bytes.len(),
                crate::base::files::MAX_READ
            ),
        ));
    }
    let file = write_new_file(request.usb, &p, created_at, &bytes)?;
    Ok(BackupCreated {
        file,
        password,
        header,
    })
}

/// `LOGIN > "PARTITION"` in Partition Administration mode: checks the partition's password
/// (its PKCS#11 password; simulator-defined: the objects are encrypted at rest under a key
/// only that password opens) as a login does, counted under the device's login rule
/// (`CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED` while the throttle holds the partition).
pub fn partition_login(
    selection: &LabSelection,
    partition_text: &str,
    password: &str,
) -> Result<()> {
    let (device, p) = partition(selection, partition_text)?;
    logged_in(selection, &open_store(selection)?, device, &p, password).map(drop)
}

/// The partition's token key, opened by its password (`partition_login`).
pub(super) fn logged_in(
    selection: &LabSelection,
    store: &Store,
    device: &Device,
    p: &str,
    password: &str,
) -> Result<(crate::base::ids::PartitionId, TokenKey)> {
    let id = device.id().partition(p);
    let (key, _) = super::super::hsm_so::check_role_credential(
        store,
        &selection.device_model(&device.id())?,
        &id,
        &[],
        (CKU_USER, false),
        password.as_bytes(),
    )
    .map_err(|e| match e.rv {
        CKR_PIN_INCORRECT => err(
            CKR_PIN_INCORRECT,
            format!(
                "the partition password of {p} is wrong (it is the partition's PKCS#11 password)"
            ),
        ),
        _ => e,
    })?;
    Ok((id, key))
}

/// `YYYYMMDDThhmmss` (UTC) of a time in seconds since the epoch (RFC 3339 by `humantime`,
/// without its separators).
pub(super) fn timestamp(secs: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .trim_end_matches('Z')
        .replace(['-', ':'], "")
}

/// Writes `bytes` as `<PARTITION>-<YYYYMMDDThhmmss>.pbackup` in `dir` (then `-2`, `-3`, ... before
/// the extension when that name is taken: a file is never overwritten; simulator-defined). The
/// file appears whole: written under a temporary name, then linked to its name.
fn write_new_file(dir: &Path, partition: &str, created_at: u64, bytes: &[u8]) -> Result<PathBuf> {
    let stem = format!("{partition}-{}", timestamp(created_at));
    let temporary = dir.join(format!(".{stem}.{}.tmp", std::process::id()));
    let cannot = |path: &Path, e: std::io::Error| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    crate::base::files::write_private(&temporary, bytes).map_err(|e| cannot(&temporary, e))?;
    let mut outcome = Err(err(CKR_FUNCTION_FAILED, "no free backup file name"));
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.pbackup")
        } else {
            format!("{stem}-{n}.pbackup")
        };
        let file = dir.join(name);
        match std::fs::hard_link(&temporary, &file) {
            Ok(()) => {
                outcome = Ok(file);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                outcome = Err(cannot(&file, e));
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&temporary);
    outcome
}

/// Reads a backup file (at most `files::MAX_READ` bytes): `CKR_ARGUMENTS_BAD` when it cannot
/// be read.
fn read_file(file: &Path) -> Result<Vec<u8>> {
    crate::base::files::read(file).map_err(|e| {
        err(
            CKR_ARGUMENTS_BAD,
            format!("cannot read {}: {e}", file.display()),
        )
    })
}

/// A backup file's header, without card or password; refused when the file is not a
/// partition backup, is truncated or was changed (`CKR_DATA_INVALID`; the header's own MAC
/// needs the card and is checked by the restore).
pub fn read_backup_header(file: &Path) -> Result<BackupHeader> {
    let bytes = read_file(file)?;
    Ok(backup_file::parse(&bytes, &file.display().to_string())?.header)
}

/// What `restore_partition_backup` needs: the target partition "device/partition" (blank), the
/// file, the Partition-Backup card (by name, a card of the target device's lab store or the
/// source's: cards travel) with its PIN, and the backup password.
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    pub target: &'a str,
    pub file: &'a Path,
    pub card_device: &'a str,
    pub card: &'a str,
    pub card_pin: &'a str,
    pub password: &'a str,
}

/// A restore done: the partition name and user the target partition now carries, and its
/// objects.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    pub target: String,
    pub partition: String,
    pub objects: usize,
}

/// Restores a partition backup into a blank Primus partition (CloudHSM, or on premises for the
/// reverse direction). Refused, with nothing changed: a file that is not a backup, truncated
/// or tampered; a card that is not the file's, or blocked; a wrong card PIN (counted); a wrong
/// backup password; a target that is not blank, or a device that already has a partition of
/// the backup's name; a source firmware newer than the target's. Checked in this order (the
/// target before the card, so a target refused costs no card attempt): the file
/// (`CKR_DATA_INVALID`: "... is not a partition backup", "... is truncated", "... was changed
/// after it was written"); the target (a Clone without `clone_modify`:
/// `CKR_TOKEN_WRITE_PROTECTED`; not blank, a partition of the name, older firmware:
/// `CKR_FUNCTION_FAILED`); the card (not the file's: `CKR_KEY_HANDLE_INVALID`; blocked or
/// wrong PIN: `CKR_PIN_LOCKED` / `CKR_PIN_INCORRECT`, counted); the header's MAC
/// (`CKR_DATA_INVALID`); the backup password (`CKR_PIN_INCORRECT`); the body
/// (`CKR_DATA_INVALID`). Then the target's token is replaced in one store transaction: label
/// the backup's partition name, the user PIN the source's PKCS#11 password (a new token key
/// sealed under it), the source's security policy, every object with all its attributes but
/// `CKA_UNIQUE_ID` (see `restored_object`).
pub fn restore_partition_backup(
    selection: &LabSelection,
    request: &RestoreRequest<'_>,
) -> Result<RestoreOutcome> {
    let (device, p) = partition(selection, request.target)?;
    let bytes = read_file(request.file)?;
    let parsed = backup_file::parse(&bytes, &request.file.display().to_string())?;
    let header = &parsed.header;
    let store = open_store(selection)?;
    let target_id = device.id().partition(p.as_str());
    check_target(selection, &store, device, &p, header)?;

    // The card: the file's (its key), not blocked, its PIN right (counted).
    let card_device = super::device(selection, request.card_device)?;
    check_name("card name", request.card)?;
    let card = load_card(selection, &card_device.name, request.card)?;
    let not_the_files = || {
        err(
            CKR_KEY_HANDLE_INVALID,
            format!(
                "card {} is not the Partition-Backup card of this backup",
                request.card
            ),
        )
    };
    let key = card
        .backup_key
        .as_ref()
        .filter(|k| card.kind == CardKind::PartitionBackup && k.fingerprint() == parsed.card_key())
        .ok_or_else(not_the_files)?;
    verify_card(selection, &card_device.name, request.card, request.card_pin)?;
    let private = key.open(request.card, request.card_pin)?;
    let contents = parsed.open(&private, request.password)?;

    // The new token: label, user PIN, policy, objects re-sealed under a new token key.
    let row = store.token(&target_id)?.ok_or_else(|| {
        err(
            CKR_TOKEN_NOT_PRESENT,
            format!("{} has no token", request.target),
        )
    })?;
    let seen = row.record.incarnation();
    let token_key = TokenKey::generate()?;
    let mut record = crate::store::records::TokenRecord::uninitialized(&target_id);
    record.serial = row.record.serial.clone();
    record.label = header.partition.clone();
    record.initialized = true;
    record.generation = crate::base::random::random_u64()?;
    record.role_mut(CKU_USER).seal = Some(crate::base::secrets::seal::PinSeal::new(
        contents.user_password.as_bytes(),
        &token_key,
        crate::base::secrets::seal::SealContext {
            partition: &target_id,
            generation: record.generation,
        },
    )?);
    record.vendor = Some(PartitionState::Primus(contents.policy).stored());
    let objects = contents
        .objects
        .iter()
        .map(|attrs| restored_object(&target_id, &token_key, attrs))
        .collect::<Result<Vec<_>>>()?;
    store.reinitialize_token_with_objects(
        &target_id,
        |current| {
            if current.incarnation() != seen || current.initialized {
                Err(not_blank(request.target))
            } else {
                Ok(())
            }
        },
        &record,
        &objects,
    )?;
    Ok(RestoreOutcome {
        target: request.target.to_string(),
        partition: header.partition.clone(),
        objects: objects.len(),
    })
}

fn not_blank(target: &str) -> crate::base::error::Error {
    err(
        CKR_FUNCTION_FAILED,
        format!(
            "partition {target} is not blank (it is initialised or holds objects): a backup is restored into a blank partition"
        ),
    )
}

/// The target of a restore: on a Master (or a Clone with `clone_modify`: else
/// `CKR_TOKEN_WRITE_PROTECTED`, as every object change there), blank, on a device with no other
/// partition (by name or token label) of the backup's name, whose firmware is not older than
/// the backup's source.
fn check_target(
    selection: &LabSelection,
    store: &Store,
    device: &Device,
    p: &str,
    header: &BackupHeader,
) -> Result<()> {
    let target = format!("{}/{p}", device.name);
    device.check_object_change()?;
    let row = store
        .token(&device.id().partition(p))?
        .filter(|r| r.present)
        .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{target} has no token")))?;
    if row.record.initialized || !store.objects(&device.id().partition(p))?.is_empty() {
        return Err(not_blank(&target));
    }
    let name = header.partition.as_str();
    let named = device.partitions.keys().any(|q| q != p && q == name);
    let labelled = selection
        .lab
        .partitions()
        .into_iter()
        .filter(|(id, _, _)| id.is_on(&device.id()) && id.name() != p)
        .map(|(id, _, _)| store.token(&id))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .any(|r| r.present && r.record.label == name);
    if named || labelled {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "device {} already has a partition named {name}: the restore would make a second one",
                device.name
            ),
        ));
    }
    if header.source_firmware > device.firmware {
        let (a, b) = header.source_firmware;
        let (c, d) = device.firmware;
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!("the backup's source firmware {a}.{b} is newer than the target's {c}.{d}"),
        ));
    }
    Ok(())
}

/// An object of the backup as the target stores it: every attribute kept but `CKA_UNIQUE_ID`,
/// which is new (simulator-defined: the lab's store gives every object a lab-wide unique id,
/// and the source keeps its own), its secrets sealed under the target's new token key.
fn restored_object(
    target: &crate::base::ids::PartitionId,
    key: &TokenKey,
    attrs: &crate::base::attribute::Attributes,
) -> Result<StoredObject> {
    let mut attrs = attrs.clone();
    let uid = crate::base::random::new_unique_id()?;
    attrs.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
    let (public, sealed) = crate::store::seal_object(target, &attrs, Some(key))?;
    Ok(StoredObject {
        unique_id: uid.into_bytes(),
        public,
        sealed,
    })
}
