//! Post-quantum throughput: ML-DSA-65 signing and ML-KEM-768 encapsulation through
//! libhsmsim.so's C ABI against raw aws-lc-rs, one thread.
//!
//! `cargo bench -p hsmsim-benches --bench pqc` runs fixed-duration loops (~2 s per case, in
//! interleaved slices, median of 3 rounds; `HSMSIM_BENCH_QUICK=1`: ~0.5 s) and prints the
//! ratios (goal >= 0.9 each); they are also written to `target/hsmsim-bench-pqc.json`. The
//! module is `$HSMSIM_MODULE`, else `target/release/libhsmsim.so`.
//!
//! What each side does per operation: ML-DSA-65 — module: `C_SignInit(CKM_ML_DSA)` +
//! `C_Sign` of a 256-byte message (hedged), raw: `PqdsaKeyPair::sign`; ML-KEM-768 — module:
//! `C_EncapsulateKey(CKM_ML_KEM)` (which creates a 32-byte session secret key: PKCS#11 has no
//! encapsulation without one) + `C_DestroyObject` of that key, raw: `EncapsulationKey::
//! encapsulate`.
//!
//! Under `cargo test` (no `--bench` argument) it only checks the path: one operation each,
//! verified; it skips if the module is not built.
use aws_lc_rs::kem::{EncapsulationKey, ML_KEM_768};
use aws_lc_rs::signature::{ML_DSA_65, ML_DSA_65_SIGNING, PqdsaKeyPair, UnparsedPublicKey};
use cryptoki_sys::*;
use hsmsim_benches::{Module, RunMode, module_for, write_summary};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const MESSAGE_LEN: usize = 256;
const USER_PIN: &[u8] = b"12345678";
const SIG_LEN: usize = 3309;
const CT_LEN: usize = 1088;
const SLICES: u32 = 10;
const GOAL: f64 = 0.9;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    RawSign,
    ModuleSign,
    RawEncaps,
    ModuleEncaps,
}
const ALL: [Case; 4] = [
    Case::RawSign,
    Case::ModuleSign,
    Case::RawEncaps,
    Case::ModuleEncaps,
];

struct Fixture {
    module: Module,
    session: CK_SESSION_HANDLE,
    dsa_private: CK_OBJECT_HANDLE,
    kem_public: CK_OBJECT_HANDLE,
    raw_dsa: PqdsaKeyPair,
    raw_ek: EncapsulationKey,
    message: Vec<u8>,
    _state: tempfile::TempDir,
}

const SECRET_CLASS: [u8; 8] = CKO_SECRET_KEY.to_ne_bytes();
const GENERIC: [u8; 8] = CKK_GENERIC_SECRET.to_ne_bytes();

impl Fixture {
    fn new(path: &std::path::Path) -> Result<Fixture, String> {
        let state = tempfile::Builder::new()
            .prefix("hsmsim-bench-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // SAFETY: called from `main` before any other thread is started and before the module
        // (the only reader) is initialised.
        unsafe { std::env::set_var("HSMSIM_STATE_DIR", state.path()) };
        let e = |e: hsmsim_benches::Error| e.to_string();
        let mut module = Module::load(path)?;
        module.initialize().map_err(e)?;
        let slot = *module
            .slots_with_token()
            .map_err(e)?
            .first()
            .ok_or("no slot with a token")?;
        let session = module.open_session(slot, true).map_err(e)?;
        module.login(session, CKU_USER, USER_PIN).map_err(e)?;
        let set65 = CKP_ML_DSA_65.to_ne_bytes();
        let (dsa_public, dsa_private) = module
            .generate_key_pair(
                session,
                CKM_ML_DSA_KEY_PAIR_GEN,
                &[(CKA_PARAMETER_SET, &set65)],
                &[],
            )
            .map_err(|x| format!("ML-DSA-65 key pair: {x}"))?;
        let set768 = CKP_ML_KEM_768.to_ne_bytes();
        let (kem_public, _kem_private) = module
            .generate_key_pair(
                session,
                CKM_ML_KEM_KEY_PAIR_GEN,
                &[(CKA_PARAMETER_SET, &set768)],
                &[],
            )
            .map_err(|x| format!("ML-KEM-768 key pair: {x}"))?;
        let message: Vec<u8> = (0..MESSAGE_LEN).map(|i| (i * 7 + 3) as u8).collect();

        // The module's outputs check out with aws-lc-rs.
        let mut sig = vec![0u8; SIG_LEN];
        let n = module
            .sign(session, CKM_ML_DSA, dsa_private, &message, &mut sig)
            .map_err(e)?;
        let pk = module
            .attribute(session, dsa_public, CKA_VALUE)
            .map_err(e)?;
        UnparsedPublicKey::new(&ML_DSA_65, &pk)
            .verify(&message, &sig[..n])
            .map_err(|_| "the module's ML-DSA-65 signature does not verify")?;
        let ek = module
            .attribute(session, kem_public, CKA_VALUE)
            .map_err(e)?;
        let mut ct = vec![0u8; CT_LEN];
        let (n, key) = module
            .encapsulate(session, kem_public, &secret_template(), &mut ct)
            .map_err(e)?;
        let shared = module.attribute(session, key, CKA_VALUE).map_err(e)?;
        module.destroy(session, key).map_err(e)?;
        // The private key is sensitive, so the module's ciphertext is not decapsulated here;
        // the raw side encapsulates to the module's own public key.
        let raw_ek = EncapsulationKey::new(&ML_KEM_768, &ek)
            .map_err(|_| "the module's ML-KEM-768 public key is not usable by aws-lc-rs")?;
        if n != CT_LEN || shared.len() != 32 {
            return Err("unexpected ML-KEM-768 output sizes".into());
        }
        // The raw signing key: aws-lc-rs's own, as in the sign benchmark.
        let raw_dsa =
            PqdsaKeyPair::generate(&ML_DSA_65_SIGNING).map_err(|_| "aws-lc-rs ML-DSA-65 keygen")?;
        Ok(Fixture {
            module,
            session,
            dsa_private,
            kem_public,
            raw_dsa,
            raw_ek,
            message,
            _state: state,
        })
    }

    #[inline]
    fn once(&self, case: Case, buf: &mut [u8]) {
        match case {
            Case::RawSign => {
                let n = self
                    .raw_dsa
                    .sign(&self.message, &mut buf[..SIG_LEN])
                    .expect("raw sign");
                black_box(n);
            }
            Case::ModuleSign => {
                let n = self
                    .module
                    .sign(
                        self.session,
                        CKM_ML_DSA,
                        self.dsa_private,
                        &self.message,
                        &mut buf[..SIG_LEN],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(n);
            }
            Case::RawEncaps => {
                let r = self.raw_ek.encapsulate().expect("raw encapsulate");
                black_box(r);
            }
            Case::ModuleEncaps => {
                let (n, key) = self
                    .module
                    .encapsulate(
                        self.session,
                        self.kem_public,
                        &secret_template(),
                        &mut buf[..CT_LEN],
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(n);
                self.module
                    .destroy(self.session, key)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        black_box(&buf);
    }

    fn run_for(&self, case: Case, d: Duration) -> (u64, f64) {
        let mut buf = vec![0u8; SIG_LEN];
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            self.once(case, &mut buf);
            n += 1;
            if start.elapsed() >= d {
                break;
            }
        }
        (n, start.elapsed().as_secs_f64())
    }
}

/// The new key: a generic secret, readable (the fixture reads its value once).
fn secret_template() -> [(CK_ATTRIBUTE_TYPE, &'static [u8]); 4] {
    [
        (CKA_CLASS, &SECRET_CLASS),
        (CKA_KEY_TYPE, &GENERIC),
        (CKA_SENSITIVE, &[0]),
        (CKA_EXTRACTABLE, &[1]),
    ]
}

/// Median ops/s per case (`ALL` order) over 3 rounds of interleaved slices.
fn measure(f: &Fixture, loop_time: Duration) -> Vec<f64> {
    let mut samples = vec![Vec::new(); ALL.len()];
    let slice = loop_time / SLICES;
    for _ in 0..3 {
        let mut acc = vec![(0u64, 0f64); ALL.len()];
        for _ in 0..SLICES {
            for (i, c) in ALL.iter().enumerate() {
                let (n, s) = f.run_for(*c, slice);
                acc[i].0 += n;
                acc[i].1 += s;
            }
        }
        for (i, (n, s)) in acc.into_iter().enumerate() {
            samples[i].push(n as f64 / s);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

fn main() -> ExitCode {
    let mode = RunMode::from_env();
    let path = match module_for("pqc", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let fixture = match Fixture::new(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: the module's ML-DSA / ML-KEM path is not usable: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !mode.bench {
        // Test mode: one operation of each case.
        let mut buf = vec![0u8; SIG_LEN];
        for c in ALL {
            fixture.once(c, &mut buf);
        }
        return ExitCode::SUCCESS;
    }
    let loop_time = Duration::from_millis(if mode.quick { 500 } else { 2000 });
    let ops = measure(&fixture, loop_time);
    let sign_ratio = ops[1] / ops[0];
    let encaps_ratio = ops[3] / ops[2];
    let verdict = |r: f64| if r >= GOAL { "ok" } else { "BELOW GOAL" };
    println!();
    println!(
        "hsmsim post-quantum throughput summary ({:.1} s per case per round in {SLICES} \
         interleaved slices, median of 3 rounds, 1 thread, session keys)",
        loop_time.as_secs_f64()
    );
    println!("{:<44} {:>10}", "ops/s", "1 thread");
    for (name, i) in [
        ("ML-DSA-65 sign, raw aws-lc-rs", 0),
        ("ML-DSA-65 sign, libhsmsim.so", 1),
        ("ML-KEM-768 encapsulate, raw aws-lc-rs", 2),
        ("ML-KEM-768 encapsulate, libhsmsim.so", 3),
    ] {
        println!("{name:<44} {:>10.0}", ops[i]);
    }
    println!();
    println!(
        "ML-DSA-65 sign: module/raw = {sign_ratio:.2} (goal >= {GOAL}) {}",
        verdict(sign_ratio)
    );
    println!(
        "ML-KEM-768 encapsulate (+ the new key's C_DestroyObject): module/raw = \
         {encaps_ratio:.2} (goal >= {GOAL}) {}",
        verdict(encaps_ratio)
    );
    let json = serde_json::json!({
        "ml_dsa_65_sign_ratio": sign_ratio,
        "ml_kem_768_encapsulate_ratio": encaps_ratio,
        "raw_ml_dsa_65_sign_ops": ops[0],
        "module_ml_dsa_65_sign_ops": ops[1],
        "raw_ml_kem_768_encapsulate_ops": ops[2],
        "module_ml_kem_768_encapsulate_ops": ops[3],
        "goal": GOAL,
        "loop_seconds": loop_time.as_secs_f64(),
        "rounds": 3,
        "message_len": MESSAGE_LEN,
    });
    write_summary(
        "hsmsim-bench-pqc.json",
        serde_json::to_string_pretty(&json).expect("JSON"),
    );
    ExitCode::SUCCESS
}
