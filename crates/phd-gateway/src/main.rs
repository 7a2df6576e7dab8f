//! `phd-gateway`: thin binary over the `phd_gateway` library.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use eyre::WrapErr as _;
use phd_cli::{RpcArgs, S3Args};
use phd_gateway::GatewayConfig;

#[derive(Debug, Parser)]
#[command(
    name = "phd-gateway",
    version,
    about = "PHD exchange access gateway: serves sealed objects from the owner's S3 bucket to buyers with a signed, on-chain-checked token"
)]
struct Cli {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    s3: S3Args,
    /// Address to listen on (loopback by default; put TLS in front for a public gateway).
    #[arg(long, env = "PHD_GATEWAY_LISTEN", default_value = "127.0.0.1:8600")]
    listen: SocketAddr,
    /// Public base URL buyers use and sign tokens for (default: http://<listen address>).
    #[arg(long, env = "PHD_GATEWAY_URL")]
    public_url: Option<String>,
    /// Serve only object keys under this prefix.
    #[arg(long, env = "PHD_GATEWAY_KEY_PREFIX", default_value = "datasets/")]
    key_prefix: String,
    /// Serve series segment objects under this prefix to their subscribers (empty: none).
    #[arg(long, env = "PHD_GATEWAY_SERIES_PREFIX", default_value = "series/")]
    series_prefix: String,
    /// Access log (JSON lines, mode 0600).
    #[arg(
        long,
        env = "PHD_GATEWAY_ACCESS_LOG",
        default_value = "phd-gateway-access.jsonl"
    )]
    access_log: PathBuf,
    /// Milliseconds a positive purchase check is reused for the same token.
    #[arg(long, env = "PHD_GATEWAY_AUTH_CACHE_MS", default_value_t = 2000)]
    auth_cache_ms: u64,
    /// -v info, -vv debug; RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    phd_cli::exit_with(run().await)
}

async fn run() -> eyre::Result<()> {
    let cli: Cli = phd_cli::parse_as("gateway")?;
    phd_cli::init_tracing(cli.verbose.max(1));
    let s3 = phd_storage::S3Config::from_flags(cli.s3.parts()).ok_or_else(|| {
        eyre::eyre!("no bucket: pass --s3-bucket (PHD_S3_BUCKET) and the owner's credentials")
    })?;
    let deployment = cli
        .rpc
        .load_deployment()
        .await
        .wrap_err("loading the deployment")?;
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .wrap_err_with(|| format!("binding {}", cli.listen))?;
    let local = listener
        .local_addr()
        .wrap_err("reading the listen address")?;
    let public_url = cli.public_url.unwrap_or_else(|| format!("http://{local}"));
    let mut config = GatewayConfig::new(
        cli.rpc.rpc_url.clone(),
        deployment,
        s3,
        public_url.clone(),
        cli.access_log,
    );
    config.key_prefix = cli.key_prefix;
    config.series_prefix = cli.series_prefix;
    config.auth_cache = Duration::from_millis(cli.auth_cache_ms);
    // Scripts and tests wait for this line.
    eprintln!("phd-gateway listening on http://{local} (public URL {public_url})");
    phd_gateway::run(config, listener, phd_cli::shutdown_signal())
        .await
        .wrap_err("gateway failed")?;
    Ok(())
}
