//! Token records and device state in the store: reading, creating, changing (one transaction
//! each, optionally erasing the token's objects), re-initialising, partitions present or not,
//! and a device's changed HSM policies.
use super::*;

pub(super) fn read_all_tokens(conn: &Connection) -> Result<Vec<(String, TokenRow)>> {
    let names: Vec<String> = conn
        .prepare("SELECT token FROM tokens ORDER BY token")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    let mut out = Vec::new();
    for name in names {
        if let Some(row) = read_token(conn, &name)? {
            out.push((name, row));
        }
    }
    Ok(out)
}

pub(super) fn read_devices(conn: &Connection) -> Result<Vec<String>> {
    conn.prepare("SELECT device FROM devices")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)
}

pub(super) fn read_device_policies(conn: &Connection, device: &str) -> Result<BTreeMap<u64, u64>> {
    let text: Option<String> = conn
        .query_row(
            "SELECT policies FROM devices WHERE device = ?1",
            [device],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    text.map_or(Ok(BTreeMap::new()), |t| {
        serde_json::from_str(&t).map_err(damaged)
    })
}

pub(super) fn read_token(conn: &Connection, token: &str) -> Result<Option<TokenRow>> {
    let row: Option<(String, bool)> = conn
        .prepare_cached("SELECT record, present FROM tokens WHERE token = ?1")
        .and_then(|mut s| {
            s.query_row([token], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db_err)?;
    row.map(|(text, present)| {
        Ok(TokenRow {
            record: serde_json::from_str(&text).map_err(damaged)?,
            present,
        })
    })
    .transpose()
}

pub(super) fn write_record(conn: &Connection, token: &str, record: &TokenRecord) -> Result<()> {
    let text = serde_json::to_string(record).map_err(damaged)?;
    conn.execute(
        "INSERT INTO tokens (token, record, present) VALUES (?1, ?2, 1)
         ON CONFLICT(token) DO UPDATE SET record = excluded.record, present = 1",
        params![token, text],
    )
    .map_err(db_err)?;
    Ok(())
}

impl Store {
    /// The stored token of a partition, if it was ever created.
    pub fn token(&self, token: &PartitionId) -> Result<Option<TokenRow>> {
        read_token(&*self.conn.lock()?, &token.to_string())
    }

    /// The token of a partition, created with `fresh` if it never existed (atomic across
    /// processes: the first creator wins).
    pub fn ensure_token(
        &self,
        token: &PartitionId,
        fresh: impl FnOnce() -> Result<TokenRecord>,
    ) -> Result<TokenRow> {
        if let Some(row) = self.token(token)? {
            return Ok(row);
        }
        let token = &token.to_string();
        let record = fresh()?;
        let text = serde_json::to_string(&record).map_err(damaged)?;
        self.write(|tx| {
            let inserted = tx
                .execute(
                    "INSERT OR IGNORE INTO tokens (token, record, present) VALUES (?1, ?2, 1)",
                    params![token, text],
                )
                .map_err(db_err)?;
            if inserted == 1 {
                log_change(tx, token, None, self.writer)?;
            }
            let row = read_token(tx, token)?.ok_or_else(|| damaged("token vanished"))?;
            Ok(row)
        })
    }

    /// Reads, changes and writes a token record in one write transaction, so concurrent
    /// processes never lose each other's updates (failure counters, PINs). `change` sees the
    /// current record and returns whether to write it.
    pub fn update_token<T>(
        &self,
        token: &PartitionId,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool)>,
    ) -> Result<(T, TokenRecord)> {
        self.update_token_erasing(token, |r| {
            let (value, write) = change(r)?;
            Ok((value, write, false))
        })
    }

    /// As `update_token`; `change` also says whether every object of the token goes in the same
    /// transaction (a destructive policy change).
    pub fn update_token_erasing<T>(
        &self,
        token: &PartitionId,
        change: impl FnOnce(&mut TokenRecord) -> Result<(T, bool, bool)>,
    ) -> Result<(T, TokenRecord)> {
        let token = &token.to_string();
        self.write(|tx| {
            let mut row = read_token(tx, token)?
                .filter(|r| r.present)
                .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{token} has no token")))?;
            let (value, write, erase) = change(&mut row.record)?;
            if erase {
                erase_objects(tx, "token = ?1", token, self.writer)?;
            }
            if write || erase {
                write_record(tx, token, &row.record)?;
                log_change(tx, token, None, self.writer)?;
            }
            Ok((value, row.record))
        })
    }

    /// Re-initialises a token: every object goes and the new record is written, in one
    /// transaction, after `check` accepted the current record (e.g. the SO PIN).
    pub fn reinitialize_token(
        &self,
        token: &PartitionId,
        check: impl FnOnce(&TokenRecord) -> Result<()>,
        record: &TokenRecord,
    ) -> Result<()> {
        self.reinitialize_token_with_objects(token, check, record, &[])
    }

    /// As `reinitialize_token`, the new token holding `objects` (sealed for `record`) in the
    /// same transaction: a restored partition, all or nothing.
    pub fn reinitialize_token_with_objects(
        &self,
        token: &PartitionId,
        check: impl FnOnce(&TokenRecord) -> Result<()>,
        record: &TokenRecord,
        objects: &[StoredObject],
    ) -> Result<()> {
        let token = &token.to_string();
        self.write(|tx| {
            let current = read_token(tx, token)?
                .filter(|r| r.present)
                .ok_or_else(|| err(CKR_TOKEN_NOT_PRESENT, format!("{token} has no token")))?;
            check(&current.record)?;
            tx.execute("DELETE FROM objects WHERE token = ?1", [token])
                .map_err(db_err)?;
            write_record(tx, token, record)?;
            log_change(tx, token, None, self.writer)?;
            insert_rows(tx, token, objects, self.writer)
        })
    }

    /// Changes every present token of `device`'s partitions with `change`, in one
    /// transaction; with `erase` their objects go too (Luna's HSM zeroisation). Returns the
    /// partitions changed.
    pub fn update_tokens(
        &self,
        device: &DeviceId,
        erase: bool,
        mut change: impl FnMut(&PartitionId, &mut TokenRecord) -> Result<()>,
    ) -> Result<Vec<PartitionId>> {
        let prefix = device_prefix(device);
        let prefix = prefix.as_str();
        self.write(|tx| {
            let tokens: Vec<String> = tx
                .prepare(
                    "SELECT token FROM tokens WHERE present AND substr(token, 1, length(?1)) = ?1",
                )
                .and_then(|mut s| {
                    s.query_map([prefix], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            let mut changed = Vec::new();
            for token in &tokens {
                let Some(id) = PartitionId::parse(token) else {
                    continue;
                };
                let Some(mut row) = read_token(tx, token)? else {
                    continue;
                };
                change(&id, &mut row.record)?;
                if erase {
                    tx.execute("DELETE FROM objects WHERE token = ?1", [token])
                        .map_err(db_err)?;
                }
                write_record(tx, token, &row.record)?;
                log_change(tx, token, None, self.writer)?;
                changed.push(id);
            }
            Ok(changed)
        })
    }

    /// Removes a partition (its token and objects; slots showing it become empty) or adds it
    /// back as a blank token. `CKR_FUNCTION_FAILED` when it already is in that state.
    pub fn set_partition_present(&self, id: &PartitionId, present: bool) -> Result<()> {
        self.write(|tx| set_partition_present_in(tx, id, present, self.writer))
    }

    /// Replaces every token with `records` (objects gone) and forgets devices' changed HSM
    /// policies, in one transaction. Device items (cards, credentials) stay.
    pub fn reset(&self, records: &[(PartitionId, TokenRecord)]) -> Result<()> {
        self.write(|tx| {
            let old: Vec<String> = tx
                .prepare("SELECT token FROM tokens")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            let devices: Vec<String> = tx
                .prepare("SELECT device FROM devices")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(db_err)?;
            tx.execute_batch("DELETE FROM objects; DELETE FROM tokens; DELETE FROM devices;")
                .map_err(db_err)?;
            for device in &devices {
                log_change(tx, &device_change_key(device), None, self.writer)?;
            }
            let new: Vec<String> = records.iter().map(|(t, _)| t.to_string()).collect();
            for (token, (_, record)) in new.iter().zip(records) {
                write_record(tx, token, record)?;
            }
            for token in old.iter().chain(&new) {
                log_change(tx, token, None, self.writer)?;
            }
            Ok(())
        })
    }

    /// HSM policies changed on a device (`CA_SetHSMPolicy`), by id.
    pub fn device_policies(&self, device: &DeviceId) -> Result<BTreeMap<u64, u64>> {
        read_device_policies(&*self.conn.lock()?, device.as_str())
    }

    /// Changes a device's HSM policies with `change` (which sees the current ones and says
    /// whether the change zeroises the device's partitions), in one transaction: with
    /// `erase`, every object of every partition of the device goes too.
    pub fn update_device_policies(
        &self,
        device: &DeviceId,
        change: impl FnOnce(&mut BTreeMap<u64, u64>) -> Result<bool>,
    ) -> Result<(BTreeMap<u64, u64>, bool)> {
        let device = device.as_str();
        self.write(|tx| {
            let mut policies = read_device_policies(tx, device)?;
            let erase = change(&mut policies)?;
            if erase {
                erase_objects(
                    tx,
                    "substr(token, 1, length(?1)) = ?1",
                    &device_prefix(&DeviceId::new(device)),
                    self.writer,
                )?;
            }
            let text = serde_json::to_string(&policies).map_err(damaged)?;
            tx.execute(
                "INSERT INTO devices (device, policies) VALUES (?1, ?2)
             ON CONFLICT(device) DO UPDATE SET policies = excluded.policies",
                params![device, text],
            )
            .map_err(db_err)?;
            log_change(tx, &device_change_key(device), None, self.writer)?;
            Ok((policies, erase))
        })
    }

    /// Every stored token (a row whose name is not "device/partition" is left out).
    pub fn tokens(&self) -> Result<BTreeMap<PartitionId, TokenRow>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare("SELECT token FROM tokens ORDER BY token")
            .map_err(db_err)?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        let mut out = BTreeMap::new();
        for name in names {
            let Some(id) = PartitionId::parse(&name) else {
                continue;
            };
            if let Some(row) = read_token(&conn, &name)? {
                out.insert(id, row);
            }
        }
        Ok(out)
    }
}

/// What every token name of `device`'s partitions starts with.
fn device_prefix(device: &DeviceId) -> String {
    format!("{device}/")
}

/// `Store::set_partition_present` inside a write transaction (`writer`: the change log's
/// writer), for operations that change more in the same transaction.
pub(super) fn set_partition_present_in(
    tx: &Connection,
    id: &PartitionId,
    present: bool,
    writer: i64,
) -> Result<()> {
    let token = &id.to_string();
    if read_token(tx, token)?.is_some_and(|r| r.present == present) {
        return Err(err(
            CKR_FUNCTION_FAILED,
            format!(
                "partition {token} is already {}",
                if present { "present" } else { "removed" }
            ),
        ));
    }
    tx.execute("DELETE FROM objects WHERE token = ?1", [token])
        .map_err(db_err)?;
    let mut record = TokenRecord::uninitialized(id);
    record.generation = random_generation()?;
    let text = serde_json::to_string(&record).map_err(damaged)?;
    tx.execute(
        "INSERT INTO tokens (token, record, present) VALUES (?1, ?2, ?3)
         ON CONFLICT(token) DO UPDATE SET record = excluded.record, present = excluded.present",
        params![token, text, present],
    )
    .map_err(db_err)?;
    log_change(tx, token, None, writer)?;
    Ok(())
}
