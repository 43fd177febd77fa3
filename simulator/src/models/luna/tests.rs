//! The Luna model's unit tests: FIPS mode, firmware eras, roles, policies, failed-login
//! consequences, cloning domains, configuration texts, cloning rules.
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

/// A partition state with `domain` as its primary cloning domain.
fn in_domain(domain: &[u8]) -> PartitionState {
    PartitionState {
        domain: Some(domain.to_vec()),
        ..PartitionState::default()
    }
}

fn side<'a>(device: &'a Device, state: &'a PartitionState) -> CloneSide<'a> {
    CloneSide {
        device,
        state,
        login: Some(CKU_USER),
    }
}

/// Cloning starts only with the Crypto Officer on both sides.
#[test]
fn clone_needs_the_crypto_officer_on_both_sides() {
    let d = device("7.4.2");
    let s = in_domain(b"d");
    assert!(check_clone(&side(&d, &s), &side(&d, &s)).is_ok());
    for login in [None, Some(CKU_SO), Some(CKU_CRYPTO_USER)] {
        let other = CloneSide {
            login,
            ..side(&d, &s)
        };
        let e = check_clone(&other, &side(&d, &s)).unwrap_err();
        assert_eq!(e.rv, CKR_USER_NOT_LOGGED_IN, "{login:?}");
        assert!(e.detail.contains("source"));
        let e = check_clone(&side(&d, &s), &other).unwrap_err();
        assert_eq!(e.rv, CKR_USER_NOT_LOGGED_IN, "{login:?}");
        assert!(e.detail.contains("target"));
    }
}

/// HSM policy 7 must be on on both devices.
#[test]
fn clone_needs_hsm_policy_7_on_both_devices() {
    let on = device("7.4.2");
    let mut off = device("7.4.2");
    off.hsm_policies.insert(hsm_policy::CLONING, 0);
    let s = in_domain(b"d");
    for (a, b) in [(&off, &on), (&on, &off)] {
        let e = check_clone(&side(a, &s), &side(b, &s)).unwrap_err();
        assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED);
        assert!(e.detail.contains("HSM policy 7"));
    }
}

/// The same authentication method, except between two 7.8+ devices.
#[test]
fn clone_needs_the_same_authentication_method_before_7_8() {
    let s = in_domain(b"d");
    for (fw_a, fw_b, allowed) in [
        ("6.24.0", "7.4.2", false),
        ("7.4.2", "7.8.4", false),
        ("7.8.4", "7.8.4", true),
    ] {
        let pw = device(fw_a);
        let mut ped = device(fw_b);
        ped.auth = Auth::Ped;
        let r = check_clone(&side(&pw, &s), &side(&ped, &s));
        assert_eq!(r.is_ok(), allowed, "{fw_a} -> {fw_b}");
        if let Err(e) = r {
            assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED);
            assert!(e.detail.contains("authentication"));
        }
    }
}

/// A V0 or V1 partition never clones to a pre-7.7 one; the other way is allowed.
#[test]
fn v0_and_v1_sources_never_clone_to_pre_7_7_targets() {
    let (old, new) = (device("7.4.2"), device("7.7.1"));
    let v0 = in_domain(b"d");
    let mut v1 = in_domain(b"d");
    v1.policies.insert(partition_policy::PARTITION_VERSION, 1);
    for s in [&v0, &v1] {
        let e = check_clone(&side(&new, s), &side(&old, &v0)).unwrap_err();
        assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED);
        assert!(check_clone(&side(&old, &v0), &side(&new, s)).is_ok());
        assert!(check_clone(&side(&new, s), &side(&new, &v0)).is_ok());
    }
}

/// A source without a cloning domain cannot seal anything.
#[test]
fn clone_needs_a_source_domain() {
    let d = device("7.4.2");
    let none = PartitionState::default();
    let e = check_clone(&side(&d, &none), &side(&d, &in_domain(b"d"))).unwrap_err();
    assert_eq!(e.rv, CKR_CLONING_PARAMETER_MISSING);
}

/// Private keys need source policy 0, secret keys policy 4; other classes always clone.
#[test]
fn object_cloning_follows_source_policies_0_and_4() {
    let d = device("7.4.2");
    let open = in_domain(b"d");
    for class in [CKO_PRIVATE_KEY, CKO_SECRET_KEY, CKO_PUBLIC_KEY, CKO_DATA] {
        assert!(check_object_clonable(&side(&d, &open), class).is_ok());
    }
    for (policy, class) in [
        (partition_policy::PRIVATE_KEY_CLONING, CKO_PRIVATE_KEY),
        (partition_policy::SECRET_KEY_CLONING, CKO_SECRET_KEY),
    ] {
        let mut closed = in_domain(b"d");
        closed.policies.insert(policy, 0);
        let e = check_object_clonable(&side(&d, &closed), class).unwrap_err();
        assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED);
        assert!(e.detail.contains(&format!("policy {policy}")));
        for other in [CKO_PUBLIC_KEY, CKO_CERTIFICATE] {
            assert!(check_object_clonable(&side(&d, &closed), other).is_ok());
        }
    }
    // Policy 0 is capped by HSM policy 7: with cloning off on the device, nothing private clones.
    let mut no_cloning = device("7.4.2");
    no_cloning.hsm_policies.insert(hsm_policy::CLONING, 0);
    let e = check_object_clonable(&side(&no_cloning, &open), CKO_PRIVATE_KEY).unwrap_err();
    assert_eq!(e.rv, CKR_OPERATION_NOT_ALLOWED);
}

/// The sealing and opening domains: the primary one with an older peer, any shared one
/// between two 7.8+ partitions.
#[test]
fn sealing_and_opening_domains_follow_the_older_peer_rule() {
    let (old, new) = (device("6.24.0"), device("7.8.4"));
    let mut multi = in_domain(b"primary");
    multi.other_domains.push(b"shared".to_vec());
    let shared = in_domain(b"shared");
    // Two 7.8+ partitions: the shared secondary domain seals and opens.
    let sealed = sealing_domain(&side(&new, &multi), &side(&new, &shared));
    assert_eq!(sealed, Some(&b"shared"[..]));
    assert!(opening_domains(&side(&new, &multi), &side(&new, &shared)).contains(&&b"shared"[..]));
    // With a peer older than 7.8 only the 7.8+ side's primary domain counts, both ways.
    assert_eq!(
        sealing_domain(&side(&new, &multi), &side(&old, &shared)),
        Some(&b"primary"[..])
    );
    assert_eq!(
        opening_domains(&side(&new, &multi), &side(&old, &shared)),
        vec![&b"primary"[..]]
    );
    // No domain in common: the source seals under its primary and the target will refuse.
    let other = in_domain(b"other");
    assert_eq!(
        sealing_domain(&side(&new, &multi), &side(&new, &other)),
        Some(&b"primary"[..])
    );
}

/// Blob refusals: another domain is CKR_CERTIFICATE_INVALID, damage is not.
#[test]
fn blob_refusals_name_the_domain_mismatch() {
    use crate::base::secrets::transport::BlobError;
    assert_eq!(
        blob_refusal(BlobError::OtherDomain).rv,
        CKR_CERTIFICATE_INVALID
    );
    for e in [BlobError::NotAuthentic, BlobError::Malformed] {
        assert_eq!(blob_refusal(e).rv, CKR_ENCRYPTED_DATA_INVALID);
    }
}

/// A pre-7.7 source goes on after a failed object (one error per object); a V0/V1 source
/// stops at the first failure and leaves the rest not attempted.
#[test]
fn per_object_failures_follow_the_source_era() {
    let (old, new) = (device("7.4.2"), device("7.7.1"));
    let s = in_domain(b"d");
    assert_eq!(
        on_object_failure(&side(&old, &s)),
        OnObjectFailure::Continue
    );
    assert_eq!(on_object_failure(&side(&new, &s)), OnObjectFailure::Stop);
    let fail_odd = |i: u32| {
        if i % 2 == 1 {
            Err(crate::base::error::err(CKR_CERTIFICATE_INVALID, "mismatch"))
        } else {
            Ok(i)
        }
    };
    // Runs four objects (the odd ones fail): which were tried, each one's answer, the outcome.
    let run = |behaviour| {
        let mut tried = Vec::new();
        let results = clone_run(behaviour, 0..4, |i| {
            tried.push(i);
            fail_odd(i)
        });
        let rvs: Vec<_> = results
            .iter()
            .map(|r| r.as_ref().map(|v| *v).map_err(|e| e.rv))
            .collect();
        (tried, rvs, run_outcome(&results).map_err(|e| e.rv))
    };
    let mismatch = Err(CKR_CERTIFICATE_INVALID);
    let (tried, rvs, outcome) = run(OnObjectFailure::Continue);
    assert_eq!(tried, [0, 1, 2, 3]);
    assert_eq!(rvs, [Ok(0), mismatch, Ok(2), mismatch]);
    assert_eq!(outcome, Err(CKR_FAILED_TO_CLONE_AN_OBJECT));
    let (tried, rvs, outcome) = run(OnObjectFailure::Stop);
    assert_eq!(tried, [0, 1]);
    let skipped = Err(CKR_CLONE_NOT_ATTEMPTED);
    assert_eq!(rvs, [Ok(0), mismatch, skipped, skipped]);
    assert_eq!(outcome, Err(CKR_FAILED_TO_CLONE_AN_OBJECT));
    // One object: its own error; all fine: Ok.
    let one = clone_run(OnObjectFailure::Stop, [1u32], fail_odd);
    assert_eq!(run_outcome(&one).unwrap_err().rv, CKR_CERTIFICATE_INVALID);
    assert!(run_outcome(&clone_run(OnObjectFailure::Stop, [0u32, 2], fail_odd)).is_ok());
}

/// An object's attributes travel sealed under the source's domain and open only at a target
/// of that domain; a tampered or truncated blob is refused.
#[test]
fn clone_blobs_open_only_in_the_same_domain_and_intact() {
    use crate::base::attribute::Attributes;
    let d = device("7.4.2");
    let (a, b) = (
        in_domain(&domain_verifier(b"domain-a")),
        in_domain(&domain_verifier(b"domain-b")),
    );
    let mut attrs = Attributes::new();
    attrs.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
    attrs.set_bytes(CKA_VALUE, vec![7; 32]);
    attrs.set_bytes(CKA_OUID, vec![1; 12]);
    let blob = seal_clone(&side(&d, &a), &side(&d, &a), &attrs).unwrap();
    assert!(!blob.windows(32).any(|w| w == [7; 32]));
    assert_eq!(
        open_clone(&side(&d, &a), &side(&d, &a), &blob).unwrap(),
        attrs
    );
    let e = open_clone(&side(&d, &b), &side(&d, &a), &blob).unwrap_err();
    assert_eq!(e.rv, CKR_CERTIFICATE_INVALID);
    let mut tampered = blob.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let e = open_clone(&side(&d, &a), &side(&d, &a), &tampered).unwrap_err();
    assert_eq!(e.rv, CKR_ENCRYPTED_DATA_INVALID);
    let e = open_clone(&side(&d, &a), &side(&d, &a), &blob[..10]).unwrap_err();
    assert_eq!(e.rv, CKR_ENCRYPTED_DATA_INVALID);
    // A blob sealed for another purpose does not open as a clone.
    let backup =
        crate::base::secrets::transport::seal_blob(&a.domain.clone().unwrap(), b"backup", b"x")
            .unwrap();
    let e = open_clone(&side(&d, &a), &side(&d, &a), &backup).unwrap_err();
    assert_eq!(e.rv, CKR_ENCRYPTED_DATA_INVALID);
}

/// ML-DSA and ML-KEM from firmware 7.9 (simulator-defined), FIPS mode or not.
#[test]
fn post_quantum_mechanisms_need_firmware_7_9() {
    let open = PartitionState::default();
    for m in [CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA, CKM_ML_KEM] {
        for fw in ["6.21.2", "7.8.4"] {
            assert_eq!(
                device(fw).check_mechanism(&open, m).unwrap_err().rv,
                CKR_MECHANISM_INVALID,
                "{fw}"
            );
        }
        assert!(device("7.9.0").check_mechanism(&open, m).is_ok());
    }
    assert!(device("7.8.4").check_mechanism(&open, CKM_AES_GCM).is_ok());
}
