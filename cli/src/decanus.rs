//! `hsmsim decanus --device D`: the Securosys Decanus terminal of the lab's Primus device `D`
//! (seed 000), with its menus typed as the seed writes them (`BACKUP > PARTITION BACKUP >
//! P-BACKUP CARD > "ACME-PKI" > INSERT Yellow Card into Slot 2 > PIN > PIN`) or chosen by
//! number (or with the arrow keys after an empty line) on its screens. The terminal is `hsmsim_consoles::decanus`; this adapter feeds it
//! lines: `-c LINE` (repeatable) then the lines of `-f FILE`, else standard input; on a
//! terminal with its screens, the `Decanus DA>` / `Decanus PA>` prompt and line editing, PINs
//! asked without echo (`console_input`). Scripted, a value the path leaves out is read from
//! the next line (a PIN shows as `********` in the transcript), and the first ERROR ends the
//! run. Exit status: 0 every line done; 1 the device or the terminal refused one
//! (`ERROR: <sentence> (<CKR_NAME>)`); 2 a line the terminal cannot take (not an item, a value
//! missing at the end of the input).
use crate::Failure;
use crate::console_input::{ConsoleInput, Ran, drive, script_lines};
use hsmsim::estate::{self, Choice};
use hsmsim_consoles::command_line::Prompts;
use hsmsim_consoles::decanus::{Status, Terminal};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_help = "Examples (the seed's paths):
  hsmsim decanus --device primus-onprem -c 'SYSTEM > DIAG. DEVICE > LICENSE'
  hsmsim decanus --device primus-onprem -c 'card insert so-1 --slot 1' -c 'card insert so-2 --slot 2' \\
      -c 'SO ACTIVATION > ENTER PIN of 1st SO > ENTER PIN of 2nd SO > ROLES > USER > MGMT Password > \"ACME-ADCS\"' \\
      -c 11111111 -c 22222222
  hsmsim decanus --device primus-onprem -f steps.txt

Terminal commands: card insert NAME --slot 1|2, card remove --slot 1|2, usb insert DIR,
usb remove, status, help, exit. Lines starting with # are comments.")]
pub struct DecanusArgs {
    /// The Primus device of the lab the terminal is paired with.
    #[arg(long, value_name = "DEVICE")]
    device: String,
    /// The terminal is used over the network (needs the licence item Decanus Remote Terminal).
    #[arg(long)]
    remote: bool,
    /// Run a line (a menu path, a terminal command, or the answer to the previous line's
    /// question); repeat for several, run in order before the lines of -f.
    #[arg(short = 'c', value_name = "LINE")]
    command: Vec<String>,
    /// Run the lines of a script file, one a line (`#` starts a comment line).
    #[arg(short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
}

/// The terminal's questions: asked at a terminal (PINs without echo), else answered by the
/// next line of the input, shown in the transcript (PINs as `********`).
struct Answers<'a> {
    input: &'a mut ConsoleInput,
}

impl Answers<'_> {
    fn scripted(&mut self, question: &str, shown: impl Fn(&str) -> String) -> Option<String> {
        print!("{question}");
        let answer = self.input.next_line();
        println!("{}", answer.as_deref().map(shown).unwrap_or_default());
        answer
    }
}

impl Prompts for Answers<'_> {
    fn secret(&mut self, question: &str) -> Option<String> {
        if self.input.interactive() {
            return self.input.secret(question);
        }
        self.scripted(question, |_| "********".into())
    }

    fn answer(&mut self, question: &str) -> Option<String> {
        if self.input.interactive() {
            return self.input.answer(question);
        }
        self.scripted(question, str::to_string)
    }
}

/// At a terminal, an empty line: the screen's items chosen with the arrow keys and Enter
/// (`dialoguer`), as the number of the item (`0`: BACK); `None` when Escape leaves the choice.
fn choose_with_arrows(terminal: &Terminal) -> Option<String> {
    let (items, back) = terminal.choices();
    let mut labels: Vec<&str> = items.clone();
    if back {
        labels.push("BACK");
    }
    let picked = dialoguer::Select::new()
        .with_prompt("Choose with the arrow keys and Enter (Escape: none)")
        .items(&labels)
        .default(0)
        .interact_on_opt(&dialoguer::console::Term::stdout())
        .ok()??;
    Some(if picked == items.len() {
        "0".to_string()
    } else {
        (picked + 1).to_string()
    })
}

fn exit_status(status: &Status) -> u8 {
    match status {
        Status::Done => 0,
        Status::Refused(_) => 1,
        Status::Usage => 2,
    }
}

pub fn run(choice: &Choice, args: DecanusArgs) -> Result<ExitCode, Failure> {
    let selection = estate::select(choice)?;
    let scripted = !args.command.is_empty() || args.file.is_some();
    let one_command = args.command.len() == 1 && args.file.is_none();
    let mut lines = args.command;
    if let Some(file) = &args.file {
        lines.extend(script_lines(file)?);
    }
    let mut input = ConsoleInput::from_lines(scripted.then_some(lines), one_command, "");
    let mut terminal = match Terminal::new(selection, &args.device, args.remote) {
        Ok(terminal) => terminal,
        Err(reply) => {
            print!("{}", reply.text);
            return Ok(ExitCode::from(exit_status(&reply.status)));
        }
    };
    input.set_prompt(terminal.prompt());
    let interactive = input.interactive();
    if interactive {
        println!("{}", terminal.banner());
        println!(
            "Choose an item by its number, or press Enter and choose it with the arrow keys; a path runs at once.\n"
        );
        print!("{}", terminal.screen());
    }
    let worst = drive(&mut input, |line, input| {
        let chosen;
        let line = if interactive && line.trim().is_empty() {
            chosen = choose_with_arrows(&terminal)?;
            chosen.as_str()
        } else {
            line
        };
        let reply = terminal.run_line(line, &mut Answers { input })?;
        input.set_prompt(terminal.prompt());
        let status = exit_status(&reply.status);
        let mut output = reply.text;
        // At a terminal the screen stays in view after each answer.
        if interactive && !reply.exit && !output.ends_with(&terminal.screen()) {
            output.push('\n');
            output.push_str(&terminal.screen());
        }
        Some(Ran {
            output,
            status,
            exit: reply.exit || (status != 0 && !interactive),
        })
    });
    Ok(ExitCode::from(worst))
}
