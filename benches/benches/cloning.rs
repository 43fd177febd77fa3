//! Luna cloning speed (issue 13, item 6): libhsmsim.so through its C ABI clones a mix of RSA
//! and EC private keys and AES keys from a partition of one Luna 7.8 device to a partition of
//! another, against creating the same objects with `C_CreateObject` in the same run.
//!
//! `cargo bench -p hsmsim-benches --bench cloning` measures, for 1,000, 10,000 and 100,000
//! objects (a third each RSA-2048, EC P-256 and AES-256 token keys, on fresh partitions per
//! size):
//! - `C_CreateObject` of the objects on the source partition (the baseline);
//! - `CA_CloneObject` of every object to a second partition, one call each;
//! - `CA_MigrateKeys` (Cloning Protocol v4, `CKF_CPV4_CONTINUE_ON_ERR`) of all of them to a
//!   third partition in one call, every object's result checked.
//!
//! It prints each time, the ratios against the baseline and the time per object at each size
//! (linear when it stays flat), with the goal (10,000 objects cloned in under 2 s; PASS/MISS,
//! reported, not enforced), and writes them to `target/hsmsim-bench-cloning.json`. It fails
//! only when a call fails. `HSMSIM_BENCH_QUICK=1` (CI) leaves out the 100,000 objects. Under
//! `cargo test` (no `--bench` argument) it runs the same path with tiny counts and writes
//! nothing; it skips if the module is not built. The module is `$HSMSIM_MODULE`, else
//! `target/release/libhsmsim.so`.
use cryptoki_sys::*;
use hsmsim_benches::{Module, RunMode, module_for, write_summary};
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const CO_PIN: &[u8] = b"co-pin-0001";
const GOAL_OBJECTS: usize = 10_000;
const GOAL_SECONDS: f64 = 2.0;
const CKF_CPV4_CONTINUE_ON_ERR: CK_ULONG = 0x01;

/// The object counts measured in each mode.
fn sizes(mode: &RunMode) -> Vec<usize> {
    match (mode.bench, mode.quick) {
        (false, _) => vec![30, 90],
        (true, true) => vec![1_000, GOAL_OBJECTS],
        (true, false) => vec![1_000, GOAL_OBJECTS, 100_000],
    }
}

/// The lab: per size, a source partition on device "a" and two targets on device "b", both
/// Luna Network HSM 7.8.4 in one cloning domain; a soft token makes the RSA key material.
/// Slots: 0 the soft token, then (source, `CA_CloneObject` target, `CA_MigrateKeys` target)
/// per size.
fn lab_toml(sizes: &[usize]) -> String {
    let partition = |name: String| {
        format!(
            "  [[device.partition]]\n  name = \"{name}\"\n  label = \"{name}\"\n  \
             so_pin = \"po-pin-0001\"\n  user_pin = \"co-pin-0001\"\n  domain = \"bench-domain\"\n"
        )
    };
    let mut lab = String::from("[lab]\nname = \"bench-cloning\"\n\n");
    lab += "[[device]]\nname = \"soft\"\nkind = \"soft\"\n";
    lab += "  [[device.partition]]\n  name = \"material\"\n  label = \"material\"\n  \
            so_pin = \"so-pin-0001\"\n  user_pin = \"co-pin-0001\"\n\n";
    lab += "[[device]]\nname = \"a\"\nkind = \"luna-network\"\nfirmware = \"7.8.4\"\n";
    for n in sizes {
        lab += &partition(format!("src-{n}"));
    }
    lab += "\n[[device]]\nname = \"b\"\nkind = \"luna-network\"\nfirmware = \"7.8.4\"\n";
    for n in sizes {
        lab += &partition(format!("clone-{n}"));
        lab += &partition(format!("migrate-{n}"));
    }
    lab += "\n[[host]]\nname = \"bench\"\nslot = [\n  { id = 0, partition = \"soft/material\" },\n";
    for (i, n) in sizes.iter().enumerate() {
        let base = 1 + 3 * i;
        lab += &format!(
            "  {{ id = {}, partition = \"a/src-{n}\" }},\n  {{ id = {}, partition = \"b/clone-{n}\" }},\n  \
             {{ id = {}, partition = \"b/migrate-{n}\" }},\n",
            base,
            base + 1,
            base + 2
        );
    }
    lab + "]\n"
}

/// The RSA-2048 private key's components, generated once on the soft token.
struct RsaMaterial {
    components: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>,
}

fn rsa_material(module: &Module) -> Result<RsaMaterial, String> {
    let e = |e: hsmsim_benches::Error| e.to_string();
    let session = module.open_session(0, true).map_err(e)?;
    module.login(session, CKU_USER, CO_PIN).map_err(e)?;
    let (t, f) = ([CK_TRUE], [CK_FALSE]);
    let bits = (2048 as CK_ULONG).to_ne_bytes();
    let (_, private) = module
        .generate_key_pair(
            session,
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &[
                (CKA_TOKEN, &f),
                (CKA_MODULUS_BITS, &bits),
                (CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
            ],
            &[(CKA_TOKEN, &f), (CKA_SENSITIVE, &f), (CKA_EXTRACTABLE, &t)],
        )
        .map_err(e)?;
    let mut components = Vec::new();
    for attr in [
        CKA_MODULUS,
        CKA_PUBLIC_EXPONENT,
        CKA_PRIVATE_EXPONENT,
        CKA_PRIME_1,
        CKA_PRIME_2,
        CKA_EXPONENT_1,
        CKA_EXPONENT_2,
        CKA_COEFFICIENT,
    ] {
        components.push((attr, module.attribute(session, private, attr).map_err(e)?));
    }
    module.close_session(session).map_err(e)?;
    Ok(RsaMaterial { components })
}

/// Creates object `i` of the mix on `session`: RSA, EC and AES in turn.
fn create_object(
    module: &Module,
    session: CK_SESSION_HANDLE,
    rsa: &RsaMaterial,
    i: usize,
) -> Result<CK_OBJECT_HANDLE, hsmsim_benches::Error> {
    let t = [CK_TRUE];
    let label = format!("bench-{i}");
    let id = (i as u64).to_be_bytes();
    let mut template: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> = vec![
        (CKA_TOKEN, &t),
        (CKA_LABEL, label.as_bytes()),
        (CKA_ID, &id),
        (CKA_SENSITIVE, &t),
    ];
    let (private, secret) = (CKO_PRIVATE_KEY.to_ne_bytes(), CKO_SECRET_KEY.to_ne_bytes());
    let (rsa_type, ec_type, aes_type) = (
        CKK_RSA.to_ne_bytes(),
        CKK_EC.to_ne_bytes(),
        CKK_AES.to_ne_bytes(),
    );
    let mut scalar = [0x11u8; 32];
    scalar[24..].copy_from_slice(&id);
    let mut aes_value = [0x5Au8; 32];
    aes_value[24..].copy_from_slice(&id);
    match i % 3 {
        0 => {
            template.extend([
                (CKA_CLASS, &private[..]),
                (CKA_KEY_TYPE, &rsa_type[..]),
                (CKA_PRIVATE, &t[..]),
                (CKA_SIGN, &t[..]),
            ]);
            template.extend(rsa.components.iter().map(|(a, v)| (*a, v.as_slice())));
        }
        1 => template.extend([
            (CKA_CLASS, &private[..]),
            (CKA_KEY_TYPE, &ec_type[..]),
            (CKA_PRIVATE, &t[..]),
            (CKA_SIGN, &t[..]),
            (CKA_EC_PARAMS, &hsmsim_benches::P256_EC_PARAMS[..]),
            (CKA_VALUE, &scalar[..]),
        ]),
        _ => template.extend([
            (CKA_CLASS, &secret[..]),
            (CKA_KEY_TYPE, &aes_type[..]),
            (CKA_ENCRYPT, &t[..]),
            (CKA_DECRYPT, &t[..]),
            (CKA_VALUE, &aes_value[..]),
        ]),
    }
    module.create_object(session, &template)
}

/// One size's times.
struct Run {
    objects: usize,
    create: Duration,
    clone_object: Duration,
    migrate_keys: Duration,
}

impl Run {
    fn per_object_us(d: Duration, n: usize) -> f64 {
        d.as_secs_f64() * 1e6 / n as f64
    }
}

fn measure(module: &Module, rsa: &RsaMaterial, slot: CK_SLOT_ID, n: usize) -> Result<Run, String> {
    let e = |e: hsmsim_benches::Error| e.to_string();
    let co = |slot| -> Result<CK_SESSION_HANDLE, String> {
        let s = module.open_session(slot, true).map_err(e)?;
        module.login(s, CKU_USER, CO_PIN).map_err(e)?;
        Ok(s)
    };
    let (source, clone_target, migrate_target) = (co(slot)?, co(slot + 1)?, co(slot + 2)?);
    let start = Instant::now();
    let mut objects = Vec::with_capacity(n);
    for i in 0..n {
        objects.push(create_object(module, source, rsa, i).map_err(e)?);
    }
    let create = start.elapsed();
    let start = Instant::now();
    for &object in &objects {
        module
            .ca_clone_object(clone_target, source, object)
            .map_err(e)?;
    }
    let clone_object = start.elapsed();
    let start = Instant::now();
    let results = module
        .ca_migrate_keys(source, migrate_target, CKF_CPV4_CONTINUE_ON_ERR, &objects)
        .map_err(e)?;
    let migrate_keys = start.elapsed();
    if let Some((rv, _)) = results.iter().find(|(rv, _)| *rv != CKR_OK) {
        return Err(format!("CA_MigrateKeys: an object failed with 0x{rv:X}"));
    }
    Ok(Run {
        objects: n,
        create,
        clone_object,
        migrate_keys,
    })
}

fn report(runs: &[Run]) -> serde_json::Value {
    println!();
    println!("Luna cloning, a third each RSA-2048 / EC P-256 / AES-256 token keys, 7.8.4 -> 7.8.4");
    println!(
        "{:>8} {:>12} {:>14} {:>14} {:>9} {:>9} {:>10} {:>10}",
        "objects",
        "create s",
        "CloneObject s",
        "MigrateKeys s",
        "clone/cr",
        "migr/cr",
        "clone us",
        "migr us"
    );
    let mut rows = Vec::new();
    for r in runs {
        let (c, o, m) = (
            r.create.as_secs_f64(),
            r.clone_object.as_secs_f64(),
            r.migrate_keys.as_secs_f64(),
        );
        println!(
            "{:>8} {:>12.3} {:>14.3} {:>14.3} {:>9.2} {:>9.2} {:>10.1} {:>10.1}",
            r.objects,
            c,
            o,
            m,
            o / c,
            m / c,
            Run::per_object_us(r.clone_object, r.objects),
            Run::per_object_us(r.migrate_keys, r.objects),
        );
        rows.push(json!({
            "objects": r.objects,
            "create_s": c,
            "clone_object_s": o,
            "migrate_keys_s": m,
            "clone_object_vs_create": o / c,
            "migrate_keys_vs_create": m / c,
            "clone_object_us_per_object": Run::per_object_us(r.clone_object, r.objects),
            "migrate_keys_us_per_object": Run::per_object_us(r.migrate_keys, r.objects),
        }));
    }
    let goal = runs.iter().find(|r| r.objects == GOAL_OBJECTS).map(|r| {
        let worst = r.clone_object.max(r.migrate_keys).as_secs_f64();
        let verdict = if worst < GOAL_SECONDS { "PASS" } else { "MISS" };
        println!(
            "goal: {GOAL_OBJECTS} objects cloned in under {GOAL_SECONDS} s by either call: {worst:.3} s {verdict}"
        );
        json!({"objects": GOAL_OBJECTS, "seconds": worst, "goal_seconds": GOAL_SECONDS, "verdict": verdict})
    });
    if let (Some(small), Some(large)) = (runs.first(), runs.last())
        && large.objects > small.objects
    {
        let growth = |d: fn(&Run) -> Duration| {
            Run::per_object_us(d(large), large.objects)
                / Run::per_object_us(d(small), small.objects)
        };
        println!(
            "linearity: time per object at {} vs {}: CA_CloneObject x{:.2}, CA_MigrateKeys x{:.2}, C_CreateObject x{:.2}",
            large.objects,
            small.objects,
            growth(|r| r.clone_object),
            growth(|r| r.migrate_keys),
            growth(|r| r.create),
        );
    }
    json!({ "runs": rows, "goal": goal })
}

fn main() -> ExitCode {
    let mode = RunMode::from_env();
    let path = match module_for("cloning", &mode) {
        Ok(p) => p,
        Err(exit) => return exit,
    };
    let sizes = sizes(&mode);
    let dir = tempfile::Builder::new()
        .prefix("hsmsim-bench-cloning-")
        .tempdir()
        .expect("temporary lab directory");
    let lab = dir.path().join("lab.toml");
    std::fs::write(&lab, lab_toml(&sizes)).expect("lab file");
    // SAFETY: set before any other thread starts and before the module (the only reader) is
    // initialised, so nothing reads the environment concurrently.
    unsafe { std::env::set_var("HSMSIM_CONF", &lab) };
    let outcome = (|| -> Result<serde_json::Value, String> {
        let mut module = Module::load(&path)?;
        module.initialize().map_err(|e| e.to_string())?;
        let rsa = rsa_material(&module)?;
        let mut runs = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            runs.push(measure(&module, &rsa, (1 + 3 * i) as CK_SLOT_ID, n)?);
        }
        let summary = report(&runs);
        module.finalize().map_err(|e| e.to_string())?;
        Ok(summary)
    })();
    match outcome {
        Ok(summary) => {
            if mode.bench {
                write_summary(
                    "hsmsim-bench-cloning.json",
                    serde_json::to_string_pretty(&summary).expect("JSON"),
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
