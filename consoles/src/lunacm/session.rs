//! A LunaCM session on one PKCS#11 module with Luna's `CA_*` extensions (this simulator's
//! module for a client host of the lab, or a real Luna client library): the current slot, one
//! PKCS#11 session per slot LunaCM has used and the role logged in there, and `run`, which
//! carries out one command line through the module (`C_*` through cryptoki, `CA_*` through
//! `backend::luna_ca`) and returns its [`Reply`]. The module enforces the Luna rules
//! (PINs, lockouts, cloning domains and policies, destructive policies); the console adds what
//! LunaCM itself decides: which role names a firmware era takes (pre-PPSO `partition login`;
//! 6.22 PPSO: names in full, case-sensitive; 7.x: `po`/`co`/`cu` too), the proceed prompt of
//! destructive commands, and whether `partition clone` goes on after a failed object (a source
//! older than 7.7 does; a 7.7+ source stops, as the Thales documentation says). Passwords a command needs and
//! does not give, and the answers to the proceed prompt, come through [`Prompts`].
use super::client::ClientEra;
use super::grammar::{self, Command, Objects};
use super::output::{self, ObjectRow, PolicyRow, Reply, Status};
use crate::backend::module::Module;
use crate::backend::outcome::rv_name;
pub use crate::command_line::Prompts;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use cryptoki_sys::*;
use hsmsim::estate::LabSelection;
use hsmsim::models::luna_ca::LunaSlotListing;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Luna's vendor user types (pycryptoki `defines.py`).
pub(super) const CKU_CRYPTO_USER: CK_USER_TYPE = 0x8000_0001;
pub(super) const CKU_LIMITED_CRYPTO_OFFICER: CK_USER_TYPE = 0x8000_0003;
/// The slot description of an HA group's virtual slot.
const HA_VIRTUAL_SLOT: &str = "HA Virtual Card Slot";
/// HSM policy 41: per-partition SO (PPSO) on 6.22+ firmware.
const HSM_POLICY_PER_PARTITION_SO: CK_ULONG = 41;
/// HSM policies `hsm showinfo` lists: cloning, network replication, per-partition SO.
const SHOWN_HSM_POLICIES: &[(CK_ULONG, &str)] = &[
    (7, "Allow cloning"),
    (16, "Allow network replication"),
    (41, "Enable per-partition SO"),
];

/// The role naming and login rules of a partition's firmware (seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Era {
    /// Before 6.22.0, or 6.22+ without the PPSO capability: the owner uses `partition login`.
    PrePpso,
    /// 6.22.0 and later 6.x with PPSO: `role login`, names in full and case-sensitive.
    Ppso6,
    /// 7.x (and modules without `CA_GetFirmwareVersion`): names in full or abbreviated.
    Luna7,
}

/// A slot's PKCS#11 session and the role LunaCM logged in there.
pub(super) struct SlotSession {
    pub(super) session: Session,
    pub(super) role: Option<&'static str>,
    /// The credential the role logged in with (empty on a PED), kept in memory for the
    /// simulator's archive commands, which authenticate the Crypto Officer again.
    pub(super) credential: Option<String>,
}

/// A LunaCM session.
pub struct Console {
    pub(super) module: Arc<Module>,
    pub(super) current: Option<u64>,
    pub(super) sessions: BTreeMap<u64, SlotSession>,
    /// The lab behind the simulator's module (`--host`): `partition archive` and `hagroup`
    /// run on it through `hsmsim::estate`, the SDK having no `CA_*` call for them.
    pub(super) lab: Option<LabSelection>,
    /// The Luna HSM Client era whose LunaCM this is (`--client`, default 10).
    pub(super) client: ClientEra,
}

/// A module's answer as a `CK_RV` (cryptoki keeps only the name).
fn rv_of(e: &cryptoki::error::Error) -> CK_RV {
    use cryptoki::error::{Error, Rv, RvError};
    match e {
        Error::Pkcs11(RvError::VendorDefined(code) | RvError::UnknownErrorCode(code), _) => *code,
        Error::Pkcs11(rv, _) => (0..0x400)
            .find(|code| Rv::from(*code) == Rv::Error(*rv))
            .unwrap_or(CKR_GENERAL_ERROR),
        _ => CKR_GENERAL_ERROR,
    }
}

pub(super) fn refused(e: cryptoki::error::Error) -> Reply {
    Reply::refused("", rv_of(&e))
}

/// A command's reply; `Err` is a reply that ends the command early.
pub(super) type Outcome = Result<Reply, Reply>;

/// The full name of a role LunaCM shows (`partition contents`).
pub(super) fn role_title(user: CK_USER_TYPE) -> &'static str {
    match user {
        CKU_SO => "Partition SO",
        CKU_USER => "Crypto Officer",
        CKU_CRYPTO_USER => "Crypto User",
        _ => "Limited Crypto Officer",
    }
}

/// What a class is called in `partition contents`.
pub(super) fn object_type(class: Option<ObjectClass>) -> &'static str {
    match class {
        Some(ObjectClass::PRIVATE_KEY) => "Private Key",
        Some(ObjectClass::PUBLIC_KEY) => "Public Key",
        Some(ObjectClass::SECRET_KEY) => "Symmetric Key",
        Some(ObjectClass::CERTIFICATE) => "Certificate",
        Some(ObjectClass::DATA) => "Data",
        _ => "Object",
    }
}

impl Console {
    /// A console on `module`; the current slot is the first with a token.
    pub fn new(module: Arc<Module>) -> Result<Console, String> {
        let current = module
            .pkcs11
            .get_slots_with_token()
            .map_err(|e| format!("C_GetSlotList failed: {e}"))?
            .first()
            .map(Slot::id);
        Ok(Console {
            module,
            current,
            sessions: BTreeMap::new(),
            lab: None,
            client: ClientEra::default(),
        })
    }

    /// The console on the lab the simulator's module was initialised on, for the commands
    /// that run on the lab itself (`partition archive`, `hagroup`).
    pub fn with_lab(mut self, lab: LabSelection) -> Console {
        self.lab = Some(lab);
        self
    }

    /// The console of an older Luna HSM Client's LunaCM (`client::ClientEra`: the commands
    /// and options it lacks, the firmware and devices it cannot drive); Client 10 by default.
    pub fn with_client(mut self, client: ClientEra) -> Console {
        self.client = client;
        self
    }

    /// The client era of this console.
    pub fn client(&self) -> ClientEra {
        self.client
    }

    /// The current slot.
    pub fn current_slot(&self) -> Option<u64> {
        self.current
    }

    /// Runs one command line.
    pub fn run_line(&mut self, line: &str, prompts: &mut dyn Prompts) -> Option<Reply> {
        match grammar::parse(line) {
            Ok(None) => None,
            Ok(Some(command)) => Some(self.run(&command, prompts)),
            Err(e) => Some(Reply::usage(
                format!("Error: {e}. Type `help` for the commands.\n"),
                "Invalid Argument",
            )),
        }
    }

    /// Runs one command.
    pub fn run(&mut self, command: &Command, prompts: &mut dyn Prompts) -> Reply {
        if let Err(refusal) = self.client.check_command(command) {
            return refusal;
        }
        let outcome = match command {
            Command::SlotList => self.slot_list(),
            Command::SlotSet { slot } => self.slot_set(*slot),
            Command::RoleLogin { name, password } => {
                self.role_login(name, password.as_deref(), prompts)
            }
            Command::PartitionLogin { password } => {
                self.partition_login(password.as_deref(), prompts)
            }
            Command::RoleLogout | Command::PartitionLogout => self.logout(),
            Command::PartitionCreateChallenge { secret, password } => {
                self.owner_challenge(secret, password.as_deref(), prompts)
            }
            Command::PartitionActivate { password } => {
                self.activate_owner(password.as_deref(), prompts)
            }
            Command::PartitionContents => self.contents(),
            Command::PartitionShowPolicies => self.show_policies(),
            Command::PartitionChangePolicy { changes, force } => {
                self.change_policy(changes, *force, prompts)
            }
            Command::PartitionClone {
                objects,
                slot,
                password,
                force,
            } => self.clone_objects(objects, *slot, password.as_deref(), *force, prompts),
            Command::PartitionInit {
                label,
                domain,
                password,
                force,
            } => self.partition_init(
                label,
                domain.as_deref(),
                password.as_deref(),
                *force,
                prompts,
            ),
            Command::RoleInit { name, password } => {
                self.role_init(name, password.as_deref(), prompts)
            }
            Command::RoleChangePw { name, old, new } => {
                self.change_pw(name, old.as_deref(), new.as_deref(), prompts)
            }
            Command::RoleCreateChallenge { name, secret } => self.create_challenge(name, secret),
            Command::Archive { slot, action } => self.archive(*slot, action, prompts),
            Command::HaGroup(command) => self.hagroup(command, prompts),
            Command::HsmShowInfo => self.show_info(),
            Command::Help => Ok(Reply::done(help_text())),
            Command::Exit => Ok(Reply {
                text: String::new(),
                status: Status::Done,
                exit: true,
            }),
        };
        outcome.unwrap_or_else(|reply| reply)
    }

    pub(super) fn slot(&self, id: u64) -> Result<Slot, Reply> {
        Slot::try_from(id).map_err(|_| {
            Reply::usage(
                format!("Error: {id} is not a slot id.\n"),
                "Invalid Argument",
            )
        })
    }

    /// The current slot, or the reply saying there is none.
    pub(super) fn current(&self) -> Result<u64, Reply> {
        self.current.ok_or_else(|| {
            Reply::usage(
                "Error: no slot is current: `slot list` shows the slots, `slot set -slot N` picks one.\n",
                "No Slot Selected",
            )
        })
    }

    /// The session LunaCM keeps on `slot_id`, opened on first use.
    pub(super) fn session(&mut self, slot_id: u64) -> Result<&mut SlotSession, Reply> {
        if !self.sessions.contains_key(&slot_id) {
            let slot = self.slot(slot_id)?;
            let session = self.module.pkcs11.open_rw_session(slot).map_err(refused)?;
            self.sessions.insert(
                slot_id,
                SlotSession {
                    session,
                    role: None,
                    credential: None,
                },
            );
        }
        self.sessions
            .get_mut(&slot_id)
            .ok_or_else(|| Reply::refused("", CKR_GENERAL_ERROR))
    }

    /// The firmware of a slot as text and its role-naming era.
    pub(super) fn era(&self, slot_id: u64) -> (Option<(u64, u64, u64)>, Era) {
        let Ok(firmware) = self.module.raw.firmware(slot_id) else {
            return (None, Era::Luna7);
        };
        let era = match firmware {
            (major, _, _) if major >= 7 => Era::Luna7,
            (6, minor, _) if minor >= 22 => {
                match self
                    .module
                    .raw
                    .hsm_policy(slot_id, HSM_POLICY_PER_PARTITION_SO)
                {
                    Ok(0) => Era::PrePpso,
                    _ => Era::Ppso6,
                }
            }
            _ => Era::PrePpso,
        };
        (Some(firmware), era)
    }

    /// The slot's `Configuration ->` text (an HA virtual slot's "Luna Virtual
    /// HSM" form is inferred; the pre-PPSO and Backup HSM forms are the simulator's).
    fn configuration(&self, slot_id: u64, model: &str, ped: bool, ha_virtual: bool) -> String {
        let auth = if ped { "PED" } else { "PW" };
        if model.contains("Backup") {
            return format!("Luna Backup HSM ({auth})");
        }
        let key_export = self
            .module
            .raw
            .token_policies(slot_id)
            .ok()
            .and_then(|p| p.iter().find(|(id, _)| *id == 1).map(|(_, v)| *v != 0))
            .unwrap_or(false);
        let mode = if key_export {
            "Key Export"
        } else {
            "Signing With Cloning Mode"
        };
        if ha_virtual {
            return format!("Luna Virtual HSM ({auth}) {mode}");
        }
        match self.era(slot_id) {
            (_, Era::Luna7) => format!("Luna User Partition With SO ({auth}) {mode}"),
            (Some((a, b, c)), Era::Ppso6) => format!("Luna User Slot {a}.{b}.{c} ({auth}) {mode}"),
            _ => format!("Luna User Partition ({auth}) {mode}"),
        }
    }

    pub(super) fn listing(&self, slot: Slot) -> Result<LunaSlotListing, Reply> {
        let pkcs11 = &self.module.pkcs11;
        let slot_info = pkcs11.get_slot_info(slot).map_err(refused)?;
        let token = pkcs11.get_token_info(slot).map_err(refused)?;
        let firmware = match self.module.raw.firmware(slot.id()) {
            Ok((a, b, c)) => format!("{a}.{b}.{c}"),
            Err(_) => {
                let v = token.firmware_version();
                format!("{}.{}", v.major(), v.minor())
            }
        };
        let model = token.model().trim().to_string();
        let description = slot_info.slot_description().trim().to_string();
        Ok(LunaSlotListing {
            slot_id: slot.id(),
            label: token.label().trim().to_string(),
            serial: token.serial_number().trim().to_string(),
            configuration: self.configuration(
                slot.id(),
                &model,
                token.protected_authentication_path(),
                description == HA_VIRTUAL_SLOT,
            ),
            model,
            firmware,
            description,
        })
    }

    fn slot_list(&mut self) -> Outcome {
        let slots = self.module.pkcs11.get_slots_with_token().map_err(refused)?;
        let listings = slots
            .into_iter()
            .map(|slot| self.listing(slot))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Reply::done(output::slot_list(&listings, self.current)))
    }

    fn slot_set(&mut self, id: u64) -> Outcome {
        let slot = self.slot(id)?;
        let listing = self.listing(slot).map_err(|mut reply| {
            reply.text = format!("Error: slot {id} shows no token this client can use.\n");
            reply
        })?;
        self.check_client_drives(id)?;
        self.current = Some(id);
        Ok(Reply::done(format!(
            "\n\tCurrent Slot Id: {id}    ({})\n",
            listing.configuration
        )))
    }

    /// `Err` when this console's client era cannot drive the partition in `slot_id` (its
    /// firmware is too new for the client).
    pub(super) fn check_client_drives(&self, slot_id: u64) -> Result<(), Reply> {
        match self.module.raw.firmware(slot_id) {
            Ok(firmware) => self.client.check_firmware(slot_id, firmware),
            Err(_) => Ok(()),
        }
    }

    /// The role `name` names on a partition of `era`, or the reply refusing the name.
    pub(super) fn role_of(name: &str, era: Era, firmware: &str) -> Result<CK_USER_TYPE, Reply> {
        let full = [
            ("Partition SO", CKU_SO),
            ("Partition Security Officer", CKU_SO),
            ("Crypto Officer", CKU_USER),
            ("Crypto User", CKU_CRYPTO_USER),
            ("Limited Crypto Officer", CKU_LIMITED_CRYPTO_OFFICER),
        ];
        let short = [
            ("po", CKU_SO),
            ("co", CKU_USER),
            ("cu", CKU_CRYPTO_USER),
            ("lco", CKU_LIMITED_CRYPTO_OFFICER),
        ];
        let found = match era {
            Era::Ppso6 => full.iter().find(|(n, _)| *n == name),
            _ => full
                .iter()
                .chain(short.iter())
                .find(|(n, _)| n.eq_ignore_ascii_case(name)),
        };
        if let Some((_, user)) = found {
            return Ok(*user);
        }
        let text = match era {
            Era::Ppso6 => format!(
                "Error: firmware {firmware} (PPSO, before 7.x) takes role names in full and \
                 case-sensitive: type `role login -name Crypto Officer`, not {name:?} \
                 (abbreviations such as `co` come with 7.x).\n"
            ),
            _ => format!(
                "Error: {name:?} is not a role: po, co, cu, lco, or in full \"Partition SO\", \
                 \"Crypto Officer\", \"Crypto User\", \"Limited Crypto Officer\".\n"
            ),
        };
        Err(Reply::refused(text, CKR_USER_TYPE_INVALID))
    }

    /// The role `name` names on `slot_id`, refused on pre-PPSO partitions (whose owner uses
    /// `partition login`).
    pub(super) fn named_role(&self, slot_id: u64, name: &str) -> Result<CK_USER_TYPE, Reply> {
        let (firmware, era) = self.era(slot_id);
        let firmware = firmware
            .map(|(a, b, c)| format!("{a}.{b}.{c}"))
            .unwrap_or_default();
        if era == Era::PrePpso {
            return Err(Reply::refused(
                format!(
                    "Error: firmware {firmware} partitions have no per-partition roles (pre-PPSO): \
                     log the partition owner in with `partition login`.\n"
                ),
                CKR_USER_TYPE_INVALID,
            ));
        }
        Self::role_of(name, era, &firmware)
    }

    fn role_login(
        &mut self,
        name: &str,
        password: Option<&str>,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.current()?;
        let user = self.named_role(slot_id, name)?;
        self.login(slot_id, user, password, prompts)
    }

    fn partition_login(&mut self, password: Option<&str>, prompts: &mut dyn Prompts) -> Outcome {
        let slot_id = self.current()?;
        if let (Some((a, b, c)), Era::Ppso6 | Era::Luna7) = self.era(slot_id) {
            return Err(Reply::refused(
                format!(
                    "Error: firmware {a}.{b}.{c} partitions have per-partition roles (PPSO): \
                     use `role login -name Crypto Officer` (7.x: `role login -name co`).\n"
                ),
                CKR_USER_TYPE_INVALID,
            ));
        }
        self.login(slot_id, CKU_USER, password, prompts)
    }

    /// Whether the slot's token takes its credentials on a PED.
    pub(super) fn uses_ped(&self, slot_id: u64) -> bool {
        Slot::try_from(slot_id)
            .ok()
            .and_then(|s| self.module.pkcs11.get_token_info(s).ok())
            .is_some_and(|t| t.protected_authentication_path())
    }

    /// The password given, or asked for; on a PED slot none (the PED takes the key).
    pub(super) fn credential(
        &self,
        slot_id: u64,
        given: Option<&str>,
        whose: &str,
        prompts: &mut dyn Prompts,
        text: &mut String,
    ) -> Result<Option<String>, Reply> {
        if let Some(p) = given {
            return Ok(Some(p.to_string()));
        }
        if self.uses_ped(slot_id) {
            text.push_str("\n\tPlease attend to the PED.\n");
            return Ok(None);
        }
        prompts
            .secret(&format!("\n\tEnter the {whose} password: "))
            .map(Some)
            .ok_or_else(|| {
                Reply::usage(
                    format!(
                        "Error: the {whose} password is needed: give -password, or run on a \
                         terminal to be asked for it.\n"
                    ),
                    "Invalid Argument",
                )
            })
    }

    pub(super) fn login(
        &mut self,
        slot_id: u64,
        user: CK_USER_TYPE,
        password: Option<&str>,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let mut text = String::new();
        let pin = self.credential(slot_id, password, role_title(user), prompts, &mut text)?;
        let handle = self.session(slot_id)?.session.handle();
        if let Err(rv) = self.module.raw.login(handle, user, pin.as_deref()) {
            return Err(Reply::refused(text, rv));
        }
        let s = self.session(slot_id)?;
        s.role = Some(role_title(user));
        s.credential = Some(pin.unwrap_or_default());
        Ok(Reply::done(text))
    }

    fn logout(&mut self) -> Outcome {
        let slot_id = self.current()?;
        let s = self.session(slot_id)?;
        s.session.logout().map_err(refused)?;
        s.role = None;
        s.credential = None;
        Ok(Reply::done(""))
    }

    fn contents(&mut self) -> Outcome {
        let slot_id = self.current()?;
        self.session(slot_id)?;
        let s = &self.sessions[&slot_id];
        let rows: Vec<ObjectRow> = listed_objects(&s.session)
            .map_err(refused)?
            .into_iter()
            .map(|(handle, label, class)| ObjectRow {
                label,
                handle,
                object_type: object_type(class).to_string(),
                uid: self
                    .module
                    .raw
                    .object_uid(slot_id, handle)
                    .ok()
                    .map(hex::encode),
            })
            .collect();
        Ok(Reply::done(output::contents(s.role, &rows)))
    }

    /// The rows of one showpolicies block with their descriptions.
    fn policy_rows(&self, slot_id: u64, capability: bool, pairs: &[(u64, u64)]) -> Vec<PolicyRow> {
        pairs
            .iter()
            .map(|(id, value)| {
                let name = self
                    .module
                    .raw
                    .partition_element(slot_id, capability, *id)
                    .map(|d| d.description)
                    .ok()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| format!("Policy {id}"));
                (*id, name, *value)
            })
            .collect()
    }

    fn show_policies(&mut self) -> Outcome {
        let slot_id = self.current()?;
        let module_refused = |rv| Reply::refused("", rv);
        let capabilities = self
            .module
            .raw
            .token_capabilities(slot_id)
            .map_err(module_refused)?;
        let policies = self
            .module
            .raw
            .token_policies(slot_id)
            .map_err(module_refused)?;
        let allowed = |id: &u64| capabilities.iter().any(|(c, v)| c == id && *v != 0);
        let shown: Vec<(u64, u64)> = policies.into_iter().filter(|(id, _)| allowed(id)).collect();
        Ok(Reply::done(output::show_policies(
            &self.policy_rows(slot_id, true, &capabilities),
            &self.policy_rows(slot_id, false, &shown),
        )))
    }

    /// Asks the proceed question after `warning`: `Err` (nothing done) unless the answer is
    /// `proceed`.
    pub(super) fn proceed(prompts: &mut dyn Prompts, warning: &str) -> Result<(), Reply> {
        let question = format!("{warning}\n\t{}", output::PROCEED);
        if prompts
            .answer(&question)
            .is_some_and(|a| a.trim().eq_ignore_ascii_case("proceed"))
        {
            return Ok(());
        }
        Err(Reply {
            text: "\n\tCommand aborted: nothing was changed.\n".into(),
            status: Status::Aborted,
            exit: false,
        })
    }

    fn change_policy(
        &mut self,
        changes: &[(u64, u64)],
        force: bool,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.current()?;
        let current = self.module.raw.token_policies(slot_id).unwrap_or_default();
        let destructive: Vec<String> = changes
            .iter()
            .filter(|(id, value)| {
                current.iter().any(|(c, v)| c == id && v != value)
                    && self
                        .module
                        .raw
                        .partition_element(slot_id, false, *id)
                        .is_ok_and(|d| d.destructive)
            })
            .map(|(id, _)| id.to_string())
            .collect();
        if !destructive.is_empty() && !force {
            Self::proceed(
                prompts,
                &format!(
                    "\n\tYou are about to change a destructive policy (policy {}).\n\tAll objects \
                     on the partition will be destroyed.\n\tAre you sure you wish to continue?\n",
                    destructive.join(", ")
                ),
            )?;
        }
        let handle = self.session(slot_id)?.session.handle();
        self.module
            .raw
            .set_token_policies(handle, slot_id, changes)
            .map_err(|rv| Reply::refused("", rv))?;
        Ok(Reply::done(""))
    }

    /// The handles `partition clone` names, with their labels (for the report).
    fn clone_list(
        &mut self,
        source_id: u64,
        objects: &Objects,
    ) -> Result<Vec<(u64, String)>, Reply> {
        Ok(match objects {
            Objects::All => listed_objects(&self.session(source_id)?.session)
                .map_err(refused)?
                .into_iter()
                .map(|(h, label, _)| (h, label))
                .collect(),
            Objects::Handles(list) => list.iter().map(|h| (*h, String::new())).collect(),
        })
    }

    /// The target session of a clone: the one LunaCM already logged in there (`None` to
    /// close), else a new one logged in as the Crypto Officer for the clone.
    fn clone_target(
        &mut self,
        target_id: u64,
        password: Option<&str>,
        prompts: &mut dyn Prompts,
        text: &mut String,
    ) -> Result<(CK_SESSION_HANDLE, Option<Session>), Reply> {
        if let Some(s) = self
            .sessions
            .get(&target_id)
            .filter(|s| s.role == Some(role_title(CKU_USER)))
        {
            return Ok((s.session.handle(), None));
        }
        // Another role (the Partition SO who just initialised the Crypto Officer) is logged
        // out first: objects are cloned into the Crypto Officer's partition.
        if let Some(s) = self.sessions.remove(&target_id)
            && s.role.is_some()
        {
            let _ = s.session.logout();
        }
        let slot = self.slot(target_id)?;
        let session = self.module.pkcs11.open_rw_session(slot).map_err(|e| {
            let mut reply = refused(e);
            reply.text = format!("Error: slot {target_id} shows no token this client can use.\n");
            reply
        })?;
        let pin = self.credential(
            target_id,
            password,
            "target partition's Crypto Officer",
            prompts,
            text,
        )?;
        if let Err(rv) = self
            .module
            .raw
            .login(session.handle(), CKU_USER, pin.as_deref())
        {
            text.push_str(&format!(
                "\tError: the Crypto Officer login on slot {target_id} failed.\n"
            ));
            return Err(Reply::refused(std::mem::take(text), rv));
        }
        Ok((session.handle(), Some(session)))
    }

    fn clone_objects(
        &mut self,
        objects: &Objects,
        target_id: u64,
        password: Option<&str>,
        force: bool,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let source_id = self.current()?;
        if source_id == target_id {
            return Err(Reply::usage(
                format!("Error: slot {target_id} is the current slot: clone to another slot.\n"),
                "Invalid Argument",
            ));
        }
        self.slot(target_id)?;
        self.check_client_drives(target_id)?;
        let source_handle = self.session(source_id)?.session.handle();
        let handles = self.clone_list(source_id, objects)?;
        if handles.is_empty() {
            return Ok(Reply::done(
                "\n\tThe current slot holds no objects this role sees: nothing to clone.\n",
            ));
        }
        if !force {
            Self::proceed(
                prompts,
                &format!(
                    "\n\tYou are about to clone {} object(s) from slot {source_id} to slot {target_id}.\n",
                    handles.len()
                ),
            )?;
        }
        let mut text = String::new();
        let (target_handle, own_target) =
            self.clone_target(target_id, password, prompts, &mut text)?;
        // A source older than 7.7.0 goes on after a failed object; a 7.7+ source stops.
        let stops = matches!(self.module.raw.firmware(source_id), Ok((major, minor, _)) if (major, minor) >= (7, 7));
        let mut first_failure = None;
        let mut cloned = 0;
        for (i, (handle, label)) in handles.iter().enumerate() {
            let named = if label.is_empty() {
                format!("Object {handle}")
            } else {
                format!("Object {handle} ({label})")
            };
            match self
                .module
                .raw
                .clone_object(target_handle, source_handle, *handle)
            {
                Ok(new) => {
                    cloned += 1;
                    text.push_str(&format!(
                        "\t{named} cloned to slot {target_id} as handle {new}.\n"
                    ));
                }
                Err(rv) => {
                    text.push_str(&format!(
                        "\t{named}: not cloned: 0x{rv:x} ({}).\n",
                        rv_name(rv)
                    ));
                    first_failure.get_or_insert(rv);
                    let left = handles.len() - i - 1;
                    if stops {
                        if left > 0 {
                            text.push_str(&format!(
                                "\tStopped at the first failure (a 7.7+ source stops); {left} \
                                 object(s) not attempted.\n"
                            ));
                        }
                        break;
                    }
                }
            }
        }
        if let Some(session) = own_target {
            let _ = session.logout();
        }
        text.push_str(&format!(
            "\n\t{cloned} of {} object(s) cloned.\n",
            handles.len()
        ));
        match first_failure {
            None => Ok(Reply::done(text)),
            Some(rv) => Err(Reply::refused(text, rv)),
        }
    }

    fn show_info(&mut self) -> Outcome {
        let slot_id = self.current()?;
        let slot = self.slot(slot_id)?;
        let listing = self.listing(slot)?;
        let token = self.module.pkcs11.get_token_info(slot).map_err(refused)?;
        let authentication = if token.protected_authentication_path() {
            "PED"
        } else {
            "Password"
        };
        let rows = [
            ("Slot Id", listing.slot_id.to_string()),
            ("Label", listing.label),
            ("Manufacturer", token.manufacturer_id().trim().to_string()),
            ("Model", listing.model),
            ("Serial Number", listing.serial),
            ("Firmware Version", listing.firmware),
            ("Configuration", listing.configuration),
            ("Authentication", authentication.to_string()),
        ];
        let mut text = String::from("\n");
        for (name, value) in rows.iter().filter(|(_, v)| !v.is_empty()) {
            text.push_str(&format!("\t{:<24}{value}\n", format!("{name} ->")));
        }
        let policies: String = SHOWN_HSM_POLICIES
            .iter()
            .filter_map(|(id, name)| {
                let v = self.module.raw.hsm_policy(slot_id, *id).ok()?;
                Some(format!("\t\t{id}: {name} : {v}\n"))
            })
            .collect();
        if !policies.is_empty() {
            text.push_str("\n\tHSM Policies\n");
            text.push_str(&policies);
        }
        Ok(Reply::done(text))
    }
}

/// The objects a session sees, as LunaCM lists them: handle, label and class; the PKCS#11
/// profile objects (`CKO_PROFILE`, which a Luna partition does not have) are left out.
fn listed_objects(
    session: &Session,
) -> Result<Vec<(u64, String, Option<ObjectClass>)>, cryptoki::error::Error> {
    let mut out = Vec::new();
    for handle in session.find_objects(&[])? {
        let class = session
            .get_attributes(handle, &[AttributeType::Class])
            .ok()
            .and_then(|a| match a.first() {
                Some(Attribute::Class(c)) => Some(*c),
                _ => None,
            });
        if class == Some(ObjectClass::PROFILE) {
            continue;
        }
        let label = session
            .get_attributes(handle, &[AttributeType::Label])
            .ok()
            .and_then(|a| match a.first() {
                Some(Attribute::Label(l)) => Some(String::from_utf8_lossy(l).into_owned()),
                _ => None,
            })
            .unwrap_or_default();
        out.push((handle.handle(), label, class));
    }
    Ok(out)
}

fn help_text() -> String {
    crate::command_line::help_text(grammar::HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_the_firmware_era() {
        let role = |name: &str, era| Console::role_of(name, era, "x").map_err(|r| r.status);
        let refused = Err(Status::Refused(CKR_USER_TYPE_INVALID));
        // 7.x: shortcuts and full names, any case.
        assert_eq!(role("co", Era::Luna7), Ok(CKU_USER));
        assert_eq!(role("CO", Era::Luna7), Ok(CKU_USER));
        assert_eq!(role("Po", Era::Luna7), Ok(CKU_SO));
        assert_eq!(role("cu", Era::Luna7), Ok(CKU_CRYPTO_USER));
        assert_eq!(role("lco", Era::Luna7), Ok(CKU_LIMITED_CRYPTO_OFFICER));
        assert_eq!(role("crypto officer", Era::Luna7), Ok(CKU_USER));
        assert_eq!(role("officer", Era::Luna7), refused);
        // 6.22 PPSO: full names only, case-sensitive (seed 003).
        assert_eq!(role("Crypto Officer", Era::Ppso6), Ok(CKU_USER));
        assert_eq!(role("Partition SO", Era::Ppso6), Ok(CKU_SO));
        assert_eq!(role("co", Era::Ppso6), refused);
        assert_eq!(role("crypto officer", Era::Ppso6), refused);
        let text = Console::role_of("co", Era::Ppso6, "6.22.0")
            .unwrap_err()
            .text;
        assert!(text.contains("firmware 6.22.0"), "{text}");
        assert!(text.contains("`role login -name Crypto Officer`"), "{text}");
    }

    #[test]
    fn object_types_are_lunacm_words() {
        assert_eq!(object_type(Some(ObjectClass::SECRET_KEY)), "Symmetric Key");
        assert_eq!(object_type(Some(ObjectClass::PRIVATE_KEY)), "Private Key");
        assert_eq!(object_type(None), "Object");
    }
}
