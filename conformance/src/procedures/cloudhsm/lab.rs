//! A `primus.partition-to-cloudhsm` scenario's own lab: a copy of the built-in `primus` lab in a
//! scratch directory (its state directory too), changed for the variant (Partition
//! Administration not onboarded) and the negative case (a licence item missing, an older
//! Decanus, no pairing, a partition named like the backup's on the CloudHSM device, an older
//! CloudHSM firmware), and the `hsmsim` commands a scenario runs on it as processes of their own
//! (`hsmsim primus card create`, `hsmsim decanus`, `hsmsim cloudhsm restore`, `hsmsim slots`),
//! each answered with what it printed and how it ended.
use super::{Negative, Plan};
use crate::procedures::luna::lab::ScenarioLab;
use hsmsim_consoles::backend::outcome::Stop;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use toml::{Table, Value};

/// The on-premises device and the partition the seed moves.
pub const SOURCE_DEVICE: &str = "primus-onprem";
pub const SOURCE_PARTITION: &str = "ACME-PKI";
/// The host that sees the source (slot 0) and both restore targets (slots 3 and 4).
pub const ADMIN_HOST: &str = "admin-host";
/// The source's slot on the admin host.
pub const SOURCE_SLOT: u64 = 0;
/// The slot the scenario adds for the CloudHSM partition already named ACME-PKI
/// (`partition-name-exists`).
pub const EXISTING_NAME_SLOT: u64 = 5;
/// The PKCS#11 password of that partition (its own; never the source's).
const EXISTING_NAME_PIN: &str = "Pkcs11-CloudPki-01";
/// The firmware the CloudHSM runs in `source-firmware-newer` (the source runs 3.2).
pub const OLDER_CLOUD_FIRMWARE: &str = "3.1";

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The command line as the report shows it (secrets in the environment, masked).
    pub shown: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The command and what it printed, as a terminal shows them.
    pub fn transcript(&self) -> String {
        let mut out = format!("$ {}\n", self.shown);
        for text in [&self.stdout, &self.stderr] {
            let text = text.trim_end();
            if !text.is_empty() {
                out.push_str(text);
                out.push('\n');
            }
        }
        if !self.ok() {
            out.push_str(&format!(
                "(exit status {})\n",
                self.code.map_or("none".to_string(), |c| c.to_string())
            ));
        }
        out.trim_end().to_string()
    }
}

/// A scenario's lab and the `hsmsim` program that works on it.
pub struct Lab {
    pub lab: ScenarioLab,
    program: PathBuf,
    module: Option<PathBuf>,
}

fn fail(e: impl std::fmt::Display) -> Stop {
    Stop::fail(format!("cannot make the scenario's lab: {e}"))
}

fn table<'t>(t: &'t mut Table, key: &str) -> &'t mut Table {
    if !matches!(t.get(key), Some(Value::Table(_))) {
        t.insert(key.to_string(), Value::Table(Table::new()));
    }
    match t.get_mut(key) {
        Some(Value::Table(inner)) => inner,
        _ => unreachable!("just made a table"),
    }
}

fn array<'t>(t: &'t mut Table, key: &str) -> &'t mut Vec<Value> {
    if !matches!(t.get(key), Some(Value::Array(_))) {
        t.insert(key.to_string(), Value::Array(Vec::new()));
    }
    match t.get_mut(key) {
        Some(Value::Array(inner)) => inner,
        _ => unreachable!("just made an array"),
    }
}

fn named<'t>(list: &'t mut [Value], name: &str) -> Option<&'t mut Table> {
    list.iter_mut().find_map(|v| match v {
        Value::Table(t) if t.get("name").and_then(Value::as_str) == Some(name) => Some(t),
        _ => None,
    })
}

/// The `primus` fixture changed for `plan`, as TOML text.
pub fn lab_text(plan: &Plan) -> Result<String, Stop> {
    let text = hsmsim::lab::fixtures::built_in_text("primus").map_err(fail)?;
    let mut lab: Table = text.parse().map_err(fail)?;
    let negative = plan.negative;
    let devices = array(&mut lab, "device");
    let onprem = named(devices, SOURCE_DEVICE).ok_or_else(|| fail("no primus-onprem"))?;
    {
        let primus = table(onprem, "primus");
        let missing = match negative {
            Some(Negative::NoLicencePartitionAdministration) => Some("partition-administration"),
            Some(Negative::NoLicenceDeviceBackup) => Some("device-backup"),
            _ => None,
        };
        if let Some(missing) = missing {
            array(primus, "licences").retain(|v| v.as_str() != Some(missing));
        }
        let decanus = table(primus, "decanus");
        if negative == Some(Negative::DecanusTooOld) {
            decanus.insert("version".into(), "2.1.2".into());
        }
        if negative == Some(Negative::NoDevicePairing) {
            decanus.insert("device_administration".into(), false.into());
        }
    }
    let partitions = array(onprem, "partition");
    let source = named(partitions, SOURCE_PARTITION).ok_or_else(|| fail("no ACME-PKI"))?;
    let admin = table(source, "primus");
    if !plan.pa_onboarded {
        admin.insert("management".into(), false.into());
        admin.insert("partition_administration".into(), false.into());
    }
    if negative == Some(Negative::NoPartitionAdministrationPairing) {
        admin.insert("partition_administration".into(), false.into());
    }
    let cloud = named(devices, plan.target.device()).ok_or_else(|| fail("no CloudHSM"))?;
    if negative == Some(Negative::SourceFirmwareNewer) {
        table(cloud, "primus").insert("firmware".into(), OLDER_CLOUD_FIRMWARE.into());
    }
    if negative == Some(Negative::PartitionNameExists) {
        let mut existing = Table::new();
        existing.insert("name".into(), SOURCE_PARTITION.into());
        existing.insert("label".into(), SOURCE_PARTITION.into());
        existing.insert("user_pin".into(), EXISTING_NAME_PIN.into());
        array(cloud, "partition").push(Value::Table(existing));
        let hosts = array(&mut lab, "host");
        let host = named(hosts, ADMIN_HOST).ok_or_else(|| fail("no admin-host"))?;
        let mut slot = Table::new();
        slot.insert("id".into(), Value::Integer(EXISTING_NAME_SLOT as i64));
        slot.insert(
            "partition".into(),
            format!("{}/{SOURCE_PARTITION}", plan.target.device()).into(),
        );
        array(host, "slot").push(Value::Table(slot));
    }
    Ok(format!(
        "# Made by the conformance runner from the built-in lab primus for one scenario.\n{}",
        toml::to_string(&lab).map_err(fail)?
    ))
}

impl Lab {
    /// Writes the scenario's lab for `plan` in a new scratch directory.
    pub fn make(plan: &Plan, program: PathBuf, module: Option<PathBuf>) -> Result<Lab, Stop> {
        let dir = tempfile::Builder::new()
            .prefix("hsmsim-cloudhsm-")
            .tempdir()
            .map_err(fail)?;
        let lab_file = dir.path().join("lab.toml");
        std::fs::write(&lab_file, lab_text(plan)?).map_err(fail)?;
        Ok(Lab {
            lab: ScenarioLab {
                dir,
                lab_file,
                ped_keys: None,
            },
            program,
            module,
        })
    }

    pub fn dir(&self) -> &Path {
        self.lab.state_dir()
    }

    /// The USB drive the backup is written to.
    pub fn usb(&self) -> PathBuf {
        self.dir().join("usb")
    }

    /// Runs `hsmsim --lab LAB --state-dir DIR ARGS` with `secrets` in its environment (shown
    /// masked), nothing on its standard input.
    pub fn hsmsim(&self, args: &[&str], secrets: &[(&str, &str)]) -> Result<Ran, Stop> {
        let mut command = Command::new(&self.program);
        command
            .arg("--lab")
            .arg(&self.lab.lab_file)
            .arg("--state-dir")
            .arg(self.dir())
            .args(args)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            // The scenario's lab holds nothing of value: its PIN seals use SP 800-132's
            // minimum cost, as the Luna scenarios' do (simulator-defined).
            .env("HSMSIM_PIN_KDF_ITERATIONS", "1000");
        for var in [
            "HSMSIM_CONF",
            "HSMSIM_LAB",
            "HSMSIM_HOST",
            "HSMSIM_STATE_DIR",
            "HSMSIM_CARD_PIN",
            "HSMSIM_BACKUP_PASSWORD",
        ] {
            command.env_remove(var);
        }
        if let Some(module) = &self.module {
            command.env("HSMSIM_MODULE", module);
        }
        for (name, value) in secrets {
            command.env(name, value);
        }
        let shown_env: Vec<String> = secrets
            .iter()
            .map(|(name, _)| format!("{name}=********"))
            .collect();
        let shown = shown_env
            .into_iter()
            .chain(std::iter::once("hsmsim".to_string()))
            .chain(args.iter().map(|a| shell_word(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let out = command
            .output()
            .map_err(|e| Stop::fail(format!("cannot run {shown}: {e}")))?;
        Ok(Ran {
            shown,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `hsmsim primus card create`: a card with its PIN (of `partition`, for a partition's
    /// card), or an empty card of `kind` (`--empty`).
    pub fn create_card(
        &self,
        kind: &str,
        name: &str,
        pin: Option<&str>,
        partition: Option<&str>,
    ) -> Result<Ran, Stop> {
        let mut args = vec![
            "primus",
            "card",
            "create",
            "--device",
            SOURCE_DEVICE,
            "--kind",
            kind,
            "--name",
            name,
        ];
        let mut secrets = Vec::new();
        match pin {
            Some(pin) => secrets.push(("HSMSIM_CARD_PIN", pin)),
            None => args.push("--empty"),
        }
        if let Some(partition) = partition {
            args.extend(["--partition", partition]);
        }
        self.succeeded(self.hsmsim(&args, &secrets)?)
    }

    /// A command that must succeed: its run, or a failure with its transcript.
    pub fn succeeded(&self, ran: Ran) -> Result<Ran, Stop> {
        if ran.ok() {
            Ok(ran)
        } else {
            Err(Stop::fail(ran.transcript()))
        }
    }

    /// The admin host's slots as `hsmsim slots --json` lists them (partition, label,
    /// initialised): what the CloudHSM side shows without any login.
    pub fn slots(&self) -> Result<serde_json::Value, Stop> {
        let ran = self.succeeded(self.hsmsim(&["--host", ADMIN_HOST, "slots", "--json"], &[])?)?;
        serde_json::from_str(&ran.stdout)
            .map_err(|e| Stop::fail(format!("hsmsim slots --json: {e}")))
    }

    /// Every card of the lab's Primus devices (`hsmsim primus card list --json`).
    pub fn cards(&self) -> Result<serde_json::Value, Stop> {
        let ran = self.succeeded(self.hsmsim(&["primus", "card", "list", "--json"], &[])?)?;
        serde_json::from_str(&ran.stdout)
            .map_err(|e| Stop::fail(format!("hsmsim primus card list --json: {e}")))
    }

    /// One card (`hsmsim primus card show --json`).
    pub fn card(&self, name: &str) -> Result<serde_json::Value, Stop> {
        let ran = self.succeeded(self.hsmsim(
            &[
                "primus",
                "card",
                "show",
                "--device",
                SOURCE_DEVICE,
                name,
                "--json",
            ],
            &[],
        )?)?;
        serde_json::from_str(&ran.stdout)
            .map_err(|e| Stop::fail(format!("hsmsim primus card show --json: {e}")))
    }

    /// The backup files on the USB drive, oldest first.
    pub fn backups(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.usb())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pbackup"))
            .collect();
        files.sort();
        files
    }
}

/// A command-line word as a shell would need it written.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+@,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Keys, Target};
    use super::*;

    fn plan(negative: Option<Negative>) -> Plan {
        Plan {
            target: Target::Shared,
            pa_onboarded: true,
            existing_yellow: false,
            keys: Keys::Mix,
            negative,
        }
    }

    fn parsed(plan: &Plan) -> hsmsim::lab::Lab {
        let text = lab_text(plan).unwrap();
        hsmsim::lab::Lab::parse(&text, "scenario")
            .unwrap_or_else(|e| panic!("the scenario's lab does not load: {e}\n{text}"))
    }

    #[test]
    fn every_variant_and_negative_makes_a_lab_that_loads() {
        let mut plans = vec![plan(None)];
        plans.push(Plan {
            pa_onboarded: false,
            target: Target::Dedicated,
            ..plan(None)
        });
        plans.extend(Negative::ALL.iter().map(|n| plan(Some(*n))));
        for p in &plans {
            parsed(p);
        }
    }

    #[test]
    fn the_changes_land_where_the_negatives_need_them() {
        let text = lab_text(&plan(Some(Negative::NoLicenceDeviceBackup))).unwrap();
        assert!(
            text.contains("licences = [\"partition-administration\", \"decanus-remote-terminal\"]"),
            "{text}"
        );
        let text = lab_text(&plan(Some(Negative::DecanusTooOld))).unwrap();
        assert!(text.contains("2.1.2"), "{text}");
        let text = lab_text(&plan(Some(Negative::SourceFirmwareNewer))).unwrap();
        assert!(text.contains(OLDER_CLOUD_FIRMWARE), "{text}");
        let text = lab_text(&plan(Some(Negative::PartitionNameExists))).unwrap();
        assert!(text.contains("cloudhsm/ACME-PKI"), "{text}");
        let not_onboarded = Plan {
            pa_onboarded: false,
            ..plan(None)
        };
        let text = lab_text(&not_onboarded).unwrap();
        assert!(text.contains("partition_administration = false"), "{text}");
    }
}
