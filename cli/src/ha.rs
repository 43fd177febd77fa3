//! Luna HA groups and device health from the command line: `hsmsim lab fail|recover DEVICE`
//! and `hsmsim lab ha ...`, LunaCM's `hagroup` commands (`creategroup`, `addmember`,
//! `addstandby`, `removemember`, `synchronize`, `listgroups`, `deletegroup`, `haonly`) as seed
//! 003's "Cloning Using an HA Group" runs them. They call `hsmsim::estate::ha_groups`; a
//! refusal by the simulated HSMs (a Luna HA rule, a device down) exits 1 with its `CKR_*`
//! name, a refused Crypto Officer password exits 2 (as every refused PIN does), a command that
//! cannot run (unknown group, partition or device, bad arguments) exits 2.
use crate::Failure;
use clap::{Subcommand, ValueEnum};
use cryptoki_sys::*;
use hsmsim::base::error::{Error, rv_name};
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::base::vendor_codes::{
    CKR_CERTIFICATE_INVALID, CKR_CLONING_PARAMETER_MISSING, CKR_FAILED_TO_CLONE_AN_OBJECT,
    CKR_OPERATION_NOT_ALLOWED,
};
use hsmsim::estate::ha_groups::{self, HaGroupStatus};
use hsmsim::estate::{self, Choice};
use serde_json::json;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum HaCommand {
    /// `hagroup creategroup`: a new group with PARTITION as its primary member, its objects
    /// kept ("copy"), configured on the client host (--host). Its serial is "1" + the
    /// member's serial unless --serial says.
    Create {
        /// The group's label.
        #[arg(long)]
        label: String,
        /// The first (primary) member, as "device/partition".
        #[arg(long)]
        partition: PartitionId,
        /// The group's serial (1 to 16 characters).
        #[arg(long)]
        serial: Option<String>,
        /// The Crypto Officer's password (PED partitions: its challenge secret); else
        /// $HSMSIM_CO_PASSWORD, else asked for on a terminal.
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// `hagroup addmember` (with --standby, `hagroup addstandby`): PARTITION joins the group
    /// once Luna's HA prerequisites hold; the group needs sync until synchronised.
    AddMember {
        #[arg(long)]
        group: String,
        #[arg(long)]
        partition: PartitionId,
        /// Add it as a standby member (served only when no active member is up).
        #[arg(long)]
        standby: bool,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// `hagroup removemember`: PARTITION leaves the group; its objects stay. Removing the
    /// member that numbers the group changes the group's serial.
    RemoveMember {
        #[arg(long)]
        group: String,
        #[arg(long)]
        partition: PartitionId,
        #[arg(long)]
        json: bool,
    },
    /// `hagroup synchronize`: every member receives the objects it lacks, cloned under the
    /// cloning rules; then "Needs sync: no".
    Synchronize {
        #[arg(long)]
        group: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// `hagroup listgroups`: each group with its members, their status and "Needs sync".
    List {
        #[arg(long)]
        json: bool,
    },
    /// `hagroup deletegroup`: the group goes; the members keep their objects.
    Delete {
        #[arg(long)]
        label: String,
    },
    /// `hagroup haonly`: the client host (--host) lists only its HA virtual slots (from each
    /// process's next C_Initialize), or all its slots again.
    HaOnly {
        #[arg(value_enum)]
        mode: HaOnlyMode,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum HaOnlyMode {
    On,
    Off,
}

/// `hsmsim lab fail|recover DEVICE`.
pub fn health(choice: &Choice, device: &DeviceId, down: bool) -> Result<ExitCode, Failure> {
    let selection = estate::select(choice)?;
    let result = if down {
        estate::fail_device(&selection, device)
    } else {
        estate::recover_device(&selection, device)
    };
    match result {
        Ok(()) => {
            if down {
                println!(
                    "device {device} failed: its partitions show no token and their sessions \
                     answer CKR_DEVICE_REMOVED; HA groups fail over to their live members"
                );
            } else {
                println!(
                    "device {device} recovered: HA groups bring its members back (a group whose \
                     member missed writes needs sync)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.rv == CKR_ARGUMENTS_BAD => Err(Failure(e.detail.into_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Runs a `hsmsim lab ha` command.
pub fn run(choice: &Choice, command: HaCommand) -> Result<ExitCode, Failure> {
    let selection = estate::select(choice)?;
    let password = |given: Option<String>| {
        crate::secret::obtain(
            given,
            "--password",
            "HSMSIM_CO_PASSWORD",
            "Crypto Officer password: ",
        )
    };
    let (result, json_out) = match command {
        HaCommand::Create {
            label,
            partition,
            serial,
            password: given,
            json,
        } => {
            let pw = password(given)?;
            (
                ha_groups::create_group(&selection, &label, &partition, &pw, serial)
                    .map(|g| group_text(&g, &format!("HA group \"{label}\" created"))),
                json,
            )
        }
        HaCommand::AddMember {
            group,
            partition,
            standby,
            password: given,
            json,
        } => {
            let pw = password(given)?;
            (
                ha_groups::add_member(&selection, &group, &partition, &pw, standby)
                    .map(|g| group_text(&g, &format!("{partition} added to HA group \"{group}\""))),
                json,
            )
        }
        HaCommand::RemoveMember {
            group,
            partition,
            json,
        } => (
            ha_groups::remove_member(&selection, &group, &partition).map(|g| {
                group_text(
                    &g,
                    &format!("{partition} removed from HA group \"{group}\""),
                )
            }),
            json,
        ),
        HaCommand::Synchronize {
            group,
            password: given,
            json,
        } => {
            let pw = password(given)?;
            (
                ha_groups::synchronise(&selection, &group, &pw).map(|r| {
                    let mut text = format!("HA group \"{group}\" synchronised\n");
                    for (member, copied) in &r.copied {
                        text.push_str(&format!("  {member}: {copied} objects cloned to it\n"));
                    }
                    (text, json!(r))
                }),
                json,
            )
        }
        HaCommand::List { json } => (
            ha_groups::list_groups(&selection).map(|groups| {
                let text = if groups.is_empty() {
                    "no HA groups\n".to_string()
                } else {
                    groups
                        .iter()
                        .map(hsmsim_consoles::lunacm::output::listgroups_block)
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                (text, json!({ "groups": groups }))
            }),
            json,
        ),
        HaCommand::Delete { label } => (
            ha_groups::delete_group(&selection, &label).map(|()| {
                (
                    format!("HA group \"{label}\" deleted; its members keep their objects\n"),
                    json!({ "deleted": label }),
                )
            }),
            false,
        ),
        HaCommand::HaOnly { mode } => {
            let on = matches!(mode, HaOnlyMode::On);
            (
                ha_groups::set_ha_only(&selection, None, on).map(|host| {
                    (
                        format!(
                            "host {host}: HA-only mode {} (from each process's next C_Initialize)\n",
                            if on { "on" } else { "off" }
                        ),
                        json!({ "host": host, "ha_only": on }),
                    )
                }),
                false,
            )
        }
    };
    match result {
        Ok((text, value)) => {
            if json_out {
                crate::print_json(&value);
            } else {
                print!("{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e),
    }
}

/// A group after a change: a sentence and the `listgroups` block.
fn group_text(g: &HaGroupStatus, done: &str) -> (String, serde_json::Value) {
    (
        format!(
            "{done}\n{}",
            hsmsim_consoles::lunacm::output::listgroups_block(g)
        ),
        json!(g),
    )
}

/// A refusal by the simulated HSMs exits 1 (a refused password 2) with its `CKR_*` name; other
/// errors go back to `main` (exit 2).
fn refused(e: Error) -> Result<ExitCode, Failure> {
    let exit = match e.rv {
        CKR_OPERATION_NOT_ALLOWED
        | CKR_CERTIFICATE_INVALID
        | CKR_DEVICE_REMOVED
        | CKR_TOKEN_NOT_PRESENT
        | CKR_TOKEN_NOT_RECOGNIZED
        | CKR_CLONING_PARAMETER_MISSING
        | CKR_FAILED_TO_CLONE_AN_OBJECT => 1,
        CKR_PIN_INCORRECT => 2,
        _ => return Err(Failure(e.detail.into_owned())),
    };
    Ok(crate::report_error(
        &e.to_string(),
        Some(rv_name(e.rv)),
        exit,
    ))
}
