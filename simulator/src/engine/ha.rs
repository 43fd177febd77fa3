//! HA virtual slots: a Luna HA group shown as one "HA Virtual Card Slot" after a host's
//! physical slots (`lab::definition::SlotBacking::HaGroup`). What is modelled, and what is
//! simulator-defined:
//! - the slot is served by the primary member (`SlotBacking::partition`, the first member in
//!   lab order): its token record and object table are the primary's, so every read and
//!   operation works as on the primary's physical slot; its token label is the group's label
//!   and its serial "1" + the primary's serial (cut to the 16 characters of
//!   `CK_TOKEN_INFO.serialNumber`) unless the lab gives one;
//! - a login (the Crypto Officer or another non-SO role) checks the same PIN on every member,
//!   in member order, each through the member's own physical slot (its failure counter, lockout
//!   and PED prompt), and opens every member's token key; a member that refuses answers the
//!   login naming the member, and the HA slot stays logged out (members checked before it
//!   counted a good login, as a real member would);
//! - every token-object write (create, generate, copy, unwrap, derive, set attribute, destroy)
//!   is applied to every member in one store transaction: each member's copy has its own
//!   `CKA_UNIQUE_ID`, the same `CKA_OUID` (how members identify an object), and its secrets
//!   sealed under that member's token key and bound to that member; destroy and set attribute
//!   find a member's copy by `CKA_OUID` (a member without the copy is left as it is);
//! - PIN changes, `C_InitToken`, `C_InitPIN`, SO logins and the `CA_*` calls that change a
//!   partition answer `CKR_FUNCTION_NOT_SUPPORTED`: those are done on a member's physical slot.
//!
//! Failover, synchronisation of members that missed writes, adding or removing members and
//! HA-only mode are not modelled (the primary is chosen in one place, `SlotBacking::partition`).
use super::{Engine, Slot};
use crate::base::attribute::Attributes;
use crate::base::error::{Error, Result, err};
use crate::base::ids::{HaGroupId, PartitionId};
use crate::base::secrets::seal::TokenKey;
use crate::lab::definition::SlotBacking;
use crate::object::Object;
use crate::store::records::{Incarnation, TokenRecord};
use crate::store::{StoredObject, seal_object};
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::sync::Arc;

/// An HA virtual slot's group: its label, members, serial, and the members' token keys once a
/// login in this process opened them.
pub(super) struct HaSlot {
    pub(super) group: HaGroupId,
    pub(super) members: Vec<PartitionId>,
    pub(super) serial: String,
    /// Each member's token key with the incarnation of the token it opened, in member order
    /// (empty until an HA login).
    keys: RwLock<Vec<(Arc<TokenKey>, Incarnation)>>,
}

impl HaSlot {
    /// The group state of a slot backed by an HA group (`primary`: the primary member's token).
    pub(super) fn of(backing: &SlotBacking, primary: &TokenRecord) -> Option<HaSlot> {
        let SlotBacking::HaGroup {
            group,
            members,
            serial,
        } = backing
        else {
            return None;
        };
        Some(HaSlot {
            group: group.clone(),
            members: members.clone(),
            serial: serial
                .clone()
                .unwrap_or_else(|| group_serial(&primary.serial)),
            keys: RwLock::new(Vec::new()),
        })
    }

    /// A non-primary member's token key from the HA login, if any.
    fn member_key(&self, index: usize) -> Option<(Arc<TokenKey>, Incarnation)> {
        self.keys.read().get(index).cloned()
    }
}

/// An HA group's serial from its first member's: "1" + the member's serial (Luna), cut to the
/// 16 characters `CK_TOKEN_INFO.serialNumber` holds (simulator-defined).
pub fn group_serial(first_member: &str) -> String {
    let mut serial = format!("1{first_member}");
    serial.truncate(16);
    serial
}

/// An error of one member, naming it.
fn of_member(member: &PartitionId, e: Error) -> Error {
    err(e.rv, format!("HA member {member}: {}", e.detail))
}

impl Slot {
    /// Drops the members' token keys an HA login opened (the slot's token was replaced).
    pub(super) fn forget_member_keys(&self) {
        if let Some(ha) = &self.ha {
            ha.keys.write().clear();
        }
    }

    /// `CKR_FUNCTION_NOT_SUPPORTED` on an HA virtual slot for what is done on a member's
    /// physical slot (`what`: "PIN changes", ...; simulator-defined).
    pub(super) fn refuse_on_ha(&self, what: &str) -> Result<()> {
        match &self.ha {
            None => Ok(()),
            Some(ha) => Err(err(
                CKR_FUNCTION_NOT_SUPPORTED,
                format!(
                    "slot {} is the virtual slot of HA group \"{}\": {what} on each member's \
                     physical slot ({}) (simulator-defined)",
                    self.id,
                    ha.group,
                    ha.members
                        .iter()
                        .map(PartitionId::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

impl Engine {
    /// This process's physical slot showing `partition` (validation sees that a host with an
    /// HA group shows every member).
    fn member_slot(&self, partition: &PartitionId) -> Result<&Arc<Slot>> {
        self.slots
            .values()
            .find(|s| s.ha.is_none() && s.partition == *partition)
            .ok_or_else(|| {
                err(
                    CKR_DEVICE_ERROR,
                    format!("HA member {partition} has no physical slot on this host"),
                )
            })
    }

    /// The slot whose credentials a login on `slot` checks: its own, or for an HA slot the
    /// primary member's physical slot.
    pub(super) fn credential_slot<'s>(&'s self, slot: &'s Slot) -> Result<&'s Slot> {
        match &slot.ha {
            Some(_) => Ok(self.member_slot(&slot.partition)?),
            None => Ok(slot),
        }
    }

    /// `C_Login` on an HA slot: the same credential opens every member's token key (each
    /// checked through the member's physical slot); the first member that refuses ends the
    /// login with its answer, naming it. The SO logs in on a member's physical slot only.
    pub(super) fn ha_login(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let Some(ha) = &slot.ha else {
            return Err(err(CKR_GENERAL_ERROR, "not an HA slot"));
        };
        if user == CKU_SO {
            slot.refuse_on_ha("the SO logs in")?;
        }
        let mut keys = Vec::with_capacity(ha.members.len());
        for member in &ha.members {
            let member_slot = self.member_slot(member)?;
            let (key, seen) = self
                .authenticate(member_slot, user, pin)
                .map_err(|e| of_member(member, e))?;
            keys.push((Arc::new(key), seen));
        }
        let (primary_key, primary_seen) = keys[0].clone();
        if slot.incarnation() != primary_seen {
            // The primary's physical slot saw a newer token than this slot holds.
            self.refresh_token(slot, false)?;
        }
        slot.log_in(user, primary_key, primary_seen)?;
        *ha.keys.write() = keys;
        Ok(())
    }

    /// Each non-primary member's copies of new token objects made on an HA slot (`objects`:
    /// the primary's attributes, with their unique ids): a unique id of its own, the same
    /// `CKA_OUID`, secrets sealed under the member's key for the member; with the incarnation
    /// of the member's token they are for. Checks each member's capacity.
    pub(super) fn ha_new_copies(
        &self,
        slot: &Slot,
        objects: &[Attributes],
    ) -> Result<Vec<(PartitionId, Incarnation, Vec<StoredObject>)>> {
        let Some(ha) = &slot.ha else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (index, member) in ha.members.iter().enumerate().skip(1) {
            let member_slot = self.member_slot(member)?;
            let (key, seen) = match ha.member_key(index) {
                Some((key, seen)) => (Some(key), seen),
                None => (None, member_slot.incarnation()),
            };
            let mut copies = Vec::with_capacity(objects.len());
            let mut adding = 0;
            for attrs in objects {
                let mut copy = attrs.clone();
                let uid = super::objects::new_unique_id()?;
                copy.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
                let (public, sealed) =
                    seal_object(member, &copy, key.as_deref()).map_err(|e| of_member(member, e))?;
                adding += Object::new(0, member_slot.id, crate::object::Lifetime::Token, copy)
                    .storage_size();
                copies.push(StoredObject {
                    unique_id: uid.into_bytes(),
                    public,
                    sealed,
                });
            }
            if let Some(capacity) = member_slot.capacity {
                let used = self.table(member_slot)?.token_bytes();
                member_slot
                    .model
                    .check_capacity(used, adding, capacity)
                    .map_err(|e| of_member(member, e))?;
            }
            out.push((member.clone(), seen, copies));
        }
        Ok(out)
    }

    /// The non-primary members' copies of a token object of an HA slot, found by `CKA_OUID`
    /// in each member's physical slot: (member, copy's unique id). A member without a copy
    /// is left out.
    pub(super) fn ha_copies(
        &self,
        slot: &Slot,
        object: &Object,
    ) -> Result<Vec<(PartitionId, Vec<u8>)>> {
        let Some(ha) = &slot.ha else {
            return Ok(Vec::new());
        };
        let Some(ouid) = slot
            .model
            .shared_identity(&object.attrs)
            .filter(|_| object.is_token())
        else {
            return Ok(Vec::new());
        };
        let mut template = Attributes::new();
        template.set_ulong(CKA_CLASS, object.class());
        let mut out = Vec::new();
        for member in ha.members.iter().skip(1) {
            let member_slot = self.member_slot(member)?;
            let copy = self
                .table(member_slot)?
                .candidates(&template)
                .into_iter()
                .find(|o| {
                    o.is_token() && member_slot.model.shared_identity(&o.attrs) == Some(ouid)
                });
            if let Some(copy) = copy {
                out.push((member.clone(), copy.unique_id().to_vec()));
            }
        }
        Ok(out)
    }

    /// After this process wrote token objects (`changed`: partition and unique id), the other
    /// slots of this process holding those partitions re-read them (an HA slot and its
    /// members' physical slots; other processes see them through the change log).
    pub(super) fn share_object_changes(&self, writer: &Slot, changed: &[(PartitionId, Vec<u8>)]) {
        for other in self.slots.values().filter(|s| s.id != writer.id) {
            for (partition, uid) in changed.iter().filter(|(p, _)| *p == other.partition) {
                if let Err(e) = self.refresh_object(other, uid) {
                    tracing::warn!(target: "hsmsim::engine", "slot {}: re-reading object {} of {partition}: {}", other.id, String::from_utf8_lossy(uid), e.detail);
                }
            }
        }
    }
}
