//! The README's "Seed 004 by hand" walk-through, the CLI part, run as written: its `seed004-*`
//! shell blocks in one bash shell, as a person types them, in a stand-in checkout whose
//! `target/release/` holds this build's `hsmsim` and `libhsmsim.so`, with a temporary directory
//! in place of `/tmp/seed004`. Each `seed004-output` block lists lines the shell block before it
//! prints, in order. The key made on "payments" signs on the migrated service and the source's
//! public key verifies it (pkcs11-tool prints "Signature is valid").
mod common;
#[path = "common/walkthrough.rs"]
mod walkthrough;

use std::process::Command;
use std::time::{Duration, Instant};
use walkthrough::Block;

const README: &str = include_str!("../../README.md");
const HEADING: &str = "### Seed 004 by hand: `hsmsim ccc`\n";
/// The directory the README's lines use for the lab and the files.
const README_DIR: &str = "/tmp/seed004";
/// How long the whole walk-through may take (a debug build, key generation included).
const PATIENCE: Duration = Duration::from_secs(600);
const MARK: &str = "==seed004 shell block ";

/// The `seed004-*` fenced blocks of the README's "Seed 004 by hand" section, in order.
fn blocks() -> Vec<Block> {
    walkthrough::section_blocks(README, HEADING, "seed004-")
}

/// Every line of `expected` is a line of `output`, in order (lines compared trimmed).
fn prints_in_order(output: &str, expected: &str) -> bool {
    let mut lines = output.lines().map(str::trim);
    expected
        .lines()
        .map(str::trim)
        .all(|want| lines.any(|line| line == want))
}

#[test]
fn seed_004_runs_as_the_readme_types_it_and_the_migrated_key_signs() {
    walkthrough::require_on_path(&["bash", "pkcs11-tool"], "bash, OpenSC");
    let blocks = blocks();
    let shells: Vec<&Block> = blocks.iter().filter(|b| b.is_shell()).collect();
    assert!(
        shells.len() >= 5,
        "the section has its shell blocks (setup, import, create, manage, migrate, detach)"
    );
    let checkout = walkthrough::stand_in_checkout();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("seed004");
    let mut script = String::from("set -e\nexec 2>&1\n");
    for (i, block) in shells.iter().enumerate() {
        script.push_str(&format!("echo '{MARK}{i}=='\n"));
        script.push_str(&block.text.replace(README_DIR, dir.to_str().unwrap()));
        script.push('\n');
    }
    script.push_str(&format!("echo '{MARK}end=='\n"));
    let script_file = work.path().join("walk-through.sh");
    std::fs::write(&script_file, script).unwrap();

    let mut command = Command::new("bash");
    command.arg(&script_file).current_dir(checkout.path());
    let (mut child, input, mut output) = walkthrough::start(command);
    drop(input);
    let deadline = Instant::now() + PATIENCE;
    while !output.closed {
        assert!(
            Instant::now() < deadline,
            "the walk-through ends within {PATIENCE:?}; it printed:\n{}",
            String::from_utf8_lossy(&output.raw)
        );
        output.read_more(Duration::from_secs(1));
    }
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&output.raw).into_owned();
    assert!(
        status.success() && text.contains(&format!("{MARK}end==")),
        "every block runs to its end ({status}); it printed:\n{text}"
    );

    // What each shell block printed, checked against the output block after it.
    let mut shell = 0;
    for block in &blocks {
        if block.is_shell() {
            shell += 1;
            continue;
        }
        if block.tag != "seed004-output" {
            continue;
        }
        let i = shell - 1;
        let start = text.find(&format!("{MARK}{i}==")).unwrap();
        let end = text[start..]
            .find(&format!("{MARK}{}==", i + 1))
            .map_or(text.len(), |at| start + at);
        let printed = &text[start..end];
        assert!(
            prints_in_order(printed, &block.text),
            "shell block {i}: the README shows (in this order):\n{}\nit printed:\n{printed}",
            block.text
        );
    }
    assert!(
        blocks.iter().any(|b| b.tag == "seed004-output"),
        "the section shows what its blocks print"
    );
    assert!(
        text.contains("Signature is valid"),
        "the key migrated to payments-7 signs and the source's public key verifies"
    );
}
