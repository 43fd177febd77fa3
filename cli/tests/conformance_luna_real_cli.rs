//! The Luna procedures against "real" modules: `--origin` and `--target` are `pkcs11:` URIs.
//! A renamed copy of the simulator's module (loaded as any vendor's library, not as `sim`) on a
//! lab of two initialised partitions of one cloning domain (a 5.x/6.x source and a 7.x
//! destination, at slot ids other than the guide's 0 and 1) stands in for a Luna client
//! library: the clone procedures pass without initialising anything, backup/restore and HA
//! are not applicable with the reason, and no object of the run is left on either token. The
//! source's firmware chooses its login (pre-PPSO `partition login`, PPSO `role login -name Crypto
//! Officer`) and the negative cases the tokens already are (a V0 source, a PPSO source) run.
//! Against SoftHSMv2 (no `CA_*` extensions) every Luna scenario is not applicable.
mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SOURCE_PIN: &str = "CO-sa6-2020";
const TARGET_PIN: &str = "CO-sa7-2024";
/// The tokens' slot ids on the lab's host (not the guide's 0 and 1).
const SOURCE_SLOT: u64 = 5;
const TARGET_SLOT: u64 = 2;

/// Two initialised Luna partitions of one library: the lab and a renamed copy of libhsmsim.so.
struct LunaLibrary {
    dir: tempfile::TempDir,
    module: PathBuf,
}

impl LunaLibrary {
    fn new(source_firmware: &str, target_firmware: &str) -> LunaLibrary {
        let dir = tempfile::tempdir().unwrap();
        // One initialised partition of one cloning domain on each device.
        let device = |name: &str, firmware: &str, pin: &str, policies: &str| {
            format!(
                "[[device]]\nname = \"{name}\"\nkind = \"luna-network\"\n\
                 [device.luna]\nfirmware = \"{firmware}\"\nauth = \"password\"\nhsm_policies = {{ 7 = 1 }}\n\
                 [[device.partition]]\nname = \"app\"\nlabel = \"{name}-app-par\"\n\
                 so_pin = \"PO-{name}-2020\"\nuser_pin = \"{pin}\"\n\
                 [device.partition.luna]\ndomain = \"acme-migration-domain\"\n{policies}\n"
            )
        };
        let lab = format!(
            "[lab]\nname = \"luna-real\"\n\
             description = \"a 5.x/6.x source and an initialised 7.x destination of one cloning domain\"\n\
             {}{}\
             [[host]]\nname = \"client\"\nslot = [\n\
             {{ id = {SOURCE_SLOT}, partition = \"sa6/app\" }},\n\
             {{ id = {TARGET_SLOT}, partition = \"sa7/app\" }},\n]\n",
            device(
                "sa6",
                source_firmware,
                SOURCE_PIN,
                "policies = { 0 = 1, 4 = 1 }"
            ),
            device("sa7", target_firmware, TARGET_PIN, ""),
        );
        std::fs::write(dir.path().join("lab.toml"), lab).unwrap();
        let module = dir.path().join("libCryptoki2_64.so");
        std::fs::copy(sim_module(), &module).unwrap();
        LunaLibrary { dir, module }
    }

    fn uri(&self, token: &str, pin: &str) -> String {
        format!(
            "pkcs11:token={token}?module-path={}&pin-value={pin}",
            self.module.display()
        )
    }

    /// The library's configuration, as a vendor's library reads its own.
    fn configure(&self, c: &mut Command) {
        c.env("HSMSIM_CONF", self.dir.path().join("lab.toml"))
            .env("HSMSIM_HOST", "client")
            .env("HSMSIM_STATE_DIR", self.dir.path());
    }

    fn conformance(&self, procedures: &str) -> Output {
        let mut c = command();
        self.configure(&mut c);
        c.args(["conformance", "run", "--procedure", procedures, "--origin"])
            .arg(self.uri("sa6-app-par", SOURCE_PIN))
            .arg("--target")
            .arg(self.uri("sa7-app-par", TARGET_PIN))
            .args(["--format", "json"]);
        output(&mut c)
    }

    /// The results of a run that exits 0; its report holds neither PIN (the workers get them
    /// on their standard input, LunaCM at its password prompts).
    fn passing_run(&self, procedures: &str) -> Vec<Value> {
        let out = self.conformance(procedures);
        assert!(out.status.success(), "{}", stderr(&out));
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(!report.contains(SOURCE_PIN) && !report.contains(TARGET_PIN));
        json(&out)["results"].as_array().unwrap().clone()
    }

    /// Neither token holds an object (the lab's partitions start empty).
    fn assert_no_object_left(&self) {
        for (slot, objects) in self.objects() {
            let labels: Vec<&Value> = objects.iter().map(|o| &o["label"]).collect();
            assert!(labels.is_empty(), "slot {slot} holds {labels:?}");
        }
    }

    /// Every object each token shows its Crypto Officer, read by a worker of its own.
    fn objects(&self) -> Vec<(u64, Vec<Value>)> {
        let mut c = command();
        self.configure(&mut c);
        let mut worker = c
            .args(["conformance", "worker", "--module"])
            .arg(&self.module)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = worker.stdin.take().unwrap();
        let mut stdout = BufReader::new(worker.stdout.take().unwrap());
        let mut out = Vec::new();
        for (slot, pin) in [(SOURCE_SLOT, SOURCE_PIN), (TARGET_SLOT, TARGET_PIN)] {
            let request = serde_json::json!({"op": "inventory", "slot": slot, "pin": pin});
            writeln!(stdin, "{request}").unwrap();
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let answer: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(answer["kind"], "objects", "{answer}");
            out.push((slot, answer["objects"].as_array().unwrap().clone()));
        }
        drop(stdin);
        worker.wait().unwrap();
        out
    }
}

fn step(result: &Value, n: u64) -> &Value {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["n"] == n)
        .unwrap_or_else(|| panic!("no step {n} in {result}"))
}

fn detail(v: &Value) -> &str {
    v["detail"].as_str().unwrap_or_default()
}

#[test]
fn clone_procedures_pass_on_two_tokens_of_a_luna_library_and_leave_nothing() {
    let library = LunaLibrary::new("6.21.2", "7.4.2");
    let all = library.passing_run("luna.*");
    let status = |r: &Value| r["status"].as_str().unwrap().to_string();
    // The clone procedures: the tokens' variant and the case that needs no change pass.
    let passed: Vec<String> = all
        .iter()
        .filter(|r| status(r) == "pass")
        .map(|r| format!("{} {}", r["procedure"], r["variant"]))
        .collect();
    assert_eq!(passed.len(), 8, "{passed:?}");
    for r in all.iter().filter(|r| status(r) == "pass") {
        assert!(r["procedure"].as_str().unwrap().ends_with(".clone"), "{r}");
        let variant = r["variant"].as_str().unwrap();
        assert!(
            ["6.21.2-password-7.4", "negative:co-not-logged-in"].contains(&variant),
            "{variant}"
        );
        // Nothing is initialised on a real HSM.
        for n in [1, 2] {
            assert_eq!(step(r, n)["status"], "not-applicable");
            assert!(detail(step(r, n)).starts_with("not replayed: hsmsim never initialises"));
        }
        // The pre-PPSO source's login, on the tokens' own slot ids.
        let login = detail(step(r, 3));
        assert!(login.contains("Firmware Version ->     6.21.2"), "{login}");
        assert!(
            login.contains(&format!("slot set -slot {SOURCE_SLOT}")),
            "{login}"
        );
        // The scenario's own objects by handle, never `-objects 0`.
        let clone = detail(step(r, 5));
        assert!(clone.contains("own 8 objects by handle"), "{clone}");
        assert!(clone.contains(&format!(" -slot {TARGET_SLOT}")), "{clone}");
        assert!(!clone.contains("-objects 0 "), "{clone}");
        let cleanup = r["steps"].as_array().unwrap().last().unwrap();
        assert!(
            detail(cleanup).contains("is left on either token"),
            "{cleanup}"
        );
    }
    let clone_of = |variant: &str| {
        all.iter()
            .find(|r| r["procedure"] == "luna.network-to-network7.clone" && r["variant"] == variant)
            .unwrap()
    };
    assert!(detail(step(clone_of("6.21.2-password-7.4"), 5)).contains("8 of 8 object(s) cloned"));
    let refused = detail(step(clone_of("negative:co-not-logged-in"), 5));
    assert!(refused.contains("0 of 8 object(s) cloned"), "{refused}");
    assert!(refused.contains("CKR_USER_NOT_LOGGED_IN"), "{refused}");
    // Everything else is not applicable, with the reason.
    for r in all.iter().filter(|r| status(r) != "pass") {
        assert_eq!(status(r), "not-applicable", "{r}");
        let why = detail(r);
        let procedure = r["procedure"].as_str().unwrap();
        let variant = r["variant"].as_str().unwrap();
        let expected = if procedure.ends_with(".backup-restore") {
            "`partition archive backup` and `restore` have no CA_* call"
        } else if procedure.ends_with(".ha") {
            "`hagroup` has no CA_* call"
        } else if variant == "negative:reinit-with-objects" {
            "never types `partition init` on a real HSM"
        } else if variant == "negative:co-on-ppso6" {
            "needs a 6.22+ PPSO source"
        } else if variant.starts_with("negative:") {
            "the case needs"
        } else {
            "these tokens are variant 6.21.2-password-7.4"
        };
        assert!(why.contains(expected), "{procedure} {variant}: {why}");
    }
    // Neither token holds an object of the run.
    library.assert_no_object_left();
}

#[test]
fn a_ppso_source_logs_in_as_crypto_officer_and_refuses_the_abbreviation() {
    let library = LunaLibrary::new("6.22.0", "7.7.1");
    let all = library.passing_run("luna.network-to-network7.clone");
    let of = |variant: &str| {
        all.iter()
            .find(|r| r["variant"] == variant)
            .unwrap_or_else(|| panic!("no {variant}"))
    };
    let positive = of("6.22.0-password-7.7");
    assert_eq!(positive["status"], "pass", "{positive}");
    let login = detail(step(positive, 3));
    assert!(login.contains("role login -name Crypto Officer"), "{login}");
    assert!(!login.contains("partition login"), "{login}");
    let ppso = of("negative:co-on-ppso6");
    assert_eq!(ppso["status"], "pass", "{ppso}");
    let typed = detail(step(ppso, 3));
    assert!(typed.contains("CKR_USER_TYPE_INVALID"), "{typed}");
    assert!(typed.ends_with("as `slot list` shows)"), "{typed}");
    assert_eq!(of("6.21.2-password-7.4")["status"], "not-applicable");
    library.assert_no_object_left();
}

#[test]
fn a_v0_source_is_refused_by_a_pre_77_destination_and_nothing_is_copied() {
    let library = LunaLibrary::new("7.7.1", "7.4.2");
    let all = library.passing_run("luna.network-to-network7.clone");
    for r in &all {
        let variant = r["variant"].as_str().unwrap();
        if variant == "negative:v0-to-pre77" {
            assert_eq!(r["status"], "pass", "{r}");
            let clone = detail(step(r, 5));
            assert!(clone.starts_with("refused as documented"), "{clone}");
            assert!(clone.contains("a 7.7+ source stops"), "{clone}");
            assert!(detail(step(r, 3)).contains("role login -name co"));
        } else {
            assert_eq!(r["status"], "not-applicable", "{r}");
        }
    }
    library.assert_no_object_left();
}

#[test]
fn against_softhsm_every_luna_scenario_is_not_applicable() {
    let util = Path::new("/usr/bin/softhsm2-util");
    let module = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists());
    let (true, Some(module)) = (util.exists(), module) else {
        eprintln!("SoftHSMv2 is not installed: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    for label in ["src", "dst"] {
        let made = Command::new(util)
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", "87654321", "--pin", "12345678"])
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
    }
    let uri = |label: &str| {
        format!(
            "pkcs11:token={label}?module-path={}&pin-value=12345678",
            module.display()
        )
    };
    let out = output(
        command()
            .env("SOFTHSM2_CONF", &conf)
            .args(["conformance", "run", "--procedure", "luna.*", "--origin"])
            .arg(uri("src"))
            .arg("--target")
            .arg(uri("dst"))
            .args(["--format", "json"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let all = json(&out)["results"].as_array().unwrap().clone();
    assert!(all.len() > 100, "{}", all.len());
    for r in &all {
        assert_eq!(r["status"], "not-applicable", "{r}");
        assert!(detail(r).contains("exports no CA_* extensions"), "{r}");
    }
}
