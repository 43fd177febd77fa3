//! What the CCC web tests share: the built-in luna-ccc lab in a fresh state directory, the users'
//! passwords set, a server on 127.0.0.1:0, and a plain HTTP client.
#![allow(dead_code)]
use hsmsim::estate::{Choice, LAB_FILE, LabSelection, ccc, select};
use hsmsim_ccc_web::{RunningServer, ServeOptions, start};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const ADMIN: (&str, &str) = ("ccc-admin", "admin-pass-1");
pub const OWNER: (&str, &str) = ("app-owner", "owner-pass-1");

/// A running CCC over its own copy of the lab.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub server: RunningServer,
    pub base: String,
    agent: ureq::Agent,
}

/// The built-in luna-ccc lab (each Network HSM has its HSM SO admin partition: "SO-legacy-2017"
/// on sa6-legacy, "HSM-SO-<device>" on the others).
fn lab_text() -> String {
    hsmsim::lab::built_in_text("luna-ccc").unwrap().to_string()
}

impl Lab {
    pub fn start() -> Lab {
        Lab::start_with("")
    }

    /// `start` with `extra` appended to the lab file (e.g. `[[ccc.service]]`s).
    pub fn start_with(extra: &str) -> Lab {
        Lab::start_from(&(lab_text() + extra))
    }

    /// A CCC over the lab file `text` (whose `[ccc]` has the users `ADMIN` and `OWNER`).
    pub fn start_from(text: &str) -> Lab {
        lower_pin_cost();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LAB_FILE), text).unwrap();
        let lab = Lab::selection_in(&dir);
        ccc::set_ccc_user_password(&lab, ADMIN.0, ADMIN.1).unwrap();
        ccc::set_ccc_user_password(&lab, OWNER.0, OWNER.1).unwrap();
        let server = start(
            lab,
            ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
            },
        )
        .unwrap();
        let base = format!("http://{}", server.local_addr());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Lab {
            dir,
            server,
            base,
            agent,
        }
    }

    fn selection_in(dir: &tempfile::TempDir) -> LabSelection {
        select(&Choice {
            lab_file: Some(dir.path().join(LAB_FILE)),
            host: None,
            state_dir: None,
        })
        .unwrap()
    }

    /// The lab as the estate sees it (to check outcomes through `estate::ccc`).
    pub fn selection(&self) -> LabSelection {
        Lab::selection_in(&self.dir)
    }

    /// Logs `user` in over the API: its bearer token.
    pub fn login(&self, user: (&str, &str)) -> String {
        let (status, body) = self.call(
            "POST",
            "/api/v1/login",
            None,
            Some(serde_json::json!({ "user": user.0, "password": user.1 })),
        );
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// An API call: status and JSON body (`Value::Null` when empty).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let text = body.map(|b| b.to_string());
        let (status, _, answer) =
            self.raw(method, path, token, text.as_deref(), "application/json");
        let value = if answer.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
        };
        (status, value)
    }

    /// A request with a raw body: status, headers (name, value) and text.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        content_type: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let url = format!("{}{path}", self.base);
        let builder = ureq::http::Request::builder().method(method).uri(&url);
        let builder = match token {
            Some(t) if t.starts_with("cookie:") => {
                builder.header("Cookie", format!("ccc_session={}", &t[7..]))
            }
            Some(t) => builder.header("Authorization", format!("Bearer {t}")),
            None => builder,
        };
        let response = match body {
            Some(b) => self.agent.run(
                builder
                    .header("Content-Type", content_type)
                    .body(b.to_string())
                    .unwrap(),
            ),
            None => self.agent.run(builder.body(()).unwrap()),
        };
        let mut response = response.unwrap();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, headers, text)
    }

    /// A console page or form post with the session cookie of `token` (if any): status,
    /// headers and HTML.
    pub fn page(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        form: Option<&str>,
    ) -> (u16, Vec<(String, String)>, String) {
        let cookie = token.map(|t| format!("cookie:{t}"));
        self.raw(
            method,
            path,
            cookie.as_deref(),
            form,
            "application/x-www-form-urlencoded",
        )
    }

    /// Posts a console form and follows its 303: the page it leads to.
    pub fn submit(&self, token: &str, path: &str, form: &str) -> String {
        let (status, headers, html) = self.page("POST", path, Some(token), Some(form));
        assert_eq!(status, 303, "{path}: {html}");
        let to = header(&headers, "location").unwrap().to_string();
        let (status, _, html) = self.page("GET", &to, Some(token), None);
        assert_eq!(status, 200, "{to}: {html}");
        html
    }

    /// The lab (with `extra`), an Administrator's token, sa7-a and sa7-b authorised, and
    /// "web", an HA service on sa7-a/svc1 + sa7-b/svc1 from the lab's template.
    pub fn with_web(extra: &str) -> (Lab, String) {
        let lab = Lab::start_with(extra);
        let admin = lab.login(ADMIN);
        lab.authorise(&admin, &["sa7-a", "sa7-b"]);
        lab.create_service(
            &admin,
            "web",
            "ha-password-7",
            &["sa7-a/svc1", "sa7-b/svc1"],
        );
        (lab, admin)
    }

    /// Creates service `name` of organisation "acme" over the API (201 expected).
    pub fn create_service(
        &self,
        token: &str,
        name: &str,
        template: &str,
        partitions: &[&str],
    ) -> Value {
        let (status, body) = self.call(
            "POST",
            "/api/v1/services",
            Some(token),
            Some(serde_json::json!({ "name": name, "template": template,
                "organisation": "acme", "partitions": partitions })),
        );
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Adds and authorises `devices` over the API.
    pub fn authorise(&self, token: &str, devices: &[&str]) {
        for device in devices {
            let (status, body) = self.call(
                "POST",
                "/api/v1/devices",
                Some(token),
                Some(serde_json::json!({ "device": device })),
            );
            assert_eq!(status, 201, "{body}");
            let (status, body) = self.call(
                "POST",
                &format!("/api/v1/devices/{device}/authorise"),
                Some(token),
                Some(serde_json::json!({ "password": hsm_so_password(device) })),
            );
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["authorised"], true);
        }
    }
}

/// Seals the PINs at 10,000 PBKDF2 iterations (as the CLI tests do, `HSMSIM_PIN_KDF_ITERATIONS`)
/// rather than the default 600,000: the server runs in this process.
fn lower_pin_cost() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: the tests that use the estate start with `Lab::start_from`, so the variable is set
    // once, before they read the environment (the others wait in `call_once` meanwhile); the
    // rest read it through std only, whose reads and writes are serialised.
    ONCE.call_once(|| unsafe { std::env::set_var("HSMSIM_PIN_KDF_ITERATIONS", "10000") });
}

/// The HSM SO password of `device` in the built-in luna-ccc lab.
pub fn hsm_so_password(device: &str) -> String {
    match device {
        "sa6-legacy" => "SO-legacy-2017".to_string(),
        _ => format!("HSM-SO-{device}"),
    }
}

/// A form body (`application/x-www-form-urlencoded`).
pub fn form(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// The header `name` of a response (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The lab with the PPSO service "payments" (sa6-ppso, firmware 6.24.2) already managed.
pub const PAYMENTS: &str = r#"
[[ccc.template]]
name = "ppso-password-6"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000

[[ccc.template]]
name = "standalone-7"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000

[[ccc.service]]
name = "payments"
template = "ppso-password-6"
organisation = "acme"
partitions = ["sa6-ppso/payments"]
"#;

/// The built-in luna-ccc lab with `extra` appended and HSM policy 7 (cloning) off on sa7-c
/// (its initialised partitions without the cloning policies 0 and 4, which the lab refuses
/// above the HSM's): a migration target whose copy Luna refuses.
pub fn cloning_off_on_sa7c(extra: &str) -> String {
    hsmsim::lab::without_cloning(&(lab_text() + extra), "sa7-c", &["admin", "vault"]).unwrap()
}

pub fn migration_request(name: &str) -> Value {
    json!({
        "source_service": "payments",
        "name": name,
        "organisation": "acme",
        "partition_size": 100000,
        "targets": ["sa7-a/svc1", "sa7-b/svc1"],
        "partition_label": "payments-7",
        "cloning_domain": "acme-ccc-domain",
        "security_officer_challenge": "PO-payments-2021",
        "crypto_officer_challenge": "CO-payments-2021"
    })
}

/// Polls migration `id` until it ends (60 s at most).
pub fn finished(lab: &Lab, admin: &str, id: &Value) -> Value {
    let since = Instant::now();
    loop {
        let (status, run) = lab.call(
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some(admin),
            None,
        );
        assert_eq!(status, 200, "{run}");
        if run["state"] != "running" {
            return run;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "still running: {run}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
