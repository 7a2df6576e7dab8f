//! Every role its own OS process on its own secrets (issue 11): the owner (`phd-user`), five
//! keepers (`phd-keeper`), the validator (`phd-validator`), the owner's access gateway
//! (`phd-gateway`) and the buyer (`phd-customer`) run as the built debug binaries over loopback
//! HTTP and a real anvil. The embedded S3 server runs in this test process: it plays the storage
//! operator, with a fresh bucket and random credentials that only the owner and the gateway get.
//!
//! Each role gets its own directory holding a copy of the public env file and its own
//! `secrets/<role>.env` (both 0600, read by `phd_cli::parse_as(role)`), and is started with an
//! empty environment (`env_clear`) plus `PHD_DEVNET_ENV`: no process can find another role's
//! secrets by the devnet's path convention, and nothing leaks in from the test's environment.
//!
//! Flow: publish (listed behind the gateway) → certify (the validator reads the grant through the
//! gateway) → buy → download through a loopback proxy of this test → the gateway is SIGKILLed
//! mid-body and a new gateway process started on the same port → the buyer's retries resume →
//! decrypt → settle. Checks: the plaintext is byte-identical to the owner's pseudonymised data,
//! the buyer's process never held a storage credential, a stranger is refused, and the access
//! log shows the interrupted range served twice.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use phd_chain::{AnvilSettings, NodeRole, PhdClient, PurchaseStatus};
use phd_protocol::gateway::{AccessRecord, GatewayDomain};
use phd_storage::server::{EmbeddedS3, ServerCredentials};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    process::{Child, Command},
};

use crate::{e2e_errors::built_bin, e2e_gateway::read_as};

/// Rows of the owner's recording: ≈ 3.4 MB of CSV, ≈ 1.5 MB sealed (noisy values compress
/// poorly), so the download is a real stream the proxy can cut in the middle.
const ROWS: usize = 45_000;
const PROCESS_START: Duration = Duration::from_secs(60);

fn hex_key(s: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(s.to_bytes()))
}

/// `KEY=VALUE` lines, mode 0600 (what `phd-devnet` writes; `parse_as` refuses anything looser).
fn write_env(path: &Path, vars: &[(&str, String)]) -> eyre::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from("# written by the multi-process e2e test\n");
    for (k, v) in vars {
        let _ = writeln!(text, "{k}={v}");
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    phd_cli::fs::write_atomic(path, text.as_bytes(), phd_cli::fs::Access::OwnerOnly)?;
    Ok(())
}

/// One role's directory: `env` (the public facts) and `secrets/<role>.env`.
struct Role {
    name: String,
    dir: PathBuf,
}

impl Role {
    fn new(
        root: &Path,
        name: &str,
        public: &[(&str, String)],
        secrets: &[(&str, String)],
    ) -> eyre::Result<Self> {
        let dir = root.join(name);
        write_env(&dir.join("env"), public)?;
        // The file name is the role the binary asks `parse_as` for (keepers: "keeper").
        let role_file = name.split('-').next().unwrap_or(name);
        write_env(
            &dir.join("secrets").join(format!("{role_file}.env")),
            secrets,
        )?;
        Ok(Self {
            name: name.to_owned(),
            dir,
        })
    }

    fn secrets_file(&self) -> PathBuf {
        let role_file = self.name.split('-').next().unwrap_or(&self.name);
        self.dir.join("secrets").join(format!("{role_file}.env"))
    }

    /// `bin args…` in this role's directory with nothing but its env file named; stderr to
    /// `<dir>/<log>.log`.
    fn command(&self, bin: &str, args: &[&str], log: &str) -> eyre::Result<Command> {
        let mut c = Command::new(built_bin(bin)?);
        c.args(args)
            .env_clear()
            .env("PHD_DEVNET_ENV", self.dir.join("env"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("{log}.log")))?)
            .kill_on_drop(true);
        Ok(c)
    }

    /// A long-running service; returns once its stderr says `listening on http://…`, with
    /// that address.
    async fn service(&self, bin: &str, args: &[&str], log: &str) -> eyre::Result<Service> {
        let mut child = self
            .command(bin, args, log)?
            .stdout(Stdio::null())
            .spawn()?;
        let log = self.dir.join(format!("{log}.log"));
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .lines()
                .find_map(|l| l.split("listening on http://").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok())
            {
                return Ok(Service { child, addr, log });
            }
            if let Some(status) = child.try_wait()? {
                eyre::bail!(
                    "{bin} ({}) exited during start-up ({status}):\n{text}",
                    self.name
                );
            }
            eyre::ensure!(
                start.elapsed() < PROCESS_START,
                "{bin} ({}) not listening after {PROCESS_START:?}:\n{text}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A one-shot `--json` command: its JSON documents (the validator's `request --wait` prints
    /// two), or the failure with its stderr.
    async fn run_json(
        &self,
        bin: &str,
        args: &[&str],
        log: &str,
    ) -> eyre::Result<Vec<serde_json::Value>> {
        self.run_json_with(self.command(bin, args, log)?, bin, args, log)
            .await
    }

    async fn run_json_with(
        &self,
        mut cmd: Command,
        bin: &str,
        args: &[&str],
        log: &str,
    ) -> eyre::Result<Vec<serde_json::Value>> {
        let child = cmd.stdout(Stdio::piped()).spawn()?;
        let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .map_err(|_| eyre::eyre!("{bin} {args:?} did not finish in 120 s"))??;
        let stderr =
            std::fs::read_to_string(self.dir.join(format!("{log}.log"))).unwrap_or_default();
        eyre::ensure!(
            out.status.success(),
            "{bin} {args:?} ({}) failed ({}):\n{stderr}",
            self.name,
            out.status
        );
        Ok(serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter::<serde_json::Value>()
            .collect::<Result<_, _>>()?)
    }
}

struct Service {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Service {
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A loopback TCP proxy between the buyer and the gateway (a test harness, not a product
/// switch). Once armed with `n`, it holds the gateway → client stream after `n` more bytes
/// until [`Proxy::release`], so the test can kill the gateway while a response body is
/// provably half-delivered.
#[derive(Clone)]
struct Proxy {
    addr: SocketAddr,
    upstream: Arc<Mutex<Option<SocketAddr>>>,
    passed: Arc<AtomicU64>,
    trip_at: Arc<AtomicU64>,
    holding: tokio::sync::watch::Sender<bool>,
    /// Bumped by [`Proxy::sever`]: relays to the gateway of an earlier epoch end.
    epoch: Arc<AtomicU64>,
}

impl Proxy {
    async fn start() -> eyre::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (holding, _) = tokio::sync::watch::channel(false);
        let proxy = Proxy {
            addr: listener.local_addr()?,
            upstream: Arc::new(Mutex::new(None)),
            passed: Arc::new(AtomicU64::new(0)),
            trip_at: Arc::new(AtomicU64::new(u64::MAX)),
            holding,
            epoch: Arc::new(AtomicU64::new(0)),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(p.clone().relay(client));
            }
        });
        Ok(proxy)
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn point_at(&self, gateway: SocketAddr) {
        *self.upstream.lock().unwrap_or_else(|e| e.into_inner()) = Some(gateway);
    }

    /// Hold the stream once `n` more bytes went to clients.
    fn arm(&self, n: u64) {
        self.trip_at
            .store(self.passed.load(Ordering::SeqCst) + n, Ordering::SeqCst);
    }

    async fn tripped(&self, timeout: Duration) -> eyre::Result<u64> {
        let mut rx = self.holding.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|h| *h))
            .await
            .map_err(|_| eyre::eyre!("the download never reached the cut point"))??;
        Ok(self.passed.load(Ordering::SeqCst))
    }

    fn release(&self) {
        self.trip_at.store(u64::MAX, Ordering::SeqCst);
        self.holding.send_replace(false);
    }

    /// Ends every relay to the gateway that was just killed, with whatever it had not passed on
    /// yet: the kernel of a killed process may still flush what its send buffer held, which a
    /// real crash (or a large object) would not leave to the client.
    fn sever(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// A connection whose small receive window and MSS keep the gateway's kernel from
    /// buffering the whole response (on loopback it would otherwise take a 64 KiB MSS and size
    /// its send buffer for ten of them): when the gateway is killed, the rest of the body is
    /// really lost, as it would be for a large object.
    async fn connect_small(to: SocketAddr) -> std::io::Result<TcpStream> {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.set_recv_buffer_size(32 << 10)?;
        socket2::SockRef::from(&sock).set_tcp_mss(1024)?;
        sock.connect(to).await
    }

    async fn relay(self, client: TcpStream) {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let target = *self.upstream.lock().unwrap_or_else(|e| e.into_inner());
        // Gateway down (or not yet known): close at once, as a refused connection would.
        let Some(Ok(upstream)) = (match target {
            Some(t) => Some(Self::connect_small(t).await),
            None => None,
        }) else {
            return;
        };
        let (mut c_read, mut c_write) = client.into_split();
        let (mut u_read, mut u_write) = upstream.into_split();
        let up = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut c_read, &mut u_write).await;
            let _ = u_write.shutdown().await;
        });
        let mut buf = vec![0u8; 16 << 10];
        let mut holding = self.holding.subscribe();
        loop {
            let n = match u_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let before = self.passed.fetch_add(n as u64, Ordering::SeqCst);
            let trip = self.trip_at.load(Ordering::SeqCst);
            if before < trip && before + n as u64 >= trip {
                self.holding.send_replace(true);
            }
            if holding.wait_for(|h| !*h).await.is_err()
                || self.epoch.load(Ordering::SeqCst) != epoch
            {
                break;
            }
            if c_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        // Upstream gone (e.g. the gateway was killed): the client sees the body cut short.
        up.abort();
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    phd_e2e::stack::contains_bytes(hay, needle.as_bytes())
}

/// ≈ 75 bytes a row: the BasicMotions test split, cycled, with a little seeded noise so the
/// sealed object stays large and the validator still scores a real-looking recording.
fn write_recording(path: &Path, rows: usize) -> eyre::Result<()> {
    use std::fmt::Write as _;
    let dir = std::env::var("PHD_DATA_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/basic-motions"),
        PathBuf::from,
    );
    let t = phd_ingest::read_ts_path(
        &dir.join("BasicMotions_TEST.ts"),
        &phd_ingest::ReadOptions::default(),
    )?;
    let len = t.channels.first().map_or(0, Vec::len);
    eyre::ensure!(
        len > 0 && t.channels.len() == 6,
        "unexpected BasicMotions shape"
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut s = String::from("time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n");
    for i in 0..rows {
        #[allow(clippy::cast_precision_loss)]
        let _ = write!(s, "{:.1}", i as f64 / 10.0);
        for c in &t.channels {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            #[allow(clippy::cast_precision_loss)]
            let noise = (x % 10_000) as f64 / 1e6 - 0.005;
            let _ = write!(s, ",{:.6}", c[i % len] + noise);
        }
        s.push('\n');
    }
    std::fs::write(path, s)?;
    Ok(())
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> eyre::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = eyre::Result<bool>>,
{
    let start = Instant::now();
    while !check().await? {
        eyre::ensure!(
            start.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_a_process_on_its_own_secrets_and_a_gateway_killed_mid_download()
-> eyre::Result<()> {
    let started = Instant::now();
    for bin in [
        "phd-user",
        "phd-keeper",
        "phd-validator",
        "phd-gateway",
        "phd-customer",
    ] {
        built_bin(bin)?;
    }
    let tmp = tempfile::Builder::new().prefix("phd-procs-").tempdir()?;
    let root = tmp.path();

    // --- chain: anvil on a free port, contracts, funds (the test is the deployer) -------------
    let settings = AnvilSettings::load_default()?;
    let anvil = phd_chain::spawn_anvil(&settings, 0)?;
    let rpc_url = anvil.endpoint();
    let roles = settings.role_signers()?;
    let deployment_path = root.join("public").join("deployment.json");
    let deploy = phd_deploy::DeployConfig {
        delivery_window: 60,
        confirmation_window: 60,
        ..phd_deploy::DeployConfig::default()
    };
    let deployment = phd_deploy::deploy(
        &rpc_url,
        roles.deployer.clone(),
        &deploy,
        Some(&deployment_path),
        true,
    )
    .await?
    .deployment;
    let client = |s: &PrivateKeySigner| PhdClient::connect(&rpc_url, s.clone(), deployment.clone());
    let deployer = client(&roles.deployer).await?;
    for to in [roles.user.address(), roles.customer.address()] {
        deployer.transfer_coin(to, phd_chain::phd(1_000)).await?;
    }
    let node_funds = deploy.min_stake.saturating_mul(U256::from(2));
    for node in roles.keepers.iter().chain([&roles.validator]) {
        deployer.transfer_coin(node.address(), node_funds).await?;
    }

    // --- storage operator: the embedded S3 server, a fresh bucket, random credentials ---------
    let s3_secret = format!(
        "s3-secret-{}",
        hex::encode(PrivateKeySigner::random().to_bytes())
    );
    let s3_key_id = format!(
        "s3-key-{}",
        &hex::encode(PrivateKeySigner::random().to_bytes())[..16]
    );
    let server = EmbeddedS3::start(
        root.join("s3"),
        ServerCredentials::new(&s3_key_id, &s3_secret),
    )
    .await?;
    let bucket = "owner-bucket";
    phd_storage::Store::connect(server.client_config(bucket))
        .await?
        .ensure_bucket()
        .await?;

    // --- every role's files --------------------------------------------------------------------
    let proxy = Proxy::start().await?;
    let public: Vec<(&str, String)> = vec![
        ("PHD_RPC_URL", rpc_url.clone()),
        ("PHD_CHAIN_ID", deployment.chain_id.to_string()),
        ("PHD_DEPLOYMENT", deployment_path.display().to_string()),
        ("PHD_THRESHOLD", "3".into()),
        ("PHD_ALLOW_SHARED_HOSTS", "true".into()),
        // What buyers sign tokens for and the listing names: the proxy in front of the gateway.
        ("PHD_GATEWAY_URL", proxy.url()),
        (
            "PHD_VALIDATOR_ADDRESS",
            roles.validator.address().to_string(),
        ),
    ];
    let access_log = root.join("gateway").join("access.jsonl");
    let storage: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", server.endpoint().to_owned()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", s3_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", s3_secret.clone()),
        ("AWS_S3_FORCE_PATH_STYLE", "true".into()),
        ("PHD_S3_BUCKET", bucket.into()),
    ];
    let owner_key = hex_key(&roles.user);
    let mut owner_secrets = vec![
        ("PHD_USER_PRIVATE_KEY", owner_key.clone()),
        (
            "PHD_STATE_DIR",
            root.join("user/state").display().to_string(),
        ),
        ("PHD_GATEWAY_ACCESS_LOG", access_log.display().to_string()),
    ];
    owner_secrets.extend(storage.iter().cloned());
    let owner = Role::new(root, "user", &public, &owner_secrets)?;
    let mut gateway_secrets = storage.clone();
    gateway_secrets.push(("PHD_GATEWAY_ACCESS_LOG", access_log.display().to_string()));
    let gateway_role = Role::new(root, "gateway", &public, &gateway_secrets)?;
    let buyer = Role::new(
        root,
        "customer",
        &public,
        &[("PHD_CUSTOMER_PRIVATE_KEY", hex_key(&roles.customer))],
    )?;
    let validator_role = Role::new(
        root,
        "validator",
        &public,
        &[
            ("PHD_VALIDATOR_PRIVATE_KEY", hex_key(&roles.validator)),
            (
                "PHD_VALIDATOR_DATA_DIR",
                root.join("validator/data").display().to_string(),
            ),
        ],
    )?;
    let keeper_roles: Vec<Role> = roles
        .keepers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let name = format!("keeper-{}", i + 1);
            let data = root.join(&name).join("data").display().to_string();
            Role::new(
                root,
                &name,
                &public,
                &[
                    ("PHD_PRIVATE_KEY", hex_key(k)),
                    ("PHD_KEEPER_DATA_DIR", data),
                ],
            )
        })
        .collect::<eyre::Result<_>>()?;

    // Only the owner and its gateway hold a storage credential; nobody's env file a secret.
    for r in [&buyer, &validator_role].into_iter().chain(&keeper_roles) {
        let text = std::fs::read(r.secrets_file())?;
        eyre::ensure!(
            !contains(&text, "AWS_") && !contains(&text, &s3_secret),
            "{} holds a storage credential",
            r.name
        );
    }
    for r in [&owner, &gateway_role, &buyer, &validator_role]
        .into_iter()
        .chain(&keeper_roles)
    {
        let text = std::fs::read(r.dir.join("env"))?;
        eyre::ensure!(
            !contains(&text, "AWS_") && !contains(&text, "PRIVATE_KEY"),
            "{}'s public env file holds a secret",
            r.name
        );
    }

    // --- services: five keepers, the validator, the gateway ------------------------------------
    let mut keepers = Vec::new();
    for r in &keeper_roles {
        keepers.push(
            r.service("phd-keeper", &["run", "--poll-ms", "100"], "keeper")
                .await?,
        );
    }
    let validator = validator_role
        .service("phd-validator", &["run", "--poll-ms", "100"], "validator")
        .await?;
    let mut gateway = gateway_role
        .service("phd-gateway", &["--listen", "127.0.0.1:0"], "gateway-1")
        .await?;
    proxy.point_at(gateway.addr);
    let observer = client(&roles.deployer).await?;
    let nodes: Vec<Address> = roles
        .keepers
        .iter()
        .chain([&roles.validator])
        .map(PrivateKeySigner::address)
        .collect();
    wait_until(
        "every keeper and the validator registered",
        PROCESS_START,
        || {
            let (observer, nodes) = (&observer, &nodes);
            async move {
                for (i, a) in nodes.iter().enumerate() {
                    let want = if i + 1 == nodes.len() {
                        NodeRole::Validator
                    } else {
                        NodeRole::Keeper
                    };
                    let n = observer.node(*a).await?;
                    if n.role != want as u8 || n.endpoint.is_empty() {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        },
    )
    .await?;
    eprintln!("stack up after {:?}", started.elapsed());

    // --- owner: publish behind the gateway ------------------------------------------------------
    let recording = owner.dir.join("recording.csv");
    write_recording(&recording, ROWS)?;
    let pseudonymised = owner.dir.join("pseudonymised.csv");
    let published = owner
        .run_json(
            "phd-user",
            &[
                "--json",
                "publish",
                &recording.display().to_string(),
                "--price",
                "3",
                "--purposes",
                "research,validation",
                "--no-quality",
                "--title",
                "multi-process e2e",
                "--pseudonymised-out",
                &pseudonymised.display().to_string(),
            ],
            "publish",
        )
        .await?;
    let published = published.last().cloned().unwrap_or_default();
    let dataset_id = published["dataset_id"]
        .as_u64()
        .ok_or_else(|| eyre::eyre!("publish printed no dataset id: {published}"))?;
    let storage_uri = published["storage_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let object_key = published["object_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sealed = published["sealed_bytes"].as_u64().unwrap_or_default();
    eyre::ensure!(
        storage_uri == format!("{}/v1/objects/{object_key}", proxy.url()),
        "listed {storage_uri}, not behind the gateway"
    );
    eyre::ensure!(sealed > 1 << 20, "sealed object only {sealed} bytes");
    eprintln!(
        "published after {:?} ({sealed} bytes sealed)",
        started.elapsed()
    );

    // --- certify: the owner grants the validator, which reads through the gateway ---------------
    let validator_url = format!("http://{}", validator.addr);
    // `phd-validator request` is the owner's command in the validator's binary: it reads the
    // owner's secrets file, named explicitly.
    let dataset_arg = dataset_id.to_string();
    let request = [
        "--json",
        "request",
        "--dataset",
        &dataset_arg,
        "--endpoint",
        &validator_url,
        "--wait",
        "90",
    ];
    let mut cmd = owner.command("phd-validator", &request, "certify")?;
    cmd.env("PHD_DEVNET_SECRETS", owner.secrets_file());
    let certified = owner
        .run_json_with(cmd, "phd-validator", &request, "certify")
        .await
        .map_err(|e| eyre::eyre!("{e}\nvalidator log:\n{}", validator.tail()))?;
    let cert = certified.last().cloned().unwrap_or_default();
    eyre::ensure!(
        cert["validator"].as_str().map(str::to_lowercase)
            == Some(format!("{:#x}", roles.validator.address())),
        "no certificate: {certified:?}"
    );
    eprintln!("certified after {:?}", started.elapsed());

    // --- buy: the buyer's process, empty environment, its key only ------------------------------
    proxy.arm(sealed / 3);
    let bought = buyer.dir.join("bought.csv");
    let buy_child = buyer
        .command(
            "phd-customer",
            &[
                "--json",
                "buy",
                &dataset_id.to_string(),
                "--purpose",
                "research",
                "--share-timeout",
                "90",
                "--out",
                &bought.display().to_string(),
            ],
            "buy",
        )?
        .stdout(Stdio::piped())
        .spawn()?;
    let buyer_pid = buy_child
        .id()
        .ok_or_else(|| eyre::eyre!("buyer exited at once"))?;
    // Right after exec the kernel may still show an empty environment; read it once it is set.
    let mut environ = Vec::new();
    for _ in 0..100 {
        environ = std::fs::read(format!("/proc/{buyer_pid}/environ")).unwrap_or_default();
        if contains(&environ, "PHD_DEVNET_ENV=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eyre::ensure!(
        contains(&environ, "PHD_DEVNET_ENV=")
            && !contains(&environ, "AWS_")
            && !contains(&environ, &s3_secret),
        "the buyer's process environment holds a storage credential (or could not be read)"
    );
    let buy = tokio::spawn(buy_child.wait_with_output());

    // The gateway dies with a body half-sent; a new gateway process takes over the same port.
    let cut_at = proxy.tripped(Duration::from_secs(90)).await?;
    eyre::ensure!(
        !bought.exists(),
        "the output exists before the download finished"
    );
    gateway.child.kill().await?; // SIGKILL: no graceful shutdown, connections reset
    proxy.sever();
    let killed = gateway.child.wait().await?;
    eyre::ensure!(
        killed.code().is_none(),
        "gateway exited on its own: {killed}"
    );
    let port = gateway.addr.port().to_string();
    gateway = gateway_role
        .service(
            "phd-gateway",
            &["--listen", &format!("127.0.0.1:{port}")],
            "gateway-2",
        )
        .await?;
    let restarted_ms = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    proxy.release();
    eprintln!(
        "gateway killed after {cut_at} bytes and restarted after {:?}",
        started.elapsed()
    );

    let out = tokio::time::timeout(Duration::from_secs(120), buy)
        .await
        .map_err(|_| eyre::eyre!("buy did not finish"))???;
    let buy_log = std::fs::read_to_string(buyer.dir.join("buy.log")).unwrap_or_default();
    eyre::ensure!(
        out.status.success(),
        "buy failed ({}):\n{buy_log}\ngateway:\n{}",
        out.status,
        gateway.tail()
    );
    let bought_json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    eprintln!("bought after {:?}", started.elapsed());

    // Byte-identical, complete, nothing twice; through the gateway; settled.
    eyre::ensure!(
        std::fs::read(&bought)? == std::fs::read(&pseudonymised)?,
        "the buyer's plaintext differs from the owner's pseudonymised data"
    );
    eyre::ensure!(
        bought_json["retrieved"]["source"] == "gateway",
        "not read through the gateway: {bought_json}"
    );
    let purchase_id = bought_json["purchase_id"]
        .as_u64()
        .ok_or_else(|| eyre::eyre!("no purchase id: {bought_json}"))?;
    let p = observer.get_purchase(U256::from(purchase_id)).await?;
    eyre::ensure!(
        PurchaseStatus::from(p.status) == PurchaseStatus::Settled
            && p.buyer == roles.customer.address(),
        "purchase {purchase_id} is {}, buyer {}",
        PurchaseStatus::from(p.status),
        p.buyer
    );
    let leftovers: Vec<_> = std::fs::read_dir(&buyer.dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("phd-partial"))
        .collect();
    eyre::ensure!(leftovers.is_empty(), "partial files left: {leftovers:?}");

    // Nothing the buyer holds or printed carries a storage credential or the owner's key.
    for f in phd_e2e::stack::files_under(&buyer.dir)
        .into_iter()
        .filter(|f| f != &bought)
    {
        let b = std::fs::read(&f)?;
        eyre::ensure!(
            !contains(&b, &s3_secret)
                && !contains(&b, &s3_key_id)
                && !contains(&b, &owner_key[2..]),
            "{} holds a credential that is not the buyer's",
            f.display()
        );
    }
    eyre::ensure!(
        !contains(&out.stdout, &s3_secret),
        "buy printed the S3 secret"
    );

    // --- a stranger's token is refused by the restarted gateway, with no bytes ------------------
    let http = reqwest::Client::new();
    let domain = GatewayDomain {
        chain_id: deployment.chain_id,
        marketplace: deployment.marketplace,
        gateway: proxy.url(),
    };
    let stranger = PrivateKeySigner::random();
    for (pid, want) in [
        (purchase_id, "not_buyer"),
        (purchase_id + 100, "no_such_purchase"),
    ] {
        let (status, code, body_len) =
            read_as(&http, &domain, &storage_uri, &stranger, dataset_id, pid).await?;
        eyre::ensure!(
            status == 403 && code.as_deref() == Some(want) && body_len < 512,
            "stranger naming purchase {pid}: {status} {code:?} ({body_len} bytes), want 403 {want}"
        );
    }

    // --- the access log (both gateway processes append to it) -----------------------------------
    let log: Vec<AccessRecord> = phd_gateway::read_access_log(&access_log)?;
    let buyer_reads: Vec<&AccessRecord> = log
        .iter()
        .filter(|r| {
            r.route == "object"
                && r.allowed
                && r.account == Some(roles.customer.address())
                && r.purchase_id == Some(purchase_id)
                && r.method == "GET"
        })
        .collect();
    let served: u64 = buyer_reads.iter().map(|r| r.bytes).sum();
    eyre::ensure!(
        served > sealed,
        "{served} bytes served to the buyer for a {sealed}-byte object: nothing was re-served"
    );
    let resumed = buyer_reads.iter().any(|late| {
        late.time_ms >= restarted_ms.saturating_sub(1_000)
            && buyer_reads
                .iter()
                .any(|early| early.time_ms < late.time_ms && early.range == late.range)
    });
    eyre::ensure!(
        resumed,
        "no range was asked again of the restarted gateway: {buyer_reads:?}"
    );
    eyre::ensure!(
        log.iter().any(|r| r.route == "object"
            && r.allowed
            && r.account == Some(roles.validator.address())),
        "the validator's reads are not in the access log"
    );
    eyre::ensure!(
        log.iter()
            .filter(|r| r.account == Some(stranger.address()))
            .all(|r| !r.allowed && r.bytes == 0 && r.status == 403)
            && log
                .iter()
                .filter(|r| r.account == Some(stranger.address()))
                .count()
                == 2,
        "stranger's entries in the access log"
    );

    // --- the owner sees every access in `sales` and `export` (its secrets name the log) --------
    let sales = owner
        .run_json("phd-user", &["--json", "sales"], "sales")
        .await?;
    let rows = sales
        .last()
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let row = |pid: u64| rows.iter().find(|r| r["purchase_id"] == pid).cloned();
    let sale =
        row(purchase_id).ok_or_else(|| eyre::eyre!("sale {purchase_id} not listed: {rows:?}"))?;
    let a = &sale["access"];
    // GETs and the HEAD that sizes the object; HEADs carry no bytes.
    let requests = log
        .iter()
        .filter(|r| r.route == "object" && r.allowed && r.purchase_id == Some(purchase_id))
        .count() as u64;
    eyre::ensure!(
        a["reads"].as_u64() == Some(requests)
            && a["bytes"].as_u64() == Some(served)
            && a["refused"].as_u64() == Some(1),
        "sales shows {a} for purchase {purchase_id}, the log {requests} reads, {served} bytes, 1 refusal"
    );
    let grant = rows
        .iter()
        .find(|r| r["kind"] == "grant")
        .ok_or_else(|| eyre::eyre!("the validator's grant is not listed: {rows:?}"))?;
    eyre::ensure!(
        grant["access"]["reads"].as_u64().unwrap_or(0) > 0,
        "no reads by the validator in sales: {grant}"
    );
    let export_file = owner.dir.join("export.json");
    owner
        .run_json(
            "phd-user",
            &[
                "--json",
                "export",
                "--out",
                &export_file.display().to_string(),
            ],
            "export",
        )
        .await?;
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&export_file)?)?;
    let errors = phd_user::export_doc::validate(
        &serde_json::from_str(phd_user::export_doc::EXPORT_SCHEMA)?,
        &export,
    );
    eyre::ensure!(errors.is_empty(), "export does not validate: {errors:?}");
    let ds = &export["datasets"][0];
    let exported = ds["access_log"].as_array().cloned().unwrap_or_default();
    eyre::ensure!(
        exported.len()
            >= log
                .iter()
                .filter(|r| r.dataset_id == Some(dataset_id))
                .count()
            && exported.iter().any(|r| r["code"] == "not_buyer")
            && exported.iter().any(|r| r["route"] == "manifest"),
        "export's access log of dataset {dataset_id}: {} records",
        exported.len()
    );
    let exported_sale = ds["purchases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["purchase_id"] == purchase_id))
        .ok_or_else(|| eyre::eyre!("purchase {purchase_id} not exported"))?;
    eyre::ensure!(
        exported_sale["access"] == sale["access"],
        "export and sales disagree: {} vs {}",
        exported_sale["access"],
        sale["access"]
    );

    for mut s in keepers.into_iter().chain([validator, gateway]) {
        let _ = s.child.kill().await;
    }
    server.shutdown().await?;
    drop(anvil);
    eprintln!("done after {:?}", started.elapsed());
    Ok(())
}
