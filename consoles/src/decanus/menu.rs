//! The Decanus terminal's menu tree, as screens: the Device Administration menu and the
//! Partition Administration menu (the two modes of the terminal, seed 000 and Primus §2.3),
//! each a tree of [`Item`]s, and finding the item a path's names lead to. The items of the
//! seed's paths are all here with the names the seed writes (`SETUP > CONFIGURATION >
//! SECURITY > USER`, `SO ACTIVATION`, `ROLES > USER > MGMT Password`, `BACKUP > PARTITION
//! BACKUP > P-BACKUP CARD`, `SYSTEM > DIAG. DEVICE > LICENSE`, `SWITCH MODE`, `ONBOARD`,
//! `LOGIN`, `BACKUP > CREATE`); their siblings on the screens are the terminal's other menus
//! (simulator-defined from the vendor's menu names, Primus §2.1-2.3), shown as "not simulated"
//! when chosen.

/// The terminal's two modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    DeviceAdministration,
    PartitionAdministration,
}

impl Mode {
    /// The mode's name on the screens and in `SWITCH MODE`.
    pub fn title(self) -> &'static str {
        match self {
            Mode::DeviceAdministration => "Device Administration",
            Mode::PartitionAdministration => "Partition Administration",
        }
    }

    /// The short name in the terminal's prompt (`Decanus DA>`).
    pub fn short(self) -> &'static str {
        match self {
            Mode::DeviceAdministration => "DA",
            Mode::PartitionAdministration => "PA",
        }
    }

    /// The mode's top menu.
    pub fn root(self) -> &'static [Item] {
        match self {
            Mode::DeviceAdministration => DEVICE_ADMINISTRATION,
            Mode::PartitionAdministration => PARTITION_ADMINISTRATION,
        }
    }
}

/// What the terminal does when a path reaches an item that is not a menu. The values that
/// follow the item in the path (`"PARTITION"`, PINs, the USB path) are its form, read by the
/// terminal; what is missing is prompted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `SETUP > CONFIGURATION > SECURITY > USER > ["P" >] "Management access" > enabled|disabled`.
    ManagementAccess,
    /// `SETUP > CONFIGURATION > DECANUS > PAIR`: pair the terminal with the device
    /// (simulator-defined item: the pairing the device's initial wizard makes, Primus §2.1).
    PairDevice,
    /// `SO ACTIVATION > ENTER PIN of 1st SO [> PIN] > ENTER PIN of 2nd SO [> PIN] [> path]`.
    SoActivation,
    /// `SO LOGOUT`: ends the SO session.
    SoLogout,
    /// `ROLES > USER > MGMT Password > "P"`.
    ManagementPassword,
    /// `BACKUP > PARTITION BACKUP > P-BACKUP CARD > "P" > INSERT Yellow Card into Slot 2 >
    /// PIN > PIN`.
    PartitionBackupCard,
    /// `SYSTEM > DIAG. DEVICE > LICENSE`.
    Licence,
    /// `SYSTEM > DIAG. DEVICE > VERSION`: the terminal's release and the device's firmware.
    Version,
    /// `SWITCH MODE > Device Administration` / `SWITCH MODE > Partition Administration`.
    Switch(Mode),
    /// `ONBOARD > "URL" > "PORT" > "USER" > "MGMT PASSWORD" > INSERT PSO > ONBOARD`.
    Onboard,
    /// `LOGIN > "P"`: the partition login of Partition Administration mode.
    Login,
    /// `LOGOUT`: ends the partition login.
    Logout,
    /// `BACKUP > CREATE > USB path`.
    BackupCreate,
}

/// What choosing an item does.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A screen of items.
    Menu(&'static [Item]),
    /// An operation, with the form that follows it in a path (shown by `help`).
    Action(Action, &'static str),
    /// A menu of the real terminal this simulator does not carry out: why, or what to use.
    NotSimulated(&'static str),
}

/// One line of a screen.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub name: &'static str,
    pub kind: Kind,
}

const fn menu(name: &'static str, items: &'static [Item]) -> Item {
    Item {
        name,
        kind: Kind::Menu(items),
    }
}

const fn action(name: &'static str, action: Action, form: &'static str) -> Item {
    Item {
        name,
        kind: Kind::Action(action, form),
    }
}

const fn not_simulated(name: &'static str, why: &'static str) -> Item {
    Item {
        name,
        kind: Kind::NotSimulated(why),
    }
}

const ON_THE_DEVICE: &str = "this menu of the real terminal is not simulated";

/// `SYSTEM`, in both modes.
const SYSTEM: Item = menu(
    "SYSTEM",
    &[
        menu(
            "DIAG. DEVICE",
            &[
                action("LICENSE", Action::Licence, ""),
                action("VERSION", Action::Version, ""),
                not_simulated("SELFTEST", ON_THE_DEVICE),
            ],
        ),
        not_simulated("LOG", ON_THE_DEVICE),
        not_simulated("REBOOT", "a reboot is `hsmsim lab restart`"),
    ],
);

const SWITCH_MODE: Item = menu(
    "SWITCH MODE",
    &[
        action(
            "Device Administration",
            Action::Switch(Mode::DeviceAdministration),
            "",
        ),
        action(
            "Partition Administration",
            Action::Switch(Mode::PartitionAdministration),
            "",
        ),
    ],
);

/// The Device Administration menu (the SOs' menu, the terminal's first mode).
pub const DEVICE_ADMINISTRATION: &[Item] = &[
    menu(
        "SETUP",
        &[
            menu(
                "CONFIGURATION",
                &[
                    menu(
                        "SECURITY",
                        &[
                            action(
                                "USER",
                                Action::ManagementAccess,
                                "[\"PARTITION\" >] \"Management access\" > enabled|disabled",
                            ),
                            not_simulated(
                                "POLICY",
                                "a partition's security policy is `hsmsim primus policy set`",
                            ),
                            not_simulated("SO", ON_THE_DEVICE),
                        ],
                    ),
                    menu("DECANUS", &[action("PAIR", Action::PairDevice, "")]),
                    not_simulated("NETWORK", ON_THE_DEVICE),
                    not_simulated("TIME", ON_THE_DEVICE),
                ],
            ),
            not_simulated(
                "INITIALIZE",
                "the device's initial wizard is the lab file (`hsmsim lab init`)",
            ),
        ],
    ),
    action(
        "SO ACTIVATION",
        Action::SoActivation,
        "ENTER PIN of 1st SO [> PIN] > ENTER PIN of 2nd SO [> PIN] [> a path to run as the SOs]",
    ),
    action("SO LOGOUT", Action::SoLogout, ""),
    menu(
        "ROLES",
        &[
            menu(
                "USER",
                &[
                    action("MGMT Password", Action::ManagementPassword, "\"PARTITION\""),
                    not_simulated(
                        "NEW SETUP PW",
                        "a setup password is `hsmsim primus setup-password issue`",
                    ),
                ],
            ),
            not_simulated("SO", ON_THE_DEVICE),
        ],
    ),
    menu(
        "BACKUP",
        &[
            menu(
                "PARTITION BACKUP",
                &[action(
                    "P-BACKUP CARD",
                    Action::PartitionBackupCard,
                    "\"PARTITION\" > INSERT Yellow Card into Slot 2 > [current PIN >] new PIN > new PIN",
                )],
            ),
            not_simulated("DEVICE BACKUP", ON_THE_DEVICE),
        ],
    ),
    SYSTEM,
    SWITCH_MODE,
];

/// The Partition Administration menu (a partition's administrator, after ONBOARD).
pub const PARTITION_ADMINISTRATION: &[Item] = &[
    action(
        "ONBOARD",
        Action::Onboard,
        "\"HSM URL/IP\" > \"TCP Port\" > \"HSM Username\" > \"Mgmt. Password\" > INSERT PSO > ONBOARD",
    ),
    action("LOGIN", Action::Login, "\"PARTITION\""),
    action("LOGOUT", Action::Logout, ""),
    menu(
        "BACKUP",
        &[
            action("CREATE", Action::BackupCreate, "[USB path]"),
            not_simulated(
                "RESTORE",
                "a partition backup is restored by Securosys: `hsmsim cloudhsm restore`",
            ),
        ],
    ),
    not_simulated(
        "KEYS",
        "keys are listed with the PKCS#11 tools (`hsmsim primus-tools ListKeyEntry`)",
    ),
    SYSTEM,
    SWITCH_MODE,
];

/// The names of the ONBOARD form's card step (seed 000 writes the long one).
pub const INSERT_PSO: [&str; 2] = [
    "INSERT PSO",
    "INSERT empty Partition SO Card (PSO) on Slot 1",
];
/// The P-BACKUP CARD form's card step.
pub const INSERT_YELLOW: &str = "INSERT Yellow Card into Slot 2";
/// The USER form's switch.
pub const MANAGEMENT_ACCESS: &str = "Management access";
/// The SO ACTIVATION form's steps.
pub const ENTER_PIN_1ST: &str = "ENTER PIN of 1st SO";
pub const ENTER_PIN_2ND: &str = "ENTER PIN of 2nd SO";

/// Whether `typed` names `name`: case-insensitive, surrounding spaces ignored.
pub fn names(typed: &str, name: &str) -> bool {
    typed.trim().eq_ignore_ascii_case(name)
}

/// The item of `items` that `typed` names.
pub fn find(items: &'static [Item], typed: &str) -> Option<&'static Item> {
    items.iter().find(|i| names(typed, i.name))
}

/// The menu at `path` (names of menus from the mode's top), `None` when the path is not
/// one of menus.
pub fn menu_at(mode: Mode, path: &[&str]) -> Option<&'static [Item]> {
    let mut items = mode.root();
    for name in path {
        match find(items, name)?.kind {
            Kind::Menu(next) => items = next,
            _ => return None,
        }
    }
    Some(items)
}

/// Every path of the tree to an action, with its form (for `help`).
pub fn action_paths(mode: Mode) -> Vec<(String, &'static str)> {
    fn walk(prefix: &str, items: &'static [Item], out: &mut Vec<(String, &'static str)>) {
        for item in items {
            let path = if prefix.is_empty() {
                item.name.to_string()
            } else {
                format!("{prefix} > {}", item.name)
            };
            match item.kind {
                Kind::Menu(next) => walk(&path, next, out),
                Kind::Action(_, form) => out.push((path, form)),
                Kind::NotSimulated(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    walk("", mode.root(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action_of(mode: Mode, path: &[&str]) -> Option<Action> {
        let (last, menus) = path.split_last()?;
        match find(menu_at(mode, menus)?, last)?.kind {
            Kind::Action(a, _) => Some(a),
            _ => None,
        }
    }

    #[test]
    fn every_item_of_the_seed_s_paths_is_in_its_mode() {
        use Mode::*;
        let da = [
            (
                &["SETUP", "CONFIGURATION", "SECURITY", "USER"][..],
                Action::ManagementAccess,
            ),
            (&["SO ACTIVATION"][..], Action::SoActivation),
            (
                &["ROLES", "USER", "MGMT Password"][..],
                Action::ManagementPassword,
            ),
            (
                &["BACKUP", "PARTITION BACKUP", "P-BACKUP CARD"][..],
                Action::PartitionBackupCard,
            ),
            (&["SYSTEM", "DIAG. DEVICE", "LICENSE"][..], Action::Licence),
            (
                &["SWITCH MODE", "Partition Administration"][..],
                Action::Switch(PartitionAdministration),
            ),
        ];
        for (path, expected) in da {
            assert_eq!(
                action_of(DeviceAdministration, path),
                Some(expected),
                "{path:?}"
            );
        }
        let pa = [
            (&["ONBOARD"][..], Action::Onboard),
            (&["LOGIN"][..], Action::Login),
            (&["BACKUP", "CREATE"][..], Action::BackupCreate),
            (&["SYSTEM", "DIAG. DEVICE", "LICENSE"][..], Action::Licence),
            (
                &["SWITCH MODE", "Device Administration"][..],
                Action::Switch(DeviceAdministration),
            ),
        ];
        for (path, expected) in pa {
            assert_eq!(
                action_of(PartitionAdministration, path),
                Some(expected),
                "{path:?}"
            );
        }
        // Each mode has its own items.
        assert_eq!(action_of(DeviceAdministration, &["ONBOARD"]), None);
        assert_eq!(
            action_of(PartitionAdministration, &["ROLES", "USER", "MGMT Password"]),
            None
        );
    }

    #[test]
    fn names_match_in_any_case_and_menus_are_found_by_path() {
        assert!(names("diag. device", "DIAG. DEVICE"));
        assert!(names(" mgmt password ", "MGMT Password"));
        assert!(!names("DIAG DEVICE", "DIAG. DEVICE"));
        let backup = menu_at(Mode::DeviceAdministration, &["backup"]).unwrap();
        let names: Vec<&str> = backup.iter().map(|i| i.name).collect();
        assert_eq!(names, ["PARTITION BACKUP", "DEVICE BACKUP"]);
        assert!(menu_at(Mode::DeviceAdministration, &["SO ACTIVATION"]).is_none());
        assert!(menu_at(Mode::DeviceAdministration, &["NOPE"]).is_none());
    }

    #[test]
    fn no_screen_has_two_items_of_one_name_and_help_lists_every_action() {
        fn check(items: &'static [Item]) {
            for (i, a) in items.iter().enumerate() {
                assert!(
                    !items[i + 1..].iter().any(|b| names(a.name, b.name)),
                    "{} twice",
                    a.name
                );
                if let Kind::Menu(next) = a.kind {
                    check(next);
                }
            }
        }
        check(DEVICE_ADMINISTRATION);
        check(PARTITION_ADMINISTRATION);
        let paths: Vec<String> = action_paths(Mode::DeviceAdministration)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert!(paths.contains(&"BACKUP > PARTITION BACKUP > P-BACKUP CARD".to_string()));
        assert!(paths.contains(&"SYSTEM > DIAG. DEVICE > LICENSE".to_string()));
    }
}
