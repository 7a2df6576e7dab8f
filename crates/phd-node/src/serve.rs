//! The node skeleton: serve the HTTP router and run the watcher until shutdown, then drain
//! both. If either stops on its own, the other is stopped too, so a node never runs half.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::RunError;

/// Serves `app` on `listener` and runs the task `watcher` builds, until `shutdown` completes
/// or either of them ends. The watcher gets a token that is cancelled at shutdown; it should
/// finish its round and return. Both are joined before this returns; the watcher's error
/// comes first.
pub async fn run<W, E>(
    listener: TcpListener,
    app: Router,
    watcher: impl FnOnce(CancellationToken) -> W,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError<E>>
where
    W: Future<Output = Result<(), E>> + Send + 'static,
    E: std::error::Error + Send + 'static,
{
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let cancel = CancellationToken::new();
    let on_shutdown = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            cancel.cancel();
        })
    };
    let mut watcher_task = tokio::spawn(watcher(cancel.clone()));
    let server_cancel = cancel.clone();
    let mut server_task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(server_cancel.cancelled_owned())
            .await
    });

    let join_err = |task: &'static str| {
        move |e: tokio::task::JoinError| RunError::<E>::Task {
            task,
            reason: e.to_string(),
        }
    };
    let (watcher_res, server_res) = tokio::select! {
        w = &mut watcher_task => {
            cancel.cancel();
            (w.map_err(join_err("watcher")), server_task.await.map_err(join_err("http server")))
        }
        s = &mut server_task => {
            cancel.cancel();
            (watcher_task.await.map_err(join_err("watcher")), s.map_err(join_err("http server")))
        }
    };
    on_shutdown.abort();
    watcher_res?.map_err(RunError::Watcher)?;
    server_res?.map_err(|source| RunError::Serve { addr, source })?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use axum::routing::get;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("watcher broke")]
    struct Broke;

    #[tokio::test]
    async fn serves_until_shutdown_and_drains_the_watcher() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/health", get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let node = tokio::spawn(run(
            listener,
            app,
            |cancel| async move {
                cancel.cancelled().await;
                let _ = done_tx.send(());
                Ok::<_, Broke>(())
            },
            async move {
                let _ = rx.await;
            },
        ));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"));
        tx.send(()).unwrap();
        node.await.unwrap().unwrap();
        done_rx.await.unwrap();
    }

    #[tokio::test]
    async fn a_failing_watcher_stops_the_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = run(
            listener,
            Router::new(),
            |_| async { Err::<(), _>(Broke) },
            std::future::pending(),
        )
        .await;
        assert!(matches!(r, Err(RunError::Watcher(Broke))));
    }
}
