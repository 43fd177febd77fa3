//! Migrate Service runs (issue 16; seed 004 "Migrate Service"), their keys used through an
//! engine opened afterwards (as another process would): an HA service migrated from its first
//! partition, a 6.x password source made through LunaSH, a non-PPSO PED source; the source
//! unchanged; a copy that failed on a failed device or on a device with cloning off (CCC's
//! Troubleshooting error, the failed targets out of the new service), repaired the documented
//! way (add a partition, then authorise a client, which synchronises); objects too large for
//! the new partition size; a failed service creation; migrations a stopped server left
//! running. The refusals are unit tests (estate/ccc/tests_migrate.rs).
use cryptoki_sys::*;
use hsmsim::base::error::Result;
use hsmsim::base::ids::{DeviceId, PartitionId};
use hsmsim::base::secrets::seal::{
    DEFAULT_PIN_KDF_ITERATIONS, PIN_KDF_ITERATIONS_VARIABLE, PinSeal, SealContext,
    pin_kdf_iterations,
};
use hsmsim::crypto::Mechanism;
use hsmsim::engine::{Call, Engine, Output};
use hsmsim::estate::ccc::*;
use hsmsim::estate::*;
use hsmsim::lab::{built_in_text, ped_variant, without_cloning};
use hsmsim::models::luna::{ped::PedKey, ped_colour};
use hsmsim::store::records::TokenRecord;
use serde_json::Value;

#[path = "ccc/lab.rs"]
mod lab;
use lab::*;

/// The CCC server's slots (fixtures/labs/luna-ccc.toml, host "ccc-server").
const LEGACY: CK_SLOT_ID = 0;
const PAYMENTS: CK_SLOT_ID = 1;
const WEB1: CK_SLOT_ID = 3;
const SA7A_SVC1: CK_SLOT_ID = 4;
const SA7B_SVC1: CK_SLOT_ID = 7;
const SA7B_SVC2: CK_SLOT_ID = 8;
const SA7C_SVC1: CK_SLOT_ID = 10;

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

fn template(items: &[(CK_ATTRIBUTE_TYPE, Value)]) -> hsmsim::base::attribute::Attributes {
    let mut t = hsmsim::base::attribute::Attributes::new();
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
    objects_on(sel, WEB1, WEB_CO);
}

/// The AES key "aes" and the RSA pair "rsa" on `slot`, made by its crypto officer `pin`.
fn objects_on(sel: &LabSelection, slot: CK_SLOT_ID, pin: &str) {
    let engine = engine(sel);
    let h = co_session(&engine, slot, pin);
    aes_key(&engine, h);
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
            &template(&[(CKA_CLASS, class.into()), (CKA_LABEL, label.into())]),
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

/// Generates the AES-256 key "aes" in the session.
fn aes_key(engine: &Engine, h: CK_SESSION_HANDLE) {
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
}

/// Encrypts (or decrypts) `input` with "aes" (AES-ECB) in the session.
fn crypt(engine: &Engine, h: CK_SESSION_HANDLE, input: &[u8], encrypting: bool) -> Vec<u8> {
    let key = find(engine, h, CKO_SECRET_KEY, "aes");
    let mechanism = Mechanism::new(CKM_AES_ECB);
    let output = if encrypting {
        engine.encrypt_init(h, &mechanism, key).unwrap();
        engine.encrypt(h, input, Call::OneShot, Some(1024))
    } else {
        engine.decrypt_init(h, &mechanism, key).unwrap();
        engine.decrypt(h, input, Call::OneShot, Some(1024))
    };
    data(output.unwrap())
}

/// Encrypts `plain` with "aes" on `slot`.
fn encrypt(engine: &Engine, slot: CK_SLOT_ID, plain: &[u8]) -> Vec<u8> {
    let h = co_session(engine, slot, WEB_CO);
    let out = crypt(engine, h, plain, true);
    engine.close_session(h).unwrap();
    out
}

/// Decrypts with "aes" on `slot`.
fn decrypt(engine: &Engine, slot: CK_SLOT_ID, cipher: &[u8]) -> Vec<u8> {
    let h = co_session(engine, slot, WEB_CO);
    let out = crypt(engine, h, cipher, false);
    engine.close_session(h).unwrap();
    out
}

/// Signs with the "rsa" private key on `signer`, verifies with the public one on `verifier`.
fn sign_and_verify(engine: &Engine, signer: CK_SLOT_ID, verifier: CK_SLOT_ID) {
    sign_and_verify_as(engine, signer, verifier, WEB_CO);
}

/// `sign_and_verify` as the crypto officer `pin` of both partitions.
fn sign_and_verify_as(engine: &Engine, signer: CK_SLOT_ID, verifier: CK_SLOT_ID, pin: &str) {
    let message = b"migrated keys sign";
    let h = co_session(engine, signer, pin);
    let private = find(engine, h, CKO_PRIVATE_KEY, "rsa");
    engine
        .sign_init(h, &Mechanism::new(CKM_SHA256_RSA_PKCS), private, false)
        .unwrap();
    let signature = data(engine.sign(h, message, Call::OneShot, Some(4096)).unwrap());
    engine.close_session(h).unwrap();
    let h = co_session(engine, verifier, pin);
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
fn snapshot(sel: &LabSelection, p: &str) -> (TokenRecord, Vec<hsmsim::store::StoredObject>) {
    let store = open_store(sel).unwrap();
    let mut objects = store.objects(&partition(p)).unwrap();
    objects.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    (store.token(&partition(p)).unwrap().unwrap().record, objects)
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
    check_ccc_service_in_sync(&sel, "web-7").unwrap();
}

#[test]
fn a_6x_password_source_created_through_lunash_migrates_to_7x() {
    let (_dir, sel) = lab();
    // The legacy partition's owner makes a key through the engine.
    let client = engine(&sel);
    let h = co_session(&client, LEGACY, "CO-legacy-2017");
    aes_key(&client, h);
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
    let h = co_session(&client, SA7C_SVC1, "CO-legacy-2017");
    find(&client, h, CKO_SECRET_KEY, "aes");
    client.close_everything();
}

/// CCC's documented error for a copy that failed on sa7-c/svc1 (the guide's sentence, the
/// device, the solution).
const SA7C_COPY_ERROR: &str = "We ran into an error while migrating the key material to the following device(s): sa7-c (sa7-c/svc1). To add devices on which migration has failed, use the add partition functionality for the newly created service. Next, run ccc_client to authorize the service. While authorizing the service, CCC also runs synchronization between all partitions of the service.";

#[test]
fn a_copy_refused_by_a_device_with_cloning_off_fails_and_is_repaired_the_documented_way() {
    let (_dir, sel) = cloning_off_lab();
    objects_on(&sel, PAYMENTS, PAYMENTS_CO);
    let source_before = snapshot(&sel, "sa6-ppso/payments");
    // CCC checks only the source's cloning capability: the run starts.
    check_ccc_migration(&sel, &payments_request()).unwrap();
    let migration = migrate_ccc_service(&sel, payments_request(), &mut |_| {}).unwrap();
    assert_eq!(migration.state, MigrationState::Failed, "{migration:?}");
    assert_eq!(migration.error.as_deref(), Some(SA7C_COPY_ERROR));
    assert_eq!(
        copy_error(&[partition("sa7-c/svc1")]),
        SA7C_COPY_ERROR,
        "the guide's words"
    );
    assert_eq!(migration.failed_targets, [partition("sa7-c/svc1")]);
    // The progress says per target what happened and why.
    let progress = &migration.progress;
    assert!(
        progress.contains(&"Copied 3 objects to sa7-a/svc1".to_string()),
        "{progress:?}"
    );
    assert!(
        progress.iter().any(|m| m
            .starts_with("Copying the objects to sa7-c/svc1 failed: CKR_OPERATION_NOT_ALLOWED")
            && m.contains("HSM policy 7 (Allow cloning) is off on the target's device sa7-c")),
        "{progress:?}"
    );
    assert_eq!(progress.last(), migration.error.as_ref());
    // The new service is on sa7-a/svc1 only; sa7-c/svc1 stays initialised, outside CCC, its
    // cloning policies capped by its device.
    let state = ccc_state(&sel).unwrap();
    assert_eq!(
        state.service("payments-7").unwrap().partitions,
        [partition("sa7-a/svc1")]
    );
    assert!(
        !state
            .ccc
            .services
            .iter()
            .any(|s| s.partitions.contains(&partition("sa7-c/svc1")))
    );
    let (left, objects) = snapshot(&sel, "sa7-c/svc1");
    assert!(left.initialized);
    assert!(objects.is_empty());
    let policies = hsmsim::models::luna::ca::state_of(&left).policies;
    assert_eq!((policies.get(&0), policies.get(&4)), (Some(&0), Some(&0)));
    check_ccc_service_in_sync(&sel, "payments-7").unwrap();
    assert_eq!(snapshot(&sel, "sa6-ppso/payments"), source_before);
    // sa7-a/svc1 holds the objects.
    let client = engine(&sel);
    sign_and_verify_as(&client, SA7A_SVC1, PAYMENTS, PAYMENTS_CO);
    client.close_everything();

    // The repair: add a partition to the new service, initialise it with the same credentials.
    add_ccc_service_partition(&sel, "payments-7", &partition("sa7-b/svc1")).unwrap();
    initialise_ccc_added_partitions(&sel, "payments-7", DOMAIN, PAYMENTS_CO, None).unwrap();
    refused_with(
        check_ccc_service_in_sync(&sel, "payments-7"),
        CKR_FUNCTION_FAILED,
        "sa7-b/svc1 lack objects",
    );
    // Then ccc_client authorises the service: without the credential, refused, saying why.
    refused_with(
        register_ccc_client(&sel, "payments-7", "app-client", None),
        CKR_FUNCTION_FAILED,
        "service \"payments-7\" needs synchronisation: sa7-b/svc1 lack objects",
    );
    refused_with(
        register_ccc_client(&sel, "payments-7", "app-client", None),
        CKR_FUNCTION_FAILED,
        "Authorise the service with its crypto officer's credential to run the synchronisation",
    );
    // A wrong credential: Luna's refusal, nothing registered, nothing copied.
    refused_with(
        register_ccc_client(&sel, "payments-7", "app-client", Some("CO-wrong-2021")),
        CKR_PIN_INCORRECT,
        "",
    );
    assert!(
        ccc_service_status(&sel, "payments-7")
            .unwrap()
            .clients
            .is_empty()
    );
    assert!(snapshot(&sel, "sa7-b/svc1").1.is_empty());
    // The right one: synchronised, then registered.
    let status = register_ccc_client(&sel, "payments-7", "app-client", Some(PAYMENTS_CO)).unwrap();
    assert_eq!(status.clients.len(), 1);
    assert_eq!(status.clients[0].host, "app-client");
    assert!(!status.clients[0].re_registration_needed);
    check_ccc_service_in_sync(&sel, "payments-7").unwrap();
    assert_eq!(snapshot(&sel, "sa7-b/svc1").1.len(), 3);
    // In sync, the credential is not needed.
    register_ccc_client(&sel, "payments-7", "app-client", None).unwrap();
    // sa7-b/svc1's keys work with the others'.
    let client = engine(&sel);
    sign_and_verify_as(&client, SA7B_SVC1, SA7A_SVC1, PAYMENTS_CO);
    sign_and_verify_as(&client, SA7A_SVC1, SA7B_SVC1, PAYMENTS_CO);
    client.close_everything();
}

#[test]
fn a_copy_that_failed_on_an_offline_device_is_reported_and_the_device_leaves_the_service() {
    let (_dir, sel) = lab();
    source_objects(&sel);
    // sa7-b goes offline while the objects are copied to sa7-a.
    let migration = migrate_ccc_service(&sel, request(), &mut |m| {
        if m == "Copied 3 objects to sa7-a/svc1" {
            fail_device(&sel, &DeviceId::new("sa7-b")).unwrap();
        }
    })
    .unwrap();
    assert_eq!(migration.state, MigrationState::Failed);
    assert_eq!(migration.failed_targets, [partition("sa7-b/svc1")]);
    assert!(
        migration
            .progress
            .contains(&"Copying the objects to sa7-b/svc1 failed: CKR_FUNCTION_FAILED (0x00000006): device \"sa7-b\" is offline".to_string()),
        "{:?}",
        migration.progress
    );
    assert_eq!(
        migration.error.as_deref(),
        Some(copy_error(&[partition("sa7-b/svc1")]).as_str())
    );
    assert!(
        migration
            .error
            .as_deref()
            .unwrap()
            .starts_with("We ran into an error while migrating the key material to the following device(s): sa7-b (sa7-b/svc1). To add devices")
    );
    assert_eq!(migration.progress.last(), migration.error.as_ref());
    // The new service keeps sa7-a/svc1 only, which holds the objects: in sync.
    assert_eq!(
        ccc_state(&sel)
            .unwrap()
            .service("web-7")
            .unwrap()
            .partitions,
        [partition("sa7-a/svc1")]
    );
    check_ccc_service_in_sync(&sel, "web-7").unwrap();
    // Once sa7-b is back, another of its partitions is added and initialised; the separate
    // synchronise operation copies the objects to it (from the service and the source).
    recover_device(&sel, &DeviceId::new("sa7-b")).unwrap();
    add_ccc_service_partition(&sel, "web-7", &partition("sa7-b/svc2")).unwrap();
    initialise_ccc_added_partitions(&sel, "web-7", DOMAIN, WEB_CO, None).unwrap();
    refused_with(
        check_ccc_service_in_sync(&sel, "web-7"),
        CKR_FUNCTION_FAILED,
        "service \"web-7\" needs sync: sa7-b/svc2 lack objects",
    );
    refused_with(
        synchronise_ccc_service(&sel, "web-7", "CO-wrong-2023"),
        CKR_PIN_INCORRECT,
        "",
    );
    assert_eq!(
        synchronise_ccc_service(&sel, "web-7", WEB_CO).unwrap(),
        [(partition("sa7-a/svc1"), 0), (partition("sa7-b/svc2"), 3)]
    );
    check_ccc_service_in_sync(&sel, "web-7").unwrap();
    let engine = engine(&sel);
    let cipher = encrypt(&engine, WEB1, b"sixteen byte blk");
    assert_eq!(decrypt(&engine, SA7B_SVC2, &cipher), b"sixteen byte blk");
    engine.close_everything();
}

#[test]
fn objects_that_do_not_fit_the_new_partition_size_fail_the_copy() {
    let (_dir, sel) = lab();
    source_objects(&sel);
    let migration = migrate_ccc_service(
        &sel,
        MigrationRequest {
            partition_size: 1000,
            ..request()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(migration.state, MigrationState::Failed);
    assert_eq!(migration.failed_targets, request().targets);
    assert_eq!(
        migration.error.as_deref(),
        Some(copy_error(&request().targets).as_str())
    );
    assert!(
        migration
            .error
            .as_deref()
            .unwrap()
            .contains("device(s): sa7-a (sa7-a/svc1), sa7-b (sa7-b/svc1). To add devices")
    );
    assert!(
        migration
            .progress
            .iter()
            .any(|m| m.starts_with("Copying the objects to sa7-a/svc1 failed: CKR_CONTAINER_OBJECT_STORAGE_FULL (0x8000002C): HA member sa7-a/svc1: the partition is full")),
        "{:?}",
        migration.progress
    );
    // Every target failed: the service keeps its first partition, to be synchronised.
    assert_eq!(
        ccc_state(&sel)
            .unwrap()
            .service("web-7")
            .unwrap()
            .partitions,
        [partition("sa7-a/svc1")]
    );
    refused_with(
        check_ccc_service_in_sync(&sel, "web-7"),
        CKR_FUNCTION_FAILED,
        "sa7-a/svc1 lack objects",
    );
    assert_eq!(
        ccc_service_status(&sel, "web-7").unwrap().partition_size,
        Some(1000)
    );
}

#[test]
fn a_failed_service_creation_leaves_the_partitions_to_import_by_hand() {
    let (_dir, sel) = lab();
    source_objects(&sel);
    // Another administrator initialises a target while the migration starts.
    let migration = migrate_ccc_service(&sel, request(), &mut |m| {
        if m.starts_with("Migrating service") {
            open_store(&sel)
                .unwrap()
                .update_token(&partition("sa7-b/svc1"), |r| {
                    r.initialized = true;
                    Ok(((), true))
                })
                .unwrap();
        }
    })
    .unwrap();
    assert_eq!(migration.state, MigrationState::Failed);
    let error = migration.error.unwrap();
    assert!(error.starts_with(CREATION_ERROR), "{error}");
    assert!(
        error.contains("partition \"sa7-b/svc1\" is not blank"),
        "{error}"
    );
    assert_eq!(
        CREATION_ERROR,
        "We ran into an error while creating a new service for these devices. Use the import partition functionality to manually import partitions into CCC, either as multiple single partition services or as an HA group of multiple partitions."
    );
    assert!(ccc_state(&sel).unwrap().service("web-7").is_err());
}

/// Runs `request()` with a callback that "stops the server" (panics) at message `at`.
fn stopped_at(sel: &LabSelection, at: &str) {
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        migrate_ccc_service(sel, request(), &mut |m| {
            if m == at {
                panic!("the CCC server stops");
            }
        })
    }));
    assert!(stopped.is_err());
    let running = ccc_migrations(sel).unwrap();
    assert_eq!(running.last().unwrap().state, MigrationState::Running);
}

#[test]
fn a_migration_left_running_by_a_restart_is_resumed_or_failed_never_half_done() {
    let (_dir, sel) = lab();
    source_objects(&sel);
    // Stopped while copying to the second target.
    stopped_at(&sel, "Copying the objects of sa7-a/web1 to sa7-b/svc1");
    // Nothing else runs meanwhile.
    refused_with(
        check_ccc_migration(&sel, &request()),
        CKR_FUNCTION_FAILED,
        "migration 1 of service \"web\" is running",
    );
    let recovered = recover_ccc_migrations(&sel).unwrap();
    assert_eq!(recovered.len(), 1);
    let failed = &recovered[0];
    assert_eq!(failed.state, MigrationState::Failed);
    assert_eq!(failed.failed_targets, [partition("sa7-b/svc1")]);
    assert_eq!(
        failed.error.as_deref(),
        Some(copy_error(&[partition("sa7-b/svc1")]).as_str())
    );
    let n = failed.progress.len();
    assert_eq!(
        failed.progress[n - 2..],
        [
            "The CCC server restarted during the migration, before the objects were copied to sa7-b/svc1.".to_string(),
            copy_error(&[partition("sa7-b/svc1")]),
        ]
    );
    assert_eq!(ccc_migrations(&sel).unwrap(), recovered);
    assert!(recover_ccc_migrations(&sel).unwrap().is_empty(), "once");
    // As a run's failed copy: sa7-b/svc1 left the new service, which is in sync.
    assert_eq!(
        ccc_state(&sel)
            .unwrap()
            .service("web-7")
            .unwrap()
            .partitions,
        [partition("sa7-a/svc1")]
    );
    check_ccc_service_in_sync(&sel, "web-7").unwrap();

    // Stopped after the last copy, before the record said so: resumed to success.
    let (_dir, sel) = lab();
    source_objects(&sel);
    stopped_at(&sel, "Copied 3 objects to sa7-b/svc1");
    let recovered = recover_ccc_migrations(&sel).unwrap();
    assert_eq!(recovered[0].state, MigrationState::Succeeded);
    assert_eq!(
        recovered[0].progress.last().unwrap(),
        &format!(
            "The CCC server restarted during the migration; every object had been copied. {SUCCESS_MESSAGE}"
        )
    );

    // Stopped while creating the service: CCC's creation error, the service forgotten.
    let (_dir, sel) = lab();
    source_objects(&sel);
    stopped_at(
        &sel,
        "Migrating service \"web\" from its first partition sa7-a/web1 to sa7-a/svc1, sa7-b/svc1",
    );
    let recovered = recover_ccc_migrations(&sel).unwrap();
    assert_eq!(recovered[0].state, MigrationState::Failed);
    assert!(
        recovered[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with(CREATION_ERROR)
    );
    assert!(ccc_state(&sel).unwrap().service("web-7").is_err());
    // A new run may start.
    check_ccc_migration(&sel, &request()).unwrap();
}

#[test]
fn a_non_ppso_ped_source_migrates_to_a_7x_ped_device_with_its_keys_and_challenge() {
    let (_dir, sel) = ped_lab();
    let challenge = PED_CHALLENGE;
    activate(&sel, "sa6-legacy/legacy", Some(challenge));
    let request = ped_request(challenge);
    // The owner's key, made with the challenge, migrates to the 7.x PED device.
    let client = engine(&sel);
    let h = co_session(&client, LEGACY, challenge);
    aes_key(&client, h);
    let cipher = crypt(&client, h, b"sixteen byte blk", true);
    client.close_everything();
    let migration = migrate_ccc_service(&sel, request, &mut |_| {}).unwrap();
    assert_eq!(migration.state, MigrationState::Succeeded, "{migration:?}");
    assert!(ccc_service_status(&sel, "legacy-pki-7").unwrap().activated);
    // The new partition's crypto officer logs in with the same challenge and decrypts.
    let client = engine(&sel);
    let h = co_session(&client, SA7C_SVC1, challenge);
    assert_eq!(crypt(&client, h, &cipher, false), b"sixteen byte blk");
    client.close_everything();
}
