//! `hsmsim ccc ...`, the simulated Crypto Command Center (seed 004) from the command line, run
//! as a built binary on the `luna-ccc` lab in a temporary store: the help of every command and
//! argument, human and `--json` output, refusals with their exit status and error object, and
//! the operations end to end. Authorising devices needs their HSM SO: the tests that do write
//! the lab with an admin partition on each device (the fixture's, else added with the same
//! HSM SO passwords) and a Luna PCIe HSM "pcie". Commands over operations another branch builds are tested for their real
//! outcome and ignored until it is merged (`needs ccc-<branch>`).
mod common;
#[path = "common/terminal.rs"]
mod terminal;

use common::{command, json, output, refused, stderr, succeeded};
use serde_json::Value;
use std::process::{Command, Output};

/// A CCC lab in a temporary directory: the built-in `luna-ccc` (state in the directory), or
/// a lab file written there.
struct Lab {
    dir: tempfile::TempDir,
    lab_file: Option<String>,
}

impl Lab {
    /// The built-in lab `luna-ccc`, its state in a fresh directory.
    fn built_in() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
            lab_file: None,
        }
    }

    /// `luna-ccc` with an admin partition on every device (HSM SO: `hsm_so(device)`; added
    /// here where the fixture has none) and a Luna PCIe HSM "pcie".
    fn with_hsm_so() -> Lab {
        let path = format!(
            "{}/../fixtures/labs/luna-ccc.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut text = std::fs::read_to_string(path).unwrap();
        if !text.contains("admin = true") {
            for (next, device) in [
                ("[[device]]\nname = \"sa6-ppso\"", "sa6-legacy"),
                ("[[device]]\nname = \"sa7-a\"", "sa6-ppso"),
                ("[[device]]\nname = \"sa7-b\"", "sa7-a"),
                ("[[device]]\nname = \"sa7-c\"", "sa7-b"),
                ("[[host]]\nname = \"ccc-server\"", "sa7-c"),
            ] {
                let at = text.find(next).unwrap();
                text.insert_str(
                    at,
                    &format!(
                        "  [[device.partition]]\n  name = \"admin\"\n  label = \"hsm\"\n  so_pin = \"{}\"\n    [device.partition.luna]\n    admin = true\n\n",
                        hsm_so(device)
                    ),
                );
            }
        }
        text.push_str("\n[[device]]\nname = \"pcie\"\nkind = \"luna-pcie\"\n  [device.luna]\n  firmware = \"7.4.2\"\n  [[device.partition]]\n  name = \"p\"\n");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lab.toml");
        std::fs::write(&file, text).unwrap();
        Lab {
            lab_file: Some(file.display().to_string()),
            dir,
        }
    }

    /// `with_hsm_so` with `devices` added and authorised.
    fn authorised(devices: &[&str]) -> Lab {
        let lab = Lab::with_hsm_so();
        lab.authorise(devices);
        lab
    }

    /// Adds `devices` to CCC and authorises them with their HSM SO password.
    fn authorise(&self, devices: &[&str]) {
        for device in devices {
            self.ok(&["ccc", "device", "add", device]);
            self.ok(&[
                "ccc",
                "device",
                "authorise",
                device,
                "--password",
                &hsm_so(device),
            ]);
        }
    }

    /// `authorised` on sa7-a and sa7-b with the HA service "web" on their svc1.
    fn with_web_service() -> Lab {
        let lab = Lab::authorised(&["sa7-a", "sa7-b"]);
        lab.ok(&[
            "ccc",
            "service",
            "create",
            "web",
            "--template",
            "ha-password-7",
            "--organisation",
            "acme",
            "--partition",
            "sa7-a/svc1",
            "--partition",
            "sa7-b/svc1",
        ]);
        lab
    }

    /// `hsmsim` on this lab (standard input: none).
    fn command(&self) -> Command {
        let mut c = command();
        match &self.lab_file {
            Some(file) => {
                c.args(["--lab", file]);
            }
            None => {
                c.env("HSMSIM_LAB", "luna-ccc")
                    .env("HSMSIM_STATE_DIR", self.dir.path());
            }
        }
        c.env_remove("HSMSIM_HSM_SO_PASSWORD")
            .env_remove("HSMSIM_CO_PASSWORD")
            .env_remove("HSMSIM_CU_PASSWORD")
            .env_remove("HSMSIM_PARTITION_SO_PASSWORD")
            .env_remove("HSMSIM_CLONING_DOMAIN")
            .stdin(std::process::Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        output(self.command().args(args))
    }

    /// Runs `args`; asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.run(args))
    }

    /// Runs `args --json`; asserts success; returns the JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(&[args, &["--json"]].concat());
        succeeded(&out);
        json(&out)
    }

    /// `lab show --json`'s partition `name`.
    fn partition(&self, name: &str) -> Value {
        let report = self.json(&["lab", "show"]);
        report["devices"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["partitions"].as_array().unwrap().clone())
            .find(|p| p["partition"] == name)
            .unwrap_or_else(|| panic!("no partition {name}"))
    }
}

/// The HSM SO password of a `luna-ccc` device (the fixture's: pre-PPSO sa6-legacy's HSM SO is
/// also its partitions' SO).
fn hsm_so(device: &str) -> String {
    match device {
        "sa6-legacy" => "SO-legacy-2017".into(),
        _ => format!("HSM-SO-{device}"),
    }
}

/// Asserts the refusal's exit status, its `CKR_*` name on stderr, and the error object that
/// `--json` prints on stdout.
fn refused_json(lab: &Lab, args: &[&str], exit: i32, code: &str, why: &str) {
    let out = lab.run(args);
    refused(&out, exit, &format!("hsmsim: {code} (0x"));
    refused(&out, exit, why);
    let out = lab.run(&[args, &["--json"]].concat());
    assert_eq!(out.status.code(), Some(exit), "{}", stderr(&out));
    let error = &json(&out)["error"];
    assert_eq!(error["code"], code, "{error}");
    assert_eq!(error["exit"], exit, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains(why),
        "{why:?} in {error}"
    );
}

/// The subcommands `hsmsim <path> -h` lists.
fn subcommands(path: &[String]) -> Vec<String> {
    let help = succeeded(&output(command().args(path).arg("-h")));
    let Some((_, commands)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    commands
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

#[test]
fn every_ccc_command_and_argument_has_help() {
    let mut paths = vec![vec!["ccc".to_string()]];
    let mut leaves = Vec::new();
    while let Some(path) = paths.pop() {
        let children = subcommands(&path);
        if children.is_empty() {
            leaves.push(path.clone());
        }
        for child in children {
            paths.push([path.clone(), vec![child]].concat());
        }
    }
    let names: Vec<String> = leaves.iter().map(|p| p.join(" ")).collect();
    for expected in [
        "ccc device add",
        "ccc device authorise",
        "ccc device offline",
        "ccc organisation list",
        "ccc user add",
        "ccc template edit",
        "ccc service create",
        "ccc service initialise-partitions",
        "ccc service remove-partition",
        "ccc service register-client",
        "ccc service synchronise",
        "ccc import delete-row",
        "ccc migrate run",
        "ccc migrate status",
        "ccc serve",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(leaves.len() >= 45, "{names:?}");
    for path in &leaves {
        let short = succeeded(&output(command().args(path).arg("-h")));
        let long = succeeded(&output(command().args(path).arg("--help")));
        let usage = format!("Usage: hsmsim {}", path.join(" "));
        assert!(short.contains(&usage), "{usage}: {short}");
        assert!(long.contains("--json"), "{path:?} takes --json: {long}");
        assert!(
            !long.contains("shared/"),
            "{path:?}: help points outside the repository: {long}"
        );
        // The line before "Usage:" is the command's own help.
        let about = short.split("Usage:").next().unwrap().trim();
        assert!(!about.is_empty(), "{path:?} has no help: {short}");
        // Every argument and option has its help on its line.
        let mut section = "";
        for line in short.lines() {
            if !line.starts_with(' ') {
                section = line;
                continue;
            }
            if section == "Arguments:" || section == "Options:" {
                let entry = line.trim_start();
                let described = entry
                    .split_once("  ")
                    .is_some_and(|(_, h)| !h.trim().is_empty());
                assert!(described, "{path:?}: no help for {entry:?}");
            }
        }
    }
}

#[test]
fn lists_of_the_built_in_lab_as_text_and_json() {
    let lab = Lab::built_in();
    let organisations = lab.ok(&["ccc", "organisation", "list"]);
    assert!(
        organisations.starts_with("ORGANISATION  USER       ROLE\n"),
        "{organisations}"
    );
    assert!(organisations.contains("acme          ccc-admin  Administrator\n"));
    assert!(organisations.contains("acme          app-owner  Application Owner\n"));
    let j = lab.json(&["ccc", "organisation", "list"]);
    assert_eq!(j["organisations"][0]["name"], "acme");
    assert_eq!(
        j["organisations"][0]["users"][1]["role"],
        "application-owner"
    );

    let templates = lab.ok(&["ccc", "template", "list"]);
    assert!(templates.starts_with("TEMPLATE "), "{templates}");
    assert!(
        templates
            .contains("ha-password-7  HSM Partition HA Group  password  100000  yes   no   no"),
        "{templates}"
    );
    let shown = lab.ok(&["ccc", "template", "show", "ha-password-7"]);
    for line in [
        "template                ha-password-7\n",
        "service type            HSM Partition HA Group\n",
        "authentication          password\n",
        "performance             not selected\n",
        "partition size          100000 bytes\n",
        "Per-Partition SO        yes\n",
        "Scalable Key Storage    no\n",
        "Secure Trusted Channel  no\n",
        "backup type             none\n",
    ] {
        assert!(shown.contains(line), "{line:?} in {shown}");
    }
    let j = lab.json(&["ccc", "template", "show", "ha-password-7"]);
    assert_eq!(j["template"]["service_type"], "hsm-partition-ha-group");
    assert_eq!(j["template"]["authentication"], "password");
    assert_eq!(j["template"]["partition_size"], 100000);

    assert_eq!(lab.ok(&["ccc", "service", "list"]), "no services\n");
    assert_eq!(
        lab.json(&["ccc", "service", "list"])["services"],
        serde_json::json!([])
    );
    assert_eq!(
        lab.ok(&["ccc", "device", "list"]),
        "no devices added to CCC\n"
    );
    assert_eq!(
        lab.json(&["ccc", "device", "list"])["devices"],
        serde_json::json!([])
    );
    // The service list of an Application Owner, and of a user CCC does not know.
    assert_eq!(
        lab.ok(&["ccc", "service", "list", "--user", "app-owner"]),
        "no services\n"
    );
    refused_json(
        &lab,
        &["ccc", "service", "list", "--user", "nobody"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no user \"nobody\"",
    );
}

#[test]
fn devices_are_added_authorised_as_the_hsm_so_listed_and_removed() {
    let lab = Lab::with_hsm_so();
    refused_json(
        &lab,
        &[
            "ccc",
            "device",
            "authorise",
            "sa7-a",
            "--password",
            "HSM-SO-sa7-a",
        ],
        2,
        "CKR_ARGUMENTS_BAD",
        "device \"sa7-a\" is not added to CCC: add it first",
    );
    assert_eq!(
        lab.ok(&["ccc", "device", "add", "sa7-a"]),
        "device sa7-a added to CCC (not authorised)\n"
    );
    let j = lab.json(&["ccc", "device", "add", "sa7-b"]);
    assert_eq!(
        j["device"],
        serde_json::json!({"device": "sa7-b", "authorised": false, "offline": false})
    );
    refused_json(
        &lab,
        &["ccc", "device", "add", "sa7-a"],
        1,
        "CKR_FUNCTION_FAILED",
        "device \"sa7-a\" is already added to CCC",
    );
    refused_json(
        &lab,
        &["ccc", "device", "add", "pcie"],
        1,
        "CKR_FUNCTION_FAILED",
        "CCC manages Luna Network HSMs only",
    );
    // No password given, none in the environment, no terminal: a plain sentence, exit 2.
    let out = lab.run(&["ccc", "device", "authorise", "sa7-a"]);
    refused(&out, 2, "--password is needed");
    assert!(stderr(&out).contains("HSMSIM_HSM_SO_PASSWORD"));
    assert!(!stderr(&out).contains("CKR_"));
    // A wrong HSM SO password is refused as LunaSH's `hsm login` refuses it: exit 2.
    refused_json(
        &lab,
        &[
            "ccc",
            "device",
            "authorise",
            "sa7-a",
            "--password",
            "wrong-one",
        ],
        2,
        "CKR_PIN_INCORRECT",
        "",
    );
    // An empty one is for PED devices: refused on a password device before any login (the
    // two tries of `refused_json` and the wrong one above are not three wrong passwords).
    refused_json(
        &lab,
        &["ccc", "device", "authorise", "sa7-a", "--password", ""],
        1,
        "CKR_FUNCTION_FAILED",
        "device \"sa7-a\" authenticates with passwords: enter its HSM SO password",
    );
    // From the environment.
    let out = output(
        lab.command()
            .env("HSMSIM_HSM_SO_PASSWORD", "HSM-SO-sa7-a")
            .args(["ccc", "device", "authorise", "sa7-a"]),
    );
    assert_eq!(
        succeeded(&out),
        "device sa7-a authorised: CCC logs in to it as the HSM SO\n"
    );
    let list = lab.ok(&["ccc", "device", "list"]);
    assert_eq!(
        list,
        "DEVICE  MODEL             FIRMWARE  AUTH      AUTHORISED  STATUS\n\
         sa7-a   Luna Network HSM  7.4.2     password  yes         on line\n\
         sa7-b   Luna Network HSM  7.4.2     password  no          on line\n"
    );
    let j = lab.json(&["ccc", "device", "list"]);
    assert_eq!(j["devices"][0]["authorised"], true);
    assert_eq!(j["devices"][1]["authorised"], false);
    assert_eq!(
        lab.ok(&["ccc", "device", "remove", "sa7-b"]),
        "device sa7-b removed from CCC\n"
    );
    refused_json(
        &lab,
        &["ccc", "device", "remove", "sa7-b"],
        2,
        "CKR_ARGUMENTS_BAD",
        "device \"sa7-b\" is not added to CCC",
    );
    assert_eq!(
        lab.json(&["ccc", "device", "list"])["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn organisations_and_users_are_added_listed_and_removed() {
    let lab = Lab::built_in();
    assert_eq!(
        lab.ok(&[
            "ccc",
            "organisation",
            "add",
            "umbrella",
            "--description",
            "research"
        ]),
        "organisation \"umbrella\" added\n"
    );
    refused_json(
        &lab,
        &["ccc", "organisation", "add", "umbrella"],
        1,
        "CKR_FUNCTION_FAILED",
        "CCC organisation \"umbrella\" exists",
    );
    let j = lab.json(&[
        "ccc",
        "user",
        "add",
        "alice",
        "--organisation",
        "umbrella",
        "--role",
        "application-owner",
    ]);
    assert_eq!(j["user"]["role"], "application-owner");
    assert_eq!(j["organisation"], "umbrella");
    assert_eq!(
        lab.ok(&[
            "ccc",
            "user",
            "add",
            "root",
            "--organisation",
            "umbrella",
            "--role",
            "administrator"
        ]),
        "user \"root\" added to organisation \"umbrella\" as Administrator\n"
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "user",
            "add",
            "alice",
            "--organisation",
            "acme",
            "--role",
            "administrator",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "CCC user \"alice\" exists",
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "user",
            "add",
            "bob",
            "--organisation",
            "nope",
            "--role",
            "administrator",
        ],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no organisation \"nope\"; organisations: acme, umbrella",
    );
    // A role CCC does not have: clap's usage error, exit 2.
    let out = lab.run(&[
        "ccc",
        "user",
        "add",
        "bob",
        "--organisation",
        "acme",
        "--role",
        "root",
    ]);
    refused(&out, 2, "invalid value 'root'");
    let list = lab.ok(&["ccc", "organisation", "list"]);
    assert!(
        list.contains("umbrella      alice      Application Owner\n"),
        "{list}"
    );
    assert!(
        list.contains("umbrella      root       Administrator\n"),
        "{list}"
    );
    assert_eq!(
        lab.ok(&["ccc", "user", "remove", "alice"]),
        "user \"alice\" removed\n"
    );
    refused_json(
        &lab,
        &["ccc", "user", "remove", "alice"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no user \"alice\"",
    );
    assert_eq!(
        lab.json(&["ccc", "organisation", "remove", "umbrella"]),
        serde_json::json!({"removed": "umbrella"})
    );
    let j = lab.json(&["ccc", "organisation", "list"]);
    assert_eq!(j["organisations"].as_array().unwrap().len(), 1);
}

#[test]
fn templates_are_added_copied_shown_edited_and_deleted() {
    let lab = Lab::built_in();
    let added = lab.ok(&[
        "ccc",
        "template",
        "add",
        "payments-6",
        "--type",
        "hsm-partition",
        "--auth",
        "ped",
        "--size",
        "50000",
        "--per-partition-so",
        "true",
        "--sks",
        "false",
        "--stc",
        "true",
        "--description",
        "6.x PPSO PED",
        "--performance",
        "enterprise",
    ]);
    assert!(
        added.starts_with("template \"payments-6\" added\n"),
        "{added}"
    );
    let mut j = lab.json(&["ccc", "template", "show", "payments-6"]);
    // (the backup type: its own test)
    j["template"].as_object_mut().unwrap().remove("backup_type");
    assert_eq!(
        j["template"],
        serde_json::json!({
            "name": "payments-6",
            "description": "6.x PPSO PED",
            "service_type": "hsm-partition",
            "authentication": "ped",
            "performance": "enterprise",
            "partition_size": 50000,
            "per_partition_so": true,
            "scalable_key_storage": false,
            "secure_trusted_channel": true,
        })
    );
    // The defaults of `add`: PPSO on, SKS and STC off, no performance, no description.
    let j = lab.json(&[
        "ccc",
        "template",
        "add",
        "plain",
        "--type",
        "hsm-partition",
        "--auth",
        "password",
        "--size",
        "1000",
    ]);
    assert_eq!(j["template"]["per_partition_so"], true);
    assert_eq!(j["template"]["scalable_key_storage"], false);
    assert_eq!(j["template"]["secure_trusted_channel"], false);
    assert_eq!(j["template"]["performance"], Value::Null);
    assert_eq!(j["template"]["description"], "");
    refused_json(
        &lab,
        &[
            "ccc",
            "template",
            "add",
            "tiny",
            "--type",
            "hsm-partition",
            "--auth",
            "password",
            "--size",
            "999",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "template \"tiny\": a partition size is 1000 to 99999999 bytes",
    );
    let copied = lab.ok(&["ccc", "template", "copy", "payments-6", "payments-6b"]);
    assert!(
        copied.starts_with("template \"payments-6\" copied as \"payments-6b\"\n"),
        "{copied}"
    );
    let edited = lab.json(&[
        "ccc",
        "template",
        "edit",
        "payments-6b",
        "--size",
        "60000",
        "--performance",
        "none",
        "--stc",
        "false",
        "--type",
        "hsm-partition-ha-group",
    ]);
    assert_eq!(edited["template"]["partition_size"], 60000);
    assert_eq!(edited["template"]["performance"], Value::Null);
    assert_eq!(edited["template"]["secure_trusted_channel"], false);
    assert_eq!(edited["template"]["service_type"], "hsm-partition-ha-group");
    assert_eq!(edited["template"]["authentication"], "ped", "kept");
    assert_eq!(edited["template"]["description"], "6.x PPSO PED", "kept");
    // A refused edit changes nothing.
    refused_json(
        &lab,
        &[
            "ccc",
            "template",
            "edit",
            "payments-6b",
            "--size",
            "100000000",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "template \"payments-6b\": a partition size is 1000 to 99999999 bytes",
    );
    assert_eq!(
        lab.json(&["ccc", "template", "show", "payments-6b"])["template"]["partition_size"],
        60000
    );
    refused_json(
        &lab,
        &["ccc", "template", "show", "nope"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no template \"nope\"; templates: ha-password-7, payments-6, plain, payments-6b",
    );
    assert_eq!(
        lab.ok(&["ccc", "template", "delete", "payments-6b"]),
        "template \"payments-6b\" deleted (its services keep its name)\n"
    );
    let names: Vec<Value> = lab.json(&["ccc", "template", "list"])["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, ["ha-password-7", "payments-6", "plain"]);
    // A bad value for a field: clap's usage error.
    let out = lab.run(&["ccc", "template", "edit", "plain", "--sks", "maybe"]);
    refused(&out, 2, "invalid value 'maybe'");
}

#[test]
fn services_are_created_listed_shown_edited_detached_and_deleted() {
    let lab = Lab::authorised(&["sa7-a", "sa7-b"]);
    let created = lab.ok(&[
        "ccc",
        "service",
        "create",
        "web",
        "--description",
        "the web tier",
        "--template",
        "ha-password-7",
        "--organisation",
        "acme",
        "--partition",
        "sa7-a/svc1",
        "--partition",
        "sa7-b/svc1",
    ]);
    assert!(
        created.starts_with("service \"web\" created; initialise it next\n"),
        "{created}"
    );
    for line in [
        "service         web\n",
        "description     the web tier\n",
        "organisation    acme\n",
        "template        ha-password-7\n",
        "service type    HSM Partition HA Group\n",
        "partitions      sa7-a/svc1 sa7-b/svc1\n",
        "HA group        none\n",
        "partition size  100000 bytes (the template's)\n",
        "status          not initialised\n",
    ] {
        assert!(created.contains(line), "{line:?} in {created}");
    }
    // CCC's rules, refused with its reasons and nothing written.
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "create",
            "a-name-longer-than-28-letters",
            "--template",
            "ha-password-7",
            "--organisation",
            "acme",
            "--partition",
            "sa7-a/svc2",
            "--partition",
            "sa7-b/svc2",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "28",
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "create",
            "solo",
            "--template",
            "ha-password-7",
            "--organisation",
            "acme",
            "--partition",
            "sa7-a/svc2",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "two or more partitions",
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "create",
            "vault",
            "--template",
            "ha-password-7",
            "--organisation",
            "acme",
            "--partition",
            "sa7-a/svc2",
            "--partition",
            "sa7-c/svc1",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "device \"sa7-c\" is not added to CCC and authorised",
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "create",
            "other",
            "--template",
            "nope",
            "--organisation",
            "acme",
            "--partition",
            "sa7-a/svc2",
            "--partition",
            "sa7-b/svc2",
        ],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no template \"nope\"",
    );
    let out = lab.run(&[
        "ccc",
        "service",
        "create",
        "x",
        "--template",
        "t",
        "--organisation",
        "acme",
    ]);
    refused(&out, 2, "--partition");

    let list = lab.ok(&["ccc", "service", "list"]);
    assert_eq!(
        list,
        "SERVICE  ORGANISATION  TEMPLATE       PARTITIONS             STATUS\n\
         web      acme          ha-password-7  sa7-a/svc1 sa7-b/svc1  not initialised\n"
    );
    let j = lab.json(&["ccc", "service", "list"]);
    assert_eq!(j["services"][0]["service"]["name"], "web");
    assert_eq!(
        j["services"][0]["service"]["partitions"],
        serde_json::json!(["sa7-a/svc1", "sa7-b/svc1"])
    );
    assert_eq!(j["services"][0]["status"]["initialised"], false);
    // The Application Owner of acme sees it.
    let j = lab.json(&["ccc", "service", "list", "--user", "app-owner"]);
    assert_eq!(j["services"].as_array().unwrap().len(), 1);

    let j = lab.json(&["ccc", "service", "show", "web"]);
    assert_eq!(j["service"]["description"], "the web tier");
    assert_eq!(j["status"]["clients"], serde_json::json!([]));

    // Edit: a new name, description and organisation.
    lab.ok(&["ccc", "organisation", "add", "umbrella"]);
    let edited = lab.ok(&[
        "ccc",
        "service",
        "edit",
        "web",
        "--new-name",
        "web-tier",
        "--description",
        "renamed",
        "--organisation",
        "umbrella",
    ]);
    assert!(edited.starts_with("service \"web\" changed\n"), "{edited}");
    assert!(edited.contains("service         web-tier\n"), "{edited}");
    assert!(edited.contains("organisation    umbrella\n"), "{edited}");
    refused_json(
        &lab,
        &["ccc", "service", "show", "web"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no service \"web\"; services: web-tier",
    );
    refused_json(
        &lab,
        &["ccc", "organisation", "remove", "umbrella"],
        1,
        "CKR_FUNCTION_FAILED",
        "organisation \"umbrella\" owns service \"web-tier\"",
    );
    refused_json(
        &lab,
        &["ccc", "device", "remove", "sa7-a"],
        1,
        "CKR_FUNCTION_FAILED",
        "hosts a partition of service \"web-tier\"",
    );

    // Detach: CCC forgets it; the partitions stay.
    let detached = lab.ok(&["ccc", "service", "detach", "web-tier"]);
    assert_eq!(
        detached,
        "service \"web-tier\" detached: CCC forgets it; its partitions (sa7-a/svc1 sa7-b/svc1) and their objects stay\n"
    );
    assert_eq!(lab.ok(&["ccc", "service", "list"]), "no services\n");
    assert_eq!(lab.partition("sa7-a/svc1")["present"], true);

    // Delete: off a terminal, --yes is required; with it the partitions go.
    lab.ok(&[
        "ccc",
        "service",
        "create",
        "web",
        "--template",
        "ha-password-7",
        "--organisation",
        "acme",
        "--partition",
        "sa7-a/svc2",
        "--partition",
        "sa7-b/svc2",
    ]);
    let out = lab.run(&["ccc", "service", "delete", "web"]);
    refused(
        &out,
        2,
        "deleting service \"web\" cannot be undone: add --yes to confirm",
    );
    assert!(!stderr(&out).contains("CKR_"));
    let out = lab.run(&["ccc", "service", "delete", "web", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--yes")
    );
    assert_eq!(
        lab.json(&["ccc", "service", "list"])["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let j = lab.json(&["ccc", "service", "delete", "web", "--yes"]);
    assert_eq!(j["deleted"]["name"], "web");
    assert_eq!(lab.partition("sa7-a/svc2")["present"], false);
    assert_eq!(lab.partition("sa7-b/svc2")["present"], false);
    assert_eq!(
        lab.partition("sa7-a/svc1")["present"],
        true,
        "detached, kept"
    );
    refused_json(
        &lab,
        &["ccc", "service", "detach", "web"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no service \"web\"",
    );
}

#[test]
fn remove_partition_needs_confirmation_off_a_terminal() {
    let lab = Lab::with_web_service();
    let out = lab.run(&[
        "ccc",
        "service",
        "remove-partition",
        "web",
        "--partition",
        "sa7-b/svc1",
    ]);
    refused(
        &out,
        2,
        "removing partition sa7-b/svc1 from service \"web\" cannot be undone: add --yes to confirm",
    );
    assert_eq!(lab.partition("sa7-b/svc1")["present"], true);
}

#[test]
fn at_a_terminal_the_hsm_so_password_is_asked_without_echo_and_a_deletion_confirmed() {
    if !terminal::script_available() {
        eprintln!("util-linux `script` is not installed: the terminal test cannot run here");
        return;
    }
    let lab = Lab::with_hsm_so();
    let on_terminal = |args: &[&str]| {
        let mut all = vec!["--lab".to_string(), lab.lab_file.clone().unwrap()];
        all.extend(args.iter().map(|a| a.to_string()));
        terminal::Terminal::start(&all, &[])
    };
    lab.ok(&["ccc", "device", "add", "sa7-a"]);
    let mut t = on_terminal(&["ccc", "device", "authorise", "sa7-a"]);
    t.expect("HSM SO password of sa7-a: ");
    t.type_secret("HSM-SO-sa7-a\r");
    let shown = t.expect("device sa7-a authorised");
    assert!(
        !shown.contains("HSM-SO-sa7-a"),
        "the password was echoed: {shown}"
    );
    t.exits_0();
    lab.ok(&["ccc", "device", "add", "sa7-b"]);
    lab.ok(&[
        "ccc",
        "device",
        "authorise",
        "sa7-b",
        "--password",
        "HSM-SO-sa7-b",
    ]);
    lab.ok(&[
        "ccc",
        "service",
        "create",
        "web",
        "--template",
        "ha-password-7",
        "--organisation",
        "acme",
        "--partition",
        "sa7-a/svc1",
        "--partition",
        "sa7-b/svc1",
    ]);
    // "n": nothing changes.
    let mut t = on_terminal(&["ccc", "service", "delete", "web"]);
    t.expect("Delete service \"web\"? Its partitions and every object in them are destroyed");
    t.type_keys("n");
    t.expect("deleting service \"web\": not confirmed, nothing changed");
    assert_eq!(
        lab.json(&["ccc", "service", "list"])["services"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(lab.partition("sa7-a/svc1")["present"], true);
    // "y": deleted.
    let mut t = on_terminal(&["ccc", "service", "delete", "web"]);
    t.expect("Delete service \"web\"?");
    t.type_keys("y");
    t.expect("service \"web\" deleted");
    t.exits_0();
    assert_eq!(lab.ok(&["ccc", "service", "list"]), "no services\n");
    assert_eq!(lab.partition("sa7-a/svc1")["present"], false);
}

#[test]
fn serve_takes_an_address_and_port() {
    let lab = Lab::built_in();
    let out = lab.run(&["ccc", "serve", "--listen", "localhost"]);
    refused(
        &out,
        2,
        "invalid value 'localhost' for '--listen <ADDRESS:PORT>'",
    );
    let help = lab.ok(&["ccc", "serve", "--help"]);
    assert!(help.contains("[default: 127.0.0.1:8181]"), "{help}");
}

// The lifecycle of a service (ccc-lifecycle builds it).

#[test]
fn a_templates_backup_type_is_set_and_kept() {
    let lab = Lab::built_in();
    let j = lab.json(&[
        "ccc",
        "template",
        "add",
        "backed",
        "--type",
        "hsm-partition",
        "--auth",
        "password",
        "--size",
        "50000",
        "--backup-type",
        "backup-hsm",
    ]);
    assert_eq!(j["template"]["backup_type"], "backup-hsm");
    let j = lab.json(&["ccc", "template", "edit", "backed", "--size", "60000"]);
    assert_eq!(j["template"]["backup_type"], "backup-hsm", "kept");
    let shown = lab.ok(&["ccc", "template", "show", "backed"]);
    assert!(
        shown.contains("backup type             backup-hsm\n"),
        "{shown}"
    );
    let j = lab.json(&["ccc", "template", "edit", "backed", "--backup-type", "none"]);
    assert_eq!(j["template"]["backup_type"], "none");
}

/// The CCC initialisation answers of the tests (a PPSO password service).
const INITIALISE: &[&str] = &[
    "--label",
    "web",
    "--cloning-domain",
    "acme-ccc-domain",
    "--so-password",
    "PO-web-2026",
    "--co-password",
    "CO-web-2026",
];

#[test]
fn a_service_is_initialised_activated_and_its_keys_and_clients_listed() {
    let lab = Lab::with_web_service();
    let out = lab.run(&["ccc", "service", "initialise", "web", "--label", "web"]);
    refused(&out, 2, "is needed");
    refused_json(
        &lab,
        &[
            &["ccc", "service", "initialise", "web"][..],
            &INITIALISE[..6],
            &["--co-password", "short"],
        ]
        .concat(),
        1,
        "CKR_FUNCTION_FAILED",
        "8",
    );
    let done = lab.ok(&[&["ccc", "service", "initialise", "web"][..], INITIALISE].concat());
    assert!(done.starts_with("service \"web\" initialised\n"), "{done}");
    assert!(done.contains("status: initialised"), "{done}");
    assert_eq!(lab.partition("sa7-a/svc1")["initialized"], true);
    assert_eq!(lab.partition("sa7-b/svc1")["initialized"], true);
    let j = lab.json(&["ccc", "service", "show", "web"]);
    assert_eq!(j["status"]["initialised"], true);
    assert_eq!(j["status"]["initialised_by_ccc"], true);
    // Activating roles applies only to PED-based services.
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "activate",
            "web",
            "--co-password",
            "CO-web-2026",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "applies only to PED-based services",
    );
    assert_eq!(
        lab.json(&["ccc", "service", "keys", "web"])["keys"],
        serde_json::json!([])
    );
    assert_eq!(
        lab.ok(&["ccc", "service", "keys", "web"]),
        "service \"web\" has no keys\n"
    );
    // Deployed to a client.
    let j = lab.json(&[
        "ccc",
        "service",
        "register-client",
        "web",
        "--client",
        "app-client",
    ]);
    assert_eq!(j["status"]["clients"][0]["host"], "app-client");
    assert_eq!(
        lab.ok(&["ccc", "service", "clients", "web"]),
        "CLIENT      MUST REGISTER AGAIN\napp-client  no\n"
    );
}

#[test]
fn a_non_ppso_password_service_is_not_activated_by_ccc() {
    let lab = Lab::authorised(&["sa6-ppso"]);
    lab.ok(&[
        "ccc",
        "template",
        "add",
        "solo-6",
        "--type",
        "hsm-partition",
        "--auth",
        "password",
        "--size",
        "50000",
        "--per-partition-so",
        "false",
    ]);
    lab.ok(&[
        "ccc",
        "service",
        "create",
        "solo",
        "--template",
        "solo-6",
        "--organisation",
        "acme",
        "--partition",
        "sa6-ppso/spare",
    ]);
    lab.ok(&[
        "ccc",
        "service",
        "initialise",
        "solo",
        "--label",
        "solo",
        "--cloning-domain",
        "acme-ccc-domain",
        "--co-password",
        "CO-solo-2026",
    ]);
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "activate",
            "solo",
            "--co-password",
            "CO-solo-2026",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "PED-based",
    );
}

#[test]
fn partitions_are_added_initialised_and_removed_and_clients_register_again() {
    let lab = Lab::authorised(&["sa7-a", "sa7-b", "sa7-c"]);
    lab.ok(&[
        "ccc",
        "service",
        "create",
        "web",
        "--template",
        "ha-password-7",
        "--organisation",
        "acme",
        "--partition",
        "sa7-a/svc1",
        "--partition",
        "sa7-b/svc1",
    ]);
    lab.ok(&[&["ccc", "service", "initialise", "web"][..], INITIALISE].concat());
    lab.ok(&[
        "ccc",
        "service",
        "register-client",
        "web",
        "--client",
        "app-client",
    ]);
    let added = lab.json(&[
        "ccc",
        "service",
        "add-partition",
        "web",
        "--partition",
        "sa7-c/svc1",
    ]);
    assert_eq!(
        added["service"]["partitions"],
        serde_json::json!(["sa7-a/svc1", "sa7-b/svc1", "sa7-c/svc1"])
    );
    assert_eq!(
        added["status"]["uninitialised_partitions"],
        serde_json::json!(["sa7-c/svc1"])
    );
    let list = lab.ok(&["ccc", "service", "list"]);
    assert!(list.contains("1 partition(s) to initialise"), "{list}");
    let j = lab.json(&[
        "ccc",
        "service",
        "initialise-partitions",
        "web",
        "--cloning-domain",
        "acme-ccc-domain",
        "--co-password",
        "CO-web-2026",
    ]);
    assert_eq!(
        j["status"]["uninitialised_partitions"],
        serde_json::json!([])
    );
    assert_eq!(j["status"]["clients"][0]["re_registration_needed"], true);
    let list = lab.ok(&["ccc", "service", "list"]);
    assert!(list.contains("clients must register again"), "{list}");
    assert_eq!(lab.partition("sa7-c/svc1")["initialized"], true);
    let j = lab.json(&[
        "ccc",
        "service",
        "remove-partition",
        "web",
        "--partition",
        "sa7-c/svc1",
        "--yes",
    ]);
    assert_eq!(
        j["service"]["partitions"],
        serde_json::json!(["sa7-a/svc1", "sa7-b/svc1"])
    );
    lab.ok(&[
        "ccc",
        "service",
        "remove-partition",
        "web",
        "--partition",
        "sa7-b/svc1",
        "--yes",
    ]);
    // Not the last one.
    refused_json(
        &lab,
        &[
            "ccc",
            "service",
            "remove-partition",
            "web",
            "--partition",
            "sa7-a/svc1",
            "--yes",
        ],
        1,
        "CKR_FUNCTION_FAILED",
        "",
    );
}

#[test]
fn a_service_is_resized_unless_a_device_is_off_line() {
    let lab = Lab::with_web_service();
    lab.ok(&[&["ccc", "service", "initialise", "web"][..], INITIALISE].concat());
    for bad in ["999", "100000000", "1.5e4", "12a"] {
        refused_json(
            &lab,
            &["ccc", "service", "resize", "web", "--size", bad],
            1,
            "CKR_FUNCTION_FAILED",
            "",
        );
    }
    let j = lab.json(&["ccc", "service", "resize", "web", "--size", "200000"]);
    assert_eq!(j["status"]["partition_size"], 200000);
    let shown = lab.ok(&["ccc", "service", "show", "web"]);
    assert!(shown.contains("partition size  200000 bytes\n"), "{shown}");
    assert_eq!(
        lab.ok(&["ccc", "device", "offline", "sa7-b"]),
        "device sa7-b is off line for CCC\n"
    );
    assert_eq!(
        lab.json(&["ccc", "device", "list"])["devices"][1]["offline"],
        true
    );
    assert!(lab.ok(&["ccc", "device", "list"]).contains("off line"));
    refused_json(
        &lab,
        &["ccc", "service", "resize", "web", "--size", "300000"],
        1,
        "CKR_FUNCTION_FAILED",
        "sa7-b",
    );
    lab.ok(&["ccc", "device", "online", "sa7-b"]);
    lab.ok(&["ccc", "service", "resize", "web", "--size", "300000"]);
}

// Import Partitions (ccc-import builds it).

#[test]
fn unmanaged_partitions_are_discovered_edited_and_imported() {
    let lab = Lab::authorised(&["sa6-legacy", "sa6-ppso", "sa7-a", "sa7-b", "sa7-c"]);
    assert!(
        lab.ok(&["ccc", "import", "show"])
            .contains("no saved import table")
    );
    assert_eq!(
        lab.json(&["ccc", "import", "show"])["import_table"],
        Value::Null
    );
    let j = lab.json(&["ccc", "import", "discover"]);
    let rows: Vec<String> = j["import_table"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partition"].as_str().unwrap().to_string())
        .collect();
    for p in [
        "sa6-legacy/legacy",
        "sa6-ppso/payments",
        "sa7-a/web1",
        "sa7-b/web2",
        "sa7-c/vault",
    ] {
        assert!(rows.iter().any(|r| r == p), "{p} in {rows:?}");
    }
    let shown = lab.ok(&["ccc", "import", "show"]);
    assert!(shown.contains("PARTITION"), "{shown}");
    assert!(shown.contains("sa6-ppso/payments"), "{shown}");
    // Kept between sessions: edits land in the saved table.
    let j = lab.json(&[
        "ccc",
        "import",
        "edit",
        "sa6-ppso/payments",
        "--service-name",
        "payments",
        "--organisation",
        "acme",
        "--description",
        "card payments",
    ]);
    let row = j["import_table"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partition"] == "sa6-ppso/payments")
        .unwrap()
        .clone();
    assert_eq!(row["service_name"], "payments");
    assert_eq!(row["description"], "card payments");
    for (partition, name) in [
        ("sa6-legacy/legacy", "legacy-pki"),
        ("sa7-a/web1", "web"),
        ("sa7-b/web2", "web"),
    ] {
        lab.ok(&[
            "ccc",
            "import",
            "edit",
            partition,
            "--service-name",
            name,
            "--organisation",
            "acme",
        ]);
    }
    lab.ok(&[
        "ccc",
        "import",
        "edit",
        "sa7-a/web1",
        "--ha-group",
        "web-ha",
    ]);
    lab.ok(&[
        "ccc",
        "import",
        "edit",
        "sa7-b/web2",
        "--ha-group",
        "web-ha",
    ]);
    let j = lab.json(&["ccc", "import", "delete-row", "sa7-c/vault"]);
    assert!(
        !j["import_table"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["partition"] == "sa7-c/vault")
    );
    refused_json(
        &lab,
        &["ccc", "import", "delete-row", "sa7-c/vault"],
        2,
        "CKR_ARGUMENTS_BAD",
        "sa7-c/vault",
    );
    let finished = lab.json(&["ccc", "import", "finish"]);
    let mut names: Vec<String> = finished["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert!(names.contains(&"payments".to_string()), "{names:?}");
    assert!(names.contains(&"legacy-pki".to_string()), "{names:?}");
    assert!(names.contains(&"web".to_string()), "{names:?}");
    let web = lab.json(&["ccc", "service", "show", "web"]);
    assert_eq!(
        web["service"]["partitions"],
        serde_json::json!(["sa7-a/web1", "sa7-b/web2"])
    );
    assert_eq!(web["status"]["initialised"], true);
    assert_eq!(web["status"]["initialised_by_ccc"], false);
    // Imported services keep their objects: the partitions are still initialised.
    assert_eq!(lab.partition("sa6-ppso/payments")["initialized"], true);
}

#[test]
fn an_import_is_cancelled() {
    let lab = Lab::authorised(&["sa7-c"]);
    lab.ok(&["ccc", "import", "discover"]);
    assert_eq!(
        lab.ok(&["ccc", "import", "cancel"]),
        "import cancelled: the saved import table is discarded\n"
    );
    assert_eq!(
        lab.json(&["ccc", "import", "show"])["import_table"],
        Value::Null
    );
    assert_eq!(lab.ok(&["ccc", "service", "list"]), "no services\n");
}

// Migrate Service (ccc-migrate builds it).

/// The services CCC already manages in the migration tests: payments (6.x PPSO) and vault
/// (7.7), created and initialised outside CCC.
const MANAGED: &str = r#"
[[ccc.template]]
name = "ppso-password"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000

[[ccc.service]]
name = "payments"
template = "ppso-password"
organisation = "acme"
partitions = ["sa6-ppso/payments"]

[[ccc.service]]
name = "vault"
template = "ppso-password"
organisation = "acme"
partitions = ["sa7-c/vault"]
"#;

/// `luna-ccc` with the services of `MANAGED` and the 7.4 devices authorised.
fn managed() -> Lab {
    let lab = Lab::with_hsm_so();
    let file = lab.lab_file.clone().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    // Before the "pcie" device the test added: `MANAGED` continues `[ccc]`.
    let at = text.find("\n[[device]]\nname = \"pcie\"").unwrap();
    let text = format!("{}{MANAGED}{}", &text[..at], &text[at..]);
    std::fs::write(&file, text).unwrap();
    lab.authorise(&["sa7-a", "sa7-b"]);
    lab
}

fn migration(source: &str, name: &str, targets: &[&str], so: &str, co: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "--service",
        source,
        "--name",
        name,
        "--organisation",
        "acme",
        "--size",
        "100000",
        "--label",
        name,
        "--cloning-domain",
        "acme-ccc-domain",
        "--so-password",
        so,
        "--co-password",
        co,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for target in targets {
        args.push("--target".into());
        args.push(target.to_string());
    }
    args
}

#[test]
fn a_6x_ppso_service_migrates_to_two_7x_devices_with_its_progress() {
    let lab = managed();
    // A service the lab manages was initialised outside CCC.
    let list = lab.ok(&["ccc", "service", "list"]);
    assert!(
        list.contains(
            "payments  acme          ppso-password  sa6-ppso/payments  initialised (imported)\n"
        ),
        "{list}"
    );
    let services = lab.json(&["ccc", "migrate", "services"]);
    assert!(
        services["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "payments"),
        "{services}"
    );
    let request = migration(
        "payments",
        "payments-7",
        &["sa7-a/svc2", "sa7-b/svc2"],
        "PO-payments-2021",
        "CO-payments-2021",
    );
    let args: Vec<&str> = request.iter().map(String::as_str).collect();
    let check = lab.ok(&[&["ccc", "migrate", "check"][..], &args].concat());
    assert_eq!(
        check,
        "service \"payments\" can be migrated to sa7-a/svc2 sa7-b/svc2\n"
    );
    let out = lab.run(&[&["ccc", "migrate", "run"][..], &args].concat());
    let text = succeeded(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "progress lines, then the result: {text}");
    assert!(
        lines.last().unwrap().starts_with(
            "migration 1: service \"payments\" migrated to new service \"payments-7\""
        ),
        "{text}"
    );
    let status = lab.json(&["ccc", "migrate", "status", "1"]);
    assert_eq!(status["migration"]["state"], "succeeded");
    assert_eq!(status["migration"]["source_partition"], "sa6-ppso/payments");
    for message in status["migration"]["progress"].as_array().unwrap() {
        assert!(
            text.contains(message.as_str().unwrap()),
            "{message} printed as it came"
        );
    }
    assert_eq!(
        lab.json(&["ccc", "migrate", "status"])["migration"]["id"],
        1
    );
    let list = lab.ok(&["ccc", "migrate", "list"]);
    assert!(list.contains("payments-7"), "{list}");
    assert!(list.contains("succeeded"), "{list}");
    let new = lab.json(&["ccc", "service", "show", "payments-7"]);
    assert_eq!(
        new["service"]["partitions"],
        serde_json::json!(["sa7-a/svc2", "sa7-b/svc2"])
    );
    // The objects were copied: as many on each target as on the source.
    let objects = lab.partition("sa6-ppso/payments")["objects"].clone();
    assert_eq!(lab.partition("sa7-a/svc2")["objects"], objects);
    assert_eq!(lab.partition("sa7-b/svc2")["objects"], objects);
    // Synchronising opens the partitions with the crypto officer's credential (CCC keeps none):
    // the migrated service's, the source's; its partitions already hold every object.
    assert_eq!(
        lab.ok(&[
            "ccc",
            "service",
            "synchronise",
            "payments-7",
            "--co-password",
            "CO-payments-2021",
        ]),
        "service \"payments-7\": partitions synchronised, 0 objects copied\n"
    );
    refused_json(
        &lab,
        &["ccc", "migrate", "status", "7"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no migration 7; migrations: 1",
    );
}

#[test]
fn a_77_source_is_not_migrated_to_74_devices() {
    let lab = managed();
    let request = migration(
        "vault",
        "vault-74",
        &["sa7-a/svc2", "sa7-b/svc2"],
        "PO-vault-2025",
        "CO-vault-2025",
    );
    let args: Vec<&str> = request.iter().map(String::as_str).collect();
    refused_json(
        &lab,
        &[&["ccc", "migrate", "check"][..], &args].concat(),
        1,
        "CKR_FUNCTION_FAILED",
        "7.7",
    );
    refused_json(
        &lab,
        &[&["ccc", "migrate", "run"][..], &args].concat(),
        1,
        "CKR_FUNCTION_FAILED",
        "7.7",
    );
    // Refused before it ran: no service, the targets still blank.
    refused_json(
        &lab,
        &["ccc", "service", "show", "vault-74"],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no service \"vault-74\"",
    );
    assert_eq!(lab.partition("sa7-a/svc2")["initialized"], false);
    assert_eq!(
        lab.json(&["ccc", "migrate", "recover"])["recovered"],
        serde_json::json!([])
    );
}

/// Generates an AES key on sa6-ppso/payments (slot 1 of the lab's "ccc-server" host) as its
/// Crypto Officer, through the engine (as a client of the lab would).
fn payments_key(lab: &Lab) {
    use cryptoki_sys::*;
    let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
        lab_file: lab.lab_file.clone().map(Into::into),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let config = selection
        .lab
        .config(Some("ccc-server"), selection.state_dir.clone())
        .unwrap();
    let engine = hsmsim::engine::Engine::open(&config).unwrap();
    let session = engine
        .open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    engine
        .login(session, CKU_USER, b"CO-payments-2021")
        .unwrap();
    let mut template = hsmsim::base::attribute::Attributes::new();
    template.set_bool(CKA_TOKEN, true);
    template.set_bool(CKA_ENCRYPT, true);
    template.set_ulong(CKA_VALUE_LEN, 32);
    template.set_bytes(CKA_LABEL, b"payments-aes".to_vec());
    engine
        .generate_key(
            session,
            &hsmsim::crypto::Mechanism::new(CKM_AES_KEY_GEN),
            &template,
        )
        .unwrap();
    engine.close_everything();
}

/// A copy refused by a device with cloning off (CCC's Troubleshooting error), repaired the
/// documented way: a partition added and initialised, then `register-client` (ccc_client
/// authorising the service) synchronises it with the Crypto Officer password, given as
/// `--co-password` or `$HSMSIM_CO_PASSWORD`; without it, refused.
#[test]
fn register_client_takes_the_co_password_to_synchronise_a_service_out_of_sync() {
    let lab = managed();
    // HSM policy 7 (cloning) off on sa7-c; its partitions without cloning policies.
    let file = lab.lab_file.clone().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let text = hsmsim::lab::without_cloning(&text, "sa7-c", &["admin", "vault"]).unwrap();
    std::fs::write(&file, text).unwrap();
    payments_key(&lab);
    let request = migration(
        "payments",
        "payments-7",
        &["sa7-a/svc2", "sa7-c/svc1"],
        "PO-payments-2021",
        "CO-payments-2021",
    );
    let args: Vec<&str> = request.iter().map(String::as_str).collect();
    let out = lab.run(&[&["ccc", "migrate", "run"][..], &args].concat());
    refused(
        &out,
        1,
        "failed: We ran into an error while migrating the key material to the following device(s): sa7-c (sa7-c/svc1). To add devices on which migration has failed, use the add partition functionality for the newly created service.",
    );
    // The progress said why sa7-c's copy failed.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Copying the objects to sa7-c/svc1 failed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let status = lab.json(&["ccc", "migrate", "status", "1"]);
    assert_eq!(status["migration"]["state"], "failed");
    assert_eq!(
        status["migration"]["failed_targets"],
        serde_json::json!(["sa7-c/svc1"])
    );
    let show = lab.json(&["ccc", "service", "show", "payments-7"]);
    assert_eq!(
        show["service"]["partitions"],
        serde_json::json!(["sa7-a/svc2"])
    );
    lab.ok(&[
        "ccc",
        "service",
        "add-partition",
        "payments-7",
        "--partition",
        "sa7-b/svc2",
    ]);
    lab.ok(&[
        "ccc",
        "service",
        "initialise-partitions",
        "payments-7",
        "--cloning-domain",
        "acme-ccc-domain",
        "--co-password",
        "CO-payments-2021",
    ]);
    let register = [
        "ccc",
        "service",
        "register-client",
        "payments-7",
        "--client",
        "app-client",
    ];
    // Without the password (none in the environment, no terminal): refused, saying why.
    let out = output(
        lab.command()
            .env_remove("HSMSIM_CO_PASSWORD")
            .args(register)
            .arg("--json"),
    );
    refused(&out, 1, "needs synchronisation: sa7-b/svc2 lack objects");
    assert_eq!(json(&out)["error"]["code"], "CKR_FUNCTION_FAILED");
    // A wrong one: refused, nothing registered.
    let out = lab.run(&[&register[..], &["--co-password", "CO-wrong-2021"]].concat());
    refused(&out, 2, "CKR_PIN_INCORRECT");
    assert_eq!(
        lab.json(&["ccc", "service", "show", "payments-7"])["status"]["clients"],
        serde_json::json!([])
    );
    // The right one, from the environment: synchronised, then registered.
    let out = output(
        lab.command()
            .env("HSMSIM_CO_PASSWORD", "CO-payments-2021")
            .args(register),
    );
    assert_eq!(
        succeeded(&out).lines().next(),
        Some("service \"payments-7\" deployed to client app-client")
    );
    assert_eq!(lab.partition("sa7-b/svc2")["objects"], 1);
    // In sync: no password needed.
    let j = lab.json(&register);
    assert_eq!(j["status"]["clients"][0]["host"], "app-client");
}

#[test]
fn the_new_services_hsm_model_is_checked_against_the_targets() {
    let lab = managed();
    let request = migration(
        "payments",
        "payments-7",
        &["sa7-a/svc2", "sa7-b/svc2"],
        "PO-payments-2021",
        "CO-payments-2021",
    );
    let args: Vec<&str> = request.iter().map(String::as_str).collect();
    let check = |model: &'static str| -> Vec<&str> {
        [
            &["ccc", "migrate", "check", "--hsm-model", model][..],
            &args,
        ]
        .concat()
    };
    assert_eq!(
        lab.ok(&check("network-hsm-7")),
        "service \"payments\" can be migrated to sa7-a/svc2 sa7-b/svc2, of HSM model Thales Luna Network HSM 7 (Firmware below 7.7.0)\n"
    );
    assert_eq!(
        lab.json(&check("network-hsm-7"))["hsm_model"],
        "network-hsm-7"
    );
    refused_json(
        &lab,
        &check("network-hsm-7-770"),
        1,
        "CKR_FUNCTION_FAILED",
        "the new service's HSM model is Thales Luna Network HSM 7 (Firmware 7.7.0 and above): device \"sa7-a\" has firmware 7.4.2, a Thales Luna Network HSM 7 (Firmware below 7.7.0)",
    );
    refused_json(
        &lab,
        &[
            &["ccc", "migrate", "run", "--hsm-model", "network-hsm-6"][..],
            &args,
        ]
        .concat(),
        1,
        "CKR_FUNCTION_FAILED",
        "device \"sa7-a\" has firmware 7.4.2",
    );
    // Refused before it ran: no service.
    assert!(!lab.ok(&["ccc", "service", "list"]).contains("payments-7"));
    // An HSM model CCC does not list is a usage error naming the ones it does.
    let out = lab.run(&check("network-hsm-8"));
    refused(&out, 2, "network-hsm-6, network-hsm-7, network-hsm-7-770");
}

// The web server (ccc-web builds it).

#[test]
fn serve_listens_on_the_address_given() {
    let lab = Lab::built_in();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = lab
        .command()
        .args(["ccc", "serve", "--listen", &listen])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let connected = loop {
        if let Ok(stream) = std::net::TcpStream::connect(&listen) {
            break Some(stream);
        }
        if started.elapsed() > std::time::Duration::from_secs(20)
            || child.try_wait().unwrap().is_some()
        {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(connected.is_some(), "hsmsim ccc serve listens on {listen}");
}

#[test]
fn a_users_login_password_is_set() {
    let lab = Lab::built_in();
    assert_eq!(
        lab.ok(&[
            "ccc",
            "user",
            "password",
            "app-owner",
            "--password",
            "owner-pass-1"
        ]),
        "user \"app-owner\": password set\n"
    );
    let out = output(
        lab.command()
            .env("HSMSIM_CCC_PASSWORD", "admin-pass-1")
            .args(["ccc", "user", "password", "ccc-admin", "--json"]),
    );
    assert_eq!(
        json(&out),
        serde_json::json!({"user": "ccc-admin", "password_set": true})
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "user",
            "password",
            "app-owner",
            "--password",
            "short",
        ],
        1,
        "CKR_PIN_LEN_RANGE",
        "8",
    );
    refused_json(
        &lab,
        &[
            "ccc",
            "user",
            "password",
            "nobody",
            "--password",
            "long-enough",
        ],
        2,
        "CKR_ARGUMENTS_BAD",
        "CCC has no user \"nobody\"",
    );
    let out = lab.run(&["ccc", "user", "password", "app-owner"]);
    refused(&out, 2, "--password is needed");
}
