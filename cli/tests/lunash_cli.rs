//! `hsmsim lunash --device D`, the Luna Network HSM appliance shell of the HSM SO, on a lab of
//! its own (the built-in labs have no admin partitions yet): `hsm login` with a wrong and a
//! right password, `partition list|show|showpolicies`, `partition changepolicy` with its
//! proceed prompt (answered `quit`, then `proceed`) and `-force`, `hsm changepolicy`, asserting
//! what the lab's store holds afterwards (seen by a later run and by the module through
//! LunaCM), LunaSH's output and trailers, and the exit statuses; the `golden_*` test pins the
//! whole output against `cli/tests/golden/lunash/` (`HSMSIM_BLESS=1` regenerates it).
mod common;
mod golden;

use common::{output, refused, stderr, succeeded};
use std::process::Output;

/// The lab (see its comments): sa6 (6.21.2, partition `source` with policies 0 and 4 off),
/// sa7 (7.4.2, cloning off), noadmin, k7 (PCIe), saped (PED); host `client` sees sa6/source
/// as slot 0 and sa7/app as slot 1.
const LAB: &str = include_str!("../../consoles/src/lunash/test_lab.toml");

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lab.toml"), LAB).unwrap();
        Lab { dir }
    }

    fn lab(&self) -> String {
        common::lab_file(self.dir.path())
    }

    /// `hsmsim lunash --device D` with `args` and `stdin`.
    fn lunash(&self, device: &str, args: &[&str], stdin: &str) -> Output {
        self.console(&["lunash", "--device", device], args, stdin)
    }

    fn console(&self, console: &[&str], args: &[&str], stdin: &str) -> Output {
        common::output_with_stdin(
            common::command()
                .args(["--lab", &self.lab()])
                .args(console)
                .args(args),
            stdin,
        )
    }

    /// The Crypto Officer of `token` creates an AES key there (Primus Tools on host `client`).
    fn create_key(&self, token: &str, name: &str) {
        succeeded(&output(common::command().args([
            "--lab",
            &self.lab(),
            "--host",
            "client",
            "primus-tools",
            "--hsm",
            &format!("sim:token={token}"),
            "CreateKey",
            "--keyname",
            name,
            "--type",
            "AES",
            "--size",
            "256",
        ])));
    }

    /// The object count `partition show` reports for `partition` of `device`.
    fn objects(&self, device: &str, partition: &str) -> u64 {
        let out = stdout(&self.lunash(
            device,
            &["-c", &format!("partition show -partition {partition}")],
            "",
        ));
        out.lines()
            .find_map(|l| l.strip_prefix("Number of Objects:"))
            .unwrap_or_else(|| panic!("no object count in: {out}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// A policy's value as `partition showpolicies` shows it (the policies block).
    fn policy(&self, device: &str, partition: &str, id: u64) -> Option<u64> {
        let out = stdout(&self.lunash(
            device,
            &[
                "-c",
                &format!("partition showpolicies -partition {partition}"),
            ],
            "",
        ));
        policy_value(&out, "Partition Policies", id)
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of policy `id` in the showpolicies block `block` of `text`.
fn policy_value(text: &str, block: &str, id: u64) -> Option<u64> {
    let after = text.split(block).nth(1)?;
    let block = after.split("\n\n").next()?;
    block.lines().find_map(|l| {
        let (head, value) = l.trim().rsplit_once(" : ")?;
        (head.split(':').next()? == id.to_string()).then(|| value.trim().parse().ok())?
    })
}

const SUCCESS: &str = "Command Result : 0 (Success)";
const FAILURE: &str = "Command Result : 65535 (Luna Shell execution)";
const PROCEED: &str = "Type 'proceed' to continue, or 'quit' to quit now ->";

#[test]
fn hsm_login_refuses_a_wrong_password_and_takes_the_right_one() {
    let lab = Lab::new();
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password wrong-pin-1\nhsm login -password hso-pin-0001\nhsm show\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("[sa6] lunash:>hsm login -password wrong-pin-1\n"),
        "{text}"
    );
    assert!(
        text.contains("Error: 'hsm login' failed: ")
            && text.contains(&format!("(0xa0 CKR_PIN_INCORRECT)\n\n{FAILURE}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("'hsm login' successful.\n\n{SUCCESS}\n")),
        "{text}"
    );
    assert!(
        text.contains("HSM Admin login status:      Logged In"),
        "{text}"
    );
    assert!(
        text.contains("Firmware:                    6.21.2"),
        "{text}"
    );
    // Without a terminal and without -password nobody can give the password.
    let out = lab.lunash("sa6", &["-c", "hsm login"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("the HSM SO's password is needed"));
    // A changepolicy without login is refused.
    let out = lab.lunash(
        "sa6",
        &[
            "-c",
            "partition changepolicy -partition source -policy 20 -value 3",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("CKR_USER_NOT_LOGGED_IN"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn three_wrong_hsm_so_passwords_zeroise_the_hsm() {
    let lab = Lab::new();
    lab.create_key("src-label", "k1");
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password wrong-pin-1\nhsm login -password wrong-pin-2\nhsm login -password wrong-pin-3\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("CKR_PIN_INCORRECT").count(), 2, "{text}");
    assert!(text.contains("(0xa4 CKR_PIN_LOCKED)"), "{text}");
    assert_eq!(lab.objects("sa6", "source"), 0);
    let list = succeeded(&lab.lunash("sa6", &["-c", "partition list"], ""));
    let row = list.lines().find(|l| l.contains(" source ")).unwrap();
    assert!(row.contains(" no "), "not initialised any more: {list}");
}

#[test]
fn partition_list_and_show_report_the_application_partitions() {
    let lab = Lab::new();
    lab.create_key("src-label", "k1");
    let out = lab.lunash("sa6", &["-c", "par li"], "");
    let text = succeeded(&out);
    assert!(text.contains("Partition SN"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("src-label")).collect();
    assert_eq!(rows.len(), 1, "the admin partition is not listed: {text}");
    assert!(rows[0].contains(" source "), "{text}");
    assert!(text.contains("Number of partitions: 1"), "{text}");
    assert!(text.ends_with(&format!("\n{SUCCESS}\n")), "{text}");
    // By name or by label.
    assert_eq!(lab.objects("sa6", "source"), 1);
    assert_eq!(lab.objects("sa6", "src-label"), 1);
    let out = lab.lunash("sa6", &["-c", "partition show -partition nope"], "");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("CKR_CONTAINER_HANDLE_INVALID"), "{text}");
    assert!(text.contains("partitions: source"), "{text}");
}

#[test]
fn showpolicies_lists_policies_with_a_capability() {
    let lab = Lab::new();
    let text = succeeded(&lab.lunash(
        "sa6",
        &["-c", "partition showpolicies -partition source"],
        "",
    ));
    assert!(text.contains("\tPartition Capabilities\n"), "{text}");
    assert!(
        text.contains("\t\t0: Allow private key cloning (destructive) : 0\n"),
        "{text}"
    );
    assert_eq!(policy_value(&text, "Partition Capabilities", 0), Some(1));
    // HSM policy 7 off on sa7: partition policies 0 and 4 are not shown.
    let text = succeeded(&lab.lunash("sa7", &["-c", "partition showpolicies -partition app"], ""));
    assert_eq!(policy_value(&text, "Partition Policies", 0), None, "{text}");
    assert_eq!(
        policy_value(&text, "Partition Policies", 20),
        Some(10),
        "{text}"
    );
}

#[test]
fn changepolicy_asks_before_a_destructive_change_and_force_skips_it() {
    let lab = Lab::new();
    lab.create_key("src-label", "k1");
    // Answered `quit`: nothing changes.
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password hso-pin-0001\npartition changepolicy -partition source -policy 0,4 -value 1,1\nquit\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(PROCEED), "{text}");
    assert!(
        text.contains("All objects on partition \"source\" will be destroyed."),
        "{text}"
    );
    assert!(
        text.contains("Command aborted: nothing was changed."),
        "{text}"
    );
    assert_eq!(lab.policy("sa6", "source", 0), Some(0));
    assert_eq!(lab.objects("sa6", "source"), 1);
    // Answered `proceed`: both on, the objects destroyed.
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password hso-pin-0001\npartition changepolicy -partition source -policy 0,4 -value 1,1\nproceed\n",
    );
    let text = succeeded(&out);
    assert!(text.contains(&format!("{PROCEED} proceed\n")), "{text}");
    assert!(
        text.contains(&format!(
            "'partition changepolicy' successful.\n\n{SUCCESS}\n"
        )),
        "{text}"
    );
    assert_eq!(lab.policy("sa6", "source", 0), Some(1));
    assert_eq!(lab.policy("sa6", "source", 4), Some(1));
    assert_eq!(lab.objects("sa6", "source"), 0);
    // The module sees it: LunaCM on the client host shows policy 0 on.
    let out = lab.console(
        &["--host", "client", "lunacm"],
        &[],
        "slot set -slot 0\npartition showpolicies\n",
    );
    let text = succeeded(&out);
    assert_eq!(
        policy_value(&text, "Partition Policies", 0),
        Some(1),
        "{text}"
    );
    // -force: no question; turning 0 off again is not destructive, then back on with -force.
    lab.create_key("src-label", "k2");
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password hso-pin-0001\npar changep -par src-label -pol 0 -val 0\npar changep -par src-label -pol 0 -val 1 -force\n",
    );
    let text = succeeded(&out);
    assert!(!text.contains(PROCEED), "{text}");
    assert_eq!(lab.policy("sa6", "source", 0), Some(1));
    assert_eq!(lab.objects("sa6", "source"), 0);
    // A non-destructive change keeps the objects.
    lab.create_key("src-label", "k3");
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password hso-pin-0001\npartition changepolicy -partition source -policy 20 -value 5\n",
    );
    succeeded(&out);
    assert_eq!(lab.policy("sa6", "source", 20), Some(5));
    assert_eq!(lab.objects("sa6", "source"), 1);
    // A refused value: the model's code.
    let out = lab.lunash(
        "sa6",
        &[],
        "hsm login -password hso-pin-0001\npartition changepolicy -partition source -policy 22 -value 2\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("CKR_CONFIG_ILLEGAL"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn hsm_changepolicy_turns_cloning_on_and_zeroises() {
    let lab = Lab::new();
    lab.create_key("app", "k1");
    let text = succeeded(&lab.lunash("sa7", &["-c", "hsm showpolicies"], ""));
    assert!(text.contains("\tHSM Capabilities\n"), "{text}");
    assert_eq!(policy_value(&text, "HSM Policies", 7), Some(0), "{text}");
    let out = lab.lunash(
        "sa7",
        &[],
        "hsm login -password hso-pin-0001\nhsm changepolicy -policy 7 -value 1\nproceed\n",
    );
    let text = succeeded(&out);
    assert!(
        text.contains("All partitions of the HSM will be zeroised."),
        "{text}"
    );
    assert!(text.contains("'hsm changepolicy' successful."), "{text}");
    let text = succeeded(&lab.lunash("sa7", &["-c", "hsm showpolicies"], ""));
    assert_eq!(policy_value(&text, "HSM Policies", 7), Some(1), "{text}");
    assert_eq!(lab.objects("sa7", "app"), 0);
    // Cloning allowed now: the partition's policy 0 shows.
    assert!(lab.policy("sa7", "app", 0).is_some());
}

#[test]
fn a_ped_appliance_s_hsm_so_logs_in_on_the_ped() {
    let lab = Lab::new();
    let text = succeeded(&lab.lunash("saped", &["-c", "hsm login"], ""));
    assert!(
        text.contains("Please attend to the PED.\n\n'hsm login' successful.\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("{SUCCESS}\n")), "{text}");
}

#[test]
fn devices_without_lunash_are_refused_with_a_sentence() {
    let lab = Lab::new();
    refused(
        &lab.lunash("k7", &["-c", "hsm show"], ""),
        2,
        "not a Luna Network HSM",
    );
    refused(
        &lab.lunash("noadmin", &["-c", "hsm show"], ""),
        2,
        "no admin partition",
    );
    refused(&lab.lunash("nope", &["-c", "hsm show"], ""), 2, "nope");
    // Bad input: LunaSH's failure trailer and exit status 2.
    let out = lab.lunash("sa6", &["-c", "partition frob"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains(FAILURE), "{}", stdout(&out));
}

// Golden outputs (cli/tests/golden/lunash/*.txt, compared exactly; `golden/mod.rs` says what
// is normalised). Regenerate after an intended change of the output with
// `HSMSIM_BLESS=1 cargo test -p hsmsim-cli --test lunash_cli golden` and review the diff.

fn golden(name: &str, out: &Output, lab: &Lab) {
    golden::check("lunash", name, out, lab.dir.path());
}

#[test]
fn golden_lunash_lists_shows_and_changes_policies() {
    let lab = Lab::new();
    lab.create_key("src-label", "k1");
    // -c: one command, no echo.
    golden(
        "partition_list",
        &lab.lunash("sa6", &["-c", "partition list"], ""),
        &lab,
    );
    golden(
        "partition_list_abbreviated",
        &lab.lunash("sa6", &["-c", "PAR LI"], ""),
        &lab,
    );
    // Standard input as the script; the proceed answers are its next lines.
    golden(
        "login_show_showpolicies",
        &lab.lunash(
            "sa6",
            &[],
            "partition show -partition source\npartition showpolicies -partition src-label\n\
             hsm login -password wrong-pin-1\nhsm login -password hso-pin-0001\nhsm show\n\
             hsm showpolicies\nhsm logout\n",
        ),
        &lab,
    );
    golden(
        "changepolicy_prompts_and_force",
        &lab.lunash(
            "sa6",
            &[],
            "partition changepolicy -partition source -policy 0,4 -value 1,1\n\
             hsm login -password hso-pin-0001\n\
             partition changepolicy -partition source -policy 0,4 -value 1,1\nquit\n\
             partition changepolicy -partition source -policy 0,4 -value 1,1\nproceed\n\
             partition changepolicy -partition source -policy 0 -value 0 -force\n\
             partition changepolicy -partition source -policy 22 -value 2\n\
             partition changepolicy -partition nope -policy 22 -value 1\n\
             partition showpolicies -partition source\n",
        ),
        &lab,
    );
    // A script file: lines echoed after the prompt; errors with the trailer.
    let file = lab.dir.path().join("script.lunash");
    std::fs::write(
        &file,
        "# the appliance's HSM SO\nhsm login\nfrobnicate\npartition sh\n\
         hsm login -password hso-pin-0001\nhsm changepolicy -policy 7 -value 1\nhelp\n",
    )
    .unwrap();
    golden(
        "script_errors_hsm_changepolicy_help",
        &lab.lunash("sa7", &["-f", file.to_str().unwrap()], "quit\n"),
        &lab,
    );
    // A PED appliance attends the PED.
    golden(
        "ped_hsm_login",
        &lab.lunash("saped", &["-c", "hsm login"], ""),
        &lab,
    );
}

#[test]
fn golden_lunash_pre_ppso_ped_challenge_and_activation() {
    let lab = Lab::new();
    let file = lab.dir.path().join("activate.lunash");
    std::fs::write(
        &file,
        "hsm login\npartition activate -partition ped-app\n\
         partition createchallenge -partition ped-app -challengesecret short\n\
         partition createchallenge -partition ped-app -challengesecret CHAL-co-2024\n\
         partition changepolicy -partition ped-app -policy 22 -value 1\n\
         par act -par ped-app\n",
    )
    .unwrap();
    let out = lab.lunash("sa6ped", &["-f", file.to_str().unwrap()], "");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("'partition createchallenge' successful.")
            && text.contains("'partition activate' successful."),
        "{text}"
    );
    golden("ped_pre_ppso_createchallenge_activate", &out, &lab);
    // A password partition has no challenge secret to set.
    std::fs::write(
        &file,
        "hsm login -password hso-pin-0001\n\
         partition createchallenge -partition src-label -challengesecret CHAL-co-2024\n",
    )
    .unwrap();
    let out = lab.lunash("sa6", &["-f", file.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is a password partition"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
