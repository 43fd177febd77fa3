//! Token objects in the store: public attributes (postcard) plus sealed secrets, reading them
//! (a damaged record is left out and logged, never failing its partition), inserting,
//! updating, deleting, counting, and checking the seals.
use super::*;

pub(super) fn encode(attrs: &Attributes) -> Result<Vec<u8>> {
    postcard::to_stdvec(attrs).map_err(damaged)
}

pub(super) fn decode(bytes: &[u8]) -> Result<Attributes> {
    postcard::from_bytes(bytes).map_err(damaged)
}

/// "partition P, object U (label "L")": how problems and logs name a stored object.
pub fn object_name(token: &str, uid: &str, public: Option<&Attributes>) -> String {
    let label = public
        .and_then(|p| p.bytes(CKA_LABEL))
        .map(|l| format!(" (label \"{}\")", String::from_utf8_lossy(l)))
        .unwrap_or_default();
    format!("partition {token}, object {uid}{label}")
}

/// An object record's public attributes, or `None` (logged) when they do not decode, or
/// decode without a `CKA_CLASS` or with another `CKA_UNIQUE_ID` than their row's.
pub(super) fn decoded_or_logged(token: &str, uid: &str, public: &[u8]) -> Option<Attributes> {
    match decode(public) {
        Ok(attrs)
            if attrs.ulong(CKA_CLASS).is_some()
                && attrs.bytes(CKA_UNIQUE_ID) == Some(uid.as_bytes()) =>
        {
            Some(attrs)
        }
        Ok(_) => {
            tracing::error!(
                target: "hsmsim::store",
                "{} is damaged and left out (run `hsmsim lab check`): no CKA_CLASS, or another \
                 CKA_UNIQUE_ID than its row's",
                object_name(token, uid, None),
            );
            None
        }
        Err(e) => {
            tracing::error!(
                target: "hsmsim::store",
                "{} is damaged and left out (run `hsmsim lab check`): {}",
                object_name(token, uid, None),
                e.detail
            );
            None
        }
    }
}

/// An object row's `public` and `sealed` columns, or why they are not blobs (a damaged row).
#[allow(clippy::type_complexity)]
pub(super) fn blobs(
    public: rusqlite::types::ValueRef,
    sealed: rusqlite::types::ValueRef,
) -> std::result::Result<(Vec<u8>, Option<Vec<u8>>), String> {
    use rusqlite::types::ValueRef;
    let public = match public {
        ValueRef::Blob(b) => b.to_vec(),
        other => {
            return Err(format!(
                "its public attributes are {:?}, not a blob",
                other.data_type()
            ));
        }
    };
    let sealed = match sealed {
        ValueRef::Null => None,
        ValueRef::Blob(b) => Some(b.to_vec()),
        other => {
            return Err(format!(
                "its sealed value is {:?}, not a blob",
                other.data_type()
            ));
        }
    };
    Ok((public, sealed))
}

pub(super) fn uid_text(uid: &[u8]) -> String {
    String::from_utf8_lossy(uid).into_owned()
}

/// Splits an object's attributes into its public part and its sealed part (sealed under
/// `key`, bound to the object). `CKR_USER_NOT_LOGGED_IN` when it has secrets and the token key
/// is not unlocked.
pub fn seal_object(
    token: &PartitionId,
    attrs: &Attributes,
    key: Option<&TokenKey>,
) -> Result<(Attributes, Option<Vec<u8>>)> {
    seal_object_named(&token.to_string(), attrs, key)
}

/// `seal_object` for a token as the store names it (a migration's rows).
pub(super) fn seal_object_named(
    token: &str,
    attrs: &Attributes,
    key: Option<&TokenKey>,
) -> Result<(Attributes, Option<Vec<u8>>)> {
    let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
    let mut public = attrs.clone();
    let secrets = public.split_off_where(|t| is_sealed(class, t));
    if secrets.is_empty() {
        return Ok((public, None));
    }
    let key = key.ok_or_else(|| {
        err(
            CKR_USER_NOT_LOGGED_IN,
            "log in once in this process to unlock the token's key before storing key values \
             (simulator-defined: values are encrypted at rest under a PIN-sealed token key)",
        )
    })?;
    let uid = attrs.bytes(CKA_UNIQUE_ID).unwrap_or_default();
    let sealed = key.seal_secrets(&object_binding(token, uid), &secrets)?;
    Ok((public, Some(sealed)))
}

/// Deletes the objects of the tokens `condition` (SQL over `token`, with `?1` = `arg`) selects,
/// logging each one so other processes drop it.
pub(super) fn erase_objects(
    tx: &Transaction,
    condition: &str,
    arg: &str,
    writer: i64,
) -> Result<()> {
    let gone: Vec<(String, String)> = tx
        .prepare(&format!(
            "SELECT token, unique_id FROM objects WHERE {condition}"
        ))
        .and_then(|mut s| {
            s.query_map([arg], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)?;
    tx.execute(&format!("DELETE FROM objects WHERE {condition}"), [arg])
        .map_err(db_err)?;
    for (token, uid) in &gone {
        log_change(tx, token, Some(uid.as_bytes()), writer)?;
    }
    Ok(())
}

/// Inserts object rows of `token` in the caller's transaction, logging each.
pub(super) fn insert_rows(
    tx: &Transaction,
    token: &str,
    objects: &[StoredObject],
    writer: i64,
) -> Result<()> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO objects (unique_id, token, public, sealed) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db_err)?;
    for o in objects {
        insert
            .execute(params![
                uid_text(&o.unique_id),
                token,
                encode(&o.public)?,
                o.sealed
            ])
            .map_err(db_err)?;
        log_change(tx, token, Some(&o.unique_id), writer)?;
    }
    Ok(())
}

impl Store {
    /// Every token object of a partition, in creation order. A record whose public attributes
    /// do not decode is skipped and logged (simulator-defined: a damaged object is left out,
    /// so it has no handle and using it answers `CKR_OBJECT_HANDLE_INVALID`; the partition's
    /// other objects stay usable; `hsmsim lab check` names it).
    pub fn objects(&self, token: &PartitionId) -> Result<Vec<StoredObject>> {
        let token = &token.to_string();
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT unique_id, public, sealed FROM objects WHERE token = ?1 ORDER BY rowid",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([token], |r| {
                Ok((r.get::<_, String>(0)?, blobs(r.get_ref(1)?, r.get_ref(2)?)))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (uid, blobs) = row.map_err(db_err)?;
            let (public, sealed) = match blobs {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(target: "hsmsim::store", "{} is damaged and left out (run `hsmsim lab check`): {e}", object_name(token, &uid, None));
                    continue;
                }
            };
            if let Some(public) = decoded_or_logged(token, &uid, &public) {
                out.push(StoredObject {
                    unique_id: uid.into_bytes(),
                    public,
                    sealed,
                });
            }
        }
        Ok(out)
    }

    /// One token object, if it still exists on `token` (a damaged record is logged and
    /// answered as absent, as `objects` leaves it out).
    pub fn object(&self, token: &PartitionId, unique_id: &[u8]) -> Result<Option<StoredObject>> {
        let token = &token.to_string();
        let conn = self.conn.lock()?;
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = conn
            .prepare_cached(
                "SELECT public, sealed FROM objects WHERE unique_id = ?1 AND token = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![uid_text(unique_id), token], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db_err)?;
        Ok(row.and_then(|(public, sealed)| {
            Some(StoredObject {
                unique_id: unique_id.to_vec(),
                public: decoded_or_logged(token, &uid_text(unique_id), &public)?,
                sealed,
            })
        }))
    }

    /// The sealed values of `token`'s objects that `key` (the token key) does not
    /// authenticate, one sentence each naming the partition, the object's unique id and label.
    pub fn check_sealed(&self, id: &PartitionId, key: &TokenKey) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let token = &id.to_string();
        for o in self.objects(id)? {
            let Some(sealed) = &o.sealed else { continue };
            if let Err(e) = key.open_secrets(&object_binding(token, &o.unique_id), sealed) {
                problems.push(format!(
                    "{}: its sealed key value does not authenticate under the token key \
                     (damaged): {}",
                    object_name(token, &uid_text(&o.unique_id), Some(&o.public)),
                    e.detail
                ));
            }
        }
        Ok(problems)
    }

    /// Writes new token objects, all or none, into the incarnation of the token their secrets
    /// were sealed for: when another process re-initialised (or zeroised, or restarted) the
    /// token meanwhile, nothing is written (`records::replaced_error`).
    pub fn insert_objects(
        &self,
        token: &PartitionId,
        incarnation: Incarnation,
        objects: &[StoredObject],
    ) -> Result<()> {
        self.insert_objects_on(&[(token, incarnation, objects)])
    }

    /// `insert_objects` on several tokens in one transaction (an HA group's members, each with
    /// its own copies): all or none.
    pub fn insert_objects_on(
        &self,
        tokens: &[(&PartitionId, Incarnation, &[StoredObject])],
    ) -> Result<()> {
        self.write(|tx| {
            for (token, incarnation, objects) in tokens {
                let token = &token.to_string();
                if !read_token(tx, token)?
                    .is_some_and(|row| row.present && row.record.incarnation() == *incarnation)
                {
                    return Err(crate::store::records::replaced_error());
                }
                insert_rows(tx, token, objects, self.writer)?;
            }
            Ok(())
        })
    }

    /// Replaces an object's public attributes (its sealed secrets never change).
    /// `CKR_OBJECT_HANDLE_INVALID` when another process destroyed it meanwhile.
    pub fn update_public(
        &self,
        token: &PartitionId,
        unique_id: &[u8],
        public: &Attributes,
    ) -> Result<()> {
        self.update_public_on(&[(token, unique_id, public)])
    }

    /// `update_public` of several objects (an HA group's copies) in one transaction: all or
    /// none.
    pub fn update_public_on(&self, objects: &[(&PartitionId, &[u8], &Attributes)]) -> Result<()> {
        self.write(|tx| {
            for (token, unique_id, public) in objects {
                let token = &token.to_string();
                let n = tx
                    .execute(
                        "UPDATE objects SET public = ?1 WHERE unique_id = ?2 AND token = ?3",
                        params![encode(public)?, uid_text(unique_id), token],
                    )
                    .map_err(db_err)?;
                if n == 0 {
                    return Err(err(
                        CKR_OBJECT_HANDLE_INVALID,
                        "the object was destroyed by another process",
                    ));
                }
                log_change(tx, token, Some(unique_id), self.writer)?;
            }
            Ok(())
        })
    }

    /// Changes a token object's public attributes in one write transaction: `change` is given
    /// the stored attributes and answers those to set, which are also set on `copies` (an HA
    /// group's members' copies of it; a copy gone meanwhile is left out). No other thread or
    /// process writes in between, so a check and its change are one step (a key's usage
    /// count). Answers the attributes set. `CKR_OBJECT_HANDLE_INVALID` when the object is gone.
    pub fn change_public_on(
        &self,
        token: &PartitionId,
        unique_id: &[u8],
        copies: &[(PartitionId, Vec<u8>)],
        change: impl FnOnce(&Attributes) -> Result<Attributes>,
    ) -> Result<Attributes> {
        self.write(|tx| {
            let stored = |token: &str, uid: &[u8]| -> Result<Option<Attributes>> {
                let public: Option<Vec<u8>> = tx
                    .prepare_cached(
                        "SELECT public FROM objects WHERE unique_id = ?1 AND token = ?2",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![uid_text(uid), token], |r| r.get(0))
                            .optional()
                    })
                    .map_err(db_err)?;
                public.map(|p| decode(&p)).transpose()
            };
            let write = |token: &str, uid: &[u8], mut public: Attributes, set: &Attributes| {
                public.merge(set);
                tx.execute(
                    "UPDATE objects SET public = ?1 WHERE unique_id = ?2 AND token = ?3",
                    params![encode(&public)?, uid_text(uid), token],
                )
                .map_err(db_err)?;
                log_change(tx, token, Some(uid), self.writer)
            };
            let token = &token.to_string();
            let public = stored(token, unique_id)?.ok_or_else(|| {
                err(
                    CKR_OBJECT_HANDLE_INVALID,
                    "the object was destroyed by another process",
                )
            })?;
            let set = change(&public)?;
            if set.iter().next().is_none() {
                return Ok(set);
            }
            write(token, unique_id, public, &set)?;
            for (member, uid) in copies {
                let member = &member.to_string();
                if let Some(copy) = stored(member, uid)? {
                    write(member, uid, copy, &set)?;
                }
            }
            Ok(set)
        })
    }

    /// Deletes token objects, all or none; `CKR_OBJECT_HANDLE_INVALID` when one of them was
    /// already destroyed by another process.
    pub fn delete_objects(&self, token: &PartitionId, unique_ids: &[&[u8]]) -> Result<()> {
        self.delete_objects_on(&[(token, unique_ids)])
    }

    /// `delete_objects` on several tokens (an HA group's members) in one transaction.
    pub fn delete_objects_on(&self, tokens: &[(&PartitionId, &[&[u8]])]) -> Result<()> {
        self.write(|tx| {
            for (token, unique_ids) in tokens {
                let token = &token.to_string();
                for uid in *unique_ids {
                    let n = tx
                        .execute(
                            "DELETE FROM objects WHERE unique_id = ?1 AND token = ?2",
                            params![uid_text(uid), token],
                        )
                        .map_err(db_err)?;
                    if n == 0 {
                        return Err(err(
                            CKR_OBJECT_HANDLE_INVALID,
                            "the object was destroyed by another process",
                        ));
                    }
                    log_change(tx, token, Some(uid), self.writer)?;
                }
            }
            Ok(())
        })
    }

    /// Object counts per token (a row whose token name is not "device/partition" is left
    /// out).
    pub fn object_counts(&self) -> Result<BTreeMap<PartitionId, u64>> {
        let conn = self.conn.lock()?;
        let mut stmt = conn
            .prepare("SELECT token, COUNT(*) FROM objects GROUP BY token")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(db_err)?;
        let counts: Vec<(String, u64)> = rows
            .map(|r| r.map(|(t, n)| (t, n.max(0) as u64)))
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(counts
            .into_iter()
            .filter_map(|(t, n)| Some((PartitionId::parse(&t)?, n)))
            .collect())
    }
}
