//! Bounded, ordered parallel map: the calling thread produces and consumes
//! (so readers and writers need not be `Send`), `threads` workers transform.
//! At most `window` items are alive (queued, in work, or waiting for their
//! turn to be written) at any time, so memory is bounded by `window` chunks.

use crate::error::{Result, SealError};
use std::collections::BTreeMap;
use std::sync::{Mutex, mpsc};

pub(crate) fn run<I, O, S>(
    threads: usize,
    window: usize,
    mut produce: impl FnMut(u64) -> Result<Option<I>>,
    init: impl Fn() -> Result<S> + Sync,
    work: impl Fn(&mut S, u64, I) -> Result<O> + Sync,
    mut consume: impl FnMut(u64, O) -> Result<()>,
) -> Result<u64>
where
    I: Send,
    O: Send,
{
    let threads = threads.max(1);
    let window = window.max(threads) as u64;
    let (job_tx, job_rx) = mpsc::channel::<(u64, I)>();
    let job_rx = Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::channel::<(u64, Result<O>)>();
    let job_rx = &job_rx;
    let init = &init;
    let work = &work;
    std::thread::scope(move |scope| {
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            scope.spawn(move || {
                let mut state = init();
                loop {
                    let job = match job_rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok((idx, item)) = job else { return };
                    let r = match state.as_mut() {
                        // A panic in a worker must not leave the driver waiting
                        // for a result that never comes.
                        Ok(s) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            work(s, idx, item)
                        }))
                        .unwrap_or(Err(SealError::Internal("worker panicked"))),
                        Err(e) => Err(SealError::Internal(match e {
                            SealError::Io { context, .. } => context,
                            _ => "worker initialisation failed",
                        })),
                    };
                    if res_tx.send((idx, r)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(res_tx);
        let mut drive = || -> Result<u64> {
            let mut next_in = 0u64;
            let mut next_out = 0u64;
            let mut eof = false;
            let mut pending: BTreeMap<u64, O> = BTreeMap::new();
            loop {
                while !eof && next_in - next_out < window {
                    match produce(next_in)? {
                        Some(item) => {
                            job_tx
                                .send((next_in, item))
                                .map_err(|_| SealError::Internal("worker pool stopped"))?;
                            next_in += 1;
                        }
                        None => eof = true,
                    }
                }
                if next_out == next_in {
                    return Ok(next_in);
                }
                let (idx, r) = res_rx
                    .recv()
                    .map_err(|_| SealError::Internal("worker pool stopped"))?;
                pending.insert(idx, r?);
                while let Some(o) = pending.remove(&next_out) {
                    consume(next_out, o)?;
                    next_out += 1;
                }
            }
        };
        let result = drive();
        drop(job_tx);
        drop(res_rx);
        result
    })
}

/// Number of worker threads to use when the caller did not say.
/// Worker threads and chunks in flight from the options (0 = default: every core, and two
/// chunks per worker so no worker waits on the writer).
pub(crate) fn threads_and_window(threads: usize, window: usize) -> (usize, usize) {
    let threads = if threads == 0 {
        default_threads()
    } else {
        threads
    };
    let window = if window == 0 { 2 * threads } else { window };
    (threads, window)
}

pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
