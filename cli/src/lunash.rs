//! `hsmsim lunash --device D`: Thales Luna's LunaSH, the Network HSM appliance shell, for the
//! HSM SO of the lab's appliance `D` (a `luna-network` device with an admin partition). The
//! language is the LunaSH console of `hsmsim_consoles`, which works on the lab's store through
//! the simulator's estate operations (no module is loaded: the appliance shell runs on the
//! HSM, not on a client). Input as `hsmsim lunacm` (`console_input`): `-c`, `-f`, standard
//! input, or the `[D] lunash:>` prompt with line editing on a terminal. Exit status: 0 every
//! command ended with `Command Result : 0 (Success)`, 1 one was refused (or a proceed prompt
//! not answered `proceed`), 2 one could not run.
use crate::Failure;
use crate::console_input::{ConsoleInput, Ran, ScriptArgs, drive};
use hsmsim::base::ids::DeviceId;
use hsmsim::estate::{self, Choice};
use hsmsim_consoles::lunash::{Shell, Status};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LunashArgs {
    /// The appliance: a `luna-network` device of the lab with an admin partition.
    #[arg(long, value_name = "DEVICE")]
    device: String,
    #[command(flatten)]
    script: ScriptArgs,
}

pub fn run(choice: &Choice, args: LunashArgs) -> Result<ExitCode, Failure> {
    let selection = estate::select(choice)?;
    let mut shell = Shell::new(selection, DeviceId::new(&args.device))
        .map_err(|e| Failure(format!("--device {}: {e}", args.device)))?;
    let mut input = ConsoleInput::new(&args.script, shell.prompt())?;
    if input.interactive() {
        println!(
            "LunaSH on the Luna Network HSM \"{}\" (simulated by hsmsim v{}). Type `help` for the commands.\n",
            args.device,
            env!("CARGO_PKG_VERSION")
        );
    }
    let worst = drive(&mut input, |line, input| {
        let reply = shell.run_line(line, input)?;
        Some(Ran {
            output: reply.render(),
            status: match reply.status {
                Status::Success => 0,
                Status::Refused(_) | Status::Aborted => 1,
                Status::Usage => 2,
            },
            exit: reply.exit,
        })
    });
    Ok(ExitCode::from(worst))
}
