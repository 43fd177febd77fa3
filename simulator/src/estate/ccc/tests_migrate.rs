//! Unit tests of Migrate Service's refusals on the luna-ccc fixture with its sources managed
//! by CCC (`[[ccc.service]]`s: their devices start authorised): every rule refused with CCC's
//! words and nothing written, including the ones that need CCC's private state (a source
//! initialised by CCC, an STC + PPSO import, CCC's offline flag). The runs, whose keys are
//! used through the engine (a layer above the estate), are simulator/tests/ccc_migrate.rs.
use super::*;
use crate::base::secrets::seal::{
    DEFAULT_PIN_KDF_ITERATIONS, PIN_KDF_ITERATIONS_VARIABLE, pin_kdf_iterations,
};
use crate::lab::{built_in_text, ped_variant, without_cloning};
use crate::models::luna::{ped::PedKey, ped_colour};

#[path = "../../../tests/ccc/lab.rs"]
mod lab;
use lab::*;

/// Everything a refused request might have written: CCC's state and the targets' tokens.
fn written(sel: &LabSelection) -> (CccState, Vec<TokenRecord>) {
    let store = open_store(sel).unwrap();
    let tokens = ["sa7-a/svc1", "sa7-b/svc1", "sa7-c/svc1", "sa6-ppso/spare"]
        .iter()
        .map(|p| store.token(&partition(p)).unwrap().unwrap().record)
        .collect();
    (ccc_state(sel).unwrap(), tokens)
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
    refused_migration(
        &sel,
        MigrationRequest {
            targets: vec![partition("sa7-a/svc1"), partition("sa7-a/svc2")],
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "service \"web-7\" has two partitions on device \"sa7-a\"; an HA service's partitions are on different devices",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            targets: Vec::new(),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "Select Devices: a migration needs at least one target device",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            targets: vec![partition("sa7-a/nosuch")],
            ..request()
        },
        CKR_ARGUMENTS_BAD,
        "the lab defines no partition \"sa7-a/nosuch\"",
    );
    // A service imported with STC and PPSO is not migrated.
    update_ccc(&sel, |state| {
        state.statuses.insert(
            "web".into(),
            CccServiceStatus {
                reduced: true,
                ..CccServiceStatus::default()
            },
        );
        Ok(())
    })
    .unwrap();
    refused_migration(
        &sel,
        request(),
        CKR_FUNCTION_FAILED,
        "service \"web\" was imported with both the STC and PPSO policies",
    );
    update_ccc(&sel, |state| {
        state.statuses.remove("web");
        Ok(())
    })
    .unwrap();
    // An offline target device.
    set_offline(&sel, "sa7-b", true);
    refused_migration(
        &sel,
        request(),
        CKR_FUNCTION_FAILED,
        "device \"sa7-b\" is offline",
    );
    // The source's device failed in the lab (`hsmsim lab fail`).
    crate::estate::fail_device(&sel, &DeviceId::new("sa7-a")).unwrap();
    refused_migration(
        &sel,
        request(),
        CKR_FUNCTION_FAILED,
        "device \"sa7-a\" of the source partition \"sa7-a/web1\" is offline",
    );
}

/// Sets CCC's offline flag of `device`.
fn set_offline(sel: &LabSelection, device: &str, offline: bool) {
    update_ccc(sel, |state| {
        for d in &mut state.devices {
            if d.device.as_str() == device {
                d.offline = offline;
            }
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_licences_the_fm_state_and_the_lunash_condition_are_refused_in_cccs_words() {
    let (_dir, sel) = lab_edited(|t| t.replace("[ccc]\n", "[ccc]\npartition_licences = 6\n"));
    // Five partitions in use, two more wanted.
    refused_migration(
        &sel,
        request(),
        CKR_FUNCTION_FAILED,
        "If sufficient partition licenses are not available, then Migrate Service button will be disabled: the new service needs 2 partitions, 5 of the 6 partition licences are in use",
    );
    let one = MigrationRequest {
        targets: vec![partition("sa7-a/svc1")],
        ..request()
    };
    check_ccc_migration(&sel, &one).unwrap();

    let (_dir, sel) = lab_edited(|t| {
        t.replace(
            "serial = \"1238707\"\n\n  [device.luna]\n",
            "serial = \"1238707\"\n\n  [device.luna]\n  fm = \"fm-enabled\"\n",
        )
    });
    assert_eq!(
        sel.lab.fm_state("sa7-b"),
        crate::models::ccc::FmState::FmEnabled
    );
    refused_migration(
        &sel,
        request(),
        CKR_FUNCTION_FAILED,
        crate::models::ccc::FM_REFUSAL,
    );

    // A 6.x password source that CCC initialised was not created through LunaSH.
    let (_dir, sel) = lab();
    let legacy = MigrationRequest {
        source_service: "legacy-pki".into(),
        targets: vec![partition("sa7-c/svc1")],
        security_officer_challenge: Some("SO-legacy-2017".into()),
        crypto_officer_challenge: "CO-legacy-2017".into(),
        ..request()
    };
    check_ccc_migration(&sel, &legacy).unwrap();
    update_ccc(&sel, |state| {
        state.statuses.insert(
            "legacy-pki".into(),
            CccServiceStatus {
                initialised: true,
                initialised_by_ccc: true,
                ..CccServiceStatus::default()
            },
        );
        Ok(())
    })
    .unwrap();
    refused_migration(
        &sel,
        legacy,
        CKR_FUNCTION_FAILED,
        "a 6.x non PPSO Password source migrates only if the source service/partition is originally created and roles are initialized through LUSH",
    );
}

#[test]
fn select_service_lists_only_initialised_services_with_cloning_capability() {
    // sa6-ppso's cloning off: no partition of it, its admin partition included, may then allow
    // cloning.
    let (_dir, sel) = lab_edited(|t| {
        t.replace("hsm_policies = { 7 = 1, 41 = 1 }", "hsm_policies = { 7 = 0, 41 = 1 }")
            .replace(
                "user_pin = \"HSM-CO-sa6-ppso\"     # unused (see the header)\n    [device.partition.luna]\n    admin = true\n    domain = \"acme-ccc-domain\"\n    policies = { 0 = 1, 4 = 1 }",
                "user_pin = \"HSM-CO-sa6-ppso\"\n    [device.partition.luna]\n    admin = true\n    domain = \"acme-ccc-domain\"",
            )
            .replace(
                "domain = \"acme-ccc-domain\"\n    policies = { 0 = 1, 4 = 1 }\n\n  [[device.partition]]\n  name = \"spare\"",
                "domain = \"acme-ccc-domain\"\n\n  [[device.partition]]\n  name = \"spare\"",
            )
            + "[[ccc.service]]\nname = \"blank\"\ntemplate = \"single-7\"\norganisation = \"acme\"\npartitions = [\"sa7-c/svc1\"]\n"
    });
    assert_eq!(
        ccc_migratable_services(&sel).unwrap(),
        ["web", "legacy-pki", "vault"]
    );
    refused_migration(
        &sel,
        MigrationRequest {
            source_service: "payments".into(),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "The service will not be listed for selection unless the source HSM has cloning capability and is initialized. Device \"sa6-ppso\" has HSM policy 7 (cloning) off.",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            source_service: "blank".into(),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "The service will not be listed for selection unless the source HSM has cloning capability and is initialized. Partition \"sa7-c/svc1\" is not initialised with a cloning domain.",
    );
}

#[test]
fn a_non_ppso_ped_source_migrates_only_activated_without_the_default_challenge() {
    let (_dir, sel) = ped_lab();
    let challenge = PED_CHALLENGE;
    let request = ped_request(challenge);
    refused_migration(
        &sel,
        request.clone(),
        CKR_FUNCTION_FAILED,
        "For Non PPSO PED service migration, ensure that the source partition is activated and the default challenge is not set. Partition \"sa6-legacy/legacy\" is not activated.",
    );
    activate(&sel, "sa6-legacy/legacy", None);
    refused_migration(
        &sel,
        request.clone(),
        CKR_FUNCTION_FAILED,
        "For Non PPSO PED service migration, ensure that the source partition is activated and the default challenge is not set. Partition \"sa6-legacy/legacy\" has the default challenge.",
    );
    activate(&sel, "sa6-legacy/legacy", Some(challenge));
    refused_migration(
        &sel,
        MigrationRequest {
            crypto_officer_challenge: "other-chal-1".into(),
            ..request.clone()
        },
        CKR_FUNCTION_FAILED,
        "The crypto officer challenge differs",
    );
    // A 6.x non-PPSO PED source may also go to a 6.x PPSO PED device.
    check_ccc_migration(
        &sel,
        &MigrationRequest {
            targets: vec![partition("sa6-ppso/spare")],
            ..request.clone()
        },
    )
    .unwrap();
}

#[test]
fn the_new_services_hsm_model_must_be_every_target_devices() {
    use crate::models::ccc::HsmModel;
    let (_dir, sel) = lab();
    // sa7-a and sa7-b have firmware 7.4.2.
    refused_migration(
        &sel,
        MigrationRequest {
            hsm_model: Some(HsmModel::LunaNetworkHsm7From770),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "the new service's HSM model is Thales Luna Network HSM 7 (Firmware 7.7.0 and above): device \"sa7-a\" has firmware 7.4.2, a Thales Luna Network HSM 7 (Firmware below 7.7.0)",
    );
    refused_migration(
        &sel,
        MigrationRequest {
            hsm_model: Some(HsmModel::LunaNetworkHsm6),
            ..request()
        },
        CKR_FUNCTION_FAILED,
        "device \"sa7-a\" has firmware 7.4.2",
    );
    check_ccc_migration(
        &sel,
        &MigrationRequest {
            hsm_model: Some(HsmModel::LunaNetworkHsm7),
            ..request()
        },
    )
    .unwrap();
    // sa7-c has firmware 7.7.1.
    let legacy = MigrationRequest {
        source_service: "legacy-pki".into(),
        targets: vec![partition("sa7-c/svc1")],
        security_officer_challenge: Some("SO-legacy-2017".into()),
        crypto_officer_challenge: "CO-legacy-2017".into(),
        ..request()
    };
    check_ccc_migration(
        &sel,
        &MigrationRequest {
            hsm_model: Some(HsmModel::LunaNetworkHsm7From770),
            ..legacy.clone()
        },
    )
    .unwrap();
    refused_migration(
        &sel,
        MigrationRequest {
            hsm_model: Some(HsmModel::LunaNetworkHsm7),
            ..legacy
        },
        CKR_FUNCTION_FAILED,
        "device \"sa7-c\" has firmware 7.7.1, a Thales Luna Network HSM 7 (Firmware 7.7.0 and above)",
    );
}
