//! LunaCM's initialisation commands through the module: `partition init` (`CA_InitToken` with
//! the cloning domain, `C_InitToken` without one; the Partition SO's credential on PPSO and
//! 7.x partitions, the HSM SO's side on pre-PPSO ones, as the module takes it), `role init`
//! (`C_InitPIN` for the Crypto Officer, `CA_InitRolePIN` for the roles below it), `role
//! changepw` (`C_SetPIN` by the role logged in) and `role createchallenge`
//! (`CA_CreateLoginChallenge`); on pre-PPSO PED partitions `partition createchallenge` (the HSM
//! SO, who is the partition's SO there, logs in for `CA_CreateLoginChallenge` of the owner and
//! out again) and `partition activate` (the owner's PED login, which activates the role when
//! partition policy 22 is on). The module enforces who may do what; the console adds the
//! proceed prompt of `partition init` and asks for what the command does not give.
use super::output::Reply;
use super::session::{Console, Era, Outcome, Prompts, refused, role_title};
use cryptoki_sys::*;
use hsmsim::base::vendor_codes::CKR_USER_NOT_AUTHORIZED;

/// What `partition init` warns before it asks (a published LunaCM capture).
const INIT_WARNING: &str = "\n\tYou are about to initialize the partition.\n\tAll contents of the \
                            partition will be destroyed.\n\tAre you sure you wish to continue?\n";

impl Console {
    pub(super) fn partition_init(
        &mut self,
        label: &str,
        domain: Option<&str>,
        password: Option<&str>,
        force: bool,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.current()?;
        let (_, era) = self.era(slot_id);
        if !force {
            Self::proceed(prompts, INIT_WARNING)?;
        }
        let mut text = String::new();
        let whose = if era == Era::PrePpso {
            "HSM SO"
        } else {
            "Partition SO"
        };
        let pin = self.credential(slot_id, password, whose, prompts, &mut text)?;
        // A PED partition takes its domain from the red key; a password partition asks.
        let domain = match (domain, pin.is_none()) {
            (Some(d), _) => Some(d.to_string()),
            (None, true) => None,
            (None, false) => Some(
                prompts
                    .secret("\n\tEnter the cloning domain: ")
                    .ok_or_else(|| {
                        Reply::usage(
                            "Error: the cloning domain is needed: give -domain, or run on a \
                             terminal to be asked for it.\n",
                            "Invalid Argument",
                        )
                    })?,
            ),
        };
        // C_InitToken wants no session open on the token: LunaCM's own goes first.
        self.sessions.remove(&slot_id);
        self.module
            .raw
            .init_token(slot_id, pin.as_deref(), label, domain.as_deref())
            .map_err(|rv| Reply::refused(text.clone(), rv))?;
        text.push_str(&format!(
            "\n\tPartition initialized with label \"{label}\".\n"
        ));
        Ok(Reply::done(text))
    }

    /// LunaCM's session on the current slot, with the role `needed` logged in there.
    fn logged_in(&mut self, slot_id: u64, needed: &[CK_USER_TYPE]) -> Result<(), Reply> {
        let role = self.session(slot_id)?.role;
        if needed.iter().any(|u| Some(role_title(*u)) == role) {
            return Ok(());
        }
        let names: Vec<&str> = needed.iter().map(|u| role_title(*u)).collect();
        Err(Reply::refused(
            format!(
                "Error: log the {} in on this slot first (`role login`).\n",
                names.join(" or the ")
            ),
            CKR_USER_NOT_LOGGED_IN,
        ))
    }

    pub(super) fn role_init(
        &mut self,
        name: &str,
        password: Option<&str>,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.current()?;
        let user = self.named_role(slot_id, name)?;
        if user == CKU_SO {
            return Err(Reply::usage(
                "Error: `partition init` sets the Partition SO; `role init` sets co, cu or lco.\n",
                "Invalid Argument",
            ));
        }
        let mut text = String::new();
        let whose = format!("new {}", role_title(user));
        let pin = self.credential(slot_id, password, &whose, prompts, &mut text)?;
        let handle = self.session(slot_id)?.session.handle();
        self.module
            .raw
            .init_role_pin(handle, user, pin.as_deref())
            .map_err(|rv| Reply::refused(text.clone(), rv))?;
        Ok(Reply::done(text))
    }

    pub(super) fn change_pw(
        &mut self,
        name: &str,
        old: Option<&str>,
        new: Option<&str>,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.current()?;
        let user = self.named_role(slot_id, name)?;
        self.logged_in(slot_id, &[user])?;
        let mut text = String::new();
        let title = role_title(user);
        let old = self.credential(
            slot_id,
            old,
            &format!("current {title}"),
            prompts,
            &mut text,
        )?;
        let new = if old.is_none() {
            None
        } else {
            self.credential(slot_id, new, &format!("new {title}"), prompts, &mut text)?
        };
        let s = self.session(slot_id)?;
        let handle = s.session.handle();
        self.module
            .raw
            .set_pin(handle, old.as_deref(), new.as_deref())
            .map_err(|rv| Reply::refused(text.clone(), rv))?;
        if let Some(s) = self.sessions.get_mut(&slot_id) {
            s.credential = Some(new.unwrap_or_default());
        }
        Ok(Reply::done(text))
    }

    pub(super) fn create_challenge(&mut self, name: &str, secret: &str) -> Outcome {
        let slot_id = self.current()?;
        let user = self.named_role(slot_id, name)?;
        let handle = self.session(slot_id)?.session.handle();
        self.module
            .raw
            .create_login_challenge(handle, user, secret)
            .map_err(|rv| Reply::refused("", rv))?;
        Ok(Reply::done(""))
    }

    /// `Err` unless the current slot holds a pre-PPSO PED partition (`command` names what
    /// the refusal says).
    fn pre_ppso_ped(&self, command: &str) -> Result<u64, Reply> {
        let slot_id = self.current()?;
        let (firmware, era) = self.era(slot_id);
        if era != Era::PrePpso {
            let firmware = firmware
                .map(|(a, b, c)| format!("{a}.{b}.{c}"))
                .unwrap_or_default();
            return Err(Reply::refused(
                format!(
                    "Error: `{command}` is for pre-PPSO partitions; firmware {firmware} has \
                     per-partition roles: the Partition SO types `role createchallenge`, and \
                     the Crypto Officer's PED login activates it.\n"
                ),
                CKR_USER_TYPE_INVALID,
            ));
        }
        if !self.uses_ped(slot_id) {
            return Err(Reply::refused(
                format!(
                    "Error: `{command}` is for PED partitions: a password partition's owner \
                     logs in with its password.\n"
                ),
                CKR_FUNCTION_NOT_SUPPORTED,
            ));
        }
        Ok(slot_id)
    }

    /// `partition createchallenge`: the HSM SO (the SO of a pre-PPSO partition) logs in on
    /// the current slot, sets the partition owner's challenge secret and logs out. Nobody else
    /// may be logged in on the slot (the module refuses a second role).
    pub(super) fn owner_challenge(
        &mut self,
        secret: &str,
        password: Option<&str>,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.pre_ppso_ped("partition createchallenge")?;
        let mut text = String::new();
        let pin = self.credential(slot_id, password, "HSM SO", prompts, &mut text)?;
        let handle = self.session(slot_id)?.session.handle();
        self.module
            .raw
            .login(handle, CKU_SO, pin.as_deref())
            .map_err(|rv| Reply::refused(text.clone(), rv))?;
        let created = self
            .module
            .raw
            .create_login_challenge(handle, CKU_USER, secret);
        self.session(slot_id)?.session.logout().map_err(refused)?;
        created.map_err(|rv| Reply::refused(text.clone(), rv))?;
        text.push_str("\n\tThe partition owner's challenge secret is set.\n");
        Ok(Reply::done(text))
    }

    /// `partition activate`: the partition owner logs in at the PED with partition policy 22
    /// on, which activates it (its challenge secret then logs it in alone); it stays logged in
    /// as after `partition login`. Policy 22 off: `CKR_USER_NOT_AUTHORIZED` (simulator-defined).
    pub(super) fn activate_owner(
        &mut self,
        password: Option<&str>,
        prompts: &mut dyn Prompts,
    ) -> Outcome {
        let slot_id = self.pre_ppso_ped("partition activate")?;
        let activation = self
            .module
            .raw
            .token_policies(slot_id)
            .map_err(|rv| Reply::refused("", rv))?
            .into_iter()
            .any(|(id, value)| id == 22 && value != 0);
        if !activation {
            return Err(Reply::refused(
                "Error: activation is off on this partition (partition policy 22): the HSM SO \
                 sets it first (`partition changepolicy -policy 22 -value 1`).\n",
                CKR_USER_NOT_AUTHORIZED,
            ));
        }
        let mut reply = self.login(slot_id, CKU_USER, password, prompts)?;
        reply
            .text
            .push_str("\n\tThe partition owner is activated.\n");
        Ok(reply)
    }
}
