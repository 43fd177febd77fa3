//! `hsmsim selftest` passes on every kind of partition of every built-in lab (issue 11 item 5):
//! each device kind, firmware and authentication of each fixture, with the vendor's key
//! defaults (a Primus partition makes every usage a template does not name false).
mod common;

use common::{command, init_lab, json, lab_file, output, stderr, succeeded};
use std::collections::BTreeSet;

#[test]
fn selftest_passes_on_every_partition_kind_of_every_fixture() {
    let fixtures = succeeded(&output(command().args(["lab", "fixtures"])));
    let names: Vec<&str> = fixtures
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"primus") && names.contains(&"luna-ccc"),
        "{fixtures}"
    );
    let mut tested = Vec::new();
    for fixture in names {
        let dir = init_lab(fixture);
        let lab = lab_file(dir.path());
        let file: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.path().join("lab.toml")).unwrap()).unwrap();
        let show = json(&output(
            command().args(["--lab", &lab, "lab", "show", "--json"]),
        ));
        let mut kinds = BTreeSet::new();
        for device in file["device"].as_array().unwrap() {
            let get = |k: &str| {
                device
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("-")
                    .to_string()
            };
            let kind = (get("kind"), get("firmware"), get("auth"));
            for partition in device
                .get("partition")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
            {
                let Some(pin) = partition.get("user_pin").and_then(|p| p.as_str()) else {
                    continue;
                };
                if kinds.contains(&kind) || get("auth") == "ped" {
                    continue;
                }
                let id = format!("{}/{}", get("name"), partition["name"].as_str().unwrap());
                // A host and slot that show the partition.
                let Some((host, slot)) = show["hosts"].as_array().unwrap().iter().find_map(|h| {
                    h["slots"].as_array().unwrap().iter().find_map(|s| {
                        (s["partition"] == id.as_str()).then(|| {
                            (
                                h["name"].as_str().unwrap().to_string(),
                                s["slot"].as_u64().unwrap(),
                            )
                        })
                    })
                }) else {
                    continue;
                };
                kinds.insert(kind.clone());
                let out = output(command().args([
                    "--lab",
                    &lab,
                    "--host",
                    &host,
                    "selftest",
                    "--slot",
                    &slot.to_string(),
                    "--pin",
                    pin,
                    "--json",
                ]));
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "selftest on {fixture} {id} ({kind:?}): {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    stderr(&out)
                );
                tested.push(format!("{fixture} {id} {kind:?}"));
            }
        }
    }
    assert!(
        tested.iter().any(|t| t.contains("\"primus\""))
            && tested.iter().any(|t| t.contains("primus-cloudhsm"))
            && tested.iter().any(|t| t.contains("luna-network")),
        "{tested:#?}"
    );
}
