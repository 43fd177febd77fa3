//! The reports of `hsmsim conformance run` (issue 11 item 3): the HTML report of the main
//! command, parsed (environment block, summary counts equal to the JSON report's, one
//! transcript per scenario, every text escaped, nothing external); the Markdown report; the
//! environment block in JSON and JUnit; the terminal summary when the report goes to a file.
mod common;

use common::{command, output, stderr};
use scraper::{Html, Selector};
use serde_json::Value;

/// Runs the main command with `args` appended, on the built-in sim lab, writing the report to
/// a file; returns the report and the terminal's stderr.
fn run_to_file(args: &[&str], name: &str) -> (String, String, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    let out = output(
        command()
            .args(["conformance", "run"])
            .args(args)
            .arg("--out")
            .arg(&file),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = std::fs::read_to_string(&file).unwrap();
    (report, stderr(&out), out)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn text(e: scraper::ElementRef) -> String {
    e.text().collect::<String>()
}

/// The environment row named `name` of the HTML report.
fn env_row(doc: &Html, name: &str) -> String {
    let row = doc
        .select(&sel(&format!("#environment tr[data-name=\"{name}\"] td")))
        .next()
        .unwrap_or_else(|| panic!("no environment row {name:?}"));
    text(row)
}

#[test]
fn the_html_report_of_the_main_command_parses_and_agrees_with_the_json_report() {
    // The main command's Primus procedures replayed over PKCS#11: the Luna matrix takes minutes
    // in a debug build (CI runs it in release, .ci/conformance.sh; its report is checked in
    // conformance_luna_cli.rs), and primus.partition-to-cloudhsm, typed into the Decanus
    // terminal on labs of its own, is checked in conformance_cloudhsm_cli.rs.
    const PKCS11_PRIMUS: [&str; 4] = [
        "--procedure",
        "primus.key-migration.*",
        "--procedure",
        "primus.adcs-key-import",
    ];
    let (html, terminal, _) = run_to_file(
        &[&PKCS11_PRIMUS[..], &["--format", "html"]].concat(),
        "report.html",
    );
    let (json, _, _) = run_to_file(
        &[&PKCS11_PRIMUS[..], &["--format", "json"]].concat(),
        "report.json",
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    let doc = Html::parse_document(&html);

    // Self-contained: inline CSS, no script, no link, no external resource.
    assert!(doc.select(&sel("head style")).next().is_some());
    for external in ["script", "link", "img", "iframe", "[src]", "[href]"] {
        assert!(
            doc.select(&sel(external)).next().is_none(),
            "{external} in the report"
        );
    }

    // The environment block.
    let version = env_row(&doc, "hsmsim");
    assert!(version.starts_with(env!("CARGO_PKG_VERSION")), "{version}");
    let commit = version
        .split("(commit ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')');
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    let date = env_row(&doc, "date");
    assert!(
        date.len() == 20 && date.ends_with('Z') && date.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {date}"
    );
    assert!(!env_row(&doc, "host").is_empty());
    assert!(env_row(&doc, "lab file").contains("lab.toml"));
    let sha = env_row(&doc, "lab SHA-256");
    assert_eq!(sha.len(), 64, "{sha}");
    // Both runs used a scratch copy of the same fixture: the same lab file.
    assert_eq!(json["environment"]["lab_sha256"], sha.as_str());
    for (role, label) in [("origin", "ACME-PKI"), ("target", "ACME-DR")] {
        assert!(env_row(&doc, &format!("{role} module")).ends_with("libhsmsim.so"));
        assert!(env_row(&doc, &format!("{role} library")).contains("hsmsim"));
        let token = env_row(&doc, &format!("{role} token"));
        assert!(token.contains(&format!("label \"{label}\"")), "{token}");
        assert!(
            token.contains("serial ") && token.contains("model PRIMUS HSM"),
            "{token}"
        );
        assert!(token.contains("firmware "), "{token}");
        let mechanisms = env_row(&doc, &format!("{role} mechanisms"));
        assert!(mechanisms.contains("CKM_AES_KEY_GEN"), "{mechanisms}");
        assert!(mechanisms.contains("CKM_AES_KEY_WRAP_KWP"), "{mechanisms}");
    }

    // The summary: the JSON report's counts.
    let count = |id: &str| -> u64 {
        text(doc.select(&sel(&format!("#summary #{id}"))).next().unwrap())
            .parse()
            .unwrap()
    };
    let summary = &json["summary"];
    assert_eq!(count("passed"), summary["pass"].as_u64().unwrap());
    assert_eq!(count("failed"), summary["fail"].as_u64().unwrap());
    assert_eq!(
        count("not-applicable"),
        summary["not-applicable"].as_u64().unwrap()
    );
    assert_eq!(count("total"), summary["total"].as_u64().unwrap());
    assert!(count("total") > 20);

    // One transcript per scenario, with the JSON report's steps.
    let results = json["results"].as_array().unwrap();
    let sections: Vec<_> = doc.select(&sel("section.scenario")).collect();
    assert_eq!(sections.len(), results.len());
    for r in results {
        let section = sections
            .iter()
            .find(|s| {
                s.value().attr("data-procedure") == r["procedure"].as_str()
                    && s.value().attr("data-variant") == r["variant"].as_str()
            })
            .unwrap_or_else(|| panic!("no transcript for {r}"));
        let rows: Vec<_> = section.select(&sel("table.steps tr.step")).collect();
        let steps = r["steps"].as_array().unwrap();
        assert_eq!(rows.len(), steps.len(), "{r}");
        assert!(!rows.is_empty());
        // Every PKCS#11 call of the JSON report is in the transcript, with its code.
        let calls: Vec<_> = section.select(&sel("table.calls tr.call")).collect();
        let json_calls: Vec<&Value> = steps
            .iter()
            .flat_map(|st| st["calls"].as_array().unwrap())
            .collect();
        assert_eq!(calls.len(), json_calls.len(), "{r}");
        for (row, call) in calls.iter().zip(&json_calls) {
            let cells: Vec<String> = row.select(&sel("td")).map(text).collect();
            assert_eq!(cells[1], call["function"].as_str().unwrap());
            assert_eq!(cells[3], call["rv"].as_str().unwrap());
            assert!(cells[1].starts_with("C_"), "{cells:?}");
            assert!(cells[3].starts_with("CKR_"), "{cells:?}");
        }
        let pass = |st: &&Value| st["status"] == "pass";
        for st in steps.iter().filter(pass) {
            let title = st["title"].as_str().unwrap();
            // Each documented step replayed over PKCS#11 made calls; each passing outcome
            // check carries its evidence; the cleanup counted what it destroyed.
            if st["n"].as_u64().unwrap() > 0 && r["procedure"] != "primus.adcs-key-import" {
                assert!(!st["calls"].as_array().unwrap().is_empty(), "{st}");
            }
            if title.starts_with("outcome: ") {
                assert!(!st["detail"].as_str().unwrap().is_empty(), "{st}");
            }
            if title.starts_with("cleanup: ") {
                assert!(st["detail"].as_str().unwrap().contains(", 0 left"), "{st}");
            }
        }
        assert!(
            steps
                .iter()
                .any(|st| st["title"].as_str().unwrap().starts_with("cleanup: ")
                    && st["status"] == "pass"),
            "{r}"
        );
        if r["variant"].as_str().unwrap().starts_with("negative:") {
            assert!(
                rows.iter()
                    .any(|row| text(*row).contains("refused as documented: ")),
                "the refusal observed: {}",
                section.html()
            );
        }
        if r["variant"] == "negative:non-extractable" {
            // The refusing call itself, on the origin, with the token's code.
            assert!(
                json_calls.iter().any(|c| c["party"] == "origin"
                    && c["function"] == "C_WrapKey"
                    && c["rv"] == "CKR_KEY_UNEXTRACTABLE"),
                "{r}"
            );
        }
    }
    // The vendor's command as the document writes it, escaped (not an element).
    let commands: Vec<String> = doc.select(&sel("table.steps code")).map(text).collect();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("CreateKey <HSM connection and credentials> -keyname zmk")),
        "{commands:?}"
    );
    assert!(doc.select(&sel("hsm")).next().is_none());

    // The terminal: the counts and where the reports are.
    assert!(
        terminal.contains(&format!(
            "{} scenarios: {} passed, {} failed, {} not applicable",
            count("total"),
            count("passed"),
            count("failed"),
            count("not-applicable")
        )),
        "{terminal}"
    );
    assert!(
        terminal.contains("--format html --out report.html"),
        "{terminal}"
    );
}

#[test]
fn the_markdown_report_holds_the_environment_summary_and_every_transcript() {
    let (md, _, _) = run_to_file(
        &[
            "--procedure",
            "primus.key-migration.symmetric",
            "--format",
            "markdown",
        ],
        "report.md",
    );
    assert!(md.starts_with("# hsmsim conformance report\n"), "{md}");
    for row in [
        "| hsmsim | ",
        "| date | ",
        "| host | ",
        "| lab SHA-256 | ",
        "| origin token | label \"ACME-PKI\"",
        "| target mechanisms | ",
    ] {
        assert!(md.contains(row), "{row:?} in {md}");
    }
    assert!(md.contains("| 5 | 0 | 0 | 5 |"), "{md}");
    for variant in [
        "aes-128",
        "aes-192",
        "aes-256",
        "generic-secret",
        "negative:non-extractable",
    ] {
        assert!(
            md.contains(&format!(
                "### primus.key-migration.symmetric [{variant}]: pass"
            )),
            "{variant}: {md}"
        );
    }
    assert!(
        md.contains("refused as documented: C_WrapKey: CKR_KEY_UNEXTRACTABLE"),
        "{md}"
    );
    assert!(md.contains("`java -jar primus-tools.jar "), "{md}");
    // The calls tables: the refusing call with its code, the proof by use, the cleanup.
    assert!(
        md.contains("| step 4 (origin) | origin | C_WrapKey | ")
            && md.contains(" | CKR_KEY_UNEXTRACTABLE | "),
        "{md}"
    );
    assert!(
        md.contains("| outcome 2 | target | C_DecryptInit, C_Decrypt, C_Decrypt | CKM_AES_CBC_PAD"),
        "{md}"
    );
    assert!(
        md.contains("| cleanup | target | C_DestroyObject | object "),
        "{md}"
    );
}

#[test]
fn json_and_junit_carry_the_environment_block_and_the_table_shows_it() {
    let args = [
        "--procedure",
        "primus.adcs-key-import",
        "--variant",
        "rsa-2048-pfx",
    ];
    let (json, _, _) = run_to_file(&[&args[..], &["--format", "json"]].concat(), "r.json");
    let json: Value = serde_json::from_str(&json).unwrap();
    let env = &json["environment"];
    assert_eq!(env["hsmsim_version"], env!("CARGO_PKG_VERSION"));
    assert!(env["commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(env["date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(env["lab_sha256"].as_str().unwrap().len(), 64);
    let parties = env["parties"].as_array().unwrap();
    assert_eq!(parties.len(), 1, "a one-party procedure: {env}");
    assert_eq!(parties[0]["role"], "target");
    assert_eq!(parties[0]["token_label"], "ACME-DR");
    assert_eq!(parties[0]["token_model"], "PRIMUS HSM");
    assert!(
        parties[0]["mechanisms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "CKM_RSA_PKCS")
    );

    let (junit, _, _) = run_to_file(&[&args[..], &["--format", "junit"]].concat(), "r.xml");
    for property in [
        "name=\"hsmsim.hsmsim\"",
        "name=\"hsmsim.lab-SHA-256\"",
        "name=\"hsmsim.target-token\"",
        "name=\"hsmsim.target-mechanisms\"",
    ] {
        assert!(junit.contains(property), "{property} in {junit}");
    }
    assert!(junit.contains(env["lab_sha256"].as_str().unwrap()));
    // The per-step records: the certificate's import call and the test step's signature.
    assert!(
        junit.contains("[target] C_CreateObject (CKO_CERTIFICATE, label ACME Issuing CA-"),
        "{junit}"
    );
    assert!(
        junit.contains("[target] C_SignInit, C_Sign, C_Sign (CKM_SHA256_RSA_PKCS"),
        "{junit}"
    );
    let steps = json["results"][0]["steps"].as_array().unwrap();
    let step5 = steps.iter().find(|s| s["n"] == 5).unwrap();
    assert!(
        step5["detail"]
            .as_str()
            .unwrap()
            .contains("verified in software (aws-lc) with the certificate's public key"),
        "{step5}"
    );

    let out = output(command().args(["conformance", "run"]).args(args));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(table.starts_with("hsmsim: "), "{table}");
    assert!(table.contains("target token: label \"ACME-DR\""), "{table}");
    let last = table.lines().last().unwrap();
    assert!(last.contains("--format html --out report.html"), "{table}");
    assert!(
        table.contains("1 scenarios: 1 passed, 0 failed, 0 not applicable"),
        "{table}"
    );
}

/// `conformance run --lab FILE` runs the `sim` parties on that lab when it holds the tokens the
/// selected procedures need; a lab without them, or one no party would use, is exit 2 with a
/// sentence naming what the procedures need (never silently ignored).
#[test]
fn conformance_run_uses_lab_or_says_why_it_cannot() {
    let default = common::init_lab("default");
    let out = output(command().args([
        "--lab",
        &common::lab_file(default.path()),
        "conformance",
        "run",
        "--procedure",
        "primus.key-migration.symmetric",
    ]));
    common::refused(
        &out,
        2,
        "the selected procedures need an origin token labelled \"ACME-PKI\" (a Primus partition with a documented user PIN), and this lab has only \"hsmsim-default\"",
    );
    assert!(!stderr(&out).contains("CKR_"), "{}", stderr(&out));
    // A one-party procedure needs only the target; naming the token makes the lab usable.
    let out = output(command().args([
        "--lab",
        &common::lab_file(default.path()),
        "conformance",
        "run",
        "--procedure",
        "primus.adcs-key-import",
    ]));
    common::refused(&out, 2, "need a target token labelled \"ACME-DR\"");

    let primus = common::init_lab("primus");
    let out = output(command().args([
        "--lab",
        &common::lab_file(primus.path()),
        "conformance",
        "run",
        "--procedure",
        "primus.key-migration.symmetric",
        "--variant",
        "aes-128",
        "--format",
        "json",
    ]));
    let report = common::succeeded(&out);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["summary"]["pass"], 1, "{report}");
    let env = &report["environment"];
    assert_eq!(env["lab_file"], common::lab_file(primus.path()).as_str());
    assert!(env.get("lab_scratch").is_none(), "the user's lab: {env}");
    // The hash is the lab file's SHA-256, as coreutils computes it.
    let sum = std::process::Command::new("sha256sum")
        .arg(primus.path().join("lab.toml"))
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(env["lab_sha256"], sum.split_whitespace().next().unwrap());

    // No party is `sim`: the lab would not be used.
    let out = output(command().args([
        "--lab",
        &common::lab_file(primus.path()),
        "conformance",
        "run",
        "--procedure",
        "primus.adcs-key-import",
        "--target",
        "pkcs11:token=x?module-path=/usr/lib/nope.so",
    ]));
    common::refused(&out, 2, "no party of the selected procedures is `sim`");
}
