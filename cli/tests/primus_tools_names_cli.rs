//! Primus Tools behaves like the vendor's tool (issue 11 item 6): a key name already used on
//! the partition is refused (Primus names are unique per partition), and the key sizes and
//! curves `CreateKey --help` advertises are exactly the ones it accepts.
mod common;

use common::{init_lab, output, refused, stderr, succeeded};
use std::path::Path;
use std::process::Output;

fn tools(dir: &Path, args: &[&str]) -> Output {
    output(
        common::command()
            .current_dir(dir)
            .env("HSMSIM_CONF", dir.join("lab.toml"))
            .args(["primus-tools", "-hsm", "sim:token=ACME-PKI"])
            .args(args),
    )
}

#[test]
fn a_name_already_used_on_the_partition_is_refused() {
    let dir = init_lab("primus");
    let d = dir.path();
    succeeded(&tools(
        d,
        &[
            "CreateKey",
            "-keyname",
            "k1",
            "-type",
            "AES",
            "-size",
            "256",
        ],
    ));
    let second = tools(
        d,
        &[
            "CreateKey",
            "-keyname",
            "k1",
            "-type",
            "AES",
            "-size",
            "128",
        ],
    );
    refused(
        &second,
        1,
        "a key named \"k1\" already exists on this partition",
    );
    // Another key type under the same name: refused too (names, not types, are unique).
    let rsa = tools(
        d,
        &[
            "CreateKey",
            "-keyname",
            "k1",
            "-type",
            "RSA",
            "-size",
            "2048",
        ],
    );
    refused(&rsa, 1, "already exists");
    // The name still addresses one key, the first (256 bits).
    let entry = succeeded(&tools(d, &["ListKeyEntry", "-keyname", "k1"]));
    assert!(entry.contains("AES (32 bytes)"), "{entry}");

    // ImportPublicKey under a used name: refused.
    succeeded(&tools(
        d,
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
    succeeded(&tools(
        d,
        &["GetPublicKey", "-keyname", "zmk", "-outfile", "zmk.der"],
    ));
    let import = tools(
        d,
        &[
            "ImportPublicKey",
            "-keyname",
            "k1",
            "-keytype",
            "RSA",
            "-inputfile",
            "zmk.der",
        ],
    );
    refused(&import, 1, "already exists");
}

#[test]
fn advertised_sizes_are_the_accepted_ones() {
    let help = succeeded(&tools(Path::new("."), &["CreateKey", "--help"]));
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("RSA 1024-4096, EC 256, 384 or 521 (P-256, P-384, P-521), AES 128/192/256, GENERIC 128-4096 in multiples of 8"),
        "{help}"
    );
    let dir = init_lab("primus");
    let d = dir.path();
    let accepted = [
        ("AES", "128", "AES (16 bytes)"),
        ("AES", "192", "AES (24 bytes)"),
        ("AES", "256", "AES (32 bytes)"),
        ("RSA", "1024", "1024 bits"),
        ("RSA", "4096", "4096 bits"),
        ("EC", "256", "P-256"),
        ("EC", "384", "P-384"),
        ("EC", "521", "P-521"),
        ("GENERIC", "128", "16 bytes"),
        ("GENERIC", "4096", "512 bytes"),
    ];
    for (i, (t, size, shown)) in accepted.iter().enumerate() {
        let name = format!("key-{i}");
        let out = tools(
            d,
            &["CreateKey", "-keyname", &name, "-type", t, "-size", size],
        );
        assert!(out.status.success(), "{t} {size}: {}", stderr(&out));
        let entry = succeeded(&tools(d, &["ListKeyEntry", "-keyname", &name]));
        assert!(entry.contains(shown), "{t} {size}: {entry}");
    }
    for (t, size) in [
        ("RSA", "8192"),
        ("RSA", "512"),
        ("EC", "192"),
        ("EC", "224"),
        ("AES", "32"),
        ("GENERIC", "64"),
        ("GENERIC", "4104"),
        ("GENERIC", "130"),
    ] {
        let out = tools(
            d,
            &["CreateKey", "-keyname", "nope", "-type", t, "-size", size],
        );
        refused(
            &out,
            2,
            "supported are AES 128/192/256, RSA 1024-4096, EC 256/384/521",
        );
    }
}
