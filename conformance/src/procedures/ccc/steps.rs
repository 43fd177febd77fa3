//! The documented steps of the seven CCC procedures as REST calls, their preconditions (what
//! the procedure starts from, made over the same API or through PKCS#11) and outcome checks
//! (CCC's view, and the partitions and objects themselves through PKCS#11). A negative case
//! runs the steps up to the one that must refuse, takes CCC's view just before it, checks the
//! refusal (HTTP 4xx with CCC's sentence) and that the view is the same afterwards.
use super::lab::{CccLab, Edits};
use crate::runner::{Run, Stop};
use serde_json::{Value, json};

/// The cloning domain of every partition of the fixture (and of the services CCC initialises).
const DOMAIN: &str = "acme-ccc-domain";
/// The credentials the scenarios give the services CCC creates and initialises.
const NEW_PO: &str = "PO-ccc-new-2026";
const NEW_CO: &str = "CO-ccc-new-2026";

/// The templates every scenario's lab adds to the fixture's "ha-password-7".
const TEMPLATES: &str = r#"
[[ccc.template]]
name = "standalone-7"
description = "standalone services on the Network HSM 7 devices"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000

[[ccc.template]]
name = "sks-7"
description = "Scalable Key Storage services (Network HSM 7, 7.7.0 and later)"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000
scalable_key_storage = true

[[ccc.template]]
name = "standalone-6-ppso"
description = "standalone PPSO services on Network HSM 6 (6.22 and later)"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000
per_partition_so = true

[[ccc.template]]
name = "stc-6"
description = "Secure Trusted Channel services (firmware 6.24.2 and later, not 7.7.0 and later)"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000
per_partition_so = true
secure_trusted_channel = true

[[ccc.template]]
name = "standalone-6"
description = "standalone services on Network HSM 6 without a Per-Partition SO"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000
per_partition_so = false
"#;

/// A service the lab already manages (Migrate Service's sources).
fn managed(name: &str, template: &str, partitions: &[&str], ha_group: Option<&str>) -> String {
    let list: Vec<String> = partitions.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "\n[[ccc.service]]\nname = \"{name}\"\ntemplate = \"{template}\"\norganisation = \"acme\"\npartitions = [{}]\n{}",
        list.join(", "),
        ha_group
            .map(|g| format!("ha_group = \"{g}\"\n"))
            .unwrap_or_default()
    )
}

/// The refusal a negative case expects: the HTTP status and a fragment of CCC's sentence.
fn expected_refusal(procedure: &str, negative: &str) -> &'static str {
    match (procedure, negative) {
        (_, "name-too-long") => "a service name has 1 to 28",
        ("ccc.service.create", "ha-one-device") => "different devices",
        ("ccc.service.create", "sks-before-77") => {
            "needs a Luna Network HSM 7 with firmware 7.7.0 or above"
        }
        ("ccc.service.create", "ppso-without-capability") => {
            "which needs firmware 6.22 or higher with the Per-Partition SO capability"
        }
        ("ccc.service.create", "non-ppso-on-7x") => "which is mandatory on 7.x devices",
        ("ccc.service.create", "stc-on-77") => "is not available on 7.7.0 and above",
        ("ccc.service.create", "activate-non-ppso-ped") => {
            "You can activate PPSO services only. Use LunaCM to activate a non-PPSO service."
        }
        (_, "password-too-short") => "8 or more characters",
        ("ccc.service.import", "over-licence") => "reduce the number of partitions for import",
        ("ccc.service.add-partition", "same-device") => "device",
        ("ccc.service.remove-partition", "standalone") => "single HSM service",
        ("ccc.service.remove-partition", "last-partition") => "last",
        ("ccc.service.resize", "below-range" | "above-range") => "99999999",
        ("ccc.service.resize", "not-a-number") => "whole number",
        ("ccc.service.resize", "above-free-memory") => "no space is available",
        ("ccc.service.resize", "device-offline") => "offline",
        ("ccc.service.detach-delete", "unknown-service") => "CCC has no service",
        ("ccc.migrate-service", "77-source-to-74-target") => "source firmware is 7.7.x",
        ("ccc.migrate-service", "outside-matrix") => "does not support migrating",
        ("ccc.migrate-service", "fm-mismatch") => "Migration is not possible when source fir",
        ("ccc.migrate-service", "too-few-licences") => "Migrate Service button will be disabled",
        ("ccc.migrate-service", "non-ppso-ped-not-activated") => {
            "For Non PPSO PED service migration, ensure that the source partition is activated and the default challenge is not set. Partition \"sa6-legacy/legacy\" is not activated."
        }
        ("ccc.migrate-service", "non-ppso-ped-default-challenge") => {
            "For Non PPSO PED service migration, ensure that the source partition is activated and the default challenge is not set. Partition \"sa6-legacy/legacy\" has the default challenge."
        }
        ("ccc.migrate-service", "password-6x-not-through-lunash") => {
            "migrates only if the source service/partition is originally created and roles are initialized through LUSH"
        }
        ("ccc.migrate-service", "copy-failed") => COPY_FAILED,
        _ => "-> 4",
    }
}

/// A scenario in progress: the run, its lab and its negative case.
pub struct Scenario<'r, 'a> {
    pub run: &'r mut Run<'a>,
    pub ccc: CccLab,
    pub negative: Option<String>,
    pub variant: String,
}

/// What the lab of a scenario of `procedure` needs.
pub fn edits(procedure: &str, variant: &str, negative: Option<&str>) -> Edits {
    let mut extra = TEMPLATES.to_string();
    let mut edits = Edits::default();
    match (procedure, variant, negative) {
        ("ccc.migrate-service", ..) => {
            extra.push_str(
                r#"
[[ccc.template]]
name = "ppso-password-6"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000

[[ccc.template]]
name = "standalone-77"
service_type = "hsm-partition"
authentication = "password"
partition_size = 100000
"#,
            );
            let m = migration(variant, negative);
            edits.ped = m.ped;
            extra.push_str(&match m.source {
                "web" => managed(
                    "web",
                    "ha-password-7",
                    &["sa7-a/web1", "sa7-b/web2"],
                    Some("web-ha"),
                ),
                "vault" => managed("vault", "standalone-77", &["sa7-c/vault"], None),
                "legacy-pki" => managed("legacy-pki", "standalone-6", &["sa6-legacy/legacy"], None),
                _ => managed("payments", "ppso-password-6", &["sa6-ppso/payments"], None),
            });
            match negative {
                Some("fm-mismatch") => edits.fm_enabled = vec!["sa7-a"],
                Some("too-few-licences") => edits.licences = Some(2),
                // sa7-c cannot clone: its HSM policy 7 off, and so its partitions' cloning
                // policies (never looser than the HSM's).
                Some("copy-failed") => {
                    edits.hsm_policies = vec![("sa7-c", 7, 0)];
                    edits.partition_policies = ["sa7-c/vault", "sa7-c/admin"]
                        .into_iter()
                        .flat_map(|p| [(p, 0, None), (p, 4, None)])
                        .collect();
                }
                // legacy's activation off (partition policy 22): its owner's PED logins do not
                // activate it.
                Some("non-ppso-ped-not-activated") => {
                    edits.partition_policies = vec![("sa6-legacy/legacy", 22, Some(0))];
                }
                _ => {}
            }
        }
        ("ccc.service.create", "standalone-ped-ppso-7", None) => edits.ped = true,
        // sa6-ppso without the Per-Partition SO capability (6.24.2, HSM policy 41 off).
        ("ccc.service.create", _, Some("activate-non-ppso-ped")) => {
            edits.ped = true;
            edits.hsm_policies = vec![("sa6-ppso", 41, 0)];
        }
        ("ccc.service.create", _, Some("ppso-without-capability")) => {
            edits.hsm_policies = vec![("sa6-ppso", 41, 0)];
        }
        ("ccc.service.import", "stc-ppso-reduced", None) => {
            edits.partition_policies = vec![("sa6-ppso/payments", 37, Some(1))];
        }
        ("ccc.service.import", _, Some("over-licence")) => edits.licences = Some(1),
        _ => {}
    }
    edits.extra = extra;
    edits
}

impl Scenario<'_, '_> {
    fn negative(&self) -> Option<&str> {
        self.negative.as_deref()
    }

    fn step(
        &mut self,
        n: u32,
        f: impl FnOnce(&CccLab) -> Result<String, Stop>,
    ) -> Result<(), Stop> {
        let ccc = &self.ccc;
        self.run.step_noted(n, || f(ccc).map(|note| ((), note)))
    }

    fn precondition(
        &mut self,
        what: &str,
        f: impl FnOnce(&CccLab) -> Result<String, Stop>,
    ) -> Result<(), Stop> {
        let ccc = &self.ccc;
        self.run
            .precondition_noted(what, || f(ccc).map(|note| ((), note)))
    }

    fn check(
        &mut self,
        what: &str,
        f: impl FnOnce(&CccLab) -> Result<String, Stop>,
    ) -> Result<(), Stop> {
        let ccc = &self.ccc;
        self.run.check(what, || f(ccc))
    }

    /// Documented step `n`: one call that must succeed.
    fn call_step(
        &mut self,
        n: u32,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(), Stop> {
        self.step(n, |ccc| ccc.call_ok(method, path, body))
    }

    fn login(&mut self) -> Result<(), Stop> {
        let ccc = &mut self.ccc;
        self.run
            .step_noted(1, || ccc.login().map(|note| ((), note)))
    }

    /// Step `n`, which the negative case must see refused: CCC's view taken before, the
    /// refusal checked (4xx with the expected sentence), the view compared after.
    fn refused(&mut self, n: u32, method: &str, path: &str, body: Value) -> Result<(), Stop> {
        let procedure = self.run.procedure.id.clone();
        let negative = self.negative.clone().unwrap_or_default();
        let before = self.ccc.snapshot()?;
        let ccc = &self.ccc;
        let body = (!body.is_null()).then_some(body);
        let mut status = 0;
        self.run
            .refused_step_with(n, expected_refusal(&procedure, &negative), || {
                let refusal = ccc.refused(method, path, body);
                if let Err(Stop::Fail { detail, .. }) = &refusal {
                    status = detail
                        .split(" -> ")
                        .nth(1)
                        .and_then(|rest| rest.split(':').next())
                        .and_then(|code| code.parse().ok())
                        .unwrap_or(0);
                }
                refusal
            })?;
        // An unknown service is answered 404; CCC's rules refuse with 409 Conflict.
        let want = if negative == "unknown-service" {
            404
        } else {
            409
        };
        self.check(&format!("CCC answered HTTP {want} with its reason"), |_| {
            if status == want {
                Ok(format!("HTTP {status}"))
            } else {
                Err(Stop::fail(format!("HTTP {status}, expected {want}")))
            }
        })?;
        self.check(
            "nothing changed: CCC's services, partitions, devices, import table and migrations as before the refused step",
            |ccc| {
                let after = ccc.snapshot()?;
                if after == before {
                    let count = |k: &str| after[k].as_array().map_or(0, Vec::len);
                    Ok(format!(
                        "the same {} services, {} partitions, {} devices, {} migrations; the import table {}",
                        count("services"),
                        count("partitions"),
                        count("devices"),
                        count("migrations"),
                        if after["import"].is_null() { "absent" } else { "the same" }
                    ))
                } else {
                    Err(Stop::fail(format!("CCC's view changed: before {before}, after {after}")))
                }
            },
        )
    }

    /// Creates and initialises service `name` over the API (a precondition of the procedures
    /// that start from a service CCC manages).
    fn service_made(
        &mut self,
        name: &str,
        template: &str,
        partitions: &[&str],
    ) -> Result<(), Stop> {
        let devices: Vec<&str> = partitions
            .iter()
            .filter_map(|p| p.split('/').next())
            .collect();
        let what = format!(
            "the service \"{name}\" ({template}) on {} created and initialised by CCC",
            partitions.join(" + ")
        );
        let (name, template) = (name.to_string(), template.to_string());
        let partitions: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
        self.precondition(&what, |ccc| {
            let mut notes = vec![ccc.authorise(&devices)?];
            ccc.ok(
                &mut notes,
                "POST",
                "/services",
                Some(json!({ "name": name, "template": template, "organisation": "acme", "partitions": partitions })),
            )?;
            ccc.ok(
                &mut notes,
                "POST",
                &format!("/services/{name}/initialise"),
                Some(initialisation(&name)),
            )?;
            Ok(notes.join("\n"))
        })
    }

    /// Every one of `partitions` answers `co` through PKCS#11 (or none does, `answers` false).
    fn co_login(&mut self, partitions: &[&str], co: &str, answers: bool) -> Result<(), Stop> {
        let what = if answers {
            format!(
                "the Crypto Officer logs in on {} through PKCS#11",
                partitions.join(", ")
            )
        } else {
            format!(
                "the Crypto Officer can no longer log in on {}",
                partitions.join(", ")
            )
        };
        self.check(&what, |ccc| {
            let mut notes = Vec::new();
            for p in partitions {
                match (ccc.inventory(p, co), answers) {
                    (Ok(objects), true) => notes.push(format!(
                        "{p} (slot {}): C_Login(CKU_USER) CKR_OK, {} objects",
                        super::lab::slot(p)?,
                        objects.len()
                    )),
                    (Err(Stop::Fail { detail, .. }), false) => notes.push(format!("{p}: {detail}")),
                    (Ok(objects), false) => {
                        return Err(Stop::fail(format!(
                            "{p}: the Crypto Officer still logs in and sees {} objects",
                            objects.len()
                        )));
                    }
                    (Err(e), _) => return Err(e),
                }
            }
            Ok(notes.join("; "))
        })
    }

    /// The service as CCC shows it.
    fn service_shown(&mut self, name: &str, partitions: &[&str]) -> Result<(), Stop> {
        let want: Vec<String> = partitions.iter().map(|p| p.to_string()).collect();
        self.check(
            &format!(
                "CCC lists \"{name}\" on {}, initialised",
                partitions.join(" + ")
            ),
            |ccc| {
                let mut notes = Vec::new();
                let view = ccc.ok(&mut notes, "GET", &format!("/services/{name}"), None)?;
                if view["partitions"] != json!(want) || view["status"]["initialised"] != json!(true)
                {
                    return Err(Stop::fail(format!(
                        "expected {want:?}, initialised: {}",
                        notes.join("\n")
                    )));
                }
                Ok(notes.join("\n"))
            },
        )
    }
}

/// The Initialize body of a service the scenario creates.
fn initialisation(name: &str) -> Value {
    json!({
        "partition_label": name,
        "cloning_domain": DOMAIN,
        "partition_so_password": NEW_PO,
        "crypto_officer_password": NEW_CO,
    })
}

/// `ccc.service.create`.
pub fn create(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    let (template, partitions): (&str, Vec<&str>) = match (s.variant.as_str(), negative.as_deref())
    {
        (_, Some("ha-one-device")) => ("ha-password-7", vec!["sa7-a/svc1", "sa7-a/svc2"]),
        (_, Some("sks-before-77")) => ("sks-7", vec!["sa7-a/svc1"]),
        (_, Some("ppso-without-capability")) => ("standalone-6-ppso", vec!["sa6-ppso/spare"]),
        (_, Some("non-ppso-on-7x")) => ("standalone-6", vec!["sa7-a/svc1"]),
        (_, Some("stc-on-77")) => ("stc-6", vec!["sa7-c/svc1"]),
        ("standalone-password-7", _) => ("standalone-7", vec!["sa7-a/svc2"]),
        ("standalone-password-6-ppso", _) => ("standalone-6-ppso", vec!["sa6-ppso/spare"]),
        (_, Some("activate-non-ppso-ped")) => ("standalone-6", vec!["sa6-ppso/spare"]),
        ("standalone-ped-ppso-7", _) => ("standalone-7", vec!["sa7-a/svc2"]),
        _ => ("ha-password-7", vec!["sa7-a/svc1", "sa7-b/svc1"]),
    };
    let name = if negative.as_deref() == Some("name-too-long") {
        "x".repeat(29)
    } else {
        "new-service".to_string()
    };
    let mut devices: Vec<&str> = partitions
        .iter()
        .filter_map(|p| p.split('/').next())
        .collect();
    devices.dedup();
    s.login()?;
    s.step(2, |ccc| ccc.authorise(&devices))?;
    let create = json!({ "name": name, "template": template, "organisation": "acme", "partitions": partitions });
    if matches!(
        negative.as_deref(),
        Some(
            "name-too-long"
                | "ha-one-device"
                | "sks-before-77"
                | "ppso-without-capability"
                | "non-ppso-on-7x"
                | "stc-on-77"
        )
    ) {
        return s.refused(3, "POST", "/services", create);
    }
    s.call_step(3, "POST", "/services", Some(create))?;
    let path = format!("/services/{name}/initialise");
    if negative.as_deref() == Some("password-too-short") {
        let mut body = initialisation(&name);
        body["crypto_officer_password"] = json!("CO-2026");
        s.refused(4, "POST", &path, body)?;
        return s.co_login(&partitions, "CO-2026", false);
    }
    let mut body = initialisation(&name);
    let ped = s.ccc.ped;
    if ped {
        // PED: the PED keys carry the cloning domain; the passwords are the roles' challenge
        // passwords; a non-PPSO service has no Partition SO.
        body["cloning_domain"] = json!("");
        if template == "standalone-6" {
            body.as_object_mut()
                .map(|b| b.remove("partition_so_password"));
        }
    }
    s.call_step(4, "POST", &path, Some(body))?;
    let activate = format!("/services/{name}/activate");
    let activation = json!({ "crypto_officer_password": NEW_CO });
    if negative.as_deref() == Some("activate-non-ppso-ped") {
        return s.refused(5, "POST", &activate, activation);
    }
    if ped {
        s.call_step(5, "POST", &activate, Some(activation))?;
        s.service_shown(&name, &partitions)?;
        // The activated Crypto Officer logs in with its challenge password alone.
        return s.co_login(&partitions, NEW_CO, true);
    }
    // A password service: CCC activates the roles of PED services only, and says so; a
    // password service's roles are usable once initialised.
    s.step(5, |ccc| {
        let exchange = ccc.call(
            "POST",
            &activate,
            Some(json!({ "crypto_officer_password": NEW_CO })),
        )?;
        if exchange.status == 409 && exchange.line.contains("applies only to PED-based services") {
            Ok(format!(
                "{}\n(a password service: nothing to activate, as CCC answers)",
                exchange.line
            ))
        } else {
            Err(Stop::fail(format!(
                "expected CCC's answer that activation applies to PED services only: {}",
                exchange.line
            )))
        }
    })?;
    s.service_shown(&name, &partitions)?;
    s.co_login(&partitions, NEW_CO, true)?;
    if let [first, others @ ..] = partitions.as_slice()
        && !others.is_empty()
    {
        let tag = s.run.tag.clone();
        s.precondition(
            "objects made on the first member, for the domain check",
            |ccc| ccc.provision(first, NEW_CO, &tag),
        )?;
        let sync = format!("/services/{name}/synchronise");
        s.check(
            "the members share the cloning domain: the first member's objects synchronised to the others, proven the same by use",
            |ccc| {
                let mut notes = Vec::new();
                ccc.ok(&mut notes, "POST", &sync, Some(json!({ "crypto_officer_password": NEW_CO })))?;
                for other in others {
                    notes.push(ccc.prove((*first, NEW_CO), (*other, NEW_CO), &tag)?);
                }
                Ok(notes.join("\n"))
            },
        )?;
    }
    Ok(())
}

/// `ccc.service.import`.
pub fn import(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    let tag = s.run.tag.clone();
    s.precondition(
        "objects on the unmanaged partition sa6-ppso/payments",
        |ccc| ccc.provision("sa6-ppso/payments", "CO-payments-2021", &tag),
    )?;
    let before = s.ccc.inventory("sa6-ppso/payments", "CO-payments-2021")?;
    s.login()?;
    s.step(2, |ccc| {
        ccc.authorise(&["sa6-legacy", "sa6-ppso", "sa7-a", "sa7-b", "sa7-c"])
    })?;
    let mut rows: Vec<String> = Vec::new();
    s.step(3, |ccc| {
        let mut notes = Vec::new();
        let table = ccc.ok(&mut notes, "POST", "/import/discover", None)?;
        rows = table["rows"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|r| r["partition"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for want in ["sa6-ppso/payments", "sa7-a/web1", "sa7-b/web2"] {
            if !rows.iter().any(|r| r == want) {
                return Err(Stop::fail(format!(
                    "{want} was not discovered:\n{}",
                    notes.join("\n")
                )));
            }
        }
        Ok(notes.join("\n"))
    })?;
    if negative.as_deref() == Some("name-too-long") {
        return s.refused(
            4,
            "PATCH",
            "/import/rows/sa6-ppso/payments",
            json!({ "service_name": "p".repeat(29), "organisation": "acme" }),
        );
    }
    s.step(4, |ccc| {
        let mut notes = Vec::new();
        // The HA group's rows carry the group's actual label (CCC shows a default one).
        for (row, edit) in [
            (
                "sa6-ppso/payments",
                json!({ "service_name": "payments", "organisation": "acme" }),
            ),
            (
                "sa7-a/web1",
                json!({ "ha_group": "web-ha", "service_name": "web", "organisation": "acme" }),
            ),
            (
                "sa7-b/web2",
                json!({ "ha_group": "web-ha", "service_name": "web", "organisation": "acme" }),
            ),
        ] {
            ccc.ok(
                &mut notes,
                "PATCH",
                &format!("/import/rows/{row}"),
                Some(edit),
            )?;
        }
        for row in rows
            .iter()
            .filter(|r| !["sa6-ppso/payments", "sa7-a/web1", "sa7-b/web2"].contains(&r.as_str()))
        {
            ccc.ok(&mut notes, "DELETE", &format!("/import/rows/{row}"), None)?;
        }
        Ok(notes.join("\n"))
    })?;
    if negative.as_deref() == Some("over-licence") {
        return s.refused(5, "POST", "/import/finish", Value::Null);
    }
    s.call_step(5, "POST", "/import/finish", None)?;
    s.check(
        "CCC lists the imported services: payments, and the HA group web-ha as one service",
        |ccc| {
            let mut notes = Vec::new();
            let services = ccc.ok(&mut notes, "GET", "/services", None)?;
            let find = |name: &str| {
                services
                    .as_array()
                    .and_then(|l| l.iter().find(|s| s["name"] == json!(name)))
                    .map(|s| s["partitions"].clone())
            };
            if find("payments") != Some(json!(["sa6-ppso/payments"])) {
                return Err(Stop::fail(format!(
                    "payments not imported as expected:\n{}",
                    notes.join("\n")
                )));
            }
            let web = find("web")
                .ok_or_else(|| Stop::fail(format!("no service web:\n{}", notes.join("\n"))))?;
            let mut members: Vec<String> = web
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            members.sort();
            if members != ["sa7-a/web1", "sa7-b/web2"] {
                return Err(Stop::fail(format!("web's partitions: {members:?}")));
            }
            Ok(notes.join("\n"))
        },
    )?;
    s.check("the imported partitions are untouched: payments holds the same objects for the same Crypto Officer", |ccc| {
        let after = ccc.inventory("sa6-ppso/payments", "CO-payments-2021")?;
        if after == before {
            Ok(format!("{} objects, the same labels, classes, attributes and OUIDs", after.len()))
        } else {
            Err(Stop::fail(format!("payments changed: before {before:?}, after {after:?}")))
        }
    })?;
    if s.variant == "stc-ppso-reduced" {
        s.check(
            "payments, whose partition has Secure Trusted Channel (partition policy 37) and a Per-Partition SO, is imported with reduced functionality: a resize refused with CCC's reason, its description still edited",
            |ccc| {
                let mut notes = Vec::new();
                let view = ccc.ok(&mut notes, "GET", "/services/payments", None)?;
                if view["status"]["reduced"] != json!(true) {
                    return Err(Stop::fail(format!("payments is not reduced:\n{}", notes.join("\n"))));
                }
                let resize = ccc.call("PUT", "/services/payments/size", Some(json!({ "size": 200000 })))?;
                notes.push(resize.line.clone());
                if resize.status != 409 || !resize.line.contains("Secure Trusted Channel") {
                    return Err(Stop::fail(format!("expected the reduced service's refusal:\n{}", notes.join("\n"))));
                }
                ccc.ok(&mut notes, "PATCH", "/services/payments", Some(json!({ "description": "imported with STC" })))?;
                Ok(notes.join("\n"))
            },
        )?;
    }
    s.co_login(&["sa7-a/web1", "sa7-b/web2"], "CO-web-2023", true)
}

/// `ccc.service.add-partition`.
pub fn add_partition(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    s.login()?;
    s.service_made("solo", "standalone-7", &["sa7-a/svc2"])?;
    let tag = s.run.tag.clone();
    s.precondition("objects on solo's partition", |ccc| {
        ccc.provision("sa7-a/svc2", NEW_CO, &tag)
    })?;
    s.precondition(
        "the device of the new partition, sa7-b, added to CCC and authorised",
        |ccc| ccc.authorise(&["sa7-b"]),
    )?;
    if negative.as_deref() == Some("same-device") {
        return s.refused(
            2,
            "POST",
            "/services/solo/partitions",
            json!({ "partition": "sa7-a/svc1" }),
        );
    }
    s.call_step(
        2,
        "POST",
        "/services/solo/partitions",
        Some(json!({ "partition": "sa7-b/svc2" })),
    )?;
    if negative.as_deref() == Some("password-too-short") {
        s.refused(
            3,
            "POST",
            "/services/solo/partitions/initialise",
            json!({ "cloning_domain": DOMAIN, "crypto_officer_password": "CO-2026" }),
        )?;
        return s.co_login(&["sa7-b/svc2"], "CO-2026", false);
    }
    s.call_step(
        3,
        "POST",
        "/services/solo/partitions/initialise",
        Some(json!({ "cloning_domain": DOMAIN, "crypto_officer_password": NEW_CO })),
    )?;
    s.call_step(
        4,
        "POST",
        "/services/solo/synchronise",
        Some(json!({ "crypto_officer_password": NEW_CO })),
    )?;
    s.service_shown("solo", &["sa7-a/svc2", "sa7-b/svc2"])?;
    s.co_login(&["sa7-b/svc2"], NEW_CO, true)?;
    s.check(
        "the new member holds the service's objects, proven the same by use",
        |ccc| {
            let (a, b) = (
                ccc.inventory("sa7-a/svc2", NEW_CO)?,
                ccc.inventory("sa7-b/svc2", NEW_CO)?,
            );
            let labels = |l: &[crate::procedures::luna::worker::ObjectInfo]| {
                let mut v: Vec<(String, String)> = l
                    .iter()
                    .map(|o| (o.label.clone(), o.class.clone()))
                    .collect();
                v.sort();
                v
            };
            if labels(&a) != labels(&b) {
                return Err(Stop::fail(format!(
                    "the members differ: {:?} and {:?}",
                    labels(&a),
                    labels(&b)
                )));
            }
            Ok(format!(
                "{} objects on each; {}",
                a.len(),
                ccc.prove(("sa7-a/svc2", NEW_CO), ("sa7-b/svc2", NEW_CO), &tag)?
            ))
        },
    )
}

/// `ccc.service.remove-partition`.
pub fn remove_partition(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    s.login()?;
    match negative.as_deref() {
        Some("standalone") => {
            s.service_made("solo", "standalone-7", &["sa7-a/svc2"])?;
            s.refused(
                2,
                "DELETE",
                "/services/solo/partitions/sa7-a/svc2",
                Value::Null,
            )?;
            s.co_login(&["sa7-a/svc2"], NEW_CO, true)
        }
        Some(_) => {
            s.service_made("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"])?;
            s.precondition(
                "sa7-b/svc1 removed from web first: one partition left",
                |ccc| {
                    let mut notes = Vec::new();
                    ccc.ok(
                        &mut notes,
                        "DELETE",
                        "/services/web/partitions/sa7-b/svc1",
                        None,
                    )?;
                    Ok(notes.join("\n"))
                },
            )?;
            s.refused(
                2,
                "DELETE",
                "/services/web/partitions/sa7-a/svc1",
                Value::Null,
            )?;
            s.co_login(&["sa7-a/svc1"], NEW_CO, true)
        }
        None => {
            s.service_made("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"])?;
            s.call_step(2, "DELETE", "/services/web/partitions/sa7-b/svc1", None)?;
            s.service_shown("web", &["sa7-a/svc1"])?;
            s.co_login(&["sa7-a/svc1"], NEW_CO, true)?;
            s.co_login(&["sa7-b/svc1"], NEW_CO, false)
        }
    }
}

/// `ccc.service.resize`.
pub fn resize(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    s.login()?;
    s.service_made("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"])?;
    let size = match (negative.as_deref(), s.variant.as_str()) {
        (Some("below-range"), _) => json!(999),
        (Some("above-range"), _) => json!(100_000_000),
        (Some("not-a-number"), _) => json!("12ab"),
        (Some("above-free-memory"), _) => json!(99_999_999),
        (_, "shrink") => json!(1000),
        _ => json!(150_000),
    };
    if negative.as_deref() == Some("device-offline") {
        s.precondition("sa7-b taken offline in CCC", |ccc| {
            ccc.call_ok(
                "PUT",
                "/devices/sa7-b/offline",
                Some(json!({ "offline": true })),
            )
        })?;
    }
    if negative.is_some() {
        s.refused(2, "PUT", "/services/web/size", json!({ "size": size }))?;
        return s.check("the size is still the template's (rolled back)", |ccc| {
            let mut notes = Vec::new();
            let view = ccc.ok(&mut notes, "GET", "/services/web", None)?;
            match view["status"]["partition_size"] {
                Value::Null => Ok(format!(
                    "status.partition_size unset: the template's 100000 bytes\n{}",
                    notes.join("\n")
                )),
                ref other => Err(Stop::fail(format!("the size is now {other}"))),
            }
        });
    }
    s.call_step(
        2,
        "PUT",
        "/services/web/size",
        Some(json!({ "size": size })),
    )?;
    s.check(&format!("CCC shows the new size, {size} bytes"), |ccc| {
        let mut notes = Vec::new();
        let view = ccc.ok(&mut notes, "GET", "/services/web", None)?;
        if view["status"]["partition_size"] == size {
            Ok(notes.join("\n"))
        } else {
            Err(Stop::fail(format!(
                "expected {size}:\n{}",
                notes.join("\n")
            )))
        }
    })?;
    s.co_login(&["sa7-a/svc1", "sa7-b/svc1"], NEW_CO, true)
}

/// `ccc.service.detach-delete`.
pub fn detach_delete(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    s.login()?;
    if negative.is_some() {
        return s.refused(2, "POST", "/services/no-such-service/detach", Value::Null);
    }
    s.service_made("web", "ha-password-7", &["sa7-a/svc1", "sa7-b/svc1"])?;
    let tag = s.run.tag.clone();
    s.precondition(
        "objects on web's first partition, synchronised to the second",
        |ccc| {
            let made = ccc.provision("sa7-a/svc1", NEW_CO, &tag)?;
            let mut notes = vec![made];
            ccc.ok(
                &mut notes,
                "POST",
                "/services/web/synchronise",
                Some(json!({ "crypto_officer_password": NEW_CO })),
            )?;
            Ok(notes.join("\n"))
        },
    )?;
    let before = [
        s.ccc.inventory("sa7-a/svc1", NEW_CO)?,
        s.ccc.inventory("sa7-b/svc1", NEW_CO)?,
    ];
    let detach = s.variant == "detach";
    s.step(2, |ccc| {
        let mut notes = Vec::new();
        if detach {
            ccc.ok(&mut notes, "POST", "/services/web/detach", None)?;
        } else {
            ccc.ok(&mut notes, "DELETE", "/services/web", None)?;
        }
        Ok(notes.join("\n"))
    })?;
    s.check("CCC no longer lists the service", |ccc| {
        let exchange = ccc.call("GET", "/services/web", None)?;
        if exchange.status == 404 {
            Ok(exchange.line)
        } else {
            Err(Stop::fail(exchange.line))
        }
    })?;
    if detach {
        s.check(
            "both partitions keep their objects and their Crypto Officer",
            |ccc| {
                let after = [
                    ccc.inventory("sa7-a/svc1", NEW_CO)?,
                    ccc.inventory("sa7-b/svc1", NEW_CO)?,
                ];
                if after == before {
                    Ok(format!(
                        "sa7-a/svc1: {} objects, sa7-b/svc1: {} objects, as before",
                        after[0].len(),
                        after[1].len()
                    ))
                } else {
                    Err(Stop::fail(format!(
                        "the partitions changed: before {before:?}, after {after:?}"
                    )))
                }
            },
        )
    } else {
        s.co_login(&["sa7-a/svc1", "sa7-b/svc1"], NEW_CO, false)
    }
}

/// A Migrate Service scenario's choices.
pub struct Migration {
    pub source: &'static str,
    /// The source's first partition, its label, and its Crypto Officer / Partition SO
    /// challenges (password devices: their passwords; PED: the Crypto Officer's challenge
    /// secret, the Partition SO's unused).
    pub first: &'static str,
    pub label: &'static str,
    pub co: &'static str,
    pub po: &'static str,
    pub targets: Vec<&'static str>,
    pub name: String,
    /// On the fixture's PED variant.
    pub ped: bool,
    /// A PED source's Crypto Officer activated before the migration: with its challenge
    /// (`Some`) or the default one (`None`), by LunaSH's HSM SO (pre-PPSO) or LunaCM's
    /// Partition SO (PPSO, `true`).
    pub activation: Option<(Option<&'static str>, bool)>,
}

impl Migration {
    /// The credential that reads the source: its Crypto Officer's password, or on PED the
    /// lab's black key (an empty credential: the PED keys are presented).
    fn source_login(&self) -> &'static str {
        if self.ped { "" } else { self.co }
    }
}

/// The migration of a variant or negative case.
pub fn migration(variant: &str, negative: Option<&str>) -> Migration {
    let payments = Migration {
        source: "payments",
        first: "sa6-ppso/payments",
        label: "payments",
        co: "CO-payments-2021",
        po: "PO-payments-2021",
        targets: vec!["sa7-a/svc1", "sa7-b/svc1"],
        name: "payments-7".into(),
        ped: false,
        activation: None,
    };
    let legacy = Migration {
        source: "legacy-pki",
        first: "sa6-legacy/legacy",
        label: "legacy-pki",
        co: "legacy-chal-1",
        po: "",
        targets: vec!["sa7-c/svc1"],
        name: "legacy-pki-7".into(),
        ped: true,
        activation: Some((Some("legacy-chal-1"), false)),
    };
    match (negative, variant) {
        (Some("77-source-to-74-target"), _) => Migration {
            source: "vault",
            first: "sa7-c/vault",
            label: "vault-sks",
            co: "CO-vault-2025",
            po: "PO-vault-2025",
            targets: vec!["sa7-a/svc1"],
            name: "vault-74".into(),
            ..payments
        },
        (Some("outside-matrix"), _) => Migration {
            targets: vec!["sa6-ppso/spare"],
            ..payments
        },
        (Some("name-too-long"), _) => Migration {
            name: "m".repeat(29),
            ..payments
        },
        (Some("non-ppso-ped-not-activated"), _) => Migration {
            activation: None,
            ..legacy
        },
        (Some("non-ppso-ped-default-challenge"), _) => Migration {
            activation: Some((None, false)),
            ..legacy
        },
        (Some("password-6x-not-through-lunash"), _) => Migration {
            source: "spare-6",
            first: "sa6-ppso/spare",
            label: "spare-6",
            co: NEW_CO,
            po: NEW_PO,
            targets: vec!["sa7-a/svc1"],
            name: "spare-6-7".into(),
            ..payments
        },
        (Some("copy-failed"), _) => Migration {
            targets: vec!["sa7-a/svc1", "sa7-c/svc1"],
            ..payments
        },
        (None, "7x-password-to-7x-password") => Migration {
            source: "web",
            first: "sa7-a/web1",
            label: "web-ha-1",
            co: "CO-web-2023",
            po: "PO-web-2023",
            targets: vec!["sa7-c/svc1"],
            name: "web-77".into(),
            ..payments
        },
        (None, "6x-ppso-ped-to-7x-ped") => Migration {
            co: "payments-chal-1",
            po: "",
            ped: true,
            activation: Some((Some("payments-chal-1"), true)),
            ..payments
        },
        (None, "6x-non-ppso-ped-to-7x-ped") => legacy,
        (None, "7x-ped-to-6x-ppso-ped") => Migration {
            source: "web",
            first: "sa7-a/web1",
            label: "web-ha-1",
            co: "web-chal-1",
            po: "",
            targets: vec!["sa6-ppso/spare"],
            name: "web-6".into(),
            ped: true,
            activation: Some((Some("web-chal-1"), true)),
        },
        _ => payments,
    }
}

/// `ccc.migrate-service`.
pub fn migrate(s: &mut Scenario) -> Result<(), Stop> {
    let negative = s.negative().map(str::to_string);
    let m = migration(&s.variant, negative.as_deref());
    let tag = s.run.tag.clone();
    let made_by_ccc = m.source == "spare-6";
    if made_by_ccc {
        // A 6.x PPSO password service CCC created and initialised itself.
        s.login()?;
        s.service_made("spare-6", "standalone-6-ppso", &["sa6-ppso/spare"])?;
    }
    s.precondition(
        &format!("objects on the source service {} ({})", m.source, m.first),
        |ccc| ccc.provision(m.first, m.source_login(), &tag),
    )?;
    if let Some((challenge, ppso)) = m.activation {
        let what = match (challenge, ppso) {
            (Some(_), true) => format!(
                "the Crypto Officer of {} activated with its challenge secret: the Partition SO's `role createchallenge` in LunaCM, then the Crypto Officer's PED login (policy 22 on)",
                m.first
            ),
            (Some(_), false) => format!(
                "the partition owner of {} (pre-PPSO) given its challenge secret and activated by the HSM SO in LunaSH (`partition createchallenge`, `partition activate`)",
                m.first
            ),
            (None, _) => format!(
                "the partition owner of {} activated by the HSM SO in LunaSH (`partition activate`) with no challenge created: the default challenge",
                m.first
            ),
        };
        s.precondition(&what, |ccc| ccc.activate(m.first, m.label, challenge, ppso))?;
    }
    let source_before = s.ccc.inventory(m.first, m.source_login())?;
    if !made_by_ccc {
        s.login()?;
    }
    let mut devices: Vec<&str> = m
        .targets
        .iter()
        .filter_map(|p| p.split('/').next())
        .collect();
    devices.dedup();
    s.step(2, |ccc| ccc.authorise(&devices))?;
    s.step(3, |ccc| {
        let mut notes = Vec::new();
        let names = ccc.ok(&mut notes, "GET", "/migratable-services", None)?;
        if names
            .as_array()
            .is_some_and(|l| l.contains(&json!(m.source)))
        {
            Ok(notes.join("\n"))
        } else {
            Err(Stop::fail(format!(
                "{} is not offered:\n{}",
                m.source,
                notes.join("\n")
            )))
        }
    })?;
    // PED devices: no cloning domain and no Security Officer challenge (the PED keys carry
    // them), the Crypto Officer's challenge.
    let request = if m.ped {
        json!({
            "source_service": m.source,
            "name": m.name,
            "organisation": "acme",
            "partition_size": 100000,
            "targets": m.targets,
            "partition_label": m.name,
            "crypto_officer_challenge": m.co,
        })
    } else {
        json!({
            "source_service": m.source,
            "name": m.name,
            "organisation": "acme",
            "partition_size": 100000,
            "targets": m.targets,
            "partition_label": m.name,
            "cloning_domain": DOMAIN,
            "security_officer_challenge": m.po,
            "crypto_officer_challenge": m.co,
        })
    };
    if negative.is_some() && negative.as_deref() != Some("copy-failed") {
        s.refused(4, "POST", "/migrations/check", request)?;
        return s.check("the source is unchanged", |ccc| {
            unchanged(ccc, &m, &source_before)
        });
    }
    let summary = request.clone();
    s.call_step(4, "POST", "/migrations/check", Some(summary))?;
    let mut id = Value::Null;
    s.step(5, |ccc| {
        let mut notes = Vec::new();
        let started = ccc.ok(&mut notes, "POST", "/migrations", Some(request))?;
        id = started["id"].clone();
        Ok(notes.join("\n"))
    })?;
    if negative.as_deref() == Some("copy-failed") {
        return copy_failed_and_repaired(s, &m, &id, &source_before);
    }
    s.step(6, |ccc| {
        let (record, notes) = ccc.finished(&id)?;
        if record["state"] == json!("succeeded") {
            Ok(format!(
                "{}\nthe migration ended \"succeeded\"",
                notes.join("\n")
            ))
        } else {
            Err(Stop::fail(format!(
                "the migration ended {}:\n{}",
                record["state"],
                notes.join("\n")
            )))
        }
    })?;
    s.service_shown(&m.name, &m.targets)?;
    let what = if m.ped {
        "each target partition holds the source's objects and its Crypto Officer, activated by CCC, logs in with the source's challenge secret; every key proven the same by use"
    } else {
        "each target partition holds the source's objects, every key proven the same by use with the source's credential"
    };
    s.check(what, |ccc| {
        let mut notes = Vec::new();
        for target in &m.targets {
            notes.push(same_objects(ccc, &source_before, target, m.co)?);
            notes.push(ccc.prove((m.first, m.source_login()), (*target, m.co), &tag)?);
        }
        Ok(notes.join("\n"))
    })?;
    s.check("the source is unchanged", |ccc| {
        unchanged(ccc, &m, &source_before)
    })
}

/// `target` holds the objects of `source` (labels, classes, OUIDs), read as `co`.
fn same_objects(
    ccc: &CccLab,
    source: &[crate::procedures::luna::worker::ObjectInfo],
    target: &str,
    co: &str,
) -> Result<String, Stop> {
    let copied = ccc.inventory(target, co)?;
    let want: Vec<_> = source
        .iter()
        .map(|o| (&o.label, &o.class, &o.ouid))
        .collect();
    let have: Vec<_> = copied
        .iter()
        .map(|o| (&o.label, &o.class, &o.ouid))
        .collect();
    if want.len() != have.len() || want.iter().any(|w| !have.contains(w)) {
        return Err(Stop::fail(format!(
            "{target} holds {have:?}, the source {want:?}"
        )));
    }
    Ok(format!(
        "{target}: {} objects, the same labels, classes and OUIDs",
        copied.len()
    ))
}

/// The failure case of the guide's Troubleshooting table: the copy fails on sa7-c (its HSM
/// policy 7, cloning, is off; CCC checks the source's cloning capability only), the migration
/// ends failed with CCC's message naming the device, the new service left on sa7-a/svc1; the
/// documented repair follows: the add partition functionality for the new service (sa7-b/svc1,
/// initialised with the same cloning domain and credentials), then `ccc_client` authorising
/// the service, which synchronises its partitions (refused without the Crypto Officer's
/// credential, CCC keeping none).
fn copy_failed_and_repaired(
    s: &mut Scenario,
    m: &Migration,
    id: &Value,
    source_before: &[crate::procedures::luna::worker::ObjectInfo],
) -> Result<(), Stop> {
    let ccc = &s.ccc;
    s.run.refused_step_with(6, COPY_FAILED, || {
        let (record, notes) = ccc.finished(id)?;
        if record["state"] == json!("failed") {
            Err(Stop::fail(format!(
                "{}\nthe migration ended \"failed\": {}",
                notes.join("\n"),
                record["error"].as_str().unwrap_or_default()
            )))
        } else {
            Ok(())
        }
    })?;
    s.service_shown(&m.name, &["sa7-a/svc1"])?;
    let tag = s.run.tag.clone();
    s.check(
        "sa7-a/svc1, where the copy succeeded, holds the source's objects, proven the same by use",
        |ccc| {
            Ok(format!(
                "{}\n{}",
                same_objects(ccc, source_before, "sa7-a/svc1", m.co)?,
                ccc.prove((m.first, m.co), ("sa7-a/svc1", m.co), &tag)?
            ))
        },
    )?;
    let service = format!("/services/{}", m.name);
    s.check(
        "the repair, as the guide's solution says: the add partition functionality for the new service (sa7-b/svc1, initialised with the same cloning domain and credentials), then ccc_client authorises the service (refused without the Crypto Officer's credential), which synchronises its partitions",
        |ccc| {
            let mut notes = Vec::new();
            notes.push(ccc.authorise(&["sa7-b"])?);
            ccc.ok(&mut notes, "POST", &format!("{service}/partitions"), Some(json!({ "partition": "sa7-b/svc1" })))?;
            ccc.ok(
                &mut notes,
                "POST",
                &format!("{service}/partitions/initialise"),
                Some(json!({ "cloning_domain": DOMAIN, "crypto_officer_password": m.co })),
            )?;
            let clients = format!("{service}/clients");
            let refused = ccc.call("POST", &clients, Some(json!({ "host": "app-client" })))?;
            notes.push(refused.line.clone());
            if refused.status != 409 || !refused.line.contains("synchroni") {
                return Err(Stop::fail(format!(
                    "expected a refusal naming the synchronisation:\n{}",
                    notes.join("\n")
                )));
            }
            ccc.ok(
                &mut notes,
                "POST",
                &clients,
                Some(json!({ "host": "app-client", "crypto_officer_password": m.co })),
            )?;
            notes.push(same_objects(ccc, source_before, "sa7-b/svc1", m.co)?);
            notes.push(ccc.prove((m.first, m.co), ("sa7-b/svc1", m.co), &tag)?);
            Ok(notes.join("\n"))
        },
    )?;
    s.service_shown(&m.name, &["sa7-a/svc1", "sa7-b/svc1"])?;
    s.check("the source is unchanged", |ccc| {
        unchanged(ccc, m, source_before)
    })
}

/// CCC's message for a copy that failed on some devices (Migrate Service - Troubleshooting).
const COPY_FAILED: &str =
    "We ran into an error while migrating the key material to the following device(s)";

fn unchanged(
    ccc: &CccLab,
    m: &Migration,
    before: &[crate::procedures::luna::worker::ObjectInfo],
) -> Result<String, Stop> {
    let after = ccc.inventory(m.first, m.source_login())?;
    if after == before {
        Ok(format!("{}: {} objects, as before", m.first, after.len()))
    } else {
        Err(Stop::fail(format!(
            "{} changed: before {before:?}, after {after:?}",
            m.first
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_negative_case_names_ccc_refusal_and_every_procedure_has_an_executor() {
        let ccc: Vec<_> = crate::catalogue::procedures()
            .into_iter()
            .filter(|p| p.id.starts_with("ccc."))
            .collect();
        assert_eq!(ccc.len(), 7, "the seven CCC procedures of seed 004");
        for p in &ccc {
            assert!(crate::procedures::executor(&p.id).is_some(), "{}", p.id);
            assert_eq!(p.lab.as_deref(), Some("luna-ccc"), "{}", p.id);
            for n in &p.negatives {
                assert_ne!(expected_refusal(&p.id, &n.id), "-> 4", "{} {}", p.id, n.id);
            }
        }
        assert_eq!(migration("7x-password-to-7x-password", None).source, "web");
        let m = migration(
            "6x-ppso-password-to-7x-password",
            Some("77-source-to-74-target"),
        );
        assert_eq!((m.source, m.targets), ("vault", vec!["sa7-a/svc1"]));
        let fm = edits("ccc.migrate-service", "x", Some("fm-mismatch"));
        assert_eq!(fm.fm_enabled, ["sa7-a"]);
        assert!(fm.extra.contains("name = \"payments\""));
        assert_eq!(
            edits("ccc.service.import", "x", Some("over-licence")).licences,
            Some(1)
        );
    }
}
