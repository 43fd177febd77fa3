//! Cryptographic operations: set-up (key checks: handle, mechanism, key type, usage
//! attribute, `CKA_ALLOWED_MECHANISMS`) and the C calling conventions (length queries, short
//! buffers, one-shot versus multi-part, an operation ending on error) of encrypt, decrypt,
//! digest, sign and verify (also PKCS#11 3.2's verify-signature form, the signature given at
//! the init).
use super::session::{Active, Form, Session, SignKind, VerifyKind};
use super::{Engine, Slot};
use crate::base::error::{Result, err};
use crate::crypto::{self as mechs, KeyMaterial, Mechanism};
use crate::object::Object;
use cryptoki_sys::*;
use std::sync::Arc;

/// What an output-producing call hands back to the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// The output; the caller's buffer is big enough.
    Data(Vec<u8>),
    /// The caller passed no buffer: only the size (the operation stays active).
    Size(usize),
    /// The caller's buffer is too short: `CKR_BUFFER_TOO_SMALL` with the size needed.
    TooSmall(usize),
}

/// Which call of an operation is made: the single-part call (`C_Encrypt`, ...), an update or
/// the final call of the multi-part form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    OneShot,
    Update,
    Final,
}

/// The checks every call of an operation starts with: the operation exists; the single-part
/// and multi-part forms exclude each other (a length query counts as use, and once `*Final`
/// holds its output for a repeated call, no update can follow); a `CKA_ALWAYS_AUTHENTICATE`
/// key was re-authenticated. A refusal ends the operation, as every error of these calls does
/// (PKCS#11 §5: "always terminates the active operation unless it returns
/// CKR_BUFFER_TOO_SMALL or is a successful call to determine the length").
fn begin<T>(slot: &mut Option<Active<T>>, call: Call) -> Result<&mut Active<T>> {
    let Some(active) = slot.as_ref() else {
        return Err(not_initialized());
    };
    let refusal = match (active.form, call) {
        (Some(Form::MultiPart), Call::OneShot) => Some(err(
            CKR_OPERATION_ACTIVE,
            "a multi-part operation is in progress: it ends with *Final",
        )),
        (Some(Form::OneShot), Call::Update | Call::Final) => Some(err(
            CKR_OPERATION_ACTIVE,
            "the operation was used in its single-part form: repeat that call",
        )),
        (Some(Form::MultiPart), Call::Update) if active.pending.is_some() => Some(err(
            CKR_OPERATION_ACTIVE,
            "*Final was called: repeat it to get its output",
        )),
        _ if active.needs_login => Some(err(
            CKR_USER_NOT_LOGGED_IN,
            "the key needs C_Login(CKU_CONTEXT_SPECIFIC) first",
        )),
        _ => None,
    };
    if let Some(e) = refusal {
        *slot = None;
        return Err(e);
    }
    let active = slot.as_mut().ok_or_else(not_initialized)?;
    active.form = Some(match call {
        Call::OneShot => Form::OneShot,
        Call::Update | Call::Final => Form::MultiPart,
    });
    Ok(active)
}

fn not_initialized() -> crate::base::error::Error {
    err(
        CKR_OPERATION_NOT_INITIALIZED,
        "the operation was not initialised",
    )
}

/// A session's encryption or decryption in progress.
type ActiveCipher = Option<Active<Box<dyn mechs::CipherOperation>>>;

/// Runs one output-producing call of an operation with the conventions of PKCS#11 §5.2.
/// `size` gives the exact output length without doing the work when the mechanism knows it
/// (always for an update): a length query or a short buffer then changes nothing, and the
/// work is done by the call that has room. Otherwise (a single-part or final call whose length
/// is known only from the work) the output is computed once and held for the repeated call.
/// The operation ends after a successful single-part or final call and after any error.
fn step<T>(
    slot: &mut Option<Active<T>>,
    call: Call,
    capacity: Option<usize>,
    size: impl FnOnce(&T) -> Option<usize>,
    compute: impl FnOnce(&mut T) -> Result<Vec<u8>>,
) -> Result<Output> {
    let active = begin(slot, call)?;
    let data = match active.pending.take() {
        Some(held) => held,
        None => {
            let exact = size(&active.op);
            match (exact, capacity) {
                (Some(n), None) => return Ok(Output::Size(n)),
                (Some(n), Some(c)) if c < n => return Ok(Output::TooSmall(n)),
                (None, _) if call == Call::Update => {
                    *slot = None;
                    return Err(err(
                        CKR_FUNCTION_FAILED,
                        "the mechanism does not know its update's output length",
                    ));
                }
                _ => {}
            }
            match compute(&mut active.op) {
                Ok(d) => d,
                Err(e) => {
                    *slot = None;
                    return Err(e);
                }
            }
        }
    };
    let len = data.len();
    match capacity {
        Some(c) if c >= len => {
            if call != Call::Update {
                *slot = None;
            }
            Ok(Output::Data(data))
        }
        // An update's output is never held (its length query consumed nothing): more output
        // than announced is a mechanism bug, refused rather than written past the buffer.
        _ if call == Call::Update => {
            *slot = None;
            Err(err(
                CKR_FUNCTION_FAILED,
                "the update produced more output than its announced length",
            ))
        }
        None => {
            active.pending = Some(data);
            Ok(Output::Size(len))
        }
        Some(_) => {
            active.pending = Some(data);
            Ok(Output::TooSmall(len))
        }
    }
}

/// Runs a step that produces no output (`C_SignUpdate`, `C_Verify*`, `C_DigestUpdate`).
fn silent_step<T, R>(
    slot: &mut Option<Active<T>>,
    call: Call,
    run: impl FnOnce(&mut T) -> Result<R>,
) -> Result<R> {
    let active = begin(slot, call)?;
    let r = run(&mut active.op);
    if r.is_err() || call != Call::Update {
        *slot = None;
    }
    r
}

fn ensure_idle<T>(slot: &Option<Active<T>>) -> Result<()> {
    if slot.is_some() {
        Err(err(
            CKR_OPERATION_ACTIVE,
            "an operation of this kind is already in progress",
        ))
    } else {
        Ok(())
    }
}

impl Engine {
    /// The key behind a handle, checked for use with a mechanism.
    pub(super) fn operation_key(
        &self,
        slot: &Slot,
        key: CK_OBJECT_HANDLE,
        usage: CK_ATTRIBUTE_TYPE,
        mech: &Mechanism,
        flag: CK_FLAGS,
    ) -> Result<(Arc<Object>, Arc<KeyMaterial>)> {
        let object = self.visible_object(slot, key, CKR_KEY_HANDLE_INVALID)?;
        if !object.is_key() {
            return Err(err(CKR_KEY_HANDLE_INVALID, "the handle is not a key"));
        }
        slot.offered(mech.mechanism_type)?;
        let entry = mechs::lookup_for(mech.mechanism_type, flag)?;
        let key_type = object.key_type().unwrap_or(CK_UNAVAILABLE_INFORMATION);
        if !entry.key_types.contains(&key_type) {
            return Err(err(
                CKR_KEY_TYPE_INCONSISTENT,
                format!("{} cannot use this key type", entry.name),
            ));
        }
        if !object.attrs.flag(usage, false) {
            let name = match usage {
                CKA_ENCRYPT => "CKA_ENCRYPT",
                CKA_DECRYPT => "CKA_DECRYPT",
                CKA_SIGN => "CKA_SIGN",
                CKA_VERIFY => "CKA_VERIFY",
                CKA_SIGN_RECOVER => "CKA_SIGN_RECOVER",
                CKA_VERIFY_RECOVER => "CKA_VERIFY_RECOVER",
                CKA_WRAP => "CKA_WRAP",
                CKA_UNWRAP => "CKA_UNWRAP",
                CKA_DERIVE => "CKA_DERIVE",
                CKA_ENCAPSULATE => "CKA_ENCAPSULATE",
                CKA_DECAPSULATE => "CKA_DECAPSULATE",
                _ => "usage attribute",
            };
            return Err(err(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!(
                    "the key's {name} is false: {} needs a key made with {name} true",
                    entry.name
                ),
            ));
        }
        if let Some(allowed) = object.attrs.mechanism_list(CKA_ALLOWED_MECHANISMS)
            && !allowed.is_empty()
            && !allowed.contains(&mech.mechanism_type)
        {
            return Err(err(
                CKR_MECHANISM_INVALID,
                "the key's CKA_ALLOWED_MECHANISMS excludes this mechanism",
            ));
        }
        // A key with a usage limit counts this use (a model hook: other keys pay one test).
        let object = if slot.model.limits_uses(&object.attrs) {
            self.count_use(slot, object)?
        } else {
            object
        };
        let object = self.unseal(slot, object)?;
        let material = object.key_material()?;
        Ok((object, material))
    }

    pub fn encrypt_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let mut session = session.lock();
        ensure_idle(&session.encrypt)?;
        let (_, material) = self.operation_key(slot, key, CKA_ENCRYPT, mech, CKF_ENCRYPT)?;
        session.encrypt = Some(Active::new(mechs::encrypt_init(mech, &material)?, false));
        Ok(())
    }

    pub fn encrypt(
        &self,
        h: CK_SESSION_HANDLE,
        data: &[u8],
        call: Call,
        capacity: Option<usize>,
    ) -> Result<Output> {
        self.cipher_step(h, |s| &mut s.encrypt, data, call, capacity)
    }

    /// One call of an encryption or decryption in progress (`operation` picks which).
    fn cipher_step(
        &self,
        h: CK_SESSION_HANDLE,
        operation: fn(&mut Session) -> &mut ActiveCipher,
        data: &[u8],
        call: Call,
        capacity: Option<usize>,
    ) -> Result<Output> {
        let session = self.session(h)?;
        let mut s = session.lock();
        step(
            operation(&mut s),
            call,
            capacity,
            cipher_len(call, data.len()),
            |op| match call {
                Call::OneShot => op.one_shot(data),
                Call::Update => op.update(data),
                Call::Final => op.finish(),
            },
        )
    }

    pub fn decrypt_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let mut session = session.lock();
        ensure_idle(&session.decrypt)?;
        let (object, material) = self.operation_key(slot, key, CKA_DECRYPT, mech, CKF_DECRYPT)?;
        let needs_login = object.attrs.flag(CKA_ALWAYS_AUTHENTICATE, false);
        session.decrypt = Some(Active::new(
            mechs::decrypt_init(mech, &material)?,
            needs_login,
        ));
        Ok(())
    }

    pub fn decrypt(
        &self,
        h: CK_SESSION_HANDLE,
        data: &[u8],
        call: Call,
        capacity: Option<usize>,
    ) -> Result<Output> {
        self.cipher_step(h, |s| &mut s.decrypt, data, call, capacity)
    }

    pub fn digest_init(&self, h: CK_SESSION_HANDLE, mech: &Mechanism) -> Result<()> {
        let session = self.session(h)?;
        let mut session = session.lock();
        ensure_idle(&session.digest)?;
        session.digest = Some(Active::new(mechs::digest_init(mech)?, false));
        Ok(())
    }

    pub fn digest(
        &self,
        h: CK_SESSION_HANDLE,
        data: &[u8],
        call: Call,
        capacity: Option<usize>,
    ) -> Result<Output> {
        let session = self.session(h)?;
        let mut s = session.lock();
        if call == Call::Update {
            return silent_step(&mut s.digest, call, |op| {
                op.update(data);
                Ok(Output::Size(0))
            });
        }
        step(
            &mut s.digest,
            call,
            capacity,
            |_| None,
            |op| {
                if call == Call::OneShot {
                    op.update(data);
                }
                Ok(op.finish())
            },
        )
    }

    /// `C_DigestKey`: digests a secret key's value without revealing it.
    pub fn digest_key(&self, h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let object = self.usable_object(slot, key, CKR_KEY_HANDLE_INVALID)?;
        if object.class() != CKO_SECRET_KEY {
            return Err(err(
                CKR_KEY_INDIGESTIBLE,
                "only secret keys can be digested",
            ));
        }
        let material = object.key_material()?;
        let value = &material.secret()?.value;
        let mut s = session.lock();
        silent_step(&mut s.digest, Call::Update, |op| {
            op.update(value);
            Ok(())
        })
    }

    pub fn sign_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        recover: bool,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let mut session = session.lock();
        ensure_idle(&session.sign)?;
        let (usage, flag) = if recover {
            (CKA_SIGN_RECOVER, CKF_SIGN_RECOVER)
        } else {
            (CKA_SIGN, CKF_SIGN)
        };
        let (object, material) = self.operation_key(slot, key, usage, mech, flag)?;
        let needs_login = object.attrs.flag(CKA_ALWAYS_AUTHENTICATE, false);
        let kind = if recover {
            SignKind::Recover(mech.clone(), material)
        } else {
            SignKind::Sign(mechs::sign_init(mech, &material)?)
        };
        session.sign = Some(Active::new(kind, needs_login));
        Ok(())
    }

    pub fn sign(
        &self,
        h: CK_SESSION_HANDLE,
        data: &[u8],
        call: Call,
        capacity: Option<usize>,
    ) -> Result<Output> {
        let session = self.session(h)?;
        let mut s = session.lock();
        if matches!(s.sign.as_ref().map(|a| &a.op), Some(SignKind::Recover(..))) {
            return Err(err(
                CKR_OPERATION_NOT_INITIALIZED,
                "C_SignRecoverInit was called, not C_SignInit",
            ));
        }
        if call == Call::Update {
            return silent_step(&mut s.sign, call, |op| match op {
                SignKind::Sign(op) => op.update(data).map(|_| Output::Size(0)),
                SignKind::Recover(..) => unreachable_recover(),
            });
        }
        step(
            &mut s.sign,
            call,
            capacity,
            |_| None,
            |op| match op {
                SignKind::Sign(op) if call == Call::OneShot => op.one_shot(data),
                SignKind::Sign(op) => op.finish(),
                SignKind::Recover(..) => unreachable_recover(),
            },
        )
    }

    pub fn sign_recover(
        &self,
        h: CK_SESSION_HANDLE,
        data: &[u8],
        capacity: Option<usize>,
    ) -> Result<Output> {
        let session = self.session(h)?;
        let mut s = session.lock();
        if matches!(s.sign.as_ref().map(|a| &a.op), Some(SignKind::Sign(..))) {
            return Err(err(
                CKR_OPERATION_NOT_INITIALIZED,
                "C_SignInit was called, not C_SignRecoverInit",
            ));
        }
        step(
            &mut s.sign,
            Call::OneShot,
            capacity,
            |_| None,
            |op| match op {
                SignKind::Recover(mech, key) => mechs::sign_recover(mech, key, data),
                SignKind::Sign(..) => unreachable_recover(),
            },
        )
    }

    pub fn verify_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        recover: bool,
    ) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let mut session = session.lock();
        ensure_idle(&session.verify)?;
        let (usage, flag) = if recover {
            (CKA_VERIFY_RECOVER, CKF_VERIFY_RECOVER)
        } else {
            (CKA_VERIFY, CKF_VERIFY)
        };
        let (_, material) = self.operation_key(slot, key, usage, mech, flag)?;
        let kind = if recover {
            VerifyKind::Recover(mech.clone(), material)
        } else {
            VerifyKind::Verify(mechs::verify_init(mech, &material)?)
        };
        session.verify = Some(Active::new(kind, false));
        Ok(())
    }

    /// `C_Verify` (`call` = OneShot, with data and signature), `C_VerifyUpdate` (data) and
    /// `C_VerifyFinal` (signature).
    pub fn verify(
        &self,
        h: CK_SESSION_HANDLE,
        data: &[u8],
        signature: &[u8],
        call: Call,
    ) -> Result<()> {
        let session = self.session(h)?;
        let mut s = session.lock();
        match s.verify.as_ref().map(|a| &a.op) {
            Some(VerifyKind::Recover(..)) => {
                return Err(err(
                    CKR_OPERATION_NOT_INITIALIZED,
                    "C_VerifyRecoverInit was called, not C_VerifyInit",
                ));
            }
            Some(VerifyKind::Signature(..)) => {
                return Err(err(
                    CKR_OPERATION_NOT_INITIALIZED,
                    "C_VerifySignatureInit was called, not C_VerifyInit",
                ));
            }
            _ => {}
        }
        silent_step(&mut s.verify, call, |op| match op {
            VerifyKind::Verify(op) => match call {
                Call::OneShot => op.one_shot(data, signature),
                Call::Update => op.update(data),
                Call::Final => op.finish(signature),
            },
            VerifyKind::Signature(..) | VerifyKind::Recover(..) => unreachable_recover(),
        })
    }

    /// `C_VerifySignatureInit` (PKCS#11 3.2): a verification whose signature is given now; the
    /// key checks are those of `C_VerifyInit` (`CKA_VERIFY`, a mechanism with `CKF_VERIFY`).
    pub fn verify_signature_init(
        &self,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
        signature: &[u8],
    ) -> Result<()> {
        let (session, slot) = self.slot_of(h)?;
        let mut session = session.lock();
        ensure_idle(&session.verify)?;
        let (_, material) = self.operation_key(slot, key, CKA_VERIFY, mech, CKF_VERIFY)?;
        let op = mechs::verify_init(mech, &material)?;
        session.verify = Some(Active::new(
            VerifyKind::Signature(op, signature.to_vec()),
            false,
        ));
        Ok(())
    }

    /// `C_VerifySignature` (`call` = OneShot), `C_VerifySignatureUpdate` (Update) and
    /// `C_VerifySignatureFinal` (Final, no data): the signature given at the init. A mechanism
    /// that is single-part only refuses the update as it does in `C_VerifyUpdate`.
    pub fn verify_signature(&self, h: CK_SESSION_HANDLE, data: &[u8], call: Call) -> Result<()> {
        let session = self.session(h)?;
        let mut s = session.lock();
        if matches!(
            s.verify.as_ref().map(|a| &a.op),
            Some(VerifyKind::Verify(..) | VerifyKind::Recover(..))
        ) {
            return Err(err(
                CKR_OPERATION_NOT_INITIALIZED,
                "C_VerifyInit or C_VerifyRecoverInit was called, not C_VerifySignatureInit",
            ));
        }
        silent_step(&mut s.verify, call, |op| match op {
            VerifyKind::Signature(op, signature) => match call {
                Call::OneShot => op.one_shot(data, signature),
                Call::Update => op.update(data),
                Call::Final => op.finish(signature),
            },
            VerifyKind::Verify(..) | VerifyKind::Recover(..) => unreachable_recover(),
        })
    }

    /// `C_GetSessionValidationFlags` (PKCS#11 3.2): hsmsim holds no FIPS validation objects and
    /// performs no validated operations, so the flags of `CKS_LAST_VALIDATION_OK` are 0; any
    /// other type is `CKR_ARGUMENTS_BAD` (the specification names no dedicated code).
    pub fn session_validation_flags(
        &self,
        h: CK_SESSION_HANDLE,
        kind: CK_ULONG,
    ) -> Result<CK_FLAGS> {
        self.session(h)?;
        if kind != CKS_LAST_VALIDATION_OK {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "validation flags type {kind} is not defined (only CKS_LAST_VALIDATION_OK)"
                ),
            ));
        }
        Ok(0)
    }

    pub fn verify_recover(
        &self,
        h: CK_SESSION_HANDLE,
        signature: &[u8],
        capacity: Option<usize>,
    ) -> Result<Output> {
        let session = self.session(h)?;
        let mut s = session.lock();
        if matches!(
            s.verify.as_ref().map(|a| &a.op),
            Some(VerifyKind::Verify(..) | VerifyKind::Signature(..))
        ) {
            return Err(err(
                CKR_OPERATION_NOT_INITIALIZED,
                "C_VerifyInit was called, not C_VerifyRecoverInit",
            ));
        }
        step(
            &mut s.verify,
            Call::OneShot,
            capacity,
            |_| None,
            |op| match op {
                VerifyKind::Recover(mech, key) => mechs::verify_recover(mech, key, signature),
                VerifyKind::Verify(..) | VerifyKind::Signature(..) => unreachable_recover(),
            },
        )
    }
}

/// The exact output length of a cipher call, where the mechanism knows it without the work
/// (see `step`).
fn cipher_len(
    call: Call,
    input_len: usize,
) -> impl FnOnce(&Box<dyn mechs::CipherOperation>) -> Option<usize> {
    move |op| match call {
        Call::OneShot => op.one_shot_len(input_len),
        Call::Update => Some(op.update_len(input_len)),
        Call::Final => op.finish_len(),
    }
}

fn unreachable_recover<T>() -> Result<T> {
    Err(err(
        CKR_OPERATION_NOT_INITIALIZED,
        "the operation in progress is of another kind",
    ))
}

/// Maps one return value to another (the wrap calls name their key arguments' errors).
pub(super) fn retarget(
    e: crate::base::error::Error,
    from: CK_RV,
    to: CK_RV,
) -> crate::base::error::Error {
    if e.rv == from { err(to, e.detail) } else { e }
}
