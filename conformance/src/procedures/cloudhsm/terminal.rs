//! The Decanus terminal as a scenario types into it: one script per documented step (`hsmsim
//! decanus --device primus-onprem -f scripts/step-N.decanus`, a process of its own, so the
//! report shows each step's menu paths and what the terminal answered), with the answers to
//! the prompts each path raises on the lines after it, in the order the terminal asks. The PINs
//! and passwords the scenario types are shown as `********` in the report; the passwords the
//! device generates and shows once (management, backup) appear as the terminal showed them
//! (they open nothing once the scenario's lab is removed). What the scenario reads from the
//! answers: the management password, the backup password, the refusal.
use super::lab::{Lab, Ran, SOURCE_DEVICE};
use hsmsim_consoles::backend::outcome::Stop;

/// One line of a script: typed as it is, or a secret the report masks.
#[derive(Debug, Clone)]
enum Input {
    Line(String),
    Secret(String),
}

/// A Decanus script: the lines of one documented step.
#[derive(Debug, Clone)]
pub struct Script {
    name: String,
    lines: Vec<Input>,
}

impl Script {
    /// A script named after its step (`step-5`, `precondition-yellow`).
    pub fn new(name: &str) -> Script {
        Script {
            name: format!("{name}.decanus"),
            lines: Vec::new(),
        }
    }

    /// A menu path, a terminal command, a comment or a value the terminal prompts for.
    pub fn line(mut self, text: impl Into<String>) -> Script {
        self.lines.push(Input::Line(text.into()));
        self
    }

    /// The answer to a PIN or password prompt.
    pub fn secret(mut self, text: impl Into<String>) -> Script {
        self.lines.push(Input::Secret(text.into()));
        self
    }

    /// Lines only when `when` holds.
    pub fn lines_if(self, when: bool, add: impl FnOnce(Script) -> Script) -> Script {
        if when { add(self) } else { self }
    }

    /// The file's text.
    fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let (Input::Line(t) | Input::Secret(t)) = line;
            out.push_str(t);
            out.push('\n');
        }
        out
    }

    /// The file as the report shows it: secrets masked.
    fn shown(&self) -> String {
        self.lines
            .iter()
            .map(|line| match line {
                Input::Line(t) => format!("  {t}"),
                Input::Secret(_) => "  ********".to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What the terminal answered to a script.
#[derive(Debug, Clone)]
pub struct Answer {
    pub ran: Ran,
    script_shown: String,
    script_name: String,
}

impl Answer {
    /// The step's transcript: the command, the script's lines, what the terminal printed.
    pub fn transcript(&self) -> String {
        let ran = self.ran.transcript();
        let (command, answered) = ran.split_once('\n').unwrap_or((&ran, ""));
        format!(
            "{command}\n{}:\n{}\nthe terminal answered:\n{answered}",
            self.script_name, self.script_shown
        )
        .trim_end()
        .to_string()
    }

    /// The terminal's refusal (`ERROR: <sentence> (<CKR_NAME>)`), if it printed one.
    pub fn refusal(&self) -> Option<String> {
        self.ran
            .stdout
            .lines()
            .chain(self.ran.stderr.lines())
            .map(str::trim)
            .find(|l| l.starts_with("ERROR:"))
            .map(str::to_string)
    }

    /// The value the terminal showed after `label` on one line ("Write down the Backup
    /// password: XXXXX-..." gives "XXXXX-...").
    pub fn value_after(&self, label: &str) -> Option<String> {
        let lower = label.to_ascii_lowercase();
        self.ran.stdout.lines().find_map(|l| {
            let at = l.to_ascii_lowercase().find(&lower)?;
            let rest = l[at + label.len()..].trim_start_matches([':', ' ']).trim();
            let value = rest.split_whitespace().next()?;
            Some(value.trim_matches(['"', '“', '”']).to_string())
        })
    }

    /// A step that must succeed: the transcript, or a failure with it and the refusal.
    pub fn succeeded(self) -> Result<Answer, Stop> {
        if self.ran.ok() {
            Ok(self)
        } else {
            Err(Stop::fail(format!(
                "{}\nthe step failed: {}",
                self.transcript(),
                self.refusal()
                    .unwrap_or_else(|| "the terminal ended without an ERROR line".into())
            )))
        }
    }

    /// A step the negative case says the terminal refuses, with a sentence that contains each
    /// of `words` (case-insensitive): the transcript and the refusal, or a failure saying
    /// what happened instead.
    pub fn refused(self, words: &[&str]) -> Result<String, Stop> {
        let transcript = self.transcript();
        match (self.ran.code, self.refusal()) {
            (Some(0), _) => Err(Stop::fail(format!(
                "{transcript}\nthe documented refusal did not happen: the step succeeded (expected an ERROR naming {words:?})"
            ))),
            (Some(1), Some(error)) => {
                let lower = error.to_lowercase();
                // `ERROR: <sentence> (<CKR_NAME>)`.
                let coded = error.trim_end().ends_with(')') && error.contains("(CKR_");
                if coded && words.iter().all(|w| lower.contains(&w.to_lowercase())) {
                    Ok(format!("refused as documented: {error}\n{transcript}"))
                } else {
                    Err(Stop::fail(format!(
                        "{transcript}\nrefused, but with {error:?} instead of a sentence naming {words:?}"
                    )))
                }
            }
            _ => Err(Stop::fail(format!(
                "{transcript}\nthe terminal did not refuse with an ERROR line (expected one naming {words:?})"
            ))),
        }
    }
}

/// Types `script` into the device's Decanus terminal: `hsmsim decanus --device primus-onprem
/// -f scripts/NAME` in the scenario's directory.
pub fn type_script(lab: &Lab, script: Script) -> Result<Answer, Stop> {
    let dir = lab.dir().join("scripts");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Stop::fail(format!("cannot write {}: {e}", dir.display())))?;
    let path = dir.join(&script.name);
    std::fs::write(&path, script.text())
        .map_err(|e| Stop::fail(format!("cannot write {}: {e}", path.display())))?;
    let relative = format!("scripts/{}", script.name);
    let ran = lab.hsmsim(
        &["decanus", "--device", SOURCE_DEVICE, "-f", &relative],
        &[],
    )?;
    Ok(Answer {
        ran,
        script_shown: script.shown(),
        script_name: relative,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: i32, stdout: &str) -> Answer {
        Answer {
            ran: Ran {
                shown: "hsmsim decanus --device primus-onprem -f scripts/step-7.decanus".into(),
                code: Some(code),
                stdout: stdout.into(),
                stderr: String::new(),
            },
            script_shown: Script::new("step-7")
                .line("BACKUP > CREATE")
                .secret("Pkcs11-AcmePki-01")
                .shown(),
            script_name: "scripts/step-7.decanus".into(),
        }
    }

    #[test]
    fn secrets_are_typed_but_never_shown() {
        let script = Script::new("step-6")
            .line("LOGIN > “ACME-PKI”")
            .secret("Pkcs11-AcmePki-01");
        assert_eq!(script.text(), "LOGIN > “ACME-PKI”\nPkcs11-AcmePki-01\n");
        assert!(!script.shown().contains("Pkcs11"), "{}", script.shown());
        let t = answer(0, "backup written").transcript();
        assert!(t.contains("********") && !t.contains("Pkcs11"), "{t}");
        assert!(t.contains("the terminal answered:\nbackup written"), "{t}");
    }

    #[test]
    fn values_and_refusals_are_read_from_the_answer() {
        let a = answer(
            0,
            "Backup written to usb/ACME-PKI-20261205T150000.pbackup\nWrite down the Backup password: ABCDE-FGHIJ-KLMNO-PQRST-UVWXY\n",
        );
        assert_eq!(
            a.value_after("Write down the Backup password").as_deref(),
            Some("ABCDE-FGHIJ-KLMNO-PQRST-UVWXY")
        );
        assert_eq!(a.value_after("management password for ACME-PKI"), None);
        let refused = answer(
            1,
            "> BACKUP > CREATE\nERROR: the licence item Device Backup is missing (CKR_FUNCTION_FAILED)\n",
        );
        assert!(refused.clone().succeeded().is_err());
        assert!(refused.clone().refused(&["device backup"]).is_ok());
        let wrong = refused.refused(&["decanus"]).unwrap_err();
        assert!(format!("{wrong:?}").contains("instead of"), "{wrong:?}");
        assert!(answer(0, "ok").refused(&["x"]).is_err());
    }
}
