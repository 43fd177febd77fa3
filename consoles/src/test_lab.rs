//! For the consoles' unit tests: a lab written from a lab file's text into a temporary
//! directory, selected as the CLI selects one.
use hsmsim::estate::{self, Choice, LabSelection};

/// The lab `lab_toml` written to `dir/lab.toml`, selected.
pub fn select(dir: &tempfile::TempDir, lab_toml: &str) -> LabSelection {
    std::fs::write(dir.path().join("lab.toml"), lab_toml).unwrap();
    estate::select(&Choice {
        lab_file: Some(dir.path().join("lab.toml")),
        host: None,
        state_dir: None,
    })
    .unwrap()
}
