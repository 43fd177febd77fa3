//! The LunaCM command language as seed 003 and the Thales documentation write it: `slot set -slot 1`,
//! `role login -name Crypto Officer`, `partition clone -objects 0 -slot 1`. Words are split at
//! spaces, double quotes keep spaces in one word (`-password "a b c"`). Command words and
//! option names are case-insensitive and may be abbreviated to any unambiguous prefix, as
//! LunaCM allows (`par con`, `role login -n co`, `-s 1`); option values keep their case. A
//! `-name` value may run over several words, as the guide types `-name Crypto Officer`.
//! Every bad input is a [`SyntaxError`] sentence. The words, abbreviations and options are the
//! Luna consoles' shared `command_line`; this file holds LunaCM's command table.
use crate::command_line::{Given, Groups, command_of, number, numbers, resolve, syntax};
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
    /// Pre-PPSO PED firmware: `partition createchallenge -challengesecret S [-password P]`, the
    /// HSM SO (`-password` or the PED) gives the partition owner its challenge secret.
    PartitionCreateChallenge {
        secret: String,
        password: Option<String>,
    },
    /// Pre-PPSO PED firmware: `partition activate [-password P]`, the partition owner (the
    /// PED) activates itself (partition policy 22 on).
    PartitionActivate {
        password: Option<String>,
    },
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
    /// `partition init -label L [-domain D] [-password P] [-force]`.
    PartitionInit {
        label: String,
        domain: Option<String>,
        password: Option<String>,
        force: bool,
    },
    /// `role init -name co|cu|lco [-password P]`.
    RoleInit {
        name: String,
        password: Option<String>,
    },
    /// `role changepw -name R [-oldpw O -newpw N]`.
    RoleChangePw {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// `role createchallenge -name R -challengesecret S`.
    RoleCreateChallenge {
        name: String,
        secret: String,
    },
    /// `partition archive ...` on the Backup HSM in slot `slot`.
    Archive {
        slot: u64,
        action: Archive,
    },
    /// `hagroup ...`.
    HaGroup(HaGroup),
    HsmShowInfo,
    Help,
    Exit,
}

/// What `partition archive` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archive {
    /// `backup -partition P [-password P] [-sopassword S] [-domain D] [-append|-replace]`.
    Backup {
        partition: String,
        password: Option<String>,
        so_password: Option<String>,
        domain: Option<String>,
        append: bool,
        replace: bool,
    },
    /// `restore -partition P [-password P] [-objects h,h|ouid,...] [-smkonly]`.
    Restore {
        partition: String,
        password: Option<String>,
        objects: Option<Vec<String>>,
        smk_only: bool,
    },
    List,
    Contents {
        partition: String,
        password: Option<String>,
    },
    Delete {
        partition: String,
        so_password: Option<String>,
        force: bool,
    },
}

/// A partition named by its slot or its serial number (`hagroup` commands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    Slot(u64),
    Serial(String),
}

/// What `hagroup` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaGroup {
    CreateGroup {
        label: String,
        member: Member,
        password: Option<String>,
    },
    AddMember {
        group: String,
        member: Member,
        password: Option<String>,
        standby: bool,
    },
    RemoveMember {
        group: String,
        member: Member,
    },
    Synchronize {
        group: String,
        password: Option<String>,
    },
    ListGroups,
    DeleteGroup {
        label: String,
    },
    /// `haonly -enable|-disable`.
    HaOnly {
        on: bool,
    },
    /// `recover -group L [-password P]`: bring the group's failed members back.
    Recover {
        group: String,
        password: Option<String>,
    },
}

/// The command groups and their commands.
const GROUPS: &Groups = &[
    ("slot", &["list", "set"]),
    (
        "role",
        &["login", "logout", "init", "changepw", "createchallenge"],
    ),
    (
        "partition",
        &[
            "login",
            "logout",
            "contents",
            "showpolicies",
            "changepolicy",
            "clone",
            "init",
            "archive",
            "createchallenge",
            "activate",
        ],
    ),
    (
        "hagroup",
        &[
            "creategroup",
            "addmember",
            "addstandby",
            "removemember",
            "synchronize",
            "listgroups",
            "deletegroup",
            "haonly",
            "recover",
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
        ("partition", "login" | "activate") => &["password"],
        ("partition", "createchallenge") => &["challengesecret", "password"],
        ("partition", "changepolicy") => &["policy", "value", "force"],
        ("partition", "clone") => &["objects", "slot", "password", "force"],
        ("partition", "init") => &["label", "domain", "password", "force"],
        ("role", "init") => &["name", "password"],
        ("role", "changepw") => &["name", "oldpw", "newpw"],
        ("role", "createchallenge") => &["name", "challengesecret"],
        ("partition", "archive backup") => &[
            "slot",
            "partition",
            "password",
            "sopassword",
            "domain",
            "append",
            "replace",
        ],
        ("partition", "archive restore") => {
            &["slot", "partition", "password", "objects", "smkonly"]
        }
        ("partition", "archive list") => &["slot"],
        ("partition", "archive contents") => &["slot", "partition", "password"],
        ("partition", "archive delete") => &["slot", "partition", "sopassword", "force"],
        ("hagroup", "creategroup") => &["label", "slot", "serialnumber", "password"],
        ("hagroup", "addmember" | "addstandby") => &["group", "slot", "serialnumber", "password"],
        ("hagroup", "removemember") => &["group", "slot", "serialnumber"],
        ("hagroup", "synchronize" | "recover") => &["group", "password"],
        ("hagroup", "deletegroup") => &["label"],
        ("hagroup", "haonly") => &["enable", "disable"],
        _ => &[],
    }
}

/// Options that are flags (no value).
const FLAGS: &[&str] = &["force", "append", "replace", "smkonly", "enable", "disable"];

/// `partition archive`'s actions.
const ARCHIVE_ACTIONS: &[&str] = &["backup", "restore", "list", "contents", "delete"];

/// Options whose value may run over several words (`-name Crypto Officer`).
const MULTI_WORD: &[&str] = &["name"];

/// Parses one command line (`None` for an empty line).
pub fn parse(line: &str) -> Result<Option<Command>, SyntaxError> {
    let words = words(line)?;
    let Some((group, command, rest)) = command_of(&words, GROUPS)? else {
        return Ok(None);
    };
    let (command, rest) = if command == "archive" {
        let Some(third) = rest.first() else {
            return Err(syntax(format!(
                "`partition archive` needs an action: {}",
                ARCHIVE_ACTIONS.join(", ")
            )));
        };
        let action = resolve(third, ARCHIVE_ACTIONS, "`partition archive` action")?;
        (
            match action {
                "backup" => "archive backup",
                "restore" => "archive restore",
                "list" => "archive list",
                "contents" => "archive contents",
                _ => "archive delete",
            },
            &rest[1..],
        )
    } else {
        (command, rest)
    };
    let given = Given::parse(rest, options_of(group, command), FLAGS, MULTI_WORD)?;
    let text = |name: &str| given.get(name).map(str::to_string);
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
        ("partition", "createchallenge") => Command::PartitionCreateChallenge {
            secret: given.required("challengesecret")?.to_string(),
            password: text("password"),
        },
        ("partition", "activate") => Command::PartitionActivate {
            password: text("password"),
        },
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
        ("partition", "init") => Command::PartitionInit {
            label: given.required("label")?.to_string(),
            domain: text("domain"),
            password: text("password"),
            force: given.flag("force"),
        },
        ("role", "init") => Command::RoleInit {
            name: given.required("name")?.to_string(),
            password: text("password"),
        },
        ("role", "changepw") => Command::RoleChangePw {
            name: given.required("name")?.to_string(),
            old: text("oldpw"),
            new: text("newpw"),
        },
        ("role", "createchallenge") => Command::RoleCreateChallenge {
            name: given.required("name")?.to_string(),
            secret: given.required("challengesecret")?.to_string(),
        },
        ("partition", archive) => {
            let slot = number("slot", given.required("slot")?)?;
            let action = match archive {
                "archive backup" => {
                    if given.flag("append") && given.flag("replace") {
                        return Err(syntax("-append and -replace exclude each other"));
                    }
                    Archive::Backup {
                        partition: given.required("partition")?.to_string(),
                        password: text("password"),
                        so_password: text("sopassword"),
                        domain: text("domain"),
                        append: given.flag("append"),
                        replace: given.flag("replace"),
                    }
                }
                "archive restore" => Archive::Restore {
                    partition: given.required("partition")?.to_string(),
                    password: text("password"),
                    objects: given
                        .get("objects")
                        .map(|o| o.split(',').map(|h| h.trim().to_string()).collect()),
                    smk_only: given.flag("smkonly"),
                },
                "archive list" => Archive::List,
                "archive contents" => Archive::Contents {
                    partition: given.required("partition")?.to_string(),
                    password: text("password"),
                },
                _ => Archive::Delete {
                    partition: given.required("partition")?.to_string(),
                    so_password: text("sopassword"),
                    force: given.flag("force"),
                },
            };
            Command::Archive { slot, action }
        }
        ("hagroup", ha) => Command::HaGroup(ha_command(ha, &given)?),
        ("hsm", "showinfo") => Command::HsmShowInfo,
        ("help", _) => Command::Help,
        _ => Command::Exit,
    };
    Ok(Some(parsed))
}

/// The member a `hagroup` command names: `-slot N` or `-serialnumber SN`, one of them.
fn member(given: &Given) -> Result<Member, SyntaxError> {
    match (given.get("slot"), given.get("serialnumber")) {
        (Some(slot), None) => Ok(Member::Slot(number("slot", slot)?)),
        (None, Some(serial)) => Ok(Member::Serial(serial.to_string())),
        (Some(_), Some(_)) => Err(syntax("give -slot or -serialnumber, not both")),
        (None, None) => Err(syntax("-slot or -serialnumber is required")),
    }
}

fn ha_command(command: &str, given: &Given) -> Result<HaGroup, SyntaxError> {
    let text = |name: &str| given.get(name).map(str::to_string);
    Ok(match command {
        "creategroup" => HaGroup::CreateGroup {
            label: given.required("label")?.to_string(),
            member: member(given)?,
            password: text("password"),
        },
        "addmember" | "addstandby" => HaGroup::AddMember {
            group: given.required("group")?.to_string(),
            member: member(given)?,
            password: text("password"),
            standby: command == "addstandby",
        },
        "removemember" => HaGroup::RemoveMember {
            group: given.required("group")?.to_string(),
            member: member(given)?,
        },
        "synchronize" => HaGroup::Synchronize {
            group: given.required("group")?.to_string(),
            password: text("password"),
        },
        "recover" => HaGroup::Recover {
            group: given.required("group")?.to_string(),
            password: text("password"),
        },
        "listgroups" => HaGroup::ListGroups,
        "deletegroup" => HaGroup::DeleteGroup {
            label: given.required("label")?.to_string(),
        },
        _ => match (given.flag("enable"), given.flag("disable")) {
            (true, false) => HaGroup::HaOnly { on: true },
            (false, true) => HaGroup::HaOnly { on: false },
            _ => return Err(syntax("haonly takes -enable or -disable")),
        },
    })
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
        "partition createchallenge -challengesecret <secret> [-password <HSM SO pw>]",
        "the HSM SO gives the partition owner its challenge secret (pre-PPSO PED firmware)",
    ),
    (
        "partition activate [-password <pw>]",
        "the partition owner activates itself: policy 22 on (pre-PPSO PED firmware)",
    ),
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
    (
        "partition init -label <label> [-domain <domain>] [-password <pw>] [-force]",
        "initialise the current slot's partition (destroys its objects)",
    ),
    (
        "role init -name <co|cu|lco> [-password <pw>]",
        "set the first password of the role below the one logged in",
    ),
    (
        "role changepw -name <role> [-oldpw <pw> -newpw <pw>]",
        "the logged-in role changes its password",
    ),
    (
        "role createchallenge -name <role> -challengesecret <secret>",
        "set an activated role's challenge secret",
    ),
    (
        "partition archive backup -slot <n> -partition <name> [-password <pw>] [-sopassword <pw>] [-domain <d>] [-append|-replace]",
        "back the current slot's objects up to the Backup HSM in slot <n> (lab only)",
    ),
    (
        "partition archive restore -slot <n> -partition <name> [-password <pw>] [-objects <h,h>] [-smkonly]",
        "restore a backup partition into the current slot (lab only)",
    ),
    (
        "partition archive list|contents|delete -slot <n> [-partition <name>] ...",
        "the Backup HSM's backup partitions (lab only)",
    ),
    (
        "hagroup creategroup -label <l> -slot <n>|-serialnumber <sn> [-password <pw>]",
        "a new HA group with that partition as primary (lab only)",
    ),
    (
        "hagroup addmember|addstandby|removemember -group <l> -slot <n>|-serialnumber <sn> [-password <pw>]",
        "change an HA group's members (lab only)",
    ),
    (
        "hagroup synchronize -group <l> [-password <pw>] | listgroups | deletegroup -label <l> | haonly -enable|-disable",
        "synchronise, list, delete HA groups; HA-only slot list (lab only)",
    ),
    (
        "hagroup recover -group <l> [-password <pw>]",
        "bring the group's failed members back once their HSMs answer (lab only)",
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
    fn the_pre_ppso_activation_lines_parse() {
        assert_eq!(
            ok("partition createchallenge -challengesecret CHAL-co-2024"),
            Command::PartitionCreateChallenge {
                secret: "CHAL-co-2024".into(),
                password: None
            }
        );
        assert_eq!(
            ok("PAR CR -CHAL Chal-Co-2024 -PASS hso-pw-0001"),
            Command::PartitionCreateChallenge {
                secret: "Chal-Co-2024".into(),
                password: Some("hso-pw-0001".into())
            }
        );
        assert_eq!(
            ok("partition activate"),
            Command::PartitionActivate { password: None }
        );
        assert_eq!(ok("par act"), Command::PartitionActivate { password: None });
        assert!(bad("partition createchallenge").contains("-challengesecret is required"));
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

    #[test]
    fn the_guides_init_archive_and_hagroup_lines_parse() {
        assert_eq!(
            ok("partition init -label sa7-app-par -domain acme -force"),
            Command::PartitionInit {
                label: "sa7-app-par".into(),
                domain: Some("acme".into()),
                password: None,
                force: true
            }
        );
        assert_eq!(
            ok("role createchallenge -name co -challengeSecret chal-2024"),
            Command::RoleCreateChallenge {
                name: "co".into(),
                secret: "chal-2024".into()
            }
        );
        assert_eq!(
            ok("role changepw -na co -o a -ne b"),
            Command::RoleChangePw {
                name: "co".into(),
                old: Some("a".into()),
                new: Some("b".into())
            }
        );
        assert_eq!(
            ok("partition archive backup -slot 2 -partition bk -append"),
            Command::Archive {
                slot: 2,
                action: Archive::Backup {
                    partition: "bk".into(),
                    password: None,
                    so_password: None,
                    domain: None,
                    append: true,
                    replace: false
                }
            }
        );
        assert_eq!(
            ok("par arch res -sl 2 -part bk -obj 1,2 -smk"),
            Command::Archive {
                slot: 2,
                action: Archive::Restore {
                    partition: "bk".into(),
                    password: None,
                    objects: Some(vec!["1".into(), "2".into()]),
                    smk_only: true
                }
            }
        );
        assert_eq!(
            ok("hagroup addstandby -group g -serialnumber 1238700"),
            Command::HaGroup(HaGroup::AddMember {
                group: "g".into(),
                member: Member::Serial("1238700".into()),
                password: None,
                standby: true
            })
        );
        assert_eq!(
            ok("HAG REC -g g -pa pw-12345678"),
            Command::HaGroup(HaGroup::Recover {
                group: "g".into(),
                password: Some("pw-12345678".into())
            })
        );
        assert!(bad("hagroup recover").contains("-group is required"));
        assert_eq!(
            ok("hag haonly -enable"),
            Command::HaGroup(HaGroup::HaOnly { on: true })
        );
        // -p is partition or password; -append and -replace exclude each other.
        assert!(bad("partition archive backup -slot 2 -p bk").contains("ambiguous"));
        assert!(
            bad("partition archive backup -slot 2 -partition b -append -replace")
                .contains("exclude each other")
        );
        assert!(bad("partition archive").contains("needs an action"));
        assert!(bad("hagroup creategroup -label g").contains("-slot or -serialnumber"));
        assert!(bad("hagroup creategroup -label g -slot 1 -serial 2").contains("not both"));
    }
}
