//! `hsmsim conformance`: replay the vendors' documented procedures against the simulator (a
//! scratch lab, `sim`) or real PKCS#11 modules named by URI, with a progress display on a
//! terminal (a line per scenario otherwise), and reports as a table, JSON or JUnit XML. Before
//! any scenario each party logs in once (pre-flight, `Party::preflight`); `--dry-run` only
//! discovers and prints the plan; SIGINT / SIGTERM stop the run cleanly (`on_interrupt`).
//! A PIN the URI does not give is asked for on a terminal. `sim` is a scratch copy of the
//! `primus` fixture, or with the global `--lab FILE` that lab once it is checked to hold the
//! tokens the selected procedures need (`check_user_lab`; otherwise exit 2 with a sentence).
//! Reports: table, JSON, JUnit, Markdown, HTML, each with the environment block. Exit 0 when nothing failed ("not
//! applicable" is not a failure), 1 when a scenario failed, 2 when the run could not start
//! (bad arguments, a target that cannot be reached, a refused PIN, a token at its last try),
//! 130 when interrupted.
use crate::Failure;
use clap::{Subcommand, ValueEnum};
use hsmsim_conformance::catalogue;
use hsmsim_conformance::report::{self, RunEnvironment, RunInfo};
use hsmsim_conformance::runner::{self, Parties, Selection, Status};
use hsmsim_conformance::target::{Environment, Role};
use hsmsim_consoles::backend::module::find_sim_module;
use hsmsim_consoles::backend::uri;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Subcommand)]
pub enum ConformanceCommand {
    /// Run the documented procedures and report each scenario: pass, fail (naming the
    /// documented step and why) or not applicable (with the reason).
    Run(Box<RunArgs>),
    /// List the procedures: id, source, steps with the vendor's commands, variants, negative
    /// cases.
    List {
        /// Print JSON instead of text (the same as --format json).
        #[arg(long)]
        json: bool,
        /// Output format: text, json, or markdown (the repository's docs/procedures.md).
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Internal: a console host of a Luna scenario (the runner starts one per client host;
    /// requests on standard input, answers on standard output, one JSON line each).
    #[command(hide = true)]
    Worker {
        /// A PKCS#11 library with Luna's CA_* extensions instead of the simulator's module.
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
    /// A Markdown report: environment, summary, every scenario's transcript.
    Markdown,
    /// One self-contained HTML file (readable offline): as markdown.
    Html,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Procedures to run, by id glob (e.g. 'primus.*'); repeatable. Default: all.
    #[arg(long = "procedure", value_name = "GLOB")]
    procedures: Vec<String>,
    /// Only procedures with this tag (e.g. key-migration); repeatable, all must match.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Variants to run, by id glob (e.g. 'aes-*', 'negative:*'); repeatable. Default: all.
    #[arg(long = "variant", value_name = "GLOB")]
    variants: Vec<String>,
    /// The origin of two-party procedures: `sim`, `sim:token=LABEL`, or a PKCS#11 URI such as
    /// 'pkcs11:token=src?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/path/pin'
    /// (or pin-source=env:VARIABLE, pin-value=PIN; without them the PIN is asked for on a
    /// terminal).
    #[arg(long, default_value = "sim", value_name = "URI")]
    origin: String,
    /// The target (of two-party procedures, and the token of one-party ones): as --origin.
    #[arg(long, default_value = "sim", value_name = "URI")]
    target: String,
    /// Run only shard K of N (1-based), to split a run across CI machines.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Scenarios run at once (default: the number of CPUs, at most 4, when both sides are the
    /// simulator; 1 when a real module takes part, which may not stand concurrent sessions
    /// well: SoftHSMv2's file store answers CKR_GENERAL_ERROR under concurrent writes).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Report format. Every format starts with the environment block (hsmsim version and
    /// commit, date, host, lab file and SHA-256, each party's module, library, token and
    /// mechanisms); markdown and html hold every scenario's transcript, for signing off.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Discovery only: read the parties' slot, token and mechanism information (no login, no
    /// object created or changed) and print, per scenario, its steps and the objects it would
    /// create and destroy on each party.
    #[arg(long)]
    dry_run: bool,
    /// The simulator's module for `sim` targets (default: $HSMSIM_MODULE, else libhsmsim.so
    /// beside this program).
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not K/N"))?;
    let (k, n): (usize, usize) = (
        k.parse().map_err(|_| format!("{k:?} is not a number"))?,
        n.parse().map_err(|_| format!("{n:?} is not a number"))?,
    );
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n}: K must be 1 to N"));
    }
    Ok((k, n))
}

fn globs(list: &[String], what: &str) -> Result<Vec<glob::Pattern>, Failure> {
    list.iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| Failure(format!("{what} {g:?} is not a glob: {e}")))
        })
        .collect()
}

pub fn run(
    command: ConformanceCommand,
    choice: &hsmsim::estate::Choice,
) -> Result<ExitCode, Failure> {
    match command {
        ConformanceCommand::List { json, format } => {
            if format == ListFormat::Markdown {
                print!("{}", catalogue::markdown());
                return Ok(ExitCode::SUCCESS);
            }
            list(json || format == ListFormat::Json)
        }
        ConformanceCommand::Run(args) => run_procedures(*args, choice),
        ConformanceCommand::Worker { module } => {
            let (module, lab) = crate::lunacm::open_module(choice, module)?;
            hsmsim_conformance::procedures::luna::worker::serve(
                module,
                lab,
                std::io::stdin().lock(),
                std::io::stdout().lock(),
            )
            .map_err(Failure)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(json: bool) -> Result<ExitCode, Failure> {
    let all = catalogue::procedures();
    if json {
        let value: Vec<serde_json::Value> = all
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "title": p.title, "source": p.source, "tags": p.tags,
                    "parties": p.parties, "preconditions": p.preconditions, "outcome": p.outcome,
                    "variants": p.variants.iter().map(|v| serde_json::json!({"id": v.id, "what": v.what})).collect::<Vec<_>>(),
                    "negatives": p.negatives.iter().map(|n| serde_json::json!({"id": format!("negative:{}", n.id), "step": n.step, "what": n.what})).collect::<Vec<_>>(),
                    "steps": p.steps.iter().map(|s| serde_json::json!({"n": s.n, "party": s.party, "title": s.title, "vendor": s.vendor, "calls": s.calls})).collect::<Vec<_>>(),
                })
            })
            .collect();
        crate::print_json(&serde_json::json!({ "procedures": value }));
        return Ok(ExitCode::SUCCESS);
    }
    for p in &all {
        println!("{}  ({})", p.id, p.source);
        println!("  {}", p.title);
        for s in &p.steps {
            println!("  {}. [{}] {}", s.n, s.party, s.title);
            println!("       {}", s.vendor);
        }
        let variants: Vec<&str> = p.variants.iter().map(|v| v.id.as_str()).collect();
        println!("  variants: {}", variants.join(", "));
        for n in &p.negatives {
            println!("  negative:{} (step {}): {}", n.id, n.step, n.what);
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// The display name of a target: the URI without its PIN.
fn display_name(text: &str) -> String {
    let Some((head, query)) = text.split_once('?') else {
        return text.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|a| !a.starts_with("pin-value="))
        .collect();
    if kept.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", kept.join("&"))
    }
}

/// SIGINT / SIGTERM during the scenarios: the first sets `stop` (no further scenario starts; the
/// running ones finish and clean up what they made; the report is marked interrupted; exit
/// 130). A second one exits at once (130), after clearing the progress display, saying what the
/// running scenarios may leave behind, and removing the scratch lab.
fn on_interrupt(
    stop: Arc<AtomicBool>,
    bar: indicatif::ProgressBar,
) -> Result<signal_hook::iterator::Handle, Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Failure(format!("cannot handle Ctrl-C: {e}")))?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if !stop.swap(true, Ordering::SeqCst) {
                bar.suspend(|| {
                    eprintln!(
                        "hsmsim: interrupted: no further scenario starts; the running ones are cleaning up (interrupt again to quit at once)"
                    )
                });
                continue;
            }
            bar.finish_and_clear();
            let left = runner::in_flight();
            if left.is_empty() {
                eprintln!("hsmsim: quit at once; no scenario was running: nothing is left behind");
            } else {
                eprintln!("hsmsim: quit at once; these objects may be left behind:");
                for line in left {
                    eprintln!("  {line}");
                }
            }
            if let Some(dir) = hsmsim_conformance::target::scratch_dir() {
                let _ = std::fs::remove_dir_all(dir);
            }
            std::process::exit(130);
        }
    });
    Ok(handle)
}

fn run_procedures(args: RunArgs, choice: &hsmsim::estate::Choice) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    check_before_run(&args)?;
    let selection = Selection {
        procedures: globs(&args.procedures, "--procedure")?,
        tags: args.tags.clone(),
        variants: globs(&args.variants, "--variant")?,
        shard: args.shard,
    };
    let catalogue = catalogue::procedures();
    let scenarios = runner::plan(&catalogue, &selection);
    if scenarios.is_empty() {
        return Err(Failure(
            "no scenario matches the selection (see `hsmsim conformance list`)".into(),
        ));
    }
    let needs = |role: Role| {
        scenarios
            .iter()
            .any(|s| s.procedure.parties.contains(&role))
    };
    let sim_module = args.module.clone().or_else(find_sim_module);
    // The Luna procedures run their consoles in worker processes of this program.
    if let Ok(program) = std::env::current_exe() {
        hsmsim_conformance::procedures::luna::set_worker_program(program, sim_module.clone());
    }
    let env = match &choice.lab_file {
        // --lab: the `sim` parties run on the user's lab, once it is checked to hold what the
        // selected procedures need.
        Some(lab) => {
            check_user_lab(lab, choice, &args, &needs)?;
            Environment::with_user_lab(sim_module, choice.clone())
        }
        None => Environment::new(sim_module),
    };
    let env = if args.dry_run {
        env.discovery_only()
    } else {
        env.with_pin_prompt(crate::token_access::terminal_prompt())
    };
    let party = |text: &str, role: Role, default: &str| -> Result<_, Failure> {
        let name = uri::parse(text).map_err(|e| Failure(format!("--{role}: {e}")))?;
        env.party(&name, &display_name(text), role, default)
            .map(Some)
            .map_err(|e| Failure(format!("--{role}: {e}")))
    };
    let parties = Parties {
        origin: if needs(Role::Origin) {
            party(&args.origin, Role::Origin, "ACME-PKI")?
        } else {
            None
        },
        target: if needs(Role::Target) {
            party(&args.target, Role::Target, "ACME-DR")?
        } else {
            None
        },
    };
    if let (Some(o), Some(t)) = (&parties.origin, &parties.target)
        && Arc::ptr_eq(&o.module, &t.module)
        && o.slot == t.slot
    {
        return Err(Failure(format!(
            "--origin and --target name the same token ({:?}): a migration needs two",
            o.token_label
        )));
    }
    if args.dry_run {
        let mut text = String::from(
            "dry run: nothing was logged in to, created or changed; the scenarios would be:\n\n",
        );
        for scenario in &scenarios {
            text.push_str(&runner::describe_plan(scenario, &parties));
            text.push('\n');
        }
        return match &args.out {
            Some(path) => std::fs::write(path, &text)
                .map(|()| ExitCode::SUCCESS)
                .map_err(|e| Failure(format!("cannot write {}: {e}", path.display()))),
            None => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
        };
    }
    // Pre-flight: each party logs in once before any scenario; a refused PIN, or a token whose
    // next failed login would lock a role, stops the run here (exit 2).
    for party in [&parties.origin, &parties.target].into_iter().flatten() {
        party
            .preflight()
            .map_err(|e| Failure(format!("could not start: --{}: {e}", party.role)))?;
    }
    let all_simulated = [&parties.origin, &parties.target]
        .into_iter()
        .flatten()
        .all(|p| p.module.simulator);
    let jobs = args.jobs.unwrap_or_else(|| {
        if all_simulated {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            1
        }
    });
    let bar = indicatif::ProgressBar::new(scenarios.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let signals = on_interrupt(stop.clone(), bar.clone())?;
    // Not on a terminal (CI logs): a line per finished scenario instead of the progress bar.
    let lines = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let results = runner::run_all(&scenarios, &parties, jobs, &stop, &|r| {
        bar.set_message(format!("{} [{}]", r.procedure, r.variant));
        bar.inc(1);
        if lines {
            eprintln!(
                "hsmsim: [{}/{}] {} [{}] {}",
                bar.position(),
                scenarios.len(),
                r.procedure,
                r.variant,
                match r.status {
                    Status::Pass => "pass",
                    Status::Fail => "FAIL",
                    Status::NotApplicable => "not applicable",
                }
            );
        }
    });
    signals.close();
    bar.finish_and_clear();
    let interrupted = stop.load(Ordering::SeqCst);
    let info = RunInfo {
        origin: parties.origin.as_ref().map(|p| p.describe()),
        target: parties.target.as_ref().map(|p| p.describe()),
        duration_ms: started.elapsed().as_millis() as u64,
        interrupted,
        planned: scenarios.len(),
        environment: RunEnvironment::collect(&parties),
    };
    let text = match args.format {
        Format::Table => report::table(&results, &info),
        Format::Json => report::json(&results, &info),
        Format::Junit => report::junit(&results, &info).map_err(Failure)?,
        Format::Markdown => report::markdown(&results, &info),
        Format::Html => report::html(&results, &info),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
            // The report is in the file: the terminal gets the summary and where it is.
            eprint!("{}", report::summary(&results, &info));
            eprintln!("hsmsim: report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(if interrupted {
        eprintln!(
            "hsmsim: interrupted: {} of {} scenarios ran (report marked interrupted)",
            results.len(),
            scenarios.len()
        );
        ExitCode::from(130)
    } else if results.iter().any(|r| r.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--lab FILE` given to a run: the `sim` parties the selected procedures use must find their
/// token in it (by default "ACME-PKI" as the origin and "ACME-DR" as the target, else the
/// `sim:token=LABEL` named), with the user PIN the lab file documents. A lab no party uses, or
/// one without those tokens, stops the run with a sentence (exit 2) instead of being ignored.
fn check_user_lab(
    lab: &std::path::Path,
    choice: &hsmsim::estate::Choice,
    args: &RunArgs,
    needs: &dyn Fn(Role) -> bool,
) -> Result<(), Failure> {
    let mut wanted = Vec::new();
    for (role, text, default) in [
        (Role::Origin, &args.origin, "ACME-PKI"),
        (Role::Target, &args.target, "ACME-DR"),
    ] {
        if !needs(role) {
            continue;
        }
        if let Ok(uri::TargetName::Sim { selector }) = uri::parse(text) {
            let label = selector
                .token
                .clone()
                .unwrap_or_else(|| default.to_string());
            wanted.push((role, label));
        }
    }
    if wanted.is_empty() {
        return Err(Failure(format!(
            "--lab {}: no party of the selected procedures is `sim` (--origin and --target name other modules), so the lab would not be used; leave out --lab",
            lab.display()
        )));
    }
    let tokens = hsmsim_conformance::target::lab_tokens(choice)
        .map_err(|e| Failure(format!("--lab {}: {e}", lab.display())))?;
    for (role, label) in &wanted {
        match tokens.iter().find(|(l, _)| l == label) {
            Some((_, true)) => {}
            Some((_, false)) => {
                return Err(Failure(format!(
                    "--lab {}: the selected procedures need the {role} token {label:?} with a user PIN, and the lab file documents none for it; add its user_pin to the lab file, or leave out --lab to run on a scratch copy of the primus fixture",
                    lab.display()
                )));
            }
            None => {
                let have: Vec<String> = tokens.iter().map(|(l, _)| format!("{l:?}")).collect();
                let a = if *role == Role::Origin { "an" } else { "a" };
                return Err(Failure(format!(
                    "--lab {}: the selected procedures need {a} {role} token labelled {label:?} (a Primus partition with a documented user PIN), and this lab has {}; name one with --{role} sim:token=LABEL, or leave out --lab to run on a scratch copy of the primus fixture",
                    lab.display(),
                    if have.is_empty() {
                        "no initialised partition".to_string()
                    } else {
                        format!("only {}", have.join(", "))
                    }
                )));
            }
        }
    }
    Ok(())
}

/// The options a run can only fail on at its end, checked before it starts: `--out` must name
/// a file that can be written (its directory exists and takes a new file; nothing is left
/// there by the check), `--module` a file that exists.
fn check_before_run(args: &RunArgs) -> Result<(), Failure> {
    if let Some(module) = &args.module
        && !module.is_file()
    {
        return Err(Failure(format!(
            "--module {}: there is no such file (give the path of libhsmsim.so, e.g. target/release/libhsmsim.so)",
            module.display()
        )));
    }
    if let Some(out) = &args.out {
        if out.is_dir() {
            return Err(Failure(format!(
                "--out {}: is a directory; name a file",
                out.display()
            )));
        }
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Failure(format!(
                "--out {}: the directory {} does not exist",
                out.display(),
                dir.display()
            )));
        }
        let probe = dir.join(format!(".hsmsim-out-check-{}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e) => {
                return Err(Failure(format!(
                    "--out {}: cannot write in {}: {e}",
                    out.display(),
                    dir.display()
                )));
            }
        }
        if out.exists() && std::fs::OpenOptions::new().append(true).open(out).is_err() {
            return Err(Failure(format!(
                "--out {}: the file exists and cannot be written",
                out.display()
            )));
        }
    }
    Ok(())
}
