//! One in-process keeper that tests can stop, restart and break.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use phd_chain::{Deployment, NodeRole, PhdClient};
use phd_keeper::{KeeperConfig, KeeperError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::DevnetError;

/// A service task running in-process, with the token that stops it.
pub(crate) struct Running<E = KeeperError> {
    pub(crate) cancel: CancellationToken,
    pub(crate) task: JoinHandle<Result<(), E>>,
}

/// One in-process keeper.
pub struct KeeperHandle {
    /// Position in [`crate::Devnet::keepers`].
    pub index: usize,
    /// The keeper's account.
    pub address: Address,
    /// The full configuration (tests may change `fail_after`/`misbehave` before [`Self::restart`]).
    pub config: KeeperConfig,
    addr: SocketAddr,
    endpoint: String,
    rpc_url: String,
    deployment: Deployment,
    ready_timeout: Duration,
    running: Option<Running>,
}

impl std::fmt::Debug for KeeperHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeeperHandle")
            .field("index", &self.index)
            .field("address", &self.address)
            .field("endpoint", &self.endpoint)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl KeeperHandle {
    /// A stopped keeper; [`Self::start`] binds its listener and registers it.
    pub(crate) fn new(
        index: usize,
        address: Address,
        config: KeeperConfig,
        rpc_url: String,
        deployment: Deployment,
        ready_timeout: Duration,
    ) -> Self {
        KeeperHandle {
            index,
            address,
            config,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            endpoint: String::new(),
            rpc_url,
            deployment,
            ready_timeout,
            running: None,
        }
    }

    /// Cancels and aborts the task without waiting (for `Drop`, which cannot await).
    pub(crate) fn abort(&mut self) {
        if let Some(r) = self.running.take() {
            r.cancel.cancel();
            r.task.abort();
        }
    }

    /// Base URL registered on-chain.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Data directory (encryption key and `keeper.db`).
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Path of the keeper's SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.config.data_dir.join(phd_keeper::DB_FILE)
    }

    /// Whether the keeper task is alive.
    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// Starts the keeper (on its previous port when free, else a new one) and waits until it
    /// answers `/health` and is registered on-chain with its endpoint.
    pub async fn start(&mut self) -> Result<(), DevnetError> {
        if self.is_running() {
            return Ok(());
        }
        let listener = match tokio::net::TcpListener::bind(self.addr).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .map_err(DevnetError::io(
                    "binding keeper listener",
                    Path::new("127.0.0.1:0"),
                ))?,
        };
        self.addr = listener
            .local_addr()
            .map_err(DevnetError::io("reading keeper address", Path::new("")))?;
        self.endpoint = format!("http://{}", self.addr);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let mut config = self.config.clone();
        config.public_endpoint = Some(self.endpoint.clone());
        let task = tokio::spawn(phd_keeper::run(config, listener, async move {
            stop.cancelled().await
        }));
        self.running = Some(Running { cancel, task });
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), DevnetError> {
        let started = Instant::now();
        let client = PhdClient::connect(
            &self.rpc_url,
            PrivateKeySigner::random(),
            self.deployment.clone(),
        )
        .await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| DevnetError::Config(format!("building HTTP client: {e}")))?;
        let health = format!("{}/health", self.endpoint);
        let mut last;
        loop {
            if let Some(r) = &self.running
                && r.task.is_finished()
            {
                // The task ended during start-up: surface its error.
                return match self.running.take().map(|r| r.task) {
                    Some(task) => match task.await {
                        Ok(Err(source)) => Err(DevnetError::Keeper {
                            index: self.index,
                            address: self.address,
                            source,
                        }),
                        Ok(Ok(())) => {
                            Err(self.not_ready(started, "keeper exited during start-up".into()))
                        }
                        Err(e) => Err(self.not_ready(started, format!("keeper task failed: {e}"))),
                    },
                    None => Err(self.not_ready(started, "keeper not running".into())),
                };
            }
            match http.get(&health).send().await {
                Ok(resp) if resp.status().is_success() => {
                    let node = client.node(self.address).await?;
                    if node.role == NodeRole::Keeper as u8 && node.endpoint == self.endpoint {
                        return Ok(());
                    }
                    last = format!("registered endpoint is {:?}", node.endpoint);
                }
                Ok(resp) => last = format!("/health answered {}", resp.status()),
                Err(e) => last = format!("/health: {e}"),
            }
            if started.elapsed() > self.ready_timeout {
                return Err(self.not_ready(started, last));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn not_ready(&self, started: Instant, reason: String) -> DevnetError {
        DevnetError::KeeperNotReady {
            index: self.index,
            address: self.address,
            waited: started.elapsed(),
            reason,
        }
    }

    /// Stops the keeper (drains: the watcher finishes its round) and returns its result.
    pub async fn stop(&mut self) -> Result<(), DevnetError> {
        let Some(r) = self.running.take() else {
            return Ok(());
        };
        r.cancel.cancel();
        self.join(r.task).await
    }

    /// Waits (up to `timeout`) for the keeper task to end by itself, e.g. at a fail point.
    /// Returns `Ok(true)` when it ended.
    pub async fn wait_stopped(&mut self, timeout: Duration) -> Result<bool, DevnetError> {
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(r) = self.running.take() {
            // A fail point ends the task like a crash; how it ended is not the caller's concern.
            if let Err(e) = self.join(r.task).await {
                tracing::info!(keeper = self.index, error = %e, "keeper ended");
            }
        }
        Ok(true)
    }

    async fn join(&self, task: JoinHandle<Result<(), KeeperError>>) -> Result<(), DevnetError> {
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(DevnetError::Keeper {
                index: self.index,
                address: self.address,
                source,
            }),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(DevnetError::Config(format!(
                "keeper {} task panicked: {e}",
                self.index
            ))),
        }
    }

    /// Stops (ignoring how the previous run ended) and starts again with the same data directory.
    pub async fn restart(&mut self) -> Result<(), DevnetError> {
        if let Err(e) = self.stop().await {
            tracing::debug!(keeper = self.index, error = %e, "previous run ended with an error");
        }
        self.start().await
    }
}
