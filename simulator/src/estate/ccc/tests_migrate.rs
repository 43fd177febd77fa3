//! Tests of Migrate Service on the luna-ccc fixture with its sources managed by CCC
//! (`[[ccc.service]]`s: their devices start authorised): the run proven by using the keys on
//! the new service (an engine opened afterwards, as another process), the source unchanged;
//! every refusal with CCC's words and nothing written; a copy that failed on a device that went
//! offline, repaired by synchronising; a migration a stopped server left running.
use super::*;
use crate::crypto::Mechanism;
use crate::engine::{Call, Engine, Output};

/// The CCC server's slots (fixtures/labs/luna-ccc.toml, host "ccc-server").
const LEGACY: CK_SLOT_ID = 0;
const WEB1: CK_SLOT_ID = 3;
const SA7A_SVC1: CK_SLOT_ID = 4;
const SA7B_SVC1: CK_SLOT_ID = 7;

const WEB_CO: &str = "CO-web-2023";
const WEB_PO: &str = "PO-web-2023";
const DOMAIN: &str = "acme-ccc-domain";

/// The services CCC manages from the start, and the templates the new ones take.
const MANAGED: &str = "
[[ccc.template]]
name = \"single-7\"
service_type = \"hsm-partition\"
authentication = \"password\"
partition_size = 100000

[[ccc.template]]
name = \"single-6\"
service_type = \"hsm-partition\"
authentication = \"password\"
partition_size = 100000
per_partition_so = false

[[ccc.template]]
name = \"single-6-ppso\"
service_type = \"hsm-partition\"
authentication = \"password\"
partition_size = 100000

[[ccc.service]]
name = \"web\"
template = \"ha-password-7\"
organisation = \"acme\"
partitions = [\"sa7-a/web1\", \"sa7-b/web2\"]
ha_group = \"web-ha\"

[[ccc.service]]
name = \"legacy-pki\"
template = \"single-6\"
organisation = \"acme\"
partitions = [\"sa6-legacy/legacy\"]

[[ccc.service]]
name = \"vault\"
template = \"single-7\"
organisation = \"acme\"
partitions = [\"sa7-c/vault\"]

[[ccc.service]]
name = \"payments\"
template = \"single-6-ppso\"
organisation = \"acme\"
partitions = [\"sa6-ppso/payments\"]
";

/// The fixture with `MANAGED`, `edit` applied to its text, in a fresh state directory.
fn lab_edited(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, LabSelection) {
    let text = edit(crate::lab::built_in_text("luna-ccc").unwrap().to_string() + MANAGED);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LAB_FILE), text).unwrap();
    let selection = select(&Choice {
        lab_file: Some(dir.path().join(LAB_FILE)),
        host: None,
        state_dir: None,
    })
    .unwrap();
    (dir, selection)
}

fn lab() -> (tempfile::TempDir, LabSelection) {
    lab_edited(|t| t)
}

fn partition(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// "web" migrated to a new HA service "web-7" on sa7-a/svc1 and sa7-b/svc1.
fn request() -> MigrationRequest {
    MigrationRequest {
        source_service: "web".into(),
        name: "web-7".into(),
        description: "migrated".into(),
        organisation: "acme".into(),
        partition_size: 100_000,
        targets: vec![partition("sa7-a/svc1"), partition("sa7-b/svc1")],
        partition_label: "web-7".into(),
        cloning_domain: Some(DOMAIN.into()),
        security_officer_challenge: Some(WEB_PO.into()),
        crypto_officer_challenge: WEB_CO.into(),
    }
}

/// An engine as the CCC server's client sees the lab (a new process).
fn engine(sel: &LabSelection) -> Engine {
    let config = sel
        .lab
        .config(Some("ccc-server"), sel.state_dir.clone())
        .unwrap();
    Engine::open(&config).unwrap()
}

/// A Crypto Officer session on `slot`.
fn co_session(engine: &Engine, slot: CK_SLOT_ID, pin: &str) -> CK_SESSION_HANDLE {
    let h = engine
        .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    engine.login(h, CKU_USER, pin.as_bytes()).unwrap();
    h
}

fn template(items: &[(CK_ATTRIBUTE_TYPE, Value)]) -> crate::base::attribute::Attributes {
    let mut t = crate::base::attribute::Attributes::new();
    for (ty, v) in items {
        match v {
            Value::Bool(b) => t.set_bool(*ty, *b),
            Value::String(s) => t.set_bytes(*ty, s.as_bytes().to_vec()),
            Value::Number(n) => t.set_ulong(*ty, n.as_u64().unwrap() as CK_ULONG),
            _ => unreachable!(),
        }
    }
    t
}

/// The AES key "aes" and the RSA pair "rsa" on web1 (the "web" service's first partition).
fn source_objects(sel: &LabSelection) {
    let engine = engine(sel);
    let h = co_session(&engine, WEB1, WEB_CO);
    engine
        .generate_key(
            h,
            &Mechanism::new(CKM_AES_KEY_GEN),
            &template(&[
                (CKA_TOKEN, true.into()),
                (CKA_ENCRYPT, true.into()),
                (CKA_DECRYPT, true.into()),
                (CKA_VALUE_LEN, 32.into()),
                (CKA_LABEL, "aes".into()),
            ]),
        )
        .unwrap();
    engine
        .generate_key_pair(
            h,
            &Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
            &template(&[
                (CKA_TOKEN, true.into()),
                (CKA_VERIFY, true.into()),
                (CKA_MODULUS_BITS, 2048.into()),
                (CKA_LABEL, "rsa".into()),
            ]),
            &template(&[
                (CKA_TOKEN, true.into()),
                (CKA_SIGN, true.into()),
                (CKA_LABEL, "rsa".into()),
            ]),
        )
        .unwrap();
    engine.close_everything();
}

/// The object of `class` labelled `label` in the session.
fn find(
    engine: &Engine,
    h: CK_SESSION_HANDLE,
    class: CK_OBJECT_CLASS,
    label: &str,
) -> CK_OBJECT_HANDLE {
    engine
        .find_init(
            h,
            &template(&[
                (CKA_CLASS, (class as u64).into()),
                (CKA_LABEL, label.into()),
            ]),
        )
        .unwrap();
    let found = engine.find_next(h, 2).unwrap();
    engine.find_final(h).unwrap();
    assert_eq!(found.len(), 1, "{label}");
    found[0]
}

fn data(output: Output) -> Vec<u8> {
    match output {
        Output::Data(d) => d,
        other => panic!("no data: {other:?}"),
    }
}

/// Encrypts `plain` with "aes" on `slot`.
fn encrypt(engine: &Engine, slot: CK_SLOT_ID, plain: &[u8]) -> Vec<u8> {
    let h = co_session(engine, slot, WEB_CO);
    let key = find(engine, h, CKO_SECRET_KEY, "aes");
    engine
        .encrypt_init(h, &Mechanism::new(CKM_AES_ECB), key)
        .unwrap();
    let out = data(engine.encrypt(h, plain, Call::OneShot, Some(1024)).unwrap());
    engine.close_session(h).unwrap();
    out
}

/// Decrypts with "aes" on `slot`.
fn decrypt(engine: &Engine, slot: CK_SLOT_ID, cipher: &[u8]) -> Vec<u8> {
    let h = co_session(engine, slot, WEB_CO);
    let key = find(engine, h, CKO_SECRET_KEY, "aes");
    engine
        .decrypt_init(h, &Mechanism::new(CKM_AES_ECB), key)
        .unwrap();
    let out = data(
        engine
            .decrypt(h, cipher, Call::OneShot, Some(1024))
            .unwrap(),
    );
    engine.close_session(h).unwrap();
    out
}

/// Signs with the "rsa" private key on `signer`, verifies with the public one on `verifier`.
fn sign_and_verify(engine: &Engine, signer: CK_SLOT_ID, verifier: CK_SLOT_ID) {
    let message = b"migrated keys sign";
    let h = co_session(engine, signer, WEB_CO);
    let private = find(engine, h, CKO_PRIVATE_KEY, "rsa");
    engine
        .sign_init(h, &Mechanism::new(CKM_SHA256_RSA_PKCS), private, false)
        .unwrap();
    let signature = data(engine.sign(h, message, Call::OneShot, Some(4096)).unwrap());
    engine.close_session(h).unwrap();
    let h = co_session(engine, verifier, WEB_CO);
    let public = find(engine, h, CKO_PUBLIC_KEY, "rsa");
    engine
        .verify_init(h, &Mechanism::new(CKM_SHA256_RSA_PKCS), public, false)
        .unwrap();
    engine
        .verify(h, message, &signature, Call::OneShot)
        .unwrap();
    engine.close_session(h).unwrap();
}

/// A partition's token record and stored objects (public parts), to prove it unchanged.
fn snapshot(sel: &LabSelection, p: &str) -> (TokenRecord, Vec<crate::store::StoredObject>) {
    let store = open_store(sel).unwrap();
    let mut objects = store.objects(&partition(p)).unwrap();
    objects.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    (store.token(&partition(p)).unwrap().unwrap().record, objects)
}

/// Everything a refused request might have written: CCC's state and the targets' tokens.
fn written(sel: &LabSelection) -> (CccState, Vec<TokenRecord>) {
    let store = open_store(sel).unwrap();
    let tokens = ["sa7-a/svc1", "sa7-b/svc1", "sa7-c/svc1", "sa6-ppso/spare"]
        .iter()
        .map(|p| store.token(&partition(p)).unwrap().unwrap().record)
        .collect();
    (ccc_state(sel).unwrap(), tokens)
}

/// `result` is `CKR_FUNCTION_FAILED` with a message holding `needle`.
fn refused_with<T: std::fmt::Debug>(result: Result<T>, rv: CK_RV, needle: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.rv, rv, "{e:?}");
    assert!(e.to_string().contains(needle), "{needle}: {e}");
}

/// Both the check and the run refuse `request` with `needle`, and nothing is written.
fn refused_migration(sel: &LabSelection, request: MigrationRequest, rv: CK_RV, needle: &str) {
    let before = written(sel);
    refused_with(check_ccc_migration(sel, &request), rv, needle);
    let mut seen = Vec::new();
    refused_with(
        migrate_ccc_service(sel, request, &mut |m| seen.push(m.to_string())),
        rv,
        needle,
    );
    assert!(seen.is_empty(), "no progress: {seen:?}");
    assert_eq!(written(sel), before, "nothing was written");
}

#[test]
fn an_ha_service_migrates_from_its_first_partition_and_its_keys_work_on_the_new_service() {
    let (_dir, sel) = lab();
    source_objects(&sel);
    let source_before = snapshot(&sel, "sa7-a/web1");
    let web2_before = snapshot(&sel, "sa7-b/web2");
    assert!(
        ccc_migratable_services(&sel)
            .unwrap()
            .contains(&"web".to_string())
    );
    check_ccc_migration(&sel, &request()).unwrap();
    let mut seen = Vec::new();
    let migration =
        migrate_ccc_service(&sel, request(), &mut |m| seen.push(m.to_string())).unwrap();
    assert_eq!(migration.state, MigrationState::Succeeded, "{migration:?}");
    assert_eq!(migration.id, 1);
    assert_eq!(migration.source_partition, partition("sa7-a/web1"));
    assert_eq!(migration.progress, seen, "the callback saw every message");
    assert_eq!(
        seen.first().unwrap(),
        "Migrating service \"web\" from its first partition sa7-a/web1 to sa7-a/svc1, sa7-b/svc1"
    );
    assert!(seen.contains(&"Copied 3 objects to sa7-a/svc1".to_string()));
    assert!(seen.contains(&"Copied 3 objects to sa7-b/svc1".to_string()));
    assert_eq!(seen.last().unwrap(), SUCCESS_MESSAGE);
    assert_eq!(ccc_migrations(&sel).unwrap(), [migration]);
    // The new service, as create_ccc_service makes one, initialised by CCC.
    let service = ccc_state(&sel).unwrap().service("web-7").unwrap().clone();
    assert_eq!(service.template, "ha-password-7");
    assert_eq!(service.organisation, "acme");
    assert_eq!(service.partitions, request().targets);
    let status = ccc_service_status(&sel, "web-7").unwrap();
    assert!(status.initialised && status.initialised_by_ccc);
    // The keys work on the new partitions (a new process): what the source encrypts, the
    // targets decrypt; what a target signs, the source verifies.
    let engine = engine(&sel);
    let plain = [7u8; 32];
    let cipher = encrypt(&engine, WEB1, &plain);
    assert_eq!(decrypt(&engine, SA7A_SVC1, &cipher), plain);
    assert_eq!(decrypt(&engine, SA7B_SVC1, &cipher), plain);
    sign_and_verify(&engine, SA7B_SVC1, WEB1);
    sign_and_verify(&engine, WEB1, SA7A_SVC1);
    engine.close_everything();
    // The source's partitions are unchanged (the second HA member was not read).
    assert_eq!(snapshot(&sel, "sa7-a/web1"), source_before);
    assert_eq!(snapshot(&sel, "sa7-b/web2"), web2_before);
    // The new service is in sync.
    synchronise_ccc_service(&sel, "web-7").unwrap();
}

#[test]
fn a_6x_password_source_created_through_lunash_migrates_to_7x() {
    let (_dir, sel) = lab();
    // The legacy partition's owner makes a key through the engine.
    let client = engine(&sel);
    let h = co_session(&client, LEGACY, "CO-legacy-2017");
    client
        .generate_key(
            h,
            &Mechanism::new(CKM_AES_KEY_GEN),
            &template(&[
                (CKA_TOKEN, true.into()),
                (CKA_ENCRYPT, true.into()),
                (CKA_DECRYPT, true.into()),
                (CKA_VALUE_LEN, 16.into()),
                (CKA_LABEL, "aes".into()),
            ]),
        )
        .unwrap();
    client.close_everything();
    let request = MigrationRequest {
        source_service: "legacy-pki".into(),
        name: "legacy-pki-7".into(),
        targets: vec![partition("sa7-c/svc1")],
        partition_label: "legacy-7".into(),
        security_officer_challenge: Some("SO-legacy-2017".into()),
        crypto_officer_challenge: "CO-legacy-2017".into(),
        ..request()
    };
    let migration = migrate_ccc_service(&sel, request, &mut |_| {}).unwrap();
    assert_eq!(migration.state, MigrationState::Succeeded, "{migration:?}");
    assert_eq!(
        ccc_state(&sel)
            .unwrap()
            .service("legacy-pki-7")
            .unwrap()
            .template,
        "single-7"
    );
    let client = engine(&sel);
    let h = co_session(&client, 10, "CO-legacy-2017");
    find(&client, h, CKO_SECRET_KEY, "aes");
    client.close_everything();
}

#[test]
fn each_rule_is_refused_in_cccs_words_and_nothing_is_written() {
    let (_dir, sel) = lab();
    // Unknown names.
    refused_migration(
        &sel,
        MigrationRequest {
            source_service: "nosuch".into(),
            ..request()
        },
        CKR_ARGUMENTS_BAD,
        "CCC has no service \"nosuch\"",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            organisation: "nosuch".into(),
            ..request()
        },
        CKR_ARGUMENTS_BAD,
        "CCC has no organisation \"nosuch\"",
    );
    // The supported matrix: a 7.x password source never to a 6.x device.
    refused_migration(
        &sel,
        MigrationRequest {
            targets: vec![partition("sa6-ppso/spare")],
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "CCC does not support migrating a service from a 7.x Password device (\"sa7-a\", firmware 7.4.2) to a 6.x PPSO Password device",
    );
    // 7.7.x to 7.4.
    refused_migration(
        &sel,
        MigrationRequest {
            source_service: "vault".into(),
            security_officer_challenge: Some("PO-vault-2025".into()),
            crypto_officer_challenge: "CO-vault-2025".into(),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        crate::models::ccc::FIRMWARE_REFUSAL,
    );
    // Credentials and domain not identical to the source's.
    for (request, what) in [
        (
            MigrationRequest {
                cloning_domain: Some("other-domain".into()),
                ..request()
            },
            "The cloning domain differs",
        ),
        (
            MigrationRequest {
                cloning_domain: None,
                ..request()
            },
            "The cloning domain (none given) differs",
        ),
        (
            MigrationRequest {
                crypto_officer_challenge: "CO-other-2023".into(),
                ..request()
            },
            "The crypto officer challenge differs",
        ),
        (
            MigrationRequest {
                security_officer_challenge: Some("PO-other-2023".into()),
                ..request()
            },
            "The security officer challenge differs",
        ),
    ] {
        refused_migration(&sel, request, CKR_FUNCTION_FAILED, what);
    }
    refused_with(
        check_ccc_migration(
            &sel,
            &MigrationRequest {
                cloning_domain: Some("other-domain".into()),
                ..request()
            },
        ),
        CKR_FUNCTION_FAILED,
        "You must initialize the new service partitions using the cloning domain and role credentials that are identical to those of the service that you've selected for migration.",
    );
    // New Service rules as create_ccc_service has them.
    refused_migration(
        &sel,
        MigrationRequest {
            name: "w".repeat(29),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "a service name has 1 to 28",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            name: "vault".into(),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "CCC service \"vault\" exists",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            targets: vec![partition("sa7-b/web2")],
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "partition \"sa7-b/web2\" is not blank",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            partition_size: 999,
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "a partition size is 1000 to 99999999 bytes",
    );
    // An offline target device.
    update_ccc(&sel, |state| {
        state.devices.iter_mut().for_each(|d| {
            if d.device.as_str() == "sa7-b" {
                d.offline = true;
            }
        });
        Ok(())
    })
    .unwrap();
    refused_migration(
        &sel,
        request(),
        CKR_FUNCTION_FAILED,
        "device \"sa7-b\" is offline",
    );
}
