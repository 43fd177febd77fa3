//! The lab and the wizard's answers shared by the Migrate Service tests: the unit tests
//! (simulator/src/estate/ccc/tests_migrate.rs) and the integration tests
//! (simulator/tests/ccc_migrate.rs) include this file as a module; it names what its includer
//! imports (`super::*`).
#![allow(dead_code)]
use super::*;

pub const WEB_CO: &str = "CO-web-2023";
pub const WEB_PO: &str = "PO-web-2023";
pub const DOMAIN: &str = "acme-ccc-domain";

/// The services CCC manages from the start, and the templates the new ones take.
pub const MANAGED: &str = "
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
pub fn lab_edited(edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, LabSelection) {
    lower_pin_cost();
    let text = edit(built_in_text("luna-ccc").unwrap().to_string() + MANAGED);
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

/// Seals the PINs at 10,000 PBKDF2 iterations (`HSMSIM_PIN_KDF_ITERATIONS`, as the other
/// integration tests do) rather than the default 600,000; the unit tests already do
/// (`UNIT_TEST_PIN_KDF_ITERATIONS`), so the variable is set only when the cost is the default.
fn lower_pin_cost() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if pin_kdf_iterations().unwrap() == DEFAULT_PIN_KDF_ITERATIONS {
            // SAFETY: this is the integration test binary, whose tests all start with
            // `lab_edited`: the variable is set once, before they read the environment (the
            // others wait in `call_once` meanwhile).
            unsafe { std::env::set_var(PIN_KDF_ITERATIONS_VARIABLE, "10000") };
        }
    });
}

pub fn lab() -> (tempfile::TempDir, LabSelection) {
    lab_edited(|t| t)
}

/// The fixture with HSM policy 7 (cloning) off on sa7-c (`hsm_policies = { 7 = 0, 16 = 1 }`)
/// and its initialised partitions without the cloning policies 0 and 4 (the lab refuses a
/// partition policy looser than the HSM's): a migration target CCC accepts (it checks only the
/// source's cloning capability) whose copy Luna refuses.
pub fn cloning_off_lab() -> (tempfile::TempDir, LabSelection) {
    lab_edited(|t| without_cloning(&t, "sa7-c", &["admin", "vault"]).unwrap())
}

pub fn partition(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// "web" migrated to a new HA service "web-7" on sa7-a/svc1 and sa7-b/svc1.
pub fn request() -> MigrationRequest {
    MigrationRequest {
        hsm_model: None,
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

pub const PAYMENTS_PO: &str = "PO-payments-2021";
pub const PAYMENTS_CO: &str = "CO-payments-2021";

/// "payments" (6.x PPSO password) migrated to a new HA service "payments-7" on sa7-a/svc1 and
/// sa7-c/svc1 (in `cloning_off_lab`, sa7-c's copy fails).
pub fn payments_request() -> MigrationRequest {
    MigrationRequest {
        source_service: "payments".into(),
        name: "payments-7".into(),
        targets: vec![partition("sa7-a/svc1"), partition("sa7-c/svc1")],
        partition_label: "payments-7".into(),
        security_officer_challenge: Some(PAYMENTS_PO.into()),
        crypto_officer_challenge: PAYMENTS_CO.into(),
        ..request()
    }
}

/// The fixture on PED devices (its PED variant, `lab::fixtures::ped_variant`): every
/// partition's roles and cloning domain on shared PED keys, activation allowed (partition
/// policy 22), the templates PED ones.
pub fn ped_lab() -> (tempfile::TempDir, LabSelection) {
    lab_edited(|t| ped_variant(&t).unwrap())
}

/// Gives `partition`'s Crypto Officer the challenge secret `challenge` (with the black PED
/// key) and activates it, as LunaSH's `partition createchallenge` and `partition activate` do.
pub fn activate(sel: &LabSelection, p: &str, challenge: Option<&str>) {
    let black = PedKey::load_or_create(&sel.state_dir.join("ped/black.key"), ped_colour(CKU_USER))
        .unwrap()
        .credential();
    let id = partition(p);
    open_store(sel)
        .unwrap()
        .update_token(&id, |r| {
            let context = SealContext {
                partition: &id,
                generation: r.generation,
            };
            let key = r
                .role(CKU_USER)
                .and_then(|role| role.seal.as_ref())
                .and_then(|s| s.open(&black, context))
                .unwrap();
            let owner = r.role_mut(CKU_USER);
            owner.activated = true;
            owner.challenge = challenge.map(|c| PinSeal::new(c.as_bytes(), &key, context).unwrap());
            Ok(((), true))
        })
        .unwrap();
}

/// The PED variant's non-PPSO source crypto officer's challenge (`activate`).
pub const PED_CHALLENGE: &str = "legacy-chal-1";

/// "legacy-pki" (6.x non-PPSO PED in `ped_lab`) migrated to sa7-c/svc1 (7.x PED), with the
/// crypto officer's challenge `challenge`.
pub fn ped_request(challenge: &str) -> MigrationRequest {
    MigrationRequest {
        source_service: "legacy-pki".into(),
        name: "legacy-pki-7".into(),
        targets: vec![partition("sa7-c/svc1")],
        partition_label: "legacy-7".into(),
        cloning_domain: None,
        security_officer_challenge: None,
        crypto_officer_challenge: challenge.into(),
        ..request()
    }
}

/// `result` failed with `rv` and a message holding `needle`.
pub fn refused_with<T: std::fmt::Debug>(result: Result<T>, rv: CK_RV, needle: &str) {
    let e = result.unwrap_err();
    assert_eq!(e.rv, rv, "{e:?}");
    assert!(e.to_string().contains(needle), "{needle}: {e}");
}
