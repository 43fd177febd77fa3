//! The tokens a run talks to. Modules are loaded and tokens found by the consoles' backend
//! (`hsmsim_consoles::backend::module`: one `C_Initialize` per module per process); `sim` is
//! this simulator's module on a scratch lab the runner creates, so results never depend on the
//! user's own state.
//! Each party is one token of one module, chosen by the URI's path attributes, with the
//! capabilities the runner discovered: mechanisms, Luna `CA_*` extensions, login model; its
//! PIN comes from the URI (`pin-value`, `pin-source=FILE`, `pin-source=env:VARIABLE`) or a
//! prompt. The pre-flight (`Party::preflight`) protects real tokens: a role at its last try is
//! never tried, and a refused PIN is never tried again.
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::CK_MECHANISM_TYPE;
use hsmsim_consoles::backend::module::{
    self, Module, ModuleError, SimulatorLab, choose_token, module_path,
};
use hsmsim_consoles::backend::uri::TargetName;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The host the scratch lab adds: it sees every partition of the `primus` fixture.
pub const SCRATCH_HOST: &str = "conformance";

/// Why a target cannot be used (the run stops before any scenario): the backend's error, for
/// what this file checks as for what the backend finds.
fn target_err(e: impl fmt::Display) -> ModuleError {
    ModuleError(e.to_string())
}

/// What a party's token can do, discovered before any scenario runs.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// Every mechanism the token lists (raw values: cryptoki's list drops those it does not
    /// know).
    pub mechanisms: BTreeSet<CK_MECHANISM_TYPE>,
    /// Luna `CA_*` extensions (`CA_GetFunctionList` exported).
    pub ca_extensions: bool,
    /// The token authenticates through a PIN pad or PED (`CKF_PROTECTED_AUTHENTICATION_PATH`).
    pub protected_auth_path: bool,
    pub login_required: bool,
    pub manufacturer: String,
    pub model: String,
}

impl Capabilities {
    pub fn has(&self, mechanism: CK_MECHANISM_TYPE) -> bool {
        self.mechanisms.contains(&mechanism)
    }
}

/// Which side of a procedure a party plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Origin,
    Target,
}

impl Role {
    /// "origin" or "target": the party a call record names.
    pub fn name(self) -> &'static str {
        match self {
            Role::Origin => "origin",
            Role::Target => "target",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One token a procedure runs against.
pub struct Party {
    pub role: Role,
    /// As the user named it (`sim`, or the URI without its PIN).
    pub name: String,
    pub module: Arc<Module>,
    pub slot: Slot,
    pub token_label: String,
    pin: Option<AuthPin>,
    /// The token refused this party's PIN once: no further login is ever attempted with it
    /// (a second failure could lock the role on a real token).
    pin_refused: AtomicBool,
    pub caps: Capabilities,
}

impl fmt::Debug for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("role", &self.role)
            .field("name", &self.name)
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

impl Party {
    /// A read/write session, logged in as the user (already logged in is fine: the login
    /// state is shared by every session of the token). Once the token has refused the PIN, no
    /// login is attempted again: the same refusal is answered without calling the token.
    pub fn session(&self) -> Result<Session, cryptoki::error::Error> {
        use cryptoki::error::{Error, RvError};
        if self.pin_refused.load(Ordering::SeqCst) {
            return Err(Error::Pkcs11(
                RvError::PinIncorrect,
                cryptoki::context::Function::Login,
            ));
        }
        let session = self.module.pkcs11.open_rw_session(self.slot)?;
        match session.login(UserType::User, self.pin.as_ref()) {
            Ok(()) => Ok(session),
            Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => {
                if let Error::Pkcs11(rv, _) = &e
                    && refuses_pin(rv)
                {
                    self.pin_refused.store(true, Ordering::SeqCst);
                }
                Err(e)
            }
        }
    }

    /// The pre-flight check a run makes before any scenario: the token's PIN flags are read
    /// and, when the user or SO role is locked or its next failed login would lock it
    /// (`CKF_*_PIN_LOCKED`, `CKF_*_PIN_FINAL_TRY`), the party is refused without any login
    /// attempt; otherwise the party logs in once. A refused PIN is never tried again (see
    /// `session`), so a wrong PIN costs exactly one failed login. Returns the logged-in session.
    pub fn preflight(&self) -> Result<Session, ModuleError> {
        let info =
            self.module.pkcs11.get_token_info(self.slot).map_err(|e| {
                ModuleError(format!("{}: C_GetTokenInfo failed: {e}", self.describe()))
            })?;
        let stop = |what: &str| {
            Err(ModuleError(format!(
                "{}: {what}; no login was attempted (another failure could lock it)",
                self.describe()
            )))
        };
        if info.user_pin_locked() {
            return stop("the token says the user PIN is locked (CKF_USER_PIN_LOCKED)");
        }
        if info.user_pin_final_try() {
            return stop(
                "the token says the next failed user login locks the user PIN (CKF_USER_PIN_FINAL_TRY)",
            );
        }
        if info.so_pin_locked() {
            return stop("the token says the SO PIN is locked (CKF_SO_PIN_LOCKED)");
        }
        if info.so_pin_final_try() {
            return stop(
                "the token says the next failed SO login locks the SO PIN (CKF_SO_PIN_FINAL_TRY)",
            );
        }
        self.session().map_err(|e| match &e {
            cryptoki::error::Error::Pkcs11(rv, _) if refuses_pin(rv) => ModuleError(format!(
                "{} refused the PIN (C_Login: {}): that is one failed login, and no other will be attempted; give the right PIN",
                self.describe(),
                hsmsim_consoles::backend::outcome::ckr_name(rv)
            )),
            cryptoki::error::Error::Pkcs11(rv, _) => ModuleError(format!(
                "cannot log in to {}: C_Login: {}",
                self.describe(),
                hsmsim_consoles::backend::outcome::ckr_name(rv)
            )),
            other => ModuleError(format!("cannot log in to {}: {other}", self.describe())),
        })
    }

    /// The PIN the URI (or the prompt) gave, for a process of the run's own that logs in by
    /// itself (a Luna scenario's console workers); `None` on a PED or PIN pad. Refused once
    /// the token has refused it: it is never tried again, in this process or another.
    pub fn pin_for_worker(&self) -> Result<Option<String>, String> {
        use secrecy::ExposeSecret;
        if self.pin_refused.load(Ordering::SeqCst) {
            return Err(format!(
                "{} refused its PIN once: no other login is attempted with it",
                self.describe()
            ));
        }
        Ok(self.pin.as_ref().map(|p| p.expose_secret().to_string()))
    }

    /// A process of the run's own saw the token refuse this party's PIN (or the role locked):
    /// from now on no login is attempted with it, here or in a worker.
    pub fn note_pin_refused(&self) {
        self.pin_refused.store(true, Ordering::SeqCst);
    }

    /// "origin ACME-PKI (sim)" and the like, for reports.
    pub fn describe(&self) -> String {
        format!("{} token {:?} ({})", self.role, self.token_label, self.name)
    }
}

/// The lab behind `sim`: a scratch lab made for the run, or the user's own lab.
struct SimLab {
    /// Keeps a scratch lab's directory alive.
    _dir: Option<tempfile::TempDir>,
    /// The simulator's lab, as its `C_Initialize` reads it.
    env: SimulatorLab,
    /// Token label -> user PIN, from the lab.
    pins: HashMap<String, String>,
}

/// The simulator's lab in this process (the simulator is initialised on one lab per process).
static SIM_LAB: Mutex<Option<Arc<SimLab>>> = Mutex::new(None);

/// Ends this process's use of the modules and the simulator's lab: every module is finalised
/// (`C_Finalize`) and unloaded, then a scratch lab's directory is removed. Call it once a run
/// is over (statics are never dropped by Rust).
pub fn finish() {
    module::finish();
    if let Ok(mut lab) = SIM_LAB.lock() {
        lab.take();
    }
}

/// The lab file the simulator's module runs on in this process, and whether it is the run's
/// scratch copy (of the `primus` fixture) rather than the user's lab; `None` before any `sim`
/// party.
pub fn sim_lab_file() -> Option<(PathBuf, bool)> {
    let lab = SIM_LAB.lock().ok()?;
    let lab = lab.as_ref()?;
    Some((lab.env.lab_file.clone()?, lab._dir.is_some()))
}

/// The scratch lab's directory, if this process made one (what an immediate exit removes
/// itself, as `finish` would).
pub fn scratch_dir() -> Option<PathBuf> {
    let lab = SIM_LAB.lock().ok()?;
    lab.as_ref()?._dir.as_ref().map(|d| d.path().to_path_buf())
}

/// The tokens a user's lab offers `sim` parties: each initialised partition's label and
/// whether the lab file documents its user PIN. Fails with the reason when the lab cannot be
/// opened.
pub fn lab_tokens(choice: &hsmsim::estate::Choice) -> Result<Vec<(String, bool)>, ModuleError> {
    let selection = hsmsim::estate::select(choice).map_err(target_err)?;
    Ok(selection
        .lab
        .partitions()
        .into_iter()
        .filter_map(|(_, _, preset)| preset)
        .map(|p| (p.label, p.user_pin.is_some()))
        .collect())
}

/// Token labels and user PINs of a lab's initialised partitions.
fn lab_pins(selection: &hsmsim::estate::LabSelection) -> HashMap<String, String> {
    selection
        .lab
        .partitions()
        .into_iter()
        .filter_map(|(_, _, preset)| preset)
        .filter_map(|p| p.user_pin.map(|pin| (p.label, pin)))
        .collect()
}

/// How a run reaches its tokens: where the simulator's module is, and which lab `sim` means.
/// Modules and the simulator's lab are per process (one `C_Initialize` per module per process).
pub struct Environment {
    sim_module: Option<PathBuf>,
    /// The user's lab for `sim` (the CLI's `primus-tools`), else a scratch lab.
    user_lab: Option<hsmsim::estate::Choice>,
    /// Asks for a PIN the URI does not give (the CLI prompts without echo on a terminal).
    prompt: Option<PinPrompt>,
    /// Discovery only (`--dry-run`): no PIN is needed, none is asked for.
    discovery_only: bool,
}

/// Asks the person at the terminal for a PIN, given the question; `None` when nobody can be
/// asked.
pub type PinPrompt = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl Environment {
    /// `sim_module`: the simulator's `libhsmsim.so`; `sim` is a scratch copy of the `primus`
    /// lab made for the run.
    pub fn new(sim_module: Option<PathBuf>) -> Environment {
        Environment {
            sim_module,
            user_lab: None,
            prompt: None,
            discovery_only: false,
        }
    }

    /// As `new`, but `sim` is the user's lab as `choice` selects it (objects persist between
    /// runs: what `hsmsim primus-tools` needs to type a procedure step by step).
    pub fn with_user_lab(
        sim_module: Option<PathBuf>,
        choice: hsmsim::estate::Choice,
    ) -> Environment {
        Environment {
            sim_module,
            user_lab: Some(choice),
            prompt: None,
            discovery_only: false,
        }
    }

    /// A PIN a token needs and its URI does not give is asked for through `prompt`.
    pub fn with_pin_prompt(mut self, prompt: PinPrompt) -> Environment {
        self.prompt = Some(prompt);
        self
    }

    /// Discovery only: parties are resolved without a PIN (none is needed, none is asked for).
    pub fn discovery_only(mut self) -> Environment {
        self.discovery_only = true;
        self
    }

    fn sim_lab(&self) -> Result<Arc<SimLab>, ModuleError> {
        let mut guard = SIM_LAB.lock().map_err(target_err)?;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let lab = match &self.user_lab {
            Some(choice) => Self::user_lab(choice)?,
            None => Self::scratch_lab()?,
        };
        let lab = Arc::new(lab);
        *guard = Some(lab.clone());
        Ok(lab)
    }

    fn user_lab(choice: &hsmsim::estate::Choice) -> Result<SimLab, ModuleError> {
        let selection = hsmsim::estate::select(choice).map_err(target_err)?;
        Ok(SimLab {
            _dir: None,
            env: SimulatorLab {
                lab_file: selection.lab_file.clone(),
                host: selection.host.clone(),
                state_dir: selection.state_dir.clone(),
            },
            pins: lab_pins(&selection),
        })
    }

    fn scratch_lab() -> Result<SimLab, ModuleError> {
        let dir = tempfile::tempdir().map_err(target_err)?;
        let lab_file = hsmsim::estate::init_from_fixture("primus", dir.path(), false)
            .map_err(|e| ModuleError(format!("cannot create the scratch lab: {e}")))?;
        // The state lives in the scratch directory whatever HSMSIM_STATE_DIR says.
        let selection = hsmsim::estate::select(&hsmsim::estate::Choice {
            lab_file: Some(lab_file.clone()),
            host: None,
            state_dir: Some(dir.path().to_path_buf()),
        })
        .map_err(target_err)?;
        let slots: Vec<String> = selection
            .lab
            .partitions()
            .into_iter()
            .enumerate()
            .map(|(i, (partition, _, _))| format!("  {{ id = {i}, partition = \"{partition}\" }},"))
            .collect();
        let host = format!(
            "\n# Added by the conformance runner: one host that sees every partition.\n[[host]]\nname = \"{SCRATCH_HOST}\"\nslot = [\n{}\n]\n",
            slots.join("\n")
        );
        let mut text = std::fs::read_to_string(&lab_file).map_err(target_err)?;
        text.push_str(&host);
        std::fs::write(&lab_file, text).map_err(target_err)?;
        Ok(SimLab {
            env: SimulatorLab {
                lab_file: Some(lab_file),
                host: Some(SCRATCH_HOST.to_string()),
                state_dir: dir.path().to_path_buf(),
            },
            pins: lab_pins(&selection),
            _dir: Some(dir),
        })
    }

    /// Resolves a party: `sim` uses the scratch lab's partition labelled `default_sim_token`
    /// unless the name says otherwise.
    pub fn party(
        &self,
        name: &TargetName,
        display: &str,
        role: Role,
        default_sim_token: &str,
    ) -> Result<Party, ModuleError> {
        let (module, selector, pin) = match name {
            TargetName::Sim { selector } => {
                let path = self.sim_module.clone().ok_or_else(|| {
                    ModuleError(
                        "`sim` needs the simulator's module libhsmsim.so: build it (cargo build) or set HSMSIM_MODULE".into(),
                    )
                })?;
                let lab = self.sim_lab()?;
                let module = module::open(&path, Some(&lab.env))?;
                let mut selector = selector.clone();
                if selector.is_empty() {
                    selector.token = Some(default_sim_token.to_string());
                }
                let pin = selector
                    .token
                    .as_ref()
                    .and_then(|t| lab.pins.get(t))
                    .cloned();
                (module, selector, pin)
            }
            TargetName::Uri(uri) => {
                let path = module_path(uri)?;
                let module = module::open(&path, None)?;
                let pin = match (&uri.pin_value, &uri.pin_source) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Some(source)) => Some(pin_from_source(source)?),
                    (None, None) => None,
                };
                (module, uri.selector.clone(), pin)
            }
        };
        let slot = choose_token(&module, &selector)?;
        let info = module.pkcs11.get_token_info(slot).map_err(target_err)?;
        let mechanisms = module
            .raw
            .mechanisms(slot.id())
            .map_err(|rv| {
                ModuleError(format!(
                    "C_GetMechanismList failed: {}",
                    hsmsim_consoles::backend::outcome::rv_name(rv)
                ))
            })?
            .into_iter()
            .collect();
        let caps = Capabilities {
            mechanisms,
            ca_extensions: module.ca_extensions,
            protected_auth_path: info.protected_authentication_path(),
            login_required: info.login_required(),
            manufacturer: info.manufacturer_id().trim().to_string(),
            model: info.model().trim().to_string(),
        };
        let label = info.label().trim().to_string();
        let mut pin = pin;
        if pin.is_none() && caps.login_required && !caps.protected_auth_path && !self.discovery_only
        {
            pin = self
                .prompt
                .as_ref()
                .and_then(|ask| ask(&format!("PIN of the {role} token {label:?}: ")));
            if pin.is_none() {
                return Err(ModuleError(format!(
                    "{display}: the token {label:?} needs a PIN: add pin-source=FILE or pin-source=env:VARIABLE (or pin-value=PIN) to the URI, or run on a terminal to be asked for it"
                )));
            }
        }
        Ok(Party {
            role,
            name: display.to_string(),
            module,
            slot,
            token_label: label,
            pin: pin.map(|p| AuthPin::new(p.into())),
            pin_refused: AtomicBool::new(false),
            caps,
        })
    }
}

/// The PIN a URI's `pin-source` names: a file (without its trailing newline), or, simulator-defined,
/// `env:VARIABLE` (an environment variable), for automation that keeps PINs out of files.
fn pin_from_source(source: &Path) -> Result<String, ModuleError> {
    if let Some(var) = source.to_str().and_then(|s| s.strip_prefix("env:")) {
        return std::env::var(var).map_err(|_| {
            ModuleError(format!(
                "pin-source=env:{var}: the environment variable {var} is not set (or not UTF-8)"
            ))
        });
    }
    Ok(hsmsim::base::files::read_to_string(source)
        .map_err(|e| ModuleError(format!("cannot read pin-source {}: {e}", source.display())))?
        .trim_end_matches(['\r', '\n'])
        .to_string())
}

/// Whether a login's answer says the PIN (or the role) was refused: such a login must not be
/// repeated.
fn refuses_pin(rv: &cryptoki::error::RvError) -> bool {
    use cryptoki::error::RvError;
    matches!(
        rv,
        RvError::PinIncorrect
            | RvError::PinLocked
            | RvError::PinExpired
            | RvError::PinInvalid
            | RvError::PinLenRange
    )
}
