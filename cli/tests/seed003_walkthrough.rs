//! The README's "Seed 003 by hand" walk-through, run as written: its `seed003-*` blocks (the
//! shell lines, then what is typed at `lunacm:>` and at LunaCM's prompts) against a fresh state
//! of the built-in labs in a temporary directory, with this build's `hsmsim` and module in
//! place of `target/release/`. LunaCM runs on a pseudo-terminal (util-linux `script`), as a
//! person types: the passwords the guide's commands leave out are typed at LunaCM's no-echo
//! prompts. Every command must end `Command Result : No Error` and print the lines the README
//! shows; afterwards the destination holds the source's objects (labels, types, OUIDs).
mod common;
#[path = "common/walkthrough.rs"]
mod walkthrough;

use std::path::Path;
use std::process::{Child, ChildStdin, Command};
use std::time::{Duration, Instant};
use walkthrough::{Block, LiveOutput};

const README: &str = include_str!("../../README.md");

/// How long one prompt or one command may take (a debug build generating RSA keys included).
const PATIENCE: Duration = Duration::from_secs(60);

/// The `seed003-*` fenced blocks of the README's "Seed 003 by hand" section, in order.
fn blocks() -> Vec<Block> {
    walkthrough::section_blocks(README, "### Seed 003 by hand\n", "seed003-")
}

/// One command at `lunacm:>`: what is typed at its prompts (the prompt's text, the answer) and
/// the output lines the README shows (`...` skips; a line ending in `...` matches its start).
#[derive(Clone)]
struct Step {
    command: String,
    answers: Vec<(String, String)>,
    shown: Vec<String>,
}

const TYPED: &str = " (typed, not echoed)";
const PROCEED: &str = "quit now -> ";

/// The steps of a transcript block.
fn steps(transcript: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in transcript.lines() {
        if let Some(command) = line.strip_prefix("lunacm:>") {
            steps.push(Step {
                command: command.to_string(),
                answers: Vec::new(),
                shown: Vec::new(),
            });
            continue;
        }
        let step = steps
            .last_mut()
            .expect("a transcript starts with `lunacm:>`");
        let mut shown = line.trim().to_string();
        if let Some((prompt, typed)) = line.split_once(" ← ") {
            let value = typed
                .strip_suffix(TYPED)
                .unwrap_or_else(|| panic!("{line:?}: a typed answer ends {TYPED:?}"));
            step.answers
                .push((prompt.trim().to_string(), value.to_string()));
            shown = prompt.trim().to_string();
        } else if let Some((_, answer)) = line.split_once(PROCEED) {
            step.answers
                .push((PROCEED.trim().to_string(), answer.to_string()));
        }
        if !shown.is_empty() && shown != "..." {
            step.shown.push(shown);
        }
    }
    steps
}

/// Text as a person reads it on the terminal: escape sequences and carriage returns removed.
fn screen_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters and intermediates, then one final byte in '@'..='~'.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A shell script of the README run on a pseudo-terminal, read as it prints.
struct Terminal {
    child: Child,
    input: ChildStdin,
    output: LiveOutput,
}

impl Terminal {
    fn start(script: &Path) -> Terminal {
        let mut command = Command::new("script");
        command
            .args(["-q", "-f", "-e", "-c"])
            .arg(format!("sh -e {}", script.display()))
            .arg("/dev/null")
            .env("TERM", "xterm");
        let (child, input, output) = walkthrough::start(command);
        Terminal {
            child,
            input,
            output,
        }
    }

    fn screen(&self) -> String {
        screen_text(&self.output.raw)
    }

    /// Waits until one of `needles` shows after `from` (a position in `screen()`): which one
    /// and where; `None` when the output ends first.
    fn wait_for(&mut self, needles: &[&str], from: usize) -> Option<(usize, usize)> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            let tail = screen.get(from..).unwrap_or("");
            if let Some(found) = needles
                .iter()
                .enumerate()
                .filter_map(|(i, n)| tail.find(n).map(|at| (at + from, i)))
                .min()
            {
                return Some((found.1, found.0));
            }
            if self.output.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.output.read_more(left) {
                panic!(
                    "waited {PATIENCE:?} for {needles:?}; the terminal shows:\n{}",
                    self.screen()
                )
            }
        }
    }

    /// Waits until the shell script ends (its output closes).
    fn wait_for_end(&mut self) {
        while !self.output.closed {
            if !self.output.read_more(PATIENCE) {
                panic!(
                    "the shell block did not end; the terminal shows:\n{}",
                    self.screen()
                )
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        walkthrough::type_line(&mut self.input, line);
    }
}

const PROMPT: &str = "lunacm:>";
const RESULT: &str = "Command Result : ";
const NO_ERROR: &str = "Command Result : No Error";

/// Types `steps` into the LunaCM session the shell `script` starts, checking each step.
fn run_session(script: &Path, steps: &[Step]) {
    let mut terminal = Terminal::start(script);
    let Some((_, at)) = terminal.wait_for(&[PROMPT], 0) else {
        panic!(
            "LunaCM did not start; the terminal shows:\n{}",
            terminal.screen()
        );
    };
    let mut mark = at + PROMPT.len();
    for step in steps {
        let start = mark;
        terminal.type_line(&step.command);
        for (prompt, answer) in &step.answers {
            match terminal.wait_for(&[prompt, RESULT], mark) {
                Some((0, at)) => mark = at + prompt.len(),
                _ => panic!(
                    "`{}`: LunaCM did not ask {prompt:?}; it printed:\n{}",
                    step.command,
                    &terminal.screen()[start..]
                ),
            }
            // The no-echo prompts turn echo off just after printing.
            std::thread::sleep(Duration::from_millis(200));
            terminal.type_line(answer);
        }
        let output = if step.command.trim() == "exit" {
            terminal.wait_for_end();
            terminal.screen()[start..].to_string()
        } else {
            let Some((_, result)) = terminal.wait_for(&[RESULT], mark) else {
                panic!(
                    "`{}`: no result; the terminal shows:\n{}",
                    step.command,
                    &terminal.screen()[start..]
                );
            };
            let Some((_, next)) = terminal.wait_for(&[PROMPT], result) else {
                panic!(
                    "`{}`: LunaCM ended; the terminal shows:\n{}",
                    step.command,
                    &terminal.screen()[start..]
                );
            };
            mark = next + PROMPT.len();
            let output = terminal.screen()[start..next].to_string();
            assert!(
                output.contains(NO_ERROR),
                "`{}` did not succeed:\n{output}",
                step.command
            );
            output
        };
        shows(&step.command, &output, &step.shown);
    }
    let status = terminal.child.wait().unwrap();
    assert!(
        status.success(),
        "the shell block ended with {status}:\n{}",
        terminal.screen()
    );
}

/// The README's lines of a step appear in its output, in order.
fn shows(command: &str, output: &str, shown: &[String]) {
    let mut lines = output.lines().map(str::trim);
    for expected in shown {
        let matches = |line: &str| match expected.strip_suffix("...") {
            Some(start) => line.starts_with(start),
            None => line == expected,
        };
        assert!(
            lines.any(matches),
            "`{command}`: the README shows {expected:?} (in this order); LunaCM printed:\n{output}"
        );
    }
}

/// A chapter of the walk-through: its blocks' tag and the state directory its shell lines
/// name; where the source and destination are seen, and how to log in there to list them.
struct Chapter {
    tag: &'static str,
    state_dir: &'static str,
    lab: &'static str,
    source: (&'static str, &'static str),
    destination: (&'static str, &'static str),
}

const CHAPTER_2: Chapter = Chapter {
    tag: "seed003-ch2",
    state_dir: "/tmp/seed003-ch2",
    lab: "luna-network-to-network7",
    source: (
        "client",
        "slot set -slot 0\npartition login -password CO-sa6-2020\npartition contents\n",
    ),
    destination: (
        "client",
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
    ),
};

const CHAPTER_3: Chapter = Chapter {
    tag: "seed003-ch3",
    state_dir: "/tmp/seed003-ch3",
    lab: "luna-usb-to-network7",
    source: (
        "old-host",
        "slot set -slot 0\npartition login -password CO-usb6-2019\npartition contents\n",
    ),
    destination: (
        "new-host",
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
    ),
};

/// The guide's commands, as seed 003 prints them (placeholders filled as the README says).
const GUIDE_CHAPTER_2: &[&str] = &[
    "slot list",
    "slot set -slot 1",
    "partition init -label sa7-app-par",
    "role login -name po",
    "role init -name co",
    "slot set -slot 0",
    "partition login",
    "partition contents",
    "partition clone -objects 0 -slot 1",
    "slot set -slot 1",
    "role login -name co -password CO-sa7-2024",
    "partition contents",
];

const GUIDE_CHAPTER_3: &[&str] = &[
    "slot list",
    "slot set -slot 0",
    "partition login",
    "partition contents",
    "partition archive backup -slot 2 -partition g5-app-bak",
    "slot set -slot 1",
    "partition init -label sa7-app-par",
    "role login -name po",
    "role init -name co",
    "slot set -slot 1",
    "role login -name co",
    "partition archive restore -slot 2 -partition g5-app-bak",
    "partition contents",
];

/// Where the README's lines not in the guide go: after this step.
const FIX_AFTER: &str = "role init -name co";

/// Runs `chapter`'s blocks in order; with `fix`, the README's `seed003-fix` lines after
/// `role init -name co`. Returns the objects of the source and of the destination.
fn run_chapter(chapter: &Chapter, fix: bool) -> (Vec<String>, Vec<String>) {
    walkthrough::require_on_path(&["script", "pkcs11-tool"], "util-linux, OpenSC");
    let blocks = blocks();
    let fix_steps = steps(
        &blocks
            .iter()
            .find(|b| b.tag == "seed003-fix")
            .expect("README has the seed003-fix block")
            .text,
    );
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let binary = env!("CARGO_BIN_EXE_hsmsim");
    let module = common::sim_module();
    let mine: Vec<&Block> = blocks.iter().filter(|b| b.tag == chapter.tag).collect();
    let shells: Vec<&&Block> = mine.iter().filter(|b| b.is_shell()).collect();
    let transcripts: Vec<&&Block> = mine.iter().filter(|b| !b.is_shell()).collect();
    assert!(
        !shells.is_empty() && shells.len() == transcripts.len(),
        "{}: one transcript after each shell block",
        chapter.tag
    );
    // The shell blocks are typed in one shell: what earlier blocks set carries on.
    let mut carried = String::new();
    for (i, (shell, transcript)) in shells.iter().zip(&transcripts).enumerate() {
        let text = shell
            .text
            .replace(chapter.state_dir, state.to_str().unwrap())
            .replace("target/release/libhsmsim.so", module.to_str().unwrap())
            .replace("target/release/hsmsim", binary);
        let script = work.path().join(format!("block{i}.sh"));
        std::fs::write(&script, format!("{carried}{text}\n")).unwrap();
        for line in text.lines() {
            let assignment = line.split_once('=').is_some_and(|(name, _)| {
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if line.starts_with("export ") || assignment {
                carried.push_str(line);
                carried.push('\n');
            }
        }
        let mut session = Vec::new();
        for step in steps(&transcript.text) {
            let after_fix = fix && step.command == FIX_AFTER;
            session.push(step);
            if after_fix {
                session.extend(fix_steps.iter().cloned());
            }
        }
        run_session(&script, &session);
    }
    (
        objects(chapter, &state, chapter.source),
        objects(chapter, &state, chapter.destination),
    )
}

/// The objects `partition contents` lists after `login` on `host`: label, type and OUID each.
fn objects(chapter: &Chapter, state: &Path, (host, login): (&str, &str)) -> Vec<String> {
    let out = common::output_with_stdin(
        common::command()
            .env("HSMSIM_LAB", chapter.lab)
            .env("HSMSIM_STATE_DIR", state)
            .args(["lunacm", "--host", host]),
        login,
    );
    let text = common::succeeded(&out);
    let mut objects = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        for field in ["Label:", "Object Type:", "Object UID:"] {
            if let Some(value) = line.strip_prefix(field) {
                current.push_str(value.trim());
                current.push('|');
            }
        }
        if line.starts_with("Object UID:") {
            objects.push(std::mem::take(&mut current));
        }
    }
    let count = format!("Number of objects:  {}", objects.len());
    assert!(text.contains(&count), "{count} in:\n{text}");
    objects.sort();
    objects
}

/// The commands of a chapter's transcripts, in order, `exit` left out.
fn typed_commands(tag: &str) -> Vec<String> {
    blocks()
        .iter()
        .filter(|b| b.tag == tag && !b.is_shell())
        .flat_map(|b| steps(&b.text))
        .map(|s| s.command)
        .filter(|c| c != "exit")
        .collect()
}

#[test]
fn the_transcripts_type_the_guide_s_commands_exactly() {
    assert_eq!(typed_commands(CHAPTER_2.tag), GUIDE_CHAPTER_2);
    assert_eq!(typed_commands(CHAPTER_3.tag), GUIDE_CHAPTER_3);
    // The lines not in the guide are only the README's fix.
    let fix: Vec<String> = typed_commands("seed003-fix");
    assert_eq!(
        fix,
        [
            "role logout",
            "role login -name co",
            "role changepw -name co",
            "role logout"
        ]
    );
}

fn migrated(source: &[String], destination: &[String]) {
    assert_eq!(source.len(), 7, "the source keeps its seven objects");
    assert_eq!(
        destination, source,
        "the destination holds the source's objects: labels, types and OUIDs"
    );
}

#[test]
fn chapter_2_cloning_runs_as_the_readme_types_it() {
    let (source, destination) = run_chapter(&CHAPTER_2, true);
    migrated(&source, &destination);
}

#[test]
fn chapter_3_backup_and_restore_across_two_hosts_runs_as_the_readme_types_it() {
    let (source, destination) = run_chapter(&CHAPTER_3, true);
    migrated(&source, &destination);
}

// Typed exactly as the guide prints them, without the README's four lines, the steps after
// `role init -name co` cannot succeed: the guide leaves out the Crypto Officer's first password
// change, which 7.x HSM policy 21 (on by default) requires, so chapter 2's clone answers 0xa3
// CKR_PIN_EXPIRED for every object; in chapter 3 `role login -name co` right after `role init`
// answers 0x104 CKR_USER_ANOTHER_ALREADY_LOGGED_IN (the Partition SO is still logged in: the
// guide logs it out nowhere). These runs show the guide's gaps (`--ignored`); the conformance
// suite reports the same in its step details.
#[test]
#[ignore = "the guide as printed: without the Crypto Officer's first password change (7.x HSM policy 21) the clone answers CKR_PIN_EXPIRED"]
fn chapter_2_cloning_runs_as_the_guide_prints_it() {
    let (source, destination) = run_chapter(&CHAPTER_2, false);
    migrated(&source, &destination);
}

#[test]
#[ignore = "the guide as printed: `role login -name co` while the Partition SO is still logged in, then CKR_PIN_EXPIRED (7.x HSM policy 21)"]
fn chapter_3_backup_and_restore_runs_as_the_guide_prints_it() {
    let (source, destination) = run_chapter(&CHAPTER_3, false);
    migrated(&source, &destination);
}
