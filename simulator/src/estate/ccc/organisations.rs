//! CCC's organisations and their users, each user an Administrator or an Application Owner
//! (seed 004): added, listed, removed; the services a user sees (an Application Owner only its
//! organisation's); and the users' login passwords.
//!
//! Passwords (simulator-defined: the guide describes logging in to CCC but a lab states no
//! password): a user has none until one is set (`set_ccc_user_password`, e.g. by
//! `hsmsim ccc user password`), and cannot log in without one. A password has at least
//! `CCC_PASSWORD_MIN` characters. It is kept only as a salted verifier (the secrets kit's
//! `Verifier::new`, as the Primus card PINs), one device item of kind `CCC_PASSWORD_ITEM` per user
//! under the CCC device, beside the CCC state; removing the user drops it.
use super::*;
use crate::base::secrets::verifier::Verifier;
use crate::lab::ccc::{CccOrganisation, CccUser};
use crate::lab::schema::CccRole;

/// The device-item kind of a CCC user's password verifier (named by the user).
pub const CCC_PASSWORD_ITEM: &str = "ccc-user-password";
/// The fewest characters a CCC user's password has (simulator-defined, as CCC's role
/// passwords: "at least 8 characters").
pub const CCC_PASSWORD_MIN: usize = 8;

/// A CCC user as a login sees it: its name, organisation and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CccUserRecord {
    pub name: String,
    pub organisation: String,
    pub role: CccRole,
}

/// The organisations, with their users, in the order they were added.
pub fn ccc_organisations(selection: &LabSelection) -> Result<Vec<CccOrganisation>> {
    Ok(ccc_state(selection)?.ccc.organisations)
}

/// Adds an organisation without users. Refused when the name is empty or taken
/// (simulator-defined).
pub fn add_ccc_organisation(selection: &LabSelection, name: &str, description: &str) -> Result<()> {
    if name.is_empty() {
        return Err(refused("an organisation name is not empty"));
    }
    update_ccc(selection, |state| {
        if state.ccc.organisations.iter().any(|o| o.name == name) {
            return Err(refused(format!("CCC organisation \"{name}\" exists")));
        }
        state.ccc.organisations.push(CccOrganisation {
            name: name.into(),
            description: description.into(),
            users: Vec::new(),
        });
        Ok(())
    })
}

/// Removes an organisation and its users. Refused while it owns a service
/// (simulator-defined: give the service another organisation, or detach or delete it, first).
pub fn remove_ccc_organisation(selection: &LabSelection, name: &str) -> Result<()> {
    update_ccc(selection, |state| {
        let at = organisation_at(state, name)?;
        if let Some(service) = state.ccc.services.iter().find(|s| s.organisation == name) {
            return Err(refused(format!(
                "organisation \"{name}\" owns service \"{}\": change its organisation, or detach or delete it, first",
                service.name
            )));
        }
        state.ccc.organisations.remove(at);
        Ok(())
    })
}

/// Adds a user with `role` to an organisation. Refused when the name is empty or any
/// organisation has a user of that name (simulator-defined: user names are unique in CCC, as
/// the lab checks).
pub fn add_ccc_user(
    selection: &LabSelection,
    organisation: &str,
    name: &str,
    role: CccRole,
) -> Result<()> {
    if name.is_empty() {
        return Err(refused("a user name is not empty"));
    }
    update_ccc(selection, |state| {
        let at = organisation_at(state, organisation)?;
        if find_user(state, name).is_some() {
            return Err(refused(format!("CCC user \"{name}\" exists")));
        }
        state.ccc.organisations[at].users.push(CccUser {
            name: name.into(),
            role,
        });
        Ok(())
    })
}

/// Removes a user from its organisation, and its password.
pub fn remove_ccc_user(selection: &LabSelection, name: &str) -> Result<()> {
    update_ccc_with_items(selection, |state, items| {
        for organisation in &mut state.ccc.organisations {
            if let Some(at) = organisation.users.iter().position(|u| u.name == name) {
                organisation.users.remove(at);
                items.remove(&DeviceId::new(CCC_DEVICE), CCC_PASSWORD_ITEM, name)?;
                return Ok(());
            }
        }
        Err(no_user(name))
    })
}

/// The user named `name`: its organisation and role (`CKR_ARGUMENTS_BAD` when CCC has none).
pub fn ccc_user(selection: &LabSelection, name: &str) -> Result<CccUserRecord> {
    let state = ccc_state(selection)?;
    let (organisation, role) = find_user(&state, name).ok_or_else(|| no_user(name))?;
    Ok(CccUserRecord {
        name: name.into(),
        organisation,
        role,
    })
}

/// Sets (or replaces) user `name`'s login password, kept as a salted verifier. Refused with
/// `CKR_PIN_LEN_RANGE` when it has fewer than `CCC_PASSWORD_MIN` characters;
/// `CKR_ARGUMENTS_BAD` when CCC has no such user. Whoever can run it on the lab's state may
/// set any user's password (the first one included): the CLI's `hsmsim ccc user password`.
pub fn set_ccc_user_password(selection: &LabSelection, name: &str, password: &str) -> Result<()> {
    if password.chars().count() < CCC_PASSWORD_MIN {
        return Err(err(
            CKR_PIN_LEN_RANGE,
            format!("a CCC user's password has at least {CCC_PASSWORD_MIN} characters"),
        ));
    }
    let verifier = Verifier::new(password.as_bytes())?;
    let value = serde_json::to_value(&verifier).map_err(|e| {
        err(
            CKR_DEVICE_ERROR,
            format!("cannot encode a password verifier: {e}"),
        )
    })?;
    update_ccc_with_items(selection, |state, items| {
        find_user(state, name).ok_or_else(|| no_user(name))?;
        items.put(&DeviceId::new(CCC_DEVICE), CCC_PASSWORD_ITEM, name, &value)
    })
}

/// Whether user `name` has a login password (`CKR_ARGUMENTS_BAD` when CCC has no such user).
pub fn ccc_user_has_password(selection: &LabSelection, name: &str) -> Result<bool> {
    ccc_user(selection, name)?;
    Ok(stored_password(selection, name)?.is_some())
}

/// Logs user `name` in: its record when `password` is its password. A wrong password and an
/// unknown user are both `CKR_PIN_INCORRECT` with one sentence (a login does not tell which
/// names exist); a user without a password is `CKR_USER_PIN_NOT_INITIALIZED`.
pub fn check_ccc_user_password(
    selection: &LabSelection,
    name: &str,
    password: &str,
) -> Result<CccUserRecord> {
    let wrong = || err(CKR_PIN_INCORRECT, "wrong CCC user name or password");
    let user = ccc_user(selection, name).map_err(|_| wrong())?;
    let verifier = stored_password(selection, name)?.ok_or_else(|| {
        err(
            CKR_USER_PIN_NOT_INITIALIZED,
            format!(
                "CCC user \"{name}\" has no password yet: set one with `hsmsim ccc user password`"
            ),
        )
    })?;
    if verifier.matches(password.as_bytes()) {
        Ok(user)
    } else {
        Err(wrong())
    }
}

fn stored_password(selection: &LabSelection, name: &str) -> Result<Option<Verifier>> {
    let stored =
        open_store(selection)?.device_item(&DeviceId::new(CCC_DEVICE), CCC_PASSWORD_ITEM, name)?;
    stored
        .map(|value| {
            Verifier::deserialize(value).map_err(|e| {
                err(
                    CKR_DEVICE_ERROR,
                    format!("the store holds a damaged CCC password of \"{name}\": {e}"),
                )
            })
        })
        .transpose()
}

fn no_user(name: &str) -> crate::base::error::Error {
    unknown(format!("CCC has no user \"{name}\""))
}

/// The services `user` sees: every service for an Administrator; for an Application Owner,
/// those its organisation owns (documented (seed 004): "an Application Owner that is a member
/// of the organization that owns the service").
pub fn ccc_services_of(selection: &LabSelection, user: &str) -> Result<Vec<CccService>> {
    let state = ccc_state(selection)?;
    let (organisation, role) = find_user(&state, user).ok_or_else(|| no_user(user))?;
    Ok(state
        .ccc
        .services
        .iter()
        .filter(|s| role == CccRole::Administrator || s.organisation == organisation)
        .cloned()
        .collect())
}

/// The user's organisation and role.
fn find_user(state: &CccState, name: &str) -> Option<(String, CccRole)> {
    state.ccc.organisations.iter().find_map(|o| {
        o.users
            .iter()
            .find(|u| u.name == name)
            .map(|u| (o.name.clone(), u.role))
    })
}

/// Where the organisation `name` is; `CKR_ARGUMENTS_BAD` naming the organisations otherwise.
pub(super) fn organisation_at(state: &CccState, name: &str) -> Result<usize> {
    named_at(&state.ccc.organisations, |x| &x.name, "organisation", name)
}

#[cfg(test)]
mod password_tests {
    use super::*;

    /// The built-in luna-ccc lab with its state in a fresh directory.
    fn lab() -> (tempfile::TempDir, LabSelection) {
        let dir = tempfile::tempdir().unwrap();
        let lab = crate::lab::Lab::built_in("luna-ccc").unwrap();
        let state_dir = dir.path().to_path_buf();
        let selection = LabSelection {
            lab,
            lab_file: None,
            state_dir,
            host: None,
        };
        (dir, selection)
    }

    #[test]
    fn a_user_logs_in_with_the_password_set_and_no_other() {
        let (_dir, sel) = lab();
        assert!(!ccc_user_has_password(&sel, "app-owner").unwrap());
        let none = check_ccc_user_password(&sel, "app-owner", "whatever-1").unwrap_err();
        assert_eq!(none.rv, CKR_USER_PIN_NOT_INITIALIZED, "{none}");
        set_ccc_user_password(&sel, "app-owner", "owner-pass-1").unwrap();
        assert!(ccc_user_has_password(&sel, "app-owner").unwrap());
        let user = check_ccc_user_password(&sel, "app-owner", "owner-pass-1").unwrap();
        assert_eq!(
            user,
            CccUserRecord {
                name: "app-owner".into(),
                organisation: "acme".into(),
                role: CccRole::ApplicationOwner
            }
        );
        let wrong = check_ccc_user_password(&sel, "app-owner", "owner-pass-2").unwrap_err();
        assert_eq!(wrong.rv, CKR_PIN_INCORRECT);
        let stranger = check_ccc_user_password(&sel, "nobody", "owner-pass-1").unwrap_err();
        assert_eq!((stranger.rv, &stranger.detail), (wrong.rv, &wrong.detail));
        // Replaced: the old one no longer opens.
        set_ccc_user_password(&sel, "app-owner", "owner-pass-3").unwrap();
        assert!(check_ccc_user_password(&sel, "app-owner", "owner-pass-1").is_err());
        assert!(check_ccc_user_password(&sel, "app-owner", "owner-pass-3").is_ok());
    }

    #[test]
    fn short_passwords_and_unknown_users_are_refused_and_removal_drops_the_password() {
        let (_dir, sel) = lab();
        let short = set_ccc_user_password(&sel, "ccc-admin", "1234567").unwrap_err();
        assert_eq!(short.rv, CKR_PIN_LEN_RANGE, "{short}");
        assert!(!ccc_user_has_password(&sel, "ccc-admin").unwrap());
        let unknown = set_ccc_user_password(&sel, "nobody", "long-enough").unwrap_err();
        assert_eq!(unknown.rv, CKR_ARGUMENTS_BAD, "{unknown}");
        set_ccc_user_password(&sel, "ccc-admin", "admin-pass-1").unwrap();
        remove_ccc_user(&sel, "ccc-admin").unwrap();
        add_ccc_user(&sel, "acme", "ccc-admin", CccRole::Administrator).unwrap();
        assert!(!ccc_user_has_password(&sel, "ccc-admin").unwrap());
        assert_eq!(ccc_user(&sel, "nobody").unwrap_err().rv, CKR_ARGUMENTS_BAD);
    }
}
