//! The `hsmsim primus` commands: a Primus lab's cards (SO, Partition SO, Partition-Backup),
//! setup passwords and permanent secrets, the partition security policy changed with two SO
//! cards, and the partition-backup (migration) preconditions. They call
//! `hsmsim::estate::primus`; a refusal by the simulated HSM (wrong or blocked card, too few SO
//! cards, rejected or expired setup password, a Clone, unmet preconditions) exits 1, a command
//! that cannot run (unknown device, card or partition, bad arguments, lab unusable) exits 2.
use crate::Failure;
use clap::{Subcommand, ValueEnum};
use cryptoki_sys::*;
use hsmsim::base::error::Error;
use hsmsim::estate::Choice;
use hsmsim::estate::primus::PolicyChange;
use hsmsim::estate::{self, LabSelection};
use hsmsim::models::primus::{self, Card, CardKind};
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PrimusCommand {
    /// Smart cards of a Primus device: SO (red), Partition SO (green) and Partition-Backup
    /// ("Yellow") cards, kept in the lab's store.
    #[command(subcommand)]
    Card(CardCommand),
    /// Setup passwords of partition users (29 characters, valid 72 hours on premises, 7 days on
    /// CloudHSM).
    #[command(subcommand, name = "setup-password")]
    SetupPassword(SetupPasswordCommand),
    /// Permanent secrets of partition users (what `ppin -a` fetches with a setup password).
    #[command(subcommand, name = "permanent-secret")]
    PermanentSecret(PermanentSecretCommand),
    /// A partition's security policy (key import, export, extract).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check the preconditions of a partition backup with Decanus (migration to CloudHSM):
    /// Master, Decanus 2.1.3 or later paired with the device and the partition's Partition
    /// Administration, management access, licences Partition Administration and Device
    /// Backup, as the lab's state has them now (pairings and management access changed with
    /// `hsmsim decanus` count). Exit 0 when all are met, 1 listing each one that is not.
    Preconditions {
        /// The partition, as "device/partition".
        partition: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    So,
    PartitionSo,
    PartitionBackup,
}

impl KindArg {
    fn kind(self) -> CardKind {
        match self {
            KindArg::So => CardKind::So,
            KindArg::PartitionSo => CardKind::PartitionSo,
            KindArg::PartitionBackup => CardKind::PartitionBackup,
        }
    }
}

#[derive(Subcommand)]
pub enum CardCommand {
    /// Create a card with its PIN (8 to 12 digits, not starting with 0). Partition SO and
    /// Partition-Backup cards belong to a partition (--partition), or are made --empty (no PIN,
    /// no partition: onboarding or making a partition's P-Backup card binds them).
    Create {
        /// The Primus device the card belongs to.
        #[arg(long)]
        device: String,
        #[arg(long, value_enum)]
        kind: KindArg,
        /// The card's name (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// The card's PIN (default: $HSMSIM_CARD_PIN, else asked for on a terminal).
        #[arg(long)]
        pin: Option<String>,
        /// The partition of a Partition SO or Partition-Backup card.
        #[arg(long, conflicts_with = "empty")]
        partition: Option<String>,
        /// An empty Partition SO or Partition-Backup card: no PIN, no partition.
        #[arg(long, conflicts_with = "pin")]
        empty: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the cards of every Primus device of the lab, or of one.
    List {
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one card: kind, colour, partition, attempts left, blocked.
    Show {
        #[arg(long)]
        device: String,
        /// The card's name.
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Present a card's PIN. A wrong PIN counts down the card's attempts (saved); at 0 the card
    /// is blocked for good. Exit 0 accepted, 1 refused.
    Verify {
        #[arg(long)]
        device: String,
        /// The card's name.
        name: String,
        /// The card's PIN (default: $HSMSIM_CARD_PIN, else asked for on a terminal).
        #[arg(long)]
        pin: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum SetupPasswordCommand {
    /// Issue a new setup password for a partition's user (ROLES > USER > NEW SETUP PW), after
    /// SO activation with two SO cards. Printed once; only its verifier is kept.
    Issue {
        /// The partition, as "device/partition".
        partition: String,
        /// An SO card and its PIN, as NAME:PIN (NAME alone: the PIN is asked for on a
        /// terminal); give two different SO cards.
        #[arg(long = "so", value_name = "NAME:PIN", required = true)]
        so: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum PermanentSecretCommand {
    /// Fetch a new permanent secret with the partition's setup password (as `ppin -a`).
    /// Printed once; only its verifier is kept. Exit 1 when the setup password is rejected or
    /// expired.
    Fetch {
        /// The partition, as "device/partition".
        partition: String,
        /// The setup password (default: $HSMSIM_SETUP_PASSWORD, else asked for on a terminal).
        #[arg(long)]
        setup_password: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Show a partition's security policy.
    Show {
        /// The partition, as "device/partition".
        partition: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a partition's security policy after SO activation with two SO cards. The
    /// PKCS#11 module in every process applies it on its next call. Refused on a Clone.
    Set {
        /// The partition, as "device/partition".
        partition: String,
        /// Allow key import (plain or unwrapped).
        #[arg(long)]
        import: Option<bool>,
        /// Allow key export (wrapping keys out).
        #[arg(long)]
        export: Option<bool>,
        /// Allow key extract (reading key values in clear).
        #[arg(long)]
        extract: Option<bool>,
        /// An SO card and its PIN, as NAME:PIN (NAME alone: the PIN is asked for on a
        /// terminal); give two different SO cards.
        #[arg(long = "so", value_name = "NAME:PIN", required = true)]
        so: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Whether the simulated HSM refused (exit 1) rather than the command being unusable (exit 2).
fn is_refusal(e: &Error) -> bool {
    matches!(
        e.rv,
        CKR_PIN_INCORRECT
            | CKR_PIN_LOCKED
            | CKR_USER_NOT_LOGGED_IN
            | CKR_USER_TYPE_INVALID
            | CKR_TOKEN_WRITE_PROTECTED
            | primus::CKR_PRIMUS_SETUP_PASSWORD_REJECTED
            | primus::CKR_PRIMUS_SETUP_PASSWORD_EXPIRED
    )
}

/// An error as JSON: its code name, value and reason.
fn error_json(e: &Error) -> Value {
    json!({
        "code": hsmsim::base::error::rv_name(e.rv),
        "rv": e.rv,
        "message": e.detail,
    })
}

/// Reports a refusal (stderr, and JSON on stdout with --json): exit 2 when a PIN or password
/// was refused (as every command does), 1 for other refusals; other errors go back to `main`
/// (exit 2).
fn refused(e: Error, json_out: Option<Value>) -> Result<ExitCode, Failure> {
    if !is_refusal(&e) {
        return Err(Failure(e.to_string()));
    }
    let exit = if is_credential_refusal(&e) { 2 } else { 1 };
    match json_out {
        Some(mut value) => {
            value["error"] = error_json(&e);
            value["error"]["exit"] = json!(exit);
            crate::print_json(&value);
            eprintln!("hsmsim: {}", e);
        }
        None => {
            crate::report_error(
                &e.to_string(),
                Some(hsmsim::base::error::rv_name(e.rv)),
                exit,
            );
        }
    }
    Ok(ExitCode::from(exit))
}

/// A PIN, card PIN or password refused: wrong, locked or expired (exit 2 in every command).
pub(crate) fn is_credential_refusal(e: &Error) -> bool {
    matches!(
        e.rv,
        CKR_PIN_INCORRECT
            | CKR_PIN_LOCKED
            | primus::CKR_PRIMUS_SETUP_PASSWORD_REJECTED
            | primus::CKR_PRIMUS_SETUP_PASSWORD_EXPIRED
    )
}

fn fail(e: Error) -> Failure {
    Failure(e.to_string())
}

fn card_json(device: &str, c: &Card) -> Value {
    json!({
        "device": device,
        "name": c.name,
        "kind": c.kind,
        "colour": c.kind.colour(),
        "partition": c.partition,
        "attempts_left": c.attempts_left,
        "blocked": c.blocked(),
        "empty": c.is_empty(),
    })
}

fn print_card(device: &str, c: &Card) {
    println!(
        "{device:<20} {:<16} {:<18} {:<7} {:<14} {}",
        c.name,
        c.kind.lab_name(),
        c.kind.colour(),
        c.partition.as_deref().unwrap_or("-"),
        if c.blocked() {
            "blocked".to_string()
        } else if c.is_empty() {
            "empty".to_string()
        } else {
            format!("{} attempts left", c.attempts_left)
        }
    );
}

/// `--so NAME:PIN` arguments; `--so NAME` asks for the card's PIN on a terminal.
fn so_cards(args: &[String]) -> Result<Vec<(String, String)>, Failure> {
    args.iter()
        .map(|a| match a.split_once(':') {
            Some((n, p)) => Ok((n.to_string(), p.to_string())),
            None if !a.is_empty() => {
                let pin = crate::secret::obtain(
                    None,
                    &format!("the PIN of SO card {a} (--so {a}:PIN)"),
                    "HSMSIM_SO_CARD_PIN",
                    &format!("PIN of SO card {a}: "),
                )?;
                Ok((a.to_string(), pin))
            }
            None => Err(Failure(format!("--so takes NAME:PIN, not \"{a}\""))),
        })
        .collect()
}

fn policy_json(partition: &str, p: &primus::SecurityPolicy) -> Value {
    json!({
        "partition": partition,
        "allow_import": p.allow_import,
        "allow_export": p.allow_export,
        "allow_extract": p.allow_extract,
    })
}

fn print_policy(partition: &str, p: &primus::SecurityPolicy) {
    let on = |b: bool| if b { "allowed" } else { "not allowed" };
    println!("{partition}");
    println!("  key import   {}", on(p.allow_import));
    println!("  key export   {}", on(p.allow_export));
    println!("  key extract  {}", on(p.allow_extract));
}

pub fn run(choice: &Choice, command: PrimusCommand) -> Result<ExitCode, Failure> {
    let selection: LabSelection = estate::select(choice)?;
    let sel = &selection;
    match command {
        PrimusCommand::Card(CardCommand::Create {
            device,
            kind,
            name,
            pin,
            partition,
            empty,
            json,
        }) => {
            let card = if empty {
                estate::primus::create_empty_card(sel, &device, kind.kind(), &name)
            } else {
                let pin = crate::secret::obtain(
                    pin,
                    "--pin",
                    "HSMSIM_CARD_PIN",
                    &format!("PIN of card {name}: "),
                )?;
                estate::primus::create_card(
                    sel,
                    &device,
                    kind.kind(),
                    &name,
                    &pin,
                    partition.as_deref(),
                )
            }
            .map_err(fail)?;
            if json {
                crate::print_json(&card_json(&device, &card));
            } else {
                println!("created {} card {name} of {device}", card.kind.lab_name());
            }
            Ok(ExitCode::SUCCESS)
        }
        PrimusCommand::Card(CardCommand::List { device, json }) => {
            let cards = estate::primus::list_cards(sel, device.as_deref()).map_err(fail)?;
            if json {
                let rows: Vec<Value> = cards.iter().map(|(d, c)| card_json(d, c)).collect();
                crate::print_json(&json!({ "cards": rows }));
            } else {
                println!(
                    "{:<20} {:<16} {:<18} {:<7} {:<14} state",
                    "device", "card", "kind", "colour", "partition"
                );
                for (d, c) in &cards {
                    print_card(d, c);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PrimusCommand::Card(CardCommand::Show { device, name, json }) => {
            let card = estate::primus::load_card(sel, &device, &name).map_err(fail)?;
            if json {
                crate::print_json(&card_json(&device, &card));
            } else {
                print_card(&device, &card);
            }
            Ok(ExitCode::SUCCESS)
        }
        PrimusCommand::Card(CardCommand::Verify {
            device,
            name,
            pin,
            json,
        }) => match estate::primus::verify_card(
            sel,
            &device,
            &name,
            &crate::secret::obtain(
                pin,
                "--pin",
                "HSMSIM_CARD_PIN",
                &format!("PIN of card {name}: "),
            )?,
        ) {
            Ok(card) => {
                if json {
                    let mut v = card_json(&device, &card);
                    v["accepted"] = json!(true);
                    crate::print_json(&v);
                } else {
                    println!("card {name} of {device}: PIN accepted");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                let out = json.then(|| {
                    let mut v = estate::primus::load_card(sel, &device, &name)
                        .map(|c| card_json(&device, &c))
                        .unwrap_or_else(|_| json!({ "device": device, "name": name }));
                    v["accepted"] = json!(false);
                    v
                });
                refused(e, out)
            }
        },
        PrimusCommand::SetupPassword(SetupPasswordCommand::Issue {
            partition,
            so,
            json,
        }) => {
            let so = so_cards(&so)?;
            match estate::primus::issue_setup_password(sel, &partition, &so) {
                Ok((text, kept)) => {
                    let expires = kept.issued_at + kept.lifetime_secs;
                    if json {
                        crate::print_json(&json!({
                            "partition": partition,
                            "setup_password": text,
                            "issued_at": kept.issued_at,
                            "expires_at": expires,
                            "lifetime_secs": kept.lifetime_secs,
                        }));
                    } else {
                        println!("{text}");
                        eprintln!(
                            "setup password for {partition}: valid for {} hours (shown once)",
                            kept.lifetime_secs / 3600
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e, json.then(|| json!({ "partition": partition }))),
            }
        }
        PrimusCommand::PermanentSecret(PermanentSecretCommand::Fetch {
            partition,
            setup_password,
            json,
        }) => match estate::primus::fetch_permanent_secret(
            sel,
            &partition,
            &crate::secret::obtain(
                setup_password,
                "--setup-password",
                "HSMSIM_SETUP_PASSWORD",
                &format!("setup password of {partition}: "),
            )?,
        ) {
            Ok(secret) => {
                if json {
                    crate::print_json(&json!({
                        "partition": partition,
                        "permanent_secret": secret,
                    }));
                } else {
                    println!("{secret}");
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => refused(e, json.then(|| json!({ "partition": partition }))),
        },
        PrimusCommand::Policy(PolicyCommand::Show { partition, json }) => {
            let policy = estate::primus::security_policy(sel, &partition).map_err(fail)?;
            if json {
                crate::print_json(&policy_json(&partition, &policy));
            } else {
                print_policy(&partition, &policy);
            }
            Ok(ExitCode::SUCCESS)
        }
        PrimusCommand::Policy(PolicyCommand::Set {
            partition,
            import,
            export,
            extract,
            so,
            json,
        }) => {
            if import.is_none() && export.is_none() && extract.is_none() {
                return Err(Failure(
                    "nothing to change: give --import, --export or --extract".into(),
                ));
            }
            let so = so_cards(&so)?;
            let change = PolicyChange {
                allow_import: import,
                allow_export: export,
                allow_extract: extract,
            };
            match estate::primus::set_security_policy(sel, &partition, &so, change) {
                Ok(policy) => {
                    if json {
                        crate::print_json(&policy_json(&partition, &policy));
                    } else {
                        print_policy(&partition, &policy);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e, json.then(|| json!({ "partition": partition }))),
            }
        }
        PrimusCommand::Preconditions { partition, json } => {
            let unmet =
                estate::primus::partition_backup_preconditions(sel, &partition).map_err(fail)?;
            if json {
                crate::print_json(&json!({
                    "partition": partition,
                    "ready": unmet.is_empty(),
                    "unmet": unmet,
                }));
            } else if unmet.is_empty() {
                println!("{partition}: every partition-backup precondition is met");
            } else {
                for u in &unmet {
                    println!("unmet: {u}");
                }
            }
            Ok(if unmet.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
