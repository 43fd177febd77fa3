//! The terminal's forms on the `primus` fixture lab: which questions a path raises and in what
//! order (the values it leaves out, in the seed's order), what an inline value skips, and the
//! forms refused before anything is asked or changed.
use super::{Mode, Status, Terminal};
use crate::command_line::Prompts;
use cryptoki_sys::*;
use hsmsim::estate::primus;
use hsmsim::models::primus::CardKind;

const LAB: &str = include_str!("../../../fixtures/labs/primus.toml");
const DEVICE: &str = "primus-onprem";

/// Answers from a list; records every question.
struct Scripted {
    answers: Vec<String>,
    asked: Vec<String>,
}

impl Scripted {
    fn new(answers: &[&str]) -> Scripted {
        Scripted {
            answers: answers.iter().map(|a| a.to_string()).collect(),
            asked: Vec::new(),
        }
    }

    fn next(&mut self, question: &str) -> Option<String> {
        self.asked.push(question.to_string());
        (!self.answers.is_empty()).then(|| self.answers.remove(0))
    }
}

impl Prompts for Scripted {
    fn secret(&mut self, question: &str) -> Option<String> {
        self.next(question)
    }
    fn answer(&mut self, question: &str) -> Option<String> {
        self.next(question)
    }
}

/// A terminal on primus-onprem with SO cards so-1 (11111111) and so-2 (22222222) in slots 1
/// and 2, an empty Partition SO card `pso` and an empty Partition-Backup card `yellow`.
fn terminal(dir: &tempfile::TempDir) -> Terminal {
    let selection = crate::test_lab::select(dir, LAB);
    for (name, pin) in [("so-1", "11111111"), ("so-2", "22222222")] {
        primus::create_card(&selection, DEVICE, CardKind::So, name, pin, None).unwrap();
    }
    primus::create_empty_card(&selection, DEVICE, CardKind::PartitionSo, "pso").unwrap();
    primus::create_empty_card(&selection, DEVICE, CardKind::PartitionBackup, "yellow").unwrap();
    let mut terminal = Terminal::new(selection, DEVICE, false).unwrap();
    for line in ["card insert so-1 --slot 1", "card insert so-2 --slot 2"] {
        run(&mut terminal, line, &mut Scripted::new(&[]));
    }
    terminal
}

fn run(terminal: &mut Terminal, line: &str, prompts: &mut Scripted) -> Status {
    let reply = terminal.run_line(line, prompts).unwrap();
    assert!(
        !matches!(reply.status, Status::Usage) || reply.text.starts_with("ERROR: "),
        "{}",
        reply.text
    );
    reply.status
}

#[test]
fn the_sos_are_asked_first_then_the_user_then_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = terminal(&dir);
    let mut p = Scripted::new(&["11111111", "22222222", "ACME-ADCS", "enabled"]);
    let status = run(&mut t, "SETUP > CONFIGURATION > SECURITY > USER", &mut p);
    assert_eq!(status, Status::Done);
    assert_eq!(
        p.asked,
        [
            "PIN of 1st SO: ",
            "PIN of 2nd SO: ",
            "USER: ",
            "Management access (enabled|disabled): "
        ]
    );
    // The SO session is on: the inline form asks nothing.
    let mut p = Scripted::new(&[]);
    let status = run(
        &mut t,
        "setup > configuration > security > user > \"ACME-ADCS\" > “Management access” > disabled",
        &mut p,
    );
    assert_eq!((status, p.asked.len()), (Status::Done, 0));
    // A bad switch is refused before anything is asked.
    let mut p = Scripted::new(&[]);
    let status = run(
        &mut t,
        "SETUP > CONFIGURATION > SECURITY > USER > \"ACME-ADCS\" > \"Management access\" > on",
        &mut p,
    );
    assert_eq!((status, p.asked.len()), (Status::Usage, 0));
}

#[test]
fn so_activation_takes_inline_pins_and_runs_the_rest_of_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = terminal(&dir);
    let mut p = Scripted::new(&[]);
    let reply = t
        .run_line(
            "SO ACTIVATION > ENTER PIN of 1st SO > 11111111 > ENTER PIN of 2nd SO > 22222222 > SETUP > CONFIGURATION > SECURITY > USER > \"ACME-ADCS\" > \"Management access\" > enabled",
            &mut p,
        )
        .unwrap();
    assert_eq!(reply.status, Status::Done, "{}", reply.text);
    assert!(p.asked.is_empty(), "{:?}", p.asked);
    assert!(
        reply
            .text
            .contains("accepted\nUSER ACME-ADCS: Management access enabled\n")
    );
    // Only the 2nd PIN inline: the 1st is asked.
    let mut p = Scripted::new(&["11111111"]);
    let status = run(
        &mut t,
        "SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO > 22222222",
        &mut p,
    );
    assert_eq!(
        (status, p.asked.as_slice()),
        (Status::Done, &["PIN of 1st SO: ".to_string()][..])
    );
    // A wrong PIN ends the session the terminal had.
    let mut p = Scripted::new(&[]);
    let status = run(
        &mut t,
        "SO ACTIVATION > ENTER PIN of 1st SO > 11111112 > ENTER PIN of 2nd SO > 22222222",
        &mut p,
    );
    assert_eq!(status, Status::Refused(CKR_PIN_INCORRECT));
    assert!(
        t.run_line("status", &mut p)
            .unwrap()
            .text
            .contains("SO session:       none")
    );
}

#[test]
fn onboard_asks_what_is_left_out_in_the_seed_s_order_and_checks_the_port_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = terminal(&dir);
    let mut p = Scripted::new(&["11111111", "22222222"]);
    run(
        &mut t,
        "SETUP > CONFIGURATION > SECURITY > USER > \"ACME-ADCS\" > \"Management access\" > enabled",
        &mut p,
    );
    let reply = t
        .run_line("ROLES > USER > MGMT Password > \"ACME-ADCS\"", &mut p)
        .unwrap();
    let password = reply
        .text
        .lines()
        .find_map(|l| l.strip_prefix("Management password for ACME-ADCS: "))
        .unwrap()
        .to_string();
    run(&mut t, "SWITCH MODE > Partition Administration", &mut p);
    assert_eq!(t.mode(), Mode::PartitionAdministration);
    run(&mut t, "card remove --slot 1", &mut p);
    run(&mut t, "card insert pso --slot 1", &mut p);
    // Nothing inline: every value is asked, an empty port is the default 2300.
    let mut p = Scripted::new(&[
        "10.0.0.7",
        "",
        "ACME-ADCS",
        &password,
        "44444444",
        "44444444",
    ]);
    let status = run(&mut t, "ONBOARD", &mut p);
    assert_eq!(status, Status::Done);
    assert_eq!(
        p.asked,
        [
            "HSM URL/IP: ",
            "TCP Port (default 2300 JCE): ",
            "HSM Username: ",
            "Mgmt. Password: ",
            "New PSO PIN: ",
            "Repeat PSO PIN: "
        ]
    );
    // A port that is not a number: refused before anything more is asked.
    let mut p = Scripted::new(&["x"]);
    let status = run(
        &mut t,
        "ONBOARD > \"10.0.0.7\" > \"JCE\" > \"ACME-ADCS\" > INSERT PSO > ONBOARD",
        &mut p,
    );
    assert_eq!((status, p.asked.len()), (Status::Usage, 0));
    // Too many values before INSERT PSO.
    let mut p = Scripted::new(&[]);
    let status = run(&mut t, "ONBOARD > a > b > c > d > e > INSERT PSO", &mut p);
    assert_eq!((status, p.asked.len()), (Status::Usage, 0));
    // The login asks the PSO PIN (the partition was onboarded with a card), then the password.
    let mut p = Scripted::new(&["44444444", "Pkcs11-AcmeAdcs-01"]);
    assert_eq!(run(&mut t, "LOGIN > \"ACME-ADCS\"", &mut p), Status::Done);
    assert_eq!(p.asked, ["PSO PIN: ", "Partition password: "]);
}

#[test]
fn a_new_yellow_card_takes_two_pins_and_refuses_three() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = terminal(&dir);
    let mut p = Scripted::new(&["11111111", "22222222"]);
    run(&mut t, "SO ACTIVATION", &mut p);
    run(&mut t, "card remove --slot 2", &mut p);
    run(&mut t, "card insert yellow --slot 2", &mut p);
    let path =
        "BACKUP > PARTITION BACKUP > P-BACKUP CARD > \"ACME-PKI\" > INSERT Yellow Card into Slot 2";
    let mut p = Scripted::new(&[]);
    let status = run(
        &mut t,
        &format!("{path} > 12345678 > 12345678 > 12345678"),
        &mut p,
    );
    assert_eq!((status, p.asked.len()), (Status::Usage, 0));
    let card = |t: &Terminal| primus::load_card(&t.selection, DEVICE, "yellow").unwrap();
    assert!(card(&t).partition.is_none(), "nothing changed");
    let mut p = Scripted::new(&["12345678", "12345678"]);
    assert_eq!(run(&mut t, path, &mut p), Status::Done);
    assert_eq!(
        p.asked,
        ["New P-Backup Card PIN: ", "Repeat P-Backup Card PIN: "]
    );
    assert_eq!(card(&t).partition.as_deref(), Some("ACME-PKI"));
    // Now it is ACME-PKI's card: its current PIN comes first.
    let mut p = Scripted::new(&["12345678", "23456789", "23456789"]);
    assert_eq!(run(&mut t, path, &mut p), Status::Done);
    assert_eq!(
        p.asked,
        [
            "Current P-Backup Card PIN: ",
            "New P-Backup Card PIN: ",
            "Repeat P-Backup Card PIN: "
        ]
    );
}
