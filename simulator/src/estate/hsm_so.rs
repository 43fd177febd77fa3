//! LunaSH `hsm login`: the HSM SO authenticates on a Luna Network HSM appliance against the
//! SO credential of the device's admin partition as the store keeps it, under the model's
//! failed-login rule (3 wrong HSM SO logins zeroise the HSM); and the appliance the other
//! LunaSH operations (`appliance_partitions.rs`, `partition_policy.rs`, `hsm_policy.rs`) act on.
use super::*;
use crate::models::{Consequence, luna};
use crate::store::records::Incarnation;

/// A Luna Network HSM of the lab as LunaSH sees it: its model (HSM policies as the store has
/// them now), its admin partition and the lab's PED key files for that partition's roles.
#[derive(Debug, Clone)]
pub struct Appliance {
    pub device: DeviceId,
    pub model: TokenModel,
    luna: std::sync::Arc<luna::Device>,
    pub admin: PartitionId,
    ped_keys: Vec<(CK_USER_TYPE, PathBuf)>,
}

impl Appliance {
    /// The Luna device of the model.
    pub fn luna(&self) -> &luna::Device {
        &self.luna
    }
}

/// The appliance `device` of the lab, with its HSM policies read from `store`: refused unless
/// the lab defines it as a Luna Network HSM (LunaSH runs on the appliance) with an admin
/// partition (where the HSM SO's credential lives).
pub fn appliance(selection: &LabSelection, store: &Store, device: &DeviceId) -> Result<Appliance> {
    let model = selection.device_model(device)?;
    let luna = match &model {
        TokenModel::Luna(d) if d.kind == luna::DeviceKind::Network => d.clone(),
        _ => {
            return Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                format!(
                    "device \"{device}\" is not a Luna Network HSM: LunaSH runs on the appliance"
                ),
            ));
        }
    };
    model.read_device_state(store)?;
    let admin_name = selection
        .lab
        .file
        .devices
        .iter()
        .filter(|d| d.name.get_ref() == device.as_str())
        .flat_map(|d| &d.partitions)
        .find(|p| p.is_admin())
        .map(|p| device.partition(p.name.get_ref().as_str()));
    let (admin, preset) = selection
        .lab
        .partitions()
        .into_iter()
        .find(|(p, _, _)| Some(p) == admin_name.as_ref())
        .map(|(p, _, preset)| (p, preset))
        .ok_or_else(|| {
            err(
                CKR_ARGUMENTS_BAD,
                format!(
                    "device \"{device}\" has no admin partition in the lab, so it has no HSM SO to log in: add a partition with `admin = true` and the HSM SO's `so_pin` (or `so_ped_key`)"
                ),
            )
        })?;
    let ped_keys = preset
        .map(|p| p.ped_key_files(&selection.state_dir))
        .unwrap_or_default();
    Ok(Appliance {
        device: device.clone(),
        model,
        luna,
        admin,
        ped_keys,
    })
}

/// The HSM SO logged in on an appliance (`hsm login`): what the LunaSH operations that change
/// the HSM or its partitions take. It holds while the admin partition is the incarnation it
/// logged in to (a zeroised HSM ends it).
#[derive(Debug, Clone)]
pub struct HsmSoLogin {
    pub device: DeviceId,
    admin: PartitionId,
    seen: Incarnation,
}

impl HsmSoLogin {
    /// The lab's store and this login's appliance, the login checked (`check`): what the
    /// operations of the logged-in HSM SO start with.
    pub fn open(&self, selection: &LabSelection) -> Result<(Store, Appliance)> {
        let store = open_store(selection)?;
        let appliance = appliance(selection, &store, &self.device)?;
        self.check(&store, &appliance)?;
        Ok((store, appliance))
    }

    /// `CKR_USER_NOT_LOGGED_IN` unless this login is for `appliance` and its admin partition
    /// is still the one logged in to.
    pub fn check(&self, store: &Store, appliance: &Appliance) -> Result<()> {
        let current = store.token(&appliance.admin)?;
        let same = self.device == appliance.device
            && self.admin == appliance.admin
            && current.is_some_and(|row| row.present && row.record.incarnation() == self.seen);
        if same {
            Ok(())
        } else {
            Err(err(
                CKR_USER_NOT_LOGGED_IN,
                format!(
                    "the HSM SO is not logged in on \"{}\" (the HSM was zeroised or re-initialised since `hsm login`): log in again",
                    appliance.device
                ),
            ))
        }
    }
}

/// LunaSH `hsm login`: checks `password` as the HSM SO of `device` against its admin
/// partition's SO seal (a PED appliance with an empty password: the lab's blue PED key, as the
/// PED presents it), counting the attempt in one store transaction under the model's rule
/// (`TokenModel::check_credential`, the engine's login check). The third consecutive wrong
/// password zeroises the HSM (`zeroise_device_in`) and answers `CKR_PIN_LOCKED`; a wrong one
/// before that `CKR_PIN_INCORRECT`.
pub fn hsm_so_login(
    selection: &LabSelection,
    device: &DeviceId,
    password: &[u8],
) -> Result<HsmSoLogin> {
    let store = open_store(selection)?;
    let appliance = appliance(selection, &store, device)?;
    let (_, seen) = check_role_credential(
        &store,
        &appliance.model,
        &appliance.admin,
        &appliance.ped_keys,
        (CKU_SO, true),
        password,
    )?;
    Ok(HsmSoLogin {
        device: device.clone(),
        admin: appliance.admin,
        seen,
    })
}

/// Checks `secret` as the credential of `role` (the user type, and whether it is the HSM SO of
/// the device's admin partition) on `partition`, as a login does: a PED partition with an
/// empty secret takes the lab's PED key of the role's colour; the attempt is counted in one
/// store transaction under the model's rule (`TokenModel::check_credential`); a failure that
/// zeroises the device does so (`zeroise_device_in`). Returns the partition's token key and
/// the incarnation it opens. `hsm login`, and the Backup HSM's operations (its HSM SO, the
/// Crypto Officer of the partition backed up or restored to).
pub(super) fn check_role_credential(
    store: &Store,
    model: &TokenModel,
    partition: &PartitionId,
    ped_keys: &[(CK_USER_TYPE, PathBuf)],
    (user, admin): (CK_USER_TYPE, bool),
    secret: &[u8],
) -> Result<(TokenKey, Incarnation)> {
    let row = store
        .token(partition)?
        .filter(|row| row.present)
        .ok_or_else(|| {
            err(
                CKR_TOKEN_NOT_PRESENT,
                format!("the partition {partition} was removed"),
            )
        })?;
    let ped_credential;
    let secret = if model.uses_ped() && secret.is_empty() {
        ped_credential = model.ped_credential(user, ped_keys, false)?;
        ped_credential.as_slice()
    } else {
        secret
    };
    let record = row.record;
    let seen = record.incarnation();
    let context = SealContext {
        partition,
        generation: record.generation,
    };
    let mut check = model.check_credential(&record, context, user, secret, admin, false)?;
    store.update_token(partition, |r| {
        if r.incarnation() != seen {
            return Err(crate::store::records::replaced_error());
        }
        Ok(((), check.count(model, r)?))
    })?;
    let (consequence, key) = check.finish(model);
    if consequence == Some(Consequence::ZeroiseDevice) {
        zeroise_device_in(store, partition.device())?;
    }
    Ok((key?, seen))
}
