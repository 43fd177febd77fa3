//! Signing throughput: libhsmsim.so through its C ABI against raw aws-lc-rs, one and two
//! threads.
//!
//! `cargo bench -p hsmsim-benches --bench sign` runs the criterion benchmarks, then its own
//! fixed-duration loops (~2 s per case, in interleaved slices, median of 3 rounds) and prints the ratios the module is judged by;
//! they are also written to `target/hsmsim-bench-sign.json`. `HSMSIM_BENCH_QUICK=1` skips
//! criterion and uses ~0.5 s loops. The module is `$HSMSIM_MODULE`, else
//! `target/release/libhsmsim.so` (`cargo build --release -p hsmsim`).
//!
//! Under `cargo test` (no `--bench` argument) it only checks the path: keys, one verified
//! signature each, one criterion pass; it skips if the module is not built.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use criterion::{Criterion, Throughput};
use cryptoki_sys::*;
use hsmsim_benches::{Entry, Module, RunMode, module_for, write_summary};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The message signed on both paths (between 32 B and 1 KiB: a typical document digest
/// input / TLS handshake transcript size).
const MESSAGE_LEN: usize = 256;
const USER_PIN: &[u8] = b"12345678";
const EXPECTED_LABEL: &str = "hsmsim-default";
const RSA_SIG_LEN: usize = 256;
const EC_SIG_LEN: usize = 64;
const MAX_THREADS: usize = 2;
/// Slices per summary loop (see `measure_summary`).
const SLICES: u32 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Alg {
    Rsa,
    Ec,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Raw,
    Module,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    alg: Alg,
    path: Path,
    threads: usize,
}

impl Case {
    fn name(&self) -> String {
        let path = match self.path {
            Path::Raw => "raw-aws-lc-rs",
            Path::Module => "module",
        };
        format!("{path}/{}-thread", self.threads)
    }
}

const ALL_CASES: [Case; 8] = {
    const fn c(alg: Alg, path: Path, threads: usize) -> Case {
        Case { alg, path, threads }
    }
    [
        c(Alg::Rsa, Path::Raw, 1),
        c(Alg::Rsa, Path::Module, 1),
        c(Alg::Rsa, Path::Raw, 2),
        c(Alg::Rsa, Path::Module, 2),
        c(Alg::Ec, Path::Raw, 1),
        c(Alg::Ec, Path::Module, 1),
        c(Alg::Ec, Path::Raw, 2),
        c(Alg::Ec, Path::Module, 2),
    ]
};

/// Module side: keys on the default token, one logged-in session per thread.
struct ModuleSide {
    module: Module,
    sessions: Vec<CK_SESSION_HANDLE>,
    rsa: CK_OBJECT_HANDLE,
    ec: CK_OBJECT_HANDLE,
}

struct Fixture {
    module: Result<ModuleSide, String>,
    raw_rsa: RsaKeyPair,
    raw_ec: EcdsaKeyPair,
    rng: SystemRandom,
    message: Vec<u8>,
    // Kept until the end: the module's state lives here.
    _state: Option<tempfile::TempDir>,
}

impl Fixture {
    fn new(module_path: &std::path::Path) -> Fixture {
        let message: Vec<u8> = (0..MESSAGE_LEN).map(|i| (i * 7 + 3) as u8).collect();
        let raw_rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("aws-lc-rs RSA-2048 keygen");
        let raw_ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("aws-lc-rs P-256 keygen");
        let state = tempfile::Builder::new()
            .prefix("hsmsim-bench-")
            .tempdir()
            .expect("temporary state directory");
        set_state_dir(state.path());
        let module = open_module(module_path, &message);
        Fixture {
            module,
            raw_rsa,
            raw_ec,
            rng: SystemRandom::new(),
            message,
            _state: Some(state),
        }
    }

    fn module(&self) -> &ModuleSide {
        self.module
            .as_ref()
            .expect("module path checked before use")
    }

    /// One signature on thread `t` (0-based) into `buf`.
    #[inline]
    fn sign_once(&self, alg: Alg, path: Path, t: usize, buf: &mut [u8]) {
        match (alg, path) {
            (Alg::Rsa, Path::Raw) => {
                self.raw_rsa
                    .sign(
                        &RSA_PKCS1_SHA256,
                        &self.rng,
                        &self.message,
                        &mut buf[..RSA_SIG_LEN],
                    )
                    .expect("raw RSA sign");
            }
            (Alg::Ec, Path::Raw) => {
                let sig = self
                    .raw_ec
                    .sign(&self.rng, &self.message)
                    .expect("raw ECDSA sign");
                black_box(sig);
            }
            (Alg::Rsa, Path::Module) => {
                let m = self.module();
                let n = m
                    .module
                    .sign(
                        m.sessions[t],
                        CKM_SHA256_RSA_PKCS,
                        m.rsa,
                        &self.message,
                        &mut buf[..RSA_SIG_LEN],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                debug_assert_eq!(n, RSA_SIG_LEN);
            }
            (Alg::Ec, Path::Module) => {
                let m = self.module();
                let n = m
                    .module
                    .sign(
                        m.sessions[t],
                        CKM_ECDSA_SHA256,
                        m.ec,
                        &self.message,
                        &mut buf[..EC_SIG_LEN],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                debug_assert_eq!(n, EC_SIG_LEN);
            }
        }
        black_box(&buf);
    }

    /// Exactly `iters` signatures split over `case.threads` threads; the wall time from the
    /// moment every thread is ready until the last one is done.
    fn run_iters(&self, case: Case, iters: u64) -> Duration {
        if case.threads == 1 {
            let mut buf = [0u8; RSA_SIG_LEN];
            let start = Instant::now();
            for _ in 0..iters {
                self.sign_once(case.alg, case.path, 0, &mut buf);
            }
            return start.elapsed();
        }
        let barrier = Barrier::new(case.threads);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..case.threads)
                .map(|t| {
                    let share = iters / case.threads as u64
                        + u64::from((t as u64) < iters % case.threads as u64);
                    let barrier = &barrier;
                    s.spawn(move || {
                        let mut buf = [0u8; RSA_SIG_LEN];
                        barrier.wait();
                        let start = Instant::now();
                        for _ in 0..share {
                            self.sign_once(case.alg, case.path, t, &mut buf);
                        }
                        (start, Instant::now())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .collect()
        });
        span(&spans)
    }

    /// Signatures and wall seconds of a loop of about `duration` on `case.threads` threads.
    fn run_for(&self, case: Case, duration: Duration) -> (u64, f64) {
        let barrier = Barrier::new(case.threads);
        let results: Vec<(u64, Instant, Instant)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..case.threads)
                .map(|t| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let mut buf = [0u8; RSA_SIG_LEN];
                        barrier.wait();
                        let start = Instant::now();
                        let deadline = start + duration;
                        let mut n = 0u64;
                        let end = loop {
                            self.sign_once(case.alg, case.path, t, &mut buf);
                            n += 1;
                            let now = Instant::now();
                            if now >= deadline {
                                break now;
                            }
                        };
                        (n, start, end)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .collect()
        });
        let ops: u64 = results.iter().map(|r| r.0).sum();
        let spans: Vec<_> = results.iter().map(|r| (r.1, r.2)).collect();
        (ops, span(&spans).as_secs_f64())
    }
}

fn span(spans: &[(Instant, Instant)]) -> Duration {
    let start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("one thread at least");
    let end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("one thread at least");
    end - start
}

fn set_state_dir(dir: &std::path::Path) {
    // SAFETY: called from `main` before any other thread is started and before the module
    // (the only reader) is initialised, so nothing reads the environment concurrently.
    unsafe { std::env::set_var("HSMSIM_STATE_DIR", dir) };
}

/// Loads and initialises the module, logs in, generates the keys, and checks one signature of
/// each kind against the public key read back through the module.
fn open_module(path: &std::path::Path, message: &[u8]) -> Result<ModuleSide, String> {
    let mut module = Module::load(path)?;
    let v = module.version();
    eprintln!(
        "module: {} (function list {}.{} via {})",
        path.display(),
        v.major,
        v.minor,
        match module.entry() {
            Entry::Interface3_0 => "C_GetInterface(\"PKCS 11\", 3.0)",
            Entry::FunctionList => "C_GetFunctionList",
        }
    );
    let e = |e: hsmsim_benches::Error| e.to_string();
    module.initialize().map_err(e)?;
    let (manufacturer, description, lib_version) = module.info().map_err(e)?;
    eprintln!(
        "module: {manufacturer} / {description} {}.{}",
        lib_version.major, lib_version.minor
    );
    let slot = *module
        .slots_with_token()
        .map_err(e)?
        .first()
        .ok_or("the module reports no slot with a token")?;
    let label = module.token_label(slot).map_err(e)?;
    if label != EXPECTED_LABEL {
        return Err(format!(
            "slot {slot} holds token {label:?}, expected the default lab's {EXPECTED_LABEL:?}"
        ));
    }
    let mut sessions = Vec::new();
    for _ in 0..MAX_THREADS {
        sessions.push(module.open_session(slot, true).map_err(e)?);
    }
    // Login is per application (token-wide): once is enough for every session.
    module.login(sessions[0], CKU_USER, USER_PIN).map_err(e)?;
    eprintln!(
        "module: slot {slot} {label:?}, {} R/W sessions, user logged in",
        sessions.len()
    );

    let (rsa_pub, rsa) = module
        .generate_rsa(sessions[0], 2048, false)
        .map_err(|x| format!("RSA-2048 key pair: {x}"))?;
    let (ec_pub, ec) = module
        .generate_ec_p256(sessions[0], false)
        .map_err(|x| format!("EC P-256 key pair: {x}"))?;

    // One signature each, from each session, verified with aws-lc-rs.
    let n = module
        .attribute(sessions[0], rsa_pub, CKA_MODULUS)
        .map_err(e)?;
    let exp = module
        .attribute(sessions[0], rsa_pub, CKA_PUBLIC_EXPONENT)
        .map_err(e)?;
    let point = module
        .attribute(sessions[0], ec_pub, CKA_EC_POINT)
        .map_err(e)?;
    let point = unwrap_octet_string(&point);
    for &s in &sessions {
        let mut sig = [0u8; RSA_SIG_LEN];
        let len = module
            .sign(s, CKM_SHA256_RSA_PKCS, rsa, message, &mut sig)
            .map_err(e)?;
        PublicKeyComponents {
            n: &n[..],
            e: &exp[..],
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, &sig[..len])
        .map_err(|_| "the module's RSA signature does not verify".to_string())?;
        let mut sig = [0u8; EC_SIG_LEN];
        let len = module
            .sign(s, CKM_ECDSA_SHA256, ec, message, &mut sig)
            .map_err(e)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(message, &sig[..len])
            .map_err(|_| "the module's ECDSA signature does not verify".to_string())?;
    }
    eprintln!("module: RSA-2048 and P-256 keys generated; signatures verify with aws-lc-rs");
    Ok(ModuleSide {
        module,
        sessions,
        rsa,
        ec,
    })
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the uncompressed point (some modules give the
/// raw point): returns the point.
fn unwrap_octet_string(v: &[u8]) -> &[u8] {
    match v {
        [0x04, len, rest @ ..] if *len as usize == rest.len() && rest.first() == Some(&0x04) => {
            rest
        }
        _ => v,
    }
}

fn criterion_benches(c: &mut Criterion, f: &Fixture) {
    for alg in [Alg::Rsa, Alg::Ec] {
        let mut group = c.benchmark_group(match alg {
            Alg::Rsa => "sign/RSA-2048-PKCS1v15-SHA256",
            Alg::Ec => "sign/ECDSA-P256-SHA256",
        });
        // Per-iteration time is the aggregate time per signature: elements/s is the total
        // throughput, whatever the thread count.
        group.throughput(Throughput::Elements(1));
        if alg == Alg::Rsa {
            group.measurement_time(Duration::from_secs(8));
        }
        for case in ALL_CASES.iter().filter(|c| c.alg == alg) {
            if case.path == Path::Module && f.module.is_err() {
                continue;
            }
            group.bench_function(case.name(), |b| {
                b.iter_custom(|iters| f.run_iters(*case, iters))
            });
        }
        group.finish();
    }
}

struct Summary {
    /// Median ops/s per case, in `ALL_CASES` order.
    ops: Vec<Option<f64>>,
    seconds: f64,
}

impl Summary {
    fn get(&self, alg: Alg, path: Path, threads: usize) -> Option<f64> {
        ALL_CASES
            .iter()
            .position(|c| c.alg == alg && c.path == path && c.threads == threads)
            .and_then(|i| self.ops[i])
    }
}

fn measure_summary(f: &Fixture, loop_time: Duration, rounds: usize) -> Summary {
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); ALL_CASES.len()];
    // Each round's loop is cut into slices that alternate between the cases, so background
    // load (other builds on a shared machine, frequency changes) hits every case alike and
    // the ratios stay meaningful even when absolute numbers move.
    let slice = loop_time / SLICES;
    for _ in 0..rounds {
        let mut acc = vec![(0u64, 0f64); ALL_CASES.len()];
        for _ in 0..SLICES {
            for (i, case) in ALL_CASES.iter().enumerate() {
                if case.path == Path::Module && f.module.is_err() {
                    continue;
                }
                let (ops, secs) = f.run_for(*case, slice);
                acc[i].0 += ops;
                acc[i].1 += secs;
            }
        }
        for (i, (ops, secs)) in acc.into_iter().enumerate() {
            if secs > 0.0 {
                samples[i].push(ops as f64 / secs);
            }
        }
    }
    let ops = samples
        .into_iter()
        .map(|mut s| {
            if s.is_empty() {
                return None;
            }
            s.sort_by(f64::total_cmp);
            Some(s[s.len() / 2])
        })
        .collect();
    Summary {
        ops,
        seconds: loop_time.as_secs_f64(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}"))
}

fn fmt_ops(o: Option<f64>) -> String {
    o.map_or("n/a".into(), |o| format!("{o:.0}"))
}

fn verdict(r: Option<f64>, goal: f64) -> &'static str {
    match r {
        Some(r) if r >= goal => "ok",
        Some(_) => "BELOW GOAL",
        None => "not measured",
    }
}

fn report(s: &Summary, module_error: Option<&str>) {
    use Alg::*;
    use Path::*;
    let rsa_ratio = ratio(s.get(Rsa, Module, 1), s.get(Rsa, Raw, 1));
    let ec_ratio = ratio(s.get(Ec, Module, 1), s.get(Ec, Raw, 1));
    let rsa_scaling = ratio(s.get(Rsa, Module, 2), s.get(Rsa, Module, 1));
    let ec_scaling = ratio(s.get(Ec, Module, 2), s.get(Ec, Module, 1));
    let raw_rsa_scaling = ratio(s.get(Rsa, Raw, 2), s.get(Rsa, Raw, 1));
    let raw_ec_scaling = ratio(s.get(Ec, Raw, 2), s.get(Ec, Raw, 1));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    println!();
    println!(
        "hsmsim sign throughput summary ({:.1} s per case per round in {SLICES} interleaved \
         slices, median of 3 rounds, {MESSAGE_LEN}-byte message, session keys, {cores} cores)",
        s.seconds
    );
    println!("{:<36} {:>12} {:>12}", "ops/s", "1 thread", "2 threads");
    for (name, alg, path) in [
        ("RSA-2048 raw aws-lc-rs", Rsa, Raw),
        ("RSA-2048 libhsmsim.so", Rsa, Module),
        ("ECDSA P-256 raw aws-lc-rs", Ec, Raw),
        ("ECDSA P-256 libhsmsim.so", Ec, Module),
    ] {
        println!(
            "{name:<36} {:>12} {:>12}",
            fmt_ops(s.get(alg, path, 1)),
            fmt_ops(s.get(alg, path, 2))
        );
    }
    println!();
    println!(
        "RSA-2048 PKCS#1 v1.5: module/raw = {} (goal >= 0.95) {}",
        fmt_ratio(rsa_ratio),
        verdict(rsa_ratio, 0.95)
    );
    println!(
        "ECDSA P-256: module/raw = {} (goal >= 0.80) {}",
        fmt_ratio(ec_ratio),
        verdict(ec_ratio, 0.80)
    );
    println!(
        "two threads / one thread: module RSA x{}, ECDSA x{} (goal >= 1.8) {}",
        fmt_ratio(rsa_scaling),
        fmt_ratio(ec_scaling),
        match (rsa_scaling, ec_scaling) {
            (Some(a), Some(b)) if a >= 1.8 && b >= 1.8 => "ok",
            (Some(_), Some(_)) => "BELOW GOAL",
            _ => "not measured",
        }
    );
    println!(
        "two threads / one thread, raw aws-lc-rs (reference): RSA x{}, ECDSA x{}",
        fmt_ratio(raw_rsa_scaling),
        fmt_ratio(raw_ec_scaling)
    );
    if let (Some(a), Some(b)) = (raw_rsa_scaling, raw_ec_scaling)
        && a.min(b) < 1.8
    {
        println!(
            "note: raw aws-lc-rs itself scales below x1.8 here: the second core was busy \
             (other load on the machine); judge the module's scaling against raw's"
        );
    }
    if let Some(e) = module_error {
        println!("module path NOT measured: {e}");
    }

    let json = serde_json::json!({
        "rsa_ratio": rsa_ratio,
        "ecdsa_ratio": ec_ratio,
        "rsa_scaling": rsa_scaling,
        "ecdsa_scaling": ec_scaling,
        "raw_rsa_scaling": raw_rsa_scaling,
        "raw_ecdsa_scaling": raw_ec_scaling,
        "raw_rsa_ops": s.get(Rsa, Raw, 1),
        "raw_rsa_ops_2t": s.get(Rsa, Raw, 2),
        "module_rsa_ops": s.get(Rsa, Module, 1),
        "module_rsa_ops_2t": s.get(Rsa, Module, 2),
        "raw_ecdsa_ops": s.get(Ec, Raw, 1),
        "raw_ecdsa_ops_2t": s.get(Ec, Raw, 2),
        "module_ecdsa_ops": s.get(Ec, Module, 1),
        "module_ecdsa_ops_2t": s.get(Ec, Module, 2),
        "goals": {"rsa_ratio": 0.95, "ecdsa_ratio": 0.80, "scaling": 1.8},
        "loop_seconds": s.seconds,
        "rounds": 3,
        "message_len": MESSAGE_LEN,
        "cores": cores,
        "module_error": module_error,
    });
    write_summary(
        "hsmsim-bench-sign.json",
        serde_json::to_string_pretty(&json).expect("JSON"),
    );
}

fn main() -> ExitCode {
    let mode = RunMode::from_env();
    let (bench_mode, quick) = (mode.bench, mode.quick);

    let path = match module_for("sign", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let fixture = Fixture::new(&path);
    let module_error = fixture.module.as_ref().err().cloned();
    if let Some(e) = &module_error {
        eprintln!("error: the module's sign path is not usable: {e}");
        eprintln!("       measuring the raw aws-lc-rs baseline only");
    }

    if !bench_mode {
        // Test mode: one pass of every benchmark, no summary.
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &fixture);
        return if module_error.is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    if !quick {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &fixture);
        c.final_summary();
    }
    let loop_time = Duration::from_millis(if quick { 500 } else { 2000 });
    let summary = measure_summary(&fixture, loop_time, 3);
    report(&summary, module_error.as_deref());
    // Close the sessions and finalise before the state directory goes.
    drop(fixture);
    if module_error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
