//! Opening one token for the commands that type a procedure's steps by hand (`primus-tools`,
//! `import-pfx`): `sim:token=LABEL` is a partition of the current lab (its PIN from the lab), a
//! PKCS#11 URI any module; the session is logged in as the user. Errors are the CLI's exit-2
//! failures; `refusal` turns a token's or a file's refusal into exit 1.
use crate::Failure;
use cryptoki::session::Session;
use hsmsim::engine::Choice;
use hsmsim_conformance::runner::Stop;
use hsmsim_conformance::target::{Environment, Party, Role, find_sim_module};
use hsmsim_conformance::uri;
use std::path::PathBuf;
use std::process::ExitCode;

/// The token `target` names (option `flag` in messages), and a logged-in session on it.
pub fn open(
    choice: &Choice,
    target: &str,
    flag: &str,
    module: Option<PathBuf>,
) -> Result<(Party, Session), Failure> {
    let name = uri::parse(target).map_err(|e| Failure(format!("{flag}: {e}")))?;
    if matches!(&name, uri::TargetName::Sim { selector } if selector.token.is_none()) {
        return Err(Failure(format!(
            "{flag} sim: name the partition, e.g. sim:token=ACME-DR (see `hsmsim slots`)"
        )));
    }
    let env = Environment::with_user_lab(module.or_else(find_sim_module), choice.clone())
        .with_pin_prompt(terminal_prompt());
    let party = env
        .party(&name, target, Role::Target, "")
        .map_err(|e| Failure(format!("{flag}: {e}")))?;
    // Pre-flight: refused without a login when the next failure would lock a role; a refused
    // PIN is one failed login, never retried.
    let session = party
        .preflight()
        .map_err(|e| Failure(format!("{flag}: {e}")))?;
    Ok((party, session))
}

/// Asks for a PIN without echo (`rpassword`) when stdin is a terminal; `None` otherwise
/// (automation gives `pin-source=FILE` or `pin-source=env:VARIABLE`).
pub fn terminal_prompt() -> hsmsim_conformance::target::PinPrompt {
    Box::new(|question: &str| {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return None;
        }
        rpassword::prompt_password(question)
            .ok()
            .filter(|pin| !pin.is_empty())
    })
}

/// A refusal (exit 1, the reason on stderr); a missing capability is a failure to run (exit 2).
pub fn refusal(command: &str, e: Stop) -> Result<ExitCode, Failure> {
    match e {
        Stop::Fail { detail, .. } => {
            eprintln!("hsmsim: {command}: refused: {detail}");
            Ok(ExitCode::from(1))
        }
        Stop::NotApplicable(why) => Err(Failure(format!("{command}: {why}"))),
    }
}
