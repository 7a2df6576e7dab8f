//! `phd-keeper`: thin binary over the `phd_keeper` library.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use eyre::WrapErr;
use phd_cli::{RpcArgs, WalletArgs};
use phd_keeper::KeeperConfig;

#[derive(Debug, Parser)]
#[command(name = "phd-keeper", version, about = "PHD exchange key keeper")]
struct Cli {
    /// Data directory (encryption key, database).
    #[arg(
        long,
        env = "PHD_KEEPER_DATA_DIR",
        default_value = ".phd-keeper",
        global = true
    )]
    data_dir: PathBuf,
    /// More log output (-v info, -vv debug); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the HTTP API and watch the chain until Ctrl-C / SIGTERM.
    Run(RunArgs),
    /// Register (or update) this keeper on-chain and exit.
    Register(RegisterArgs),
    /// Summarise shares, deliveries and erasures from the local database.
    Status {
        /// Print JSON.
        #[arg(long, env = "PHD_KEEPER_STATUS_JSON")]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Address to listen on.
    #[arg(long, env = "PHD_KEEPER_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// URL registered on-chain (default: http://<listen address>).
    #[arg(long, env = "PHD_KEEPER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Chain poll interval in milliseconds.
    #[arg(long, env = "PHD_KEEPER_POLL_MS", default_value_t = 1000)]
    poll_ms: u64,
    /// Blocks to stay behind the head (default: 0 on the devnet, chain id 31337; 12 elsewhere).
    #[arg(long, env = "PHD_KEEPER_CONFIRMATIONS")]
    confirmations: Option<u64>,
    /// PHD to stake when registering (default: the registry's minimum).
    #[arg(long, env = "PHD_KEEPER_STAKE", value_parser = phd_cli::parse_phd)]
    stake: Option<alloy::primitives::U256>,
    /// TEST ONLY: misbehave on purpose (`wrong-share`: deliver a provably wrong share, so
    /// buyers' disputes can be exercised). Never set it on a real keeper: it gets slashed.
    #[arg(long = "cheat", env = "PHD_KEEPER_FAULT", hide = true)]
    cheat: Option<String>,
}

#[derive(Debug, Args)]
struct RegisterArgs {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// URL to register on-chain.
    #[arg(long, env = "PHD_KEEPER_PUBLIC_URL")]
    public_url: String,
    /// PHD to stake when registering (default: the registry's minimum).
    #[arg(long, env = "PHD_KEEPER_STAKE", value_parser = phd_cli::parse_phd)]
    stake: Option<alloy::primitives::U256>,
}

async fn config(
    data_dir: PathBuf,
    rpc: &RpcArgs,
    wallet: &WalletArgs,
) -> eyre::Result<KeeperConfig> {
    let signer = wallet
        .signer()
        .wrap_err("loading the keeper's account key")?;
    let deployment = rpc
        .load_deployment()
        .await
        .wrap_err("loading the deployment")?;
    let rpc_url = rpc
        .rpc_url
        .parse()
        .wrap_err_with(|| format!("invalid --rpc-url {}", rpc.rpc_url))?;
    Ok(KeeperConfig::new(data_dir, rpc_url, signer, deployment))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    phd_cli::exit_with(run().await)
}

async fn run() -> eyre::Result<()> {
    let cli: Cli = phd_cli::parse()?;
    phd_cli::init_tracing(cli.verbose.max(1));
    match cli.cmd {
        Cmd::Run(args) => {
            let mut cfg = config(cli.data_dir, &args.rpc, &args.wallet).await?;
            cfg.poll_interval = Duration::from_millis(args.poll_ms.max(10));
            cfg.confirmations =
                phd_node::confirmations_or_default(cfg.deployment.chain_id, args.confirmations);
            cfg.public_endpoint = args.public_url;
            cfg.stake = args.stake;
            if let Some(name) = args.cheat.as_deref() {
                let m = phd_keeper::Misbehaviour::parse(name).ok_or_else(|| {
                    eyre::eyre!(
                        "unknown --cheat / {} value {name:?} (known: wrong-share)",
                        phd_keeper::Misbehaviour::ENV
                    )
                })?;
                tracing::warn!(
                    ?m,
                    "TEST MODE: this keeper misbehaves on purpose and will be slashed"
                );
                cfg.misbehave = Some(m);
            }
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .wrap_err_with(|| format!("binding {}", args.listen))?;
            let local = listener
                .local_addr()
                .wrap_err("reading the listen address")?;
            eprintln!("phd-keeper listening on http://{local}");
            phd_keeper::run(cfg, listener, phd_cli::shutdown_signal())
                .await
                .wrap_err("keeper failed")?;
        }
        Cmd::Register(args) => {
            let mut cfg = config(cli.data_dir, &args.rpc, &args.wallet).await?;
            cfg.stake = args.stake;
            let out = phd_keeper::register(&cfg, &args.public_url)
                .await
                .wrap_err("registration failed")?;
            println!("{out:?}");
        }
        Cmd::Status { json } => {
            let st = phd_keeper::local_status(&cli.data_dir).wrap_err("reading keeper status")?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&st).wrap_err("encoding status")?
                );
            } else {
                println!("shares held:          {}", st.shares);
                println!("shares acknowledged:  {}", st.shares_acknowledged);
                println!(
                    "cursor block:         {}",
                    st.cursor_block
                        .map_or_else(|| "-".to_string(), |b| b.to_string())
                );
                println!("deliveries:");
                for (state, n) in &st.deliveries {
                    println!("  {state:<20}{n}");
                }
                println!("erasures:");
                for (state, n) in &st.erasures {
                    println!("  {state:<20}{n}");
                }
            }
        }
    }
    Ok(())
}
