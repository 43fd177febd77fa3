//! `hsmsim lunacm` at a terminal: run under util-linux `script`, which gives it a
//! pseudo-terminal, the test types as a person does and waits for each answer: LunaCM's
//! banner and slot list, the `lunacm:>` prompt, line editing (a typo rubbed out with
//! backspace, the previous line recalled with the up arrow: rustyline), and the Crypto
//! Officer password asked without echo (rpassword) when `partition login` gives none, and the
//! cloning domain `partition archive backup` asks for.
mod common;
#[path = "common/terminal.rs"]
mod terminal;

use terminal::{Terminal, script_available};

#[test]
fn lunacm_at_a_terminal_prompts_edits_lines_and_asks_passwords_without_echo() {
    if !script_available() {
        eprintln!("util-linux `script` is not installed: the terminal test cannot run here");
        return;
    }
    let dir = common::init_lab("luna-network-to-network7");
    let lab = common::lab_file(dir.path());
    let mut terminal = Terminal::start(
        &[
            "--lab".into(),
            lab,
            "lunacm".into(),
            "--host".into(),
            "client".into(),
        ],
        &["Command Result : ", "lunacm:>"],
    );
    // The banner, the slot list and the prompt.
    let start = terminal.expect("lunacm:>");
    assert!(start.contains("lunacm (64-bit) v10.7.2"), "{start}");
    assert!(start.contains("Available HSMs:"), "{start}");
    assert!(start.contains("Current Slot Id: 0"), "{start}");
    // A typo rubbed out with backspace: the console runs the corrected line.
    let shown = terminal.command("slot lisx\x7ft\r");
    assert!(shown.contains("Slot Id ->              2"), "{shown}");
    assert!(shown.contains("Command Result : No Error"), "{shown}");
    // The up arrow recalls the previous line from the history.
    let shown = terminal.command("\x1b[A\r");
    assert!(shown.contains("Current Slot Id: 0"), "{shown}");
    assert!(shown.contains("Command Result : No Error"), "{shown}");
    // `partition login` without -password asks for it; what is typed is not echoed.
    terminal.type_keys("partition login\r");
    terminal.expect("Enter the Crypto Officer password: ");
    let shown = terminal.type_secret("CO-sa6-2020\r");
    assert!(shown.contains("Command Result : No Error"), "{shown}");
    assert!(
        !shown.contains("CO-sa6-2020"),
        "the password was echoed: {shown}"
    );
    // The Crypto Officer is logged in: `partition contents` says so.
    let shown = terminal.command("par con\r");
    assert!(
        shown.contains("The 'Crypto Officer' is currently logged in."),
        "{shown}"
    );
    // A wrong password typed at the prompt: the trailer with the code.
    terminal.command("partition logout\r");
    terminal.type_keys("partition login\r");
    terminal.expect("Enter the Crypto Officer password: ");
    let shown = terminal.type_secret("Wrong-pass-1\r");
    assert!(
        shown.contains("Command Result : 0xa0 (CKR_PIN_INCORRECT)"),
        "{shown}"
    );
    assert!(!shown.contains("Wrong-pass-1"), "{shown}");
    // A backup asks for the new backup partition's cloning domain, as the guide says.
    terminal.command("partition login -password CO-sa6-2020\r");
    terminal.type_keys(
        "partition archive backup -slot 2 -partition bk -password Backup-pw-2024 -sopassword SO-backup-2020\r",
    );
    terminal.expect("Enter the cloning domain: ");
    let shown = terminal.type_secret("acme-migration-domain\r");
    assert!(
        shown.contains("backup partition \"bk\" (created)"),
        "{shown}"
    );
    assert!(shown.contains("Command Result : No Error"), "{shown}");
    assert!(!shown.contains("acme-migration-domain"), "{shown}");
    terminal.type_keys("exit\r");
    terminal.exits_0();
}
