//! CCC's organisations and their users, each user an Administrator or an Application Owner
//! (seed 004): added, listed, removed; and the services a user sees (an Application Owner
//! only its organisation's).
use super::*;
use crate::lab::ccc::{CccOrganisation, CccUser};
use crate::lab::schema::CccRole;

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

/// Removes a user from its organisation.
pub fn remove_ccc_user(selection: &LabSelection, name: &str) -> Result<()> {
    update_ccc(selection, |state| {
        for organisation in &mut state.ccc.organisations {
            if let Some(at) = organisation.users.iter().position(|u| u.name == name) {
                organisation.users.remove(at);
                return Ok(());
            }
        }
        Err(unknown(format!("CCC has no user \"{name}\"")))
    })
}

/// The services `user` sees: every service for an Administrator; for an Application Owner,
/// those its organisation owns (documented (seed 004): "an Application Owner that is a member
/// of the organization that owns the service").
pub fn ccc_services_of(selection: &LabSelection, user: &str) -> Result<Vec<CccService>> {
    let state = ccc_state(selection)?;
    let (organisation, role) =
        find_user(&state, user).ok_or_else(|| unknown(format!("CCC has no user \"{user}\"")))?;
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
