//! The change log other processes read: every write appends the token and object it touched
//! and the writer; readers notice new commits through `PRAGMA data_version` and read the
//! changes since the last one they saw.
use super::*;

/// How many change rows are kept; a process that falls further behind reloads its tokens.
pub(super) const CHANGES_KEPT: i64 = 50_000;

/// What changed since a point in the change log, other writers' changes only.
#[derive(Debug, Default)]
pub struct Changes {
    /// The newest change sequence number seen.
    pub last: i64,
    /// Some changes were pruned before they were read: reload everything.
    pub truncated: bool,
    /// What changed, in log order.
    pub items: Vec<Changed>,
}

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// A token record (PINs, policies, the token replaced, ...).
    Token(PartitionId),
    /// A token object, by its unique id.
    Object(PartitionId, Vec<u8>),
    /// A device's own state (its HSM policies).
    Device(DeviceId),
}

impl Changed {
    /// Reads a log row; `None` for a token name that is not "device/partition".
    fn of_row(key: &str, uid: Option<String>) -> Option<Changed> {
        if let Some(device) = key.strip_prefix(DEVICE_KEY_PREFIX) {
            return Some(Changed::Device(DeviceId::new(device)));
        }
        let token = PartitionId::parse(key)?;
        Some(match uid {
            None => Changed::Token(token),
            Some(uid) => Changed::Object(token, uid.into_bytes()),
        })
    }
}

pub(super) fn log_change(
    tx: &Connection,
    token: &str,
    uid: Option<&[u8]>,
    writer: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO changes (token, unique_id, writer) VALUES (?1, ?2, ?3)",
        params![token, uid.map(uid_text), writer],
    )
    .map_err(db_err)?;
    let seq = tx.last_insert_rowid();
    if seq % 1_000 == 0 {
        tx.execute("DELETE FROM changes WHERE seq <= ?1", [seq - CHANGES_KEPT])
            .map_err(db_err)?;
    }
    Ok(())
}

const DEVICE_KEY_PREFIX: &str = "@device:";

/// The change-log key of a device's HSM policies (tokens are "device/partition").
pub(super) fn device_change_key(device: &str) -> String {
    format!("{DEVICE_KEY_PREFIX}{device}")
}

impl Store {
    /// `PRAGMA data_version`: changes when another connection commits. The connection's
    /// counter starts afresh when it is reopened (after a fork), so the reopen count is
    /// added in: a reopened store always looks changed once.
    pub fn data_version(&self) -> Result<i64> {
        let conn = self.conn.lock()?;
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db_err)?;
        Ok(version.wrapping_add((self.conn.reopened() as i64) << 32))
    }

    /// The newest change sequence number.
    pub fn last_change(&self) -> Result<i64> {
        self.conn
            .lock()?
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| {
                r.get(0)
            })
            .map_err(db_err)
    }

    /// Other writers' changes after `since`.
    pub fn changes_since(&self, since: i64) -> Result<Changes> {
        let mut conn = self.conn.lock()?;
        let tx = conn.transaction().map_err(db_err)?;
        let oldest: Option<i64> = tx
            .query_row("SELECT MIN(seq) FROM changes", [], |r| r.get(0))
            .map_err(db_err)?;
        let mut out = Changes {
            last: since,
            truncated: oldest.is_some_and(|o| o > since + 1),
            items: Vec::new(),
        };
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, token, unique_id, writer FROM changes WHERE seq > ?1 ORDER BY seq",
                )
                .map_err(db_err)?;
            let mut rows = stmt.query([since]).map_err(db_err)?;
            while let Some(row) = rows.next().map_err(db_err)? {
                out.last = row.get(0).map_err(db_err)?;
                let writer: i64 = row.get(3).map_err(db_err)?;
                if writer != self.writer {
                    let key: String = row.get(1).map_err(db_err)?;
                    out.items
                        .extend(Changed::of_row(&key, row.get(2).map_err(db_err)?));
                }
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(out)
    }
}
