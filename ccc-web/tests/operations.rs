//! The service lifecycle, import and Migrate Service over the REST API and the console, each
//! outcome checked through `estate::ccc`. The operations are other branches' work: their tests
//! are ignored until those branches are merged (`needs ccc-<branch>`).
mod common;
use common::{
    ADMIN, Lab, PAYMENTS, cloning_off_on_sa7c, finished, form, header, migration_request,
};
use hsmsim::base::ids::PartitionId;
use hsmsim::estate::ccc::{self, MigrationState};
use serde_json::{Value, json};

fn partition(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// The lab with "payments", an Administrator's token, and the HA service "web".
fn with_web() -> (Lab, String) {
    Lab::with_web(PAYMENTS)
}

fn initialise(lab: &Lab, admin: &str, service: &str) -> (u16, Value) {
    lab.call(
        "POST",
        &format!("/api/v1/services/{service}/initialise"),
        Some(admin),
        Some(json!({
            "partition_label": "web",
            "cloning_domain": "acme-ccc-domain",
            "partition_so_password": "PO-web-2026",
            "crypto_officer_password": "CO-web-2026"
        })),
    )
}

#[test]
fn a_service_the_lab_manages_is_listed_with_its_status() {
    let lab = Lab::start_with(PAYMENTS);
    let admin = lab.login(ADMIN);
    let (status, list) = lab.call("GET", "/api/v1/services", Some(&admin), None);
    assert_eq!(status, 200);
    assert_eq!(list[0]["name"], "payments");
    assert_eq!(list[0]["partitions"], json!(["sa6-ppso/payments"]));
    assert!(list[0]["status"]["initialised"].is_boolean());
    let (status, devices) = lab.call("GET", "/api/v1/devices", Some(&admin), None);
    assert_eq!(status, 200);
    assert_eq!(devices[0]["device"], "sa6-ppso");
    assert_eq!(devices[0]["authorised"], true);
}

#[test]
fn a_service_is_initialised_and_activated_over_the_api() {
    let (lab, admin) = with_web();
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/web/initialise",
        Some(&admin),
        Some(
            json!({ "partition_label": "web", "cloning_domain": "acme-ccc-domain",
                     "partition_so_password": "short", "crypto_officer_password": "CO-web-2026" }),
        ),
    );
    assert!(
        status == 409 || status == 400,
        "a password under 8 characters: {body}"
    );
    assert!(
        !ccc::ccc_service_status(&lab.selection(), "web")
            .unwrap()
            .initialised
    );
    let (status, body) = initialise(&lab, &admin, "web");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["initialised"], true);
    let stored = ccc::ccc_service_status(&lab.selection(), "web").unwrap();
    assert!(stored.initialised && stored.initialised_by_ccc);
    // "Activate Roles ... applies only to PED-based services": "web" is a password service.
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/web/activate",
        Some(&admin),
        Some(json!({ "crypto_officer_password": "CO-web-2026" })),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("applies only to PED-based services"),
        "{body}"
    );
    assert!(
        !ccc::ccc_service_status(&lab.selection(), "web")
            .unwrap()
            .activated
    );
    let (_, view) = lab.call("GET", "/api/v1/services/web", Some(&admin), None);
    assert_eq!(view["status"]["initialised"], true);
    let (status, keys) = lab.call("GET", "/api/v1/services/web/keys", Some(&admin), None);
    assert_eq!((status, keys), (200, json!([])));
}

/// A lab of one PED Network HSM 7 "p7" (its HSM SO the lab's blue PED key, an empty password)
/// with a blank partition "a", the users of `ADMIN` and `OWNER`, and a PPSO PED template.
const PED_LAB: &str = r#"
[lab]
name = "ped"

[[device]]
name = "p7"
kind = "luna-network"
firmware = "7.4.2"
auth = "ped"
hsm_policies = { 7 = 1 }
  [[device.partition]]
  name = "admin"
  label = "admin"
  so_ped_key = "ped/p7-blue.key"
  admin = true
  [[device.partition]]
  name = "a"

[[host]]
name = "client"
slot = [{ id = 0, partition = "p7/a" }]

[ccc]
[[ccc.organisation]]
name = "acme"
user = [
  { name = "ccc-admin", role = "administrator" },
  { name = "app-owner", role = "application-owner" },
]

[[ccc.template]]
name = "ped-7"
service_type = "hsm-partition"
authentication = "ped"
partition_size = 100000
per_partition_so = true
"#;

#[test]
fn a_ppso_ped_service_is_activated_over_the_api_with_its_challenge_password() {
    let lab = Lab::start_from(PED_LAB);
    let admin = lab.login(ADMIN);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/devices",
        Some(&admin),
        Some(json!({ "device": "p7" })),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/devices/p7/authorise",
        Some(&admin),
        Some(json!({ "password": "" })),
    );
    assert_eq!(status, 200, "{body}");
    lab.create_service(&admin, "vault", "ped-7", &["p7/a"]);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/vault/initialise",
        Some(&admin),
        Some(json!({ "partition_label": "vault", "crypto_officer_password": "challenge-1" })),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/vault/activate",
        Some(&admin),
        Some(json!({ "crypto_officer_password": "challenge-2" })),
    );
    assert_eq!(
        (status, &body["error"]),
        (409, &json!("CKR_PIN_INCORRECT")),
        "{body}"
    );
    assert!(
        !ccc::ccc_service_status(&lab.selection(), "vault")
            .unwrap()
            .activated
    );
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/vault/activate",
        Some(&admin),
        Some(json!({ "crypto_officer_password": "challenge-1" })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["activated"], true);
    assert!(
        ccc::ccc_service_status(&lab.selection(), "vault")
            .unwrap()
            .activated
    );
}

#[test]
fn partitions_are_added_initialised_and_removed_over_the_api() {
    let (lab, admin) = with_web();
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some(
            json!({ "name": "solo", "template": "standalone-7", "organisation": "acme",
                     "partitions": ["sa7-a/svc2"] }),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = initialise(&lab, &admin, "solo");
    assert_eq!(status, 200, "{body}");
    // Removing the only partition of a standalone service is refused.
    let (status, body) = lab.call(
        "DELETE",
        "/api/v1/services/solo/partitions/sa7-a/svc2",
        Some(&admin),
        None,
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/solo/partitions",
        Some(&admin),
        Some(json!({ "partition": "sa7-b/svc2" })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partitions"], json!(["sa7-a/svc2", "sa7-b/svc2"]));
    let status_now = ccc::ccc_service_status(&lab.selection(), "solo").unwrap();
    assert_eq!(
        status_now.uninitialised_partitions,
        [partition("sa7-b/svc2")]
    );
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/solo/partitions/initialise",
        Some(&admin),
        Some(json!({ "cloning_domain": "acme-ccc-domain", "crypto_officer_password": "CO-web-2026" })),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        ccc::ccc_service_status(&lab.selection(), "solo")
            .unwrap()
            .uninitialised_partitions
            .is_empty()
    );
    let (status, body) = lab.call(
        "DELETE",
        "/api/v1/services/solo/partitions/sa7-b/svc2",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let services = ccc::ccc_services(&lab.selection()).unwrap();
    let solo = services.iter().find(|s| s.name == "solo").unwrap();
    assert_eq!(solo.partitions, [partition("sa7-a/svc2")]);
}

#[test]
fn a_service_is_resized_deployed_and_refused_while_a_device_is_offline() {
    let (lab, admin) = with_web();
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/services/web/size",
        Some(&admin),
        Some(json!({ "size": "150000" })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ccc::ccc_service_status(&lab.selection(), "web")
            .unwrap()
            .partition_size,
        Some(150000)
    );
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/services/web/size",
        Some(&admin),
        Some(json!({ "size": "12ab" })),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/devices/sa7-b/offline",
        Some(&admin),
        Some(json!({ "offline": true })),
    );
    assert_eq!((status, &body["offline"]), (200, &json!(true)), "{body}");
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/services/web/size",
        Some(&admin),
        Some(json!({ "size": 200000 })),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        ccc::ccc_service_status(&lab.selection(), "web")
            .unwrap()
            .partition_size,
        Some(150000),
        "rolled back"
    );
    // Not initialised (sa7-b is off line): "an Application Owner cannot deploy a service until
    // it has been initialized".
    let (status, body) = initialise(&lab, &admin, "web");
    assert_eq!(status, 409, "{body}");
    let deploy = || {
        lab.call(
            "POST",
            "/api/v1/services/web/clients",
            Some(&admin),
            Some(json!({ "host": "app-client" })),
        )
    };
    let (status, body) = deploy();
    assert_eq!(status, 409, "{body}");
    assert!(
        ccc::ccc_service_status(&lab.selection(), "web")
            .unwrap()
            .clients
            .is_empty()
    );
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/devices/sa7-b/offline",
        Some(&admin),
        Some(json!({ "offline": false })),
    );
    assert_eq!((status, &body["offline"]), (200, &json!(false)), "{body}");
    let (status, body) = initialise(&lab, &admin, "web");
    assert_eq!(status, 200, "{body}");
    let (status, body) = deploy();
    assert_eq!(status, 200, "{body}");
    let (_, clients) = lab.call("GET", "/api/v1/services/web/clients", Some(&admin), None);
    assert_eq!(clients[0]["host"], "app-client");
    assert_eq!(
        ccc::ccc_service_status(&lab.selection(), "web")
            .unwrap()
            .clients[0]
            .host,
        "app-client"
    );
}

#[test]
fn unmanaged_partitions_are_discovered_edited_and_imported_over_the_api() {
    let lab = Lab::start();
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa6-legacy", "sa6-ppso", "sa7-a", "sa7-b"]);
    let (status, table) = lab.call("POST", "/api/v1/import/discover", Some(&admin), None);
    assert_eq!(status, 200, "{table}");
    let rows: Vec<&str> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partition"].as_str().unwrap())
        .collect();
    assert!(
        rows.contains(&"sa6-ppso/payments") && rows.contains(&"sa7-a/web1"),
        "{rows:?}"
    );
    let (status, table) = lab.call(
        "PATCH",
        "/api/v1/import/rows/sa6-ppso/payments",
        Some(&admin),
        Some(json!({ "service_name": "payments", "organisation": "acme" })),
    );
    assert_eq!(status, 200, "{table}");
    let (status, _) = lab.call("GET", "/api/v1/import", Some(&admin), None);
    assert_eq!(status, 200);
    let saved = ccc::ccc_import_table(&lab.selection()).unwrap().unwrap();
    let row = saved
        .rows
        .iter()
        .find(|r| r.partition == partition("sa6-ppso/payments"))
        .unwrap();
    assert_eq!(
        (row.service_name.as_str(), row.organisation.as_str()),
        ("payments", "acme")
    );
    let (status, _) = lab.call(
        "DELETE",
        "/api/v1/import/rows/sa6-legacy/legacy",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200);
    // Finish Imports wants a service name on every row and the HA group's actual label in
    // place of the default "HA_n": the unmanaged HA group sa7-a/web1 + sa7-b/web2 is "web-ha".
    let (status, body) = lab.call("POST", "/api/v1/import/finish", Some(&admin), None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("has no service name"),
        "{body}"
    );
    for row in ["sa7-a/web1", "sa7-b/web2"] {
        let (status, table) = lab.call(
            "PATCH",
            &format!("/api/v1/import/rows/{row}"),
            Some(&admin),
            Some(json!({ "ha_group": "web-ha", "service_name": "web", "organisation": "acme" })),
        );
        assert_eq!(status, 200, "{table}");
    }
    let (status, services) = lab.call("POST", "/api/v1/import/finish", Some(&admin), None);
    assert_eq!(status, 200, "{services}");
    let web = ccc::ccc_services(&lab.selection())
        .unwrap()
        .into_iter()
        .find(|s| s.name == "web")
        .unwrap();
    assert_eq!(
        web.partitions,
        [partition("sa7-a/web1"), partition("sa7-b/web2")]
    );
    let names: Vec<String> = ccc::ccc_services(&lab.selection())
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(names.contains(&"payments".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("legacy")), "{names:?}");
    // Finish Imports discards the table; cancelling with no table is refused.
    assert!(ccc::ccc_import_table(&lab.selection()).unwrap().is_none());
    let (status, body) = lab.call("POST", "/api/v1/import/cancel", Some(&admin), None);
    assert_eq!(status, 409, "{body}");
    // A deleted row was removed from that import only: the next discovery finds it again, and
    // Cancel discards the new table.
    let (status, table) = lab.call("POST", "/api/v1/import/discover", Some(&admin), None);
    assert_eq!(status, 200, "{table}");
    assert_eq!(
        table["rows"][0]["partition"], "sa6-legacy/legacy",
        "{table}"
    );
    let (status, _) = lab.call("POST", "/api/v1/import/cancel", Some(&admin), None);
    assert_eq!(status, 204);
    assert!(ccc::ccc_import_table(&lab.selection()).unwrap().is_none());
}

/// The luna-ccc lab with partition policy 37 (Secure Trusted Channel) on sa6-ppso/payments.
fn stc_lab_text() -> String {
    let text = hsmsim::lab::built_in_text("luna-ccc").unwrap();
    let payments = "user_pin = \"CO-payments-2021\"\n    [device.partition.luna]\n    domain = \"acme-ccc-domain\"\n    policies = { 0 = 1, 4 = 1 }";
    assert!(text.contains(payments), "the fixture's payments partition");
    text.replace(
        payments,
        &payments.replace("{ 0 = 1, 4 = 1 }", "{ 0 = 1, 4 = 1, 37 = 1 }"),
    )
}

#[test]
fn a_partition_with_stc_and_ppso_is_imported_with_reduced_functionality_over_the_api() {
    let lab = Lab::start_from(&stc_lab_text());
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa6-ppso"]);
    let (status, table) = lab.call("POST", "/api/v1/import/discover", Some(&admin), None);
    assert_eq!(status, 200, "{table}");
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{table}");
    assert_eq!(rows[0]["partition"], "sa6-ppso/payments");
    assert_eq!(rows[0]["secure_trusted_channel"], true, "{table}");
    assert_eq!(rows[0]["per_partition_so"], true, "{table}");
    let (status, table) = lab.call(
        "PATCH",
        "/api/v1/import/rows/sa6-ppso/payments",
        Some(&admin),
        Some(json!({ "service_name": "payments", "organisation": "acme" })),
    );
    assert_eq!(status, 200, "{table}");
    let (status, services) = lab.call("POST", "/api/v1/import/finish", Some(&admin), None);
    assert_eq!(status, 200, "{services}");
    let (status, shown) = lab.call("GET", "/api/v1/services/payments", Some(&admin), None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"]["reduced"], true, "{shown}");
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/services/payments/size",
        Some(&admin),
        Some(json!({ "size": 200000 })),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("has Secure Trusted Channel and Per-Partition SO"),
        "{body}"
    );
    let (status, body) = lab.call(
        "PATCH",
        "/api/v1/services/payments",
        Some(&admin),
        Some(json!({ "name": "payments-stc" })),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/payments-stc/detach",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(ccc::ccc_services(&lab.selection()).unwrap().is_empty());
}

#[test]
fn a_service_is_migrated_in_the_background_and_its_progress_polled() {
    let lab = Lab::start_with(PAYMENTS);
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa7-a", "sa7-b"]);
    let (status, names) = lab.call("GET", "/api/v1/migratable-services", Some(&admin), None);
    assert_eq!(status, 200, "{names}");
    assert!(
        names.as_array().unwrap().contains(&json!("payments")),
        "{names}"
    );
    let (status, body) = lab.call(
        "POST",
        "/api/v1/migrations/check",
        Some(&admin),
        Some(migration_request("payments-7")),
    );
    assert_eq!(status, 200, "{body}");
    // Refused at once with CCC's reason; nothing recorded.
    let (status, body) = lab.call(
        "POST",
        "/api/v1/migrations",
        Some(&admin),
        Some(migration_request(&"p".repeat(29))),
    );
    assert_eq!(status, 409, "{body}");
    assert!(ccc::ccc_migrations(&lab.selection()).unwrap().is_empty());
    let (status, headers, text) = lab.raw(
        "POST",
        "/api/v1/migrations",
        Some(&admin),
        Some(&migration_request("payments-7").to_string()),
        "application/json",
    );
    assert!(status == 202 || status == 201, "{text}");
    let run: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        header(&headers, "location"),
        Some(format!("/api/v1/migrations/{}", run["id"]).as_str())
    );
    let run = finished(&lab, &admin, &run["id"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert!(!run["progress"].as_array().unwrap().is_empty());
    let sel = lab.selection();
    let stored = ccc::ccc_migrations(&sel).unwrap();
    assert_eq!(stored[0].state, MigrationState::Succeeded);
    let services = ccc::ccc_services(&sel).unwrap();
    let migrated = services.iter().find(|s| s.name == "payments-7").unwrap();
    assert_eq!(
        migrated.partitions,
        [partition("sa7-a/svc1"), partition("sa7-b/svc1")]
    );
    let (_, list) = lab.call("GET", "/api/v1/migrations", Some(&admin), None);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// Generates the AES key "payments-aes" on sa6-ppso/payments (slot 1 of the CCC server's
/// host) as its Crypto Officer.
fn payments_key(sel: &hsmsim::estate::LabSelection) {
    use cryptoki_sys::*;
    let config = sel
        .lab
        .config(Some("ccc-server"), sel.state_dir.clone())
        .unwrap();
    let engine = hsmsim::engine::Engine::open(&config).unwrap();
    let session = engine
        .open_session(1, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    engine
        .login(session, CKU_USER, b"CO-payments-2021")
        .unwrap();
    let mut template = hsmsim::base::attribute::Attributes::new();
    template.set_bool(CKA_TOKEN, true);
    template.set_bool(CKA_ENCRYPT, true);
    template.set_ulong(CKA_VALUE_LEN, 32);
    template.set_bytes(CKA_LABEL, b"payments-aes".to_vec());
    engine
        .generate_key(
            session,
            &hsmsim::crypto::Mechanism::new(CKM_AES_KEY_GEN),
            &template,
        )
        .unwrap();
    engine.close_everything();
}

/// A copy refused by a target with cloning off (Migrate Service Troubleshooting): the run
/// fails with CCC's error and solution, the target out of the new service; the documented
/// repair over the API: add a partition, initialise it, then register a client (ccc_client
/// authorise), which synchronises with the crypto officer's credential.
#[test]
fn a_failed_copy_is_repaired_by_adding_a_partition_and_registering_a_client_with_sync() {
    let lab = Lab::start_from(&cloning_off_on_sa7c(PAYMENTS));
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa7-a", "sa7-b", "sa7-c"]);
    payments_key(&lab.selection());
    let mut request = migration_request("payments-7");
    request["targets"] = json!(["sa7-a/svc1", "sa7-c/svc1"]);
    let (status, run) = lab.call("POST", "/api/v1/migrations", Some(&admin), Some(request));
    assert!(status == 202 || status == 201, "{run}");
    let run = finished(&lab, &admin, &run["id"]);
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(
        run["error"],
        "We ran into an error while migrating the key material to the following device(s): sa7-c (sa7-c/svc1). To add devices on which migration has failed, use the add partition functionality for the newly created service. Next, run ccc_client to authorize the service. While authorizing the service, CCC also runs synchronization between all partitions of the service."
    );
    assert_eq!(run["failed_targets"], json!(["sa7-c/svc1"]));
    let (status, service) = lab.call("GET", "/api/v1/services/payments-7", Some(&admin), None);
    assert_eq!(status, 200, "{service}");
    assert_eq!(service["partitions"], json!(["sa7-a/svc1"]));
    // Add a partition and initialise it with the same credentials.
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/payments-7/partitions",
        Some(&admin),
        Some(json!({ "partition": "sa7-b/svc1" })),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/payments-7/partitions/initialise",
        Some(&admin),
        Some(json!({ "cloning_domain": "acme-ccc-domain", "crypto_officer_password": "CO-payments-2021" })),
    );
    assert_eq!(status, 200, "{body}");
    // Registering a client without the credential: refused, saying what to do.
    let clients = "/api/v1/services/payments-7/clients";
    let (status, body) = lab.call(
        "POST",
        clients,
        Some(&admin),
        Some(json!({ "host": "app-client" })),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "CKR_FUNCTION_FAILED");
    let message = body["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("service \"payments-7\" needs synchronisation: sa7-b/svc1 lack objects"),
        "{message}"
    );
    assert!(
        message.contains("Authorise the service with its crypto officer's credential"),
        "{message}"
    );
    // A wrong credential: Luna's answer, nothing registered.
    let (status, body) = lab.call(
        "POST",
        clients,
        Some(&admin),
        Some(json!({ "host": "app-client", "crypto_officer_password": "CO-wrong-2021" })),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "CKR_PIN_INCORRECT");
    // The console's Clients tab: the optional field and its hint; without it, the refusal.
    let (status, _, html) = lab.page(
        "GET",
        "/services/payments-7?tab=clients",
        Some(&admin),
        None,
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("name=\"crypto_officer_password\"")
            && html.contains("id=\"register-client-hint\""),
        "{html}"
    );
    let html = lab.submit(
        &admin,
        "/services/payments-7/register-client",
        &form(&[("host", "app-client"), ("crypto_officer_password", "")]),
    );
    assert!(
        html.contains("needs synchronisation: sa7-b/svc1 lack objects"),
        "{html}"
    );
    let sel = lab.selection();
    assert!(
        ccc::ccc_service_status(&sel, "payments-7")
            .unwrap()
            .clients
            .is_empty()
    );
    // The right one: synchronised, then registered.
    let (status, body) = lab.call(
        "POST",
        clients,
        Some(&admin),
        Some(json!({ "host": "app-client", "crypto_officer_password": "CO-payments-2021" })),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clients"][0]["host"], "app-client");
    ccc::check_ccc_service_in_sync(&sel, "payments-7").unwrap();
    let store = hsmsim::estate::open_store(&sel).unwrap();
    assert_eq!(store.objects(&partition("sa7-b/svc1")).unwrap().len(), 1);
}

#[test]
fn a_migrations_hsm_model_is_checked_over_the_api() {
    let lab = Lab::start_with(PAYMENTS);
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa7-a", "sa7-b"]);
    let with_model = |model: &str| {
        let mut body = migration_request("payments-7");
        body["hsm_model"] = json!(model);
        body
    };
    let (status, body) = lab.call(
        "POST",
        "/api/v1/migrations/check",
        Some(&admin),
        Some(with_model("network-hsm-7")),
    );
    assert_eq!(status, 200, "{body}");
    for path in ["/api/v1/migrations/check", "/api/v1/migrations"] {
        let (status, body) = lab.call(
            "POST",
            path,
            Some(&admin),
            Some(with_model("network-hsm-7-770")),
        );
        assert_eq!(status, 409, "{path}: {body}");
        assert_eq!(body["error"], "CKR_FUNCTION_FAILED");
        assert!(
            body["message"].as_str().unwrap().contains(
                "the new service's HSM model is Thales Luna Network HSM 7 (Firmware 7.7.0 and above): device \"sa7-a\" has firmware 7.4.2"
            ),
            "{body}"
        );
    }
    let (status, body) = lab.call(
        "POST",
        "/api/v1/migrations/check",
        Some(&admin),
        Some(with_model("network-hsm-8")),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("network-hsm-7-770"),
        "{body}"
    );
    assert!(ccc::ccc_migrations(&lab.selection()).unwrap().is_empty());
    // A run with the targets' model.
    let (status, run) = lab.call(
        "POST",
        "/api/v1/migrations",
        Some(&admin),
        Some(with_model("network-hsm-7")),
    );
    assert!(status == 202 || status == 201, "{run}");
    let run = finished(&lab, &admin, &run["id"]);
    assert_eq!(run["state"], "succeeded", "{run}");
}

#[test]
fn the_migrate_service_wizard_starts_a_run_and_shows_its_progress_and_refusals() {
    let lab = Lab::start_with(PAYMENTS);
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa7-a", "sa7-b"]);
    let fields_of = |model: &str, name: &str, action: &str| {
        form(&[
            ("source_service", "payments"),
            ("hsm_model", model),
            ("name", name),
            ("description", ""),
            ("organisation", "acme"),
            ("partition_size", "100000"),
            ("targets", "sa7-a/svc1"),
            ("targets", "sa7-b/svc1"),
            ("partition_label", "payments-7"),
            ("cloning_domain", "acme-ccc-domain"),
            ("security_officer_challenge", "PO-payments-2021"),
            ("crypto_officer_challenge", "CO-payments-2021"),
            ("action", action),
        ])
    };
    let fields = |name: &str, action: &str| fields_of("network-hsm-7", name, action);
    let (status, _, html) = lab.page(
        "POST",
        "/migrate",
        Some(&admin),
        Some(&fields("payments-7", "check")),
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"summary\""), "{html}");
    assert!(
        html.contains("(Thales Luna Network HSM 7 (Firmware below 7.7.0))"),
        "{html}"
    );
    // The New Service step requires an HSM model; the targets must be of it.
    let (status, _, html) = lab.page(
        "POST",
        "/migrate",
        Some(&admin),
        Some(&fields_of("", "payments-7", "check")),
    );
    assert_eq!(status, 400, "{html}");
    assert!(
        html.contains("New Service: select the HSM model of the new service"),
        "{html}"
    );
    let (status, _, html) = lab.page(
        "POST",
        "/migrate",
        Some(&admin),
        Some(&fields_of("network-hsm-7-770", "payments-7", "start")),
    );
    assert_eq!(status, 409, "{html}");
    assert!(
        html.contains("device &quot;sa7-a&quot; has firmware 7.4.2"),
        "{html}"
    );
    assert!(ccc::ccc_migrations(&lab.selection()).unwrap().is_empty());
    let (status, _, html) = lab.page(
        "POST",
        "/migrate",
        Some(&admin),
        Some(&fields(&"p".repeat(29), "start")),
    );
    assert_eq!(status, 409);
    assert!(html.contains("id=\"error\""), "{html}");
    let (status, headers, _) = lab.page(
        "POST",
        "/migrate",
        Some(&admin),
        Some(&fields("payments-7", "start")),
    );
    assert_eq!(status, 303);
    let to = header(&headers, "location").unwrap().to_string();
    assert!(to.starts_with("/migrations/"), "{to}");
    let id: Value = to
        .trim_start_matches("/migrations/")
        .parse::<u64>()
        .unwrap()
        .into();
    finished(&lab, &admin, &id);
    let (status, _, html) = lab.page("GET", &to, Some(&admin), None);
    assert_eq!(status, 200);
    assert!(html.contains("id=\"migration-state\">succeeded<"), "{html}");
}
