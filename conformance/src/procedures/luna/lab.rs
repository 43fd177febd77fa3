//! A Luna scenario's own lab: a copy of the chapter's built-in fixture lab in a scratch
//! directory (its state directory too), changed for the variant (source and destination
//! firmware, password or PED on every HSM) and for the negative case (a source policy off, a
//! PED destination, a small or old Backup HSM, a 7.7+ source), so scenarios never share state
//! and run in parallel. On PED variants every role and domain of the lab uses the same three
//! key files (`ped/blue.key`, `ped/black.key`, `ped/red.key`, created by the lab on first use);
//! the workers present them through `HSMSIM_PED_KEYS`, as an operator inserts the keys the PED
//! asks for (the destination's roles are imprinted with the same keys: PED keys may be reused).
use hsmsim::models::luna::ped::{Colour, PedKey};
use hsmsim_consoles::backend::outcome::Stop;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The devices and hosts of a chapter's fixture lab.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub fixture: &'static str,
    pub source_device: &'static str,
    pub target_device: &'static str,
    /// Whether the source device is a Network HSM (an appliance with LunaSH).
    pub source_is_appliance: bool,
    /// The host that sees slots 0, 1 and 2 (one-host chapters).
    pub client: &'static str,
    /// Chapters 3 and 4: the old host (slots 0 and 2) and the new host (slots 1 and 2).
    pub hosts: Option<(&'static str, &'static str)>,
    /// The host for cloning (slots 0 and 1).
    pub clone_host: &'static str,
}

/// The layout of the chapter a procedure id names.
pub fn layout(procedure: &str) -> Option<Layout> {
    let chapter = procedure.strip_prefix("luna.")?.split('.').next()?;
    Some(match chapter {
        "network-to-network7" => Layout {
            fixture: "luna-network-to-network7",
            source_device: "sa6",
            target_device: "sa7",
            source_is_appliance: true,
            client: "client",
            hosts: None,
            clone_host: "client",
        },
        "usb-to-network7" => Layout {
            fixture: "luna-usb-to-network7",
            source_device: "usb6",
            target_device: "sa7",
            source_is_appliance: false,
            client: "clone-host",
            hosts: Some(("old-host", "new-host")),
            clone_host: "clone-host",
        },
        "pcie-to-network7" => Layout {
            fixture: "luna-pcie-to-network7",
            source_device: "k6",
            target_device: "sa7",
            source_is_appliance: false,
            client: "clone-host",
            hosts: Some(("old-host", "new-host")),
            clone_host: "clone-host",
        },
        "pcie-usb-to-pcie7" => Layout {
            fixture: "luna-pcie-usb-to-pcie7",
            source_device: "k6",
            target_device: "k7",
            source_is_appliance: false,
            client: "client-pcie6",
            hosts: None,
            clone_host: "client-pcie6",
        },
        _ => return None,
    })
}

/// What a scenario changes in the fixture.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub source_firmware: String,
    pub target_firmware: String,
    /// PED authentication on every HSM.
    pub ped: bool,
    /// The destination's authentication differs from the others'.
    pub target_auth_differs: bool,
    /// Source partition policies set (`(0, 0)`: private key cloning off).
    pub source_policies: Vec<(u64, u64)>,
    /// The Backup HSM's memory, in bytes.
    pub backup_memory: Option<u64>,
    pub backup_firmware: Option<String>,
    /// An admin partition on the source appliance (the HSM SO of LunaSH).
    pub source_admin: bool,
}

/// The HSM SO password of an admin partition the scenario adds (password variants).
pub const HSM_SO_PASSWORD: &str = "HSO-source-2020";

/// A scenario's lab.
pub struct ScenarioLab {
    pub dir: tempfile::TempDir,
    pub lab_file: PathBuf,
    /// `HSMSIM_PED_KEYS` for the workers (PED variants).
    pub ped_keys: Option<String>,
}

impl ScenarioLab {
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A selection of the lab (for the estate's operations: LunaSH, moving the Backup HSM).
    pub fn selection(&self, host: Option<&str>) -> Result<hsmsim::estate::LabSelection, Stop> {
        hsmsim::estate::select(&hsmsim::estate::Choice {
            lab_file: Some(self.lab_file.clone()),
            host: host.map(str::to_string),
            state_dir: Some(self.dir.path().to_path_buf()),
        })
        .map_err(|e| Stop::fail(format!("the scenario's lab: {e}")))
    }

    /// The PED keys presented with another red key (a different cloning domain), made now.
    pub fn ped_keys_with_other_red_key(&self) -> Result<String, Stop> {
        let other = self.dir.path().join("ped/other-red.key");
        PedKey::generate(Colour::Red)
            .and_then(|k| k.save(&other))
            .map_err(|e| Stop::fail(format!("cannot make another red key: {e}")))?;
        Ok(ped_keys(self.dir.path(), &other))
    }
}

/// `HSMSIM_PED_KEYS` presenting the lab's shared blue and black keys and `red`.
pub fn ped_keys(dir: &Path, red: &Path) -> String {
    let key = |name: &str| dir.join("ped").join(name).display().to_string();
    format!(
        "blue={},black={},red={}",
        key("blue.key"),
        key("black.key"),
        red.display()
    )
}

fn fail(e: impl std::fmt::Display) -> Stop {
    Stop::fail(format!("cannot make the scenario's lab: {e}"))
}

/// The table `key` of `t`, made when missing.
pub fn table<'t>(t: &'t mut Table, key: &str) -> &'t mut Table {
    t.entry(key.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    match t.get_mut(key) {
        Some(Value::Table(inner)) => inner,
        _ => unreachable!("just inserted a table"),
    }
}

/// Makes the scenario's lab from `layout`'s fixture with `changes`.
pub fn make(layout: &Layout, changes: &Changes) -> Result<ScenarioLab, Stop> {
    let dir = tempfile::Builder::new()
        .prefix("hsmsim-luna-")
        .tempdir()
        .map_err(fail)?;
    // The fixture's text, not `init_from_fixture`, which would open the store on the
    // unchanged lab: the scenario's first worker initialises it on the changed one.
    let lab_file = dir.path().join("lab.toml");
    let text = hsmsim::lab::fixtures::built_in_text(layout.fixture).map_err(fail)?;
    let mut lab: Table = text.parse().map_err(fail)?;
    let devices = match lab.get_mut("device") {
        Some(Value::Array(devices)) => devices,
        _ => return Err(fail("the fixture has no devices")),
    };
    for device in devices.iter_mut() {
        let Value::Table(device) = device else {
            continue;
        };
        let name = device
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let is_source = name == layout.source_device;
        let is_target = name == layout.target_device;
        let is_backup = name == "backup";
        let device_ped = changes.ped != (is_target && changes.target_auth_differs);
        {
            let luna = table(device, "luna");
            if is_source {
                luna.insert("firmware".into(), changes.source_firmware.clone().into());
            }
            if is_target {
                luna.insert("firmware".into(), changes.target_firmware.clone().into());
            }
            if is_backup {
                if let Some(f) = &changes.backup_firmware {
                    luna.insert("firmware".into(), f.clone().into());
                }
                if let Some(m) = changes.backup_memory {
                    luna.insert("memory".into(), Value::Integer(m as i64));
                }
            }
            luna.insert(
                "auth".into(),
                if device_ped { "ped" } else { "password" }.into(),
            );
        }
        if is_source && changes.source_admin {
            let mut admin = Table::new();
            admin.insert("name".into(), "admin".into());
            admin.insert("label".into(), format!("{name}-admin").into());
            admin.insert("so_pin".into(), HSM_SO_PASSWORD.into());
            table(&mut admin, "luna").insert("admin".into(), true.into());
            match device.get_mut("partition") {
                Some(Value::Array(parts)) => parts.push(Value::Table(admin)),
                _ => {
                    device.insert("partition".into(), Value::Array(vec![Value::Table(admin)]));
                }
            }
        }
        if let Some(Value::Array(parts)) = device.get_mut("partition") {
            for part in parts.iter_mut() {
                let Value::Table(part) = part else { continue };
                if device_ped {
                    hsmsim::lab::fixtures::partition_to_ped(part);
                }
                if is_source && !changes.source_policies.is_empty() && part.contains_key("label") {
                    let is_admin = part
                        .get("luna")
                        .and_then(|l| l.get("admin"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if !is_admin {
                        let policies = table(table(part, "luna"), "policies");
                        for (id, value) in &changes.source_policies {
                            policies.insert(id.to_string(), Value::Integer(*value as i64));
                        }
                    }
                }
            }
        }
    }
    let text = format!(
        "# Made by the conformance runner from the built-in lab {} for one scenario.\n{}",
        layout.fixture,
        toml::to_string(&lab).map_err(fail)?
    );
    std::fs::write(&lab_file, &text).map_err(fail)?;
    let ped_keys = changes
        .ped
        .then(|| ped_keys(dir.path(), &dir.path().join("ped/red.key")));
    Ok(ScenarioLab {
        dir,
        lab_file,
        ped_keys,
    })
}
