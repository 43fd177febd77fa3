//! `hsmsim lunacm` at a terminal: run under util-linux `script`, which gives it a
//! pseudo-terminal, the test types as a person does and waits for each answer: LunaCM's
//! banner and slot list, the `lunacm:>` prompt, line editing (a typo rubbed out with
//! backspace, the previous line recalled with the up arrow: rustyline), and the Crypto
//! Officer password asked without echo (rpassword) when `partition login` gives none, and the
//! cloning domain `partition archive backup` asks for.
mod common;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the terminal showed, read by a thread as it comes.
struct Terminal {
    child: Child,
    input: ChildStdin,
    shown: Arc<Mutex<Vec<u8>>>,
    /// Where the next `expect` starts looking.
    seen: usize,
}

impl Terminal {
    /// `hsmsim` with `args` on a pseudo-terminal (`script -q -e -c ... /dev/null`), with the
    /// environment the other CLI tests give it.
    fn start(args: &[String]) -> Terminal {
        let hsmsim = common::command();
        let quoted: Vec<String> = std::iter::once(hsmsim.get_program().to_string_lossy().into())
            .chain(args.iter().cloned())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut script = Command::new("script");
        script
            .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in hsmsim.get_envs() {
            match value {
                Some(v) => script.env(name, v),
                None => script.env_remove(name),
            };
        }
        let mut child = script.spawn().expect("util-linux script runs");
        let input = child.stdin.take().unwrap();
        let mut output = child.stdout.take().unwrap();
        let shown = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = output.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            child,
            input,
            shown,
            seen: 0,
        }
    }

    /// Waits until the terminal shows `what` after what was seen so far; returns what it
    /// showed up to and with `what`.
    fn expect(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            {
                let shown = self.shown.lock().unwrap();
                let text = String::from_utf8_lossy(&shown[self.seen..]).into_owned();
                if let Some(at) = text.find(what) {
                    let end = at + what.len();
                    self.seen += text[..end].len();
                    return text[..end].to_string();
                }
                assert!(
                    Instant::now() < deadline,
                    "the terminal did not show {what:?}; it showed:\n{text}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types a password after its prompt showed: rpassword turns the echo off just after
    /// printing the prompt, so a person's pause is left first.
    fn type_secret(&mut self, keys: &str) -> String {
        std::thread::sleep(Duration::from_millis(300));
        self.command(keys)
    }

    /// Types `keys` (a line ends with "\r", as the Enter key sends it).
    fn type_keys(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    /// Types a command line and returns what the terminal showed up to its trailer and the
    /// next prompt (the prompt is redrawn while a line is edited: the trailer comes first).
    fn command(&mut self, keys: &str) -> String {
        self.type_keys(keys);
        let mut shown = self.expect("Command Result : ");
        shown.push_str(&self.expect("lunacm:>"));
        shown
    }
}

fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn lunacm_at_a_terminal_prompts_edits_lines_and_asks_passwords_without_echo() {
    if !script_available() {
        eprintln!("util-linux `script` is not installed: the terminal test cannot run here");
        return;
    }
    let dir = common::init_lab("luna-network-to-network7");
    let lab = common::lab_file(dir.path());
    let mut terminal = Terminal::start(&[
        "--lab".into(),
        lab,
        "lunacm".into(),
        "--host".into(),
        "client".into(),
    ]);
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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = terminal.child.try_wait().unwrap() {
            assert!(status.success(), "lunacm at a terminal exits 0: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "lunacm did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}
