//! The persistent store: token records and token objects in one SQLite database per lab (WAL
//! mode, busy timeout), every multi-step change in one transaction. Tokens are keyed by their
//! partition ("device/partition"), not by slot: slot ids are a host's view. The engine loads it at
//! `C_Initialize` and writes token-object changes through.
use crate::attribute::Attributes;
use crate::error::{Result, err};
use crate::token::TokenRecord;
use cryptoki_sys::*;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this build writes.
const SCHEMA_VERSION: i64 = 1;

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn db_err(e: rusqlite::Error) -> crate::error::Error {
    err(CKR_DEVICE_ERROR, format!("the hsmsim store failed: {e}"))
}

fn json_err(e: serde_json::Error) -> crate::error::Error {
    err(
        CKR_DEVICE_ERROR,
        format!("the hsmsim store holds a damaged record: {e}"),
    )
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            err(
                CKR_DEVICE_ERROR,
                format!("cannot create the state directory {}: {e}", dir.display()),
            )
        })?;
        let path = dir.join("hsmsim.sqlite");
        let conn = Connection::open(&path).map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, record TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS objects (
                 unique_id TEXT PRIMARY KEY,
                 token TEXT NOT NULL,
                 attributes TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS objects_by_token ON objects(token);",
        )
        .map_err(db_err)?;
        let version: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        match version {
            None => {
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(db_err)?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(err(
                    CKR_DEVICE_ERROR,
                    format!(
                        "{} was written by a newer hsmsim (schema {v})",
                        path.display()
                    ),
                ));
            }
            Some(_) => {}
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token record stored for a slot, if any.
    pub fn token(&self, token: &str) -> Result<Option<TokenRecord>> {
        let conn = self.conn.lock();
        let text: Option<String> = conn
            .query_row("SELECT record FROM tokens WHERE token = ?1", [token], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err)?;
        text.map(|t| serde_json::from_str(&t).map_err(json_err))
            .transpose()
    }

    pub fn save_token(&self, token: &str, record: &TokenRecord) -> Result<()> {
        let text = serde_json::to_string(record).map_err(json_err)?;
        self.conn
            .lock()
            .execute(
                "INSERT INTO tokens (token, record) VALUES (?1, ?2)
                 ON CONFLICT(token) DO UPDATE SET record = excluded.record",
                params![token, text],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Re-initialises a token: every object of the slot goes and the new record is written, in
    /// one transaction.
    pub fn reinitialize_token(&self, token: &str, record: &TokenRecord) -> Result<()> {
        let text = serde_json::to_string(record).map_err(json_err)?;
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(db_err)?;
        tx.execute("DELETE FROM objects WHERE token = ?1", [token])
            .map_err(db_err)?;
        tx.execute(
            "INSERT INTO tokens (token, record) VALUES (?1, ?2)
             ON CONFLICT(token) DO UPDATE SET record = excluded.record",
            params![token, text],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
    }

    /// Every token object of a slot.
    pub fn objects(&self, token: &str) -> Result<Vec<Attributes>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT attributes FROM objects WHERE token = ?1 ORDER BY rowid")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([token], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row.map_err(db_err)?).map_err(json_err)?);
        }
        Ok(out)
    }

    /// Writes (inserts or replaces) one token object with all its attributes.
    pub fn put_object(&self, token: &str, unique_id: &[u8], attrs: &Attributes) -> Result<()> {
        let text = serde_json::to_string(attrs).map_err(json_err)?;
        self.conn
            .lock()
            .execute(
                "INSERT INTO objects (unique_id, token, attributes) VALUES (?1, ?2, ?3)
                 ON CONFLICT(unique_id) DO UPDATE SET attributes = excluded.attributes",
                params![String::from_utf8_lossy(unique_id), token, text],
            )
            .map_err(db_err)?;
        Ok(())
    }

    pub fn delete_object(&self, unique_id: &[u8]) -> Result<()> {
        self.conn
            .lock()
            .execute(
                "DELETE FROM objects WHERE unique_id = ?1",
                [String::from_utf8_lossy(unique_id)],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenRecord;

    #[test]
    fn objects_survive_reopen_and_reinit_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut a = Attributes::new();
        a.set_bytes(CKA_LABEL, b"k1".to_vec());
        store.put_object("hsm/a", b"uid-1", &a).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.objects("hsm/a").unwrap(), vec![a]);
        assert!(store.objects("hsm/b").unwrap().is_empty());
        let rec = TokenRecord::uninitialized("hsm/a");
        store.reinitialize_token("hsm/a", &rec).unwrap();
        assert!(store.objects("hsm/a").unwrap().is_empty());
        assert_eq!(store.token("hsm/a").unwrap().unwrap().serial, rec.serial);
    }
}
