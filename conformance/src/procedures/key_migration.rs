//! `primus.key-migration.symmetric` and `.asymmetric` (seed 001): the key to migrate is made
//! on the origin (the seed assumes it exists), then the six documented steps: an RSA-2048
//! transport key `zmk` on the target, its public key exported as DER and imported into the
//! origin, the key wrapped there and unwrapped on the target under the same name, and listed.
//! Outcome: the copy has the original's attributes, is proven the same key by use, and the
//! original is unchanged. Negative case: a non-extractable key is refused at step 4 and
//! nothing changes on either side. Symmetric keys travel under RSA-OAEP; private keys under
//! `CKM_RSA_AES_KEY_WRAP` or as RSA-OAEP-wrapped AES key plus AES-key-wrapped private key.
//! Simulator-defined (Primus Tools' choices are not public): OAEP with SHA-1 and MGF1-SHA-1,
//! the widest supported; an AES-256 ephemeral key; RFC 5649 (`CKM_AES_KEY_WRAP_KWP` where both
//! tokens list it, else `CKM_AES_KEY_WRAP_PAD`).
use crate::objects::{self, KeySpec, Made};
use crate::raw::{RawMechanism, RawModule, param_bytes};
use crate::runner::{Parties, Run, Stop};
use crate::target::{Party, Role};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

/// How a private key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// One RSA-OAEP block (secret keys).
    Oaep,
    /// `CKM_RSA_AES_KEY_WRAP`.
    RsaAes,
    /// RSA-OAEP of an ephemeral AES key, then RFC 5649 of the key with it.
    TwoStep { kwp: CK_MECHANISM_TYPE },
}

fn oaep() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    ))
}

fn require(party: &Party, mechanism: CK_MECHANISM_TYPE, name: &str) -> Result<(), Stop> {
    if party.caps.has(mechanism) {
        Ok(())
    } else {
        Err(Stop::NotApplicable(format!(
            "the {} token {:?} does not list {name}",
            party.role, party.token_label
        )))
    }
}

fn raw_error(function: &str) -> impl Fn(CK_RV) -> Stop + '_ {
    move |rv| Stop::fail(format!("{function}: {}", hsmsim::error::rv_name(rv)))
}

/// The documented names of the procedure: transport key and key to migrate.
fn documented_names(procedure: &str) -> (&'static str, &'static str) {
    if procedure.ends_with("asymmetric") {
        ("zmk2", "RSAmig")
    } else {
        ("zmk", "mig")
    }
}

/// Carries out one scenario of either key-migration procedure.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    let origin = parties.get(Role::Origin)?;
    let target = parties.get(Role::Target)?;
    let variant = run.case.id();
    let negative = run.negative().cloned();
    // Negative cases use the variant they name, else the first.
    let variant_for_spec = match &negative {
        Some(n) => n
            .variant
            .clone()
            .unwrap_or_else(|| run.procedure.variants[0].id.clone()),
        None => variant.clone(),
    };
    let spec = KeySpec::from_variant(&variant_for_spec)
        .ok_or_else(|| Stop::fail(format!("unknown variant {variant_for_spec}")))?;
    // Preconditions: what each side must be able to do.
    require(
        target,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
    )?;
    for p in [origin, target] {
        require(p, CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP")?;
        for (m, name) in spec.mechanisms() {
            require(p, *m, name)?;
        }
    }
    let transport = if spec.is_secret() {
        Transport::Oaep
    } else if variant_for_spec.ends_with("rsa-aes") {
        for p in [origin, target] {
            require(
                p,
                CKM_RSA_AES_KEY_WRAP,
                "CKM_RSA_AES_KEY_WRAP (the -two-step variants do without)",
            )?;
        }
        Transport::RsaAes
    } else {
        let both = |m| origin.caps.has(m) && target.caps.has(m);
        let kwp = if both(CKM_AES_KEY_WRAP_KWP) {
            CKM_AES_KEY_WRAP_KWP
        } else if both(CKM_AES_KEY_WRAP_PAD) {
            CKM_AES_KEY_WRAP_PAD
        } else {
            return Err(Stop::NotApplicable(
                "origin and target share neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD"
                    .into(),
            ));
        };
        for p in [origin, target] {
            require(p, CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN")?;
        }
        Transport::TwoStep { kwp }
    };

    let o = origin.session()?;
    let t = target.session()?;
    let (zmk_doc, mig_doc) = documented_names(&run.procedure.id);
    let (zmk, mig) = (run.name(zmk_doc), run.name(mig_doc));
    let labels = vec![zmk.clone(), mig.clone()];
    let outcome = scenario(
        run,
        spec,
        transport,
        negative.is_some(),
        (&o, &origin.module.raw),
        (&t, &target.module.raw),
        (&zmk, &mig),
    );
    // Clean up the scenario's own objects on both sides, whatever happened.
    objects::destroy_labelled(&o, &labels);
    objects::destroy_labelled(&t, &labels);
    outcome
}

fn scenario(
    run: &mut Run<'_>,
    spec: KeySpec,
    transport: Transport,
    negative: bool,
    (o, o_raw): (&Session, &RawModule),
    (t, t_raw): (&Session, &RawModule),
    (zmk, mig): (&str, &str),
) -> Result<(), Stop> {
    let mut id = vec![0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut id);
    // Precondition (the seed assumes it): the key to migrate exists on the origin.
    let original = objects::make_key(o, spec, mig, &id, !negative)?;
    let before = objects::snapshot(o, original.key)?;

    let (zmk_public, zmk_private) = run.step(1, || {
        let public = [
            Attribute::Token(true),
            Attribute::Label(zmk.as_bytes().to_vec()),
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Encrypt(true),
            Attribute::Wrap(true),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Label(zmk.as_bytes().to_vec()),
            Attribute::Decrypt(true),
            Attribute::Unwrap(true),
        ];
        Ok(t.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?)
    })?;
    let zmk_der = run.step(2, || {
        objects::find_one(t, zmk, ObjectClass::PUBLIC_KEY)?;
        objects::rsa_public_key_der(t, zmk_public)
    })?;
    let zmk_on_origin = run.step(3, || objects::import_rsa_public_key(o, &zmk_der, zmk))?;

    let export = || wrap(o, o_raw, transport, zmk_on_origin, original.key);
    if negative {
        run.refused_step(4, RvError::KeyUnextractable, || export().map(|_| ()))?;
        run.check("the origin's key is unchanged", || {
            unchanged(o, original, &before)
        })?;
        run.check("the target has no key under the migrated name", || {
            let found = objects::find(t, mig, None)?;
            if found.is_empty() {
                Ok(())
            } else {
                Err(Stop::fail(format!(
                    "the target has {} objects named {mig:?}",
                    found.len()
                )))
            }
        })?;
        return Ok(());
    }
    let wrapped = run.step(4, export)?;
    let template = objects::unwrap_template(spec, &before);
    run.step(5, || {
        unwrap(t, t_raw, transport, zmk_private, &wrapped, &template)
    })?;
    let copy = run.step(6, || {
        let class = if spec.is_secret() {
            ObjectClass::SECRET_KEY
        } else {
            ObjectClass::PRIVATE_KEY
        };
        objects::find_one(t, mig, class)
    })?;
    run.check_noted(
        "the copy has the original's class, key type, size, label, id and flags",
        || {
            let after = objects::snapshot(t, copy)?;
            let (differences, notes) = objects::compare_copy(&before, &after);
            if differences.is_empty() {
                Ok(notes.join("; "))
            } else {
                Err(Stop::fail(differences.join("; ")))
            }
        },
    )?;
    run.check("the copy is the same key, proven by use", || {
        objects::prove_same_key(spec, o, original, t, copy)
    })?;
    run.check("the origin's key is unchanged", || {
        unchanged(o, original, &before)
    })
}

fn unchanged(o: &Session, original: Made, before: &objects::Snapshot) -> Result<(), Stop> {
    let now = objects::snapshot(o, original.key)?;
    let differences = before.differences(&now);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Stop::fail(format!(
            "the origin's key changed: {}",
            differences.join("; ")
        )))
    }
}

/// What step 4 writes: the wrapped key, and for the two-step transport the wrapped AES key.
struct Wrapped {
    key: Vec<u8>,
    kek: Option<Vec<u8>>,
}

fn oaep_params() -> CK_RSA_PKCS_OAEP_PARAMS {
    CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA_1,
        mgf: CKG_MGF1_SHA1,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: std::ptr::null_mut(),
        ulSourceDataLen: 0,
    }
}

fn wrap(
    o: &Session,
    raw: &RawModule,
    transport: Transport,
    zmk: ObjectHandle,
    key: ObjectHandle,
) -> Result<Wrapped, Stop> {
    match transport {
        Transport::Oaep => Ok(Wrapped {
            key: o.wrap_key(&oaep(), zmk, key)?,
            kek: None,
        }),
        Transport::RsaAes => {
            let mut oaep = oaep_params();
            let params = CK_RSA_AES_KEY_WRAP_PARAMS {
                ulAESKeyBits: 256,
                pOAEPParams: &mut oaep,
            };
            let mut bytes = param_bytes(&params);
            let wrapped = raw
                .wrap_key(
                    o,
                    RawMechanism {
                        mechanism: CKM_RSA_AES_KEY_WRAP,
                        parameter: Some(&mut bytes),
                    },
                    zmk,
                    key,
                )
                .map_err(raw_error("C_WrapKey(CKM_RSA_AES_KEY_WRAP)"))?;
            Ok(Wrapped {
                key: wrapped,
                kek: None,
            })
        }
        Transport::TwoStep { kwp } => {
            let aes = o.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(false),
                    Attribute::ValueLen(32.into()),
                    Attribute::Wrap(true),
                    Attribute::Extractable(true),
                    Attribute::Sensitive(false),
                ],
            )?;
            let key_blob = raw
                .wrap_key(
                    o,
                    RawMechanism {
                        mechanism: kwp,
                        parameter: None,
                    },
                    aes,
                    key,
                )
                .map_err(raw_error("C_WrapKey(AES key wrap with padding)"))?;
            let kek = o.wrap_key(&oaep(), zmk, aes)?;
            let _ = o.destroy_object(aes);
            Ok(Wrapped {
                key: key_blob,
                kek: Some(kek),
            })
        }
    }
}

fn unwrap(
    t: &Session,
    raw: &RawModule,
    transport: Transport,
    zmk_private: ObjectHandle,
    wrapped: &Wrapped,
    template: &[Attribute],
) -> Result<ObjectHandle, Stop> {
    match transport {
        Transport::Oaep => Ok(t.unwrap_key(&oaep(), zmk_private, &wrapped.key, template)?),
        Transport::RsaAes => {
            let mut oaep = oaep_params();
            let params = CK_RSA_AES_KEY_WRAP_PARAMS {
                ulAESKeyBits: 256,
                pOAEPParams: &mut oaep,
            };
            let mut bytes = param_bytes(&params);
            raw.unwrap_key(
                t,
                RawMechanism {
                    mechanism: CKM_RSA_AES_KEY_WRAP,
                    parameter: Some(&mut bytes),
                },
                zmk_private,
                &wrapped.key,
                template,
            )
            .map_err(raw_error("C_UnwrapKey(CKM_RSA_AES_KEY_WRAP)"))
        }
        Transport::TwoStep { kwp } => {
            let kek = wrapped
                .kek
                .as_ref()
                .ok_or_else(|| Stop::fail("the wrapped AES key is missing"))?;
            let aes = t.unwrap_key(
                &oaep(),
                zmk_private,
                kek,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Unwrap(true),
                ],
            )?;
            let key = raw
                .unwrap_key(
                    t,
                    RawMechanism {
                        mechanism: kwp,
                        parameter: None,
                    },
                    aes,
                    &wrapped.key,
                    template,
                )
                .map_err(raw_error("C_UnwrapKey(AES key wrap with padding)"));
            let _ = t.destroy_object(aes);
            key
        }
    }
}
