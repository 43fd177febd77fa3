//! The `hsmsim` command line: inspect the simulated estate (slots, tokens, mechanisms) and run
//! the self-test that exercises every mechanism family on the built-in default lab.
mod selftest;

use clap::{Parser, Subcommand};
use hsmsim::engine::{Config, Engine};
use hsmsim::mechanisms::MECHANISMS;
use serde_json::json;
use std::process::ExitCode;

/// A software HSM that behaves like Thales Luna and Securosys Primus hardware.
///
/// State lives in $HSMSIM_STATE_DIR, else ~/.local/share/hsmsim/<lab>; HSMSIM_LAB=generic
/// selects the lab with blank tokens.
#[derive(Parser)]
#[command(name = "hsmsim", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the slots and the tokens they hold.
    Slots {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the mechanisms with their key sizes and flags (CK_MECHANISM_INFO).
    Mechanisms {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Exercise every mechanism family on a token: generate keys, sign and verify, encrypt and
    /// decrypt, wrap and unwrap, derive. Objects are session objects; nothing is left behind.
    Selftest {
        /// The slot whose token to use.
        #[arg(long, default_value_t = 0)]
        slot: u64,
        /// The user PIN (default: the default lab's user PIN).
        #[arg(long, default_value = hsmsim::engine::DEFAULT_USER_PIN)]
        pin: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn open_engine() -> Result<Engine, String> {
    let config = Config::from_environment().map_err(|e| e.to_string())?;
    Engine::open(&config)
        .map_err(|e| format!("cannot open the lab at {}: {e}", config.state_dir.display()))
}

fn slots(json: bool) -> Result<ExitCode, String> {
    let engine = open_engine()?;
    let mut rows = Vec::new();
    for id in engine.slot_ids() {
        let info = engine.token_info(id).map_err(|e| e.to_string())?;
        let label = String::from_utf8_lossy(&info.label).trim_end().to_string();
        let initialised = info.flags & cryptoki_sys::CKF_TOKEN_INITIALIZED != 0;
        rows.push(
            json!({"slot": id, "label": label, "serial": info.serial, "initialized": initialised}),
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "slots": rows })).expect("JSON")
        );
    } else {
        println!(
            "{:<6} {:<34} {:<18} initialised",
            "slot", "token label", "serial"
        );
        for r in &rows {
            println!(
                "{:<6} {:<34} {:<18} {}",
                r["slot"].as_u64().unwrap_or_default(),
                r["label"].as_str().unwrap_or(""),
                r["serial"].as_str().unwrap_or(""),
                if r["initialized"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn flag_names(flags: u64) -> String {
    use cryptoki_sys::*;
    let names = [
        (CKF_ENCRYPT, "encrypt"),
        (CKF_DECRYPT, "decrypt"),
        (CKF_DIGEST, "digest"),
        (CKF_SIGN, "sign"),
        (CKF_SIGN_RECOVER, "sign-recover"),
        (CKF_VERIFY, "verify"),
        (CKF_VERIFY_RECOVER, "verify-recover"),
        (CKF_GENERATE, "generate"),
        (CKF_GENERATE_KEY_PAIR, "generate-key-pair"),
        (CKF_WRAP, "wrap"),
        (CKF_UNWRAP, "unwrap"),
        (CKF_DERIVE, "derive"),
    ];
    names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

fn mechanisms(json: bool) -> ExitCode {
    if json {
        let rows: Vec<_> = MECHANISMS
            .iter()
            .map(|m| {
                json!({"mechanism": m.name, "type": m.mechanism_type, "min_key_size": m.min_key_size,
                       "max_key_size": m.max_key_size, "flags": m.flags, "functions": flag_names(m.flags)})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "mechanisms": rows })).expect("JSON")
        );
    } else {
        println!("{:<28} {:>6} {:>6}  functions", "mechanism", "min", "max");
        for m in MECHANISMS {
            println!(
                "{:<28} {:>6} {:>6}  {}",
                m.name,
                m.min_key_size,
                m.max_key_size,
                flag_names(m.flags)
            );
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Slots { json } => slots(json),
        Command::Mechanisms { json } => Ok(mechanisms(json)),
        Command::Selftest { slot, pin, json } => {
            open_engine().map(|e| selftest::run(&e, slot, &pin, json))
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hsmsim: {message}");
            ExitCode::from(2)
        }
    }
}
