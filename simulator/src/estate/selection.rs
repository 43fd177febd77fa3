//! Which lab and state directory a process uses: explicit choices over the environment
//! (`HSMSIM_CONF`, `HSMSIM_LAB`, `HSMSIM_HOST`, `HSMSIM_STATE_DIR`), the engine configuration
//! for a host's view, a lab device's model, opening a lab's store with every partition's token
//! created, and the other processes that have the lab open.
use super::*;

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

impl LabSelection {
    /// The token model of the lab's device `device`; `CKR_ARGUMENTS_BAD` naming the lab's
    /// devices when it has none of that name.
    pub fn device_model(&self, device: &DeviceId) -> Result<TokenModel> {
        self.lab
            .models
            .get(device.as_str())
            .cloned()
            .ok_or_else(|| {
                err(
                    CKR_ARGUMENTS_BAD,
                    format!(
                        "the lab defines no device \"{device}\"; devices: {}",
                        self.lab
                            .models
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }
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
