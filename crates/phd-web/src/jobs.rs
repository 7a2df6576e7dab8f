//! Purchase jobs: a buy runs in the background (phd-sdk's `buy`, the CLI's code) while its
//! steps — phd-sdk's [`RetrieveEvent`]s plus paying and confirming — stream to the page over
//! Server-Sent Events; the bought file is then offered for download.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use phd_chain::Purpose;
use phd_sdk::buyer::buy::{BuyArgs, buy};
use phd_sdk::retrieve::RetrieveOptions;
use phd_sdk::{Observer, RetrieveEvent};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::csrf::Session;
use crate::error::WebError;
use crate::state::AppState;

/// Steps whose counters grow in place (one entry kept, the latest).
const COUNTERS: [&str; 3] = ["downloaded", "chunks_verified", "decrypted"];

/// One purchase in progress or done.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub dataset_id: u64,
    /// The session that started it: only it sees the progress and the file.
    session: String,
    out: PathBuf,
    inner: Mutex<JobState>,
    tx: broadcast::Sender<Value>,
}

/// What a job has done so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobState {
    pub events: Vec<Value>,
    pub finished: bool,
    pub purchase_id: Option<u64>,
    pub bytes: Option<u64>,
    pub error: Option<String>,
    /// Solidity name of the contract's refusal, when it refused.
    pub error_kind: Option<String>,
}

impl Job {
    fn push(&self, e: Value) {
        let Ok(mut st) = self.inner.lock() else {
            return;
        };
        let step = e.get("step").and_then(Value::as_str).unwrap_or_default();
        if let Some(pid) = e.get("purchase_id").and_then(Value::as_u64) {
            st.purchase_id = Some(pid);
        }
        if COUNTERS.contains(&step)
            && st
                .events
                .last()
                .and_then(|l| l.get("step"))
                .and_then(Value::as_str)
                == Some(step)
        {
            st.events.pop();
        }
        st.events.push(e.clone());
        // Sent under the lock, so a subscriber taking the history under it misses nothing.
        let _ = self.tx.send(e);
    }

    /// A snapshot of the job.
    pub fn state(&self) -> JobState {
        self.inner.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn owned_by(&self, session: &Session) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.session.as_bytes().ct_eq(session.token().as_bytes()))
    }
}

/// Starts buying `dataset_id` for `purpose`, paying at most `max_price` (wei).
pub fn start(
    state: &AppState,
    session: &Session,
    dataset_id: u64,
    purpose: Purpose,
    max_price: Option<alloy::primitives::U256>,
) -> Result<Arc<Job>, WebError> {
    let buyer = state.buyer()?.clone();
    let id = hex::encode(&crate::csrf::random_bytes()?[..16]);
    let dir = &state.config().download_dir;
    std::fs::create_dir_all(dir).map_err(|source| WebError::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    let (tx, _) = broadcast::channel(256);
    let job = Arc::new(Job {
        id: id.clone(),
        dataset_id,
        session: session.token(),
        out: dir.join(format!("{id}.csv")),
        inner: Mutex::new(JobState::default()),
        tx,
    });
    if let Ok(mut jobs) = state.0.jobs.lock() {
        jobs.insert(id, job.clone());
    }
    let j = job.clone();
    let ctx = buyer.with_observer(Observer::new(move |e: RetrieveEvent| {
        j.push(serde_json::to_value(&e).unwrap_or(Value::Null))
    }));
    let args = BuyArgs {
        max_price,
        retrieve: RetrieveOptions {
            share_timeout: state.config().share_timeout,
            ..RetrieveOptions::default()
        },
        ..BuyArgs::new(dataset_id, purpose, job.out.clone())
    };
    let (j, st) = (job.clone(), state.clone());
    tokio::spawn(async move {
        j.push(json!({"step": "paying", "dataset_id": dataset_id}));
        let r = buy(&ctx, &args).await;
        st.invalidate_listings().await;
        match r {
            Ok(o) => {
                if let Some(tx) = &o.confirm_tx {
                    j.push(json!({"step": "confirmed", "purchase_id": o.purchase_id, "tx": tx}));
                }
                if let Ok(mut s) = j.inner.lock() {
                    s.bytes = Some(o.retrieved.bytes_written);
                    s.finished = true;
                }
                j.push(json!({"step": "finished", "purchase_id": o.purchase_id, "bytes": o.retrieved.bytes_written, "not_confirmed": o.not_confirmed}));
            }
            Err(e) => {
                let e = WebError::Buyer(e);
                tracing::info!(job = %j.id, error = %e, "purchase failed");
                if let Ok(mut s) = j.inner.lock() {
                    s.finished = true;
                    s.error = Some(e.to_string());
                    s.error_kind = e.revert_name();
                }
                j.push(json!({"step": "failed", "message": e.to_string(), "kind": e.kind()}));
            }
        }
    });
    Ok(job)
}

/// The job `id` of this session.
pub fn get(state: &AppState, session: &Session, id: &str) -> Result<Arc<Job>, WebError> {
    let not_found = || WebError::NotFound {
        what: format!("purchase job {id:?}"),
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let job = state
        .0
        .jobs
        .lock()
        .ok()
        .and_then(|j| j.get(id).cloned())
        .ok_or_else(not_found)?;
    if !job.owned_by(session) {
        return Err(not_found());
    }
    Ok(job)
}

/// `GET /jobs/{job}/events`: the steps so far, then live ones, as Server-Sent Events.
pub async fn events(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let job = get(&state, &session, &id)?;
    let (history, rx, finished) = {
        let st = job.inner.lock().map_err(|_| WebError::NotFound {
            what: "purchase job".into(),
        })?;
        (st.events.clone(), job.tx.subscribe(), st.finished)
    };
    let live = stream::unfold((rx, finished), |(mut rx, done)| async move {
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let last = matches!(
                        e.get("step").and_then(Value::as_str),
                        Some("finished" | "failed")
                    );
                    return Some((e, (rx, last)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let all = stream::iter(history)
        .chain(live)
        .map(|e| Ok(Event::default().data(e.to_string())));
    Ok(Sse::new(all).keep_alive(KeepAlive::default()))
}

/// `GET /jobs/{job}/file`: the bought, verified, decrypted file.
pub async fn file(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let job = get(&state, &session, &id)?;
    let st = job.state();
    if !st.finished || st.error.is_some() {
        return Err(WebError::NotFound {
            what: format!("the file of purchase job {id} (not ready)"),
        });
    }
    let bytes = tokio::fs::read(&job.out)
        .await
        .map_err(|source| WebError::Io {
            context: format!("reading {}", job.out.display()),
            source,
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"dataset-{}.csv\"", job.dataset_id),
            ),
        ],
        bytes,
    )
        .into_response())
}
