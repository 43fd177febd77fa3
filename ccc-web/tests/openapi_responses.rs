//! The REST API's real responses against openapi.json: the JSON bodies of the main GET routes
//! (services, one service, templates, devices, the import table, migrations, one migration)
//! and error bodies are validated (JSON Schema 2020-12, as OpenAPI 3.1 uses) against the
//! schema the file gives for that route and status. The file's object schemas are read
//! strictly: a field the server sends that the file does not document, or a documented field
//! the server leaves out, fails, so the file cannot drift from the estate's types.
mod common;
use common::{ADMIN, Lab, OWNER, PAYMENTS, finished, migration_request};
use serde_json::{Map, Value, json};

/// openapi.json with every object schema made strict: `additionalProperties: false` and every
/// property required, unless the schema says otherwise; an `allOf` composition gets
/// `unevaluatedProperties: false` instead (its parts, which see only their own properties,
/// stay open).
fn strict_document() -> Value {
    let mut doc: Value = serde_json::from_str(hsmsim_ccc_web::OPENAPI).unwrap();
    let parts = all_of_parts(&doc["components"]["schemas"]);
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    for (name, schema) in schemas.iter_mut() {
        make_strict(
            schema,
            parts.contains(&format!("#/components/schemas/{name}")),
        );
    }
    doc
}

/// The `$ref`s that are the parts of an `allOf`.
fn all_of_parts(schemas: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack: Vec<&Value> = vec![schemas];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(parts)) = map.get("allOf") {
                    found.extend(
                        parts
                            .iter()
                            .filter_map(|p| p["$ref"].as_str().map(String::from)),
                    );
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

fn make_strict(schema: &mut Value, open: bool) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("allOf") {
                map.entry("unevaluatedProperties")
                    .or_insert(Value::Bool(false));
            } else if let Some(Value::Object(properties)) = map.get("properties") {
                let names: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
                map.entry("required").or_insert(Value::Array(names));
                if !open {
                    map.entry("additionalProperties")
                        .or_insert(Value::Bool(false));
                }
            }
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    ("allOf", Value::Array(parts)) => {
                        parts.iter_mut().for_each(|p| make_strict(p, true))
                    }
                    (_, value) => make_strict(value, false),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| make_strict(v, false)),
        _ => {}
    }
}

/// The schema of the JSON body `route` (as the file names it, e.g. "/services/{service}")
/// answers `method` with `status`, following a `#/components/responses/...` reference.
fn response_schema(doc: &Value, method: &str, route: &str, status: u16) -> Value {
    let operation = &doc["paths"][route][method.to_lowercase()];
    assert!(
        operation.is_object(),
        "openapi.json has no {method} {route}"
    );
    let mut response = &operation["responses"][status.to_string()];
    if let Some(reference) = response["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/responses/")
            .unwrap_or_else(|| panic!("{reference}"));
        response = &doc["components"]["responses"][name];
    }
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "openapi.json documents no JSON body for {method} {route} {status}"
    );
    schema.clone()
}

/// Asserts that `body`, the answer `status` to `method` `route`, is valid against the file.
fn conforms(doc: &Value, method: &str, route: &str, status: u16, body: &Value) {
    let mut schema: Map<String, Value> = match response_schema(doc, method, route, status) {
        Value::Object(map) => map,
        other => panic!("{other}"),
    };
    schema.insert("components".into(), doc["components"].clone());
    let schema = Value::Object(schema);
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("the schema of {method} {route} {status}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {route} answered {status} with a body openapi.json does not describe:\n{}\nbody: {body}",
        errors.join("\n")
    );
}

/// Calls `path` and validates the answer against `route`'s schema; returns the body.
fn checked(
    lab: &Lab,
    doc: &Value,
    token: Option<&str>,
    (method, route, path): (&str, &str, &str),
    expected: u16,
) -> Value {
    let (status, body) = lab.call(method, path, token, None);
    assert_eq!(status, expected, "{method} {path}: {body}");
    conforms(doc, method, route, status, &body);
    body
}

#[test]
fn the_main_get_routes_answer_as_openapi_json_describes() {
    let doc = strict_document();
    let (lab, admin) = Lab::with_web(PAYMENTS);
    let admin = admin.as_str();
    // "web" initialised and deployed, so that its status has every field filled.
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/web/initialise",
        Some(admin),
        Some(json!({
            "partition_label": "web",
            "cloning_domain": "acme-ccc-domain",
            "partition_so_password": "PO-web-2026",
            "crypto_officer_password": "CO-web-2026"
        })),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = lab.call(
        "POST",
        "/api/v1/services/web/clients",
        Some(admin),
        Some(json!({ "host": "app-client" })),
    );
    assert_eq!(status, 200, "{body}");

    let services = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/services", "/api/v1/services"),
        200,
    );
    assert_eq!(services.as_array().unwrap().len(), 2, "{services}");
    let web = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/services/{service}", "/api/v1/services/web"),
        200,
    );
    assert_eq!(web["status"]["template"]["name"], "ha-password-7", "{web}");
    checked(
        &lab,
        &doc,
        Some(admin),
        (
            "GET",
            "/services/{service}/clients",
            "/api/v1/services/web/clients",
        ),
        200,
    );
    checked(
        &lab,
        &doc,
        Some(admin),
        (
            "GET",
            "/services/{service}/keys",
            "/api/v1/services/web/keys",
        ),
        200,
    );
    let templates = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/templates", "/api/v1/templates"),
        200,
    );
    assert!(templates.as_array().unwrap().len() >= 3, "{templates}");
    checked(
        &lab,
        &doc,
        Some(admin),
        (
            "GET",
            "/templates/{template}",
            "/api/v1/templates/ha-password-7",
        ),
        200,
    );
    let devices = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/devices", "/api/v1/devices"),
        200,
    );
    assert!(!devices.as_array().unwrap().is_empty(), "{devices}");
    checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/partitions", "/api/v1/partitions"),
        200,
    );
    checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/organisations", "/api/v1/organisations"),
        200,
    );
    checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/session", "/api/v1/session"),
        200,
    );

    // The import table: none, then the one discovery saves.
    let none = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/import", "/api/v1/import"),
        200,
    );
    assert_eq!(none, Value::Null);
    lab.authorise(admin, &["sa6-legacy"]);
    let (status, body) = lab.call("POST", "/api/v1/import/discover", Some(admin), None);
    assert_eq!(status, 200, "{body}");
    let table = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/import", "/api/v1/import"),
        200,
    );
    assert!(!table["rows"].as_array().unwrap().is_empty(), "{table}");

    // Migrations: none, then a finished run, listed and alone.
    let none = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/migrations", "/api/v1/migrations"),
        200,
    );
    assert_eq!(none, json!([]));
    checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/migratable-services", "/api/v1/migratable-services"),
        200,
    );
    let mut request = migration_request("payments-7");
    request["targets"] = json!(["sa7-a/svc2", "sa7-b/svc2"]);
    let (status, run) = lab.call("POST", "/api/v1/migrations", Some(admin), Some(request));
    assert!(status == 202 || status == 201, "{run}");
    let run = finished(&lab, admin, &run["id"]);
    assert_eq!(run["state"], "succeeded", "{run}");
    let list = checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/migrations", "/api/v1/migrations"),
        200,
    );
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let path = format!("/api/v1/migrations/{}", run["id"]);
    checked(
        &lab,
        &doc,
        Some(admin),
        ("GET", "/migrations/{id}", &path),
        200,
    );
}

#[test]
fn error_bodies_answer_as_openapi_json_describes() {
    let doc = strict_document();
    let lab = Lab::start_with(PAYMENTS);
    let admin = lab.login(ADMIN);
    let owner = lab.login(OWNER);
    // 401: no session.
    checked(
        &lab,
        &doc,
        None,
        ("GET", "/services", "/api/v1/services"),
        401,
    );
    // 403: an Application Owner may not see the devices or the migrations.
    checked(
        &lab,
        &doc,
        Some(&owner),
        ("GET", "/devices", "/api/v1/devices"),
        403,
    );
    checked(
        &lab,
        &doc,
        Some(&owner),
        ("GET", "/migrations", "/api/v1/migrations"),
        403,
    );
    // 404: no such service, template, migration.
    let error = checked(
        &lab,
        &doc,
        Some(&admin),
        ("GET", "/services/{service}", "/api/v1/services/nothing"),
        404,
    );
    assert_eq!(error["error"], "CKR_ARGUMENTS_BAD", "{error}");
    checked(
        &lab,
        &doc,
        Some(&admin),
        ("GET", "/templates/{template}", "/api/v1/templates/nothing"),
        404,
    );
    checked(
        &lab,
        &doc,
        Some(&admin),
        ("GET", "/migrations/{id}", "/api/v1/migrations/7"),
        404,
    );
    // 400 (bad JSON) and 409 (a CCC rule) on a POST.
    let (status, _, body) = lab.raw(
        "POST",
        "/api/v1/services",
        Some(&admin),
        Some("{not json"),
        "application/json",
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 400, "{body}");
    conforms(&doc, "POST", "/services", 400, &body);
    let (status, body) = lab.call(
        "POST",
        "/api/v1/migrations",
        Some(&admin),
        Some(migration_request(&"p".repeat(29))),
    );
    assert_eq!(status, 409, "{body}");
    conforms(&doc, "POST", "/migrations", 409, &body);
}

#[test]
fn the_strict_reading_refuses_an_undocumented_or_missing_field() {
    let doc = strict_document();
    let device = json!({ "device": "sa7-a", "authorised": true, "offline": false });
    conforms(&doc, "GET", "/devices", 200, &json!([device.clone()]));
    let mut extra = device.clone();
    extra["firmware"] = json!("7.4.2");
    let mut missing = device;
    missing.as_object_mut().unwrap().remove("offline");
    for body in [extra, missing] {
        let outcome = std::panic::catch_unwind(|| {
            conforms(&doc, "GET", "/devices", 200, &json!([body]));
        });
        assert!(outcome.is_err(), "accepted {body}");
    }
}
