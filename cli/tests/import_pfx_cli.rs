//! `hsmsim import-pfx` on the committed PKI fixtures: a PFX (and PKCS#8 + certificate) is
//! imported, paired and proven; a wrong password, a PFX without its key and a mismatched
//! certificate are refused with exit 1 and a reason, leaving nothing on the token.
mod common;

use common::refused;
use std::path::Path;
use std::process::Output;

/// `hsmsim` on the lab's `ca-server` host (the AD CS server's view).
fn hsmsim(dir: &Path, args: &[&str]) -> Output {
    common::output(
        common::command()
            .args(args)
            .env("HSMSIM_CONF", dir.join("lab.toml"))
            .env("HSMSIM_HOST", "ca-server"),
    )
}

fn fixture(name: &str) -> String {
    format!("{}/../fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn imports_are_paired_and_proven_and_refusals_leave_nothing() {
    let dir = common::init_lab("primus");
    let d = dir.path();
    let t = "sim:token=ACME-ADCS";
    let out = hsmsim(
        d,
        &[
            "import-pfx",
            "--target",
            t,
            "--pfx",
            &fixture("adcs-ca.pfx"),
            "--password",
            "Pfx-Pass-01",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["label"], "ACME Issuing CA");
    assert_eq!(v["id"].as_str().unwrap().len(), 40);
    // The same PFX again: refused (same CKA_ID and label), with the JSON error; nothing added.
    let again = hsmsim(
        d,
        &[
            "import-pfx",
            "--target",
            t,
            "--pfx",
            &fixture("adcs-ca.pfx"),
            "--password",
            "Pfx-Pass-01",
            "--json",
        ],
    );
    refused(
        &again,
        1,
        "already holds 3 object(s) with this key's CKA_ID",
    );
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--replace"),
        "{v}"
    );
    // The same key from PKCS#8 under another label: still the same CKA_ID, refused.
    let pkcs8 = |replace: bool| {
        let mut args = vec![
            "import-pfx".to_string(),
            "--target".into(),
            t.into(),
            "--key".into(),
            fixture("adcs-ca.key.p8"),
            "--cert".into(),
            fixture("adcs-ca.crt.pem"),
            "--label".into(),
            "from-pkcs8".into(),
        ];
        if replace {
            args.push("--replace".into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        hsmsim(d, &refs)
    };
    refused(&pkcs8(false), 1, "add --replace");
    let out = pkcs8(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("replaced 3 object(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Replaced: the first import's objects are gone, one key with that CKA_ID remains.
    let old = hsmsim(
        d,
        &[
            "primus-tools",
            "-hsm",
            t,
            "ListKeyEntry",
            "-keyname",
            "ACME Issuing CA",
        ],
    );
    refused(&old, 1, "no secret or private key");
    for (args, why) in [
        (
            vec!["--pfx", "adcs-ca.pfx", "--password", "wrong"],
            "wrong password",
        ),
        (
            vec!["--pfx", "adcs-ca-nokey.pfx", "--password", "Pfx-Pass-01"],
            "no private key",
        ),
        (
            vec!["--key", "adcs-ca.key.p8", "--cert", "other.crt.pem"],
            "do not match",
        ),
    ] {
        let mut full = vec![
            "import-pfx".to_string(),
            "--target".into(),
            t.into(),
            "--label".into(),
            "refused".into(),
        ];
        for a in args {
            full.push(if a.contains('.') {
                fixture(a)
            } else {
                a.to_string()
            });
        }
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        refused(&hsmsim(d, &refs), 1, why);
    }
    // The refusals left nothing labelled "refused"; the import is there.
    let gone = hsmsim(
        d,
        &[
            "primus-tools",
            "-hsm",
            t,
            "ListKeyEntry",
            "-keyname",
            "refused",
        ],
    );
    refused(&gone, 1, "no secret or private key");
    let there = hsmsim(
        d,
        &[
            "primus-tools",
            "-hsm",
            t,
            "ListKeyEntry",
            "-keyname",
            "from-pkcs8",
            "--json",
        ],
    );
    assert!(
        there.status.success(),
        "{}",
        String::from_utf8_lossy(&there.stderr)
    );
    let entry: serde_json::Value = serde_json::from_slice(&there.stdout).unwrap();
    assert_eq!(entry["flags"]["extractable"], false);
    assert_eq!(entry["size"], "2048 bits");
}
