//! The engine: slots, tokens, sessions and login state of one process, on top of the store.
//! Plain Rust with `Result<T, Error>`; the ABI layer turns calls into these methods.
//!
//! Concurrency: sessions live in a sharded map, each behind its own mutex; objects live in a
//! sharded map of `Arc<Object>` snapshots; a slot's login state is an atomic. The sign / verify
//! / encrypt path therefore takes no token-wide lock and never touches storage.
mod crypto;
pub use crypto::{Call, Output};
mod message;
pub use message::{GcmMessage, MessageOutput};
pub use objects::AttrLookup;
mod objects;
pub mod session;

use crate::error::{Result, err};
use crate::object::{Lifetime, Object};
use crate::store::Store;
use crate::token::{self, PinVerifier, TokenRecord};
use cryptoki_sys::*;
use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
pub use session::Session;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const MANUFACTURER: &str = "hsmsim";
pub const MODEL: &str = "hsmsim soft HSM";

/// How the engine is set up: where state lives and which slots exist.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    pub slots: Vec<SlotConfig>,
}

/// One slot and, optionally, the token it holds when first created.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    pub id: CK_SLOT_ID,
    /// The partition shown in the slot ("device/partition"): the token's identity in the store.
    pub partition: String,
    pub description: String,
    /// The token to initialise the slot with on first use (`None`: a blank token).
    pub preset: Option<TokenPreset>,
}

/// An initialised token as a lab defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPreset {
    pub label: String,
    pub so_pin: String,
    pub user_pin: Option<String>,
}

/// The built-in default lab's user PIN (`fixtures/labs/default.toml`, documented in the README).
pub const DEFAULT_USER_PIN: &str = "12345678";

impl Config {
    /// The configuration a process gets from its environment: the lab file named by
    /// `HSMSIM_CONF` (state beside it unless `HSMSIM_STATE_DIR` says otherwise), else the
    /// built-in lab `HSMSIM_LAB` (`default` or `generic`; default `default`) with state in
    /// `$HSMSIM_STATE_DIR`, else `$XDG_DATA_HOME/hsmsim/<lab>`, else
    /// `~/.local/share/hsmsim/<lab>`. `HSMSIM_HOST` picks the client host whose slots the
    /// process sees (default: the lab's first host).
    pub fn from_environment() -> std::result::Result<Config, crate::lab::LabError> {
        let host = std::env::var("HSMSIM_HOST").ok();
        let state_override = std::env::var_os("HSMSIM_STATE_DIR").map(PathBuf::from);
        if let Some(conf) = std::env::var_os("HSMSIM_CONF").map(PathBuf::from) {
            let lab = crate::lab::Lab::load(&conf)?;
            let beside = conf.parent().map(PathBuf::from).unwrap_or_default();
            return lab.config(host.as_deref(), state_override.unwrap_or(beside));
        }
        let name = std::env::var("HSMSIM_LAB").unwrap_or_else(|_| "default".into());
        let lab = crate::lab::Lab::built_in(&name)?;
        let state_dir = state_override
            .or_else(|| {
                std::env::var_os("XDG_DATA_HOME")
                    .map(|d| PathBuf::from(d).join("hsmsim").join(&name))
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".local/share/hsmsim").join(&name))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("hsmsim").join(&name));
        lab.config(host.as_deref(), state_dir)
    }
}

/// One slot: its token record (behind a lock taken only by token-management calls) and the
/// process's login state (an atomic read on every object access).
pub struct Slot {
    pub id: CK_SLOT_ID,
    /// The partition the slot shows ("device/partition"); keys the token in the store.
    pub partition: String,
    pub description: String,
    pub token: RwLock<TokenRecord>,
    /// 0 = nobody; otherwise the logged-in `CK_USER_TYPE` + 1.
    login: AtomicU64,
}

impl Slot {
    pub fn logged_in(&self) -> Option<CK_USER_TYPE> {
        match self.login.load(Ordering::Acquire) {
            0 => None,
            n => Some(n - 1),
        }
    }
    fn set_login(&self, user: Option<CK_USER_TYPE>) {
        self.login
            .store(user.map_or(0, |u| u + 1), Ordering::Release);
    }
    pub fn user_logged_in(&self) -> bool {
        self.logged_in() == Some(CKU_USER)
    }
}

/// Token information, as `C_GetTokenInfo` reports it.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub label: [u8; 32],
    pub serial: String,
    pub flags: CK_FLAGS,
    pub session_count: usize,
    pub rw_session_count: usize,
}

/// Session information, as `C_GetSessionInfo` reports it.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    pub slot_id: CK_SLOT_ID,
    pub state: CK_STATE,
    pub flags: CK_FLAGS,
}

pub struct Engine {
    slots: BTreeMap<CK_SLOT_ID, Arc<Slot>>,
    sessions: DashMap<CK_SESSION_HANDLE, Arc<Mutex<Session>>>,
    objects: DashMap<CK_OBJECT_HANDLE, Arc<Object>>,
    next_session: AtomicU64,
    next_object: AtomicU64,
    store: Store,
}

impl Engine {
    /// Opens the store and loads every slot's token and token objects.
    pub fn open(config: &Config) -> Result<Engine> {
        let store = Store::open(&config.state_dir)?;
        let engine = Engine {
            slots: BTreeMap::new(),
            sessions: DashMap::new(),
            objects: DashMap::new(),
            next_session: AtomicU64::new(1),
            next_object: AtomicU64::new(1),
            store,
        };
        let mut slots = BTreeMap::new();
        for sc in &config.slots {
            let record = match engine.store.token(&sc.partition)? {
                Some(r) => r,
                None => {
                    let mut r = TokenRecord::uninitialized(&sc.partition);
                    if let Some(preset) = &sc.preset {
                        r.label = preset.label.clone();
                        r.initialized = true;
                        r.so_pin = Some(PinVerifier::new(preset.so_pin.as_bytes())?);
                        r.user_pin = preset
                            .user_pin
                            .as_ref()
                            .map(|pin| PinVerifier::new(pin.as_bytes()))
                            .transpose()?;
                    }
                    engine.store.save_token(&sc.partition, &r)?;
                    r
                }
            };
            for attrs in engine.store.objects(&sc.partition)? {
                let h = engine.new_object_handle();
                engine
                    .objects
                    .insert(h, Arc::new(Object::new(h, sc.id, Lifetime::Token, attrs)));
            }
            slots.insert(
                sc.id,
                Arc::new(Slot {
                    id: sc.id,
                    partition: sc.partition.clone(),
                    description: sc.description.clone(),
                    token: RwLock::new(record),
                    login: AtomicU64::new(0),
                }),
            );
        }
        Ok(Engine { slots, ..engine })
    }

    fn new_object_handle(&self) -> CK_OBJECT_HANDLE {
        self.next_object.fetch_add(1, Ordering::Relaxed)
    }

    pub fn slot_ids(&self) -> Vec<CK_SLOT_ID> {
        self.slots.keys().copied().collect()
    }

    pub fn slot(&self, id: CK_SLOT_ID) -> Result<&Arc<Slot>> {
        self.slots
            .get(&id)
            .ok_or_else(|| err(CKR_SLOT_ID_INVALID, format!("there is no slot {id}")))
    }

    pub fn token_info(&self, slot_id: CK_SLOT_ID) -> Result<TokenInfo> {
        let slot = self.slot(slot_id)?;
        let sessions = self.sessions_on(slot_id);
        let count = sessions.len();
        let rw = sessions.iter().filter(|s| s.lock().is_rw()).count();
        let record = slot.token.read();
        Ok(TokenInfo {
            label: token::pad32(record.label.as_bytes()),
            serial: record.serial.clone(),
            flags: record.flags(),
            session_count: count,
            rw_session_count: rw,
        })
    }

    /// The sessions open on a slot. The map is snapshotted first so no session mutex is ever
    /// awaited while a map shard is locked (a thread holding a session may need the map).
    fn sessions_on(&self, slot_id: CK_SLOT_ID) -> Vec<Arc<Mutex<Session>>> {
        let all: Vec<_> = self.sessions.iter().map(|s| s.value().clone()).collect();
        all.into_iter()
            .filter(|s| s.lock().slot_id == slot_id)
            .collect()
    }

    /// `C_InitToken`: (re)initialises a token with a new SO PIN and label, destroying every
    /// object on it.
    pub fn init_token(&self, slot_id: CK_SLOT_ID, so_pin: &[u8], label: &[u8]) -> Result<()> {
        let slot = self.slot(slot_id)?;
        if !self.sessions_on(slot_id).is_empty() {
            return Err(err(
                CKR_SESSION_EXISTS,
                "close every session on the token first",
            ));
        }
        token::check_pin_len(so_pin)?;
        let mut record = slot.token.write();
        if record.initialized {
            if record.so_locked() {
                return Err(err(CKR_PIN_LOCKED, "the SO PIN is locked"));
            }
            if !record.so_pin.as_ref().is_some_and(|v| v.matches(so_pin)) {
                record.so_failures += 1;
                self.store.save_token(&slot.partition, &record)?;
                return Err(err(CKR_PIN_INCORRECT, "the SO PIN is wrong"));
            }
        }
        let label = String::from_utf8_lossy(label)
            .trim_end_matches([' ', '\0'])
            .to_string();
        let mut new = TokenRecord::uninitialized(&slot.partition);
        new.serial = record.serial.clone();
        new.label = label;
        new.initialized = true;
        new.so_pin = Some(PinVerifier::new(so_pin)?);
        new.next_object = record.next_object;
        self.store.reinitialize_token(&slot.partition, &new)?;
        *record = new;
        self.objects.retain(|_, o| o.slot_id != slot_id);
        slot.set_login(None);
        Ok(())
    }

    /// `C_OpenSession`.
    pub fn open_session(&self, slot_id: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        let slot = self.slot(slot_id)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(err(
                CKR_SESSION_PARALLEL_NOT_SUPPORTED,
                "CKF_SERIAL_SESSION must be set",
            ));
        }
        if !slot.token.read().initialized {
            return Err(err(
                CKR_TOKEN_NOT_RECOGNIZED,
                "the token is not initialised",
            ));
        }
        let rw = flags & CKF_RW_SESSION != 0;
        if !rw && slot.logged_in() == Some(CKU_SO) {
            return Err(err(
                CKR_SESSION_READ_WRITE_SO_EXISTS,
                "the SO is logged in: only R/W sessions",
            ));
        }
        let handle = self.next_session.fetch_add(1, Ordering::Relaxed);
        self.sessions.insert(
            handle,
            Arc::new(Mutex::new(Session::new(handle, slot_id, rw))),
        );
        Ok(handle)
    }

    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Mutex<Session>>> {
        self.sessions
            .get(&handle)
            .map(|s| s.value().clone())
            .ok_or_else(|| {
                err(
                    CKR_SESSION_HANDLE_INVALID,
                    format!("there is no session {handle}"),
                )
            })
    }

    /// The session's slot id (cheap: one session lock).
    fn slot_of(&self, handle: CK_SESSION_HANDLE) -> Result<(Arc<Mutex<Session>>, &Arc<Slot>)> {
        let s = self.session(handle)?;
        let slot_id = s.lock().slot_id;
        Ok((s, self.slot(slot_id)?))
    }

    /// `C_CloseSession`: the session's objects go with it; the last session logs the token out.
    pub fn close_session(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        let owned = std::mem::take(&mut session.lock().owned_objects);
        for h in owned {
            self.objects.remove(&h);
        }
        self.sessions.remove(&handle);
        if self.sessions_on(slot.id).is_empty() {
            slot.set_login(None);
        }
        Ok(())
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot_id: CK_SLOT_ID) -> Result<()> {
        self.slot(slot_id)?;
        for s in self.sessions_on(slot_id) {
            let h = s.lock().handle;
            // A session closed concurrently by another thread is already gone: fine.
            let _ = self.close_session(h);
        }
        Ok(())
    }

    /// Closes every session (`C_Finalize`).
    pub fn close_everything(&self) {
        let handles: Vec<_> = self.sessions.iter().map(|s| *s.key()).collect();
        for h in handles {
            let _ = self.close_session(h);
        }
    }

    pub fn session_info(&self, handle: CK_SESSION_HANDLE) -> Result<SessionInfo> {
        let (session, slot) = self.slot_of(handle)?;
        let rw = session.lock().is_rw();
        let state = match (slot.logged_in(), rw) {
            (Some(CKU_SO), _) => CKS_RW_SO_FUNCTIONS,
            (Some(_), true) => CKS_RW_USER_FUNCTIONS,
            (Some(_), false) => CKS_RO_USER_FUNCTIONS,
            (None, true) => CKS_RW_PUBLIC_SESSION,
            (None, false) => CKS_RO_PUBLIC_SESSION,
        };
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        Ok(SessionInfo {
            slot_id: slot.id,
            state,
            flags,
        })
    }

    /// `C_Login` for `CKU_SO`, `CKU_USER` and `CKU_CONTEXT_SPECIFIC`.
    pub fn login(&self, handle: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        if user == CKU_CONTEXT_SPECIFIC {
            if !slot.user_logged_in() {
                return Err(err(
                    CKR_USER_NOT_LOGGED_IN,
                    "log in as the user before re-authenticating",
                ));
            }
            if !session.lock().awaits_context_login() {
                return Err(err(
                    CKR_OPERATION_NOT_INITIALIZED,
                    "no operation with a CKA_ALWAYS_AUTHENTICATE key is waiting",
                ));
            }
            self.check_pin(slot, CKU_USER, pin)?;
            session.lock().context_login_done();
            return Ok(());
        }
        if user != CKU_SO && user != CKU_USER {
            return Err(err(
                CKR_USER_TYPE_INVALID,
                format!("user type {user} is not known"),
            ));
        }
        match slot.logged_in() {
            Some(u) if u == user => {
                return Err(err(CKR_USER_ALREADY_LOGGED_IN, "already logged in"));
            }
            Some(_) => {
                return Err(err(
                    CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
                    "another user is logged in",
                ));
            }
            None => {}
        }
        if user == CKU_SO && self.sessions_on(slot.id).iter().any(|s| !s.lock().is_rw()) {
            return Err(err(
                CKR_SESSION_READ_ONLY_EXISTS,
                "close the read-only sessions first",
            ));
        }
        self.check_pin(slot, user, pin)?;
        slot.set_login(Some(user));
        Ok(())
    }

    /// Checks a PIN against the role's verifier, counting failures and locking the role.
    fn check_pin(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let mut record = slot.token.write();
        let (verifier, locked) = if user == CKU_SO {
            (record.so_pin.clone(), record.so_locked())
        } else {
            (record.user_pin.clone(), record.user_locked())
        };
        let Some(verifier) = verifier else {
            return Err(err(
                CKR_USER_PIN_NOT_INITIALIZED,
                "the user PIN is not initialised",
            ));
        };
        if locked {
            return Err(err(
                CKR_PIN_LOCKED,
                "the PIN is locked after too many failed logins",
            ));
        }
        let ok = verifier.matches(pin);
        let counter = if user == CKU_SO {
            &mut record.so_failures
        } else {
            &mut record.user_failures
        };
        let before = *counter;
        *counter = if ok { 0 } else { before + 1 };
        if *counter != before {
            self.store.save_token(&slot.partition, &record)?;
        }
        if ok {
            Ok(())
        } else if (user == CKU_SO && record.so_locked())
            || (user == CKU_USER && record.user_locked())
        {
            Err(err(CKR_PIN_LOCKED, "wrong PIN: the PIN is now locked"))
        } else {
            Err(err(CKR_PIN_INCORRECT, "wrong PIN"))
        }
    }

    /// `C_Logout`: private session objects are destroyed.
    pub fn logout(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        if slot.logged_in().is_none() {
            return Err(err(CKR_USER_NOT_LOGGED_IN, "nobody is logged in"));
        }
        slot.set_login(None);
        for s in self.sessions_on(slot.id) {
            let mut s = s.lock();
            let private: Vec<_> = s
                .owned_objects
                .iter()
                .copied()
                .filter(|h| self.objects.get(h).is_some_and(|o| o.is_private()))
                .collect();
            for h in private {
                self.objects.remove(&h);
                s.owned_objects.retain(|x| *x != h);
            }
            s.end_all_operations();
        }
        Ok(())
    }

    /// `C_InitPIN`: the SO sets the user PIN.
    pub fn init_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        if slot.logged_in() != Some(CKU_SO) {
            return Err(err(
                CKR_USER_NOT_LOGGED_IN,
                "only the SO may initialise the user PIN",
            ));
        }
        token::check_pin_len(pin)?;
        let mut record = slot.token.write();
        record.user_pin = Some(PinVerifier::new(pin)?);
        record.user_failures = 0;
        self.store.save_token(&slot.partition, &record)
    }

    /// `C_SetPIN`: changes the PIN of whoever is logged in (the user when nobody is).
    pub fn set_pin(&self, handle: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let (session, slot) = self.slot_of(handle)?;
        if !session.lock().is_rw() {
            return Err(err(
                CKR_SESSION_READ_ONLY,
                "changing a PIN needs a read/write session",
            ));
        }
        let user = if slot.logged_in() == Some(CKU_SO) {
            CKU_SO
        } else {
            CKU_USER
        };
        self.check_pin(slot, user, old)?;
        token::check_pin_len(new)?;
        let mut record = slot.token.write();
        let verifier = Some(PinVerifier::new(new)?);
        if user == CKU_SO {
            record.so_pin = verifier;
        } else {
            record.user_pin = verifier;
        }
        self.store.save_token(&slot.partition, &record)
    }

    /// `C_SessionCancel` (3.0): ends the operations named by `flags`.
    pub fn session_cancel(&self, handle: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Result<()> {
        self.session(handle)?.lock().cancel(flags);
        Ok(())
    }
}
