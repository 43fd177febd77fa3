//! `hsmsim --lab FILE`, and the other files the CLI reads by a path the user gives: anything
//! but a regular file of a sane size (a FIFO, /dev/zero, a directory, a huge sparse file) is
//! refused promptly with a plain sentence and exit status 2, never a hang or an unbounded
//! read.
mod common;

use common::{command, stderr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `c` and waits at most 60 s for it (killed and failed after that).
fn bounded(c: &mut Command, what: &str) -> Output {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn bad_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("lab.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let directory = dir.join("a-directory");
    std::fs::create_dir(&directory).unwrap();
    let sparse = dir.join("huge.toml");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    vec![
        (fifo, "it is a FIFO (named pipe), not a regular file"),
        (
            PathBuf::from("/dev/zero"),
            "it is a character device, not a regular file",
        ),
        (directory, "it is a directory, not a regular file"),
        (sparse, "more than the 16 MiB hsmsim reads from a file"),
    ]
}

#[test]
fn a_lab_file_that_is_not_a_regular_file_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (file, why) in bad_files(dir.path()) {
        let out = bounded(
            command().arg("--lab").arg(&file).arg("slots"),
            &format!("hsmsim --lab {}", file.display()),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains(why), "{}: {text}", file.display());
        assert!(text.contains("cannot read the lab file"), "{text}");
        // Also through HSMSIM_CONF.
        let out = bounded(
            command().env("HSMSIM_CONF", &file).arg("slots"),
            &format!("HSMSIM_CONF={} hsmsim slots", file.display()),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}

#[test]
fn an_input_file_that_is_not_a_regular_file_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (file, why) in bad_files(dir.path()) {
        let out = bounded(
            command()
                .args(["import-pfx", "--target", "sim", "--password", "x", "--pfx"])
                .arg(&file),
            &format!("hsmsim import-pfx --pfx {}", file.display()),
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}
