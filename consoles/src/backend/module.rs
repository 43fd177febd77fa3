//! Loading PKCS#11 modules and finding their tokens. A module file is loaded once per process
//! (cryptoki over libloading, entered through `C_GetInterface` when the module has it, else
//! `C_GetFunctionList`, as applications do) and initialised once (`C_Initialize`), whoever
//! asks for it; the simulator's module is initialised on the lab a [`SimulatorLab`] names.
//! (A module that hands out a new instance per `C_GetFunctionList`, as p11-kit's client does,
//! has a second instance initialised for the raw mechanism list: `raw`'s module comment.)
//! A token is the one initialised token of a module that an RFC 7512 selector names.
//!
//! The simulator's module file serves the engine linked into this program
//! (`raw::serve_host_engine`): this program runs the lab's estate operations through the
//! `hsmsim` crate too, and two engines in one process would each bring their own SQLite to
//! the lab's database, whose POSIX locks do not tell them apart (`hsmsim::pkcs11::host`).
//! So there is one engine, one store connection registry and one SQLite per process, the
//! module file is still what cryptoki loads and enters, and a crash or another process sees
//! the same locking as from any other process.
use super::raw::RawModule;
use super::uri::{Pkcs11Uri, TokenSelector};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::slot::Slot;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a module or a token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError(pub String);

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModuleError {}

fn module_err(e: impl fmt::Display) -> ModuleError {
    ModuleError(e.to_string())
}

/// A loaded, initialised PKCS#11 module.
pub struct Module {
    pub path: PathBuf,
    pub pkcs11: Pkcs11,
    /// The module's function table, for the calls cryptoki cannot make.
    pub raw: RawModule,
    /// The module exports Luna's `CA_GetFunctionList`.
    pub ca_extensions: bool,
    /// The module is this simulator, initialised on a [`SimulatorLab`].
    pub simulator: bool,
}

/// The lab the simulator's module is initialised on, given to it through the environment it
/// reads at `C_Initialize` (`HSMSIM_CONF`, `HSMSIM_HOST`, `HSMSIM_STATE_DIR`).
#[derive(Debug, Clone)]
pub struct SimulatorLab {
    pub lab_file: Option<PathBuf>,
    pub host: Option<String>,
    pub state_dir: PathBuf,
}

impl SimulatorLab {
    /// Runs `f` (the simulator's `C_Initialize`) with the variables set, then restores them.
    fn around<T>(&self, f: impl FnOnce() -> T) -> T {
        let vars: [(&str, Option<OsString>); 3] = [
            ("HSMSIM_CONF", self.lab_file.clone().map(Into::into)),
            ("HSMSIM_HOST", self.host.clone().map(Into::into)),
            ("HSMSIM_STATE_DIR", Some(self.state_dir.clone().into())),
        ];
        let saved: Vec<_> = vars
            .iter()
            .map(|(k, _)| (*k, std::env::var_os(k)))
            .collect();
        let set = |vars: &[(&str, Option<OsString>)]| {
            for (key, value) in vars {
                // SAFETY: modules are loaded (under MODULES' lock) before any scenario thread
                // starts, and the only reader of these variables is the simulator's
                // C_Initialize, through Rust's std::env, which synchronises with set_var.
                unsafe {
                    match value {
                        Some(v) => std::env::set_var(key, v),
                        None => std::env::remove_var(key),
                    }
                }
            }
        };
        set(&vars);
        let out = f();
        set(&saved);
        out
    }
}

impl Module {
    fn load(path: &Path, sim: Option<&SimulatorLab>) -> Result<Module, ModuleError> {
        if sim.is_some() {
            super::raw::serve_host_engine(path).map_err(ModuleError)?;
        }
        let pkcs11 = Pkcs11::new(path).map_err(|e| {
            ModuleError(format!(
                "cannot load the PKCS#11 module {}: {e}",
                path.display()
            ))
        })?;
        let initialize =
            || pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
        match sim {
            Some(lab) => lab.around(initialize),
            None => initialize(),
        }
        .map_err(|e| ModuleError(format!("C_Initialize of {} failed: {e}", path.display())))?;
        let raw = match sim {
            Some(_) => RawModule::in_process(),
            None => RawModule::load(path),
        }
        .map_err(ModuleError)?;
        Ok(Module {
            path: path.to_path_buf(),
            raw,
            ca_extensions: exports_symbol(path, b"CA_GetFunctionList\0"),
            simulator: sim.is_some(),
            pkcs11,
        })
    }
}

/// Whether the module file exports `symbol` (capability discovery of vendor extensions).
fn exports_symbol(path: &Path, symbol: &[u8]) -> bool {
    // SAFETY: loading the module again only bumps its reference count (it is loaded and
    // initialised already, and the simulator links with -z nodelete); looking a symbol up does
    // not call it.
    let Ok(library) = (unsafe { libloading::Library::new(path) }) else {
        return false;
    };
    // SAFETY: the symbol is only checked for presence, never called through this type.
    unsafe { library.get::<unsafe extern "C" fn()>(symbol) }.is_ok()
}

/// The modules loaded in this process, by canonical path: a module is initialised once per
/// process, whoever asks for it.
static MODULES: Mutex<Option<HashMap<PathBuf, Arc<Module>>>> = Mutex::new(None);

/// The module at `path`, loaded and initialised the first time it is asked for (the
/// simulator's on `sim`, its lab), the same one afterwards.
pub fn open(path: &Path, sim: Option<&SimulatorLab>) -> Result<Arc<Module>, ModuleError> {
    let key = path.canonicalize().map_err(|e| {
        ModuleError(format!(
            "the PKCS#11 module {} is not there: {e}",
            path.display()
        ))
    })?;
    let mut guard = MODULES.lock().map_err(module_err)?;
    let modules = guard.get_or_insert_with(HashMap::new);
    if let Some(m) = modules.get(&key) {
        if m.simulator != sim.is_some() {
            return Err(ModuleError(format!(
                "{} is the simulator's module: name it `sim` on both sides, or load another module (one C_Initialize per process)",
                key.display()
            )));
        }
        return Ok(m.clone());
    }
    let module = Arc::new(Module::load(&key, sim)?);
    modules.insert(key, module.clone());
    Ok(module)
}

/// Ends this process's use of the modules: every module is finalised (`C_Finalize`) and
/// unloaded (statics are never dropped by Rust).
pub fn finish() {
    if let Ok(mut modules) = MODULES.lock() {
        modules.take();
    }
}

/// The module file a URI names: `module-path`, else `module-name` in the usual PKCS#11
/// directories.
pub fn module_path(uri: &Pkcs11Uri) -> Result<PathBuf, ModuleError> {
    if let Some(p) = &uri.module_path {
        return Ok(p.clone());
    }
    let name = uri.module_name.as_deref().unwrap_or_default();
    // RFC 7512: module-name is the file name without the platform's prefix and suffix.
    for dir in [
        "/usr/lib/x86_64-linux-gnu/pkcs11",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/softhsm",
        "/usr/lib/pkcs11",
        "/usr/lib",
    ] {
        for file in [format!("lib{name}.so"), format!("{name}.so")] {
            let candidate = Path::new(dir).join(&file);
            if candidate.exists() {
                return Ok(candidate);
            }
        }
    }
    Err(ModuleError(format!(
        "module-name={name}: no lib{name}.so in the usual PKCS#11 directories; give module-path"
    )))
}

/// The one token-present slot the selector names (all of it must match).
pub fn choose_token(module: &Module, selector: &TokenSelector) -> Result<Slot, ModuleError> {
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in module.pkcs11.get_slots_with_token().map_err(module_err)? {
        let token = module.pkcs11.get_token_info(slot).map_err(module_err)?;
        let info = module.pkcs11.get_slot_info(slot).map_err(module_err)?;
        let label = token.label().trim();
        seen.push(format!("slot {} {label:?}", slot.id()));
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w.trim() == have.trim())
        };
        if matches(&selector.token, label)
            && matches(&selector.manufacturer, token.manufacturer_id())
            && matches(&selector.serial, token.serial_number())
            && matches(&selector.model, token.model())
            && matches(&selector.slot_description, info.slot_description())
            && matches(&selector.slot_manufacturer, info.manufacturer_id())
            && selector.slot_id.is_none_or(|id| id == slot.id())
            && token.token_initialized()
        {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(ModuleError(format!(
            "no initialised token of {} matches {selector}; tokens: {}",
            module.path.display(),
            seen.join(", ")
        ))),
        _ => Err(ModuleError(format!(
            "{} tokens of {} match {selector}: add token=LABEL or slot-id=N",
            found.len(),
            module.path.display()
        ))),
    }
}

/// Where the simulator's module is: `HSMSIM_MODULE`, else `libhsmsim.so` beside the running
/// program, in its `deps/` (where cargo builds it as a dependency) or one directory up (cargo
/// puts test programs in `deps/`).
pub fn find_sim_module() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HSMSIM_MODULE") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // The newest of them: `cargo run -p hsmsim-cli` refreshes only the one in deps/.
    [
        dir.join("libhsmsim.so"),
        dir.join("deps/libhsmsim.so"),
        dir.join("../libhsmsim.so"),
    ]
    .into_iter()
    .filter_map(|p| {
        let modified = std::fs::metadata(&p).and_then(|m| m.modified()).ok()?;
        Some((modified, p))
    })
    .max_by_key(|(modified, _)| *modified)
    .map(|(_, p)| p)
}
