//! Reports of a run: a terminal table, JSON (`{"environment": ..., "results": [...], "summary":
//! ...}`, documented in the README), JUnit XML (one test suite per procedure, one test case per
//! variant), Markdown and one self-contained HTML file (inline CSS, no external resource). Every
//! format starts from the environment block (`RunEnvironment`: hsmsim version and commit, date,
//! host, the lab file and its SHA-256, each party's module, library, token and mechanisms; never
//! a PIN), then the summary, then per scenario its transcript (steps with the vendor's command,
//! outcome checks with their evidence, the refusal a negative case observed, and every PKCS#11
//! call each step made with its party, return code and duration).
use crate::runner::{Parties, ScenarioResult, Status};
use crate::target::Party;
use hsmsim_consoles::backend::calls::Call;
use serde::Serialize;
use std::fmt::Write as _;

/// What a run ran on: the environment block of every report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunEnvironment {
    pub hsmsim_version: String,
    /// The git commit hsmsim was built from ("unknown" when built outside a git checkout).
    pub commit: String,
    /// When the report was made (UTC, RFC 3339).
    pub date: String,
    pub host: String,
    /// The simulator's lab file, when a party is `sim` (the run's scratch copy of the `primus`
    /// fixture unless the user's lab was used), and its SHA-256 (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_sha256: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lab_scratch: bool,
    pub parties: Vec<PartyEnvironment>,
}

/// One party of the environment block (what `C_GetInfo`, `C_GetTokenInfo` and
/// `C_GetMechanismList` answered at discovery).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartyEnvironment {
    pub role: String,
    /// As the user named it (the URI without its PIN).
    pub name: String,
    pub module_path: String,
    pub library_description: String,
    pub library_manufacturer: String,
    pub library_version: String,
    pub cryptoki_version: String,
    pub token_label: String,
    pub token_manufacturer: String,
    pub token_serial: String,
    pub token_model: String,
    pub token_firmware: String,
    pub token_hardware: String,
    /// `CKM_*` names; a mechanism without a standard name as `CKM_VENDOR_DEFINED+0x...`.
    pub mechanisms: Vec<String>,
}

/// The `CKM_*` name of a mechanism (vendor-defined ones as `CKM_VENDOR_DEFINED+0x<offset>`).
pub fn mechanism_name(m: cryptoki_sys::CK_MECHANISM_TYPE) -> String {
    if m >= cryptoki_sys::CKM_VENDOR_DEFINED {
        return format!(
            "CKM_VENDOR_DEFINED+0x{:X}",
            m - cryptoki_sys::CKM_VENDOR_DEFINED
        );
    }
    if let Ok(t) = cryptoki::mechanism::MechanismType::try_from(m) {
        return t.to_string();
    }
    // The standard mechanisms cryptoki 0.12 has no type for (or, for CKM_HASH_ML_DSA_SHAKE256,
    // does not convert), named from cryptoki-sys.
    use cryptoki_sys::*;
    let known = [
        (CKM_DSA_KEY_PAIR_GEN, "CKM_DSA_KEY_PAIR_GEN"),
        (CKM_DSA, "CKM_DSA"),
        (CKM_DSA_SHA1, "CKM_DSA_SHA1"),
        (CKM_DSA_SHA224, "CKM_DSA_SHA224"),
        (CKM_DSA_SHA256, "CKM_DSA_SHA256"),
        (CKM_DSA_SHA384, "CKM_DSA_SHA384"),
        (CKM_DSA_SHA512, "CKM_DSA_SHA512"),
        (CKM_DSA_PARAMETER_GEN, "CKM_DSA_PARAMETER_GEN"),
        (CKM_DH_PKCS_KEY_PAIR_GEN, "CKM_DH_PKCS_KEY_PAIR_GEN"),
        (CKM_DH_PKCS_DERIVE, "CKM_DH_PKCS_DERIVE"),
        (CKM_DH_PKCS_PARAMETER_GEN, "CKM_DH_PKCS_PARAMETER_GEN"),
        (CKM_SHA224_RSA_PKCS, "CKM_SHA224_RSA_PKCS"),
        (CKM_SHA224_RSA_PKCS_PSS, "CKM_SHA224_RSA_PKCS_PSS"),
        (CKM_DES2_KEY_GEN, "CKM_DES2_KEY_GEN"),
        (CKM_DES3_CBC, "CKM_DES3_CBC"),
        (CKM_DES3_CBC_PAD, "CKM_DES3_CBC_PAD"),
        (CKM_SHA224, "CKM_SHA224"),
        (CKM_ECDSA_SHA224, "CKM_ECDSA_SHA224"),
        (CKM_RSA_AES_KEY_WRAP, "CKM_RSA_AES_KEY_WRAP"),
        (CKM_AES_MAC, "CKM_AES_MAC"),
        (CKM_AES_MAC_GENERAL, "CKM_AES_MAC_GENERAL"),
        (CKM_AES_ECB_ENCRYPT_DATA, "CKM_AES_ECB_ENCRYPT_DATA"),
        (CKM_AES_KEY_WRAP_KWP, "CKM_AES_KEY_WRAP_KWP"),
        (CKM_HASH_ML_DSA_SHAKE256, "CKM_HASH_ML_DSA_SHAKE256"),
    ];
    known
        .iter()
        .find(|(v, _)| *v == m)
        .map_or_else(|| format!("CKM 0x{m:08X}"), |(_, name)| name.to_string())
}

/// The host's name: /proc/sys/kernel/hostname, else /etc/hostname, else $HOSTNAME, else
/// "unknown" (simulator-defined order; no unsafe `gethostname` call needed).
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .chain(std::env::var("HOSTNAME").ok())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

impl PartyEnvironment {
    /// Asks the party's module and token (read-only calls: `C_GetInfo`, `C_GetTokenInfo`); a
    /// call that fails leaves its fields "unavailable: CKR_...".
    pub fn of(party: &Party) -> PartyEnvironment {
        let unavailable = |e: cryptoki::error::Error| {
            format!("unavailable: {}", crate::runner::describe_error(&e))
        };
        let mut out = PartyEnvironment {
            role: party.role.to_string(),
            name: party.name.clone(),
            module_path: party.module.path.display().to_string(),
            token_label: party.token_label.clone(),
            mechanisms: party
                .caps
                .mechanisms
                .iter()
                .map(|m| mechanism_name(*m))
                .collect(),
            ..PartyEnvironment::default()
        };
        match party.module.pkcs11.get_library_info() {
            Ok(info) => {
                out.library_description = info.library_description().trim().to_string();
                out.library_manufacturer = info.manufacturer_id().trim().to_string();
                out.library_version = info.library_version().to_string();
                out.cryptoki_version = info.cryptoki_version().to_string();
            }
            Err(e) => {
                let text = unavailable(e);
                out.library_description = text.clone();
                out.library_manufacturer = text.clone();
                out.library_version = text.clone();
                out.cryptoki_version = text;
            }
        }
        match party.module.pkcs11.get_token_info(party.slot) {
            Ok(info) => {
                out.token_manufacturer = info.manufacturer_id().trim().to_string();
                out.token_serial = info.serial_number().trim().to_string();
                out.token_model = info.model().trim().to_string();
                out.token_firmware = info.firmware_version().to_string();
                out.token_hardware = info.hardware_version().to_string();
            }
            Err(e) => {
                let text = unavailable(e);
                out.token_manufacturer = text.clone();
                out.token_serial = text.clone();
                out.token_model = text.clone();
                out.token_firmware = text.clone();
                out.token_hardware = text;
            }
        }
        out
    }
}

impl RunEnvironment {
    /// The environment of a run on `parties`, now.
    pub fn collect(parties: &Parties) -> RunEnvironment {
        let mut env = RunEnvironment {
            hsmsim_version: env!("CARGO_PKG_VERSION").to_string(),
            commit: env!("HSMSIM_GIT_COMMIT").to_string(),
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            host: host_name(),
            parties: [&parties.origin, &parties.target]
                .into_iter()
                .flatten()
                .map(PartyEnvironment::of)
                .collect(),
            ..RunEnvironment::default()
        };
        let uses_sim = [&parties.origin, &parties.target]
            .into_iter()
            .flatten()
            .any(|p| p.module.simulator);
        if uses_sim && let Some((file, scratch)) = crate::target::sim_lab_file() {
            env.lab_sha256 = std::fs::read(&file).ok().map(|bytes| {
                hsmsim_consoles::backend::objects::hex(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref(),
                )
            });
            env.lab_file = Some(file.display().to_string());
            env.lab_scratch = scratch;
        }
        env
    }

    /// The block as (name, value) lines, in the order every format shows them.
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut v = vec![
            (
                "hsmsim".to_string(),
                format!("{} (commit {})", self.hsmsim_version, self.commit),
            ),
            ("date".to_string(), self.date.clone()),
            ("host".to_string(), self.host.clone()),
        ];
        if let Some(file) = &self.lab_file {
            let what = if self.lab_scratch {
                " (the run's scratch copy of the primus fixture)"
            } else {
                ""
            };
            v.push(("lab file".into(), format!("{file}{what}")));
            v.push((
                "lab SHA-256".into(),
                self.lab_sha256
                    .clone()
                    .unwrap_or_else(|| "unreadable".into()),
            ));
        }
        for p in &self.parties {
            let r = &p.role;
            v.push((r.to_string(), p.name.clone()));
            v.push((format!("{r} module"), p.module_path.clone()));
            v.push((
                format!("{r} library"),
                format!(
                    "{} {} ({}, Cryptoki {})",
                    p.library_description,
                    p.library_version,
                    p.library_manufacturer,
                    p.cryptoki_version
                ),
            ));
            v.push((
                format!("{r} token"),
                format!(
                    "label {:?}, serial {}, model {}, firmware {}, manufacturer {}",
                    p.token_label,
                    p.token_serial,
                    p.token_model,
                    p.token_firmware,
                    p.token_manufacturer
                ),
            ));
            v.push((
                format!("{r} mechanisms"),
                format!("{}: {}", p.mechanisms.len(), p.mechanisms.join(", ")),
            ));
        }
        v
    }
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    #[serde(rename = "not-applicable")]
    pub not_applicable: usize,
    pub total: usize,
}

impl Summary {
    pub fn of(results: &[ScenarioResult]) -> Summary {
        let mut s = Summary {
            total: results.len(),
            ..Summary::default()
        };
        for r in results {
            match r.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
        }
        s
    }
}

/// Who the run talked to, for the reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInfo {
    pub origin: Option<String>,
    pub target: Option<String>,
    pub duration_ms: u64,
    /// The run was interrupted (SIGINT / SIGTERM): the results are those of the scenarios that
    /// started; `planned` scenarios were selected.
    #[serde(skip)]
    pub interrupted: bool,
    #[serde(skip)]
    pub planned: usize,
    /// The environment block (serialised at the top of the JSON report).
    #[serde(skip)]
    pub environment: RunEnvironment,
}

/// The JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct JsonReport<'a> {
    /// Present (true) only when the run was interrupted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub environment: &'a RunEnvironment,
    pub results: &'a [ScenarioResult],
    pub summary: Summary,
    pub run: &'a RunInfo,
}

pub fn json(results: &[ScenarioResult], info: &RunInfo) -> String {
    serde_json::to_string_pretty(&JsonReport {
        interrupted: info.interrupted,
        environment: &info.environment,
        results,
        summary: Summary::of(results),
        run: info,
    })
    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::NotApplicable => "n/a",
    }
}

/// The terminal table: one line per scenario, then the failed steps with the vendor's
/// command, then the summary.
pub fn table(results: &[ScenarioResult], info: &RunInfo) -> String {
    let mut out = String::new();
    for (name, value) in info.environment.lines() {
        if name.ends_with("mechanisms") {
            // The full list is in the other formats; the table keeps to the count.
            let count = value.split(':').next().unwrap_or_default();
            out.push_str(&format!(
                "{name}: {count} (listed in --format json, markdown, html)\n"
            ));
        } else {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    let width = results
        .iter()
        .map(|r| r.procedure.len())
        .max()
        .unwrap_or(9)
        .max(9);
    out.push_str(&format!(
        "\n{:<width$}  {:<28}  {:<6}  {:>8}  detail\n",
        "procedure", "variant", "status", "ms"
    ));
    for r in results {
        let detail = match (&r.failed_step, r.status) {
            (Some(step), _) => format!("{step}: {}", r.detail),
            (None, Status::Pass) => format!("{} steps and checks", r.steps.len()),
            (None, _) => r.detail.clone(),
        };
        out.push_str(&format!(
            "{:<width$}  {:<28}  {:<6}  {:>8}  {detail}\n",
            r.procedure,
            r.variant,
            status_word(r.status),
            r.duration_ms
        ));
    }
    let failed: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .collect();
    if !failed.is_empty() {
        out.push_str("\nFailures, with the documented step:\n");
        for r in failed {
            out.push_str(&format!("- {} [{}]\n", r.procedure, r.variant));
            for s in r.steps.iter().filter(|s| s.status == Status::Fail) {
                if s.n > 0 {
                    let party = s.party.map(|p| format!(" ({p})")).unwrap_or_default();
                    out.push_str(&format!("    step {}{party}: {}\n", s.n, s.title));
                    out.push_str(&format!("      documented: {}\n", s.vendor));
                } else {
                    out.push_str(&format!("    {}\n", s.title));
                }
                out.push_str(&format!("      why: {}\n", s.detail));
            }
        }
    }
    out.push_str(&summary(results, info));
    out
}

/// The end of the terminal output: the counts, what was not applicable and why, whether the
/// run was interrupted, and where the full reports are.
pub fn summary(results: &[ScenarioResult], info: &RunInfo) -> String {
    let s = Summary::of(results);
    let mut out = format!(
        "\n{} scenarios: {} passed, {} failed, {} not applicable ({} ms)\n",
        s.total, s.pass, s.fail, s.not_applicable, info.duration_ms
    );
    for r in results.iter().filter(|r| r.status == Status::NotApplicable) {
        let _ = writeln!(
            out,
            "  not applicable: {} [{}]: {}",
            r.procedure, r.variant, r.detail
        );
    }
    if info.interrupted {
        let _ = writeln!(
            out,
            "interrupted: {} of {} planned scenarios ran; the others were not started",
            s.total, info.planned
        );
    }
    out.push_str("Reports to sign off (environment, summary, every step): --format html --out report.html, or --format markdown|json|junit\n");
    out
}

/// JUnit XML: a suite per procedure, a case per variant; "not applicable" is a skip with its
/// reason.
pub fn junit(results: &[ScenarioResult], info: &RunInfo) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new(if info.interrupted {
        "hsmsim conformance (interrupted)"
    } else {
        "hsmsim conformance"
    });
    report.set_time(std::time::Duration::from_millis(info.duration_ms));
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in results {
        let status = match r.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!(
                    "{}: {}",
                    r.failed_step.as_deref().unwrap_or("failed"),
                    r.detail
                ));
                s
            }
            Status::NotApplicable => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("not applicable: {}", r.detail));
                s
            }
        };
        let mut case = TestCase::new(r.variant.clone(), status);
        case.set_classname(r.procedure.clone());
        case.set_time(std::time::Duration::from_millis(r.duration_ms));
        let mut steps: Vec<String> = Vec::new();
        for st in &r.steps {
            steps.push(format!(
                "{} {}: {}",
                status_word(st.status),
                st.title,
                st.detail
            ));
            steps.extend(st.calls.iter().map(|c| format!("    {}", call_line(c))));
        }
        case.set_system_out(steps.join("\n"));
        match suites.iter_mut().find(|s| s.name.as_str() == r.procedure) {
            Some(suite) => {
                suite.add_test_case(case);
            }
            None => {
                let mut suite = TestSuite::new(r.procedure.clone());
                // The environment block, as the properties of every suite (JUnit has no
                // report-level properties).
                for (name, value) in info.environment.lines() {
                    suite.add_property((format!("hsmsim.{}", name.replace(' ', "-")), value));
                }
                suite.add_test_case(case);
                suites.push(suite);
            }
        }
    }
    report.add_test_suites(suites);
    report.to_string().map_err(|e| e.to_string())
}

/// A call's duration in milliseconds, to the microsecond.
fn call_ms(c: &Call) -> String {
    format!("{:.3}", c.duration_us as f64 / 1000.0)
}

/// One call as a line: "[origin] C_GenerateKey (CKM_AES_KEY_GEN, label mig-...) -> CKR_OK, 0.412 ms".
fn call_line(c: &Call) -> String {
    let party = c.party.map(|p| format!("[{p}] ")).unwrap_or_default();
    format!(
        "{party}{} ({}) -> {}, {} ms",
        c.function,
        c.subject,
        c.rv,
        call_ms(c)
    )
}

/// Why a scenario did not pass: "step 4: ...: detail", or the detail alone.
fn why_not_passed(r: &ScenarioResult) -> String {
    match &r.failed_step {
        Some(step) => format!("{step}: {}", r.detail),
        None => r.detail.clone(),
    }
}

/// A status as an HTML class name.
fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::NotApplicable => "not-applicable",
    }
}

fn status_long(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::NotApplicable => "not applicable",
    }
}

/// Markdown cells: `|` and line breaks would end the cell.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The labels of a transcript's entries, which its calls table repeats: "step 4 (target)"
/// for documented steps; "precondition", "outcome 1", "outcome 2", ..., "cleanup" for the
/// others (numbered when a kind occurs more than once).
fn entry_labels(steps: &[crate::runner::StepResult]) -> Vec<String> {
    let kind = |s: &crate::runner::StepResult| {
        s.title
            .split_once(':')
            .map_or("check", |(k, _)| k)
            .to_string()
    };
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    steps
        .iter()
        .map(|s| {
            if s.n > 0 {
                return match s.party {
                    Some(p) => format!("step {} ({p})", s.n),
                    None => format!("step {}", s.n),
                };
            }
            let k = kind(s);
            let total = steps.iter().filter(|x| x.n == 0 && kind(x) == k).count();
            let i = seen.entry(k.clone()).or_insert(0);
            *i += 1;
            if total > 1 { format!("{k} {i}") } else { k }
        })
        .collect()
}

/// The Markdown report: environment block, summary (with the reasons for "not applicable"),
/// then per scenario its transcript.
pub fn markdown(results: &[ScenarioResult], info: &RunInfo) -> String {
    let s = Summary::of(results);
    let mut out = String::from("# hsmsim conformance report\n\n");
    if info.interrupted {
        let _ = writeln!(
            out,
            "**Interrupted**: {} of {} planned scenarios ran.\n",
            s.total, info.planned
        );
    }
    out.push_str("## Environment\n\n| | |\n|---|---|\n");
    for (name, value) in info.environment.lines() {
        let _ = writeln!(out, "| {} | {} |", md_cell(&name), md_cell(&value));
    }
    let _ = writeln!(
        out,
        "\n## Summary\n\n| passed | failed | not applicable | total | duration |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} ms |",
        s.pass, s.fail, s.not_applicable, s.total, info.duration_ms
    );
    let na: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| r.status == Status::NotApplicable)
        .collect();
    if !na.is_empty() {
        out.push_str("\nNot applicable:\n\n");
        for r in na {
            let _ = writeln!(
                out,
                "- {} [{}]: {}",
                r.procedure,
                r.variant,
                md_cell(&r.detail)
            );
        }
    }
    out.push_str("\n## Scenarios\n");
    for r in results {
        let _ = writeln!(
            out,
            "\n### {} [{}]: {}\n",
            r.procedure,
            r.variant,
            status_long(r.status)
        );
        if r.status != Status::Pass {
            let why = why_not_passed(r);
            let _ = writeln!(out, "{}: {}\n", status_long(r.status), md_cell(&why));
        }
        out.push_str(
            "| # | step | documented command | status | ms | detail |\n|---|---|---|---|---|---|\n",
        );
        let labels = entry_labels(&r.steps);
        for (st, label) in r.steps.iter().zip(&labels) {
            let vendor = if st.vendor.is_empty() {
                String::new()
            } else {
                format!("`{}`", st.vendor.replace('`', "'"))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                label,
                md_cell(&st.title),
                md_cell(&vendor),
                status_long(st.status),
                st.duration_ms,
                md_cell(&st.detail)
            );
        }
        if r.steps.iter().any(|st| !st.calls.is_empty()) {
            out.push_str(
                "\nCalls:\n\n| step | party | function | subject | return code | ms |\n|---|---|---|---|---|---|\n",
            );
            for (st, label) in r.steps.iter().zip(&labels) {
                for c in &st.calls {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} |",
                        md_cell(label),
                        c.party.map(|p| p.to_string()).unwrap_or_default(),
                        md_cell(&c.function),
                        md_cell(&c.subject),
                        md_cell(&c.rv),
                        call_ms(c)
                    );
                }
            }
        }
    }
    out
}

/// HTML text, escaped (`html-escape`).
fn h(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

/// An HTML attribute value, escaped for double quotes.
fn ha(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code{font-family:monospace;font-size:.95em}\
.pass{color:#17662a}.fail{color:#b00020;font-weight:bold}.not-applicable{color:#7a5c00}\
section.scenario{border-top:2px solid #ddd;margin-top:1.5em}\
td.mechanisms{font-size:.85em;max-width:60em}\
table.calls{font-size:.85em}.refused{color:#b00020}summary{cursor:pointer}";

/// One self-contained HTML file (inline CSS, no script, no external resource): environment
/// block (`#environment`), summary (`#summary`, the counts in `#passed`, `#failed`,
/// `#not-applicable`, `#total`; the reasons in `#not-applicable-reasons`), then one
/// `section.scenario` per scenario with its transcript (`table.steps`). Every text is escaped.
pub fn html(results: &[ScenarioResult], info: &RunInfo) -> String {
    let s = Summary::of(results);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>hsmsim conformance report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>hsmsim conformance report</h1>\n"
    );
    if info.interrupted {
        let _ = writeln!(
            out,
            "<p id=\"interrupted\" class=\"fail\">Interrupted: {} of {} planned scenarios ran.</p>",
            s.total, info.planned
        );
    }
    out.push_str("<section id=\"environment\">\n<h2>Environment</h2>\n<table>\n");
    for (name, value) in info.environment.lines() {
        let class = if name.ends_with("mechanisms") {
            " class=\"mechanisms\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<tr data-name=\"{}\"><th>{}</th><td{class}>{}</td></tr>",
            ha(&name),
            h(&name),
            h(&value)
        );
    }
    out.push_str("</table>\n</section>\n");
    let _ = writeln!(
        out,
        "<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n<tr><th>passed</th><th>failed</th><th>not applicable</th><th>total</th><th>duration</th></tr>\n<tr><td id=\"passed\">{}</td><td id=\"failed\">{}</td><td id=\"not-applicable\">{}</td><td id=\"total\">{}</td><td>{} ms</td></tr>\n</table>",
        s.pass, s.fail, s.not_applicable, s.total, info.duration_ms
    );
    let na: Vec<&ScenarioResult> = results
        .iter()
        .filter(|r| r.status == Status::NotApplicable)
        .collect();
    if !na.is_empty() {
        out.push_str("<h3>Not applicable</h3>\n<ul id=\"not-applicable-reasons\">\n");
        for r in na {
            let _ = writeln!(
                out,
                "<li>{} [{}]: {}</li>",
                h(&r.procedure),
                h(&r.variant),
                h(&r.detail)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n<h2>Scenarios</h2>\n");
    for r in results {
        let class = status_class(r.status);
        let _ = writeln!(
            out,
            "<section class=\"scenario\" data-procedure=\"{}\" data-variant=\"{}\" data-status=\"{class}\">\n<h3>{} [{}]: <span class=\"{class}\">{}</span> <small>({} ms)</small></h3>",
            ha(&r.procedure),
            ha(&r.variant),
            h(&r.procedure),
            h(&r.variant),
            status_long(r.status),
            r.duration_ms
        );
        if r.status != Status::Pass {
            let why = why_not_passed(r);
            let _ = writeln!(out, "<p class=\"{class}\">{}</p>", h(&why));
        }
        out.push_str("<table class=\"steps\">\n<tr><th>#</th><th>step</th><th>documented command</th><th>status</th><th>ms</th><th>detail</th></tr>\n");
        let labels = entry_labels(&r.steps);
        for (st, label) in r.steps.iter().zip(&labels) {
            let sclass = status_class(st.status);
            let _ = writeln!(
                out,
                "<tr class=\"step\"><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"{sclass}\">{}</td><td>{}</td><td>{}</td></tr>",
                h(label),
                h(&st.title),
                h(&st.vendor),
                status_long(st.status),
                st.duration_ms,
                h(&st.detail)
            );
            if !st.calls.is_empty() {
                let _ = writeln!(
                    out,
                    "<tr class=\"calls\"><td></td><td colspan=\"5\"><details><summary>{} PKCS#11 call(s)</summary>\n<table class=\"calls\">\n<tr><th>party</th><th>function</th><th>subject</th><th>return code</th><th>ms</th></tr>",
                    st.calls.len()
                );
                for c in &st.calls {
                    let rv_class = if c.rv == "CKR_OK" { "pass" } else { "refused" };
                    let _ = writeln!(
                        out,
                        "<tr class=\"call\"><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"{rv_class}\"><code>{}</code></td><td>{}</td></tr>",
                        h(&c.party.map(|p| p.to_string()).unwrap_or_default()),
                        h(&c.function),
                        h(&c.subject),
                        h(&c.rv),
                        call_ms(c)
                    );
                }
                out.push_str("</table></details></td></tr>\n");
            }
        }
        out.push_str("</table>\n</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}
