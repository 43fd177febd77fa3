//! `hsmsim primus-tools`: the Securosys Primus Tools commands of seed 001, typed as the seed
//! writes them (`CreateKey -keyname zmk -type RSA -size 2048`; single-dash flags work, as do
//! double-dash ones), against the simulator or any PKCS#11 module. `<HSM connection and
//! credentials>` is `-hsm URI`: `sim:token=LABEL` for a partition of the current lab (the PIN
//! comes from the lab), or a PKCS#11 URI with `module-path` and `pin-value`. The operations are
//! `hsmsim_conformance::primus_tools`, the ones the conformance scenarios run. Exit 0 when the
//! command did its job, 1 when the token refused it (the `CKR_*` name says why), 2 when it could
//! not run (bad arguments, unreachable token, unreadable file).
use crate::{Failure, token_access};
use clap::Subcommand;
use hsmsim::estate::Choice;
use hsmsim_conformance::primus_tools::{self, Token, Transport, WrappedKeyFile};
use hsmsim_conformance::runner::Stop;
use std::io::Write;
use std::path::PathBuf;
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
    command: ToolCommand,
}

#[derive(Subcommand)]
pub enum ToolCommand {
    /// Create a key: -keyname NAME -type RSA|EC|AES|GENERIC -size BITS [-flags extractable].
    #[command(name = "CreateKey")]
    CreateKey {
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// RSA, EC, AES or GENERIC.
        #[arg(long = "type")]
        key_type: String,
        /// Bits: RSA 1024-4096, EC 256, 384 or 521 (P-256, P-384, P-521), AES 128/192/256,
        /// GENERIC 128-4096 in multiples of 8.
        #[arg(long)]
        size: u64,
        /// Comma-separated flags; `extractable` makes the key exportable (Primus keys are not
        /// extractable by default).
        #[arg(long, default_value = "")]
        flags: String,
        /// Accepted; per-key passwords are not modelled (PKCS#11 has none: simulator-defined).
        #[arg(long)]
        keypassword: Option<String>,
    },
    /// Write the public part of an RSA key as DER (SubjectPublicKeyInfo) to stdout or -outfile.
    #[command(name = "GetPublicKey")]
    GetPublicKey {
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// The file to write.
        #[arg(long)]
        outfile: Option<PathBuf>,
    },
    /// Import a public key from a DER file: -keyname NAME -keytype RSA -inputfile FILE.
    #[command(name = "ImportPublicKey")]
    ImportPublicKey {
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// The public key's type (RSA).
        #[arg(long)]
        keytype: String,
        /// The DER file (SubjectPublicKeyInfo) GetPublicKey wrote.
        #[arg(long)]
        inputfile: PathBuf,
    },
    /// Wrap a key with an imported public key and write the wrapped-key file: -wrapkeyname ZMK
    /// -keyname KEY -keypassword PW -outfile FILE.
    #[command(name = "ExportKeyWrapped")]
    ExportKeyWrapped {
        /// The RSA key to wrap with (its public half) or unwrap with (its private half).
        #[arg(long)]
        wrapkeyname: String,
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// Accepted; per-key passwords are not modelled (simulator-defined).
        #[arg(long)]
        keypassword: Option<String>,
        /// The file to write.
        #[arg(long)]
        outfile: PathBuf,
        /// How a private key travels (simulator-defined): `two-step` (RSA-OAEP + AES key wrap
        /// with padding, every token has it) or `rsa-aes` (CKM_RSA_AES_KEY_WRAP).
        #[arg(long, default_value = "two-step")]
        wrapmethod: String,
    },
    /// Unwrap a wrapped-key file under a name: -wrapkeyname ZMK -infile FILE -keyname KEY
    /// -keypassword PW.
    #[command(name = "ImportKeyWrapped")]
    ImportKeyWrapped {
        /// The RSA key to wrap with (its public half) or unwrap with (its private half).
        #[arg(long)]
        wrapkeyname: String,
        /// The wrapped-key file ExportKeyWrapped wrote.
        #[arg(long)]
        infile: PathBuf,
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// Accepted; per-key passwords are not modelled (simulator-defined).
        #[arg(long)]
        keypassword: Option<String>,
    },
    /// Show a key: class, type, size, id and flags.
    #[command(name = "ListKeyEntry")]
    ListKeyEntry {
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// Accepted; per-key passwords are not modelled (simulator-defined).
        #[arg(long)]
        keypassword: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The flags `primus-tools` takes, as Primus Tools spells them (one dash).
const FLAGS: &[&str] = &[
    "hsm",
    "module",
    "keyname",
    "type",
    "size",
    "flags",
    "keypassword",
    "outfile",
    "keytype",
    "inputfile",
    "wrapkeyname",
    "infile",
    "wrapmethod",
    "json",
    "help",
];

/// Primus Tools spells flags with one dash (`-keyname`); clap wants two. Rewrites the known
/// flags after `primus-tools`, and only those, so values that start with a dash stay values.
pub fn normalise_args(args: Vec<String>) -> Vec<String> {
    let Some(at) = args.iter().position(|a| a == "primus-tools") else {
        return args;
    };
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let known = a
                .strip_prefix('-')
                .is_some_and(|rest| !rest.starts_with('-') && FLAGS.contains(&rest));
            if i > at && known { format!("-{a}") } else { a }
        })
        .collect()
}

pub fn run(choice: &Choice, args: PrimusToolsArgs) -> Result<ExitCode, Failure> {
    let (party, session) = token_access::open(choice, &args.hsm, "-hsm", args.module.clone())?;
    let tok = Token::new(&session, &party.module.raw, None);
    let label = &party.token_label;
    match args.command {
        ToolCommand::CreateKey {
            keyname,
            key_type,
            size,
            flags,
            ..
        } => {
            let spec = primus_tools::key_spec(&key_type, size).map_err(Failure)?;
            let mut extractable = false;
            for f in flags.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                match f {
                    "extractable" => extractable = true,
                    "nonextractable" => extractable = false,
                    other => {
                        return Err(Failure(format!(
                            "-flags {other}: supported are extractable, nonextractable"
                        )));
                    }
                }
            }
            match primus_tools::create_key(&tok, &keyname, spec, extractable) {
                Ok(_) => {
                    println!("created {key_type} key {keyname:?} ({size}) on {label:?}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => token_access::refusal("CreateKey", e),
            }
        }
        ToolCommand::GetPublicKey { keyname, outfile } => {
            match primus_tools::get_public_key(&tok, &keyname) {
                Ok(der) => {
                    match outfile {
                        Some(path) => std::fs::write(&path, &der).map_err(|e| {
                            Failure(format!("cannot write {}: {e}", path.display()))
                        })?,
                        None => std::io::stdout()
                            .write_all(&der)
                            .map_err(|e| Failure(format!("cannot write to stdout: {e}")))?,
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => token_access::refusal("GetPublicKey", e),
            }
        }
        ToolCommand::ImportPublicKey {
            keyname,
            keytype,
            inputfile,
        } => {
            let der = hsmsim::base::files::read(&inputfile)
                .map_err(|e| Failure(format!("cannot read {}: {e}", inputfile.display())))?;
            match primus_tools::import_public_key(&tok, &keyname, &keytype, &der) {
                Ok(_) => {
                    println!("imported {keytype} public key {keyname:?} into {label:?}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => token_access::refusal("ImportPublicKey", e),
            }
        }
        ToolCommand::ExportKeyWrapped {
            wrapkeyname,
            keyname,
            outfile,
            wrapmethod,
            ..
        } => {
            let transport = match wrapmethod.as_str() {
                "two-step" => Transport::RsaOaepAesKeyWrapPad,
                "rsa-aes" => Transport::RsaAesKeyWrap,
                other => {
                    return Err(Failure(format!(
                        "-wrapmethod {other}: use two-step or rsa-aes"
                    )));
                }
            };
            match primus_tools::export_key_wrapped(&tok, &wrapkeyname, &keyname, transport) {
                Ok(file) => {
                    std::fs::write(&outfile, file.to_json())
                        .map_err(|e| Failure(format!("cannot write {}: {e}", outfile.display())))?;
                    println!(
                        "wrapped {keyname:?} with {wrapkeyname:?} into {}",
                        outfile.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => token_access::refusal("ExportKeyWrapped", e),
            }
        }
        ToolCommand::ImportKeyWrapped {
            wrapkeyname,
            infile,
            keyname,
            ..
        } => {
            let text = hsmsim::base::files::read_to_string(&infile)
                .map_err(|e| Failure(format!("cannot read {}: {e}", infile.display())))?;
            let file = match WrappedKeyFile::from_json(&text) {
                Ok(f) => f,
                Err(Stop::Fail { detail, .. }) | Err(Stop::NotApplicable(detail)) => {
                    return Err(Failure(format!("{}: {detail}", infile.display())));
                }
            };
            match primus_tools::import_key_wrapped(&tok, &wrapkeyname, &file, &keyname) {
                Ok(_) => {
                    println!("imported {keyname:?} into {label:?}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => token_access::refusal("ImportKeyWrapped", e),
            }
        }
        ToolCommand::ListKeyEntry { keyname, json, .. } => {
            match primus_tools::list_key_entry(&tok, &keyname) {
                Ok(entry) => {
                    if json {
                        crate::print_json(&serde_json::to_value(&entry).unwrap_or_default());
                    } else {
                        println!("key {:?} on {label:?}", entry.name);
                        println!("  class   {}", entry.class);
                        println!("  type    {} ({})", entry.key_type, entry.size);
                        println!("  id      {}", entry.id);
                        let flags: Vec<String> = entry
                            .flags
                            .iter()
                            .map(|(k, v)| if *v { k.clone() } else { format!("non{k}") })
                            .collect();
                        println!("  flags   {}", flags.join(", "));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => token_access::refusal("ListKeyEntry", e),
            }
        }
    }
}
