//! The store's schema and its migrations: the version this build writes, SQLite's application
//! id that marks hsmsim's stores, the tables, and the migrations of older stores (one
//! transaction; a newer schema is refused).
use super::*;

/// The schema version this build writes. 3: token records may hold format-1 PIN seals (bound
/// to the token generation, with their KDF parameters), which a schema-2 build would take for
/// wrong PINs; the tables are schema 2's. 4: the `device_items` table (a Primus device's cards
/// and its users' credentials, which earlier builds kept as files beside the store).
pub const SCHEMA_VERSION: i64 = 4;

/// hsmsim's SQLite application id (simulator-defined: "HSMS"), set in every store this build
/// writes. Stores of earlier builds have 0 and are recognised by their tables; they get the id
/// at their next open.
pub const APPLICATION_ID: i32 = 0x4853_4D53;

/// A read-only store must be of this build's schema (it cannot be migrated).
pub(super) fn current_schema(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    if version == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    Err(err(
        CKR_DEVICE_ERROR,
        format!(
            "{} is of schema {}, which this build must migrate to {SCHEMA_VERSION} before using \
             it, and it is open read-only: open it once from a writable directory",
            path.display(),
            version.map_or("?".into(), |v| v.to_string())
        ),
    ))
}

/// A failure of `migrate`, with the reason when the file is not a store this build can use.
pub(super) struct MigrateError {
    pub(super) error: crate::base::error::Error,
    pub(super) refusal: Option<String>,
}

impl From<crate::base::error::Error> for MigrateError {
    fn from(error: crate::base::error::Error) -> Self {
        MigrateError {
            error,
            refusal: None,
        }
    }
}

pub(super) fn refuse(reason: String) -> MigrateError {
    MigrateError {
        error: err(CKR_DEVICE_ERROR, reason.clone()),
        refusal: Some(reason),
    }
}

/// Brings a store to `SCHEMA_VERSION`, one step per version, all in one transaction; a new
/// database gets the schema and hsmsim's application id. Refuses (without changing anything)
/// another program's database or a newer schema.
pub(super) fn migrate(
    conn: &mut Connection,
    path: &Path,
    create: bool,
) -> std::result::Result<(), MigrateError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    )
    .map_err(db_err)?;
    let version: Option<i64> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    let mut version = match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(refuse(format!(
                "it was written by a newer hsmsim (store schema {v}; this build reads up to \
                 {SCHEMA_VERSION}): use that hsmsim"
            )));
        }
        Some(v) => v,
        None if create => {
            create_schema(&tx)?;
            SCHEMA_VERSION
        }
        None => return Err(refuse("it has no hsmsim schema version".into())),
    };
    while version < SCHEMA_VERSION {
        match version {
            1 => migrate_1_to_2(&tx)?,
            // Nothing to convert: format-0 seals still open and are rewritten at their PIN's
            // next login or change; the version keeps older builds off the store.
            2 => {}
            3 => tx
                .execute_batch(super::device_items::SCHEMA_4_DEVICE_ITEMS)
                .map_err(db_err)?,
            v => {
                return Err(refuse(format!("it holds an unknown schema version {v}")));
            }
        }
        version += 1;
        tracing::info!(target: "hsmsim::store", "migrated {} to schema {version}", path.display());
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [version],
    )
    .map_err(db_err)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .and_then(|_| tx.pragma_update(None, "user_version", version))
        .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(())
}

/// Schema 2's object and change-log tables (created fresh, or by the 1 -> 2 migration).
pub(super) const SCHEMA_2_OBJECTS_AND_CHANGES: &str = "
    CREATE TABLE objects (
        unique_id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        public BLOB NOT NULL,
        sealed BLOB);
    CREATE INDEX objects_by_token ON objects(token);
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        token TEXT NOT NULL,
        unique_id TEXT,
        writer INTEGER NOT NULL);
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,
        policies TEXT NOT NULL);";

pub(super) fn create_schema(tx: &Transaction) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE tokens (
             token TEXT PRIMARY KEY,
             record TEXT NOT NULL,
             present INTEGER NOT NULL DEFAULT 1);",
    )
    .and_then(|_| tx.execute_batch(SCHEMA_2_OBJECTS_AND_CHANGES))
    .and_then(|_| tx.execute_batch(super::device_items::SCHEMA_4_DEVICE_ITEMS))
    .map_err(db_err)
}

/// Schema 1 (hsmsim 0.1): token records with PIN verifiers, objects as JSON in clear.
#[derive(serde::Deserialize)]
pub(super) struct RecordV1 {
    label: String,
    serial: String,
    initialized: bool,
    so_pin: Option<LegacyPinVerifier>,
    user_pin: Option<LegacyPinVerifier>,
    so_failures: u32,
    user_failures: u32,
}

/// 1 -> 2: objects move to public attributes + sealed secrets, tokens get a token key. The
/// PINs are not known here, so the key is kept in clear in the record (`migration_key`, no
/// worse than schema 1's clear key values) until each PIN's first login seals it.
pub(super) fn migrate_1_to_2(tx: &Transaction) -> Result<()> {
    let tokens: Vec<(String, String)> = tx
        .prepare("SELECT token, record FROM tokens")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    tx.execute_batch(
        "ALTER TABLE tokens ADD COLUMN present INTEGER NOT NULL DEFAULT 1;
         ALTER TABLE objects RENAME TO objects_v1;
         DROP INDEX IF EXISTS objects_by_token;",
    )
    .and_then(|_| tx.execute_batch(SCHEMA_2_OBJECTS_AND_CHANGES))
    .map_err(db_err)?;
    let mut keys = BTreeMap::new();
    for (token, text) in tokens {
        let old: RecordV1 = serde_json::from_str(&text).map_err(damaged)?;
        let key = TokenKey::generate()?;
        let mut record = TokenRecord::uninitialized_named(&token);
        record.label = old.label;
        record.serial = old.serial;
        record.initialized = old.initialized;
        record.generation = random_generation()?;
        for (user, failures, legacy) in [
            (CKU_SO, old.so_failures, old.so_pin),
            (CKU_USER, old.user_failures, old.user_pin),
        ] {
            if failures > 0 || legacy.is_some() {
                let role = record.role_mut(user);
                role.failures = failures;
                role.legacy = legacy;
            }
        }
        record.migration_key = Some(key.to_bytes());
        write_record(tx, &token, &record)?;
        keys.insert(token, key);
    }
    let objects: Vec<(String, String, String)> = tx
        .prepare("SELECT unique_id, token, attributes FROM objects_v1 ORDER BY rowid")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    for (uid, token, text) in objects {
        let old: BTreeMap<CK_ATTRIBUTE_TYPE, AttrValue> =
            serde_json::from_str(&text).map_err(damaged)?;
        let mut attrs = Attributes::new();
        for (t, v) in old {
            attrs.set(t, v);
        }
        attrs.set_bytes(CKA_UNIQUE_ID, uid.as_bytes().to_vec());
        let (public, sealed) = seal_object_named(&token, &attrs, keys.get(&token))?;
        tx.execute(
            "INSERT INTO objects (unique_id, token, public, sealed) VALUES (?1, ?2, ?3, ?4)",
            params![uid, token, encode(&public)?, sealed],
        )
        .map_err(db_err)?;
    }
    tx.execute_batch("DROP TABLE objects_v1;").map_err(db_err)
}
