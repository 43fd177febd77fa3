//! A Primus lab's cards and credentials in the store (issue 12, item 3): wrong PINs presented
//! to the same cards by several processes at once all count (each attempt is one store
//! transaction), and a state directory of an earlier build, with its card and credential
//! files (and a snapshot of that build), is imported on first open and behaves the same.
mod common;
mod procs;

use cryptoki_sys::*;
use hsmsim::estate::primus::{
    CARD_ITEM, UserCredentials, check_permanent_secret, create_card, fetch_permanent_secret,
    list_cards, load_card, verify_card,
};
use hsmsim::estate::{Choice, LAB_FILE, LabSelection, init_from_fixture, select};
use hsmsim::models::primus::{CARD_ATTEMPTS, Card, CardKind, Deployment, SetupPassword};
use procs::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const DEVICE: &str = "primus-onprem";
const RIGHT_PIN: &str = "12345678";
const WRONG_PIN: &str = "99999999";
/// Cards every worker presents a wrong PIN to twice (more attempts than a card takes).
const BLOCKING: &[&str] = &["a0", "a1", "a2", "a3", "a4", "a5"];
/// Cards every worker presents a wrong PIN to once (fewer attempts than a card takes).
const COUNTING: &[&str] = &["b0", "b1", "b2", "b3", "b4", "b5"];
/// Fewer than a card's attempts, so the counting cards show every one.
const WORKERS: usize = 4;

#[test]
fn worker() {
    let Some(role) = role() else { return };
    match role.as_str() {
        "present-wrong-pins" => present_wrong_pins(),
        other => panic!("unknown worker role {other}"),
    }
}

fn selection(dir: &Path) -> LabSelection {
    select(&Choice {
        lab_file: Some(dir.join(LAB_FILE)),
        host: None,
        state_dir: Some(dir.to_path_buf()),
    })
    .unwrap()
}

/// A worker: says "ready", waits for "go", then presents a wrong PIN to each blocking card
/// twice and to each counting card once (interleaved), saying "<card> <answer>" for each.
fn present_wrong_pins() {
    let dir = std::path::PathBuf::from(std::env::var("HSMSIM_STATE_DIR").unwrap());
    let sel = selection(&dir);
    emit("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "go");
    let mut order: Vec<&str> = BLOCKING
        .iter()
        .chain(BLOCKING)
        .chain(COUNTING)
        .copied()
        .collect();
    let mut rng = Rng::new(std::process::id() as u64);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for card in order {
        let rv = match verify_card(&sel, DEVICE, card, WRONG_PIN) {
            Ok(_) => CKR_OK,
            Err(e) => e.rv,
        };
        emit(format!("{card} {rv}"));
    }
    emit("done");
}

#[test]
fn wrong_pins_presented_by_several_processes_at_once_all_count() {
    let _g = scenario();
    let dir = tempfile::tempdir().unwrap();
    init_from_fixture("primus", dir.path(), false).unwrap();
    let sel = selection(dir.path());
    for card in BLOCKING.iter().chain(COUNTING) {
        create_card(&sel, DEVICE, CardKind::So, card, RIGHT_PIN, None).unwrap();
    }
    let mut workers: Vec<Proc> = (0..WORKERS)
        .map(|i| {
            Proc::spawn(
                &format!("w{i}"),
                "present-wrong-pins",
                dir.path(),
                "primus",
                &[],
            )
        })
        .collect();
    for w in &mut workers {
        w.expect_line("ready", CALL_TIMEOUT).unwrap();
    }
    for w in &mut workers {
        w.send("go");
    }
    // Per card, how many attempts answered what.
    let mut answers: BTreeMap<String, BTreeMap<CK_RV, usize>> = BTreeMap::new();
    for w in &mut workers {
        for line in w.expect_line("done", Duration::from_secs(120)).unwrap() {
            let (card, rv) = line.split_once(' ').unwrap();
            *answers
                .entry(card.to_string())
                .or_default()
                .entry(rv.parse().unwrap())
                .or_default() += 1;
        }
    }
    for card in BLOCKING {
        let stored = load_card(&sel, DEVICE, card).unwrap();
        assert!(stored.blocked(), "{card}: {stored:?}");
        // The attempts that found it open: one fewer than it takes (the last wrong one blocks
        // it and answers CKR_PIN_LOCKED, as every one after it).
        assert_eq!(
            answers[*card].get(&CKR_PIN_INCORRECT).copied().unwrap_or(0),
            CARD_ATTEMPTS as usize - 1,
            "{card}: {:?}",
            answers[*card]
        );
        assert_eq!(
            answers[*card].values().sum::<usize>(),
            2 * WORKERS,
            "{card}"
        );
    }
    for card in COUNTING {
        assert_eq!(
            load_card(&sel, DEVICE, card).unwrap().attempts_left,
            CARD_ATTEMPTS - WORKERS as u32,
            "{card}: every one of the {WORKERS} concurrent attempts counts"
        );
        assert_eq!(
            answers[*card].get(&CKR_PIN_INCORRECT),
            Some(&WORKERS),
            "{card}"
        );
    }
}

/// Writes `value` as an earlier build did: pretty JSON in the state directory.
fn write_old_file(path: &Path, value: &impl serde::Serialize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// Turns the (closed) store of `dir` into what an earlier build wrote: store schema 3, without
/// the device-items table.
fn make_schema_3(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join("hsmsim.sqlite")).unwrap();
    conn.execute_batch(
        "DROP TABLE device_items; UPDATE meta SET value = 3 WHERE key = 'schema_version';",
    )
    .unwrap();
}

#[test]
fn an_earlier_builds_card_and_credential_files_are_imported_and_behave_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init_from_fixture("primus", d, false).unwrap();
    make_schema_3(d);
    let old = d.join("primus").join(DEVICE);
    let mut worn = Card::new(CardKind::So, "so-1", RIGHT_PIN).unwrap();
    worn.attempts_left = 2;
    write_old_file(&old.join("cards/so-1.json"), &worn);
    let mut blocked = Card::new(CardKind::So, "so-2", "23456789").unwrap();
    blocked.attempts_left = 0;
    write_old_file(&old.join("cards/so-2.json"), &blocked);
    let (setup_text, setup) = SetupPassword::issue(Deployment::OnPremises, now()).unwrap();
    write_old_file(
        &old.join("users/ACME-PKI.json"),
        &UserCredentials {
            setup_password: Some(setup),
            ..UserCredentials::default()
        },
    );
    // The earlier build's snapshot of that state: its store and its files.
    let snapshot = d.join("snapshots/before");
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::copy(d.join("hsmsim.sqlite"), snapshot.join("hsmsim.sqlite")).unwrap();
    copy_dir(&d.join("primus"), &snapshot.join("primus"));

    let sel = selection(d);
    let cards = list_cards(&sel, None).unwrap();
    let seen: Vec<(String, u32)> = cards
        .iter()
        .map(|(_, c)| (c.name.clone(), c.attempts_left))
        .collect();
    assert_eq!(seen, [("so-1".to_string(), 2), ("so-2".to_string(), 0)]);
    assert!(
        !d.join("primus").exists(),
        "the files are gone once imported"
    );
    let store = hsmsim::store::Store::open(d).unwrap();
    assert!(
        store
            .device_item(&DEVICE.parse().unwrap(), CARD_ITEM, "so-1")
            .unwrap()
            .is_some()
    );
    drop(store);
    assert_eq!(
        verify_card(&sel, DEVICE, "so-2", "23456789")
            .unwrap_err()
            .rv,
        CKR_PIN_LOCKED,
        "a blocked card stays blocked"
    );
    assert_eq!(
        verify_card(&sel, DEVICE, "so-1", WRONG_PIN).unwrap_err().rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(load_card(&sel, DEVICE, "so-1").unwrap().attempts_left, 1);
    let secret = fetch_permanent_secret(&sel, "primus-onprem/ACME-PKI", &setup_text).unwrap();
    // The imported setup password works, and so does the secret it fetched.
    check_permanent_secret(&sel, "primus-onprem/ACME-PKI", &secret).unwrap();
    let report = hsmsim::estate::report(&sel).unwrap();
    let device = report.devices.iter().find(|x| x.name == DEVICE).unwrap();
    let shown: Vec<(&str, bool)> = device
        .primus
        .as_ref()
        .unwrap()
        .cards
        .iter()
        .map(|c| (c.name.as_str(), c.blocked))
        .collect();
    assert_eq!(shown, [("so-1", false), ("so-2", true)]);
    assert!(hsmsim::estate::check(&sel).unwrap().is_empty());

    // The earlier build's snapshot restores, its files imported too.
    hsmsim::estate::snapshot_restore(&sel, "before").unwrap();
    assert_eq!(load_card(&sel, DEVICE, "so-1").unwrap().attempts_left, 2);
    assert!(load_card(&sel, DEVICE, "so-2").unwrap().blocked());
    assert!(!d.join("primus").exists());
    // And a snapshot of this build holds the cards in its store.
    verify_card(&sel, DEVICE, "so-1", RIGHT_PIN).unwrap();
    hsmsim::estate::snapshot_save(&sel, "after").unwrap();
    assert!(!d.join("snapshots/after/primus").exists());
    verify_card(&sel, DEVICE, "so-1", WRONG_PIN).unwrap_err();
    hsmsim::estate::snapshot_restore(&sel, "after").unwrap();
    assert_eq!(
        load_card(&sel, DEVICE, "so-1").unwrap().attempts_left,
        CARD_ATTEMPTS
    );
}

fn now() -> u64 {
    hsmsim::base::clock::now()
}
