//! `phd-user stream --metrics-addr`: the streamer's progress and lag as Prometheus metrics.
//!
//! Every scrape reads the streamer's state file (and source or spool) afresh — the same
//! [`StreamStatus`] `phd-user stream-status` prints — so the figures are exactly what a restart
//! would resume from, and the counters survive restarts.

use std::future::Future;
use std::path::PathBuf;

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};

use crate::series::{StreamStatus, now_unix};

/// What the metrics route reads.
#[derive(Debug, Clone)]
pub struct MetricsSource {
    /// Series the streamer appends to (reported before its first segment).
    pub series_id: u64,
    /// The streamer's `--state`.
    pub state_file: PathBuf,
    /// The streamer's `--source`.
    pub source: PathBuf,
}

impl MetricsSource {
    /// The status now; before the streamer's first cut (no state file yet) all zeros.
    pub fn status(&self) -> StreamStatus {
        StreamStatus::read(&self.state_file, Some(&self.source), now_unix()).unwrap_or_else(|e| {
            tracing::debug!(error = %e, "no stream state yet");
            StreamStatus {
                series_id: self.series_id,
                next_seq: 0,
                in_flight: None,
                stats: phd_sdk::stream::StreamStats::default(),
                pending_bytes: None,
                lag_seconds: None,
                source_lag_ms: None,
            }
        })
    }
}

async fn metrics(State(src): State<MetricsSource>) -> impl IntoResponse {
    let text = tokio::task::spawn_blocking(move || src.status().prometheus())
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// The route: `GET /metrics`.
pub fn router(src: MetricsSource) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(src)
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves, then finishes in-flight
/// scrapes and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    src: MetricsSource,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(src))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real listener and a real HTTP scrape: zeros before the first cut, then the totals of
    /// the state file; the server stops on shutdown.
    #[tokio::test]
    async fn metrics_are_scraped_over_http_and_the_server_shuts_down() {
        let dir = tempfile::tempdir().unwrap();
        let state_file = dir.path().join("state.json");
        let source = dir.path().join("s.csv");
        std::fs::write(&source, "time,acc_x\n1.0,1\n2.0,2\n3.0,3\n").unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            MetricsSource {
                series_id: 7,
                state_file: state_file.clone(),
                source: source.clone(),
            },
            async {
                let _ = stopped.await;
            },
        ));
        let scrape = || async {
            let r = reqwest::get(&url).await.unwrap();
            assert!(r.status().is_success());
            assert!(
                r.headers()[reqwest::header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain; version=0.0.4")
            );
            r.text().await.unwrap()
        };
        let before = scrape().await;
        assert!(
            before.contains("phd_stream_segments_appended_total{series=\"7\"} 0"),
            "{before}"
        );
        assert!(!before.contains("phd_stream_lag_seconds"), "{before}");
        let now = now_unix();
        std::fs::write(
            &state_file,
            serde_json::json!({
                "series_id": 7, "inode": 1, "offset": 17, "next_seq": 2, "in_flight": null,
                "stats": {
                    "segments_cut": 3, "segments_uploaded": 2, "segments_appended": 2,
                    "segments_skipped": 1, "samples_appended": 20, "bytes_uploaded": 4096,
                    "last_sample_time": now - 42.0, "last_append_unixtime": 1_700_000_000u64
                }
            })
            .to_string(),
        )
        .unwrap();
        let after = scrape().await;
        for want in [
            "# TYPE phd_stream_segments_appended_total counter",
            "phd_stream_segments_appended_total{series=\"7\"} 2",
            "phd_stream_samples_total{series=\"7\"} 20",
            "phd_stream_bytes_uploaded_total{series=\"7\"} 4096",
            "phd_stream_last_append_unixtime{series=\"7\"} 1700000000",
            "phd_stream_segments_skipped_total{series=\"7\"} 1",
            // 11 bytes of header + "1.0,1\n" = 17: two rows pending
            "phd_stream_pending_bytes{series=\"7\"} 12",
            "# TYPE phd_stream_lag_seconds gauge",
        ] {
            assert!(after.contains(want), "{want} in\n{after}");
        }
        let lag: f64 = after
            .lines()
            .find_map(|l| l.strip_prefix("phd_stream_lag_seconds{series=\"7\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((42.0..60.0).contains(&lag), "{lag}");
        stop.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
