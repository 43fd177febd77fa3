//! The REST API over loopback: logins and roles, the error answers (400, 401, 403, 404, 409,
//! 413), templates and services made through it and checked through `estate::ccc`,
//! concurrent requests, and the OpenAPI file against the router.
mod common;
use common::{ADMIN, Lab, OWNER, header};
use hsmsim::estate::ccc;
use serde_json::{Value, json};

fn template(name: &str) -> Value {
    json!({
        "name": name,
        "description": "made over the API",
        "service_type": "hsm-partition-ha-group",
        "authentication": "password",
        "partition_size": 200000
    })
}

#[test]
fn a_user_logs_in_with_its_password_and_every_route_needs_a_session() {
    let lab = Lab::start();
    let (status, body) = lab.call(
        "POST",
        "/api/v1/login",
        None,
        Some(json!({ "user": "ccc-admin", "password": "wrong-password" })),
    );
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "CKR_PIN_INCORRECT");
    let (status, body) = lab.call("GET", "/api/v1/services", None, None);
    assert_eq!(status, 401);
    assert_eq!(body["error"], "CKR_USER_NOT_LOGGED_IN");
    let (status, _) = lab.call("GET", "/api/v1/services", Some("not-a-token"), None);
    assert_eq!(status, 401);
    let token = lab.login(ADMIN);
    let (status, body) = lab.call("GET", "/api/v1/session", Some(&token), None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "name": "ccc-admin", "organisation": "acme", "role": "administrator" })
    );
    let (status, _) = lab.call("POST", "/api/v1/logout", Some(&token), None);
    assert_eq!(status, 204);
    let (status, _) = lab.call("GET", "/api/v1/session", Some(&token), None);
    assert_eq!(status, 401, "a logged-out token is no session");
    // The OpenAPI document needs none.
    let (status, body) = lab.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(body["openapi"], "3.1.0");
}

#[test]
fn a_user_without_a_password_cannot_log_in_and_passwords_are_changed_by_their_rules() {
    let lab = Lab::start();
    let admin = lab.login(ADMIN);
    let (status, _) = lab.call(
        "POST",
        "/api/v1/organisations/acme/users",
        Some(&admin),
        Some(json!({ "name": "auditor", "role": "application-owner" })),
    );
    assert_eq!(status, 201);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/login",
        None,
        Some(json!({ "user": "auditor", "password": "anything-1" })),
    );
    assert_eq!(status, 401);
    assert_eq!(body["error"], "CKR_USER_PIN_NOT_INITIALIZED", "{body}");
    // Too short: 400.
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/users/auditor/password",
        Some(&admin),
        Some(json!({ "password": "short" })),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("CKR_PIN_LEN_RANGE"))
    );
    let (status, _) = lab.call(
        "PUT",
        "/api/v1/users/auditor/password",
        Some(&admin),
        Some(json!({ "password": "auditor-pass-1" })),
    );
    assert_eq!(status, 204);
    let auditor = lab.login(("auditor", "auditor-pass-1"));
    // An Application Owner sets no one else's password, and its own only with the current one.
    let (status, _) = lab.call(
        "PUT",
        "/api/v1/users/ccc-admin/password",
        Some(&auditor),
        Some(json!({ "password": "taken-over-1" })),
    );
    assert_eq!(status, 403);
    let (status, _) = lab.call(
        "PUT",
        "/api/v1/users/auditor/password",
        Some(&auditor),
        Some(json!({ "password": "auditor-pass-2", "current_password": "wrong-one-1" })),
    );
    assert_eq!(status, 403);
    let (status, _) = lab.call(
        "PUT",
        "/api/v1/users/auditor/password",
        Some(&auditor),
        Some(json!({ "password": "auditor-pass-2", "current_password": "auditor-pass-1" })),
    );
    assert_eq!(status, 204);
    assert!(ccc::check_ccc_user_password(&lab.selection(), "auditor", "auditor-pass-2").is_ok());
    // A removed user's session ends.
    let (status, _) = lab.call("DELETE", "/api/v1/users/auditor", Some(&admin), None);
    assert_eq!(status, 204);
    let (status, _) = lab.call("GET", "/api/v1/session", Some(&auditor), None);
    assert_eq!(status, 401);
}

#[test]
fn an_application_owner_cannot_change_templates_or_devices_and_sees_its_services_only() {
    let lab = Lab::start();
    let owner = lab.login(OWNER);
    for (method, path, body) in [
        ("POST", "/api/v1/templates", Some(template("mine"))),
        (
            "PUT",
            "/api/v1/templates/ha-password-7",
            Some(template("ha-password-7")),
        ),
        ("DELETE", "/api/v1/templates/ha-password-7", None),
        (
            "POST",
            "/api/v1/devices",
            Some(json!({ "device": "sa7-a" })),
        ),
        ("GET", "/api/v1/devices", None),
        ("POST", "/api/v1/import/discover", None),
        ("GET", "/api/v1/migrations", None),
    ] {
        let (status, answer) = lab.call(method, path, Some(&owner), body);
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "CKR_ACTION_PROHIBITED");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("Application Owner")
        );
    }
    assert_eq!(ccc::ccc_templates(&lab.selection()).unwrap().len(), 1);
    let (status, templates) = lab.call("GET", "/api/v1/templates", Some(&owner), None);
    assert_eq!(status, 200);
    assert_eq!(templates.as_array().unwrap().len(), 1);
    // A service of another organisation is invisible to it.
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa7-a", "sa7-b"]);
    let (status, _) = lab.call(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        Some(json!({ "name": "globex" })),
    );
    assert_eq!(status, 201);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some(
            json!({ "name": "theirs", "template": "ha-password-7", "organisation": "globex",
                     "partitions": ["sa7-a/svc1", "sa7-b/svc1"] }),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let (_, list) = lab.call("GET", "/api/v1/services", Some(&owner), None);
    assert_eq!(list, json!([]));
    let (status, _) = lab.call("GET", "/api/v1/services/theirs", Some(&owner), None);
    assert_eq!(status, 404);
    let (status, _) = lab.call("DELETE", "/api/v1/services/theirs", Some(&owner), None);
    assert_eq!(status, 404);
    assert_eq!(ccc::ccc_services(&lab.selection()).unwrap().len(), 1);
}

#[test]
fn bad_json_oversized_bodies_unknown_ids_and_routes_get_clear_errors() {
    let lab = Lab::start();
    let admin = lab.login(ADMIN);
    let (status, _, text) = lab.raw(
        "POST",
        "/api/v1/templates",
        Some(&admin),
        Some("{ not json"),
        "application/json",
    );
    assert_eq!(status, 400, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "CKR_ARGUMENTS_BAD");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("bad JSON body")
    );
    // A field of the wrong type, an unknown field: 400.
    let (status, _) = lab.call(
        "POST",
        "/api/v1/templates",
        Some(&admin),
        Some(json!({ "name": "x", "service_type": "teapot", "authentication": "password", "partition_size": 5000 })),
    );
    assert_eq!(status, 400);
    let (status, _) = lab.call(
        "POST",
        "/api/v1/devices",
        Some(&admin),
        Some(json!({ "device": "sa7-a", "colour": "blue" })),
    );
    assert_eq!(status, 400);
    // A malformed partition id: 400.
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some(json!({ "name": "s", "template": "ha-password-7", "organisation": "acme", "partitions": ["no-slash"] })),
    );
    assert_eq!(status, 400, "{body}");
    // Oversized: 413, and nothing written.
    let mut big = template("big");
    big["description"] = Value::String("x".repeat(hsmsim_ccc_web::BODY_LIMIT + 1));
    let (status, body) = lab.call("POST", "/api/v1/templates", Some(&admin), Some(big));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "CKR_DATA_LEN_RANGE");
    assert_eq!(ccc::ccc_templates(&lab.selection()).unwrap().len(), 1);
    // Unknown ids: 404.
    for path in [
        "/api/v1/services/nothing",
        "/api/v1/templates/nothing",
        "/api/v1/migrations/999",
        "/api/v1/migrations/abc",
        "/api/v1/no-such-route",
    ] {
        let (status, body) = lab.call("GET", path, Some(&admin), None);
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"], "CKR_ARGUMENTS_BAD", "{path}");
    }
    let (status, body) = lab.call("DELETE", "/api/v1/devices/sa7-a", Some(&admin), None);
    assert_eq!(status, 404, "{body}");
    // A method the route does not take: 405, JSON.
    let (status, body) = lab.call("PATCH", "/api/v1/devices", Some(&admin), None);
    assert_eq!(status, 405);
    assert_eq!(body["error"], "CKR_FUNCTION_NOT_SUPPORTED");
}

#[test]
fn a_template_and_an_ha_service_made_over_the_api_are_the_estates() {
    let lab = Lab::start();
    let admin = lab.login(ADMIN);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/templates",
        Some(&admin),
        Some(template("ha-api")),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["per_partition_so"], true, "the lab's default");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/templates/ha-api/copy",
        Some(&admin),
        Some(json!({ "name": "ha-api-copy" })),
    );
    assert_eq!(status, 201, "{body}");
    let mut edited = template("ha-api-copy");
    edited["partition_size"] = json!(300000);
    let (status, body) = lab.call(
        "PUT",
        "/api/v1/templates/ha-api-copy",
        Some(&admin),
        Some(edited),
    );
    assert_eq!((status, &body["partition_size"]), (200, &json!(300000)));
    // CCC's rule on sizes: 409 with its reason.
    let mut small = template("tiny");
    small["partition_size"] = json!(999);
    let (status, body) = lab.call("POST", "/api/v1/templates", Some(&admin), Some(small));
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("CKR_FUNCTION_FAILED"))
    );
    let sel = lab.selection();
    let template = ccc::ccc_template(&sel, "ha-api").unwrap();
    assert_eq!(template.partition_size, 200000);
    assert_eq!(
        ccc::ccc_template(&sel, "ha-api-copy")
            .unwrap()
            .partition_size,
        300000
    );
    assert!(ccc::ccc_template(&sel, "tiny").is_err());

    lab.authorise(&admin, &["sa7-a", "sa7-b"]);
    // Refused: a name over 28 characters; an unauthorised device; nothing is made.
    let service = |name: &str, partitions: Value| {
        json!({ "name": name, "description": "web tier", "template": "ha-api",
                "organisation": "acme", "partitions": partitions })
    };
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some(service(
            &"n".repeat(29),
            json!(["sa7-a/svc1", "sa7-b/svc1"]),
        )),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some(service("web", json!(["sa7-a/svc1", "sa7-c/svc1"]))),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("authorised"),
        "{body}"
    );
    assert!(ccc::ccc_services(&sel).unwrap().is_empty());
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some(service("web", json!(["sa7-a/svc1", "sa7-b/svc1"]))),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["partitions"], json!(["sa7-a/svc1", "sa7-b/svc1"]));
    assert_eq!(body["status"]["initialised"], false);
    let services = ccc::ccc_services(&sel).unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "web");
    assert_eq!(services[0].template, "ha-api");
    assert_eq!(services[0].organisation, "acme");
    // Edited, seen by its organisation's Application Owner, then detached.
    let (status, body) = lab.call(
        "PATCH",
        "/api/v1/services/web",
        Some(&admin),
        Some(json!({ "name": "web-tier" })),
    );
    assert_eq!((status, &body["name"]), (200, &json!("web-tier")), "{body}");
    let owner = lab.login(OWNER);
    let (_, list) = lab.call("GET", "/api/v1/services", Some(&owner), None);
    assert_eq!(list[0]["name"], "web-tier");
    let (status, _) = lab.call(
        "PATCH",
        "/api/v1/services/web-tier",
        Some(&owner),
        Some(json!({ "description": "x" })),
    );
    assert_eq!(status, 403);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/web-tier/detach",
        Some(&owner),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(ccc::ccc_services(&sel).unwrap().is_empty());
    // Templates deleted; devices removed once no service uses them.
    let (status, _) = lab.call(
        "DELETE",
        "/api/v1/templates/ha-api-copy",
        Some(&admin),
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = lab.call("DELETE", "/api/v1/devices/sa7-b", Some(&admin), None);
    assert_eq!(status, 204);
    assert_eq!(ccc::ccc_devices(&sel).unwrap().len(), 1);
}

#[test]
fn concurrent_requests_all_land_and_one_name_is_made_once() {
    let lab = Lab::start();
    let admin = lab.login(ADMIN);
    lab.authorise(&admin, &["sa7-a", "sa7-b"]);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (lab, admin) = (&lab, &admin);
                scope.spawn(move || {
                    lab.call(
                        "POST",
                        "/api/v1/templates",
                        Some(admin),
                        Some(template(&format!("t{i}"))),
                    )
                    .0
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 201);
        }
    });
    assert_eq!(ccc::ccc_templates(&lab.selection()).unwrap().len(), 9);
    // Four requests create the same service at once: one is made, the others are refused.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (lab, admin) = (&lab, &admin);
                scope.spawn(move || {
                    lab.call(
                        "POST",
                        "/api/v1/services",
                        Some(admin),
                        Some(
                            json!({ "name": "web", "template": "t0", "organisation": "acme",
                                     "partitions": ["sa7-a/svc1", "sa7-b/svc1"] }),
                        ),
                    )
                    .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(ccc::ccc_services(&lab.selection()).unwrap().len(), 1);
    // Concurrent edits of one service: serialised, each lands.
    std::thread::scope(|scope| {
        for i in 0..4 {
            let (lab, admin) = (&lab, &admin);
            scope.spawn(move || {
                let (status, body) = lab.call(
                    "PATCH",
                    "/api/v1/services/web",
                    Some(admin),
                    Some(json!({ "description": format!("edit {i}") })),
                );
                assert_eq!(status, 200, "{body}");
            });
        }
    });
    let description = ccc::ccc_services(&lab.selection()).unwrap()[0]
        .description
        .clone();
    assert!(description.starts_with("edit "), "{description}");
}

#[test]
fn organisations_and_users_are_managed_over_the_api() {
    let lab = Lab::start();
    let admin = lab.login(ADMIN);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/organisations",
        Some(&admin),
        Some(json!({ "name": "globex", "description": "another" })),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/organisations/globex/users",
        Some(&admin),
        Some(json!({ "name": "g-owner", "role": "application-owner" })),
    );
    assert_eq!(
        (status, &body["organisation"]),
        (201, &json!("globex")),
        "{body}"
    );
    let (status, _) = lab.call(
        "POST",
        "/api/v1/organisations/nowhere/users",
        Some(&admin),
        Some(json!({ "name": "x", "role": "administrator" })),
    );
    assert_eq!(status, 404);
    let owner = lab.login(OWNER);
    let (_, mine) = lab.call("GET", "/api/v1/organisations", Some(&owner), None);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["name"], "acme");
    let (_, all) = lab.call("GET", "/api/v1/organisations", Some(&admin), None);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (status, _) = lab.call("DELETE", "/api/v1/organisations/globex", Some(&admin), None);
    assert_eq!(status, 204);
    assert_eq!(ccc::ccc_organisations(&lab.selection()).unwrap().len(), 1);
}

#[test]
fn the_openapi_file_documents_every_route_of_the_router_and_no_other() {
    let doc: Value = serde_json::from_str(hsmsim_ccc_web::OPENAPI).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
            assert!(
                item[method]["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
        }
    }
    let mut routed: Vec<(String, String)> = hsmsim_ccc_web::API_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    routed.sort();
    let missing: Vec<_> = routed.iter().filter(|r| !documented.contains(r)).collect();
    let extra: Vec<_> = documented.iter().filter(|d| !routed.contains(d)).collect();
    assert!(
        missing.is_empty(),
        "routes not in openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json routes the router lacks: {extra:?}"
    );
}

#[test]
fn the_server_listens_on_loopback_by_default_and_a_taken_address_is_a_sentence() {
    let default: std::net::SocketAddr = hsmsim_ccc_web::DEFAULT_LISTEN.parse().unwrap();
    assert!(default.ip().is_loopback());
    let lab = Lab::start();
    let again = hsmsim_ccc_web::start(
        lab.selection(),
        hsmsim_ccc_web::ServeOptions {
            listen: lab.server.local_addr(),
        },
    );
    let error = again.err().expect("the address is taken");
    assert!(error.starts_with("cannot listen on"), "{error}");
    // The login answer also sets the console's cookie.
    let (status, headers, _) = lab.raw(
        "POST",
        "/api/v1/login",
        None,
        Some(&json!({ "user": ADMIN.0, "password": ADMIN.1 }).to_string()),
        "application/json",
    );
    assert_eq!(status, 200);
    let cookie = header(&headers, "set-cookie").unwrap();
    assert!(
        cookie.starts_with("ccc_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}
