//! CLI hygiene (issue 11 item 5): a closed pipe ends a command quietly; plain mistakes get a
//! plain sentence and exit 2 without `CKR_*` names; errors name the option that is wrong;
//! `--out` is checked before a run; a refused PIN is exit 2 everywhere; `--json` always prints a
//! result or an `error` object; messages name `C_*` / `CKA_*` and say what to do.
mod common;

use common::{command, init_lab, json, lab_file, output, stderr};
use std::io::Read;
use std::process::Stdio;

fn fixture(name: &str) -> String {
    format!("{}/../fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let dir = init_lab("primus");
    let lab = lab_file(dir.path());
    for args in [
        vec!["--lab", lab.as_str(), "lab", "show"],
        vec!["--lab", lab.as_str(), "lab", "show", "--json"],
        vec!["mechanisms"],
        vec!["conformance", "list"],
    ] {
        // The reader reads one line and goes away, as `| head -1` does.
        let mut child = command()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn plain_mistakes_get_a_plain_sentence_and_exit_2() {
    let dir = init_lab("primus");
    let fresh = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "lab".into(),
                "init".into(),
                "--fixture".into(),
                "nope".into(),
                "--dir".into(),
                fresh.path().join("a").display().to_string(),
            ],
            "no such built-in lab",
        ),
        (
            vec![
                "lab".into(),
                "init".into(),
                "--fixture".into(),
                "primus".into(),
                "--dir".into(),
                dir.path().display().to_string(),
            ],
            "already exists (use --force",
        ),
        (
            vec![
                "lab".into(),
                "init".into(),
                "--dir".into(),
                "/proc/hsmsim-no/lab".into(),
            ],
            "cannot create /proc/hsmsim-no",
        ),
        (
            vec![
                "--lab".into(),
                lab_file(dir.path()),
                "lab".into(),
                "restart".into(),
                "nope".into(),
            ],
            "nope",
        ),
    ];
    for (args, why) in cases {
        let out = output(command().args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: expected {why:?} in {err}");
        assert!(
            !err.contains("CKR_"),
            "{args:?}: no token answered, yet: {err}"
        );
    }
}

#[test]
fn errors_name_the_wrong_option_and_out_is_checked_before_the_run() {
    let out = output(command().args(["conformance", "run", "--module", "/nope.so"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("hsmsim: --module /nope.so"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("--origin"), "{}", stderr(&out));

    // The same for the commands that type the steps by hand.
    let dir = init_lab("primus");
    for args in [
        vec![
            "primus-tools",
            "-hsm",
            "sim:token=ACME-PKI",
            "--module",
            "/nope.so",
            "ListKeyEntry",
            "-keyname",
            "k",
        ],
        vec![
            "import-pfx",
            "--target",
            "sim:token=ACME-ADCS",
            "--module",
            "/nope.so",
            "--key",
            "k.p8",
            "--cert",
            "c.pem",
        ],
    ] {
        let out = output(
            command()
                .env("HSMSIM_CONF", lab_file(dir.path()))
                .args(&args),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("--module /nope.so: there is no such file"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    let started = std::time::Instant::now();
    let out = output(command().args(["conformance", "run", "--out", "/nope/report.json"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--out /nope/report.json: the directory /nope does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "no scenario ran");
    assert!(started.elapsed().as_secs() < 5, "refused before the run");

    let dir = tempfile::tempdir().unwrap();
    let out = output(
        command()
            .args(["conformance", "run", "--out"])
            .arg(dir.path()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the check leaves nothing"
    );
}

#[test]
fn a_refused_pin_is_exit_2_and_json_always_answers() {
    let dir = init_lab("primus");
    let lab = lab_file(dir.path());
    // selftest with a wrong PIN: exit 2 and, with --json, an error object.
    let out = output(command().args([
        "--lab",
        &lab,
        "selftest",
        "--slot",
        "0",
        "--pin",
        "wrong-pin-1",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["error"]["exit"], 2, "{v}");

    // import-pfx refused (wrong PFX password) with --json: the error object, exit 1.
    let out = output(
        command()
            .env("HSMSIM_CONF", &lab)
            .env("HSMSIM_HOST", "ca-server")
            .args([
                "import-pfx",
                "--target",
                "sim:token=ACME-ADCS",
                "--pfx",
                &fixture("adcs-ca.pfx"),
                "--password",
                "wrong",
                "--json",
            ]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("refused"),
        "{v}"
    );
    assert_eq!(v["error"]["exit"], 1);

    // A usage error with --json (unknown partition): the error object, exit 2.
    let out = output(command().args([
        "--lab",
        &lab,
        "primus",
        "policy",
        "show",
        "nope/nope",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(json(&out)["error"]["message"].is_string());

    // A usage error clap finds, with --json: the error object, exit 2.
    let out = output(command().args(["lab", "show", "--json", "--bogus"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--bogus")
    );
    assert!(stderr(&out).contains("--bogus"));

    // A lab that cannot be opened, with --json.
    let out = output(command().args(["--lab", "/nope/lab.toml", "lab", "show", "--json"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/nope/lab.toml")
    );
}

#[test]
fn refusals_name_pkcs11_calls_and_attributes_and_say_what_to_do() {
    let dir = init_lab("primus");
    let d = dir.path();
    let tools = |hsm: &str, args: &[&str]| {
        output(
            command()
                .current_dir(d)
                .env("HSMSIM_CONF", d.join("lab.toml"))
                .args(["primus-tools", "-hsm", hsm])
                .args(args),
        )
    };
    let (o, t) = ("sim:token=ACME-PKI", "sim:token=ACME-DR");
    assert!(
        tools(
            o,
            &["CreateKey", "-keyname", "k", "-type", "AES", "-size", "256"]
        )
        .status
        .success()
    );
    assert!(
        tools(
            t,
            &[
                "CreateKey",
                "-keyname",
                "zmk",
                "-type",
                "RSA",
                "-size",
                "2048"
            ]
        )
        .status
        .success()
    );
    assert!(
        tools(
            t,
            &["GetPublicKey", "-keyname", "zmk", "-outfile", "zmk.der"]
        )
        .status
        .success()
    );
    assert!(
        tools(
            o,
            &[
                "ImportPublicKey",
                "-keyname",
                "zmk",
                "-keytype",
                "RSA",
                "-inputfile",
                "zmk.der"
            ]
        )
        .status
        .success()
    );
    let out = tools(
        o,
        &[
            "ExportKeyWrapped",
            "-wrapkeyname",
            "zmk",
            "-keyname",
            "k",
            "-outfile",
            "W",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("C_WrapKey: CKR_KEY_UNEXTRACTABLE"), "{err}");
    assert!(err.contains("create it with -flags extractable"), "{err}");
    assert!(!err.contains("Function::"), "{err}");
    assert!(!d.join("W").exists(), "nothing written");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let script = common::succeeded(&output(command().args(["completions", "bash"])));
    assert!(script.contains("_hsmsim()"), "{script}");
    for word in ["conformance", "primus-tools", "import-pfx", "selftest"] {
        assert!(script.contains(word), "bash completion offers {word}");
    }
    // bash loads it and registers the completion.
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg("eval \"$(cat)\"; complete -p hsmsim")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(script.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("_hsmsim"));
    for shell in ["zsh", "fish"] {
        let s = common::succeeded(&output(command().args(["completions", shell])));
        assert!(s.contains("import-pfx"), "{shell}: {s}");
    }
    let bad = output(command().args(["completions", "tcsh"]));
    assert_eq!(bad.status.code(), Some(2));

    let page = common::succeeded(&output(command().arg("man")));
    assert!(page.contains(".TH hsmsim 1"), "{page}");
    assert!(
        page.contains("selftest") && page.contains("conformance"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    common::succeeded(&output(command().args(["man", "--dir"]).arg(dir.path())));
    let init = std::fs::read_to_string(dir.path().join("hsmsim-lab-init.1")).unwrap();
    assert!(init.contains("\\-\\-fixture"), "{init}");
    let out = output(command().args(["man", "--dir", "/nope/man"]));
    assert_eq!(out.status.code(), Some(2));
}
