//! The secrets the CLI's commands take (Primus card PINs, SO card PINs, setup passwords, PFX
//! passwords) when not given as options: from an environment variable, else asked for without
//! echo on a terminal (a pseudo-terminal from script(1) here), else refused (exit 2) with a
//! sentence naming both ways; the secret never appears in the output.
mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn hsmsim(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = command();
    c.env("HSMSIM_CONF", dir.join("lab.toml"))
        .env("HSMSIM_HOST", "ca-server")
        .env_remove("HSMSIM_CARD_PIN")
        .env_remove("HSMSIM_PFX_PASSWORD")
        .env_remove("HSMSIM_SETUP_PASSWORD")
        .env_remove("HSMSIM_SO_CARD_PIN")
        .envs(env.iter().copied())
        .args(args);
    output(&mut c)
}

/// `hsmsim ARGS` on a pseudo-terminal (script(1)), typing `typed` once the prompt is up;
/// returns what the terminal showed.
fn on_terminal(dir: &Path, args: &str, typed: &str) -> String {
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_hsmsim"));
    let hsmsim_env = command();
    let mut script = std::process::Command::new("script");
    script
        .envs(
            hsmsim_env
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("HSMSIM_CONF", dir.join("lab.toml"))
        .env("HSMSIM_HOST", "ca-server")
        .env_remove("HSMSIM_LAB")
        .env_remove("HSMSIM_STATE_DIR")
        .env_remove("HSMSIM_CARD_PIN")
        .env_remove("HSMSIM_PFX_PASSWORD")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = script.spawn().expect("script(1) runs");
    let mut stdin = child.stdin.take().unwrap();
    let typed = format!("{typed}\n");
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::io::Write::write_all(&mut stdin, typed.as_bytes()).unwrap();
        // Keep the terminal open until the command ends.
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    text
}

fn fixture(name: &str) -> String {
    format!("{}/../fixtures/pki/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn card_pins_come_from_the_option_the_environment_or_the_terminal() {
    let dir = init_lab("primus");
    let d = dir.path();
    let create = |name: &str, env: &[(&str, &str)], pin: Option<&str>| {
        let mut args = vec![
            "primus",
            "card",
            "create",
            "--device",
            "primus-onprem",
            "--kind",
            "so",
            "--name",
            name,
        ];
        if let Some(pin) = pin {
            args.extend(["--pin", pin]);
        }
        hsmsim(d, env, &args)
    };
    // Not given, not on a terminal: refused, nothing created.
    refused(
        &create("so-1", &[], None),
        2,
        "--pin is needed: give it, set HSMSIM_CARD_PIN, or run on a terminal",
    );
    let out = create("so-1", &[("HSMSIM_CARD_PIN", "12345678")], None);
    assert!(!succeeded(&out).contains("12345678"));
    succeeded(&create("so-2", &[], Some("23456789")));
    // The PIN the environment gave is the card's: a wrong one counts down, the right one passes.
    let verify = |env: &[(&str, &str)]| {
        hsmsim(
            d,
            env,
            &[
                "primus",
                "card",
                "verify",
                "--device",
                "primus-onprem",
                "so-1",
            ],
        )
    };
    refused(&verify(&[]), 2, "HSMSIM_CARD_PIN");
    // A refused PIN is exit 2 in every command.
    assert_eq!(
        verify(&[("HSMSIM_CARD_PIN", "99999999")]).status.code(),
        Some(2)
    );
    succeeded(&verify(&[("HSMSIM_CARD_PIN", "12345678")]));
    // On a terminal: asked for, not echoed.
    let shown = on_terminal(
        d,
        "primus card verify --device primus-onprem so-1",
        "12345678",
    );
    assert!(shown.contains("PIN of card so-1: "), "{shown}");
    assert!(shown.contains("PIN accepted"), "{shown}");
    assert!(!shown.contains("12345678"), "{shown}");
    // An SO card named without its PIN: asked for on a terminal, refused otherwise.
    refused(
        &hsmsim(
            d,
            &[],
            &[
                "primus",
                "setup-password",
                "issue",
                "primus-onprem/ACME-PKI",
                "--so",
                "so-1",
                "--so",
                "so-2:23456789",
            ],
        ),
        2,
        "the PIN of SO card so-1 (--so so-1:PIN) is needed",
    );
}

#[test]
fn the_pfx_password_comes_from_the_option_the_environment_or_the_terminal() {
    let dir = init_lab("primus");
    let d = dir.path();
    let pfx = fixture("adcs-ca.pfx");
    let import = |env: &[(&str, &str)], label: &str| {
        hsmsim(
            d,
            env,
            &[
                "import-pfx",
                "--target",
                "sim:token=ACME-ADCS",
                "--pfx",
                &pfx,
                "--label",
                label,
            ],
        )
    };
    refused(
        &import(&[], "a"),
        2,
        "--password is needed: give it, set HSMSIM_PFX_PASSWORD, or run on a terminal",
    );
    let out = import(&[("HSMSIM_PFX_PASSWORD", "Pfx-Pass-01")], "b");
    assert!(!succeeded(&out).contains("Pfx-Pass-01"));
    let shown = on_terminal(
        d,
        // The key is on the token already: the second import replaces it.
        &format!("import-pfx --target sim:token=ACME-ADCS --pfx {pfx} --label c --replace"),
        "Pfx-Pass-01",
    );
    assert!(shown.contains("password of "), "{shown}");
    assert!(!shown.contains("Pfx-Pass-01"), "{shown}");
}
