//! `oasis.*`: the OASIS PKCS#11 profile test cases (`crate::oasis` reads and replays them, and
//! states the comparison rules). A scenario is one file (variant `v3.1` or `v3.2`) on the
//! target token: the module's Cryptoki version is checked first (a module below the file's
//! version is "not applicable"), the profile's fixtures are provisioned, every call of the
//! file is a step (function, return code, what was compared and bound), and the fixtures the
//! scenario made are removed at the end.
//!
//! Fixtures (simulator-defined where the profiles only show the objects):
//! - BL: the token is initialised (`CKF_TOKEN_INITIALIZED`); nothing is made.
//! - EXT: the run's user PIN logs in (the pre-flight did); nothing is made.
//! - AUTH: an RSA-2048 key pair labelled `testrsa-pub` / `testrsa-pri`, CKA_ID 01, token
//!   objects, the public key public, the private key private and able to sign; generated when
//!   the token has neither, used as it is when it has both (made by its owner, then left),
//!   refused when it has one only.
//! - CERT: five public token X.509 certificate objects, each the GlobalSign Root CA
//!   (`conformance/oasis/GlobalSign_Root_CA.der`) labelled "Mozilla Builtin Roots" with its C
//!   string terminator (22 bytes, as NSS's built-in roots module stores it), so that object[0]
//!   has the file's label and object[1] the file's value in whatever order the module finds
//!   them; made when the token has no public token object, used as they are when it has five
//!   or more, "not applicable" when it has one to four that are not the fixture's (they would
//!   take the places the file gives its objects). The token's `CKO_PROFILE` objects (its
//!   PKCS#11 3.x profile declarations) do not count, and the replay sets them aside.
use super::PlannedObject;
use crate::oasis::replay::{Replayer, Table};
use crate::oasis::{self, xml};
use crate::runner::{Case, Parties, Run, Stop, describe_error};
use crate::target::{Party, Role};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

/// The label of the CERT fixture's objects, with its C string terminator.
pub const CERT_LABEL: &[u8] = b"Mozilla Builtin Roots\0";

/// The objects a scenario may create on the target (with the labels the file needs: the
/// profile names them, so they carry no run tag).
pub fn planned_objects(procedure: &str) -> Vec<PlannedObject> {
    let object = |name: &str, what: &str| {
        PlannedObject {
        tagged: false,
        party: Role::Target,
        name: name.into(),
        what: what.into(),
        made_by: "precondition: the profile's fixtures; made only when the token has none, and only what was made is destroyed".into(),
    }
    };
    match procedure {
        "oasis.authentication-token" => vec![
            object("testrsa-pub", "RSA-2048 public key, CKA_ID 01"),
            object("testrsa-pri", "RSA-2048 private key, CKA_ID 01"),
        ],
        "oasis.public-certificates-token" => vec![object(
            "Mozilla Builtin Roots",
            "five public X.509 certificates (GlobalSign Root CA)",
        )],
        _ => Vec::new(),
    }
}

/// How the module's Cryptoki version is compared with the file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRule {
    /// The module's version must be at least the file's, else "not applicable" (the rule of
    /// the procedures).
    AtLeast,
    /// Only the major version must match; a lower minor version is noted (tests of the replay
    /// on a module below the files' versions; no procedure uses it).
    SameMajor,
}

/// Carries out one scenario: one test case file on the target.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    run_with(run, parties, VersionRule::AtLeast)
}

/// `run`, comparing the Cryptoki version by `rule`.
pub fn run_with(run: &mut Run<'_>, parties: &Parties, rule: VersionRule) -> Result<(), Stop> {
    let party = parties.get(Role::Target)?;
    let variant = match run.case {
        Case::Positive(v) => v.id.clone(),
        Case::Negative(n) => {
            return Err(Stop::NotApplicable(format!(
                "the OASIS test cases have no negative case ({})",
                n.id
            )));
        }
    };
    let procedure = run.procedure.id.clone();
    let file = oasis::file(&procedure, &variant).ok_or_else(|| {
        Stop::NotApplicable(format!(
            "no vendored test case file for {procedure} {variant}"
        ))
    })?;
    let case =
        xml::parse(file.text).map_err(|e| Stop::fail(format!("conformance/{}: {e}", file.path)))?;
    let table = run.precondition_noted(
        "the module's Cryptoki version is at least the file's",
        || {
            let table = Table::open(&party.module).map_err(Stop::fail)?;
            let got = table.cryptoki_version().map_err(Stop::fail)?;
            let want = oasis::file_version(&case)
                .ok_or_else(|| Stop::fail("the file names no CryptokiVersion"))?;
            let lower = (got.major, got.minor) < want;
            if lower && !(rule == VersionRule::SameMajor && got.major == want.0) {
                return Err(Stop::NotApplicable(format!(
                    "{} reports Cryptoki {}.{} (entered through {}); the test cases of conformance/{} are for Cryptoki {}.{} and later",
                    party.describe(),
                    got.major,
                    got.minor,
                    table.entered,
                    file.path,
                    want.0,
                    want.1
                )));
            }
            let note = format!(
                "Cryptoki {}.{} through {}; file conformance/{}",
                got.major, got.minor, table.entered, file.path
            );
            Ok((table, note))
        },
    )?;
    let made = run.precondition_noted("the profile's fixtures", || provision(&procedure, party))?;
    let pin = party
        .pin_for_worker()
        .map_err(|e| Stop::fail(format!("no PIN for ${{Pin}}: {e}")))?;
    let extra_variable = if procedure == "oasis.authentication-token" && made.is_some() {
        vec!["MODULUS", "Signature"]
    } else {
        Vec::new()
    };
    let mut replayer = Replayer::new(table, party.slot.id(), pin, extra_variable);
    replayer.accept_lower_minor = rule == VersionRule::SameMajor;
    let outcome = replay(run, &mut replayer, &case);
    let leftovers = replayer.close_leftovers();
    run.cleanup("the fixtures this scenario made", outcome, || {
        let removed = remove(party, made)?;
        Ok([leftovers, removed]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "))
    })
}

/// Every call of the file as a step; `C_Finalize` is recorded, not replayed.
fn replay(run: &mut Run<'_>, replayer: &mut Replayer, case: &xml::TestCase) -> Result<(), Stop> {
    for (i, call) in case.calls.iter().enumerate() {
        let n = i as u32 + 1;
        if call.function == "C_Finalize" {
            run.outside_step(
                n,
                "C_Finalize is a clean-up call the profiles let a test omit; the module stays initialised for the run's other procedures and is finalised when the run ends",
            );
            continue;
        }
        run.step_noted(n, || {
            let note = replayer.call(call)?;
            Ok((
                (),
                format!("{} -> CKR_{}: {note}", call.describe(), call.rv),
            ))
        })?;
    }
    Ok(())
}

/// What a scenario made, to remove at the end.
type Made = Option<Vec<ObjectHandle>>;

fn failed(what: &str, e: cryptoki::error::Error) -> Stop {
    Stop::fail(format!("{what}: {}", describe_error(&e)))
}

fn find(session: &Session, template: &[Attribute]) -> Result<Vec<ObjectHandle>, Stop> {
    session
        .find_objects(template)
        .map_err(|e| failed("C_FindObjects", e))
}

/// Provisions the profile's fixtures; returns what it made (`None`: nothing).
fn provision(procedure: &str, party: &Party) -> Result<(Made, String), Stop> {
    match procedure {
        "oasis.baseline" => {
            let info = party
                .module
                .pkcs11
                .get_token_info(party.slot)
                .map_err(|e| failed("C_GetTokenInfo", e))?;
            if !info.token_initialized() {
                return Err(Stop::NotApplicable(format!(
                    "{} is not initialised (CKF_TOKEN_INITIALIZED)",
                    party.describe()
                )));
            }
            Ok((None, "the token is initialised; nothing to make".into()))
        }
        "oasis.extended" => {
            party
                .session()
                .map_err(|e| failed("C_Login with the run's user PIN", e))?;
            Ok((None, "the run's user PIN logs in; nothing to make".into()))
        }
        "oasis.authentication-token" => provision_auth(party),
        "oasis.public-certificates-token" => provision_cert(party),
        other => Err(Stop::NotApplicable(format!(
            "{other} is not an OASIS procedure"
        ))),
    }
}

fn provision_auth(party: &Party) -> Result<(Made, String), Stop> {
    let session = party.session().map_err(|e| failed("C_Login", e))?;
    let key = |label: &str, class: ObjectClass| {
        find(
            &session,
            &[
                Attribute::Token(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Class(class),
            ],
        )
    };
    let public = key("testrsa-pub", ObjectClass::PUBLIC_KEY)?;
    let private = key("testrsa-pri", ObjectClass::PRIVATE_KEY)?;
    match (public.len(), private.len()) {
        (0, 0) => {}
        (1, 1) => {
            return Ok((
                None,
                "the token has testrsa-pub and testrsa-pri already: used as they are, and left"
                    .into(),
            ));
        }
        (p, q) => {
            return Err(Stop::fail(format!(
                "the token holds {p} public key(s) labelled testrsa-pub and {q} private key(s) labelled testrsa-pri: the profile needs one pair (or none, for this run to make it)"
            )));
        }
    }
    let id = vec![0x01];
    let (public, private) = session
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Label(b"testrsa-pub".to_vec()),
                Attribute::Id(id.clone()),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Label(b"testrsa-pri".to_vec()),
                Attribute::Id(id),
                Attribute::Sign(true),
            ],
        )
        .map_err(|e| failed("C_GenerateKeyPair (RSA-2048, testrsa-pub/testrsa-pri)", e))?;
    Ok((
        Some(vec![public, private]),
        format!(
            "generated the RSA-2048 pair testrsa-pub (object {public}) / testrsa-pri (object {private}), CKA_ID 01"
        ),
    ))
}

fn provision_cert(party: &Party) -> Result<(Made, String), Stop> {
    let session = party.session().map_err(|e| failed("C_Login", e))?;
    // The token's CKO_PROFILE objects are its profile declarations, set aside by the replay.
    let public: Vec<ObjectHandle> = find(
        &session,
        &[Attribute::Token(true), Attribute::Private(false)],
    )?
    .into_iter()
    .filter(|h| {
        !matches!(
            session
                .get_attributes(*h, &[cryptoki::object::AttributeType::Class])
                .as_deref(),
            Ok([Attribute::Class(ObjectClass::PROFILE)])
        )
    })
    .collect();
    if public.len() >= 5 {
        return Ok((
            None,
            format!(
                "the token has {} public token objects already: used as they are",
                public.len()
            ),
        ));
    }
    if !public.is_empty() {
        let labels: Vec<String> = public
            .iter()
            .map(|h| {
                match session.get_attributes(
                    *h,
                    &[
                        cryptoki::object::AttributeType::Class,
                        cryptoki::object::AttributeType::Label,
                    ],
                ) {
                    Ok(a) => match (a.first(), a.get(1)) {
                        (Some(Attribute::Class(c)), Some(Attribute::Label(l))) => {
                            format!("{c} {:?}", String::from_utf8_lossy(l))
                        }
                        _ => format!("object {h}"),
                    },
                    Err(_) => format!("object {h}"),
                }
            })
            .collect();
        return Err(Stop::NotApplicable(format!(
            "{} holds {} public token object(s) this run did not make ({}): they would take the places the file gives its certificates (object[0] labelled \"Mozilla Builtin Roots\", object[1] the GlobalSign Root CA)",
            party.describe(),
            public.len(),
            labels.join(", ")
        )));
    }
    let der = oasis::GLOBALSIGN_ROOT_CA;
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| {
        Stop::fail(format!(
            "the vendored GlobalSign Root CA does not parse: {e}"
        ))
    })?;
    let tbs = cert.tbs_certificate();
    let encode = |r: Result<Vec<u8>, der::Error>| {
        r.map_err(|e| Stop::fail(format!("the vendored certificate: {e}")))
    };
    let template = vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Label(CERT_LABEL.to_vec()),
        Attribute::Subject(encode(tbs.subject().to_der())?),
        Attribute::Issuer(encode(tbs.issuer().to_der())?),
        Attribute::SerialNumber(encode(tbs.serial_number().to_der())?),
        Attribute::Value(der.to_vec()),
    ];
    let mut made = Vec::new();
    for _ in 0..5 {
        match session.create_object(&template) {
            Ok(h) => made.push(h),
            Err(e) => {
                for h in &made {
                    let _ = session.destroy_object(*h);
                }
                return Err(failed("C_CreateObject (certificate)", e));
            }
        }
    }
    let handles: Vec<String> = made.iter().map(|h| h.to_string()).collect();
    Ok((
        Some(made),
        format!(
            "made five public certificates labelled \"Mozilla Builtin Roots\" (GlobalSign Root CA, {} bytes): objects {}",
            der.len(),
            handles.join(", ")
        ),
    ))
}

/// Removes what the scenario made; nothing when it made nothing.
fn remove(party: &Party, made: Made) -> Result<String, Stop> {
    let Some(made) = made else {
        return Ok(String::new());
    };
    let session = party.session().map_err(|e| failed("C_Login", e))?;
    for h in &made {
        session
            .destroy_object(*h)
            .map_err(|e| failed(&format!("C_DestroyObject (object {h})"), e))?;
    }
    // Proof: none of them is found again.
    let label = |l: &[u8]| {
        find(
            &session,
            &[Attribute::Token(true), Attribute::Label(l.to_vec())],
        )
    };
    let left =
        label(b"testrsa-pub")?.len() + label(b"testrsa-pri")?.len() + label(CERT_LABEL)?.len();
    if left > 0 {
        return Err(Stop::fail(format!(
            "{left} fixture object(s) are still found after C_DestroyObject"
        )));
    }
    Ok(format!(
        "destroyed the {} fixture object(s) this scenario made; none is found again",
        made.len()
    ))
}
