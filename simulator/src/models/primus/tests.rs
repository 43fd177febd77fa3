//! The Primus model's unit tests: firmware, key defaults and the security policy; setup
//! passwords and cards; the device (migration preconditions, Clones, names, card PINs).
use super::*;
use crate::base::attribute::Attributes;
use crate::base::error::err;
use cryptoki_sys::*;

mod keys {
    use super::*;

    /// Single DES never; ML-DSA and ML-KEM from firmware 3.2 (Primus §1.5).
    #[test]
    fn mechanisms_by_firmware() {
        for m in [CKM_ML_DSA_KEY_PAIR_GEN, CKM_HASH_ML_DSA_SHA256, CKM_ML_KEM] {
            assert_eq!(
                check_mechanism((3, 1), m).unwrap_err().rv,
                CKR_MECHANISM_INVALID
            );
            assert!(check_mechanism((3, 2), m).is_ok());
        }
        assert!(check_mechanism((3, 2), CKM_DES_ECB).is_err());
        assert!(check_mechanism((2, 11), CKM_AES_GCM).is_ok());
    }

    #[test]
    fn firmware_parses() {
        assert_eq!(Device::parse_firmware("2.11"), Some((2, 11)));
        assert_eq!(Device::parse_firmware("3.2.1"), Some((3, 2)));
        assert_eq!(Device::parse_firmware("7.4"), None);
        assert_eq!(Device::parse_firmware("x"), None);
    }

    #[test]
    fn keys_are_unextractable_and_usage_flags_false_once_any_is_given() {
        let mut template = Attributes::new();
        template.set_bool(CKA_SIGN, true);
        let mut attrs = Attributes::new();
        for t in [CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP] {
            attrs.set_bool(t, true);
        }
        attrs.set_bool(CKA_EXTRACTABLE, true);
        apply_key_defaults(&template, &mut attrs, CKO_PRIVATE_KEY);
        assert_eq!(attrs.bool(CKA_SIGN), Some(true));
        assert_eq!(attrs.bool(CKA_DECRYPT), Some(false));
        assert_eq!(attrs.bool(CKA_UNWRAP), Some(false));
        assert_eq!(attrs.bool(CKA_EXTRACTABLE), Some(false));
        // Without any usage flag, the HSM defaults stay.
        let mut attrs2 = Attributes::new();
        attrs2.set_bool(CKA_DECRYPT, true);
        apply_key_defaults(&Attributes::new(), &mut attrs2, CKO_SECRET_KEY);
        assert_eq!(attrs2.bool(CKA_DECRYPT), Some(true));
        // Asked for: extractable.
        let mut t3 = Attributes::new();
        t3.set_bool(CKA_EXTRACTABLE, true);
        let mut a3 = Attributes::new();
        a3.set_bool(CKA_EXTRACTABLE, true);
        apply_key_defaults(&t3, &mut a3, CKO_SECRET_KEY);
        assert_eq!(a3.bool(CKA_EXTRACTABLE), Some(true));
    }

    #[test]
    fn the_security_policy_answers_the_documented_codes() {
        let closed = SecurityPolicy {
            allow_import: false,
            allow_export: false,
            allow_extract: false,
        };
        assert_eq!(
            closed.check_import().unwrap_err().rv,
            CKR_PRIMUS_KEY_IMPORT_NOT_ALLOWED
        );
        assert_eq!(closed.check_export().unwrap_err().rv, CKR_KEY_NOT_WRAPPABLE);
        assert!(SecurityPolicy::default().check_import().is_ok());
    }
}

mod credentials {
    use super::*;

    #[test]
    fn setup_passwords_have_the_documented_form_and_expire() {
        let (text, kept) = SetupPassword::issue(Deployment::OnPremises, 1_000).unwrap();
        assert_eq!(text.len(), 29);
        assert_eq!(text.matches('-').count(), 4);
        assert!(kept.check(&text, 1_000 + 72 * 3600 - 1).is_ok());
        assert_eq!(
            kept.check(&text, 1_000 + 72 * 3600).unwrap_err().rv,
            CKR_PRIMUS_SETUP_PASSWORD_EXPIRED
        );
        assert_eq!(
            kept.check("AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", 1_001)
                .unwrap_err()
                .rv,
            CKR_PRIMUS_SETUP_PASSWORD_REJECTED
        );
        let (_, cloud) = SetupPassword::issue(Deployment::CloudHsm, 0).unwrap();
        assert_eq!(cloud.lifetime_secs, 7 * 24 * 3600);
        let (secret, verifier) = kept.fetch_permanent_secret(&text, 1_001).unwrap();
        assert!(verifier.matches(secret.as_bytes()));
        assert!(!serde_json::to_string(&kept).unwrap().contains(&text));
    }

    #[test]
    fn cards_block_after_their_attempts_and_changes_need_two_so_cards() {
        let mut a = Card::new(CardKind::So, "so-1", "1234").unwrap();
        let mut b = Card::new(CardKind::So, "so-2", "5678").unwrap();
        assert!(authorize_configuration_change(&mut [(&mut a, "1234"), (&mut b, "5678")]).is_ok());
        assert_eq!(
            authorize_configuration_change(&mut [(&mut a, "1234")])
                .unwrap_err()
                .rv,
            CKR_USER_NOT_LOGGED_IN
        );
        let mut yellow = Card::new(CardKind::PartitionBackup, "yellow", "9999").unwrap();
        assert_eq!(
            authorize_configuration_change(&mut [(&mut a, "1234"), (&mut yellow, "9999")])
                .unwrap_err()
                .rv,
            CKR_USER_TYPE_INVALID
        );
        for left in (1..CARD_ATTEMPTS).rev() {
            let e = yellow.present("0000").unwrap_err();
            assert_eq!(e.rv, CKR_PIN_INCORRECT);
            assert_eq!(yellow.attempts_left, left);
        }
        assert_eq!(yellow.present("0000").unwrap_err().rv, CKR_PIN_LOCKED);
        assert_eq!(
            yellow.present("9999").unwrap_err().rv,
            CKR_PIN_LOCKED,
            "blocked for good"
        );
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("1234"));
        assert_eq!(serde_json::from_str::<Card>(&json).unwrap(), a);
    }
}

mod device {
    use super::*;

    fn ready() -> Device {
        let mut d = Device::new("onprem", Deployment::OnPremises, (2, 11));
        d.licences = [Licence::PartitionAdministration, Licence::DeviceBackup]
            .into_iter()
            .collect();
        d.decanus = Some(Decanus {
            version: (2, 1, 3),
            device_administration: true,
        });
        d.partitions.insert(
            "ACME".into(),
            PartitionAdmin {
                management: true,
                partition_administration: true,
            },
        );
        d
    }

    fn unmet(d: &Device, partition: &str) -> Vec<String> {
        d.partition_backup_preconditions(partition)
            .unwrap_err()
            .into_iter()
            .map(|u| u.id)
            .collect()
    }

    #[test]
    fn the_migration_preconditions_name_each_missing_item() {
        assert!(ready().partition_backup_preconditions("ACME").is_ok());
        assert_eq!(unmet(&ready(), "OTHER"), ["partition"]);

        let mut d = ready();
        d.decanus = Some(Decanus {
            version: (2, 1, 2),
            device_administration: false,
        });
        d.licences.clear();
        d.role = HaRole::Clone {
            mode: CloneMode::Ha,
            clone_modify: false,
        };
        d.partitions
            .insert("ACME".into(), PartitionAdmin::default());
        assert_eq!(
            unmet(&d, "ACME"),
            [
                "master",
                "decanus-version",
                "decanus-device-pairing",
                "management-access",
                "partition-administration-pairing",
                "licence:partition-administration",
                "licence:device-backup",
            ]
        );
        let messages = d.partition_backup_preconditions("ACME").unwrap_err();
        assert!(messages[1].message.contains("2.1.2"), "{}", messages[1]);
        assert!(messages[5].message.contains("Partition Administration"));

        let mut d = ready();
        d.decanus = None;
        assert_eq!(unmet(&d, "ACME"), ["decanus"]);
        assert_eq!(Decanus::parse_version("2.10"), Some((2, 10, 0)));
        assert!(Decanus::parse_version("2.x").is_none());
        assert!((2, 10, 0) > DECANUS_MIGRATION_VERSION);
    }

    #[test]
    fn clones_refuse_object_changes_unless_clone_modify() {
        let mut d = ready();
        assert!(d.check_object_change().is_ok());
        d.role = HaRole::Clone {
            mode: CloneMode::Manual,
            clone_modify: false,
        };
        assert_eq!(
            d.check_object_change().unwrap_err().rv,
            CKR_TOKEN_WRITE_PROTECTED
        );
        d.role = HaRole::Clone {
            mode: CloneMode::Ha,
            clone_modify: true,
        };
        assert!(d.check_object_change().is_ok());
    }

    #[test]
    fn names_are_found_exactly_else_by_a_single_label() {
        let entries = vec![
            (1, "mig@?!aa".to_string(), "mig".to_string()),
            (2, "mig@?!bb".to_string(), "mig".to_string()),
            (3, "zmk".to_string(), "zmk".to_string()),
            (4, "solo@?!cc".to_string(), "solo".to_string()),
        ];
        assert_eq!(find_by_name(&entries, "zmk").unwrap(), 3);
        assert_eq!(find_by_name(&entries, "mig@?!bb").unwrap(), 2);
        assert_eq!(find_by_name(&entries, "solo").unwrap(), 4);
        let e = find_by_name(&entries, "mig").unwrap_err();
        assert_eq!(e.rv, CKR_ARGUMENTS_BAD);
        assert!(e.detail.contains("mig@?!aa, mig@?!bb"), "{e}");
        assert_eq!(
            find_by_name(&entries, "x").unwrap_err().rv,
            CKR_PRIMUS_KEY_NOT_FOUND
        );
        assert_eq!(hsm_name("k", "01", false), "k");
        assert_eq!(hsm_name("k", "01", true), "k@?!01");
        assert!(
            err(CKR_PRIMUS_KEY_NOT_FOUND, "x")
                .to_string()
                .starts_with("CKR_PRIMUS_KEY_NOT_FOUND (0x80000012)")
        );
    }

    #[test]
    fn card_pins_are_8_to_12_digits_without_a_leading_zero() {
        assert!(check_card_pin("12345678").is_ok());
        assert!(check_card_pin("123456789012").is_ok());
        for bad in ["1234567", "1234567890123", "01234567", "1234567a"] {
            assert_eq!(
                check_card_pin(bad).unwrap_err().rv,
                CKR_PIN_LEN_RANGE,
                "{bad}"
            );
        }
        assert_eq!(
            CardKind::from_lab("partition-backup"),
            Some(CardKind::PartitionBackup)
        );
        assert_eq!(CardKind::PartitionBackup.colour(), "yellow");
    }
}
