//! The outcome checks of `primus.partition-to-cloudhsm`. After a restore: the CloudHSM
//! partition carries ACME-PKI's name, answers to its PKCS#11 password on its own slot and
//! holds the source's objects (count, labels, CKA_IDs, classes, key types, attributes), every
//! key is proven the same by use both ways (each private key signs on one side and its public
//! key verifies on the other; each secret key encrypts on one side and decrypts on the
//! other), and the source is unchanged. After a refusal: the source unchanged, the admin
//! host's slots as before with the CloudHSM partition still blank, the cards as before (a
//! wrong card PIN's counter aside), no backup file when the refusal came before it.
use super::lab::{ADMIN_HOST, Lab, SOURCE_PARTITION, SOURCE_SLOT};
use super::steps::Scenario;
use super::{Negative, Plan};
use crate::procedures::luna::worker::{KeyUse, ObjectInfo, Request, Response};
use crate::procedures::luna::{Host, objects};
use crate::runner::{Run, Stop};
use hsmsim_consoles::backend::objects::hex;
use serde_json::Value;
use std::collections::BTreeMap;

/// What stood just before the step a negative case must be refused at.
pub struct Untouched {
    slots: Value,
    cards: Value,
    backups: usize,
}

impl Untouched {
    pub fn take(lab: &Lab) -> Result<Untouched, Stop> {
        Ok(Untouched {
            slots: lab.slots()?,
            cards: lab.cards()?,
            backups: lab.backups().len(),
        })
    }
}

/// An object as the checks compare it: everything but its handle.
type Compared<'o> = (
    &'o str,
    &'o str,
    &'o Option<String>,
    &'o BTreeMap<String, String>,
);

fn compared(o: &ObjectInfo) -> Compared<'_> {
    (&o.label, &o.class, &o.key_type, &o.attributes)
}

/// The differences between two inventories (sorted by label and class), at most a few.
fn differences(want: &[ObjectInfo], have: &[ObjectInfo]) -> Vec<String> {
    let index = |list: &[ObjectInfo]| -> BTreeMap<(String, String), ObjectInfo> {
        list.iter()
            .map(|o| ((o.label.clone(), o.class.clone()), o.clone()))
            .collect()
    };
    let (want, have) = (index(want), index(have));
    let mut out = Vec::new();
    for (key, original) in &want {
        let Some(other) = have.get(key) else {
            out.push(format!("{} {} is missing", key.1, key.0));
            continue;
        };
        if other.key_type != original.key_type {
            out.push(format!(
                "{} {}: key type {:?}, expected {:?}",
                key.1, key.0, other.key_type, original.key_type
            ));
        }
        for (name, value) in &original.attributes {
            if other.attributes.get(name) != Some(value) {
                out.push(format!(
                    "{} {}: {name} is {:?}, expected {value}",
                    key.1,
                    key.0,
                    other.attributes.get(name)
                ));
            }
        }
    }
    for key in have.keys().filter(|k| !want.contains_key(*k)) {
        out.push(format!("{} {} is there too", key.1, key.0));
    }
    out.truncate(8);
    out
}

/// The source's objects now, compared with `before`.
fn source_unchanged(
    origin: &mut Host,
    sc: &Scenario<'_>,
    before: &[ObjectInfo],
) -> Result<String, Stop> {
    let after = objects(
        origin,
        &Request::Inventory {
            slot: SOURCE_SLOT,
            pin: Some(sc.source_pin.clone()),
            filter: None,
        },
    )?;
    let same =
        after.len() == before.len() && after.iter().map(compared).eq(before.iter().map(compared));
    if !same {
        return Err(Stop::fail(format!(
            "the source changed: {}",
            differences(before, &after).join("; ")
        )));
    }
    Ok(format!(
        "{} objects on ACME-PKI, every label, class, key type and attribute as before",
        after.len()
    ))
}

/// The admin host's view of the CloudHSM partition: (initialised, label).
fn target_slot(slots: &Value, plan: &Plan) -> Result<(bool, String), Stop> {
    let partition = plan.target.partition();
    slots["slots"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["partition"] == partition.as_str())
        .map(|s| {
            (
                s["initialized"].as_bool().unwrap_or(false),
                s["label"].as_str().unwrap_or_default().to_string(),
            )
        })
        .ok_or_else(|| Stop::fail(format!("admin-host shows no slot for {partition}")))
}

/// The checks after a restore.
pub fn restored(
    run: &mut Run<'_>,
    sc: &Scenario<'_>,
    origin: &mut Host,
    before: &[ObjectInfo],
) -> Result<(), Stop> {
    let slot = sc.plan.target.slot();
    run.check(
        "the CloudHSM partition now carries ACME-PKI's name (C_GetTokenInfo on its slot)",
        || {
            let (initialised, label) = target_slot(&sc.lab.slots()?, &sc.plan)?;
            if !initialised || label != SOURCE_PARTITION {
                return Err(Stop::fail(format!(
                    "slot {slot} ({}): initialised {initialised}, label {label:?}; expected an initialised token labelled {SOURCE_PARTITION}",
                    sc.plan.target.partition()
                )));
            }
            Ok(format!(
                "slot {slot} of admin-host ({}): an initialised token labelled {label}",
                sc.plan.target.partition()
            ))
        },
    )?;
    let mut target = run.precondition(
        "the evidence worker for the CloudHSM side (its own process on admin-host)",
        || Host::spawn(&sc.lab.lab, ADMIN_HOST, None, "target"),
    )?;
    let pin = Some(sc.source_pin.clone());
    run.check(
        "the CloudHSM partition, logged in with ACME-PKI's PKCS#11 password, holds the source's objects: count, labels, CKA_IDs, classes, key types, attributes",
        || {
            let copy = objects(
                &mut target,
                &Request::Inventory {
                    slot,
                    pin: pin.clone(),
                    filter: None,
                },
            )?;
            let wrong = differences(before, &copy);
            if !wrong.is_empty() || copy.len() != before.len() {
                return Err(Stop::fail(format!(
                    "slot {slot} holds {} objects, the source {}: {}",
                    copy.len(),
                    before.len(),
                    wrong.join("; ")
                )));
            }
            let values: usize = before.iter().map(|o| o.attributes.len()).sum();
            Ok(format!(
                "C_Login with ACME-PKI's PKCS#11 password on slot {slot}: {} objects on each side, same labels, classes and key types; {values} attribute values equal (CKA_ID among them)",
                copy.len()
            ))
        },
    )?;
    run.check("every key proven the same by use, both ways", || {
        let mut source = Side {
            host: &mut *origin,
            slot: SOURCE_SLOT,
            pin: sc.source_pin.clone(),
        };
        let mut copy = Side {
            host: &mut target,
            slot,
            pin: sc.source_pin.clone(),
        };
        prove_each_key(&mut source, &mut copy, before)
    })?;
    drop(target);
    run.check("the source is unchanged", || {
        source_unchanged(origin, sc, before)
    })
}

/// One side of a proof by use: the worker that reaches it, its slot and the PIN that opens
/// it.
struct Side<'h> {
    host: &'h mut Host,
    slot: u64,
    pin: String,
}

impl Side<'_> {
    /// Uses the key `label` of `class` on this side (`data`: the input; `extra`: an IV or the
    /// signature to verify).
    fn use_key(
        &mut self,
        action: KeyUse,
        (label, class): (&str, &str),
        data: &[u8],
        extra: &[u8],
    ) -> Result<Vec<u8>, Stop> {
        let request = Request::Use {
            slot: self.slot,
            pin: Some(self.pin.clone()),
            label: label.to_string(),
            class: class.to_string(),
            action,
            data: hex(data),
            extra: hex(extra),
        };
        match self.host.ask(&request)? {
            Response::Bytes { hex: bytes, .. } => {
                ::hex::decode(bytes).map_err(|e| Stop::fail(format!("the worker's bytes: {e}")))
            }
            Response::Failed { detail, .. } => Err(Stop::fail(format!(
                "{label} on slot {}: {detail}",
                self.slot
            ))),
            other => Err(Stop::fail(format!("unexpected answer {other:?}"))),
        }
    }
}

/// Runs `once` from `a` to `b`, then from `b` to `a`.
fn both_ways(
    a: &mut Side<'_>,
    b: &mut Side<'_>,
    mut once: impl FnMut(&mut Side<'_>, &mut Side<'_>) -> Result<(), Stop>,
) -> Result<(), Stop> {
    once(a, b)?;
    once(b, a)
}

/// Each private key of `objects` signs on one side and its public key verifies on the other;
/// each secret key encrypts on one side and decrypts on the other; both ways.
fn prove_each_key(
    a: &mut Side<'_>,
    b: &mut Side<'_>,
    objects: &[ObjectInfo],
) -> Result<String, Stop> {
    let mut message = vec![0u8; 64];
    let _ = aws_lc_rs::rand::fill(&mut message);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message);
    let mut proven = Vec::new();
    for key in objects {
        let key_type = key.key_type.as_deref().unwrap_or_default();
        let label = key.label.as_str();
        match key.class.as_str() {
            "CKO_PRIVATE_KEY" => {
                // ECDSA signs a digest; RSA PKCS#1 v1.5 with SHA-256 the message.
                let input: &[u8] = if key_type == "CKK_EC" {
                    digest.as_ref()
                } else {
                    &message
                };
                both_ways(a, b, |signer, verifier| {
                    let private = (label, "CKO_PRIVATE_KEY");
                    let signature = signer.use_key(KeyUse::Sign, private, input, &[])?;
                    let public = (label, "CKO_PUBLIC_KEY");
                    verifier
                        .use_key(KeyUse::Verify, public, input, &signature)
                        .map(drop)
                        .map_err(|e| {
                            Stop::fail(format!(
                                "the keys differ: {label} signed on slot {}, not verified on slot {}: {e:?}",
                                signer.slot, verifier.slot
                            ))
                        })
                })?;
                proven.push(format!(
                    "{label} ({key_type}): signed and verified both ways"
                ));
            }
            "CKO_SECRET_KEY" => {
                let mut iv = vec![0u8; if key_type == "CKK_AES" { 16 } else { 8 }];
                let _ = aws_lc_rs::rand::fill(&mut iv);
                let secret = (label, "CKO_SECRET_KEY");
                both_ways(a, b, |sealer, opener| {
                    let sealed = sealer.use_key(KeyUse::Encrypt, secret, &message, &iv)?;
                    let opened = opener.use_key(KeyUse::Decrypt, secret, &sealed, &iv)?;
                    if opened == message {
                        Ok(())
                    } else {
                        Err(Stop::fail(format!(
                            "the keys differ: {label} encrypted on slot {}, decrypted on slot {} to other data",
                            sealer.slot, opener.slot
                        )))
                    }
                })?;
                proven.push(format!(
                    "{label} ({key_type}): encrypted and decrypted both ways"
                ));
            }
            _ => {}
        }
    }
    if proven.is_empty() {
        return Err(Stop::fail("the source holds no key to prove"));
    }
    Ok(format!(
        "slot {} and slot {}: {}",
        a.slot,
        b.slot,
        proven.join("; ")
    ))
}

/// `value` without the cards named `name` (wherever they are listed).
fn without_card(value: &Value, name: &str) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i["name"] != name)
                .map(|i| without_card(i, name))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), without_card(v, name)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The checks after a refusal: nothing changed on either side.
pub fn nothing_changed(
    run: &mut Run<'_>,
    sc: &Scenario<'_>,
    origin: &mut Host,
    before: &[ObjectInfo],
    untouched: &Untouched,
) -> Result<(), Stop> {
    run.check("the source is unchanged", || {
        source_unchanged(origin, sc, before)
    })?;
    run.check(
        "nothing reached CloudHSM: admin-host's slots as before, the CloudHSM partition still blank",
        || {
            let slots = sc.lab.slots()?;
            let (initialised, label) = target_slot(&slots, &sc.plan)?;
            if initialised {
                return Err(Stop::fail(format!(
                    "{} is initialised now (label {label:?})",
                    sc.plan.target.partition()
                )));
            }
            if slots != untouched.slots {
                return Err(Stop::fail(format!(
                    "admin-host's slots changed: before {}, after {slots}",
                    untouched.slots
                )));
            }
            let n = slots["slots"].as_array().map_or(0, Vec::len);
            Ok(format!(
                "{n} slots with the same tokens and labels as before; {} not initialised",
                sc.plan.target.partition()
            ))
        },
    )?;
    let wrong_pin = sc.plan.negative == Some(Negative::WrongCardPin);
    run.check(
        if wrong_pin {
            "the cards are as before, but the Yellow card, which counted the wrong PINs down and is blocked"
        } else {
            "the cards are as before"
        },
        || {
            let cards = sc.lab.cards()?;
            let (now, then) = if wrong_pin {
                let yellow = "yellow-acme-pki";
                (
                    without_card(&cards, yellow),
                    without_card(&untouched.cards, yellow),
                )
            } else {
                (cards.clone(), untouched.cards.clone())
            };
            if now != then {
                return Err(Stop::fail(format!(
                    "the cards changed: before {then}, after {now}"
                )));
            }
            let n = cards["cards"].as_array().map_or(0, Vec::len);
            Ok(format!("{n} cards, each as before the refused step"))
        },
    )?;
    run.check("no backup file was added", || {
        let now = sc.lab.backups().len();
        if now != untouched.backups {
            return Err(Stop::fail(format!(
                "the USB drive held {} backup files before the refused step and {now} after",
                untouched.backups
            )));
        }
        Ok(format!(
            "the USB drive holds {now} backup file(s), as before"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(label: &str, class: &str, id: &str) -> ObjectInfo {
        ObjectInfo {
            handle: 7,
            label: label.into(),
            class: class.into(),
            key_type: Some("CKK_AES".into()),
            ouid: None,
            attributes: BTreeMap::from([("CKA_ID".to_string(), id.to_string())]),
        }
    }

    #[test]
    fn inventories_differ_by_label_class_and_attribute_not_by_handle() {
        let a = vec![object("aes-x", "CKO_SECRET_KEY", "Id([1])")];
        let mut b = a.clone();
        b[0].handle = 99;
        assert!(differences(&a, &b).is_empty());
        b[0].attributes.insert("CKA_ID".into(), "Id([2])".into());
        assert_eq!(differences(&a, &b).len(), 1, "{:?}", differences(&a, &b));
        let c = vec![object("aes-y", "CKO_SECRET_KEY", "Id([1])")];
        let d = differences(&a, &c);
        assert!(d.iter().any(|l| l.contains("missing")), "{d:?}");
        assert!(d.iter().any(|l| l.contains("there too")), "{d:?}");
    }

    #[test]
    fn a_card_is_left_out_wherever_it_is_listed() {
        let cards = serde_json::json!({"cards": [
            {"name": "so-1", "attempts_left": 5},
            {"name": "yellow-acme-pki", "attempts_left": 0},
        ]});
        let left = without_card(&cards, "yellow-acme-pki");
        assert_eq!(
            left,
            serde_json::json!({"cards": [{"name": "so-1", "attempts_left": 5}]})
        );
    }
}
