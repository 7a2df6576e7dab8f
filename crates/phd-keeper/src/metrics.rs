//! Counters exposed at `/metrics` in Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keeper counters (monotonic since start).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Shares verified and newly stored.
    pub shares_stored: AtomicU64,
    /// Share uploads refused (any 4xx).
    pub shares_rejected: AtomicU64,
    /// `acknowledgeShare` transactions mined.
    pub acks: AtomicU64,
    /// `deliverShare` transactions mined.
    pub deliveries_sent: AtomicU64,
    /// `commit` transactions mined.
    pub commits_sent: AtomicU64,
    /// Delivery attempts that failed (retried or given up).
    pub deliveries_failed: AtomicU64,
    /// Share rows erased after a consent withdrawal.
    pub erasures: AtomicU64,
    /// `confirmErasure` transactions mined.
    pub erasures_confirmed: AtomicU64,
    /// Chain RPC errors seen by the watcher.
    pub rpc_errors: AtomicU64,
    /// Next block the watcher scans.
    pub cursor_block: AtomicU64,
}

impl Metrics {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition; `shares_held` is read from the database by the caller.
    pub(crate) fn render(&self, shares_held: u64) -> String {
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP phd_keeper_{name} {help}");
            let _ = writeln!(out, "# TYPE phd_keeper_{name} {kind}");
            let _ = writeln!(out, "phd_keeper_{name} {v}");
        };
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        put(
            "shares_stored_total",
            "counter",
            "Shares verified and stored.",
            g(&self.shares_stored),
        );
        put(
            "shares_rejected_total",
            "counter",
            "Share uploads refused.",
            g(&self.shares_rejected),
        );
        put(
            "acks_total",
            "counter",
            "acknowledgeShare transactions mined.",
            g(&self.acks),
        );
        put(
            "deliveries_sent_total",
            "counter",
            "deliverShare transactions mined.",
            g(&self.deliveries_sent),
        );
        put(
            "commits_sent_total",
            "counter",
            "commit transactions mined.",
            g(&self.commits_sent),
        );
        put(
            "deliveries_failed_total",
            "counter",
            "Failed delivery attempts.",
            g(&self.deliveries_failed),
        );
        put(
            "erasures_total",
            "counter",
            "Shares erased after consent withdrawal.",
            g(&self.erasures),
        );
        put(
            "erasures_confirmed_total",
            "counter",
            "confirmErasure transactions mined.",
            g(&self.erasures_confirmed),
        );
        put(
            "rpc_errors_total",
            "counter",
            "Chain RPC errors seen by the watcher.",
            g(&self.rpc_errors),
        );
        put(
            "cursor_block",
            "gauge",
            "Next block the chain watcher scans.",
            g(&self.cursor_block),
        );
        put(
            "shares_held",
            "gauge",
            "Shares currently stored.",
            shares_held,
        );
        out
    }
}
