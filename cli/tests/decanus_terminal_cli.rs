//! `hsmsim decanus` at a terminal (a pseudo-terminal from util-linux `script`): the banner
//! with the terminal's release, the screens, items chosen by number (SO ACTIVATION from the
//! main menu, BACKUP and back) and with the arrow keys, the two SO PINs asked without echo,
//! and `exit`.
mod common;
#[path = "common/terminal.rs"]
mod terminal;

use terminal::{Terminal, script_available};

#[test]
fn decanus_at_a_terminal_shows_screens_takes_numbers_and_asks_pins_without_echo() {
    if !script_available() {
        eprintln!("util-linux `script` is not installed: the terminal test cannot run here");
        return;
    }
    let dir = common::primus_lab_with_so_cards([("so-1", "11111111"), ("so-2", "22222222")]);
    let lab = common::lab_file(dir.path());
    let mut terminal = Terminal::start(
        &[
            "--lab".into(),
            lab,
            "decanus".into(),
            "--device".into(),
            "primus-onprem".into(),
        ],
        &["[Device Administration]", "Decanus DA> "],
    );
    // The banner with the release, the main menu and the prompt.
    let start = terminal.expect("Decanus DA> ");
    assert!(
        start.contains("Decanus Terminal Rel. v2.1.3 (local)"),
        "{start}"
    );
    assert!(
        start.contains("[Device Administration] MAIN MENU"),
        "{start}"
    );
    assert!(start.contains(" 2  SO ACTIVATION"), "{start}");
    terminal.command("card insert so-1 --slot 1\r");
    let shown = terminal.command("card insert so-2 --slot 2\r");
    assert!(shown.contains("inserted in slot 2"), "{shown}");
    // 2: SO ACTIVATION, chosen by number; both PINs asked without echo.
    terminal.type_keys("2\r");
    terminal.expect("PIN of 1st SO: ");
    std::thread::sleep(std::time::Duration::from_millis(300));
    terminal.type_keys("11111111\r");
    let between = terminal.expect("PIN of 2nd SO: ");
    let shown = terminal.type_secret("22222222\r");
    assert!(
        shown.contains("1st SO (card so-1) and 2nd SO (card so-2) accepted"),
        "{shown}"
    );
    for pin in ["11111111", "22222222"] {
        assert!(
            !between.contains(pin) && !shown.contains(pin),
            "a PIN was echoed: {between}{shown}"
        );
    }
    // The main menu stays in view; 5 opens BACKUP, 1 PARTITION BACKUP, 0 goes back.
    assert!(shown.contains("MAIN MENU"), "{shown}");
    let shown = terminal.command("5\r");
    assert!(shown.contains("1  PARTITION BACKUP >"), "{shown}");
    let shown = terminal.command("1\r");
    assert!(shown.contains("1  P-BACKUP CARD"), "{shown}");
    let shown = terminal.command("0\r");
    assert!(
        shown.contains("BACKUP\n") || shown.contains("BACKUP\r\n"),
        "{shown}"
    );
    // The SO session is on.
    let shown = terminal.command("status\r");
    assert!(shown.contains("active (cards so-1 and so-2)"), "{shown}");
    // Back to the main menu; an empty line offers its items to the arrow keys: five down is
    // SYSTEM.
    let shown = terminal.command("0\r");
    assert!(shown.contains("MAIN MENU"), "{shown}");
    terminal.type_keys("\r");
    terminal.expect("Choose with the arrow keys");
    terminal.type_keys("\x1b[B\x1b[B\x1b[B\x1b[B\x1b[B");
    let shown = terminal.command("\r");
    assert!(shown.contains("[Device Administration] SYSTEM"), "{shown}");
    assert!(shown.contains("1  DIAG. DEVICE >"), "{shown}");
    terminal.type_keys("exit\r");
    terminal.exits_0();
}
