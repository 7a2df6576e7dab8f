//! Command line of `phd-web` (foundry-like: flag groups of phd-cli, each with an env fallback,
//! `--devnet` to read the devnet's env file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use eyre::WrapErr;
use phd_cli::{RpcArgs, S3Args, WalletArgs};
use phd_sdk::ClientCtx;

use crate::state::{AppState, WebConfig};

/// PHD exchange — the web page for owners, buyers and keeper operators.
#[derive(Debug, Parser)]
#[command(name = "phd-web", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Signs for both roles when given; else the buyer is `PHD_CUSTOMER_PRIVATE_KEY` and the
    /// owner `PHD_USER_PRIVATE_KEY` (the devnet's env), exactly as the two CLIs find them.
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub s3: S3Args,
    /// Address to serve on (loopback by default: the service signs with your key).
    #[arg(long, env = "PHD_WEB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where bought files are written (default: a fresh temporary directory).
    #[arg(long, env = "PHD_WEB_DOWNLOADS")]
    pub download_dir: Option<PathBuf>,
    /// Seconds a purchase waits for key shares.
    #[arg(long, env = "PHD_SHARE_TIMEOUT", default_value_t = 120)]
    pub share_timeout: u64,
    /// Seconds the catalog may show its snapshot of the listings without asking the node for
    /// its head (after that: one `eth_blockNumber`, and only what new events name is re-read).
    #[arg(long, env = "PHD_WEB_LISTING_TTL", default_value_t = 1)]
    pub listing_ttl: u64,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

async fn account(
    cli: &Cli,
    var: &'static str,
    store: Option<phd_storage::Store>,
) -> eyre::Result<Option<ClientCtx>> {
    let signer = match cli.wallet.signer_or_env(var) {
        Ok(s) => s,
        Err(phd_cli::CliError::NoRoleKey { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(ClientCtx::new(cli.rpc.connect(signer).await?, store)))
}

/// Runs the service until Ctrl-C / SIGTERM.
pub async fn run(cli: Cli) -> eyre::Result<()> {
    phd_cli::init_tracing(cli.verbose.max(1));
    let store = match phd_storage::S3Config::from_flags(cli.s3.parts()) {
        Some(cfg) => Some(
            phd_storage::Store::connect(cfg)
                .await
                .wrap_err("configuring S3 storage")?,
        ),
        None => None,
    };
    let buyer = account(&cli, "PHD_CUSTOMER_PRIVATE_KEY", store.clone()).await?;
    let owner = account(&cli, "PHD_USER_PRIVATE_KEY", store).await?;
    if buyer.is_none() && owner.is_none() {
        eyre::bail!(
            "no account: pass --private-key/--keystore, or --devnet for the devnet's buyer and owner"
        );
    }
    let (download_dir, _tmp) = match &cli.download_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new().prefix("phd-web-").tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    let state = AppState::new(WebConfig {
        buyer,
        owner,
        download_dir,
        share_timeout: Duration::from_secs(cli.share_timeout),
        listing_ttl: Duration::from_secs(cli.listing_ttl),
    })?;
    // Read the listings now, while nobody waits: the first visitor's catalog then renders from
    // the snapshot (one `eth_blockNumber`) instead of waiting for every listing to be read.
    let warm = state.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.listings().await {
            tracing::warn!(error = %e, "reading the listings at start failed; the catalog retries");
        }
    });
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .wrap_err_with(|| format!("binding {}", cli.listen))?;
    println!("phd-web: open http://{}/", listener.local_addr()?);
    crate::run(listener, state, phd_cli::shutdown_signal()).await?;
    Ok(())
}
