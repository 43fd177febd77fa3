//! Golden outputs of the consoles' tests (`lunacm_cli.rs`, `lunash_cli.rs`, `decanus_cli.rs`):
//! a run's standard output and exit status compared exactly with
//! `cli/tests/golden/<console>/<name>.txt`.
//! Only what is truly not fixed by the lab is normalised: the lab's temporary directory
//! (`<LAB>`) and the object UIDs LunaCM prints (`Object UID:` values are random per object:
//! `<OUID>`); serial numbers, handles, policies and texts are compared as they are.
//!
//! To regenerate the files after an intended change of the output, run the tests with
//! `HSMSIM_BLESS=1` (e.g. `HSMSIM_BLESS=1 cargo test -p hsmsim-cli --test lunacm_cli golden`)
//! and review the diff.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

/// The golden file of `console` (`lunacm`, `lunash`) named `name`.
fn golden_path(console: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(console)
        .join(format!("{name}.txt"))
}

/// `text` with the lab's directory and the object UIDs replaced by placeholders.
pub fn normalise(text: &str, lab_dir: &Path) -> String {
    let text = text.replace(&lab_dir.display().to_string(), "<LAB>");
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        match line.split_once("Object UID:") {
            Some((before, after)) => {
                let value = after.trim_start();
                let spaces = &after[..after.len() - value.len()];
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                out.push_str(&format!("{before}Object UID:{spaces}<OUID>{newline}"));
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The run as its golden file holds it: standard output, then the exit status.
pub fn transcript(out: &Output, lab_dir: &Path) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    format!(
        "{}--- exit status: {}\n",
        normalise(&stdout, lab_dir),
        out.status.code().map_or("signal".into(), |c| c.to_string())
    )
}

/// Compares the run with its golden file (`HSMSIM_BLESS=1` writes it instead).
pub fn check(console: &str, name: &str, out: &Output, lab_dir: &Path) {
    check_transcript(console, name, &transcript(out, lab_dir));
}

/// Compares a transcript (as `transcript` makes it, further normalised by the console's test)
/// with its golden file (`HSMSIM_BLESS=1` writes it instead).
pub fn check_transcript(console: &str, name: &str, actual: &str) {
    let path = golden_path(console, name);
    if std::env::var_os("HSMSIM_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with HSMSIM_BLESS=1 to write it. The output was:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the run at line {} (HSMSIM_BLESS=1 rewrites it after an intended \
             change):\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display(),
            first + 1
        );
    }
}
