//! `hsmsim lunacm`: Thales Luna's LunaCM for a client host of the lab (`--host`: the
//! simulator's module initialised on the lab, showing that host's slots) or for any PKCS#11
//! library with Luna's `CA_*` extensions (`--module PATH`, e.g. a real Luna client library);
//! `--client 5|6|7|10` is the Luna HSM Client era (`hsmsim_consoles::lunacm::client`).
//! One command with `-c "..."`, a script with `-f FILE`, else the commands on standard input;
//! on a terminal with LunaCM's banner and `lunacm:>` prompt, with line editing and history
//! (`rustyline`). The language is the LunaCM console of `hsmsim_consoles`; this adapter opens
//! the module, feeds it lines, asks for missing passwords without echo (`rpassword`, on a
//! terminal only) and reads the proceed answers from standard input. Exit status: 0 when every
//! command ended with `No Error`, 1 when the module refused one (or a proceed prompt was not
//! answered `proceed`), 2 when one could not run (bad input, a password nobody could give).
use crate::Failure;
use crate::console_input::{ConsoleInput, Ran, ScriptArgs, drive};
use hsmsim::estate::{self, Choice, LabSelection};
use hsmsim_consoles::backend::module::{self, SimulatorLab, find_sim_module};
use hsmsim_consoles::lunacm::{ClientEra, Console, Status};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LunacmArgs {
    /// Any PKCS#11 library with Luna's CA_* extensions (a real Luna client library) instead
    /// of the simulator's module for --host.
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
    /// The Luna HSM Client whose LunaCM this is: 5, 6, 7 or 10. An older client lacks
    /// commands and options (Client 5: no `role`, no `hagroup`; before 10: no `partition
    /// archive restore -objects` or `-smkonly`) and cannot drive newer firmware or devices
    /// (7.7+ partitions, a Backup HSM 7; before 7: a Luna 6 and 7 HA group).
    #[arg(long, value_name = "MAJOR", default_value = "10", value_parser = client_era)]
    client: ClientEra,
    #[command(flatten)]
    script: ScriptArgs,
}

/// `--client 5|6|7|10`.
fn client_era(text: &str) -> Result<ClientEra, String> {
    text.parse()
        .ok()
        .and_then(ClientEra::from_major)
        .ok_or_else(|| format!("{text:?}: the Luna HSM Client is 5, 6, 7 or 10"))
}

/// The module the console drives: `--module`, else the simulator's on the chosen lab (with
/// that lab, for `partition archive` and `hagroup`).
pub(crate) fn open_module(
    choice: &Choice,
    path: Option<PathBuf>,
) -> Result<(std::sync::Arc<module::Module>, Option<LabSelection>), Failure> {
    crate::token_access::check_module(path.as_deref())?;
    match path {
        Some(path) => {
            let module =
                module::open(&path, None).map_err(|e| Failure(format!("--module: {e}")))?;
            if !module.ca_extensions {
                return Err(Failure(format!(
                    "--module {}: the library does not export Luna's CA_* extensions (no CA_GetFunctionList): LunaCM drives a Luna client library",
                    path.display()
                )));
            }
            Ok((module, None))
        }
        None => {
            let path = find_sim_module().ok_or_else(|| {
                Failure(
                    "the simulator's module libhsmsim.so is not beside hsmsim: build it (cargo build) or set HSMSIM_MODULE".into(),
                )
            })?;
            let selection = estate::select(choice)?;
            let hosts = selection.lab.host_names();
            if let Some(host) = &selection.host
                && !hosts.contains(&host.as_str())
            {
                return Err(Failure(format!(
                    "--host {host}: the lab has no such client host; its hosts: {}",
                    hosts.join(", ")
                )));
            }
            let lab = SimulatorLab {
                lab_file: selection.lab_file.clone(),
                host: selection.host.clone(),
                state_dir: selection.state_dir.clone(),
            };
            let module = module::open(&path, Some(&lab)).map_err(|e| Failure(e.0))?;
            Ok((module, Some(selection)))
        }
    }
}

pub fn run(choice: &Choice, args: LunacmArgs) -> Result<ExitCode, Failure> {
    let mut input = ConsoleInput::new(&args.script, "lunacm:>")?;
    let (module, lab) = open_module(choice, args.module)?;
    let mut console = Console::new(module)
        .map_err(Failure)?
        .with_client(args.client);
    if let Some(lab) = lab {
        console = console.with_lab(lab);
    }
    if input.interactive() {
        println!("{}", args.client.banner());
        if let Some(reply) = console.run_line("slot list", &mut input) {
            print!("{}", reply.text);
        }
        println!();
    }
    let worst = drive(&mut input, |line, input| {
        let reply = console.run_line(line, input)?;
        Some(Ran {
            output: reply.render(),
            status: match reply.status {
                Status::Done => 0,
                Status::Refused(_) | Status::Aborted => 1,
                Status::Usage(_) => 2,
            },
            exit: reply.exit,
        })
    });
    drop(console);
    Ok(ExitCode::from(worst))
}
