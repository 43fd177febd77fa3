//! The console host of a Luna scenario: a process of its own (`hsmsim conformance worker`)
//! that loads one PKCS#11 module as one client host sees it (the simulator's module on the
//! scenario's lab and host, or a real Luna client library) and answers requests on standard
//! input, one JSON line each, with one JSON line on standard output. A Luna procedure moves
//! between hosts (chapters 3 and 4) and the simulator's module serves one lab and one host per
//! process, so each host of a scenario is a worker, as each host of the guide is a machine.
//! Requests: a LunaCM command line (the console of `hsmsim lunacm`, with the answers its
//! prompts will get), and the scenario's own evidence: the realistic mix of objects made on a
//! slot, a slot's objects read back, and a key used (sign, verify, encrypt, decrypt) to prove
//! two copies one key. A worker logs in for evidence on sessions of its own; a scenario keeps
//! its LunaCM worker and its evidence worker apart, so their login states never mix.
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use hsmsim::estate::LabSelection;
use hsmsim_consoles::backend::calls::{Call, Token, recording};
use hsmsim_consoles::backend::module::Module;
use hsmsim_consoles::backend::objects::{self as backend_objects, KeySpec, hex};
use hsmsim_consoles::backend::outcome::{Stop, rv_name};
use hsmsim_consoles::lunacm::{Console, Prompts, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

/// One request to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// A LunaCM command line; `proceed` answers the proceed prompt (none: the prompt finds no
    /// answer, as at the end of a script), `secrets` answer the password prompts in order.
    Lunacm {
        line: String,
        #[serde(default)]
        proceed: Option<String>,
        #[serde(default)]
        secrets: Vec<String>,
    },
    /// Makes the realistic mix on `slot` as its Crypto Officer, each object labelled
    /// `<kind>-<tag>`.
    Provision {
        slot: u64,
        pin: Option<String>,
        tag: String,
    },
    /// Every object `slot` shows its Crypto Officer (those whose label contains `filter`).
    Inventory {
        slot: u64,
        pin: Option<String>,
        #[serde(default)]
        filter: Option<String>,
    },
    /// Uses the key labelled `label` of `class` on `slot`.
    Use {
        slot: u64,
        pin: Option<String>,
        label: String,
        class: String,
        action: KeyUse,
        /// Hex: the data (a digest for ECDSA), the ciphertext for decrypt.
        data: String,
        /// Hex: the IV of block-cipher modes, the signature to verify.
        #[serde(default)]
        extra: String,
    },
    /// Sets partition policies of `slot` as its SO (pre-PPSO: the HSM SO's side of the
    /// partition), `CA_SetTokenPolicies`, on a session of its own: the worker must not be
    /// logged in to `slot` otherwise.
    SetPolicies {
        slot: u64,
        so_pin: Option<String>,
        changes: Vec<(u64, u64)>,
    },
    /// Destroys `slot`'s objects whose label contains `filter`.
    Destroy {
        slot: u64,
        pin: Option<String>,
        filter: String,
    },
}

/// What `Use` does with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyUse {
    Sign,
    Verify,
    Encrypt,
    Decrypt,
}

/// One answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Response {
    /// What LunaCM printed and how the command ended.
    Console {
        /// Everything printed, the `Command Result` trailer included.
        output: String,
        /// `done`, `refused`, `aborted` or `usage`.
        status: String,
        /// The `CKR_*` name of a refusal.
        code: Option<String>,
        /// The prompts the command showed (proceed questions and password questions).
        prompts: Vec<String>,
    },
    Objects {
        objects: Vec<ObjectInfo>,
        calls: Vec<WorkerCall>,
    },
    Bytes {
        hex: String,
        calls: Vec<WorkerCall>,
    },
    Done {
        detail: String,
        calls: Vec<WorkerCall>,
    },
    /// The request failed: the detail ends with the call's code (`C_Sign: CKR_...`).
    Failed {
        detail: String,
        calls: Vec<WorkerCall>,
    },
}

/// A PKCS#11 call a worker made, for the scenario's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerCall {
    pub function: String,
    pub subject: String,
    pub rv: String,
    pub duration_us: u64,
}

impl From<Call> for WorkerCall {
    fn from(c: Call) -> WorkerCall {
        WorkerCall {
            function: c.function,
            subject: c.subject,
            rv: c.rv,
            duration_us: c.duration_us,
        }
    }
}

/// One object as the outcome checks compare it: identity, class, key type and the
/// policy-relevant attributes (never a secret value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub handle: u64,
    pub label: String,
    pub class: String,
    pub key_type: Option<String>,
    /// Luna's object id (`CA_GetObjectUID`, the `CKA_OUID`), hex; none where the module has no
    /// `CA_*` extensions.
    pub ouid: Option<String>,
    /// The compared attributes by name, values as text.
    pub attributes: BTreeMap<String, String>,
}

/// The kinds of the realistic mix, as labels start: RSA and EC pairs, AES and 3DES keys, a
/// certificate and a data object.
pub const MIX: &[&str] = &["rsa", "ec", "aes", "des3", "cert", "data"];

/// The certificate of the mix (DER).
const MIX_CERTIFICATE: &[u8] = include_bytes!("../../../../fixtures/pki/adcs-ca.crt.der");

/// The attributes compared, those that exist on the object's class.
const COMPARED: &[AttributeType] = &[
    AttributeType::Id,
    AttributeType::Token,
    AttributeType::Private,
    AttributeType::Modifiable,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
    AttributeType::Wrap,
    AttributeType::Unwrap,
    AttributeType::Derive,
    AttributeType::ValueLen,
    AttributeType::Modulus,
    AttributeType::PublicExponent,
    AttributeType::EcParams,
    AttributeType::EcPoint,
    AttributeType::Application,
];

/// Serves requests from `input` until it ends.
pub fn serve(
    module: Arc<Module>,
    mut lab: Option<LabSelection>,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<(), String> {
    let mut console: Option<Console> = None;
    let mut sessions: BTreeMap<u64, Session> = BTreeMap::new();
    for line in input.lines() {
        let line = line.map_err(|e| format!("cannot read a request: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let response = match serde_json::from_str::<Request>(&line) {
            Err(e) => Response::Failed {
                detail: format!("not a worker request: {e}"),
                calls: Vec::new(),
            },
            Ok(Request::Lunacm {
                line,
                proceed,
                secrets,
            }) => {
                if console.is_none() {
                    let mut c = Console::new(module.clone())?;
                    if let Some(lab) = lab.take() {
                        c = c.with_lab(lab);
                    }
                    console = Some(c);
                }
                let console = console.as_mut().ok_or("no console")?;
                lunacm(console, &line, proceed, secrets)
            }
            Ok(request) => evidence(&module, &mut sessions, request),
        };
        let text = serde_json::to_string(&response).map_err(|e| e.to_string())?;
        writeln!(output, "{text}").map_err(|e| format!("cannot answer: {e}"))?;
        output.flush().map_err(|e| format!("cannot answer: {e}"))?;
    }
    Ok(())
}

/// The answers a request gives LunaCM's prompts, and the prompts shown.
struct Answers {
    proceed: Option<String>,
    secrets: std::collections::VecDeque<String>,
    shown: Vec<String>,
}

impl Prompts for Answers {
    fn secret(&mut self, question: &str) -> Option<String> {
        self.shown.push(question.trim().to_string());
        self.secrets.pop_front()
    }

    fn answer(&mut self, question: &str) -> Option<String> {
        self.shown.push(question.trim().to_string());
        self.proceed.clone()
    }
}

fn lunacm(
    console: &mut Console,
    line: &str,
    proceed: Option<String>,
    secrets: Vec<String>,
) -> Response {
    let mut answers = Answers {
        proceed,
        secrets: secrets.into(),
        shown: Vec::new(),
    };
    let Some(reply) = console.run_line(line, &mut answers) else {
        return Response::Console {
            output: String::new(),
            status: "done".into(),
            code: None,
            prompts: answers.shown,
        };
    };
    let (status, code) = match reply.status {
        Status::Done => ("done", None),
        Status::Refused(rv) => ("refused", Some(rv_name(rv).to_string())),
        Status::Aborted => ("aborted", None),
        Status::Usage(_) => ("usage", None),
    };
    Response::Console {
        output: reply.render(),
        status: status.into(),
        code,
        prompts: answers.shown,
    }
}

/// The module's slot numbered `slot`.
fn slot_with_id(module: &Module, slot: u64) -> Result<cryptoki::slot::Slot, Stop> {
    module
        .pkcs11
        .get_all_slots()?
        .into_iter()
        .find(|s| s.id() == slot)
        .ok_or_else(|| Stop::fail(format!("the module has no slot {slot}")))
}

/// The worker's session on `slot`, its Crypto Officer logged in (`pin` none: the PED's key).
fn session<'s>(
    module: &Module,
    sessions: &'s mut BTreeMap<u64, Session>,
    slot: u64,
    pin: Option<&str>,
) -> Result<&'s Session, Stop> {
    use cryptoki::error::{Error, RvError};
    use std::collections::btree_map::Entry;
    match sessions.entry(slot) {
        Entry::Occupied(e) => Ok(e.into_mut()),
        Entry::Vacant(e) => {
            let slot_handle = slot_with_id(module, slot)?;
            let session = module.pkcs11.open_rw_session(slot_handle)?;
            let pin = pin.map(|p| AuthPin::new(p.to_string().into()));
            match session.login(UserType::User, pin.as_ref()) {
                Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(e.insert(session))
        }
    }
}

fn evidence(module: &Module, sessions: &mut BTreeMap<u64, Session>, request: Request) -> Response {
    let (outcome, calls) = recording(|| -> Result<Response, Stop> {
        match request {
            Request::Lunacm { .. } => Err(Stop::fail("not an evidence request")),
            Request::Provision { slot, pin, tag } => {
                let s = session(module, sessions, slot, pin.as_deref())?;
                let tok = Token::new(s, &module.raw, None);
                provision(&tok, &tag)?;
                Ok(Response::Objects {
                    objects: inventory(&tok, slot, Some(&tag))?,
                    calls: Vec::new(),
                })
            }
            Request::Inventory { slot, pin, filter } => {
                let s = session(module, sessions, slot, pin.as_deref())?;
                let tok = Token::new(s, &module.raw, None);
                Ok(Response::Objects {
                    objects: inventory(&tok, slot, filter.as_deref())?,
                    calls: Vec::new(),
                })
            }
            Request::Use {
                slot,
                pin,
                label,
                class,
                action,
                data,
                extra,
            } => {
                let s = session(module, sessions, slot, pin.as_deref())?;
                let tok = Token::new(s, &module.raw, None);
                let out = use_key(
                    &tok,
                    &label,
                    &class,
                    action,
                    &unhex(&data)?,
                    &unhex(&extra)?,
                )?;
                Ok(Response::Bytes {
                    hex: hex(&out),
                    calls: Vec::new(),
                })
            }
            Request::SetPolicies {
                slot,
                so_pin,
                changes,
            } => {
                let slot_handle = slot_with_id(module, slot)?;
                let s = module.pkcs11.open_rw_session(slot_handle)?;
                let pin = so_pin.map(|p| AuthPin::new(p.into()));
                s.login(UserType::So, pin.as_ref())?;
                let set = module
                    .raw
                    .set_token_policies(s.handle(), slot, &changes)
                    .map_err(|rv| Stop::fail(format!("CA_SetTokenPolicies: {}", rv_name(rv))));
                let _ = s.logout();
                set?;
                Ok(Response::Done {
                    detail: format!("policies {changes:?} set on slot {slot}"),
                    calls: Vec::new(),
                })
            }
            Request::Destroy { slot, pin, filter } => {
                let s = session(module, sessions, slot, pin.as_deref())?;
                let tok = Token::new(s, &module.raw, None);
                let mine = inventory(&tok, slot, Some(&filter))?;
                for handle in tok.find_objects(&[])? {
                    if mine.iter().any(|o| o.handle == handle.handle()) {
                        tok.destroy_object(handle)?;
                    }
                }
                Ok(Response::Done {
                    detail: format!("{} objects destroyed", mine.len()),
                    calls: Vec::new(),
                })
            }
        }
    });
    let calls: Vec<WorkerCall> = calls.into_iter().map(WorkerCall::from).collect();
    match outcome {
        Ok(Response::Objects { objects, .. }) => Response::Objects { objects, calls },
        Ok(Response::Bytes { hex, .. }) => Response::Bytes { hex, calls },
        Ok(Response::Done { detail, .. }) => Response::Done { detail, calls },
        Ok(other) => other,
        Err(Stop::Fail { detail, .. }) | Err(Stop::NotApplicable(detail)) => {
            Response::Failed { detail, calls }
        }
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, Stop> {
    hex::decode(text).map_err(|e| Stop::fail(format!("bad hex in a request: {e}")))
}

/// Makes the mix: an RSA-2048 and an EC P-256 pair, an AES-256 and a 3DES key, a certificate
/// and a data object, each labelled `<kind>-<tag>` with id `<kind>`.
fn provision(tok: &Token<'_>, tag: &str) -> Result<(), Stop> {
    let label = |kind: &str| format!("{kind}-{tag}");
    backend_objects::make_key(
        tok,
        KeySpec::Rsa { bits: 2048 },
        &label("rsa"),
        b"rsa",
        false,
    )?;
    backend_objects::make_key(tok, KeySpec::EcP256, &label("ec"), b"ec", false)?;
    backend_objects::make_key(
        tok,
        KeySpec::Aes { bytes: 32 },
        &label("aes"),
        b"aes",
        false,
    )?;
    tok.generate_key(
        &Mechanism::Des3KeyGen,
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(label("des3").into_bytes()),
            Attribute::Id(b"des3".to_vec()),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ],
    )?;
    tok.create_object(&[
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(cryptoki::object::CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(label("cert").into_bytes()),
        Attribute::Id(b"cert".to_vec()),
        Attribute::Subject(certificate_subject()),
        Attribute::Value(MIX_CERTIFICATE.to_vec()),
    ])?;
    tok.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Label(label("data").into_bytes()),
        Attribute::Application(b"hsmsim conformance".to_vec()),
        Attribute::Value(format!("migration record {tag}").into_bytes()),
    ])?;
    Ok(())
}

/// The mix certificate's subject (DER), read from the certificate.
fn certificate_subject() -> Vec<u8> {
    use der::{Decode, Encode};
    x509_cert::Certificate::from_der(MIX_CERTIFICATE)
        .ok()
        .and_then(|c| c.tbs_certificate().subject().to_der().ok())
        .unwrap_or_default()
}

fn class_name(class: ObjectClass) -> String {
    class.to_string()
}

/// Every object of the token (labels containing `filter`), sorted by label then class.
fn inventory(tok: &Token<'_>, slot: u64, filter: Option<&str>) -> Result<Vec<ObjectInfo>, Stop> {
    let handles = tok.find_objects(&[])?;
    let mut out = Vec::new();
    for handle in handles {
        let basics = tok.get_attributes(
            handle,
            &[
                AttributeType::Class,
                AttributeType::Label,
                AttributeType::KeyType,
            ],
        )?;
        let mut class = None;
        let mut label = String::new();
        let mut key_type = None;
        for a in &basics {
            match a {
                Attribute::Class(c) => class = Some(*c),
                Attribute::Label(l) => label = String::from_utf8_lossy(l).into_owned(),
                Attribute::KeyType(k) => key_type = Some(key_type_name(*k)),
                _ => {}
            }
        }
        let Some(class) = class else { continue };
        // Profile objects describe the token, not its contents.
        if class == ObjectClass::PROFILE {
            continue;
        }
        if let Some(f) = filter
            && !label.contains(f)
        {
            continue;
        }
        let mut attributes = BTreeMap::new();
        for a in tok.get_attributes(handle, COMPARED)? {
            attributes.insert(a.attribute_type().to_string(), format!("{a:?}"));
        }
        if matches!(class, ObjectClass::CERTIFICATE | ObjectClass::DATA) {
            for a in tok.get_attributes(handle, &[AttributeType::Value])? {
                if let Attribute::Value(v) = a {
                    attributes.insert("CKA_VALUE".into(), hex(&v));
                }
            }
        }
        let ouid = tok
            .raw
            .object_uid(slot, handle.handle())
            .ok()
            .map(|v| hex(&v));
        out.push(ObjectInfo {
            handle: handle.handle(),
            label,
            class: class_name(class),
            key_type,
            ouid,
            attributes,
        });
    }
    out.sort_by(|a, b| (&a.label, &a.class).cmp(&(&b.label, &b.class)));
    Ok(out)
}

fn key_type_name(k: KeyType) -> String {
    k.to_string()
}

/// The class a request names (`CKO_PRIVATE_KEY` ...).
fn class_named(name: &str) -> Result<ObjectClass, Stop> {
    [
        ObjectClass::PRIVATE_KEY,
        ObjectClass::PUBLIC_KEY,
        ObjectClass::SECRET_KEY,
    ]
    .into_iter()
    .find(|c| c.to_string() == name)
    .ok_or_else(|| Stop::fail(format!("no key class {name}")))
}

fn use_key(
    tok: &Token<'_>,
    label: &str,
    class: &str,
    action: KeyUse,
    data: &[u8],
    extra: &[u8],
) -> Result<Vec<u8>, Stop> {
    let class = class_named(class)?;
    let key = backend_objects::find_one(tok, label, class)?;
    let key_type = tok
        .get_attributes(key, &[AttributeType::KeyType])?
        .into_iter()
        .find_map(|a| match a {
            Attribute::KeyType(k) => Some(k),
            _ => None,
        })
        .ok_or_else(|| Stop::fail(format!("{label} has no key type")))?;
    let iv16 = || -> Result<[u8; 16], Stop> {
        extra
            .try_into()
            .map_err(|_| Stop::fail("an AES IV is 16 bytes"))
    };
    let iv8 = || -> Result<[u8; 8], Stop> {
        extra
            .try_into()
            .map_err(|_| Stop::fail("a 3DES IV is 8 bytes"))
    };
    let mechanism = match key_type {
        KeyType::RSA => Mechanism::Sha256RsaPkcs,
        KeyType::EC => Mechanism::Ecdsa,
        KeyType::AES => Mechanism::AesCbcPad(iv16()?),
        KeyType::DES3 => Mechanism::Des3CbcPad(iv8()?),
        other => return Err(Stop::fail(format!("{label}: no use for key type {other}"))),
    };
    Ok(match action {
        KeyUse::Sign => tok.sign(&mechanism, key, data)?,
        KeyUse::Verify => {
            tok.verify(&mechanism, key, data, extra)?;
            Vec::new()
        }
        KeyUse::Encrypt => tok.encrypt(&mechanism, key, data)?,
        KeyUse::Decrypt => tok.decrypt(&mechanism, key, data)?,
    })
}
