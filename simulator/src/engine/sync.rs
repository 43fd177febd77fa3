//! Seeing other processes' changes. Each call that reads tokens or objects runs `sync` first:
//! one `PRAGMA data_version` query tells whether anyone else committed since the last look;
//! only then are the new rows of the store's change log read and just the named tokens and
//! objects re-read. A token another process re-initialised (or whose partition was removed or
//! added) is *replaced* here: its objects are forgotten, its sessions in this process are closed
//! and its unlocked key dropped (simulator-defined: like a token pulled and re-inserted), and
//! the slot is queued for `C_WaitForSlotEvent`.
use super::{Engine, Slot};
use crate::error::Result;
use crate::object::Object;
use crate::store::Store;
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
        let version = self.store.data_version()?;
        // Remember the header read *before* the query: a commit after it changes the header.
        *self.seen_header.0.lock() = header;
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
            return Ok(());
        }
        let mut tokens = BTreeSet::new();
        let mut objects: BTreeMap<&str, BTreeSet<&[u8]>> = BTreeMap::new();
        for (token, uid) in &changes.items {
            if let Some(device) = token.strip_prefix("@device:") {
                // Another process changed the device's HSM policies.
                let policies = self.store.device_policies(device)?;
                for slot in self.slots.values() {
                    if let Some(d) = slot.model.luna().filter(|d| d.name == device) {
                        d.changed.set(policies.clone());
                    }
                }
                continue;
            }
            match uid {
                None => {
                    tokens.insert(token.as_str());
                }
                Some(uid) => {
                    objects.entry(token).or_default().insert(uid);
                }
            }
        }
        for slot in self.slots.values() {
            if tokens.contains(slot.partition.as_str()) && self.refresh_token(slot, false)? {
                continue;
            }
            if let Some(uids) = objects.get(slot.partition.as_str()) {
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
        let (record, present) = match self.store.token(&slot.partition)? {
            Some(row) => (row.record, row.present),
            None => (
                crate::token::TokenRecord::uninitialized(&slot.partition),
                false,
            ),
        };
        let replaced =
            record.generation != slot.token.read().generation || present != slot.token_present();
        if replaced {
            for session in self.sessions_on(slot.id) {
                let h = session.lock().handle;
                self.sessions.remove(&h);
            }
            slot.objects.write().clear();
            *slot.key.write() = None;
            slot.set_login(None);
            slot.present
                .store(present, std::sync::atomic::Ordering::Release);
            *slot.token.write() = record;
            let mut events = self.events.lock();
            if !events.contains(&slot.id) {
                events.push_back(slot.id);
            }
            tracing::debug!(target: "hsmsim::engine", "slot {}: token replaced by another process", slot.id);
            return Ok(true);
        }
        *slot.token.write() = record;
        if reload && slot.objects.read().loaded {
            let stored = self.store.objects(&slot.partition)?;
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

    /// Re-reads one token object of a loaded slot (created, changed or destroyed elsewhere).
    fn refresh_object(&self, slot: &Slot, unique_id: &[u8]) -> Result<()> {
        if !slot.objects.read().loaded {
            return Ok(());
        }
        let stored = self.store.object(&slot.partition, unique_id)?;
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
