//! A session: its slot, R/O or R/W, the session objects it owns, and its operations in progress
//! (one of each kind: find, encrypt, decrypt, digest, sign, verify), with the bookkeeping the
//! C calling conventions need (one-shot versus multi-part, output kept for a length query,
//! `CKA_ALWAYS_AUTHENTICATE` re-login), and on an HA virtual slot the member serving it.
//! Also the process's open sessions (`Sessions`): by handle, and per slot, so that opening,
//! closing and counting cost O(1) per session.
use crate::crypto::{
    CipherOperation, DigestOperation, KeyMaterial, Mechanism, SignOperation, VerifyOperation,
};
use cryptoki_sys::*;
use dashmap::DashMap;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

/// `Session::ha_member` of a session on a physical slot.
pub const NO_HA_MEMBER: usize = usize::MAX;

/// The form in which an operation has been used since its `C_*Init`: the single-part call
/// (`C_Encrypt`, ...) or the multi-part calls (`*Update`, `*Final`), which exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    OneShot,
    MultiPart,
}

/// A slot's open sessions.
#[derive(Default)]
struct SlotSessions {
    handles: HashSet<CK_SESSION_HANDLE>,
    /// How many of them are R/W.
    rw: usize,
}

/// One open session, with what closing it needs without locking it.
struct Entry {
    session: Arc<Mutex<Session>>,
    slot_id: CK_SLOT_ID,
    rw: bool,
    /// The session's `ha_member` (failover moves it without locking the session).
    ha_member: Arc<AtomicUsize>,
}

/// The open sessions of the process: by handle (a sharded map: `C_Sign` and friends look
/// their session up without a global lock) and by slot (behind one mutex, taken only to open,
/// close, count or list a slot's sessions; adding and removing change both maps under it).
#[derive(Default)]
pub struct Sessions {
    all: DashMap<CK_SESSION_HANDLE, Entry>,
    by_slot: Mutex<HashMap<CK_SLOT_ID, SlotSessions>>,
}

impl Sessions {
    /// Adds a new session (in both maps under the slot lock, so `remove_slot_then` sees it in
    /// both or in neither).
    pub fn insert(&self, session: Session) {
        let (handle, slot_id, rw) = (session.handle, session.slot_id, session.rw);
        let ha_member = session.ha_member.clone();
        let mut by_slot = self.by_slot.lock();
        let slot = by_slot.entry(slot_id).or_default();
        slot.handles.insert(handle);
        slot.rw += usize::from(rw);
        self.all.insert(
            handle,
            Entry {
                session: Arc::new(Mutex::new(session)),
                slot_id,
                rw,
                ha_member,
            },
        );
    }

    pub fn get(&self, handle: CK_SESSION_HANDLE) -> Option<Arc<Mutex<Session>>> {
        self.all.get(&handle).map(|e| e.session.clone())
    }

    /// Forgets a session; `then` runs with the slot's sessions locked and says whether it was
    /// the slot's last one (so a login cannot slip in between).
    pub fn remove_then(
        &self,
        handle: &CK_SESSION_HANDLE,
        then: impl FnOnce(CK_SLOT_ID, bool),
    ) -> Option<Arc<Mutex<Session>>> {
        let mut by_slot = self.by_slot.lock();
        let (_, entry) = self.all.remove(handle)?;
        let mut last = false;
        if let Some(slot) = by_slot.get_mut(&entry.slot_id)
            && slot.handles.remove(handle)
        {
            slot.rw -= usize::from(entry.rw);
            last = slot.handles.is_empty();
            if last {
                by_slot.remove(&entry.slot_id);
            }
        }
        then(entry.slot_id, last);
        Some(entry.session)
    }

    /// Forgets a session.
    pub fn remove(&self, handle: &CK_SESSION_HANDLE) -> Option<Arc<Mutex<Session>>> {
        self.remove_then(handle, |_, _| {})
    }

    /// Forgets every session of a slot at once; `then` runs with the slot's sessions locked
    /// (so a login cannot slip in between).
    pub fn remove_slot_then(
        &self,
        slot_id: CK_SLOT_ID,
        then: impl FnOnce(),
    ) -> Vec<Arc<Mutex<Session>>> {
        let mut by_slot = self.by_slot.lock();
        let handles = by_slot
            .remove(&slot_id)
            .map(|s| s.handles)
            .unwrap_or_default();
        let sessions = handles
            .into_iter()
            .filter_map(|h| self.all.remove(&h).map(|(_, e)| e.session))
            .collect();
        then();
        sessions
    }

    /// The slots that have sessions.
    pub fn slots(&self) -> Vec<CK_SLOT_ID> {
        self.by_slot.lock().keys().copied().collect()
    }

    /// The handles of a slot's sessions.
    pub fn handles_on(&self, slot_id: CK_SLOT_ID) -> Vec<CK_SESSION_HANDLE> {
        self.by_slot
            .lock()
            .get(&slot_id)
            .map_or_else(Vec::new, |s| s.handles.iter().copied().collect())
    }

    /// A slot's sessions.
    pub fn on(&self, slot_id: CK_SLOT_ID) -> Vec<Arc<Mutex<Session>>> {
        self.handles_on(slot_id)
            .into_iter()
            .filter_map(|h| self.get(h))
            .collect()
    }

    /// The serving members of a slot's sessions (an HA virtual slot's), to move them.
    pub fn ha_members_on(&self, slot_id: CK_SLOT_ID) -> Vec<Arc<AtomicUsize>> {
        self.handles_on(slot_id)
            .into_iter()
            .filter_map(|h| self.all.get(&h).map(|e| e.ha_member.clone()))
            .collect()
    }

    /// How many sessions a slot has, and how many of them are R/W.
    pub fn count(&self, slot_id: CK_SLOT_ID) -> (usize, usize) {
        self.by_slot
            .lock()
            .get(&slot_id)
            .map_or((0, 0), |s| (s.handles.len(), s.rw))
    }
}

/// An operation in progress, with the state the calling conventions need.
pub struct Active<T> {
    pub op: T,
    /// How the operation has been used (a length query counts); `None` right after the init.
    pub form: Option<Form>,
    /// Output of a single-part or `*Final` call whose buffer was absent or short, computed once
    /// and returned by the repeated call (`form` says which of the two it belongs to).
    pub pending: Option<Vec<u8>>,
    /// The key has `CKA_ALWAYS_AUTHENTICATE` and `C_Login(CKU_CONTEXT_SPECIFIC)` has not happened.
    pub needs_login: bool,
}

impl<T> Active<T> {
    pub fn new(op: T, needs_login: bool) -> Self {
        Active {
            op,
            form: None,
            pending: None,
            needs_login,
        }
    }
}

/// What a sign slot holds: a normal signature, or a sign-with-recovery.
pub enum SignKind {
    Sign(Box<dyn SignOperation>),
    Recover(Mechanism, Arc<KeyMaterial>),
}

/// What a verify slot holds: a verification (`C_VerifyInit`), one whose signature was given at
/// the start (`C_VerifySignatureInit`, PKCS#11 3.2), or a verify-with-recovery. The three share
/// the one verify operation of a session (simulator-defined: PKCS#11 3.2 does not say whether
/// `C_VerifyInit` and `C_VerifySignatureInit` operations may be active together; hsmsim answers
/// `CKR_OPERATION_ACTIVE` to the second).
pub enum VerifyKind {
    Verify(Box<dyn VerifyOperation>),
    Signature(Box<dyn VerifyOperation>, Vec<u8>),
    Recover(Mechanism, Arc<KeyMaterial>),
}

/// A `C_FindObjects` search: the matching handles, taken when it started.
pub struct FindState {
    pub handles: Vec<CK_OBJECT_HANDLE>,
    pub position: usize,
}

pub struct Session {
    pub handle: CK_SESSION_HANDLE,
    pub slot_id: CK_SLOT_ID,
    rw: bool,
    /// On an HA virtual slot: the index of the member whose copies the session's reads and
    /// operations use (`engine::ha`); `NO_HA_MEMBER` elsewhere.
    pub ha_member: Arc<AtomicUsize>,
    pub owned_objects: Vec<CK_OBJECT_HANDLE>,
    pub find: Option<FindState>,
    pub encrypt: Option<Active<Box<dyn CipherOperation>>>,
    pub decrypt: Option<Active<Box<dyn CipherOperation>>>,
    pub digest: Option<Active<Box<dyn DigestOperation>>>,
    pub sign: Option<Active<SignKind>>,
    pub verify: Option<Active<VerifyKind>>,
    /// Message-based encryption and decryption (`C_MessageEncryptInit`, ...).
    pub msg_encrypt: Option<super::message::MessageState>,
    pub msg_decrypt: Option<super::message::MessageState>,
    /// Closed while another thread was inside a call with it.
    closed: bool,
}

impl Session {
    pub fn new(handle: CK_SESSION_HANDLE, slot_id: CK_SLOT_ID, rw: bool) -> Self {
        Session {
            handle,
            slot_id,
            rw,
            ha_member: Arc::new(AtomicUsize::new(NO_HA_MEMBER)),
            owned_objects: Vec::new(),
            find: None,
            encrypt: None,
            decrypt: None,
            digest: None,
            sign: None,
            verify: None,
            msg_encrypt: None,
            msg_decrypt: None,
            closed: false,
        }
    }

    /// Marks the session closed and hands over its objects (to be destroyed).
    pub fn close(&mut self) -> Vec<CK_OBJECT_HANDLE> {
        self.closed = true;
        std::mem::take(&mut self.owned_objects)
    }

    /// `CKR_SESSION_CLOSED` once the session was closed: a call that took it before the
    /// close must not create objects the close can no longer destroy.
    pub fn check_open(&self) -> crate::base::error::Result<()> {
        if self.closed {
            Err(crate::base::error::err(
                CKR_SESSION_CLOSED,
                format!("session {} was closed during the call", self.handle),
            ))
        } else {
            Ok(())
        }
    }

    pub fn is_rw(&self) -> bool {
        self.rw
    }

    /// Whether an operation waits for `C_Login(CKU_CONTEXT_SPECIFIC)`.
    pub fn awaits_context_login(&self) -> bool {
        self.sign.as_ref().is_some_and(|a| a.needs_login)
            || self.decrypt.as_ref().is_some_and(|a| a.needs_login)
    }

    pub fn context_login_done(&mut self) {
        if let Some(a) = self.sign.as_mut() {
            a.needs_login = false;
        }
        if let Some(a) = self.decrypt.as_mut() {
            a.needs_login = false;
        }
    }

    pub fn end_all_operations(&mut self) {
        self.find = None;
        self.encrypt = None;
        self.decrypt = None;
        self.digest = None;
        self.sign = None;
        self.verify = None;
        self.msg_encrypt = None;
        self.msg_decrypt = None;
    }

    /// `C_SessionCancel`: ends the operations whose `CKF_*` flag is given.
    pub fn cancel(&mut self, flags: CK_FLAGS) {
        if flags & CKF_FIND_OBJECTS != 0 {
            self.find = None;
        }
        if flags & CKF_ENCRYPT != 0 {
            self.encrypt = None;
        }
        if flags & CKF_DECRYPT != 0 {
            self.decrypt = None;
        }
        if flags & CKF_DIGEST != 0 {
            self.digest = None;
        }
        if flags & (CKF_SIGN | CKF_SIGN_RECOVER) != 0 {
            self.sign = None;
        }
        if flags & (CKF_VERIFY | CKF_VERIFY_RECOVER) != 0 {
            self.verify = None;
        }
        if flags & CKF_MESSAGE_ENCRYPT != 0 {
            self.msg_encrypt = None;
        }
        if flags & CKF_MESSAGE_DECRYPT != 0 {
            self.msg_decrypt = None;
        }
    }
}
