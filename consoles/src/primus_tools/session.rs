//! A Primus Tools session: one logged-in token (what `<HSM connection and credentials>` opens),
//! the files the commands read and write, and, when the caller prescribes it, how
//! `ExportKeyWrapped` moves a private key. `run` carries out one command: its arguments checked,
//! its files read, the operation made, its output written or returned.
use super::grammar::{Command, Invocation};
use super::operations::{self, Transport, WrappedKeyFile};
use super::output::{self, ConsoleError, Output};
use crate::backend::calls::Token;
use crate::backend::outcome::Stop;
use crate::files::Files;
use std::path::Path;

pub struct Session<'a> {
    token: &'a Token<'a>,
    /// The token's label, as the output names it.
    token_label: &'a str,
    files: &'a mut dyn Files,
    /// How a private key travels when the caller has chosen (a replay chooses what both
    /// parties share); otherwise `-wrapmethod` says.
    private_key_transport: Option<Transport>,
}

/// The transport `-wrapmethod` names (simulator-defined).
fn wrap_method(name: &str) -> Result<Transport, ConsoleError> {
    match name {
        "two-step" => Ok(Transport::RsaOaepAesKeyWrapPad),
        "rsa-aes" => Ok(Transport::RsaAesKeyWrap),
        other => Err(ConsoleError::Usage(format!(
            "-wrapmethod {other}: use two-step or rsa-aes"
        ))),
    }
}

/// `-flags`: whether the key is extractable (`extractable`, `nonextractable`).
fn extractable(flags: &str) -> Result<bool, ConsoleError> {
    let mut extractable = false;
    for f in flags.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match f {
            "extractable" => extractable = true,
            "nonextractable" => extractable = false,
            other => {
                return Err(ConsoleError::Usage(format!(
                    "-flags {other}: supported are extractable, nonextractable"
                )));
            }
        }
    }
    Ok(extractable)
}

impl<'a> Session<'a> {
    pub fn new(token: &'a Token<'a>, token_label: &'a str, files: &'a mut dyn Files) -> Self {
        Session {
            token,
            token_label,
            files,
            private_key_transport: None,
        }
    }

    /// `ExportKeyWrapped` moves a private key by `transport`, whatever `-wrapmethod` says.
    pub fn with_private_key_transport(mut self, transport: Transport) -> Self {
        self.private_key_transport = Some(transport);
        self
    }

    /// Runs a documented command line; its output goes to the file it is redirected to, if any.
    pub fn run_invocation(&mut self, invocation: &Invocation) -> Result<Output, ConsoleError> {
        let out = self.run(&invocation.command)?;
        let Some(path) = &invocation.stdout_to else {
            return Ok(out);
        };
        let bytes = match out {
            Output::Text(text) => text.into_bytes(),
            Output::Bytes(bytes) => bytes,
            Output::Json(value) => format!(
                "{}\n",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            )
            .into_bytes(),
            Output::Nothing => Vec::new(),
        };
        self.write(path, &bytes)?;
        Ok(Output::Nothing)
    }

    fn read(&mut self, path: &Path) -> Result<Vec<u8>, ConsoleError> {
        self.files.read(path).map_err(ConsoleError::Usage)
    }

    fn write(&mut self, path: &Path, data: &[u8]) -> Result<(), ConsoleError> {
        self.files.write(path, data).map_err(ConsoleError::Usage)
    }

    /// Runs one command.
    pub fn run(&mut self, command: &Command) -> Result<Output, ConsoleError> {
        let tok = self.token;
        let label = self.token_label;
        let refused = |stop: Stop| ConsoleError::Refused {
            command: command.name(),
            stop,
        };
        match command {
            Command::CreateKey {
                keyname,
                key_type,
                size,
                flags,
                ..
            } => {
                let spec = operations::key_spec(key_type, *size).map_err(ConsoleError::Usage)?;
                let extractable = extractable(flags)?;
                operations::create_key(tok, keyname, spec, extractable).map_err(refused)?;
                Ok(output::created(key_type, keyname, *size, label))
            }
            Command::GetPublicKey { keyname, outfile } => {
                let der = operations::get_public_key(tok, keyname).map_err(refused)?;
                match outfile {
                    Some(path) => {
                        self.write(path, &der)?;
                        Ok(Output::Nothing)
                    }
                    None => Ok(Output::Bytes(der)),
                }
            }
            Command::ImportPublicKey {
                keyname,
                keytype,
                inputfile,
            } => {
                let der = self.read(inputfile)?;
                operations::import_public_key(tok, keyname, keytype, &der).map_err(refused)?;
                Ok(output::imported_public_key(keytype, keyname, label))
            }
            Command::ExportKeyWrapped {
                wrapkeyname,
                keyname,
                outfile,
                wrapmethod,
                ..
            } => {
                let transport = match self.private_key_transport {
                    Some(transport) => transport,
                    None => wrap_method(wrapmethod)?,
                };
                let file = operations::export_key_wrapped(tok, wrapkeyname, keyname, transport)
                    .map_err(refused)?;
                self.write(outfile, file.to_json().as_bytes())?;
                Ok(output::wrapped(keyname, wrapkeyname, outfile))
            }
            Command::ImportKeyWrapped {
                wrapkeyname,
                infile,
                keyname,
                ..
            } => {
                let text = self.files.read_text(infile).map_err(ConsoleError::Usage)?;
                let file = match WrappedKeyFile::from_json(&text) {
                    Ok(f) => f,
                    Err(Stop::Fail { detail, .. }) | Err(Stop::NotApplicable(detail)) => {
                        return Err(ConsoleError::Usage(format!(
                            "{}: {detail}",
                            infile.display()
                        )));
                    }
                };
                operations::import_key_wrapped(tok, wrapkeyname, &file, keyname)
                    .map_err(refused)?;
                Ok(output::imported_key(keyname, label))
            }
            Command::ListKeyEntry { keyname, json, .. } => {
                let entry = operations::list_key_entry(tok, keyname).map_err(refused)?;
                Ok(output::key_entry(&entry, label, *json))
            }
        }
    }
}
