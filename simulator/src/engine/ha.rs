//! HA virtual slots: a Luna HA group shown as one "HA Virtual Card Slot" after a host's
//! physical slots (`lab::definition::SlotBacking::HaGroup`; the groups in force are the
//! estate's, `estate::ha_groups`). What is modelled, and what is simulator-defined:
//! - the slot's object table and token record are those of its serving member: the first
//!   active member (group order) whose device is up, else the first live standby member; the
//!   table gives the handles, what a find matches and where writes start. Its token label is
//!   the group's label and its serial "1" + the first member's serial (cut to the 16
//!   characters of `CK_TOKEN_INFO.serialNumber`) unless the group gives one;
//! - sessions are spread over the members (issue 13; the reference notes do not document
//!   Luna's load-balancing scheme, so the order is simulator-defined): each new session is
//!   given the next member in turn among the live active
//!   members (the standby members only when no active member is up) that are in sync and,
//!   while the slot is logged in, opened by this process's login. A member that missed writes
//!   (or joined) since the last `hagroup synchronize` gets no new sessions until then
//!   (simulator-defined: `estate::ha_groups::unsynchronised`). A session works on a view of
//!   the slot (`Slot::session_view`, all state shared) that names its member: what it reads of
//!   a token object (`C_GetAttributeValue`: the member's `CKA_UNIQUE_ID`, for one) and the key
//!   its operations use are the member's copy, found in the member's physical slot by
//!   `CKA_OUID` under the same handle and opened with the member's key (kept per member and
//!   handle, so the hot path pays one cache look-up); a find by the `CKA_UNIQUE_ID` it read
//!   finds the object. An object the member lacks is used as the table holds it; session
//!   objects are shared by every session, as PKCS#11 wants;
//! - failover (`hsmsim lab fail DEVICE`, seen through the change log on the next call): when
//!   the serving member goes down, the next live one serves the slot; sessions and the login
//!   stay, object handles stay (each object keeps its handle by `CKA_OUID`), an operation
//!   under way keeps its key, so signing goes on. The sessions of a member that goes down
//!   move to another member (given as to a new session); the others keep theirs. A member
//!   that comes back takes no sessions back and does not take over the table from a live
//!   active one (it may have missed writes; simulator-defined). With every
//!   member down the slot shows no token (`CKR_TOKEN_NOT_PRESENT`) and its sessions answer
//!   `CKR_DEVICE_REMOVED`;
//! - a login (the Crypto Officer or another non-SO role) checks the same PIN on every live
//!   member, in member order, each through the member's own physical slot (its failure
//!   counter, lockout and PED prompt), and opens every member's token key; a member that
//!   refuses answers the login naming the member, and the HA slot stays logged out. A member
//!   that comes back (auto-recovery) is logged in again with the same credential, kept in
//!   this process's memory while the HA slot is logged in;
//! - every token-object write (create, generate, copy, unwrap, derive, set attribute, destroy)
//!   is applied to every live member in one store transaction: each member's copy has its own
//!   `CKA_UNIQUE_ID`, the same `CKA_OUID` (how members identify an object), and its secrets
//!   sealed under that member's token key and bound to that member; destroy and set attribute
//!   find a member's copy by `CKA_OUID` (a member without the copy is left as it is). A member
//!   that is down (or not logged in by this process) misses the write: the group is marked
//!   "needs sync" (`estate::ha_groups::mark_missed`) until `hagroup synchronize`;
//! - PIN changes, `C_InitToken`, `C_InitPIN`, SO logins and the `CA_*` calls that change a
//!   partition answer `CKR_FUNCTION_NOT_SUPPORTED`: those are done on a member's physical slot.
use super::{Engine, Slot};
use crate::base::attribute::Attributes;
use crate::base::error::{Error, Result, err};
use crate::base::ids::{DeviceId, HaGroupId, PartitionId};
use crate::base::secrets::seal::TokenKey;
use crate::lab::definition::SlotBacking;
use crate::object::Object;
use crate::store::records::{Incarnation, TokenRecord};
use crate::store::{StoredObject, seal_object};
use cryptoki_sys::*;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zeroize::Zeroizing;

/// A member's token key with the incarnation of the token it opened.
type MemberKey = (Arc<TokenKey>, Incarnation);

/// An HA virtual slot's group: its label, members, serial, and the members' token keys once a
/// login in this process opened them.
pub(super) struct HaSlot {
    pub(super) group: HaGroupId,
    pub(super) members: Vec<PartitionId>,
    /// The standby members (served only when no active member is up).
    standby: Vec<PartitionId>,
    pub(super) serial: String,
    /// Each member's token key, in member order (`None`: not opened: before an HA login, or
    /// the member was down at the login).
    keys: RwLock<Vec<Option<MemberKey>>>,
    /// The credential of the HA login, to log recovered members in again.
    credential: Mutex<Option<(CK_USER_TYPE, Zeroizing<Vec<u8>>)>>,
    /// Round-robin counter of the members given to new sessions.
    next_member: AtomicUsize,
    /// Per member: the member's copies of the slot's objects as its sessions use them, by
    /// handle (opened once the member's key opened them).
    copies: Vec<RwLock<HashMap<CK_OBJECT_HANDLE, MemberCopy>>>,
}

/// A member's copy of an object of the slot's table (`directory`: the table's object it was
/// found for; a changed object is a new `Arc`, so a stale copy is never used).
struct MemberCopy {
    directory: Arc<Object>,
    copy: Arc<Object>,
}

impl HaSlot {
    /// The group state of a slot backed by an HA group (`primary`: the primary member's token).
    pub(super) fn of(
        backing: &SlotBacking,
        standby: &[PartitionId],
        model: &crate::models::TokenModel,
        primary: &TokenRecord,
    ) -> Option<HaSlot> {
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
            standby: standby.to_vec(),
            serial: serial
                .clone()
                .unwrap_or_else(|| model.ha_group_serial(&primary.serial)),
            keys: RwLock::new(Vec::new()),
            credential: Mutex::new(None),
            next_member: AtomicUsize::new(0),
            copies: members.iter().map(|_| RwLock::default()).collect(),
        })
    }

    /// The cached copy of member `index` for `object` (the table's object or the copy itself).
    fn cached_copy(&self, index: usize, object: &Arc<Object>) -> Option<Arc<Object>> {
        let copies = self.copies.get(index)?.read();
        let known = copies.get(&object.handle)?;
        (Arc::ptr_eq(&known.directory, object) || Arc::ptr_eq(&known.copy, object))
            .then(|| known.copy.clone())
    }

    /// Forgets every member's copies (the slot's table was replaced).
    fn forget_copies(&self) {
        for copies in &self.copies {
            copies.write().clear();
        }
    }

    /// A member's token key from the HA login, if any.
    fn member_key(&self, index: usize) -> Option<MemberKey> {
        self.keys.read().get(index).cloned().flatten()
    }
}

/// An HA group's state as `CA_GetHAState` reports it.
#[derive(Debug, Clone)]
pub struct HaState {
    pub group_serial: String,
    /// Each member's partition serial and whether its device is up, in member order.
    pub members: Vec<(String, bool)>,
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
            *ha.credential.lock() = None;
            ha.forget_copies();
        }
    }

    /// A session's view of this HA slot served by member `member`: every state shared with
    /// the slot (token, table, login, key, health), only the member whose copies its reads
    /// and operations use differs.
    fn session_view(&self, member: usize) -> Slot {
        Slot {
            id: self.id,
            servers: self.servers.clone(),
            serving: self.serving.clone(),
            hidden: self.hidden,
            down: self.down.clone(),
            backing: self.backing.clone(),
            ha: self.ha.clone(),
            ha_member: Some(member),
            description: self.description.clone(),
            model: self.model.clone(),
            ped_keys: self.ped_keys.clone(),
            capacity: self.capacity,
            admin: self.admin,
            token: self.token.clone(),
            present: self.present.clone(),
            backup_hsm: self.backup_hsm.clone(),
            objects: self.objects.clone(),
            key: self.key.clone(),
            login: self.login.clone(),
        }
    }

    /// A session view's member when it is not the one the slot's table holds: (group,
    /// member index).
    fn other_member(&self) -> Option<(&HaSlot, usize)> {
        let member = self.ha_member?;
        let ha = self.ha.as_deref()?;
        (member != self.serving.load(Ordering::Acquire)).then_some((ha, member))
    }
}

/// The next of `members` in turn (`HaSlot::next_member`); with none, the member the slot's
/// table holds.
fn next_in_turn(slot: &Slot, ha: &HaSlot, members: &[usize]) -> usize {
    if members.is_empty() {
        return slot.serving.load(Ordering::Acquire);
    }
    let turn = ha.next_member.fetch_add(1, Ordering::Relaxed);
    members[turn % members.len()]
}

/// Each HA virtual slot's session views, one per member, in member order.
pub(super) fn session_views(
    slots: &std::collections::BTreeMap<CK_SLOT_ID, Arc<Slot>>,
) -> std::collections::BTreeMap<CK_SLOT_ID, Vec<Arc<Slot>>> {
    slots
        .values()
        .filter_map(|slot| {
            let ha = slot.ha.as_ref()?;
            let views = (0..ha.members.len())
                .map(|member| Arc::new(slot.session_view(member)))
                .collect();
            Some((slot.id, views))
        })
        .collect()
}

impl Slot {
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
            .find(|s| s.ha.is_none() && s.partition() == partition)
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
            Some(_) => Ok(self.member_slot(slot.partition())?),
            None => Ok(slot),
        }
    }

    /// `C_Login` on an HA slot: the same credential opens every live member's token key
    /// (each checked through the member's physical slot); the first member that refuses ends
    /// the login with its answer, naming it. The SO logs in on a member's physical slot only.
    pub(super) fn ha_login(&self, slot: &Slot, user: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let Some(ha) = &slot.ha else {
            return Err(err(CKR_GENERAL_ERROR, "not an HA slot"));
        };
        if user == CKU_SO {
            slot.refuse_on_ha("the SO logs in")?;
        }
        let mut keys = Vec::with_capacity(ha.members.len());
        for member in &ha.members {
            if self.is_down(member) {
                keys.push(None);
                continue;
            }
            let member_slot = self.member_slot(member)?;
            let (key, seen) = self
                .authenticate(member_slot, user, pin)
                .map_err(|e| of_member(member, e))?;
            keys.push(Some((Arc::new(key), seen)));
        }
        let serving = slot.serving.load(Ordering::Acquire);
        let Some((serving_key, serving_seen)) = keys.get(serving).cloned().flatten() else {
            return Err(err(
                CKR_DEVICE_REMOVED,
                format!("HA group \"{}\": no member is up", ha.group),
            ));
        };
        if slot.incarnation() != serving_seen {
            // The serving member's physical slot saw a newer token than this slot holds.
            self.refresh_token(slot, false)?;
        }
        slot.log_in(user, serving_key, serving_seen)?;
        *ha.keys.write() = keys;
        *ha.credential.lock() = Some((user, Zeroizing::new(pin.to_vec())));
        Ok(())
    }

    /// Whether the device of `partition` is down, as this process last read it.
    fn is_down(&self, partition: &PartitionId) -> bool {
        self.health.lock().contains(partition.device())
    }

    /// The members a write on an HA slot reaches besides the serving one: (index, member,
    /// its key); the others (down, or not opened by this process's login while the slot is
    /// logged in) miss it and are recorded (`estate::ha_groups::mark_missed`).
    fn write_members<'s>(
        &self,
        slot: &'s Slot,
    ) -> Result<Vec<(usize, &'s PartitionId, Option<MemberKey>)>> {
        let Some(ha) = &slot.ha else {
            return Ok(Vec::new());
        };
        let serving = slot.serving.load(Ordering::Acquire);
        let logged_in = slot.logged_in().is_some();
        let mut reached = Vec::new();
        let mut missed = Vec::new();
        for (index, member) in ha.members.iter().enumerate() {
            if index == serving {
                continue;
            }
            let key = ha.member_key(index);
            if self.is_down(member) || (logged_in && key.is_none()) {
                missed.push(member.clone());
            } else {
                reached.push((index, member, key));
            }
        }
        if !missed.is_empty() {
            crate::estate::ha_groups::mark_missed(&self.store, &ha.group, &missed)?;
        }
        Ok(reached)
    }

    /// Each other live member's copies of new token objects made on an HA slot (`objects`:
    /// the serving member's attributes, with their unique ids): a unique id of its own, the
    /// same `CKA_OUID`, secrets sealed under the member's key for the member; with the
    /// incarnation of the member's token they are for. Checks each member's capacity.
    pub(super) fn ha_new_copies(
        &self,
        slot: &Slot,
        objects: &[Attributes],
    ) -> Result<Vec<(PartitionId, Incarnation, Vec<StoredObject>)>> {
        if slot.ha.is_none() || objects.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (_, member, key) in self.write_members(slot)? {
            let member_slot = self.member_slot(member)?;
            let (key, seen) = match key {
                Some((key, seen)) => (Some(key), seen),
                None => (None, member_slot.incarnation()),
            };
            let mut copies = Vec::with_capacity(objects.len());
            let mut adding = 0;
            for attrs in objects {
                let mut copy = attrs.clone();
                let uid = crate::base::random::new_unique_id()?;
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

    /// The other live members' copies of a token object of an HA slot, found by `CKA_OUID` in
    /// each member's physical slot: (member, copy's unique id). A member without a copy is
    /// left out.
    pub(super) fn ha_copies(
        &self,
        slot: &Slot,
        object: &Object,
    ) -> Result<Vec<(PartitionId, Vec<u8>)>> {
        if slot.ha.is_none() {
            return Ok(Vec::new());
        }
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
        for (_, member, _) in self.write_members(slot)? {
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

    /// Reads which devices of this process's slots are down (at `C_Initialize`, and when the
    /// change log was pruned before this process read it) and applies it.
    pub(super) fn read_health(&self) -> Result<()> {
        let devices: BTreeSet<DeviceId> = self
            .slots
            .values()
            .flat_map(|s| s.servers.iter().map(|p| p.device().clone()))
            .collect();
        let devices: Vec<DeviceId> = devices.into_iter().collect();
        let down = crate::estate::ha_groups::down_devices(&self.store, &devices)?;
        self.apply_health(down)
    }

    /// Another process failed or recovered `device` (a device change in the change log).
    pub(super) fn device_health_changed(&self, device: &DeviceId) -> Result<()> {
        let down = crate::estate::ha_groups::device_down(&self.store, device)?;
        let mut now = self.health.lock().clone();
        if down {
            now.insert(device.clone());
        } else {
            now.remove(device);
        }
        self.apply_health(now)
    }

    /// Makes `down` the devices that are down: a physical slot on one shows no token (its
    /// sessions answer `CKR_DEVICE_REMOVED`; when the device comes back they are gone, as
    /// after a power cycle); each HA slot is served by its first live member.
    fn apply_health(&self, down: BTreeSet<DeviceId>) -> Result<()> {
        let any = !down.is_empty();
        *self.health.lock() = down;
        self.any_down.store(any, Ordering::Release);
        for slot in self.slots.values().filter(|s| s.ha.is_none()) {
            let now = self.is_down(slot.partition());
            let was = slot.down.swap(now, Ordering::AcqRel);
            if was != now {
                if was {
                    self.close_slot_sessions(slot.id);
                    slot.set_login(None);
                }
                let mut events = self.events.lock();
                if !events.contains(&slot.id) {
                    events.push_back(slot.id);
                }
            }
        }
        for slot in self.slots.values().filter(|s| s.ha.is_some()) {
            self.serve_live_member(slot)?;
            self.move_sessions_off_down_members(slot)?;
        }
        Ok(())
    }

    /// An HA slot after a health change: served by the member serving it while that one is
    /// up (and active), else by its first live active member, else its first live standby
    /// member; members that came back are logged in again with the HA login's credential.
    fn serve_live_member(&self, slot: &Slot) -> Result<()> {
        let Some(ha) = &slot.ha else {
            return Ok(());
        };
        if slot.logged_in().is_some() {
            self.log_in_recovered(slot, ha);
        }
        let live = |i: &usize| !self.is_down(&ha.members[*i]);
        let is_standby = |i: &usize| ha.standby.contains(&ha.members[*i]);
        let active = (0..ha.members.len()).filter(|i| !is_standby(i));
        let standby = (0..ha.members.len()).filter(is_standby);
        let current = slot.serving.load(Ordering::Acquire);
        // A live active member keeps serving (a member that comes back may have missed
        // writes: it rejoins, the group needs sync, and it does not take over).
        let keep = live(&current) && !is_standby(&current);
        let Some(index) =
            (if keep { Some(current) } else { None }).or_else(|| active.chain(standby).find(live))
        else {
            slot.down.store(true, Ordering::Release);
            return Ok(());
        };
        slot.down.store(false, Ordering::Release);
        if index != slot.serving.load(Ordering::Acquire) {
            self.serve_from(slot, ha, index)?;
        }
        Ok(())
    }

    /// Opens the keys of live members the HA login did not reach (they were down), with its
    /// credential. A member that refuses stays without a key (writes miss it).
    fn log_in_recovered(&self, slot: &Slot, ha: &HaSlot) {
        let Some((user, pin)) = ha.credential.lock().clone() else {
            return;
        };
        for (index, member) in ha.members.iter().enumerate() {
            if self.is_down(member) || ha.member_key(index).is_some() {
                continue;
            }
            let Ok(member_slot) = self.member_slot(member) else {
                continue;
            };
            match self.authenticate(member_slot, user, &pin) {
                Ok((key, seen)) => {
                    let mut keys = ha.keys.write();
                    if keys.len() == ha.members.len() {
                        keys[index] = Some((Arc::new(key), seen));
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "hsmsim::engine", "slot {}: HA member {member} refused the login after recovery: {}", slot.id, e.detail);
                }
            }
        }
    }

    /// Failover: the HA slot is served by member `index` from now on. Its token record and
    /// objects become the member's; every object keeps its handle by `CKA_OUID`, session
    /// objects stay; the login stays with the member's key (a member the login could not
    /// open logs the slot out).
    fn serve_from(&self, slot: &Slot, ha: &HaSlot, index: usize) -> Result<()> {
        let member = &ha.members[index];
        let row = self.store.token(member)?;
        let mut table = slot.objects.write();
        if table.loaded {
            let stored = self.store.objects(member)?;
            let by_ouid: HashMap<Vec<u8>, CK_OBJECT_HANDLE> = table
                .values()
                .filter(|o| o.is_token())
                .filter_map(|o| {
                    slot.model
                        .shared_identity(&o.attrs)
                        .map(|id| (id.to_vec(), o.handle))
                })
                .collect();
            let sessions: Vec<Arc<Object>> =
                table.values().filter(|o| !o.is_token()).cloned().collect();
            table.clear();
            for o in stored {
                let handle = slot
                    .model
                    .shared_identity(&o.public)
                    .and_then(|id| by_ouid.get(id).copied())
                    .unwrap_or_else(|| self.new_object_handle());
                table.insert(Arc::new(Object::stored(
                    handle, slot.id, o.public, o.sealed,
                )));
            }
            for o in sessions {
                table.insert(o);
            }
            table.loaded = true;
        }
        drop(table);
        if let Some(row) = row {
            *slot.token.write() = row.record;
            slot.present.store(row.present, Ordering::Release);
        }
        slot.serving.store(index, Ordering::Release);
        ha.forget_copies();
        let key = ha.member_key(index).map(|(key, _)| key);
        if key.is_none() {
            slot.set_login(None);
        }
        *slot.key.write() = key;
        tracing::debug!(target: "hsmsim::engine", "slot {}: HA group {} served by {member}", slot.id, ha.group);
        Ok(())
    }

    /// `CA_GetHAState`: an HA virtual slot's group serial and each member's partition serial
    /// with whether its device is up, in member order. Another slot is `CKR_SLOT_ID_INVALID`
    /// (simulator-defined: the SDK documents no code for a slot that is not an HA slot).
    pub fn ha_state(&self, slot_id: CK_SLOT_ID) -> Result<HaState> {
        let slot = self.current_slot(slot_id)?;
        let Some(ha) = &slot.ha else {
            return Err(err(
                CKR_SLOT_ID_INVALID,
                format!("slot {slot_id} is not an HA virtual slot"),
            ));
        };
        let members = ha
            .members
            .iter()
            .map(|member| {
                let serial = self
                    .member_slot(member)
                    .map(|s| s.token.read().serial.clone())
                    .unwrap_or_default();
                (serial, !self.is_down(member))
            })
            .collect();
        Ok(HaState {
            group_serial: ha.serial.clone(),
            members,
        })
    }

    /// `CKR_DEVICE_REMOVED` for a call on a session whose slot's device is down (an HA slot:
    /// every member). A session another thread is using is not held up.
    pub(super) fn check_session_device(
        &self,
        session: &Arc<parking_lot::Mutex<super::Session>>,
    ) -> Result<()> {
        let Some(slot_id) = session.try_lock().map(|s| s.slot_id) else {
            return Ok(());
        };
        match self.slots.get(&slot_id) {
            Some(slot) if slot.down.load(Ordering::Acquire) => Err(err(
                CKR_DEVICE_REMOVED,
                format!(
                    "slot {slot_id}: the device of {} is down (hsmsim lab fail)",
                    slot.partition()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// After this process wrote token objects (`changed`: partition and unique id), the other
    /// slots of this process holding those partitions re-read them (an HA slot and its
    /// members' physical slots; other processes see them through the change log).
    pub(super) fn share_object_changes(&self, writer: &Slot, changed: &[(PartitionId, Vec<u8>)]) {
        for other in self.slots.values().filter(|s| s.id != writer.id) {
            for (partition, uid) in changed.iter().filter(|(p, _)| p == other.partition()) {
                if let Err(e) = self.refresh_object(other, uid) {
                    tracing::warn!(target: "hsmsim::engine", "slot {}: re-reading object {} of {partition}: {}", other.id, String::from_utf8_lossy(uid), e.detail);
                }
            }
        }
    }
}

/// Sessions spread over the members.
impl Engine {
    /// The slot a session works on: its slot, or on an HA virtual slot the view of its member.
    pub(super) fn session_slot(&self, slot_id: CK_SLOT_ID, member: usize) -> Result<&Arc<Slot>> {
        if member != super::session::NO_HA_MEMBER
            && let Some(view) = self.ha_views.get(&slot_id).and_then(|v| v.get(member))
        {
            return Ok(view);
        }
        self.slot(slot_id)
    }

    /// The members that may take sessions, in member order: live, in sync (no missed write
    /// since the last synchronisation: `estate::ha_groups::unsynchronised`), and, while the
    /// slot is logged in, opened by this process's login; the active ones, else the standby
    /// ones.
    fn session_members(&self, slot: &Slot, ha: &HaSlot) -> Result<Vec<usize>> {
        let unsynced = crate::estate::ha_groups::unsynchronised(&self.store, &ha.group)?;
        let logged_in = slot.logged_in().is_some();
        let may_serve = |i: &usize| {
            let member = &ha.members[*i];
            !self.is_down(member)
                && !unsynced.contains(member)
                && (!logged_in || ha.member_key(*i).is_some())
        };
        let is_standby = |i: &usize| ha.standby.contains(&ha.members[*i]);
        let active: Vec<usize> = (0..ha.members.len())
            .filter(|i| !is_standby(i) && may_serve(i))
            .collect();
        if !active.is_empty() {
            return Ok(active);
        }
        Ok((0..ha.members.len())
            .filter(|i| is_standby(i) && may_serve(i))
            .collect())
    }

    /// The member a new session on an HA slot is given: the next of `session_members` in
    /// turn; with none, the member the slot's table holds.
    pub(super) fn assign_ha_member(&self, slot: &Slot) -> Result<usize> {
        let Some(ha) = &slot.ha else {
            return Ok(super::session::NO_HA_MEMBER);
        };
        let members = self.session_members(slot, ha)?;
        Ok(next_in_turn(slot, ha, &members))
    }

    /// After a health change: each session of an HA slot whose member is down moves to
    /// another member (`assign_ha_member`); the other sessions keep theirs (a member that
    /// comes back gets new sessions only).
    fn move_sessions_off_down_members(&self, slot: &Slot) -> Result<()> {
        let Some(ha) = &slot.ha else {
            return Ok(());
        };
        let on_down_member = |index: usize| ha.members.get(index).is_some_and(|m| self.is_down(m));
        let moving: Vec<_> = self
            .sessions
            .ha_members_on(slot.id)
            .into_iter()
            .filter(|member| on_down_member(member.load(Ordering::Acquire)))
            .collect();
        if moving.is_empty() {
            return Ok(());
        }
        let candidates = self.session_members(slot, ha)?;
        for member in moving {
            let index = member.load(Ordering::Acquire);
            let next = next_in_turn(slot, ha, &candidates);
            member.store(next, Ordering::Release);
            tracing::debug!(target: "hsmsim::engine", "slot {}: a session of HA member {} moved to {}", slot.id, ha.members[index], ha.members[next]);
        }
        Ok(())
    }

    /// The member's copy of `object` for a session view whose member is not the one the
    /// table holds: found in the member's physical slot by `CKA_OUID`, under the object's
    /// handle. `None` for the slot itself, session objects, and an object the member lacks
    /// (then the table's object serves).
    fn member_copy(&self, slot: &Slot, object: &Arc<Object>) -> Result<Option<Arc<Object>>> {
        let Some((ha, index)) = slot.other_member() else {
            return Ok(None);
        };
        if !object.is_token() {
            return Ok(None);
        }
        if let Some(copy) = ha.cached_copy(index, object) {
            return Ok(Some(copy));
        }
        let Some(ouid) = slot.model.shared_identity(&object.attrs) else {
            return Ok(None);
        };
        let member_slot = self.member_slot(&ha.members[index])?;
        let mut template = Attributes::new();
        template.set_ulong(CKA_CLASS, object.class());
        if let Some(label) = object.attrs.bytes(CKA_LABEL) {
            template.set_bytes(CKA_LABEL, label.to_vec());
        }
        let found = self
            .table(member_slot)?
            .candidates(&template)
            .into_iter()
            .find(|o| o.is_token() && member_slot.model.shared_identity(&o.attrs) == Some(ouid));
        let Some(found) = found else {
            return Ok(None);
        };
        let mut copy = found.with_attrs(found.attrs.clone());
        copy.handle = object.handle;
        copy.slot_id = slot.id;
        let copy = Arc::new(copy);
        ha.copies[index].write().insert(
            object.handle,
            MemberCopy {
                directory: object.clone(),
                copy: copy.clone(),
            },
        );
        Ok(Some(copy))
    }

    /// A find template of a session view whose member is not the one the table holds: the
    /// `CKA_UNIQUE_ID` of its member's copy (what the session reads) stands for the table's
    /// object with the same `CKA_OUID`. Any other template is used as given.
    pub(super) fn ha_find_template<'t>(
        &self,
        slot: &Slot,
        template: &'t Attributes,
    ) -> Result<std::borrow::Cow<'t, Attributes>> {
        use std::borrow::Cow;
        let (Some((ha, index)), Some(uid)) = (slot.other_member(), template.bytes(CKA_UNIQUE_ID))
        else {
            return Ok(Cow::Borrowed(template));
        };
        let member_slot = self.member_slot(&ha.members[index])?;
        let copy = {
            let table = self.table(member_slot)?;
            table.handle_of(uid).and_then(|h| table.get(h).cloned())
        };
        let Some((copy, ouid)) = copy.and_then(|c| {
            let ouid = member_slot.model.shared_identity(&c.attrs)?.to_vec();
            Some((c, ouid))
        }) else {
            return Ok(Cow::Borrowed(template));
        };
        let mut same = Attributes::new();
        same.set_ulong(CKA_CLASS, copy.class());
        if let Some(label) = copy.attrs.bytes(CKA_LABEL) {
            same.set_bytes(CKA_LABEL, label.to_vec());
        }
        let held = self.table(slot)?.candidates(&same).into_iter().find(|o| {
            o.is_token() && slot.model.shared_identity(&o.attrs) == Some(ouid.as_slice())
        });
        Ok(match held {
            Some(held) => {
                let mut rewritten = template.clone();
                rewritten.set_bytes(CKA_UNIQUE_ID, held.unique_id().to_vec());
                Cow::Owned(rewritten)
            }
            None => Cow::Borrowed(template),
        })
    }

    /// What a session reads of `object`: its member's copy (`member_copy`), else the object.
    pub(super) fn ha_session_object(
        &self,
        slot: &Slot,
        object: Arc<Object>,
    ) -> Result<Arc<Object>> {
        Ok(self.member_copy(slot, &object)?.unwrap_or(object))
    }

    /// The member's copy of `object` with its secrets opened by the member's key, for a
    /// session view whose member is not the one the table holds (`None`: the table's object
    /// serves). `CKR_USER_NOT_LOGGED_IN` while this process's login has not opened the member.
    pub(super) fn ha_opened_copy(
        &self,
        slot: &Slot,
        object: &Arc<Object>,
    ) -> Result<Option<Arc<Object>>> {
        let Some(copy) = self.member_copy(slot, object)? else {
            return Ok(None);
        };
        let Some(sealed) = &copy.sealed else {
            return Ok(Some(copy));
        };
        let Some((ha, index)) = slot.other_member() else {
            return Ok(None);
        };
        let member = &ha.members[index];
        let (key, _) = ha.member_key(index).ok_or_else(|| {
            err(
                CKR_USER_NOT_LOGGED_IN,
                format!(
                    "HA member {member}: its key values are locked until a login in this process"
                ),
            )
        })?;
        let secrets = key
            .open_secrets(
                &crate::base::secrets::seal::object_binding(&member.to_string(), copy.unique_id()),
                sealed,
            )
            .map_err(|e| of_member(member, e))?;
        let opened = Arc::new(copy.unsealed(&secrets));
        if let Some(known) = ha.copies[index].write().get_mut(&object.handle)
            && Arc::ptr_eq(&known.copy, &copy)
        {
            known.copy = opened.clone();
        }
        Ok(Some(opened))
    }
}
