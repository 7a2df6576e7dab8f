//! The block cursor both watchers follow. One convention: the stored cursor is the **next
//! block to scan** (`None` before the first scan, which starts at the deployment block).
//!
//! Reorgs: only blocks `confirmations` deep are scanned, so a reorganisation shallower than
//! that never reaches a watcher. A chain whose head falls behind the cursor (a reset devnet,
//! or a reorg deeper than `confirmations`) is reported and waited out, never rescanned
//! backwards: effects already taken on-chain cannot be undone by scanning again.

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
    /// The stored next block to scan; `None` before the first scan.
    async fn next_block(&self) -> Result<Option<u64>, Self::Error>;
    /// Handles the events of blocks `from..=to` and stores `to + 1` as the next block to scan.
    /// The events must be durable no later than the cursor, so a crash in between repeats a
    /// range (handlers are idempotent) instead of skipping one.
    async fn scan(&self, from: u64, to: u64) -> Result<(), Self::Error>;
}

/// Scans from the stored cursor up to `confirmations` behind the head, in ranges of at most
/// `max_range` blocks. Returns the next block to scan afterwards.
pub async fn scan_to_head<S: CursorScanner + ?Sized>(scanner: &S, cfg: &ScanConfig) -> Result<u64, S::Error> {
    let head = scanner.head().await?;
    let stored = scanner.next_block().await?;
    let mut from = stored.unwrap_or(cfg.start_block);
    let Some(safe) = head.checked_sub(cfg.confirmations) else { return Ok(from) };
    if stored.is_some() && from > safe.saturating_add(1) {
        tracing::warn!(next_block = from, head, confirmations = cfg.confirmations, "chain head is behind the cursor; waiting");
        return Ok(from);
    }
    let span = cfg.max_range.max(1) - 1;
    while from <= safe {
        let to = safe.min(from.saturating_add(span));
        scanner.scan(from, to).await?;
        from = to.saturating_add(1);
    }
    Ok(from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Mock {
        head: u64,
        next: Mutex<Option<u64>>,
        ranges: Mutex<Vec<(u64, u64)>>,
    }

    #[async_trait::async_trait]
    impl CursorScanner for Mock {
        type Error = ();
        async fn head(&self) -> Result<u64, ()> {
            Ok(self.head)
        }
        async fn next_block(&self) -> Result<Option<u64>, ()> {
            Ok(*self.next.lock().unwrap())
        }
        async fn scan(&self, from: u64, to: u64) -> Result<(), ()> {
            self.ranges.lock().unwrap().push((from, to));
            *self.next.lock().unwrap() = Some(to + 1);
            Ok(())
        }
    }

    fn mock(head: u64, next: Option<u64>) -> Mock {
        Mock { head, next: Mutex::new(next), ranges: Mutex::new(Vec::new()) }
    }

    #[tokio::test]
    async fn scans_in_ranges_up_to_the_confirmed_head() {
        let m = mock(25, None);
        let cfg = ScanConfig { start_block: 3, confirmations: 2, max_range: 10 };
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 24);
        assert_eq!(*m.ranges.lock().unwrap(), vec![(3, 12), (13, 22), (23, 23)]);
        // nothing new: no scan
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 24);
        assert_eq!(m.ranges.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn young_chain_and_chain_behind_the_cursor() {
        let cfg = ScanConfig { start_block: 0, confirmations: 5, max_range: 100 };
        let m = mock(3, None);
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 0);
        assert!(m.ranges.lock().unwrap().is_empty());
        let m = mock(10, Some(50));
        assert_eq!(scan_to_head(&m, &cfg).await.unwrap(), 50);
        assert!(m.ranges.lock().unwrap().is_empty());
    }
}
