//! The scenario of `primus.partition-to-cloudhsm`: its lab and cards, the keys on the source,
//! the seed's steps typed into the Decanus terminal one script per step (steps 2 to 4 only when
//! the variant onboards Partition Administration), the hand-over to Securosys (not replayed)
//! and the restore, then the outcome checks. A negative case stops at its documented step,
//! which must be refused, and checks that nothing changed.
use super::checks::{self, Untouched};
use super::lab::{ADMIN_HOST, Lab, SOURCE_DEVICE, SOURCE_PARTITION, SOURCE_SLOT};
use super::terminal::{Answer, Script, type_script};
use super::{Keys, Negative, Plan};
use crate::procedures::luna::Host;
use crate::procedures::luna::worker::{ObjectInfo, Request};
use crate::runner::{Run, Stop};
use std::path::PathBuf;

/// The device's two SO cards and their PINs (card PINs: 8 to 12 digits, no leading 0).
const SO_CARDS: [(&str, &str); 2] = [("so-1", "11112222"), ("so-2", "33334444")];
/// The empty Partition SO card onboarding binds, and the PIN it gets.
const PSO_CARD: &str = "pso-acme-pki";
const PSO_PIN: &str = "55556666";
/// ACME-PKI's Partition-Backup ("Yellow") card, its PIN, and the PIN an existing one had.
const YELLOW_CARD: &str = "yellow-acme-pki";
const YELLOW_PIN: &str = "77778888";
const YELLOW_OLD_PIN: &str = "99991111";
/// Another partition's Partition-Backup card (`wrong-card`).
const OTHER_YELLOW_CARD: &str = "yellow-acme-adcs";
const OTHER_YELLOW_PIN: &str = "12121212";
const OTHER_PARTITION: &str = "ACME-ADCS";
/// A PIN that is not the Yellow card's (`wrong-card-pin`).
const WRONG_CARD_PIN: &str = "87654321";
/// What ONBOARD is typed with: the device's address (the lab's device name) and the seed's
/// default port ("Enter TCP Port; default 2300 JCE").
const ONBOARD_URL: &str = "primus-onprem";
const ONBOARD_PORT: &str = "2300";
/// The partition as the seed quotes it.
const QUOTED_PARTITION: &str = "“ACME-PKI”";

/// A scenario in progress.
pub struct Scenario<'l> {
    pub plan: Plan,
    pub lab: &'l Lab,
    /// ACME-PKI's PKCS#11 password: the partition login in Partition Administration, and the
    /// PIN the restored CloudHSM partition answers to.
    pub source_pin: String,
    pub tag: String,
}

impl Scenario<'_> {
    fn negative(&self, n: Negative) -> bool {
        self.plan.negative == Some(n)
    }

    /// The card the scenario onboarded Partition Administration with, if it did.
    fn onboarded_pso(&self) -> bool {
        !self.plan.pa_onboarded
    }
}

/// Carries out one scenario on its own lab, removed when it ends.
pub fn run(run: &mut Run<'_>, plan: Plan) -> Result<(), Stop> {
    let (program, module) = crate::procedures::luna::worker_program()
        .map_err(|_| {
            Stop::NotApplicable(
                "the procedure runs hsmsim decanus, hsmsim cloudhsm restore and its evidence workers as processes of the hsmsim program, and this runner was not given it".into(),
            )
        })?
        .clone();
    let lab = run.precondition("the scenario's lab, from the built-in lab primus", || {
        Lab::make(&plan, program, module)
    })?;
    let outcome = scenario(run, plan, &lab);
    let dir = lab.dir().display().to_string();
    run.cleanup("the scenario's lab", outcome, || {
        drop(lab);
        Ok(format!(
            "the workers ended; the scenario's lab {dir} removed"
        ))
    })
}

/// How far the documented steps went.
enum Reached {
    /// The backup was restored into CloudHSM.
    Restored,
    /// The negative case's step refused; what stood just before it.
    Refused(Untouched),
}

fn scenario(run: &mut Run<'_>, plan: Plan, lab: &Lab) -> Result<(), Stop> {
    let source_pin = lab
        .lab
        .selection(None)?
        .lab
        .partitions()
        .into_iter()
        .find(|(p, _, _)| p.to_string() == format!("{SOURCE_DEVICE}/{SOURCE_PARTITION}"))
        .and_then(|(_, _, preset)| preset?.user_pin)
        .ok_or_else(|| Stop::fail("the lab gives ACME-PKI no PKCS#11 password"))?;
    let sc = Scenario {
        plan,
        lab,
        source_pin,
        tag: run.tag.clone(),
    };
    run.precondition_noted(
        "the cards, with hsmsim primus card create: two SO cards, an empty Yellow card, an empty PSO card when the scenario onboards",
        || make_cards(&sc).map(|t| ((), t)),
    )?;
    let mut origin = run.precondition(
        "the evidence worker on admin-host (slot 0: ACME-PKI, the source)",
        || Host::spawn(&lab.lab, ADMIN_HOST, None, "origin"),
    )?;
    let what = match plan.keys {
        Keys::Mix => {
            "the keys on ACME-PKI (PKCS#11): RSA-2048 and EC P-256 pairs, AES-256 and 3DES keys, a certificate, a data object, each with a label and a CKA_ID"
        }
        Keys::Rsa => "the keys on ACME-PKI (Primus Tools CreateKey): RSA-2048, 3072 and 4096 pairs",
        Keys::Ec => {
            "the keys on ACME-PKI (Primus Tools CreateKey): EC P-256, P-384 and P-521 pairs"
        }
        Keys::Aes => "the keys on ACME-PKI (Primus Tools CreateKey): AES-128, 192 and 256 keys",
    };
    let before = run.precondition_noted(what, || provision(&sc, &mut origin))?;
    if plan.existing_yellow {
        run.precondition_noted(
            "an existing Yellow card: made ACME-PKI's Partition-Backup card earlier, by the same menu path (another PIN)",
            || {
                let script = yellow_card_script("precondition-yellow", None, YELLOW_OLD_PIN);
                let answer = type_script(lab, script)?.succeeded()?;
                Ok(((), answer.transcript()))
            },
        )?;
    }
    match documented_steps(run, &sc)? {
        Reached::Restored => checks::restored(run, &sc, &mut origin, &before),
        Reached::Refused(untouched) => {
            checks::nothing_changed(run, &sc, &mut origin, &before, &untouched)
        }
    }
}

fn make_cards(sc: &Scenario<'_>) -> Result<String, Stop> {
    let lab = sc.lab;
    let mut made = Vec::new();
    for (name, pin) in SO_CARDS {
        made.push(lab.create_card("so", name, Some(pin), None)?);
    }
    made.push(lab.create_card("partition-backup", YELLOW_CARD, None, None)?);
    if sc.onboarded_pso() {
        made.push(lab.create_card("partition-so", PSO_CARD, None, None)?);
    }
    if sc.negative(Negative::WrongCard) {
        made.push(lab.create_card(
            "partition-backup",
            OTHER_YELLOW_CARD,
            Some(OTHER_YELLOW_PIN),
            Some(OTHER_PARTITION),
        )?);
    }
    Ok(made
        .iter()
        .map(|r| r.transcript())
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Fills the source with the plan's keys; what it holds afterwards.
fn provision(sc: &Scenario<'_>, origin: &mut Host) -> Result<(Vec<ObjectInfo>, String), Stop> {
    let pin = Some(sc.source_pin.clone());
    let mut notes = Vec::new();
    if sc.plan.keys == Keys::Mix {
        let made = crate::procedures::luna::objects(
            origin,
            &Request::Provision {
                slot: SOURCE_SLOT,
                pin: pin.clone(),
                tag: sc.tag.clone(),
            },
        )?;
        notes.push(format!(
            "made through PKCS#11 on slot {SOURCE_SLOT} (C_GenerateKeyPair, C_GenerateKey, C_CreateObject): {} objects",
            made.len()
        ));
    }
    for (name, kind, size) in sc.plan.keys.family() {
        let label = format!("{name}-{}", sc.tag);
        let size = size.to_string();
        let ran = sc.lab.hsmsim(
            &[
                "--host",
                ADMIN_HOST,
                "primus-tools",
                "-hsm",
                "sim:token=ACME-PKI",
                "CreateKey",
                "-keyname",
                &label,
                "-type",
                kind,
                "-size",
                &size,
            ],
            &[],
        )?;
        notes.push(sc.lab.succeeded(ran)?.transcript());
    }
    let held = crate::procedures::luna::objects(
        origin,
        &Request::Inventory {
            slot: SOURCE_SLOT,
            pin,
            filter: None,
        },
    )?;
    if held.is_empty() {
        return Err(Stop::fail("the source holds no object after provisioning"));
    }
    notes.push(format!(
        "ACME-PKI holds {} objects: {}",
        held.len(),
        held.iter()
            .map(|o| format!("{} {}", o.class, o.label))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok((held, notes.join("\n")))
}

/// Inserts the SO cards and activates them (their PINs on the prompts' lines).
fn so_cards_in(script: Script) -> Script {
    script
        .line(format!("card insert {} --slot 1", SO_CARDS[0].0))
        .line(format!("card insert {} --slot 2", SO_CARDS[1].0))
}

fn so_pins(script: Script) -> Script {
    script.secret(SO_CARDS[0].1).secret(SO_CARDS[1].1)
}

/// Step 5's script (and the existing card's making): SO activation with the SO cards in slots 1
/// and 2, then the Yellow card in slot 2, its current PIN (an existing card) and the new PIN
/// twice.
fn yellow_card_script(name: &str, current: Option<&str>, new: &str) -> Script {
    let script = so_cards_in(Script::new(name))
        .line("SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO");
    so_pins(script)
        .line("card remove --slot 2")
        .line(format!("card insert {YELLOW_CARD} --slot 2"))
        .line(format!(
            "BACKUP > PARTITION BACKUP > P-BACKUP CARD > {QUOTED_PARTITION} > INSERT Yellow Card into Slot 2"
        ))
        .lines_if(current.is_some(), |s| s.secret(current.unwrap_or_default()))
        .secret(new)
        .secret(new)
}

/// Partition Administration mode and the partition login (the PSO card's PIN first when the
/// scenario onboarded with it).
fn pa_login(sc: &Scenario<'_>, script: Script) -> Script {
    script
        .lines_if(sc.onboarded_pso(), |s| {
            s.line(format!("card insert {PSO_CARD} --slot 1"))
        })
        .line("SWITCH MODE > Partition Administration")
        .line(format!("LOGIN > {QUOTED_PARTITION}"))
        .lines_if(sc.onboarded_pso(), |s| s.secret(PSO_PIN))
        .secret(sc.source_pin.clone())
}

/// What a Decanus step came to.
enum Typed<T> {
    Done(T),
    Refused(Untouched),
}

/// The words the refusal of a Decanus negative case names.
fn refusal_words(negative: Negative) -> &'static [&'static str] {
    match negative {
        Negative::NoLicencePartitionAdministration => &["licen", "partition administration"],
        Negative::NoLicenceDeviceBackup => &["licen", "device backup"],
        Negative::DecanusTooOld => &["2.1.3"],
        Negative::NoDevicePairing => &["pair"],
        Negative::NoPartitionAdministrationPairing => &["partition administration"],
        _ => &[],
    }
}

/// Documented step `n`, typed into the Decanus terminal as `script`: refused when the
/// negative case says so (what stood before it is kept for the checks), else it must succeed
/// and `read` takes what the scenario needs from the answer.
fn decanus_step<T>(
    run: &mut Run<'_>,
    sc: &Scenario<'_>,
    n: u32,
    script: Script,
    read: impl FnOnce(&Answer) -> Result<T, Stop>,
) -> Result<Typed<T>, Stop> {
    if let Some(negative) = sc.plan.negative.filter(|_| refused_at(run) == Some(n)) {
        let untouched = run.step_noted(n, || {
            let untouched = Untouched::take(sc.lab)?;
            let t = type_script(sc.lab, script)?.refused(refusal_words(negative))?;
            Ok((untouched, t))
        })?;
        return Ok(Typed::Refused(untouched));
    }
    let value = run.step_noted(n, || {
        let answer = type_script(sc.lab, script)?.succeeded()?;
        let value = read(&answer)?;
        Ok((value, answer.transcript()))
    })?;
    Ok(Typed::Done(value))
}

/// The step the negative case must be refused at.
fn refused_at(run: &Run<'_>) -> Option<u32> {
    run.negative().map(|n| n.step)
}

/// Step 1's evidence: each licence item the procedure needs is shown, licensed unless the case
/// removed it.
fn licences_shown(answer: &Answer, sc: &Scenario<'_>) -> Result<(), Stop> {
    for (item, missing) in [
        (
            "Partition Administration",
            sc.negative(Negative::NoLicencePartitionAdministration),
        ),
        (
            "Device Backup",
            sc.negative(Negative::NoLicenceDeviceBackup),
        ),
    ] {
        let line = answer
            .ran
            .stdout
            .lines()
            .find(|l| l.to_lowercase().contains(&item.to_lowercase()))
            .ok_or_else(|| Stop::fail(format!("the licence list does not show {item}")))?
            .to_lowercase();
        let licensed = !line.contains("not licensed") && line.contains("licensed");
        if licensed == missing {
            return Err(Stop::fail(format!(
                "the licence list shows {item} {}, the lab says {}",
                if licensed { "licensed" } else { "not licensed" },
                if missing { "not licensed" } else { "licensed" }
            )));
        }
    }
    Ok(())
}

/// The backup step 7 wrote: the file (relative to the scenario's directory) and the password
/// the terminal showed once.
pub struct Backup {
    pub file: PathBuf,
    pub password: String,
}

fn documented_steps(run: &mut Run<'_>, sc: &Scenario<'_>) -> Result<Reached, Stop> {
    macro_rules! done {
        ($typed:expr) => {
            match $typed? {
                Typed::Done(v) => v,
                Typed::Refused(untouched) => return Ok(Reached::Refused(untouched)),
            }
        };
    }
    let licence = Script::new("step-1").line("SYSTEM > DIAG. DEVICE > LICENSE");
    done!(decanus_step(run, sc, 1, licence, |a| licences_shown(a, sc)));
    if sc.plan.pa_onboarded {
        let why = "Partition Administration is already onboarded in this variant's lab (the seed: \"if you already have partition administration you can skip this step\")";
        for n in 2..=4 {
            run.outside_step(n, why);
        }
    } else {
        let access = so_cards_in(Script::new("step-2"))
            .line("SETUP > CONFIGURATION > SECURITY > USER > “Management access” > enabled");
        let access = so_pins(access).line(SOURCE_PARTITION);
        done!(decanus_step(run, sc, 2, access, |_| Ok(())));
        let issue = so_cards_in(Script::new("step-3")).line(format!(
            "SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO > ROLES > USER > MGMT Password > {QUOTED_PARTITION}"
        ));
        let management_password = done!(decanus_step(run, sc, 3, so_pins(issue), |a| {
            a.value_after(&format!("Management password for {SOURCE_PARTITION}"))
                .ok_or_else(|| Stop::fail("the terminal showed no management password"))
        }));
        let onboard = Script::new("step-4")
            .line(format!("card insert {PSO_CARD} --slot 1"))
            .line("SWITCH MODE > Partition Administration")
            .line(format!(
                "ONBOARD > \"{ONBOARD_URL}\" > \"{ONBOARD_PORT}\" > \"{SOURCE_PARTITION}\" > \"{management_password}\" > INSERT empty Partition SO Card (PSO) on Slot 1 > ONBOARD"
            ))
            .secret(PSO_PIN)
            .secret(PSO_PIN);
        done!(decanus_step(run, sc, 4, onboard, |_| Ok(())));
    }
    let current = sc.plan.existing_yellow.then_some(YELLOW_OLD_PIN);
    let yellow = yellow_card_script("step-5", current, YELLOW_PIN);
    done!(decanus_step(run, sc, 5, yellow, |_| Ok(())));
    let login = pa_login(sc, Script::new("step-6")).line("status");
    done!(decanus_step(run, sc, 6, login, |_| Ok(())));
    let backup = pa_login(
        sc,
        Script::new("step-7")
            .line("# a new terminal session: Partition Administration mode and the partition login again")
            .line("usb insert usb"),
    )
    .line("BACKUP > CREATE");
    let backup = done!(decanus_step(run, sc, 7, backup, |a| {
        let password = a
            .value_after("Write down the Backup password")
            .ok_or_else(|| Stop::fail("the terminal showed no backup password"))?;
        match sc.lab.backups().as_slice() {
            [file] => Ok(Backup {
                file: PathBuf::from("usb").join(file.file_name().unwrap_or_default()),
                password,
            }),
            other => Err(Stop::fail(format!(
                "the USB drive holds {} backup files, one expected",
                other.len()
            ))),
        }
    }));
    run.outside_step(
        8,
        "the Yellow card (a card of the lab's store), the backup password and the backup file go to the restore as they are; the seed's list leaves out the P-Backup card PIN, which the restore needs too",
    );
    restore(run, sc, &backup)
}

/// Step 9's command line for `card`.
fn restore_args(sc: &Scenario<'_>, backup: &Backup, card: &str) -> Vec<String> {
    [
        "cloudhsm",
        "restore",
        "--partition",
        &sc.plan.target.partition(),
        "--backup",
        &backup.file.display().to_string(),
        "--card",
        card,
        "--card-device",
        SOURCE_DEVICE,
    ]
    .map(str::to_string)
    .to_vec()
}

/// Runs the restore with `card`, its PIN and the backup password.
fn restore_with(
    sc: &Scenario<'_>,
    backup: &Backup,
    card: &str,
    pin: &str,
    password: &str,
) -> Result<super::lab::Ran, Stop> {
    let args = restore_args(sc, backup, card);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sc.lab.hsmsim(
        &args,
        &[
            ("HSMSIM_CARD_PIN", pin),
            ("HSMSIM_BACKUP_PASSWORD", password),
        ],
    )
}

/// A restore the case says is refused with `code` (and a sentence naming `words`): its
/// transcript, or a failure saying what happened instead.
fn restore_refused(ran: &super::lab::Ran, code: &str, words: &[&str]) -> Result<String, Stop> {
    let transcript = ran.transcript();
    if ran.ok() {
        return Err(Stop::fail(format!(
            "{transcript}\nthe documented refusal did not happen: the restore succeeded (expected {code})"
        )));
    }
    let said = ran.stderr.to_lowercase();
    if !names_code(&ran.stderr, code) || !words.iter().all(|w| said.contains(&w.to_lowercase())) {
        return Err(Stop::fail(format!(
            "{transcript}\nrefused, but not with {code}{}",
            if words.is_empty() {
                String::new()
            } else {
                format!(" naming {words:?}")
            }
        )));
    }
    Ok(transcript)
}

fn restore(run: &mut Run<'_>, sc: &Scenario<'_>, backup: &Backup) -> Result<Reached, Stop> {
    let Some(negative) = sc.plan.negative else {
        run.step_noted(9, || {
            let ran = restore_with(sc, backup, YELLOW_CARD, YELLOW_PIN, &backup.password)?;
            Ok(((), sc.lab.succeeded(ran)?.transcript()))
        })?;
        return Ok(Reached::Restored);
    };
    let untouched = run.step_noted(9, || {
        let untouched = Untouched::take(sc.lab)?;
        let note = refused_restore(sc, backup, negative)?;
        Ok((untouched, format!("refused as documented:\n{note}")))
    })?;
    Ok(Reached::Refused(untouched))
}

/// The restore of a negative case: the case's change, then the refusal.
fn refused_restore(sc: &Scenario<'_>, backup: &Backup, negative: Negative) -> Result<String, Stop> {
    let good = |card, pin| restore_with(sc, backup, card, pin, &backup.password);
    let file = sc.lab.dir().join(&backup.file);
    let ran = match negative {
        Negative::WrongBackupPassword => {
            let wrong = other_password(&backup.password);
            let ran = restore_with(sc, backup, YELLOW_CARD, YELLOW_PIN, &wrong)?;
            return restore_refused(&ran, "CKR_PIN_INCORRECT", &[]).map(|t| {
                format!("the backup password given differs from the one the terminal showed\n{t}")
            });
        }
        Negative::WrongCard => {
            let ran = good(OTHER_YELLOW_CARD, OTHER_YELLOW_PIN)?;
            return restore_refused(&ran, "CKR_KEY_HANDLE_INVALID", &[]).map(|t| {
                format!("the card given is {OTHER_PARTITION}'s Partition-Backup card\n{t}")
            });
        }
        Negative::WrongCardPin => return wrong_card_pins(sc, backup),
        Negative::TamperedFile => {
            let mut bytes = std::fs::read(&file)
                .map_err(|e| Stop::fail(format!("cannot read {}: {e}", file.display())))?;
            let at = bytes.len() / 2;
            bytes[at] ^= 0x01;
            std::fs::write(&file, &bytes)
                .map_err(|e| Stop::fail(format!("cannot write {}: {e}", file.display())))?;
            let ran = good(YELLOW_CARD, YELLOW_PIN)?;
            return restore_refused(&ran, "CKR_DATA_INVALID", &[]).map(|t| {
                format!(
                    "byte {at} of {} bytes of the backup file changed (one bit flipped)\n{t}",
                    bytes.len()
                )
            });
        }
        Negative::TruncatedFile => {
            let len = std::fs::metadata(&file)
                .map_err(|e| Stop::fail(format!("cannot read {}: {e}", file.display())))?
                .len();
            let cut = std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .and_then(|f| f.set_len(len / 2));
            cut.map_err(|e| Stop::fail(format!("cannot cut {}: {e}", file.display())))?;
            let ran = good(YELLOW_CARD, YELLOW_PIN)?;
            return restore_refused(&ran, "CKR_DATA_INVALID", &[])
                .map(|t| format!("the backup file cut from {len} to {} bytes\n{t}", len / 2));
        }
        Negative::PartitionNameExists => good(YELLOW_CARD, YELLOW_PIN)?,
        Negative::SourceFirmwareNewer => {
            let ran = good(YELLOW_CARD, YELLOW_PIN)?;
            return restore_refused(&ran, "CKR_FUNCTION_FAILED", &["newer"]);
        }
        other => {
            return Err(Stop::fail(format!(
                "{}: the restore is not where this case is refused",
                other.id()
            )));
        }
    };
    restore_refused(&ran, "CKR_FUNCTION_FAILED", &[]).map(|t| {
        format!("the CloudHSM device already has a partition named {SOURCE_PARTITION}\n{t}")
    })
}

/// Whether `text` names the code `code` as a word (`hsmsim: CKR_PIN_INCORRECT (0xA0): ...`,
/// not `CKR_PIN_INCORRECT_X`).
fn names_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// A backup password of the right form that is not `password`.
fn other_password(password: &str) -> String {
    let mut chars: Vec<char> = password.chars().collect();
    if let Some(c) = chars.iter_mut().find(|c| c.is_ascii_alphanumeric()) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

/// `wrong-card-pin`: four wrong PINs, each refused with the card's counter one lower; the fifth
/// blocks the card; then the right PIN is refused too.
fn wrong_card_pins(sc: &Scenario<'_>, backup: &Backup) -> Result<String, Stop> {
    let mut notes = Vec::new();
    let attempts = |sc: &Scenario<'_>| -> Result<(u64, bool), Stop> {
        let card = sc.lab.card(YELLOW_CARD)?;
        Ok((
            card["attempts_left"].as_u64().unwrap_or(u64::MAX),
            card["blocked"].as_bool().unwrap_or(false),
        ))
    };
    for n in 1..=5u64 {
        let ran = restore_with(sc, backup, YELLOW_CARD, WRONG_CARD_PIN, &backup.password)?;
        let code = if n < 5 {
            "CKR_PIN_INCORRECT"
        } else {
            "CKR_PIN_LOCKED"
        };
        notes.push(restore_refused(&ran, code, &[])?);
        let (left, blocked) = attempts(sc)?;
        if left != 5 - n || blocked != (n == 5) {
            return Err(Stop::fail(format!(
                "{}\nafter wrong PIN {n} the card shows {left} attempts left, blocked {blocked}; expected {} left, blocked {}",
                notes.join("\n"),
                5 - n,
                n == 5
            )));
        }
        notes.push(format!(
            "wrong PIN {n}: the card shows {left} attempts left{}",
            if blocked { ", blocked" } else { "" }
        ));
    }
    let ran = restore_with(sc, backup, YELLOW_CARD, YELLOW_PIN, &backup.password)?;
    notes.push(restore_refused(&ran, "CKR_PIN_LOCKED", &[])?);
    notes.push("the right PIN, after the card was blocked: refused".into());
    Ok(notes.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_its_code_as_a_word() {
        let said = "hsmsim: CKR_PIN_INCORRECT (0x000000A0): the backup password is wrong";
        assert!(names_code(said, "CKR_PIN_INCORRECT"));
        assert!(names_code("error: x (CKR_PIN_LOCKED)", "CKR_PIN_LOCKED"));
        assert!(!names_code(said, "CKR_PIN"));
        assert!(!names_code("CKR_PIN_INCORRECT_X", "CKR_PIN_INCORRECT"));
        let ran = super::super::lab::Ran {
            shown: "hsmsim cloudhsm restore".into(),
            code: Some(2),
            stdout: String::new(),
            stderr: said.into(),
        };
        assert!(restore_refused(&ran, "CKR_PIN_INCORRECT", &["backup password"]).is_ok());
        assert!(restore_refused(&ran, "CKR_PIN_LOCKED", &[]).is_err());
        let done = super::super::lab::Ran {
            code: Some(0),
            ..ran
        };
        assert!(restore_refused(&done, "CKR_PIN_INCORRECT", &[]).is_err());
    }

    #[test]
    fn another_backup_password_keeps_the_form() {
        let shown = "ABCDE-FGHIJ-KLMNO-PQRST-UVWXY";
        let other = other_password(shown);
        assert_ne!(other, shown);
        assert_eq!(other.len(), shown.len());
        assert_eq!(other.matches('-').count(), 4);
        assert_eq!(other_password("AAAAA-B"), "BAAAA-B");
    }

    #[test]
    fn the_yellow_card_script_asks_the_current_pin_first() {
        let s = format!(
            "{:?}",
            yellow_card_script("step-5", Some(YELLOW_OLD_PIN), YELLOW_PIN)
        );
        let current = s.find(YELLOW_OLD_PIN).unwrap();
        let new = s.find(YELLOW_PIN).unwrap();
        let path = s.find("P-BACKUP CARD").unwrap();
        assert!(path < current && current < new, "{s}");
        assert!(s.find("SO ACTIVATION").unwrap() < s.find("card remove --slot 2").unwrap());
    }
}
