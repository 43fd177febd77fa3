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

fn sim_module() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_hsmsim"));
    let dir = exe.parent().unwrap();
    [dir.join("libhsmsim.so"), dir.join("deps/libhsmsim.so")]
        .into_iter()
        .find(|p| p.exists())
        .expect("libhsmsim.so is built beside hsmsim")
}

impl RealToken {
    fn new() -> RealToken {
        let lab = init_lab("default");
        let module = lab.path().join("libvendorhsm.so");
        std::fs::copy(sim_module(), &module).unwrap();
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
