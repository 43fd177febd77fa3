//! The engine's Luna extension calls, behind the `CA_*` exports (and, later, the LunaCM and
//! LunaSH command languages): firmware, role states, partition and HSM policies, container
//! status and object unique ids. Each checks that its slot shows a Luna partition.
use super::{Engine, Slot};
use crate::base::error::{Result, err};
use crate::models::PartitionState;
use crate::models::luna::{self, CKA_OUID, Device, Element};
use crate::store::records::TokenRecord;
use cryptoki_sys::*;

/// `CA_ROLE_STATE.flags` bits (pycryptoki `CAF_ROLE_STATE_*`).
pub const CAF_ROLE_STATE_INITIALIZED: u8 = 0x01;
pub const CAF_ROLE_STATE_LOCKED_OUT: u8 = 0x02;
pub const CAF_ROLE_STATE_ACTIVATED: u8 = 0x04;
pub const CAF_ROLE_STATE_PIN_CHANGE: u8 = 0x10;
/// `CA_ROLE_STATE` auth mechanisms (`CKA_ROLE_AUTH_*`).
pub const ROLE_AUTH_PASSWORD: u8 = 1;
pub const ROLE_AUTH_PED: u8 = 2;

/// Container status flags (pycryptoki `LUNA_CF_*`).
pub const LUNA_CF_CONTAINER_ENABLED: CK_ULONG = 0x0100_0000;
pub const LUNA_CF_PARTITION_INITIALIZED: CK_ULONG = 0x400;
pub const LUNA_CF_USER_PIN_INITIALIZED: CK_ULONG = 0x8000;
pub const LUNA_CF_SO_PIN_LOCKED: CK_ULONG = 0x1_0000;
pub const LUNA_CF_SO_PIN_TO_BE_CHANGED: CK_ULONG = 0x2_0000;
pub const LUNA_CF_USER_PIN_LOCKED: CK_ULONG = 0x4_0000;
pub const LUNA_CF_LIMITED_USER_PIN_LOCKED: CK_ULONG = 0x8_0000;
pub const LUNA_CF_LIMITED_USER_CREATED: CK_ULONG = 0x20_0000;
pub const LUNA_CF_USER_PIN_TO_BE_CHANGED: CK_ULONG = 0x40_0000;
pub const LUNA_CF_LIMITED_USER_PIN_TO_BE_CHANGED: CK_ULONG = 0x80_0000;

/// Object element type of `CA_GetObjectUID` / `CA_GetObjectHandle` (`CK_CRYPTOKI_ELEMENT`).
pub const CK_CRYPTOKI_ELEMENT: CK_ULONG = 0;

/// `CA_RoleStateGet`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleState {
    pub flags: u8,
    pub login_attempts_left: u8,
    pub primary_auth: u8,
    pub secondary_auth: u8,
}

/// `CA_GetContainerStatus`'s answer; a count of `CK_UNAVAILABLE_INFORMATION` means the role
/// does not exist on the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerStatus {
    pub flags: CK_ULONG,
    pub failed_so: CK_ULONG,
    pub failed_user: CK_ULONG,
    pub failed_limited_user: CK_ULONG,
}

/// One slot as LunaCM's `slot list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LunaSlotListing {
    pub slot_id: CK_SLOT_ID,
    pub label: String,
    pub serial: String,
    pub model: String,
    pub firmware: String,
    pub configuration: String,
    pub description: String,
}

impl LunaSlotListing {
    /// The block LunaCM prints for the slot (layout simulator-defined after LunaCM 7.x
    /// captures: "Slot Id ->", "Label ->", ... with the configuration text).
    pub fn lunacm_text(&self) -> String {
        let rows = [
            ("Slot Id", self.slot_id.to_string()),
            ("Label", self.label.clone()),
            ("Serial Number", self.serial.clone()),
            ("Model", self.model.clone()),
            ("Firmware Version", self.firmware.clone()),
            ("Configuration", self.configuration.clone()),
            ("Slot Description", self.description.clone()),
        ];
        rows.iter()
            .map(|(name, value)| format!("\t{:<24}{value}\n", format!("{name} ->")))
            .collect()
    }
}

/// A change to a partition's cloning domains (`Engine::luna_change_domain`).
#[derive(Debug, Clone, Copy)]
pub enum DomainChange<'a> {
    Add(&'a [u8]),
    MakePrimary(&'a [u8]),
    Remove(&'a [u8]),
}

/// A configuration element's description (`CA_GetConfigurationElementDescription`).
#[derive(Debug, Clone)]
pub struct ElementDescription {
    pub bit_length: CK_ULONG,
    pub destructive: bool,
    pub write_restricted: bool,
    pub description: String,
}

fn luna_state(record: &TokenRecord) -> luna::PartitionState {
    match PartitionState::of(record).as_deref() {
        Some(PartitionState::Luna(s)) => s.clone(),
        _ => luna::PartitionState::default(),
    }
}

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
    /// The slot and its Luna device; `CKR_FUNCTION_NOT_SUPPORTED` for other tokens.
    fn luna_slot(&self, slot_id: CK_SLOT_ID) -> Result<(&Slot, &Device)> {
        let slot = self.current_slot(slot_id)?;
        Ok((slot, luna_device(slot)?))
    }

    /// `CA_GetFirmwareVersion`: (major, minor, subminor).
    pub fn luna_firmware(&self, slot_id: CK_SLOT_ID) -> Result<(u8, u8, u8)> {
        let (_, d) = self.luna_slot(slot_id)?;
        Ok((d.firmware.major, d.firmware.minor, d.firmware.subminor))
    }

    /// The partition's container number: its slot id (simulator-defined; on PPSO firmware
    /// slots and containers map one to one).
    pub fn luna_container_number(&self, slot_id: CK_SLOT_ID) -> Result<CK_ULONG> {
        self.luna_slot(slot_id)?;
        Ok(slot_id)
    }

    fn check_container(&self, slot_id: CK_SLOT_ID, container: CK_ULONG) -> Result<()> {
        if self.luna_container_number(slot_id)? == container {
            Ok(())
        } else {
            Err(err(
                luna::CKR_CONTAINER_HANDLE_INVALID,
                format!("slot {slot_id}'s partition is container {slot_id}, not {container}"),
            ))
        }
    }

    /// `CA_RoleStateGet`.
    pub fn luna_role_state(&self, slot_id: CK_SLOT_ID, user: CK_USER_TYPE) -> Result<RoleState> {
        let (slot, device) = self.luna_slot(slot_id)?;
        device.check_role(user)?;
        let record = slot.token.read();
        let limit = slot
            .model
            .failed_login_rule(&record, user, slot.admin)
            .threshold;
        let role = record.role(user).cloned().unwrap_or_default();
        let mut flags = 0;
        if role.has_pin() {
            flags |= CAF_ROLE_STATE_INITIALIZED;
        }
        if slot
            .model
            .is_locked(&record, user, slot.admin, crate::base::clock::now())
        {
            flags |= CAF_ROLE_STATE_LOCKED_OUT;
        }
        if role.must_change {
            flags |= CAF_ROLE_STATE_PIN_CHANGE;
        }
        if role.activated {
            flags |= CAF_ROLE_STATE_ACTIVATED;
        }
        Ok(RoleState {
            flags,
            login_attempts_left: limit
                .saturating_sub(role.counted_failures(crate::base::clock::now()))
                .min(255) as u8,
            primary_auth: match device.auth {
                luna::Auth::Password => ROLE_AUTH_PASSWORD,
                luna::Auth::Ped => ROLE_AUTH_PED,
            },
            secondary_auth: 0,
        })
    }

    /// `CA_GetContainerStatus`.
    pub fn luna_container_status(
        &self,
        slot_id: CK_SLOT_ID,
        container: CK_ULONG,
    ) -> Result<ContainerStatus> {
        self.check_container(slot_id, container)?;
        let (slot, device) = self.luna_slot(slot_id)?;
        let record = slot.token.read();
        let now = crate::base::clock::now();
        let locked = |u| slot.model.is_locked(&record, u, slot.admin, now);
        let role = |u| record.role(u).cloned().unwrap_or_default();
        let mut flags = LUNA_CF_CONTAINER_ENABLED;
        if record.initialized {
            flags |= LUNA_CF_PARTITION_INITIALIZED;
        }
        let cu_type = luna::CKU_CRYPTO_USER;
        let (so, user, cu) = (role(CKU_SO), role(CKU_USER), role(cu_type));
        for (set, flag) in [
            (user.has_pin(), LUNA_CF_USER_PIN_INITIALIZED),
            (locked(CKU_SO), LUNA_CF_SO_PIN_LOCKED),
            (so.must_change, LUNA_CF_SO_PIN_TO_BE_CHANGED),
            (locked(CKU_USER), LUNA_CF_USER_PIN_LOCKED),
            (user.must_change, LUNA_CF_USER_PIN_TO_BE_CHANGED),
            (cu.has_pin(), LUNA_CF_LIMITED_USER_CREATED),
            (locked(cu_type), LUNA_CF_LIMITED_USER_PIN_LOCKED),
            (cu.must_change, LUNA_CF_LIMITED_USER_PIN_TO_BE_CHANGED),
        ] {
            if set {
                flags |= flag;
            }
        }
        let has_cu = device.extra_roles().contains(&cu_type);
        Ok(ContainerStatus {
            flags,
            failed_so: so.failures as CK_ULONG,
            failed_user: user.failures as CK_ULONG,
            failed_limited_user: if has_cu {
                cu.failures as CK_ULONG
            } else {
                CK_UNAVAILABLE_INFORMATION
            },
        })
    }

    /// `CA_GetTokenPolicies`: the partition's policies its firmware has, by id.
    pub fn luna_token_policies(&self, slot_id: CK_SLOT_ID) -> Result<Vec<(u64, u64)>> {
        let (slot, device) = self.luna_slot(slot_id)?;
        let state = luna_state(&slot.token.read());
        Ok(luna::PARTITION_POLICIES
            .iter()
            .filter(|e| device.firmware.era() >= e.since)
            .map(|e| (e.id, state.policy(device, e.id)))
            .collect())
    }

    /// `CA_GetTokenCapabilities`: the largest value each partition policy may take.
    pub fn luna_token_capabilities(&self, slot_id: CK_SLOT_ID) -> Result<Vec<(u64, u64)>> {
        let (_, device) = self.luna_slot(slot_id)?;
        Ok(luna::PARTITION_POLICIES
            .iter()
            .filter(|e| device.firmware.era() >= e.since)
            .map(|e| (e.id, luna::PartitionState::capability(device, e)))
            .collect())
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

    /// The slot as LunaCM's `slot list` shows it: label, serial, model, firmware, the
    /// configuration text ("Luna User Partition With SO (PW) Signing With Cloning Mode"; Key
    /// Export when partition policy 1 allows private-key wrapping; the admin partition is
    /// "Luna HSM Admin Partition", simulator-defined) and the slot description.
    pub fn luna_slot_listing(&self, slot_id: CK_SLOT_ID) -> Result<LunaSlotListing> {
        let (slot, device) = self.luna_slot(slot_id)?;
        slot.require_token()?;
        let record = slot.token.read();
        let state = luna_state(&record);
        let configuration = if slot.admin {
            format!("Luna HSM Admin Partition ({})", device.auth.short())
        } else {
            device.configuration_text(
                state.policy(device, luna::partition_policy::PRIVATE_KEY_WRAPPING) != 0,
            )
        };
        Ok(LunaSlotListing {
            slot_id,
            label: record.label.clone(),
            serial: record.serial.clone(),
            model: device.model(),
            firmware: device.firmware.to_string(),
            configuration,
            description: slot.shown_description().to_string(),
        })
    }

    /// The partition's version (V0/V1 from 7.7) and, for V1, its SMK's identity.
    pub fn luna_partition_version(
        &self,
        slot_id: CK_SLOT_ID,
    ) -> Result<(luna::PartitionVersion, Option<String>)> {
        let (slot, device) = self.luna_slot(slot_id)?;
        let state = luna_state(&slot.token.read());
        Ok((state.version(device), state.smk))
    }

    /// How many cloning domains the partition has (the first is primary).
    pub fn luna_domain_count(&self, slot_id: CK_SLOT_ID) -> Result<usize> {
        let (slot, _) = self.luna_slot(slot_id)?;
        Ok(luna_state(&slot.token.read()).domains().count())
    }

    /// Whether the partitions of two slots may clone to each other as far as their cloning
    /// domains go (`luna::check_shared_domain`): `CKR_CERTIFICATE_INVALID` when not.
    pub fn luna_check_shared_domain(&self, a: CK_SLOT_ID, b: CK_SLOT_ID) -> Result<()> {
        let (slot_a, device_a) = self.luna_slot(a)?;
        let (slot_b, device_b) = self.luna_slot(b)?;
        let state_a = luna_state(&slot_a.token.read());
        let state_b = luna_state(&slot_b.token.read());
        luna::check_shared_domain((&state_a, device_a.firmware), (&state_b, device_b.firmware))
    }

    /// `CA_GetHSMPolicySetting` / `CA_GetHSMCapabilitySetting` (one value per id here:
    /// simulator-defined). `CKR_POLICY_ID_INVALID` for ids the model lacks.
    pub fn luna_hsm_policy(&self, slot_id: CK_SLOT_ID, id: u64) -> Result<u64> {
        let (_, device) = self.luna_slot(slot_id)?;
        luna::hsm_policy_for(device.firmware, id)?;
        Ok(device.hsm_policy(id))
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

    /// `CA_GetConfigurationElementDescription`.
    pub fn luna_element_description(
        &self,
        slot_id: CK_SLOT_ID,
        container: bool,
        capability: bool,
        id: u64,
    ) -> Result<ElementDescription> {
        let (slot, device) = self.luna_slot(slot_id)?;
        let element: &Element = if container {
            luna::partition_policy(id)
        } else {
            luna::hsm_policy_for(device.firmware, id).ok()
        }
        .filter(|e| device.firmware.era() >= e.since)
        .ok_or_else(|| {
            err(
                luna::CKR_POLICY_ID_INVALID,
                format!(
                    "there is no {} element {id}",
                    if container { "partition" } else { "HSM" }
                ),
            )
        })?;
        let (off_to_on, on_to_off) = if container {
            luna_state(&slot.token.read()).destructiveness(element)
        } else {
            (element.off_to_on_destructive, element.on_to_off_destructive)
        };
        let description = if capability {
            element.description.replacen("Allow", "Enable", 1)
        } else {
            element.description.to_string()
        };
        Ok(ElementDescription {
            bit_length: (u64::BITS - element.max.leading_zeros()) as CK_ULONG,
            destructive: off_to_on || on_to_off,
            write_restricted: false,
            description,
        })
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
