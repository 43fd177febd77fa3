//! The ten Luna procedures of seed 003 (`luna.*`): each scenario makes its own lab from the
//! chapter's fixture (`lab`), changed for its variant (`variants`) and negative case, puts the
//! realistic mix on the source, then types the guide's LunaCM commands step by step into
//! `hsmsim lunacm` consoles running as worker processes, one per client host (`worker`); the
//! appliance step of the HA procedures goes through the LunaSH console, moving the Backup HSM
//! between hosts through the lab. Outcome: the destination holds what the source holds (count,
//! labels, classes, key types, policy attributes, `CKA_OUID`s), every key is proven equal by
//! use, the source is unchanged. Negative cases check the documented refusal and that nothing
//! is lost. A procedure's steps live in `steps`; against PKCS#11 URIs naming two tokens of one
//! Luna client library, `real` replays the clone procedures there, initialising nothing.
pub mod lab;
mod real;
pub(crate) mod steps;
pub mod variants;
pub mod worker;

use crate::runner::{Case, Parties, Run, Stop};
use hsmsim_consoles::backend::calls::{Call, record};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use worker::{Request, Response};

/// The program whose `conformance worker` subcommand runs a console host (the `hsmsim`
/// executable; the CLI sets it to itself).
static WORKER_PROGRAM: OnceLock<(PathBuf, Option<PathBuf>)> = OnceLock::new();

/// Sets the program that runs workers (`<program> --lab F --state-dir D --host H conformance
/// worker`) and the simulator's module they load (`HSMSIM_MODULE`).
pub fn set_worker_program(program: PathBuf, sim_module: Option<PathBuf>) {
    let _ = WORKER_PROGRAM.set((program, sim_module));
}

/// The program that runs workers and the simulator's module they load (the `hsmsim`
/// executable, whose other commands the CloudHSM procedure runs too).
pub(crate) fn worker_program() -> Result<&'static (PathBuf, Option<PathBuf>), Stop> {
    WORKER_PROGRAM.get().ok_or_else(|| {
        Stop::NotApplicable(
            "the Luna procedures run LunaCM in worker processes of the hsmsim program, and this runner was not given it".into(),
        )
    })
}

/// Carries out one scenario of a Luna procedure.
pub fn run(run: &mut Run<'_>, parties: &Parties) -> Result<(), Stop> {
    steps::run(run, parties)
}

/// The objects a scenario makes: the mix, on the source partition of the scenario's own lab
/// (a scratch directory removed when the scenario ends, with everything the procedure copied).
pub fn planned_objects() -> Vec<super::PlannedObject> {
    worker::MIX
        .iter()
        .map(|kind| super::PlannedObject {
            tagged: true,
            party: crate::target::Role::Origin,
            name: kind.to_string(),
            what: format!(
                "{} on the source partition (with `sim`, in the scenario's own lab, removed with it; on a real token, destroyed when the scenario ends)",
                match *kind {
                    "rsa" => "an RSA-2048 key pair",
                    "ec" => "an EC P-256 key pair",
                    "aes" => "an AES-256 key",
                    "des3" => "a 3DES key",
                    "cert" => "an X.509 certificate",
                    _ => "a data object",
                }
            ),
            made_by: "precondition".into(),
        })
        .collect()
}

/// What a console command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Typed {
    pub line: String,
    pub output: String,
    /// `done`, `refused`, `aborted`, `usage`.
    pub status: String,
    pub code: Option<String>,
    pub prompts: Vec<String>,
}

impl Typed {
    /// The transcript as a console shows it.
    pub fn transcript(&self, prompt: &str) -> String {
        format!("{prompt} {}\n{}", self.line, self.output.trim_end())
    }
}

/// A console host: one worker process on one client host of the scenario's lab (or on a real
/// module). Killed when dropped.
pub struct Host {
    pub name: String,
    /// Which party the host's calls are recorded for.
    party: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Host {
    /// A worker on `host` of the scenario's lab, presenting `ped_keys` to the PED.
    pub fn spawn(
        lab: &lab::ScenarioLab,
        host: &str,
        ped_keys: Option<&str>,
        party: &'static str,
    ) -> Result<Host, Stop> {
        let (program, sim_module) = worker_program()?;
        let mut command = Command::new(program);
        command
            .arg("--lab")
            .arg(&lab.lab_file)
            .arg("--state-dir")
            .arg(lab.state_dir())
            .arg("--host")
            .arg(host)
            .args(["conformance", "worker"])
            .env_remove("HSMSIM_PED_KEYS")
            // A scenario's lab lives for one scenario and holds nothing of value: its PIN seals
            // use SP 800-132's minimum cost, so the guide's many logins take microseconds
            // (simulator-defined; a user's lab keeps the default, 600,000).
            .env("HSMSIM_PIN_KDF_ITERATIONS", "1000");
        if let Some(module) = sim_module {
            command.env("HSMSIM_MODULE", module);
        }
        if let Some(keys) = ped_keys {
            command.env("HSMSIM_PED_KEYS", keys);
        }
        Self::start(command, host, party)
    }

    /// A worker on a real Luna client library (`hsmsim conformance worker --module PATH`): it
    /// sees the slots the library shows this machine, and reads the library's own
    /// configuration from the environment it inherits.
    pub fn spawn_module(module: &std::path::Path, party: &'static str) -> Result<Host, Stop> {
        let (program, _) = worker_program()?;
        let mut command = Command::new(program);
        command
            .args(["conformance", "worker", "--module"])
            .arg(module)
            .env_remove("HSMSIM_PED_KEYS");
        let name = module.file_name().unwrap_or(module.as_os_str());
        Self::start(command, &name.to_string_lossy(), party)
    }

    fn start(mut command: Command, name: &str, party: &'static str) -> Result<Host, Stop> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Stop::fail(format!("cannot start the console worker for {name}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(Stop::fail("the console worker has no pipes"));
        };
        Ok(Host {
            name: name.to_string(),
            party,
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// Sends one request and reads its answer; the worker's calls join this thread's
    /// recording.
    pub fn ask(&mut self, request: &Request) -> Result<Response, Stop> {
        let text = serde_json::to_string(request).map_err(|e| Stop::fail(e.to_string()))?;
        let gone = |e: std::io::Error| {
            Stop::fail(format!(
                "the console worker of host {} stopped answering: {e}",
                self.name
            ))
        };
        writeln!(self.stdin, "{text}").map_err(gone)?;
        self.stdin.flush().map_err(gone)?;
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).map_err(gone)?;
        if n == 0 {
            return Err(Stop::fail(format!(
                "the console worker of host {} ended without answering",
                self.name
            )));
        }
        let response: Response = serde_json::from_str(&line)
            .map_err(|e| Stop::fail(format!("the console worker's answer: {e}")))?;
        let calls = match &response {
            Response::Objects { calls, .. }
            | Response::Bytes { calls, .. }
            | Response::Done { calls, .. }
            | Response::Failed { calls, .. } => calls.clone(),
            Response::Console { .. } => Vec::new(),
        };
        for c in calls {
            record(Call {
                party: Some(self.party),
                function: c.function,
                subject: c.subject,
                rv: c.rv,
                duration_us: c.duration_us,
            });
        }
        Ok(response)
    }

    /// Types a LunaCM command line; `proceed` answers the proceed prompt, `secrets` the
    /// password prompts.
    pub fn lunacm(
        &mut self,
        line: &str,
        proceed: Option<&str>,
        secrets: &[&str],
    ) -> Result<Typed, Stop> {
        match self.ask(&Request::Lunacm {
            line: line.to_string(),
            proceed: proceed.map(str::to_string),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        })? {
            Response::Console {
                output,
                status,
                code,
                prompts,
            } => Ok(Typed {
                line: line.to_string(),
                output,
                status,
                code,
                prompts,
            }),
            Response::Failed { detail, .. } => Err(Stop::fail(detail)),
            other => Err(Stop::fail(format!("unexpected answer {other:?}"))),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The case's negative, if any.
pub(crate) fn negative_id(case: &Case) -> Option<&str> {
    match case {
        Case::Negative(n) => Some(n.id.as_str()),
        Case::Positive(_) => None,
    }
}

/// The objects a worker answered with.
pub(crate) fn objects(host: &mut Host, request: &Request) -> Result<Vec<worker::ObjectInfo>, Stop> {
    match host.ask(request)? {
        Response::Objects { objects, .. } => Ok(objects),
        Response::Failed { detail, .. } => Err(Stop::fail(detail)),
        other => Err(Stop::fail(format!("unexpected answer {other:?}"))),
    }
}

/// One side of a proof by use: a slot and its Crypto Officer's PIN (none on a PED).
pub(crate) type Side = (u64, Option<String>);

/// Proves the mix's keys (labelled `<kind>-<tag>`) on `a` and `b` the same keys by use: RSA
/// and EC signed on each side and verified on the other, AES and 3DES encrypted on each side and
/// decrypted on the other. `skip` names a class (`CKO_PRIVATE_KEY`, `CKO_SECRET_KEY`) not
/// copied, whose keys are left out.
pub(crate) fn prove_by_use(
    host: &mut Host,
    a: &Side,
    b: &Side,
    tag: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<String, Stop> {
    use hsmsim_consoles::backend::objects::hex;
    use worker::KeyUse;
    let mut data = vec![0u8; 48];
    let _ = aws_lc_rs::rand::fill(&mut data);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data);
    let mut use_key =
        |side: &Side, kind: &str, class: &str, action, input: &[u8], extra: &[u8]| match host.ask(
            &Request::Use {
                slot: side.0,
                pin: side.1.clone(),
                label: format!("{kind}-{tag}"),
                class: class.into(),
                action,
                data: hex(input),
                extra: hex(extra),
            },
        )? {
            Response::Bytes { hex, .. } => {
                ::hex::decode(hex).map_err(|e| Stop::fail(format!("bad hex from the worker: {e}")))
            }
            Response::Failed { detail, .. } => {
                Err(Stop::fail(format!("{kind} on slot {}: {detail}", side.0)))
            }
            other => Err(Stop::fail(format!("unexpected answer {other:?}"))),
        };
    let ways = [(a, b), (b, a)];
    let mut notes = Vec::new();
    if !skip("CKO_PRIVATE_KEY") {
        for (kind, message) in [("rsa", &data[..]), ("ec", digest.as_ref())] {
            for (from, to) in ways {
                let signature = use_key(from, kind, "CKO_PRIVATE_KEY", KeyUse::Sign, message, &[])?;
                use_key(to, kind, "CKO_PUBLIC_KEY", KeyUse::Verify, message, &signature)
                    .map_err(|e| {
                        Stop::fail(format!(
                            "the keys differ: {kind}: signed on slot {}, not verified on slot {}: {e:?}",
                            from.0, to.0
                        ))
                    })?;
            }
            notes.push(format!(
                "{kind}: signed on each side, verified on the other"
            ));
        }
    }
    if !skip("CKO_SECRET_KEY") {
        for (kind, iv_len) in [("aes", 16), ("des3", 8)] {
            let mut iv = vec![0u8; iv_len];
            let _ = aws_lc_rs::rand::fill(&mut iv);
            for (from, to) in ways {
                let sealed = use_key(from, kind, "CKO_SECRET_KEY", KeyUse::Encrypt, &data, &iv)?;
                let opened = use_key(to, kind, "CKO_SECRET_KEY", KeyUse::Decrypt, &sealed, &iv)?;
                if opened != data {
                    return Err(Stop::fail(format!(
                        "the keys differ: {kind}: encrypted on slot {}, decrypted on slot {} to other data",
                        from.0, to.0
                    )));
                }
            }
            notes.push(format!(
                "{kind}: encrypted on each side, decrypted on the other"
            ));
        }
    }
    Ok(notes.join("; "))
}
