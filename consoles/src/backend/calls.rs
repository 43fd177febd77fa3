//! The record of the PKCS#11 calls a token operation makes. Every token operation of the
//! consoles (Primus Tools), of the conformance scenarios and of the PFX import goes through a
//! [`Token`] (a logged-in session and its module's raw table); each is timed and, while a
//! report entry is being recorded ([`recording`]), appended to that entry's calls with the
//! party, the PKCS#11 functions made, what the call named (mechanism, object, label), the
//! return code and the duration. Outside a recording (the CLI's `primus-tools` and
//! `import-pfx`) nothing is kept.
//!
//! One record per operation: cryptoki makes some operations as several C calls (`C_SignInit`,
//! then `C_Sign` asking for the length, then `C_Sign`); the record lists them in order, and a
//! failed one lists them up to the call that failed, whose code it carries.
use super::outcome::{ckr_name, describe_error};
use super::raw::{RawMechanism, RawModule};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::{CK_RV, CKR_OK};
use serde::Serialize;
use std::cell::RefCell;
use std::time::Instant;

/// One recorded operation (the JSON report's `steps[].calls[]` entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The party whose token answered, as the caller names it ("origin", "target"; none when
    /// the token plays no part, as in the CLI).
    pub party: Option<&'static str>,
    /// The PKCS#11 functions made, in order: "C_GenerateKey", "C_SignInit, C_Sign, C_Sign".
    pub function: String,
    /// What the call named: "CKM_AES_KEY_GEN, label mig-3f9a1c-aes-128", "object 12".
    pub subject: String,
    /// The return code of the last function made: "CKR_OK", "CKR_KEY_UNEXTRACTABLE".
    pub rv: String,
    pub duration_us: u64,
}

thread_local! {
    /// The calls of the report entry being recorded on this thread (a scenario runs on one
    /// thread from start to end).
    static RECORDING: RefCell<Option<Vec<Call>>> = const { RefCell::new(None) };
}

/// Runs `f`, returning what it returned and the calls it made on this thread.
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, Vec<Call>) {
    let outer = RECORDING.with(|r| r.borrow_mut().replace(Vec::new()));
    let value = f();
    let calls = RECORDING.with(|r| {
        let mut r = r.borrow_mut();
        let mine = r.take().unwrap_or_default();
        *r = outer;
        mine
    });
    (value, calls)
}

/// Adds a call made elsewhere (another process's, reported back) to the recording of this
/// thread, as if made here.
pub fn record(call: Call) {
    push(call);
}

fn push(call: Call) {
    RECORDING.with(|r| {
        if let Some(calls) = r.borrow_mut().as_mut() {
            calls.push(call);
        }
    });
}

/// The C functions of a cryptoki operation that failed, up to the one that failed.
fn made_until(functions: &[&str], failed: &str) -> String {
    match functions.iter().position(|f| *f == failed) {
        Some(i) => functions[..=i].join(", "),
        None => failed.to_string(),
    }
}

/// A mechanism's name for the record ("CKM_RSA_PKCS_OAEP").
fn mechanism(m: &Mechanism<'_>) -> String {
    m.mechanism_type().to_string()
}

/// What a one-part data operation named: "CKM_AES_CBC_PAD, key 5, 48 bytes".
fn data_subject(m: &Mechanism<'_>, key: ObjectHandle, data: &[u8]) -> String {
    format!("{}, key {key}, {} bytes", mechanism(m), data.len())
}

/// The label a template names, for the record.
fn label_of(template: &[Attribute]) -> Option<String> {
    template.iter().find_map(|a| match a {
        Attribute::Label(l) => Some(format!("label {}", String::from_utf8_lossy(l))),
        _ => None,
    })
}

fn with_label(first: String, template: &[Attribute]) -> String {
    match label_of(template) {
        Some(label) => format!("{first}, {label}"),
        None => first,
    }
}

/// A token the operations run on: a logged-in session, the module's raw table (for the
/// mechanisms cryptoki cannot express) and, in a scenario, the party it is.
pub struct Token<'a> {
    pub session: &'a Session,
    pub raw: &'a RawModule,
    pub party: Option<&'static str>,
}

impl<'a> Token<'a> {
    pub fn new(session: &'a Session, raw: &'a RawModule, party: Option<&'static str>) -> Token<'a> {
        Token {
            session,
            raw,
            party,
        }
    }

    /// Makes one cryptoki operation, recorded as the C `functions` it makes.
    fn call<T>(
        &self,
        functions: &[&str],
        subject: String,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        self.call_telling(functions, subject, f, |_| None)
    }

    /// `call`, with `result` adding what a successful call returned to the record's subject
    /// (e.g. how many objects a search found).
    fn call_telling<T>(
        &self,
        functions: &[&str],
        mut subject: String,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
        result: impl FnOnce(&T) -> Option<String>,
    ) -> cryptoki::error::Result<T> {
        let started = Instant::now();
        let outcome = f(self.session);
        let duration_us = started.elapsed().as_micros() as u64;
        let (function, rv) = match &outcome {
            Ok(value) => {
                if let Some(told) = result(value) {
                    subject = format!("{subject}: {told}");
                }
                (functions.join(", "), "CKR_OK".to_string())
            }
            Err(e @ cryptoki::error::Error::Pkcs11(rv, _)) => {
                // "C_WrapKey: CKR_..." names the function that failed.
                let described = describe_error(e);
                let failed = described.split(": ").next().unwrap_or_default().to_string();
                (made_until(functions, &failed), ckr_name(rv))
            }
            // Not a token's answer (cryptoki refused the arguments before any call).
            Err(other) => (functions.join(", "), format!("not called: {other}")),
        };
        push(Call {
            party: self.party,
            function,
            subject,
            rv,
            duration_us,
        });
        outcome
    }

    /// Makes one raw operation (a mechanism cryptoki cannot express) of the C `functions`
    /// (the same function; a failed one names it once).
    fn raw_call<T>(
        &self,
        functions: &[&str],
        subject: String,
        f: impl FnOnce() -> Result<T, CK_RV>,
    ) -> Result<T, CK_RV> {
        let started = Instant::now();
        let outcome = f();
        let duration_us = started.elapsed().as_micros() as u64;
        let (rv, function) = match &outcome {
            Ok(_) => (CKR_OK, functions.join(", ")),
            Err(rv) => (
                *rv,
                functions.last().copied().unwrap_or_default().to_string(),
            ),
        };
        push(Call {
            party: self.party,
            function,
            subject,
            rv: match cryptoki::error::Rv::from(rv) {
                cryptoki::error::Rv::Ok => "CKR_OK".to_string(),
                cryptoki::error::Rv::Error(e) => ckr_name(&e),
            },
            duration_us,
        });
        outcome
    }

    pub fn generate_key(
        &self,
        m: &Mechanism<'_>,
        template: &[Attribute],
    ) -> cryptoki::error::Result<ObjectHandle> {
        self.call(
            &["C_GenerateKey"],
            with_label(mechanism(m), template),
            |s| s.generate_key(m, template),
        )
    }

    pub fn generate_key_pair(
        &self,
        m: &Mechanism<'_>,
        public: &[Attribute],
        private: &[Attribute],
    ) -> cryptoki::error::Result<(ObjectHandle, ObjectHandle)> {
        self.call(
            &["C_GenerateKeyPair"],
            with_label(mechanism(m), public),
            |s| s.generate_key_pair(m, public, private),
        )
    }

    pub fn create_object(&self, template: &[Attribute]) -> cryptoki::error::Result<ObjectHandle> {
        let class = template
            .iter()
            .find_map(|a| match a {
                Attribute::Class(c) => Some(c.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "object".into());
        self.call(&["C_CreateObject"], with_label(class, template), |s| {
            s.create_object(template)
        })
    }

    pub fn destroy_object(&self, object: ObjectHandle) -> cryptoki::error::Result<()> {
        self.call(&["C_DestroyObject"], format!("object {object}"), |s| {
            s.destroy_object(object)
        })
    }

    pub fn find_objects(
        &self,
        template: &[Attribute],
    ) -> cryptoki::error::Result<Vec<ObjectHandle>> {
        let what = template
            .iter()
            .map(|a| match a {
                Attribute::Label(l) => format!("label {}", String::from_utf8_lossy(l)),
                Attribute::Class(c) => c.to_string(),
                other => other.attribute_type().to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        // The record says how many were found: the count is the evidence of many checks.
        self.call_telling(
            &["C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal"],
            what,
            |s| s.find_objects(template),
            |found| Some(format!("{} found", found.len())),
        )
    }

    pub fn get_attributes(
        &self,
        object: ObjectHandle,
        types: &[AttributeType],
    ) -> cryptoki::error::Result<Vec<Attribute>> {
        let names = types
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        self.call(
            &["C_GetAttributeValue"],
            format!("object {object}: {names}"),
            |s| s.get_attributes(object, types),
        )
    }

    pub fn encrypt(
        &self,
        m: &Mechanism<'_>,
        key: ObjectHandle,
        data: &[u8],
    ) -> cryptoki::error::Result<Vec<u8>> {
        self.call(
            &["C_EncryptInit", "C_Encrypt", "C_Encrypt"],
            data_subject(m, key, data),
            |s| s.encrypt(m, key, data),
        )
    }

    pub fn decrypt(
        &self,
        m: &Mechanism<'_>,
        key: ObjectHandle,
        data: &[u8],
    ) -> cryptoki::error::Result<Vec<u8>> {
        self.call(
            &["C_DecryptInit", "C_Decrypt", "C_Decrypt"],
            data_subject(m, key, data),
            |s| s.decrypt(m, key, data),
        )
    }

    pub fn sign(
        &self,
        m: &Mechanism<'_>,
        key: ObjectHandle,
        data: &[u8],
    ) -> cryptoki::error::Result<Vec<u8>> {
        self.call(
            &["C_SignInit", "C_Sign", "C_Sign"],
            data_subject(m, key, data),
            |s| s.sign(m, key, data),
        )
    }

    pub fn verify(
        &self,
        m: &Mechanism<'_>,
        key: ObjectHandle,
        data: &[u8],
        signature: &[u8],
    ) -> cryptoki::error::Result<()> {
        self.call(
            &["C_VerifyInit", "C_Verify"],
            format!(
                "{}, key {key}, {} bytes, {}-byte signature",
                mechanism(m),
                data.len(),
                signature.len()
            ),
            |s| s.verify(m, key, data, signature),
        )
    }

    pub fn wrap_key(
        &self,
        m: &Mechanism<'_>,
        wrapping: ObjectHandle,
        key: ObjectHandle,
    ) -> cryptoki::error::Result<Vec<u8>> {
        self.call(
            &["C_WrapKey", "C_WrapKey"],
            format!("{}, wrapping key {wrapping}, key {key}", mechanism(m)),
            |s| s.wrap_key(m, wrapping, key),
        )
    }

    pub fn unwrap_key(
        &self,
        m: &Mechanism<'_>,
        unwrapping: ObjectHandle,
        wrapped: &[u8],
        template: &[Attribute],
    ) -> cryptoki::error::Result<ObjectHandle> {
        self.call(
            &["C_UnwrapKey"],
            with_label(
                format!(
                    "{}, unwrapping key {unwrapping}, {} bytes",
                    mechanism(m),
                    wrapped.len()
                ),
                template,
            ),
            |s| s.unwrap_key(m, unwrapping, wrapped, template),
        )
    }

    /// `C_EncapsulateKey` (PKCS#11 3.2): the ciphertext and the new secret key `template` makes.
    pub fn encapsulate_key(
        &self,
        m: &Mechanism<'_>,
        public: ObjectHandle,
        template: &[Attribute],
    ) -> cryptoki::error::Result<(Vec<u8>, ObjectHandle)> {
        self.call(
            &["C_EncapsulateKey", "C_EncapsulateKey"],
            with_label(format!("{}, public key {public}", mechanism(m)), template),
            |s| s.encapsulate_key(m, public, template),
        )
    }

    /// `C_DecapsulateKey` (PKCS#11 3.2): the secret key `ciphertext` holds, made from `template`.
    pub fn decapsulate_key(
        &self,
        m: &Mechanism<'_>,
        private: ObjectHandle,
        template: &[Attribute],
        ciphertext: &[u8],
    ) -> cryptoki::error::Result<ObjectHandle> {
        self.call(
            &["C_DecapsulateKey"],
            with_label(
                format!(
                    "{}, private key {private}, {}-byte ciphertext",
                    mechanism(m),
                    ciphertext.len()
                ),
                template,
            ),
            |s| s.decapsulate_key(m, private, template, ciphertext),
        )
    }

    /// `C_WrapKey` with a mechanism cryptoki cannot express (`mechanism_name` names it).
    pub fn raw_wrap_key(
        &self,
        mechanism_name: &str,
        m: RawMechanism<'_>,
        wrapping: ObjectHandle,
        key: ObjectHandle,
    ) -> Result<Vec<u8>, CK_RV> {
        self.raw_call(
            &["C_WrapKey", "C_WrapKey"],
            format!("{mechanism_name}, wrapping key {wrapping}, key {key}"),
            || self.raw.wrap_key(self.session, m, wrapping, key),
        )
    }

    /// `C_UnwrapKey` with a mechanism cryptoki cannot express.
    pub fn raw_unwrap_key(
        &self,
        mechanism_name: &str,
        m: RawMechanism<'_>,
        unwrapping: ObjectHandle,
        wrapped: &[u8],
        template: &[Attribute],
    ) -> Result<ObjectHandle, CK_RV> {
        self.raw_call(
            &["C_UnwrapKey"],
            with_label(
                format!(
                    "{mechanism_name}, unwrapping key {unwrapping}, {} bytes",
                    wrapped.len()
                ),
                template,
            ),
            || {
                self.raw
                    .unwrap_key(self.session, m, unwrapping, wrapped, template)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_operation_lists_the_calls_up_to_the_one_that_failed() {
        let sign = ["C_SignInit", "C_Sign", "C_Sign"];
        assert_eq!(made_until(&sign, "C_SignInit"), "C_SignInit");
        assert_eq!(made_until(&sign, "C_Sign"), "C_SignInit, C_Sign");
        assert_eq!(made_until(&sign, "C_Other"), "C_Other");
    }

    #[test]
    fn calls_are_kept_only_inside_a_recording_and_recordings_nest() {
        let call = |f: &str| Call {
            party: None,
            function: f.into(),
            subject: String::new(),
            rv: "CKR_OK".into(),
            duration_us: 1,
        };
        push(call("C_Outside"));
        let ((), outer) = recording(|| {
            push(call("C_A"));
            let ((), inner) = recording(|| push(call("C_B")));
            assert_eq!(inner, vec![call("C_B")]);
            push(call("C_C"));
        });
        assert_eq!(outer, vec![call("C_A"), call("C_C")]);
        let ((), none) = recording(|| ());
        assert!(none.is_empty());
    }
}
