//! The block cursor both watchers follow. One convention: the stored cursor is the **next
//! block to scan** (`None` before the first scan, which starts at the deployment block).
//!
//! Reorgs: only blocks `confirmations` deep are scanned, so a reorganisation shallower than
//! that never reaches a watcher. Deeper ones are caught by the hashes the scanner remembers:
//! the last [`REORG_WINDOW`] scanned blocks' (number, hash) pairs, persisted with the cursor.
//! Before each scan the newest remembered hash is compared with the chain; on a mismatch the
//! scan walks back to the newest remembered block that still matches (the fork point) and
//! rescans from the block after it, or, when none matches, rewinds a whole window before the
//! oldest remembered block. Handlers must therefore be idempotent for replays (they already
//! are for crash recovery). Effects already taken on-chain on the abandoned branch cannot be
//! undone by scanning again: that is what the confirmation depth is for.

use alloy::primitives::B256;

/// How many scanned blocks' hashes are remembered (and how far a reorg deeper than all of
/// them rewinds).
pub const REORG_WINDOW: usize = 64;

/// Chain id of the local devnet (anvil), where blocks are final as soon as they are mined.
pub const DEVNET_CHAIN_ID: u64 = 31_337;

/// Confirmation depth on chains other than the devnet when none was configured: deep enough
/// that ordinary reorganisations never reach a watcher (one that does is still rewound).
pub const DEFAULT_CONFIRMATIONS: u64 = 12;

/// The confirmation depth to use: the one set by the operator, else 0 on the devnet (instant
/// finality; the tests rely on it) and [`DEFAULT_CONFIRMATIONS`] elsewhere.
pub fn confirmations_or_default(chain_id: u64, configured: Option<u64>) -> u64 {
    configured.unwrap_or(if chain_id == DEVNET_CHAIN_ID {
        0
    } else {
        DEFAULT_CONFIRMATIONS
    })
}

/// A remembered block: its number and hash.
pub type BlockRef = (u64, B256);

/// Where and how far a scan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanConfig {
    /// First block on a fresh cursor (the deployment block).
    pub start_block: u64,
    /// Blocks behind the head left unscanned.
    pub confirmations: u64,
    /// Largest block range handed to one [`CursorScanner::scan`] (≥ 1).
    pub max_range: u64,
}

/// One watcher's view of the chain head, its stored cursor and its event handling.
#[async_trait::async_trait]
pub trait CursorScanner: Send + Sync {
    /// The watcher's error.
    type Error: Send;
    /// The chain head.
    async fn head(&self) -> Result<u64, Self::Error>;
    /// The hash of block `number` on the chain now; `None` when the chain has no such block.
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, Self::Error>;
    /// The stored next block to scan; `None` before the first scan.
    async fn next_block(&self) -> Result<Option<u64>, Self::Error>;
    /// The stored window of scanned blocks, oldest first (empty before the first scan and in
    /// stores written before the window existed).
    async fn remembered(&self) -> Result<Vec<BlockRef>, Self::Error>;
    /// Handles the events of blocks `from..=to`, stores `to + 1` as the next block to scan and
    /// `window` as the remembered blocks. The events must be durable no later than the cursor,
    /// so a crash in between repeats a range (handlers are idempotent) instead of skipping one.
    async fn scan(&self, from: u64, to: u64, window: &[BlockRef]) -> Result<(), Self::Error>;
    /// After a reorg: stores `next_block` as the next block to scan and `window` as the
    /// remembered blocks (the part of the old window still on the chain), together.
    async fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<(), Self::Error>;
}

/// Compares the remembered window with the chain. `Ok(None)`: the newest remembered block is
/// still there (so are its ancestors: each hash commits to its parent). Otherwise the next
/// block to scan after the reorg, with `window` cut to what still matches.
async fn find_fork<S: CursorScanner + ?Sized>(
    scanner: &S,
    cfg: &ScanConfig,
    window: &mut Vec<BlockRef>,
) -> Result<Option<u64>, S::Error> {
    let Some(&(newest, newest_hash)) = window.last() else {
        return Ok(None);
    };
    if scanner.block_hash(newest).await? == Some(newest_hash) {
        return Ok(None);
    }
    // Walk back one block at a time: the window is small and reorgs are rare.
    for i in (0..window.len().saturating_sub(1)).rev() {
        let (n, h) = window[i];
        if scanner.block_hash(n).await? == Some(h) {
            window.truncate(i + 1);
            tracing::warn!(
                fork_block = n,
                rescan_from = n + 1,
                last_scanned = newest,
                "chain reorganisation: rescanning from the fork point"
            );
            return Ok(Some(n.saturating_add(1)));
        }
    }
    // Deeper than the window: the fork point is unknown, so go back a whole window more.
    let oldest = window.first().map_or(newest, |b| b.0);
    let from = oldest
        .saturating_sub(REORG_WINDOW as u64)
        .max(cfg.start_block);
    window.clear();
    tracing::warn!(
        oldest_remembered = oldest,
        rescan_from = from,
        last_scanned = newest,
        window = REORG_WINDOW,
        "chain reorganisation deeper than the remembered window: rewinding by the window"
    );
    Ok(Some(from))
}

/// Scans from the stored cursor up to `confirmations` behind the head, in ranges of at most
/// `max_range` blocks, first rewinding past a reorganisation of already scanned blocks.
/// Returns the next block to scan afterwards.
pub async fn scan_to_head<S: CursorScanner + ?Sized>(
    scanner: &S,
    cfg: &ScanConfig,
) -> Result<u64, S::Error> {
    let stored = scanner.next_block().await?;
    let mut window = scanner.remembered().await?;
    window.sort_unstable_by_key(|b| b.0);
    window.dedup_by_key(|b| b.0);
    let mut from = stored.unwrap_or(cfg.start_block);
    if stored.is_some()
        && let Some(rewound) = find_fork(scanner, cfg, &mut window).await?
    {
        // Never forwards: the window only holds blocks below the cursor.
        from = rewound.min(from);
        scanner.rewind(from, &window).await?;
    }
    let head = scanner.head().await?;
    let Some(safe) = head.checked_sub(cfg.confirmations) else {
        return Ok(from);
    };
    if stored.is_some() && from > safe.saturating_add(1) {
        tracing::warn!(
            next_block = from,
            head,
            confirmations = cfg.confirmations,
            "chain head is behind the cursor; waiting"
        );
        return Ok(from);
    }
    // Only the last REORG_WINDOW blocks below the safe head are worth remembering: older ones
    // are buried by everything scanned after them.
    let remember_from = safe.saturating_add(1).saturating_sub(REORG_WINDOW as u64);
    let span = cfg.max_range.max(1) - 1;
    while from <= safe {
        let to = safe.min(from.saturating_add(span));
        // Hashes are read before the events: a reorg in between then shows as a mismatch next
        // round (and a rescan), never as events of one branch filed under the other's hash.
        for n in from.max(remember_from)..=to {
            if let Some(h) = scanner.block_hash(n).await? {
                window.push((n, h));
            }
        }
        let excess = window.len().saturating_sub(REORG_WINDOW);
        window.drain(..excess);
        scanner.scan(from, to, &window).await?;
        from = to.saturating_add(1);
    }
    Ok(from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A chain of block hashes (index = number) and a watcher's store over it.
    struct Mock {
        chain: Mutex<Vec<B256>>,
        next: Mutex<Option<u64>>,
        window: Mutex<Vec<BlockRef>>,
        ranges: Mutex<Vec<(u64, u64)>>,
        rewinds: Mutex<Vec<u64>>,
    }

    fn hash(fork: u8, n: u64) -> B256 {
        let mut h = [0u8; 32];
        h[0] = fork;
        h[24..].copy_from_slice(&n.to_be_bytes());
        B256::from(h)
    }

    impl Mock {
        /// Mines blocks up to `head` on branch `fork`.
        fn extend(&self, head: u64, fork: u8) {
            let mut c = self.chain.lock().unwrap();
            for n in c.len() as u64..=head {
                c.push(hash(fork, n));
            }
        }
        /// Replaces blocks `from..` by a different branch `fork` reaching `head`.
        fn reorg(&self, from: u64, head: u64, fork: u8) {
            self.chain.lock().unwrap().truncate(from as usize);
            self.extend(head, fork);
        }
        fn last_range(&self) -> (u64, u64) {
            *self.ranges.lock().unwrap().last().unwrap()
        }
    }

    #[async_trait::async_trait]
    impl CursorScanner for Mock {
        type Error = ();
        async fn head(&self) -> Result<u64, ()> {
            Ok(self.chain.lock().unwrap().len() as u64 - 1)
        }
        async fn block_hash(&self, number: u64) -> Result<Option<B256>, ()> {
            Ok(self.chain.lock().unwrap().get(number as usize).copied())
        }
        async fn next_block(&self) -> Result<Option<u64>, ()> {
            Ok(*self.next.lock().unwrap())
        }
        async fn remembered(&self) -> Result<Vec<BlockRef>, ()> {
            Ok(self.window.lock().unwrap().clone())
        }
        async fn scan(&self, from: u64, to: u64, window: &[BlockRef]) -> Result<(), ()> {
            self.ranges.lock().unwrap().push((from, to));
            *self.next.lock().unwrap() = Some(to + 1);
            *self.window.lock().unwrap() = window.to_vec();
            Ok(())
        }
        async fn rewind(&self, next_block: u64, window: &[BlockRef]) -> Result<(), ()> {
            self.rewinds.lock().unwrap().push(next_block);
            *self.next.lock().unwrap() = Some(next_block);
            *self.window.lock().unwrap() = window.to_vec();
            Ok(())
        }
    }

    fn mock(head: u64, next: Option<u64>) -> Mock {
        let m = Mock {
            chain: Mutex::new(Vec::new()),
            next: Mutex::new(next),
            window: Mutex::new(Vec::new()),
            ranges: Mutex::new(Vec::new()),
            rewinds: Mutex::new(Vec::new()),
        };
        m.extend(head, 0);
        m
    }

    #[tokio::test]
    async fn scans_in_ranges_up_to_the_confirmed_head() {
        let m = mock(25, None);
        let cfg = ScanConfig {
            start_block: 3,
            confirmations: 2,
            max_range: 10,
        };
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 24);
        assert_eq!(*m.ranges.lock().unwrap(), vec![(3, 12), (13, 22), (23, 23)]);
        // nothing new: no scan
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 24);
        assert_eq!(m.ranges.lock().unwrap().len(), 3);
        assert!(m.rewinds.lock().unwrap().is_empty());
        // the window holds the scanned blocks with their hashes
        let w = m.window.lock().unwrap().clone();
        assert_eq!(w.first(), Some(&(3, hash(0, 3))));
        assert_eq!(w.last(), Some(&(23, hash(0, 23))));
    }

    #[tokio::test]
    async fn young_chain_and_chain_behind_the_cursor() {
        let cfg = ScanConfig {
            start_block: 0,
            confirmations: 5,
            max_range: 100,
        };
        let m = mock(3, None);
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 0);
        assert!(m.ranges.lock().unwrap().is_empty());
        let m = mock(10, Some(50));
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 50);
        assert!(m.ranges.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn window_keeps_only_the_last_blocks() {
        let m = mock(300, None);
        let cfg = ScanConfig {
            start_block: 0,
            confirmations: 0,
            max_range: 50,
        };
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 301);
        let w = m.window.lock().unwrap().clone();
        assert_eq!(w.len(), REORG_WINDOW);
        assert_eq!(w.first().unwrap().0, 301 - REORG_WINDOW as u64);
        assert_eq!(w.last(), Some(&(300, hash(0, 300))));
    }

    #[tokio::test]
    async fn reorg_rescans_exactly_from_the_fork_point() {
        let m = mock(100, None);
        let cfg = ScanConfig {
            start_block: 0,
            confirmations: 0,
            max_range: 1_000,
        };
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 101);
        // blocks 90..=100 replaced, and the new branch is longer
        m.reorg(90, 105, 1);
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 106);
        assert_eq!(*m.rewinds.lock().unwrap(), vec![90]);
        assert_eq!(m.last_range(), (90, 105));
        let w = m.window.lock().unwrap().clone();
        assert!(w.contains(&(89, hash(0, 89))));
        assert!(w.contains(&(90, hash(1, 90))) && w.contains(&(105, hash(1, 105))));
        assert!(
            !w.iter().any(|b| b.1 == hash(0, 95)),
            "abandoned branch forgotten"
        );
        // settled: nothing more
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 106);
        assert_eq!(m.rewinds.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn reorg_to_a_shorter_chain_rewinds_and_waits_for_confirmations() {
        let m = mock(100, None);
        let cfg = ScanConfig {
            start_block: 0,
            confirmations: 2,
            max_range: 1_000,
        };
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 99);
        // a deeper-than-confirmations reorg to a branch two blocks shorter
        m.reorg(95, 98, 1);
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 97);
        assert_eq!(*m.rewinds.lock().unwrap(), vec![95]);
        assert_eq!(m.last_range(), (95, 96));
    }

    #[tokio::test]
    async fn reorg_deeper_than_the_window_rewinds_by_the_window() {
        let m = mock(300, None);
        let cfg = ScanConfig {
            start_block: 0,
            confirmations: 0,
            max_range: 1_000,
        };
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 301);
        let oldest = m.window.lock().unwrap()[0].0;
        assert_eq!(oldest, 237);
        m.reorg(100, 300, 1);
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 301);
        assert_eq!(
            *m.rewinds.lock().unwrap(),
            vec![oldest - REORG_WINDOW as u64]
        );
        assert_eq!(m.last_range(), (173, 300));
        // never before the deployment block
        let m = mock(80, None);
        let cfg = ScanConfig {
            start_block: 10,
            confirmations: 0,
            max_range: 1_000,
        };
        scan_to_head(&m, &cfg).await.unwrap();
        m.reorg(5, 80, 1);
        scan_to_head(&m, &cfg).await.unwrap();
        assert_eq!(m.last_range(), (10, 80));
    }

    #[test]
    fn default_confirmations_are_zero_only_on_the_devnet() {
        assert_eq!(confirmations_or_default(DEVNET_CHAIN_ID, None), 0);
        assert_eq!(confirmations_or_default(1, None), DEFAULT_CONFIRMATIONS);
        assert_eq!(confirmations_or_default(1, Some(0)), 0);
        assert_eq!(confirmations_or_default(DEVNET_CHAIN_ID, Some(3)), 3);
    }
}
