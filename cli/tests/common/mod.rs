//! Helpers the CLI tests share: running `hsmsim` with the lab-choosing environment cleared (so
//! only what a test gives counts), a fresh lab from a fixture, and assertions on exit status,
//! stderr and JSON output.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// `hsmsim` with HSMSIM_CONF, HSMSIM_LAB, HSMSIM_HOST and HSMSIM_STATE_DIR removed, sealing
/// PINs at the cost before issue 10 (`HSMSIM_PIN_KDF_ITERATIONS=10000`) so the tests' many
/// labs and logins stay cheap.
/// `libhsmsim.so` of this build, beside the `hsmsim` binary: in `target/<profile>/` after a
/// `cargo build`, only in `target/<profile>/deps/` after a bare `cargo test` (a fresh clone).
pub fn sim_module() -> std::path::PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_hsmsim"));
    let dir = exe.parent().unwrap();
    [dir.join("libhsmsim.so"), dir.join("deps/libhsmsim.so")]
        .into_iter()
        .find(|p| p.exists())
        .expect("libhsmsim.so is built beside hsmsim")
}

pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hsmsim"));
    c.env("HSMSIM_PIN_KDF_ITERATIONS", "10000");
    for var in [
        "HSMSIM_CONF",
        "HSMSIM_LAB",
        "HSMSIM_HOST",
        "HSMSIM_STATE_DIR",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs a prepared command.
pub fn output(c: &mut Command) -> Output {
    c.output().expect("hsmsim runs")
}

/// Runs `c` with `stdin` as its standard input (a console's script, the proceed answers).
pub fn output_with_stdin(c: &mut Command, stdin: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hsmsim runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A fresh lab from `fixture` in a temporary directory (its `lab.toml` and state).
pub fn init_lab(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = output(
        command()
            .args(["lab", "init", "--fixture", fixture, "--dir"])
            .arg(dir.path()),
    );
    succeeded(&out);
    dir
}

/// A fresh `primus` lab with two SO cards (name, PIN) on primus-onprem.
pub fn primus_lab_with_so_cards(cards: [(&str, &str); 2]) -> tempfile::TempDir {
    let dir = init_lab("primus");
    for (name, pin) in cards {
        let out = output(
            command()
                .arg("--lab")
                .arg(dir.path().join("lab.toml"))
                .args([
                    "primus",
                    "card",
                    "create",
                    "--device",
                    "primus-onprem",
                    "--kind",
                    "so",
                    "--name",
                    name,
                    "--pin",
                    pin,
                ]),
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    dir
}

/// The lab file of a lab made by `init_lab`, as an argument.
pub fn lab_file(dir: &Path) -> String {
    dir.join("lab.toml").display().to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts the exit status `code` and that stderr says `why`.
pub fn refused(out: &Output, code: i32, why: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(
        stderr(out).contains(why),
        "expected {why:?} in: {}",
        stderr(out)
    );
}

/// `hsmsim conformance run --format json` with `args` (procedure, variant) against the
/// simulator's module taken as a real one (two `pkcs11:` URIs: origin ACME-PKI, target
/// ACME-CLOUD of the `primus` lab, from its admin host): the run's results, the run having
/// succeeded.
pub fn run_against_a_real_module(args: &[&str]) -> Vec<Value> {
    let lab = init_lab("primus");
    let module = sim_module();
    let uri = |token: &str, pin: &str| {
        format!(
            "pkcs11:token={token}?module-path={}&pin-value={pin}",
            module.display()
        )
    };
    let out = output(
        command()
            .env("HSMSIM_CONF", lab.path().join("lab.toml"))
            .env("HSMSIM_HOST", "admin-host")
            .env("HSMSIM_STATE_DIR", lab.path())
            .args(["conformance", "run"])
            .args(args)
            .args(["--format", "json", "--origin"])
            .arg(uri("ACME-PKI", "Pkcs11-AcmePki-01"))
            .arg("--target")
            .arg(uri("ACME-CLOUD", "Pkcs11-AcmeCloud-01")),
    );
    let v = json(&out);
    assert!(out.status.success(), "{}\n{v:#}", stderr(&out));
    v["results"].as_array().expect("results").clone()
}

/// Stdout as JSON (whatever the exit status: refusals print JSON too).
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON output ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}
