//! The LunaCM client era (`hsmsim lunacm --client 5|6|7|10`, default 10): what an older Luna
//! HSM Client's LunaCM lacks, and the firmware and devices it cannot drive. The guide's old
//! host (seed 003, chapters 3 and 4) runs a 5.x/6.x client; the new one a 7.x/10.x client.
//!
//! Documented (the Thales documentation):
//! - `partition archive restore -objects` needs Client 10.3.0 or newer;
//! - V0/V1 partitions (firmware 7.7.0 and newer), and so `-smkonly`, need Client 10.3.0;
//! - a client-connected Backup HSM 7 needs Client 10.4.0;
//! - an HA group mixing Luna 6 and Luna 7 members needs Client 7.2.
//!
//! Simulator-defined (the documents do not list the commands of each client):
//! - Client 5 has no `role` commands (5.x LunaCM logs the partition owner in with
//!   `partition login`; the per-partition roles came with 6.22 firmware and the 6.x client);
//! - Client 5 has no `hagroup` commands (the 5.x client manages HA with `vtl haAdmin`);
//! - `--client 7` stands for the last 7.x client (7.4): mixed 6/7 HA groups are allowed;
//! - `--client 10` stands for a current 10.x client: everything above is allowed.
//!
//! Every refusal is an error line and a `Command Result` trailer: a command or option the
//! client lacks is `Command Result : Invalid Command` / `Invalid Argument` (nothing reaches the
//! module); firmware or a device the client cannot drive is `0x54 (CKR_FUNCTION_NOT_SUPPORTED)`.
use super::grammar::{Archive, Command};
use super::output::Reply;
use cryptoki_sys::CKR_FUNCTION_NOT_SUPPORTED;

/// The Luna HSM Client whose LunaCM the console is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum ClientEra {
    /// Luna HSM Client 5.x.
    Client5,
    /// Luna HSM Client 6.x.
    Client6,
    /// Luna HSM Client 7.x (7.4).
    Client7,
    /// Luna HSM Client 10.x (the default).
    #[default]
    Client10,
}

impl ClientEra {
    /// The era `--client` names: 5, 6, 7 or 10.
    pub fn from_major(major: u32) -> Option<ClientEra> {
        match major {
            5 => Some(ClientEra::Client5),
            6 => Some(ClientEra::Client6),
            7 => Some(ClientEra::Client7),
            10 => Some(ClientEra::Client10),
            _ => None,
        }
    }

    /// The client's version as the banner and the errors show it (simulator-defined: the
    /// last release of each line this simulator stands for).
    pub fn version(self) -> &'static str {
        match self {
            ClientEra::Client5 => "5.4.1",
            ClientEra::Client6 => "6.3.0",
            ClientEra::Client7 => "7.4.0",
            ClientEra::Client10 => "10.7.2",
        }
    }

    /// LunaCM's banner for this client.
    pub fn banner(self) -> String {
        super::output::banner(self.version())
    }

    fn lacks_command(self, what: &str, instead: &str) -> Reply {
        Reply::usage(
            format!(
                "Error: LunaCM of Luna HSM Client {} has no `{what}` command{instead}.\n",
                self.version()
            ),
            "Invalid Command",
        )
    }

    fn lacks_option(self, option: &str, command: &str, since: &str) -> Reply {
        Reply::usage(
            format!(
                "Error: `{command}` of Luna HSM Client {} has no {option} option (it came with \
                 Client {since}).\n",
                self.version()
            ),
            "Invalid Argument",
        )
    }

    /// `Err` with LunaCM's refusal when this client lacks `command` or one of its options.
    pub fn check_command(self, command: &Command) -> Result<(), Reply> {
        match command {
            Command::RoleLogin { .. }
            | Command::RoleLogout
            | Command::RoleInit { .. }
            | Command::RoleChangePw { .. }
            | Command::RoleCreateChallenge { .. }
                if self == ClientEra::Client5 =>
            {
                Err(self.lacks_command(
                    "role",
                    ": the partition owner logs in with `partition login` (per-partition roles \
                     need the 6.x client and firmware 6.22.0, simulator-defined)",
                ))
            }
            Command::HaGroup(_) if self == ClientEra::Client5 => Err(self.lacks_command(
                "hagroup",
                ": the 5.x client manages HA groups with `vtl haAdmin` (simulator-defined)",
            )),
            Command::Archive {
                action:
                    Archive::Restore {
                        objects, smk_only, ..
                    },
                ..
            } if self < ClientEra::Client10 => {
                if objects.is_some() {
                    return Err(self.lacks_option(
                        "-objects",
                        "partition archive restore",
                        "10.3.0",
                    ));
                }
                if *smk_only {
                    return Err(self.lacks_option(
                        "-smkonly",
                        "partition archive restore",
                        "10.3.0 for firmware 7.7.0",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `Err` when this client cannot drive a partition on `firmware` (V0/V1 partitions, 7.7.0
    /// and newer, need Client 10.3.0).
    pub fn check_firmware(self, slot: u64, firmware: (u64, u64, u64)) -> Result<(), Reply> {
        let (major, minor, sub) = firmware;
        if self < ClientEra::Client10 && (major, minor) >= (7, 7) {
            return Err(Reply::refused(
                format!(
                    "Error: slot {slot} is a firmware {major}.{minor}.{sub} partition (V0/V1): it \
                     needs Luna HSM Client 10.3.0 or newer; this is Client {}.\n",
                    self.version()
                ),
                CKR_FUNCTION_NOT_SUPPORTED,
            ));
        }
        Ok(())
    }

    /// `Err` when this client cannot use the Backup HSM in `slot` on `firmware`: a
    /// client-connected Backup HSM 7 (firmware 7.x) needs Client 10.4.0.
    pub fn check_backup_hsm(self, slot: u64, firmware: (u64, u64, u64)) -> Result<(), Reply> {
        if self < ClientEra::Client10 && firmware.0 >= 7 {
            return Err(Reply::refused(
                format!(
                    "Error: slot {slot} is a Luna Backup HSM 7 (firmware {}.{}.{}): a \
                     client-connected Backup HSM 7 needs Luna HSM Client 10.4.0 or newer; this \
                     is Client {}.\n",
                    firmware.0,
                    firmware.1,
                    firmware.2,
                    self.version()
                ),
                CKR_FUNCTION_NOT_SUPPORTED,
            ));
        }
        Ok(())
    }

    /// `Err` when this client cannot keep an HA group whose members run firmware of both
    /// Luna 6 and Luna 7: mixed groups need Client 7.2.
    pub fn check_mixed_ha(self, firmware_majors: &[u64]) -> Result<(), Reply> {
        let luna6 = firmware_majors.iter().any(|m| *m < 7);
        let luna7 = firmware_majors.iter().any(|m| *m >= 7);
        if self < ClientEra::Client7 && luna6 && luna7 {
            return Err(Reply::refused(
                format!(
                    "Error: an HA group of Luna 6 and Luna 7 members needs Luna HSM Client 7.2 \
                     or newer; this is Client {}.\n",
                    self.version()
                ),
                CKR_FUNCTION_NOT_SUPPORTED,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lunacm::grammar::parse;
    use crate::lunacm::output::Status;

    fn status(era: ClientEra, line: &str) -> Option<Status> {
        era.check_command(&parse(line).unwrap().unwrap())
            .err()
            .map(|r| r.status)
    }

    #[test]
    fn older_clients_lack_commands_and_options() {
        let c5 = ClientEra::Client5;
        assert_eq!(
            status(c5, "role login -name co"),
            Some(Status::Usage("Invalid Command"))
        );
        assert_eq!(
            status(c5, "hagroup listgroups"),
            Some(Status::Usage("Invalid Command"))
        );
        assert_eq!(status(c5, "partition login"), None);
        assert_eq!(
            status(c5, "partition archive backup -slot 2 -partition b"),
            None
        );
        assert_eq!(status(ClientEra::Client6, "role login -name co"), None);
        let restore = "partition archive restore -slot 2 -partition b -objects 1";
        assert_eq!(
            status(ClientEra::Client7, restore),
            Some(Status::Usage("Invalid Argument"))
        );
        assert_eq!(status(ClientEra::Client10, restore), None);
    }

    #[test]
    fn older_clients_refuse_firmware_and_devices_they_cannot_drive() {
        let c7 = ClientEra::Client7;
        assert!(c7.check_firmware(1, (7, 4, 2)).is_ok());
        assert!(c7.check_firmware(1, (7, 7, 1)).is_err());
        assert!(ClientEra::Client10.check_firmware(1, (7, 7, 1)).is_ok());
        assert!(c7.check_backup_hsm(2, (6, 28, 0)).is_ok());
        assert!(c7.check_backup_hsm(2, (7, 7, 1)).is_err());
        assert!(ClientEra::Client6.check_mixed_ha(&[6, 7]).is_err());
        assert!(ClientEra::Client6.check_mixed_ha(&[6, 6]).is_ok());
        assert!(c7.check_mixed_ha(&[6, 7]).is_ok());
        assert_eq!(ClientEra::from_major(10), Some(ClientEra::Client10));
        assert_eq!(ClientEra::from_major(8), None);
        assert_eq!(ClientEra::default(), ClientEra::Client10);
    }
}
