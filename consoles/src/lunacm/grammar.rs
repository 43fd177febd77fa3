//! The LunaCM command language as seed 003 and luna.md §3/§6 write it: `slot set -slot 1`,
//! `role login -name Crypto Officer`, `partition clone -objects 0 -slot 1`. Words are split at
//! spaces, double quotes keep spaces in one word (`-password "a b c"`). Command words and
//! option names are case-insensitive and may be abbreviated to any unambiguous prefix, as
//! LunaCM allows (`par con`, `role login -n co`, `-s 1`); option values keep their case. A
//! `-name` value may run over several words, as the guide types `-name Crypto Officer`.
//! Every bad input is a [`SyntaxError`] sentence. The words, abbreviations and options are the
//! Luna consoles' shared `command_line`; this file holds LunaCM's command table.
use crate::command_line::{Given, Groups, command_of, number, numbers, syntax};
pub use crate::command_line::{SyntaxError, words};

/// The objects `partition clone -objects` names: `0` (or `all`) for every object, else
/// handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objects {
    All,
    Handles(Vec<u64>),
}

/// One LunaCM command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    SlotList,
    SlotSet {
        slot: u64,
    },
    /// `role login -name NAME [-password P]`; `name` as typed (the session maps it to a role
    /// by the partition's firmware era).
    RoleLogin {
        name: String,
        password: Option<String>,
    },
    RoleLogout,
    /// Pre-PPSO firmware: the partition owner logs in.
    PartitionLogin {
        password: Option<String>,
    },
    PartitionLogout,
    PartitionContents,
    PartitionShowPolicies,
    PartitionChangePolicy {
        changes: Vec<(u64, u64)>,
        force: bool,
    },
    PartitionClone {
        objects: Objects,
        slot: u64,
        password: Option<String>,
        force: bool,
    },
    HsmShowInfo,
    Help,
    Exit,
}

/// The command groups and their commands.
const GROUPS: &Groups = &[
    ("slot", &["list", "set"]),
    ("role", &["login", "logout"]),
    (
        "partition",
        &[
            "login",
            "logout",
            "contents",
            "showpolicies",
            "changepolicy",
            "clone",
        ],
    ),
    ("hsm", &["showinfo"]),
    ("help", &[]),
    ("exit", &[]),
    ("quit", &[]),
];

/// The options of each command (without the dash).
fn options_of(group: &str, command: &str) -> &'static [&'static str] {
    match (group, command) {
        ("slot", "set") => &["slot"],
        ("role", "login") => &["name", "password"],
        ("partition", "login") => &["password"],
        ("partition", "changepolicy") => &["policy", "value", "force"],
        ("partition", "clone") => &["objects", "slot", "password", "force"],
        _ => &[],
    }
}

/// Options that are flags (no value).
const FLAGS: &[&str] = &["force"];

/// Options whose value may run over several words (`-name Crypto Officer`).
const MULTI_WORD: &[&str] = &["name"];

/// Parses one command line (`None` for an empty line).
pub fn parse(line: &str) -> Result<Option<Command>, SyntaxError> {
    let words = words(line)?;
    let Some((group, command, rest)) = command_of(&words, GROUPS)? else {
        return Ok(None);
    };
    let given = Given::parse(rest, options_of(group, command), FLAGS, MULTI_WORD)?;
    let parsed = match (group, command) {
        ("slot", "list") => Command::SlotList,
        ("slot", "set") => Command::SlotSet {
            slot: number("slot", given.required("slot")?)?,
        },
        ("role", "login") => Command::RoleLogin {
            name: given.required("name")?.to_string(),
            password: given.get("password").map(str::to_string),
        },
        ("role", "logout") => Command::RoleLogout,
        ("partition", "login") => Command::PartitionLogin {
            password: given.get("password").map(str::to_string),
        },
        ("partition", "logout") => Command::PartitionLogout,
        ("partition", "contents") => Command::PartitionContents,
        ("partition", "showpolicies") => Command::PartitionShowPolicies,
        ("partition", "changepolicy") => {
            let policies = numbers("policy", given.required("policy")?)?;
            let values = numbers("value", given.required("value")?)?;
            if policies.len() != values.len() {
                return Err(syntax(format!(
                    "-policy names {} policies and -value gives {} values: give one value per policy",
                    policies.len(),
                    values.len()
                )));
            }
            Command::PartitionChangePolicy {
                changes: policies.into_iter().zip(values).collect(),
                force: given.flag("force"),
            }
        }
        ("partition", "clone") => {
            let objects = given.required("objects")?;
            let objects = if objects == "0" || objects.eq_ignore_ascii_case("all") {
                Objects::All
            } else {
                let handles = numbers("objects", objects)?;
                if handles.contains(&0) {
                    return Err(syntax(
                        "-objects: 0 means all objects and cannot be mixed with handles",
                    ));
                }
                Objects::Handles(handles)
            };
            Command::PartitionClone {
                objects,
                slot: number("slot", given.required("slot")?)?,
                password: given.get("password").map(str::to_string),
                force: given.flag("force"),
            }
        }
        ("hsm", "showinfo") => Command::HsmShowInfo,
        ("help", _) => Command::Help,
        _ => Command::Exit,
    };
    Ok(Some(parsed))
}

/// The commands `help` lists, with their syntax.
pub const HELP: &[(&str, &str)] = &[
    ("slot list", "list the slots this client sees"),
    ("slot set -slot <n>", "make slot <n> the current slot"),
    (
        "role login -name <po|co|cu|Crypto Officer> [-password <pw>]",
        "log a role in to the current slot (PPSO firmware)",
    ),
    ("role logout", "log the current slot's role out"),
    (
        "partition login [-password <pw>]",
        "log the partition owner in (pre-PPSO firmware 6.21.2 and earlier)",
    ),
    ("partition logout", "log the partition owner out"),
    (
        "partition contents",
        "list the objects the logged-in role sees",
    ),
    (
        "partition showpolicies",
        "show the partition's capabilities and policies",
    ),
    (
        "partition changepolicy -policy <id[,id]> -value <v[,v]> [-force]",
        "change partition policies (Partition SO)",
    ),
    (
        "partition clone -objects <0|h,h> -slot <n> [-password <pw>] [-force]",
        "clone objects from the current slot to slot <n>",
    ),
    ("hsm showinfo", "show the current slot's HSM"),
    ("help", "this list"),
    ("exit, quit", "leave LunaCM"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap().unwrap()
    }

    fn bad(line: &str) -> String {
        parse(line).unwrap_err().0
    }

    #[test]
    fn the_guides_lines_parse() {
        assert_eq!(ok("slot list"), Command::SlotList);
        assert_eq!(ok("slot set -slot 1"), Command::SlotSet { slot: 1 });
        assert_eq!(
            ok("role login -name Crypto Officer"),
            Command::RoleLogin {
                name: "Crypto Officer".into(),
                password: None
            }
        );
        assert_eq!(
            ok("role login -name co -password CO-sa7-2024"),
            Command::RoleLogin {
                name: "co".into(),
                password: Some("CO-sa7-2024".into())
            }
        );
        assert_eq!(
            ok("partition login"),
            Command::PartitionLogin { password: None }
        );
        assert_eq!(ok("partition contents"), Command::PartitionContents);
        assert_eq!(
            ok("partition changepolicy -policy 22 -value 1"),
            Command::PartitionChangePolicy {
                changes: vec![(22, 1)],
                force: false
            }
        );
        assert_eq!(
            ok("partition clone -objects 0 -slot 1"),
            Command::PartitionClone {
                objects: Objects::All,
                slot: 1,
                password: None,
                force: false
            }
        );
        assert_eq!(ok("hsm showinfo"), Command::HsmShowInfo);
        assert_eq!(ok("exit"), Command::Exit);
        assert_eq!(ok("quit"), Command::Exit);
        assert_eq!(parse("   ").unwrap(), None);
    }

    #[test]
    fn commands_and_options_are_case_insensitive_and_abbreviable() {
        assert_eq!(ok("SLOT SET -SLOT 2"), Command::SlotSet { slot: 2 });
        assert_eq!(ok("sl se -s 2"), Command::SlotSet { slot: 2 });
        assert_eq!(ok("par con"), Command::PartitionContents);
        assert_eq!(ok("Partition ShowPol"), Command::PartitionShowPolicies);
        assert_eq!(
            ok("role login -n po -p PO-sa7-2024"),
            Command::RoleLogin {
                name: "po".into(),
                password: Some("PO-sa7-2024".into())
            }
        );
        assert_eq!(
            ok("par clone -o 12,14 -sl 1 -f -pass pw-12345678"),
            Command::PartitionClone {
                objects: Objects::Handles(vec![12, 14]),
                slot: 1,
                password: Some("pw-12345678".into()),
                force: true
            }
        );
        assert_eq!(
            ok("partition changepolicy -pol 33,37 -val 0,1 -force"),
            Command::PartitionChangePolicy {
                changes: vec![(33, 0), (37, 1)],
                force: true
            }
        );
        // "partition lo" is login or logout; "-p" of clone is unambiguous (password).
        assert!(
            bad("partition lo").contains("ambiguous"),
            "{}",
            bad("partition lo")
        );
        assert!(bad("par c").contains("ambiguous"));
    }

    #[test]
    fn quotes_keep_spaces_and_values_keep_their_case() {
        assert_eq!(
            ok("role login -name \"Crypto Officer\" -password \"My Pass word\""),
            Command::RoleLogin {
                name: "Crypto Officer".into(),
                password: Some("My Pass word".into())
            }
        );
        assert_eq!(
            words("a \"b c\" d\"e f\"").unwrap(),
            vec!["a", "b c", "de f"]
        );
        assert!(bad("role login -name \"co").contains("not closed"));
    }

    #[test]
    fn bad_input_is_a_sentence() {
        assert!(bad("frobnicate").contains("unknown command"));
        assert!(bad("slot").contains("needs a command"));
        assert!(bad("slot set").contains("-slot is required"));
        assert!(bad("slot set -slot one").contains("a number is expected"));
        assert!(bad("slot set -slot 1 2").contains("takes one value"));
        assert!(bad("slot list -slot 1").contains("takes no options"));
        assert!(bad("slot set 1").contains("not an option"));
        assert!(bad("slot set -slot 1 -slot 2").contains("given twice"));
        assert!(bad("slot set -bogus 1").contains("unknown option"));
        assert!(bad("partition changepolicy -policy 1,2 -value 1").contains("one value per"));
        assert!(bad("partition clone -objects 0,5 -slot 1").contains("cannot be mixed"));
        assert!(bad("partition clone -objects 0 -slot 1 -force yes").contains("takes no value"));
        assert!(bad("role login").contains("-name is required"));
    }
}
