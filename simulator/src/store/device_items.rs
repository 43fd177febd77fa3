//! Items a device holds besides its partitions' tokens (a Primus device's smart cards and its
//! partition users' credentials): one row per device, kind and name, its value JSON that the
//! store does not interpret (the model that wrote it reads it). Every change runs in one write
//! transaction (`BEGIN IMMEDIATE`, as every write of the store), so a read-modify-write such as
//! counting a card's attempt is atomic across threads and processes. Items are not in the
//! change log: no process caches them, each use reads them afresh. `Store::reset` keeps them
//! (they are not part of the lab's definition); snapshots hold them with the rest of the store.
use super::*;
use serde_json::Value;

/// The table (created fresh, or by the 3 -> 4 migration).
pub(super) const SCHEMA_4_DEVICE_ITEMS: &str = "
    CREATE TABLE IF NOT EXISTS device_items (
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (device, kind, name));";

fn parse(device: &DeviceId, kind: &str, name: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| damaged(format!("{kind} {name} of {device}: {e}")))
}

fn read_item(
    conn: &Connection,
    device: &DeviceId,
    kind: &str,
    name: &str,
) -> Result<Option<Value>> {
    let text: Option<String> = conn
        .prepare_cached(
            "SELECT value FROM device_items WHERE device = ?1 AND kind = ?2 AND name = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![device.as_str(), kind, name], |r| r.get(0))
                .optional()
        })
        .map_err(db_err)?;
    text.map(|t| parse(device, kind, name, &t)).transpose()
}

fn read_items(conn: &Connection, device: &DeviceId, kind: &str) -> Result<Vec<(String, Value)>> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT name, value FROM device_items WHERE device = ?1 AND kind = ?2 ORDER BY name",
        )
        .and_then(|mut s| {
            s.query_map(params![device.as_str(), kind], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    rows.into_iter()
        .map(|(name, text)| {
            let value = parse(device, kind, &name, &text)?;
            Ok((name, value))
        })
        .collect()
}

/// The device items inside one write transaction: what `Store::update_device_items` hands
/// its work.
pub struct DeviceItems<'a> {
    conn: &'a Connection,
    writer: i64,
}

impl DeviceItems<'_> {
    /// One item, if it exists.
    pub fn get(&self, device: &DeviceId, kind: &str, name: &str) -> Result<Option<Value>> {
        read_item(self.conn, device, kind, name)
    }

    /// Every item of `kind` of `device`, by name.
    pub fn list(&self, device: &DeviceId, kind: &str) -> Result<Vec<(String, Value)>> {
        read_items(self.conn, device, kind)
    }

    /// Writes an item (created or replaced).
    pub fn put(&self, device: &DeviceId, kind: &str, name: &str, value: &Value) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO device_items (device, kind, name, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(device, kind, name) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![device.as_str(), kind, name, value.to_string()]))
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes an item; false when there was none.
    pub fn remove(&self, device: &DeviceId, kind: &str, name: &str) -> Result<bool> {
        let removed = self
            .conn
            .prepare_cached(
                "DELETE FROM device_items WHERE device = ?1 AND kind = ?2 AND name = ?3",
            )
            .and_then(|mut s| s.execute(params![device.as_str(), kind, name]))
            .map_err(db_err)?;
        Ok(removed > 0)
    }

    /// Removes every item of `kind` of `device`; how many there were.
    pub fn remove_kind(&self, device: &DeviceId, kind: &str) -> Result<usize> {
        self.conn
            .prepare_cached("DELETE FROM device_items WHERE device = ?1 AND kind = ?2")
            .and_then(|mut s| s.execute(params![device.as_str(), kind]))
            .map_err(db_err)
    }

    /// A partition's token row as this transaction sees it (`Store::token`).
    pub fn token(&self, id: &PartitionId) -> Result<Option<TokenRow>> {
        read_token(self.conn, &id.to_string())
    }

    /// Removes a partition (its token and objects) in this transaction, as
    /// `Store::set_partition_present(id, false)` does; false when it was already removed.
    pub fn remove_partition(&self, id: &PartitionId) -> Result<bool> {
        if self.token(id)?.is_none_or(|row| !row.present) {
            return Ok(false);
        }
        set_partition_present_in(self.conn, id, false, self.writer)?;
        Ok(true)
    }

    /// Writes a present partition's token record in this transaction (`erase_objects`: its
    /// objects go too, as `Store::reinitialize_token` does), for operations that change more in
    /// the same transaction (the Crypto Command Center initialising a service's partitions).
    pub fn write_token(
        &self,
        id: &PartitionId,
        record: &TokenRecord,
        erase_objects: bool,
    ) -> Result<()> {
        let token = &id.to_string();
        if erase_objects {
            self.conn
                .execute("DELETE FROM objects WHERE token = ?1", [token])
                .map_err(db_err)?;
        }
        write_record(self.conn, token, record)?;
        log_change(self.conn, token, None, self.writer)
    }

    /// Logs a change of `device`'s own state in the change log, so that processes with the
    /// lab open re-read it on their next call (a device's health: `estate::ha_groups`).
    pub fn log_device_change(&self, device: &DeviceId) -> Result<()> {
        log_change(
            self.conn,
            &device_change_key(device.as_str()),
            None,
            self.writer,
        )
    }
}

impl Store {
    /// One device item, if it exists.
    pub fn device_item(&self, device: &DeviceId, kind: &str, name: &str) -> Result<Option<Value>> {
        read_item(&*self.conn.lock()?, device, kind, name)
    }

    /// Every item of `kind` of `device`, by name.
    pub fn device_items(&self, device: &DeviceId, kind: &str) -> Result<Vec<(String, Value)>> {
        read_items(&*self.conn.lock()?, device, kind)
    }

    /// Runs `work` on the device items in one write transaction, committed when it succeeds
    /// (an error rolls every change of it back).
    pub fn update_device_items<R>(
        &self,
        work: impl FnOnce(&DeviceItems) -> Result<R>,
    ) -> Result<R> {
        self.write(|tx| {
            work(&DeviceItems {
                conn: tx,
                writer: self.writer,
            })
        })
    }

    /// Reads, changes and writes one item in one write transaction: `change` sees the current
    /// value (`None`: no such item) and returns the new one (`None`: the item goes) and what
    /// the caller gets. An error from `change` writes nothing.
    pub fn update_device_item<R>(
        &self,
        device: &DeviceId,
        kind: &str,
        name: &str,
        change: impl FnOnce(Option<Value>) -> Result<(Option<Value>, R)>,
    ) -> Result<R> {
        self.update_device_items(|items| {
            let (value, out) = change(items.get(device, kind, name)?)?;
            match value {
                Some(value) => items.put(device, kind, name, &value)?,
                None => {
                    items.remove(device, kind, name)?;
                }
            }
            Ok(out)
        })
    }
}

/// The device items whose value is not JSON (damaged), named.
pub(super) fn device_item_problems(conn: &Connection) -> Result<Vec<String>> {
    let rows: Vec<(String, String, String, String)> = conn
        .prepare("SELECT device, kind, name, value FROM device_items ORDER BY device, kind, name")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|(device, kind, name, text)| {
            serde_json::from_str::<Value>(&text)
                .err()
                .map(|e| format!("device {device}: {kind} {name} does not decode: {e}"))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_are_read_listed_changed_and_removed_per_device_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store
                .device_item(&DeviceId::new("d1"), "card", "a")
                .unwrap(),
            None
        );
        let created = store
            .update_device_item(&DeviceId::new("d1"), "card", "b", |old| {
                assert_eq!(old, None);
                Ok((Some(json!({"left": 5})), "made"))
            })
            .unwrap();
        assert_eq!(created, "made");
        store
            .update_device_items(|items| {
                items.put(&DeviceId::new("d1"), "card", "a", &json!({"left": 3}))?;
                items.put(&DeviceId::new("d1"), "user", "a", &json!(1))?;
                items.put(&DeviceId::new("d2"), "card", "a", &json!(2))
            })
            .unwrap();
        let names: Vec<String> = store
            .device_items(&DeviceId::new("d1"), "card")
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b"]);
        // An error writes nothing.
        let refused = store.update_device_item(
            &DeviceId::new("d1"),
            "card",
            "a",
            |_| -> Result<(Option<Value>, ())> { Err(err(CKR_PIN_LOCKED, "no")) },
        );
        assert_eq!(refused.unwrap_err().rv, CKR_PIN_LOCKED);
        assert_eq!(
            store
                .device_item(&DeviceId::new("d1"), "card", "a")
                .unwrap(),
            Some(json!({"left": 3}))
        );
        store
            .update_device_item(&DeviceId::new("d1"), "card", "a", |_| Ok((None, ())))
            .unwrap();
        assert_eq!(
            store
                .device_item(&DeviceId::new("d1"), "card", "a")
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .device_item(&DeviceId::new("d2"), "card", "a")
                .unwrap(),
            Some(json!(2))
        );
        // `reset` keeps them; `check` finds them sound.
        store.reset(&[]).unwrap();
        assert_eq!(
            store
                .device_items(&DeviceId::new("d1"), "card")
                .unwrap()
                .len(),
            1
        );
        assert!(store.check().unwrap().is_empty());
        // A damaged value is reported, by `check` and by its reader.
        store
            .conn
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO device_items VALUES ('d3', 'card', 'x', '{not json')",
                [],
            )
            .unwrap();
        let problems = store.check().unwrap();
        assert!(
            problems.len() == 1 && problems[0].contains("device d3: card x"),
            "{problems:?}"
        );
        assert_eq!(
            store
                .device_item(&DeviceId::new("d3"), "card", "x")
                .unwrap_err()
                .rv,
            CKR_DEVICE_ERROR
        );
    }

    #[test]
    fn concurrent_read_modify_writes_from_separate_connections_lose_none() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let store = Store::open(&path).unwrap();
                    for _ in 0..25 {
                        store
                            .update_device_item(&DeviceId::new("d"), "counter", "c", |old| {
                                let n = old.and_then(|v| v.as_u64()).unwrap_or(0);
                                Ok((Some(json!(n + 1)), ()))
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store
                .device_item(&DeviceId::new("d"), "counter", "c")
                .unwrap(),
            Some(json!(100))
        );
    }
}
