//! Login cost: `C_Login` + `C_Logout` as the user through libhsmsim.so's C ABI, on a fresh
//! default lab sealed at the module's default PIN KDF cost, against the raw key derivation
//! alone (PBKDF2-HMAC-SHA256 at the same 600,000 iterations, aws-lc-rs) in the same run
//! (issue 10, item 6). A login is one derivation and an AES-256-GCM open, so the ratio shows
//! what the module adds; the raw derivation's rate is also the offline guessing rate per core
//! against a copied lab.
//!
//! `cargo bench -p hsmsim-benches --bench login` runs a criterion benchmark of each, then its
//! own loops (interleaved slices, median of 3 rounds) and prints the summary, also written to
//! `target/hsmsim-bench-login.json`. `HSMSIM_BENCH_QUICK=1` skips criterion and uses fewer
//! logins. Under `cargo test` (no `--bench` argument) it logs in and derives once each and
//! writes nothing; it skips if the module is not built. The module is `$HSMSIM_MODULE`, else
//! `target/release/libhsmsim.so`. `HSMSIM_PIN_KDF_ITERATIONS` is removed from the environment
//! so the lab gets the default cost.
use aws_lc_rs::pbkdf2;
use criterion::{Criterion, SamplingMode};
use cryptoki_sys::*;
use hsmsim_benches::{Module, RunMode, module_for, write_summary};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USER_PIN: &[u8] = b"12345678";
const EXPECTED_LABEL: &str = "hsmsim-default";
/// The module's default PIN KDF cost (`hsmsim::base::secrets::seal::DEFAULT_PIN_KDF_ITERATIONS`; the tests in
/// `simulator/tests/pin_seal.rs` check that a fresh lab writes it).
const DEFAULT_ITERATIONS: u32 = 600_000;
/// Slices per round (see `measure`).
const SLICES: u32 = 4;

struct Fixture {
    module: Module,
    session: CK_SESSION_HANDLE,
    salt: [u8; 16],
    // Kept until the end: the module's state lives here.
    _state: tempfile::TempDir,
}

impl Fixture {
    fn new(path: &std::path::Path) -> Result<Fixture, String> {
        let state = tempfile::Builder::new()
            .prefix("hsmsim-bench-login-")
            .tempdir()
            .map_err(|e| format!("temporary state directory: {e}"))?;
        // SAFETY: called from `main` before any other thread is started and before the module
        // (the only reader) is initialised, so nothing reads the environment concurrently.
        unsafe {
            std::env::set_var("HSMSIM_STATE_DIR", state.path());
            std::env::remove_var("HSMSIM_PIN_KDF_ITERATIONS");
        }
        let mut module = Module::load(path)?;
        let e = |e: hsmsim_benches::Error| e.to_string();
        module.initialize().map_err(e)?;
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
        let session = module.open_session(slot, false).map_err(e)?;
        eprintln!("module: {} slot {slot} {label:?}", path.display());
        Ok(Fixture {
            module,
            session,
            salt: [0x5a; 16],
            _state: state,
        })
    }

    /// One `C_Login` (user) and `C_Logout`.
    fn login_logout(&self) {
        self.module
            .login(self.session, CKU_USER, USER_PIN)
            .unwrap_or_else(|e| panic!("{e}"));
        self.module
            .logout(self.session)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The key derivation a login does, alone.
    fn raw_kdf(&self) {
        let mut out = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(DEFAULT_ITERATIONS).expect("non-zero"),
            &self.salt,
            USER_PIN,
            &mut out,
        );
        black_box(out);
    }

    fn run(&self, module: bool, n: u32) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            if module {
                self.login_logout();
            } else {
                self.raw_kdf();
            }
        }
        start.elapsed()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.module.close_session(self.session);
        let _ = self.module.finalize();
    }
}

/// Median seconds per operation (module login + logout, raw derivation) over `rounds`, each
/// round `SLICES` slices of `per_slice` operations alternating between the two, so load on a
/// shared machine hits both alike.
fn measure(f: &Fixture, per_slice: u32, rounds: usize) -> (f64, f64) {
    let mut module = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..rounds {
        let (mut m, mut r) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..SLICES {
            m += f.run(true, per_slice);
            r += f.run(false, per_slice);
        }
        let n = f64::from(per_slice * SLICES);
        module.push(m.as_secs_f64() / n);
        raw.push(r.as_secs_f64() / n);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(module), median(raw))
}

fn criterion_benches(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("login");
    // A tenth of a second per iteration: few samples, each of the same number of iterations.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("module/C_Login+C_Logout", |b| b.iter(|| f.login_logout()));
    group.bench_function("raw-aws-lc-rs/PBKDF2-HMAC-SHA256-600000", |b| {
        b.iter(|| f.raw_kdf())
    });
    group.finish();
}

fn report(module: f64, raw: f64, per_slice: u32) {
    let ratio = module / raw;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "hsmsim login cost summary (PBKDF2-HMAC-SHA256, {DEFAULT_ITERATIONS} iterations; \
         {SLICES} interleaved slices of {per_slice} per round, median of 3 rounds, {cores} cores)"
    );
    println!(
        "C_Login + C_Logout, libhsmsim.so:      {:>8.1} ms",
        module * 1e3
    );
    println!(
        "raw PBKDF2, aws-lc-rs (same cost):     {:>8.1} ms",
        raw * 1e3
    );
    println!("module / raw = {ratio:.2}");
    println!(
        "offline guessing against a copied lab: about {:.1} PINs/s per core",
        1.0 / raw
    );
    let json = serde_json::json!({
        "kdf": "pbkdf2-hmac-sha256",
        "iterations": DEFAULT_ITERATIONS,
        "module_login_logout_seconds": module,
        "raw_kdf_seconds": raw,
        "ratio": ratio,
        "guesses_per_second_per_core": 1.0 / raw,
        "per_slice": per_slice,
        "slices": SLICES,
        "rounds": 3,
        "cores": cores,
    });
    write_summary(
        "hsmsim-bench-login.json",
        serde_json::to_string_pretty(&json).expect("JSON"),
    );
}

fn main() -> ExitCode {
    let mode = RunMode::from_env();
    let (bench_mode, quick) = (mode.bench, mode.quick);
    let path = match module_for("login", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let fixture = match Fixture::new(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: the module's login path is not usable: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !bench_mode {
        // Test mode: the path once each, no summary.
        fixture.login_logout();
        fixture.raw_kdf();
        return ExitCode::SUCCESS;
    }
    if !quick {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &fixture);
        c.final_summary();
    }
    let per_slice = if quick { 1 } else { 3 };
    let (module, raw) = measure(&fixture, per_slice, 3);
    report(module, raw, per_slice);
    ExitCode::SUCCESS
}
