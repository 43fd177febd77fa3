//! A Primus partition backup for migration to CloudHSM (Primus §2.3, §4; seed 000): the
//! Partition-Backup ("Yellow") card of a partition, the backup file the device writes to a USB
//! drive (a directory) in Partition Administration mode with the backup password it shows
//! once, reading a backup file's header, and restoring it into a CloudHSM partition (the
//! Securosys operator's step) or, the reverse direction, into an on-premises one. The file
//! format and every refusal are described where they are made; what the documents leave open
//! is simulator-defined.
use super::*;
use std::path::{Path, PathBuf};

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
    let _ = (
        selection,
        partition_text,
        so_cards,
        card,
        current_pin,
        new_pin,
        new_pin_again,
    );
    Err(super::decanus::not_built())
}

/// What `create_partition_backup` needs: the partition (in Partition Administration mode,
/// logged in with its password), the USB drive (a directory).
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
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
    let _ = (selection, request);
    Err(super::decanus::not_built())
}

/// A backup file's header, without card or password; refused when the file is not a
/// partition backup or is truncated.
pub fn read_backup_header(file: &Path) -> Result<BackupHeader> {
    let _ = file;
    Err(super::decanus::not_built())
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
/// the backup's name; a source firmware newer than the target's.
pub fn restore_partition_backup(
    selection: &LabSelection,
    request: &RestoreRequest<'_>,
) -> Result<RestoreOutcome> {
    let _ = (selection, request);
    Err(super::decanus::not_built())
}
