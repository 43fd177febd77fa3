//! What the README walk-through tests share (`seed000_walkthrough`, `seed003_walkthrough`,
//! which run a README section's blocks as written): the section's tagged fenced blocks, the
//! tools the blocks need on PATH, and a child process's output read as it comes (a thread
//! forwards the pipe's chunks, `read_more` waits for the next one) while the test types into
//! it. Included by those tests with `#[path = "common/walkthrough.rs"] mod walkthrough;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// A fenced block of a README section: its language (`sh`, `text`), its tag (the word after
/// the language) and its lines.
pub struct Block {
    pub language: String,
    pub tag: String,
    pub text: String,
}

impl Block {
    pub fn is_shell(&self) -> bool {
        self.language == "sh"
    }
}

/// The fenced blocks of `readme`'s section `heading` (up to the next `##` or `###` heading)
/// whose tag starts with `tag_prefix`, in order.
pub fn section_blocks(readme: &str, heading: &str, tag_prefix: &str) -> Vec<Block> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has the section {heading:?}"));
    let section = &readme[start + heading.len()..];
    let end = ["\n## ", "\n### "]
        .iter()
        .filter_map(|h| section.find(h))
        .min()
        .unwrap_or(section.len());
    let mut found = Vec::new();
    let mut lines = section[..end].lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let language = words.next().unwrap_or("").to_string();
        let tag = words.next().unwrap_or("").to_string();
        let text: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        if tag.starts_with(tag_prefix) {
            found.push(Block {
                language,
                tag,
                text: text.join("\n"),
            });
        }
    }
    found
}

/// A stand-in checkout for a walk-through's lines: its `target/release/` holds this build's
/// `hsmsim` and `libhsmsim.so` (links).
pub fn stand_in_checkout() -> tempfile::TempDir {
    let checkout = tempfile::tempdir().unwrap();
    let release = checkout.path().join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hsmsim"), release.join("hsmsim")).unwrap();
    std::os::unix::fs::symlink(crate::common::sim_module(), release.join("libhsmsim.so")).unwrap();
    checkout
}

/// Asserts each of `tools` is on PATH; `packages` names where they come from.
pub fn require_on_path(tools: &[&str], packages: &str) {
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the README's walk-through needs `{tool}` ({packages}) on PATH"
        );
    }
}

/// Starts `command` (a shell or terminal running the README's lines) as the walk-through
/// tests do: the variables that choose a lab or carry secrets removed, so only what the
/// README's lines set counts; PINs sealed at the cost the other CLI tests use; standard input
/// and output piped, standard error inherited. Returns the child, its input and its output.
pub fn start(mut command: Command) -> (Child, ChildStdin, LiveOutput) {
    command
        .env("HSMSIM_PIN_KDF_ITERATIONS", "10000")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for var in [
        "HSMSIM_CONF",
        "HSMSIM_LAB",
        "HSMSIM_HOST",
        "HSMSIM_STATE_DIR",
        "HSMSIM_PED_KEYS",
        "HSMSIM_MODULE",
        "HSMSIM_CARD_PIN",
        "HSMSIM_BACKUP_PASSWORD",
    ] {
        command.env_remove(var);
    }
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("`{program}` runs: {e}"));
    let input = child.stdin.take().unwrap();
    let output = LiveOutput::new(child.stdout.take().unwrap());
    (child, input, output)
}

/// What the child printed so far, and whether its output has ended.
pub struct LiveOutput {
    chunks: Receiver<Vec<u8>>,
    pub raw: Vec<u8>,
    pub closed: bool,
}

impl LiveOutput {
    /// Reads `output` (a child's stdout) on a thread of its own.
    pub fn new(mut output: impl Read + Send + 'static) -> LiveOutput {
        let (send, chunks) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = output.read(&mut buffer) {
                if n == 0 || send.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        LiveOutput {
            chunks,
            raw: Vec::new(),
            closed: false,
        }
    }

    /// Waits up to `timeout` for what comes next (the output's end too, which sets `closed`);
    /// false when nothing came in that time.
    pub fn read_more(&mut self, timeout: Duration) -> bool {
        match self.chunks.recv_timeout(timeout) {
            Ok(chunk) => self.raw.extend(chunk),
            Err(RecvTimeoutError::Disconnected) => self.closed = true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
        true
    }
}

/// Types `line` and Enter.
pub fn type_line(input: &mut impl Write, line: &str) {
    input.write_all(line.as_bytes()).unwrap();
    input.write_all(b"\n").unwrap();
    input.flush().unwrap();
}
