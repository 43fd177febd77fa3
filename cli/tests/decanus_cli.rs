//! `hsmsim decanus --device D`, the Decanus terminal, scripted (`-c`, `-f`, standard input) on
//! the `primus` fixture: every menu path of seed 000 typed as the seed writes it, in the
//! seed's order on ACME-ADCS (whose Partition Administration is not onboarded yet: licence
//! check, management access, management password, ONBOARD with an empty Partition SO card,
//! the Yellow card, login with the PSO PIN and the partition password, the backup on the USB
//! drive, and `hsmsim cloudhsm restore` of that file giving CloudHSM the same key), ACME-PKI in one run (already onboarded: login without PSO card), the screens and
//! number selection, and the refusals that stop a script (exit 1) or lines the terminal
//! cannot take (exit 2). Each run's whole output is pinned by a golden file in
//! `cli/tests/golden/decanus/` (`HSMSIM_BLESS=1` rewrites them); passwords the device
//! generates and the backup file's time are the only values normalised.
mod common;
mod golden;

use std::path::PathBuf;
use std::process::Output;

const DEVICE: &str = "primus-onprem";
const SO_1_PIN: &str = "11111111";
const SO_2_PIN: &str = "22222222";
const PSO_PIN: &str = "55555555";
const YELLOW_PIN: &str = "66666666";

/// The `primus` fixture with two SO cards on primus-onprem.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: common::primus_lab_with_so_cards([("so-1", SO_1_PIN), ("so-2", SO_2_PIN)]),
        }
    }

    /// With an empty Partition SO card and two empty Partition-Backup cards too.
    fn with_empty_cards() -> Lab {
        let lab = Lab::new();
        for (kind, name) in [
            ("partition-so", "pso-adcs"),
            ("partition-backup", "yellow-adcs"),
            ("partition-backup", "yellow-pki"),
        ] {
            lab.hsmsim(&[
                "primus", "card", "create", "--device", DEVICE, "--kind", kind, "--name", name,
                "--empty",
            ]);
        }
        lab
    }

    fn lab(&self) -> String {
        common::lab_file(self.dir.path())
    }

    fn usb(&self) -> PathBuf {
        self.dir.path().join("usb")
    }

    /// `hsmsim` with `args`; asserts success.
    fn hsmsim(&self, args: &[&str]) -> String {
        common::succeeded(&common::output(
            common::command().args(["--lab", &self.lab()]).args(args),
        ))
    }

    /// `hsmsim decanus --device D` with `args` and the lines of `stdin`.
    fn decanus(&self, args: &[&str], stdin: &str) -> Output {
        self.decanus_on(DEVICE, args, stdin)
    }

    fn decanus_on(&self, device: &str, args: &[&str], stdin: &str) -> Output {
        common::output_with_stdin(
            common::command()
                .args(["--lab", &self.lab(), "decanus", "--device", device])
                .args(args),
            stdin,
        )
    }

    /// Compares the run with `cli/tests/golden/decanus/<name>.txt`.
    fn golden(&self, name: &str, out: &Output) {
        let transcript = golden::transcript(out, self.dir.path());
        golden::check_transcript("decanus", name, &normalise(&transcript));
    }

    /// The seed's steps on ACME-ADCS up to its onboarding; the management password issued.
    fn onboard_acme_adcs(&self) {
        let out = self.decanus(&[], &management_access_script());
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        let password = self.management_password("ACME-ADCS");
        let out = self.decanus(&[], &onboard_script(&password));
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    }

    /// `ROLES > USER > MGMT Password > "P"`: the password shown.
    fn management_password(&self, partition: &str) -> String {
        let out = self.decanus(&[], &management_password_script(partition));
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        password_after(
            &stdout(&out),
            &format!("Management password for {partition}: "),
        )
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value shown after `label` on its line.
fn password_after(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        .trim()
        .to_string()
}

/// Whether `word` is a password the device generates: five groups of five letters or digits.
fn is_generated_password(word: &str) -> bool {
    let groups: Vec<&str> = word.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The transcript with the generated passwords as `<PASSWORD>` and the backup file's time as
/// `<TIME>` (`ACME-PKI-20261205T143000.pbackup` → `ACME-PKI-<TIME>.pbackup`).
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let bare = word.trim_matches(|c: char| "\"“”".contains(c));
        if is_generated_password(bare) {
            out.push_str(&word.replace(bare, "<PASSWORD>"));
        } else if let Some(stem) = word.strip_suffix(".pbackup")
            && let Some((name, time)) = stem.rsplit_once('-')
            && time.len() == 15
            && time.as_bytes()[8] == b'T'
        {
            out.push_str(&format!("{name}-<TIME>.pbackup"));
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Seed 000, "Onboard Partition Administration", first step, with the SOs' and the
/// partition's prompts answered on the next lines.
fn management_access_script() -> String {
    format!(
        "card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
         SETUP > CONFIGURATION > SECURITY > USER > “Management access” > enabled\n\
         {SO_1_PIN}\n{SO_2_PIN}\nACME-ADCS\n"
    )
}

/// "Issue new Management pairing password".
fn management_password_script(partition: &str) -> String {
    format!(
        "card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
         SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO > ROLES > USER > MGMT Password > “{partition}”\n\
         {SO_1_PIN}\n{SO_2_PIN}\n"
    )
}

/// "Onboard Partition Administration": mode switch and ONBOARD with the empty PSO card.
fn onboard_script(password: &str) -> String {
    format!(
        "SWITCH MODE > Partition Administration\ncard insert pso-adcs --slot 1\n\
         ONBOARD > \"127.0.0.1\" > \"2300\" > \"ACME-ADCS\" > \"{password}\" > INSERT empty Partition SO Card (PSO) on Slot 1 > ONBOARD\n\
         {PSO_PIN}\n{PSO_PIN}\n"
    )
}

/// "Create Partition-Backup Card": SO activation, then the Yellow card in slot 2 and its new
/// PIN twice.
fn partition_backup_card_script(partition: &str, card: &str) -> String {
    format!(
        "card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
         SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO\n{SO_1_PIN}\n{SO_2_PIN}\n\
         card remove --slot 2\ncard insert {card} --slot 2\n\
         BACKUP > PARTITION BACKUP > P-BACKUP CARD > “{partition}” > INSERT Yellow Card into Slot 2\n\
         {YELLOW_PIN}\n{YELLOW_PIN}\n"
    )
}

/// The `.pbackup` files on the USB drive.
fn backups(usb: &std::path::Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(usb) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pbackup"))
        .collect();
    files.sort();
    files
}

#[test]
fn golden_seed_000_every_path_in_the_seed_s_order_on_acme_adcs() {
    let lab = Lab::with_empty_cards();
    // Precondition: SYSTEM > DIAG. DEVICE > LICENSE (one -c: no echo).
    let out = lab.decanus(&["-c", "SYSTEM > DIAG. DEVICE > LICENSE"], "");
    lab.golden("1_licence", &out);
    // SETUP > CONFIGURATION > SECURITY > USER > “Management access” > enabled.
    let out = lab.decanus(&[], &management_access_script());
    lab.golden("2_management_access", &out);
    // SO ACTIVATION > ... > ROLES > USER > MGMT Password > “ACME-ADCS”.
    let out = lab.decanus(&[], &management_password_script("ACME-ADCS"));
    lab.golden("3_management_password", &out);
    let password = password_after(&stdout(&out), "Management password for ACME-ADCS: ");
    assert!(is_generated_password(&password), "{password}");
    // SWITCH MODE > Partition Administration; ONBOARD > ... > INSERT PSO > ONBOARD.
    let out = lab.decanus(&[], &onboard_script(&password));
    lab.golden("4_onboard", &out);
    // The card is bound now: `primus card show` says so.
    let card = lab.hsmsim(&["primus", "card", "show", "--device", DEVICE, "pso-adcs"]);
    assert!(card.contains("ACME-ADCS"), "{card}");
    // BACKUP > PARTITION BACKUP > P-BACKUP CARD > “ACME-ADCS” > INSERT Yellow Card into Slot 2.
    let out = lab.decanus(
        &[],
        &partition_backup_card_script("ACME-ADCS", "yellow-adcs"),
    );
    lab.golden("5_partition_backup_card", &out);
    // A key in the partition, then PA mode, login to the partition (PSO PIN, partition
    // password), BACKUP > CREATE.
    lab.hsmsim(&[
        "--host",
        "ca-server",
        "primus-tools",
        "--hsm",
        "sim:token=ACME-ADCS",
        "CreateKey",
        "--keyname",
        "adcs-aes",
        "--type",
        "AES",
        "--size",
        "256",
    ]);
    let script = format!(
        "SWITCH MODE > Partition Administration\ncard insert pso-adcs --slot 1\n\
         LOGIN > “ACME-ADCS”\n{PSO_PIN}\nPkcs11-AcmeAdcs-01\nusb insert {}\nBACKUP > CREATE\nstatus\n",
        lab.usb().display()
    );
    let out = lab.decanus(&[], &script);
    lab.golden("6_login_and_backup", &out);
    let files = backups(&lab.usb());
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("ACME-ADCS-"), "{name}");
    let shown = password_after(&stdout(&out), "Write down the Backup password: ");
    assert!(is_generated_password(&shown), "{shown}");
    // The preconditions of the seed are met now for ACME-ADCS too.
    lab.hsmsim(&["primus", "preconditions", "primus-onprem/ACME-ADCS"]);
    // Securosys's step with the file, the Yellow card and the backup password: the key is on
    // CloudHSM as it was on premises.
    common::succeeded(&common::output(
        common::command()
            .env("HSMSIM_CARD_PIN", YELLOW_PIN)
            .env("HSMSIM_BACKUP_PASSWORD", &shown)
            .args(["--lab", &lab.lab(), "cloudhsm", "restore"])
            .args(["--partition", "cloudhsm/restore", "--card", "yellow-adcs"])
            .arg("--backup")
            .arg(&files[0]),
    ));
    let key = |host: &str| {
        lab.hsmsim(&[
            "--host",
            host,
            "primus-tools",
            "-hsm",
            "sim:token=ACME-ADCS",
            "ListKeyEntry",
            "-keyname",
            "adcs-aes",
        ])
    };
    let on_premises = key("ca-server");
    assert!(on_premises.contains("AES (32 bytes)"), "{on_premises}");
    assert_eq!(
        key("admin-host"),
        on_premises,
        "the key restored on CloudHSM"
    );
}

#[test]
fn golden_acme_pki_in_one_run_with_the_pins_in_the_paths() {
    let lab = Lab::with_empty_cards();
    let usb = lab.usb();
    let script = format!(
        "# ACME-PKI is onboarded by the lab: no PSO card, no management password needed\n\
         card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
         SO ACTIVATION > ENTER PIN of 1st SO > {SO_1_PIN} > ENTER PIN of 2nd SO > {SO_2_PIN}\n\
         card remove --slot 2\ncard insert yellow-pki --slot 2\n\
         BACKUP > PARTITION BACKUP > P-BACKUP CARD > \"ACME-PKI\" > INSERT Yellow Card into Slot 2 > {YELLOW_PIN} > {YELLOW_PIN}\n\
         SO LOGOUT\n\
         switch mode > partition administration\n\
         LOGIN > \"ACME-PKI\"\nPkcs11-AcmePki-01\n\
         BACKUP > CREATE > {}\nLOGOUT\nexit\nstatus\n",
        usb.display()
    );
    let out = lab.decanus(&[], &script);
    lab.golden("acme_pki_in_one_run", &out);
    assert_eq!(backups(&usb).len(), 1);
    // The same card again: the current PIN first, then the new one twice (from -c lines).
    let out = lab.decanus(
        &[
            "-c",
            "card insert so-1 --slot 1",
            "-c",
            "card insert so-2 --slot 2",
            "-c",
            "SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO",
            "-c",
            SO_1_PIN,
            "-c",
            SO_2_PIN,
            "-c",
            "card remove --slot 2",
            "-c",
            "card insert yellow-pki --slot 2",
            "-c",
            "BACKUP > PARTITION BACKUP > P-BACKUP CARD > \"ACME-PKI\" > INSERT Yellow Card into Slot 2",
            "-c",
            YELLOW_PIN,
            "-c",
            "77777777",
            "-c",
            "77777777",
        ],
        "",
    );
    lab.golden("existing_yellow_card_new_pin", &out);
}

#[test]
fn golden_screens_numbers_help_and_status() {
    let lab = Lab::new();
    let script = "BACKUP\n1\n0\n0\nsetup > configuration\n1\n0\nstatus\nhelp\n\
                  SWITCH MODE > Partition Administration\n4\nhelp\nSYSTEM > DIAG. DEVICE > VERSION\n";
    let out = lab.decanus(&[], script);
    lab.golden("screens_numbers_help_status", &out);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn golden_refusals_stop_the_script() {
    let lab = Lab::with_empty_cards();
    // Two different PINs for the Yellow card: refused by the device, the run ends (status
    // is not run), exit 1.
    let script = format!(
        "card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
         SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO\n{SO_1_PIN}\n{SO_2_PIN}\n\
         card remove --slot 2\ncard insert yellow-pki --slot 2\n\
         BACKUP > PARTITION BACKUP > P-BACKUP CARD > \"ACME-PKI\" > INSERT Yellow Card into Slot 2 > 12345678 > 12345679\n\
         status\n"
    );
    let out = lab.decanus(&[], &script);
    lab.golden("refused_pins_differ", &out);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).contains("Mode:"), "the run went on");
    // A wrong SO PIN: the card's counter.
    let out = lab.decanus(
        &[],
        "card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
         SO ACTIVATION > ENTER PIN of 1st SO > 99999999 > ENTER PIN of 2nd SO > 22222222\n",
    );
    lab.golden("refused_wrong_so_pin", &out);
    assert_eq!(out.status.code(), Some(1));
    // A partition backup without a partition login, and without a card in slot 1.
    let out = lab.decanus(
        &[],
        "SWITCH MODE > Partition Administration\nBACKUP > CREATE\n",
    );
    lab.golden("refused_backup_without_login", &out);
    assert_eq!(out.status.code(), Some(1));
    // A wrong partition password at LOGIN, counted by the device's login rule.
    let out = lab.decanus(
        &[],
        "SWITCH MODE > Partition Administration\nLOGIN > \"ACME-PKI\"\nWrong-password-1\nstatus\n",
    );
    lab.golden("refused_wrong_partition_password", &out);
    assert_eq!(out.status.code(), Some(1));
    let out = lab.decanus(&[], "SO ACTIVATION\n");
    lab.golden("refused_no_card_in_slot_1", &out);
    assert_eq!(out.status.code(), Some(1));
    // A used Partition SO card cannot onboard: pso-adcs was bound by onboarding ACME-ADCS.
    lab.onboard_acme_adcs();
    let password = lab.management_password("ACME-ADCS");
    let out = lab.decanus(&[], &onboard_script(&password));
    lab.golden("refused_used_pso_card", &out);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn golden_lines_the_terminal_cannot_take_end_the_run_with_exit_2() {
    let lab = Lab::new();
    for (name, script) in [
        (
            "usage_item_of_the_other_mode",
            "ONBOARD > \"127.0.0.1\"\nstatus\n",
        ),
        ("usage_unknown_item", "BACKUP > PARTITION BAKUP\n"),
        (
            "usage_unclosed_quote",
            "ROLES > USER > MGMT Password > “ACME-PKI\n",
        ),
        ("usage_not_simulated", "SETUP > INITIALIZE\n"),
        (
            "usage_value_missing_at_the_end",
            "card insert so-1 --slot 1\ncard insert so-2 --slot 2\nROLES > USER > MGMT Password > \"ACME-PKI\"\n11111111\n",
        ),
        ("usage_bad_slot", "card insert so-1 --slot 3\n"),
    ] {
        let out = lab.decanus(&[], script);
        lab.golden(name, &out);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stdout(&out));
    }
}

#[test]
fn a_device_without_a_decanus_or_a_remote_terminal_licence_is_refused() {
    let lab = Lab::new();
    let out = lab.decanus_on("primus-dr", &["-c", "status"], "");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("device primus-dr has no Decanus terminal"),
        "{}",
        stdout(&out)
    );
    let out = lab.decanus_on("nope", &["-c", "status"], "");
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("no Primus device \"nope\""));
    // primus-onprem has the Decanus Remote Terminal item: --remote works and says so.
    let out = lab.decanus(&["--remote", "-c", "status"], "");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("Rel. v2.1.3 (remote)"),
        "{}",
        stdout(&out)
    );
    // Without the item, --remote is refused.
    let lab_file = lab.dir.path().join("lab.toml");
    let text = std::fs::read_to_string(&lab_file).unwrap().replace(
        "licences = [\"partition-administration\", \"device-backup\", \"decanus-remote-terminal\"]",
        "licences = [\"partition-administration\", \"device-backup\"]",
    );
    std::fs::write(&lab_file, text).unwrap();
    let out = lab.decanus(&["--remote", "-c", "status"], "");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("not licensed for Decanus Remote Terminal"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn normalise_hides_generated_passwords_and_the_backup_time_only() {
    assert_eq!(
        normalise("pw: AB3DE-FGH1J-KLMNO-PQRST-UVWXY\n> \"AB3DE-FGH1J-KLMNO-PQRST-UVWXY\" > x\n"),
        "pw: <PASSWORD>\n> \"<PASSWORD>\" > x\n"
    );
    assert_eq!(
        normalise("to: <LAB>/usb/ACME-PKI-20261205T143000.pbackup\n"),
        "to: <LAB>/usb/ACME-PKI-<TIME>.pbackup\n"
    );
    assert_eq!(
        normalise("ACME-PKI Pkcs11-AcmePki-01"),
        "ACME-PKI Pkcs11-AcmePki-01"
    );
}

#[test]
fn minus_c_lines_run_before_the_lines_of_minus_f_and_comments_are_skipped() {
    let lab = Lab::new();
    let script = lab.dir.path().join("steps.txt");
    std::fs::write(
        &script,
        "# the SOs, with their PINs inline\n\
         SO ACTIVATION > ENTER PIN of 1st SO > 11111111 > ENTER PIN of 2nd SO > 22222222\n\
         status\n",
    )
    .unwrap();
    let script = script.display().to_string();
    let out = lab.decanus(
        &[
            "-c",
            "card insert so-1 --slot 1",
            "-c",
            "card insert so-2 --slot 2",
            "-f",
            &script,
        ],
        "",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let inserted = text.find("Decanus DA> card insert so-2 --slot 2").unwrap();
    let activated = text.find("2nd SO (card so-2) accepted").unwrap();
    assert!(inserted < activated, "{text}");
    assert!(
        text.contains("SO session:       active (cards so-1 and so-2)"),
        "{text}"
    );
    assert!(!text.contains("# the SOs"), "{text}");
}

#[test]
fn an_unpaired_terminal_is_paired_by_the_sos_and_stays_paired_an_old_release_is_refused() {
    let lab = Lab::with_empty_cards();
    let lab_file = lab.dir.path().join("lab.toml");
    let edit = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&lab_file).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&lab_file, text.replace(from, to)).unwrap();
    };
    edit(
        "decanus = { version = \"2.1.3\", device_administration = true }",
        "decanus = { version = \"2.1.3\", device_administration = false }",
    );
    // Not paired: the SOs' P-BACKUP CARD is refused (exit 1, nothing after it runs).
    let out = lab.decanus(&[], &partition_backup_card_script("ACME-PKI", "yellow-pki"));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("not paired with primus-onprem"), "{text}");
    // SETUP > CONFIGURATION > DECANUS > PAIR, with the SOs: paired, and a later run knows it.
    let out = lab.decanus(
        &[],
        &format!(
            "card insert so-1 --slot 1\ncard insert so-2 --slot 2\n\
             SETUP > CONFIGURATION > DECANUS > PAIR\n{SO_1_PIN}\n{SO_2_PIN}\n"
        ),
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "Decanus Terminal Rel. v2.1.3 paired with primus-onprem (Device Administration)"
        ),
        "{text}"
    );
    let out = lab.decanus(&[], &partition_backup_card_script("ACME-PKI", "yellow-pki"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // A release before 2.1.3 (a lab whose terminal was never changed by the store): the
    // terminal says which; Partition Administration is refused.
    let lab = Lab::new();
    let lab_file = lab.dir.path().join("lab.toml");
    let text = std::fs::read_to_string(&lab_file).unwrap();
    std::fs::write(
        &lab_file,
        text.replace("version = \"2.1.3\"", "version = \"2.1.2\""),
    )
    .unwrap();
    let out = lab.decanus(
        &[],
        "status\nSWITCH MODE > Partition Administration\nLOGIN > \"ACME-PKI\"\nPkcs11-AcmePki-01\n",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Decanus Terminal Rel. v2.1.2"), "{text}");
    assert!(
        text.contains("2.1.3 or later (CKR_FUNCTION_FAILED)"),
        "{text}"
    );
}
