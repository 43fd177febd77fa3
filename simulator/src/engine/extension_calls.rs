//! The engine's part of the vendor extension calls (`CA_*`, today Luna's): a view of a slot's
//! partition for the Luna model's answers (`models::luna_ca`: firmware, role states, container
//! status, policies, the slot listing), and the calls that change a partition or look up
//! objects: partition policies, cloning domains, HSM policies, object unique ids. Each checks
//! that its slot shows a Luna partition. The one engine file that names a vendor model: it
//! dispatches the vendor's own calls (the layer test `engine_names_no_vendor_model` allows it).
use super::Engine;
use crate::base::error::{Result, err};
use crate::models::TokenModel;
use crate::models::luna::CKA_OUID;
use crate::models::luna_ca::{self, CK_CRYPTOKI_ELEMENT, DomainChange, PartitionView};
use crate::store::records::TokenRecord;
use cryptoki_sys::*;

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

    /// Changes the vendor state of the session's partition for a model's operation (Luna's
    /// `CA_SetTokenPolicies`, its cloning-domain commands): `authorise` sees the model, the
    /// logged-in role and whether the slot shows the admin partition before anything else (the
    /// model's refusal); `change` runs in the store transaction on the token record and says
    /// whether the partition's token objects go with it (erased in the same transaction; this
    /// process's session objects stay). `slot_id`, when given, must be the session's slot.
    pub fn change_partition(
        &self,
        handle: CK_SESSION_HANDLE,
        slot_id: Option<CK_SLOT_ID>,
        authorise: impl FnOnce(&TokenModel, Option<CK_USER_TYPE>, bool) -> Result<()>,
        change: impl FnOnce(&TokenModel, &mut TokenRecord) -> Result<bool>,
    ) -> Result<bool> {
        let (session, slot) = self.slot_of(handle)?;
        if let Some(slot_id) = slot_id
            && session.lock().slot_id != slot_id
        {
            return Err(err(
                CKR_ARGUMENTS_BAD,
                format!("the session is not on slot {slot_id}"),
            ));
        }
        authorise(&slot.model, slot.logged_in(), slot.admin)?;
        slot.check_pin_current()?;
        let seen = slot.incarnation();
        let mut table = slot.objects.write();
        let (result, replaced) = self.write_slot_token(slot, seen, |r| {
            let erase = change(&slot.model, r)?;
            Ok((erase, true, erase))
        });
        if replaced {
            drop(table);
            self.refresh_token(slot, false)?;
            return result;
        }
        let erased = result?;
        if erased {
            table.remove_token_objects();
        }
        Ok(erased)
    }

    /// Firmware 7.8+ "Extended Domain Management" (the LunaCM partition domain commands): the
    /// Partition SO (pre-PPSO: the HSM SO) adds a cloning domain, makes one primary or removes
    /// one. PED partitions: an empty `domain` takes the presented red key's secret.
    pub fn change_cloning_domain(
        &self,
        handle: CK_SESSION_HANDLE,
        change: DomainChange<'_>,
    ) -> Result<()> {
        let (_, slot) = self.slot_of(handle)?;
        luna_ca::authorise_partition_so(&slot.model, slot.logged_in(), "manages cloning domains")?;
        let presented = match change.domain() {
            [] if slot.model.uses_ped() => {
                Some(slot.model.presented_domain_secret()?.ok_or_else(|| {
                    err(
                        crate::models::ped::CKR_PED_ERROR,
                        "the PED waits for a red key: none is presented (HSMSIM_PED_KEYS=red=path)",
                    )
                })?)
            }
            _ => None,
        };
        let domain = presented.as_deref().unwrap_or(change.domain());
        self.change_partition(
            handle,
            None,
            |_, _, _| Ok(()),
            |model, record| luna_ca::change_domain(model, record, change, domain).map(|()| false),
        )
        .map(drop)
    }

    /// `CA_SetHSMPolicy` / `CA_SetDestructiveHSMPolicy`: the HSM SO (the SO of the device's
    /// admin partition, or of a pre-PPSO partition, which the HSM SO owns) changes an HSM
    /// policy of the session's device (`estate::set_hsm_policy`); a destructive change
    /// zeroises every partition of the device, and this process's slots on it lose their
    /// token objects. Returns whether it did.
    pub fn set_hsm_policy(
        &self,
        handle: CK_SESSION_HANDLE,
        id: u64,
        value: u64,
        destructive_ok: bool,
    ) -> Result<bool> {
        let (_, slot) = self.slot_of(handle)?;
        let device = luna_ca::authorise_hsm_so(&slot.model, slot.logged_in(), slot.admin)?;
        slot.check_pin_current()?;
        let (policies, erased) =
            crate::estate::set_hsm_policy(&self.store, device, id, value, destructive_ok)?;
        device.changed.set(policies);
        if erased {
            let device = crate::base::ids::DeviceId::new(device.name.as_str());
            for s in self.slots.values().filter(|s| s.partition.is_on(&device)) {
                s.objects.write().remove_token_objects();
            }
        }
        Ok(erased)
    }

    /// `CA_GetObjectUID`: an object's `CKA_OUID`.
    pub fn object_ouid(
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
    pub fn object_by_ouid(
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
