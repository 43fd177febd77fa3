//! `primus.partition-to-cloudhsm` (seed 000) through `hsmsim conformance run`: every variant
//! (CloudHSM shared and dedicated, Partition Administration onboarded or onboarded by the
//! scenario, an empty or an existing Yellow card, the mix and the RSA, EC and AES families)
//! passes, each seed step's report entry holds the menu paths typed into `hsmsim decanus` and
//! what the terminal answered, the restore with `hsmsim cloudhsm restore` and the outcome
//! evidence; every negative case passes by being refused where the catalogue says, with the
//! refusal in the report and nothing changed on either side; no PIN or password the scenarios
//! type reaches the report. Against a real module the procedure is not applicable, with the
//! reason.
mod common;

use common::*;
use serde_json::Value;
use std::time::Instant;

const PROCEDURE: &str = "primus.partition-to-cloudhsm";

fn results(v: &Value) -> &Vec<Value> {
    v["results"].as_array().expect("results")
}

fn scenario<'a>(v: &'a Value, variant: &str) -> &'a Value {
    results(v)
        .iter()
        .find(|r| r["variant"] == variant)
        .unwrap_or_else(|| panic!("no scenario {variant}"))
}

/// The report entry of step `n` (or the check whose title starts with `title`).
fn entry<'a>(r: &'a Value, n: u64, title: &str) -> &'a Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["n"] == n && s["title"].as_str().unwrap().starts_with(title))
        .unwrap_or_else(|| panic!("no entry {n} {title:?} in {r:#}"))
}

fn detail<'a>(r: &'a Value, n: u64, title: &str) -> &'a str {
    entry(r, n, title)["detail"].as_str().unwrap()
}

fn step(r: &Value, n: u64) -> &str {
    detail(r, n, "")
}

#[test]
fn the_listing_has_the_procedure_with_its_variants_and_negatives() {
    let out = output(command().args(["conformance", "list", "--json"]));
    let v = json(&out);
    let p = v["procedures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == PROCEDURE)
        .expect("the procedure is listed");
    assert_eq!(p["steps"].as_array().unwrap().len(), 9, "{p:#}");
    assert_eq!(p["variants"].as_array().unwrap().len(), 11, "{p:#}");
    assert_eq!(p["negatives"].as_array().unwrap().len(), 12, "{p:#}");
    assert_eq!(
        p["steps"][4]["vendor"],
        "BACKUP > PARTITION BACKUP > P-BACKUP CARD > “PARTITION_NAME” > INSERT Yellow Card into Slot 2 > Enter new P-Backup Card Pin twice"
    );
}

#[test]
fn every_scenario_passes_replayed_through_the_decanus_terminal_and_the_negatives_are_refused() {
    let started = Instant::now();
    let out = output(command().args([
        "conformance",
        "run",
        "--procedure",
        PROCEDURE,
        "--format",
        "json",
    ]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = json(&out);
    eprintln!(
        "{PROCEDURE}: {} scenarios in {:.1} s",
        results(&v).len(),
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<String> = results(&v)
        .iter()
        .filter(|r| r["status"] != "pass")
        .map(|r| {
            format!(
                "{} {}: {} {}",
                r["variant"], r["status"], r["failed_step"], r["detail"]
            )
        })
        .collect();
    assert!(failed.is_empty(), "{failed:#?}\n{}", stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(results(&v).len(), 11 + 12, "every variant and negative ran");

    // No PIN, card PIN or partition password the scenarios type is in the report.
    for secret in [
        "Pkcs11-AcmePki-01",
        "11112222",
        "33334444",
        "55556666",
        "77778888",
        "99991111",
        "12121212",
        "87654321",
    ] {
        assert!(!text.contains(secret), "{secret} is in the report");
    }

    // Onboarding typed step by step, an existing Yellow card, the backup and the restore.
    let r = scenario(&v, "shared-pa-not-onboarded-existing-yellow");
    let access = step(r, 2);
    assert!(
        access.contains(
            "Decanus DA> SETUP > CONFIGURATION > SECURITY > USER > “Management access” > enabled"
        ),
        "{access}"
    );
    assert!(
        access.contains("USER: ACME-PKI") && access.contains("PIN of 2nd SO: ********"),
        "{access}"
    );
    let issued = step(r, 3);
    assert!(
        issued.contains("ROLES > USER > MGMT Password > “ACME-PKI”")
            && issued.contains("Management password for ACME-PKI: "),
        "{issued}"
    );
    let onboard = step(r, 4);
    assert!(
        onboard.contains("Decanus PA> ONBOARD > ")
            && onboard.contains("INSERT empty Partition SO Card (PSO) on Slot 1 > ONBOARD")
            && onboard.contains("Repeat PSO PIN: ********"),
        "{onboard}"
    );
    let yellow = step(r, 5);
    assert!(
        yellow.contains(
            "BACKUP > PARTITION BACKUP > P-BACKUP CARD > “ACME-PKI” > INSERT Yellow Card into Slot 2"
        ) && yellow.contains("Current P-Backup Card PIN: ********"),
        "{yellow}"
    );
    let login = step(r, 6);
    assert!(
        login.contains("PSO PIN: ********") && login.contains("Partition login:  ACME-PKI"),
        "{login}"
    );
    let backup = step(r, 7);
    assert!(
        backup.contains("Decanus PA> BACKUP > CREATE")
            && backup.contains("Write down the Backup password: "),
        "{backup}"
    );
    assert_eq!(entry(r, 8, "")["status"], "not-applicable");
    let restore = step(r, 9);
    assert!(
        restore.contains(
            "hsmsim cloudhsm restore --partition cloudhsm/restore --backup usb/ACME-PKI-"
        ) && restore.contains("restored partition ACME-PKI (8 objects) into cloudhsm/restore"),
        "{restore}"
    );
    let held = detail(r, 0, "outcome: the CloudHSM partition, logged in");
    assert!(held.contains("8 objects on each side"), "{held}");
    let used = detail(r, 0, "outcome: every key proven");
    for kind in ["CKK_RSA", "CKK_EC", "CKK_AES", "CKK_DES3"] {
        assert!(used.contains(kind), "{used}");
    }
    assert!(entry(r, 0, "outcome: the source is unchanged")["status"] == "pass");

    // Already onboarded: steps 2 to 4 are skipped as the seed says; no PSO card at the login.
    let r = scenario(&v, "dedicated-pa-onboarded-empty-yellow");
    for n in 2..=4 {
        assert_eq!(entry(r, n, "")["status"], "not-applicable", "{r:#}");
        assert!(step(r, n).contains("already onboarded"), "{r:#}");
    }
    assert!(!step(r, 6).contains("PSO PIN"), "{}", step(r, 6));
    assert!(!step(r, 5).contains("Current P-Backup Card PIN"));
    assert!(
        step(r, 9).contains("into cloudhsm-dedicated/restore"),
        "{}",
        step(r, 9)
    );
    let named = detail(r, 0, "outcome: the CloudHSM partition now carries");
    assert!(named.contains("slot 4 of admin-host"), "{named}");

    // The key families, each key proven both ways.
    for (variant, kind) in [
        ("keys-rsa", "CKK_RSA"),
        ("keys-ec", "CKK_EC"),
        ("keys-aes", "CKK_AES"),
    ] {
        let r = scenario(&v, variant);
        let used = detail(r, 0, "outcome: every key proven");
        assert_eq!(used.matches(kind).count(), 3, "{used}");
    }

    // The negative cases: the refusal where documented, and nothing changed.
    for (case, n, said) in [
        (
            "no-licence-partition-administration",
            4,
            "not licensed for Partition Administration",
        ),
        (
            "no-licence-device-backup",
            5,
            "not licensed for Device Backup",
        ),
        ("decanus-too-old", 4, "release 2.1.3 or later"),
        ("no-device-pairing", 5, "not paired with primus-onprem"),
        (
            "no-partition-administration-pairing",
            6,
            "Partition Administration of ACME-PKI is not onboarded",
        ),
        (
            "wrong-backup-password",
            9,
            "CKR_PIN_INCORRECT (0x000000A0): the backup password is wrong",
        ),
        (
            "wrong-card",
            9,
            "is not the Partition-Backup card of this backup",
        ),
        ("wrong-card-pin", 9, "CKR_PIN_LOCKED"),
        ("tampered-file", 9, "was changed after it was written"),
        ("truncated-file", 9, "is truncated"),
        (
            "partition-name-exists",
            9,
            "already has a partition named ACME-PKI",
        ),
        ("source-firmware-newer", 9, "is newer than the target's"),
    ] {
        let r = scenario(&v, &format!("negative:{case}"));
        let refused = step(r, n);
        assert!(
            refused.starts_with("refused as documented") && refused.contains(said),
            "{case}: {refused}"
        );
        let later: Vec<u64> = r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["n"].as_u64())
            .filter(|k| *k > n)
            .collect();
        assert!(
            later.is_empty(),
            "{case}: steps after the refusal ran: {later:?}"
        );
        for check in [
            "outcome: the source is unchanged",
            "outcome: nothing reached CloudHSM",
            "outcome: the cards are as before",
            "outcome: no backup file was added",
        ] {
            assert_eq!(entry(r, 0, check)["status"], "pass", "{case}: {check}");
        }
    }
    let r = scenario(&v, "negative:wrong-card-pin");
    let counted = step(r, 9);
    for left in [
        "4 attempts left",
        "1 attempts left",
        "0 attempts left, blocked",
    ] {
        assert!(counted.contains(left), "{counted}");
    }
    assert!(
        counted.contains("the right PIN, after the card was blocked: refused"),
        "{counted}"
    );
}

#[test]
fn against_a_real_module_the_procedure_is_not_applicable_with_the_reason() {
    let results = run_against_a_real_module(&["--procedure", PROCEDURE, "--variant", "keys-aes"]);
    let r = &results[0];
    assert_eq!(r["status"], "not-applicable", "{r:#}");
    assert!(
        r["detail"].as_str().unwrap().contains("Decanus terminal"),
        "{r:#}"
    );
}
