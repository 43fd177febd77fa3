//! The engine's part of Luna's extension calls (`CA_*`): a view of a slot's partition for the
//! Luna model's answers (`models::luna_ca`: firmware, role states, container status, policies,
//! the slot listing), and the calls that change a partition or look up objects: partition
//! policies, cloning domains, HSM policies, object unique ids. Each checks that its slot shows
//! a Luna partition.
use super::{Engine, Slot};
use crate::base::error::{Result, err};
use crate::models::PartitionState;
use crate::models::luna::{self, CKA_OUID, Device};
use cryptoki_sys::*;

/// A change to a partition's cloning domains (`Engine::luna_change_domain`).
#[derive(Debug, Clone, Copy)]
pub enum DomainChange<'a> {
    Add(&'a [u8]),
    MakePrimary(&'a [u8]),
    Remove(&'a [u8]),
}

use crate::models::luna_ca::{CK_CRYPTOKI_ELEMENT, PartitionView, state_of as luna_state};

/// A slot's Luna device; `CKR_FUNCTION_NOT_SUPPORTED` for other tokens.
fn luna_device(slot: &Slot) -> Result<&Device> {
    slot.model.luna().ok_or_else(|| {
        err(
            CKR_FUNCTION_NOT_SUPPORTED,
            format!("slot {} does not show a Luna partition", slot.id),
        )
    })
}

impl Engine {
    /// Runs `f` on a view of the slot's partition (its model, a copy of its token record),
    /// for the vendor model's answers about it (`models::luna_ca`).
    pub fn partition_view<T>(
        &self,
        slot_id: CK_SLOT_ID,
        f: impl FnOnce(&PartitionView<'_>) -> Result<T>,
    ) -> Result<T> {
        let slot = self.current_slot(slot_id)?;
        let record = slot.token.read().clone();
        f(&PartitionView {
            slot_id,
            model: &slot.model,
            record: &record,
            admin: slot.admin,
            description: slot.shown_description(),
            present: slot.require_token(),
        })
    }

    /// `CKR_CONTAINER_HANDLE_INVALID` unless `container` is the slot's partition's.
    fn check_container(&self, slot_id: CK_SLOT_ID, container: CK_ULONG) -> Result<()> {
        self.partition_view(slot_id, |p| {
            crate::models::luna_ca::check_container(p, container)
        })
    }

    /// `CA_SetTokenPolicies`: the partition SO (pre-PPSO: the SO, the HSM SO who owns the
    /// partition) changes policies, all or none. A destructive change erases every object of
    /// the partition in the same transaction; `confirm_destructive` false refuses it with
    /// `CKR_CONFIG_CHANGE_ILLEGAL` (the C API confirms by calling; LunaCM asks for "proceed").
    pub fn luna_set_token_policies(
        &self,
        handle: CK_SESSION_HANDLE,
        slot_id: CK_SLOT_ID,
        changes: &[(u64, u64)],
        confirm_destructive: bool,
    ) -> Result<bool> {
        let (session, slot) = self.slot_of(handle)?;
        if session.lock().slot_id != slot_id {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!("the session is not on slot {slot_id}"),
            ));
        }
        let device = luna_device(slot)?;
        if slot.logged_in() != Some(CKU_SO) {
            return Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
                "only the partition SO changes partition policies",
            ));
        }
        slot.check_pin_current()?;
        let seen = slot.incarnation();
        let mut table = slot.objects.write();
        let (result, replaced) = self.write_slot_token(slot, seen, |r| {
            let mut state = luna_state(r);
            let erase = state.apply(device, changes, confirm_destructive)?;
            state.settle_version(device, luna::new_smk_id)?;
            r.vendor = Some(PartitionState::Luna(state).stored());
            Ok((erase, true, erase))
        });
        if replaced {
            drop(table);
            self.refresh_token(slot, false)?;
            return result;
        }
        let erased = result?;
        if erased {
            // Token objects are gone; this process's session objects stay.
            table.remove_token_objects();
        }
        Ok(erased)
    }

    /// Firmware 7.8+ "Extended Domain Management" (the LunaCM partition domain commands): the
    /// Partition SO (pre-PPSO: the HSM SO) adds a cloning domain, makes one primary or removes
    /// one. PED partitions: an empty `domain` takes the presented red key's secret.
    pub fn luna_change_domain(
        &self,
        handle: CK_SESSION_HANDLE,
        change: DomainChange<'_>,
    ) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        let device = luna_device(slot)?;
        if slot.logged_in() != Some(CKU_SO) {
            return Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
                "only the partition SO manages cloning domains",
            ));
        }
        slot.check_pin_current()?;
        let domain = match change {
            DomainChange::Add(d) | DomainChange::MakePrimary(d) | DomainChange::Remove(d) => d,
        };
        let presented;
        let domain = if domain.is_empty() && slot.model.uses_ped() {
            presented = Self::red_key_credential()?.ok_or_else(|| {
                err(
                    crate::models::ped::CKR_PED_ERROR,
                    "the PED waits for a red key: none is presented (HSMSIM_PED_KEYS=red=path)",
                )
            })?;
            &presented[..]
        } else if domain.is_empty() {
            return Err(err(CKR_ARGUMENTS_BAD, "the cloning domain is empty"));
        } else {
            domain
        };
        let verifier = luna::domain_verifier(domain);
        self.update_slot_token(slot, slot.incarnation(), |r| {
            let mut state = luna_state(r);
            match change {
                DomainChange::Add(_) => state.add_domain(device, verifier.clone())?,
                DomainChange::MakePrimary(_) => state.set_primary_domain(&verifier)?,
                DomainChange::Remove(_) => state.remove_domain(&verifier)?,
            }
            r.vendor = Some(PartitionState::Luna(state).stored());
            Ok(((), true))
        })
    }

    /// `CA_SetHSMPolicy` / `CA_SetDestructiveHSMPolicy`: the HSM SO (the SO of the device's
    /// admin partition, or of a pre-PPSO partition, which the HSM SO owns) changes an HSM
    /// policy. A destructive change (6 and 7 either way) is refused unless
    /// `destructive_ok`, and then zeroises every partition of the device (all their objects),
    /// in one transaction. Returns whether it did.
    pub fn luna_set_hsm_policy(
        &self,
        handle: CK_SESSION_HANDLE,
        id: u64,
        value: u64,
        destructive_ok: bool,
    ) -> Result<bool> {
        let (_, slot) = self.slot_of(handle)?;
        let device = luna_device(slot)?;
        if slot.logged_in() != Some(CKU_SO) || !device.is_hsm_so(CKU_SO, slot.admin) {
            return Err(err(
                luna::CKR_USER_NOT_AUTHORIZED,
                "only the HSM SO (logged in on the admin partition) changes HSM policies",
            ));
        }
        slot.check_pin_current()?;
        let element = luna::check_hsm_policy(device.firmware, id, value)?;
        let lab_value = device.hsm_policies.get(&id).copied();
        let (policies, erased) = self.store.update_device_policies(&device.name, |changed| {
            let old = changed
                .get(&id)
                .copied()
                .or(lab_value)
                .unwrap_or(element.default);
            let destructive = (old == 0 && value != 0 && element.off_to_on_destructive)
                || (old != 0 && value == 0 && element.on_to_off_destructive);
            if destructive && !destructive_ok {
                return Err(err(
                    luna::CKR_CONFIG_CHANGE_ILLEGAL,
                    format!(
                        "HSM policy {id} ({}) is destructive: it zeroises the partitions; use CA_SetDestructiveHSMPolicy",
                        element.description
                    ),
                ));
            }
            changed.insert(id, value);
            Ok(destructive)
        })?;
        device.changed.set(policies);
        if erased {
            let prefix = format!("{}/", device.name);
            for s in self
                .slots
                .values()
                .filter(|s| s.partition.starts_with(&prefix))
            {
                s.objects.write().remove_token_objects();
            }
        }
        Ok(erased)
    }

    /// `CA_GetObjectUID`: an object's `CKA_OUID`.
    pub fn luna_object_uid(
        &self,
        slot_id: CK_SLOT_ID,
        container: CK_ULONG,
        object_type: CK_ULONG,
        handle: CK_OBJECT_HANDLE,
    ) -> Result<[u8; 12]> {
        self.check_container(slot_id, container)?;
        if object_type != CK_CRYPTOKI_ELEMENT {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                "only CK_CRYPTOKI_ELEMENT objects have unique ids here",
            ));
        }
        let slot = self.current_slot(slot_id)?;
        let object = self.visible_object(slot, handle, CKR_OBJECT_HANDLE_INVALID)?;
        object
            .attrs
            .bytes(CKA_OUID)
            .and_then(|b| <[u8; 12]>::try_from(b).ok())
            .ok_or_else(|| err(CKR_OBJECT_HANDLE_INVALID, "the object has no CKA_OUID"))
    }

    /// `CA_GetObjectHandle`: the handle of the object with this `CKA_OUID`.
    pub fn luna_object_handle(
        &self,
        slot_id: CK_SLOT_ID,
        container: CK_ULONG,
        ouid: &[u8; 12],
    ) -> Result<(CK_ULONG, CK_OBJECT_HANDLE)> {
        self.check_container(slot_id, container)?;
        let slot = self.current_slot(slot_id)?;
        let mut template = crate::base::attribute::Attributes::new();
        template.set_bytes(CKA_OUID, ouid.to_vec());
        let user = slot.user_logged_in();
        self.table(slot)?
            .candidates(&template)
            .into_iter()
            .find(|o| o.attrs.bytes(CKA_OUID) == Some(&ouid[..]) && (user || !o.is_private()))
            .map(|o| (CK_CRYPTOKI_ELEMENT, o.handle))
            .ok_or_else(|| err(CKR_OBJECT_HANDLE_INVALID, "no visible object has this OUID"))
    }
}
