//! Seeing other processes' changes. Each call that reads tokens or objects runs `sync` first:
//! one `PRAGMA data_version` query tells whether anyone else committed since the last look;
//! only then are the new rows of the store's change log read and just the named tokens and
//! objects re-read. A token another process re-initialised (or whose partition was removed or
//! added) is *replaced* here: its objects are forgotten, its sessions in this process are closed
//! and its unlocked key dropped (simulator-defined: like a token pulled and re-inserted), and
//! the slot is queued for `C_WaitForSlotEvent`.
//!
//! Writes to a token record made on the strength of what this process read of it (a PIN
//! checked against its seal, a seal made for its generation) go through `update_slot_token`:
//! the transaction writes only while the stored token is still the incarnation that was read;
//! otherwise nothing is written and the token is replaced here at once.
use super::{Engine, Slot};
use crate::base::error::{Error, Result};
use crate::base::ids::PartitionId;
use crate::base::secrets::seal::TokenKey;
use crate::object::Object;
use crate::store::records::{Incarnation, TokenRecord};
use crate::store::{Changed, Store};
use cryptoki_sys::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct SyncState {
    data_version: i64,
    last_change: i64,
}

/// The WAL-index header when `sync` last looked: while it is unchanged, nobody committed and
/// `sync` returns without a query or a lock (the sign / encrypt hot path pays one `pread`).
#[derive(Default)]
pub struct SeenHeader(parking_lot::Mutex<Option<crate::store::WalHeader>>);

impl SyncState {
    pub fn start(store: &Store) -> Result<SyncState> {
        // Read the version first: a commit in between is then seen (again) on the next look.
        let data_version = store.data_version()?;
        Ok(SyncState {
            data_version,
            last_change: store.last_change()?,
        })
    }
}

impl Engine {
    /// Applies other processes' committed changes; cheap when there are none.
    pub fn sync(&self) -> Result<()> {
        let header = self.store.wal_header();
        if header.is_some() && *self.seen_header.0.lock() == header {
            return Ok(());
        }
        let mut state = self.sync.lock();
        self.apply_changes(&mut state)?;
        // Remember the header read *before* the query (a commit after it changes the header),
        // and only once its changes are applied: a thread that finds the header unchanged skips
        // the lock, so it must find the changes in the tables already, not while another thread
        // of this process is still applying them.
        *self.seen_header.0.lock() = header;
        Ok(())
    }

    /// Reads the change log since `state` and applies other processes' changes (under the
    /// `sync` lock).
    fn apply_changes(&self, state: &mut SyncState) -> Result<()> {
        let version = self.store.data_version()?;
        if version == state.data_version {
            return Ok(());
        }
        let changes = self.store.changes_since(state.last_change)?;
        state.data_version = version;
        state.last_change = changes.last;
        if changes.truncated {
            for slot in self.slots.values() {
                self.refresh_token(slot, true)?;
            }
            return self.read_health();
        }
        let mut tokens = BTreeSet::new();
        let mut objects: BTreeMap<&PartitionId, BTreeSet<&[u8]>> = BTreeMap::new();
        for change in &changes.items {
            match change {
                Changed::Device(device) => {
                    // Another process changed the device's state (HSM policies): read once.
                    let policies = self.store.device_policies(device)?;
                    for slot in self.slots.values() {
                        slot.model
                            .device_policies_changed(device.as_str(), &policies);
                    }
                    // Or failed or recovered it (`hsmsim lab fail|recover`).
                    self.device_health_changed(device)?;
                }
                Changed::Token(token) => {
                    tokens.insert(token);
                }
                Changed::Object(token, uid) => {
                    objects.entry(token).or_default().insert(uid);
                }
            }
        }
        for slot in self.slots.values() {
            if tokens.contains(slot.partition()) && self.refresh_token(slot, false)? {
                continue;
            }
            if let Some(uids) = objects.get(slot.partition()) {
                for uid in uids {
                    self.refresh_object(slot, uid)?;
                }
            }
        }
        Ok(())
    }

    /// Re-reads a slot's token record. Returns true when the token was replaced (everything
    /// about it in this process is gone). `reload` also reconciles every loaded object.
    pub(super) fn refresh_token(&self, slot: &Slot, reload: bool) -> Result<bool> {
        let (record, present) = match self.store.token(slot.partition())? {
            Some(row) => (row.record, row.present && self.attached_here(slot)?),
            None => (
                crate::store::records::TokenRecord::uninitialized(slot.partition()),
                false,
            ),
        };
        let replaced = {
            let mut token = slot.token.write();
            let replaced =
                record.incarnation() != token.incarnation() || present != slot.token_present();
            // The new record first: a thread that checks the incarnation under the record's
            // lock before unlocking the key (a login) either finishes before this write, and
            // its key is dropped below, or sees the new incarnation and gives up.
            *token = record;
            replaced
        };
        if replaced {
            self.close_slot_sessions(slot.id);
            slot.objects.write().clear();
            *slot.key.write() = None;
            slot.forget_member_keys();
            slot.set_login(None);
            slot.present
                .store(present, std::sync::atomic::Ordering::Release);
            let mut events = self.events.lock();
            if !events.contains(&slot.id) {
                events.push_back(slot.id);
            }
            tracing::debug!(target: "hsmsim::engine", "slot {}: token replaced by another process", slot.id);
            return Ok(true);
        }
        if reload && slot.objects.read().loaded {
            let stored = self.store.objects(slot.partition())?;
            let mut table = slot.objects.write();
            let keep: BTreeSet<&[u8]> = stored.iter().map(|o| o.unique_id.as_slice()).collect();
            let gone: Vec<_> = table
                .values()
                .filter(|o| o.is_token() && !keep.contains(o.unique_id()))
                .map(|o| o.handle)
                .collect();
            for h in gone {
                table.remove(h);
            }
            for o in stored {
                let h = table
                    .handle_of(&o.unique_id)
                    .unwrap_or_else(|| self.new_object_handle());
                table.insert(Arc::new(Object::stored(h, slot.id, o.public, o.sealed)));
            }
        }
        Ok(false)
    }

    /// Reads, changes and writes the slot's token record in one store transaction, only while
    /// the stored token is still the incarnation `seen` that the caller's decision rests on
    /// (the record whose PIN seal it opened, the generation it sealed a key for). When another
    /// process re-initialised, zeroised or restarted the token meanwhile, nothing is written,
    /// the token is replaced in this process (`refresh_token`: sessions closed, key dropped)
    /// and the call answers `CKR_SESSION_CLOSED` (simulator-defined: PKCS#11's code for a
    /// session closed while the function ran). The written record becomes the slot's.
    pub(super) fn update_slot_token<T>(
        &self,
        slot: &Slot,
        seen: Incarnation,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool)>,
    ) -> Result<T> {
        self.update_slot_token_erasing(slot, seen, |r| {
            let (value, write) = change(r)?;
            Ok((value, write, false))
        })
    }

    /// As `update_slot_token`; `change` also says whether every object of the token goes in
    /// the same transaction (`Store::update_token_erasing`).
    pub(super) fn update_slot_token_erasing<T>(
        &self,
        slot: &Slot,
        seen: Incarnation,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool, bool)>,
    ) -> Result<T> {
        let (result, replaced) = self.write_slot_token(slot, seen, change);
        if replaced {
            self.refresh_token(slot, false)?;
        }
        if result.is_ok() {
            self.refresh_siblings(slot)?;
        }
        result
    }

    /// After this process changed a slot's token, the other slots of this process holding the
    /// same partition (an HA slot and its primary's physical slot) re-read it.
    pub(super) fn refresh_siblings(&self, slot: &Slot) -> Result<()> {
        for other in self
            .slots
            .values()
            .filter(|s| s.id != slot.id && s.partition() == slot.partition())
        {
            self.refresh_token(other, false)?;
        }
        Ok(())
    }

    /// The transaction of `update_slot_token_erasing` without the replacement: for callers
    /// that hold the slot's object table (which `refresh_token` locks). The flag says the token
    /// was replaced: they must call `refresh_token` once they let the table go.
    pub(super) fn write_slot_token<T>(
        &self,
        slot: &Slot,
        seen: Incarnation,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool, bool)>,
    ) -> (Result<T>, bool) {
        // An HA slot holds its primary's token record but changes no token: that is done on
        // a member's physical slot.
        if let Err(e) = slot.refuse_on_ha("partitions are changed") {
            return (Err(e), false);
        }
        let mut replaced = false;
        let result = self.store.update_token_erasing(slot.partition(), |r| {
            if r.incarnation() != seen {
                replaced = true;
                return Err(token_replaced());
            }
            change(r)
        });
        let result = result.map(|(value, updated)| {
            slot.install(updated);
            value
        });
        (result, replaced)
    }

    /// Re-reads one token object of a loaded slot (created, changed or destroyed elsewhere).
    pub(super) fn refresh_object(&self, slot: &Slot, unique_id: &[u8]) -> Result<()> {
        if !slot.objects.read().loaded {
            return Ok(());
        }
        let stored = self.store.object(slot.partition(), unique_id)?;
        let mut table = slot.objects.write();
        let existing = table.handle_of(unique_id);
        match stored {
            Some(o) => {
                let h = existing.unwrap_or_else(|| self.new_object_handle());
                table.insert(Arc::new(Object::stored(h, slot.id, o.public, o.sealed)));
            }
            None => {
                if let Some(h) = existing {
                    table.remove(h);
                }
            }
        }
        Ok(())
    }

    /// The next slot whose token changed in another process, if any (`C_WaitForSlotEvent`).
    pub fn take_slot_event(&self) -> Result<Option<CK_SLOT_ID>> {
        self.sync()?;
        Ok(self.events.lock().pop_front())
    }
}

/// `CKR_SESSION_CLOSED`: the token was replaced by another process during the call.
pub(super) fn token_replaced() -> Error {
    crate::store::records::replaced_error()
}

impl Slot {
    /// The incarnation of the token this process holds for the slot.
    pub(super) fn incarnation(&self) -> Incarnation {
        self.token.read().incarnation()
    }

    /// The unlocked token key with the incarnation of the token it belongs to, read together
    /// (a replacement writes the record before it drops the key, so a key read under the
    /// record's lock belongs to that record's token).
    pub(super) fn unlocked(&self) -> Option<(std::sync::Arc<TokenKey>, Incarnation)> {
        let token = self.token.read();
        let key = self.key.read().clone()?;
        Some((key, token.incarnation()))
    }

    /// Makes `record`, just written by this process, the slot's, unless the slot already holds
    /// another incarnation (a concurrent `refresh_token` replaced the token: its record stays).
    pub(super) fn install(&self, record: TokenRecord) {
        let mut token = self.token.write();
        if token.incarnation() == record.incarnation() {
            *token = record;
        }
    }

    /// Unlocks the token key and logs `user` in, provided the slot still holds the incarnation
    /// `seen` whose seal yielded the key; otherwise `CKR_SESSION_CLOSED`.
    pub(super) fn log_in(
        &self,
        user: CK_USER_TYPE,
        key: Arc<TokenKey>,
        seen: Incarnation,
    ) -> Result<()> {
        let token = self.token.read();
        if token.incarnation() != seen {
            return Err(token_replaced());
        }
        *self.key.write() = Some(key);
        self.set_login(Some(user));
        Ok(())
    }
}
