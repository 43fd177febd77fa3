//! What a Primus Tools command prints when it did its job ([`Output`]: the lines of text, the
//! DER bytes of `GetPublicKey`, the JSON of `ListKeyEntry -json`) and how it fails
//! ([`ConsoleError`]: the token refused it, or it could not run).
use super::operations::KeyEntry;
use crate::backend::outcome::Stop;
use std::path::Path;

/// What a command that did its job writes to its standard output.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Lines of text, each ending in a newline.
    Text(String),
    /// Bytes (`GetPublicKey` without `-outfile`: the DER key).
    Bytes(Vec<u8>),
    /// A JSON document (`-json`).
    Json(serde_json::Value),
    /// Nothing (the command wrote a file).
    Nothing,
}

/// Why a command did not do its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleError {
    /// The token refused it (`stop` says why, with the `CKR_*` name), or lacks what it needs;
    /// `command` is its Primus Tools name.
    Refused { command: &'static str, stop: Stop },
    /// It could not run: a bad argument, an unreadable or unwritable file.
    Usage(String),
}

impl ConsoleError {
    /// The reason as one line (a refusal's detail, or the usage message).
    pub fn detail(&self) -> String {
        match self {
            ConsoleError::Refused {
                stop: Stop::Fail { detail, .. } | Stop::NotApplicable(detail),
                ..
            } => detail.clone(),
            ConsoleError::Usage(message) => message.clone(),
        }
    }
}

pub fn created(key_type: &str, name: &str, size: u64, token_label: &str) -> Output {
    Output::Text(format!(
        "created {key_type} key {name:?} ({size}) on {token_label:?}\n"
    ))
}

pub fn imported_public_key(key_type: &str, name: &str, token_label: &str) -> Output {
    Output::Text(format!(
        "imported {key_type} public key {name:?} into {token_label:?}\n"
    ))
}

pub fn wrapped(name: &str, wrap_key_name: &str, file: &Path) -> Output {
    Output::Text(format!(
        "wrapped {name:?} with {wrap_key_name:?} into {}\n",
        file.display()
    ))
}

pub fn imported_key(name: &str, token_label: &str) -> Output {
    Output::Text(format!("imported {name:?} into {token_label:?}\n"))
}

/// `ListKeyEntry`: the key's class, type, size, id and flags, as text or JSON.
pub fn key_entry(entry: &KeyEntry, token_label: &str, json: bool) -> Output {
    if json {
        return Output::Json(serde_json::to_value(entry).unwrap_or_default());
    }
    let flags: Vec<String> = entry
        .flags
        .iter()
        .map(|(k, v)| if *v { k.clone() } else { format!("non{k}") })
        .collect();
    Output::Text(format!(
        "key {:?} on {token_label:?}\n  class   {}\n  type    {} ({})\n  id      {}\n  flags   {}\n",
        entry.name,
        entry.class,
        entry.key_type,
        entry.size,
        entry.id,
        flags.join(", ")
    ))
}
