//! The `hsmsim` command line: manage labs (`lab init|show|check|reset|restart|partition|snapshot`),
//! inspect the simulated estate (slots, tokens, mechanisms), run the self-test that exercises
//! every mechanism family on a token, operate Primus devices (`primus`: cards, credentials,
//! security policy, migration preconditions), replay the documented procedures
//! (`conformance`), type their steps by hand (`primus-tools`, `import-pfx`, `lunacm`), and
//! manage the simulated Crypto Command Center (`ccc`). It
//! also owns the conventions every command shares: exit codes, `--json` errors, standard
//! output that a closed pipe ends quietly, completions and the man page.

// Standard output for every command: `println!` and `print!` below shadow std's, so a reader
// that stops reading (`hsmsim lab show | head -1`) ends the program quietly (exit 0, after the
// usual clean-up) instead of a panic. Defined before the modules so they use them too.
macro_rules! println {
    () => {
        $crate::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}

mod ccc;
mod cloudhsm;
mod conformance;
mod console_input;
mod decanus;
mod ha;
mod import_pfx;
mod lunacm;
mod lunash;
mod primus;
mod primus_tools;
mod secret;
mod selftest;
mod token_access;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::crypto::MECHANISMS;
use hsmsim::engine::Engine;
use hsmsim::estate;
use hsmsim::estate::Choice;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// A software HSM that behaves like Thales Luna and Securosys Primus hardware.
///
/// Which lab: --lab FILE (else $HSMSIM_CONF; state beside the file), else the built-in lab
/// $HSMSIM_LAB (default "default") with state in $HSMSIM_STATE_DIR, else
/// $XDG_DATA_HOME/hsmsim/<lab>, else ~/.local/share/hsmsim/<lab>. --host (else $HSMSIM_HOST)
/// picks the client host whose slots are shown.
///
/// Exit status, the same for every command: 0 done; 1 the command ran and the answer is no
/// (a token or the simulated HSM refused the operation, a self-test step or a scenario failed,
/// lab check found problems, preconditions are unmet); 2 the command could not run: bad usage,
/// a name or file that is not there, a lab or store that cannot be used, or a PIN, card PIN or
/// password that was refused (wrong, locked or expired). With --json, every error also prints
/// {"error": {"message", "exit", and "code" where a token answered}} on stdout. A closed
/// pipe (`| head`) ends a command quietly with 0.
#[derive(Parser)]
#[command(name = "hsmsim", version, about, long_about)]
struct Cli {
    /// The lab file to use (overrides HSMSIM_CONF).
    #[arg(long, global = true, value_name = "FILE")]
    lab: Option<PathBuf>,
    /// The client host whose view to use (overrides HSMSIM_HOST).
    #[arg(long, global = true, value_name = "NAME")]
    host: Option<String>,
    /// The state directory (overrides HSMSIM_STATE_DIR and the default beside the lab).
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the host's slots and the tokens they hold.
    Slots {
        /// Print JSON instead of a table.
        #[arg(long, conflicts_with = "lunacm")]
        json: bool,
        /// Print the Luna partitions as LunaCM's `slot list` does (label, serial, model,
        /// firmware, configuration text, slot description).
        #[arg(long)]
        lunacm: bool,
    },
    /// List the mechanisms with their key sizes and flags (CK_MECHANISM_INFO).
    Mechanisms {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Exercise every mechanism family on a token: generate keys, sign and verify, encrypt and
    /// decrypt, wrap and unwrap, derive. Objects are session objects; nothing is left behind.
    Selftest {
        /// The slot whose token to use.
        #[arg(long, default_value_t = 0)]
        slot: u64,
        /// The user PIN (default: the default lab's user PIN).
        #[arg(long, default_value = hsmsim::lab::DEFAULT_USER_PIN)]
        pin: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script generated from this command line, e.g.
    /// `hsmsim completions bash > ~/.local/share/bash-completion/completions/hsmsim`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page hsmsim(1) generated from this command line (`hsmsim man > hsmsim.1`),
    /// or with --dir write one page per command (hsmsim.1, hsmsim-lab.1, hsmsim-lab-init.1, ...).
    Man {
        /// Write the pages into this directory instead of printing hsmsim(1).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Create, inspect, check and reset labs (the simulated estate and its state).
    #[command(subcommand)]
    Lab(LabCommand),
    /// Operate Securosys Primus devices of the lab: cards, setup passwords, permanent secrets,
    /// partition security policy, migration preconditions.
    #[command(subcommand)]
    Primus(primus::PrimusCommand),
    /// The Securosys operator's side of a migration to CloudHSM: restore a Primus partition
    /// backup file into a blank partition, show a backup file's header.
    #[command(subcommand)]
    Cloudhsm(cloudhsm::CloudhsmCommand),
    /// Replay the vendors' documented procedures (docs/procedures.md) against the simulator or real
    /// PKCS#11 modules, and report each scenario: pass, fail or not applicable.
    #[command(subcommand)]
    Conformance(conformance::ConformanceCommand),
    /// The Securosys Primus Tools commands of seed 001 (CreateKey, GetPublicKey,
    /// ImportPublicKey, ExportKeyWrapped, ImportKeyWrapped, ListKeyEntry), typed as the seed
    /// writes them (single-dash flags work), against `-hsm sim:token=LABEL` or a PKCS#11 URI.
    #[command(name = "primus-tools")]
    PrimusTools(Box<primus_tools::PrimusToolsArgs>),
    /// Import an AD CS CA key and certificate (PFX with password, or PKCS#8 + certificate)
    /// into a token, paired and proven (seed 002).
    #[command(name = "import-pfx")]
    ImportPfx(Box<import_pfx::ImportPfxArgs>),
    /// Thales Luna's LunaCM (seed 003): `slot list`, `slot set`, `role login`, `partition
    /// contents|showpolicies|changepolicy|clone`, `hsm showinfo`, typed as the guide writes
    /// them, for a client host of the lab (--host) or any module with Luna's CA_* extensions
    /// (--module); -c one command, -f a script, else standard input.
    Lunacm(lunacm::LunacmArgs),
    /// Thales Luna's LunaSH, the Network HSM appliance shell, for the HSM SO of the lab's
    /// appliance --device: `hsm login|logout|show|showpolicies|changepolicy`, `partition
    /// list|show|showpolicies|changepolicy|createchallenge|activate`; -c one command, -f a
    /// script, else standard input.
    Lunash(lunash::LunashArgs),
    /// The Securosys Decanus terminal of the lab's Primus device --device (seed 000): its menu
    /// paths typed as the seed writes them, card slots 1 and 2, a USB drive; -c lines, -f a
    /// script, else standard input (screens and number selection on a terminal).
    Decanus(decanus::DecanusArgs),
    /// The simulated Thales Crypto Command Center (seed 004): devices, organisations and
    /// users, service templates, services and their lifecycle, partition import, Migrate
    /// Service, and `ccc serve` (its REST API and web console).
    Ccc(ccc::CccArgs),
}

#[derive(Subcommand)]
enum LabCommand {
    /// List the built-in labs (fixtures) that `lab init` can start from.
    Fixtures,
    /// Write DIR/lab.toml from a fixture and create its state in DIR. Then point the module
    /// at it with HSMSIM_CONF=DIR/lab.toml, or the CLI with --lab DIR/lab.toml.
    Init {
        /// The fixture to start from (see `hsmsim lab fixtures`).
        #[arg(long, default_value = "default")]
        fixture: String,
        /// The directory to create the lab in.
        #[arg(long)]
        dir: PathBuf,
        /// Replace an existing lab.toml and reset its state.
        #[arg(long)]
        force: bool,
    },
    /// Show the lab: devices, partitions (label, serial, object count), hosts and their slots.
    Show {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check the lab's store: SQLite integrity, every record and object decodes, no object
    /// without its token, and every sealed key value authenticates under its token key (opened
    /// with --pin or the PINs the lab file documents; nothing is logged in or written). Names
    /// each damaged object (partition, unique id, label). Exit 0 only when sound.
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// A PIN that opens a partition's token key (any role); repeat for several. The PINs
        /// the lab file documents are tried too.
        #[arg(long = "pin", value_name = "PIN")]
        pins: Vec<String>,
    },
    /// Put every partition back as the lab defines it: all objects are destroyed.
    Reset {
        /// Confirm: every object of every partition is destroyed.
        #[arg(long)]
        yes: bool,
    },
    /// Restart a device (LunaSH `hsm restart`, a power cycle, a Primus reboot) after an outage.
    /// Every session on its partitions ends. Luna PED partitions lose their activation unless
    /// auto-activation (partition policy 23) is on and the outage lasted at most 2 hours;
    /// Primus devices clear their login lockouts.
    Restart {
        /// The device, as the lab names it.
        device: DeviceId,
        /// How long the device was down before it came back, e.g. "0s", "90m", "3h".
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        outage: std::time::Duration,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Save the whole lab state under a name and go back to it between rehearsal attempts
    /// (SQLite's online backup: safe while other processes use the lab). Snapshots live in
    /// the state directory's `snapshots/`.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Move a Luna Backup HSM to another client host (it is attached to one host at a time;
    /// the host must list its slot in the lab). Persisted in the lab's state; the lab file's
    /// `attached_to` stays the start. Without --host, show where it is attached.
    Attach {
        /// The Backup HSM, as the lab names it.
        device: DeviceId,
        /// The host to attach it to.
        #[arg(long)]
        host: Option<String>,
    },
    /// A device stops answering (`hsmsim lab recover` brings it back): its partitions show no
    /// token, their sessions answer CKR_DEVICE_REMOVED, and Luna HA groups fail over to their
    /// live members. Processes using the lab see it on their next call.
    Fail {
        /// The device, as the lab names it.
        device: DeviceId,
    },
    /// A failed device answers again: HA groups bring its members back (a group whose member
    /// missed writes needs sync); the device's old sessions are gone.
    Recover {
        /// The device, as the lab names it.
        device: DeviceId,
    },
    /// Luna HA groups, as LunaCM's `hagroup` commands (seed 003's temporary HA group).
    #[command(subcommand)]
    Ha(ha::HaCommand),
    /// Remove a partition (its slots then hold no token) or add it back blank.
    Partition {
        #[arg(value_enum)]
        action: PartitionAction,
        /// The partition, as "device/partition".
        partition: PartitionId,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Save the lab's state (its store and Primus card files) as NAME.
    Save { name: String },
    /// List the saved snapshots.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put the lab's state back to snapshot NAME. Processes using the lab see their tokens
    /// replaced: their sessions end.
    Restore { name: String },
    /// Delete snapshot NAME.
    Delete { name: String },
}

/// Warns (on stderr) that other processes have the lab open and what they will see.
fn warn_other_processes(state_dir: &std::path::Path) {
    let others = estate::other_processes(state_dir);
    if others.is_empty() {
        return;
    }
    let list: Vec<String> = others
        .iter()
        .map(|(pid, name)| format!("pid {pid} {name}"))
        .collect();
    eprintln!(
        "warning: {} other process{} {} this lab open ({}): {} tokens are replaced and {} \
         sessions end",
        others.len(),
        if others.len() == 1 { "" } else { "es" },
        if others.len() == 1 { "has" } else { "have" },
        list.join(", "),
        if others.len() == 1 { "its" } else { "their" },
        if others.len() == 1 { "its" } else { "their" },
    );
}

#[derive(Clone, Copy, ValueEnum)]
enum PartitionAction {
    Remove,
    Add,
}

/// Writing to standard output (see the `println!` above).
mod stdout {
    use std::io::Write;

    pub fn write(args: std::fmt::Arguments) {
        done_or_exit(std::io::stdout().lock().write_fmt(args));
    }

    pub fn line(args: std::fmt::Arguments) {
        let mut out = std::io::stdout().lock();
        done_or_exit(out.write_fmt(args).and_then(|()| out.write_all(b"\n")));
    }

    fn done_or_exit(result: std::io::Result<()>) {
        if let Err(e) = result {
            hsmsim_conformance::target::finish();
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                // The reader has what it wanted (`| head`): not an error.
                std::process::exit(0);
            }
            eprintln!("hsmsim: cannot write to standard output: {e}");
            std::process::exit(2);
        }
    }
}

/// Set when the command line asks for `--json`: every error then also prints a JSON object
/// `{"error": {...}}` on stdout, so a script always gets a result or an error.
static JSON_OUTPUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn json_output() -> bool {
    JSON_OUTPUT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Reports an error: `hsmsim: <message>` on stderr and, with `--json`, the error object on
/// stdout (`code`, the `CKR_*` name, only where a token answered). Returns the exit status.
pub(crate) fn report_error(message: &str, code: Option<&str>, exit: u8) -> ExitCode {
    eprintln!("hsmsim: {message}");
    if json_output() {
        let mut error = json!({"message": message, "exit": exit});
        if let Some(code) = code {
            error["code"] = json!(code);
        }
        print_json(&json!({ "error": error }));
    }
    ExitCode::from(exit)
}

/// A failure to report: the message, and the exit status (2: the command could not run).
pub(crate) struct Failure(pub(crate) String);

impl Failure {
    /// The message without a leading `CKR_X (0x...): `: for mistakes in using the CLI or the
    /// lab (an unknown fixture, an existing lab, a bad path), which no token answered.
    fn plain(self) -> Failure {
        let text = &self.0;
        match text.split_once("): ") {
            Some((head, rest)) if head.starts_with("CKR_") && head.contains(" (0x") => {
                Failure(rest.to_string())
            }
            _ => self,
        }
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure(s)
    }
}

impl From<hsmsim::base::error::Error> for Failure {
    fn from(e: hsmsim::base::error::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<hsmsim::lab::LabError> for Failure {
    fn from(e: hsmsim::lab::LabError) -> Self {
        Failure(e.to_string())
    }
}

pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON"));
}

fn open_engine(choice: &Choice) -> Result<Engine, Failure> {
    let config = hsmsim::estate::resolve_config(choice)?;
    Engine::open(&config).map_err(|e| {
        Failure(format!(
            "cannot open the lab's state in {}: {}",
            config.state_dir.display(),
            e.detail
        ))
    })
}

/// `hsmsim slots --lunacm`: the Luna partitions with a token, as LunaCM lists them.
fn lunacm_slot_list(choice: &Choice) -> Result<ExitCode, Failure> {
    let engine = open_engine(choice)?;
    let mut first = None;
    for id in engine.slot_ids(true)? {
        match engine.partition_view(id, hsmsim::models::luna_ca::slot_listing) {
            Ok(listing) => {
                first.get_or_insert(id);
                println!("{}", listing.lunacm_text());
            }
            Err(e) if e.rv == cryptoki_sys::CKR_FUNCTION_NOT_SUPPORTED => {}
            Err(e) => return Err(e.into()),
        }
    }
    match first {
        Some(id) => println!("Current Slot Id: {id}"),
        None => println!("No Luna partitions in this host's view."),
    }
    Ok(ExitCode::SUCCESS)
}

fn slots(choice: &Choice, json: bool) -> Result<ExitCode, Failure> {
    let engine = open_engine(choice)?;
    let mut rows = Vec::new();
    for id in engine.slot_ids(false)? {
        let slot = engine.slot(id)?;
        let row = match engine.token_info(id) {
            Ok(info) => json!({
                "slot": id,
                "partition": slot.partition(),
                "present": true,
                "label": String::from_utf8_lossy(&info.label).trim_end(),
                "serial": info.serial,
                "initialized": info.flags & cryptoki_sys::CKF_TOKEN_INITIALIZED != 0,
            }),
            Err(e) if e.rv == cryptoki_sys::CKR_TOKEN_NOT_PRESENT => json!({
                "slot": id, "partition": slot.partition(), "present": false,
                "label": "", "serial": "", "initialized": false,
            }),
            Err(e) => return Err(e.into()),
        };
        rows.push(row);
    }
    if json {
        print_json(&json!({ "slots": rows }));
    } else {
        println!(
            "{:<6} {:<24} {:<34} {:<18} token",
            "slot", "partition", "token label", "serial"
        );
        for r in &rows {
            let state = match (r["present"].as_bool(), r["initialized"].as_bool()) {
                (Some(false), _) => "absent",
                (_, Some(true)) => "initialised",
                _ => "blank",
            };
            println!(
                "{:<6} {:<24} {:<34} {:<18} {state}",
                r["slot"].as_u64().unwrap_or_default(),
                r["partition"].as_str().unwrap_or(""),
                r["label"].as_str().unwrap_or(""),
                r["serial"].as_str().unwrap_or(""),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn lab(choice: &Choice, command: LabCommand) -> Result<ExitCode, Failure> {
    match command {
        LabCommand::Fixtures => {
            for (name, text) in hsmsim::lab::BUILT_IN {
                let description = hsmsim::lab::Lab::parse(text, name)
                    .map(|l| l.file.lab.description)
                    .unwrap_or_default();
                println!("{name:<28} {description}");
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Init {
            fixture,
            dir,
            force,
        } => {
            if force {
                warn_other_processes(&dir);
            }
            let (file, moved) = estate::init(&fixture, &dir, force)?;
            if let Some(moved) = moved {
                println!("the unusable store was moved aside to {}", moved.display());
            }
            println!("created {} from fixture \"{fixture}\"", file.display());
            println!("use it with: HSMSIM_CONF={}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Show { json } => {
            let report = estate::report(&estate::select(choice)?)?;
            if json {
                print_json(&serde_json::to_value(&report).expect("JSON"));
            } else {
                print_report(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Check { json, pins } => {
            let selection = estate::select(choice)?;
            let report = estate::check_report(&selection, &pins)?;
            let sound = report.problems.is_empty();
            if json {
                print_json(&json!({
                    "sound": sound,
                    "problems": report.problems,
                    "sealed_checked": report.sealed_checked,
                    "sealed_unchecked": report.sealed_unchecked,
                }));
            } else {
                for p in &report.problems {
                    println!("problem: {p}");
                }
                if !report.sealed_unchecked.is_empty() {
                    println!(
                        "sealed key values not checked (give --pin to open their token key): {}",
                        report.sealed_unchecked.join(", ")
                    );
                }
                if sound {
                    println!("{}: sound", selection.state_dir.display());
                }
            }
            Ok(if sound {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        LabCommand::Reset { yes } => {
            if !yes {
                return Err(Failure(
                    "reset destroys every object of every partition; add --yes to confirm".into(),
                ));
            }
            let selection = estate::select(choice)?;
            warn_other_processes(&selection.state_dir);
            if let Some(moved) = estate::reset(&selection)? {
                println!("the unusable store was moved aside to {}", moved.display());
            }
            println!(
                "{}: reset to the lab's definition",
                selection.state_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Restart {
            device,
            outage,
            json,
        } => {
            let selection = estate::select(choice)?;
            let restarted = estate::restart_device(&selection, &device, outage.as_secs())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "device": device,
                        "outage_secs": outage.as_secs(),
                        "partitions": restarted,
                    }))
                    .map_err(|e| Failure(e.to_string()))?
                );
            } else {
                println!(
                    "device {device} restarted after an outage of {}",
                    humantime::format_duration(outage)
                );
                for p in &restarted {
                    let roles: Vec<String> = p.deactivated.iter().map(|u| role_name(*u)).collect();
                    if roles.is_empty() {
                        println!("  {}: sessions ended", p.partition);
                    } else {
                        println!(
                            "  {}: sessions ended; deactivated: {}",
                            p.partition,
                            roles.join(", ")
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Snapshot(command) => {
            let selection = estate::select(choice)?;
            match command {
                SnapshotCommand::Save { name } => {
                    let dir = estate::snapshot_save(&selection, &name)?;
                    println!("saved snapshot \"{name}\" in {}", dir.display());
                }
                SnapshotCommand::List { json } => {
                    let list = estate::snapshot_list(&selection)?;
                    if json {
                        print_json(&json!({ "snapshots": list }));
                    } else if list.is_empty() {
                        println!("no snapshots");
                    } else {
                        for s in &list {
                            let saved =
                                std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.saved);
                            println!(
                                "{:<24} {}  {} bytes",
                                s.name,
                                humantime::format_rfc3339_seconds(saved),
                                s.bytes
                            );
                        }
                    }
                }
                SnapshotCommand::Restore { name } => {
                    warn_other_processes(&selection.state_dir);
                    estate::snapshot_restore(&selection, &name)?;
                    println!("restored snapshot \"{name}\"");
                }
                SnapshotCommand::Delete { name } => {
                    estate::snapshot_delete(&selection, &name)?;
                    println!("deleted snapshot \"{name}\"");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Attach { device, host } => {
            let selection = estate::select(choice)?;
            if let Some(host) = host {
                estate::attach_backup_hsm(&selection, &device, &host)?;
            }
            match estate::backup_hsm_host(&selection, &device)? {
                Some(host) => println!("Backup HSM {device} is attached to host {host}"),
                None => println!(
                    "Backup HSM {device}: the lab names no host (every host that lists its slot sees it)"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Fail { device } => ha::health(choice, &device, true),
        LabCommand::Recover { device } => ha::health(choice, &device, false),
        LabCommand::Ha(command) => ha::run(choice, command),
        LabCommand::Partition { action, partition } => {
            let present = matches!(action, PartitionAction::Add);
            estate::set_partition_present(&estate::select(choice)?, &partition, present)?;
            println!(
                "partition {partition} {}",
                if present { "added (blank)" } else { "removed" }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A Luna role as LunaCM names it ("co", "cu", ...).
fn role_name(user: cryptoki_sys::CK_USER_TYPE) -> String {
    use hsmsim::models::luna::{CKU_AUDIT, CKU_CRYPTO_USER, CKU_LIMITED_CRYPTO_OFFICER};
    match user {
        cryptoki_sys::CKU_SO => "po".into(),
        cryptoki_sys::CKU_USER => "co".into(),
        CKU_CRYPTO_USER => "cu".into(),
        CKU_LIMITED_CRYPTO_OFFICER => "lco".into(),
        CKU_AUDIT => "au".into(),
        other => format!("0x{other:X}"),
    }
}

fn print_report(r: &estate::LabReport) {
    println!("lab {} — {}", r.lab, r.description);
    match &r.lab_file {
        Some(f) => println!("file  {}", f.display()),
        None => println!("file  (built-in)"),
    }
    println!(
        "state {} (schema {})",
        r.state_dir.display(),
        r.schema_version
    );
    println!();
    println!(
        "{:<28} {:<16} {:<12} {:<34} {:<18} {:>7}",
        "partition", "device kind", "token", "label", "serial", "objects"
    );
    for d in &r.devices {
        for p in &d.partitions {
            let state = match (p.present, p.initialized) {
                (false, _) => "absent",
                (true, true) => "initialised",
                (true, false) => "blank",
            };
            println!(
                "{:<28} {:<16} {:<12} {:<34} {:<18} {:>7}",
                p.partition, d.kind, state, p.label, p.serial, p.objects
            );
        }
    }
    println!();
    for d in &r.devices {
        println!("device {:<16} {:<16} {}", d.name, d.kind, d.model);
        if let Some(p) = &d.primus {
            print_primus(p);
        }
    }
    for h in &r.hosts {
        println!();
        println!("host {}", h.name);
        for s in &h.slots {
            match &s.ha_group {
                None => println!("  slot {:<4} {}", s.slot, s.partition),
                Some(g) => println!(
                    "  slot {:<4} HA group {} ({})",
                    s.slot,
                    g.label,
                    g.members.join(", ")
                ),
            }
        }
    }
}

/// The Primus lines of `lab show`: deployment, HA role, licences, Decanus, partitions, cards.
fn print_primus(p: &estate::PrimusReport) {
    use hsmsim::models::primus::HaRole;
    let role = match p.ha {
        HaRole::Master => "Master".to_string(),
        HaRole::Clone { mode, clone_modify } => format!(
            "Clone ({}), clone_modify {}",
            match mode {
                hsmsim::models::primus::CloneMode::Ha => "HA",
                hsmsim::models::primus::CloneMode::Manual => "manual",
            },
            if clone_modify { "on" } else { "off" }
        ),
    };
    let service = match p.service {
        Some(hsmsim::models::primus::CloudService::Shared) => " shared",
        Some(hsmsim::models::primus::CloudService::Dedicated) => " dedicated",
        None => "",
    };
    println!(
        "  {}{service}, firmware {}, {role}",
        p.deployment, p.firmware
    );
    let licences: Vec<&str> = p.licences.iter().map(|l| l.title()).collect();
    println!(
        "  licences: {}",
        if licences.is_empty() {
            "none".to_string()
        } else {
            licences.join(", ")
        }
    );
    match &p.decanus {
        Some(d) => println!(
            "  decanus {}, {}",
            d.version,
            if d.device_administration {
                "paired with the device"
            } else {
                "not paired with the device"
            }
        ),
        None => println!("  decanus: none"),
    }
    for part in &p.partitions {
        let ready = if part.unmet.is_empty() {
            "migration preconditions met".to_string()
        } else {
            format!(
                "unmet: {}",
                part.unmet
                    .iter()
                    .map(|u| u.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        println!(
            "  partition {}: management access {}, Partition Administration {}; {ready}",
            part.partition,
            if part.management { "on" } else { "off" },
            if part.partition_administration {
                "paired"
            } else {
                "not paired"
            },
        );
    }
    for c in &p.cards {
        println!(
            "  card {} ({}, {}{}): {}",
            c.name,
            c.colour,
            c.kind.lab_name(),
            c.partition
                .as_ref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default(),
            if c.blocked {
                "blocked".to_string()
            } else {
                format!("{} attempts left", c.attempts_left)
            }
        );
    }
}

fn flag_names(flags: u64) -> String {
    use cryptoki_sys::*;
    let names = [
        (CKF_ENCRYPT, "encrypt"),
        (CKF_DECRYPT, "decrypt"),
        (CKF_DIGEST, "digest"),
        (CKF_SIGN, "sign"),
        (CKF_SIGN_RECOVER, "sign-recover"),
        (CKF_VERIFY, "verify"),
        (CKF_VERIFY_RECOVER, "verify-recover"),
        (CKF_GENERATE, "generate"),
        (CKF_GENERATE_KEY_PAIR, "generate-key-pair"),
        (CKF_WRAP, "wrap"),
        (CKF_UNWRAP, "unwrap"),
        (CKF_DERIVE, "derive"),
    ];
    names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

fn mechanisms(json: bool) -> ExitCode {
    if json {
        let rows: Vec<_> = MECHANISMS
            .iter()
            .map(|m| {
                json!({"mechanism": m.name, "type": m.mechanism_type, "min_key_size": m.min_key_size,
                       "max_key_size": m.max_key_size, "flags": m.flags, "functions": flag_names(m.flags)})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "mechanisms": rows })).expect("JSON")
        );
    } else {
        println!("{:<28} {:>6} {:>6}  functions", "mechanism", "min", "max");
        for m in MECHANISMS {
            println!(
                "{:<28} {:>6} {:>6}  {}",
                m.name,
                m.min_key_size,
                m.max_key_size,
                flag_names(m.flags)
            );
        }
    }
    ExitCode::SUCCESS
}

/// `hsmsim man`: hsmsim(1) on stdout, or every command's page into `dir`.
fn man(dir: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let command = Cli::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| Failure(format!("cannot render the man page: {e}")))?;
            print!("{}", String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Failure(format!(
                    "--dir {}: no such directory",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(command, &dir).map_err(|e| {
                Failure(format!("cannot write the pages in {}: {e}", dir.display()))
            })?;
            println!("man pages written to {}", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args = primus_tools::normalise_args(std::env::args().collect());
    if args.iter().skip(1).any(|a| a == "--json") {
        JSON_OUTPUT.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // A usage error: clap's message on stderr, and with --json the error object too.
            let _ = e.print();
            if json_output() {
                let first = e.to_string();
                let message = first.lines().next().unwrap_or("bad usage");
                print_json(&json!({"error": {
                    "message": message.trim_start_matches("error: "),
                    "exit": 2,
                }}));
            }
            return ExitCode::from(2);
        }
    };
    let choice = Choice {
        lab_file: cli.lab,
        host: cli.host,
        state_dir: cli.state_dir,
    };
    let result = match cli.command {
        Command::Slots { lunacm: true, .. } => lunacm_slot_list(&choice).map_err(Failure::plain),
        Command::Slots { json, .. } => slots(&choice, json).map_err(Failure::plain),
        Command::Mechanisms { json } => Ok(mechanisms(json)),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hsmsim", &mut script);
            print!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => man(dir),
        Command::Selftest { slot, pin, json } => {
            open_engine(&choice).map(|e| selftest::run(&e, slot, &pin, json))
        }
        Command::Lab(command) => lab(&choice, command).map_err(Failure::plain),
        Command::Primus(command) => primus::run(&choice, command),
        Command::Cloudhsm(command) => cloudhsm::run(&choice, command),
        Command::Conformance(command) => conformance::run(command, &choice),
        Command::PrimusTools(args) => primus_tools::run(&choice, *args),
        Command::ImportPfx(args) => import_pfx::run(&choice, *args),
        Command::Lunacm(args) => lunacm::run(&choice, args),
        Command::Lunash(args) => lunash::run(&choice, args),
        Command::Decanus(args) => decanus::run(&choice, args),
        Command::Ccc(args) => ccc::run(&choice, args),
    };
    // Finalise the PKCS#11 modules the conformance commands loaded, and remove a scratch lab.
    hsmsim_conformance::target::finish();
    match result {
        Ok(code) => code,
        Err(Failure(message)) => report_error(&message, None, 2),
    }
}
