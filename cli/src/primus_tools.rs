//! `hsmsim primus-tools`: the Securosys Primus Tools commands of seed 001, typed as the seed
//! writes them (`CreateKey -keyname zmk -type RSA -size 2048`; single-dash flags work, as do
//! double-dash ones), against the simulator or any PKCS#11 module. `<HSM connection and
//! credentials>` is `-hsm URI`: `sim:token=LABEL` for a partition of the current lab (the PIN
//! comes from the lab), or a PKCS#11 URI with `module-path` and `pin-value`. The language
//! (grammar, operations, output) is the Primus Tools console of `hsmsim_consoles`, the one the
//! conformance runner replays the documented steps through; this adapter opens the token,
//! gives the console the disk for its files, prints its output and sets the exit code: 0 when
//! the command did its job, 1 when the token refused it (the `CKR_*` name says why), 2 when it
//! could not run (bad arguments, unreachable token, unreadable file).
use crate::{Failure, token_access};
use hsmsim::estate::Choice;
use hsmsim_consoles::backend::calls::Token;
use hsmsim_consoles::files::Files;
use hsmsim_consoles::primus_tools::{self, ConsoleError, Output, Session, grammar};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PrimusToolsArgs {
    /// The HSM connection and credentials: `sim:token=LABEL` (a partition of the current lab,
    /// e.g. sim:token=ACME-DR after `hsmsim lab init --fixture primus`), or a PKCS#11 URI
    /// ('pkcs11:token=L?module-path=/path/lib.so&pin-value=PIN').
    #[arg(long, value_name = "URI")]
    hsm: String,
    /// The simulator's module for `sim:` (default: $HSMSIM_MODULE, else libhsmsim.so beside
    /// this program).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
    #[command(subcommand)]
    command: primus_tools::Command,
}

/// Primus Tools spells flags with one dash (`-keyname`); clap wants two. Rewrites the known
/// flags after `primus-tools` (the console's and `-hsm`, `-module`), and only those, so values
/// that start with a dash stay values.
pub fn normalise_args(args: Vec<String>) -> Vec<String> {
    let Some(at) = args.iter().position(|a| a == "primus-tools") else {
        return args;
    };
    let mut args = args;
    let tail = args.split_off(at + 1);
    args.extend(grammar::with_double_dashes(tail, &["hsm", "module"]));
    args
}

/// The files the commands name, on disk (read as `hsmsim::base::files` reads: regular files only).
struct DiskFiles;

impl Files for DiskFiles {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        hsmsim::base::files::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    fn read_text(&mut self, path: &Path) -> Result<String, String> {
        hsmsim::base::files::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    fn write(&mut self, path: &Path, data: &[u8]) -> Result<(), String> {
        std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

pub fn run(choice: &Choice, args: PrimusToolsArgs) -> Result<ExitCode, Failure> {
    let (party, session) = token_access::open(choice, &args.hsm, "-hsm", args.module.clone())?;
    let tok = Token::new(&session, &party.module.raw, None);
    let mut files = DiskFiles;
    let mut console = Session::new(&tok, &party.token_label, &mut files);
    match console.run(&args.command) {
        Ok(output) => {
            match output {
                Output::Text(text) => print!("{text}"),
                Output::Bytes(bytes) => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Failure(format!("cannot write to stdout: {e}")))?,
                Output::Json(value) => crate::print_json(&value),
                Output::Nothing => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ConsoleError::Refused { command, stop }) => token_access::refusal(command, stop),
        Err(ConsoleError::Usage(message)) => Err(Failure(message)),
    }
}
