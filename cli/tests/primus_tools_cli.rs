//! Seed 001's six steps typed by hand with `hsmsim primus-tools`, as the README shows them, on a
//! `primus` lab: the key arrives with the origin's identity and flags; a non-extractable key is
//! refused at the export (exit 1, CKR_KEY_UNEXTRACTABLE) as the automatic run's negative case.
mod common;

use common::{refused, succeeded as ok};
use std::path::Path;
use std::process::Output;

/// `hsmsim` in the lab's directory, with HSMSIM_CONF pointing at its lab.
fn hsmsim(dir: &Path, args: &[&str]) -> Output {
    common::output(
        common::command()
            .current_dir(dir)
            .args(args)
            .env("HSMSIM_CONF", dir.join("lab.toml")),
    )
}

#[test]
fn seed_001_by_hand_moves_the_key_and_refuses_a_non_extractable_one() {
    let dir = common::init_lab("primus");
    let d = dir.path();
    let (o, t) = ("sim:token=ACME-PKI", "sim:token=ACME-DR");
    let tools = |hsm: &str, rest: &[&str]| {
        let mut args = vec!["primus-tools", "-hsm", hsm];
        args.extend_from_slice(rest);
        hsmsim(d, &args)
    };
    ok(&tools(
        o,
        &[
            "CreateKey",
            "-keyname",
            "mig",
            "-type",
            "AES",
            "-size",
            "256",
            "-flags",
            "extractable",
        ],
    ));
    ok(&tools(
        t,
        &[
            "CreateKey",
            "-keyname",
            "zmk",
            "-type",
            "RSA",
            "-size",
            "2048",
        ],
    ));
    let der = tools(t, &["GetPublicKey", "-keyname", "zmk"]);
    assert!(der.status.success());
    assert_eq!(der.stdout[0], 0x30, "DER SubjectPublicKeyInfo on stdout");
    std::fs::write(d.join("zmk.der"), &der.stdout).unwrap();
    ok(&tools(
        o,
        &[
            "ImportPublicKey",
            "-keyname",
            "zmk",
            "-keytype",
            "RSA",
            "-inputfile",
            "zmk.der",
        ],
    ));
    ok(&tools(
        o,
        &[
            "ExportKeyWrapped",
            "-wrapkeyname",
            "zmk",
            "-keyname",
            "mig",
            "-keypassword",
            "pass-mig",
            "-outfile",
            "WrappedKey",
        ],
    ));
    let file = std::fs::read_to_string(d.join("WrappedKey")).unwrap();
    assert!(
        file.contains("\"format\": \"hsmsim-wrapped-key/1\""),
        "{file}"
    );
    ok(&tools(
        t,
        &[
            "ImportKeyWrapped",
            "-wrapkeyname",
            "zmk",
            "-infile",
            "WrappedKey",
            "-keyname",
            "mig",
            "-keypassword",
            "pass-mig",
        ],
    ));
    let on_target = ok(&tools(
        t,
        &[
            "ListKeyEntry",
            "-keyname",
            "mig",
            "-keypassword",
            "pass-mig",
            "--json",
        ],
    ));
    let on_origin = ok(&tools(
        o,
        &[
            "ListKeyEntry",
            "-keyname",
            "mig",
            "-keypassword",
            "pass-mig",
            "--json",
        ],
    ));
    assert_eq!(on_target, on_origin, "same class, type, size, id and flags");
    assert!(on_target.contains("\"size\": \"32 bytes\""), "{on_target}");

    // The negative case: a key without the flag `extractable`.
    ok(&tools(
        o,
        &[
            "CreateKey",
            "-keyname",
            "mig2",
            "-type",
            "AES",
            "-size",
            "256",
        ],
    ));
    let export = tools(
        o,
        &[
            "ExportKeyWrapped",
            "-wrapkeyname",
            "zmk",
            "-keyname",
            "mig2",
            "-outfile",
            "W2",
        ],
    );
    refused(&export, 1, "CKR_KEY_UNEXTRACTABLE");
    assert!(!d.join("W2").exists(), "nothing written");
    // Usage errors exit 2 with a sentence.
    let bad = tools(
        o,
        &[
            "CreateKey",
            "-keyname",
            "x",
            "-type",
            "DSA",
            "-size",
            "1024",
        ],
    );
    refused(&bad, 2, "supported are");
    let no_token = hsmsim(
        d,
        &[
            "primus-tools",
            "-hsm",
            "sim",
            "ListKeyEntry",
            "-keyname",
            "mig",
        ],
    );
    assert_eq!(no_token.status.code(), Some(2));
}
