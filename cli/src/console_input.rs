//! Where the vendor consoles (`hsmsim lunacm`, `hsmsim lunash`) read their commands and
//! answers: one command with `-c "..."`, a script with `-f FILE` (`#` starts a comment line),
//! else standard input; on a terminal with the console's prompt, line editing and history
//! (`rustyline`). Missing passwords are asked for without echo (`rpassword`, on a terminal
//! only); proceed answers are always read from standard input (the next line when the
//! commands come from there too, as the Luna consoles read a piped script). `drive` runs the
//! lines through a console and gives the exit status: 0 every command succeeded, 1 one was
//! refused (or a proceed prompt not answered `proceed`), 2 one could not run.
use crate::Failure;
use hsmsim_consoles::command_line::Prompts;
use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// `-c` and `-f`, shared by the consoles.
#[derive(clap::Args)]
pub struct ScriptArgs {
    /// Run one command (`-c "slot list"`) and exit.
    #[arg(short = 'c', value_name = "COMMAND", conflicts_with = "file")]
    pub command: Option<String>,
    /// Run the commands of a script, one a line (`#` starts a comment line).
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// A console's input.
pub struct ConsoleInput {
    /// The commands of `-c` or `-f`; `None`: standard input.
    queue: Option<VecDeque<String>>,
    terminal: bool,
    /// Line editing and history at the prompt (interactive only; plain reads when the
    /// terminal cannot be set up).
    editor: Option<rustyline::DefaultEditor>,
    prompt: String,
    /// Commands come from `-c`: no echo of the command line.
    one_command: bool,
}

impl ConsoleInput {
    /// The input `args` choose, with the console's `prompt` (`lunacm:>`).
    pub fn new(args: &ScriptArgs, prompt: impl Into<String>) -> Result<ConsoleInput, Failure> {
        let lines = match (&args.command, &args.file) {
            (Some(line), _) => Some(vec![line.clone()]),
            (None, Some(file)) => Some(script_lines(file)?),
            (None, None) => None,
        };
        Ok(ConsoleInput::from_lines(
            lines,
            args.command.is_some(),
            prompt,
        ))
    }

    /// The input of the lines given (`None`: standard input); `one_command`: the lines are
    /// not echoed after the prompt (a single `-c`).
    pub fn from_lines(
        lines: Option<Vec<String>>,
        one_command: bool,
        prompt: impl Into<String>,
    ) -> ConsoleInput {
        let queue = lines.map(VecDeque::from);
        let terminal = std::io::stdin().is_terminal();
        let editor = if queue.is_none() && terminal {
            rustyline::DefaultEditor::new().ok()
        } else {
            None
        };
        ConsoleInput {
            queue,
            terminal,
            editor,
            prompt: prompt.into(),
            one_command,
        }
    }

    /// The prompt from now on (a console whose prompt shows its mode).
    pub fn set_prompt(&mut self, prompt: impl Into<String>) {
        self.prompt = prompt.into();
    }

    /// The next line of the commands' own input, as the answer to a question the console
    /// asked (`-c`, `-f` and piped scripts carry their answers on the lines that follow).
    pub fn next_line(&mut self) -> Option<String> {
        match &mut self.queue {
            Some(queue) => queue.pop_front(),
            None => Self::stdin_line(),
        }
    }

    /// A person types at a terminal (banner, prompt, exit status 0).
    pub fn interactive(&self) -> bool {
        self.queue.is_none() && self.terminal
    }

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
                    return match editor.readline(&self.prompt) {
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
                    print!("{}", self.prompt);
                    flush();
                }
                Self::stdin_line()
            }
        }
    }
}

/// The lines of a script file (`-f`).
pub fn script_lines(file: &std::path::Path) -> Result<Vec<String>, Failure> {
    let text = hsmsim::base::files::read_to_string(file)
        .map_err(|e| Failure(format!("-f {}: cannot read it: {e}", file.display())))?;
    Ok(text.lines().map(str::to_string).collect())
}

fn flush() {
    let _ = std::io::stdout().flush();
}

impl Prompts for ConsoleInput {
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

/// What one command line gave: its whole output, its exit status (0, 1, 2) and whether the
/// console ends.
pub struct Ran {
    pub output: String,
    pub status: u8,
    pub exit: bool,
}

/// Runs every line of `input` through `run` (`None`: an empty line), printing each output
/// (scripts echo their lines after the prompt); the worst status, or 0 when interactive.
pub fn drive(
    input: &mut ConsoleInput,
    mut run: impl FnMut(&str, &mut ConsoleInput) -> Option<Ran>,
) -> u8 {
    let interactive = input.interactive();
    let echo = !input.one_command && !interactive;
    let mut worst = 0u8;
    while let Some(line) = input.next_command() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if echo && !line.trim().is_empty() {
            println!("{}{line}", input.prompt);
        }
        let Some(ran) = run(&line, input) else {
            continue;
        };
        print!("{}", ran.output);
        if interactive || echo {
            println!();
        }
        worst = worst.max(ran.status);
        if ran.exit {
            break;
        }
    }
    if interactive { 0 } else { worst }
}
