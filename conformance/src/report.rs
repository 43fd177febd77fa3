//! Reports of a run: a terminal table, JSON (`{"results": [...], "summary": ...}`, documented in
//! the README) and JUnit XML (one test suite per procedure, one test case per variant).
use crate::runner::{ScenarioResult, Status};
use serde::Serialize;

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
}

/// The JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct JsonReport<'a> {
    /// Present (true) only when the run was interrupted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub results: &'a [ScenarioResult],
    pub summary: Summary,
    pub run: &'a RunInfo,
}

pub fn json(results: &[ScenarioResult], info: &RunInfo) -> String {
    serde_json::to_string_pretty(&JsonReport {
        interrupted: info.interrupted,
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
    if let Some(o) = &info.origin {
        out.push_str(&format!("origin: {o}\n"));
    }
    if let Some(t) = &info.target {
        out.push_str(&format!("target: {t}\n"));
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
    let s = Summary::of(results);
    out.push_str(&format!(
        "\n{} scenarios: {} passed, {} failed, {} not applicable ({} ms)\n",
        s.total, s.pass, s.fail, s.not_applicable, info.duration_ms
    ));
    if info.interrupted {
        out.push_str(&format!(
            "interrupted: {} of {} planned scenarios ran; the others were not started\n",
            s.total, info.planned
        ));
    }
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
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|s| format!("{} {}: {}", status_word(s.status), s.title, s.detail))
            .collect();
        case.set_system_out(steps.join("\n"));
        match suites.iter_mut().find(|s| s.name.as_str() == r.procedure) {
            Some(suite) => {
                suite.add_test_case(case);
            }
            None => {
                let mut suite = TestSuite::new(r.procedure.clone());
                suite.add_test_case(case);
                suites.push(suite);
            }
        }
    }
    report.add_test_suites(suites);
    report.to_string().map_err(|e| e.to_string())
}
