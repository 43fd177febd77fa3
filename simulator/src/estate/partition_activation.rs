//! LunaSH `partition createchallenge -partition L -challengesecret S` and `partition activate
//! -partition L` on a Luna Network HSM with pre-PPSO firmware (5.x, 6.x up to 6.21): the HSM SO
//! (logged in with `hsm login`) gives the partition owner's (Crypto Officer's) role a
//! challenge secret and activates it, the partition owner's black PED key presented at the PED
//! (the lab's PED key file of the partition). An activated role with a challenge secret logs in
//! with the secret alone; PED HA members share it (`ha_groups`). PPSO partitions (6.22+, 7.x)
//! are refused: their Partition SO sets the challenge in LunaCM (`role createchallenge`) and the
//! Crypto Officer's PED login activates it.
use super::backup_hsm::preset_ped_keys;
use super::hsm_so::check_role_credential;
use super::*;
use crate::base::vendor_codes::CKR_USER_NOT_AUTHORIZED;
use crate::models::luna::{Auth, ca::state_of, partition_policy};
use crate::store::records::Incarnation;

/// The pre-PPSO PED partition `partition` of the HSM SO's appliance, its owner's black key
/// checked at the PED: the partition's id and its token key (with the incarnation it opens).
fn owner_at_ped(
    selection: &LabSelection,
    login: &HsmSoLogin,
    partition: &str,
) -> Result<(Store, TokenModel, PartitionId, TokenKey, Incarnation)> {
    let (store, appliance) = login.open(selection)?;
    let id = named_partition(selection, &store, &appliance, partition)?;
    let device = appliance.luna();
    if device.auth != Auth::Ped {
        return Err(err(
            CKR_FUNCTION_NOT_SUPPORTED,
            format!(
                "{id} is a password partition: challenge secrets and activation belong to PED partitions"
            ),
        ));
    }
    if device.per_partition_so() {
        return Err(err(
            CKR_USER_NOT_AUTHORIZED,
            format!(
                "{id} has its own Partition SO (PPSO firmware {}): the Partition SO sets the Crypto \
                 Officer's challenge in LunaCM (`role createchallenge -name \"Crypto Officer\"`), \
                 and the Crypto Officer's PED login activates it",
                device.firmware
            ),
        ));
    }
    // The PED asks for the partition owner's black key.
    let (key, seen) = check_role_credential(
        &store,
        &appliance.model,
        &id,
        &preset_ped_keys(selection, &id),
        (CKU_USER, false),
        b"",
    )?;
    Ok((store, appliance.model, id, key, seen))
}

/// LunaSH `partition createchallenge`: the HSM SO gives the pre-PPSO PED partition's owner
/// (the Crypto Officer) the challenge secret `challenge` (7 to 16 characters), sealing the
/// token key under it; the owner's black key at the PED opens the key. Simulator-defined: the
/// secret is typed (`-challengesecret`, as LunaCM's `role createchallenge` takes it) where the
/// real PED makes one up and shows it.
pub fn partition_create_challenge(
    selection: &LabSelection,
    login: &HsmSoLogin,
    partition: &str,
    challenge: &str,
) -> Result<String> {
    let (store, model, id, key, seen) = owner_at_ped(selection, login, partition)?;
    model.check_challenge_secret(challenge.as_bytes())?;
    store.update_token(&id, |record| {
        if record.incarnation() != seen {
            return Err(crate::store::records::replaced_error());
        }
        let context = SealContext {
            partition: &id,
            generation: record.generation,
        };
        record.role_mut(CKU_USER).challenge =
            Some(PinSeal::new(challenge.as_bytes(), &key, context)?);
        Ok(((), true))
    })?;
    Ok(id.name().to_string())
}

/// LunaSH `partition activate`: the pre-PPSO PED partition's owner is activated (its black
/// key's secret cached, Luna §2.4), so its challenge secret alone logs it in, until a
/// deactivation, restart or tamper. Needs partition policy 22 ("Allow activation") on, else
/// `CKR_USER_NOT_AUTHORIZED` (simulator-defined code), and the owner's black key at the PED.
pub fn partition_activate(
    selection: &LabSelection,
    login: &HsmSoLogin,
    partition: &str,
) -> Result<String> {
    let (store, model, id, _, seen) = owner_at_ped(selection, login, partition)?;
    store.update_token(&id, |record| {
        if record.incarnation() != seen {
            return Err(crate::store::records::replaced_error());
        }
        let allowed = model
            .luna()
            .is_some_and(|d| state_of(record).policy(d, partition_policy::ACTIVATION) != 0);
        if !allowed {
            return Err(err(
                CKR_USER_NOT_AUTHORIZED,
                format!(
                    "{id} has activation off (partition policy 22): set it with `partition \
                     changepolicy -partition {} -policy 22 -value 1` first",
                    id.name()
                ),
            ));
        }
        let role = record.role_mut(CKU_USER);
        let changed = !role.activated;
        role.activated = true;
        Ok(((), changed))
    })?;
    Ok(id.name().to_string())
}
