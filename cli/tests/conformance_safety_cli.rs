//! `hsmsim conformance run` against a "real" token never harms it: a renamed copy of the
//! simulator's module (loaded as any vendor's module, not as `sim`) on a lab of the `default`
//! fixture (token `hsmsim-default`, user PIN 12345678, 10 failed logins lock the user) stands in
//! for a vendor's HSM. Covered: the pre-flight login (a wrong PIN costs exactly one failed login
//! and exits 2; a token at its last try is refused with no attempt) and `--dry-run`.
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A "real" token: a lab of the `default` fixture and a renamed copy of libhsmsim.so.
struct RealToken {
    lab: tempfile::TempDir,
    module: PathBuf,
}

impl RealToken {
    fn new() -> RealToken {
        let lab = init_lab("default");
        let module = lab.path().join("libvendorhsm.so");
        std::fs::copy(common::sim_module(), &module).unwrap();
        RealToken { lab, module }
    }

    fn uri(&self, pin: &str) -> String {
        format!(
            "pkcs11:token=hsmsim-default?module-path={}&pin-value={pin}",
            self.module.display()
        )
    }

    /// `hsmsim ARGS` with the module's lab in its environment (as a vendor's module reads its
    /// configuration).
    fn run(&self, args: &[&str]) -> Output {
        let mut c = command();
        c.env("HSMSIM_CONF", lab_file(self.lab.path()))
            .env("HSMSIM_STATE_DIR", self.lab.path())
            .args(args);
        output(&mut c)
    }

    /// A one-party run of the AD CS import against the token.
    fn conformance(&self, pin: &str, extra: &[&str]) -> Output {
        let uri = self.uri(pin);
        let mut args = vec![
            "conformance",
            "run",
            "--procedure",
            "primus.adcs-key-import",
            "--variant",
            "rsa-2048-pfx",
            "--target",
            &uri,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn state(&self) -> &Path {
        self.lab.path()
    }
}

#[test]
fn wrong_pin_costs_one_failed_login_and_final_try_is_never_tried() {
    let token = RealToken::new();
    // Ten failed logins lock the user: runs 1..=9 each cost exactly one (the message says a
    // login was refused); had any run cost two, the token would say FINAL_TRY or LOCKED earlier.
    for run in 1..=9 {
        let out = token.conformance("99999999", &[]);
        refused(&out, 2, "could not start: --target:");
        let err = stderr(&out);
        assert!(
            err.contains("refused the PIN") && err.contains("CKR_PIN_INCORRECT"),
            "run {run}: {err}"
        );
        assert!(err.contains("\"hsmsim-default\""), "names the token: {err}");
        assert!(!err.contains("99999999"), "the PIN is never printed: {err}");
        assert!(out.stdout.is_empty(), "no report: no scenario ran");
    }
    // Nine failures: the next would lock the user. Refused with no attempt, twice (a second
    // refusal still says FINAL_TRY, not LOCKED: the first made no attempt).
    for _ in 0..2 {
        let out = token.conformance("99999999", &[]);
        refused(&out, 2, "CKF_USER_PIN_FINAL_TRY");
        assert!(stderr(&out).contains("no login was attempted"));
    }
    // Even the right PIN is not tried: a rehearsal never risks the last try.
    let out = token.conformance("12345678", &[]);
    refused(&out, 2, "CKF_USER_PIN_FINAL_TRY");
    assert!(token.state().exists());
}

#[test]
fn right_pin_runs_after_one_preflight_login() {
    let token = RealToken::new();
    let out = token.conformance("12345678", &["--format", "json"]);
    let v = json(&out);
    assert_eq!(v["summary"]["pass"], 1, "{v}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("12345678"),
        "the report never holds the PIN"
    );
}

/// The object count of each partition of the token's lab (`lab show --json`).
fn object_counts(token: &RealToken) -> Vec<u64> {
    let v = json(&token.run(&["lab", "show", "--json"]));
    v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["partitions"].as_array().unwrap().clone())
        .map(|p| p["objects"].as_u64().unwrap())
        .collect()
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let token = RealToken::new();
    let before = object_counts(&token);
    // Ten dry runs with a wrong PIN: had any logged in, the user would be locked (10 failures)
    // and the real run below would be refused.
    for _ in 0..10 {
        let out = token.conformance("99999999", &["--dry-run"]);
        let text = succeeded(&out);
        assert!(text.starts_with("dry run:"), "{text}");
        assert!(
            text.contains("primus.adcs-key-import [rsa-2048-pfx]"),
            "{text}"
        );
        assert!(
            text.contains("3. [target] Import the private key"),
            "{text}"
        );
        assert!(
            text.contains("would create on target token \"hsmsim-default\""),
            "{text}"
        );
        assert!(
            text.contains("ACME Issuing CA-<run tag>-rsa-2048-pfx: the CA's private key"),
            "{text}"
        );
        assert!(text.contains("would destroy on target"), "{text}");
        assert!(
            !text.contains("99999999"),
            "the PIN is never printed: {text}"
        );
    }
    assert_eq!(object_counts(&token), before, "a dry run creates nothing");
    // No failed login was counted: a wrong PIN now costs the first failure (not FINAL_TRY).
    refused(&token.conformance("99999999", &[]), 2, "refused the PIN");
    let out = token.conformance("12345678", &["--format", "json"]);
    assert_eq!(json(&out)["summary"]["pass"], 1);
    assert_eq!(object_counts(&token), before, "the real run cleaned up");
}

#[test]
fn dry_run_of_a_migration_names_both_parties_objects() {
    let out = output(command().args([
        "conformance",
        "run",
        "--dry-run",
        "--procedure",
        "primus.key-migration.symmetric",
    ]));
    let text = succeeded(&out);
    for want in [
        "primus.key-migration.symmetric [aes-128]",
        "primus.key-migration.symmetric [negative:non-extractable]",
        "would create on origin token \"ACME-PKI\" (sim)",
        "mig-<run tag>-aes-128: the secret key to migrate (precondition)",
        "zmk-<run tag>-aes-128: RSA-2048 transport key pair (step 1)",
        "mig-<run tag>-aes-128: the migrated copy (step 5)",
        "4. [origin] Wrap and export the key to migrate (mig) with zmk",
        "java -jar primus-tools.jar ExportKeyWrapped",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    // The negative case's export is refused: no copy reaches the target.
    let negative = text
        .split("primus.key-migration.symmetric [negative:non-extractable]")
        .nth(1)
        .unwrap();
    assert!(!negative.contains("the migrated copy"), "{negative}");
}

type Stderr = std::io::BufReader<std::process::ChildStderr>;

/// A two-party run (origin `sim`, target the "real" token) of every key-migration scenario,
/// started in the background with its temporary files under `tmp` and its JSON report in
/// `report`; returns once the first scenario has finished and the second one (one job when a
/// real module takes part) has had a moment to start, with the run's stderr to read on.
fn start_migration_run(
    token: &RealToken,
    tmp: &Path,
    report: &Path,
) -> (std::process::Child, Stderr) {
    let mut c = command();
    c.env("HSMSIM_CONF", lab_file(token.lab.path()))
        .env("HSMSIM_STATE_DIR", token.lab.path())
        .env("TMPDIR", tmp)
        .args([
            "conformance",
            "run",
            "--procedure",
            "primus.key-migration.*",
            "--target",
            &token.uri("12345678"),
            "--format",
            "json",
            "--out",
        ])
        .arg(report)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let first = read_until(&mut err, "] primus.key-migration.");
    assert!(first.contains("[1/21] primus.key-migration."), "{first}");
    // A scenario takes 100 ms or more: the second one is running.
    std::thread::sleep(std::time::Duration::from_millis(30));
    (child, err)
}

/// Reads stderr up to and including the first line that contains `pattern` (or to its end).
fn read_until(err: &mut Stderr, pattern: &str) -> String {
    use std::io::BufRead;
    let mut text = String::new();
    loop {
        let start = text.len();
        if err.read_line(&mut text).unwrap() == 0 || text[start..].contains(pattern) {
            return text;
        }
    }
}

fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_lets_the_running_scenario_clean_up_and_writes_an_interrupted_report() {
    let token = RealToken::new();
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let before = object_counts(&token);
    let (mut child, mut err) = start_migration_run(&token, &scratch, &report);
    interrupt(&child);
    let err = read_until(&mut err, "\u{0}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("hsmsim: interrupted: no further scenario starts"),
        "{err}"
    );
    assert!(
        err.contains(" of 21 scenarios ran (report marked interrupted)"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["interrupted"], true, "{v}");
    let ran = v["results"].as_array().unwrap().len();
    // The finished scenario and (unless the signal came before it started) the running one,
    // which finished.
    assert!((1..=2).contains(&ran), "{v}");
    assert_eq!(v["summary"]["pass"], ran, "{v}");
    let planned = output(command().args([
        "conformance",
        "run",
        "--dry-run",
        "--procedure",
        "primus.key-migration.*",
    ]));
    let planned = succeeded(&planned).matches("\n  steps:").count();
    assert!(
        ran < planned,
        "{ran} of {planned} ran: no new scenario started"
    );
    assert_eq!(
        object_counts(&token),
        before,
        "the running scenario cleaned up on the target"
    );
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "the scratch lab is removed"
    );
}

#[test]
fn a_second_ctrl_c_quits_at_once_and_says_what_may_be_left() {
    let token = RealToken::new();
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let (mut child, mut err) = start_migration_run(&token, &scratch, &report);
    interrupt(&child);
    // The second one once the first is handled, while the running scenario is still at work.
    let mut text = read_until(&mut err, "interrupt again to quit at once");
    interrupt(&child);
    text.push_str(&read_until(&mut err, "\u{0}"));
    let err = text;
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("hsmsim: quit at once;"), "{err}");
    // Either a scenario was still running (its objects are named, with the party) or it had
    // just finished cleaning up.
    assert!(
        err.contains("may be left behind:\n  primus.key-migration.")
            && err.contains("on target token \"hsmsim-default\"")
            && err.contains("objects labelled ")
            || err.contains("nothing is left behind"),
        "{err}"
    );
    assert!(!report.exists(), "no report: the run quit at once");
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "the scratch lab is removed"
    );
}

#[test]
fn a_missing_pin_is_asked_for_on_a_terminal_without_echo() {
    let token = RealToken::new();
    let uri = format!(
        "pkcs11:token=hsmsim-default?module-path={}",
        token.module.display()
    );
    // Not on a terminal: refused with the ways to give it.
    let out = token.run(&[
        "conformance",
        "run",
        "--procedure",
        "primus.adcs-key-import",
        "--variant",
        "rsa-2048-pfx",
        "--target",
        &uri,
    ]);
    refused(
        &out,
        2,
        "needs a PIN: add pin-source=FILE or pin-source=env:VARIABLE",
    );
    // On a terminal (a pseudo-terminal from script(1)): asked for, typed, not echoed.
    let hsmsim = env!("CARGO_BIN_EXE_hsmsim");
    let line = format!(
        "{hsmsim} conformance run --procedure primus.adcs-key-import --variant rsa-2048-pfx --target '{uri}'"
    );
    // script(1) runs it with hsmsim's test environment.
    let hsmsim_env = command();
    let mut script = std::process::Command::new("script");
    script
        .envs(
            hsmsim_env
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("HSMSIM_CONF", lab_file(token.lab.path()))
        .env("HSMSIM_STATE_DIR", token.lab.path())
        .env_remove("HSMSIM_LAB")
        .env_remove("HSMSIM_HOST")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = script.spawn().expect("script(1) runs");
    let mut stdin = child.stdin.take().unwrap();
    let typing = std::thread::spawn(move || {
        // Typed once the prompt is up (the terminal discards nothing typed early either).
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::io::Write::write_all(&mut stdin, b"12345678\n").unwrap();
        std::thread::sleep(std::time::Duration::from_secs(20));
    });
    let out = child.wait_with_output().unwrap();
    drop(typing);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("PIN of the target token \"hsmsim-default\": "),
        "{text}"
    );
    assert!(text.contains("1 passed"), "{text}");
    assert!(!text.contains("12345678"), "the PIN is not echoed: {text}");
}

#[test]
fn no_report_or_log_holds_the_pin() {
    let token = RealToken::new();
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "12345678\n").unwrap();
    let uris = [
        token.uri("12345678"),
        format!(
            "pkcs11:token=hsmsim-default?module-path={}&pin-source={}",
            token.module.display(),
            pin_file.display()
        ),
        format!(
            "pkcs11:token=hsmsim-default?module-path={}&pin-source=env:HSMSIM_TEST_PIN",
            token.module.display()
        ),
    ];
    for uri in &uris {
        for format in ["table", "json", "junit", "markdown", "html"] {
            let out_file = dir.path().join(format!("report.{format}"));
            for extra in [
                vec![],
                vec!["--out", out_file.to_str().unwrap()],
                vec!["--dry-run"],
            ] {
                let mut args = vec![
                    "conformance",
                    "run",
                    "--procedure",
                    "primus.adcs-key-import",
                    "--variant",
                    "rsa-2048-pfx",
                    "--target",
                    uri,
                    "--format",
                    format,
                ];
                args.extend(extra.iter().copied());
                let mut c = command();
                c.env("HSMSIM_CONF", lab_file(token.lab.path()))
                    .env("HSMSIM_STATE_DIR", token.lab.path())
                    .env("HSMSIM_TEST_PIN", "12345678")
                    .env("HSMSIM_LOG", "trace")
                    .args(&args);
                let out = output(&mut c);
                let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
                assert!(out.status.success(), "{args:?}: {all}");
                assert!(!all.contains("12345678"), "{args:?}: {all}");
                if extra.first() == Some(&"--out") {
                    let report = std::fs::read_to_string(&out_file).unwrap();
                    assert!(report.contains("adcs-key-import"), "{report}");
                    assert!(!report.contains("12345678"), "{args:?}: {report}");
                }
            }
        }
    }
    // A wrong PIN is not repeated in the refusal or the module's log either.
    let mut c = command();
    c.env("HSMSIM_CONF", lab_file(token.lab.path()))
        .env("HSMSIM_STATE_DIR", token.lab.path())
        .env("HSMSIM_LOG", "trace")
        .args([
            "conformance",
            "run",
            "--procedure",
            "primus.adcs-key-import",
            "--target",
            &token.uri("87654329"),
        ]);
    let out = output(&mut c);
    refused(&out, 2, "refused the PIN");
    assert!(
        stderr(&out).contains("C_Login: CKR_PIN_INCORRECT (0x000000A0)"),
        "the module's log is on: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("87654329"), "{}", stderr(&out));
}
