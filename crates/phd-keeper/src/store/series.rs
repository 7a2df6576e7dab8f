//! Series state: segment shares (sealed at rest, with the commitments hash they were verified
//! against), subscriptions seen on-chain, erasures, and the series watcher's own cursor and
//! reorg window (a separate scan from the dataset watcher's).

use alloy::primitives::{B256, Bytes, U256};
use phd_node::BlockRef;
use rusqlite::{OptionalExtension, params};

use super::{Store, now_ms};
use crate::{KeeperError, chain::series::SeriesEvent};

/// v4: series tables.
pub(super) const MIGRATION_4: &str = "
CREATE TABLE segment_shares (
    series_id        TEXT NOT NULL,
    seq              INTEGER NOT NULL,
    share_index      INTEGER NOT NULL,
    commitments_hash TEXT NOT NULL,
    sealed           BLOB NOT NULL,
    stored_at_ms     INTEGER NOT NULL,
    PRIMARY KEY (series_id, seq)
);
CREATE TABLE series_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    series_id       TEXT NOT NULL,
    pubkey          BLOB NOT NULL,
    done            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX series_subscriptions_open ON series_subscriptions(done, series_id);
CREATE TABLE series_erasures (
    series_id     TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    tx_hash       TEXT,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE series_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    next_block INTEGER NOT NULL
);
CREATE TABLE series_scanned_blocks (
    number INTEGER PRIMARY KEY,
    hash   TEXT NOT NULL
);
";

/// A stored segment share.
#[derive(Debug, Clone)]
pub(crate) struct SegmentShareRow {
    pub(crate) share_index: u8,
    pub(crate) commitments_hash: B256,
    pub(crate) sealed: Vec<u8>,
}

/// A subscription still to serve.
#[derive(Debug, Clone)]
pub(crate) struct OpenSubscription {
    pub(crate) subscription_id: U256,
    pub(crate) series_id: U256,
    pub(crate) pubkey: Bytes,
}

/// Erasure states of a series (stored text).
pub(crate) const ERASURE_PENDING: &str = "pending";
pub(crate) const ERASURE_DELETED: &str = "deleted";
pub(crate) const ERASURE_CONFIRMED: &str = "confirmed";
pub(crate) const ERASURE_NOT_LISTED: &str = "not_listed";

fn num(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// The stored share of a segment.
    pub(crate) fn get_segment_share(
        &self,
        series_id: U256,
        seq: u64,
    ) -> Result<Option<SegmentShareRow>, KeeperError> {
        self.with(|c| {
            c.query_row(
                "SELECT share_index, commitments_hash, sealed FROM segment_shares WHERE series_id = ?1 AND seq = ?2",
                params![series_id.to_string(), num(seq)],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)),
            )
            .optional()
            .map_err(KeeperError::db("read segment share"))?
            .map(|(i, h, sealed)| {
                Ok(SegmentShareRow {
                    share_index: u8::try_from(i).unwrap_or(0),
                    commitments_hash: h.parse().map_err(|_| KeeperError::Task {
                        task: "database",
                        reason: format!("bad commitments hash {h}"),
                    })?,
                    sealed,
                })
            })
            .transpose()
        })
    }

    /// Stores (or replaces) a segment share.
    pub(crate) fn put_segment_share(
        &self,
        series_id: U256,
        seq: u64,
        share_index: u8,
        commitments_hash: B256,
        sealed: &[u8],
    ) -> Result<(), KeeperError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO segment_shares (series_id, seq, share_index, commitments_hash, sealed, stored_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(series_id, seq) DO UPDATE SET share_index = excluded.share_index,
                     commitments_hash = excluded.commitments_hash, sealed = excluded.sealed,
                     stored_at_ms = excluded.stored_at_ms",
                params![series_id.to_string(), num(seq), share_index, commitments_hash.to_string(), sealed, now_ms()],
            )
            .map_err(KeeperError::db("store segment share"))?;
            Ok(())
        })
    }

    /// Segment shares held.
    pub(crate) fn segment_share_count(&self) -> Result<u64, KeeperError> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*) FROM segment_shares", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(KeeperError::db("count segment shares"))
        })
    }

    /// Subscriptions not finished yet, by series.
    pub(crate) fn open_subscriptions(&self) -> Result<Vec<OpenSubscription>, KeeperError> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT subscription_id, series_id, pubkey FROM series_subscriptions
                     WHERE done = 0 ORDER BY series_id, subscription_id",
                )
                .map_err(KeeperError::db("read subscriptions"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(KeeperError::db("read subscriptions"))?;
            let mut out = Vec::new();
            for row in rows {
                let (sub, series, pk) = row.map_err(KeeperError::db("read subscriptions"))?;
                if let (Ok(subscription_id), Ok(series_id)) = (sub.parse(), series.parse()) {
                    out.push(OpenSubscription {
                        subscription_id,
                        series_id,
                        pubkey: Bytes::from(pk),
                    });
                }
            }
            Ok(out)
        })
    }

    /// A subscription whose range is fully released (or emptied): never looked at again.
    pub(crate) fn finish_subscription(&self, subscription_id: U256) -> Result<(), KeeperError> {
        self.with(|c| {
            c.execute(
                "UPDATE series_subscriptions SET done = 1 WHERE subscription_id = ?1",
                params![subscription_id.to_string()],
            )
            .map_err(KeeperError::db("finish subscription"))?;
            Ok(())
        })
    }

    /// Series withdrawals whose erasure is not finished.
    pub(crate) fn due_series_erasures(&self) -> Result<Vec<(U256, String)>, KeeperError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT series_id, state FROM series_erasures WHERE state IN (?1, ?2)")
                .map_err(KeeperError::db("read series erasures"))?;
            let rows = stmt
                .query_map(params![ERASURE_PENDING, ERASURE_DELETED], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(KeeperError::db("read series erasures"))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, state) = row.map_err(KeeperError::db("read series erasures"))?;
                if let Ok(id) = id.parse() {
                    out.push((id, state));
                }
            }
            Ok(out)
        })
    }

    /// Whether consent to the series was withdrawn (an erasure is recorded).
    pub(crate) fn series_withdrawn(&self, series_id: U256) -> Result<bool, KeeperError> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM series_erasures WHERE series_id = ?1",
                params![series_id.to_string()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(KeeperError::db("read series erasure"))
        })
    }

    /// Deletes every share of the series, its subscriptions, and marks the erasure `deleted`
    /// in one transaction, then scrubs the file. Idempotent.
    pub(crate) fn erase_series(&self, series_id: U256) -> Result<usize, KeeperError> {
        self.with(|c| {
            let id = series_id.to_string();
            let tx = c.transaction().map_err(KeeperError::db("begin series erase"))?;
            let n = tx
                .execute("DELETE FROM segment_shares WHERE series_id = ?1", params![id])
                .map_err(KeeperError::db("delete segment shares"))?;
            tx.execute(
                "UPDATE series_subscriptions SET done = 1 WHERE series_id = ?1",
                params![id],
            )
            .map_err(KeeperError::db("close subscriptions"))?;
            tx.execute(
                "UPDATE series_erasures SET state = ?2, updated_at_ms = ?3 WHERE series_id = ?1 AND state = ?4",
                params![id, ERASURE_DELETED, now_ms(), ERASURE_PENDING],
            )
            .map_err(KeeperError::db("mark series erased"))?;
            tx.commit().map_err(KeeperError::db("commit series erase"))?;
            Self::scrub(c)?;
            Ok(n)
        })
    }

    /// Records the end state of a series erasure.
    pub(crate) fn set_series_erasure(
        &self,
        series_id: U256,
        state: &str,
        tx_hash: Option<B256>,
    ) -> Result<(), KeeperError> {
        self.with(|c| {
            c.execute(
                "UPDATE series_erasures SET state = ?2, tx_hash = ?3, updated_at_ms = ?4 WHERE series_id = ?1",
                params![series_id.to_string(), state, tx_hash.map(|h| h.to_string()), now_ms()],
            )
            .map_err(KeeperError::db("set series erasure"))?;
            Ok(())
        })
    }

    // ---- the series watcher's cursor ----

    pub(crate) fn series_cursor(&self) -> Result<Option<u64>, KeeperError> {
        self.with(|c| {
            c.query_row(
                "SELECT next_block FROM series_cursor WHERE id = 1",
                [],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|o| o.map(|n| u64::try_from(n).unwrap_or(0)))
            .map_err(KeeperError::db("read series cursor"))
        })
    }

    pub(crate) fn series_scanned_blocks(&self) -> Result<Vec<BlockRef>, KeeperError> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT number, hash FROM series_scanned_blocks ORDER BY number")
                .map_err(KeeperError::db("read series scanned blocks"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(KeeperError::db("read series scanned blocks"))?;
            let mut out = Vec::new();
            for row in rows {
                let (n, h) = row.map_err(KeeperError::db("read series scanned blocks"))?;
                if let (Ok(n), Ok(h)) = (u64::try_from(n), h.parse::<B256>()) {
                    out.push((n, h));
                }
            }
            Ok(out)
        })
    }

    fn write_series_cursor(
        tx: &rusqlite::Transaction<'_>,
        next_block: u64,
        window: &[BlockRef],
    ) -> Result<(), KeeperError> {
        tx.execute(
            "INSERT INTO series_cursor (id, next_block) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET next_block = excluded.next_block",
            params![num(next_block)],
        )
        .map_err(KeeperError::db("advance series cursor"))?;
        tx.execute("DELETE FROM series_scanned_blocks", [])
            .map_err(KeeperError::db("replace series scanned blocks"))?;
        for (n, h) in window {
            tx.execute(
                "INSERT OR REPLACE INTO series_scanned_blocks (number, hash) VALUES (?1, ?2)",
                params![num(*n), h.to_string()],
            )
            .map_err(KeeperError::db("remember series scanned block"))?;
        }
        Ok(())
    }

    pub(crate) fn rewind_series(
        &self,
        next_block: u64,
        window: &[BlockRef],
    ) -> Result<(), KeeperError> {
        self.with(|c| {
            let tx = c
                .transaction()
                .map_err(KeeperError::db("begin series rewind"))?;
            Self::write_series_cursor(&tx, next_block, window)?;
            tx.commit().map_err(KeeperError::db("commit series rewind"))
        })
    }

    /// Records `events` and moves the series cursor, atomically; idempotent on replay. A
    /// subscription touched again (cancel, refund) is re-opened so its next round re-reads it.
    /// Returns whether anything may have become releasable.
    pub(crate) fn record_series_events(
        &self,
        events: &[SeriesEvent],
        next_block: u64,
        window: &[BlockRef],
    ) -> Result<usize, KeeperError> {
        self.with(|c| {
            let tx = c.transaction().map_err(KeeperError::db("begin series events"))?;
            let mut changed = 0;
            for ev in events {
                changed += match ev {
                    SeriesEvent::Subscribed { subscription_id, series_id, pubkey } => tx
                        .execute(
                            "INSERT INTO series_subscriptions (subscription_id, series_id, pubkey) VALUES (?1, ?2, ?3)
                             ON CONFLICT(subscription_id) DO UPDATE SET series_id = excluded.series_id,
                                 pubkey = excluded.pubkey, done = 0",
                            params![subscription_id.to_string(), series_id.to_string(), pubkey.as_ref()],
                        )
                        .map_err(KeeperError::db("record subscription"))?,
                    SeriesEvent::Touched => 1,
                    SeriesEvent::Withdrawn { series_id } => tx
                        .execute(
                            "INSERT OR IGNORE INTO series_erasures (series_id, state, updated_at_ms) VALUES (?1, ?2, ?3)",
                            params![series_id.to_string(), ERASURE_PENDING, now_ms()],
                        )
                        .map_err(KeeperError::db("record series withdrawal"))?,
                };
            }
            Self::write_series_cursor(&tx, next_block, window)?;
            tx.commit().map_err(KeeperError::db("commit series events"))?;
            Ok(changed)
        })
    }
}
