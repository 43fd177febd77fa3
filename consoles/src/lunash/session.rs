//! A LunaSH session on one Luna Network HSM appliance of the lab, as its HSM SO: whether the HSM
//! SO is logged in (`hsm login` holds an `estate::HsmSoLogin`), and `run`, which carries out
//! one command line through the simulator's estate operations and returns its [`Reply`]. The
//! estate enforces the rules (the HSM SO's password and its three-strikes zeroisation, policy
//! ids, values and capabilities, destructive changes erasing objects); the shell adds what
//! LunaSH itself does: asking for the password without echo (or sending the PED), and the
//! proceed prompt before a destructive change (asked when the estate refuses the change
//! unconfirmed, so exactly when the change is destructive; `-force` skips it), and "Please
//! attend to the PED." where the PED asks for a partition owner's black key.
use super::grammar::{self, Command};
use super::output::{self, Reply, Status};
use crate::command_line::Prompts;
use cryptoki_sys::{CK_RV, CKR_USER_NOT_LOGGED_IN};
use hsmsim::base::error::Error;
use hsmsim::base::ids::DeviceId;
use hsmsim::estate::{self, HsmSoLogin, LabSelection};
use hsmsim::models::luna::{Auth, CKR_CONFIG_CHANGE_ILLEGAL};

/// A LunaSH session on one appliance.
pub struct Shell {
    selection: LabSelection,
    device: DeviceId,
    login: Option<HsmSoLogin>,
}

/// What a command is called in its messages (`'hsm login' successful.`).
fn name_of(command: &Command) -> &'static str {
    match command {
        Command::HsmLogin { .. } => "hsm login",
        Command::HsmLogout => "hsm logout",
        Command::HsmShow => "hsm show",
        Command::HsmShowPolicies => "hsm showpolicies",
        Command::HsmChangePolicy { .. } => "hsm changepolicy",
        Command::PartitionList => "partition list",
        Command::PartitionShow { .. } => "partition show",
        Command::PartitionShowPolicies { .. } => "partition showpolicies",
        Command::PartitionChangePolicy { .. } => "partition changepolicy",
        Command::PartitionCreateChallenge { .. } => "partition createchallenge",
        Command::PartitionActivate { .. } => "partition activate",
        Command::Help => "help",
        Command::Exit => "exit",
    }
}

/// A command's reply; `Err` is a reply that ends it early.
type Outcome = Result<Reply, Reply>;

fn success(text: String) -> Reply {
    Reply {
        text,
        status: Status::Success,
        exit: false,
    }
}

/// The estate refused `command`: its sentence, code and name.
fn refused(command: &str, text: String, rv: CK_RV, detail: &str) -> Reply {
    Reply {
        text: format!("{text}{}", output::failed(command, rv, detail)),
        status: Status::Refused(rv),
        exit: false,
    }
}

fn usage(text: String) -> Reply {
    Reply {
        text,
        status: Status::Usage,
        exit: false,
    }
}

impl Shell {
    /// A shell on the appliance `device` of the lab: refused with a sentence unless the lab
    /// defines it as a Luna Network HSM with an admin partition (where the HSM SO lives).
    pub fn new(selection: LabSelection, device: DeviceId) -> Result<Shell, String> {
        let store = estate::open_store(&selection).map_err(|e| e.detail.into_owned())?;
        estate::appliance(&selection, &store, &device).map_err(|e| e.detail.into_owned())?;
        Ok(Shell {
            selection,
            device,
            login: None,
        })
    }

    /// LunaSH's prompt: `[<device name>] lunash:>`.
    pub fn prompt(&self) -> String {
        format!("[{}] lunash:>", self.device)
    }

    /// Runs one command line (`None` for an empty one).
    pub fn run_line(&mut self, line: &str, prompts: &mut dyn Prompts) -> Option<Reply> {
        match grammar::parse(line) {
            Ok(None) => None,
            Ok(Some(command)) => Some(self.run(&command, prompts)),
            Err(e) => Some(usage(format!(
                "Error: {e}. Type `help` for the commands.\n"
            ))),
        }
    }

    /// Runs one command.
    pub fn run(&mut self, command: &Command, prompts: &mut dyn Prompts) -> Reply {
        let name = name_of(command);
        let refusal = |e: Error| refused(name, String::new(), e.rv, &e.detail);
        let outcome = match command {
            Command::HsmLogin { password } => self.hsm_login(password.as_deref(), prompts),
            Command::HsmLogout => {
                self.login = None;
                Ok(success(output::successful(name)))
            }
            Command::HsmShow => self.hsm_show().map_err(refusal),
            Command::HsmShowPolicies => estate::hsm_show_policies(&self.selection, &self.device)
                .map(|rows| success(output::show_policies("HSM", &rows)))
                .map_err(refusal),
            Command::PartitionList => estate::appliance_partitions(&self.selection, &self.device)
                .map(|list| success(output::partition_list(&list)))
                .map_err(refusal),
            Command::PartitionShow { partition } => {
                estate::appliance_partition(&self.selection, &self.device, partition)
                    .map(|p| success(output::partition_show(&p)))
                    .map_err(refusal)
            }
            Command::PartitionShowPolicies { partition } => {
                estate::partition_show_policies(&self.selection, &self.device, partition)
                    .map(|rows| success(output::show_policies("Partition", &rows)))
                    .map_err(refusal)
            }
            Command::PartitionChangePolicy {
                partition,
                changes,
                force,
            } => self.change_policy(name, Some(partition), changes, *force, prompts),
            Command::HsmChangePolicy { changes, force } => {
                self.change_policy(name, None, changes, *force, prompts)
            }
            Command::PartitionCreateChallenge { partition, secret } => {
                self.at_ped(name, |selection, login| {
                    estate::partition_create_challenge(selection, login, partition, secret)
                })
            }
            Command::PartitionActivate { partition } => self.at_ped(name, |selection, login| {
                estate::partition_activate(selection, login, partition)
            }),
            Command::Help => Ok(success(help_text())),
            Command::Exit => Ok(Reply {
                text: String::new(),
                status: Status::Success,
                exit: true,
            }),
        };
        outcome.unwrap_or_else(|reply| reply)
    }

    /// Whether the appliance takes the HSM SO's credential on a PED.
    fn uses_ped(&self) -> bool {
        estate::open_store(&self.selection)
            .and_then(|store| estate::appliance(&self.selection, &store, &self.device))
            .is_ok_and(|a| a.luna().auth == Auth::Ped)
    }

    fn hsm_login(&mut self, password: Option<&str>, prompts: &mut dyn Prompts) -> Outcome {
        let mut text = String::new();
        let password = match password {
            Some(p) => p.to_string(),
            None if self.uses_ped() => {
                text.push_str(&format!("\n{}\n\n", output::ATTEND_PED));
                String::new()
            }
            None => prompts
                .secret("  Please enter the HSM Administrators' password:\n  > ")
                .ok_or_else(|| {
                    usage(
                        "Error: the HSM SO's password is needed: give -password, or run on a \
                         terminal to be asked for it.\n"
                            .into(),
                    )
                })?,
        };
        self.login = None;
        match estate::hsm_so_login(&self.selection, &self.device, password.as_bytes()) {
            Ok(login) => {
                self.login = Some(login);
                text.push_str(&output::successful("hsm login"));
                Ok(success(text))
            }
            Err(e) => Err(refused("hsm login", text, e.rv, &e.detail)),
        }
    }

    fn hsm_show(&self) -> Result<Reply, Error> {
        let store = estate::open_store(&self.selection)?;
        let appliance = estate::appliance(&self.selection, &store, &self.device)?;
        let luna = appliance.luna();
        let partitions = estate::appliance_partitions(&self.selection, &self.device)?;
        let auth = match luna.auth {
            Auth::Password => "Password",
            Auth::Ped => "PED keys",
        };
        let status = if self.login.is_some() {
            "Logged In"
        } else {
            "Not Logged In"
        };
        Ok(success(format!(
            "\nHSM Details:\n============\nHSM Label:                   {}\nSerial #:                    \
             {}\nFirmware:                    {}\nHSM Model:                   Luna Network HSM\n\
             Authentication Method:       {auth}\nHSM Admin login status:      {status}\n\
             Partitions created on HSM:   {}\n",
            luna.name,
            luna.serial,
            luna.firmware,
            partitions.len()
        )))
    }

    /// `partition changepolicy` (`partition` given) or `hsm changepolicy`: the HSM SO's change,
    /// asked for with the proceed prompt when the estate finds it destructive.
    fn change_policy(
        &mut self,
        name: &str,
        partition: Option<&str>,
        changes: &[(u64, u64)],
        force: bool,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let login = self.hsm_so(name)?;
        let change = |confirmed: bool| -> Result<String, Error> {
            Ok(match partition {
                Some(partition) => {
                    let done = estate::partition_change_policy(
                        &self.selection,
                        &login,
                        partition,
                        changes,
                        confirmed,
                    )?;
                    if done.erased {
                        format!(
                            "\nThe objects of partition \"{}\" were destroyed (destructive policy change).\n",
                            done.partition
                        )
                    } else {
                        String::new()
                    }
                }
                None => {
                    let done =
                        estate::hsm_change_policy(&self.selection, &login, changes, confirmed)?;
                    if done.zeroised {
                        "\nThe HSM's partitions were zeroised (destructive policy change).\n".into()
                    } else {
                        String::new()
                    }
                }
            })
        };
        let done = match change(force) {
            Err(e) if e.rv == CKR_CONFIG_CHANGE_ILLEGAL && !force => {
                let scope = match partition {
                    Some(p) => format!("All objects on partition \"{p}\" will be destroyed."),
                    None => "All partitions of the HSM will be zeroised.".into(),
                };
                let question = format!(
                    "\nWARNING: you are about to change a destructive policy.\n{scope}\n\
                     Are you sure you wish to continue?\n\n{}",
                    output::PROCEED
                );
                let proceed = prompts
                    .answer(&question)
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case("proceed"));
                if !proceed {
                    return Err(Reply {
                        text: "\nCommand aborted: nothing was changed.\n".into(),
                        status: Status::Aborted,
                        exit: false,
                    });
                }
                change(true)
            }
            other => other,
        };
        match done {
            Ok(text) => {
                self.check_still_logged_in();
                Ok(success(format!("{text}{}", output::successful(name))))
            }
            Err(e) => Err(refused(name, String::new(), e.rv, &e.detail)),
        }
    }

    /// The HSM SO's login, or `name`'s refusal when nobody is logged in.
    fn hsm_so(&self, name: &str) -> Result<HsmSoLogin, Reply> {
        self.login.clone().ok_or_else(|| {
            refused(
                name,
                String::new(),
                CKR_USER_NOT_LOGGED_IN,
                "the HSM SO is not logged in: `hsm login` first",
            )
        })
    }

    /// A command of the logged-in HSM SO for which the PED asks for the partition owner's
    /// black key (`partition createchallenge|activate`).
    fn at_ped(
        &self,
        name: &str,
        operation: impl FnOnce(&LabSelection, &HsmSoLogin) -> Result<String, Error>,
    ) -> Outcome {
        let login = self.hsm_so(name)?;
        let text = format!("\n{}\n\n", output::ATTEND_PED);
        match operation(&self.selection, &login) {
            Ok(_) => Ok(success(format!("{text}{}", output::successful(name)))),
            Err(e) => Err(refused(name, text, e.rv, &e.detail)),
        }
    }

    /// A change that zeroised the HSM ends the HSM SO's login, as the estate decides.
    fn check_still_logged_in(&mut self) {
        if let Some(login) = &self.login
            && login.open(&self.selection).is_err()
        {
            self.login = None;
        }
    }
}

fn help_text() -> String {
    crate::command_line::help_text(grammar::HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sa7: a 7.4.2 appliance with its admin partition (HSM policy 7 off); noadmin: one
    /// without.
    const LAB: &str = include_str!("test_lab.toml");

    /// Prompts answered from a list; no password to give.
    struct Scripted(Vec<&'static str>);

    impl Prompts for Scripted {
        fn secret(&mut self, _: &str) -> Option<String> {
            None
        }
        fn answer(&mut self, _: &str) -> Option<String> {
            (!self.0.is_empty()).then(|| self.0.remove(0).to_string())
        }
    }

    fn shell(dir: &tempfile::TempDir, device: &str) -> Result<Shell, String> {
        Shell::new(crate::test_lab::select(dir, LAB), DeviceId::new(device))
    }

    fn status(shell: &mut Shell, line: &str, answers: Vec<&'static str>) -> Status {
        shell.run_line(line, &mut Scripted(answers)).unwrap().status
    }

    #[test]
    fn an_appliance_without_an_admin_partition_has_no_lunash() {
        let dir = tempfile::tempdir().unwrap();
        let e = shell(&dir, "noadmin").err().unwrap();
        assert!(e.contains("no admin partition"), "{e}");
    }

    #[test]
    fn the_hso_logs_in_and_a_destructive_hsm_policy_asks_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut shell = shell(&dir, "sa7").unwrap();
        assert_eq!(shell.prompt(), "[sa7] lunash:>");
        // Not logged in yet.
        assert_eq!(
            status(&mut shell, "hsm changepolicy -policy 21 -value 0", vec![]),
            Status::Refused(CKR_USER_NOT_LOGGED_IN)
        );
        assert_eq!(
            status(&mut shell, "hsm login", vec![]),
            Status::Usage,
            "no password and no one to ask"
        );
        assert_eq!(
            status(&mut shell, "hsm login -password wrong-pin-1", vec![]),
            Status::Refused(cryptoki_sys::CKR_PIN_INCORRECT)
        );
        assert_eq!(
            status(&mut shell, "hsm login -password hso-pin-0001", vec![]),
            Status::Success
        );
        let value = |shell: &mut Shell, id: u64| {
            estate::hsm_show_policies(&shell.selection, &shell.device)
                .unwrap()
                .into_iter()
                .find(|r| r.id == id)
                .unwrap()
                .value
        };
        // Policy 16 (network replication) is not destructive: no question.
        assert_eq!(
            status(&mut shell, "hsm changepolicy -policy 16 -value 0", vec![]),
            Status::Success
        );
        assert_eq!(value(&mut shell, 16), 0);
        // Policy 7 (cloning, off on sa7) is: `quit` keeps it, `proceed` changes it.
        assert_eq!(
            status(&mut shell, "hsm changep -pol 7 -val 1", vec!["quit"]),
            Status::Aborted
        );
        assert_eq!(value(&mut shell, 7), 0);
        assert_eq!(
            status(&mut shell, "hsm changep -pol 7 -val 1", vec!["proceed"]),
            Status::Success
        );
        assert_eq!(value(&mut shell, 7), 1);
        assert_eq!(
            status(&mut shell, "hsm changep -pol 7 -val 0 -force", vec![]),
            Status::Success
        );
        assert_eq!(value(&mut shell, 7), 0);
        assert_eq!(status(&mut shell, "bogus", vec![]), Status::Usage);
        assert!(shell.run_line("exit", &mut Scripted(vec![])).unwrap().exit);
    }
}
