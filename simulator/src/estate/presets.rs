//! A partition's token as the lab makes it: blank, or initialised as its preset says (label,
//! the token key sealed under each role's PIN or PED key, the vendor state).
use super::*;

/// A new token record: blank, or initialised as a lab preset says (label, the token key sealed
/// under each role's PIN, and the vendor state: policies, cloning domain).
/// PED presets' key files are read (or created) under `state_dir`.
pub fn fresh_record(
    partition: &PartitionId,
    model: &TokenModel,
    preset: Option<&TokenPreset>,
    state_dir: &std::path::Path,
) -> Result<TokenRecord> {
    use crate::models::{luna, ped::PedKey};
    let mut record = TokenRecord::uninitialized(partition);
    record.generation = crate::base::random::random_u64()?;
    if let Some(preset) = preset {
        let key = TokenKey::generate()?;
        record.label = preset.label.clone();
        record.initialized = true;
        let mut vendor = model.initial_state();
        let pins = |pins: &mut dyn Iterator<Item = (CK_USER_TYPE, &String)>| {
            pins.map(|(u, p)| (u, p.as_bytes().to_vec())).collect()
        };
        let common = || {
            preset
                .so_pin
                .iter()
                .map(|p| (CKU_SO, p))
                .chain(preset.user_pin.iter().map(|p| (CKU_USER, p)))
        };
        let credentials: Vec<(CK_USER_TYPE, Vec<u8>)> = match &preset.vendor {
            VendorPreset::Primus(primus) => {
                vendor = Some(crate::models::PartitionState::Primus(primus.policy));
                pins(&mut preset.user_pin.iter().map(|p| (CKU_USER, p)))
            }
            VendorPreset::Luna(luna_preset) if model.uses_ped() => luna_preset
                .ped_keys
                .iter()
                .map(|(u, path)| {
                    PedKey::load_or_create(&state_dir.join(path), luna::ped_colour(*u))
                        .map(|k| (*u, k.credential()))
                })
                .collect::<Result<_>>()?,
            VendorPreset::Luna(luna_preset) => {
                pins(&mut common().chain(luna_preset.role_pins.iter().map(|(u, p)| (*u, p))))
            }
            VendorPreset::None => pins(&mut common()),
        };
        let context = SealContext {
            partition,
            generation: record.generation,
        };
        for (user, credential) in credentials {
            record.role_mut(user).seal = Some(PinSeal::new(&credential, &key, context)?);
        }
        if let (Some(device), Some(crate::models::PartitionState::Luna(state)), Some(l)) =
            (model.luna(), vendor.as_mut(), preset.luna())
        {
            let domain = match &l.domain_ped_key {
                Some(path) => Some(
                    PedKey::load_or_create(&state_dir.join(path), crate::models::ped::Colour::Red)?
                        .credential(),
                ),
                None => l.domain.as_ref().map(|d| d.as_bytes().to_vec()),
            };
            state.domain = domain.as_deref().map(luna::domain_verifier);
            for other in &l.other_domains {
                state.add_domain(device, luna::domain_verifier(other.as_bytes()))?;
            }
            state.apply(device, &l.policies, true)?;
            state.settle_version(device, luna::new_smk_id)?;
        }
        record.vendor = vendor.map(crate::models::PartitionState::stored);
    }
    Ok(record)
}
