//! The README's "Seed 000 by hand" walk-through, run as written: its `seed000-*` blocks in one
//! bash shell, as a person types them, in a stand-in checkout whose `target/release/` holds
//! this build's `hsmsim` and `libhsmsim.so`, with a temporary directory in place of
//! `/tmp/seed000`. The shell block that starts `hsmsim decanus` gets the transcripts' lines on
//! its standard input (scripted mode: a prompt's answer is the next line), one menu path at a
//! time, reading the terminal's answer before typing on: each line the README shows must
//! appear, in order. The values the device generates (the management password, the file name,
//! the backup password) are read from the terminal and typed in place of the README's
//! examples, in the terminal and in the shell blocks after it. Each `seed000-output` block
//! lists lines the shell block before it prints. Afterwards every key is the same on CloudHSM
//! as on premises.
mod common;
#[path = "common/walkthrough.rs"]
mod walkthrough;

use std::path::Path;
use std::process::{ChildStdin, Command};
use std::time::{Duration, Instant};
use walkthrough::{Block, LiveOutput};

const README: &str = include_str!("../../README.md");
const HEADING: &str = "### Seed 000 by hand: `hsmsim decanus`\n";
/// The directory the README's lines use for the lab, the USB drive and the files.
const README_DIR: &str = "/tmp/seed000";
/// How long one step may take (a debug build generating RSA keys included).
const PATIENCE: Duration = Duration::from_secs(120);
/// How long the terminal may print nothing before a line the README shows is taken as
/// missing (it then waits for input that does not come).
const QUIET: Duration = Duration::from_secs(10);

/// The `seed000-*` fenced blocks of the README's "Seed 000 by hand" section, in order.
fn blocks() -> Vec<Block> {
    walkthrough::section_blocks(README, HEADING, "seed000-")
}

const PROMPTS: [&str; 2] = ["Decanus DA> ", "Decanus PA> "];
const TYPED: &str = " ← ";
const NOT_ECHOED: &str = " (typed, not echoed)";

/// One line typed at the terminal's prompt: the prompt it is typed at, what is typed at the
/// questions it raises (question, answer, whether the answer is echoed) and the lines the
/// README shows for it.
struct Step {
    prompt: String,
    command: String,
    answers: Vec<(String, String, bool)>,
    shown: Vec<String>,
}

/// The steps of the `seed000-terminal` transcripts, in order.
fn steps(transcripts: &[&Block]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in transcripts.iter().flat_map(|b| b.text.lines()) {
        if let Some(prompt) = PROMPTS.iter().find(|p| line.starts_with(*p)) {
            steps.push(Step {
                prompt: prompt.to_string(),
                command: line[prompt.len()..].to_string(),
                answers: Vec::new(),
                shown: Vec::new(),
            });
            continue;
        }
        let step = steps
            .last_mut()
            .expect("a transcript starts with the terminal's prompt");
        if let Some((question, typed)) = line.split_once(TYPED) {
            let (answer, echoed) = match typed.strip_suffix(NOT_ECHOED) {
                Some(answer) => (answer, false),
                None => (typed, true),
            };
            step.answers
                .push((question.trim().to_string(), answer.to_string(), echoed));
            step.shown.push(question.trim().to_string());
        } else if !line.trim().is_empty() {
            step.shown.push(line.trim().to_string());
        }
    }
    steps
}

/// Lines whose end the device generates: the README's value there is an example.
const GENERATED: [&str; 3] = [
    "Management password for ACME-ADCS: ",
    "stored to USB-memory: ",
    "Write down the Backup password: ",
];

/// The README's example values and the ones this run's terminal showed.
#[derive(Default)]
struct Substitutions(Vec<(String, String)>);

impl Substitutions {
    fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (example, real)| {
            t.replace(example, real)
        })
    }
}

/// `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`: five groups of five capitals or digits.
fn is_device_password(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups.iter().all(|g| {
            g.len() == 5
                && g.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// `DIR/usb/ACME-ADCS-YYYYMMDDThhmmss.pbackup`, and the file is there.
fn is_backup_file(value: &str, dir: &Path) -> bool {
    let Some(name) = value.strip_prefix(&format!("{}/usb/ACME-ADCS-", dir.display())) else {
        return false;
    };
    let Some(stamp) = name.strip_suffix(".pbackup") else {
        return false;
    };
    stamp.len() == 15
        && stamp
            .char_indices()
            .all(|(i, c)| if i == 8 { c == 'T' } else { c.is_ascii_digit() })
        && Path::new(value).is_file()
}

/// The shell, read as it prints.
struct Shell {
    child: std::process::Child,
    input: Option<ChildStdin>,
    output: LiveOutput,
}

impl Shell {
    fn start(script: &Path, checkout: &Path) -> Shell {
        let mut command = Command::new("bash");
        command
            .arg(script)
            .current_dir(checkout)
            .env("PWD", checkout);
        let (child, input, output) = walkthrough::start(command);
        Shell {
            child,
            input: Some(input),
            output,
        }
    }

    /// What it printed, up to the last whole line.
    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.output.raw).into_owned();
        match text.rfind('\n') {
            Some(end) if !self.output.closed => text[..=end].to_string(),
            _ => text,
        }
    }

    /// Reads on until `done` holds for what was printed after `from`; panics with `what` and
    /// the output when the shell ends first, when it prints nothing for `quiet`, or after
    /// `PATIENCE`.
    fn wait_until(
        &mut self,
        from: usize,
        what: &str,
        quiet: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            let tail = text.get(from..).unwrap_or("");
            if done(tail) {
                return;
            }
            assert!(
                !self.output.closed,
                "{what}: the shell ended; it printed:\n{tail}"
            );
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.output.read_more(left.min(quiet)) {
                let waited = if left <= quiet { PATIENCE } else { quiet };
                panic!("{what}: nothing more for {waited:?}; the shell printed:\n{tail}")
            }
        }
    }

    fn type_line(&mut self, line: &str) {
        let input = self.input.as_mut().expect("the terminal still reads");
        walkthrough::type_line(input, line);
    }
}

/// Where the README's `shown` lines appear in `output`, in order (`matches` says whether an
/// output line is the README's line); `None` while one is missing.
fn find_in_order(
    output: &str,
    shown: &[String],
    matches: impl Fn(&str, &str) -> bool,
) -> Option<Vec<String>> {
    let mut lines = output.lines();
    let mut found = Vec::new();
    for expected in shown {
        found.push(
            lines
                .find(|l| matches(l.trim(), expected))?
                .trim()
                .to_string(),
        );
    }
    Some(found)
}

/// The README's line `expected` against an output line: equal, or for a line the device ends
/// with a generated value, equal up to that value; a question matches its line however the
/// answer shows.
fn terminal_line_matches(line: &str, expected: &str, questions: &[String]) -> bool {
    if questions.iter().any(|q| q == expected) {
        return line.starts_with(expected);
    }
    match GENERATED
        .iter()
        .find_map(|g| expected.find(g).map(|at| &expected[..at + g.len()]))
    {
        Some(start) => line.starts_with(start),
        None => line == expected,
    }
}

/// Every line of a `seed000-output` block is printed by its shell block, in order.
fn prints(block: usize, output: &str, expected: &str) {
    let shown: Vec<String> = expected.lines().map(|l| l.trim().to_string()).collect();
    assert!(
        find_in_order(output, &shown, |line, expected| line == expected).is_some(),
        "shell block {block}: the README shows (in this order):\n{expected}\nit printed:\n{output}"
    );
}

/// What the walk-through left: the lab file and the stand-in checkout's directory.
struct Walked {
    lab: std::path::PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

const MARK: &str = "==seed000 shell block ";

/// Runs the section's blocks as written; returns the lab they made.
fn walk_through() -> Walked {
    walkthrough::require_on_path(&["bash", "pkcs11-tool", "cmp"], "bash, OpenSC, diffutils");
    let blocks = blocks();
    let checkout = walkthrough::stand_in_checkout();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("seed000");
    let local = |text: &str| text.replace(README_DIR, dir.to_str().unwrap());

    let shells: Vec<&Block> = blocks.iter().filter(|b| b.is_shell()).collect();
    let session = shells
        .iter()
        .position(|b| b.text.contains("decanus --device primus-onprem"))
        .expect("a shell block starts `hsmsim decanus --device primus-onprem`");
    let transcripts: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.tag == "seed000-terminal")
        .collect();
    let steps = steps(&transcripts);
    assert!(
        steps.last().is_some_and(|s| s.command == "exit"),
        "the transcripts end with `exit`"
    );
    // One shell: block i runs from blocks/i.sh, each after a mark. The blocks after the
    // terminal are written when its generated values are known.
    let scripts = work.path().join("blocks");
    std::fs::create_dir_all(&scripts).unwrap();
    let mut main = String::from("set -e\nexec 2>&1\n");
    for i in 0..shells.len() {
        main.push_str(&format!(
            "echo '{MARK}{i}=='\n. {}\n",
            scripts.join(format!("{i}.sh")).display()
        ));
    }
    main.push_str(&format!("echo '{MARK}end=='\n"));
    let write_block = |i: usize, substitutions: &Substitutions| {
        let text = substitutions.apply(&local(&shells[i].text));
        std::fs::write(scripts.join(format!("{i}.sh")), format!("{text}\n")).unwrap();
    };
    let none = Substitutions::default();
    for i in 0..=session {
        write_block(i, &none);
    }
    let main_script = work.path().join("walk-through.sh");
    std::fs::write(&main_script, main).unwrap();

    let mut shell = Shell::start(&main_script, checkout.path());
    let session_mark = format!("{MARK}{session}==\n");
    shell.wait_until(0, "the terminal's start", PATIENCE, |t| {
        t.contains(&session_mark)
    });
    let mut mark = shell.text().find(&session_mark).unwrap() + session_mark.len();
    let mut substitutions = Substitutions::default();
    for step in &steps {
        let command = substitutions.apply(&local(&step.command));
        if command == "exit" {
            // The blocks after the terminal, with the values it showed.
            for i in session + 1..shells.len() {
                write_block(i, &substitutions);
            }
        }
        shell.type_line(&command);
        for (_, answer, _) in &step.answers {
            shell.type_line(&substitutions.apply(answer));
        }
        let echo = format!("{}{command}\n", step.prompt);
        if command == "exit" {
            shell.input = None;
            shell.wait_until(mark, &command, QUIET, |t| t.contains(&echo));
            break;
        }
        let shown: Vec<String> = step
            .shown
            .iter()
            .map(|l| substitutions.apply(&local(l)))
            .collect();
        let questions: Vec<String> = step.answers.iter().map(|a| a.0.clone()).collect();
        let mut found = None;
        let what = format!("`{command}` (the README shows {shown:#?})");
        shell.wait_until(mark, &what, QUIET, |tail| {
            let Some(at) = tail.find(&echo) else {
                return false;
            };
            let output = &tail[at + echo.len()..];
            assert!(
                !output.contains("ERROR:"),
                "`{command}` was refused:\n{output}"
            );
            found = find_in_order(output, &shown, |line, expected| {
                terminal_line_matches(line, expected, &questions)
            });
            found.is_some()
        });
        let found = found.unwrap();
        let text = shell.text();
        let output = &text[mark..];
        for (question, answer, echoed) in &step.answers {
            let line = found
                .iter()
                .find(|l| l.starts_with(question.as_str()))
                .unwrap();
            if *echoed {
                assert_eq!(
                    line.trim(),
                    format!("{question} {answer}"),
                    "`{command}`: the answer is shown"
                );
            } else {
                assert!(
                    !output.contains(answer.as_str()),
                    "`{command}`: {question} was echoed:\n{output}"
                );
            }
        }
        // The device's values: the README's examples stand for them from here on.
        for (expected, line) in shown.iter().zip(&found) {
            for generated in GENERATED {
                let (Some(example), Some(real)) = (
                    expected.split_once(generated).map(|p| p.1),
                    line.split_once(generated).map(|p| p.1),
                ) else {
                    continue;
                };
                let well_formed = if generated.contains("USB") {
                    is_backup_file(real, &dir)
                } else {
                    is_device_password(real)
                };
                assert!(well_formed, "`{command}`: {generated}{real:?}");
                substitutions
                    .0
                    .push((example.to_string(), real.to_string()));
                assert_eq!(
                    substitutions.apply(expected),
                    *line,
                    "`{command}`: the README shows {expected:?}"
                );
            }
        }
        mark = text.len();
    }
    shell.wait_until(0, "the walk-through's end", PATIENCE, |t| {
        t.contains(&format!("{MARK}end=="))
    });
    let status = shell.child.wait().unwrap();
    let text = shell.text();
    assert!(
        status.success(),
        "the walk-through failed ({status}):\n{text}"
    );
    assert_eq!(
        substitutions.0.len(),
        GENERATED.len(),
        "the terminal showed the management password, the file and the backup password"
    );

    // Each seed000-output block: lines its shell block printed.
    let mut shell_index = None;
    for block in &blocks {
        if block.is_shell() {
            shell_index = Some(shell_index.map_or(0, |i| i + 1));
        } else if block.tag == "seed000-output" {
            let i = shell_index.expect("an output block follows a shell block");
            let start = text.find(&format!("{MARK}{i}==\n")).unwrap();
            let after = start + MARK.len();
            let end = text[after..].find(MARK).unwrap() + after;
            prints(i, &text[start..end], &local(&block.text));
        }
    }
    Walked {
        lab: dir.join("lab.toml"),
        _dirs: (checkout, work),
    }
}

/// `ListKeyEntry -keyname KEY` of ACME-ADCS as `host` sees it.
fn key_entry(lab: &Path, host: &str, key: &str) -> String {
    common::succeeded(&common::output(
        common::command().arg("--lab").arg(lab).args([
            "--host",
            host,
            "primus-tools",
            "-hsm",
            "sim:token=ACME-ADCS",
            "ListKeyEntry",
            "-keyname",
            key,
        ]),
    ))
}

#[test]
fn seed_000_runs_as_the_readme_types_it_and_the_keys_work_on_cloudhsm() {
    let walked = walk_through();
    // Every key of the partition: on CloudHSM (admin-host, slot 3) as on premises (ca-server).
    for key in ["adcs-aes", "adcs-rsa", "adcs-ec"] {
        let cloud = key_entry(&walked.lab, "admin-host", key);
        let onprem = key_entry(&walked.lab, "ca-server", key);
        assert_eq!(cloud, onprem, "{key} differs on CloudHSM");
        assert!(cloud.contains("  id      "), "{cloud}");
    }
    let shown = common::succeeded(&common::output(
        common::command()
            .arg("--lab")
            .arg(&walked.lab)
            .args(["lab", "show"]),
    ));
    let restored = shown
        .lines()
        .find(|l| l.starts_with("cloudhsm/restore "))
        .unwrap();
    assert!(
        restored.contains("ACME-ADCS") && restored.trim_end().ends_with(" 5"),
        "{restored}"
    );
}

/// The menu paths the transcripts type: the seed's, in its order, `PARTITION_NAME` ACME-ADCS.
const SEED_PATHS: &[&str] = &[
    "SYSTEM > DIAG. DEVICE > LICENSE",
    "SETUP > CONFIGURATION > SECURITY > USER > “Management access” > enabled",
    "SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO > ROLES > USER > MGMT Password > “ACME-ADCS”",
    "SWITCH MODE > Partition Administration",
    "ONBOARD > \"10.0.0.1\" > \"2300\" > \"ACME-ADCS\" > \"CVHWE-6XGMS-NZ29E-WJYFX-XL56R\" > INSERT empty Partition SO Card (PSO) on Slot 1 > ONBOARD",
    "SWITCH MODE > Device Administration",
    "SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO",
    "BACKUP > PARTITION BACKUP > P-BACKUP CARD > “ACME-ADCS” > INSERT Yellow Card into Slot 2",
    "SWITCH MODE > Partition Administration",
    "LOGIN > “ACME-ADCS”",
    "BACKUP > CREATE",
];

#[test]
fn the_transcripts_type_the_seed_s_paths() {
    let blocks = blocks();
    let transcripts: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.tag == "seed000-terminal")
        .collect();
    let paths: Vec<String> = steps(&transcripts)
        .into_iter()
        .map(|s| s.command)
        .filter(|c| !["card ", "usb ", "exit"].iter().any(|t| c.starts_with(t)))
        .collect();
    assert_eq!(paths, SEED_PATHS);
}
