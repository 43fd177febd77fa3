//! The `hsmsim cloudhsm` commands: the Securosys operator's side of seed 000, restoring a Primus
//! partition backup file into a blank partition of a CloudHSM (shared or dedicated) device of
//! the lab (or, the reverse direction, of an on-premises Primus), and showing a backup file's
//! header. They call `hsmsim::estate::primus`. A refusal prints `hsmsim: CKR_X (0x...):
//! <sentence>` as every command does and exits 1 (a bad file, card or target) or 2 (a refused
//! card PIN or backup password, an unknown name; a command that cannot run: bad usage, an
//! unusable lab, a secret neither given nor asked for).
use crate::Failure;
use clap::Subcommand;
use cryptoki_sys::CKR_ARGUMENTS_BAD;
use hsmsim::base::error::{Error, rv_name};
use hsmsim::estate::primus::{self, BackupHeader, RestoreRequest};
use hsmsim::estate::{self, Choice, LabSelection};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CloudhsmCommand {
    /// Restore a Primus partition backup file into a blank partition (the operator's step of
    /// the migration to CloudHSM).
    ///
    /// The file is what the Decanus wrote (`BACKUP > CREATE`). The partition then carries the backup's partition name as its token label, answers to the source's
    /// PKCS#11 password, and holds every object and the security policy of the source. Needs
    /// the backup's Partition-Backup (Yellow) card and its PIN, and the backup password the
    /// Decanus showed. Refused with nothing changed (but the card's attempt counter) when
    /// the file is not a backup, truncated or changed, the card is not the file's or blocked,
    /// its PIN or the backup password is wrong, the target is not blank, its device already
    /// has a partition of that name, or the source's firmware is newer than the target's.
    Restore {
        /// The blank target partition, as "device/partition" (e.g. cloudhsm/restore).
        #[arg(long, value_name = "DEVICE/PARTITION")]
        partition: String,
        /// The backup file (<PARTITION>-<YYYYMMDDThhmmss>.pbackup).
        #[arg(long, value_name = "FILE")]
        backup: PathBuf,
        /// The Partition-Backup (Yellow) card's name.
        #[arg(long, value_name = "NAME")]
        card: String,
        /// The Primus device whose cards hold it (default: the one device of the lab that has
        /// a card of that name).
        #[arg(long, value_name = "DEVICE")]
        card_device: Option<String>,
        /// The card's PIN (default: $HSMSIM_CARD_PIN, else asked for on a terminal).
        #[arg(long, value_name = "PIN")]
        card_pin: Option<String>,
        /// The backup password (default: $HSMSIM_BACKUP_PASSWORD, else asked for on a
        /// terminal).
        #[arg(long, value_name = "PASSWORD")]
        password: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a backup file's header (no card or password needed).
    ///
    /// Partition, source device and firmware, Partition-Backup card, objects, time written.
    /// Exit 1 when the file is not a backup, is truncated or was changed.
    #[command(name = "show-backup")]
    ShowBackup {
        /// The backup file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A refusal, reported as every command reports one (`hsmsim: CKR_X (0x...): <sentence>` on
/// stderr; the error object on stdout with --json): exit 2 when a card PIN or the backup
/// password was refused (wrong or blocked: "a refused PIN is 2 in every command") or a name
/// is unknown; 1 for the other refusals (the file, the card, the target, the firmware).
fn refused(e: &Error) -> ExitCode {
    let exit = if crate::primus::is_credential_refusal(e) || e.rv == CKR_ARGUMENTS_BAD {
        2
    } else {
        1
    };
    crate::report_error(&e.to_string(), Some(rv_name(e.rv)), exit)
}

fn header_json(file: &std::path::Path, h: &BackupHeader) -> Value {
    json!({
        "file": file.display().to_string(),
        "format": h.format,
        "partition": h.partition,
        "source_device": h.source_device,
        "source_firmware": format!("{}.{}", h.source_firmware.0, h.source_firmware.1),
        "card": h.card,
        "objects": h.objects,
        "created_at": h.created_at,
    })
}

fn print_header(file: &std::path::Path, h: &BackupHeader) {
    let written = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(h.created_at),
    );
    println!("backup file     {}", file.display());
    println!("format          {}", h.format);
    println!("partition       {}", h.partition);
    println!(
        "source          {} (firmware {}.{})",
        h.source_device, h.source_firmware.0, h.source_firmware.1
    );
    println!("P-Backup card   {}", h.card);
    println!("objects         {}", h.objects);
    println!("written         {written}");
}

/// The Primus device holding card `card`: `given`, else the one device of the lab with a
/// card of that name.
fn card_device(sel: &LabSelection, card: &str, given: Option<String>) -> Result<String, Error> {
    if let Some(d) = given {
        return Ok(d);
    }
    let holders: Vec<String> = primus::list_cards(sel, None)?
        .into_iter()
        .filter(|(_, c)| c.name == card)
        .map(|(d, _)| d)
        .collect();
    match holders.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(hsmsim::base::error::err(
            cryptoki_sys::CKR_ARGUMENTS_BAD,
            format!("no Primus device of the lab has a card \"{card}\""),
        )),
        many => Err(hsmsim::base::error::err(
            cryptoki_sys::CKR_ARGUMENTS_BAD,
            format!(
                "card \"{card}\" exists on {}: name one with --card-device",
                many.join(", ")
            ),
        )),
    }
}

pub fn run(choice: &Choice, command: CloudhsmCommand) -> Result<ExitCode, Failure> {
    match command {
        CloudhsmCommand::ShowBackup { file, json } => {
            match primus::read_backup_header(&file) {
                Ok(h) if json => crate::print_json(&header_json(&file, &h)),
                Ok(h) => print_header(&file, &h),
                Err(e) => return Ok(refused(&e)),
            }
            Ok(ExitCode::SUCCESS)
        }
        CloudhsmCommand::Restore {
            partition,
            backup,
            card,
            card_device: given_device,
            card_pin,
            password,
            json,
        } => {
            let selection = estate::select(choice)?;
            let device = match card_device(&selection, &card, given_device) {
                Ok(d) => d,
                Err(e) => return Ok(refused(&e)),
            };
            let card_pin = crate::secret::obtain(
                card_pin,
                "--card-pin",
                "HSMSIM_CARD_PIN",
                &format!("PIN of card {card}: "),
            )?;
            let password = crate::secret::obtain(
                password,
                "--password",
                "HSMSIM_BACKUP_PASSWORD",
                "Backup password: ",
            )?;
            let request = RestoreRequest {
                target: &partition,
                file: &backup,
                card_device: &device,
                card: &card,
                card_pin: &card_pin,
                password: &password,
            };
            match primus::restore_partition_backup(&selection, &request) {
                Ok(done) => {
                    if json {
                        crate::print_json(&json!({
                            "target": done.target,
                            "partition": done.partition,
                            "objects": done.objects,
                        }));
                    } else {
                        println!(
                            "restored partition {} ({} object{}) into {}",
                            done.partition,
                            done.objects,
                            if done.objects == 1 { "" } else { "s" },
                            done.target
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(refused(&e)),
            }
        }
    }
}
