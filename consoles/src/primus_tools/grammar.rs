//! The Primus Tools command language, as seed 001 writes it: `CreateKey -keyname zmk -type RSA
//! -size 2048` (single-dash flags, as Primus Tools spells them; double-dash ones work too).
//! `Command` is the grammar (clap; its doc comments are `hsmsim primus-tools --help`),
//! `with_double_dashes` turns Primus's flags into clap's, and `parse_documented` reads a
//! documented command line whole: the `java -jar primus-tools.jar` prefix and the
//! `<HSM connection and credentials>` placeholder (the session is the connection) dropped, and
//! a trailing `> FILE` redirecting the command's standard output.
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create a key: -keyname NAME -type RSA|EC|AES|GENERIC|ML-DSA|ML-KEM -size SIZE [-flags
    /// extractable].
    #[command(name = "CreateKey")]
    CreateKey {
        /// The key's name (its CKA_LABEL).
        #[arg(long)]
        keyname: String,
        /// RSA, EC, AES, GENERIC, ML-DSA or ML-KEM.
        #[arg(long = "type")]
        key_type: String,
        /// Bits: RSA 1024-4096, EC 256, 384 or 521 (P-256, P-384, P-521), AES 128/192/256,
        /// GENERIC 128-4096 in multiples of 8; the parameter set of ML-DSA (44, 65, 87) and
        /// ML-KEM (512, 768, 1024), simulator-defined.
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

/// The flags of the commands, as Primus Tools spells them (one dash); `help` is clap's.
pub const FLAGS: &[&str] = &[
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
/// flags (`FLAGS` and the caller's `more`), and only those, so values that start with a dash
/// stay values.
pub fn with_double_dashes(
    args: impl IntoIterator<Item = String>,
    more: &[&str],
) -> impl Iterator<Item = String> {
    args.into_iter().map(move |a| {
        let known = a.strip_prefix('-').is_some_and(|rest| {
            !rest.starts_with('-') && (FLAGS.contains(&rest) || more.contains(&rest))
        });
        if known { format!("-{a}") } else { a }
    })
}

/// How the vendor's documents start a command line.
pub const PROGRAM: &str = "java -jar primus-tools.jar";
/// Where the vendor's documents put the connection and the credentials.
pub const CONNECTION_PLACEHOLDER: &str = "<HSM connection and credentials>";

/// A command line as the vendor documents it: the command, and the file its standard output
/// is redirected to (`GetPublicKey -keyname zmk > zmk.der`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    pub stdout_to: Option<PathBuf>,
}

#[derive(clap::Parser)]
#[command(name = "primus-tools", no_binary_name = true)]
struct Line {
    #[command(subcommand)]
    command: Command,
}

/// Parses a command line as the vendor documents it (words separated by spaces; no quoting).
pub fn parse_documented(line: &str) -> Result<Invocation, String> {
    let line = line.trim();
    let line = line.strip_prefix(PROGRAM).unwrap_or(line);
    let line = line.replacen(CONNECTION_PLACEHOLDER, " ", 1);
    let (words, stdout_to) = match line.split_once('>') {
        Some((words, file)) => match file.split_whitespace().collect::<Vec<_>>()[..] {
            [file] => (words.to_string(), Some(PathBuf::from(file))),
            _ => {
                return Err(format!("{line:?}: `>` must be followed by one file name"));
            }
        },
        None => (line.clone(), None),
    };
    let args = with_double_dashes(words.split_whitespace().map(str::to_string), &[]);
    let parsed = <Line as clap::Parser>::try_parse_from(args)
        .map_err(|e| format!("{}: {}", words.trim(), e.render().to_string().trim_end()))?;
    Ok(Invocation {
        command: parsed.command,
        stdout_to,
    })
}

impl Command {
    /// Renames the keys the command names (`-keyname`, `-wrapkeyname`) through `rename`: a
    /// replay gives each documented name the scenario's own.
    pub fn rename_keys(&mut self, rename: impl Fn(&str) -> String) {
        match self {
            Command::CreateKey { keyname, .. }
            | Command::GetPublicKey { keyname, .. }
            | Command::ImportPublicKey { keyname, .. }
            | Command::ListKeyEntry { keyname, .. } => *keyname = rename(keyname),
            Command::ExportKeyWrapped {
                wrapkeyname,
                keyname,
                ..
            }
            | Command::ImportKeyWrapped {
                wrapkeyname,
                keyname,
                ..
            } => {
                *keyname = rename(keyname);
                *wrapkeyname = rename(wrapkeyname);
            }
        }
    }

    /// The command's name, as Primus Tools spells it (`CreateKey`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateKey { .. } => "CreateKey",
            Command::GetPublicKey { .. } => "GetPublicKey",
            Command::ImportPublicKey { .. } => "ImportPublicKey",
            Command::ExportKeyWrapped { .. } => "ExportKeyWrapped",
            Command::ImportKeyWrapped { .. } => "ImportKeyWrapped",
            Command::ListKeyEntry { .. } => "ListKeyEntry",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_lines_parse_with_their_prefix_placeholder_and_redirection() {
        let line = "java -jar primus-tools.jar GetPublicKey <HSM connection and credentials> -keyname zmk > zmk.der";
        let parsed = parse_documented(line).unwrap();
        assert_eq!(
            parsed.command,
            Command::GetPublicKey {
                keyname: "zmk".into(),
                outfile: None
            }
        );
        assert_eq!(parsed.stdout_to, Some(PathBuf::from("zmk.der")));
        let create = parse_documented("CreateKey -keyname zmk -type RSA -size 2048").unwrap();
        assert_eq!(create.command.name(), "CreateKey");
        assert_eq!(create.stdout_to, None);
        assert!(parse_documented("CreateKey -keyname zmk -size 2048").is_err());
        assert!(parse_documented("Frobnicate -keyname zmk").is_err());
        assert!(parse_documented("GetPublicKey -keyname zmk > a b").is_err());
    }

    #[test]
    fn only_known_single_dash_flags_get_a_second_dash() {
        let args = ["-keyname", "-x", "--size", "-hsm", "-1"].map(String::from);
        let out: Vec<String> = with_double_dashes(args, &["hsm"]).collect();
        assert_eq!(out, ["--keyname", "-x", "--size", "--hsm", "-1"]);
    }

    #[test]
    fn renaming_touches_key_names_only() {
        let mut c = parse_documented(
            "ExportKeyWrapped -wrapkeyname zmk -keyname mig -keypassword pass-mig -outfile WrappedKey",
        )
        .unwrap()
        .command;
        c.rename_keys(|n| format!("{n}-t"));
        match c {
            Command::ExportKeyWrapped {
                wrapkeyname,
                keyname,
                keypassword,
                outfile,
                ..
            } => {
                assert_eq!((wrapkeyname.as_str(), keyname.as_str()), ("zmk-t", "mig-t"));
                assert_eq!(keypassword.as_deref(), Some("pass-mig"));
                assert_eq!(outfile, PathBuf::from("WrappedKey"));
            }
            other => panic!("{other:?}"),
        }
    }
}
