//! A CCC scenario's own lab and server: a copy of the built-in `luna-ccc` lab in a scratch
//! directory (changed for the scenario: templates and services CCC already manages, partition
//! licences, a Functionality Module state), the Administrator's password set, the simulated
//! CCC (`hsmsim_ccc_web::start`) serving it in this process on 127.0.0.1:0, and a plain HTTP
//! client whose every exchange is written down for the report (method, path, body with its
//! secrets masked, status, CCC's answer). The partitions and their objects are read through
//! PKCS#11 by a console worker on the lab's `ccc-server` host (`luna::Host`), started afresh
//! for each look so it never reads a token the server changed since.
use crate::procedures::luna::lab::{ScenarioLab, ped_keys, table};
use crate::procedures::luna::worker::{ObjectInfo, Request};
use crate::procedures::luna::{Host, Side, objects, prove_by_use};
use crate::runner::Stop;
use hsmsim_ccc_web::{RunningServer, ServeOptions};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use toml::{Table, Value as TomlValue};

/// The lab's Administrator (`[[ccc.organisation]]` "acme") and the password the scenario sets.
pub const ADMIN: &str = "ccc-admin";
pub const ADMIN_PASSWORD: &str = "ccc-admin-pass-2026";
/// The host whose slots show every partition (the fixture's `ccc-server`, slots 0-10).
pub const CCC_HOST: &str = "ccc-server";

/// The slot of a partition on `ccc-server` (the fixture's table).
pub fn slot(partition: &str) -> Result<u64, Stop> {
    const SLOTS: [&str; 11] = [
        "sa6-legacy/legacy",
        "sa6-ppso/payments",
        "sa6-ppso/spare",
        "sa7-a/web1",
        "sa7-a/svc1",
        "sa7-a/svc2",
        "sa7-b/web2",
        "sa7-b/svc1",
        "sa7-b/svc2",
        "sa7-c/vault",
        "sa7-c/svc1",
    ];
    SLOTS
        .iter()
        .position(|p| *p == partition)
        .map(|i| i as u64)
        .ok_or_else(|| Stop::fail(format!("{partition} is on no slot of {CCC_HOST}")))
}

/// The HSM SO password CCC is authorised with on `device` (the fixture's admin partitions;
/// on the PED variant CCC is given none, the HSM SO's blue key being presented at the PED).
pub fn hsm_so_password(device: &str) -> String {
    match device {
        "sa6-legacy" => "SO-legacy-2017".into(),
        other => format!("HSM-SO-{other}"),
    }
}

/// What a scenario changes in the fixture.
#[derive(Debug, Clone, Default)]
pub struct Edits {
    /// TOML appended to the lab: `[[ccc.template]]`s and `[[ccc.service]]`s.
    pub extra: String,
    /// `[ccc] partition_licences`.
    pub licences: Option<u64>,
    /// Devices whose `[device.luna] fm` is "fm-enabled".
    pub fm_enabled: Vec<&'static str>,
    /// The fixture's PED variant (its header): every device PED-authenticated, every role and
    /// cloning domain on the lab's shared PED key files (`ped/blue.key`, `black`, `red`),
    /// activation (partition policy 22) allowed on every initialised partition, and the
    /// templates PED ones.
    pub ped: bool,
    /// HSM policies set: (device, policy, value).
    pub hsm_policies: Vec<(&'static str, u64, u64)>,
    /// Partition policies of the fixture's partitions: (device/partition, policy, the value or
    /// `None` to remove it).
    pub partition_policies: Vec<(&'static str, u64, Option<u64>)>,
}

/// One HTTP exchange with CCC.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub answer: Value,
    /// "POST /api/v1/services {...} -> 201: {...}".
    pub line: String,
}

impl Exchange {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A scenario's lab with its CCC running.
pub struct CccLab {
    pub lab: ScenarioLab,
    /// The fixture's PED variant (`Edits::ped`).
    pub ped: bool,
    server: Option<RunningServer>,
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

fn fail(e: impl std::fmt::Display) -> Stop {
    Stop::fail(format!("cannot make the scenario's lab: {e}"))
}

/// The fixture's text with `edits`.
fn lab_text(edits: &Edits) -> Result<String, Stop> {
    let text = format!(
        "{}\n{}",
        hsmsim::lab::fixtures::built_in_text("luna-ccc").map_err(fail)?,
        edits.extra
    );
    let text = if edits.ped {
        hsmsim::lab::ped_variant(&text).map_err(fail)?
    } else {
        text
    };
    let text = hsmsim::lab::with_policies(&text, &edits.hsm_policies, &edits.partition_policies)
        .map_err(fail)?;
    let mut lab: Table = text.parse().map_err(fail)?;
    if let Some(n) = edits.licences {
        table(&mut lab, "ccc").insert("partition_licences".into(), TomlValue::Integer(n as i64));
    }
    let Some(TomlValue::Array(devices)) = lab.get_mut("device") else {
        return Err(fail("the fixture has no devices"));
    };
    for device in &edits.fm_enabled {
        let luna = devices
            .iter_mut()
            .filter_map(TomlValue::as_table_mut)
            .find(|d| d.get("name").and_then(TomlValue::as_str) == Some(device))
            .map(|d| table(d, "luna"))
            .ok_or_else(|| fail(format!("the fixture has no device {device}")))?;
        luna.insert("fm".into(), "fm-enabled".into());
    }
    Ok(format!(
        "# Made by the conformance runner from the built-in lab luna-ccc for one scenario.\n{}",
        toml::to_string(&lab).map_err(fail)?
    ))
}

/// The PIN a worker logs in with: `co`, or none for an empty credential (on the PED variant
/// the lab's PED keys are then presented).
fn pin(co: &str) -> Option<String> {
    (!co.is_empty()).then(|| co.to_string())
}

/// Replaces the values of secret fields (passwords, challenges) by asterisks.
fn masked(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = k.contains("password") || k.contains("challenge");
                    (
                        k.clone(),
                        if secret { json!("********") } else { masked(v) },
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// At most `n` characters of `text`.
fn shortened(text: String, n: usize) -> String {
    if text.chars().count() <= n {
        text
    } else {
        format!("{}...", text.chars().take(n).collect::<String>())
    }
}

impl CccLab {
    /// Makes the lab, opens its store through a console worker (the partitions the lab
    /// presets are sealed there, at the scenario's low PIN cost), sets the Administrator's
    /// password and starts CCC on 127.0.0.1:0.
    pub fn start(edits: &Edits) -> Result<(CccLab, String), Stop> {
        // A scenario's lab holds nothing of value: the PIN seals the in-process CCC writes use
        // SP 800-132's minimum cost, as the workers' do (`Host::spawn`).
        hsmsim::base::secrets::seal::choose_scratch_pin_kdf_iterations(1000)
            .map_err(|e| Stop::fail(format!("cannot choose the scenario's PIN cost: {e}")))?;
        let dir = tempfile::Builder::new()
            .prefix("hsmsim-ccc-")
            .tempdir()
            .map_err(fail)?;
        let lab_file = dir.path().join("lab.toml");
        std::fs::write(&lab_file, lab_text(edits)?).map_err(fail)?;
        let ped_keys = edits
            .ped
            .then(|| ped_keys(dir.path(), &dir.path().join("ped/red.key")));
        let lab = ScenarioLab {
            dir,
            lab_file,
            ped_keys,
        };
        // The first opener of the store makes the lab's tokens: a worker, whose PIN cost is
        // the scenario's (`Host::spawn`), rather than this process.
        let mut host = Host::spawn(&lab, CCC_HOST, lab.ped_keys.as_deref(), "target")?;
        objects(
            &mut host,
            &Request::Inventory {
                slot: slot("sa6-ppso/payments")?,
                pin: (!edits.ped).then(|| "CO-payments-2021".into()),
                filter: None,
            },
        )?;
        drop(host);
        let selection = lab.selection(None)?;
        hsmsim::estate::ccc::set_ccc_user_password(&selection, ADMIN, ADMIN_PASSWORD)
            .map_err(|e| Stop::fail(format!("cannot set {ADMIN}'s password: {e}")))?;
        let server = hsmsim_ccc_web::start(
            selection,
            ServeOptions {
                listen: ([127, 0, 0, 1], 0).into(),
            },
        )
        .map_err(|e| Stop::fail(format!("cannot start CCC: {e}")))?;
        let base = format!("http://{}", server.local_addr());
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let note = format!(
            "the built-in lab luna-ccc copied to {}; CCC serving it at {base}/api/v1",
            lab.dir.path().display()
        );
        Ok((
            CccLab {
                lab,
                ped: edits.ped,
                server: Some(server),
                base,
                agent,
                token: None,
            },
            note,
        ))
    }

    /// One request under `/api/v1` with the session's token.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Exchange, Stop> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match &body {
            Some(b) => self.agent.run(
                builder
                    .header("Content-Type", "application/json")
                    .body(b.to_string())
                    .map_err(|e| Stop::fail(e.to_string()))?,
            ),
            None => self
                .agent
                .run(builder.body(()).map_err(|e| Stop::fail(e.to_string()))?),
        };
        let mut response =
            sent.map_err(|e| Stop::fail(format!("{method} /api/v1{path}: no answer: {e}")))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let answer = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        let shown_body = body.map(|b| format!(" {}", masked(&b))).unwrap_or_default();
        let shown_answer = match &answer {
            Value::Null => String::from("(no body)"),
            Value::Object(o) if o.contains_key("message") && status >= 400 => format!(
                "{} {}",
                o.get("error").and_then(Value::as_str).unwrap_or_default(),
                o.get("message").and_then(Value::as_str).unwrap_or_default()
            ),
            other => shortened(other.to_string(), 600),
        };
        Ok(Exchange {
            status,
            line: format!("{method} /api/v1{path}{shown_body} -> {status}: {shown_answer}"),
            answer,
        })
    }

    /// `call`, which must succeed (2xx); its line is added to `notes`.
    pub fn ok(
        &self,
        notes: &mut Vec<String>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Stop> {
        let exchange = self.call(method, path, body)?;
        notes.push(exchange.line.clone());
        if exchange.succeeded() {
            Ok(exchange.answer)
        } else {
            Err(Stop::fail(notes.join("\n")))
        }
    }

    /// One call that must succeed: its line.
    pub fn call_ok(&self, method: &str, path: &str, body: Option<Value>) -> Result<String, Stop> {
        let mut notes = Vec::new();
        self.ok(&mut notes, method, path, body)?;
        Ok(notes.join("\n"))
    }

    /// A call CCC must refuse: `Err` with the exchange (what `Run::refused_step_with` judges)
    /// when it answers 4xx, `Ok` when it did what it should have refused.
    pub fn refused(&self, method: &str, path: &str, body: Option<Value>) -> Result<(), Stop> {
        let exchange = self.call(method, path, body)?;
        if (400..500).contains(&exchange.status) {
            Err(Stop::fail(exchange.line))
        } else if exchange.succeeded() {
            Ok(())
        } else {
            Err(Stop::fail(format!(
                "not a refusal but a server error: {}",
                exchange.line
            )))
        }
    }

    /// Logs the Administrator in (documented step 1 of every procedure).
    pub fn login(&mut self) -> Result<String, Stop> {
        let mut notes = Vec::new();
        let answer = self.ok(
            &mut notes,
            "POST",
            "/login",
            Some(json!({ "user": ADMIN, "password": ADMIN_PASSWORD })),
        )?;
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| Stop::fail(format!("no token in CCC's answer: {answer}")))?;
        self.token = Some(token.to_string());
        Ok(notes.join("\n"))
    }

    /// Adds `devices` to CCC and authorises each with its HSM SO (those CCC already knows,
    /// through the services the lab gives it, only when not yet authorised).
    pub fn authorise(&self, devices: &[&str]) -> Result<String, Stop> {
        let mut notes = Vec::new();
        let known = self.ok(&mut notes, "GET", "/devices", None)?;
        let listed = |device: &str| {
            known
                .as_array()
                .and_then(|l| l.iter().find(|d| d["device"] == json!(device)))
                .cloned()
        };
        for device in devices {
            let shown = listed(device);
            if shown
                .as_ref()
                .is_some_and(|d| d["authorised"] == json!(true))
            {
                continue;
            }
            if shown.is_none() {
                self.ok(
                    &mut notes,
                    "POST",
                    "/devices",
                    Some(json!({ "device": device })),
                )?;
            }
            let password = if self.ped {
                String::new()
            } else {
                hsm_so_password(device)
            };
            let answer = self.ok(
                &mut notes,
                "POST",
                &format!("/devices/{device}/authorise"),
                Some(json!({ "password": password })),
            )?;
            if answer["authorised"] != json!(true) {
                return Err(Stop::fail(format!(
                    "{device} is not authorised:\n{}",
                    notes.join("\n")
                )));
            }
        }
        Ok(notes.join("\n"))
    }

    /// What CCC shows of everything a refused operation could change: services with their
    /// statuses, the lab's partitions, devices, the import table, migrations.
    pub fn snapshot(&self) -> Result<Value, Stop> {
        let mut out = serde_json::Map::new();
        for (name, path) in [
            ("services", "/services"),
            ("partitions", "/partitions"),
            ("devices", "/devices"),
            ("import", "/import"),
            ("migrations", "/migrations"),
        ] {
            let exchange = self.call("GET", path, None)?;
            if !exchange.succeeded() {
                return Err(Stop::fail(exchange.line));
            }
            out.insert(name.into(), exchange.answer);
        }
        Ok(Value::Object(out))
    }

    /// A migration's record once it no longer runs (two minutes at most).
    pub fn finished(&self, id: &Value) -> Result<(Value, Vec<String>), Stop> {
        let since = Instant::now();
        let mut polls = 0;
        loop {
            let exchange = self.call("GET", &format!("/migrations/{id}"), None)?;
            polls += 1;
            if !exchange.succeeded() {
                return Err(Stop::fail(exchange.line));
            }
            if exchange.answer["state"] != json!("running") {
                return Ok((
                    exchange.answer,
                    vec![format!("{} (after {polls} polls)", exchange.line)],
                ));
            }
            if since.elapsed() > Duration::from_secs(120) {
                return Err(Stop::fail(format!(
                    "the migration still runs after two minutes: {}",
                    exchange.line
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A console worker on `ccc-server`, started now (it reads the store as it is now).
    pub fn host(&self) -> Result<Host, Stop> {
        Host::spawn(&self.lab, CCC_HOST, self.lab.ped_keys.as_deref(), "target")
    }

    /// The realistic mix made on `partition` as its Crypto Officer, labelled `<kind>-<tag>`.
    pub fn provision(&self, partition: &str, co: &str, tag: &str) -> Result<String, Stop> {
        let made = objects(
            &mut self.host()?,
            &Request::Provision {
                slot: slot(partition)?,
                pin: pin(co),
                tag: tag.into(),
            },
        )?;
        let labels: Vec<&str> = made.iter().map(|o| o.label.as_str()).collect();
        Ok(format!(
            "made through PKCS#11 on {partition} (slot {}) as its Crypto Officer: {}",
            slot(partition)?,
            labels.join(", ")
        ))
    }

    /// Every object `partition`'s Crypto Officer sees (logging in with `co`).
    pub fn inventory(&self, partition: &str, co: &str) -> Result<Vec<ObjectInfo>, Stop> {
        objects(
            &mut self.host()?,
            &Request::Inventory {
                slot: slot(partition)?,
                pin: pin(co),
                filter: None,
            },
        )
    }

    /// Proves the mix on `a` and `b` the same keys by use (each with its CO password).
    pub fn prove(&self, a: (&str, &str), b: (&str, &str), tag: &str) -> Result<String, Stop> {
        let side = |(p, co): (&str, &str)| -> Result<Side, Stop> { Ok((slot(p)?, pin(co))) };
        let proof = prove_by_use(&mut self.host()?, &side(a)?, &side(b)?, tag, |_| false)?;
        Ok(format!(
            "{} (slot {}) and {} (slot {}): {proof}",
            a.0,
            slot(a.0)?,
            b.0,
            slot(b.0)?
        ))
    }

    /// Activates the Crypto Officer of the PED partition `partition` (labelled `label`) as the
    /// Luna tools do, before CCC is asked to migrate it. Pre-PPSO firmware (`ppso` false): the
    /// HSM SO in LunaSH on the appliance, `partition createchallenge` (when `challenge` is
    /// given; without it the partition keeps the default challenge) and `partition activate`;
    /// PPSO: the Partition SO's `role createchallenge -name Crypto Officer` in LunaCM on
    /// `ccc-server`, and the Crypto Officer's PED login, with policy 22 on, activates it. The
    /// transcript.
    pub fn activate(
        &self,
        partition: &str,
        label: &str,
        challenge: Option<&str>,
        ppso: bool,
    ) -> Result<String, Stop> {
        use crate::procedures::luna::steps::{line, lunash_as_hso_on, type_lines};
        let device = partition.split('/').next().unwrap_or_default();
        if !ppso {
            let mut commands: Vec<String> = challenge
                .map(|c| {
                    format!("partition createchallenge -partition {label} -challengesecret {c}")
                })
                .into_iter()
                .collect();
            commands.push(format!("partition activate -partition {label}"));
            return lunash_as_hso_on(self.lab.selection(None)?, device, None, &commands);
        }
        let challenge = challenge
            .ok_or_else(|| Stop::fail("a PPSO Crypto Officer is activated with a challenge"))?;
        let co_login = if device.starts_with("sa6") {
            "role login -name Crypto Officer"
        } else {
            "role login -name co"
        };
        let lines = [
            line(format!("slot set -slot {}", slot(partition)?)),
            line("role login -name Partition SO"),
            line(format!(
                "role createchallenge -name Crypto Officer -challengesecret {challenge}"
            )),
            line("role logout"),
            line(co_login),
            line("role logout"),
        ];
        let (transcript, _) = type_lines(&mut self.host()?, &lines)?;
        Ok(transcript)
    }

    /// Stops the server (also when dropped).
    pub fn stop(&mut self) -> Result<(), Stop> {
        match self.server.take() {
            Some(server) => server.stop().map_err(Stop::fail),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_text_carries_the_scenarios_changes_and_parses() {
        let text = lab_text(&Edits {
            extra: "\n[[ccc.template]]\nname = \"t\"\nservice_type = \"hsm-partition\"\nauthentication = \"password\"\npartition_size = 1000\n".into(),
            licences: Some(4),
            fm_enabled: vec!["sa7-b"],
            ..Edits::default()
        })
        .unwrap();
        let lab: toml::Table = text.parse().unwrap();
        assert_eq!(lab["ccc"]["partition_licences"].as_integer(), Some(4));
        let devices = lab["device"].as_array().unwrap();
        let fm = |name: &str| {
            devices
                .iter()
                .find(|d| d["name"].as_str() == Some(name))
                .and_then(|d| d["luna"].get("fm"))
                .and_then(|v| v.as_str())
        };
        assert_eq!((fm("sa7-b"), fm("sa7-a")), (Some("fm-enabled"), None));
        assert_eq!(lab["ccc"]["template"].as_array().unwrap().len(), 2);
        assert_eq!(slot("sa7-c/svc1").unwrap(), 10);
        assert!(slot("sa7-c/admin").is_err());
        // The PED variant, and policies set and removed.
        let text = lab_text(&Edits {
            ped: true,
            hsm_policies: vec![("sa7-c", 7, 0)],
            partition_policies: vec![("sa7-c/vault", 0, None), ("sa6-ppso/payments", 37, Some(1))],
            ..Edits::default()
        })
        .unwrap();
        let lab: toml::Table = text.parse().unwrap();
        let device = |name: &str| {
            lab["device"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["name"].as_str() == Some(name))
                .unwrap()
                .clone()
        };
        let partition = |d: &str, p: &str| {
            device(d)["partition"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"].as_str() == Some(p))
                .unwrap()
                .clone()
        };
        assert_eq!(device("sa7-a")["luna"]["auth"].as_str(), Some("ped"));
        assert_eq!(
            device("sa7-c")["luna"]["hsm_policies"]["7"].as_integer(),
            Some(0)
        );
        let payments = partition("sa6-ppso", "payments");
        assert!(payments.get("so_pin").is_none() && payments.get("user_pin").is_none());
        assert_eq!(
            payments["luna"]["user_ped_key"].as_str(),
            Some("ped/black.key")
        );
        assert_eq!(payments["luna"]["policies"]["22"].as_integer(), Some(1));
        assert_eq!(payments["luna"]["policies"]["37"].as_integer(), Some(1));
        let vault = partition("sa7-c", "vault");
        assert!(vault["luna"]["policies"].get("0").is_none());
        assert_eq!(vault["luna"]["policies"]["4"].as_integer(), Some(1));
        // Blank partitions stay blank: no activation policy.
        assert!(partition("sa7-c", "svc1").get("luna").is_none());
        assert_eq!(
            lab["ccc"]["template"][0]["authentication"].as_str(),
            Some("ped")
        );
        assert_eq!(
            masked(&json!({ "user": "u", "password": "p", "crypto_officer_challenge": "c" })),
            json!({ "user": "u", "password": "********", "crypto_officer_challenge": "********" })
        );
    }
}
