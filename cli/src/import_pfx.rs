//! `hsmsim import-pfx`: seed 002's import step. Reads an AD CS CA backup (a PKCS#12/PFX with its
//! password, or a PKCS#8 private key plus its certificate, DER or PEM), pairs the key with its
//! own certificate, creates the private key (sensitive, not extractable unless asked), its
//! public key and the certificate on the token with one `CKA_ID` and label, and proves the pair
//! by signing on the token and verifying with the certificate's public key. A key already on
//! the token (an object with its `CKA_ID` or its label) is refused unless `--replace`, which
//! removes the old objects only once the new ones are made and proven. Exit 0 imported and
//! proven; 1 refused (wrong password or damaged file, no private key in the file, key and
//! certificate do not match, already imported, the token refused); 2 could not run.
use crate::{Failure, token_access};
use hsmsim::estate::Choice;
use hsmsim_conformance::pfx;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["pfx", "key"])))]
pub struct ImportPfxArgs {
    /// The token: `sim:token=LABEL` (a partition of the current lab) or a PKCS#11 URI.
    #[arg(long, value_name = "URI")]
    target: String,
    /// The PKCS#12/PFX file (the AD CS backup).
    #[arg(long, value_name = "FILE")]
    pfx: Option<PathBuf>,
    /// The PFX password (default: $HSMSIM_PFX_PASSWORD, else asked for on a terminal).
    #[arg(long)]
    password: Option<String>,
    /// A PKCS#8 private key file (DER or PEM, unencrypted), with --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The certificate file (DER or PEM), with --key.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// The label of the three objects (default: the certificate's common name).
    #[arg(long)]
    label: Option<String>,
    /// Make the private key extractable (default: not, as a CA key on an HSM should be).
    #[arg(long)]
    extractable: bool,
    /// Replace the key, public key and certificate already on the token with this key's
    /// CKA_ID or label (without it, importing the same key twice is refused).
    #[arg(long)]
    replace: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The simulator's module for `sim:` (default: $HSMSIM_MODULE, else beside this program).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    hsmsim::base::files::read(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

/// The CN of an RFC 4514 subject string ("CN=ACME Issuing CA,O=ACME" -> "ACME Issuing CA").
fn common_name(subject: &str) -> Option<String> {
    subject
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN="))
        .map(str::to_string)
}

pub fn run(choice: &Choice, args: ImportPfxArgs) -> Result<ExitCode, Failure> {
    token_access::check_module(args.module.as_deref())?;
    let read_result = match (&args.pfx, &args.key, &args.cert) {
        (Some(file), _, _) => {
            let password = crate::secret::obtain(
                args.password.clone(),
                "--password",
                "HSMSIM_PFX_PASSWORD",
                &format!("password of {}: ", file.display()),
            )?;
            pfx::from_pfx(&read(file)?, &password)
        }
        (None, Some(key), Some(cert)) => pfx::from_pkcs8_and_certificate(&read(key)?, &read(cert)?),
        _ => {
            return Err(Failure(
                "give --pfx FILE --password PW, or --key FILE --cert FILE".into(),
            ));
        }
    };
    let kc = match read_result {
        Ok(kc) => kc,
        Err(e) => {
            return Ok(crate::report_error(
                &format!("import-pfx: refused: {e}"),
                None,
                1,
            ));
        }
    };
    let (party, session) =
        token_access::open(choice, &args.target, "--target", args.module.clone())?;
    let label = args
        .label
        .clone()
        .or_else(|| common_name(&kc.subject))
        .unwrap_or_else(|| "imported CA key".into());
    // The same key imported before: refused, or (--replace) removed once the new one is proven.
    let existing = already_there(&session, &kc.id, &label)?;
    if !existing.is_empty() && !args.replace {
        return Ok(crate::report_error(
            &format!(
                "import-pfx: refused: {:?} already holds {} object(s) with this key's CKA_ID {} or the label {label:?} (imported before?); add --replace to replace them",
                party.token_label,
                existing.len(),
                hsmsim_consoles::backend::objects::hex(&kc.id)
            ),
            None,
            1,
        ));
    }
    // All or none: a pair that does not prove itself is taken off the token again.
    let tok = hsmsim_consoles::backend::calls::Token::new(&session, &party.module.raw, None);
    let outcome = pfx::import(&tok, &kc, &label, args.extractable).and_then(|imported| {
        pfx::prove_pair(&tok, &imported, &kc).inspect_err(|_| {
            for o in [imported.private, imported.public, imported.certificate] {
                let _ = session.destroy_object(o);
            }
        })?;
        Ok(imported)
    });
    let outcome = outcome.and_then(|imported| {
        for o in &existing {
            session.destroy_object(*o).map_err(|e| {
                hsmsim_consoles::backend::outcome::Stop::fail(format!(
                    "the new key is imported, but an old object could not be removed: {}",
                    hsmsim_consoles::backend::outcome::describe_error(&e)
                ))
            })?;
        }
        Ok(imported)
    });
    match outcome {
        Ok(_) => {
            if args.json {
                crate::print_json(&serde_json::json!({
                    "token": party.token_label,
                    "label": label,
                    "id": hsmsim_consoles::backend::objects::hex(&kc.id),
                    "subject": kc.subject,
                    "objects": ["private-key", "public-key", "certificate"],
                    "chain_certificates_not_imported": kc.others.len(),
                    "replaced_objects": existing.len(),
                    "proven": "a signature from the token verified with the certificate's public key",
                }));
            } else {
                println!(
                    "imported {:?} into {:?}: private key, public key and certificate",
                    label, party.token_label
                );
                println!(
                    "  CKA_ID   {}",
                    hsmsim_consoles::backend::objects::hex(&kc.id)
                );
                if !existing.is_empty() {
                    println!("  replaced {} object(s) imported before", existing.len());
                }
                println!("  subject  {}", kc.subject);
                if !kc.others.is_empty() {
                    println!(
                        "  {} chain certificate(s) of the file not imported (they belong in the Windows store)",
                        kc.others.len()
                    );
                }
                println!(
                    "  proven: a signature from the token verifies with the certificate's public key"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => token_access::refusal("import-pfx", e),
    }
}

/// The private keys, public keys and certificates on the token with `id` as `CKA_ID` or with
/// `label`: what an earlier import of the same key left.
fn already_there(
    session: &cryptoki::session::Session,
    id: &[u8],
    label: &str,
) -> Result<Vec<cryptoki::object::ObjectHandle>, Failure> {
    use cryptoki::object::{Attribute, ObjectClass};
    let mut found = Vec::new();
    for class in [
        ObjectClass::PRIVATE_KEY,
        ObjectClass::PUBLIC_KEY,
        ObjectClass::CERTIFICATE,
    ] {
        for by in [
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ] {
            let handles = session
                .find_objects(&[Attribute::Class(class), by])
                .map_err(|e| {
                    Failure(format!(
                        "cannot search the token: {}",
                        hsmsim_consoles::backend::outcome::describe_error(&e)
                    ))
                })?;
            for h in handles {
                if !found.contains(&h) {
                    found.push(h);
                }
            }
        }
    }
    Ok(found)
}
