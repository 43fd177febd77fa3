//! The `hsmsim primus` commands as an operator runs them on the `primus` fixture: cards with
//! their persisted attempt counters, setup passwords and permanent secrets, a security-policy
//! change authorised by two SO cards, the migration preconditions, and `lab show` reporting
//! the Primus devices; exit codes 0 (done), 1 (the simulated HSM refused), 2 (cannot run).
mod common;

use common::{json, stderr};
use std::path::Path;
use std::process::{Command, Output};

/// `hsmsim --lab LAB/lab.toml ...`, prepared (a test may add to it).
fn command(lab: &Path, args: &[&str]) -> Command {
    let mut c = common::command();
    c.arg("--lab").arg(lab.join("lab.toml")).args(args);
    c
}

fn hsmsim(lab: &Path, args: &[&str]) -> Output {
    common::output(&mut command(lab, args))
}

/// A fresh `primus` lab with two SO cards on primus-onprem.
fn lab() -> tempfile::TempDir {
    common::primus_lab_with_so_cards([("so-1", "12345678"), ("so-2", "23456789")])
}

const SO: [&str; 4] = ["--so", "so-1:12345678", "--so", "so-2:23456789"];

#[test]
fn cards_count_wrong_pins_across_runs_and_block() {
    let dir = lab();
    let d = dir.path();
    let create = hsmsim(
        d,
        &[
            "primus",
            "card",
            "create",
            "--device",
            "primus-onprem",
            "--kind",
            "partition-backup",
            "--name",
            "yellow",
            "--pin",
            "34567890",
            "--partition",
            "ACME-PKI",
            "--json",
        ],
    );
    let card = json(&create);
    assert_eq!(card["colour"], "yellow");
    assert_eq!(card["attempts_left"], 5);
    // A bad PIN format and a missing partition cannot run: exit 2 with the code name.
    let bad = hsmsim(
        d,
        &[
            "primus",
            "card",
            "create",
            "--device",
            "primus-onprem",
            "--kind",
            "so",
            "--name",
            "so-3",
            "--pin",
            "0123",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("CKR_PIN_LEN_RANGE"),
        "{}",
        stderr(&bad)
    );
    let verify = |pin: &str| {
        hsmsim(
            d,
            &[
                "primus",
                "card",
                "verify",
                "--device",
                "primus-onprem",
                "yellow",
                "--pin",
                pin,
                "--json",
            ],
        )
    };
    // Each run is a new process: the counter is in the card's file.
    for left in [4, 3, 2, 1] {
        let out = verify("11111111");
        assert_eq!(
            out.status.code(),
            Some(2),
            "a refused PIN is exit 2, as in every command"
        );
        let v = json(&out);
        assert_eq!(v["accepted"], false);
        assert_eq!(v["attempts_left"], left);
        assert_eq!(v["error"]["code"], "CKR_PIN_INCORRECT");
        assert_eq!(v["error"]["exit"], 2);
    }
    let out = verify("11111111");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["error"]["code"], "CKR_PIN_LOCKED");
    let out = verify("34567890");
    assert_eq!(out.status.code(), Some(2), "blocked for good");
    assert!(stderr(&out).contains("blocked"), "{}", stderr(&out));
    let shown = json(&hsmsim(
        d,
        &[
            "primus",
            "card",
            "show",
            "--device",
            "primus-onprem",
            "yellow",
            "--json",
        ],
    ));
    assert_eq!(shown["blocked"], true);
    let list = json(&hsmsim(d, &["primus", "card", "list", "--json"]));
    let names: Vec<&str> = list["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["so-1", "so-2", "yellow"]);
    let unknown = hsmsim(
        d,
        &[
            "primus",
            "card",
            "show",
            "--device",
            "primus-onprem",
            "nope",
        ],
    );
    common::refused(&unknown, 2, "no card \"nope\"");
}

#[test]
fn setup_password_then_permanent_secret() {
    let dir = lab();
    let d = dir.path();
    let mut args = vec![
        "primus",
        "setup-password",
        "issue",
        "primus-onprem/ACME-PKI",
        "--json",
    ];
    args.extend(SO);
    let issued = json(&hsmsim(d, &args));
    let password = issued["setup_password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 29);
    assert_eq!(issued["lifetime_secs"], 72 * 3600);
    // Only one SO card: refused (exit 1).
    let one = hsmsim(
        d,
        &[
            "primus",
            "setup-password",
            "issue",
            "primus-onprem/ACME-PKI",
            "--so",
            "so-1:12345678",
        ],
    );
    common::refused(&one, 1, "two different SO cards");
    let fetch = |pw: &str| {
        hsmsim(
            d,
            &[
                "primus",
                "permanent-secret",
                "fetch",
                "primus-onprem/ACME-PKI",
                "--setup-password",
                pw,
                "--json",
            ],
        )
    };
    let wrong = fetch("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA");
    assert_eq!(wrong.status.code(), Some(2));
    assert_eq!(
        json(&wrong)["error"]["code"],
        "CKR_PRIMUS_SETUP_PASSWORD_REJECTED"
    );
    assert!(stderr(&wrong).contains("0x80005017"));
    let secret = json(&fetch(&password))["permanent_secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!secret.is_empty());
    // 72 hours and a second later the setup password has expired (HSMSIM_CLOCK_OFFSET).
    let late = common::output(
        command(
            d,
            &[
                "primus",
                "permanent-secret",
                "fetch",
                "primus-onprem/ACME-PKI",
                "--setup-password",
                &password,
                "--json",
            ],
        )
        .env("HSMSIM_CLOCK_OFFSET", (72 * 3600 + 1).to_string()),
    );
    assert_eq!(late.status.code(), Some(2), "{}", stderr(&late));
    assert_eq!(
        json(&late)["error"]["code"],
        "CKR_PRIMUS_SETUP_PASSWORD_EXPIRED"
    );
    // The partition user's credentials as the store keeps them (a device item).
    let stored: String = rusqlite::Connection::open(d.join("hsmsim.sqlite"))
        .unwrap()
        .query_row(
            "SELECT value FROM device_items
             WHERE device = 'primus-onprem' AND kind = 'primus-user' AND name = 'ACME-PKI'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains(&secret) && !stored.contains(&password));
}

#[test]
fn policy_change_with_two_so_cards_and_preconditions() {
    let dir = lab();
    let d = dir.path();
    let before = json(&hsmsim(
        d,
        &[
            "primus",
            "policy",
            "show",
            "primus-onprem/ACME-PKI",
            "--json",
        ],
    ));
    assert_eq!(before["allow_import"], true);
    let mut args = vec![
        "primus",
        "policy",
        "set",
        "primus-onprem/ACME-PKI",
        "--import",
        "false",
        "--json",
    ];
    args.extend(SO);
    let after = json(&hsmsim(d, &args));
    assert_eq!(after["allow_import"], false);
    assert_eq!(after["allow_export"], true);
    let shown = json(&hsmsim(
        d,
        &[
            "primus",
            "policy",
            "show",
            "primus-onprem/ACME-PKI",
            "--json",
        ],
    ));
    assert_eq!(shown["allow_import"], false, "persisted in the store");
    // A wrong SO PIN: refused, nothing changed.
    let wrong = hsmsim(
        d,
        &[
            "primus",
            "policy",
            "set",
            "primus-onprem/ACME-PKI",
            "--import",
            "true",
            "--so",
            "so-1:12345678",
            "--so",
            "so-2:99999999",
        ],
    );
    common::refused(&wrong, 2, "CKR_PIN_INCORRECT");

    let ready = hsmsim(
        d,
        &[
            "primus",
            "preconditions",
            "primus-onprem/ACME-PKI",
            "--json",
        ],
    );
    assert_eq!(ready.status.code(), Some(0));
    assert_eq!(json(&ready)["ready"], true);
    let dr = hsmsim(
        d,
        &["primus", "preconditions", "primus-dr/ACME-DR", "--json"],
    );
    assert_eq!(dr.status.code(), Some(1));
    let dr = json(&dr);
    let ids: Vec<&str> = dr["unmet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"decanus") && ids.contains(&"licence:partition-administration"),
        "{ids:?}"
    );
    let unknown = hsmsim(d, &["primus", "preconditions", "primus-onprem/NOPE"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("partitions: ACME-ADCS, ACME-PKI"),
        "{}",
        stderr(&unknown)
    );

    // lab show reports the Primus devices, their licences, state, Decanus and cards.
    let show = json(&hsmsim(d, &["lab", "show", "--json"]));
    let onprem = &show["devices"][0]["primus"];
    assert_eq!(onprem["ha"]["role"], "master");
    assert_eq!(onprem["decanus"]["version"], "2.1.3");
    assert_eq!(onprem["licences"].as_array().unwrap().len(), 3);
    assert_eq!(onprem["cards"].as_array().unwrap().len(), 2);
    let pki = &onprem["partitions"][1];
    assert_eq!(pki["partition"], "primus-onprem/ACME-PKI");
    assert_eq!(pki["unmet"].as_array().unwrap().len(), 0);
    assert_eq!(show["devices"][3]["primus"]["service"], "dedicated");
    let text = hsmsim(d, &["lab", "show"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("decanus 2.1.3, paired with the device"),
        "{text}"
    );
    assert!(text.contains("card so-1 (red, so)"), "{text}");
}

#[test]
fn primus_commands_have_help() {
    for args in [
        &["primus", "--help"][..],
        &["primus", "card", "create", "--help"],
        &["primus", "setup-password", "issue", "--help"],
        &["primus", "permanent-secret", "fetch", "--help"],
        &["primus", "policy", "set", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hsmsim"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
