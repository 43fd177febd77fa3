//! LunaCM's initialisation commands through the module: `partition init` (`CA_InitToken` with
//! the cloning domain, `C_InitToken` without one; the Partition SO's credential on PPSO and
//! 7.x partitions, the HSM SO's side on pre-PPSO ones, as the module takes it), `role init`
//! (`C_InitPIN` for the Crypto Officer, `CA_InitRolePIN` for the roles below it), `role
//! changepw` (`C_SetPIN` by the role logged in) and `role createchallenge`
//! (`CA_CreateLoginChallenge`). The module enforces who may do what; the console adds the
//! proceed prompt of `partition init` and asks for what the command does not give.
use super::output::Reply;
use super::session::{Console, Era, Outcome, Prompts, role_title};
use cryptoki_sys::*;

/// What `partition init` warns before it asks (luna.md §6, the cloudflare capture).
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
}
