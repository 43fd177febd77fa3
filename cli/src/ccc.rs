//! The `hsmsim ccc` commands: the simulated Thales Crypto Command Center (seed 004) from the
//! command line, one command for each operation of `hsmsim::estate::ccc` (devices,
//! organisations and users, service templates, services and their lifecycle, partition import,
//! Migrate Service) and `ccc serve`, the REST API and web console of `hsmsim_ccc_web`. Names
//! follow CCC's words in kebab-case. Every command takes `--json`. Refusals are reported as
//! every command reports one (`hsmsim: CKR_X (0x...): <sentence>` on stderr; with `--json` the
//! CLI's error object on stdout): exit 1 when CCC or a device refused the change, 2 for an
//! unknown name (`CKR_ARGUMENTS_BAD`), a refused password and a command that cannot run.
use crate::Failure;
use clap::{Args, Subcommand, ValueEnum};
use cryptoki_sys::*;
use hsmsim::base::error::{Error, err, rv_name};
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::estate::ccc::{
    self, CccImportTable, CccMigration, CccServiceStatus, ImportRowEdit, MigrationRequest,
    NewService, ServiceEdit, ServiceInitialisation,
};
use hsmsim::estate::{self, Choice, LabSelection};
use hsmsim::lab::ccc::{CccService, CccTemplate};
use hsmsim::lab::schema::{CccPerformance, CccRole, CccServiceType};
use hsmsim::models::ccc::HsmModel;
use hsmsim::models::{TokenModel, luna};
use serde_json::{Value, json};
use std::process::ExitCode;

/// The `ccc` command group and its `--json` switch (global: every command below takes it).
#[derive(Args)]
pub struct CccArgs {
    /// Print JSON instead of text: the estate's records (devices, templates, services, ...)
    /// as serde writes them. A refusal prints the CLI's error object on stdout,
    /// {"error": {"message", "exit", "code"}} ("code": the CKR_* name), with the same exit
    /// status as without --json.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CccCommand,
}

#[derive(Subcommand)]
enum CccCommand {
    /// Luna Network HSMs managed by CCC: add, authorise (CCC logs in as the HSM SO), list,
    /// remove, and take off line or back on line.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Organisations, which own services, and their users.
    #[command(subcommand)]
    Organisation(OrganisationCommand),
    /// CCC users: Administrators and Application Owners, each a member of one organisation.
    #[command(subcommand)]
    User(UserCommand),
    /// Service templates: the type, size and capabilities of the services created from them.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Crypto services: a standalone partition or an HA group of partitions on different
    /// devices; created, initialised, changed, detached or deleted.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Import Partitions: discover the partitions and HA groups CCC does not manage, edit the
    /// import table (kept between sessions) and import them as services.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Migrate Service: copy a service's objects to a new service on other devices.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Serve the REST API and the web console (Crypto Services pages) until interrupted.
    /// Listens on loopback unless told otherwise; every change needs a login.
    Serve {
        /// The address and port to listen on.
        #[arg(long, value_name = "ADDRESS:PORT", default_value = hsmsim_ccc_web::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Add a Luna Network HSM of the lab to CCC (not authorised yet).
    Add {
        /// The device, as the lab names it.
        device: DeviceId,
    },
    /// Authorise an added device: CCC logs in as its HSM SO. A wrong password counts as
    /// LunaSH's `hsm login` counts it (the third wrong one zeroises the HSM).
    Authorise {
        /// The device, as the lab names it.
        device: DeviceId,
        /// The HSM SO password (else $HSMSIM_HSM_SO_PASSWORD, else asked for without echo on
        /// a terminal). A PED device takes an empty one (--password ''): its HSM SO presents
        /// the blue PED key the lab names; a password device refuses an empty one uncounted.
        #[arg(long, value_name = "PASSWORD")]
        password: Option<String>,
    },
    /// Remove a device from CCC (refused while a service has a partition on it).
    Remove {
        /// The device, as the lab names it.
        device: DeviceId,
    },
    /// List the devices added to CCC: model, firmware, authentication, authorised, reachable.
    List,
    /// Make an added device unreachable from CCC (a simulator switch, to rehearse the
    /// refusals of a device off line, e.g. resize).
    Offline {
        /// The device, as the lab names it.
        device: DeviceId,
    },
    /// Make an added device reachable again.
    Online {
        /// The device, as the lab names it.
        device: DeviceId,
    },
}

#[derive(Subcommand)]
enum OrganisationCommand {
    /// Add an organisation (no users yet).
    Add {
        /// The organisation's name.
        name: String,
        /// Its description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Remove an organisation and its users (refused while it owns a service).
    Remove {
        /// The organisation's name.
        name: String,
    },
    /// List the organisations with their users and roles.
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user to an organisation (user names are unique in CCC).
    Add {
        /// The user's login name.
        name: String,
        /// The organisation the user is a member of.
        #[arg(long, value_name = "NAME")]
        organisation: String,
        /// The user's role.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Remove a user.
    Remove {
        /// The user's login name.
        name: String,
    },
    /// Set or replace a user's login password for the web console and the REST API (at least
    /// 8 characters).
    Password {
        /// The user's login name.
        name: String,
        /// The new password (else $HSMSIM_CCC_PASSWORD, else asked for without echo on a
        /// terminal).
        #[arg(long, value_name = "PASSWORD")]
        password: Option<String>,
    },
}

/// A CCC user's role.
#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    /// CCC Administrator: manages devices, templates and every service.
    Administrator,
    /// Application Owner: sees, deploys and may initialise the services of its organisation.
    ApplicationOwner,
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Add a service template (Create Service Template: General, Set Capabilities).
    Add {
        /// The template's name.
        name: String,
        /// The service type.
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        service_type: ServiceTypeArg,
        /// How the partitions' roles authenticate.
        #[arg(long, value_enum)]
        auth: AuthArg,
        /// The partition size in bytes (1000 to 99999999).
        #[arg(long, value_name = "BYTES")]
        size: u64,
        #[command(flatten)]
        fields: TemplateFields,
    },
    /// Copy a template under a new name (Copy Template).
    Copy {
        /// The template to copy.
        from: String,
        /// The copy's name.
        name: String,
    },
    /// Show a template (View).
    Show {
        /// The template's name.
        name: String,
    },
    /// Change a template (Edit); fields not given stay. Services created from it keep their
    /// partitions.
    Edit {
        /// The template's name.
        name: String,
        /// The service type.
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        service_type: Option<ServiceTypeArg>,
        /// How the partitions' roles authenticate.
        #[arg(long, value_enum)]
        auth: Option<AuthArg>,
        /// The partition size in bytes (1000 to 99999999).
        #[arg(long, value_name = "BYTES")]
        size: Option<u64>,
        #[command(flatten)]
        fields: TemplateFields,
    },
    /// Delete a template (its services keep its name).
    Delete {
        /// The template's name.
        name: String,
    },
    /// List the templates with their type, authentication, size and capabilities.
    List,
}

/// The template fields `add` and `edit` share.
#[derive(Args)]
struct TemplateFields {
    /// Per-Partition SO (firmware 6.22 or higher with the capability; mandatory on 7.x).
    /// Default on `add`: true.
    #[arg(long, value_name = "BOOL")]
    per_partition_so: Option<bool>,
    /// Scalable Key Storage (V1 partitions; Luna Network HSM 7 firmware 7.7.0 and above).
    /// Default on `add`: false.
    #[arg(long, value_name = "BOOL")]
    sks: Option<bool>,
    /// Secure Trusted Channel (firmware 6.24.2 or higher; not on 7.7.0 and above). Default on
    /// `add`: false.
    #[arg(long, value_name = "BOOL")]
    stc: Option<bool>,
    /// The template's description. Default on `add`: empty.
    #[arg(long)]
    description: Option<String>,
    /// The device performance asked for ("none": not selected). Default on `add`: none.
    #[arg(long, value_enum)]
    performance: Option<PerformanceArg>,
    /// The backup type of the services (simulator-defined values). Default on `add`: none.
    #[arg(long, value_enum, value_name = "TYPE")]
    backup_type: Option<BackupTypeArg>,
}

/// A template's service type.
#[derive(Clone, Copy, ValueEnum)]
enum ServiceTypeArg {
    /// HSM Partition: a standalone service on one device.
    HsmPartition,
    /// HSM Partition HA Group: an HA group on two or more devices.
    HsmPartitionHaGroup,
}

/// A template's authentication.
#[derive(Clone, Copy, ValueEnum)]
enum AuthArg {
    /// Passwords.
    Password,
    /// PED keys.
    Ped,
}

/// A template's backup type.
#[derive(Clone, Copy, ValueEnum)]
enum BackupTypeArg {
    /// No backup.
    None,
    /// Backed up to a Luna Backup HSM by cloning.
    BackupHsm,
}

/// A template's performance.
#[derive(Clone, Copy, ValueEnum)]
enum PerformanceArg {
    /// Not selected.
    None,
    Standard,
    Enterprise,
    Maximum,
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Create a service from a template on blank partitions of authorised devices (Create
    /// Service: General, Choose Template, Add Devices, Assign Organization).
    Create {
        /// The service's name (at most 28 characters).
        name: String,
        /// Its description.
        #[arg(long, default_value = "")]
        description: String,
        /// The template to create it from.
        #[arg(long, value_name = "NAME")]
        template: String,
        /// The organisation that owns it.
        #[arg(long, value_name = "NAME")]
        organisation: String,
        /// A blank partition, as "device/partition"; repeat for an HA service (one per device;
        /// the first is the primary).
        #[arg(long = "partition", value_name = "DEVICE/PARTITION", required = true)]
        partitions: Vec<PartitionId>,
    },
    /// List the services with their organisation, template, partitions and status.
    List {
        /// Only the services this CCC user sees (an Application Owner: its organisation's).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
    /// Show a service: General, Capabilities and Partitions, its status and clients.
    Show {
        /// The service's name.
        name: String,
    },
    /// Change a service's name, description or organisation; fields not given stay.
    Edit {
        /// The service's name.
        name: String,
        /// Its new name (at most 28 characters).
        #[arg(long, value_name = "NAME")]
        new_name: Option<String>,
        /// Its new description.
        #[arg(long)]
        description: Option<String>,
        /// The organisation that owns it from now on.
        #[arg(long, value_name = "NAME")]
        organisation: Option<String>,
    },
    /// Initialise a created service's partitions (Initialize Service: Define Partition,
    /// Initialize Roles). Passwords have at least 8 characters.
    Initialise {
        /// The service's name.
        name: String,
        /// The partition label.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        roles: RoleSecrets,
        /// The Partition SO password (PPSO services; else $HSMSIM_PARTITION_SO_PASSWORD, else
        /// asked for on a terminal when the service's template has Per-Partition SO).
        #[arg(long, value_name = "PASSWORD")]
        so_password: Option<String>,
    },
    /// Activate a PPSO service's Crypto Officer (non-PPSO services are refused: use LunaCM).
    Activate {
        /// The service's name.
        name: String,
        /// The Crypto Officer password (else $HSMSIM_CO_PASSWORD, else asked for on a
        /// terminal).
        #[arg(long, value_name = "PASSWORD")]
        co_password: Option<String>,
    },
    /// Add a blank partition on a device not yet in the service (a standalone service becomes
    /// an HA service); clients must register again.
    AddPartition {
        /// The service's name.
        name: String,
        /// The blank partition, as "device/partition".
        #[arg(long, value_name = "DEVICE/PARTITION")]
        partition: PartitionId,
    },
    /// Initialise the partitions added to a service with its cloning domain and credentials.
    InitialisePartitions {
        /// The service's name.
        name: String,
        #[command(flatten)]
        roles: RoleSecrets,
    },
    /// Remove a partition from an HA service: irreversible (its objects are destroyed); not
    /// the last one. Asks for confirmation on a terminal; elsewhere --yes is required.
    RemovePartition {
        /// The service's name.
        name: String,
        /// The partition to remove, as "device/partition".
        #[arg(long, value_name = "DEVICE/PARTITION")]
        partition: PartitionId,
        /// Confirm without asking: the partition and its objects are destroyed.
        #[arg(long)]
        yes: bool,
    },
    /// Change the service's partition size (refused while one of its devices is off line;
    /// rolled back when a device cannot take it).
    Resize {
        /// The service's name.
        name: String,
        /// The new size in bytes, a whole number from 1000 to 99999999 (as typed: CCC judges
        /// it).
        #[arg(long, value_name = "BYTES")]
        size: String,
    },
    /// Detach a service: CCC forgets it; its partitions and their objects stay.
    Detach {
        /// The service's name.
        name: String,
    },
    /// Delete a service: its partitions and every object in them are destroyed. Asks for
    /// confirmation on a terminal; elsewhere --yes is required.
    Delete {
        /// The service's name.
        name: String,
        /// Confirm without asking: the partitions and their objects are destroyed.
        #[arg(long)]
        yes: bool,
    },
    /// List a service's keys (its first partition's objects): label, id, class, key type.
    Keys {
        /// The service's name.
        name: String,
    },
    /// List the client hosts a service is deployed to and whether each must register again.
    Clients {
        /// The service's name.
        name: String,
    },
    /// Deploy a service to a client host (register the client, as `ccc_client` authorising
    /// the service does). A service whose partitions are not in sync (e.g. a migrated service
    /// after partitions were added) is synchronised first, with the Crypto Officer password.
    RegisterClient {
        /// The service's name.
        name: String,
        /// The client host.
        #[arg(long, value_name = "HOST")]
        client: String,
        /// The Crypto Officer password (PED: the activated challenge) that synchronises the
        /// service's partitions when they are not in sync (else $HSMSIM_CO_PASSWORD, else asked
        /// for on a terminal when needed); unused when they are in sync.
        #[arg(long, value_name = "PASSWORD")]
        co_password: Option<String>,
    },
    /// Synchronise a service's partitions (repairs a migration copy that failed on some
    /// devices, after adding those partitions).
    Synchronise {
        /// The service's name.
        name: String,
        /// The Crypto Officer password (PED: the activated challenge) opening the partitions
        /// (else $HSMSIM_CO_PASSWORD, else asked for on a terminal).
        #[arg(long, value_name = "PASSWORD")]
        co_password: Option<String>,
    },
}

/// The cloning domain and role passwords `initialise` and `initialise-partitions` take.
#[derive(Args)]
struct RoleSecrets {
    /// The cloning domain (password services; else $HSMSIM_CLONING_DOMAIN, else asked for on
    /// a terminal when the service's template uses passwords; PED services use the domain PED
    /// key).
    #[arg(long, value_name = "DOMAIN")]
    cloning_domain: Option<String>,
    /// The Crypto Officer password (else $HSMSIM_CO_PASSWORD, else asked for on a terminal).
    #[arg(long, value_name = "PASSWORD")]
    co_password: Option<String>,
    /// Initialise the Crypto User too ("Initialize Crypto User"); its password from
    /// --cu-password, else $HSMSIM_CU_PASSWORD, else asked for on a terminal.
    #[arg(long)]
    crypto_user: bool,
    /// The Crypto User password (implies --crypto-user).
    #[arg(long, value_name = "PASSWORD")]
    cu_password: Option<String>,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Get Started: discover the partitions of the authorised devices that no service has, and
    /// save them as the import table (replacing a saved one).
    Discover,
    /// Show the saved import table.
    Show,
    /// Edit a row of the import table; fields not given stay.
    Edit {
        /// The row's partition, as "device/partition".
        partition: PartitionId,
        /// The HA group field: rows with the same value become one HA service (empty: a
        /// standalone service).
        #[arg(long, value_name = "LABEL")]
        ha_group: Option<String>,
        /// The service name.
        #[arg(long, value_name = "NAME")]
        service_name: Option<String>,
        /// The service description.
        #[arg(long)]
        description: Option<String>,
        /// The organisation that will own the service.
        #[arg(long, value_name = "NAME")]
        organisation: Option<String>,
    },
    /// Delete a row from the current import (the partition stays unmanaged).
    DeleteRow {
        /// The row's partition, as "device/partition".
        partition: PartitionId,
    },
    /// Finish Imports: a service for each standalone row and each HA group; the table is
    /// emptied.
    Finish,
    /// Cancel the import: the saved table is discarded.
    Cancel,
}

#[derive(Subcommand)]
enum MigrateCommand {
    /// List the Migrate Service runs, oldest first: source, new service, targets, state.
    List,
    /// List the services Select Service offers (cloning capable and initialised).
    Services,
    /// Check the wizard's answers as the Summary's Migrate Service button does (exit 1 with
    /// CCC's reason when it would be refused).
    Check {
        #[command(flatten)]
        request: MigrationArgs,
    },
    /// Run Migrate Service with the wizard's answers, printing its progress as it comes
    /// (with --json: on stderr; the run's record on stdout). A run that fails exits 1 with
    /// CCC's message (what failed and the repair to make); `migrate status` shows its record.
    Run {
        #[command(flatten)]
        request: MigrationArgs,
    },
    /// Show a run: its progress messages and, if it failed, CCC's message.
    Status {
        /// The run's id (default: the latest).
        id: Option<u64>,
    },
    /// Find the runs a stopped process left running and resume or fail each.
    Recover,
}

/// The Migrate Service wizard's answers.
#[derive(Args)]
struct MigrationArgs {
    /// Select Service: the service to migrate (an HA service migrates from its first
    /// partition).
    #[arg(long, value_name = "NAME")]
    service: String,
    /// New Service: the HSM model every target device must be of: network-hsm-6 ("Thales
    /// Luna Network HSM 6", firmware 6.x), network-hsm-7 ("Thales Luna Network HSM 7
    /// (Firmware below 7.7.0)") or network-hsm-7-770 ("Thales Luna Network HSM 7 (Firmware
    /// 7.7.0 and above)"). Left out, the targets' model is not checked.
    #[arg(long, value_name = "MODEL", value_parser = hsm_model_parser())]
    hsm_model: Option<HsmModel>,
    /// New Service: the new service's name (at most 28 characters).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// New Service: its description.
    #[arg(long, default_value = "")]
    description: String,
    /// New Service: the organisation that owns it.
    #[arg(long, value_name = "NAME")]
    organisation: String,
    /// New Service: its partition size in bytes.
    #[arg(long, value_name = "BYTES")]
    size: u64,
    /// Select Devices: a blank partition on a target device, as "device/partition"; repeat
    /// for each target device.
    #[arg(long = "target", value_name = "DEVICE/PARTITION", required = true)]
    targets: Vec<PartitionId>,
    /// Define Partition: the partition label.
    #[arg(long)]
    label: String,
    /// Define Partition: the cloning domain (password target devices; else
    /// $HSMSIM_CLONING_DOMAIN, else asked for on a terminal when the targets use passwords).
    #[arg(long, value_name = "DOMAIN")]
    cloning_domain: Option<String>,
    /// Initialize Roles: the security officer's challenge (password target devices; else
    /// $HSMSIM_PARTITION_SO_PASSWORD, else asked for on a terminal when the targets use
    /// passwords).
    #[arg(long, value_name = "PASSWORD")]
    so_password: Option<String>,
    /// Initialize Roles: the crypto officer's challenge (else $HSMSIM_CO_PASSWORD, else asked
    /// for on a terminal).
    #[arg(long, value_name = "PASSWORD")]
    co_password: Option<String>,
}

/// `--hsm-model`: CCC's HSM models by id (listed in the errors and the completions).
fn hsm_model_parser() -> impl clap::builder::TypedValueParser<Value = HsmModel> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(HsmModel::ALL.map(HsmModel::id))
        .try_map(|id| HsmModel::parse(&id))
}

/// What a command shows: its text and its JSON.
struct Shown {
    text: String,
    json: Value,
}

/// Why a command stopped: CCC or a device refused (reported with its `CKR_*` name), the
/// person at the terminal did not confirm (a plain sentence, exit 1), or the command could not
/// run (a plain sentence, exit 2).
enum Stop {
    Refused(Error),
    Declined(String),
    Cannot(Failure),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Refused(e)
    }
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Cannot(f)
    }
}

type Outcome = Result<Shown, Stop>;

/// Runs a `hsmsim ccc` command.
pub fn run(choice: &Choice, args: CccArgs) -> Result<ExitCode, Failure> {
    let selection = estate::select(choice)?;
    let json = args.json;
    let outcome = match args.command {
        CccCommand::Serve { listen } => {
            return hsmsim_ccc_web::serve(selection, hsmsim_ccc_web::ServeOptions { listen })
                .map(|()| ExitCode::SUCCESS)
                .map_err(Failure);
        }
        CccCommand::Device(command) => device(&selection, command),
        CccCommand::Organisation(command) => organisation(&selection, command),
        CccCommand::User(command) => user(&selection, command),
        CccCommand::Template(command) => template(&selection, command),
        CccCommand::Service(command) => service(&selection, command),
        CccCommand::Import(command) => import(&selection, command),
        CccCommand::Migrate(command) => migrate(&selection, command, json),
    };
    match outcome {
        Ok(shown) => {
            if json {
                crate::print_json(&shown.json);
            } else {
                print!("{}", shown.text);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Stop::Refused(e)) => Ok(crate::report_error(
            &e.to_string(),
            Some(rv_name(e.rv)),
            exit_status(&e),
        )),
        Err(Stop::Declined(message)) => Ok(crate::report_error(&message, None, 1)),
        Err(Stop::Cannot(failure)) => Err(failure),
    }
}

/// 2 for an unknown name, a refused password and an unusable store (the command could not
/// run); 1 for a change CCC or a device refused.
fn exit_status(e: &Error) -> u8 {
    match e.rv {
        CKR_ARGUMENTS_BAD | CKR_PIN_INCORRECT | CKR_PIN_LOCKED | CKR_DEVICE_ERROR => 2,
        _ => 1,
    }
}

/// Rows under a header, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// Labelled lines ("name      value"), labels padded to the widest; an empty value is "none".
fn fields(lines: &[(&str, String)]) -> String {
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(label, value)| {
            let value = if value.is_empty() { "none" } else { value };
            format!("{label:<width$}  {value}\n")
        })
        .collect()
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

/// A list: `none` (a sentence) when there are no rows, else the table.
fn listing(header: &[&str], rows: &[Vec<String>], none: &str, json: Value) -> Outcome {
    let text = if rows.is_empty() {
        format!("{none}\n")
    } else {
        table(header, rows)
    };
    Ok(Shown { text, json })
}

fn done(text: String, json: Value) -> Outcome {
    Ok(Shown {
        text: format!("{text}\n"),
        json,
    })
}

/// The secret of `option`: `obtain`ed (given, environment, terminal) when `needed`, else only
/// when given or in the environment.
fn secret(
    given: Option<String>,
    option: &str,
    env_var: &str,
    question: &str,
    needed: bool,
) -> Result<Option<String>, Failure> {
    if needed {
        crate::secret::obtain(given, option, env_var, question).map(Some)
    } else {
        Ok(given.or_else(|| std::env::var(env_var).ok()))
    }
}

/// `--yes`, else the answer on a terminal; off a terminal without `--yes`, a sentence (exit 2).
fn confirmed(yes: bool, question: &str, what: &str) -> Result<bool, Failure> {
    if yes {
        return Ok(true);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Failure(format!(
            "{what} cannot be undone: add --yes to confirm (standard input is no terminal to ask on)"
        )));
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| Failure(format!("cannot ask for confirmation: {e}")))
}

/// A refusal to confirm: exit 1, nothing changed.
fn not_confirmed(what: &str) -> Outcome {
    Err(Stop::Declined(format!(
        "{what}: not confirmed, nothing changed"
    )))
}

fn device(selection: &LabSelection, command: DeviceCommand) -> Outcome {
    let one = |device: &DeviceId, text: String| -> Outcome {
        let found = ccc::ccc_devices(selection)?
            .into_iter()
            .find(|d| &d.device == device);
        done(text, json!({ "device": found }))
    };
    match command {
        DeviceCommand::Add { device } => {
            ccc::add_ccc_device(selection, &device)?;
            one(
                &device,
                format!("device {device} added to CCC (not authorised)"),
            )
        }
        DeviceCommand::Authorise { device, password } => {
            let password = crate::secret::obtain(
                password,
                "--password",
                "HSMSIM_HSM_SO_PASSWORD",
                &format!("HSM SO password of {device}: "),
            )?;
            ccc::authorise_ccc_device(selection, &device, password.as_bytes())?;
            one(
                &device,
                format!("device {device} authorised: CCC logs in to it as the HSM SO"),
            )
        }
        DeviceCommand::Remove { device } => {
            ccc::remove_ccc_device(selection, &device)?;
            done(
                format!("device {device} removed from CCC"),
                json!({ "removed": device }),
            )
        }
        DeviceCommand::Offline { device } => {
            ccc::set_ccc_device_offline(selection, &device, true)?;
            one(&device, format!("device {device} is off line for CCC"))
        }
        DeviceCommand::Online { device } => {
            ccc::set_ccc_device_offline(selection, &device, false)?;
            one(&device, format!("device {device} is on line for CCC"))
        }
        DeviceCommand::List => {
            let devices = ccc::ccc_devices(selection)?;
            let rows: Vec<Vec<String>> = devices
                .iter()
                .map(|d| {
                    let (firmware, auth) = match selection.device_model(&d.device) {
                        Ok(TokenModel::Luna(l)) => (
                            l.firmware.to_string(),
                            match l.auth {
                                luna::Auth::Password => "password",
                                luna::Auth::Ped => "ped",
                            }
                            .to_string(),
                        ),
                        _ => (String::new(), String::new()),
                    };
                    vec![
                        d.device.to_string(),
                        "Luna Network HSM".into(),
                        firmware,
                        auth,
                        yes_no(d.authorised),
                        if d.offline { "off line" } else { "on line" }.into(),
                    ]
                })
                .collect();
            listing(
                &[
                    "DEVICE",
                    "MODEL",
                    "FIRMWARE",
                    "AUTH",
                    "AUTHORISED",
                    "STATUS",
                ],
                &rows,
                "no devices added to CCC",
                json!({ "devices": devices }),
            )
        }
    }
}

fn organisation(selection: &LabSelection, command: OrganisationCommand) -> Outcome {
    match command {
        OrganisationCommand::Add { name, description } => {
            ccc::add_ccc_organisation(selection, &name, &description)?;
            done(
                format!("organisation \"{name}\" added"),
                json!({ "organisation": { "name": name, "description": description, "users": [] } }),
            )
        }
        OrganisationCommand::Remove { name } => {
            ccc::remove_ccc_organisation(selection, &name)?;
            done(
                format!("organisation \"{name}\" removed with its users"),
                json!({ "removed": name }),
            )
        }
        OrganisationCommand::List => {
            let organisations = ccc::ccc_organisations(selection)?;
            let mut rows = Vec::new();
            for o in &organisations {
                if o.users.is_empty() {
                    rows.push(vec![o.name.clone(), String::new(), String::new()]);
                }
                for u in &o.users {
                    rows.push(vec![
                        o.name.clone(),
                        u.name.clone(),
                        role_text(u.role).into(),
                    ]);
                }
            }
            listing(
                &["ORGANISATION", "USER", "ROLE"],
                &rows,
                "no organisations",
                json!({ "organisations": organisations }),
            )
        }
    }
}

fn role_text(role: CccRole) -> &'static str {
    match role {
        CccRole::Administrator => "Administrator",
        CccRole::ApplicationOwner => "Application Owner",
    }
}

fn user(selection: &LabSelection, command: UserCommand) -> Outcome {
    match command {
        UserCommand::Add {
            name,
            organisation,
            role,
        } => {
            let role = match role {
                RoleArg::Administrator => CccRole::Administrator,
                RoleArg::ApplicationOwner => CccRole::ApplicationOwner,
            };
            ccc::add_ccc_user(selection, &organisation, &name, role)?;
            done(
                format!(
                    "user \"{name}\" added to organisation \"{organisation}\" as {}",
                    role_text(role)
                ),
                json!({ "user": { "name": name, "role": role }, "organisation": organisation }),
            )
        }
        UserCommand::Remove { name } => {
            ccc::remove_ccc_user(selection, &name)?;
            done(
                format!("user \"{name}\" removed"),
                json!({ "removed": name }),
            )
        }
        UserCommand::Password { name, password } => {
            let password = crate::secret::obtain(
                password,
                "--password",
                "HSMSIM_CCC_PASSWORD",
                &format!("New CCC password of {name}: "),
            )?;
            ccc::set_ccc_user_password(selection, &name, &password)?;
            done(
                format!("user \"{name}\": password set"),
                json!({ "user": name, "password_set": true }),
            )
        }
    }
}

fn service_type_text(t: CccServiceType) -> &'static str {
    match t {
        CccServiceType::HsmPartition => "HSM Partition",
        CccServiceType::HsmPartitionHaGroup => "HSM Partition HA Group",
    }
}

fn auth_text(a: luna::Auth) -> &'static str {
    match a {
        luna::Auth::Password => "password",
        luna::Auth::Ped => "PED",
    }
}

fn performance_text(p: Option<CccPerformance>) -> &'static str {
    match p {
        None => "not selected",
        Some(CccPerformance::Standard) => "standard",
        Some(CccPerformance::Enterprise) => "enterprise",
        Some(CccPerformance::Maximum) => "maximum",
    }
}

/// A choice's name on the command line, which is also the estate's (serde's kebab-case) name.
fn choice_name(choice: impl ValueEnum) -> Value {
    choice
        .to_possible_value()
        .map(|v| json!(v.get_name()))
        .unwrap_or(Value::Null)
}

/// A template as JSON fields (the estate's names), to change and read back: serde gives the
/// fields a newer estate adds their defaults (simulator-defined: the CLI sets the fields it
/// knows).
type TemplateJson = serde_json::Map<String, Value>;

fn template_json(template: &CccTemplate) -> TemplateJson {
    match json!(template) {
        Value::Object(fields) => fields,
        _ => TemplateJson::new(),
    }
}

fn template_from(fields: TemplateJson) -> Result<CccTemplate, Failure> {
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| Failure(format!("cannot make the template from the options: {e}")))
}

impl TemplateFields {
    /// Sets the fields given.
    fn apply(self, template: &mut TemplateJson) {
        let mut set = |name: &str, value: Value| {
            template.insert(name.into(), value);
        };
        if let Some(v) = self.per_partition_so {
            set("per_partition_so", json!(v));
        }
        if let Some(v) = self.sks {
            set("scalable_key_storage", json!(v));
        }
        if let Some(v) = self.stc {
            set("secure_trusted_channel", json!(v));
        }
        if let Some(v) = self.description {
            set("description", json!(v));
        }
        match self.performance {
            Some(PerformanceArg::None) => set("performance", Value::Null),
            Some(p) => set("performance", choice_name(p)),
            None => {}
        }
        if let Some(v) = self.backup_type {
            set("backup_type", choice_name(v));
        }
    }
}

fn template_text(t: &CccTemplate) -> String {
    fields(&[
        ("template", t.name.clone()),
        ("description", t.description.clone()),
        ("service type", service_type_text(t.service_type).into()),
        ("authentication", auth_text(t.authentication).into()),
        ("performance", performance_text(t.performance).into()),
        ("partition size", format!("{} bytes", t.partition_size)),
        ("Per-Partition SO", yes_no(t.per_partition_so)),
        ("Scalable Key Storage", yes_no(t.scalable_key_storage)),
        ("Secure Trusted Channel", yes_no(t.secure_trusted_channel)),
        (
            "backup type",
            json!(t)["backup_type"].as_str().unwrap_or("none").into(),
        ),
    ])
}

fn template(selection: &LabSelection, command: TemplateCommand) -> Outcome {
    let shown = |t: CccTemplate, head: String| -> Outcome {
        Ok(Shown {
            text: format!("{head}\n{}", template_text(&t)),
            json: json!({ "template": t }),
        })
    };
    match command {
        TemplateCommand::Add {
            name,
            service_type,
            auth,
            size,
            fields,
        } => {
            let mut t = TemplateJson::new();
            t.insert("name".into(), json!(name));
            t.insert("description".into(), json!(""));
            t.insert("service_type".into(), choice_name(service_type));
            t.insert("authentication".into(), choice_name(auth));
            t.insert("performance".into(), Value::Null);
            t.insert("partition_size".into(), json!(size));
            t.insert("per_partition_so".into(), json!(true));
            t.insert("scalable_key_storage".into(), json!(false));
            t.insert("secure_trusted_channel".into(), json!(false));
            fields.apply(&mut t);
            let t = template_from(t)?;
            ccc::add_ccc_template(selection, t.clone())?;
            shown(t, format!("template \"{name}\" added"))
        }
        TemplateCommand::Copy { from, name } => {
            ccc::copy_ccc_template(selection, &from, &name)?;
            let t = ccc::ccc_template(selection, &name)?;
            shown(t, format!("template \"{from}\" copied as \"{name}\""))
        }
        TemplateCommand::Show { name } => {
            let t = ccc::ccc_template(selection, &name)?;
            Ok(Shown {
                text: template_text(&t),
                json: json!({ "template": t }),
            })
        }
        TemplateCommand::Edit {
            name,
            service_type,
            auth,
            size,
            fields,
        } => {
            let mut t = template_json(&ccc::ccc_template(selection, &name)?);
            if let Some(v) = service_type {
                t.insert("service_type".into(), choice_name(v));
            }
            if let Some(v) = auth {
                t.insert("authentication".into(), choice_name(v));
            }
            if let Some(v) = size {
                t.insert("partition_size".into(), json!(v));
            }
            fields.apply(&mut t);
            let t = template_from(t)?;
            ccc::edit_ccc_template(selection, t.clone())?;
            shown(t, format!("template \"{name}\" changed"))
        }
        TemplateCommand::Delete { name } => {
            ccc::delete_ccc_template(selection, &name)?;
            done(
                format!("template \"{name}\" deleted (its services keep its name)"),
                json!({ "removed": name }),
            )
        }
        TemplateCommand::List => {
            let templates = ccc::ccc_templates(selection)?;
            let rows: Vec<Vec<String>> = templates
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        service_type_text(t.service_type).into(),
                        auth_text(t.authentication).into(),
                        t.partition_size.to_string(),
                        yes_no(t.per_partition_so),
                        yes_no(t.scalable_key_storage),
                        yes_no(t.secure_trusted_channel),
                        t.description.clone(),
                    ]
                })
                .collect();
            listing(
                &[
                    "TEMPLATE",
                    "TYPE",
                    "AUTH",
                    "SIZE",
                    "PPSO",
                    "SKS",
                    "STC",
                    "DESCRIPTION",
                ],
                &rows,
                "no service templates",
                json!({ "templates": templates }),
            )
        }
    }
}

/// The status column of the Services list.
fn status_text(status: &CccServiceStatus) -> String {
    let mut words = vec![
        if !status.initialised {
            "not initialised"
        } else if status.initialised_by_ccc {
            "initialised"
        } else {
            "initialised (imported)"
        }
        .to_string(),
    ];
    if status.activated {
        words.push("activated".into());
    }
    if status.reduced {
        words.push("STC+PPSO: view, detach, delete, edit only".into());
    }
    if !status.uninitialised_partitions.is_empty() {
        words.push(format!(
            "{} partition(s) to initialise",
            status.uninitialised_partitions.len()
        ));
    }
    if status.clients.iter().any(|c| c.re_registration_needed) {
        words.push("clients must register again".into());
    }
    words.join(", ")
}

fn partitions_text(partitions: &[PartitionId]) -> String {
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A service and its status, as `show` and the changes print them.
fn service_shown(selection: &LabSelection, service: &CccService, head: &str) -> Outcome {
    let status = ccc::ccc_service_status(selection, &service.name)?;
    let template = ccc::ccc_templates(selection)?
        .into_iter()
        .find(|t| t.name == service.template);
    let size = match (status.partition_size, &template) {
        (Some(size), _) => format!("{size} bytes"),
        (None, Some(t)) => format!("{} bytes (the template's)", t.partition_size),
        (None, None) => "the template's (deleted)".into(),
    };
    let service_type = template
        .as_ref()
        .map(|t| service_type_text(t.service_type))
        .unwrap_or("(template deleted)");
    let clients: Vec<String> = status
        .clients
        .iter()
        .map(|c| {
            if c.re_registration_needed {
                format!("{} (must register again)", c.host)
            } else {
                c.host.clone()
            }
        })
        .collect();
    let mut text = if head.is_empty() {
        String::new()
    } else {
        format!("{head}\n")
    };
    text.push_str(&fields(&[
        ("service", service.name.clone()),
        ("description", service.description.clone()),
        ("organisation", service.organisation.clone()),
        ("template", service.template.clone()),
        ("service type", service_type.into()),
        ("partitions", partitions_text(&service.partitions)),
        (
            "HA group",
            service
                .ha_group
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "none".into()),
        ),
        ("partition size", size),
        ("status", status_text(&status)),
        (
            "to initialise",
            partitions_text(&status.uninitialised_partitions),
        ),
        ("clients", clients.join(", ")),
    ]));
    Ok(Shown {
        text,
        json: json!({ "service": service, "status": status }),
    })
}

/// A status after a change, with a sentence.
fn status_shown(name: &str, status: CccServiceStatus, head: String) -> Outcome {
    Ok(Shown {
        text: format!("{head}\nstatus: {}\n", status_text(&status)),
        json: json!({ "service": name, "status": status }),
    })
}

/// The service's template, if CCC still has it (to know which secrets to ask for).
fn template_of(selection: &LabSelection, service: &str) -> Option<CccTemplate> {
    let state = ccc::ccc_state(selection).ok()?;
    let name = state.service(service).ok()?.template.clone();
    state.ccc.templates.into_iter().find(|t| t.name == name)
}

impl RoleSecrets {
    /// The cloning domain, the Crypto Officer and the Crypto User passwords; the domain asked
    /// for when the service uses passwords (simulator-defined: a service whose template is
    /// deleted is taken as a password one), empty for PED services unless given.
    fn obtain(
        self,
        template: Option<&CccTemplate>,
    ) -> Result<(String, String, Option<String>), Failure> {
        let password_service = template.is_none_or(|t| t.authentication == luna::Auth::Password);
        let domain = secret(
            self.cloning_domain,
            "--cloning-domain",
            "HSMSIM_CLONING_DOMAIN",
            "Cloning domain: ",
            password_service,
        )?
        .unwrap_or_default();
        let co = crate::secret::obtain(
            self.co_password,
            "--co-password",
            "HSMSIM_CO_PASSWORD",
            "Crypto Officer password: ",
        )?;
        let cu = secret(
            self.cu_password,
            "--cu-password",
            "HSMSIM_CU_PASSWORD",
            "Crypto User password: ",
            self.crypto_user,
        )?;
        Ok((domain, co, cu))
    }
}

fn service(selection: &LabSelection, command: ServiceCommand) -> Outcome {
    match command {
        ServiceCommand::Create {
            name,
            description,
            template,
            organisation,
            partitions,
        } => {
            let service = ccc::create_ccc_service(
                selection,
                NewService {
                    name: name.clone(),
                    description,
                    template,
                    organisation,
                    partitions,
                },
            )?;
            service_shown(
                selection,
                &service,
                &format!("service \"{name}\" created; initialise it next"),
            )
        }
        ServiceCommand::List { user } => {
            let services = match user {
                Some(user) => ccc::ccc_services_of(selection, &user)?,
                None => ccc::ccc_services(selection)?,
            };
            let mut listed: Vec<(CccService, CccServiceStatus)> = Vec::new();
            for service in services {
                let status = ccc::ccc_service_status(selection, &service.name)?;
                listed.push((service, status));
            }
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|(s, status)| {
                    vec![
                        s.name.clone(),
                        s.organisation.clone(),
                        s.template.clone(),
                        partitions_text(&s.partitions),
                        status_text(status),
                    ]
                })
                .collect();
            let json: Vec<Value> = listed
                .iter()
                .map(|(s, status)| json!({ "service": s, "status": status }))
                .collect();
            listing(
                &[
                    "SERVICE",
                    "ORGANISATION",
                    "TEMPLATE",
                    "PARTITIONS",
                    "STATUS",
                ],
                &rows,
                "no services",
                json!({ "services": json }),
            )
        }
        ServiceCommand::Show { name } => {
            let service = ccc::ccc_state(selection)?.service(&name)?.clone();
            service_shown(selection, &service, "")
        }
        ServiceCommand::Edit {
            name,
            new_name,
            description,
            organisation,
        } => {
            let service = ccc::edit_ccc_service(
                selection,
                &name,
                ServiceEdit {
                    name: new_name,
                    description,
                    organisation,
                },
            )?;
            service_shown(selection, &service, &format!("service \"{name}\" changed"))
        }
        ServiceCommand::Initialise {
            name,
            label,
            roles,
            so_password,
        } => {
            let template = template_of(selection, &name);
            let ppso = template.as_ref().is_some_and(|t| t.per_partition_so);
            let so = secret(
                so_password,
                "--so-password",
                "HSMSIM_PARTITION_SO_PASSWORD",
                "Partition SO password: ",
                ppso,
            )?;
            let (domain, co, cu) = roles.obtain(template.as_ref())?;
            let status = ccc::initialise_ccc_service(
                selection,
                &name,
                ServiceInitialisation {
                    partition_label: label,
                    cloning_domain: domain,
                    partition_so_password: so,
                    crypto_officer_password: co,
                    crypto_user_password: cu,
                },
            )?;
            status_shown(&name, status, format!("service \"{name}\" initialised"))
        }
        ServiceCommand::Activate { name, co_password } => {
            let co = crate::secret::obtain(
                co_password,
                "--co-password",
                "HSMSIM_CO_PASSWORD",
                "Crypto Officer password: ",
            )?;
            let status = ccc::activate_ccc_service(selection, &name, &co)?;
            status_shown(&name, status, format!("service \"{name}\" activated"))
        }
        ServiceCommand::AddPartition { name, partition } => {
            let service = ccc::add_ccc_service_partition(selection, &name, &partition)?;
            service_shown(
                selection,
                &service,
                &format!(
                    "partition {partition} added to service \"{name}\"; initialise it next (initialise-partitions)"
                ),
            )
        }
        ServiceCommand::InitialisePartitions { name, roles } => {
            let template = template_of(selection, &name);
            let (domain, co, cu) = roles.obtain(template.as_ref())?;
            let status = ccc::initialise_ccc_added_partitions(
                selection,
                &name,
                &domain,
                &co,
                cu.as_deref(),
            )?;
            status_shown(
                &name,
                status,
                format!("the added partitions of service \"{name}\" initialised"),
            )
        }
        ServiceCommand::RemovePartition {
            name,
            partition,
            yes,
        } => {
            let what = format!("removing partition {partition} from service \"{name}\"");
            if !confirmed(
                yes,
                &format!(
                    "Remove partition {partition} from service \"{name}\"? Its objects are destroyed; this cannot be undone"
                ),
                &what,
            )? {
                return not_confirmed(&what);
            }
            let service = ccc::remove_ccc_service_partition(selection, &name, &partition)?;
            service_shown(
                selection,
                &service,
                &format!("partition {partition} removed from service \"{name}\""),
            )
        }
        ServiceCommand::Resize { name, size } => {
            let status = ccc::resize_ccc_service(selection, &name, &size)?;
            status_shown(
                &name,
                status,
                format!("service \"{name}\": partition size {size} bytes"),
            )
        }
        ServiceCommand::Detach { name } => {
            let service = ccc::detach_ccc_service(selection, &name)?;
            done(
                format!(
                    "service \"{name}\" detached: CCC forgets it; its partitions ({}) and their objects stay",
                    partitions_text(&service.partitions)
                ),
                json!({ "detached": service }),
            )
        }
        ServiceCommand::Delete { name, yes } => {
            let what = format!("deleting service \"{name}\"");
            if !confirmed(
                yes,
                &format!(
                    "Delete service \"{name}\"? Its partitions and every object in them are destroyed; this cannot be undone"
                ),
                &what,
            )? {
                return not_confirmed(&what);
            }
            let service = ccc::delete_ccc_service(selection, &name)?;
            done(
                format!(
                    "service \"{name}\" deleted: its partitions ({}) and their objects are destroyed",
                    partitions_text(&service.partitions)
                ),
                json!({ "deleted": service }),
            )
        }
        ServiceCommand::Keys { name } => {
            let keys = ccc::ccc_service_keys(selection, &name)?;
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.label.clone(),
                        k.id.clone(),
                        k.class.clone(),
                        k.key_type.clone(),
                    ]
                })
                .collect();
            listing(
                &["LABEL", "ID", "CLASS", "KEY TYPE"],
                &rows,
                &format!("service \"{name}\" has no keys"),
                json!({ "service": name, "keys": keys }),
            )
        }
        ServiceCommand::Clients { name } => {
            let status = ccc::ccc_service_status(selection, &name)?;
            let rows: Vec<Vec<String>> = status
                .clients
                .iter()
                .map(|c| vec![c.host.clone(), yes_no(c.re_registration_needed)])
                .collect();
            listing(
                &["CLIENT", "MUST REGISTER AGAIN"],
                &rows,
                &format!("service \"{name}\" is deployed to no client"),
                json!({ "service": name, "clients": status.clients }),
            )
        }
        ServiceCommand::RegisterClient {
            name,
            client,
            co_password,
        } => {
            // Asked for on a terminal only when the service needs synchronisation.
            let needed = std::io::IsTerminal::is_terminal(&std::io::stdin())
                && ccc::check_ccc_service_in_sync(selection, &name).is_err();
            let co = secret(
                co_password,
                "--co-password",
                "HSMSIM_CO_PASSWORD",
                "Crypto Officer password (the service needs synchronisation): ",
                needed,
            )?;
            let status = ccc::register_ccc_client(selection, &name, &client, co.as_deref())?;
            status_shown(
                &name,
                status,
                format!("service \"{name}\" deployed to client {client}"),
            )
        }
        ServiceCommand::Synchronise { name, co_password } => {
            let co = crate::secret::obtain(
                co_password,
                "--co-password",
                "HSMSIM_CO_PASSWORD",
                "Crypto Officer password: ",
            )?;
            let received = ccc::synchronise_ccc_service(selection, &name, &co)?;
            let copied: usize = received.iter().map(|(_, n)| n).sum();
            let per_partition: Vec<_> = received
                .iter()
                .map(|(p, n)| json!({ "partition": p.to_string(), "received": n }))
                .collect();
            done(
                format!("service \"{name}\": partitions synchronised, {copied} objects copied"),
                json!({ "synchronised": name, "partitions": per_partition }),
            )
        }
    }
}

fn import_table_shown(table_: Option<CccImportTable>, head: &str) -> Outcome {
    let mut text = if head.is_empty() {
        String::new()
    } else {
        format!("{head}\n")
    };
    match &table_ {
        None => text.push_str("no saved import table (discover partitions first)\n"),
        Some(t) => {
            text.push_str(&format!(
                "import table created {}, last edited {}\n",
                t.created, t.edited
            ));
            let rows: Vec<Vec<String>> = t
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.partition.to_string(),
                        r.ha_group.clone(),
                        r.service_name.clone(),
                        r.organisation.clone(),
                        r.description.clone(),
                    ]
                })
                .collect();
            if rows.is_empty() {
                text.push_str("no partitions to import\n");
            } else {
                text.push_str(&table(
                    &[
                        "PARTITION",
                        "HA GROUP",
                        "SERVICE NAME",
                        "ORGANISATION",
                        "DESCRIPTION",
                    ],
                    &rows,
                ));
            }
        }
    }
    Ok(Shown {
        text,
        json: json!({ "import_table": table_ }),
    })
}

fn import(selection: &LabSelection, command: ImportCommand) -> Outcome {
    match command {
        ImportCommand::Discover => {
            let t = ccc::discover_ccc_partitions(selection)?;
            import_table_shown(Some(t), "unmanaged partitions discovered")
        }
        ImportCommand::Show => import_table_shown(ccc::ccc_import_table(selection)?, ""),
        ImportCommand::Edit {
            partition,
            ha_group,
            service_name,
            description,
            organisation,
        } => {
            let t = ccc::edit_ccc_import_row(
                selection,
                &partition,
                ImportRowEdit {
                    ha_group,
                    service_name,
                    description,
                    organisation,
                },
            )?;
            import_table_shown(Some(t), &format!("row {partition} changed"))
        }
        ImportCommand::DeleteRow { partition } => {
            let t = ccc::delete_ccc_import_row(selection, &partition)?;
            import_table_shown(Some(t), &format!("row {partition} deleted from the import"))
        }
        ImportCommand::Finish => {
            let services = ccc::finish_ccc_import(selection)?;
            let rows: Vec<Vec<String>> = services
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        s.organisation.clone(),
                        partitions_text(&s.partitions),
                    ]
                })
                .collect();
            let text = format!(
                "{} service(s) imported\n{}",
                services.len(),
                if rows.is_empty() {
                    String::new()
                } else {
                    table(&["SERVICE", "ORGANISATION", "PARTITIONS"], &rows)
                }
            );
            Ok(Shown {
                text,
                json: json!({ "imported": services }),
            })
        }
        ImportCommand::Cancel => {
            ccc::cancel_ccc_import(selection)?;
            done(
                "import cancelled: the saved import table is discarded".into(),
                json!({ "import_table": null }),
            )
        }
    }
}

fn state_text(state: ccc::MigrationState) -> &'static str {
    match state {
        ccc::MigrationState::Running => "running",
        ccc::MigrationState::Succeeded => "succeeded",
        ccc::MigrationState::Failed => "failed",
    }
}

fn migration_text(m: &CccMigration) -> String {
    let mut text = fields(&[
        ("migration", m.id.to_string()),
        ("source service", m.source_service.clone()),
        ("source partition", m.source_partition.to_string()),
        ("new service", m.new_service.clone()),
        ("targets", partitions_text(&m.targets)),
        ("state", state_text(m.state).into()),
    ]);
    for line in &m.progress {
        text.push_str(&format!("  {line}\n"));
    }
    if let Some(error) = &m.error {
        text.push_str(&format!("error: {error}\n"));
    }
    text
}

impl MigrationArgs {
    /// The request, its secrets obtained; the cloning domain and the security officer's
    /// challenge asked for when every target device uses passwords.
    fn request(self, selection: &LabSelection) -> Result<MigrationRequest, Failure> {
        let password_targets = self.targets.iter().all(|p| {
            matches!(selection.device_model(p.device()),
                Ok(TokenModel::Luna(d)) if d.auth == luna::Auth::Password)
        });
        let cloning_domain = secret(
            self.cloning_domain,
            "--cloning-domain",
            "HSMSIM_CLONING_DOMAIN",
            "Cloning domain: ",
            password_targets,
        )?;
        let security_officer_challenge = secret(
            self.so_password,
            "--so-password",
            "HSMSIM_PARTITION_SO_PASSWORD",
            "Security officer challenge: ",
            password_targets,
        )?;
        let crypto_officer_challenge = crate::secret::obtain(
            self.co_password,
            "--co-password",
            "HSMSIM_CO_PASSWORD",
            "Crypto officer challenge: ",
        )?;
        Ok(MigrationRequest {
            source_service: self.service,
            hsm_model: self.hsm_model,
            name: self.name,
            description: self.description,
            organisation: self.organisation,
            partition_size: self.size,
            targets: self.targets,
            partition_label: self.label,
            cloning_domain,
            security_officer_challenge,
            crypto_officer_challenge,
        })
    }
}

fn migrate(selection: &LabSelection, command: MigrateCommand, json: bool) -> Outcome {
    match command {
        MigrateCommand::List => {
            let migrations = ccc::ccc_migrations(selection)?;
            let rows: Vec<Vec<String>> = migrations
                .iter()
                .map(|m| {
                    vec![
                        m.id.to_string(),
                        m.source_service.clone(),
                        m.source_partition.to_string(),
                        m.new_service.clone(),
                        partitions_text(&m.targets),
                        state_text(m.state).into(),
                    ]
                })
                .collect();
            listing(
                &["ID", "SOURCE", "FROM", "NEW SERVICE", "TARGETS", "STATE"],
                &rows,
                "no migrations",
                json!({ "migrations": migrations }),
            )
        }
        MigrateCommand::Services => {
            let services = ccc::ccc_migratable_services(selection)?;
            let text = if services.is_empty() {
                "no service can be migrated\n".to_string()
            } else {
                services.iter().map(|s| format!("{s}\n")).collect()
            };
            Ok(Shown {
                text,
                json: json!({ "services": services }),
            })
        }
        MigrateCommand::Check { request } => {
            let request = request.request(selection)?;
            ccc::check_ccc_migration(selection, &request)?;
            let model = request
                .hsm_model
                .map(|m| format!(", of HSM model {m}"))
                .unwrap_or_default();
            done(
                format!(
                    "service \"{}\" can be migrated to {}{model}",
                    request.source_service,
                    partitions_text(&request.targets)
                ),
                json!({
                    "service": request.source_service,
                    "hsm_model": request.hsm_model,
                    "allowed": true,
                }),
            )
        }
        MigrateCommand::Run { request } => {
            let request = request.request(selection)?;
            let mut progress = |message: &str| {
                if json {
                    eprintln!("{message}");
                } else {
                    println!("{message}");
                }
            };
            let m = ccc::migrate_ccc_service(selection, request, &mut progress)?;
            if m.state == ccc::MigrationState::Failed {
                return Err(Stop::Refused(err(
                    CKR_FUNCTION_FAILED,
                    format!(
                        "migration {} of service \"{}\" failed: {}",
                        m.id,
                        m.source_service,
                        m.error.as_deref().unwrap_or("no reason recorded")
                    ),
                )));
            }
            Ok(Shown {
                text: format!(
                    "migration {}: service \"{}\" migrated to new service \"{}\" ({})\n",
                    m.id,
                    m.source_service,
                    m.new_service,
                    state_text(m.state)
                ),
                json: json!({ "migration": m }),
            })
        }
        MigrateCommand::Status { id } => {
            let migrations = ccc::ccc_migrations(selection)?;
            let found = match id {
                Some(id) => migrations.iter().find(|m| m.id == id),
                None => migrations.last(),
            };
            let m = found.ok_or_else(|| {
                let ids: Vec<String> = migrations.iter().map(|m| m.id.to_string()).collect();
                err(
                    CKR_ARGUMENTS_BAD,
                    format!(
                        "CCC has no migration{}; migrations: {}",
                        id.map(|i| format!(" {i}")).unwrap_or_default(),
                        if ids.is_empty() {
                            "none".into()
                        } else {
                            ids.join(", ")
                        }
                    ),
                )
            })?;
            Ok(Shown {
                text: migration_text(m),
                json: json!({ "migration": m }),
            })
        }
        MigrateCommand::Recover => {
            let recovered = ccc::recover_ccc_migrations(selection)?;
            let text = if recovered.is_empty() {
                "no migration was left running\n".to_string()
            } else {
                recovered
                    .iter()
                    .map(|m| {
                        format!(
                            "migration {} of service \"{}\": {}\n",
                            m.id,
                            m.source_service,
                            state_text(m.state)
                        )
                    })
                    .collect()
            };
            Ok(Shown {
                text,
                json: json!({ "recovered": recovered }),
            })
        }
    }
}
