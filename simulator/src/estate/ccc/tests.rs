//! Tests of the CCC operations on the luna-ccc fixture (its admin partitions' HSM SO
//! "HSM-SO-<device>" on the PPSO and 7.x devices) with a Luna PCIe HSM "pcie" added.
use super::*;
use crate::lab::ccc::CccTemplate;
use crate::lab::schema::{CccRole, CccServiceType};
use crate::models::luna;

/// The lab in a fresh state directory.
fn lab() -> (tempfile::TempDir, LabSelection) {
    let mut text = crate::lab::built_in_text("luna-ccc").unwrap().to_string();
    text.push_str("\n[[device]]\nname = \"pcie\"\nkind = \"luna-pcie\"\n  [device.luna]\n  firmware = \"7.4.2\"\n  [[device.partition]]\n  name = \"p\"\n");
    lab_of(&text)
}

/// The lab of `text` in a fresh state directory.
pub(super) fn lab_of(text: &str) -> (tempfile::TempDir, LabSelection) {
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

fn id(name: &str) -> DeviceId {
    DeviceId::new(name)
}

fn partition(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// Adds and authorises `devices`.
fn authorise(sel: &LabSelection, devices: &[&str]) {
    for device in devices {
        add_ccc_device(sel, &id(device)).unwrap();
        authorise_ccc_device(sel, &id(device), format!("HSM-SO-{device}").as_bytes()).unwrap();
    }
}

pub(super) fn service(name: &str, template: &str, partitions: &[&str]) -> NewService {
    NewService {
        name: name.into(),
        description: String::new(),
        template: template.into(),
        organisation: "acme".into(),
        partitions: partitions.iter().map(|p| partition(p)).collect(),
    }
}

pub(super) fn template(name: &str, service_type: CccServiceType) -> CccTemplate {
    CccTemplate {
        name: name.into(),
        description: String::new(),
        service_type,
        authentication: luna::Auth::Password,
        performance: None,
        partition_size: 100_000,
        per_partition_so: true,
        scalable_key_storage: false,
        secure_trusted_channel: false,
        backup_type: Default::default(),
    }
}

/// `result` failed with `rv` and a message holding `needle`.
fn refused_with<T: std::fmt::Debug>(result: Result<T>, rv: CK_RV, needle: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.rv, rv, "{e:?}");
    assert!(e.to_string().contains(needle), "{needle}: {e}");
}

#[test]
fn the_labs_ccc_is_the_starting_state_and_stored_state_wins() {
    let (_dir, sel) = lab();
    let state = ccc_state(&sel).unwrap();
    assert_eq!(state.ccc, sel.lab.ccc().unwrap());
    assert!(state.devices.is_empty());
    add_ccc_organisation(&sel, "umbrella", "").unwrap();
    // Another process (a new selection) sees the stored state.
    let again = select(&Choice {
        lab_file: Some(sel.state_dir.join(LAB_FILE)),
        host: None,
        state_dir: None,
    })
    .unwrap();
    let names: Vec<String> = ccc_organisations(&again)
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["acme", "umbrella"]);
}

#[test]
fn devices_are_added_authorised_as_the_hsm_so_listed_and_removed() {
    let (_dir, sel) = lab();
    refused_with(
        authorise_ccc_device(&sel, &id("sa7-a"), b"HSM-SO-sa7-a"),
        CKR_ARGUMENTS_BAD,
        "device \"sa7-a\" is not added to CCC: add it first",
    );
    add_ccc_device(&sel, &id("sa7-a")).unwrap();
    refused_with(
        add_ccc_device(&sel, &id("sa7-a")),
        CKR_FUNCTION_FAILED,
        "device \"sa7-a\" is already added to CCC",
    );
    refused_with(
        add_ccc_device(&sel, &id("pcie")),
        CKR_FUNCTION_FAILED,
        "CCC manages Luna Network HSMs only; device \"pcie\" is not one",
    );
    refused_with(
        add_ccc_device(&sel, &id("nosuch")),
        CKR_ARGUMENTS_BAD,
        "the lab defines no device \"nosuch\"",
    );
    assert_eq!(
        ccc_devices(&sel).unwrap(),
        [CccDevice {
            device: id("sa7-a"),
            authorised: false,
            offline: false,
        }]
    );
    refused_with(
        authorise_ccc_device(&sel, &id("sa7-a"), b"wrong-password"),
        CKR_PIN_INCORRECT,
        "",
    );
    assert!(!ccc_devices(&sel).unwrap()[0].authorised);
    authorise_ccc_device(&sel, &id("sa7-a"), b"HSM-SO-sa7-a").unwrap();
    assert!(ccc_devices(&sel).unwrap()[0].authorised);
    remove_ccc_device(&sel, &id("sa7-a")).unwrap();
    assert!(ccc_devices(&sel).unwrap().is_empty());
    refused_with(
        remove_ccc_device(&sel, &id("sa7-a")),
        CKR_ARGUMENTS_BAD,
        "device \"sa7-a\" is not added to CCC",
    );
}

#[test]
fn three_wrong_hsm_so_passwords_zeroise_the_hsm_as_hsm_login_does() {
    let (_dir, sel) = lab();
    add_ccc_device(&sel, &id("sa7-b")).unwrap();
    for _ in 0..2 {
        refused_with(
            authorise_ccc_device(&sel, &id("sa7-b"), b"wrong-password"),
            CKR_PIN_INCORRECT,
            "",
        );
    }
    refused_with(
        authorise_ccc_device(&sel, &id("sa7-b"), b"wrong-password"),
        CKR_PIN_LOCKED,
        "",
    );
    let store = open_store(&sel).unwrap();
    let web2 = store.token(&partition("sa7-b/web2")).unwrap().unwrap();
    assert!(!web2.record.initialized, "the HSM was zeroised");
    assert!(!ccc_devices(&sel).unwrap()[0].authorised);
}

/// An empty password is for PED devices: a password device refuses it before any login, so
/// it is not the third wrong password.
#[test]
fn an_empty_password_is_refused_uncounted_on_a_password_device() {
    let (_dir, sel) = lab();
    add_ccc_device(&sel, &id("sa7-b")).unwrap();
    for _ in 0..2 {
        refused_with(
            authorise_ccc_device(&sel, &id("sa7-b"), b"wrong-password"),
            CKR_PIN_INCORRECT,
            "",
        );
    }
    refused_with(
        authorise_ccc_device(&sel, &id("sa7-b"), b""),
        CKR_FUNCTION_FAILED,
        "device \"sa7-b\" authenticates with passwords: enter its HSM SO password",
    );
    authorise_ccc_device(&sel, &id("sa7-b"), b"HSM-SO-sa7-b").unwrap();
    assert!(ccc_devices(&sel).unwrap()[0].authorised);
}

#[test]
fn a_device_serving_a_service_is_not_removed() {
    let (_dir, sel) = lab();
    authorise(&sel, &["sa7-a", "sa7-b"]);
    create_ccc_service(
        &sel,
        service("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
    )
    .unwrap();
    refused_with(
        remove_ccc_device(&sel, &id("sa7-b")),
        CKR_FUNCTION_FAILED,
        "device \"sa7-b\" hosts a partition of service \"web\": detach or delete the service first",
    );
}

#[test]
fn organisations_and_users_are_added_listed_removed_and_owners_see_their_services() {
    let (_dir, sel) = lab();
    add_ccc_organisation(&sel, "umbrella", "research").unwrap();
    refused_with(
        add_ccc_organisation(&sel, "umbrella", ""),
        CKR_FUNCTION_FAILED,
        "CCC organisation \"umbrella\" exists",
    );
    refused_with(
        add_ccc_organisation(&sel, "", ""),
        CKR_FUNCTION_FAILED,
        "an organisation name is not empty",
    );
    add_ccc_user(&sel, "umbrella", "alice", CccRole::ApplicationOwner).unwrap();
    refused_with(
        add_ccc_user(&sel, "umbrella", "app-owner", CccRole::ApplicationOwner),
        CKR_FUNCTION_FAILED,
        "CCC user \"app-owner\" exists",
    );
    refused_with(
        add_ccc_user(&sel, "nope", "bob", CccRole::Administrator),
        CKR_ARGUMENTS_BAD,
        "CCC has no organisation \"nope\"; organisations: acme, umbrella",
    );
    let umbrella = &ccc_organisations(&sel).unwrap()[1];
    assert_eq!(umbrella.description, "research");
    assert_eq!(umbrella.users[0].name, "alice");
    authorise(&sel, &["sa7-a", "sa7-b", "sa7-c"]);
    add_ccc_template(&sel, template("single", CccServiceType::HsmPartition)).unwrap();
    create_ccc_service(
        &sel,
        service("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
    )
    .unwrap();
    let mut other = service("research", "single", &["sa7-c/svc1"]);
    other.organisation = "umbrella".into();
    create_ccc_service(&sel, other).unwrap();
    let seen = |user: &str| -> Vec<String> {
        ccc_services_of(&sel, user)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(seen("ccc-admin"), ["web", "research"]);
    assert_eq!(seen("app-owner"), ["web"]);
    assert_eq!(seen("alice"), ["research"]);
    refused_with(
        ccc_services_of(&sel, "nobody"),
        CKR_ARGUMENTS_BAD,
        "no user",
    );
    refused_with(
        remove_ccc_organisation(&sel, "umbrella"),
        CKR_FUNCTION_FAILED,
        "organisation \"umbrella\" owns service \"research\"",
    );
    detach_ccc_service(&sel, "research").unwrap();
    remove_ccc_user(&sel, "alice").unwrap();
    refused_with(
        remove_ccc_user(&sel, "alice"),
        CKR_ARGUMENTS_BAD,
        "no user \"alice\"",
    );
    remove_ccc_organisation(&sel, "umbrella").unwrap();
    assert_eq!(ccc_organisations(&sel).unwrap().len(), 1);
}

#[test]
fn templates_are_added_copied_viewed_edited_and_deleted() {
    let (_dir, sel) = lab();
    add_ccc_template(&sel, template("single", CccServiceType::HsmPartition)).unwrap();
    refused_with(
        add_ccc_template(&sel, template("single", CccServiceType::HsmPartition)),
        CKR_FUNCTION_FAILED,
        "CCC template \"single\" exists",
    );
    for size in [999, 100_000_000] {
        let mut t = template("t", CccServiceType::HsmPartition);
        t.partition_size = size;
        refused_with(
            add_ccc_template(&sel, t),
            CKR_FUNCTION_FAILED,
            "template \"t\": a partition size is 1000 to 99999999 bytes",
        );
    }
    copy_ccc_template(&sel, "single", "single-copy").unwrap();
    let copy = ccc_template(&sel, "single-copy").unwrap();
    assert_eq!(copy, template("single-copy", CccServiceType::HsmPartition));
    refused_with(
        copy_ccc_template(&sel, "single", "ha-password-7"),
        CKR_FUNCTION_FAILED,
        "CCC template \"ha-password-7\" exists",
    );
    refused_with(
        copy_ccc_template(&sel, "nope", "x"),
        CKR_ARGUMENTS_BAD,
        "CCC has no template \"nope\"; templates: ha-password-7, single, single-copy",
    );
    let mut edited = copy.clone();
    edited.partition_size = 5000;
    edited.description = "small".into();
    edit_ccc_template(&sel, edited.clone()).unwrap();
    assert_eq!(ccc_template(&sel, "single-copy").unwrap(), edited);
    edited.partition_size = 10;
    refused_with(
        edit_ccc_template(&sel, edited),
        CKR_FUNCTION_FAILED,
        "partition size",
    );
    delete_ccc_template(&sel, "single-copy").unwrap();
    refused_with(
        ccc_template(&sel, "single-copy"),
        CKR_ARGUMENTS_BAD,
        "no template",
    );
    // A template is deleted at any time; its services keep its name.
    authorise(&sel, &["sa7-c"]);
    create_ccc_service(&sel, service("vault2", "single", &["sa7-c/svc1"])).unwrap();
    delete_ccc_template(&sel, "single").unwrap();
    assert_eq!(ccc_services(&sel).unwrap()[0].template, "single");
}

#[test]
fn a_service_is_created_from_a_template_on_blank_partitions_of_authorised_devices() {
    let (_dir, sel) = lab();
    add_ccc_template(&sel, template("single", CccServiceType::HsmPartition)).unwrap();
    add_ccc_device(&sel, &id("sa7-a")).unwrap();
    refused_with(
        create_ccc_service(
            &sel,
            service("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
        ),
        CKR_FUNCTION_FAILED,
        "device \"sa7-a\" is not added to CCC and authorised: CCC must log in as its HSM SO",
    );
    authorise(&sel, &["sa7-b"]);
    authorise_ccc_device(&sel, &id("sa7-a"), b"HSM-SO-sa7-a").unwrap();
    let name = "w".repeat(29);
    for (new, rv, needle) in [
        (
            service(&name, "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
            CKR_FUNCTION_FAILED,
            "has 29 characters; a service name has 1 to 28",
        ),
        (
            service("web", "ha-password-7", &["sa7-a/svc1"]),
            CKR_FUNCTION_FAILED,
            "template \"ha-password-7\" is an \"hsm-partition-ha-group\" one: its services have two or more partitions, on different devices",
        ),
        (
            service("web", "single", &["sa7-a/svc1", "sa7-b/svc1"]),
            CKR_FUNCTION_FAILED,
            "template \"single\" is an \"hsm-partition\" one: its services have one partition",
        ),
        (
            service("web", "ha-password-7", &["sa7-a/svc1", "sa7-a/svc2"]),
            CKR_FUNCTION_FAILED,
            "service \"web\" has two partitions on device \"sa7-a\"; an HA service's partitions are on different devices",
        ),
        (
            service("web", "ha-password-7", &["sa7-a/web1", "sa7-b/svc1"]),
            CKR_FUNCTION_FAILED,
            "partition \"sa7-a/web1\" is not blank: a new service takes blank partitions",
        ),
        (
            service("web", "single", &["pcie/p"]),
            CKR_FUNCTION_FAILED,
            "CCC manages Luna Network HSMs only; \"pcie/p\" is not on one",
        ),
        (
            service("web", "nope", &["sa7-a/svc1"]),
            CKR_ARGUMENTS_BAD,
            "CCC has no template \"nope\"",
        ),
        (
            NewService {
                organisation: "nope".into(),
                ..service("web", "single", &["sa7-a/svc1"])
            },
            CKR_ARGUMENTS_BAD,
            "CCC has no organisation \"nope\"",
        ),
    ] {
        refused_with(create_ccc_service(&sel, new), rv, needle);
    }
    assert!(ccc_services(&sel).unwrap().is_empty());
    let name = "é".repeat(28);
    let web = create_ccc_service(
        &sel,
        service(&name, "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
    )
    .unwrap();
    assert_eq!(
        web.partitions,
        [partition("sa7-a/svc1"), partition("sa7-b/svc1")]
    );
    assert_eq!(ccc_services(&sel).unwrap(), [web]);
    refused_with(
        create_ccc_service(&sel, service(&name, "single", &["sa7-a/svc2"])),
        CKR_FUNCTION_FAILED,
        "exists",
    );
    refused_with(
        create_ccc_service(&sel, service("other", "single", &["sa7-a/svc1"])),
        CKR_FUNCTION_FAILED,
        "partition \"sa7-a/svc1\" serves service",
    );
}

#[test]
fn templates_fit_the_devices_of_a_new_service() {
    let (_dir, sel) = lab();
    authorise(&sel, &["sa6-ppso", "sa7-a", "sa7-c"]);
    let single = |name: &str, change: &dyn Fn(&mut CccTemplate)| {
        let mut t = template(name, CccServiceType::HsmPartition);
        change(&mut t);
        add_ccc_template(&sel, t).unwrap();
    };
    single("nonppso", &|t| t.per_partition_so = false);
    single("sks", &|t| t.scalable_key_storage = true);
    single("stc", &|t| t.secure_trusted_channel = true);
    single("ped", &|t| t.authentication = luna::Auth::Ped);
    for (template, partition, needle) in [
        (
            "nonppso",
            "sa7-a/svc1",
            "template \"nonppso\" has no Per-Partition SO, which is mandatory on 7.x devices; device \"sa7-a\" has 7.4.2",
        ),
        (
            "sks",
            "sa7-a/svc1",
            "template \"sks\" has Scalable Key Storage, which needs a Luna Network HSM 7 with firmware 7.7.0 or above",
        ),
        (
            "stc",
            "sa7-c/svc1",
            "template \"stc\" has Secure Trusted Channel, which needs firmware 6.24.2 or higher and is not available on 7.7.0 and above; device \"sa7-c\" has 7.7.1",
        ),
        (
            "ped",
            "sa7-a/svc1",
            "template \"ped\" is for PED authentication, device \"sa7-a\" uses password",
        ),
    ] {
        refused_with(
            create_ccc_service(&sel, service("x", template, &[partition])),
            CKR_FUNCTION_FAILED,
            needle,
        );
    }
    create_ccc_service(&sel, service("sks", "sks", &["sa7-c/svc1"])).unwrap();
    create_ccc_service(&sel, service("stc", "stc", &["sa6-ppso/spare"])).unwrap();
}

#[test]
fn the_services_fit_in_the_partition_licences() {
    let (_dir, sel) = lab();
    authorise(&sel, &["sa7-a", "sa7-b", "sa7-c"]);
    update_ccc(&sel, |state| {
        state.ccc.partition_licences = Some(2);
        Ok(())
    })
    .unwrap();
    create_ccc_service(
        &sel,
        service("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
    )
    .unwrap();
    refused_with(
        create_ccc_service(
            &sel,
            service("more", "ha-password-7", &["sa7-a/svc2", "sa7-c/svc1"]),
        ),
        CKR_FUNCTION_FAILED,
        "the services would use 4 partitions, more than the 2 partition licences",
    );
}

#[test]
fn services_are_edited_detached_and_deleted() {
    let (_dir, sel) = lab();
    authorise(&sel, &["sa7-a", "sa7-b"]);
    add_ccc_organisation(&sel, "umbrella", "").unwrap();
    create_ccc_service(
        &sel,
        service("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"]),
    )
    .unwrap();
    create_ccc_service(
        &sel,
        service("web2", "ha-password-7", &["sa7-a/svc2", "sa7-b/svc2"]),
    )
    .unwrap();
    let edited = edit_ccc_service(
        &sel,
        "web",
        ServiceEdit {
            name: Some("shop".into()),
            description: Some("the shop".into()),
            organisation: Some("umbrella".into()),
        },
    )
    .unwrap();
    assert_eq!(
        (
            edited.name.as_str(),
            edited.description.as_str(),
            edited.organisation.as_str()
        ),
        ("shop", "the shop", "umbrella")
    );
    for (edit, rv, needle) in [
        (
            ServiceEdit {
                name: Some("web2".into()),
                ..Default::default()
            },
            CKR_FUNCTION_FAILED,
            "CCC service \"web2\" exists",
        ),
        (
            ServiceEdit {
                name: Some("x".repeat(29)),
                ..Default::default()
            },
            CKR_FUNCTION_FAILED,
            "a service name has 1 to 28",
        ),
        (
            ServiceEdit {
                organisation: Some("nope".into()),
                ..Default::default()
            },
            CKR_ARGUMENTS_BAD,
            "CCC has no organisation \"nope\"",
        ),
    ] {
        refused_with(edit_ccc_service(&sel, "shop", edit), rv, needle);
    }
    refused_with(
        edit_ccc_service(&sel, "web", ServiceEdit::default()),
        CKR_ARGUMENTS_BAD,
        "CCC has no service \"web\"; services: shop, web2",
    );
    let present = |p: &str| {
        open_store(&sel)
            .unwrap()
            .token(&partition(p))
            .unwrap()
            .is_some_and(|row| row.present)
    };
    // Detach: CCC forgets; the partitions stay.
    detach_ccc_service(&sel, "shop").unwrap();
    assert!(present("sa7-a/svc1") && present("sa7-b/svc1"));
    refused_with(
        detach_ccc_service(&sel, "shop"),
        CKR_ARGUMENTS_BAD,
        "no service",
    );
    // Delete: the partitions go.
    let deleted = delete_ccc_service(&sel, "web2").unwrap();
    assert_eq!(deleted.name, "web2");
    assert!(!present("sa7-a/svc2") && !present("sa7-b/svc2"));
    assert!(ccc_services(&sel).unwrap().is_empty());
    refused_with(
        delete_ccc_service(&sel, "web2"),
        CKR_ARGUMENTS_BAD,
        "no service",
    );
}

#[test]
fn concurrent_creations_of_one_service_are_serialised() {
    let (_dir, sel) = lab();
    authorise(&sel, &["sa7-a", "sa7-b"]);
    let results: Vec<Result<CccService>> = std::thread::scope(|scope| {
        let handles: Vec<_> = [["sa7-a/svc1", "sa7-b/svc1"], ["sa7-a/svc2", "sa7-b/svc2"]]
            .into_iter()
            .map(|partitions| {
                let sel = &sel;
                scope.spawn(move || {
                    create_ccc_service(sel, service("web", "ha-password-7", &partitions))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(ccc_services(&sel).unwrap().len(), 1);
}
