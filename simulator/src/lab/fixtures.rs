//! The built-in labs: the fixture files `fixtures/labs/*.toml` (`default`, `generic` and one
//! per documented procedure layout), embedded in the library, and the tests that hold each to
//! the layout its procedures document.
use super::LabError;

/// The built-in default lab's user PIN (`fixtures/labs/default.toml`, documented in the README).
pub const DEFAULT_USER_PIN: &str = "12345678";

/// The built-in labs, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../../fixtures/labs/default.toml"),
    ),
    (
        "generic",
        include_str!("../../../fixtures/labs/generic.toml"),
    ),
    (
        "luna-network-to-network7",
        include_str!("../../../fixtures/labs/luna-network-to-network7.toml"),
    ),
    (
        "luna-usb-to-network7",
        include_str!("../../../fixtures/labs/luna-usb-to-network7.toml"),
    ),
    (
        "luna-pcie-to-network7",
        include_str!("../../../fixtures/labs/luna-pcie-to-network7.toml"),
    ),
    (
        "luna-pcie-usb-to-pcie7",
        include_str!("../../../fixtures/labs/luna-pcie-usb-to-pcie7.toml"),
    ),
    (
        "luna-ccc",
        include_str!("../../../fixtures/labs/luna-ccc.toml"),
    ),
    ("primus", include_str!("../../../fixtures/labs/primus.toml")),
];

/// The text of a built-in lab; the error lists the names there are.
pub fn built_in_text(name: &str) -> Result<&'static str, LabError> {
    BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| LabError {
            file: format!("built-in lab \"{name}\""),
            position: None,
            message: format!(
                "there is no such built-in lab; allowed: {}",
                BUILT_IN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Moves one `[[device.partition]]` of a lab to PED keys: its `so_pin`, `user_pin` and
/// `[device.partition.luna] domain` become the lab's shared key files `ped/blue.key`,
/// `ped/black.key` and `ped/red.key` (`so_ped_key`, `user_ped_key`, `domain_ped_key`; the files
/// are made on first use). Returns whether the partition is initialised (it has a label).
pub fn partition_to_ped(partition: &mut toml::Table) -> bool {
    let so = partition.remove("so_pin").is_some();
    let user = partition.remove("user_pin").is_some();
    let luna = sub_table(partition, "luna");
    let domain = luna.remove("domain").is_some();
    for (had, key, file) in [
        (so, "so_ped_key", "ped/blue.key"),
        (user, "user_ped_key", "ped/black.key"),
        (domain, "domain_ped_key", "ped/red.key"),
    ] {
        if had {
            luna.insert(key.into(), file.into());
        }
    }
    if luna.is_empty() {
        partition.remove("luna");
    }
    partition.contains_key("label")
}

/// A Luna lab's PED variant, as the `luna-ccc` fixture's header describes it: every device
/// PED-authenticated (`[device.luna] auth = "ped"`), every partition's roles and cloning domain
/// on the shared PED key files (`partition_to_ped`), activation (partition policy 22) allowed
/// on every initialised partition so that challenge secrets can be activated, and every
/// `[[ccc.template]]` a PED one. Comments are not kept.
pub fn ped_variant(text: &str) -> Result<String, LabError> {
    let invalid = |message: String| LabError {
        file: "the lab's PED variant".into(),
        position: None,
        message,
    };
    let mut lab: toml::Table = text.parse().map_err(|e| invalid(format!("{e}")))?;
    if let Some(toml::Value::Array(devices)) = lab.get_mut("device") {
        for device in devices.iter_mut().filter_map(toml::Value::as_table_mut) {
            sub_table(device, "luna").insert("auth".into(), "ped".into());
            let Some(toml::Value::Array(partitions)) = device.get_mut("partition") else {
                continue;
            };
            for partition in partitions.iter_mut().filter_map(toml::Value::as_table_mut) {
                if partition_to_ped(partition) {
                    sub_table(sub_table(partition, "luna"), "policies")
                        .insert("22".into(), toml::Value::Integer(1));
                }
            }
        }
    }
    if let Some(toml::Value::Table(ccc)) = lab.get_mut("ccc")
        && let Some(toml::Value::Array(templates)) = ccc.get_mut("template")
    {
        for template in templates.iter_mut().filter_map(toml::Value::as_table_mut) {
            template.insert("authentication".into(), "ped".into());
        }
    }
    toml::to_string(&lab).map_err(|e| invalid(e.to_string()))
}

/// A Luna lab's text with policies changed: `hsm` sets HSM policies `(device, id, value)` in
/// `[device.luna] hsm_policies`; `partition` sets, or with `None` removes, partition policies
/// `("device/partition", id, value)` in `[device.partition.luna] policies`. A device or
/// partition the lab does not have is an error. Comments are not kept.
pub fn with_policies(
    text: &str,
    hsm: &[(&str, u64, u64)],
    partition: &[(&str, u64, Option<u64>)],
) -> Result<String, LabError> {
    let invalid = |message: String| LabError {
        file: "the lab with changed policies".into(),
        position: None,
        message,
    };
    let mut lab: toml::Table = text.parse().map_err(|e| invalid(format!("{e}")))?;
    let mut seen: Vec<String> = Vec::new();
    if let Some(toml::Value::Array(devices)) = lab.get_mut("device") {
        for device in devices.iter_mut().filter_map(toml::Value::as_table_mut) {
            let name = device
                .get("name")
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_string();
            for (_, id, value) in hsm.iter().filter(|(d, ..)| *d == name) {
                sub_table(sub_table(device, "luna"), "hsm_policies")
                    .insert(id.to_string(), toml::Value::Integer(*value as i64));
            }
            seen.push(name.clone());
            let Some(toml::Value::Array(partitions)) = device.get_mut("partition") else {
                continue;
            };
            for p in partitions.iter_mut().filter_map(toml::Value::as_table_mut) {
                let id = format!(
                    "{name}/{}",
                    p.get("name")
                        .and_then(toml::Value::as_str)
                        .unwrap_or_default()
                );
                let changes: Vec<_> = partition.iter().filter(|(q, ..)| *q == id).collect();
                if changes.is_empty() {
                    continue;
                }
                let policies = sub_table(sub_table(p, "luna"), "policies");
                for (_, policy, value) in changes {
                    match value {
                        Some(v) => {
                            policies.insert(policy.to_string(), toml::Value::Integer(*v as i64))
                        }
                        None => policies.remove(&policy.to_string()),
                    };
                }
                seen.push(id);
            }
        }
    }
    let missing: Vec<&str> = hsm
        .iter()
        .map(|(d, ..)| *d)
        .chain(partition.iter().map(|(p, ..)| *p))
        .filter(|name| !seen.iter().any(|s| s == name))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!("the lab has no {}", missing.join(", "))));
    }
    toml::to_string(&lab).map_err(|e| invalid(e.to_string()))
}

/// A Luna lab's text with `device` unable to clone: its HSM policy 7 (cloning) off, and its
/// partitions' cloning policies (0, private keys; 4, secret keys) removed, as they may never
/// be looser than the HSM's (`partitions`: the device's partitions that set them).
pub fn without_cloning(text: &str, device: &str, partitions: &[&str]) -> Result<String, LabError> {
    let ids: Vec<String> = partitions.iter().map(|p| format!("{device}/{p}")).collect();
    let changes: Vec<(&str, u64, Option<u64>)> = ids
        .iter()
        .flat_map(|id| [(id.as_str(), 0, None), (id.as_str(), 4, None)])
        .collect();
    with_policies(text, &[(device, 7, 0)], &changes)
}

/// The table `key` of `table`, made when missing (a value of another type is replaced).
fn sub_table<'t>(table: &'t mut toml::Table, key: &str) -> &'t mut toml::Table {
    let entry = table
        .entry(key.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    match entry {
        toml::Value::Table(inner) => inner,
        _ => unreachable!("made a table above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Lab;
    use crate::lab::schema::DEVICE_KINDS;
    use crate::models::luna;
    use std::collections::{BTreeSet, HashMap};
    use std::path::PathBuf;

    #[test]
    fn only_the_ccc_lab_states_a_ccc_with_an_organisation_and_a_template_the_procedures_use() {
        use crate::lab::{CccRole, CccServiceType};
        for (name, _) in BUILT_IN {
            let lab = Lab::built_in(name).unwrap();
            assert_eq!(lab.ccc().is_some(), *name == "luna-ccc", "{name}");
        }
        let ccc = Lab::built_in("luna-ccc").unwrap().ccc().unwrap();
        assert_eq!(ccc.partition_licences, None);
        assert!(
            ccc.services.is_empty(),
            "the procedures import or create them"
        );
        let [acme] = &ccc.organisations[..] else {
            panic!("one organisation: {:?}", ccc.organisations);
        };
        assert_eq!(acme.name, "acme");
        let users: Vec<_> = acme
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.role))
            .collect();
        assert_eq!(
            users,
            [
                ("ccc-admin", CccRole::Administrator),
                ("app-owner", CccRole::ApplicationOwner)
            ]
        );
        let [template] = &ccc.templates[..] else {
            panic!("one template: {:?}", ccc.templates);
        };
        assert_eq!(template.name, "ha-password-7");
        assert_eq!(template.service_type, CccServiceType::HsmPartitionHaGroup);
        assert_eq!(template.authentication, luna::Auth::Password);
        assert_eq!(template.partition_size, 100_000);
        assert!(template.per_partition_so);
        assert!(!template.scalable_key_storage && !template.secure_trusted_channel);
        // ccc.service.create's HA service over the blank 7.x partitions passes the template
        // rules; with a member on the pre-PPSO 6.x device it would not.
        let text = built_in_text("luna-ccc").unwrap();
        let create = |partitions: &str| {
            format!(
                "{text}\n[[ccc.service]]\nname = \"web-new\"\ntemplate = \"ha-password-7\"\norganisation = \"acme\"\npartitions = [{partitions}]\n"
            )
        };
        assert!(Lab::parse(&create("\"sa7-a/svc1\", \"sa7-b/svc1\""), "ccc.toml").is_ok());
        let e =
            Lab::parse(&create("\"sa6-legacy/legacy\", \"sa7-b/svc1\""), "ccc.toml").unwrap_err();
        assert!(e.message.contains("Per-Partition SO"), "{e}");
    }

    #[test]
    fn the_built_in_labs_parse_and_give_their_slots() {
        let default = Lab::built_in("default").unwrap();
        let config = default.config(None, PathBuf::from("/tmp/x")).unwrap();
        let ids: Vec<_> = config.slots.iter().map(|s| s.id).collect();
        assert_eq!(ids, [0, 1, 2]);
        let preset = config.slots[0].preset.as_ref().unwrap();
        assert_eq!(preset.label, "hsmsim-default");
        assert_eq!(preset.user_pin.as_deref(), Some(DEFAULT_USER_PIN));
        assert!(config.slots[1].preset.is_none());
        let generic = Lab::built_in("generic")
            .unwrap()
            .config(None, PathBuf::new())
            .unwrap();
        assert!(generic.slots.iter().all(|s| s.preset.is_none()));
        assert!(
            Lab::built_in("nope")
                .unwrap_err()
                .message
                .contains("default, generic")
        );
    }

    /// A slot as a fixture documents it: id, partition, and whether the token starts
    /// initialised (label and SO PIN) or blank.
    type Slot = (u64, &'static str, bool);
    /// A host's name and its slots, in the lab's order.
    type HostView = (&'static str, &'static [Slot]);

    /// Every built-in lab's hosts, in order, with the slots the guides document for them.
    const LAYOUTS: &[(&str, &[HostView])] = &[
        (
            "default",
            &[(
                "client",
                &[
                    (0, "hsm1/default", true),
                    (1, "hsm1/blank1", false),
                    (2, "hsm1/blank2", false),
                ],
            )],
        ),
        (
            "generic",
            &[("client", &[(0, "hsm1/p0", false), (1, "hsm1/p1", false)])],
        ),
        // Luna guide ch. 2: 0 = source, 1 = destination, 2 = Backup HSM, one host.
        (
            "luna-network-to-network7",
            &[(
                "client",
                &[
                    (0, "sa6/app", true),
                    (1, "sa7/app", false),
                    (2, "backup/hsm", true),
                ],
            )],
        ),
        // Ch. 3 and 4: backup on the old host (0 and 2), restore on the new host (1 and 2),
        // cloning on a 7.x host with the old HSM attached (0 and 1).
        (
            "luna-usb-to-network7",
            &[
                (
                    "old-host",
                    &[(0, "usb6/app", true), (2, "backup/hsm", true)],
                ),
                (
                    "new-host",
                    &[(1, "sa7/app", false), (2, "backup/hsm", true)],
                ),
                (
                    "clone-host",
                    &[(0, "usb6/app", true), (1, "sa7/app", false)],
                ),
            ],
        ),
        (
            "luna-pcie-to-network7",
            &[
                ("old-host", &[(0, "k6/app", true), (2, "backup/hsm", true)]),
                (
                    "new-host",
                    &[(1, "sa7/app", false), (2, "backup/hsm", true)],
                ),
                ("clone-host", &[(0, "k6/app", true), (1, "sa7/app", false)]),
            ],
        ),
        // Ch. 5: one host, 0 = source (PCIe or USB), 1 = PCIe 7 destination, 2 = Backup HSM.
        (
            "luna-pcie-usb-to-pcie7",
            &[
                (
                    "client-pcie6",
                    &[
                        (0, "k6/app", true),
                        (1, "k7/app", false),
                        (2, "backup/hsm", true),
                    ],
                ),
                (
                    "client-usb6",
                    &[
                        (0, "usb6/app", true),
                        (1, "k7/app", false),
                        (2, "backup/hsm", true),
                    ],
                ),
            ],
        ),
        // CCC: slot ids simulator-defined (the documentation gives none).
        (
            "luna-ccc",
            &[
                (
                    "ccc-server",
                    &[
                        (0, "sa6-legacy/legacy", true),
                        (1, "sa6-ppso/payments", true),
                        (2, "sa6-ppso/spare", false),
                        (3, "sa7-a/web1", true),
                        (4, "sa7-a/svc1", false),
                        (5, "sa7-a/svc2", false),
                        (6, "sa7-b/web2", true),
                        (7, "sa7-b/svc1", false),
                        (8, "sa7-b/svc2", false),
                        (9, "sa7-c/vault", true),
                        (10, "sa7-c/svc1", false),
                    ],
                ),
                (
                    "app-client",
                    &[
                        (0, "sa6-ppso/payments", true),
                        (1, "sa6-legacy/legacy", true),
                        (2, "sa7-a/web1", true),
                        (3, "sa7-b/web2", true),
                        (4, "sa7-c/vault", true),
                    ],
                ),
            ],
        ),
        // Primus: slot ids are primus.cfg's, simulator-defined here.
        (
            "primus",
            &[
                (
                    "admin-host",
                    &[
                        (0, "primus-onprem/ACME-PKI", true),
                        (1, "primus-dr/ACME-DR", true),
                        (2, "cloudhsm/ACME-CLOUD", true),
                        (3, "cloudhsm/restore", false),
                        (4, "cloudhsm-dedicated/restore", false),
                    ],
                ),
                ("ca-server", &[(0, "primus-onprem/ACME-ADCS", true)]),
            ],
        ),
    ];

    #[test]
    fn every_built_in_lab_gives_each_host_the_documented_slots() {
        let built_in: Vec<_> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        let documented: Vec<_> = LAYOUTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            built_in, documented,
            "every built-in lab has its layout here"
        );
        for (name, hosts) in LAYOUTS {
            let lab = Lab::built_in(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(lab.file.lab.name, *name, "[lab] name of {name}");
            assert_eq!(lab.source_name, format!("fixtures/labs/{name}.toml"));
            let host_names: Vec<_> = lab
                .file
                .hosts
                .iter()
                .map(|h| h.name.get_ref().as_str())
                .collect();
            let expected: Vec<_> = hosts.iter().map(|(h, _)| *h).collect();
            assert_eq!(host_names, expected, "hosts of {name}");
            for (host, slots) in *hosts {
                let config = lab.config(Some(host), PathBuf::from("/tmp/x")).unwrap();
                let got: Vec<_> = config
                    .slots
                    .iter()
                    .map(|s| (s.id, s.partition().to_string(), s.preset.is_some()))
                    .collect();
                let slots: Vec<_> = slots
                    .iter()
                    .map(|(i, p, s)| (*i, p.to_string(), *s))
                    .collect();
                assert_eq!(got, slots, "{name}, host {host}");
                assert_eq!(config.state_dir, PathBuf::from("/tmp/x"));
            }
            // The first host is the default view.
            let first = lab.config(None, PathBuf::new()).unwrap();
            assert_eq!(first.slots.len(), hosts[0].1.len(), "{name}: default host");
        }
    }

    #[test]
    fn built_in_labs_use_pins_of_eight_characters_or_more() {
        for (name, _) in BUILT_IN {
            let lab = Lab::built_in(name).unwrap();
            for device in &lab.file.devices {
                assert!(DEVICE_KINDS.contains(&device.kind.get_ref().as_str()));
                for p in &device.partitions {
                    for pin in [
                        &p.so_pin,
                        &p.user_pin,
                        p.crypto_user_pin(),
                        p.limited_co_pin(),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        assert!(
                            pin.get_ref().len() >= 8,
                            "{name}: {}/{}",
                            device.name.get_ref(),
                            p.name.get_ref()
                        );
                    }
                    // An initialised procedure partition has a Crypto Officer / user PIN too,
                    // except a Backup HSM, which has only its HSM SO.
                    if p.label.is_some() && device.kind.get_ref() != "luna-backup" {
                        assert!(p.user_pin.is_some(), "{name}: {}", p.name.get_ref());
                    }
                }
            }
        }
        let backup = Lab::built_in("luna-usb-to-network7").unwrap();
        let old = backup
            .config(Some("old-host"), PathBuf::new())
            .unwrap()
            .slots;
        let new = backup
            .config(Some("new-host"), PathBuf::new())
            .unwrap()
            .slots;
        // The moved Backup HSM is one token: same partition, same preset, on both hosts.
        assert_eq!(old[1].partition(), new[1].partition());
        assert_eq!(old[1].preset, new[1].preset);
        let preset = old[1].preset.as_ref().unwrap();
        assert_eq!(preset.label, "backup-hsm");
        assert!(preset.user_pin.is_none());
    }

    /// Every Luna fixture's devices, in lab order, with the firmware each header comment gives
    /// as the fixture's variant. Authentication is password on every device (the PED variant is
    /// `auth = "ped"` on all of them).
    const LUNA_FIRMWARE: &[(&str, &[(&str, &str)])] = &[
        (
            "luna-network-to-network7",
            &[("sa6", "6.21.2"), ("sa7", "7.4.2"), ("backup", "6.28.0")],
        ),
        (
            "luna-usb-to-network7",
            &[("usb6", "6.21.2"), ("sa7", "7.4.2"), ("backup", "6.28.0")],
        ),
        (
            "luna-pcie-to-network7",
            &[("k6", "6.21.2"), ("sa7", "7.4.2"), ("backup", "6.28.0")],
        ),
        (
            "luna-pcie-usb-to-pcie7",
            &[
                ("k6", "6.21.2"),
                ("usb6", "6.21.2"),
                ("k7", "7.4.2"),
                ("backup", "6.28.0"),
            ],
        ),
        (
            "luna-ccc",
            &[
                ("sa6-legacy", "6.21.2"),
                ("sa6-ppso", "6.24.2"),
                ("sa7-a", "7.4.2"),
                ("sa7-b", "7.4.2"),
                ("sa7-c", "7.7.1"),
            ],
        ),
    ];

    /// Per Luna fixture: its cloning domain, the (source, destination) pairs that must share it
    /// (the Backup HSM partition a backup goes to; the members of an HA group), the blank 7.x
    /// destinations (they get the domain at `partition init`), and the devices an HA procedure
    /// needs HSM policy 16 (network replication) on.
    type DomainCase = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        &'static [&'static str],
    );
    const LUNA_DOMAINS: &[DomainCase] = &[
        (
            "luna-network-to-network7",
            "acme-migration-domain",
            &[("sa6/app", "backup/hsm")],
            &["sa7/app"],
            &["sa6", "sa7"],
        ),
        (
            "luna-usb-to-network7",
            "acme-migration-domain",
            &[("usb6/app", "backup/hsm")],
            &["sa7/app"],
            &[],
        ),
        (
            "luna-pcie-to-network7",
            "acme-migration-domain",
            &[("k6/app", "backup/hsm")],
            &["sa7/app"],
            &[],
        ),
        (
            "luna-pcie-usb-to-pcie7",
            "acme-migration-domain",
            &[("k6/app", "backup/hsm"), ("usb6/app", "backup/hsm")],
            &["k7/app"],
            &["k6", "usb6", "k7"],
        ),
        (
            "luna-ccc",
            "acme-ccc-domain",
            &[("sa7-a/web1", "sa7-b/web2")],
            &[
                "sa6-ppso/spare",
                "sa7-a/svc1",
                "sa7-a/svc2",
                "sa7-b/svc1",
                "sa7-b/svc2",
                "sa7-c/svc1",
            ],
            &["sa7-a", "sa7-b", "sa7-c"],
        ),
    ];

    #[test]
    fn every_luna_fixtures_ped_variant_is_a_valid_lab_on_ped_keys() {
        for (name, text) in BUILT_IN.iter().filter(|(n, _)| n.starts_with("luna-")) {
            let ped = ped_variant(text).unwrap();
            let lab = Lab::parse(&ped, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            for (device, model) in &lab.models {
                if let Some(l) = model.luna() {
                    assert_eq!(l.auth, luna::Auth::Ped, "{name}: {device}");
                }
            }
            assert!(
                !ped.contains("so_pin") && !ped.contains("user_pin"),
                "{name}"
            );
            if let Some(ccc) = lab.ccc() {
                assert!(
                    ccc.templates
                        .iter()
                        .all(|t| t.authentication == luna::Auth::Ped),
                    "{name}"
                );
            }
        }
        let ped = ped_variant(built_in_text("luna-ccc").unwrap()).unwrap();
        let lab: toml::Table = ped.parse().unwrap();
        let payments = lab["device"][1]["partition"][1].clone();
        assert_eq!(payments["name"].as_str(), Some("payments"));
        assert_eq!(
            payments["luna"]["so_ped_key"].as_str(),
            Some("ped/blue.key")
        );
        assert_eq!(
            payments["luna"]["domain_ped_key"].as_str(),
            Some("ped/red.key")
        );
        assert_eq!(payments["luna"]["policies"]["22"].as_integer(), Some(1));
        // A blank partition stays blank: no keys, no policies.
        assert!(lab["device"][1]["partition"][2].get("luna").is_none());
        assert!(ped_variant("[lab").is_err());
    }

    #[test]
    fn a_device_without_cloning_is_a_valid_lab_and_unknown_names_are_refused() {
        let text = built_in_text("luna-ccc").unwrap();
        let changed = without_cloning(text, "sa7-c", &["admin", "vault"]).unwrap();
        let lab = Lab::parse(&changed, "luna-ccc").unwrap();
        let sa7c = lab.models["sa7-c"].luna().unwrap();
        assert_eq!(sa7c.hsm_policy(luna::hsm_policy::CLONING), 0);
        // Left as they were, the cloning policies are refused above the HSM's.
        let loose = with_policies(text, &[("sa7-c", 7, 0)], &[]).unwrap();
        assert!(Lab::parse(&loose, "luna-ccc").is_err());
        let set = with_policies(text, &[], &[("sa6-ppso/payments", 37, Some(1))]).unwrap();
        let table: toml::Table = set.parse().unwrap();
        assert_eq!(
            table["device"][1]["partition"][1]["luna"]["policies"]["37"].as_integer(),
            Some(1)
        );
        let e = with_policies(text, &[("sa9", 7, 0)], &[("sa7-c/nope", 0, None)]).unwrap_err();
        assert!(e.message.contains("the lab has no sa9, sa7-c/nope"), "{e}");
    }

    #[test]
    fn luna_fixtures_state_firmware_auth_serial_domain_and_policies() {
        let luna_labs: Vec<_> = BUILT_IN
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| n.starts_with("luna-"))
            .collect();
        let listed: Vec<_> = LUNA_FIRMWARE.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            luna_labs, listed,
            "every Luna fixture has its firmware here"
        );
        let listed: Vec<_> = LUNA_DOMAINS.iter().map(|c| c.0).collect();
        assert_eq!(luna_labs, listed, "every Luna fixture has its domain here");

        for (name, devices) in LUNA_FIRMWARE {
            let lab = Lab::built_in(name).unwrap();
            let names: Vec<_> = lab
                .file
                .devices
                .iter()
                .map(|d| d.name.get_ref().as_str())
                .collect();
            let expected: Vec<_> = devices.iter().map(|(d, _)| *d).collect();
            assert_eq!(names, expected, "{name}: devices");
            let mut serials = BTreeSet::new();
            for d in &lab.file.devices {
                let device = d.name.get_ref();
                let l = d.luna().unwrap();
                assert!(
                    l.firmware.is_some() && l.auth.is_some() && d.serial.is_some(),
                    "{name}: {device} states its firmware, auth and serial"
                );
                assert!(
                    serials.insert(d.serial.as_ref().unwrap().get_ref().clone()),
                    "{name}: {device}'s serial is unique"
                );
                let hsm: Vec<_> = l
                    .hsm_policies
                    .iter()
                    .flat_map(|m| m.get_ref().keys())
                    .collect();
                if d.kind.get_ref() != "luna-backup" {
                    assert!(
                        hsm.iter().any(|k| *k == "7"),
                        "{name}: {device} states HSM policy 7 (cloning)"
                    );
                }
            }
            for (device, firmware) in *devices {
                let d = lab.models[*device]
                    .luna()
                    .unwrap_or_else(|| panic!("{name}: {device} has the Luna model"));
                assert_eq!(d.firmware.to_string(), *firmware, "{name}: {device}");
                assert_eq!(d.auth, luna::Auth::Password, "{name}: {device}");
                if d.kind != luna::DeviceKind::Backup {
                    assert_eq!(
                        d.hsm_policy(luna::hsm_policy::CLONING),
                        1,
                        "{name}: {device}"
                    );
                }
            }
        }

        // The migration sources are pre-PPSO (6.21.2) and the 7.x destinations 7.0-7.4 era.
        for (name, sources, destination) in [
            ("luna-network-to-network7", &["sa6"][..], "sa7"),
            ("luna-usb-to-network7", &["usb6"][..], "sa7"),
            ("luna-pcie-to-network7", &["k6"][..], "sa7"),
            ("luna-pcie-usb-to-pcie7", &["k6", "usb6"][..], "k7"),
        ] {
            let lab = Lab::built_in(name).unwrap();
            for source in sources {
                let d = lab.models[*source].luna().unwrap();
                assert_eq!(d.firmware.era(), luna::Era::Legacy, "{name}: {source}");
                assert!(!d.per_partition_so(), "{name}: {source}");
            }
            let d = lab.models[destination].luna().unwrap();
            assert_eq!(d.firmware.era(), luna::Era::Luna7, "{name}: {destination}");
        }
        let ccc = Lab::built_in("luna-ccc").unwrap();
        let era = |d: &str| ccc.models[d].luna().unwrap().firmware.era();
        assert_eq!(era("sa6-legacy"), luna::Era::Legacy);
        assert_eq!(era("sa6-ppso"), luna::Era::Ppso6);
        assert!(ccc.models["sa6-ppso"].luna().unwrap().per_partition_so());
        assert_eq!(era("sa7-a"), luna::Era::Luna7);
        assert_eq!(era("sa7-b"), luna::Era::Luna7);
        assert_eq!(era("sa7-c"), luna::Era::Luna77);

        for (name, domain, pairs, blank, ha) in LUNA_DOMAINS {
            let lab = Lab::built_in(name).unwrap();
            let partitions: HashMap<_, _> = lab
                .partitions()
                .into_iter()
                .map(|(p, model, preset)| (p.to_string(), (model, preset)))
                .collect();
            let preset = |p: &str| {
                partitions[p]
                    .1
                    .clone()
                    .unwrap_or_else(|| panic!("{name}: {p} is initialised"))
            };
            for (source, destination) in *pairs {
                let (s, d) = (preset(source), preset(destination));
                assert_eq!(
                    s.luna().unwrap().domain.as_deref(),
                    Some(*domain),
                    "{name}: {source}"
                );
                assert_eq!(
                    s.luna().unwrap().domain,
                    d.luna().unwrap().domain,
                    "{name}: {source} and {destination} share the cloning domain"
                );
            }
            // Every initialised partition has the fixture's one domain; the blank
            // destinations have none until the procedure initialises them.
            for (p, (model, preset)) in &partitions {
                match preset {
                    Some(preset) => {
                        assert_eq!(
                            preset.luna().unwrap().domain.as_deref(),
                            Some(*domain),
                            "{name}: {p}"
                        )
                    }
                    None => assert!(blank.contains(&p.as_str()), "{name}: {p} is blank"),
                }
                let device = model.luna().unwrap();
                // A non-Backup initialised partition allows cloning private and secret keys,
                // stated in the lab, and the engine's policy check takes the lab's values.
                if let Some(preset) = preset
                    && device.kind != luna::DeviceKind::Backup
                {
                    for id in [
                        luna::partition_policy::PRIVATE_KEY_CLONING,
                        luna::partition_policy::SECRET_KEY_CLONING,
                    ] {
                        assert!(
                            preset.luna().unwrap().policies.contains(&(id, 1)),
                            "{name}: {p} policy {id}"
                        );
                    }
                    let mut state = luna::PartitionState::default();
                    state
                        .apply(device, &preset.luna().unwrap().policies, true)
                        .unwrap();
                    assert_eq!(state.policy(device, 0), 1, "{name}: {p}");
                    assert_eq!(state.policy(device, 4), 1, "{name}: {p}");
                }
            }
            for device in *ha {
                let d = lab.models[*device].luna().unwrap();
                assert_eq!(
                    d.hsm_policies.get(&luna::hsm_policy::NETWORK_REPLICATION),
                    Some(&1),
                    "{name}: {device} states HSM policy 16 (HA)"
                );
            }
            for p in *blank {
                assert!(partitions[*p].1.is_none(), "{name}: {p} is blank");
            }
        }
    }

    #[test]
    fn the_documented_luna_variants_are_one_edit_away() {
        for (name, sources, destination) in [
            ("luna-network-to-network7", &["sa6"][..], "sa7"),
            ("luna-usb-to-network7", &["usb6"][..], "sa7"),
            ("luna-pcie-to-network7", &["k6"][..], "sa7"),
            ("luna-pcie-usb-to-pcie7", &["k6", "usb6"][..], "k7"),
        ] {
            let text = built_in_text(name).unwrap();
            for (from, to, devices, era) in [
                (
                    "firmware = \"6.21.2\"",
                    "firmware = \"5.x\"",
                    sources,
                    luna::Era::Legacy,
                ),
                (
                    "firmware = \"6.21.2\"",
                    "firmware = \"6.22.0\"",
                    sources,
                    luna::Era::Ppso6,
                ),
                (
                    "firmware = \"7.4.2\"",
                    "firmware = \"7.7.1\"",
                    &[destination][..],
                    luna::Era::Luna77,
                ),
            ] {
                let lab = Lab::parse(&text.replace(from, to), name)
                    .unwrap_or_else(|e| panic!("{name} with {to}: {e}"));
                for device in devices {
                    let d = lab.models[*device].luna().unwrap();
                    assert_eq!(d.firmware.era(), era, "{name}: {device} with {to}");
                    if era == luna::Era::Ppso6 {
                        assert!(d.per_partition_so(), "{name}: {device} is PPSO");
                    }
                }
            }
            // PED: passwords are refused on PED devices (they take PED key files instead).
            let ped = Lab::parse(&text.replace("auth = \"password\"", "auth = \"ped\""), name)
                .expect_err("passwords on PED partitions are refused");
            assert!(ped.message.contains("so_ped_key"), "{name}: {ped}");
        }
    }
}
