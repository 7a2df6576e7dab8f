//! The running stack: start-up in order, clients, the status table, shutdown.

use std::{
    fmt::Write as _,
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use phd_chain::{AnvilSettings, ChainError, Deployment, NodeRole, PhdClient, RoleSigners};
use phd_keeper::KeeperConfig;
use phd_storage::{S3Config, Store, server::EmbeddedS3, server::ServerCredentials};
use tokio_util::sync::CancellationToken;

use crate::keeper::Running;
use crate::{DevnetConfig, DevnetError, KeeperHandle};

/// The embedded S3 server as clients see it.
#[derive(Debug, Clone)]
pub struct S3Info {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Bucket (created).
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Directory the server stores objects in (`<root>/<bucket>/<key>`).
    pub root_dir: PathBuf,
}

impl S3Info {
    /// A client configuration for this server.
    pub fn client_config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: self.region.clone(),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            force_path_style: true,
            ..S3Config::new(self.bucket.clone())
        }
    }

    /// Path of object `key` on disk (s3s-fs layout).
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root_dir.join(&self.bucket).join(key)
    }
}

/// The accounts of every role.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// Deploys, owns the registries, funds the others.
    pub deployer: PrivateKeySigner,
    /// Data owner.
    pub user: PrivateKeySigner,
    /// Buyer.
    pub customer: PrivateKeySigner,
    /// Validator.
    pub validator: PrivateKeySigner,
    /// Device manufacturer (approved on-chain).
    pub manufacturer: PrivateKeySigner,
    /// Keepers, in [`Devnet::keepers`] order.
    pub keepers: Vec<PrivateKeySigner>,
}

/// The running stack.
pub struct Devnet {
    /// JSON-RPC URL of anvil.
    pub rpc_url: String,
    /// Contract addresses.
    pub deployment: Deployment,
    /// Where the deployment file was written.
    pub deployment_path: PathBuf,
    /// The embedded S3 server.
    pub s3: S3Info,
    /// The keepers.
    pub keepers: Vec<KeeperHandle>,
    /// Accounts of every role.
    pub accounts: Accounts,
    /// Threshold advertised for publishing.
    pub threshold: u8,
    /// State directory.
    pub state_dir: PathBuf,
    /// The env file.
    pub env_path: PathBuf,
    /// Endpoint of the in-process validator, when one runs.
    pub validator_endpoint: Option<String>,
    /// Public URL of the in-process access gateway, when one runs.
    pub gateway_url: Option<String>,
    gateway_task: Option<Running<phd_gateway::GatewayError>>,
    validator_task: Option<Running<phd_validator::ValidatorError>>,
    validator_wanted: bool,
    anvil: Option<AnvilInstance>,
    s3_server: Option<EmbeddedS3>,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("rpc_url", &self.rpc_url)
            .field("s3", &self.s3.endpoint)
            .field("keepers", &self.keepers)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

fn extra_signers(
    settings: &AnvilSettings,
    roles: &RoleSigners,
    n: usize,
) -> Result<Vec<PrivateKeySigner>, DevnetError> {
    let mut keepers: Vec<PrivateKeySigner> = roles.keepers.iter().take(n).cloned().collect();
    let r = &settings.roles;
    let used = r.keepers.iter().copied().chain([
        r.deployer,
        r.user,
        r.customer,
        r.validator,
        r.manufacturer,
    ]);
    let mut next = used.max().unwrap_or(0) + 1;
    while keepers.len() < n {
        if next >= settings.accounts {
            return Err(DevnetError::Config(format!(
                "{n} keepers need more than the {} anvil accounts of the settings",
                settings.accounts
            )));
        }
        keepers.push(settings.signer(next)?);
        next += 1;
    }
    Ok(keepers)
}

impl Devnet {
    /// Starts the whole stack (see the crate docs). On error, whatever was started is stopped.
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        if config.keepers < 2 || config.keepers > 255 {
            return Err(DevnetError::Config(format!(
                "keepers must be 2..=255, got {}",
                config.keepers
            )));
        }
        if config.threshold < 2 || usize::from(config.threshold) > config.keepers {
            return Err(DevnetError::Config(format!(
                "threshold must be 2..={}, got {}",
                config.keepers, config.threshold
            )));
        }
        let state = config.state_dir.clone();
        if config.clean && state.exists() {
            for sub in [
                "s3",
                "keepers",
                "env",
                "secrets",
                "gateway",
                "deployment.json",
            ] {
                let p = state.join(sub);
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(DevnetError::io("removing", &p))?;
                } else if p.exists() {
                    std::fs::remove_file(&p).map_err(DevnetError::io("removing", &p))?;
                }
            }
        }
        std::fs::create_dir_all(&state).map_err(DevnetError::io("creating", &state))?;
        let state = state
            .canonicalize()
            .map_err(DevnetError::io("resolving", &state))?;

        // 1. anvil
        let settings = config.anvil.clone();
        let anvil = phd_chain::spawn_anvil(&settings, config.port)?;
        let rpc_url = anvil.endpoint();
        tracing::info!(%rpc_url, "anvil started");
        let roles = settings.role_signers()?;
        let keeper_signers = extra_signers(&settings, &roles, config.keepers)?;
        let accounts = Accounts {
            deployer: roles.deployer.clone(),
            user: roles.user.clone(),
            customer: roles.customer.clone(),
            validator: roles.validator.clone(),
            manufacturer: roles.manufacturer.clone(),
            keepers: keeper_signers,
        };

        // 2. contracts
        let deployment_path = state.join("deployment.json");
        let outcome = phd_deploy::deploy(
            &rpc_url,
            accounts.deployer.clone(),
            &config.deploy,
            Some(&deployment_path),
            true,
        )
        .await?;
        let deployment = outcome.deployment;
        if let Some(extra) = &config.extra_deployment_path {
            deployment.save(extra)?;
        }
        tracing::info!(marketplace = %deployment.marketplace, "contracts deployed");

        // 3. S3
        let s3_root = state.join("s3");
        let server = EmbeddedS3::start(
            &s3_root,
            ServerCredentials::new(&config.s3_access_key, &config.s3_secret_key),
        )
        .await?;
        let s3 = S3Info {
            endpoint: server.endpoint().to_owned(),
            region: config.region.clone(),
            bucket: config.bucket.clone(),
            access_key_id: config.s3_access_key.clone(),
            secret_access_key: config.s3_secret_key.clone(),
            root_dir: s3_root,
        };
        Store::connect(s3.client_config())
            .await?
            .ensure_bucket()
            .await?;
        tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, "embedded S3 started");

        // 4. funds and the manufacturer
        let deployer =
            PhdClient::connect(&rpc_url, accounts.deployer.clone(), deployment.clone()).await?;
        // Series disputes slash through the KeeperRegistry's second slasher: a reused deployment
        // from before it existed (or wired elsewhere) would make every dispute revert.
        let wired = deployer
            .keeper_registry()
            .seriesMarket()
            .call()
            .await
            .map_err(|e| ChainError::from_contract("seriesMarket", &rpc_url, e))?;
        if wired != deployment.series_market {
            return Err(DevnetError::NotWired {
                slasher: "SeriesMarket",
                expected: deployment.series_market,
                found: wired,
            });
        }
        deployer
            .transfer_coin(accounts.user.address(), config.fund_amount)
            .await?;
        deployer
            .transfer_coin(accounts.customer.address(), config.fund_amount)
            .await?;
        // Keepers and the validator bond a stake at registration (phd-node approves and stakes).
        let node_funds = config
            .node_fund_amount
            .unwrap_or(config.deploy.min_stake.saturating_mul(U256::from(2)));
        // The validator account is funded even when the devnet does not run the validator: tests
        // drive it themselves.
        for node in accounts
            .keepers
            .iter()
            .map(|k| k.address())
            .chain([accounts.validator.address()])
        {
            deployer.transfer_coin(node, node_funds).await?;
        }
        deployer
            .approve_manufacturer(accounts.manufacturer.address(), &config.manufacturer_name)
            .await?;

        // 5. keepers
        let url: url::Url = rpc_url
            .parse()
            .map_err(|e| DevnetError::Config(format!("anvil endpoint {rpc_url:?}: {e}")))?;
        let mut keepers = Vec::with_capacity(config.keepers);
        for (index, signer) in accounts.keepers.iter().enumerate() {
            let data_dir = state.join("keepers").join(index.to_string());
            let mut kc =
                KeeperConfig::new(data_dir, url.clone(), signer.clone(), deployment.clone());
            kc.poll_interval = config.keeper_poll_interval;
            if let Some(k) = config.keeper_knobs.get(index) {
                kc.fail_after = k.fail_after;
                kc.misbehave = k.misbehave;
            }
            keepers.push(KeeperHandle::new(
                index,
                signer.address(),
                kc,
                rpc_url.clone(),
                deployment.clone(),
                config.ready_timeout,
            ));
        }
        let mut devnet = Devnet {
            rpc_url,
            deployment,
            deployment_path,
            s3,
            keepers,
            accounts,
            threshold: config.threshold,
            env_path: state.join("env"),
            state_dir: state,
            validator_endpoint: None,
            gateway_url: None,
            gateway_task: None,
            validator_task: None,
            validator_wanted: config.validator,
            anvil: Some(anvil),
            s3_server: Some(server),
        };
        // Start all keepers, then wait for each (registrations run concurrently).
        let started = futures_join_all(devnet.keepers.iter_mut().map(KeeperHandle::start)).await;
        if let Some(err) = started.into_iter().find_map(Result::err) {
            devnet.shutdown().await;
            return Err(err);
        }
        tracing::info!(keepers = devnet.keepers.len(), "keepers registered");

        // 6. the owner's access gateway, then the validator (which reads through it)
        if config.gateway
            && let Err(e) = devnet.start_gateway().await
        {
            devnet.shutdown().await;
            return Err(e);
        }
        if let Err(e) = devnet.start_validator().await {
            devnet.shutdown().await;
            return Err(e);
        }

        // 7. env file
        if let Err(e) = devnet.write_env() {
            devnet.shutdown().await;
            return Err(e);
        }
        Ok(devnet)
    }

    /// Starts `phd-validator` in-process (when [`DevnetConfig::validator`]) with the validator
    /// account, data directory `<state>/validator`, this devnet's S3 and a 250 ms poll; waits
    /// until it is registered on-chain. Stopped in [`Self::shutdown`].
    pub async fn start_validator(&mut self) -> Result<(), DevnetError> {
        if !self.validator_wanted || self.validator_task.is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(DevnetError::io(
                "binding validator listener",
                Path::new("127.0.0.1:0"),
            ))?;
        let addr = listener
            .local_addr()
            .map_err(DevnetError::io("reading validator address", Path::new("")))?;
        let endpoint = format!("http://{addr}");
        let mut vc = phd_validator::ValidatorConfig::new(
            self.state_dir.join("validator"),
            self.rpc_url.clone(),
            self.accounts.validator.clone(),
            self.deployment.clone(),
        );
        // Without a gateway the validator needs the bucket; with one it holds no storage
        // credential (grants listed with the gateway URL are read through it).
        vc.s3 = self.gateway_url.is_none().then(|| self.s3.client_config());
        vc.public_endpoint = Some(endpoint.clone());
        vc.poll_interval = Duration::from_millis(250);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(phd_validator::run(vc, listener, async move {
            stop.cancelled().await
        }));
        self.validator_task = Some(Running { cancel, task });
        let client = self.deployer_client().await?;
        let started = Instant::now();
        loop {
            if self
                .validator_task
                .as_ref()
                .is_some_and(|r| r.task.is_finished())
            {
                let reason = match self.validator_task.take().map(|r| r.task) {
                    Some(t) => match t.await {
                        Ok(Err(e)) => e.to_string(),
                        Ok(Ok(())) => "exited during start-up".into(),
                        Err(e) => e.to_string(),
                    },
                    None => "not running".into(),
                };
                return Err(DevnetError::Config(format!(
                    "validator failed to start: {reason}"
                )));
            }
            let node = client.node(self.accounts.validator.address()).await?;
            if node.role == NodeRole::Validator as u8 && node.endpoint == endpoint {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(DevnetError::Config(
                    "validator not registered after 120 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.validator_endpoint = Some(endpoint);
        Ok(())
    }
    /// Starts `phd-gateway` in-process on loopback with the owner's S3 credentials and an
    /// access log at `<state>/gateway/access.jsonl`. Stopped in [`Self::shutdown`].
    pub async fn start_gateway(&mut self) -> Result<(), DevnetError> {
        if self.gateway_task.is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(DevnetError::io(
                "binding gateway listener",
                Path::new("127.0.0.1:0"),
            ))?;
        let addr = listener
            .local_addr()
            .map_err(DevnetError::io("reading gateway address", Path::new("")))?;
        let url = format!("http://{addr}");
        let config = phd_gateway::GatewayConfig::new(
            self.rpc_url.clone(),
            self.deployment.clone(),
            self.s3.client_config(),
            url.clone(),
            self.state_dir.join("gateway").join("access.jsonl"),
        );
        let gateway = phd_gateway::Gateway::connect(config)
            .await
            .map_err(|e| DevnetError::Config(format!("gateway: {e}")))?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(phd_gateway::serve(gateway, listener, async move {
            stop.cancelled().await
        }));
        self.gateway_task = Some(Running { cancel, task });
        self.gateway_url = Some(url);
        tracing::info!(url = ?self.gateway_url, "access gateway started");
        Ok(())
    }

    /// A human-readable table of what runs where.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{:<14} {:<44} account / detail", "component", "where");
        let _ = writeln!(
            t,
            "{:<14} {:<44} chain id {}",
            "anvil", self.rpc_url, self.deployment.chain_id
        );
        let d = &self.deployment;
        for (name, a) in [
            ("PHDCoin", d.coin),
            ("KeeperRegistry", d.keeper_registry),
            ("DataRegistry", d.data_registry),
            ("Marketplace", d.marketplace),
            ("SeriesMarket", d.series_market),
            ("SeriesCert.", d.series_certification),
        ] {
            let _ = writeln!(t, "{:<14} {:<44} contract", name, a.to_string());
        }
        let _ = writeln!(
            t,
            "{:<14} {:<44} bucket {} in {}",
            "S3 (s3s-fs)",
            self.s3.endpoint,
            self.s3.bucket,
            self.s3.root_dir.display()
        );
        for k in &self.keepers {
            let _ = writeln!(
                t,
                "{:<14} {:<44} {}",
                format!("keeper {}", k.index + 1),
                k.endpoint(),
                k.address
            );
        }
        let g = self.gateway_url.as_deref().unwrap_or("(not started)");
        let _ = writeln!(
            t,
            "{:<14} {:<44} owner's S3 credentials; log {}",
            "gateway",
            g,
            self.state_dir.join("gateway/access.jsonl").display()
        );
        let v = self
            .validator_endpoint
            .as_deref()
            .unwrap_or("(not started: --no-validator)");
        let _ = writeln!(
            t,
            "{:<14} {:<44} {}",
            "validator",
            v,
            self.accounts.validator.address()
        );
        let _ = writeln!(
            t,
            "{:<14} {:<44} {}",
            "user",
            "",
            self.accounts.user.address()
        );
        let _ = writeln!(
            t,
            "{:<14} {:<44} {}",
            "customer",
            "",
            self.accounts.customer.address()
        );
        let _ = writeln!(
            t,
            "{:<14} {:<44} {} (approved)",
            "manufacturer",
            "",
            self.accounts.manufacturer.address()
        );
        let _ = writeln!(
            t,
            "{:<14} {:<44} t = {} of n = {}",
            "env file",
            self.env_path.display(),
            self.threshold,
            self.keepers.len()
        );
        t
    }

    /// A client signing as `signer`.
    pub async fn client(&self, signer: &PrivateKeySigner) -> Result<PhdClient, ChainError> {
        PhdClient::connect(&self.rpc_url, signer.clone(), self.deployment.clone()).await
    }

    /// The data owner's client.
    pub async fn user_client(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.accounts.user).await
    }

    /// The customer's client.
    pub async fn customer_client(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.accounts.customer).await
    }

    /// The deployer's client.
    pub async fn deployer_client(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.accounts.deployer).await
    }

    /// A connected S3 client for the embedded server.
    pub async fn store(&self) -> Result<Store, phd_storage::Error> {
        Store::connect(self.s3.client_config()).await
    }

    /// Keeper endpoints in order.
    pub fn keeper_endpoints(&self) -> Vec<String> {
        self.keepers
            .iter()
            .map(|k| k.endpoint().to_owned())
            .collect()
    }

    /// Keeper addresses in order.
    pub fn keeper_addresses(&self) -> Vec<Address> {
        self.keepers.iter().map(|k| k.address).collect()
    }

    /// Moves chain time forward and mines a block.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), ChainError> {
        self.deployer_client().await?.increase_time(seconds).await
    }

    /// Stops everything: keepers (drained), the S3 server, anvil. Errors are logged.
    pub async fn shutdown(&mut self) {
        if let Some(v) = self.validator_task.take() {
            v.cancel.cancel();
            match v.task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "validator stopped with an error"),
                Err(e) => tracing::warn!(error = %e, "validator task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Some(g) = self.gateway_task.take() {
            g.cancel.cancel();
            match g.task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "gateway stopped with an error"),
                Err(e) => tracing::warn!(error = %e, "gateway task failed"),
                Ok(Ok(())) => {}
            }
        }
        for k in &mut self.keepers {
            if let Err(e) = k.stop().await {
                tracing::warn!(keeper = k.index, error = %e, "keeper stopped with an error");
            }
        }
        if let Some(s3) = self.s3_server.take()
            && let Err(e) = s3.shutdown().await
        {
            tracing::warn!(error = %e, "embedded S3 stopped with an error");
        }
        if let Some(anvil) = self.anvil.take() {
            drop(anvil); // kills the process
        }
        tracing::info!("devnet stopped");
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some(g) = self.gateway_task.take() {
            g.cancel.cancel();
            g.task.abort();
        }
        if let Some(v) = self.validator_task.take() {
            v.cancel.cancel();
            v.task.abort();
        }
        for k in &mut self.keepers {
            k.abort();
        }
    }
}

async fn futures_join_all<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T>,
{
    // Small n: poll them together without pulling in the futures crate.
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut slots: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut futs: Vec<Option<std::pin::Pin<Box<F>>>> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in slots.iter_mut().zip(futs.iter_mut()) {
            if let Some(f) = fut {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *slot = Some(v);
                        *fut = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots.into_iter().flatten().collect()
}

/// Starts the devnet, prints the table, waits for `shutdown` (Ctrl-C / SIGTERM in the binary),
/// then stops everything. While it runs, a keeper task that dies is reported on stderr.
pub async fn run(
    config: DevnetConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DevnetError> {
    let mut devnet = Devnet::start(config).await?;
    println!("{}", devnet.table());
    println!(
        "ready: run the CLIs with --devnet (from this directory) or PHD_DEVNET_ENV={}",
        devnet.env_path.display()
    );
    println!("press Ctrl-C to stop");
    let mut shutdown = std::pin::pin!(shutdown);
    let mut reported = vec![false; devnet.keepers.len()];
    loop {
        tokio::select! {
            () = shutdown.as_mut() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                for (k, done) in devnet.keepers.iter().zip(reported.iter_mut()) {
                    if !*done && !k.is_running() {
                        *done = true;
                        tracing::error!(keeper = k.index + 1, address = %k.address, "keeper stopped unexpectedly");
                    }
                }
            }
        }
    }
    println!("stopping: draining keepers, stopping S3, killing anvil");
    devnet.shutdown().await;
    let _ = std::fs::remove_file(&devnet.env_path);
    let _ = std::fs::remove_dir_all(devnet.secrets_dir());
    println!("stopped");
    Ok(())
}
