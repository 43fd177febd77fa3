//! `hsmsim lunacm` on the built-in Luna lab of the guide's chapter 2 (`luna-network-to-network7`,
//! host `client`: slot 0 the 6.21.2 source, slot 1 the 7.4.2 destination, slot 2 the Backup
//! HSM): LunaCM's commands typed as seed 003 writes them, through the simulator's module,
//! with `-c`, `-f` and standard input, asserting what the module did (logins refused, objects
//! cloned with their OUIDs, policies changed and kept across runs, a destructive change asked
//! for) and LunaCM's output and trailers; the `golden_*` tests pin every command's whole
//! output (formats, prompts, abbreviations, errors, scripts, client eras, `hagroup recover`)
//! against `cli/tests/golden/lunacm/` (`HSMSIM_BLESS=1` regenerates them, see `golden/mod.rs`).
mod common;
mod golden;

use common::{init_lab, lab_file, output, stderr, succeeded};
use std::process::Output;

/// The chapter 2 lab with the source on `source_firmware`; with `destination_domain` the
/// destination partition is initialised (the guide's `partition init` is not a console command
/// yet) with that cloning domain, and the source holds an AES key and an RSA pair.
fn lab(destination_domain: Option<&str>, source_firmware: &str) -> tempfile::TempDir {
    let dir = init_lab("luna-network-to-network7");
    let path = dir.path().join("lab.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replacen(
        "firmware = \"6.21.2\"",
        &format!("firmware = \"{source_firmware}\""),
        1,
    );
    if let Some(domain) = destination_domain {
        text = text.replace(
            "  name = \"app\"               # created by the HSM SO, not initialised: the procedure does that",
            &format!("  name = \"app\"\n  label = \"sa7-app-par\"\n  so_pin = \"PO-sa7-2024\"\n  user_pin = \"CO-sa7-2024\"\n    [device.partition.luna]\n    domain = \"{domain}\""),
        );
    }
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(dir.path().join("hsmsim.sqlite")).unwrap();
    if destination_domain.is_some() {
        source_keys(&dir);
    }
    dir
}

/// The source partition (slot 0) gets an AES key and an RSA pair.
fn source_keys(dir: &tempfile::TempDir) {
    let lab = lab_file(dir.path());
    for (name, kind, size) in [("mig-aes", "AES", "256"), ("mig-rsa", "RSA", "2048")] {
        succeeded(&output(common::command().args([
            "--lab",
            &lab,
            "--host",
            "client",
            "primus-tools",
            "--hsm",
            "sim:token=sa6-app-par",
            "CreateKey",
            "--keyname",
            name,
            "--type",
            kind,
            "--size",
            size,
        ])));
    }
}

/// The chapter 2 lab with PED authentication on all three devices; the lab presents the keys
/// it made for the source and the Backup HSM; the destination is blank.
fn ped_lab() -> tempfile::TempDir {
    let dir = init_lab("luna-network-to-network7");
    let path = dir.path().join("lab.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("auth = \"password\"", "auth = \"ped\"")
        .replace(
            "  so_pin = \"PO-sa6-2020\"\n  user_pin = \"CO-sa6-2020\"\n    [device.partition.luna]\n    domain = \"acme-migration-domain\"",
            "    [device.partition.luna]\n    so_ped_key = \"sa6-blue.key\"\n    user_ped_key = \"sa6-black.key\"\n    domain_ped_key = \"red.key\"",
        )
        .replace(
            "  so_pin = \"SO-backup-2020\"\n    [device.partition.luna]\n    domain = \"acme-migration-domain\"",
            "    [device.partition.luna]\n    so_ped_key = \"backup-blue.key\"\n    domain_ped_key = \"red.key\"",
        );
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(dir.path().join("hsmsim.sqlite")).unwrap();
    dir
}

/// HSMSIM_PED_KEYS for the PED lab: the destination's new blue and black keys, written by the
/// PED in the lab's directory, and the source's red key.
fn ped_keys(dir: &tempfile::TempDir) -> String {
    let key = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    format!(
        "blue={},black={},red={}",
        key("sa7-blue.key"),
        key("sa7-black.key"),
        key("red.key")
    )
}

/// `hsmsim lunacm` on host `client` of the lab in `dir`, with `args` and `stdin`.
fn lunacm(dir: &tempfile::TempDir, args: &[&str], stdin: &str) -> Output {
    let lab = lab_file(dir.path());
    common::output_with_stdin(
        common::command()
            .args(["--lab", &lab, "lunacm", "--host", "client"])
            .args(args),
        stdin,
    )
}

/// The source's cloning domain (the lab's).
const DOMAIN: &str = "acme-migration-domain";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `lunacm -f` with a script written to the lab's directory.
fn script(dir: &tempfile::TempDir, lines: &str, stdin: &str) -> Output {
    let file = dir.path().join("script.lunacm");
    std::fs::write(&file, lines).unwrap();
    lunacm(dir, &["-f", file.to_str().unwrap()], stdin)
}

#[test]
fn slot_list_lists_the_hosts_slots_in_any_case_and_abbreviated() {
    let dir = lab(None, "6.21.2");
    for typed in ["slot list", "SLOT LIST", "sl l"] {
        let out = lunacm(&dir, &["-c", typed], "");
        let text = succeeded(&out);
        for expected in [
            "\tSlot Id ->              0\n\tLabel ->                sa6-app-par\n",
            "Firmware Version ->     6.21.2",
            "Configuration ->        Luna User Partition (PW) Signing With Cloning Mode",
            "Slot Id ->              1",
            "Firmware Version ->     7.4.2",
            "Luna User Partition With SO (PW) Signing With Cloning Mode",
            "Label ->                backup-hsm",
            "Current Slot Id: 0",
        ] {
            assert!(text.contains(expected), "{typed}: {expected:?} in {text}");
        }
        assert!(text.ends_with("\nCommand Result : No Error\n"), "{text}");
        assert!(!text.contains("Slot Id ->              3"));
    }
}

#[test]
fn logins_follow_the_firmware_era_and_a_wrong_password_gives_the_trailer() {
    let dir = lab(None, "6.21.2");
    let out = lunacm(&dir, &["-c", "partition login -password Wrong-2020"], "");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Command Result : 0xa0 (CKR_PIN_INCORRECT)"),
        "{}",
        stdout(&out)
    );
    // Pre-PPSO: `role login` is refused and names `partition login`.
    let out = lunacm(
        &dir,
        &["-c", "role login -name co -password CO-sa6-2020"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("partition login"), "{text}");
    assert!(text.contains("(CKR_USER_TYPE_INVALID)"), "{text}");
    let out = lunacm(&dir, &["-c", "partition login -password CO-sa6-2020"], "");
    assert!(succeeded(&out).contains("Command Result : No Error"));

    // 6.22.0 PPSO: `co` is refused, "Crypto Officer" in full (unquoted, as the guide types it)
    // logs in; a wrong password is the module's refusal.
    let dir = lab(None, "6.22.0");
    let text = stdout(&script(
        &dir,
        "role login -name co -password CO-sa6-2020\n\
         role login -name crypto officer -password CO-sa6-2020\n\
         role login -name Crypto Officer -password Wrong-2020\n\
         role login -name Crypto Officer -password CO-sa6-2020\n\
         partition login -password CO-sa6-2020\n",
        "",
    ));
    let results: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Command Result"))
        .collect();
    assert_eq!(
        results,
        [
            "Command Result : 0x103 (CKR_USER_TYPE_INVALID)",
            "Command Result : 0x103 (CKR_USER_TYPE_INVALID)",
            "Command Result : 0xa0 (CKR_PIN_INCORRECT)",
            "Command Result : No Error",
            "Command Result : 0x103 (CKR_USER_TYPE_INVALID)",
        ],
        "{text}"
    );
    assert!(
        text.contains("type `role login -name Crypto Officer`"),
        "{text}"
    );
    assert!(text.contains("lunacm:>role login -name co -password CO-sa6-2020"));
}

#[test]
fn partition_clone_copies_every_object_with_its_ouid() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    let out = script(
        &dir,
        "slot set -slot 0\n\
         partition login -password CO-sa6-2020\n\
         partition contents\n\
         partition clone -objects 0 -slot 1 -password CO-sa7-2024\n",
        "proceed\n",
    );
    let text = succeeded(&out);
    assert!(
        text.contains("You are about to clone 3 object(s) from slot 0 to slot 1."),
        "{text}"
    );
    assert!(text.contains("Type 'proceed' to continue, or 'quit' to quit now -> proceed"));
    assert!(text.contains("3 of 3 object(s) cloned."), "{text}");
    let source_uids: Vec<String> = text
        .lines()
        .filter(|l| l.contains("Object UID:"))
        .map(str::to_string)
        .collect();
    assert_eq!(source_uids.len(), 3, "{text}");

    // A later run sees the objects on the target, with the same OUIDs, and the source as it was.
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
        "",
    );
    let target = succeeded(&out);
    assert!(target.contains("Number of objects:  3"), "{target}");
    assert!(target.contains("Label:          mig-aes"));
    assert!(target.contains("Object Type:    Private Key"));
    for uid in &source_uids {
        assert!(target.contains(uid.as_str()), "{uid} in {target}");
    }
    let source = succeeded(&script(
        &dir,
        "partition login -password CO-sa6-2020\npartition contents\n",
        "",
    ));
    assert!(source.contains("Number of objects:  3"), "{source}");

    // Answering quit clones nothing; the target still holds 3.
    let out = script(
        &dir,
        "partition login -password CO-sa6-2020\npartition clone -objects 1 -slot 1 -password CO-sa7-2024\n",
        "quit\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("Command Result : User Aborted"));
    let target = succeeded(&script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
        "",
    ));
    assert!(target.contains("Number of objects:  3"), "{target}");
}

#[test]
fn showpolicies_and_changepolicy_round_trip_and_destructive_changes_ask() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    let before = succeeded(&lunacm(&dir, &["-c", "partition showpolicies"], ""));
    assert!(before.contains("\tPartition Capabilities\n"), "{before}");
    assert!(before.contains("\tPartition Policies\n"));
    assert!(before.contains("22: Allow activation : 0"), "{before}");

    // The Partition SO of the 7.4.2 destination turns activation on (not destructive).
    let out = lunacm(
        &dir,
        &[],
        "slot set -slot 1\nrole login -name po -password PO-sa7-2024\npartition changepolicy -policy 22 -value 1\n",
    );
    let text = succeeded(&out);
    assert!(!text.contains("proceed"), "{text}");
    let after = succeeded(&script(
        &dir,
        "slot set -slot 1\npartition showpolicies\n",
        "",
    ));
    assert!(after.contains("22: Allow activation : 1"), "{after}");

    // Without a login the module refuses the change.
    let out = script(
        &dir,
        "slot set -slot 1\npartition changepolicy -policy 22 -value 0\n",
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("(CKR_USER_NOT_AUTHORIZED)"),
        "{}",
        stdout(&out)
    );

    // A destructive change asks; quit changes nothing, -force changes it.
    let change = "slot set -slot 1\nrole login -name po -password PO-sa7-2024\npartition changepolicy -policy 0 -value 0";
    let out = script(&dir, change, "quit\n");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("Type 'proceed' to continue, or 'quit' to quit now -> quit"),
        "{text}"
    );
    assert!(text.contains("Command Result : User Aborted"));
    let policies = succeeded(&script(
        &dir,
        "slot set -slot 1\npartition showpolicies\n",
        "",
    ));
    assert!(
        policies.contains("0: Allow private key cloning : 1"),
        "{policies}"
    );
    let out = script(&dir, &format!("{change} -force\n"), "");
    let text = succeeded(&out);
    assert!(!text.contains("proceed"), "{text}");
    let policies = succeeded(&script(
        &dir,
        "slot set -slot 1\npartition showpolicies\n",
        "",
    ));
    assert!(
        policies.contains("0: Allow private key cloning : 0"),
        "{policies}"
    );
}

#[test]
fn bad_input_is_a_sentence_and_exit_2_never_a_panic() {
    let dir = lab(None, "6.21.2");
    for (typed, why) in [
        ("frobnicate", "unknown command"),
        ("partition lo", "ambiguous"),
        ("slot set -slot one", "a number is expected"),
        ("partition clone -objects 0", "-slot is required"),
        ("role login -name \"co", "not closed"),
    ] {
        let out = lunacm(&dir, &["-c", typed], "");
        assert_eq!(out.status.code(), Some(2), "{typed}");
        let text = stdout(&out);
        assert!(text.contains(why), "{typed}: {text}");
        assert!(text.contains("Command Result : Invalid Argument"), "{text}");
    }
    // A password nobody can type (no terminal) is asked for by name.
    let out = lunacm(&dir, &["-c", "partition login"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("password is needed: give -password"));
    // A slot this host does not show.
    let out = lunacm(&dir, &["-c", "slot set -slot 7"], "");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("slot 7 shows no token"));
    // A missing script and a missing module are the CLI's usage errors.
    let out = lunacm(&dir, &["-f", "/nonexistent/script"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read it"));
    let out = lunacm(
        &dir,
        &["--module", "/nonexistent/lib.so", "-c", "slot list"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("there is no such file"));
    // `exit` ends a script; the lines after it are not run.
    let out = lunacm(&dir, &[], "help\nexit\nfrobnicate\n");
    let text = succeeded(&out);
    assert!(
        text.contains("partition clone -objects <0|h,h> -slot <n>"),
        "{text}"
    );
    assert!(!text.contains("unknown command"));
}

#[test]
fn ped_partitions_attend_the_ped_and_ha_virtual_slots_come_last() {
    // PED authentication on all three devices; the lab presents the keys it made.
    let dir = ped_lab();
    let out = script(&dir, "partition login\nslot list\n", "");
    let text = succeeded(&out);
    assert!(
        text.contains(
            "lunacm:>partition login\n\n\tPlease attend to the PED.\n\nCommand Result : No Error\n"
        ),
        "{text}"
    );
    assert!(text.contains("Luna User Partition (PED) Signing With Cloning Mode"));

    // An HA group on the destination: its virtual slot is listed after the physical ones.
    let dir = lab(Some(DOMAIN), "6.21.2");
    succeeded(&output(common::command().args([
        "--lab",
        &lab_file(dir.path()),
        "--host",
        "client",
        "lab",
        "ha",
        "create",
        "--label",
        "mig-ha",
        "--partition",
        "sa7/app",
        "--password",
        "CO-sa7-2024",
    ])));
    let text = succeeded(&lunacm(&dir, &["-c", "slot list"], ""));
    let golden = "\tSlot Id ->              3\n\
                  \tLabel ->                mig-ha\n";
    assert!(text.contains(golden), "{text}");
    assert!(
        text.contains(
            "\tConfiguration ->        Luna Virtual HSM (PW) Signing With Cloning Mode\n\
             \tSlot Description ->     HA Virtual Card Slot\n\n\
             \tCurrent Slot Id: 0\n\nCommand Result : No Error\n"
        ),
        "{text}"
    );
}

#[test]
fn a_pre_7_7_source_goes_on_after_a_failed_object_and_a_7_7_source_stops() {
    // Another cloning domain on the destination: every object fails at the target.
    let dir = lab(Some("another-domain"), "6.21.2");
    let out = script(
        &dir,
        "partition login -password CO-sa6-2020\npartition clone -objects 0 -slot 1 -password CO-sa7-2024 -force\n",
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.matches(": not cloned: ").count(), 3, "{text}");
    assert!(text.contains("0 of 3 object(s) cloned."), "{text}");
    assert!(!text.contains("Stopped at the first failure"));
    assert_eq!(
        text.matches("(CKR_CERTIFICATE_INVALID)").count(),
        4,
        "{text}"
    );

    // A 7.7.1 (V0) source never clones to a 7.4.2 destination: it stops at the first object.
    let dir = lab(Some(DOMAIN), "7.7.1");
    let out = script(
        &dir,
        "role login -name co -password CO-sa6-2020\npartition clone -objects 0 -slot 1 -password CO-sa7-2024 -force\n",
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.matches(": not cloned: ").count(), 1, "{text}");
    assert!(
        text.contains(
            "Stopped at the first failure (a 7.7+ source stops); 2 object(s) not attempted."
        ),
        "{text}"
    );
    let target = succeeded(&script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
        "",
    ));
    assert!(target.contains("Number of objects:  0"), "{target}");
}

#[test]
fn module_names_any_library_with_the_ca_extensions() {
    // The simulator's module loaded as "any library": the lab comes from its environment.
    let dir = lab(None, "6.21.2");
    let library = common::sim_module();
    let out = output(
        common::command()
            .env("HSMSIM_CONF", lab_file(dir.path()))
            .env("HSMSIM_HOST", "client")
            .args([
                "lunacm",
                "--module",
                library.to_str().unwrap(),
                "-c",
                "sl li",
            ]),
    );
    let text = succeeded(&out);
    assert!(
        text.contains("Label ->                sa6-app-par"),
        "{text}"
    );
    assert!(text.contains("Command Result : No Error"));
    // A PKCS#11 library without them is refused by name (where SoftHSM is installed).
    let softhsm = std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so");
    if softhsm.exists() {
        let out = output(common::command().args([
            "lunacm",
            "--module",
            softhsm.to_str().unwrap(),
            "-c",
            "slot list",
        ]));
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("does not export Luna's CA_* extensions"));
    }
}

#[test]
fn a_host_or_target_slot_the_lab_lacks_is_named() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    let out = output(common::command().args([
        "--lab",
        &lab_file(dir.path()),
        "lunacm",
        "--host",
        "nowhere",
        "-c",
        "slot list",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--host nowhere: the lab has no such client host; its hosts: client"),
        "{}",
        stderr(&out)
    );
    let out = lunacm(
        &dir,
        &["-c", "partition clone -objects 0 -slot 99 -force"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("Error: slot 99 shows no token this client can use."),
        "{text}"
    );
    assert!(
        text.contains("Command Result : 0x3 (CKR_SLOT_ID_INVALID)"),
        "{text}"
    );
}

#[test]
fn partition_init_and_role_init_make_a_clone_target_as_the_guide_types_them() {
    // Slot 1 (7.4.2) is not initialised; the source holds three objects.
    let dir = lab(None, "6.21.2");
    source_keys(&dir);
    // Answering quit initialises nothing: the PO cannot log in.
    let out = script(
        &dir,
        "slot set -slot 1\npartition init -label sa7-app-par -domain acme-migration-domain -password PO-sa7-2024\n",
        "quit\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("You are about to initialize the partition."),
        "{text}"
    );
    assert!(text.contains("Command Result : User Aborted"), "{text}");
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name po -password PO-sa7-2024\n",
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // The guide's steps: init with the source's domain, PO initialises the CO, the CO
    // changes the initial password, and the clone arrives.
    let out = script(
        &dir,
        "slot set -slot 1\n\
         par init -lab sa7-app-par -dom acme-migration-domain -pass PO-sa7-2024\n\
         role login -name po -password PO-sa7-2024\n\
         role init -name co -password Initial-co-1\n\
         role logout\n\
         role login -name co -password Initial-co-1\n\
         role changepw -name co -oldpw Initial-co-1 -newpw CO-sa7-2024\n\
         role logout\n\
         slot set -slot 0\n\
         partition login -password CO-sa6-2020\n\
         partition clone -objects 0 -slot 1 -password CO-sa7-2024 -force\n",
        "proceed\n",
    );
    let text = succeeded(&out);
    assert!(
        text.contains("Partition initialized with label \"sa7-app-par\"."),
        "{text}"
    );
    assert!(text.contains("3 of 3 object(s) cloned."), "{text}");
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
        "",
    );
    let text = succeeded(&out);
    assert!(text.contains("Number of objects:  3"), "{text}");
    // The initial password no longer logs in.
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password Initial-co-1\n",
        "",
    );
    assert!(
        stdout(&out).contains("Command Result : 0xa0 (CKR_PIN_INCORRECT)"),
        "{}",
        stdout(&out)
    );
    // Re-initialising a partition that holds objects asks first; quit keeps them.
    let out = script(
        &dir,
        "slot set -slot 1\npartition init -label again -domain acme-migration-domain -password PO-sa7-2024\n",
        "quit\n",
    );
    assert!(stdout(&out).contains("All contents of the partition will be destroyed."));
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
        "",
    );
    assert!(succeeded(&out).contains("Number of objects:  3"));
    // Without -password and no terminal, init cannot ask: exit 2, nothing done.
    let out = script(
        &dir,
        "slot set -slot 1\npartition init -label x -force\n",
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("the Partition SO password is needed"));
}

#[test]
fn role_createchallenge_is_set_by_the_initialising_role_with_luna_s_length() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name po -password PO-sa7-2024\n\
         role createchallenge -name co -challengesecret abc12\n",
        "",
    );
    assert!(
        stdout(&out).contains("Command Result : 0xa2 (CKR_PIN_LEN_RANGE)"),
        "{}",
        stdout(&out)
    );
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name po -password PO-sa7-2024\n\
         role createchallenge -name co -challengeSecret chal-2024\n",
        "",
    );
    succeeded(&out);
    // The Crypto Officer does not set its own challenge; changepw needs the role logged in.
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\n\
         role createchallenge -name co -challengesecret chal-2024\n",
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = script(
        &dir,
        "slot set -slot 1\nrole changepw -name co -oldpw CO-sa7-2024 -newpw CO-sa7-2025\n",
        "",
    );
    assert!(
        stdout(&out).contains("log the Crypto Officer in on this slot first"),
        "{}",
        stdout(&out)
    );
    // Pre-PPSO firmware has no roles to initialise.
    let out = script(
        &dir,
        "slot set -slot 0\nrole init -name co -password x-12345678\n",
        "",
    );
    assert!(stdout(&out).contains("no per-partition roles (pre-PPSO)"));
}

#[test]
fn partition_archive_backs_up_lists_restores_and_deletes_through_the_backup_hsm() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    // The Crypto Officer must be logged in on the source.
    let out = script(
        &dir,
        "slot set -slot 0\npartition archive backup -slot 2 -partition mig-bk -password Backup-pw-2024 -sopassword SO-backup-2020\n",
        "",
    );
    assert!(
        stdout(&out).contains("Command Result : 0x101 (CKR_USER_NOT_LOGGED_IN)"),
        "{}",
        stdout(&out)
    );
    let out = script(
        &dir,
        "slot set -slot 0\n\
         partition login -password CO-sa6-2020\n\
         partition archive backup -slot 2 -partition mig-bk -password Backup-pw-2024 -sopassword SO-backup-2020\n\
         par arch list -slot 2\n\
         partition archive contents -slot 2 -partition mig-bk -password Backup-pw-2024\n",
        "",
    );
    let text = succeeded(&out);
    assert!(
        text.contains("3 of 3 object(s) backed up to backup partition \"mig-bk\" (created)."),
        "{text}"
    );
    assert!(text.contains("Partition Name:     mig-bk"), "{text}");
    assert!(
        text.contains("Backup partition \"mig-bk\" on slot 2."),
        "{text}"
    );
    assert!(text.contains("Label:          mig-aes"), "{text}");
    // Backing up again under the same name needs -append or -replace.
    let out = script(
        &dir,
        "partition login -password CO-sa6-2020\n\
         partition archive backup -slot 2 -partition mig-bk -password Backup-pw-2024 -sopassword SO-backup-2020\n",
        "",
    );
    assert!(
        stdout(&out).contains("Command Result : 0x7 (CKR_ARGUMENTS_BAD)"),
        "{}",
        stdout(&out)
    );
    // Restore into the 7.x destination (which holds nothing yet): the three objects arrive.
    let out = script(
        &dir,
        "slot set -slot 1\n\
         role login -name co -password CO-sa7-2024\n\
         partition archive restore -slot 2 -partition mig-bk -password Backup-pw-2024\n\
         partition contents\n",
        "",
    );
    let text = succeeded(&out);
    assert!(
        text.contains("3 of 3 object(s) restored from backup partition \"mig-bk\"."),
        "{text}"
    );
    assert!(text.contains("Number of objects:  3"), "{text}");
    // A wrong backup partition password restores nothing.
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa7-2024\n\
         partition archive restore -slot 2 -partition mig-bk -password Wrong-pw-2024\n",
        "",
    );
    assert!(
        stdout(&out).contains("(CKR_PIN_INCORRECT)"),
        "{}",
        stdout(&out)
    );
    // Delete asks first; quit keeps it, -force deletes.
    let out = script(
        &dir,
        "partition archive delete -slot 2 -partition mig-bk -sopassword SO-backup-2020\n",
        "quit\n",
    );
    assert!(stdout(&out).contains("Command Result : User Aborted"));
    let out = script(
        &dir,
        "partition archive delete -slot 2 -partition mig-bk -sopassword SO-backup-2020 -force\n\
         partition archive list -slot 2\n",
        "",
    );
    let text = succeeded(&out);
    assert!(text.contains("Number of partitions:  0"), "{text}");
}

#[test]
fn archive_and_hagroup_with_a_luna_library_say_they_need_the_lab() {
    let dir = lab(None, "6.21.2");
    let library = common::sim_module();
    for line in ["partition archive list -slot 2", "hagroup listgroups"] {
        let out = output(
            common::command()
                .env("HSMSIM_CONF", lab_file(dir.path()))
                .env("HSMSIM_HOST", "client")
                .args(["lunacm", "--module", library.to_str().unwrap(), "-c", line]),
        );
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(
            text.contains("the Luna SDK has no CA_* call for it"),
            "{text}"
        );
        assert!(
            text.contains("Command Result : 0x54 (CKR_FUNCTION_NOT_SUPPORTED)"),
            "{text}"
        );
    }
}

#[test]
fn hagroup_creates_synchronises_lists_and_deletes_a_group_as_the_guide_types_it() {
    // Both members need the same Crypto Officer password: the destination takes the source's.
    let dir = ha_lab();
    // The partitions' serials as `slot list` shows them.
    let listing = succeeded(&script(&dir, "slot list\n", ""));
    let serial_of = |slot: &str| -> String {
        let block = listing
            .split("Slot Id ->")
            .find(|b| b.trim_start().starts_with(slot))
            .unwrap();
        let line = block.lines().find(|l| l.contains("Serial")).unwrap();
        line.split("->").nth(1).unwrap().trim().to_string()
    };
    let (source_serial, target_serial) = (serial_of("0"), serial_of("1"));
    let out = script(
        &dir,
        &format!(
            "hagroup creategroup -label tmpMig -slot 0 -password CO-sa6-2020\n\
             hagroup addmember -group tmpMig -serialnumber {target_serial} -password CO-sa6-2020\n\
             hagroup listgroups\n"
        ),
        "",
    );
    let text = succeeded(&out);
    assert!(
        text.contains(&format!(
            "New group with label \"tmpMig\" created with group number 1{}.",
            &source_serial[..15]
        )),
        "{text}"
    );
    assert!(text.contains("Please restart LunaCM"), "{text}");
    assert!(text.contains("Needs sync:  yes"), "{text}");
    assert!(
        text.contains(&format!("Group Members:  {source_serial}, {target_serial}")),
        "{text}"
    );
    let out = script(
        &dir,
        "hagroup synchronize -group tmpMig -password CO-sa6-2020\nhagroup listgroups\n",
        "",
    );
    let text = succeeded(&out);
    assert!(
        text.contains("sa7/app: 3 object(s) cloned to it."),
        "{text}"
    );
    assert!(text.contains("Needs sync:  no"), "{text}");
    // A new console sees the HA virtual slot after the physical ones; then the group goes and
    // the objects stay on the destination.
    let out = script(&dir, "slot list\n", "");
    assert!(succeeded(&out).contains("HA Virtual Card Slot"));
    let out = script(
        &dir,
        "hagroup deletegroup -label tmpMig\nhagroup listgroups\n\
         slot set -slot 1\nrole login -name co -password CO-sa6-2020\npartition contents\n",
        "",
    );
    let text = succeeded(&out);
    assert!(text.contains("No HA groups are configured."), "{text}");
    assert!(text.contains("Number of objects:  3"), "{text}");
    // An unknown group is refused with its code; haonly takes -enable or -disable.
    let out = script(
        &dir,
        "hagroup synchronize -group nope -password CO-sa6-2020\n",
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = script(&dir, "hagroup haonly\n", "");
    assert_eq!(out.status.code(), Some(2));
    let out = script(&dir, "hagroup haonly -enable\n", "");
    assert!(succeeded(&out).contains("HA-only mode enabled for host client"));
}

#[test]
fn partition_init_on_a_ped_partition_attends_the_ped_and_writes_its_keys() {
    // PED on all three devices; the blank destination takes the keys HSMSIM_PED_KEYS names
    // (the PED writes the new blue and black keys, the red one is the source's).
    let dir = ped_lab();
    let keys = ped_keys(&dir);
    let run = |lines: &str| {
        let file = dir.path().join("ped.lunacm");
        std::fs::write(&file, lines).unwrap();
        output(
            common::command()
                .env("HSMSIM_PED_KEYS", &keys)
                .args(["--lab", &lab_file(dir.path()), "lunacm", "--host", "client"])
                .args(["-f", file.to_str().unwrap()]),
        )
    };
    let text = succeeded(&run(
        "slot set -slot 1\npartition init -label sa7-ped -force\n\
         role login -name po\nrole init -name co\n",
    ));
    assert!(
        text.contains(
            "partition init -label sa7-ped -force\n\n\tPlease attend to the PED.\n\n\tPartition \
             initialized with label \"sa7-ped\".\n"
        ),
        "{text}"
    );
    assert!(dir.path().join("sa7-black.key").exists());
    // A new console: the Crypto Officer logs in with the black key the PED wrote.
    let text = succeeded(&run(
        "slot set -slot 1\nrole login -name co\npartition contents\n",
    ));
    assert!(
        text.contains("The 'Crypto Officer' is currently logged in."),
        "{text}"
    );
}

// Golden outputs (cli/tests/golden/lunacm/*.txt, compared exactly; `golden/mod.rs` says what
// is normalised). Regenerate after an intended change of the output with
// `HSMSIM_BLESS=1 cargo test -p hsmsim-cli --test lunacm_cli golden` and review the diff.

/// Compares the run with `cli/tests/golden/lunacm/<name>.txt`.
fn golden(name: &str, out: &Output, dir: &tempfile::TempDir) {
    golden::check("lunacm", name, out, dir.path());
}

#[test]
fn golden_slot_list_slot_set_showinfo_and_abbreviations() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    // One command with -c: no echo of the line.
    golden("slot_list", &lunacm(&dir, &["-c", "slot list"], ""), &dir);
    golden(
        "slot_list_abbreviated",
        &lunacm(&dir, &["-c", "SL L"], ""),
        &dir,
    );
    // A script file: each line echoed after the prompt.
    golden(
        "slot_set_and_hsm_showinfo",
        &script(
            &dir,
            "# the guide's step 1, then the destination\nSLOT SET -SLOT 1\nhsm showinfo\nsl se -s 0\nHSM SHOWI\n",
            "",
        ),
        &dir,
    );
    golden("help", &lunacm(&dir, &["-c", "help"], ""), &dir);
}

#[test]
fn golden_logins_contents_policies_and_errors() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    // Standard input as the script.
    golden(
        "pre_ppso_login_contents_showpolicies",
        &lunacm(
            &dir,
            &[],
            "partition contents\npartition login -password CO-sa6-2020\npar con\npartition showpolicies\nrole login -name co\npartition logout\nQUIT\nslot list\n",
        ),
        &dir,
    );
    golden(
        "ppso7_roles_contents_showpolicies",
        &script(
            &dir,
            "slot set -slot 1\nrole login -name Po -password PO-sa7-2024\npartition contents\n\
             role logout\nrole login -n \"Crypto Officer\" -p CO-sa7-2024\npartition contents\n\
             partition showpolicies\n",
            "",
        ),
        &dir,
    );
    golden(
        "errors",
        &script(
            &dir,
            "frobnicate\npartition lo\nslot set\nslot set -slot one\nslot set -slot 9\n\
             partition login -password Wrong-pw-2020\npartition login\n\
             partition clone -objects 0,5 -slot 1\nrole login -name \"co\n\
             slot set -slot 1\nrole login -name officer -password x\n\
             partition changepolicy -policy 22 -value 0\n",
            "",
        ),
        &dir,
    );
}

#[test]
fn golden_ppso_6_22_takes_role_names_in_full() {
    // The guide's caution: on 6.22.0 PPSO firmware type "Crypto Officer" in full, not "co".
    let dir = lab(Some(DOMAIN), "6.22.0");
    golden(
        "ppso_6_22_role_names",
        &script(
            &dir,
            "slot list\nslot set -slot 0\nrole login -name co -password CO-sa6-2020\n\
             role login -name crypto officer -password CO-sa6-2020\npartition login -password CO-sa6-2020\n\
             role login -name Crypto Officer -password CO-sa6-2020\npartition contents\nrole logout\n\
             exit\npartition contents\n",
            "",
        ),
        &dir,
    );
}

#[test]
fn golden_proceed_prompts_and_force() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    // A destructive policy change asks: quit, then proceed; -force does not ask.
    let change = "slot set -slot 1\nrole login -name po -password PO-sa7-2024\n\
                  partition changepolicy -policy 0 -value 0\n";
    golden(
        "changepolicy_destructive_quit",
        &script(&dir, change, "quit\n"),
        &dir,
    );
    golden(
        "changepolicy_destructive_proceed",
        &script(&dir, change, "proceed\n"),
        &dir,
    );
    golden(
        "changepolicy_destructive_force",
        &script(
            &dir,
            "slot set -slot 1\nrole login -name po -password PO-sa7-2024\n\
             partition changepolicy -policy 0,4 -value 1,0 -force\npartition changepolicy -policy 22 -value 1\n",
            "",
        ),
        &dir,
    );
    // The guide's printed step 1 on the source, which holds objects: the proceed prompt is the
    // hazard; quit keeps them.
    golden(
        "init_source_as_printed_quit",
        &script(
            &dir,
            "slot set -slot 0\npartition init -label sa7-app-par -domain acme-migration-domain -password PO-sa6-2020\n\
             partition login -password CO-sa6-2020\npartition contents\n",
            "quit\n",
        ),
        &dir,
    );
    // Clone: asks, the answer comes from standard input; then the target's contents.
    golden(
        "clone_proceed",
        &script(
            &dir,
            "partition login -password CO-sa6-2020\npartition clone -objects 0 -slot 1 -password CO-sa7-2024\n\
             slot set -slot 1\nrole login -name co -password CO-sa7-2024\npartition contents\n",
            "proceed\n",
        ),
        &dir,
    );
    golden(
        "clone_handles_force_quit_and_refusals",
        &script(
            &dir,
            "partition login -password CO-sa6-2020\npartition clone -objects 1 -slot 1 -password CO-sa7-2024 -force\n\
             partition clone -objects 0 -slot 1 -password CO-sa7-2024\npartition clone -objects 0 -slot 0\n",
            "quit\n",
        ),
        &dir,
    );
}

#[test]
fn golden_partition_init_and_roles() {
    let dir = lab(None, "6.21.2");
    golden(
        "init_and_roles",
        &script(
            &dir,
            "slot set -slot 1\n\
             partition init -label sa7-app-par -domain acme-migration-domain -password PO-sa7-2024\n\
             partition init -label sa7-app-par -domain acme-migration-domain -password PO-sa7-2024 -force\n\
             role login -name po -password PO-sa7-2024\n\
             role init -name co -password Initial-co-1\n\
             role createchallenge -name co -challengesecret abc12\n\
             role createchallenge -name co -challengeSecret chal-2024\n\
             role logout\n\
             role login -name co -password Initial-co-1\n\
             role changepw -name co -oldpw Initial-co-1 -newpw CO-sa7-2024\n\
             role changepw -name co\n\
             role logout\n\
             role login -name co -password CO-sa7-2024\n\
             partition contents\n",
            "proceed\n",
        ),
        &dir,
    );
}

#[test]
fn golden_partition_archive() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    golden(
        "archive_backup_list_contents",
        &script(
            &dir,
            "partition archive backup -slot 2 -partition mig-bk -password Backup-pw-2024 -sopassword SO-backup-2020\n\
             partition login -password CO-sa6-2020\n\
             partition archive backup -slot 2 -partition mig-bk -password Backup-pw-2024 -sopassword SO-backup-2020\n\
             partition archive backup -slot 2 -partition mig-bk -password Backup-pw-2024 -sopassword SO-backup-2020\n\
             par arch list -slot 2\n\
             partition archive contents -slot 2 -partition mig-bk -password Backup-pw-2024\n",
            "",
        ),
        &dir,
    );
    golden(
        "archive_restore_delete",
        &script(
            &dir,
            "slot set -slot 1\nrole login -name co -password CO-sa7-2024\n\
             partition archive restore -slot 2 -partition mig-bk -password Wrong-pw-2024\n\
             partition archive restore -slot 2 -partition mig-bk -password Backup-pw-2024 -objects 1\n\
             partition contents\n\
             partition archive delete -slot 2 -partition mig-bk -sopassword SO-backup-2020\n\
             partition archive delete -slot 2 -partition mig-bk -sopassword SO-backup-2020 -force\n\
             partition archive list -slot 2\n",
            "quit\n",
        ),
        &dir,
    );
}

/// The chapter 2 lab with the destination initialised with the source's domain and Crypto
/// Officer password (HA members share one), the source holding three objects.
fn ha_lab() -> tempfile::TempDir {
    let dir = init_lab("luna-network-to-network7");
    let path = dir.path().join("lab.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "  name = \"app\"               # created by the HSM SO, not initialised: the procedure does that",
        &format!("  name = \"app\"\n  label = \"sa7-app-par\"\n  so_pin = \"PO-sa7-2024\"\n  user_pin = \"CO-sa6-2020\"\n    [device.partition.luna]\n    domain = \"{DOMAIN}\""),
    );
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(dir.path().join("hsmsim.sqlite")).unwrap();
    source_keys(&dir);
    dir
}

/// `hsmsim lab fail|recover DEVICE` on the lab in `dir`.
fn device_health(dir: &tempfile::TempDir, action: &str, device: &str) {
    succeeded(&output(common::command().args([
        "--lab",
        &lab_file(dir.path()),
        "lab",
        action,
        device,
    ])));
}

#[test]
fn golden_hagroup_and_recover() {
    let dir = ha_lab();
    golden(
        "hagroup_create_add_recover_list",
        &script(
            &dir,
            "hagroup listgroups\n\
             hagroup creategroup -label tmpMig -slot 0 -password CO-sa6-2020\n\
             hagroup addmember -group tmpMig -slot 1 -password CO-sa6-2020\n\
             hagroup listgroups\n\
             hagroup recover -group tmpMig -password CO-sa6-2020\n\
             HAG LISTG\n\
             hagroup recover -g tmpMig -p CO-sa6-2020\n\
             hagroup synchronize -group tmpMig -password CO-sa6-2020\n",
            "",
        ),
        &dir,
    );
    // The recovered member holds the group's objects (in a new console, as the other hagroup
    // tests look).
    golden(
        "hagroup_recovered_member_contents",
        &script(
            &dir,
            "slot set -slot 1\nrole login -name co -password CO-sa6-2020\npartition contents\n",
            "",
        ),
        &dir,
    );
    // A member whose device is down cannot be recovered; once it is back, it can, and it gets
    // the key made on the group while it was down.
    device_health(&dir, "fail", "sa7");
    golden(
        "hagroup_recover_while_down",
        &script(
            &dir,
            "hagroup listgroups\nhagroup recover -group tmpMig -password CO-sa6-2020\n",
            "",
        ),
        &dir,
    );
    // While sa7 is down, a key is made on the HA virtual slot: sa7 misses it.
    let module = common::sim_module();
    succeeded(&output(
        common::command()
            .env("HSMSIM_CONF", lab_file(dir.path()))
            .env("HSMSIM_HOST", "client")
            .env("HSMSIM_TEST_CO_PIN", "CO-sa6-2020")
            .args([
                "primus-tools",
                "--hsm",
                &format!(
                    "pkcs11:token=tmpMig?module-path={}&pin-source=env:HSMSIM_TEST_CO_PIN",
                    module.display()
                ),
                "CreateKey",
                "--keyname",
                "made-while-down",
                "--type",
                "AES",
                "--size",
                "256",
            ]),
    ));
    device_health(&dir, "recover", "sa7");
    golden(
        "hagroup_recover_after_lab_recover",
        &script(
            &dir,
            "hagroup listgroups\nhagroup recover -group tmpMig -password Wrong-pw-2020\n\
             hagroup recover -group tmpMig -password CO-sa6-2020\nhagroup listgroups\n\
             hagroup recover -group tmpMig -password CO-sa6-2020\nhagroup recover -group nope -password CO-sa6-2020\n",
            "",
        ),
        &dir,
    );
    golden(
        "hagroup_slot_list_remove_delete_haonly",
        &script(
            &dir,
            "slot set -slot 1\nrole login -name co -password CO-sa6-2020\npartition contents\nrole logout\n\
             slot list\nhagroup removemember -group tmpMig -slot 0\nhagroup listgroups\n\
             hagroup addstandby -group tmpMig -slot 0 -password CO-sa6-2020\nhagroup listgroups\n\
             hagroup deletegroup -label tmpMig\nhagroup listgroups\nhagroup haonly\nhagroup haonly -enable\n\
             hagroup haonly -disable\n",
            "",
        ),
        &dir,
    );
}

#[test]
fn golden_ped_partitions_attend_the_ped() {
    // The PED takes the lab's key files; the blank destination's new keys are written where
    // HSMSIM_PED_KEYS says (the red one is the source's).
    let dir = ped_lab();
    let keys = ped_keys(&dir);
    golden(
        "ped_source_login",
        &script(&dir, "slot list\npartition login\npartition contents\n", ""),
        &dir,
    );
    let file = dir.path().join("ped.lunacm");
    std::fs::write(
        &file,
        "slot set -slot 1\npartition init -label sa7-ped\nrole login -name po\n\
         role init -name co\nrole logout\nrole login -name co\npartition contents\n",
    )
    .unwrap();
    let out = common::output_with_stdin(
        common::command()
            .env("HSMSIM_PED_KEYS", &keys)
            .args(["--lab", &lab_file(dir.path()), "lunacm", "--host", "client"])
            .args(["-f", file.to_str().unwrap()]),
        "proceed\n",
    );
    golden("ped_init_and_roles", &out, &dir);
}

#[test]
fn golden_client_eras() {
    let dir = lab(Some(DOMAIN), "6.21.2");
    let lines = "role login -name co -password CO-sa7-2024\nhagroup listgroups\n\
                 partition login -password CO-sa6-2020\n\
                 partition archive restore -slot 2 -partition bk -password Backup-pw-2024 -objects 1\n\
                 partition archive restore -slot 2 -partition bk -password Backup-pw-2024 -smkonly\n";
    let file = dir.path().join("eras.lunacm");
    std::fs::write(&file, lines).unwrap();
    for client in ["5", "6", "7", "10"] {
        golden(
            &format!("client_{client}"),
            &lunacm(
                &dir,
                &["--client", client, "-f", file.to_str().unwrap()],
                "",
            ),
            &dir,
        );
    }
    // A 7.7+ destination (V0) and a Backup HSM 7 need Client 10.3.0 / 10.4.0.
    let dir = lab(Some(DOMAIN), "6.21.2");
    let path = dir.path().join("lab.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("firmware = \"7.4.2\"", "firmware = \"7.7.1\"")
        .replace("firmware = \"6.28.0\"", "firmware = \"7.7.1\"");
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(dir.path().join("hsmsim.sqlite")).unwrap();
    let lines = "partition login -password CO-sa6-2020\n\
                 partition clone -objects 0 -slot 1 -password CO-sa7-2024 -force\n\
                 partition archive list -slot 2\nslot set -slot 1\n";
    std::fs::write(&file, lines).unwrap();
    for client in ["7", "10"] {
        golden(
            &format!("client_{client}_v0_and_backup_hsm_7"),
            &lunacm(
                &dir,
                &["--client", client, "-f", file.to_str().unwrap()],
                "",
            ),
            &dir,
        );
    }
    // Mixed Luna 6 and 7 HA groups need Client 7.2.
    let dir = ha_lab();
    let lines = "hagroup creategroup -label mix -slot 0 -password CO-sa6-2020\n\
                 hagroup addmember -group mix -slot 1 -password CO-sa6-2020\n";
    std::fs::write(dir.path().join("eras.lunacm"), lines).unwrap();
    let file = dir.path().join("eras.lunacm");
    golden(
        "client_6_mixed_ha",
        &lunacm(&dir, &["--client", "6", "-f", file.to_str().unwrap()], ""),
        &dir,
    );
}

/// The chapter 5 lab (PCIe 6.21.2 source, pre-PPSO) with PED authentication on every device,
/// the source's partition policy 22 (activation) as `activation` says.
fn pcie_ped_lab(activation: bool) -> tempfile::TempDir {
    let dir = init_lab("luna-pcie-usb-to-pcie7");
    let path = dir.path().join("lab.toml");
    let mut text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("auth = \"password\"", "auth = \"ped\"");
    for (device, so, user) in [
        ("k6", "PO-k6-2018", "CO-k6-2018"),
        ("usb6", "PO-usb6-2019", "CO-usb6-2019"),
    ] {
        text = text.replace(
            &format!(
                "  so_pin = \"{so}\"\n  user_pin = \"{user}\"\n    [device.partition.luna]\n    domain = \"acme-migration-domain\""
            ),
            &format!(
                "    [device.partition.luna]\n    so_ped_key = \"{device}-blue.key\"\n    user_ped_key = \"{device}-black.key\"\n    domain_ped_key = \"red.key\""
            ),
        );
    }
    text = text.replace(
        "  so_pin = \"SO-backup-2020\"\n    [device.partition.luna]\n    domain = \"acme-migration-domain\"",
        "    [device.partition.luna]\n    so_ped_key = \"backup-blue.key\"\n    domain_ped_key = \"red.key\"",
    );
    if activation {
        text = text.replacen(
            "policies = { 0 = 1, 4 = 1 }",
            "policies = { 0 = 1, 4 = 1, 22 = 1 }",
            1,
        );
    }
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("so_pin")),
        "every PIN replaced by a PED key"
    );
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(dir.path().join("hsmsim.sqlite")).unwrap();
    dir
}

/// `hsmsim lunacm` on host `client-pcie6` running the script `lines`.
fn pcie_script(dir: &tempfile::TempDir, lines: &str) -> Output {
    let file = dir.path().join("script.lunacm");
    std::fs::write(&file, lines).unwrap();
    let lab = lab_file(dir.path());
    common::output_with_stdin(
        common::command()
            .args(["--lab", &lab, "lunacm", "--host", "client-pcie6"])
            .args(["-f", file.to_str().unwrap()]),
        "",
    )
}

#[test]
fn golden_pre_ppso_ped_owner_challenge_and_activation() {
    // Activation off: `partition activate` is refused; the HSM SO sets the challenge only
    // while nobody is logged in on the slot; PPSO (7.x) slots are refused.
    let dir = pcie_ped_lab(false);
    golden(
        "pre_ppso_ped_createchallenge_refusals",
        &pcie_script(
            &dir,
            "slot set -slot 0\npartition activate\n\
             partition createchallenge -challengesecret short\n\
             partition createchallenge -challengesecret CHAL-co-2024\n\
             partition login\npartition createchallenge -challengesecret CHAL-co-2024\n\
             partition logout\nslot set -slot 1\n\
             partition createchallenge -challengesecret CHAL-co-2024\n",
        ),
        &dir,
    );
    // Activation on: the challenge alone logs the owner in once it is activated.
    let dir = pcie_ped_lab(true);
    let out = pcie_script(
        &dir,
        "slot set -slot 0\npartition createchallenge -challengesecret CHAL-co-2024\n\
         partition login -password CHAL-co-2024\npartition activate\npartition logout\n\
         partition login -password CHAL-co-2024\npartition contents\n",
    );
    let text = stdout(&out);
    assert!(text.contains("The partition owner is activated."), "{text}");
    assert!(
        text.ends_with("lunacm:>partition contents\n\n\tThe 'Crypto Officer' is currently logged in. Looking for objects accessible to the 'Crypto Officer'.\n\n\tNumber of objects:  0\n\nCommand Result : No Error\n\n"),
        "{text}"
    );
    golden("pre_ppso_ped_createchallenge_activate", &out, &dir);
}

/// `hagroup synchronize` and `hagroup recover` (the lab's estate operations, run inside the
/// `hsmsim lunacm` process) write objects, and the console's next PKCS#11 calls in the SAME
/// process read them: the estate and the simulator's module share one engine and one SQLite
/// (with `libhsmsim.so` running its own copy beside the program's, the second copy's
/// connection lost its POSIX locks and read a WAL the first had checkpointed away:
/// `CKR_DEVICE_ERROR`, "database disk image is malformed").
#[test]
fn estate_writes_and_the_module_s_reads_share_one_process() {
    let dir = ha_lab();
    let out = script(
        &dir,
        "slot set -slot 1\nrole login -name co -password CO-sa6-2020\npartition contents\n\
         hagroup creategroup -label tmpMig -slot 0 -password CO-sa6-2020\n\
         hagroup addmember -group tmpMig -slot 1 -password CO-sa6-2020\n\
         hagroup synchronize -group tmpMig -password CO-sa6-2020\n\
         partition contents\n\
         hagroup recover -group tmpMig -password CO-sa6-2020\n\
         partition contents\n",
        "",
    );
    let text = stdout(&out);
    succeeded(&out);
    assert!(!text.contains("CKR_DEVICE_ERROR"), "{text}");
    // Before the group, the destination is empty; after the synchronisation it holds the
    // source's three objects, read in the same process (after the recovery too).
    let listings: Vec<&str> = text
        .split("lunacm:>partition contents")
        .skip(1)
        .map(|s| s.split("lunacm:>").next().unwrap_or(""))
        .collect();
    assert_eq!(listings.len(), 3, "{text}");
    assert!(!listings[0].contains("mig-aes"), "{text}");
    for listing in &listings[1..] {
        assert_eq!(listing.matches("Label:").count(), 3, "{text}");
        assert!(
            listing.contains("mig-aes") && listing.contains("mig-rsa"),
            "{text}"
        );
    }
}
