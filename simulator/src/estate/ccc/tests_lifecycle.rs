//! Tests of a service's life after creation (lifecycle.rs) and of the status bookkeeping of
//! services.rs, on the built-in luna-ccc lab: every refusal also proves that nothing was
//! written (`refused_unchanged`).
use super::*;
use crate::lab::ccc::CccTemplate;
use crate::lab::schema::{CccBackupType, CccServiceType};
use crate::models::luna;

/// The built-in luna-ccc lab.
fn lab() -> (tempfile::TempDir, LabSelection) {
    super::tests::lab_of(crate::lab::built_in_text("luna-ccc").unwrap())
}

fn partition(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// The HSM SO passwords the fixture documents.
const HSM_SO: [(&str, &str); 5] = [
    ("sa6-legacy", "SO-legacy-2017"),
    ("sa6-ppso", "HSM-SO-sa6-ppso"),
    ("sa7-a", "HSM-SO-sa7-a"),
    ("sa7-b", "HSM-SO-sa7-b"),
    ("sa7-c", "HSM-SO-sa7-c"),
];

fn authorise_all(sel: &LabSelection) {
    for (device, password) in HSM_SO {
        add_ccc_device(sel, &DeviceId::new(device)).unwrap();
        authorise_ccc_device(sel, &DeviceId::new(device), password.as_bytes()).unwrap();
    }
}

fn template(name: &str, service_type: CccServiceType, per_partition_so: bool) -> CccTemplate {
    CccTemplate {
        per_partition_so,
        ..super::tests::template(name, service_type)
    }
}

fn create(sel: &LabSelection, name: &str, template: &str, partitions: &[&str]) {
    create_ccc_service(sel, super::tests::service(name, template, partitions)).unwrap();
}

/// A standalone PPSO password service `name` on `partition` (template "single-7").
fn single(sel: &LabSelection, name: &str, partition: &str) {
    add_ccc_template(
        sel,
        template("single-7", CccServiceType::HsmPartition, true),
    )
    .unwrap();
    create(sel, name, "single-7", &[partition]);
}

fn init(so: Option<&str>, co: &str, cu: Option<&str>) -> ServiceInitialisation {
    ServiceInitialisation {
        partition_label: "web-new".into(),
        cloning_domain: "acme-ccc-domain".into(),
        partition_so_password: so.map(Into::into),
        crypto_officer_password: co.into(),
        crypto_user_password: cu.map(Into::into),
    }
}

fn ppso() -> ServiceInitialisation {
    init(Some("PO-web-new-1"), "CO-web-new-1", None)
}

/// Everything the operations may write: CCC's state, every token and the object counts.
fn snapshot(sel: &LabSelection) -> (CccState, Vec<(PartitionId, bool, String)>, String) {
    let store = open_store(sel).unwrap();
    let tokens = store
        .tokens()
        .unwrap()
        .into_iter()
        .map(|(p, row)| (p, row.present, serde_json::to_string(&row.record).unwrap()))
        .collect();
    let counts = format!("{:?}", store.object_counts().unwrap());
    (ccc_state(sel).unwrap(), tokens, counts)
}

/// `op` fails with `rv` and a message holding `needle`, and writes nothing.
fn refused_unchanged<T: std::fmt::Debug>(
    sel: &LabSelection,
    rv: CK_RV,
    needle: &str,
    op: impl FnOnce() -> Result<T>,
) {
    let before = snapshot(sel);
    let e = op().unwrap_err();
    assert_eq!(e.rv, rv, "{needle}: {e:?}");
    assert!(e.to_string().contains(needle), "{needle}: {e}");
    assert!(before == snapshot(sel), "{needle}: nothing is written");
}

/// The token key the role `user` of `p` opens with `pin`, if it does.
fn opens(sel: &LabSelection, p: &str, user: CK_USER_TYPE, pin: &str) -> bool {
    let record = open_store(sel)
        .unwrap()
        .token(&partition(p))
        .unwrap()
        .unwrap()
        .record;
    let context = SealContext {
        partition: &partition(p),
        generation: record.generation,
    };
    record
        .role(user)
        .and_then(|r| r.seal.as_ref())
        .and_then(|s| s.open(pin.as_bytes(), context))
        .is_some()
}

fn record(sel: &LabSelection, p: &str) -> TokenRecord {
    open_store(sel)
        .unwrap()
        .token(&partition(p))
        .unwrap()
        .unwrap()
        .record
}

fn has_domain(sel: &LabSelection, p: &str, domain: &str) -> bool {
    luna::ca::state_of(&record(sel, p)).has_domain(&luna::domain_verifier(domain.as_bytes()))
}

#[test]
fn every_device_of_the_built_in_luna_ccc_lab_is_authorised_as_its_hsm_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::estate::init_from_fixture("luna-ccc", dir.path(), false).unwrap();
    let sel = select(&Choice {
        lab_file: Some(file),
        host: None,
        state_dir: None,
    })
    .unwrap();
    authorise_all(&sel);
    let devices = ccc_devices(&sel).unwrap();
    assert_eq!(devices.len(), 5);
    assert!(devices.iter().all(|d| d.authorised && !d.offline));
}

#[test]
fn a_service_is_initialised_in_the_store_with_its_roles_and_cloning_domain() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    assert!(!ccc_service_status(&sel, "web").unwrap().initialised);
    let fail = CKR_FUNCTION_FAILED;
    for (bad, needle) in [
        (
            init(Some("PO-web-new-1"), "short-7", None),
            "the Crypto Officer password has 7 characters; CCC 3.9 wants a password of 8 or more characters",
        ),
        (
            init(Some("PO-short"), "CO-web-new-1", Some("cu")),
            "the Crypto User password has 2 characters",
        ),
        (
            init(Some("PO-7chr"), "CO-web-new-1", None),
            "the Partition SO password has 7 characters",
        ),
        (
            init(None, "CO-web-new-1", None),
            "service \"web\" has Per-Partition SO: initialize the partition SO with a password too",
        ),
        (
            ServiceInitialisation {
                cloning_domain: String::new(),
                ..ppso()
            },
            "a cloning domain is not empty",
        ),
        (
            ServiceInitialisation {
                partition_label: String::new(),
                ..ppso()
            },
            "a partition label has 1 to 32",
        ),
        (
            ServiceInitialisation {
                partition_label: "l".repeat(33),
                ..ppso()
            },
            "has 33 bytes; a partition label has 1 to 32",
        ),
    ] {
        refused_unchanged(&sel, fail, needle, || {
            initialise_ccc_service(&sel, "web", bad)
        });
    }
    refused_unchanged(
        &sel,
        CKR_ARGUMENTS_BAD,
        "CCC has no service \"nope\"",
        || initialise_ccc_service(&sel, "nope", ppso()),
    );
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-b"), true).unwrap();
    refused_unchanged(
        &sel,
        fail,
        "device \"sa7-b\" is offline: try again when all the devices are online",
        || initialise_ccc_service(&sel, "web", ppso()),
    );
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-b"), false).unwrap();
    let status = initialise_ccc_service(
        &sel,
        "web",
        init(Some("PO-web-new-1"), "CO-web-new-1", Some("CU-web-new-1")),
    )
    .unwrap();
    assert!(status.initialised && status.initialised_by_ccc && !status.activated);
    assert_eq!(ccc_service_status(&sel, "web").unwrap(), status);
    for p in ["sa7-a/svc1", "sa7-b/svc1"] {
        let r = record(&sel, p);
        assert!(r.initialized && r.label == "web-new", "{p}");
        assert!(opens(&sel, p, CKU_SO, "PO-web-new-1"), "{p}");
        assert!(opens(&sel, p, CKU_USER, "CO-web-new-1"), "{p}");
        assert!(opens(&sel, p, luna::CKU_CRYPTO_USER, "CU-web-new-1"), "{p}");
        assert!(!opens(&sel, p, CKU_USER, "CO-web-new-2"), "{p}");
        assert!(has_domain(&sel, p, "acme-ccc-domain"), "{p}");
    }
    refused_unchanged(
        &sel,
        fail,
        "service \"web\" is initialized: only an uninitialized service is initialized",
        || initialise_ccc_service(&sel, "web", ppso()),
    );
}

#[test]
fn a_non_ppso_service_has_a_crypto_officer_and_no_partition_so_or_crypto_user() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    add_ccc_template(
        &sel,
        template("single-6", CccServiceType::HsmPartition, false),
    )
    .unwrap();
    create(&sel, "legacy-new", "single-6", &["sa6-ppso/spare"]);
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"legacy-new\" has no Per-Partition SO: its partition owner is the crypto officer, and it has no partition SO password",
        || initialise_ccc_service(&sel, "legacy-new", ppso()),
    );
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "the crypto user role belongs to PPSO services",
        || {
            initialise_ccc_service(
                &sel,
                "legacy-new",
                init(None, "CO-legacy-new", Some("CU-legacy-new")),
            )
        },
    );
    initialise_ccc_service(&sel, "legacy-new", init(None, "CO-legacy-new", None)).unwrap();
    assert!(opens(&sel, "sa6-ppso/spare", CKU_USER, "CO-legacy-new"));
    assert!(record(&sel, "sa6-ppso/spare").role(CKU_SO).is_none());
    // Activation is for PPSO PED services.
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "activating roles applies only to PED-based services",
        || activate_ccc_service(&sel, "legacy-new", "CO-legacy-new"),
    );
}

/// A lab of PED Network HSMs: "p7" and "q7" (7.4.2, PPSO), "p6" (6.21.2, non-PPSO) and "s6"
/// (6.24.2 with the PPSO capability, STC-capable), each with blank "a" and "b"; their HSM SO is
/// the lab's blue key (an empty password).
fn ped_lab() -> (tempfile::TempDir, LabSelection) {
    let mut text = String::from("[lab]\nname = \"ped\"\n");
    for (device, firmware, ppso) in [
        ("p7", "7.4.2", ""),
        ("q7", "7.4.2", ""),
        ("p6", "6.21.2", ""),
        ("s6", "6.24.2", ", 41 = 1"),
    ] {
        text += &format!(
            "[[device]]\nname = \"{device}\"\nkind = \"luna-network\"\nfirmware = \"{firmware}\"\nauth = \"ped\"\nhsm_policies = {{ 7 = 1{ppso} }}\n  [[device.partition]]\n  name = \"admin\"\n  label = \"admin\"\n  so_ped_key = \"ped/{device}-blue.key\"\n  admin = true\n  [[device.partition]]\n  name = \"a\"\n  [[device.partition]]\n  name = \"b\"\n"
        );
    }
    text += "[[host]]\nname = \"client\"\nslot = [{ id = 0, partition = \"p7/a\" }]\n";
    text += "[ccc]\n[[ccc.organisation]]\nname = \"acme\"\n";
    let (dir, sel) = super::tests::lab_of(&text);
    for device in ["p7", "q7", "p6", "s6"] {
        add_ccc_device(&sel, &DeviceId::new(device)).unwrap();
        authorise_ccc_device(&sel, &DeviceId::new(device), b"").unwrap();
    }
    (dir, sel)
}

#[test]
fn a_ppso_ped_service_activates_its_crypto_officer_with_the_challenge_password() {
    let (_dir, sel) = ped_lab();
    let mut ped = template("ped-7", CccServiceType::HsmPartition, true);
    ped.authentication = luna::Auth::Ped;
    add_ccc_template(&sel, ped.clone()).unwrap();
    ped.name = "ped-6".into();
    ped.per_partition_so = false;
    add_ccc_template(&sel, ped).unwrap();
    create(&sel, "ped7", "ped-7", &["p7/a"]);
    create(&sel, "ped6", "ped-6", &["p6/a"]);
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"ped7\" is not initialized: initialize it first",
        || activate_ccc_service(&sel, "ped7", "challenge-1"),
    );
    initialise_ccc_service(&sel, "ped7", init(None, "challenge-1", None)).unwrap();
    initialise_ccc_service(&sel, "ped6", init(None, "challenge-6", None)).unwrap();
    assert!(record(&sel, "p7/a").initialized);
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "You can activate PPSO services only. Use LunaCM to activate a non-PPSO service.",
        || activate_ccc_service(&sel, "ped6", "challenge-6"),
    );
    refused_unchanged(
        &sel,
        CKR_PIN_INCORRECT,
        "the crypto officer challenge password is not the one of \"p7/a\"",
        || activate_ccc_service(&sel, "ped7", "challenge-2"),
    );
    let status = activate_ccc_service(&sel, "ped7", "challenge-1").unwrap();
    assert!(status.activated);
    let co = record(&sel, "p7/a").role(CKU_USER).cloned().unwrap();
    assert!(co.activated && co.challenge.is_some());
    // An added partition shares the service's PED keys and is activated as the others are.
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "template \"ped-7\" has Per-Partition SO",
        || add_ccc_service_partition(&sel, "ped7", &partition("p6/b")),
    );
    add_ccc_service_partition(&sel, "ped7", &partition("q7/a")).unwrap();
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "the crypto officer password is not the one of service \"ped7\"'s partitions",
        || initialise_ccc_added_partitions(&sel, "ped7", "", "challenge-2", None),
    );
    initialise_ccc_added_partitions(&sel, "ped7", "", "challenge-1", Some("cu-challenge")).unwrap();
    let added = record(&sel, "q7/a");
    let old = record(&sel, "p7/a");
    assert!(added.initialized && added.role(CKU_USER).unwrap().activated);
    for r in [&added, &old] {
        let cu = r.role(luna::CKU_CRYPTO_USER).unwrap();
        assert!(cu.activated && cu.challenge.is_some() && cu.seal.is_some());
    }
    let domain = |r: &TokenRecord| luna::ca::state_of(r).domain;
    assert!(
        domain(&added).is_some() && domain(&added) == domain(&old),
        "one red key"
    );
}

#[test]
fn a_deployed_stc_ppso_service_is_not_activated() {
    let (_dir, sel) = ped_lab();
    let mut stc = template("stc-ped", CccServiceType::HsmPartition, true);
    stc.authentication = luna::Auth::Ped;
    stc.secure_trusted_channel = true;
    add_ccc_template(&sel, stc).unwrap();
    create(&sel, "stc", "stc-ped", &["s6/a"]);
    initialise_ccc_service(&sel, "stc", init(None, "challenge-s", None)).unwrap();
    register_ccc_client(&sel, "stc", "client", None).unwrap();
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"stc\" has both PPSO and STC enabled and is deployed: it cannot be activated after the service is deployed to an Application Owner",
        || activate_ccc_service(&sel, "stc", "challenge-s"),
    );
}

#[test]
fn an_added_partition_needs_a_partition_licence_and_a_known_template() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    single(&sel, "shop", "sa7-a/svc1");
    update_ccc(&sel, |state| {
        state.ccc.partition_licences = Some(1);
        Ok(())
    })
    .unwrap();
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "the services would use 2 partitions, more than the 1 partition licences",
        || add_ccc_service_partition(&sel, "shop", &partition("sa7-b/svc1")),
    );
    // A service CCC kept no template copy of (a lab's or an imported one) reads its template by
    // name; deleted, CCC does not know the service's capabilities.
    update_ccc(&sel, |state| {
        state.ccc.partition_licences = None;
        state.statuses.get_mut("shop").unwrap().template = None;
        Ok(())
    })
    .unwrap();
    delete_ccc_template(&sel, "single-7").unwrap();
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"shop\"'s template \"single-7\" was deleted: CCC does not know the service's capabilities",
        || add_ccc_service_partition(&sel, "shop", &partition("sa7-b/svc1")),
    );
}

#[test]
fn an_added_partition_makes_a_standalone_service_ha_and_takes_the_members_credentials() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    single(&sel, "shop", "sa7-a/svc1");
    initialise_ccc_service(&sel, "shop", ppso()).unwrap();
    register_ccc_client(&sel, "shop", "app-client", None).unwrap();
    let fail = CKR_FUNCTION_FAILED;
    for (p, rv, needle) in [
        (
            "sa7-a/svc2",
            fail,
            "device \"sa7-a\" already provides service \"shop\": an HA service's partitions are on different devices",
        ),
        (
            "sa7-c/vault",
            fail,
            "partition \"sa7-c/vault\" is not blank: a new service takes blank partitions",
        ),
        (
            "sa6-legacy/legacy",
            fail,
            "partition \"sa6-legacy/legacy\" is not blank",
        ),
        (
            "sa7-b/nope",
            CKR_ARGUMENTS_BAD,
            "no partition \"sa7-b/nope\"",
        ),
    ] {
        refused_unchanged(&sel, rv, needle, || {
            add_ccc_service_partition(&sel, "shop", &partition(p))
        });
    }
    remove_ccc_device(&sel, &DeviceId::new("sa7-b")).unwrap();
    refused_unchanged(
        &sel,
        fail,
        "device \"sa7-b\" is not added to CCC and authorised",
        || add_ccc_service_partition(&sel, "shop", &partition("sa7-b/svc1")),
    );
    add_ccc_device(&sel, &DeviceId::new("sa7-b")).unwrap();
    authorise_ccc_device(&sel, &DeviceId::new("sa7-b"), b"HSM-SO-sa7-b").unwrap();
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-b"), true).unwrap();
    refused_unchanged(&sel, fail, "device \"sa7-b\" is offline", || {
        add_ccc_service_partition(&sel, "shop", &partition("sa7-b/svc1"))
    });
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-b"), false).unwrap();
    let shop = add_ccc_service_partition(&sel, "shop", &partition("sa7-b/svc1")).unwrap();
    assert_eq!(
        shop.partitions,
        [partition("sa7-a/svc1"), partition("sa7-b/svc1")]
    );
    let status = ccc_service_status(&sel, "shop").unwrap();
    assert!(status.converted_to_ha);
    assert_eq!(status.uninitialised_partitions, [partition("sa7-b/svc1")]);
    assert!(!record(&sel, "sa7-b/svc1").initialized);
    assert!(!status.clients[0].re_registration_needed);
    // The Important tab: the members' cloning domain and credentials.
    for (domain, co, needle) in [
        (
            "other-domain",
            "CO-web-new-1",
            "the cloning domain is not the one of service \"shop\"'s partitions: initialize new partitions with same cloning domain and role credentials",
        ),
        (
            "acme-ccc-domain",
            "CO-wrong-pass",
            "the crypto officer password is not the one of service \"shop\"'s partitions",
        ),
        ("acme-ccc-domain", "short", "has 5 characters"),
    ] {
        refused_unchanged(&sel, fail, needle, || {
            initialise_ccc_added_partitions(&sel, "shop", domain, co, None)
        });
    }
    // The CU table: "Initialize CU Yes, old partition not initialized: old partition will also
    // be initialized".
    let status = initialise_ccc_added_partitions(
        &sel,
        "shop",
        "acme-ccc-domain",
        "CO-web-new-1",
        Some("CU-shop-0001"),
    )
    .unwrap();
    assert!(status.uninitialised_partitions.is_empty());
    assert!(status.clients[0].re_registration_needed);
    let new = record(&sel, "sa7-b/svc1");
    assert!(new.initialized && new.label == "web-new");
    assert!(has_domain(&sel, "sa7-b/svc1", "acme-ccc-domain"));
    for p in ["sa7-a/svc1", "sa7-b/svc1"] {
        assert!(opens(&sel, p, CKU_USER, "CO-web-new-1"), "{p}");
        assert!(opens(&sel, p, luna::CKU_CRYPTO_USER, "CU-shop-0001"), "{p}");
    }
    assert!(opens(&sel, "sa7-a/svc1", CKU_SO, "PO-web-new-1"));
    refused_unchanged(
        &sel,
        fail,
        "service \"shop\" has no uninitialized partitions",
        || initialise_ccc_added_partitions(&sel, "shop", "acme-ccc-domain", "CO-web-new-1", None),
    );
    // Registering again clears the flag.
    let status = register_ccc_client(&sel, "shop", "app-client", None).unwrap();
    assert!(!status.clients[0].re_registration_needed);
    // A third member must match the crypto user the members now have.
    add_ccc_service_partition(&sel, "shop", &partition("sa7-c/svc1")).unwrap();
    refused_unchanged(
        &sel,
        fail,
        "the crypto user password is not the one of service \"shop\"'s partitions",
        || {
            initialise_ccc_added_partitions(
                &sel,
                "shop",
                "acme-ccc-domain",
                "CO-web-new-1",
                Some("CU-other-01"),
            )
        },
    );
    // "Initialize CU No": the new partition has no crypto user; nothing changes on the old.
    initialise_ccc_added_partitions(&sel, "shop", "acme-ccc-domain", "CO-web-new-1", None).unwrap();
    assert!(!record(&sel, "sa7-c/svc1").has_pin(luna::CKU_CRYPTO_USER));
    assert!(opens(
        &sel,
        "sa7-a/svc1",
        luna::CKU_CRYPTO_USER,
        "CU-shop-0001"
    ));
}

#[test]
fn added_partitions_of_an_uninitialised_service_are_initialised_with_it() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    add_ccc_service_partition(&sel, "web", &partition("sa7-c/svc1")).unwrap();
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"web\" is not initialized: initialize the service first",
        || initialise_ccc_added_partitions(&sel, "web", "acme-ccc-domain", "CO-web-new-1", None),
    );
    let status = initialise_ccc_service(&sel, "web", ppso()).unwrap();
    assert!(status.uninitialised_partitions.is_empty() && !status.converted_to_ha);
    assert!(opens(&sel, "sa7-c/svc1", CKU_USER, "CO-web-new-1"));
}

#[test]
fn a_partition_is_removed_from_an_ha_service_only_and_never_the_last() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    single(&sel, "single", "sa7-c/svc1");
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    initialise_ccc_service(&sel, "web", ppso()).unwrap();
    register_ccc_client(&sel, "web", "app-client", None).unwrap();
    let fail = CKR_FUNCTION_FAILED;
    refused_unchanged(
        &sel,
        fail,
        "The CCC administrator cannot perform partition removal operation on a single HSM service.",
        || remove_ccc_service_partition(&sel, "single", &partition("sa7-c/svc1")),
    );
    refused_unchanged(
        &sel,
        CKR_ARGUMENTS_BAD,
        "service \"web\" has no partition \"sa7-c/svc1\"; partitions: sa7-a/svc1, sa7-b/svc1",
        || remove_ccc_service_partition(&sel, "web", &partition("sa7-c/svc1")),
    );
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-b"), true).unwrap();
    refused_unchanged(&sel, fail, "device \"sa7-b\" is offline", || {
        remove_ccc_service_partition(&sel, "web", &partition("sa7-b/svc1"))
    });
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-b"), false).unwrap();
    let web = remove_ccc_service_partition(&sel, "web", &partition("sa7-a/svc1")).unwrap();
    assert_eq!(web.partitions, [partition("sa7-b/svc1")]);
    // Irreversible: the partition is deleted from its device with its objects.
    let row = open_store(&sel)
        .unwrap()
        .token(&partition("sa7-a/svc1"))
        .unwrap()
        .unwrap();
    assert!(!row.present);
    assert!(
        ccc_service_status(&sel, "web").unwrap().clients[0].re_registration_needed,
        "removing an initialised partition makes the clients register again"
    );
    refused_unchanged(
        &sel,
        fail,
        "\"sa7-b/svc1\" is the last partition of HA service \"web\": the last partition of an HA group cannot be removed",
        || remove_ccc_service_partition(&sel, "web", &partition("sa7-b/svc1")),
    );
}

#[test]
fn the_partition_size_is_typed_digits_within_the_limits_and_the_devices_memory() {
    // sa7-b states 200000 bytes of memory; the other devices have the simulator's default.
    let text = crate::lab::built_in_text("luna-ccc").unwrap().replace(
        "serial = \"1238707\"\n\n  [device.luna]\n",
        "serial = \"1238707\"\n\n  [device.luna]\n  memory = 200000\n",
    );
    assert!(text.contains("memory = 200000"));
    let (_dir, sel) = super::tests::lab_of(&text);
    authorise_all(&sel);
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    create(&sel, "web2", "ha-password-7", &["sa7-a/svc2", "sa7-b/svc2"]);
    let fail = CKR_FUNCTION_FAILED;
    for (size, needle) in [
        (
            "12a4",
            "the partition size \"12a4\" is not a whole number of bytes: enter digits only",
        ),
        ("", "not a whole number of bytes"),
        ("-5000", "not a whole number of bytes"),
        (
            "999",
            "the partition size 999 is outside the limits: the minimum partition size is 1000 bytes, the maximum 99999999 bytes",
        ),
        ("100000000", "is outside the limits"),
        ("99999999999999999999999", "is outside the limits"),
        // sa7-b: 200000 bytes, web2's partition 100000 of them.
        (
            "100001",
            "no space is available on device \"sa7-b\" for 100001 bytes: its memory has 100000 bytes free for \"sa7-b/svc1\"",
        ),
    ] {
        refused_unchanged(&sel, fail, needle, || resize_ccc_service(&sel, "web", size));
    }
    // sa7-a has the simulator's 32000000 bytes of a 7.x device.
    resize_ccc_service(&sel, "web", "50000").unwrap();
    assert_eq!(
        ccc_service_status(&sel, "web").unwrap().partition_size,
        Some(50000)
    );
    // web2 may now grow to 150000 on sa7-b.
    resize_ccc_service(&sel, "web2", "150000").unwrap();
    set_ccc_device_offline(&sel, &DeviceId::new("sa7-a"), true).unwrap();
    refused_unchanged(
        &sel,
        fail,
        "device \"sa7-a\" is offline: try again when all the devices are online",
        || resize_ccc_service(&sel, "web", "2000"),
    );
    refused_unchanged(
        &sel,
        CKR_ARGUMENTS_BAD,
        "device \"nope\" is not added to CCC",
        || set_ccc_device_offline(&sel, &DeviceId::new("nope"), true),
    );
    let model = sel.device_model(&DeviceId::new("sa6-ppso")).unwrap();
    assert_eq!(
        crate::models::ccc::device_memory(model.luna().unwrap()),
        16_000_000
    );
}

#[test]
fn the_keys_are_the_first_partitions_objects_and_clients_register() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"web\" is not initialized: it has no keys",
        || ccc_service_keys(&sel, "web"),
    );
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "an Application Owner cannot deploy a service until it has been initialized",
        || register_ccc_client(&sel, "web", "app-client", None),
    );
    initialise_ccc_service(&sel, "web", ppso()).unwrap();
    assert!(ccc_service_keys(&sel, "web").unwrap().is_empty());
    let store = open_store(&sel).unwrap();
    let first = partition("sa7-a/svc1");
    let incarnation = store.token(&first).unwrap().unwrap().record.incarnation();
    let mut public = crate::base::attribute::Attributes::new();
    public.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
    public.set_ulong(CKA_KEY_TYPE, CKK_AES);
    public.set_bytes(CKA_LABEL, b"wrap-key".to_vec());
    public.set_bytes(CKA_ID, vec![0x01, 0xab]);
    public.set_bytes(CKA_UNIQUE_ID, b"1".to_vec());
    let object = crate::store::StoredObject {
        unique_id: b"1".to_vec(),
        public,
        sealed: None,
    };
    store
        .insert_objects(&first, incarnation, &[object])
        .unwrap();
    assert_eq!(
        ccc_service_keys(&sel, "web").unwrap(),
        [CccKey {
            label: "wrap-key".into(),
            id: "01ab".into(),
            class: "secret".into(),
            key_type: "aes".into(),
        }]
    );
    refused_unchanged(
        &sel,
        CKR_ARGUMENTS_BAD,
        "the lab defines no host \"nope\"; hosts: ccc-server, app-client",
        || register_ccc_client(&sel, "web", "nope", None),
    );
    let status = register_ccc_client(&sel, "web", "app-client", None).unwrap();
    assert_eq!(
        status.clients,
        [CccClient {
            host: "app-client".into(),
            re_registration_needed: false
        }]
    );
    register_ccc_client(&sel, "web", "app-client", None).unwrap();
    assert_eq!(ccc_service_status(&sel, "web").unwrap().clients.len(), 1);
}

/// ccc_client authorising a service synchronises it (Migrate Service Troubleshooting): a
/// service out of sync registers a client only with the crypto officer's credential; the
/// service's own refusals come first; in sync, a credential is not used. (The successful
/// synchronisation, whose objects must really clone, is simulator/tests/ccc_migrate.rs's.)
#[test]
fn a_client_of_a_service_out_of_sync_registers_only_with_the_crypto_officers_credential() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    // Not initialised: the documented refusal, whatever the credential.
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "an Application Owner cannot deploy a service until it has been initialized",
        || register_ccc_client(&sel, "web", "app-client", Some("CO-web-new-1")),
    );
    initialise_ccc_service(&sel, "web", ppso()).unwrap();
    // In sync: a credential given is not used (a wrong one changes nothing).
    register_ccc_client(&sel, "web", "app-client", Some("CO-wrong-0001")).unwrap();
    // An object (with its CKA_OUID) on the first partition only: out of sync.
    let store = open_store(&sel).unwrap();
    let first = partition("sa7-a/svc1");
    let incarnation = store.token(&first).unwrap().unwrap().record.incarnation();
    let mut public = crate::base::attribute::Attributes::new();
    public.set_ulong(CKA_CLASS, CKO_DATA);
    public.set_bytes(luna::CKA_OUID, b"ouid-1".to_vec());
    public.set_bytes(CKA_UNIQUE_ID, b"1".to_vec());
    let object = crate::store::StoredObject {
        unique_id: b"1".to_vec(),
        public,
        sealed: None,
    };
    store
        .insert_objects(&first, incarnation, &[object])
        .unwrap();
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"web\" needs synchronisation: sa7-b/svc1 lack objects the service's other partitions (or the partition it was migrated from) hold. Authorise the service with its crypto officer's credential to run the synchronisation and register the client",
        || register_ccc_client(&sel, "web", "ccc-server", None),
    );
    // A wrong credential: Luna's refusal, no client registered.
    let e = register_ccc_client(&sel, "web", "ccc-server", Some("CO-wrong-0001")).unwrap_err();
    assert_eq!(e.rv, CKR_PIN_INCORRECT, "{e:?}");
    let hosts: Vec<String> = ccc_service_status(&sel, "web")
        .unwrap()
        .clients
        .into_iter()
        .map(|c| c.host)
        .collect();
    assert_eq!(hosts, ["app-client"]);
}

/// A partition added and not initialised yet does not count for the sync a registration
/// needs; once initialised (the clients must register again), it does.
#[test]
fn an_uninitialised_added_partition_does_not_hold_a_registration_back() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    single(&sel, "shop", "sa7-a/svc1");
    initialise_ccc_service(&sel, "shop", ppso()).unwrap();
    let store = open_store(&sel).unwrap();
    let first = partition("sa7-a/svc1");
    let incarnation = store.token(&first).unwrap().unwrap().record.incarnation();
    let mut public = crate::base::attribute::Attributes::new();
    public.set_ulong(CKA_CLASS, CKO_DATA);
    public.set_bytes(luna::CKA_OUID, b"ouid-1".to_vec());
    public.set_bytes(CKA_UNIQUE_ID, b"1".to_vec());
    let object = crate::store::StoredObject {
        unique_id: b"1".to_vec(),
        public,
        sealed: None,
    };
    store
        .insert_objects(&first, incarnation, &[object])
        .unwrap();
    add_ccc_service_partition(&sel, "shop", &partition("sa7-b/svc1")).unwrap();
    register_ccc_client(&sel, "shop", "app-client", None).unwrap();
    initialise_ccc_added_partitions(&sel, "shop", "acme-ccc-domain", "CO-web-new-1", None).unwrap();
    assert!(ccc_service_status(&sel, "shop").unwrap().clients[0].re_registration_needed);
    refused_unchanged(
        &sel,
        CKR_FUNCTION_FAILED,
        "service \"shop\" needs synchronisation: sa7-b/svc1 lack objects",
        || register_ccc_client(&sel, "shop", "app-client", None),
    );
}

#[test]
fn statuses_follow_renames_detaches_and_deletes_and_reduced_services_are_view_only() {
    let (_dir, sel) = lab();
    authorise_all(&sel);
    create(&sel, "web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]);
    create(&sel, "web2", "ha-password-7", &["sa7-a/svc2", "sa7-b/svc2"]);
    initialise_ccc_service(&sel, "web", ppso()).unwrap();
    let before = ccc_service_status(&sel, "web").unwrap();
    edit_ccc_service(
        &sel,
        "web",
        ServiceEdit {
            name: Some("shop".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let state = ccc_state(&sel).unwrap();
    assert!(!state.statuses.contains_key("web"));
    assert_eq!(ccc_service_status(&sel, "shop").unwrap(), before);
    detach_ccc_service(&sel, "shop").unwrap();
    delete_ccc_service(&sel, "web2").unwrap();
    assert!(ccc_state(&sel).unwrap().statuses.is_empty());
    // A reduced (STC + PPSO, imported) service: view, detach, delete, rename, edit only.
    create(
        &sel,
        "stc",
        "ha-password-7",
        &["sa7-c/svc1", "sa6-ppso/spare"],
    );
    update_ccc(&sel, |state| {
        state.statuses.get_mut("stc").unwrap().reduced = true;
        Ok(())
    })
    .unwrap();
    let sentence = "service \"stc\" has Secure Trusted Channel and Per-Partition SO: the Partition SO can only access and modify the partition through the STC link with the Thales Luna HSM client, not through CCC";
    let fail = CKR_FUNCTION_FAILED;
    refused_unchanged(&sel, fail, sentence, || {
        initialise_ccc_service(&sel, "stc", ppso())
    });
    refused_unchanged(&sel, fail, sentence, || {
        activate_ccc_service(&sel, "stc", "CO-web-new-1")
    });
    refused_unchanged(&sel, fail, sentence, || {
        add_ccc_service_partition(&sel, "stc", &partition("sa7-a/svc1"))
    });
    refused_unchanged(&sel, fail, sentence, || {
        initialise_ccc_added_partitions(&sel, "stc", "acme-ccc-domain", "CO-web-new-1", None)
    });
    refused_unchanged(&sel, fail, sentence, || {
        remove_ccc_service_partition(&sel, "stc", &partition("sa6-ppso/spare"))
    });
    refused_unchanged(&sel, fail, sentence, || {
        resize_ccc_service(&sel, "stc", "2000")
    });
    refused_unchanged(&sel, fail, sentence, || {
        register_ccc_client(&sel, "stc", "app-client", None)
    });
    ccc_service_status(&sel, "stc").unwrap();
    edit_ccc_service(
        &sel,
        "stc",
        ServiceEdit {
            name: Some("stc2".into()),
            description: Some("imported".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(ccc_service_status(&sel, "stc2").unwrap().reduced);
    delete_ccc_service(&sel, "stc2").unwrap();
}

#[test]
fn a_template_has_a_backup_type_which_a_lab_may_state() {
    let (_dir, sel) = lab();
    let mut t = template("backed-up", CccServiceType::HsmPartition, true);
    t.backup_type = CccBackupType::BackupHsm;
    add_ccc_template(&sel, t.clone()).unwrap();
    assert_eq!(ccc_template(&sel, "backed-up").unwrap(), t);
    assert_eq!(
        ccc_template(&sel, "ha-password-7").unwrap().backup_type,
        CccBackupType::None
    );
    let text = crate::lab::built_in_text("luna-ccc").unwrap();
    let stated = text.replace(
        "per_partition_so = true\n",
        "per_partition_so = true\nbackup_type = \"backup-hsm\"\n",
    );
    let ccc = crate::lab::Lab::parse(&stated, "ccc.toml")
        .unwrap()
        .ccc()
        .unwrap();
    assert_eq!(ccc.templates[0].backup_type, CccBackupType::BackupHsm);
    let e = crate::lab::Lab::parse(&stated.replace("backup-hsm", "tape"), "ccc.toml").unwrap_err();
    assert!(e.message.contains("unknown variant `tape`"), "{e}");
    // A state stored before the field existed reads as "none".
    let mut value = serde_json::to_value(&t).unwrap();
    value.as_object_mut().unwrap().remove("backup_type");
    let read: CccTemplate = serde_json::from_value(value).unwrap();
    assert_eq!(read.backup_type, CccBackupType::None);
}
