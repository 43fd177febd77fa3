//! `hsmsim import-pfx`: seed 002's import step. Reads an AD CS CA backup (a PKCS#12/PFX with its
//! password, or a PKCS#8 private key plus its certificate, DER or PEM), pairs the key with its
//! own certificate, creates the private key (sensitive, not extractable unless asked), its
//! public key and the certificate on the token with one `CKA_ID` and label, and proves the pair
//! by signing on the token and verifying with the certificate's public key. Exit 0 imported and
//! proven; 1 refused (wrong password or damaged file, no private key in the file, key and
//! certificate do not match, the token refused); 2 could not run.
use crate::{Failure, token_access};
use hsmsim::engine::Choice;
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
    #[arg(long, value_name = "FILE", requires = "password")]
    pfx: Option<PathBuf>,
    /// The PFX password.
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
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The simulator's module for `sim:` (default: $HSMSIM_MODULE, else beside this program).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    hsmsim::files::read(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))
}

/// The CN of an RFC 4514 subject string ("CN=ACME Issuing CA,O=ACME" -> "ACME Issuing CA").
fn common_name(subject: &str) -> Option<String> {
    subject
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN="))
        .map(str::to_string)
}

pub fn run(choice: &Choice, args: ImportPfxArgs) -> Result<ExitCode, Failure> {
    let read_result = match (&args.pfx, &args.key, &args.cert) {
        (Some(file), _, _) => {
            pfx::from_pfx(&read(file)?, args.password.as_deref().unwrap_or_default())
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
    // All or none: a pair that does not prove itself is taken off the token again.
    let outcome = pfx::import(&session, &kc, &label, args.extractable).and_then(|imported| {
        pfx::prove_pair(&session, &imported, &kc).inspect_err(|_| {
            for o in [imported.private, imported.public, imported.certificate] {
                let _ = session.destroy_object(o);
            }
        })?;
        Ok(imported)
    });
    match outcome {
        Ok(_) => {
            if args.json {
                crate::print_json(&serde_json::json!({
                    "token": party.token_label,
                    "label": label,
                    "id": hsmsim_conformance::objects::hex(&kc.id),
                    "subject": kc.subject,
                    "objects": ["private-key", "public-key", "certificate"],
                    "chain_certificates_not_imported": kc.others.len(),
                    "proven": "a signature from the token verified with the certificate's public key",
                }));
            } else {
                println!(
                    "imported {:?} into {:?}: private key, public key and certificate",
                    label, party.token_label
                );
                println!("  CKA_ID   {}", hsmsim_conformance::objects::hex(&kc.id));
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
