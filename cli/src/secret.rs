//! The secrets a command needs (card PINs, setup passwords, PFX passwords) when its options
//! do not give them: from an environment variable (automation), else asked for without echo
//! (`rpassword`) when stdin is a terminal, else refused with a sentence naming both ways.
//! Token PINs of PKCS#11 URIs are resolved by the conformance crate (`pin-source`), with the
//! prompt of `token_access::terminal_prompt`.
use crate::Failure;

/// `given`, else the environment variable `env_var`, else the answer to `question` on a
/// terminal; `option` names the command-line option in the refusal.
pub fn obtain(
    given: Option<String>,
    option: &str,
    env_var: &str,
    question: &str,
) -> Result<String, Failure> {
    if let Some(value) = given {
        return Ok(value);
    }
    if let Ok(value) = std::env::var(env_var) {
        return Ok(value);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin())
        && let Ok(value) = rpassword::prompt_password(question)
        && !value.is_empty()
    {
        return Ok(value);
    }
    Err(Failure(format!(
        "{option} is needed: give it, set {env_var}, or run on a terminal to be asked for it"
    )))
}
