//! `hsmsim lab fail|recover` and `hsmsim lab ha ...` as a user runs them (seed 003's temporary
//! HA group): exit codes, text and JSON output, refusals with their `CKR_*` names.
mod common;

use common::{json, refused, succeeded};
use serde_json::Value;
use std::process::Output;

/// The HA tests' lab (`simulator/tests/ha/lab.toml`): host "app" sees sa-a/web1,
/// sa-b/web2, sa-c/web3 (one domain and CO password) and sa-d/other (another domain) as slots
/// 0 to 3.
const LAB: &str = include_str!("../../simulator/tests/ha/lab.toml");

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
    /// `run` with the Crypto Officer's password.
    fn run_co(&self, args: &[&str]) -> Output {
        self.run(&[args, &["--password", "co-pin-0001"]].concat())
    }
    /// `lab ha add-member` of `partition` to `group`, with the Crypto Officer's password.
    fn add_member(&self, group: &str, partition: &str) -> Output {
        self.run_co(&[
            "lab",
            "ha",
            "add-member",
            "--group",
            group,
            "--partition",
            partition,
        ])
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
    assert_eq!(present, [true, false, true, true]);
    let out = succeeded(&lab.run(&["lab", "recover", "sa-b"]));
    assert!(out.contains("device sa-b recovered"), "{out}");
    refused(&lab.run(&["lab", "recover", "sa-b"]), 2, "already up");
}

#[test]
fn a_temporary_ha_group_from_create_to_delete() {
    let lab = Lab::new();
    let created = lab.run_co(&[
        "lab",
        "ha",
        "create",
        "--label",
        "tmpMig",
        "--partition",
        "sa-a/web1",
    ]);
    let text = succeeded(&created);
    assert!(text.contains("HA Group Label:  tmpMig"), "{text}");
    assert!(text.contains("Needs sync:  no"), "{text}");
    let serial = lab.groups()[0]["serial"].as_str().unwrap().to_string();
    // addmember: needs sync until synchronised.
    succeeded(&lab.add_member("tmpMig", "sa-b/web2"));
    assert_eq!(lab.groups()[0]["needs_sync"], true);
    let text = succeeded(&lab.run(&["lab", "ha", "list"]));
    assert!(text.contains("Needs sync:  yes"), "{text}");
    let synced = succeeded(&lab.run_co(&["lab", "ha", "synchronize", "--group", "tmpMig"]));
    assert!(synced.contains("synchronised"), "{synced}");
    assert_eq!(lab.groups()[0]["needs_sync"], false);
    // The virtual slot follows the physical ones (`lab show` too); HA-only mode hides those.
    assert_eq!(lab.slot_ids(), [0, 1, 2, 3, 4]);
    let show = json(&lab.run(&["lab", "show", "--json"]));
    let ha = &show["hosts"][0]["slots"][4]["ha_group"];
    assert_eq!(ha["label"], "tmpMig");
    assert_eq!(ha["members"], serde_json::json!(["sa-a/web1", "sa-b/web2"]));
    succeeded(&lab.run(&["lab", "ha", "ha-only", "on"]));
    assert_eq!(lab.slot_ids(), [4]);
    succeeded(&lab.run(&["lab", "ha", "ha-only", "off"]));
    // A member on another domain is refused by the HSMs (exit 1, its code); a wrong
    // password is a refused PIN (exit 2).
    let out = lab.add_member("tmpMig", "sa-d/other");
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
    let out = lab.run_co(&["lab", "ha", "synchronize", "--group", "tmpMig"]);
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
    assert_eq!(lab.slot_ids(), [0, 1, 2, 3]);
}
