//! `hsmsim lunacm`: Thales Luna's LunaCM for a client host of the lab (`--host`: the
//! simulator's module initialised on the lab, showing that host's slots) or for any PKCS#11
//! library with Luna's `CA_*` extensions (`--module PATH`, e.g. a real Luna client library).
//! One command with `-c "..."`, a script with `-f FILE`, else the commands on standard input;
//! on a terminal with LunaCM's banner and `lunacm:>` prompt, with line editing and history
//! (`rustyline`). The language is the LunaCM console of `hsmsim_consoles`; this adapter opens
//! the module, feeds it lines, asks for missing passwords without echo (`rpassword`, on a
//! terminal only) and reads the proceed answers from standard input. Exit status: 0 when every
//! command ended with `No Error`, 1 when the module refused one (or a proceed prompt was not
//! answered `proceed`), 2 when one could not run (bad input, a password nobody could give).
use crate::Failure;
use hsmsim::estate::{self, Choice, LabSelection};
use hsmsim_consoles::backend::module::{self, SimulatorLab, find_sim_module};
use hsmsim_consoles::lunacm::{Console, Prompts, Status};
use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LunacmArgs {
    /// Any PKCS#11 library with Luna's CA_* extensions (a real Luna client library) instead
    /// of the simulator's module for --host.
    #[arg(long, value_name = "PATH")]
    module: Option<PathBuf>,
    /// Run one command (`-c "slot list"`) and exit.
    #[arg(short = 'c', value_name = "COMMAND", conflicts_with = "file")]
    command: Option<String>,
    /// Run the commands of a script, one a line (`#` starts a comment line).
    #[arg(short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
}

/// Where the commands come from, and the proceed answers (always standard input: the next
/// line when the commands come from there too, as LunaCM reads a piped script).
struct Input {
    /// The commands of `-c` or `-f`; `None`: standard input.
    queue: Option<VecDeque<String>>,
    terminal: bool,
    /// Line editing and history at the `lunacm:>` prompt (interactive only; plain reads when
    /// the terminal cannot be set up).
    editor: Option<rustyline::DefaultEditor>,
}

impl Input {
    fn stdin_line() -> Option<String> {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }

    fn next_command(&mut self) -> Option<String> {
        match &mut self.queue {
            Some(queue) => queue.pop_front(),
            None => {
                if let Some(editor) = self.editor.as_mut() {
                    return match editor.readline("lunacm:>") {
                        Ok(line) => {
                            let _ = editor.add_history_entry(line.as_str());
                            Some(line)
                        }
                        // Ctrl-C drops the line being typed, as a shell does.
                        Err(rustyline::error::ReadlineError::Interrupted) => Some(String::new()),
                        Err(_) => None,
                    };
                }
                if self.terminal {
                    print!("lunacm:>");
                    flush();
                }
                Self::stdin_line()
            }
        }
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
}

impl Prompts for Input {
    fn secret(&mut self, question: &str) -> Option<String> {
        if !self.terminal {
            return None;
        }
        rpassword::prompt_password(question.trim_start_matches('\n'))
            .ok()
            .filter(|p| !p.is_empty())
    }

    fn answer(&mut self, question: &str) -> Option<String> {
        print!("{question}");
        flush();
        let answer = Self::stdin_line();
        if !self.terminal {
            // The transcript shows what was answered.
            println!("{}", answer.as_deref().unwrap_or(""));
        }
        answer
    }
}

/// The module the console drives: `--module`, else the simulator's on the chosen lab (with
/// that lab, for `partition archive` and `hagroup`).
fn open_module(
    choice: &Choice,
    path: Option<PathBuf>,
) -> Result<(std::sync::Arc<module::Module>, Option<LabSelection>), Failure> {
    crate::token_access::check_module(path.as_deref())?;
    match path {
        Some(path) => {
            let module =
                module::open(&path, None).map_err(|e| Failure(format!("--module: {e}")))?;
            if !module.ca_extensions {
                return Err(Failure(format!(
                    "--module {}: the library does not export Luna's CA_* extensions (no CA_GetFunctionList): LunaCM drives a Luna client library",
                    path.display()
                )));
            }
            Ok((module, None))
        }
        None => {
            let path = find_sim_module().ok_or_else(|| {
                Failure(
                    "the simulator's module libhsmsim.so is not beside hsmsim: build it (cargo build) or set HSMSIM_MODULE".into(),
                )
            })?;
            let selection = estate::select(choice)?;
            let hosts: Vec<&str> = selection
                .lab
                .file
                .hosts
                .iter()
                .map(|h| h.name.get_ref().as_str())
                .collect();
            if let Some(host) = &selection.host
                && !hosts.contains(&host.as_str())
            {
                return Err(Failure(format!(
                    "--host {host}: the lab has no such client host; its hosts: {}",
                    hosts.join(", ")
                )));
            }
            let lab = SimulatorLab {
                lab_file: selection.lab_file.clone(),
                host: selection.host.clone(),
                state_dir: selection.state_dir.clone(),
            };
            let module = module::open(&path, Some(&lab)).map_err(|e| Failure(e.0))?;
            Ok((module, Some(selection)))
        }
    }
}

pub fn run(choice: &Choice, args: LunacmArgs) -> Result<ExitCode, Failure> {
    let queue = match (&args.command, &args.file) {
        (Some(line), _) => Some(VecDeque::from([line.clone()])),
        (None, Some(file)) => {
            let text = hsmsim::base::files::read_to_string(file)
                .map_err(|e| Failure(format!("-f {}: cannot read it: {e}", file.display())))?;
            Some(text.lines().map(str::to_string).collect())
        }
        (None, None) => None,
    };
    let (module, lab) = open_module(choice, args.module)?;
    let mut console = Console::new(module).map_err(Failure)?;
    if let Some(lab) = lab {
        console = console.with_lab(lab);
    }
    let terminal = std::io::stdin().is_terminal();
    let interactive = queue.is_none() && terminal;
    let echo = args.command.is_none() && !interactive;
    let editor = if interactive {
        rustyline::DefaultEditor::new().ok()
    } else {
        None
    };
    let mut input = Input {
        queue,
        terminal,
        editor,
    };
    if interactive {
        println!("{}", hsmsim_consoles::lunacm::output::banner());
        if let Some(reply) = console.run_line("slot list", &mut input) {
            print!("{}", reply.text);
        }
        println!();
    }
    let mut worst = 0u8;
    while let Some(line) = input.next_command() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if echo && !line.trim().is_empty() {
            println!("lunacm:>{line}");
        }
        let Some(reply) = console.run_line(&line, &mut input) else {
            continue;
        };
        print!("{}", reply.render());
        if interactive || echo {
            println!();
        }
        let code = match reply.status {
            Status::Done => 0,
            Status::Refused(_) | Status::Aborted => 1,
            Status::Usage(_) => 2,
        };
        worst = worst.max(code);
        if reply.exit {
            break;
        }
    }
    drop(console);
    Ok(ExitCode::from(if interactive { 0 } else { worst }))
}
