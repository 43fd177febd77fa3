//! The web console's pages over loopback: login by form and cookie, every page answering
//! with its content and stable ids, forms that change CCC (checked through `estate::ccc`),
//! CCC's refusals shown on the page, the role rules, and escaping.
mod common;
use common::{ADMIN, Lab, OWNER, form, header};
use hsmsim::estate::ccc;

/// Logs in through the login form: the session token from the cookie.
fn form_login(lab: &Lab, user: (&str, &str)) -> String {
    let (status, headers, _) = lab.page(
        "POST",
        "/login",
        None,
        Some(&form(&[("user", user.0), ("password", user.1)])),
    );
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/services"));
    let cookie = header(&headers, "set-cookie").unwrap();
    let token = cookie
        .strip_prefix("ccc_session=")
        .and_then(|c| c.split(';').next())
        .unwrap();
    token.to_string()
}

#[test]
fn the_console_logs_in_by_form_and_sends_strangers_to_the_login_page() {
    let lab = Lab::start();
    let (status, _, html) = lab.page("GET", "/login", None, None);
    assert_eq!(status, 200);
    for id in [
        "id=\"login-form\"",
        "id=\"login-user\"",
        "id=\"login-password\"",
        "id=\"login-submit\"",
    ] {
        assert!(html.contains(id), "{id}");
    }
    let (status, headers, _) = lab.page("GET", "/services", None, None);
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/login"));
    let (status, _, html) = lab.page(
        "POST",
        "/login",
        None,
        Some(&form(&[
            ("user", "ccc-admin"),
            ("password", "not-it-at-all"),
        ])),
    );
    assert_eq!(status, 401);
    assert!(html.contains("id=\"error\""), "{html}");
    assert!(html.contains("wrong CCC user name or password"));
    let token = form_login(&lab, ADMIN);
    let (status, _, html) = lab.page("GET", "/services", Some(&token), None);
    assert_eq!(status, 200);
    assert!(html.contains("id=\"services\"") && html.contains("id=\"nav-import\""));
    assert!(html.contains("ccc-admin (Administrator, acme)"), "{html}");
    let (status, headers, _) = lab.page("POST", "/logout", Some(&token), Some(""));
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/login"));
    let (status, _, _) = lab.page("GET", "/services", Some(&token), None);
    assert_eq!(status, 303, "the session ended");
}

#[test]
fn every_page_answers_with_its_content() {
    let (lab, _) = Lab::with_web("");
    let token = form_login(&lab, ADMIN);
    for (path, expected) in [
        (
            "/services",
            vec!["data-service=\"web\"", ">HA<", "not initialised"],
        ),
        (
            "/services/web",
            vec![
                "id=\"tab-general\"",
                "id=\"initialise-form\"",
                "id=\"delete-submit\"",
            ],
        ),
        (
            "/services/web?tab=capabilities",
            vec!["id=\"capabilities\"", "100000", "id=\"resize-form\""],
        ),
        (
            "/services/web?tab=partitions",
            vec!["data-partition=\"sa7-b/svc1\"", "id=\"add-partition-form\""],
        ),
        ("/services/web?tab=keys", vec!["Keys"]),
        (
            "/services/web?tab=clients",
            vec!["id=\"clients\"", "id=\"register-client-form\""],
        ),
        (
            "/templates",
            vec![
                "data-template=\"ha-password-7\"",
                "id=\"add-template-form\"",
            ],
        ),
        (
            "/templates/ha-password-7",
            vec!["id=\"edit-template-form\""],
        ),
        (
            "/create-service",
            vec![
                "id=\"step-general\"",
                "id=\"step-template\"",
                "id=\"step-devices\"",
                "id=\"step-organisation\"",
                "id=\"template-ha-password-7\"",
                "id=\"partition-sa7-a-svc1\"",
            ],
        ),
        ("/import", vec!["id=\"get-started\""]),
        (
            "/migrate",
            vec![
                "id=\"step-select-service\"",
                "id=\"step-new-service\"",
                "id=\"step-select-devices\"",
                "id=\"step-define-partition\"",
                "id=\"step-initialize-roles\"",
                "id=\"step-summary\"",
                "id=\"migrate-start\"",
            ],
        ),
        ("/migrations", vec!["id=\"migrations\""]),
        (
            "/devices",
            vec![
                "data-device=\"sa7-a\"",
                "authorised",
                "id=\"add-device-form\"",
            ],
        ),
    ] {
        let (status, _, html) = lab.page("GET", path, Some(&token), None);
        assert_eq!(status, 200, "{path}: {html}");
        for needle in expected {
            assert!(html.contains(needle), "{path} lacks {needle}: {html}");
        }
    }
    let (status, _, html) = lab.page("GET", "/services/nothing", Some(&token), None);
    assert_eq!(status, 404);
    assert!(html.contains("CCC has no service"), "{html}");
    let (status, _, _) = lab.page("GET", "/no-such-page", Some(&token), None);
    assert_eq!(status, 404);
}

#[test]
fn templates_and_services_are_made_through_the_forms_and_refusals_are_shown() {
    let lab = Lab::start();
    let api = lab.login(ADMIN);
    lab.authorise(&api, &["sa7-a", "sa7-b"]);
    let token = form_login(&lab, ADMIN);
    let template = |name: &str, size: &str, description: &str| {
        form(&[
            ("name", name),
            ("description", description),
            ("service_type", "hsm-partition-ha-group"),
            ("authentication", "password"),
            ("performance", ""),
            ("partition_size", size),
            ("per_partition_so", "on"),
        ])
    };
    let html = lab.submit(
        &token,
        "/templates",
        &template("form-t", "150000", "<b>bold</b>"),
    );
    assert!(html.contains("id=\"notice\""), "{html}");
    assert!(html.contains("data-template=\"form-t\""));
    let made = ccc::ccc_template(&lab.selection(), "form-t").unwrap();
    assert_eq!(
        (
            made.partition_size,
            made.per_partition_so,
            made.scalable_key_storage
        ),
        (150000, true, false)
    );
    assert_eq!(made.description, "<b>bold</b>");
    // CCC's refusal on the page.
    let html = lab.submit(&token, "/templates", &template("tiny", "999", ""));
    assert!(html.contains("id=\"error\""), "{html}");
    assert!(html.contains("1000"), "CCC's limits in the message: {html}");
    // Escaped, never markup.
    let (_, _, html) = lab.page("GET", "/templates/form-t", Some(&token), None);
    assert!(
        html.contains("&lt;b&gt;bold&lt;/b&gt;") && !html.contains("<b>bold"),
        "{html}"
    );
    // The Create Service wizard: refused (one partition for an HA template), shown filled in.
    let refused = form(&[
        ("name", "web"),
        ("description", ""),
        ("template", "form-t"),
        ("partitions", "sa7-a/svc1"),
        ("organisation", "acme"),
    ]);
    let (status, _, html) = lab.page("POST", "/create-service", Some(&token), Some(&refused));
    assert_eq!(status, 409);
    assert!(
        html.contains("id=\"error\"") && html.contains("two or more partitions"),
        "{html}"
    );
    assert!(
        html.contains("value=\"web\""),
        "the wizard keeps its answers"
    );
    assert!(ccc::ccc_services(&lab.selection()).unwrap().is_empty());
    let wizard = form(&[
        ("name", "web"),
        ("description", "web tier"),
        ("template", "form-t"),
        ("partitions", "sa7-a/svc1"),
        ("partitions", "sa7-b/svc1"),
        ("organisation", "acme"),
    ]);
    let html = lab.submit(&token, "/create-service", &wizard);
    assert!(html.contains("Service &quot;web&quot; created."), "{html}");
    let services = ccc::ccc_services(&lab.selection()).unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].partitions.len(), 2);
    // Edited on its General tab, then deleted.
    let html = lab.submit(
        &token,
        "/services/web/edit",
        &form(&[
            ("name", "web-2"),
            ("description", "renamed"),
            ("organisation", "acme"),
        ]),
    );
    assert!(html.contains("id=\"service-name\">web-2<"), "{html}");
    let html = lab.submit(&token, "/services/web-2/delete", "");
    assert!(
        html.contains("Service &quot;web-2&quot; deleted."),
        "{html}"
    );
    assert!(ccc::ccc_services(&lab.selection()).unwrap().is_empty());
    // A template copied and deleted from the list.
    lab.submit(
        &token,
        "/templates/form-t/copy",
        &form(&[("name", "form-copy")]),
    );
    lab.submit(&token, "/templates/form-t/delete", "");
    let names: Vec<String> = ccc::ccc_templates(&lab.selection())
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["ha-password-7", "form-copy"]);
}

/// The PED variant of the luna-ccc lab (`lab::ped_variant`: every device `auth = "ped"`, its
/// HSM SO's blue PED key named by the lab), without services (its devices start unauthorised).
fn ped_lab() -> Lab {
    let text = hsmsim::lab::ped_variant(hsmsim::lab::built_in_text("luna-ccc").unwrap()).unwrap();
    assert!(text.contains("auth = \"ped\""), "{text}");
    Lab::start_from(&text)
}

#[test]
fn a_ped_device_is_authorised_from_its_page_with_an_empty_password() {
    let lab = ped_lab();
    let token = form_login(&lab, ADMIN);
    assert!(ccc::ccc_devices(&lab.selection()).unwrap().is_empty());
    let html = lab.submit(&token, "/devices/add", &form(&[("device", "sa7-c")]));
    // The password is not required: a PED device's HSM SO presents the blue PED key.
    assert!(
        html.contains(
            "<input name=\"password\" type=\"password\" placeholder=\"HSM SO password\">"
        ),
        "no `required`: {html}"
    );
    assert!(
        html.contains(
            "PED devices: leave empty, the HSM SO's blue PED key is presented at the PED"
        ),
        "{html}"
    );
    let html = lab.submit(
        &token,
        "/devices/authorise",
        &form(&[("device", "sa7-c"), ("password", "")]),
    );
    assert!(
        html.contains("Device &quot;sa7-c&quot; authorised."),
        "{html}"
    );
    let devices = ccc::ccc_devices(&lab.selection()).unwrap();
    assert!(devices.len() == 1 && devices[0].authorised, "{devices:?}");
}

#[test]
fn devices_are_added_and_authorised_through_their_page() {
    let lab = Lab::start();
    let token = form_login(&lab, ADMIN);
    let html = lab.submit(&token, "/devices/add", &form(&[("device", "sa7-c")]));
    assert!(
        html.contains("data-device=\"sa7-c\"") && html.contains("not authorised"),
        "{html}"
    );
    // A password device refuses a wrong or an empty password, with the reason on the page.
    for (password, why) in [
        ("wrong-password", "wrong PIN"),
        (
            "",
            "device &quot;sa7-c&quot; authenticates with passwords: enter its HSM SO password",
        ),
    ] {
        let html = lab.submit(
            &token,
            "/devices/authorise",
            &form(&[("device", "sa7-c"), ("password", password)]),
        );
        assert!(
            html.contains(&format!("<p id=\"error\" role=\"alert\">{why}")),
            "{password:?}: {html}"
        );
        assert!(!ccc::ccc_devices(&lab.selection()).unwrap()[0].authorised);
    }
    let html = lab.submit(
        &token,
        "/devices/authorise",
        &form(&[("device", "sa7-c"), ("password", "HSM-SO-sa7-c")]),
    );
    assert!(
        html.contains("Device &quot;sa7-c&quot; authorised."),
        "{html}"
    );
    let devices = ccc::ccc_devices(&lab.selection()).unwrap();
    assert!(devices.len() == 1 && devices[0].authorised);
    let html = lab.submit(&token, "/devices/add", &form(&[("device", "nowhere")]));
    assert!(html.contains("id=\"error\""), "{html}");
}

#[test]
fn an_application_owner_is_refused_the_administrators_pages() {
    let lab = Lab::start();
    let token = form_login(&lab, OWNER);
    for path in [
        "/devices",
        "/import",
        "/create-service",
        "/migrate",
        "/migrations",
    ] {
        let (status, _, html) = lab.page("GET", path, Some(&token), None);
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("Application Owner"), "{path}: {html}");
    }
    let (status, _, html) = lab.page("GET", "/templates", Some(&token), None);
    assert_eq!(status, 200);
    assert!(!html.contains("id=\"add-template-form\""));
    let html = lab.submit(&token, "/templates/ha-password-7/delete", "");
    assert!(html.contains("id=\"error\""), "{html}");
    assert_eq!(ccc::ccc_templates(&lab.selection()).unwrap().len(), 1);
    // An oversized form: 413, nothing done.
    let big = form(&[
        ("user", &"x".repeat(hsmsim_ccc_web::BODY_LIMIT + 1)),
        ("password", "p"),
    ]);
    let (status, _, _) = lab.page("POST", "/login", None, Some(&big));
    assert_eq!(status, 413);
}

#[test]
fn names_with_spaces_slashes_and_marks_are_linked_and_acted_on() {
    let (lab, admin) = Lab::with_web("");
    let odd = "odd/name ?#%";
    let (status, body) = lab.call(
        "POST",
        "/api/v1/templates/ha-password-7/copy",
        Some(&admin),
        Some(serde_json::json!({ "name": odd })),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = lab.call(
        "PATCH",
        "/api/v1/services/web",
        Some(&admin),
        Some(serde_json::json!({ "name": "web tier #1" })),
    );
    assert_eq!(status, 200, "{body}");
    let token = form_login(&lab, ADMIN);
    let (_, _, html) = lab.page("GET", "/templates", Some(&token), None);
    let href = "/templates/odd%2Fname%20%3F%23%25";
    assert!(html.contains(&format!("href=\"{href}\"")), "{html}");
    let (status, _, html) = lab.page("GET", href, Some(&token), None);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"edit-template-form\""));
    let (_, _, html) = lab.page("GET", "/services", Some(&token), None);
    let service = "/services/web%20tier%20%231";
    assert!(html.contains(&format!("href=\"{service}\"")), "{html}");
    let html = lab.submit(
        &token,
        &format!("{service}/edit"),
        &form(&[
            ("name", "web"),
            ("description", "back"),
            ("organisation", "acme"),
        ]),
    );
    assert!(html.contains("id=\"service-name\">web<"), "{html}");
    assert_eq!(ccc::ccc_services(&lab.selection()).unwrap()[0].name, "web");
}
