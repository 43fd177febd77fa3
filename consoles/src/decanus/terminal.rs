//! A Decanus terminal paired with one Primus device of the lab: what the terminal itself holds
//! (its mode, the cards in slots 1 and 2, the USB drive, the SO session, the partition login
//! of Partition Administration mode, the screen it shows) and `run_line`, which takes one line
//! (a menu path, a number of the screen, a terminal command) and carries it out through the
//! estate's Decanus operations (`hsmsim::estate::primus`: management access, management
//! password, onboarding, partition login, Partition-Backup card, partition backup, licence
//! items). The estate
//! enforces the device's rules (cards, PINs and their counters, licences, release, pairing);
//! the terminal reads the forms of the seed's paths, asks for what a path leaves out (`PIN of
//! 1st SO: `, `USER: `, `New PSO PIN: `, ...) and hands the cards of its slots and the PINs
//! typed to the estate. Simulator-defined where the documents are silent: an SO session lasts
//! until `SO LOGOUT`, a mode switch or exit (the terminal keeps the two SO cards' names and
//! PINs, so slot 2 can then take the Yellow card); `LOGIN` enters Partition Administration for
//! the partition (its Partition SO card) and then checks the partition password, which the
//! terminal keeps for `BACKUP > CREATE` until `LOGOUT`, a mode switch or exit.
use super::grammar::{self, Line, Segment, Slot, TerminalCommand};
use super::menu::{self, Action, Item, Kind, Mode};
use super::output::{self, Reply, Status};
use crate::command_line::Prompts;
use cryptoki_sys::*;
use hsmsim::base::error::Error;
use hsmsim::estate::LabSelection;
use hsmsim::estate::primus::{self, BackupRequest, DecanusState, Onboarding};
use hsmsim::models::primus::CardKind;
use std::path::PathBuf;

/// The partition login of Partition Administration mode.
#[derive(Debug, Clone)]
struct PartitionLogin {
    partition: String,
    password: String,
}

/// A Decanus terminal and its device.
pub struct Terminal {
    pub(super) selection: LabSelection,
    device: String,
    remote: bool,
    state: DecanusState,
    mode: Mode,
    slots: [Option<String>; 2],
    usb: Option<PathBuf>,
    /// The SO cards and PINs of the active SO session.
    so_session: Option<Vec<(String, String)>>,
    login: Option<PartitionLogin>,
    /// The menus from the mode's top to the screen shown.
    screen: Vec<&'static str>,
}

/// An answer that ends the line early.
type Outcome = Result<Reply, Reply>;

fn refusal(e: Error) -> Reply {
    Reply::refused(e.rv, &e.detail)
}

fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::One => "slot 1",
        Slot::Two => "slot 2",
    }
}

fn kind_title(kind: CardKind) -> &'static str {
    match kind {
        CardKind::So => "SO",
        CardKind::PartitionSo => "Partition SO",
        CardKind::PartitionBackup => "P-Backup",
    }
}

/// The values and steps that follow an action's item in a path.
struct Form<'a> {
    rest: &'a [Segment],
}

impl<'a> Form<'a> {
    fn next_is(&self, names: &[&str]) -> bool {
        self.rest
            .first()
            .is_some_and(|s| names.iter().any(|n| menu::names(&s.text, n)))
    }

    /// Takes the step `names` names, if it comes next.
    fn step(&mut self, names: &[&str]) -> bool {
        let here = self.next_is(names);
        if here {
            self.rest = &self.rest[1..];
        }
        here
    }

    /// Takes the next item as a value unless it is one of the steps `not`.
    fn value(&mut self, not: &[&str]) -> Option<String> {
        if self.rest.is_empty() || self.next_is(not) {
            return None;
        }
        let value = self.rest[0].text.clone();
        self.rest = &self.rest[1..];
        Some(value)
    }

    /// Nothing may follow.
    fn end(&self, action: &str) -> Result<(), Reply> {
        match self.rest.first() {
            None => Ok(()),
            Some(s) => Err(Reply::usage(&format!(
                "{action}: nothing follows {:?} here (type `help` for the forms)",
                s.text
            ))),
        }
    }
}

/// A value the path left out: asked for (`secret`: without echo); a usage error when nobody
/// can answer.
fn ask(prompts: &mut dyn Prompts, question: &str, secret: bool) -> Result<String, Reply> {
    let answer = if secret {
        prompts.secret(question)
    } else {
        prompts.answer(question)
    };
    answer.map(|a| a.trim().to_string()).ok_or_else(|| {
        Reply::usage(&format!(
            "{} is needed: give it in the path or on the next line",
            question.trim_end().trim_end_matches(':')
        ))
    })
}

fn value_or_ask(
    given: Option<String>,
    prompts: &mut dyn Prompts,
    question: &str,
    secret: bool,
) -> Result<String, Reply> {
    match given {
        Some(v) => Ok(v),
        None => ask(prompts, question, secret),
    }
}

impl Terminal {
    /// The Decanus terminal of `device` (`remote`: used over the network, which needs the
    /// licence item Decanus Remote Terminal). Refused when the device has none.
    pub fn new(selection: LabSelection, device: &str, remote: bool) -> Result<Terminal, Reply> {
        primus::device(&selection, device).map_err(|e| Reply::usage(&e.detail))?;
        let state = primus::decanus_state(&selection, device)
            .map_err(refusal)?
            .ok_or_else(|| {
                Reply::refused(
                    CKR_FUNCTION_FAILED,
                    &format!("device {device} has no Decanus terminal (the lab gives it none)"),
                )
            })?;
        if remote {
            primus::check_remote_terminal(&selection, device).map_err(refusal)?;
        }
        Ok(Terminal {
            selection,
            device: device.to_string(),
            remote,
            state,
            mode: Mode::DeviceAdministration,
            slots: [None, None],
            usb: None,
            so_session: None,
            login: None,
            screen: Vec::new(),
        })
    }

    /// What the terminal shows when it starts: its release, the device and how it is reached.
    pub fn banner(&self) -> String {
        format!(
            "Decanus Terminal {} ({}) for Primus device {}, simulated by hsmsim v{}\n\
             Device Administration pairing: {}. Type `help` for the menus and commands.\n",
            output::release(self.state.version),
            if self.remote { "remote" } else { "local" },
            self.device,
            env!("CARGO_PKG_VERSION"),
            if self.state.device_administration {
                "paired"
            } else {
                "not paired"
            }
        )
    }

    /// The prompt: `Decanus DA> ` or `Decanus PA> `.
    pub fn prompt(&self) -> String {
        format!("Decanus {}> ", self.mode.short())
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The items of the screen shown.
    fn items(&self) -> &'static [Item] {
        menu::menu_at(self.mode, &self.screen).unwrap_or(self.mode.root())
    }

    /// The screen shown now.
    pub fn screen(&self) -> String {
        let items = self.items();
        output::screen(self.mode, &self.screen, items)
    }

    /// The items of the screen shown, in order, and whether it has `0  BACK` (not the main
    /// menu): what an arrow-key selection offers.
    pub fn choices(&self) -> (Vec<&'static str>, bool) {
        let items = self.items();
        (
            items.iter().map(|i| i.name).collect(),
            !self.screen.is_empty(),
        )
    }

    /// Runs one line (`None` for an empty line or a comment).
    pub fn run_line(&mut self, line: &str, prompts: &mut dyn Prompts) -> Option<Reply> {
        match grammar::parse(line) {
            Ok(Line::Nothing) => None,
            Ok(Line::Command(command)) => Some(self.command(command)),
            Ok(Line::Choose(n)) => Some(self.choose(n, prompts)),
            Ok(Line::Path(path)) => Some(self.path(&path, prompts)),
            Err(e) => Some(Reply::usage(&e.0)),
        }
    }

    fn partition_text(&self, partition: &str) -> String {
        format!("{}/{partition}", self.device)
    }

    /// A number of the screen: a menu opens, an action runs (asking for its form), 0 goes
    /// back.
    fn choose(&mut self, n: usize, prompts: &mut dyn Prompts) -> Reply {
        let items = self.items();
        if n == 0 {
            if self.screen.pop().is_none() {
                return Reply::usage("this is the main menu: there is nothing to go back to");
            }
            return Reply::done(self.screen());
        }
        let Some(item) = items.get(n - 1) else {
            return Reply::usage(&format!(
                "{n}: this screen has items 1 to {}{}",
                items.len(),
                if self.screen.is_empty() {
                    ""
                } else {
                    " (0: back)"
                }
            ));
        };
        let at = self.screen.clone();
        self.enter(item, at, &[], prompts)
    }

    /// A menu path from the top of the mode's menu.
    fn path(&mut self, path: &[Segment], prompts: &mut dyn Prompts) -> Reply {
        let mut items = self.mode.root();
        let mut at: Vec<&'static str> = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let Some(item) = menu::find(items, &segment.text) else {
                return Reply::usage(&self.not_an_item(&at, items, &segment.text));
            };
            if let Kind::Menu(next) = item.kind
                && i + 1 < path.len()
            {
                at.push(item.name);
                items = next;
                continue;
            }
            return self.enter(item, at, &path[i + 1..], prompts);
        }
        Reply::usage("an empty path")
    }

    /// Choosing `item` of the menu `at`, with the rest of the path.
    fn enter(
        &mut self,
        item: &'static Item,
        mut at: Vec<&'static str>,
        rest: &[Segment],
        prompts: &mut dyn Prompts,
    ) -> Reply {
        match item.kind {
            Kind::Menu(_) => {
                at.push(item.name);
                self.screen = at;
                Reply::done(self.screen())
            }
            Kind::NotSimulated(why) => Reply::usage(&format!("{}: {why}", item.name)),
            Kind::Action(action, _) => {
                self.screen = at;
                self.act(action, item.name, rest, prompts)
                    .unwrap_or_else(|reply| reply)
            }
        }
    }

    /// Why `typed` is not an item of the menu `at`.
    fn not_an_item(&self, at: &[&str], items: &[Item], typed: &str) -> String {
        let other = match self.mode {
            Mode::DeviceAdministration => Mode::PartitionAdministration,
            Mode::PartitionAdministration => Mode::DeviceAdministration,
        };
        let menu_name = if at.is_empty() {
            format!("the {} menu", self.mode.title())
        } else {
            at.join(" > ")
        };
        let in_other = menu::menu_at(other, at).and_then(|i| menu::find(i, typed));
        let hint = match in_other {
            Some(item) => format!(
                " ({} is a {} item: SWITCH MODE > {} first)",
                item.name,
                other.title(),
                other.title()
            ),
            None => String::new(),
        };
        let names: Vec<&str> = items.iter().map(|i| i.name).collect();
        format!(
            "\"{typed}\" is not an item of {menu_name}{hint}; items: {}",
            names.join(", ")
        )
    }

    fn act(
        &mut self,
        action: Action,
        name: &str,
        rest: &[Segment],
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let mut form = Form { rest };
        match action {
            Action::ManagementAccess => self.management_access(&mut form, prompts),
            Action::PairDevice => {
                form.end(name)?;
                let so = self.so_cards(prompts)?;
                let state = primus::pair_device_administration(&self.selection, &self.device, &so)
                    .map_err(refusal)?;
                self.state = state;
                Ok(Reply::done(format!(
                    "Decanus Terminal {} paired with {} (Device Administration)\n",
                    output::release(self.state.version),
                    self.device
                )))
            }
            Action::SoActivation => self.so_activation(&mut form, prompts),
            Action::SoLogout => {
                form.end(name)?;
                let text = if self.so_session.take().is_some() {
                    "SO session ended\n"
                } else {
                    "No SO session was active\n"
                };
                Ok(Reply::done(text.into()))
            }
            Action::ManagementPassword => {
                let partition = form.value(&[]);
                form.end(name)?;
                let so = self.so_cards(prompts)?;
                let partition = value_or_ask(partition, prompts, "USER: ", false)?;
                let password = primus::issue_management_password(
                    &self.selection,
                    &self.partition_text(&partition),
                    &so,
                )
                .map_err(refusal)?;
                Ok(Reply::done(format!(
                    "Management password for {partition}: {password}\n\
                     (shown once: ONBOARD in Partition Administration mode asks for it)\n"
                )))
            }
            Action::PartitionBackupCard => self.partition_backup_card(&mut form, prompts),
            Action::Licence => {
                form.end(name)?;
                let items =
                    primus::licence_items(&self.selection, &self.device).map_err(refusal)?;
                let mut text = format!("LICENSE of {}\n", self.device);
                for (licence, on) in items {
                    text.push_str(&format!(
                        "  {:<28}{}\n",
                        licence.title(),
                        if on { "licensed" } else { "not licensed" }
                    ));
                }
                Ok(Reply::done(text))
            }
            Action::Version => {
                form.end(name)?;
                let device = primus::device(&self.selection, &self.device).map_err(refusal)?;
                let (major, minor) = device.firmware;
                Ok(Reply::done(format!(
                    "Decanus Terminal {}\nDevice {}: firmware {major}.{minor}\n",
                    output::release(self.state.version),
                    self.device
                )))
            }
            Action::Switch(mode) => {
                form.end(name)?;
                self.so_session = None;
                self.login = None;
                self.screen.clear();
                let was = std::mem::replace(&mut self.mode, mode);
                let text = if was == mode {
                    format!("Already in {} mode\n", mode.title())
                } else {
                    format!("Decanus mode: {}\n", mode.title())
                };
                Ok(Reply::done(format!("{text}{}", self.screen())))
            }
            Action::Onboard => self.onboard(&mut form, prompts),
            Action::Login => self.partition_login(&mut form, prompts),
            Action::Logout => {
                form.end(name)?;
                Ok(Reply::done(match self.login.take() {
                    Some(l) => format!("Logged out of partition {}\n", l.partition),
                    None => "No partition was logged in\n".into(),
                }))
            }
            Action::BackupCreate => self.backup_create(&mut form),
        }
    }

    /// The card in `slot`, or the refusal naming what to insert.
    fn card_in(&self, slot: Slot, what: &str) -> Result<String, Reply> {
        self.slots[slot.index()].clone().ok_or_else(|| {
            Reply::refused(
                CKR_TOKEN_NOT_PRESENT,
                &format!(
                    "{} is empty: insert {what} (`card insert NAME --slot {}`)",
                    slot_name(slot),
                    slot.number()
                ),
            )
        })
    }

    /// SO activation with the SO cards in slots 1 and 2 (the PINs given, else asked for).
    fn activate(
        &mut self,
        pin_1st: Option<String>,
        pin_2nd: Option<String>,
        prompts: &mut dyn Prompts,
    ) -> Result<String, Reply> {
        let card_1st = self.card_in(Slot::One, "the 1st SO's card")?;
        let pin_1st = value_or_ask(pin_1st, prompts, "PIN of 1st SO: ", true)?;
        let card_2nd = self.card_in(Slot::Two, "the 2nd SO's card")?;
        let pin_2nd = value_or_ask(pin_2nd, prompts, "PIN of 2nd SO: ", true)?;
        let presented = vec![(card_1st.clone(), pin_1st), (card_2nd.clone(), pin_2nd)];
        self.so_session = None;
        primus::so_activation(&self.selection, &self.device, &presented).map_err(refusal)?;
        self.so_session = Some(presented);
        Ok(format!(
            "SO activation: 1st SO (card {card_1st}) and 2nd SO (card {card_2nd}) accepted\n"
        ))
    }

    /// The SO session's cards and PINs, activating one first when none is active.
    fn so_cards(&mut self, prompts: &mut dyn Prompts) -> Result<Vec<(String, String)>, Reply> {
        if self.mode != Mode::DeviceAdministration {
            return Err(Reply::usage(
                "the SOs act in Device Administration mode: SWITCH MODE > Device Administration",
            ));
        }
        if self.so_session.is_none() {
            self.activate(None, None, prompts)?;
        }
        Ok(self.so_session.clone().unwrap_or_default())
    }

    fn so_activation(&mut self, form: &mut Form<'_>, prompts: &mut dyn Prompts) -> Outcome {
        let root: Vec<&str> = self.mode.root().iter().map(|i| i.name).collect();
        let mut not_a_pin = vec![menu::ENTER_PIN_2ND];
        not_a_pin.extend(root.iter().copied());
        let mut pins = [None, None];
        if form.step(&[menu::ENTER_PIN_1ST]) && !form.next_is(&not_a_pin) {
            pins[0] = form.value(&[]);
        }
        if form.step(&[menu::ENTER_PIN_2ND]) && !form.next_is(&root) {
            pins[1] = form.value(&[]);
        }
        let [pin_1st, pin_2nd] = pins;
        let mut text = self.activate(pin_1st, pin_2nd, prompts)?;
        if form.rest.is_empty() {
            return Ok(Reply::done(text));
        }
        let then = self.path(form.rest, prompts);
        text.push_str(&then.text);
        Ok(Reply { text, ..then })
    }

    fn management_access(&mut self, form: &mut Form<'_>, prompts: &mut dyn Prompts) -> Outcome {
        const SWITCHES: [&str; 2] = ["enabled", "disabled"];
        let mut steps = vec![menu::MANAGEMENT_ACCESS];
        steps.extend(SWITCHES);
        let partition = form.value(&steps);
        form.step(&[menu::MANAGEMENT_ACCESS]);
        let switch = form.value(&[]);
        form.end("USER")?;
        let parse_switch = |text: &str| -> Result<bool, Reply> {
            match text.trim().to_ascii_lowercase().as_str() {
                "enabled" => Ok(true),
                "disabled" => Ok(false),
                other => Err(Reply::usage(&format!(
                    "\"Management access\" is enabled or disabled, not {other:?}"
                ))),
            }
        };
        if let Some(s) = &switch {
            parse_switch(s)?;
        }
        let so = self.so_cards(prompts)?;
        let partition = value_or_ask(partition, prompts, "USER: ", false)?;
        let switch = value_or_ask(
            switch,
            prompts,
            "Management access (enabled|disabled): ",
            false,
        )?;
        let enabled = parse_switch(&switch)?;
        primus::set_management_access(
            &self.selection,
            &self.partition_text(&partition),
            &so,
            enabled,
        )
        .map_err(refusal)?;
        Ok(Reply::done(format!(
            "USER {partition}: Management access {}\n",
            if enabled { "enabled" } else { "disabled" }
        )))
    }

    fn partition_backup_card(&mut self, form: &mut Form<'_>, prompts: &mut dyn Prompts) -> Outcome {
        let partition = form.value(&[menu::INSERT_YELLOW]);
        form.step(&[menu::INSERT_YELLOW]);
        let mut pins = Vec::new();
        while let Some(pin) = form.value(&[]) {
            pins.push(pin);
        }
        if pins.len() > 3 {
            return Err(Reply::usage(
                "P-BACKUP CARD: at most three PINs follow (the current one of an existing card, then the new one twice)",
            ));
        }
        let so = self.so_cards(prompts)?;
        let partition = value_or_ask(partition, prompts, "Partition: ", false)?;
        let card = self.card_in(Slot::Two, "the Yellow Card (P-Backup)")?;
        let existing = primus::load_card(&self.selection, &self.device, &card)
            .map_err(refusal)?
            .partition
            .is_some_and(|p| p == partition);
        let mut pins = pins.into_iter();
        let current = if existing {
            let given = if pins.len() == 3 { pins.next() } else { None };
            Some(value_or_ask(
                given,
                prompts,
                "Current P-Backup Card PIN: ",
                true,
            )?)
        } else if pins.len() == 3 {
            return Err(Reply::usage(&format!(
                "card {card} is not a P-Backup card of {partition} yet: give the new PIN twice"
            )));
        } else {
            None
        };
        let new = value_or_ask(pins.next(), prompts, "New P-Backup Card PIN: ", true)?;
        let again = value_or_ask(pins.next(), prompts, "Repeat P-Backup Card PIN: ", true)?;
        let made = primus::create_partition_backup_card(
            &self.selection,
            &self.partition_text(&partition),
            &so,
            &card,
            current.as_deref(),
            &new,
            &again,
        )
        .map_err(refusal)?;
        Ok(Reply::done(format!(
            "P-Backup Card {} ({}) is the Partition-Backup card of {partition}{}\n",
            made.name,
            made.kind.colour(),
            if existing {
                ": new PIN set, backup key kept"
            } else {
                ": backup key created"
            }
        )))
    }

    fn onboard(&mut self, form: &mut Form<'_>, prompts: &mut dyn Prompts) -> Outcome {
        let mut steps: Vec<&str> = menu::INSERT_PSO.to_vec();
        steps.push("ONBOARD");
        let mut values = Vec::new();
        while let Some(v) = form.value(&steps) {
            values.push(v);
        }
        if values.len() > 4 {
            return Err(Reply::usage(
                "ONBOARD: URL, port, user and management password come before INSERT PSO",
            ));
        }
        form.step(&menu::INSERT_PSO);
        let mut pins = Vec::new();
        while let Some(v) = form.value(&["ONBOARD"]) {
            pins.push(v);
        }
        form.step(&["ONBOARD"]);
        form.end("ONBOARD")?;
        if pins.len() > 2 {
            return Err(Reply::usage(
                "ONBOARD: the new PSO PIN is given twice after INSERT PSO, no more",
            ));
        }
        let mut values = values.into_iter();
        let url = value_or_ask(values.next(), prompts, "HSM URL/IP: ", false)?;
        let port_text = value_or_ask(
            values.next(),
            prompts,
            "TCP Port (default 2300 JCE): ",
            false,
        )?;
        let port = if port_text.is_empty() {
            2300
        } else {
            port_text.parse::<u16>().map_err(|_| {
                Reply::usage(&format!(
                    "TCP Port {port_text:?}: a port number is expected (default 2300 JCE)"
                ))
            })?
        };
        let user = value_or_ask(values.next(), prompts, "HSM Username: ", false)?;
        let password = value_or_ask(values.next(), prompts, "Mgmt. Password: ", true)?;
        let card = self.card_in(Slot::One, "the empty Partition SO Card (PSO)")?;
        let mut pins = pins.into_iter();
        let new = value_or_ask(pins.next(), prompts, "New PSO PIN: ", true)?;
        let again = value_or_ask(pins.next(), prompts, "Repeat PSO PIN: ", true)?;
        primus::onboard_partition_administration(
            &self.selection,
            &Onboarding {
                device: &self.device,
                url: &url,
                port,
                user: &user,
                management_password: &password,
                pso_card: &card,
                new_pso_pin: &new,
                new_pso_pin_again: &again,
            },
        )
        .map_err(refusal)?;
        Ok(Reply::done(format!(
            "ONBOARD: Partition Administration of {user} paired with this terminal \
             ({url}:{port}); Partition SO card {card} bound to {user}\n"
        )))
    }

    fn partition_login(&mut self, form: &mut Form<'_>, prompts: &mut dyn Prompts) -> Outcome {
        let partition = form.value(&[]);
        let mut secrets = Vec::new();
        while let Some(v) = form.value(&[]) {
            secrets.push(v);
        }
        let partition = value_or_ask(partition, prompts, "Partition: ", false)?;
        let admin =
            primus::partition_administration(&self.selection, &self.partition_text(&partition))
                .map_err(refusal)?;
        let needs_pso = admin.pso_card.is_some();
        if secrets.len() > 1 + usize::from(needs_pso) {
            return Err(Reply::usage(&format!(
                "LOGIN: {} follow the partition",
                if needs_pso {
                    "the PSO PIN and the partition password"
                } else {
                    "only the partition password"
                }
            )));
        }
        let mut secrets = secrets.into_iter();
        self.login = None;
        let pso = if needs_pso {
            let card = self.card_in(Slot::One, &format!("the Partition SO card of {partition}"))?;
            let pin = value_or_ask(secrets.next(), prompts, "PSO PIN: ", true)?;
            Some((card, pin))
        } else {
            None
        };
        let password = value_or_ask(secrets.next(), prompts, "Partition password: ", true)?;
        primus::enter_partition_administration(
            &self.selection,
            &self.partition_text(&partition),
            pso.as_ref().map(|(c, p)| (c.as_str(), p.as_str())),
        )
        .map_err(refusal)?;
        primus::partition_login(&self.selection, &self.partition_text(&partition), &password)
            .map_err(refusal)?;
        self.login = Some(PartitionLogin {
            partition: partition.clone(),
            password,
        });
        Ok(Reply::done(format!(
            "Logged in to partition {partition} (Partition Administration)\n"
        )))
    }

    fn backup_create(&mut self, form: &mut Form<'_>) -> Outcome {
        let usb = form.value(&[]).map(PathBuf::from);
        form.end("CREATE")?;
        let login = self.login.clone().ok_or_else(|| {
            Reply::refused(
                CKR_USER_NOT_LOGGED_IN,
                "no partition is logged in: LOGIN > \"PARTITION\" first",
            )
        })?;
        let usb = match usb.or_else(|| self.usb.clone()) {
            Some(dir) => dir,
            None => {
                return Err(Reply::refused(
                    CKR_DEVICE_REMOVED,
                    "no USB drive: `usb insert DIR`, or give the drive: BACKUP > CREATE > DIR",
                ));
            }
        };
        insert_drive(&usb)?;
        let created = primus::create_partition_backup(
            &self.selection,
            &BackupRequest {
                partition: &self.partition_text(&login.partition),
                partition_password: &login.password,
                usb: &usb,
            },
        )
        .map_err(refusal)?;
        Ok(Reply::done(format!(
            "Partition backup of {} ({} object{}) stored to USB-memory: {}\n\
             Write down the Backup password: {}\n",
            created.header.partition,
            created.header.objects,
            if created.header.objects == 1 { "" } else { "s" },
            created.file.display(),
            created.password
        )))
    }

    fn command(&mut self, command: TerminalCommand) -> Reply {
        match command {
            TerminalCommand::CardInsert { card, slot } => {
                if let Some(there) = &self.slots[slot.index()] {
                    return Reply::usage(&format!(
                        "{} holds card {there}: `card remove --slot {}` first",
                        slot_name(slot),
                        slot.number()
                    ));
                }
                if self.slots.iter().flatten().any(|c| *c == card) {
                    return Reply::usage(&format!("card {card} is in the other slot"));
                }
                match primus::load_card(&self.selection, &self.device, &card) {
                    Ok(found) => {
                        self.slots[slot.index()] = Some(card.clone());
                        Reply::done(format!(
                            "Card {card} ({} card, {}) inserted in {}\n",
                            kind_title(found.kind),
                            found.kind.colour(),
                            slot_name(slot)
                        ))
                    }
                    Err(e) => refusal(e),
                }
            }
            TerminalCommand::CardRemove { slot } => match self.slots[slot.index()].take() {
                Some(card) => {
                    Reply::done(format!("Card {card} removed from {}\n", slot_name(slot)))
                }
                None => Reply::usage(&format!("{} is empty", slot_name(slot))),
            },
            TerminalCommand::UsbInsert(dir) => {
                if let Some(there) = &self.usb {
                    return Reply::usage(&format!(
                        "the USB drive {} is inserted: `usb remove` first",
                        there.display()
                    ));
                }
                if let Err(reply) = insert_drive(&dir) {
                    return reply;
                }
                let text = format!("USB drive {} inserted\n", dir.display());
                self.usb = Some(dir);
                Reply::done(text)
            }
            TerminalCommand::UsbRemove => match self.usb.take() {
                Some(dir) => Reply::done(format!("USB drive {} removed\n", dir.display())),
                None => Reply::usage("no USB drive is inserted"),
            },
            TerminalCommand::Status => Reply::done(self.status()),
            TerminalCommand::Help => Reply::done(self.help()),
            TerminalCommand::Exit => Reply {
                text: String::new(),
                status: Status::Done,
                exit: true,
            },
        }
    }

    fn status(&self) -> String {
        let slot = |s: &Option<String>| s.clone().unwrap_or_else(|| "(empty)".into());
        format!(
            "Decanus Terminal {} ({}), device {}\n\
             Mode:             {}\n\
             Slot 1:           {}\n\
             Slot 2:           {}\n\
             USB:              {}\n\
             SO session:       {}\n\
             Partition login:  {}\n",
            output::release(self.state.version),
            if self.remote { "remote" } else { "local" },
            self.device,
            self.mode.title(),
            slot(&self.slots[0]),
            slot(&self.slots[1]),
            self.usb
                .as_ref()
                .map_or("(none)".into(), |d| d.display().to_string()),
            match &self.so_session {
                Some(cards) => format!("active (cards {} and {})", cards[0].0, cards[1].0),
                None => "none".into(),
            },
            self.login
                .as_ref()
                .map_or("none".into(), |l| l.partition.clone())
        )
    }

    fn help(&self) -> String {
        let mut out = format!(
            "Menu paths of {} mode (items separated by \" > \", any case; quoted items are values; \
             what a path leaves out is asked for):\n",
            self.mode.title()
        );
        for (path, form) in menu::action_paths(self.mode) {
            if form.is_empty() {
                out.push_str(&format!("  {path}\n"));
            } else {
                out.push_str(&format!("  {path} > {form}\n"));
            }
        }
        out.push_str(
            "A number chooses an item of the screen (0: back); at a terminal, an empty line \
             lets the arrow keys choose.\n\
             Terminal commands:\n\
             \x20 card insert NAME --slot 1|2   put a card of the device in a slot\n\
             \x20 card remove --slot 1|2        take it out\n\
             \x20 usb insert DIR                plug a USB drive (a directory; created if missing)\n\
             \x20 usb remove                    unplug it\n\
             \x20 status                        mode, slots, USB, SO session, partition login\n\
             \x20 help                          this text\n\
             \x20 exit                          leave the terminal\n",
        );
        out
    }
}

/// A USB drive (a directory, created if missing).
fn insert_drive(dir: &std::path::Path) -> Result<(), Reply> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Reply::refused(
            CKR_DEVICE_ERROR,
            &format!("cannot use {} as a USB drive: {e}", dir.display()),
        )
    })
}
