//! The LunaSH commands of the HSM SO as the Luna guides type them on the appliance: `hsm
//! login`, `partition list`, `partition showpolicies -partition L`, `partition changepolicy
//! -partition L -policy 22 -value 1`, `hsm changepolicy -policy 7 -value 1`, and on pre-PPSO PED
//! firmware `partition createchallenge -partition L -challengesecret S` and `partition activate
//! -partition L`. Words, quotes,
//! abbreviations and case follow the Luna consoles' shared grammar (`command_line`); `-policy`
//! and `-value` take one number or a comma list (changed all or none).
use crate::command_line::{Given, Groups, SyntaxError, command_of, numbers, syntax, words};

/// One LunaSH command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `hsm login [-password P]`; no password: asked for (PED appliances: the PED).
    HsmLogin {
        password: Option<String>,
    },
    HsmLogout,
    HsmShow,
    HsmShowPolicies,
    HsmChangePolicy {
        changes: Vec<(u64, u64)>,
        force: bool,
    },
    PartitionList,
    PartitionShow {
        partition: String,
    },
    PartitionShowPolicies {
        partition: String,
    },
    PartitionChangePolicy {
        partition: String,
        changes: Vec<(u64, u64)>,
        force: bool,
    },
    /// `partition createchallenge -partition L -challengesecret S`.
    PartitionCreateChallenge {
        partition: String,
        secret: String,
    },
    /// `partition activate -partition L`.
    PartitionActivate {
        partition: String,
    },
    Help,
    Exit,
}

/// The command groups and their commands.
const GROUPS: &Groups = &[
    (
        "hsm",
        &["login", "logout", "show", "showpolicies", "changepolicy"],
    ),
    (
        "partition",
        &[
            "list",
            "show",
            "showpolicies",
            "changepolicy",
            "createchallenge",
            "activate",
        ],
    ),
    ("help", &[]),
    ("exit", &[]),
    ("quit", &[]),
];

/// The options of each command (without the dash).
fn options_of(group: &str, command: &str) -> &'static [&'static str] {
    match (group, command) {
        ("hsm", "login") => &["password"],
        ("hsm", "changepolicy") => &["policy", "value", "force"],
        ("partition", "show" | "showpolicies" | "activate") => &["partition"],
        ("partition", "createchallenge") => &["partition", "challengesecret"],
        ("partition", "changepolicy") => &["partition", "policy", "value", "force"],
        _ => &[],
    }
}

/// Options that are flags (no value).
const FLAGS: &[&str] = &["force"];

/// `-policy` and `-value`: one value per policy.
fn changes(given: &Given) -> Result<Vec<(u64, u64)>, SyntaxError> {
    let policies = numbers("policy", given.required("policy")?)?;
    let values = numbers("value", given.required("value")?)?;
    if policies.len() != values.len() {
        return Err(syntax(format!(
            "-policy names {} policies and -value gives {} values: give one value per policy",
            policies.len(),
            values.len()
        )));
    }
    Ok(policies.into_iter().zip(values).collect())
}

/// Parses one command line (`None` for an empty line).
pub fn parse(line: &str) -> Result<Option<Command>, SyntaxError> {
    let words = words(line)?;
    let Some((group, command, rest)) = command_of(&words, GROUPS)? else {
        return Ok(None);
    };
    let given = Given::parse(rest, options_of(group, command), FLAGS, &[])?;
    let partition = || given.required("partition").map(str::to_string);
    let parsed = match (group, command) {
        ("hsm", "login") => Command::HsmLogin {
            password: given.get("password").map(str::to_string),
        },
        ("hsm", "logout") => Command::HsmLogout,
        ("hsm", "show") => Command::HsmShow,
        ("hsm", "showpolicies") => Command::HsmShowPolicies,
        ("hsm", "changepolicy") => Command::HsmChangePolicy {
            changes: changes(&given)?,
            force: given.flag("force"),
        },
        ("partition", "list") => Command::PartitionList,
        ("partition", "show") => Command::PartitionShow {
            partition: partition()?,
        },
        ("partition", "showpolicies") => Command::PartitionShowPolicies {
            partition: partition()?,
        },
        ("partition", "changepolicy") => Command::PartitionChangePolicy {
            partition: partition()?,
            changes: changes(&given)?,
            force: given.flag("force"),
        },
        ("partition", "createchallenge") => Command::PartitionCreateChallenge {
            partition: partition()?,
            secret: given.required("challengesecret")?.to_string(),
        },
        ("partition", "activate") => Command::PartitionActivate {
            partition: partition()?,
        },
        ("help", _) => Command::Help,
        _ => Command::Exit,
    };
    Ok(Some(parsed))
}

/// The commands `help` lists, with their syntax.
pub const HELP: &[(&str, &str)] = &[
    (
        "hsm login [-password <pw>]",
        "log the HSM SO in (PED appliances: the blue key on the PED)",
    ),
    ("hsm logout", "log the HSM SO out"),
    ("hsm show", "show the HSM: firmware, authentication, login"),
    (
        "hsm showpolicies",
        "show the HSM's capabilities and policies",
    ),
    (
        "hsm changepolicy -policy <id[,id]> -value <v[,v]> [-force]",
        "change HSM policies (HSM SO)",
    ),
    ("partition list", "list the application partitions"),
    (
        "partition show -partition <name|label>",
        "show one partition",
    ),
    (
        "partition showpolicies -partition <name|label>",
        "show a partition's capabilities and policies",
    ),
    (
        "partition changepolicy -partition <name|label> -policy <id[,id]> -value <v[,v]> [-force]",
        "change a partition's policies (HSM SO)",
    ),
    (
        "partition createchallenge -partition <name|label> -challengesecret <secret>",
        "give a pre-PPSO PED partition's owner its challenge secret (HSM SO; the black key on the PED)",
    ),
    (
        "partition activate -partition <name|label>",
        "activate a pre-PPSO PED partition's owner (HSM SO; policy 22 on; the black key on the PED)",
    ),
    ("help", "this list"),
    ("exit, quit", "leave LunaSH"),
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
        assert_eq!(ok("hsm login"), Command::HsmLogin { password: None });
        assert_eq!(
            ok("hsm login -password \"my pw\""),
            Command::HsmLogin {
                password: Some("my pw".into())
            }
        );
        assert_eq!(ok("partition list"), Command::PartitionList);
        assert_eq!(
            ok("partition changepolicy -partition sa6-app-par -policy 22 -value 1"),
            Command::PartitionChangePolicy {
                partition: "sa6-app-par".into(),
                changes: vec![(22, 1)],
                force: false
            }
        );
        assert_eq!(
            ok("hsm changepolicy -policy 7 -value 1 -force"),
            Command::HsmChangePolicy {
                changes: vec![(7, 1)],
                force: true
            }
        );
        assert_eq!(ok("exit"), Command::Exit);
        assert_eq!(parse("  ").unwrap(), None);
    }

    #[test]
    fn the_pre_ppso_activation_lines_parse() {
        assert_eq!(
            ok("partition createchallenge -partition sa6-app -challengesecret CHAL-co-2024"),
            Command::PartitionCreateChallenge {
                partition: "sa6-app".into(),
                secret: "CHAL-co-2024".into()
            }
        );
        assert_eq!(
            ok("PAR CR -PAR sa6-app -CHAL CHAL-co-2024"),
            Command::PartitionCreateChallenge {
                partition: "sa6-app".into(),
                secret: "CHAL-co-2024".into()
            }
        );
        assert_eq!(
            ok("partition activate -partition sa6-app"),
            Command::PartitionActivate {
                partition: "sa6-app".into()
            }
        );
        assert!(
            bad("partition createchallenge -partition a").contains("-challengesecret is required")
        );
    }

    #[test]
    fn commands_and_options_are_case_insensitive_and_abbreviable() {
        assert_eq!(
            ok("PAR SHOWP -PAR App"),
            Command::PartitionShowPolicies {
                partition: "App".into()
            }
        );
        assert_eq!(ok("hsm showp"), Command::HsmShowPolicies);
        assert_eq!(
            ok("par ch -par app -pol 0,4 -val 1,1 -f"),
            Command::PartitionChangePolicy {
                partition: "app".into(),
                changes: vec![(0, 1), (4, 1)],
                force: true
            }
        );
        // "hsm show" is a whole command word, so it is not ambiguous with "showpolicies".
        assert_eq!(ok("hsm show"), Command::HsmShow);
        assert!(bad("hsm log").contains("ambiguous"), "{}", bad("hsm log"));
    }

    #[test]
    fn bad_input_is_a_sentence() {
        assert!(bad("slot list").contains("unknown command"));
        assert!(bad("partition show").contains("-partition is required"));
        assert!(
            bad("partition changepolicy -partition a -policy 1,2 -value 1")
                .contains("one value per")
        );
        assert!(bad("hsm changepolicy -policy x -value 1").contains("a number is expected"));
        assert!(bad("partition list -partition a").contains("takes no options"));
    }
}
