//! A session: its slot, R/O or R/W, the session objects it owns, and its operations in progress
//! (one of each kind: find, encrypt, decrypt, digest, sign, verify), with the bookkeeping the
//! C calling conventions need (one-shot versus multi-part, output kept for a length query,
//! `CKA_ALWAYS_AUTHENTICATE` re-login).
use crate::mechanisms::{
    CipherOperation, DigestOperation, KeyMaterial, Mechanism, SignOperation, VerifyOperation,
};
use cryptoki_sys::*;
use std::sync::Arc;

/// The form in which an operation has been used since its `C_*Init`: the single-part call
/// (`C_Encrypt`, ...) or the multi-part calls (`*Update`, `*Final`), which exclude each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    OneShot,
    MultiPart,
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

/// What a verify slot holds.
pub enum VerifyKind {
    Verify(Box<dyn VerifyOperation>),
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
}

impl Session {
    pub fn new(handle: CK_SESSION_HANDLE, slot_id: CK_SLOT_ID, rw: bool) -> Self {
        Session {
            handle,
            slot_id,
            rw,
            owned_objects: Vec::new(),
            find: None,
            encrypt: None,
            decrypt: None,
            digest: None,
            sign: None,
            verify: None,
            msg_encrypt: None,
            msg_decrypt: None,
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
