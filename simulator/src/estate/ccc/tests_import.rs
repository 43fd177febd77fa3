//! Tests of Discovering and Importing Unmanaged Partitions and Canceling Partition Import, on a
//! lab of their own: Network HSM 7 devices "a" and "b" with the HA group "web-ha" (a/web1,
//! b/web2), a look-alike pair a/db1 + b/db2 (same label stem and cloning domain, in no group)
//! and b/other (same stem, another domain); a 6.x PPSO device "c" and a pre-PPSO device "old";
//! a device "d" never authorised; an admin partition (the HSM SO "HSM-SO-<device>") on each.
use super::*;
use crate::lab::schema::CccServiceType;
use crate::models::luna;

/// A device of the lab: `firmware`, `policies` (HSM), its admin partition and `partitions`
/// (name, label, cloning domain; no label: blank).
fn device(name: &str, firmware: &str, policies: &str, partitions: &[(&str, &str, &str)]) -> String {
    let mut text = format!(
        "[[device]]\nname = \"{name}\"\nkind = \"luna-network\"\n  [device.luna]\n  firmware = \"{firmware}\"\n  hsm_policies = {{ {policies} }}\n  [[device.partition]]\n  name = \"admin\"\n  label = \"hsm\"\n  so_pin = \"HSM-SO-{name}\"\n    [device.partition.luna]\n    admin = true\n"
    );
    for (partition, label, domain) in partitions {
        text.push_str(&format!(
            "  [[device.partition]]\n  name = \"{partition}\"\n"
        ));
        if !label.is_empty() {
            text.push_str(&format!(
                "  label = \"{label}\"\n  so_pin = \"PO-{partition}-pin\"\n  user_pin = \"CO-{partition}-pin\"\n    [device.partition.luna]\n    domain = \"{domain}\"\n"
            ));
        }
    }
    text
}

/// The lab (with `licences` partition licences, if any) in a fresh state directory.
fn import_lab(licences: Option<u64>) -> (tempfile::TempDir, LabSelection) {
    let mut text = String::from("[lab]\nname = \"ccc-import\"\n\n");
    let luna7 = "7 = 1, 16 = 1";
    text.push_str(&device(
        "a",
        "7.4.2",
        luna7,
        &[
            ("web1", "web-ha-1", "shop"),
            ("solo", "solo", "shop"),
            ("blank", "", ""),
            ("db1", "db-1", "shop"),
        ],
    ));
    text.push_str(&device(
        "b",
        "7.4.2",
        luna7,
        &[
            ("web2", "web-ha-2", "shop"),
            ("db2", "db-2", "shop"),
            ("other", "db-3", "elsewhere"),
        ],
    ));
    text.push_str(&device(
        "c",
        "6.24.2",
        "7 = 1, 41 = 1",
        &[("pay", "payments", "shop")],
    ));
    text.push_str(&device(
        "old",
        "6.21.2",
        "7 = 1",
        &[("legacy", "legacy", "shop")],
    ));
    text.push_str(&device("d", "7.4.2", luna7, &[("x", "x", "shop")]));
    text.push_str("[[host]]\nname = \"client\"\nslot = [{ id = 0, partition = \"a/web1\" }]\n\n");
    text.push_str(
        "[[ha_group]]\nlabel = \"web-ha\"\nmembers = [\"a/web1\", \"b/web2\"]\n\n[ccc]\n",
    );
    if let Some(licences) = licences {
        text.push_str(&format!("partition_licences = {licences}\n"));
    }
    text.push_str(
        "\n[[ccc.organisation]]\nname = \"acme\"\n\n[[ccc.organisation]]\nname = \"umbrella\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(LAB_FILE);
    std::fs::write(&file, text).unwrap();
    let choice = Choice {
        lab_file: Some(file),
        ..Default::default()
    };
    (dir, select(&choice).unwrap())
}

fn pid(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// The lab with devices a, b, c and old added to CCC and authorised as their HSM SO.
fn authorised_lab(licences: Option<u64>) -> (tempfile::TempDir, LabSelection) {
    let (dir, sel) = import_lab(licences);
    for name in ["a", "b", "c", "old"] {
        let device = DeviceId::new(name);
        add_ccc_device(&sel, &device).unwrap();
        authorise_ccc_device(&sel, &device, format!("HSM-SO-{name}").as_bytes()).unwrap();
    }
    (dir, sel)
}

/// The rows as (partition, HA group field).
fn grouping(table: &CccImportTable) -> Vec<(String, String)> {
    table
        .rows
        .iter()
        .map(|r| (r.partition.to_string(), r.ha_group.clone()))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(p, g)| (p.to_string(), g.to_string()))
        .collect()
}

fn row<'a>(table: &'a CccImportTable, partition: &str) -> &'a CccImportRow {
    table
        .rows
        .iter()
        .find(|r| r.partition.to_string() == partition)
        .unwrap()
}

/// Gives rows their service fields: (partition, HA group field, service name).
fn fill(sel: &LabSelection, rows: &[(&str, &str, &str)]) {
    for (partition, group, name) in rows {
        edit_ccc_import_row(
            sel,
            &pid(partition),
            ImportRowEdit {
                ha_group: Some(group.to_string()),
                service_name: Some(name.to_string()),
                description: None,
                organisation: Some("acme".into()),
            },
        )
        .unwrap();
    }
}

/// `operation` is refused with `rv` and a message holding `needle`, and the CCC state is as it
/// was (nothing written).
fn refused_unchanged<T: std::fmt::Debug>(
    sel: &LabSelection,
    operation: impl FnOnce() -> Result<T>,
    rv: CK_RV,
    needle: &str,
) {
    let before = ccc_state(sel).unwrap();
    let error = operation().unwrap_err();
    assert_eq!(error.rv, rv, "{error:?}");
    assert!(error.to_string().contains(needle), "{needle}: {error}");
    assert_eq!(
        ccc_state(sel).unwrap(),
        before,
        "a refused change wrote nothing"
    );
}

/// Finish Imports is refused (`CKR_FUNCTION_FAILED`) with a message holding `needle`,
/// writing nothing.
fn finish_refused(sel: &LabSelection, needle: &str) {
    refused_unchanged(sel, || finish_ccc_import(sel), CKR_FUNCTION_FAILED, needle);
}

#[test]
fn discovery_lists_the_unmanaged_partitions_standalone_first_and_proposes_ha_n_groups() {
    let (_dir, sel) = authorised_lab(None);
    assert_eq!(ccc_import_table(&sel).unwrap(), None);
    let table = discover_ccc_partitions(&sel).unwrap();
    // Admin and blank partitions, and device "d" (not added), are not discovered; the lab's
    // group "web-ha" is HA_1 (CCC cannot read its label), the look-alike db pair HA_2.
    assert_eq!(
        grouping(&table),
        pairs(&[
            ("a/solo", ""),
            ("b/other", ""),
            ("c/pay", ""),
            ("old/legacy", ""),
            ("a/web1", "HA_1"),
            ("b/web2", "HA_1"),
            ("a/db1", "HA_2"),
            ("b/db2", "HA_2"),
        ])
    );
    let pay = row(&table, "c/pay");
    assert_eq!(pay.label, "payments");
    assert!(pay.per_partition_so && !pay.secure_trusted_channel);
    assert!(!row(&table, "old/legacy").per_partition_so);
    assert!(row(&table, "a/web1").per_partition_so);
    assert!(table.rows.iter().all(|r| r.service_name.is_empty()));
    humantime::parse_rfc3339(&table.created).unwrap();
    assert!(table.created.ends_with('Z'));
    assert_eq!(table.created, table.edited);
    assert_eq!(ccc_import_table(&sel).unwrap(), Some(table.clone()));
    // Get Started with a saved table shows the saved table, even when more is there to find.
    let d = DeviceId::new("d");
    add_ccc_device(&sel, &d).unwrap();
    authorise_ccc_device(&sel, &d, b"HSM-SO-d").unwrap();
    assert_eq!(discover_ccc_partitions(&sel).unwrap(), table);
    // Another process (a new selection) sees the saved table.
    let again = select(&Choice {
        lab_file: Some(sel.state_dir.join(LAB_FILE)),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(ccc_import_table(&again).unwrap(), Some(table));
    // After Cancel, discovery starts over and finds device d's partition too.
    cancel_ccc_import(&sel).unwrap();
    let fresh = discover_ccc_partitions(&sel).unwrap();
    assert_eq!(fresh.rows.len(), 9);
    assert!(fresh.rows.iter().any(|r| r.partition == pid("d/x")));
}

#[test]
fn discovery_finds_nothing_on_devices_not_authorised_or_offline_and_saves_no_empty_table() {
    let (_dir, sel) = import_lab(None);
    add_ccc_device(&sel, &DeviceId::new("a")).unwrap();
    let table = discover_ccc_partitions(&sel).unwrap();
    assert!(table.rows.is_empty());
    assert_eq!(ccc_import_table(&sel).unwrap(), None);
    authorise_ccc_device(&sel, &DeviceId::new("a"), b"HSM-SO-a").unwrap();
    update_ccc(&sel, |state| {
        state.devices[0].offline = true;
        Ok(())
    })
    .unwrap();
    assert!(discover_ccc_partitions(&sel).unwrap().rows.is_empty());
    update_ccc(&sel, |state| {
        state.devices[0].offline = false;
        Ok(())
    })
    .unwrap();
    // One device only: the web-ha member and the db look-alike have no partner here.
    assert_eq!(
        grouping(&discover_ccc_partitions(&sel).unwrap()),
        pairs(&[("a/web1", ""), ("a/solo", ""), ("a/db1", "")])
    );
}

#[test]
fn rows_move_between_groups_and_an_ha_groups_service_fields_are_the_groups() {
    let (_dir, sel) = authorised_lab(None);
    discover_ccc_partitions(&sel).unwrap();
    let edited = edit_ccc_import_row(
        &sel,
        &pid("a/web1"),
        ImportRowEdit {
            ha_group: Some(" web-ha ".into()),
            service_name: Some("web".into()),
            description: Some("the shop".into()),
            organisation: Some("acme".into()),
        },
    )
    .unwrap();
    // The row moved to a new group "web-ha", in its place.
    assert_eq!(
        grouping(&edited),
        pairs(&[
            ("a/solo", ""),
            ("b/other", ""),
            ("c/pay", ""),
            ("old/legacy", ""),
            ("a/web1", "web-ha"),
            ("b/web2", "HA_1"),
            ("a/db1", "HA_2"),
            ("b/db2", "HA_2"),
        ])
    );
    // Joining the group takes its service name, description and organisation.
    let joined = edit_ccc_import_row(
        &sel,
        &pid("b/web2"),
        ImportRowEdit {
            ha_group: Some("web-ha".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let web2 = row(&joined, "b/web2");
    assert_eq!(
        (
            web2.service_name.as_str(),
            web2.description.as_str(),
            web2.organisation.as_str()
        ),
        ("web", "the shop", "acme")
    );
    // Editing one member's service fields edits the group's.
    let renamed = edit_ccc_import_row(
        &sel,
        &pid("b/web2"),
        ImportRowEdit {
            service_name: Some("web-shop".into()),
            organisation: Some("umbrella".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for member in ["a/web1", "b/web2"] {
        assert_eq!(row(&renamed, member).service_name, "web-shop");
        assert_eq!(row(&renamed, member).organisation, "umbrella");
    }
    // An empty HA Group field makes a standalone row (its fields kept); a standalone row
    // joins a group by its name.
    let out = edit_ccc_import_row(
        &sel,
        &pid("a/db1"),
        ImportRowEdit {
            ha_group: Some(String::new()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(row(&out, "a/db1").ha_group, "");
    assert_eq!(
        out.rows[4].partition,
        pid("a/db1"),
        "standalone rows come first"
    );
    let into = edit_ccc_import_row(
        &sel,
        &pid("c/pay"),
        ImportRowEdit {
            ha_group: Some("HA_2".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(row(&into, "c/pay").ha_group, "HA_2");
    assert!(into.edited >= into.created);
    // The web-ha member rows and others are untouched by an edit of a standalone row.
    set_name(&sel, "a/solo", "solo");
    let solo = ccc_import_table(&sel).unwrap().unwrap();
    assert_eq!(row(&solo, "a/solo").service_name, "solo");
    assert_eq!(row(&solo, "b/other").service_name, "");
    assert_eq!(row(&solo, "a/web1").service_name, "web-shop");
}

#[test]
fn refused_edits_write_nothing() {
    let (_dir, sel) = authorised_lab(None);
    let edit = |name: &str| ImportRowEdit {
        service_name: Some(name.into()),
        ..Default::default()
    };
    refused_unchanged(
        &sel,
        || edit_ccc_import_row(&sel, &pid("a/solo"), edit("solo")),
        CKR_FUNCTION_FAILED,
        "there is no saved partition import table: discover the partitions first (Get Started)",
    );
    refused_unchanged(
        &sel,
        || delete_ccc_import_row(&sel, &pid("a/solo")),
        CKR_FUNCTION_FAILED,
        "there is no saved partition import table",
    );
    discover_ccc_partitions(&sel).unwrap();
    refused_unchanged(
        &sel,
        || edit_ccc_import_row(&sel, &pid("a/solo"), edit(&"n".repeat(29))),
        CKR_FUNCTION_FAILED,
        "has 29 characters; a service name has 1 to 28",
    );
    refused_unchanged(
        &sel,
        || {
            edit_ccc_import_row(
                &sel,
                &pid("a/solo"),
                ImportRowEdit {
                    organisation: Some("initech".into()),
                    ..Default::default()
                },
            )
        },
        CKR_ARGUMENTS_BAD,
        "CCC has no organisation \"initech\"; organisations: acme, umbrella",
    );
    refused_unchanged(
        &sel,
        || edit_ccc_import_row(&sel, &pid("a/blank"), edit("blank")),
        CKR_ARGUMENTS_BAD,
        "the partition import table has no partition \"a/blank\"; partitions: a/solo, b/other",
    );
    refused_unchanged(
        &sel,
        || delete_ccc_import_row(&sel, &pid("d/x")),
        CKR_ARGUMENTS_BAD,
        "the partition import table has no partition \"d/x\"",
    );
}

#[test]
fn a_deleted_row_leaves_the_current_import_only() {
    let (_dir, sel) = authorised_lab(None);
    discover_ccc_partitions(&sel).unwrap();
    let table = delete_ccc_import_row(&sel, &pid("old/legacy")).unwrap();
    assert!(!table.rows.iter().any(|r| r.partition == pid("old/legacy")));
    assert_eq!(ccc_import_table(&sel).unwrap(), Some(table));
    // Finish the rest; the next discovery finds the deleted partition again.
    fill(
        &sel,
        &[
            ("a/solo", "", "solo"),
            ("b/other", "", "other"),
            ("c/pay", "", "payments"),
            ("a/web1", "web-ha", "web"),
            ("b/web2", "web-ha", "web"),
            ("a/db1", "", "db1"),
            ("b/db2", "", "db2"),
        ],
    );
    finish_ccc_import(&sel).unwrap();
    assert_eq!(
        grouping(&discover_ccc_partitions(&sel).unwrap()),
        pairs(&[("old/legacy", "")])
    );
}

#[test]
fn finish_imports_makes_a_service_per_standalone_row_and_per_ha_group_in_one_go() {
    let (_dir, sel) = authorised_lab(Some(8));
    discover_ccc_partitions(&sel).unwrap();
    fill(
        &sel,
        &[
            ("a/solo", "", "solo"),
            ("b/other", "", "other"),
            ("c/pay", "", "payments"),
            ("old/legacy", "", "legacy-pki"),
            ("a/web1", "web-ha", "web"),
            ("a/db1", "", "db1"),
            ("b/db2", "", "db2"),
        ],
    );
    // b/web2 is still in HA_1: it joins a/web1's group by its name.
    edit_ccc_import_row(
        &sel,
        &pid("b/web2"),
        ImportRowEdit {
            ha_group: Some("web-ha".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let made = finish_ccc_import(&sel).unwrap();
    let names: Vec<&str> = made.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "solo",
            "other",
            "payments",
            "legacy-pki",
            "db1",
            "db2",
            "web"
        ]
    );
    let web = &made[6];
    assert_eq!(web.partitions, [pid("a/web1"), pid("b/web2")]);
    assert_eq!(web.ha_group.as_ref().map(|g| g.as_str()), Some("web-ha"));
    assert_eq!(web.template, IMPORTED_TEMPLATE);
    assert_eq!(web.organisation, "acme");
    assert_eq!(made[0].ha_group, None);
    assert_eq!(ccc_services(&sel).unwrap(), made);
    for service in &made {
        let status = ccc_service_status(&sel, &service.name).unwrap();
        let found = status
            .template
            .clone()
            .expect("the capabilities found are kept");
        assert_eq!(
            status,
            CccServiceStatus {
                initialised: true,
                initialised_by_ccc: false,
                template: Some(found.clone()),
                ..Default::default()
            }
        );
        let service_type = if service.partitions.len() == 1 {
            CccServiceType::HsmPartition
        } else {
            CccServiceType::HsmPartitionHaGroup
        };
        assert_eq!(
            (
                found.name.as_str(),
                found.service_type,
                found.partition_size
            ),
            (IMPORTED_TEMPLATE, service_type, IMPORTED_PARTITION_SIZE)
        );
    }
    // The table is emptied; every partition is managed now, so nothing is left to discover.
    assert_eq!(ccc_import_table(&sel).unwrap(), None);
    assert!(discover_ccc_partitions(&sel).unwrap().rows.is_empty());
    assert_eq!(ccc_import_table(&sel).unwrap(), None);
}

#[test]
fn partitions_with_both_stc_and_ppso_are_imported_with_reduced_functionality() {
    let (_dir, sel) = authorised_lab(None);
    discover_ccc_partitions(&sel).unwrap();
    // Every row set to STC in the store: the rule needs PPSO as well.
    update_ccc(&sel, |state| {
        for row in &mut state.import_table.as_mut().unwrap().rows {
            row.secure_trusted_channel = true;
        }
        Ok(())
    })
    .unwrap();
    for partition in ["a/solo", "b/other", "a/web1", "b/web2", "a/db1", "b/db2"] {
        delete_ccc_import_row(&sel, &pid(partition)).unwrap();
    }
    fill(
        &sel,
        &[("c/pay", "", "payments"), ("old/legacy", "", "legacy-pki")],
    );
    finish_ccc_import(&sel).unwrap();
    assert!(
        ccc_service_status(&sel, "payments").unwrap().reduced,
        "STC + PPSO"
    );
    assert!(
        !ccc_service_status(&sel, "legacy-pki").unwrap().reduced,
        "STC without PPSO"
    );
}

/// The lab discovered and every row named, HA_1 labelled "web-ha", HA_2 left as proposed.
fn named_table(licences: Option<u64>) -> (tempfile::TempDir, LabSelection) {
    let (dir, sel) = authorised_lab(licences);
    discover_ccc_partitions(&sel).unwrap();
    fill(
        &sel,
        &[
            ("a/solo", "", "solo"),
            ("b/other", "", "other"),
            ("c/pay", "", "payments"),
            ("old/legacy", "", "legacy-pki"),
            ("a/web1", "HA_1", "web"),
            ("a/db1", "HA_2", "db"),
        ],
    );
    (dir, sel)
}

/// `named_table` with HA_1 labelled "web-ha" and the db pair standalone ("db", "db2"): a
/// table Finish Imports takes.
fn ready_table(licences: Option<u64>) -> (tempfile::TempDir, LabSelection) {
    let (dir, sel) = named_table(licences);
    set_group(&sel, "a/web1", "web-ha");
    set_group(&sel, "b/web2", "web-ha");
    set_group(&sel, "a/db1", "");
    set_group(&sel, "b/db2", "");
    set_name(&sel, "b/db2", "db2");
    (dir, sel)
}

/// Edits a row: `change` sets the fields to change.
fn set(sel: &LabSelection, partition: &str, change: impl FnOnce(&mut ImportRowEdit)) {
    let mut edit = ImportRowEdit::default();
    change(&mut edit);
    edit_ccc_import_row(sel, &pid(partition), edit).unwrap();
}

fn set_group(sel: &LabSelection, partition: &str, group: &str) {
    set(sel, partition, |e| e.ha_group = Some(group.into()));
}

fn set_name(sel: &LabSelection, partition: &str, name: &str) {
    set(sel, partition, |e| e.service_name = Some(name.into()));
}

fn set_organisation(sel: &LabSelection, partition: &str, organisation: &str) {
    set(sel, partition, |e| {
        e.organisation = Some(organisation.into())
    });
}

#[test]
fn finish_imports_refuses_default_and_unknown_ha_group_labels_and_wrong_members() {
    let (_dir, sel) = named_table(None);
    finish_refused(
        &sel,
        "HA group \"HA_1\" has the default HA Group label: replace it with the actual HA Group Label (vtl haAdmin show on a client of the group); HA groups: web-ha",
    );
    set_group(&sel, "a/web1", "web-ha");
    set_group(&sel, "b/web2", "web-ha");
    finish_refused(&sel, "HA group \"HA_2\" has the default HA Group label");
    set_group(&sel, "a/db1", "db-ha");
    set_group(&sel, "b/db2", "db-ha");
    finish_refused(
        &sel,
        "no client has an HA group \"db-ha\": enter the actual HA Group Label",
    );
    // The real label on the wrong members.
    set_group(&sel, "b/web2", "");
    set_group(&sel, "b/db2", "web-ha");
    set_group(&sel, "a/db1", "");
    set_name(&sel, "b/web2", "web2");
    set_name(&sel, "a/db1", "db1");
    finish_refused(
        &sel,
        "HA group \"web-ha\" has the members a/web1, b/web2; the import table gives it a/web1, b/db2: an HA group's service has all its members",
    );
}

#[test]
fn finish_imports_refuses_ha_groups_ccc_cannot_make() {
    let (_dir, sel) = ready_table(None);
    // One member only.
    set_group(&sel, "a/db1", "HA_2");
    finish_refused(
        &sel,
        "HA group \"HA_2\" has one partition: an HA group has two or more, each on a different device",
    );
    // Two partitions on one device.
    set_group(&sel, "a/solo", "HA_2");
    finish_refused(
        &sel,
        "HA group \"HA_2\" has partitions \"a/solo\" and \"a/db1\" on one device; an HA group's partitions are each on a different device",
    );
    // No shared cloning domain.
    set_group(&sel, "a/solo", "");
    set_name(&sel, "a/solo", "solo");
    set_group(&sel, "b/other", "HA_2");
    finish_refused(
        &sel,
        "HA group \"HA_2\": partitions \"b/other\" and \"a/db1\" do not share a cloning domain; an HA group's partitions share one",
    );
}

#[test]
fn finish_imports_refuses_missing_or_taken_names_and_organisations() {
    let (_dir, sel) = ready_table(None);
    set_name(&sel, "b/db2", "");
    finish_refused(
        &sel,
        "partition \"b/db2\" has no service name: enter the name that will identify the service in CCC (28 characters at most)",
    );
    set_name(&sel, "b/db2", "db");
    finish_refused(
        &sel,
        "partition \"b/db2\": service name \"db\" is given to two services of the import",
    );
    set_name(&sel, "b/db2", "db2");
    set_organisation(&sel, "old/legacy", "");
    finish_refused(
        &sel,
        "partition \"old/legacy\" has no organisation: choose the organisation that will own the service",
    );
    set_organisation(&sel, "old/legacy", "umbrella");
    remove_ccc_organisation(&sel, "umbrella").unwrap();
    refused_unchanged(
        &sel,
        || finish_ccc_import(&sel),
        CKR_ARGUMENTS_BAD,
        "CCC has no organisation \"umbrella\"; organisations: acme",
    );
    add_ccc_organisation(&sel, "umbrella", "").unwrap();
    // A service CCC already has takes the name.
    update_ccc(&sel, |state| {
        state.ccc.services.push(CccService {
            name: "solo".into(),
            description: String::new(),
            template: String::new(),
            organisation: "acme".into(),
            partitions: Vec::new(),
            ha_group: None,
        });
        Ok(())
    })
    .unwrap();
    finish_refused(
        &sel,
        "partition \"a/solo\": CCC service \"solo\" exists; enter another service name",
    );
    set_name(&sel, "a/solo", "solo-2");
    let made = finish_ccc_import(&sel).unwrap();
    assert_eq!(made.len(), 7);
    assert_eq!(ccc_services(&sel).unwrap().len(), 8);
}

#[test]
fn finish_imports_is_refused_beyond_the_partition_licences() {
    // 8 rows, 7 licences.
    let (_dir, sel) = ready_table(Some(7));
    finish_refused(
        &sel,
        "the import asks for 8 partitions, more than the 7 partitions available (7 partition licences, 0 in use): reduce the number of partitions for import to 7 or fewer",
    );
    delete_ccc_import_row(&sel, &pid("b/db2")).unwrap();
    assert_eq!(finish_ccc_import(&sel).unwrap().len(), 6);
}

#[test]
fn finish_imports_rechecks_devices_and_partitions_changed_since_discovery() {
    let (_dir, sel) = ready_table(None);
    remove_ccc_device(&sel, &DeviceId::new("old")).unwrap();
    finish_refused(
        &sel,
        "device \"old\" of partition \"old/legacy\" is not added to CCC and authorised: CCC must log in as its HSM SO",
    );
    delete_ccc_import_row(&sel, &pid("old/legacy")).unwrap();
    update_ccc(&sel, |state| {
        state
            .devices
            .iter_mut()
            .find(|d| d.device.as_str() == "c")
            .unwrap()
            .offline = true;
        Ok(())
    })
    .unwrap();
    finish_refused(
        &sel,
        "device \"c\" of partition \"c/pay\" is offline: CCC cannot reach it",
    );
    delete_ccc_import_row(&sel, &pid("c/pay")).unwrap();
    set_partition_present(&sel, &pid("b/other"), false).unwrap();
    finish_refused(
        &sel,
        "partition \"b/other\" is no longer initialised: delete its row, or cancel the import and discover the partitions again",
    );
    delete_ccc_import_row(&sel, &pid("b/other")).unwrap();
    update_ccc(&sel, |state| {
        state.ccc.services.push(CccService {
            name: "made-meanwhile".into(),
            description: String::new(),
            template: String::new(),
            organisation: "acme".into(),
            partitions: vec![pid("a/solo")],
            ha_group: None,
        });
        Ok(())
    })
    .unwrap();
    finish_refused(
        &sel,
        "partition \"a/solo\" serves service \"made-meanwhile\"; a partition serves one service: delete its row",
    );
    delete_ccc_import_row(&sel, &pid("a/solo")).unwrap();
    let made = finish_ccc_import(&sel).unwrap();
    let names: Vec<&str> = made.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "db2", "web"]);
}

#[test]
fn an_empty_table_and_a_missing_one_are_refused_and_cancel_discards_the_table() {
    let (_dir, sel) = authorised_lab(None);
    finish_refused(
        &sel,
        "there is no saved partition import table: discover the partitions first (Get Started)",
    );
    refused_unchanged(
        &sel,
        || cancel_ccc_import(&sel),
        CKR_FUNCTION_FAILED,
        "there is no saved partition import table",
    );
    let table = discover_ccc_partitions(&sel).unwrap();
    for row in &table.rows {
        delete_ccc_import_row(&sel, &row.partition).unwrap();
    }
    finish_refused(
        &sel,
        "the partition import table is empty: cancel it and discover the partitions again",
    );
    cancel_ccc_import(&sel).unwrap();
    assert_eq!(ccc_import_table(&sel).unwrap(), None);
    assert_eq!(discover_ccc_partitions(&sel).unwrap().rows.len(), 8);
}

#[test]
fn the_luna_ccc_lab_imports_its_unmanaged_partitions_and_the_web_ha_group() {
    let dir = tempfile::tempdir().unwrap();
    let file = init_from_fixture("luna-ccc", dir.path(), false).unwrap();
    let sel = select(&Choice {
        lab_file: Some(file),
        ..Default::default()
    })
    .unwrap();
    // The fixture states no HSM SO credentials yet: the devices are marked authorised here.
    update_ccc(&sel, |state| {
        for device in ["sa6-legacy", "sa6-ppso", "sa7-a", "sa7-b", "sa7-c"] {
            state.devices.push(CccDevice {
                device: DeviceId::new(device),
                authorised: true,
                offline: false,
            });
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        grouping(&discover_ccc_partitions(&sel).unwrap()),
        pairs(&[
            ("sa6-legacy/legacy", ""),
            ("sa6-ppso/payments", ""),
            ("sa7-c/vault", ""),
            ("sa7-a/web1", "HA_1"),
            ("sa7-b/web2", "HA_1"),
        ])
    );
    fill(
        &sel,
        &[
            ("sa6-legacy/legacy", "", "legacy-pki"),
            ("sa6-ppso/payments", "", "payments"),
            ("sa7-c/vault", "", "vault"),
            ("sa7-a/web1", "web-ha", "web"),
            ("sa7-b/web2", "web-ha", "web"),
        ],
    );
    let made = finish_ccc_import(&sel).unwrap();
    let names: Vec<&str> = made.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["legacy-pki", "payments", "vault", "web"]);
    assert_eq!(made[3].partitions, [pid("sa7-a/web1"), pid("sa7-b/web2")]);
    assert!(!ccc_service_status(&sel, "payments").unwrap().reduced);

    // Imported services keep the capabilities found on their partitions and are managed as
    // created ones are: a standalone one refuses a partition removal for being standalone,
    // and is resized.
    let found = ccc_service_status(&sel, "web").unwrap().template.unwrap();
    assert_eq!(found.service_type, CccServiceType::HsmPartitionHaGroup);
    assert_eq!(found.authentication, luna::Auth::Password);
    assert!(found.per_partition_so);
    assert_eq!(found.partition_size, IMPORTED_PARTITION_SIZE);
    let vault = ccc_service_status(&sel, "vault").unwrap().template.unwrap();
    assert_eq!(vault.service_type, CccServiceType::HsmPartition);
    let legacy = ccc_service_status(&sel, "legacy-pki")
        .unwrap()
        .template
        .unwrap();
    assert!(
        !legacy.per_partition_so,
        "sa6-legacy has no PPSO capability"
    );
    let refusal = remove_ccc_service_partition(&sel, "vault", &pid("sa7-c/vault")).unwrap_err();
    assert!(
        refusal.to_string().ends_with(
            "The CCC administrator cannot perform partition removal operation on a single HSM service."
        ),
        "refused for being standalone: {refusal}"
    );
    resize_ccc_service(&sel, "vault", "200000").unwrap();
    assert_eq!(
        ccc_service_status(&sel, "vault").unwrap().partition_size,
        Some(200_000)
    );
}

/// The luna-ccc fixture with partition policy 37 (Secure Trusted Channel) on
/// sa6-ppso/payments (6.24.2, PPSO), its devices added and authorised as their HSM SO.
fn stc_lab() -> (tempfile::TempDir, LabSelection) {
    let text = crate::lab::built_in_text("luna-ccc").unwrap();
    let payments = "user_pin = \"CO-payments-2021\"\n    [device.partition.luna]\n    domain = \"acme-ccc-domain\"\n    policies = { 0 = 1, 4 = 1 }";
    assert!(text.contains(payments), "the fixture's payments partition");
    let text = text.replace(
        payments,
        &payments.replace("{ 0 = 1, 4 = 1 }", "{ 0 = 1, 4 = 1, 37 = 1 }"),
    );
    let (dir, sel) = super::tests::lab_of(&text);
    for name in ["sa6-ppso", "sa7-a", "sa7-c"] {
        let device = DeviceId::new(name);
        add_ccc_device(&sel, &device).unwrap();
        authorise_ccc_device(&sel, &device, format!("HSM-SO-{name}").as_bytes()).unwrap();
    }
    (dir, sel)
}

#[test]
fn stc_is_discovered_from_partition_policy_37_and_an_stc_ppso_service_is_reduced() {
    let (_dir, sel) = stc_lab();
    let table = discover_ccc_partitions(&sel).unwrap();
    let payments = row(&table, "sa6-ppso/payments");
    assert!(payments.secure_trusted_channel, "policy 37 = 1: STC");
    assert!(payments.per_partition_so);
    assert!(
        !row(&table, "sa7-c/vault").secure_trusted_channel,
        "policy 37 left at its default (off)"
    );
    for partition in ["sa7-c/vault", "sa7-a/web1"] {
        delete_ccc_import_row(&sel, &pid(partition)).unwrap();
    }
    fill(&sel, &[("sa6-ppso/payments", "", "payments")]);
    finish_ccc_import(&sel).unwrap();
    let status = ccc_service_status(&sel, "payments").unwrap();
    assert!(status.reduced, "STC + PPSO: reduced functionality");
    assert!(status.template.unwrap().secure_trusted_channel);

    let reduced = "has Secure Trusted Channel and Per-Partition SO: the Partition SO can only access and modify the partition through the STC link";
    refused_unchanged(
        &sel,
        || resize_ccc_service(&sel, "payments", "200000"),
        CKR_FUNCTION_FAILED,
        reduced,
    );
    refused_unchanged(
        &sel,
        || add_ccc_service_partition(&sel, "payments", &pid("sa7-a/svc1")),
        CKR_FUNCTION_FAILED,
        reduced,
    );
    // Rename (edit) and detach stay allowed.
    edit_ccc_service(
        &sel,
        "payments",
        ServiceEdit {
            name: Some("payments-stc".into()),
            description: Some("STC link only".into()),
            organisation: None,
        },
    )
    .unwrap();
    assert!(ccc_service_status(&sel, "payments-stc").unwrap().reduced);
    detach_ccc_service(&sel, "payments-stc").unwrap();
    assert!(ccc_services(&sel).unwrap().is_empty());
}

#[test]
fn a_lab_states_stc_only_where_the_firmware_has_it() {
    let text = crate::lab::built_in_text("luna-ccc").unwrap();
    let legacy = "user_pin = \"CO-legacy-2017\"\n    [device.partition.luna]\n    domain = \"acme-ccc-domain\"\n    policies = { 0 = 1, 4 = 1 }";
    assert!(text.contains(legacy), "the fixture's legacy partition");
    let text = text.replace(
        legacy,
        &legacy.replace("{ 0 = 1, 4 = 1 }", "{ 0 = 1, 4 = 1, 37 = 1 }"),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(LAB_FILE), text).unwrap();
    let refusal = select(&Choice {
        lab_file: Some(dir.path().join(LAB_FILE)),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        refusal.to_string().contains("37"),
        "6.21.2 has no policy 37: {refusal}"
    );
}
