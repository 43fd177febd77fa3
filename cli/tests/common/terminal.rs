//! A console at a terminal, for the CLI tests of the interactive consoles (`lunacm`,
//! `decanus`): `hsmsim` run under util-linux `script`, which gives it a pseudo-terminal; the
//! test types as a person does and waits for each answer. Included by those tests with
//! `#[path = "common/terminal.rs"] mod terminal;` beside `mod common;`.
#![allow(dead_code)]

use crate::common;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the terminal showed, read by a thread as it comes.
pub struct Terminal {
    child: Child,
    input: ChildStdin,
    shown: Arc<Mutex<Vec<u8>>>,
    /// Where the next `expect` starts looking.
    seen: usize,
    /// What the console shows, in order, when it has answered a line and waits for the
    /// next (its trailer, then its prompt).
    answered: Vec<String>,
}

impl Terminal {
    /// `hsmsim` with `args` on a pseudo-terminal (`script -q -e -c ... /dev/null`), with the
    /// environment the other CLI tests give it; `answered`: what it shows, in order, once a
    /// line is answered.
    pub fn start(args: &[String], answered: &[&str]) -> Terminal {
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
            answered: answered.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Waits until the terminal shows `what` after what was seen so far; returns what it
    /// showed up to and with `what`.
    pub fn expect(&mut self, what: &str) -> String {
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
    pub fn type_secret(&mut self, keys: &str) -> String {
        std::thread::sleep(Duration::from_millis(300));
        self.command(keys)
    }

    /// Types `keys` (a line ends with "\r", as the Enter key sends it).
    pub fn type_keys(&mut self, keys: &str) {
        self.input.write_all(keys.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    /// Types a command line and returns what the terminal showed up to the marks of an
    /// answered line (the prompt is redrawn while a line is edited: the trailer comes first).
    pub fn command(&mut self, keys: &str) -> String {
        self.type_keys(keys);
        let mut shown = String::new();
        for mark in self.answered.clone() {
            shown.push_str(&self.expect(&mark));
        }
        shown
    }

    /// Waits for the console to end; asserts it exits 0.
    pub fn exits_0(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "the console at a terminal exits 0: {status}"
                );
                return;
            }
            assert!(Instant::now() < deadline, "the console did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether util-linux `script` is there (else the terminal tests cannot run).
pub fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
