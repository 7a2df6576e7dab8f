//! Durable state: SQLite in WAL mode. Shares are stored encrypted (see `crypto::AtRest`);
//! deliveries and erasures are job rows whose state is written before and after each chain
//! transaction, so a restart resumes exactly where the keeper stopped.

use std::{
    path::Path,
    str::FromStr,
    sync::{Arc, Mutex},
};

use alloy::primitives::{B256, U256};
use phd_node::BlockRef;
use rusqlite::{
    Connection, OptionalExtension, ToSql, params,
    types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef},
};
use serde::Serialize;

use crate::{KeeperError, chain::ChainEvent};

/// Current schema version (`PRAGMA user_version`).
pub(crate) const SCHEMA_VERSION: i64 = 4;

mod series;
pub(crate) use series::{ERASURE_CONFIRMED, ERASURE_DELETED, ERASURE_NOT_LISTED, OpenSubscription};

const MIGRATION_1: &str = "
CREATE TABLE shares (
    dataset_id   TEXT PRIMARY KEY,
    share_index  INTEGER NOT NULL,
    sealed       BLOB NOT NULL,
    stored_at_ms INTEGER NOT NULL,
    ack_tx       TEXT,
    acked        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    next_block INTEGER NOT NULL
);
CREATE TABLE deliveries (
    purchase_id     TEXT PRIMARY KEY,
    dataset_id      TEXT NOT NULL,
    buyer_pubkey    BLOB NOT NULL,
    is_grant        INTEGER NOT NULL,
    block           INTEGER NOT NULL,
    state           TEXT NOT NULL,
    tx_hash         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX deliveries_state ON deliveries(state, next_attempt_ms);
CREATE INDEX deliveries_dataset ON deliveries(dataset_id);
CREATE TABLE erasures (
    dataset_id      TEXT PRIMARY KEY,
    block           INTEGER NOT NULL,
    state           TEXT NOT NULL,
    tx_hash         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    updated_at_ms   INTEGER NOT NULL
);
";

/// v2: the commit step of a delivery (`commit(purchaseId)` before `deliverShare`) records its
/// transaction like the delivery does.
const MIGRATION_2: &str = "
ALTER TABLE deliveries ADD COLUMN commit_tx TEXT;
";

/// v3: the hashes of the last scanned blocks (phd-node's reorg window), written in the same
/// transaction as the cursor. A v2 database starts with an empty window, filled by its next
/// scan.
const MIGRATION_3: &str = "
CREATE TABLE scanned_blocks (
    number INTEGER PRIMARY KEY,
    hash   TEXT NOT NULL
);
";

/// A job state stored as text in a `state` column. The strings are the on-disk format:
/// existing databases hold them, so a variant's string never changes.
macro_rules! stored_state {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            #[cfg(test)]
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub(crate) const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownState(other.to_owned())),
                }
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

/// A `state` column holds a string this version does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub(crate) struct UnknownState(String);

stored_state!(
    /// Where a delivery job stands.
    DeliveryState {
        /// Seen on-chain, not yet acted on.
        Pending => "pending",
        /// Commit intent recorded: a `commit` may be in flight (`commit_tx` once broadcast).
        Committing => "committing",
        /// Our commitment is on-chain; waiting for `threshold` commitments, then delivering.
        Committed => "committed",
        /// We hold no share for the dataset (yet); re-queued when one is stored.
        NoShare => "no_share",
        /// Intent recorded: a transaction may be in flight (`tx_hash` once broadcast).
        Sending => "sending",
        /// Our transaction was mined successfully.
        Delivered => "delivered",
        /// Found delivered on-chain (a transaction of ours from before a crash).
        AlreadyDelivered => "already_delivered",
        /// Purchase closed, past its deadline, or we are not listed.
        Skipped => "skipped",
        /// Gave up after repeated non-transient failures.
        Failed => "failed",
    }
);

stored_state!(
    /// Where an erasure job stands.
    ErasureState {
        /// Seen on-chain, share not yet deleted.
        Pending => "pending",
        /// Share row gone and file vacuumed; confirmation outstanding.
        Deleted => "deleted",
        /// `confirmErasure` done (by us, now or earlier).
        Confirmed => "confirmed",
        /// We are not a keeper of the dataset: nothing to confirm.
        NotListed => "not_listed",
        /// Gave up after repeated non-transient failures.
        Failed => "failed",
    }
);

/// A stored share (still encrypted at rest).
#[derive(Debug, Clone)]
pub(crate) struct ShareRow {
    pub(crate) share_index: u8,
    pub(crate) sealed: Vec<u8>,
    pub(crate) ack_tx: Option<B256>,
    pub(crate) acked: bool,
}

/// A delivery to act on.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryJob {
    pub(crate) purchase_id: U256,
    pub(crate) dataset_id: U256,
    pub(crate) buyer_pubkey: Vec<u8>,
    pub(crate) state: DeliveryState,
    pub(crate) tx_hash: Option<B256>,
    pub(crate) attempts: u32,
    /// Our `commit` transaction, once broadcast.
    pub(crate) commit_tx: Option<B256>,
}

/// An erasure to act on.
#[derive(Debug, Clone)]
pub(crate) struct ErasureJob {
    pub(crate) dataset_id: U256,
    pub(crate) state: ErasureState,
    pub(crate) attempts: u32,
}

/// Summary for `phd-keeper status` and `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Shares currently held.
    pub shares: u64,
    /// Shares acknowledged on-chain.
    pub shares_acknowledged: u64,
    /// Next block the watcher will scan (None before the first scan).
    pub cursor_block: Option<u64>,
    /// Delivery jobs by state.
    pub deliveries: std::collections::BTreeMap<String, u64>,
    /// Erasure jobs by state.
    pub erasures: std::collections::BTreeMap<String, u64>,
}

/// The keeper's database.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Mutex<Connection>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn parse_u256(s: &str) -> Result<U256, KeeperError> {
    U256::from_str(s).map_err(|e| KeeperError::Db {
        context: "parse stored id",
        source: rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(e),
        ),
    })
}

fn parse_hash(s: Option<String>) -> Option<B256> {
    s.and_then(|s| B256::from_str(&s).ok())
}

/// The two job tables, which share their bookkeeping columns.
#[derive(Debug, Clone, Copy)]
enum JobTable {
    Deliveries,
    Erasures,
}

/// Moves a job to `state`; `tx_hash` and, without `retry`, the attempt count and last error
/// are kept; `retry` = (attempts, next attempt at ms, error).
fn set_job(
    c: &Connection,
    table: JobTable,
    id: U256,
    state: &dyn ToSql,
    tx_hash: Option<B256>,
    retry: Option<(u32, i64, &str)>,
) -> Result<(), KeeperError> {
    // Table and key column are fixed per variant, never input.
    let (sql, context) = match table {
        JobTable::Deliveries => (
            "UPDATE deliveries SET state = ?2, tx_hash = COALESCE(?3, tx_hash), attempts = COALESCE(?4, attempts),
             next_attempt_ms = ?5, last_error = COALESCE(?6, last_error), updated_at_ms = ?7 WHERE purchase_id = ?1",
            "update delivery",
        ),
        JobTable::Erasures => (
            "UPDATE erasures SET state = ?2, tx_hash = COALESCE(?3, tx_hash), attempts = COALESCE(?4, attempts),
             next_attempt_ms = ?5, last_error = COALESCE(?6, last_error), updated_at_ms = ?7 WHERE dataset_id = ?1",
            "update erasure",
        ),
    };
    let (attempts, next_at, err) = match retry {
        Some((a, n, e)) => (Some(i64::from(a)), n, Some(e)),
        None => (None, 0, None),
    };
    c.execute(
        sql,
        params![
            id.to_string(),
            state,
            tx_hash.map(|h| h.to_string()),
            attempts,
            next_at,
            err,
            now_ms()
        ],
    )
    .map_err(KeeperError::db(context))?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, KeeperError> {
        let conn = Connection::open(path).map_err(KeeperError::db("open"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(KeeperError::db("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(KeeperError::db("set synchronous"))?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(KeeperError::db("set secure_delete"))?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(KeeperError::db("set temp_store"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(KeeperError::db("set foreign_keys"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(KeeperError::db("set busy timeout"))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(KeeperError::db("read schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(KeeperError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 {
            let tx = conn
                .unchecked_transaction()
                .map_err(KeeperError::db("begin migration"))?;
            tx.execute_batch(MIGRATION_1)
                .map_err(KeeperError::db("migrate to v1"))?;
            tx.pragma_update(None, "user_version", 1)
                .map_err(KeeperError::db("set schema version"))?;
            tx.commit().map_err(KeeperError::db("commit migration"))?;
        }
        if version < 2 {
            let tx = conn
                .unchecked_transaction()
                .map_err(KeeperError::db("begin migration"))?;
            tx.execute_batch(MIGRATION_2)
                .map_err(KeeperError::db("migrate to v2"))?;
            tx.pragma_update(None, "user_version", 2)
                .map_err(KeeperError::db("set schema version"))?;
            tx.commit().map_err(KeeperError::db("commit migration"))?;
        }
        if version < 3 {
            let tx = conn
                .unchecked_transaction()
                .map_err(KeeperError::db("begin migration"))?;
            tx.execute_batch(MIGRATION_3)
                .map_err(KeeperError::db("migrate to v3"))?;
            tx.pragma_update(None, "user_version", 3)
                .map_err(KeeperError::db("set schema version"))?;
            tx.commit().map_err(KeeperError::db("commit migration"))?;
        }
        if version < 4 {
            let tx = conn
                .unchecked_transaction()
                .map_err(KeeperError::db("begin migration"))?;
            tx.execute_batch(series::MIGRATION_4)
                .map_err(KeeperError::db("migrate to v4"))?;
            tx.pragma_update(None, "user_version", 4)
                .map_err(KeeperError::db("set schema version"))?;
            tx.commit().map_err(KeeperError::db("commit migration"))?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, KeeperError>,
    ) -> Result<T, KeeperError> {
        let mut guard = self.conn.lock().map_err(|_| KeeperError::Task {
            task: "database",
            reason: "connection mutex poisoned".into(),
        })?;
        f(&mut guard)
    }

    /// Runs a blocking database operation off the async runtime.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Self) -> Result<T, KeeperError> + Send + 'static,
    ) -> Result<T, KeeperError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| KeeperError::Task {
                task: "database",
                reason: e.to_string(),
            })?
    }

    // ---- shares ----

    pub(crate) fn get_share(&self, dataset_id: U256) -> Result<Option<ShareRow>, KeeperError> {
        self.with(|c| {
            c.query_row(
                "SELECT share_index, sealed, ack_tx, acked FROM shares WHERE dataset_id = ?1",
                params![dataset_id.to_string()],
                |r| {
                    Ok(ShareRow {
                        share_index: r.get(0)?,
                        sealed: r.get(1)?,
                        ack_tx: parse_hash(r.get(2)?),
                        acked: r.get::<_, i64>(3)? != 0,
                    })
                },
            )
            .optional()
            .map_err(KeeperError::db("read share"))
        })
    }

    /// Stores a share unless one is already stored; re-queues deliveries that waited for it.
    /// Returns whether a row was inserted.
    pub(crate) fn insert_share(
        &self,
        dataset_id: U256,
        share_index: u8,
        sealed: &[u8],
    ) -> Result<bool, KeeperError> {
        self.with(|c| {
            let tx = c.transaction().map_err(KeeperError::db("begin store share"))?;
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO shares (dataset_id, share_index, sealed, stored_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![dataset_id.to_string(), share_index, sealed, now_ms()],
                )
                .map_err(KeeperError::db("store share"))?;
            tx.execute(
                "UPDATE deliveries SET state = ?1, next_attempt_ms = 0 WHERE dataset_id = ?2 AND state = ?3",
                params![DeliveryState::Pending, dataset_id.to_string(), DeliveryState::NoShare],
            )
            .map_err(KeeperError::db("re-queue deliveries"))?;
            tx.commit().map_err(KeeperError::db("commit store share"))?;
            Ok(n == 1)
        })
    }

    pub(crate) fn set_acked(
        &self,
        dataset_id: U256,
        tx_hash: Option<B256>,
    ) -> Result<(), KeeperError> {
        self.with(|c| {
            c.execute(
                "UPDATE shares SET acked = 1, ack_tx = COALESCE(?2, ack_tx) WHERE dataset_id = ?1",
                params![dataset_id.to_string(), tx_hash.map(|h| h.to_string())],
            )
            .map_err(KeeperError::db("record acknowledgement"))?;
            Ok(())
        })
    }

    pub(crate) fn unacked_shares(&self) -> Result<Vec<U256>, KeeperError> {
        self.with(|c| {
            let mut st = c
                .prepare("SELECT dataset_id FROM shares WHERE acked = 0")
                .map_err(KeeperError::db("list unacknowledged"))?;
            let ids = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(KeeperError::db("list unacknowledged"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(KeeperError::db("list unacknowledged"))?;
            ids.iter().map(|s| parse_u256(s)).collect()
        })
    }

    pub(crate) fn share_count(&self) -> Result<u64, KeeperError> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*) FROM shares", [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(KeeperError::db("count shares"))
        })
    }

    // ---- cursor and events ----

    pub(crate) fn cursor(&self) -> Result<Option<u64>, KeeperError> {
        self.with(|c| {
            c.query_row("SELECT next_block FROM cursor WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|o| o.map(|n| u64::try_from(n).unwrap_or(0)))
            .map_err(KeeperError::db("read cursor"))
        })
    }

    /// The remembered scanned blocks (number, hash), oldest first.
    pub(crate) fn scanned_blocks(&self) -> Result<Vec<BlockRef>, KeeperError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT number, hash FROM scanned_blocks ORDER BY number")
                .map_err(KeeperError::db("read scanned blocks"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(KeeperError::db("read scanned blocks"))?;
            let mut out = Vec::new();
            for row in rows {
                let (n, h) = row.map_err(KeeperError::db("read scanned blocks"))?;
                // A row that does not parse is dropped: the window only narrows reorg
                // detection, it never decides what is processed.
                if let (Ok(n), Ok(h)) = (u64::try_from(n), h.parse::<B256>()) {
                    out.push((n, h));
                }
            }
            Ok(out)
        })
    }

    /// Replaces the window and sets the cursor, inside `tx`.
    fn write_cursor(
        tx: &rusqlite::Transaction<'_>,
        next_block: u64,
        window: &[BlockRef],
    ) -> Result<(), KeeperError> {
        tx.execute(
            "INSERT INTO cursor (id, next_block) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET next_block = excluded.next_block",
            params![i64::try_from(next_block).unwrap_or(i64::MAX)],
        )
        .map_err(KeeperError::db("advance cursor"))?;
        tx.execute("DELETE FROM scanned_blocks", [])
            .map_err(KeeperError::db("replace scanned blocks"))?;
        for (n, h) in window {
            tx.execute(
                "INSERT OR REPLACE INTO scanned_blocks (number, hash) VALUES (?1, ?2)",
                params![i64::try_from(*n).unwrap_or(i64::MAX), h.to_string()],
            )
            .map_err(KeeperError::db("remember scanned block"))?;
        }
        Ok(())
    }

    /// After a reorg: moves the cursor back to `next_block` with the part of the window still
    /// on the chain, atomically. Jobs stay: the rescan re-records them idempotently.
    pub(crate) fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<(), KeeperError> {
        self.with(|c| {
            let tx = c.transaction().map_err(KeeperError::db("begin rewind"))?;
            Self::write_cursor(&tx, next_block, window)?;
            tx.commit().map_err(KeeperError::db("commit rewind"))
        })
    }

    /// Records the jobs for `events` and moves the cursor to `next_block` with the scanned
    /// blocks' `window`, atomically. Replays are idempotent: an event already recorded adds
    /// nothing. A purchase id recorded with a different dataset or buyer key (a reorg gave
    /// the id to another purchase) gets its job reset to pending with the new contents: the
    /// job re-checks `hasCommitted`/`hasDelivered` on-chain before any transaction, so
    /// nothing is sent twice, and the new purchase is not left undelivered.
    pub(crate) fn record_events(
        &self,
        events: &[ChainEvent],
        next_block: u64,
        window: &[BlockRef],
    ) -> Result<(usize, usize), KeeperError> {
        self.with(|c| {
            let tx = c.transaction().map_err(KeeperError::db("begin record events"))?;
            let now = now_ms();
            let (mut deliveries, mut erasures) = (0, 0);
            for ev in events {
                match ev {
                    ChainEvent::Purchase { purchase_id, dataset_id, buyer_pubkey, grant, block } => {
                        // One row for both statements: insert the job, or reset it when a reorg
                        // re-used the purchase id for another dataset, buyer or kind.
                        let (pid, did, block) =
                            (purchase_id.to_string(), dataset_id.to_string(), i64::try_from(*block).unwrap_or(i64::MAX));
                        let row = params![pid, did, buyer_pubkey.as_ref(), *grant, block, DeliveryState::Pending, now];
                        deliveries += tx
                            .execute(
                                "INSERT OR IGNORE INTO deliveries (purchase_id, dataset_id, buyer_pubkey, is_grant, block, state, updated_at_ms)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                row,
                            )
                            .map_err(KeeperError::db("record purchase"))?;
                        let replaced = tx
                            .execute(
                                "UPDATE deliveries SET dataset_id = ?2, buyer_pubkey = ?3, is_grant = ?4, block = ?5, state = ?6,
                                     tx_hash = NULL, commit_tx = NULL, attempts = 0, next_attempt_ms = 0, last_error = NULL,
                                     updated_at_ms = ?7
                                 WHERE purchase_id = ?1 AND (dataset_id != ?2 OR buyer_pubkey != ?3 OR is_grant != ?4)",
                                row,
                            )
                            .map_err(KeeperError::db("replace reorged purchase"))?;
                        if replaced > 0 {
                            tracing::warn!(purchase_id = %purchase_id, dataset_id = %dataset_id, "purchase id re-emitted with other contents after a reorg; job reset");
                        }
                        deliveries += replaced;
                    }
                    ChainEvent::ConsentWithdrawn { dataset_id, block } => {
                        erasures += tx
                            .execute(
                                "INSERT OR IGNORE INTO erasures (dataset_id, block, state, updated_at_ms) VALUES (?1, ?2, ?3, ?4)",
                                params![dataset_id.to_string(), i64::try_from(*block).unwrap_or(i64::MAX), ErasureState::Pending, now],
                            )
                            .map_err(KeeperError::db("record withdrawal"))?;
                    }
                }
            }
            Self::write_cursor(&tx, next_block, window)?;
            tx.commit().map_err(KeeperError::db("commit events"))?;
            Ok((deliveries, erasures))
        })
    }

    // ---- deliveries ----

    pub(crate) fn due_deliveries(&self, limit: usize) -> Result<Vec<DeliveryJob>, KeeperError> {
        self.with(|c| {
            let mut st = c
                .prepare(
                    "SELECT purchase_id, dataset_id, buyer_pubkey, state, tx_hash, attempts, commit_tx FROM deliveries
                     WHERE state IN (?1, ?2, ?5, ?6) AND next_attempt_ms <= ?3 ORDER BY block, rowid LIMIT ?4",
                )
                .map_err(KeeperError::db("list due deliveries"))?;
            let rows = st
                .query_map(
                    params![
                        DeliveryState::Pending,
                        DeliveryState::Sending,
                        now_ms(),
                        i64::try_from(limit).unwrap_or(i64::MAX),
                        DeliveryState::Committing,
                        DeliveryState::Committed
                    ],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                            r.get::<_, DeliveryState>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, Option<String>>(6)?,
                        ))
                    },
                )
                .map_err(KeeperError::db("list due deliveries"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(KeeperError::db("list due deliveries"))?;
            rows.into_iter()
                .map(|(p, d, k, s, h, a, ct)| {
                    Ok(DeliveryJob {
                        purchase_id: parse_u256(&p)?,
                        dataset_id: parse_u256(&d)?,
                        buyer_pubkey: k,
                        state: s,
                        tx_hash: parse_hash(h),
                        attempts: u32::try_from(a).unwrap_or(u32::MAX),
                        commit_tx: parse_hash(ct),
                    })
                })
                .collect()
        })
    }

    /// Sets a delivery's state; `tx_hash` is kept when `None`.
    pub(crate) fn set_delivery(
        &self,
        purchase_id: U256,
        state: DeliveryState,
        tx_hash: Option<B256>,
        retry: Option<(u32, i64, &str)>,
    ) -> Result<(), KeeperError> {
        self.with(|c| set_job(c, JobTable::Deliveries, purchase_id, &state, tx_hash, retry))
    }

    /// Records the broadcast `commit` transaction of a delivery (state `Committing`).
    pub(crate) fn set_commit_tx(
        &self,
        purchase_id: U256,
        tx_hash: B256,
    ) -> Result<(), KeeperError> {
        self.with(|c| {
            c.execute(
                "UPDATE deliveries SET commit_tx = ?2, updated_at_ms = ?3 WHERE purchase_id = ?1",
                params![purchase_id.to_string(), tx_hash.to_string(), now_ms()],
            )
            .map_err(KeeperError::db("record commit transaction"))?;
            Ok(())
        })
    }

    // ---- erasures ----

    pub(crate) fn due_erasures(&self, limit: usize) -> Result<Vec<ErasureJob>, KeeperError> {
        self.with(|c| {
            let mut st = c
                .prepare(
                    "SELECT dataset_id, state, attempts FROM erasures WHERE state IN (?1, ?2) AND next_attempt_ms <= ?3
                     ORDER BY block, rowid LIMIT ?4",
                )
                .map_err(KeeperError::db("list due erasures"))?;
            let rows = st
                .query_map(
                    params![ErasureState::Pending, ErasureState::Deleted, now_ms(), i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, ErasureState>(1)?, r.get::<_, i64>(2)?)),
                )
                .map_err(KeeperError::db("list due erasures"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(KeeperError::db("list due erasures"))?;
            rows.into_iter()
                .map(|(d, s, a)| {
                    Ok(ErasureJob { dataset_id: parse_u256(&d)?, state: s, attempts: u32::try_from(a).unwrap_or(u32::MAX) })
                })
                .collect()
        })
    }

    /// Sets an erasure's state; `tx_hash` is kept when `None`.
    pub(crate) fn set_erasure(
        &self,
        dataset_id: U256,
        state: ErasureState,
        tx_hash: Option<B256>,
        retry: Option<(u32, i64, &str)>,
    ) -> Result<(), KeeperError> {
        self.with(|c| set_job(c, JobTable::Erasures, dataset_id, &state, tx_hash, retry))
    }

    /// Deletes the share row and marks the erasure `deleted` in one transaction, then
    /// rewrites the file so the bytes are gone: WAL checkpoint (TRUNCATE), `VACUUM`, checkpoint
    /// again. Idempotent: safe to call again after a crash at any point.
    /// `force` scrubs even when no row was deleted (a crash after the delete, before the scrub).
    pub(crate) fn erase_share(&self, dataset_id: U256, force: bool) -> Result<bool, KeeperError> {
        self.with(|c| {
            let tx = c.transaction().map_err(KeeperError::db("begin erase"))?;
            let n = tx
                .execute("DELETE FROM shares WHERE dataset_id = ?1", params![dataset_id.to_string()])
                .map_err(KeeperError::db("delete share"))?;
            tx.execute(
                "UPDATE erasures SET state = ?2, updated_at_ms = ?3 WHERE dataset_id = ?1 AND state = ?4",
                params![dataset_id.to_string(), ErasureState::Deleted, now_ms(), ErasureState::Pending],
            )
            .map_err(KeeperError::db("mark erased"))?;
            tx.commit().map_err(KeeperError::db("commit erase"))?;
            if n > 0 || force {
                Self::scrub(c)?;
            }
            Ok(n == 1)
        })
    }

    fn scrub(c: &Connection) -> Result<(), KeeperError> {
        let checkpoint = |c: &Connection| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(KeeperError::db("checkpoint WAL"))
        };
        checkpoint(c)?;
        c.execute_batch("VACUUM")
            .map_err(KeeperError::db("vacuum"))?;
        checkpoint(c)?;
        Ok(())
    }

    // ---- status ----

    pub(crate) fn status(&self) -> Result<StatusReport, KeeperError> {
        let cursor = self.cursor()?;
        self.with(|c| {
            let count = |sql: &str| -> Result<u64, KeeperError> {
                c.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .map(|n| u64::try_from(n).unwrap_or(0))
                    .map_err(KeeperError::db("status"))
            };
            let shares = count("SELECT COUNT(*) FROM shares")?;
            let shares_acknowledged = count("SELECT COUNT(*) FROM shares WHERE acked = 1")?;
            let group =
                |sql: &str| -> Result<std::collections::BTreeMap<String, u64>, KeeperError> {
                    let mut st = c.prepare(sql).map_err(KeeperError::db("status"))?;
                    let rows = st
                        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                        .map_err(KeeperError::db("status"))?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(KeeperError::db("status"))?;
                    Ok(rows
                        .into_iter()
                        .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
                        .collect())
                };
            Ok(StatusReport {
                shares,
                shares_acknowledged,
                cursor_block: cursor,
                deliveries: group("SELECT state, COUNT(*) FROM deliveries GROUP BY state")?,
                erasures: group("SELECT state, COUNT(*) FROM erasures GROUP BY state")?,
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use alloy::primitives::Bytes;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn state_strings_are_the_stored_format() {
        let stored = |all: &[&'static str]| all.to_vec();
        let deliveries: Vec<_> = DeliveryState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            deliveries,
            stored(&[
                "pending",
                "committing",
                "committed",
                "no_share",
                "sending",
                "delivered",
                "already_delivered",
                "skipped",
                "failed"
            ])
        );
        let erasures: Vec<_> = ErasureState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            erasures,
            stored(&["pending", "deleted", "confirmed", "not_listed", "failed"])
        );
        assert!(
            DeliveryState::ALL
                .iter()
                .all(|s| s.as_str().parse::<DeliveryState>().ok() == Some(*s))
        );
        assert!(
            ErasureState::ALL
                .iter()
                .all(|s| s.as_str().parse::<ErasureState>().ok() == Some(*s))
        );
        assert!("delivering".parse::<DeliveryState>().is_err());
    }

    #[test]
    fn v1_database_gains_the_commit_step() {
        // A keeper upgraded mid-delivery: its v1 rows keep their state and get no commit tx.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.db");
        {
            let c = Connection::open(&p).unwrap();
            c.execute_batch(MIGRATION_1).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO deliveries (purchase_id, dataset_id, buyer_pubkey, is_grant, block, state, updated_at_ms)
                 VALUES ('5', '7', x'00', 0, 3, 'pending', 0)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&p).unwrap();
        let jobs = s.due_deliveries(10).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].state, jobs[0].commit_tx),
            (DeliveryState::Pending, None)
        );
        s.set_delivery(U256::from(5), DeliveryState::Committing, None, None)
            .unwrap();
        s.set_commit_tx(U256::from(5), B256::repeat_byte(9))
            .unwrap();
        let jobs = s.due_deliveries(10).unwrap();
        assert_eq!(
            (jobs[0].state, jobs[0].commit_tx),
            (DeliveryState::Committing, Some(B256::repeat_byte(9)))
        );
        drop(s);
        let c = Connection::open(&p).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn migrate_reopen_and_version_guard() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.db");
        {
            let s = Store::open(&p).unwrap();
            assert!(s.insert_share(U256::from(1), 2, b"sealed").unwrap());
            assert!(!s.insert_share(U256::from(1), 2, b"other").unwrap());
        }
        let s = Store::open(&p).unwrap();
        assert_eq!(
            s.get_share(U256::from(1)).unwrap().unwrap().sealed,
            b"sealed"
        );
        drop(s);
        let c = Connection::open(&p).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            Store::open(&p),
            Err(KeeperError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[test]
    fn events_are_recorded_once_with_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("k.db")).unwrap();
        let ev = vec![
            ChainEvent::Purchase {
                purchase_id: U256::from(3),
                dataset_id: U256::from(1),
                buyer_pubkey: Bytes::from(vec![1u8; 64]),
                grant: false,
                block: 10,
            },
            ChainEvent::ConsentWithdrawn {
                dataset_id: U256::from(1),
                block: 11,
            },
        ];
        assert_eq!(s.record_events(&ev, 12, &[]).unwrap(), (1, 1));
        assert_eq!(s.record_events(&ev, 12, &[]).unwrap(), (0, 0));
        assert_eq!(s.cursor().unwrap(), Some(12));
        assert!(s.scanned_blocks().unwrap().is_empty());
        let due = s.due_deliveries(10).unwrap();
        assert_eq!(due.len(), 1);
        s.set_delivery(U256::from(3), DeliveryState::NoShare, None, None)
            .unwrap();
        assert!(s.due_deliveries(10).unwrap().is_empty());
        s.insert_share(U256::from(1), 1, b"x").unwrap();
        assert_eq!(s.due_deliveries(10).unwrap().len(), 1);
        assert_eq!(s.due_erasures(10).unwrap().len(), 1);
    }

    #[test]
    fn erasure_scrubs_file_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.db");
        let s = Store::open(&p).unwrap();
        let marker: Vec<u8> = (0u8..64)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        s.insert_share(U256::from(9), 1, &marker).unwrap();
        for i in 0..50u64 {
            s.insert_share(U256::from(100 + i), 1, &[0xAB; 60]).unwrap();
        }
        s.record_events(
            &[ChainEvent::ConsentWithdrawn {
                dataset_id: U256::from(9),
                block: 1,
            }],
            2,
            &[],
        )
        .unwrap();
        let mut all = std::fs::read(&p).unwrap();
        all.extend(std::fs::read(dir.path().join("k.db-wal")).unwrap_or_default());
        assert!(contains(&all, &marker));
        assert!(s.erase_share(U256::from(9), false).unwrap());
        for f in ["k.db", "k.db-wal", "k.db-shm"] {
            let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
            assert!(!contains(&bytes, &marker), "share bytes left in {f}");
        }
        assert!(s.get_share(U256::from(9)).unwrap().is_none());
        assert_eq!(s.due_erasures(10).unwrap()[0].state, ErasureState::Deleted);
        assert!(!s.erase_share(U256::from(9), false).unwrap());
    }

    #[test]
    fn window_is_stored_with_the_cursor_and_rewound() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("k.db")).unwrap();
        let w = vec![(10, B256::repeat_byte(1)), (11, B256::repeat_byte(2))];
        s.record_events(&[], 12, &w).unwrap();
        assert_eq!(
            (s.cursor().unwrap(), s.scanned_blocks().unwrap()),
            (Some(12), w.clone())
        );
        s.rewind(11, &w[..1]).unwrap();
        assert_eq!(
            (s.cursor().unwrap(), s.scanned_blocks().unwrap()),
            (Some(11), w[..1].to_vec())
        );
    }

    #[test]
    fn reorged_purchase_id_with_other_contents_resets_the_job() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("k.db")).unwrap();
        s.insert_share(U256::from(1), 1, b"x").unwrap();
        let ev = |key: u8| ChainEvent::Purchase {
            purchase_id: U256::from(3),
            dataset_id: U256::from(1),
            buyer_pubkey: Bytes::from(vec![key; 64]),
            grant: false,
            block: 10,
        };
        assert_eq!(s.record_events(&[ev(1)], 11, &[]).unwrap(), (1, 0));
        s.set_delivery(U256::from(3), DeliveryState::Skipped, None, None)
            .unwrap();
        // the same event again (a rescan): nothing
        assert_eq!(s.record_events(&[ev(1)], 11, &[]).unwrap(), (0, 0));
        assert!(s.due_deliveries(10).unwrap().is_empty());
        // the id now names another buyer's purchase: the job is redone for it
        assert_eq!(s.record_events(&[ev(2)], 11, &[]).unwrap(), (1, 0));
        let due = s.due_deliveries(10).unwrap();
        assert_eq!(
            (due.len(), due[0].state, due[0].buyer_pubkey.as_ref()),
            (1, DeliveryState::Pending, &[2u8; 64][..])
        );
    }
}
