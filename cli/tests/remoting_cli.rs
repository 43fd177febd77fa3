//! A lab served with p11-kit's remoting (`p11-kit server` on a Unix socket, the client through
//! `p11-kit-client.so`): the conformance runner reaches the remoted token and LunaCM says that
//! Luna's `CA_*` extensions do not cross. `p11-kit-client.so` hands out a new instance at every
//! `C_GetFunctionList` call, which the runner's raw table must cope with. Skipped when p11-kit
//! is not installed (`.ci/remoting.sh` installs it and runs the full check).
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";

/// A `p11-kit server` serving the simulator's module for a lab; stopped when dropped.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    fn start(lab: &Path, host: &str) -> Server {
        let socket = lab.join("p11.sock");
        let child = Command::new("p11-kit")
            .args(["server", "-f", "-n"])
            .arg(&socket)
            .arg(sim_module())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HSMSIM_CONF", lab.join("lab.toml"))
            .env("HSMSIM_HOST", host)
            .env("HSMSIM_PIN_KDF_ITERATIONS", "10000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("p11-kit server starts");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no socket {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, socket }
    }

    /// `hsmsim` as a client of the server: no lab variable, only the server's address.
    fn client(&self) -> Command {
        let mut c = command();
        c.env(
            "P11_KIT_SERVER_ADDRESS",
            format!("unix:path={}", self.socket.display()),
        );
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether p11-kit is here; without it the tests are skipped, except where
/// `HSMSIM_REQUIRE_P11_KIT` is set (CI installs it first and sets it, so they cannot skip there).
fn p11_kit_installed() -> bool {
    let here = Path::new("/usr/bin/p11-kit").exists() && Path::new(CLIENT).exists();
    if !here {
        assert!(
            std::env::var_os("HSMSIM_REQUIRE_P11_KIT").is_none(),
            "HSMSIM_REQUIRE_P11_KIT is set but p11-kit (Debian packages p11-kit, p11-kit-modules) is not installed"
        );
        eprintln!("p11-kit (Debian packages p11-kit, p11-kit-modules) is not installed: skipped");
    }
    here
}

#[test]
fn conformance_runs_against_a_token_reached_through_p11_kit() {
    if !p11_kit_installed() {
        return;
    }
    let lab = init_lab("default");
    let server = Server::start(lab.path(), "client");
    let target = format!("pkcs11:token=hsmsim-default?module-path={CLIENT}&pin-value=12345678");
    let out = output(
        server
            .client()
            .args(["conformance", "run", "--format", "json"])
            .args(["--procedure", "primus.key-migration.symmetric"])
            .args(["--procedure", "primus.adcs-key-import"])
            .args(["--target", &target]),
    );
    // Before consoles' RawModule saw the second instance, this stopped at the start:
    // "C_GetMechanismList failed: CKR_CRYPTOKI_NOT_INITIALIZED" (exit 2).
    assert!(out.status.success(), "{}", stderr(&out));
    let results = json(&out)["results"].as_array().unwrap().clone();
    let status = |procedure: &str, variant: &str| {
        results
            .iter()
            .find(|r| r["procedure"] == procedure && r["variant"] == variant)
            .map(|r| {
                (
                    r["status"].as_str().unwrap_or("").to_string(),
                    r["detail"].to_string(),
                )
            })
            .unwrap_or_else(|| panic!("no scenario {procedure} [{variant}]"))
    };
    // What crosses p11-kit 0.24's RPC runs and passes: the generic secret (an RSA-2048 pair made
    // on the remoted token, the secret unwrapped there with RSA-OAEP, proven with HMAC-SHA-256)
    // and every AD CS import.
    assert_eq!(
        status("primus.key-migration.symmetric", "generic-secret").0,
        "pass"
    );
    for r in results
        .iter()
        .filter(|r| r["procedure"] == "primus.adcs-key-import")
    {
        assert_eq!(r["status"], "pass", "{r}");
    }
    // AES-CBC-PAD does not cross: those variants are not applicable, with the reason.
    let (aes, why) = status("primus.key-migration.symmetric", "aes-256");
    assert_eq!(aes, "not-applicable");
    assert!(why.contains("does not list CKM_AES_CBC_PAD"), "{why}");
    // The scenarios destroyed what they made on the remoted token: the lab's partition holds
    // what it held before (the default lab's token starts empty).
    let shown = succeeded(&output(command().args([
        "--lab",
        &lab_file(lab.path()),
        "lab",
        "show",
    ])));
    let line = shown
        .lines()
        .find(|l| l.starts_with("hsm1/default"))
        .expect("the default partition");
    assert!(line.trim_end().ends_with(" 0"), "{line}");
}

#[test]
fn lunacm_through_p11_kit_has_no_ca_extensions() {
    if !p11_kit_installed() {
        return;
    }
    let lab = init_lab("default");
    let server = Server::start(lab.path(), "client");
    let out = output(
        server
            .client()
            .args(["lunacm", "--module", CLIENT, "-c", "slot list"]),
    );
    refused(&out, 2, "does not export Luna's CA_* extensions");
}
