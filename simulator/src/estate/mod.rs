//! A lab's state directory, managed from outside the module (the `hsmsim lab` commands): which
//! lab and state directory a process uses, creating a lab from a fixture, reporting on it,
//! checking its integrity (sealed values too, with the PINs), resetting it (moving an unusable
//! store aside), snapshots (save, list, restore, delete), and removing or adding partitions.
//! Everything goes through the store's transactions, so it is safe while other processes use
//! the lab; they see the result on their next call.
pub mod primus;

use crate::base::error::{Result, err};
use crate::base::ids::{DeviceId, PartitionId};
use crate::base::secrets::seal::{PinSeal, SealContext, TokenKey};
use crate::lab::definition::{Config, TokenPreset, VendorPreset};
use crate::lab::{Lab, LabError, built_in_text};
use crate::models::TokenModel;
use crate::store::records::TokenRecord;
use crate::store::{SCHEMA_VERSION, Store};
use cryptoki_sys::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Explicit choices that override the environment (the CLI's flags; the PKCS#11 module takes
/// the environment only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// A lab file (instead of `HSMSIM_CONF`).
    pub lab_file: Option<PathBuf>,
    /// A client host (instead of `HSMSIM_HOST`).
    pub host: Option<String>,
    /// A state directory (instead of `HSMSIM_STATE_DIR`).
    pub state_dir: Option<PathBuf>,
}

/// Where a built-in lab keeps its state when nothing says otherwise: `$XDG_DATA_HOME/hsmsim/<lab>`,
/// else `~/.local/share/hsmsim/<lab>`, else the temporary directory.
pub fn default_state_dir(lab: &str) -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("hsmsim").join(lab))
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share/hsmsim").join(lab))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("hsmsim").join(lab))
}

/// The configuration a process gets from its environment: the lab file named by
/// `HSMSIM_CONF` (state beside it unless `HSMSIM_STATE_DIR` says otherwise), else the built-in
/// lab `HSMSIM_LAB` (default `default`) with state in `$HSMSIM_STATE_DIR`, else
/// `default_state_dir`. `HSMSIM_HOST` picks the client host whose slots the process sees
/// (default: the lab's first host).
pub fn config_from_environment() -> std::result::Result<Config, LabError> {
    resolve_config(&Choice::default())
}

/// As `config_from_environment`, with `choice` taking precedence over the environment.
pub fn resolve_config(choice: &Choice) -> std::result::Result<Config, LabError> {
    let selection = select(choice)?;
    selection
        .lab
        .config(selection.host.as_deref(), selection.state_dir)
}

/// A new token record: blank, or initialised as a lab preset says (label, the token key sealed
/// under each role's PIN, and the vendor state: policies, cloning domain).
/// PED presets' key files are read (or created) under `state_dir`.
pub fn fresh_record(
    partition: &PartitionId,
    model: &TokenModel,
    preset: Option<&TokenPreset>,
    state_dir: &std::path::Path,
) -> Result<TokenRecord> {
    use crate::models::{luna, ped::PedKey};
    let mut record = TokenRecord::uninitialized(partition);
    record.generation = crate::base::random::random_u64()?;
    if let Some(preset) = preset {
        let key = TokenKey::generate()?;
        record.label = preset.label.clone();
        record.initialized = true;
        let mut vendor = model.initial_state();
        let pins = |pins: &mut dyn Iterator<Item = (CK_USER_TYPE, &String)>| {
            pins.map(|(u, p)| (u, p.as_bytes().to_vec())).collect()
        };
        let common = || {
            preset
                .so_pin
                .iter()
                .map(|p| (CKU_SO, p))
                .chain(preset.user_pin.iter().map(|p| (CKU_USER, p)))
        };
        let credentials: Vec<(CK_USER_TYPE, Vec<u8>)> = match &preset.vendor {
            VendorPreset::Primus(primus) => {
                vendor = Some(crate::models::PartitionState::Primus(primus.policy));
                pins(&mut preset.user_pin.iter().map(|p| (CKU_USER, p)))
            }
            VendorPreset::Luna(luna_preset) if model.uses_ped() => luna_preset
                .ped_keys
                .iter()
                .map(|(u, path)| {
                    PedKey::load_or_create(&state_dir.join(path), luna::ped_colour(*u))
                        .map(|k| (*u, k.credential()))
                })
                .collect::<Result<_>>()?,
            VendorPreset::Luna(luna_preset) => {
                pins(&mut common().chain(luna_preset.role_pins.iter().map(|(u, p)| (*u, p))))
            }
            VendorPreset::None => pins(&mut common()),
        };
        let context = SealContext {
            partition,
            generation: record.generation,
        };
        for (user, credential) in credentials {
            record.role_mut(user).seal = Some(PinSeal::new(&credential, &key, context)?);
        }
        if let (Some(device), Some(crate::models::PartitionState::Luna(state)), Some(l)) =
            (model.luna(), vendor.as_mut(), preset.luna())
        {
            let domain = match &l.domain_ped_key {
                Some(path) => Some(
                    PedKey::load_or_create(&state_dir.join(path), crate::models::ped::Colour::Red)?
                        .credential(),
                ),
                None => l.domain.as_ref().map(|d| d.as_bytes().to_vec()),
            };
            state.domain = domain.as_deref().map(luna::domain_verifier);
            for other in &l.other_domains {
                state.add_domain(device, luna::domain_verifier(other.as_bytes()))?;
            }
            state.apply(device, &l.policies, true)?;
            state.settle_version(device, luna::new_smk_id)?;
        }
        record.vendor = vendor.map(crate::models::PartitionState::stored);
    }
    Ok(record)
}

/// The file name `lab init` writes in its directory.
pub const LAB_FILE: &str = "lab.toml";

/// The lab a process uses and where its state lives.
#[derive(Debug)]
pub struct LabSelection {
    pub lab: Lab,
    /// The lab file, or `None` for a built-in lab.
    pub lab_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub host: Option<String>,
}

/// Resolves `choice` over the environment: a lab file (`choice.lab_file`, else `HSMSIM_CONF`;
/// state beside it), else the built-in lab `HSMSIM_LAB` (default `default`; state in
/// `default_state_dir`); `HSMSIM_STATE_DIR` and `HSMSIM_HOST` override the state directory and
/// host.
pub fn select(choice: &Choice) -> std::result::Result<LabSelection, LabError> {
    let env_path = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let host = choice
        .host
        .clone()
        .or_else(|| std::env::var("HSMSIM_HOST").ok().filter(|h| !h.is_empty()));
    let state_override = choice
        .state_dir
        .clone()
        .or_else(|| env_path("HSMSIM_STATE_DIR"));
    if let Some(file) = choice.lab_file.clone().or_else(|| env_path("HSMSIM_CONF")) {
        let lab = Lab::load(&file)?;
        let beside = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        return Ok(LabSelection {
            lab,
            lab_file: Some(file),
            state_dir: state_override.unwrap_or(beside),
            host,
        });
    }
    let name = std::env::var("HSMSIM_LAB")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let lab = Lab::built_in(&name)?;
    Ok(LabSelection {
        lab,
        lab_file: None,
        state_dir: state_override.unwrap_or_else(|| default_state_dir(&name)),
        host,
    })
}

/// Opens a selected lab's store, creating every partition's token the lab defines and the
/// store does not have yet, and importing the Primus card and credential files an earlier
/// build left in the state directory (`primus::import_legacy_files`).
pub fn open_store(selection: &LabSelection) -> Result<Store> {
    let store = Store::open(&selection.state_dir)?;
    for (partition, model, preset) in selection.lab.partitions() {
        store.ensure_token(&partition, || {
            fresh_record(&partition, &model, preset.as_ref(), &selection.state_dir)
        })?;
    }
    primus::import_legacy_files(selection, &store)?;
    Ok(store)
}

/// `hsmsim lab init`: writes `dir/lab.toml` from a built-in lab and creates its state. Refuses
/// to overwrite an existing lab unless `force` (then the old state is reset).
pub fn init_from_fixture(fixture: &str, dir: &Path, force: bool) -> Result<PathBuf> {
    init(fixture, dir, force).map(|(file, _)| file)
}

/// As `init_from_fixture`; with `force`, a store that cannot be used is moved aside first:
/// the second value says where.
pub fn init(fixture: &str, dir: &Path, force: bool) -> Result<(PathBuf, Option<PathBuf>)> {
    let text = built_in_text(fixture).map_err(|e| err(CKR_ARGUMENTS_BAD, e.to_string()))?;
    let file = dir.join(LAB_FILE);
    if file.exists() && !force {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "{} already exists (use --force to replace it and reset its state)",
                file.display()
            ),
        ));
    }
    crate::base::files::create_private_dir_all(dir).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    crate::base::files::write_private(&file, text.as_bytes()).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot write {}: {e}", file.display()),
        )
    })?;
    let selection = select(&Choice {
        lab_file: Some(file.clone()),
        host: None,
        state_dir: Some(dir.to_path_buf()),
    })
    .map_err(|e| err(CKR_GENERAL_ERROR, e.to_string()))?;
    let moved = if force {
        reset(&selection)?
    } else {
        open_store(&selection)?;
        None
    };
    Ok((file, moved))
}

/// What `hsmsim lab show` reports.
#[derive(Debug, Serialize)]
pub struct LabReport {
    pub lab: String,
    pub description: String,
    pub lab_file: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub schema_version: i64,
    pub devices: Vec<DeviceReport>,
    pub hosts: Vec<HostReport>,
}

#[derive(Debug, Serialize)]
pub struct DeviceReport {
    pub name: String,
    pub kind: String,
    /// The vendor model: "Luna 6.21.2 (PW), serial ...", "Primus 2.11", or "soft".
    pub model: String,
    pub partitions: Vec<PartitionReport>,
    /// Primus devices: deployment, licence items, Master/Clone state, Decanus, partition
    /// administration and migration readiness, cards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primus: Option<PrimusReport>,
}

#[derive(Debug, Serialize)]
pub struct PrimusReport {
    /// "on-premises" or "cloudhsm".
    pub deployment: &'static str,
    pub service: Option<crate::models::primus::CloudService>,
    pub firmware: String,
    /// `{"role": "master"}` or `{"role": "clone", "mode": "ha"|"manual", "clone_modify": bool}`.
    pub ha: crate::models::primus::HaRole,
    pub licences: Vec<crate::models::primus::Licence>,
    pub decanus: Option<DecanusReport>,
    pub partitions: Vec<PrimusPartitionReport>,
    pub cards: Vec<CardReport>,
}

#[derive(Debug, Serialize)]
pub struct DecanusReport {
    pub version: String,
    pub device_administration: bool,
}

#[derive(Debug, Serialize)]
pub struct PrimusPartitionReport {
    pub partition: String,
    pub management: bool,
    pub partition_administration: bool,
    /// The partition-backup (migration) preconditions the device does not meet; empty: ready.
    pub unmet: Vec<crate::models::primus::Unmet>,
}

#[derive(Debug, Serialize)]
pub struct CardReport {
    pub name: String,
    pub kind: crate::models::primus::CardKind,
    pub colour: &'static str,
    pub partition: Option<String>,
    pub attempts_left: u32,
    pub blocked: bool,
}

/// A Primus device's report, with its cards from the store.
fn primus_report(
    store: &Store,
    selection: &LabSelection,
    d: &crate::models::primus::Device,
) -> Result<PrimusReport> {
    use crate::models::primus::Deployment;
    let cards = crate::estate::primus::list_cards_in(store, selection, Some(&d.name))?
        .into_iter()
        .map(|(_, c)| CardReport {
            colour: c.kind.colour(),
            blocked: c.blocked(),
            name: c.name,
            kind: c.kind,
            partition: c.partition,
            attempts_left: c.attempts_left,
        })
        .collect();
    Ok(PrimusReport {
        deployment: match d.deployment {
            Deployment::OnPremises => "on-premises",
            Deployment::CloudHsm => "cloudhsm",
        },
        service: d.cloud_service,
        firmware: format!("{}.{}", d.firmware.0, d.firmware.1),
        ha: d.role,
        licences: d.licences.iter().copied().collect(),
        decanus: d.decanus.map(|x| DecanusReport {
            version: x.version_text(),
            device_administration: x.device_administration,
        }),
        partitions: d
            .partitions
            .iter()
            .map(|(name, admin)| PrimusPartitionReport {
                partition: format!("{}/{name}", d.name),
                management: admin.management,
                partition_administration: admin.partition_administration,
                unmet: d
                    .partition_backup_preconditions(name)
                    .err()
                    .unwrap_or_default(),
            })
            .collect(),
        cards,
    })
}

#[derive(Debug, Serialize)]
pub struct PartitionReport {
    /// "device/partition".
    pub partition: String,
    pub present: bool,
    pub initialized: bool,
    pub label: String,
    pub serial: String,
    pub user_pin_initialized: bool,
    pub objects: u64,
}

#[derive(Debug, Serialize)]
pub struct HostReport {
    pub name: String,
    pub slots: Vec<SlotReport>,
}

#[derive(Debug, Serialize)]
pub struct SlotReport {
    pub slot: u64,
    pub partition: String,
}

/// `hsmsim lab show`.
pub fn report(selection: &LabSelection) -> Result<LabReport> {
    let store = open_store(selection)?;
    let tokens = store.tokens()?;
    let counts = store.object_counts()?;
    let file = &selection.lab.file;
    let devices = file
        .devices
        .iter()
        .map(|d| {
            let primus = match selection
                .lab
                .models
                .get(d.name.get_ref())
                .and_then(|m| m.primus())
            {
                Some(p) => Some(primus_report(&store, selection, p)?),
                None => None,
            };
            Ok(DeviceReport {
                primus,
                name: d.name.get_ref().clone(),
                kind: d.kind.get_ref().clone(),
                model: match selection.lab.models.get(d.name.get_ref()) {
                    Some(crate::models::TokenModel::Luna(l)) => format!(
                        "Luna {} ({}), serial {}",
                        l.firmware,
                        l.auth.short(),
                        l.serial
                    ),
                    Some(crate::models::TokenModel::Primus(p)) => {
                        format!("Primus {}.{}", p.firmware.0, p.firmware.1)
                    }
                    _ => "soft".into(),
                },
                partitions: d
                    .partitions
                    .iter()
                    .map(|p| {
                        let id = DeviceId::new(d.name.get_ref().as_str())
                            .partition(p.name.get_ref().as_str());
                        let row = tokens.get(&id);
                        PartitionReport {
                            present: row.is_some_and(|r| r.present),
                            initialized: row.is_some_and(|r| r.present && r.record.initialized),
                            label: row.map(|r| r.record.label.clone()).unwrap_or_default(),
                            serial: row.map(|r| r.record.serial.clone()).unwrap_or_default(),
                            user_pin_initialized: row.is_some_and(|r| r.record.has_pin(CKU_USER)),
                            objects: counts.get(&id).copied().unwrap_or(0),
                            partition: id.to_string(),
                        }
                    })
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let hosts = file
        .hosts
        .iter()
        .map(|h| HostReport {
            name: h.name.get_ref().clone(),
            slots: h
                .slots
                .iter()
                .map(|s| SlotReport {
                    slot: *s.id.get_ref(),
                    partition: s.partition.get_ref().clone(),
                })
                .collect(),
        })
        .collect();
    Ok(LabReport {
        lab: file.lab.name.clone(),
        description: file.lab.description.clone(),
        lab_file: selection.lab_file.clone(),
        state_dir: selection.state_dir.clone(),
        schema_version: SCHEMA_VERSION,
        devices,
        hosts,
    })
}

/// `hsmsim lab check`: the store's problems (empty when sound), plus stored tokens the lab no
/// longer defines. Does not create anything: a lab without state is reported as such.
pub fn check(selection: &LabSelection) -> Result<Vec<String>> {
    let db = selection.state_dir.join(crate::store::DB_FILE);
    if !db.exists() {
        return Ok(vec![format!(
            "{} does not exist: the lab has no state yet (run `hsmsim lab init` or use it once)",
            db.display()
        )]);
    }
    let store = match Store::open_or_refusal(&selection.state_dir)? {
        Ok(store) => store,
        Err(refusal) => return Ok(vec![refusal.to_string()]),
    };
    let mut problems = store.check()?;
    let defined: std::collections::BTreeSet<PartitionId> = selection
        .lab
        .partitions()
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    for token in store.tokens()?.keys() {
        if !defined.contains(token) {
            problems.push(format!(
                "the store holds partition {token}, which the lab does not define"
            ));
        }
    }
    Ok(problems)
}

/// What `hsmsim lab check` found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Everything wrong (empty when sound), each naming what it is about.
    pub problems: Vec<String>,
    /// The partitions whose every sealed value was authenticated under the token key.
    pub sealed_checked: Vec<String>,
    /// The partitions with sealed values that could not be authenticated because no PIN given
    /// (nor documented in the lab file) opens their token key.
    pub sealed_unchecked: Vec<String>,
}

/// `hsmsim lab check`: `check`, then every sealed value (key material) of every partition
/// authenticated under its token key, opened with `pins` or the PINs the lab file documents
/// for the partition (its `so_pin`, `user_pin`, `crypto_user_pin`, `limited_co_pin`). Each
/// damaged object is named (partition, unique id, label). Does not log in: no failure counter
/// changes and nothing is written.
pub fn check_report(selection: &LabSelection, pins: &[String]) -> Result<CheckReport> {
    let mut report = CheckReport {
        problems: check(selection)?,
        ..CheckReport::default()
    };
    let store = match Store::open_or_refusal(&selection.state_dir) {
        Ok(Ok(store)) => store,
        // Absent, refused or unreadable: `check` already said so.
        _ => return Ok(report),
    };
    if !selection.state_dir.join(crate::store::DB_FILE).exists() {
        return Ok(report);
    }
    for (token, row) in store.tokens()? {
        if !row.present || store.objects(&token)?.iter().all(|o| o.sealed.is_none()) {
            continue;
        }
        match token_key(
            &token,
            &row.record,
            &documented_pins(selection, &token),
            pins,
        ) {
            Some(key) => {
                report.problems.extend(store.check_sealed(&token, &key)?);
                report.sealed_checked.push(token.to_string());
            }
            None => report.sealed_unchecked.push(token.to_string()),
        }
    }
    Ok(report)
}

/// The PINs the lab file gives a partition, with the role each is for.
fn documented_pins(
    selection: &LabSelection,
    partition: &PartitionId,
) -> Vec<(CK_USER_TYPE, String)> {
    let mut out = Vec::new();
    for d in &selection.lab.file.devices {
        for p in &d.partitions {
            if d.name.get_ref() != partition.device().as_str()
                || p.name.get_ref() != partition.name()
            {
                continue;
            }
            for (user, pin) in [
                (CKU_USER, &p.user_pin),
                (CKU_SO, &p.so_pin),
                (crate::models::luna::CKU_CRYPTO_USER, p.crypto_user_pin()),
                (
                    crate::models::luna::CKU_LIMITED_CRYPTO_OFFICER,
                    p.limited_co_pin(),
                ),
            ] {
                if let Some(pin) = pin {
                    out.push((user, pin.get_ref().clone()));
                }
            }
        }
    }
    out
}

/// The token key of a record, opened by a documented PIN (tried on its own role) or a given
/// one (tried on every role with a PIN seal), or kept in clear by a schema-1 migration.
fn token_key(
    partition: &PartitionId,
    record: &crate::store::records::TokenRecord,
    documented: &[(CK_USER_TYPE, String)],
    given: &[String],
) -> Option<crate::base::secrets::seal::TokenKey> {
    if let Some(key) = record.migration_key.as_deref() {
        return crate::base::secrets::seal::TokenKey::from_bytes(key).ok();
    }
    let context = crate::base::secrets::seal::SealContext {
        partition,
        generation: record.generation,
    };
    let open = |user: CK_USER_TYPE, pin: &str| {
        record
            .role(user)?
            .seal
            .as_ref()?
            .open(pin.as_bytes(), context)
    };
    given
        .iter()
        .flat_map(|pin| record.roles.keys().map(move |user| (*user, pin.as_str())))
        .chain(documented.iter().map(|(user, pin)| (*user, pin.as_str())))
        .find_map(|(user, pin)| open(user, pin))
}

/// `hsmsim lab reset`: every partition back to what the lab defines (objects gone, presets
/// re-applied), in one transaction; processes using the lab see their tokens replaced. A store
/// file that cannot be used (empty, another program's, a newer schema, damaged) is first moved
/// aside (`Store::move_aside_unusable`): returns where it went.
pub fn reset(selection: &LabSelection) -> Result<Option<PathBuf>> {
    let moved = Store::move_aside_unusable(&selection.state_dir)?;
    let store = Store::open(&selection.state_dir)?;
    let mut records = Vec::new();
    for (partition, model, preset) in selection.lab.partitions() {
        let record = fresh_record(&partition, &model, preset.as_ref(), &selection.state_dir)?;
        records.push((partition, record));
    }
    store.reset(&records)?;
    Ok(moved)
}

/// The directory a lab's snapshots live in: `<state dir>/snapshots/<NAME>/` holds the store
/// (`hsmsim.sqlite`, Primus cards and credentials included); snapshots of earlier builds also
/// hold the Primus card and credential files (`primus/`).
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// A snapshot name: 1 to 64 letters, digits, `.`, `_` or `-`, not starting with `.`.
fn snapshot_dir(selection: &LabSelection, name: &str) -> Result<PathBuf> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "\"{name}\" is not a snapshot name: use 1 to 64 letters, digits, '.', '_' or '-', \
                 not starting with '.'"
            ),
        ));
    }
    Ok(selection.state_dir.join(SNAPSHOTS_DIR).join(name))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> crate::base::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("cannot {what} {}: {e}", path.display()),
    )
}

/// Copies the regular files of the tree `from` into `to` (created private).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    crate::base::files::create_private_dir_all(to).map_err(|e| io_err("create", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io_err("read", from, e))? {
        let entry = entry.map_err(|e| io_err("read", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io_err("read", &src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            let data = std::fs::read(&src).map_err(|e| io_err("read", &src, e))?;
            crate::base::files::write_private(&dst, &data).map_err(|e| io_err("write", &dst, e))?;
        }
    }
    Ok(())
}

/// `hsmsim lab snapshot save NAME`: the whole lab state (the store, by SQLite's online backup,
/// Primus cards and credentials included) into `snapshots/NAME`, built under a temporary
/// name and renamed into place. Safe while other processes use the lab. Refuses an existing
/// name.
pub fn snapshot_save(selection: &LabSelection, name: &str) -> Result<PathBuf> {
    let target = snapshot_dir(selection, name)?;
    if target.exists() {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "snapshot \"{name}\" already exists ({}): delete it first or choose another name",
                target.display()
            ),
        ));
    }
    let store = open_store(selection)?;
    let parent = selection.state_dir.join(SNAPSHOTS_DIR);
    crate::base::files::create_private_dir_all(&parent)
        .map_err(|e| io_err("create", &parent, e))?;
    let tmp = parent.join(format!(".{name}.saving-{}", std::process::id()));
    let made = (|| {
        crate::base::files::create_private_dir_all(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        let db = tmp.join(crate::store::DB_FILE);
        crate::base::files::create_private_file(&db).map_err(|e| io_err("create", &db, e))?;
        store.save_to(&db)?;
        std::fs::rename(&tmp, &target).map_err(|e| io_err("create", &target, e))
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made.map(|()| target)
}

/// One saved snapshot.
#[derive(Debug, Serialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// When it was saved (seconds since the Unix epoch).
    pub saved: u64,
    /// The size of its store, in bytes.
    pub bytes: u64,
}

/// `hsmsim lab snapshot list`, by name.
pub fn snapshot_list(selection: &LabSelection) -> Result<Vec<SnapshotInfo>> {
    let parent = selection.state_dir.join(SNAPSHOTS_DIR);
    let entries = match std::fs::read_dir(&parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &parent, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err("read", &parent, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let db = entry.path().join(crate::store::DB_FILE);
        if name.starts_with('.') || !db.is_file() {
            continue;
        }
        let meta = std::fs::metadata(&db).map_err(|e| io_err("read", &db, e))?;
        out.push(SnapshotInfo {
            name,
            saved: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs()),
            bytes: meta.len(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn existing_snapshot(selection: &LabSelection, name: &str) -> Result<PathBuf> {
    let dir = snapshot_dir(selection, name)?;
    if !dir.join(crate::store::DB_FILE).is_file() {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("there is no snapshot \"{name}\" (see `hsmsim lab snapshot list`)"),
        ));
    }
    Ok(dir)
}

/// `hsmsim lab snapshot restore NAME`: the lab state goes back to the snapshot. The store is
/// replaced in one write (`Store::restore_from`): processes using the lab see their tokens
/// replaced (sessions end, slot events). A snapshot of an earlier build (an older store
/// schema, migrated in the copy, and Primus card and credential files) has its files
/// imported into the restored store; files left in the state directory go.
pub fn snapshot_restore(selection: &LabSelection, name: &str) -> Result<()> {
    let dir = existing_snapshot(selection, name)?;
    let store = Store::open(&selection.state_dir)?;
    store.restore_from(&dir.join(crate::store::DB_FILE))?;
    let live = selection.state_dir.join("primus");
    if live.is_dir() {
        std::fs::remove_dir_all(&live).map_err(|e| io_err("replace", &live, e))?;
    }
    let saved = dir.join("primus");
    if saved.is_dir() {
        copy_tree(&saved, &live)?;
        primus::import_legacy_files(selection, &store)?;
    }
    Ok(())
}

/// `hsmsim lab snapshot delete NAME`.
pub fn snapshot_delete(selection: &LabSelection, name: &str) -> Result<()> {
    let dir = existing_snapshot(selection, name)?;
    std::fs::remove_dir_all(&dir).map_err(|e| io_err("delete", &dir, e))
}

/// The other processes that have the lab's store open, as (pid, command name): read from
/// `/proc/<pid>/fd` (Linux; simulator-defined: elsewhere, and for processes of other users
/// this process may not inspect, none are found). For the warnings of `lab reset`, `lab init
/// --force` and `lab snapshot restore`.
pub fn other_processes(state_dir: &Path) -> Vec<(u32, String)> {
    let db = state_dir.join(crate::store::DB_FILE);
    let Ok(db) = db.canonicalize() else {
        return Vec::new();
    };
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == db))
        {
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            out.push((pid, comm.trim().to_string()));
        }
    }
    out
}

/// `hsmsim lab partition remove|add`: a partition disappears (slots showing it have no token)
/// or comes back blank.
pub fn set_partition_present(
    selection: &LabSelection,
    partition: &PartitionId,
    present: bool,
) -> Result<()> {
    if !selection
        .lab
        .partitions()
        .iter()
        .any(|(p, _, _)| p == partition)
    {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!(
                "the lab defines no partition \"{partition}\"; partitions: {}",
                selection
                    .lab
                    .partitions()
                    .into_iter()
                    .map(|(p, _, _)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    open_store(selection)?.set_partition_present(partition, present)
}

/// What `restart_device` did to one partition.
#[derive(Debug, Clone, Serialize)]
pub struct RestartedPartition {
    pub partition: String,
    /// Roles whose activation was dropped (Luna PED partitions), by user type.
    pub deactivated: Vec<CK_USER_TYPE>,
}

/// `hsmsim lab restart`: the device restarts after an outage of `outage_secs` (0: a reboot).
/// Every session on its partitions ends (simulator-defined: processes see their tokens
/// replaced, as after a power cycle); each vendor model says what else the restart does
/// (`TokenModel::restart`). One transaction.
pub fn restart_device(
    selection: &LabSelection,
    device: &DeviceId,
    outage_secs: u64,
) -> Result<Vec<RestartedPartition>> {
    let model = selection
        .lab
        .models
        .get(device.as_str())
        .cloned()
        .ok_or_else(|| {
            err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "the lab defines no device \"{device}\"; devices: {}",
                    selection
                        .lab
                        .models
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let store = open_store(selection)?;
    let mut report = Vec::new();
    store.update_tokens(device, false, |token, record| {
        let deactivated = model.restart(record, outage_secs);
        // Every process sees the token replaced (sessions end); the token and its PIN seals,
        // bound to its generation, stay.
        record.restarts = record.restarts.wrapping_add(1);
        report.push(RestartedPartition {
            partition: token.to_string(),
            deactivated,
        });
        Ok(())
    })?;
    if model.primus().is_some() {
        crate::estate::primus::clear_api_lockouts(&store, device.as_str())?;
    }
    Ok(report)
}

/// LunaSH `hsm zeroize` (and what a Primus factory reset does to its partitions): every
/// partition of the device becomes blank (objects and roles gone, serial kept) in one
/// transaction; processes using them see their tokens replaced. HSM policies stay. Returns
/// the partitions zeroised.
pub fn zeroise_device(selection: &LabSelection, device: &DeviceId) -> Result<Vec<PartitionId>> {
    if !selection.lab.models.contains_key(device.as_str()) {
        return Err(err(
            CKR_ARGUMENTS_BAD,
            format!("the lab defines no device \"{device}\""),
        ));
    }
    zeroise_device_in(&open_store(selection)?, device)
}

/// `CA_SetHSMPolicy` on a Luna device in an open store: policy `id` becomes `value` (checked
/// against the device's firmware). A destructive change (the element's off-to-on or on-to-off
/// is) is refused with `CKR_CONFIG_CHANGE_ILLEGAL` unless `destructive_ok`, and then zeroises
/// every partition of the device in the same transaction. Returns the device's changed
/// policies and whether it zeroised.
pub fn set_hsm_policy(
    store: &Store,
    device: &crate::models::luna::Device,
    id: u64,
    value: u64,
    destructive_ok: bool,
) -> Result<(std::collections::BTreeMap<u64, u64>, bool)> {
    set_hsm_policies(store, device, &[(id, value)], destructive_ok)
}

/// Several HSM policies of a Luna device at once (`CA_SetHSMPolicies`): all or none, in one
/// transaction; destructive when any change is (see `set_hsm_policy`).
pub fn set_hsm_policies(
    store: &Store,
    device: &crate::models::luna::Device,
    changes: &[(u64, u64)],
    destructive_ok: bool,
) -> Result<(std::collections::BTreeMap<u64, u64>, bool)> {
    use crate::models::luna;
    let elements = changes
        .iter()
        .map(|&(id, value)| luna::check_hsm_policy(device.firmware, id, value))
        .collect::<Result<Vec<_>>>()?;
    store.update_device_policies(&DeviceId::new(device.name.as_str()), |changed| {
        let mut any_destructive = false;
        for (&(id, value), element) in changes.iter().zip(elements) {
            let lab_value = device.hsm_policies.get(&id).copied();
            let old = changed
                .get(&id)
                .copied()
                .or(lab_value)
                .unwrap_or(element.default);
            let destructive = (old == 0 && value != 0 && element.off_to_on_destructive)
                || (old != 0 && value == 0 && element.on_to_off_destructive);
            if destructive && !destructive_ok {
                return Err(err(
                    luna::CKR_CONFIG_CHANGE_ILLEGAL,
                    format!(
                        "HSM policy {id} ({}) is destructive: it zeroises the partitions; use CA_SetDestructiveHSMPolicy",
                        element.description
                    ),
                ));
            }
            changed.insert(id, value);
            any_destructive |= destructive;
        }
        Ok(any_destructive)
    })
}

/// Zeroises `device` in an open store: the one operation behind LunaSH `hsm zeroize` (above)
/// and the HSM SO's failed-login consequence (the engine, which then replaces its slots).
pub fn zeroise_device_in(store: &Store, device: &DeviceId) -> Result<Vec<PartitionId>> {
    store.update_tokens(
        device,
        true,
        crate::store::records::blank_record_keeping_serial,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(dir: &Path) -> LabSelection {
        select(&Choice {
            lab_file: Some(dir.join(LAB_FILE)),
            host: None,
            state_dir: None,
        })
        .unwrap()
    }

    #[test]
    fn zeroising_a_device_blanks_its_partitions_only() {
        let dir = tempfile::tempdir().unwrap();
        init_from_fixture("luna-usb-to-network7", dir.path(), false).unwrap();
        let sel = selection(dir.path());
        let zeroised = zeroise_device(&sel, &DeviceId::new("usb6")).unwrap();
        assert!(!zeroised.is_empty());
        assert!(zeroised.iter().all(|p| p.is_on(&DeviceId::new("usb6"))));
        let report = report(&sel).unwrap();
        for d in &report.devices {
            for p in &d.partitions {
                if d.name == "usb6" {
                    assert!(!p.initialized, "{} is blank", p.partition);
                }
            }
        }
        assert!(
            report
                .devices
                .iter()
                .any(|d| d.name != "usb6" && d.partitions.iter().any(|p| p.initialized)),
            "other devices keep their tokens"
        );
        assert_eq!(
            zeroise_device(&sel, &DeviceId::new("nosuch"))
                .unwrap_err()
                .rv,
            CKR_ARGUMENTS_BAD
        );
    }

    #[test]
    fn init_show_check_reset_and_partition_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = init_from_fixture("default", dir.path(), false).unwrap();
        assert_eq!(file, dir.path().join(LAB_FILE));
        assert_eq!(
            init_from_fixture("default", dir.path(), false)
                .unwrap_err()
                .rv,
            CKR_FUNCTION_FAILED
        );
        assert_eq!(
            init_from_fixture("nope", dir.path(), true).unwrap_err().rv,
            CKR_ARGUMENTS_BAD
        );
        let sel = selection(dir.path());
        assert_eq!(sel.state_dir, dir.path());
        let r = report(&sel).unwrap();
        assert_eq!(r.lab, "default");
        let parts = &r.devices[0].partitions;
        assert!(parts[0].initialized && parts[0].user_pin_initialized);
        assert_eq!(parts[0].label, "hsmsim-default");
        assert!(!parts[1].initialized && parts[1].present);
        assert_eq!(r.hosts[0].slots.len(), 3);
        assert!(check(&sel).unwrap().is_empty());

        set_partition_present(&sel, &"hsm1/blank2".parse().unwrap(), false).unwrap();
        let r = report(&sel).unwrap();
        assert!(!r.devices[0].partitions[2].present);
        assert_eq!(
            set_partition_present(&sel, &"hsm1/blank2".parse().unwrap(), false)
                .unwrap_err()
                .rv,
            CKR_FUNCTION_FAILED
        );
        assert_eq!(
            set_partition_present(&sel, &"hsm1/nope".parse().unwrap(), true)
                .unwrap_err()
                .rv,
            CKR_ARGUMENTS_BAD
        );
        reset(&sel).unwrap();
        let r = report(&sel).unwrap();
        assert!(r.devices[0].partitions.iter().all(|p| p.present));
        assert!(check(&sel).unwrap().is_empty());
    }

    #[test]
    fn check_reports_a_lab_without_state_and_a_damaged_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LAB_FILE), built_in_text("default").unwrap()).unwrap();
        let sel = selection(dir.path());
        assert_eq!(check(&sel).unwrap().len(), 1);
        open_store(&sel).unwrap();
        assert!(check(&sel).unwrap().is_empty());
        let conn = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
        conn.execute(
            "INSERT INTO objects (unique_id, token, public, sealed) VALUES ('x', 'hsm9/p', x'00', NULL)",
            [],
        )
        .unwrap();
        drop(conn);
        let problems = check(&sel).unwrap();
        assert!(
            problems.iter().any(|p| p.contains("hsm9/p")),
            "{problems:?}"
        );
    }
}
