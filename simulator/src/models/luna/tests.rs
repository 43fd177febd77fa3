//! The Luna model's unit tests: FIPS mode, firmware eras, roles, policies, failed-login
//! consequences, cloning domains, configuration texts.
use super::*;
use crate::models::{Consequence, FailedLoginRule};
use cryptoki_sys::*;
use std::collections::BTreeMap;

fn device(fw: &str) -> Device {
    Device {
        name: "hsm".into(),
        kind: DeviceKind::Network,
        firmware: Firmware::parse(fw).unwrap(),
        auth: Auth::Password,
        serial: "1".into(),
        hsm_policies: BTreeMap::new(),
        changed: ChangedPolicies::default(),
    }
}

/// FIPS mode: HSM policy 12 off on any firmware; partition policy 43 off from 7.7 only.
#[test]
fn fips_mode_and_non_fips_mechanisms() {
    let open = PartitionState::default();
    let mut own = PartitionState::default();
    own.policies
        .insert(partition_policy::NON_FIPS_ALGORITHMS, 0);
    for fw in ["6.21.2", "7.4.2", "7.7.1", "7.8.4"] {
        let d = device(fw);
        assert!(!d.fips_mode(&open), "{fw}");
        assert_eq!(d.fips_mode(&own), fw >= "7.7", "{fw}");
        let mut fips = device(fw);
        fips.hsm_policies.insert(hsm_policy::NON_FIPS_ALGORITHMS, 0);
        assert!(fips.fips_mode(&open), "{fw}");
        for m in NON_FIPS_MECHANISMS {
            assert_eq!(
                fips.check_mechanism(&open, *m).unwrap_err().rv,
                CKR_MECHANISM_INVALID
            );
            assert!(d.check_mechanism(&open, *m).is_ok());
        }
        assert!(fips.check_mechanism(&open, CKM_DES3_ECB).is_ok());
        assert!(fips.check_mechanism(&open, CKM_AES_GCM).is_ok());
    }
}

#[test]
fn firmware_parses_and_has_its_era() {
    assert_eq!(Firmware::parse("6.21.2").unwrap().era(), Era::Legacy);
    assert_eq!(Firmware::parse("5.x").unwrap().era(), Era::Legacy);
    assert_eq!(Firmware::parse("6.22.0").unwrap().era(), Era::Ppso6);
    assert_eq!(Firmware::parse("7.4").unwrap().era(), Era::Luna7);
    assert_eq!(Firmware::parse("7.7.1").unwrap().era(), Era::Luna77);
    assert_eq!(Firmware::parse("7.8.4").unwrap().era(), Era::Luna78);
    assert!(Firmware::parse("8.0").is_none());
    assert!(Firmware::parse("seven").is_none());
    assert!(Firmware::parse("7.1.2.3").is_none());
}

#[test]
fn roles_follow_the_era() {
    assert_eq!(
        device("6.21.2").check_role(CKU_CRYPTO_USER).unwrap_err().rv,
        CKR_USER_TYPE_INVALID
    );
    assert!(device("6.22.0").check_role(CKU_CRYPTO_USER).is_ok());
    assert_eq!(
        device("6.22.0")
            .check_role(CKU_LIMITED_CRYPTO_OFFICER)
            .unwrap_err()
            .rv,
        CKR_USER_TYPE_INVALID
    );
    assert!(
        device("7.4.2")
            .check_role(CKU_LIMITED_CRYPTO_OFFICER)
            .is_ok()
    );
    let mut no_ppso = device("6.22.0");
    no_ppso.hsm_policies.insert(hsm_policy::PER_PARTITION_SO, 0);
    assert!(no_ppso.check_role(CKU_CRYPTO_USER).is_err());
}

#[test]
fn policies_check_dependencies_ceilings_and_destructiveness() {
    let d = device("7.4.2");
    let mut p = PartitionState::default();
    assert_eq!(p.policy(&d, 0), 1);
    assert_eq!(
        p.apply(&d, &[(1, 1)], true).unwrap_err().rv,
        CKR_CONFIG_FAILS_DEPENDENCIES
    );
    // 0 off is not destructive; then 1 on (off -> on) is.
    assert!(!p.apply(&d, &[(0, 0)], false).unwrap());
    assert_eq!(
        p.apply(&d, &[(1, 1)], false).unwrap_err().rv,
        CKR_CONFIG_CHANGE_ILLEGAL
    );
    assert!(p.apply(&d, &[(1, 1)], true).unwrap());
    assert_eq!(p.policy(&d, 1), 1);
    assert_eq!(
        p.apply(&d, &[(99, 1)], true).unwrap_err().rv,
        CKR_POLICY_ID_INVALID
    );
    assert_eq!(
        p.apply(&d, &[(41, 1)], true).unwrap_err().rv,
        CKR_POLICY_ID_INVALID,
        "7.4 has no partition versions"
    );
    let mut no_cloning = device("7.7.1");
    no_cloning.hsm_policies.insert(hsm_policy::CLONING, 0);
    let mut q = PartitionState::default();
    assert_eq!(q.policy(&no_cloning, 4), 0, "capped by HSM policy 7");
    assert_eq!(
        q.apply(&no_cloning, &[(4, 1)], true).unwrap_err().rv,
        CKR_CONFIG_ILLEGAL
    );
    assert!(q.apply(&no_cloning, &[(41, 1)], true).is_ok());
}

#[test]
fn failed_logins_have_the_documented_consequences() {
    let d7 = device("7.4.2");
    let rule = |d: &Device, user, admin| d.failed_login_rule(user, admin, 10);
    assert_eq!(
        rule(&d7, CKU_SO, true),
        FailedLoginRule {
            threshold: 3,
            consequence: Consequence::ZeroiseDevice
        }
    );
    assert_eq!(
        rule(&d7, CKU_SO, false).consequence,
        Consequence::ZeroisePartition
    );
    assert_eq!(
        rule(&d7, CKU_USER, false).consequence,
        Consequence::LockUntilReset
    );
    assert_eq!(rule(&device("6.21.2"), CKU_SO, false).threshold, 3);
    assert_eq!(
        rule(&device("6.22.0"), CKU_USER, false).consequence,
        Consequence::LockFor(600)
    );
    assert_eq!(d7.locked_along_with(CKU_CRYPTO_USER), Some(CKU_USER));
    assert_eq!(device("6.22.0").locked_along_with(CKU_CRYPTO_USER), None);
    assert_eq!(
        d7.check_reset(CKU_USER).unwrap_err().rv,
        CKR_USER_NOT_AUTHORIZED
    );
    assert!(d7.check_reset(CKU_CRYPTO_USER).is_ok());
}

#[test]
fn several_domains_need_7_8_and_older_peers_need_the_primary() {
    let (a, b, c) = (
        domain_verifier(b"domain-a"),
        domain_verifier(b"domain-b"),
        domain_verifier(b"domain-c"),
    );
    let fw78 = Firmware::parse("7.8.4").unwrap();
    let fw6 = Firmware::parse("6.22.0").unwrap();
    let mut old = PartitionState {
        domain: Some(a.clone()),
        ..PartitionState::default()
    };
    assert_eq!(
        old.add_domain(&device("7.7.1"), b.clone()).unwrap_err().rv,
        CKR_OPERATION_NOT_ALLOWED
    );
    let mut new = PartitionState {
        domain: Some(b.clone()),
        ..PartitionState::default()
    };
    new.add_domain(&device("7.8.4"), a.clone()).unwrap();
    assert_eq!(
        new.add_domain(&device("7.8.4"), a.clone()).unwrap_err().rv,
        CKR_CLONING_PARAMETER_ALREADY_EXISTS
    );
    // The 6.x peer's domain is there, but not primary.
    let e = check_shared_domain((&new, fw78), (&old, fw6)).unwrap_err();
    assert_eq!(e.rv, CKR_CERTIFICATE_INVALID);
    assert!(e.detail.contains("primary"), "{}", e.detail);
    // Between two 7.8+ partitions any common domain will do.
    assert!(check_shared_domain((&new, fw78), (&old, fw78)).is_ok());
    new.set_primary_domain(&a).unwrap();
    assert!(check_shared_domain((&old, fw6), (&new, fw78)).is_ok());
    assert_eq!(new.domains().count(), 2);
    assert_eq!(
        new.remove_domain(&a).unwrap_err().rv,
        CKR_OPERATION_NOT_ALLOWED
    );
    assert_eq!(
        new.set_primary_domain(&c).unwrap_err().rv,
        CKR_CLONING_PARAMETER_MISSING
    );
    new.remove_domain(&b).unwrap();
    assert_eq!(new.domains().count(), 1);
    assert!(!old.has_domain(&c));
}

#[test]
fn configuration_texts() {
    assert_eq!(
        device("7.4.2").configuration_text(false),
        "Luna User Partition With SO (PW) Signing With Cloning Mode"
    );
    assert_eq!(
        device("6.22.0").configuration_text(false),
        "Luna User Slot 6.22.0 (PW) Signing With Cloning Mode"
    );
}

#[test]
fn equal_domains_have_equal_verifiers_and_no_clear_text() {
    let a = domain_verifier(b"my-domain");
    assert_eq!(a, domain_verifier(b"my-domain"));
    assert_ne!(a, domain_verifier(b"other"));
    assert!(!a.windows(9).any(|w| w == b"my-domain"));
}
