//! `hsmsim lab fail|recover` and `hsmsim lab ha ...` as a user runs them (seed 003's temporary
//! HA group): exit codes, text and JSON output, refusals with their `CKR_*` names.
mod common;

use common::{json, refused, succeeded};
use serde_json::Value;
use std::process::Output;

/// Two initialised Network HSM 7 partitions with one domain and CO password, a third with
/// another domain; host "app" sees them as slots 0, 1, 2.
const LAB: &str = r#"
[lab]
name = "lab-ha-cli"

[[device]]
name = "sa-a"
kind = "luna-network"
serial = "156908040"
  [[device.partition]]
  name = "web1"
  label = "web1"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "ha-domain"

[[device]]
name = "sa-b"
kind = "luna-network"
serial = "156908041"
  [[device.partition]]
  name = "web2"
  label = "web2"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "ha-domain"

[[device]]
name = "sa-c"
kind = "luna-network"
  [[device.partition]]
  name = "web3"
  label = "web3"
  so_pin = "po-pin-0001"
  user_pin = "co-pin-0001"
  domain = "another-domain"

[[host]]
name = "app"
slot = [{ id = 0, partition = "sa-a/web1" }, { id = 1, partition = "sa-b/web2" }, { id = 2, partition = "sa-c/web3" }]
"#;

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lab.toml"), LAB).unwrap();
        Lab { dir }
    }
    fn run(&self, args: &[&str]) -> Output {
        common::output(
            common::command()
                .arg("--lab")
                .arg(self.dir.path().join("lab.toml"))
                .args(args),
        )
    }
    fn groups(&self) -> Value {
        json(&self.run(&["lab", "ha", "list", "--json"]))["groups"].clone()
    }
    fn slot_ids(&self) -> Vec<u64> {
        json(&self.run(&["slots", "--json"]))["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["slot"].as_u64().unwrap())
            .collect()
    }
}

#[test]
fn fail_and_recover_a_device() {
    let lab = Lab::new();
    let out = succeeded(&lab.run(&["lab", "fail", "sa-b"]));
    assert!(out.contains("device sa-b failed"), "{out}");
    refused(&lab.run(&["lab", "fail", "sa-b"]), 2, "already failed");
    refused(&lab.run(&["lab", "fail", "nope"]), 2, "no device \"nope\"");
    // The failed device's slot shows no token.
    let slots = json(&lab.run(&["slots", "--json"]));
    let present: Vec<bool> = slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["present"].as_bool().unwrap_or(true))
        .collect();
    assert_eq!(present, [true, false, true]);
    let out = succeeded(&lab.run(&["lab", "recover", "sa-b"]));
    assert!(out.contains("device sa-b recovered"), "{out}");
    refused(&lab.run(&["lab", "recover", "sa-b"]), 2, "already up");
}

#[test]
fn a_temporary_ha_group_from_create_to_delete() {
    let lab = Lab::new();
    let pw = ["--password", "co-pin-0001"];
    let created = lab.run(
        &[
            &[
                "lab",
                "ha",
                "create",
                "--label",
                "tmpMig",
                "--partition",
                "sa-a/web1",
            ][..],
            &pw,
        ]
        .concat(),
    );
    let text = succeeded(&created);
    assert!(text.contains("HA Group Label:  tmpMig"), "{text}");
    assert!(text.contains("Needs sync:  no"), "{text}");
    let serial = lab.groups()[0]["serial"].as_str().unwrap().to_string();
    // addmember: needs sync until synchronised.
    succeeded(
        &lab.run(
            &[
                &[
                    "lab",
                    "ha",
                    "add-member",
                    "--group",
                    "tmpMig",
                    "--partition",
                    "sa-b/web2",
                ][..],
                &pw,
            ]
            .concat(),
        ),
    );
    assert_eq!(lab.groups()[0]["needs_sync"], true);
    let text = succeeded(&lab.run(&["lab", "ha", "list"]));
    assert!(text.contains("Needs sync:  yes"), "{text}");
    let synced = succeeded(
        &lab.run(&[&["lab", "ha", "synchronize", "--group", "tmpMig"][..], &pw].concat()),
    );
    assert!(synced.contains("synchronised"), "{synced}");
    assert_eq!(lab.groups()[0]["needs_sync"], false);
    // The virtual slot follows the physical ones; HA-only mode hides those.
    assert_eq!(lab.slot_ids(), [0, 1, 2, 3]);
    succeeded(&lab.run(&["lab", "ha", "ha-only", "on"]));
    assert_eq!(lab.slot_ids(), [3]);
    succeeded(&lab.run(&["lab", "ha", "ha-only", "off"]));
    // A member on another domain is refused by the HSMs (exit 1, its code); a wrong
    // password is a refused PIN (exit 2).
    let out = lab.run(
        &[
            &[
                "lab",
                "ha",
                "add-member",
                "--group",
                "tmpMig",
                "--partition",
                "sa-c/web3",
            ][..],
            &pw,
        ]
        .concat(),
    );
    refused(&out, 1, "CKR_CERTIFICATE_INVALID");
    let out = lab.run(&[
        "lab",
        "ha",
        "synchronize",
        "--group",
        "tmpMig",
        "--password",
        "wrong-pin-1",
    ]);
    refused(&out, 2, "CKR_PIN_INCORRECT");
    // A member down: synchronising is refused.
    succeeded(&lab.run(&["lab", "fail", "sa-b"]));
    let out = lab.run(&[&["lab", "ha", "synchronize", "--group", "tmpMig"][..], &pw].concat());
    refused(&out, 1, "CKR_DEVICE_REMOVED");
    assert_eq!(lab.groups()[0]["members"][1]["alive"], false);
    succeeded(&lab.run(&["lab", "recover", "sa-b"]));
    // Removing the creating member changes the group number.
    let removed = json(&lab.run(&[
        "lab",
        "ha",
        "remove-member",
        "--group",
        "tmpMig",
        "--partition",
        "sa-a/web1",
        "--json",
    ]));
    assert_ne!(removed["serial"].as_str().unwrap(), serial);
    // The password from the environment; an unknown group.
    let out = common::output(
        common::command()
            .arg("--lab")
            .arg(lab.dir.path().join("lab.toml"))
            .args(["lab", "ha", "synchronize", "--group", "nope"])
            .env("HSMSIM_CO_PASSWORD", "co-pin-0001"),
    );
    refused(&out, 2, "no HA group \"nope\"");
    let out = succeeded(&lab.run(&["lab", "ha", "delete", "--label", "tmpMig"]));
    assert!(out.contains("keep their objects"), "{out}");
    assert_eq!(lab.groups(), serde_json::json!([]));
    assert_eq!(lab.slot_ids(), [0, 1, 2]);
}
