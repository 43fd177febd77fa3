//! The engine: slots, tokens, sessions and login state of one process, on top of the store.
//! Plain Rust with `Result<T, Error>`; the ABI layer turns calls into these methods.
//!
//! Concurrency: sessions live in a sharded map, each behind its own mutex; a slot's objects live
//! in an indexed table of `Arc<Object>` snapshots behind a read-write lock (written only by
//! object changes); a slot's login state is an atomic. `C_Sign`/`C_Encrypt` and friends use the
//! key their `*Init` took and never touch the table or the store.
//!
//! Other processes: every call that reads tokens or objects, and every call on a session (so
//! an operation under way ends with its session when another process replaces the token),
//! first runs `sync`, which asks the store whether anyone else committed (one `pread` of the
//! WAL index, then `PRAGMA data_version`) and, if so, applies just the changed tokens and
//! objects (see `sync.rs`). Token objects are read from the
//! store on a slot's first object access, not at `C_Initialize`.
//!
//! A slot shows a partition, or a Luna HA group (`ha.rs`: its objects held as the serving
//! member has them, each session's reads and operations using the copies of the member the
//! session was given, its logins and token-object writes reaching every member). A session on
//! an HA slot works on a view of the slot (`Slot::session_view`): the same shared state, with
//! the session's member.
mod keys;
mod operations;
pub use operations::{Call, Output};
mod message;
pub use message::{GcmMessage, MessageOutput};
pub use objects::AttrLookup;
mod extension_calls;
mod ha;
pub use ha::HaState;
mod login;
mod pins;
pub use crate::models::InitOptions;
mod objects;
pub mod session;
mod sync;
mod table;

use crate::base::error::{Result, err};
use crate::base::ids::PartitionId;
use crate::base::secrets::seal::{SealContext, TokenKey};
use crate::estate::fresh_record;
use crate::lab::definition::{Config, SlotBacking};
use crate::models::TokenModel;
use crate::object::Object;
use crate::store::Store;
use crate::store::records::{self, TokenRecord};
use cryptoki_sys::*;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use session::Session;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use table::ObjectTable;

/// One slot: its token record, its objects, the token key once a login unlocked it, and the
/// process's login state (an atomic read on every object access).
pub struct Slot {
    pub id: CK_SLOT_ID,
    /// The partitions that can serve the slot: its partition, or an HA group's members in
    /// group order (`ha.rs` chooses the live one, `serving`).
    servers: Vec<PartitionId>,
    /// The index in `servers` of the partition whose token the slot holds now.
    serving: Arc<std::sync::atomic::AtomicUsize>,
    /// HA-only mode: a physical slot the slot list leaves out (it still serves HA logins).
    hidden: bool,
    /// The slot's device is down (`hsmsim lab fail`); an HA slot: every member is.
    down: Arc<AtomicBool>,
    /// What the slot shows: a partition, or an HA group.
    pub backing: SlotBacking,
    /// An HA virtual slot's group state (`None` for a physical slot).
    ha: Option<Arc<ha::HaSlot>>,
    /// A session's view of an HA virtual slot: the member whose copies its reads and
    /// operations use (`None`: the slot itself, using the serving member's).
    ha_member: Option<usize>,
    pub description: String,
    /// How the token behaves.
    pub model: TokenModel,
    /// PED partitions: the lab's key file per role.
    ped_keys: Vec<(CK_USER_TYPE, PathBuf)>,
    /// The partition's size in bytes, if limited.
    pub capacity: Option<u64>,
    /// Luna: the device's admin partition (its SO is the HSM SO).
    pub admin: bool,
    pub token: Arc<RwLock<TokenRecord>>,
    /// False while the slot's partition is removed, or its Backup HSM is attached to another
    /// host: the slot has no token.
    present: Arc<AtomicBool>,
    /// A Backup HSM's slot: where the token is (`present` follows its attachment).
    backup_hsm: Option<crate::lab::definition::BackupHsmSlot>,
    objects: Arc<RwLock<ObjectTable>>,
    /// The token key, after a login in this process opened it (kept until `C_Finalize` or
    /// until the token is re-initialised).
    key: Arc<RwLock<Option<Arc<TokenKey>>>>,
    /// 0 = nobody; otherwise the logged-in `CK_USER_TYPE` + 1.
    login: Arc<AtomicU64>,
}

impl Slot {
    /// The partition whose token the slot holds; keys the token in the store (an HA virtual
    /// slot: the member serving it, `ha.rs`).
    pub fn partition(&self) -> &PartitionId {
        &self.servers[self.serving.load(Ordering::Acquire)]
    }
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
    /// A role that sees private objects is logged in: the user (Luna: Crypto Officer) or a
    /// vendor user role (Crypto User, Limited Crypto Officer); not the SO.
    pub fn user_logged_in(&self) -> bool {
        self.logged_in().is_some_and(|u| u != CKU_SO)
    }
    /// `CK_SLOT_INFO.slotDescription`: a Luna Network HSM partition shows as a Luna client
    /// lists it (Luna §6), every other slot as the lab describes it.
    pub fn shown_description(&self) -> &str {
        if self.ha.is_some() {
            return self.description.as_str();
        }
        self.model
            .slot_description()
            .unwrap_or(self.description.as_str())
    }

    /// The logged-in role may create, change or destroy an object (`private` or not): the
    /// model's read-only roles may not touch private ones (`TokenModel::check_object_change_by`).
    pub fn check_may_change_object(&self, private: bool) -> Result<()> {
        self.model.check_object_change_by(self.logged_in(), private)
    }

    /// The logged-in role may wrap a key out of the partition (`TokenModel::check_key_export`).
    pub fn check_may_export(&self) -> Result<()> {
        self.model
            .check_key_export(&self.token.read(), self.logged_in())
    }

    /// The registry entry of a mechanism the slot's token offers (its vendor model may lack
    /// some: `CKR_MECHANISM_INVALID`, as for a mechanism the simulator lacks).
    pub fn offered(
        &self,
        mechanism_type: CK_MECHANISM_TYPE,
    ) -> Result<&'static crate::crypto::MechanismEntry> {
        let entry = crate::crypto::lookup(mechanism_type)?;
        self.model
            .check_mechanism(&self.token.read(), mechanism_type)?;
        Ok(entry)
    }

    /// Every mechanism the slot's token offers (`C_GetMechanismList`).
    pub fn offered_mechanisms(&self) -> Vec<&'static crate::crypto::MechanismEntry> {
        let record = self.token.read();
        crate::crypto::MECHANISMS
            .iter()
            .filter(|m| {
                self.model
                    .check_mechanism(&record, m.mechanism_type)
                    .is_ok()
            })
            .collect()
    }

    /// `CKR_PIN_EXPIRED` while the logged-in role has not changed a PIN another role set.
    pub fn check_pin_current(&self) -> Result<()> {
        let expired = self
            .logged_in()
            .is_some_and(|u| self.token.read().role(u).is_some_and(|r| r.must_change));
        if expired {
            Err(err(
                CKR_PIN_EXPIRED,
                "the PIN was set by another role and must be changed first (C_SetPIN)",
            ))
        } else {
            Ok(())
        }
    }
    pub fn token_present(&self) -> bool {
        self.present.load(Ordering::Acquire) && !self.down.load(Ordering::Acquire)
    }
    fn token_key(&self) -> Option<Arc<TokenKey>> {
        self.key.read().clone()
    }
    /// What the PIN seals of this slot's token of `generation` are bound to.
    fn seal_context(&self, generation: u64) -> SealContext<'_> {
        SealContext {
            partition: self.partition(),
            generation,
        }
    }
    /// `CKR_TOKEN_NOT_PRESENT` while the partition is removed or its device is down.
    fn require_token(&self) -> Result<()> {
        if self.down.load(Ordering::Acquire) {
            return Err(err(
                CKR_TOKEN_NOT_PRESENT,
                format!(
                    "slot {} shows no token: the device of {} is down (hsmsim lab fail)",
                    self.id,
                    self.partition()
                ),
            ));
        }
        if self.token_present() {
            Ok(())
        } else {
            Err(err(
                CKR_TOKEN_NOT_PRESENT,
                format!(
                    "slot {} shows no token: partition {} was removed",
                    self.id,
                    self.partition()
                ),
            ))
        }
    }
}

/// Token information, as `C_GetTokenInfo` reports it.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// (total, free) bytes, when the partition has a size.
    pub memory: Option<(u64, u64)>,
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
    sessions: session::Sessions,
    next_session: AtomicU64,
    next_object: AtomicU64,
    /// Random bytes for new objects' identifiers (`objects::IdentifierRandom`).
    identifier_random: Mutex<objects::IdentifierRandom>,
    store: Store,
    sync: Mutex<sync::SyncState>,
    seen_header: sync::SeenHeader,
    /// Slots whose token another process changed, not yet reported by `C_WaitForSlotEvent`.
    events: Mutex<VecDeque<CK_SLOT_ID>>,
    /// The devices that are down (`hsmsim lab fail`), as this process last read them.
    health: Mutex<std::collections::BTreeSet<crate::base::ids::DeviceId>>,
    /// Some device is down: session calls check their slot (`ha.rs`).
    any_down: AtomicBool,
    /// Vendor migration sessions negotiated in this process (`extension_calls`).
    migrations: extension_calls::MigrationSessions,
    /// Each HA virtual slot's session views, one per member (`ha.rs`).
    ha_views: BTreeMap<CK_SLOT_ID, Vec<Arc<Slot>>>,
}

/// A Backup HSM's slot has its token only on the host the Backup HSM is attached to now
/// (`estate::backup_hsm_attached_to`); every other slot is not concerned.
fn attached_here(
    store: &Store,
    backup_hsm: Option<&crate::lab::definition::BackupHsmSlot>,
) -> Result<bool> {
    let Some(b) = backup_hsm else {
        return Ok(true);
    };
    let on = crate::estate::backup_hsm_attached_to(store, &b.device, b.start_host.as_deref())?;
    Ok(on.is_none_or(|h| h == b.host))
}

impl Engine {
    /// Opens the store and reads (or creates, as the lab presets say) every slot's token.
    /// Token objects are read later, on each slot's first object access.
    pub fn open(config: &Config) -> Result<Engine> {
        // A bad HSMSIM_PIN_KDF_ITERATIONS fails here, not at some later PIN change.
        crate::base::secrets::seal::pin_kdf_iterations()?;
        let store = Store::open(&config.state_dir)?;
        let sync = sync::SyncState::start(&store)?;
        // The HA groups in force and HA-only mode, as the estate keeps them.
        let mut config = config.clone();
        crate::estate::ha_groups::apply_to_config(&store, &mut config)?;
        let mut slots = BTreeMap::new();
        for sc in &config.slots {
            sc.model.read_device_state(&store)?;
            let row = store.ensure_token(sc.partition(), || {
                fresh_record(
                    sc.partition(),
                    &sc.model,
                    sc.preset.as_ref(),
                    &config.state_dir,
                )
            })?;
            slots.insert(
                sc.id,
                Arc::new(Slot {
                    id: sc.id,
                    servers: match &sc.backing {
                        SlotBacking::HaGroup { members, .. } => members.clone(),
                        SlotBacking::Partition(p) => vec![p.clone()],
                    },
                    serving: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
                    hidden: sc.hidden,
                    down: Arc::new(AtomicBool::new(false)),
                    ha: ha::HaSlot::of(&sc.backing, &sc.standby, &sc.model, &row.record)
                        .map(Arc::new),
                    ha_member: None,
                    backing: sc.backing.clone(),
                    description: sc.description.clone(),
                    model: sc.model.clone(),
                    ped_keys: sc.ped_keys.clone(),
                    capacity: sc.capacity,
                    admin: sc.admin,
                    token: Arc::new(RwLock::new(row.record)),
                    present: Arc::new(AtomicBool::new(
                        row.present && attached_here(&store, sc.backup_hsm.as_ref())?,
                    )),
                    backup_hsm: sc.backup_hsm.clone(),
                    objects: Arc::new(RwLock::new(ObjectTable::default())),
                    key: Arc::new(RwLock::new(None)),
                    login: Arc::new(AtomicU64::new(0)),
                }),
            );
        }
        let ha_views = ha::session_views(&slots);
        let engine = Engine {
            ha_views,
            slots,
            sessions: session::Sessions::default(),
            next_session: AtomicU64::new(1),
            next_object: AtomicU64::new(1),
            identifier_random: Mutex::new(objects::IdentifierRandom::new()),
            store,
            sync: Mutex::new(sync),
            seen_header: sync::SeenHeader::default(),
            events: Mutex::new(VecDeque::new()),
            migrations: Default::default(),
            health: Mutex::new(Default::default()),
            any_down: AtomicBool::new(false),
        };
        engine.read_health()?;
        Ok(engine)
    }

    /// Whether a slot's token is there as far as its Backup HSM goes (`attached_here`).
    fn attached_here(&self, slot: &Slot) -> Result<bool> {
        attached_here(&self.store, slot.backup_hsm.as_ref())
    }

    fn new_object_handle(&self) -> CK_OBJECT_HANDLE {
        self.next_object.fetch_add(1, Ordering::Relaxed)
    }

    /// Every slot id, or only those with a token present.
    pub fn slot_ids(&self, token_present: bool) -> Result<Vec<CK_SLOT_ID>> {
        self.sync()?;
        Ok(self
            .slots
            .values()
            .filter(|s| !s.hidden && (!token_present || s.token_present()))
            .map(|s| s.id)
            .collect())
    }

    pub fn slot(&self, id: CK_SLOT_ID) -> Result<&Arc<Slot>> {
        self.slots
            .get(&id)
            .filter(|s| !s.hidden)
            .ok_or_else(|| err(CKR_SLOT_ID_INVALID, format!("there is no slot {id}")))
    }

    /// A slot after applying other processes' changes (for `C_GetSlotInfo`).
    pub fn current_slot(&self, id: CK_SLOT_ID) -> Result<&Arc<Slot>> {
        let slot = self.slot(id)?;
        self.sync()?;
        Ok(slot)
    }

    /// A slot's objects, read from the store on first use.
    fn table<'s>(&self, slot: &'s Slot) -> Result<RwLockReadGuard<'s, ObjectTable>> {
        {
            let table = slot.objects.read();
            if table.loaded {
                return Ok(table);
            }
        }
        let mut table = slot.objects.write();
        if !table.loaded {
            for stored in self.store.objects(slot.partition())? {
                let h = self.new_object_handle();
                table.insert(Arc::new(Object::stored(
                    h,
                    slot.id,
                    stored.public,
                    stored.sealed,
                )));
            }
            table.loaded = true;
        }
        Ok(RwLockWriteGuard::downgrade(table))
    }

    /// A slot's objects for a change: loaded, and locked for writing (store writes happen under
    /// this lock so the table and the store never disagree).
    fn table_mut<'s>(&self, slot: &'s Slot) -> Result<RwLockWriteGuard<'s, ObjectTable>> {
        drop(self.table(slot)?);
        Ok(slot.objects.write())
    }

    pub fn token_info(&self, slot_id: CK_SLOT_ID) -> Result<TokenInfo> {
        let slot = self.current_slot(slot_id)?;
        slot.require_token()?;
        let memory = match slot.capacity {
            Some(total) => {
                let used = self.table(slot)?.token_bytes();
                Some((total, total.saturating_sub(used)))
            }
            None => None,
        };
        let (count, rw) = self.sessions.count(slot_id);
        let record = slot.token.read();
        let limit = |u| {
            slot.model
                .failed_login_rule(&record, u, slot.admin)
                .threshold
        };
        let mut flags = record.flags(limit(CKU_USER), limit(CKU_SO), crate::base::clock::now());
        if slot.model.uses_ped() {
            flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
        }
        if self.store.read_only() {
            flags |= CKF_WRITE_PROTECTED;
        }
        let (label, serial) = match &slot.ha {
            Some(ha) => (ha.group.as_str(), ha.serial.as_str()),
            None => (record.label.as_str(), record.serial.as_str()),
        };
        Ok(TokenInfo {
            memory,
            label: records::pad32(label.as_bytes()),
            serial: serial.to_string(),
            flags,
            session_count: count,
            rw_session_count: rw,
        })
    }

    /// The sessions open on a slot (a snapshot: no lock is held when it is returned).
    fn sessions_on(&self, slot_id: CK_SLOT_ID) -> Vec<Arc<Mutex<Session>>> {
        self.sessions.on(slot_id)
    }

    /// `C_OpenSession`.
    pub fn open_session(&self, slot_id: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        let slot = self.current_slot(slot_id)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(err(
                CKR_SESSION_PARALLEL_NOT_SUPPORTED,
                "CKF_SERIAL_SESSION must be set",
            ));
        }
        slot.require_token()?;
        if !slot.token.read().initialized {
            return Err(err(
                CKR_TOKEN_NOT_RECOGNIZED,
                "the token is not initialised",
            ));
        }
        let rw = flags & CKF_RW_SESSION != 0;
        if rw && self.store.read_only() {
            // PKCS#11 3.0 §5.6: no R/W session on a write-protected token.
            return Err(err(
                CKR_TOKEN_WRITE_PROTECTED,
                "the lab's state is read-only (CKF_WRITE_PROTECTED): open a read-only session",
            ));
        }
        if !rw && slot.logged_in() == Some(CKU_SO) {
            return Err(err(
                CKR_SESSION_READ_WRITE_SO_EXISTS,
                "the SO is logged in: only R/W sessions",
            ));
        }
        let handle = self.next_session.fetch_add(1, Ordering::Relaxed);
        let session = Session::new(handle, slot_id, rw);
        if slot.ha.is_some() {
            session
                .ha_member
                .store(self.assign_ha_member(slot)?, Ordering::Release);
        }
        self.sessions.insert(session);
        Ok(handle)
    }

    /// A session, after applying other processes' changes: a session on a token another
    /// process replaced is closed by then (`CKR_SESSION_HANDLE_INVALID`), even in a call that
    /// only continues an operation.
    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Mutex<Session>>> {
        self.sync()?;
        let session = self.open_session_entry(handle)?;
        if self.any_down.load(Ordering::Acquire) {
            self.check_session_device(&session)?;
        }
        Ok(session)
    }

    /// A session as this process holds it, without looking at other processes' changes (for
    /// closing it and for bookkeeping inside a call that already did).
    fn open_session_entry(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Mutex<Session>>> {
        self.sessions.get(handle).ok_or_else(|| {
            err(
                CKR_SESSION_HANDLE_INVALID,
                format!("there is no session {handle}"),
            )
        })
    }

    /// The session and its slot (on an HA virtual slot, the view of its member), after
    /// applying other processes' changes.
    fn slot_of(&self, handle: CK_SESSION_HANDLE) -> Result<(Arc<Mutex<Session>>, &Arc<Slot>)> {
        let s = self.session(handle)?;
        let (slot_id, member) = {
            let locked = s.lock();
            (locked.slot_id, locked.ha_member.load(Ordering::Acquire))
        };
        Ok((s, self.session_slot(slot_id, member)?))
    }

    /// `C_CloseSession`: the session's objects go with it; the last session logs the token
    /// out. O(1) in the number of open sessions (and of objects with the same label).
    pub fn close_session(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let session = self
            .sessions
            .remove_then(&handle, |slot_id, last| {
                if last && let Some(slot) = self.slots.get(&slot_id) {
                    slot.set_login(None);
                }
            })
            .ok_or_else(|| {
                err(
                    CKR_SESSION_HANDLE_INVALID,
                    format!("there is no session {handle}"),
                )
            })?;
        self.destroy_session_objects(&[session]);
        Ok(())
    }

    /// Closed sessions' objects go with them. No other thread can reach the sessions any
    /// more; one still inside a call with a session finishes first, and one that took it
    /// before the close cannot add objects after it (`Session::check_open`).
    fn destroy_session_objects(&self, sessions: &[Arc<Mutex<Session>>]) {
        for session in sessions {
            let mut session = session.lock();
            let owned = session.close();
            if owned.is_empty() {
                continue;
            }
            if let Some(slot) = self.slots.get(&session.slot_id) {
                let mut table = slot.objects.write();
                for h in owned {
                    table.remove(h);
                }
            }
        }
    }

    /// Closes every session of a slot whose token was replaced (its objects are forgotten by
    /// the caller), marking each closed for calls still under way on it.
    pub(crate) fn close_slot_sessions(&self, slot_id: CK_SLOT_ID) {
        let closed = self.sessions.remove_slot_then(slot_id, || {});
        self.destroy_session_objects(&closed);
    }

    /// `C_CloseAllSessions`: O(1) per session.
    pub fn close_all_sessions(&self, slot_id: CK_SLOT_ID) -> Result<()> {
        let slot = self.slot(slot_id)?;
        let closed = self
            .sessions
            .remove_slot_then(slot_id, || slot.set_login(None));
        self.destroy_session_objects(&closed);
        Ok(())
    }

    /// Closes every session (`C_Finalize`).
    pub fn close_everything(&self) {
        for slot_id in self.sessions.slots() {
            let _ = self.close_all_sessions(slot_id);
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

    /// `C_SessionCancel` (3.0): ends the operations named by `flags`.
    pub fn session_cancel(&self, handle: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Result<()> {
        self.session(handle)?.lock().cancel(flags);
        Ok(())
    }
}
