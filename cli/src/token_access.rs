//! Opening one token for the commands that type a procedure's steps by hand (`primus-tools`,
//! `import-pfx`): `sim:token=LABEL` is a partition of the current lab (its PIN from the lab), a
//! PKCS#11 URI any module; the session is logged in as the user. Errors are the CLI's exit-2
//! failures; `refusal` turns a token's or a file's refusal into exit 1.
use crate::Failure;
use cryptoki::session::Session;
use hsmsim::estate::Choice;
use hsmsim_conformance::target::{Environment, Party, Role};
use hsmsim_consoles::backend::module::find_sim_module;
use hsmsim_consoles::backend::outcome::Stop;
use hsmsim_consoles::backend::uri;
use std::path::PathBuf;
use std::process::ExitCode;

/// The token `target` names (option `flag` in messages), and a logged-in session on it.
pub fn open(
    choice: &Choice,
    target: &str,
    flag: &str,
    module: Option<PathBuf>,
) -> Result<(Party, Session), Failure> {
    check_module(module.as_deref())?;
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

/// `--module`, when given, must name a file: checked first, so the error names `--module`.
pub fn check_module(module: Option<&std::path::Path>) -> Result<(), Failure> {
    match module {
        Some(path) if !path.is_file() => Err(Failure(format!(
            "--module {}: there is no such file (give the path of libhsmsim.so, e.g. target/release/libhsmsim.so)",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// A refusal (exit 1, the reason on stderr and what to do, and with --json the error object);
/// a missing capability is a failure to run (exit 2).
pub fn refusal(command: &str, e: Stop) -> Result<ExitCode, Failure> {
    match e {
        Stop::Fail { detail, .. } => {
            let code = detail
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .find(|w| w.starts_with("CKR_"));
            let hint = code
                .and_then(hint)
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            Ok(crate::report_error(
                &format!("{command}: refused: {detail}{hint}"),
                code,
                1,
            ))
        }
        Stop::NotApplicable(why) => Err(Failure(format!("{command}: {why}"))),
    }
}

/// What to do about a token's refusal, where the code says enough.
fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "CKR_KEY_UNEXTRACTABLE" => {
            "the key was created non-extractable (CKA_EXTRACTABLE false); create it with -flags extractable (primus-tools CreateKey) or --extractable (import-pfx)"
        }
        "CKR_KEY_SIZE_RANGE" => {
            "the token does not support that key size; see the command's --help"
        }
        "CKR_CURVE_NOT_SUPPORTED" => {
            "the token does not support that curve; see the command's --help"
        }
        "CKR_MECHANISM_INVALID" => {
            "the token does not offer that mechanism (`hsmsim mechanisms` lists the simulator's)"
        }
        "CKR_TOKEN_WRITE_PROTECTED" => {
            "the partition is read-only here (a Primus Clone without clone_modify); use the Master"
        }
        _ => return None,
    })
}
