//! Tests of a Primus lab's cards, credentials and policy changes.
use super::*;
use crate::estate::Choice;
use crate::estate::{LAB_FILE, init_from_fixture, select};
use crate::models::primus::{CARD_ATTEMPTS, CKR_PRIMUS_SETUP_PASSWORD_REJECTED, CardKind};

fn selection(dir: &Path) -> LabSelection {
    init_from_fixture("primus", dir, false).unwrap();
    select(&Choice {
        lab_file: Some(dir.join(LAB_FILE)),
        host: None,
        state_dir: None,
    })
    .unwrap()
}

/// A device item's stored JSON text.
fn stored_item(sel: &LabSelection, device: &str, kind: &str, name: &str) -> String {
    open_store(sel)
        .unwrap()
        .device_item(&DeviceId::new(device), kind, name)
        .unwrap()
        .unwrap()
        .to_string()
}

fn so(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .collect()
}

#[test]
fn cards_are_stored_and_their_counters_persist_until_they_block() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    let d = "primus-onprem";
    create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
    create_card(
        &sel,
        d,
        CardKind::PartitionBackup,
        "yellow",
        "87654321",
        Some("ACME-PKI"),
    )
    .unwrap();
    assert_eq!(
        create_card(&sel, d, CardKind::So, "so-1", "12345678", None)
            .unwrap_err()
            .rv,
        CKR_FUNCTION_FAILED
    );
    assert_eq!(
        create_card(&sel, d, CardKind::PartitionSo, "pso", "12345678", None)
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        create_card(&sel, "nope", CardKind::So, "x", "12345678", None)
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        create_card(&sel, d, CardKind::So, "../x", "12345678", None)
            .unwrap_err()
            .rv,
        CKR_ARGUMENTS_BAD
    );
    let file = stored_item(&sel, d, CARD_ITEM, "yellow");
    assert!(
        !file.contains("87654321"),
        "only the PIN's verifier is kept"
    );
    for left in (1..CARD_ATTEMPTS).rev() {
        assert_eq!(
            verify_card(&sel, d, "yellow", "11111111").unwrap_err().rv,
            CKR_PIN_INCORRECT
        );
        assert_eq!(load_card(&sel, d, "yellow").unwrap().attempts_left, left);
    }
    assert_eq!(
        verify_card(&sel, d, "yellow", "11111111").unwrap_err().rv,
        CKR_PIN_LOCKED
    );
    assert_eq!(
        verify_card(&sel, d, "yellow", "87654321").unwrap_err().rv,
        CKR_PIN_LOCKED
    );
    let cards = list_cards(&sel, None).unwrap();
    let names: Vec<_> = cards
        .iter()
        .map(|(d, c)| format!("{d}/{}", c.name))
        .collect();
    assert_eq!(names, ["primus-onprem/so-1", "primus-onprem/yellow"]);
}

#[test]
fn wrong_api_credentials_lock_the_api_login_until_the_lockout_ends_or_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    selection(dir.path());
    let file = dir.path().join(LAB_FILE);
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "kind = \"primus\"              # on-premises Primus HSM",
        "kind = \"primus\"\nlogin_attempt_threshold = 3",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let sel = select(&Choice {
        lab_file: Some(file),
        host: None,
        state_dir: None,
    })
    .unwrap();
    assert_eq!(device(&sel, "primus-onprem").unwrap().throttle.threshold, 3);
    let d = "primus-onprem";
    let p = "primus-onprem/ACME-PKI";
    create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
    create_card(&sel, d, CardKind::So, "so-2", "23456789", None).unwrap();
    let both = so(&[("so-1", "12345678"), ("so-2", "23456789")]);
    let (setup, _) = issue_setup_password(&sel, p, &both).unwrap();
    let secret = fetch_permanent_secret(&sel, p, &setup).unwrap();
    for _ in 0..2 {
        assert_eq!(
            check_permanent_secret(&sel, p, "wrong").unwrap_err().rv,
            CKR_PIN_INCORRECT
        );
    }
    // The third wrong one reaches the threshold: now even the right secret is locked out.
    assert_eq!(
        check_permanent_secret(&sel, p, "wrong").unwrap_err().rv,
        CKR_PIN_INCORRECT
    );
    let locked = check_permanent_secret(&sel, p, &secret).unwrap_err();
    assert_eq!(locked.rv, CKR_PIN_LOCKED, "{}", locked.detail);
    assert_eq!(
        fetch_permanent_secret(&sel, p, &setup).unwrap_err().rv,
        CKR_PIN_LOCKED
    );
    // A device restart clears it.
    crate::estate::restart_device(&sel, &DeviceId::new(d), 0).unwrap();
    check_permanent_secret(&sel, p, &secret).unwrap();
}

#[test]
fn two_so_cards_change_the_policy_and_issue_setup_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let sel = selection(dir.path());
    let d = "primus-onprem";
    create_card(&sel, d, CardKind::So, "so-1", "12345678", None).unwrap();
    create_card(&sel, d, CardKind::So, "so-2", "23456789", None).unwrap();
    let both = so(&[("so-1", "12345678"), ("so-2", "23456789")]);
    let change = PolicyChange {
        allow_export: Some(false),
        ..PolicyChange::default()
    };
    let one = so(&[("so-1", "12345678")]);
    assert_eq!(
        set_security_policy(&sel, "primus-onprem/ACME-PKI", &one, change)
            .unwrap_err()
            .rv,
        CKR_USER_NOT_LOGGED_IN
    );
    let wrong = so(&[("so-1", "12345678"), ("so-2", "99999999")]);
    assert_eq!(
        set_security_policy(&sel, "primus-onprem/ACME-PKI", &wrong, change)
            .unwrap_err()
            .rv,
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        load_card(&sel, d, "so-2").unwrap().attempts_left,
        CARD_ATTEMPTS - 1
    );
    let policy = set_security_policy(&sel, "primus-onprem/ACME-PKI", &both, change).unwrap();
    assert!(!policy.allow_export && policy.allow_import);
    assert_eq!(
        security_policy(&sel, "primus-onprem/ACME-PKI").unwrap(),
        policy
    );

    let (text, _) = issue_setup_password(&sel, "primus-onprem/ACME-PKI", &both).unwrap();
    assert_eq!(text.len(), 29);
    let stored = stored_item(&sel, d, USER_ITEM, "ACME-PKI");
    assert!(!stored.contains(&text));
    assert_eq!(
        fetch_permanent_secret(
            &sel,
            "primus-onprem/ACME-PKI",
            "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"
        )
        .unwrap_err()
        .rv,
        CKR_PRIMUS_SETUP_PASSWORD_REJECTED
    );
    let secret = fetch_permanent_secret(&sel, "primus-onprem/ACME-PKI", &text).unwrap();
    check_permanent_secret(&sel, "primus-onprem/ACME-PKI", &secret).unwrap();
    assert_eq!(
        check_permanent_secret(&sel, "primus-onprem/ACME-PKI", "x")
            .unwrap_err()
            .rv,
        CKR_PIN_INCORRECT
    );
    assert!(!stored_item(&sel, d, USER_ITEM, "ACME-PKI").contains(&secret));
    assert_eq!(
        fetch_permanent_secret(&sel, "primus-dr/ACME-DR", &text)
            .unwrap_err()
            .rv,
        CKR_PRIMUS_SETUP_PASSWORD_REJECTED,
        "no setup password issued there"
    );
}
