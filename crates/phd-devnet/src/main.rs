//! `phd-devnet up`: the whole local stack in one command, until Ctrl-C / SIGTERM.

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};
use eyre::WrapErr as _;
use phd_devnet::DevnetConfig;

#[derive(Debug, Parser)]
#[command(name = "phd-devnet", version, about = "PHD exchange local stack: anvil, contracts, embedded S3, keepers")]
struct Cli {
    /// -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start anvil, deploy, serve S3, run the keepers, write <state>/env; stop on Ctrl-C.
    Up {
        /// State directory (env file, deployment, S3 data, keeper data). Wiped at start.
        #[arg(long, default_value = ".devnet")]
        state_dir: PathBuf,
        /// Number of keepers.
        #[arg(long, default_value_t = 5)]
        keepers: usize,
        /// Threshold advertised for publishing.
        #[arg(long, default_value_t = 3)]
        threshold: u8,
        /// anvil port (0 = any free port).
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Seconds keepers have to deliver a share after a purchase.
        #[arg(long, default_value_t = 3600)]
        delivery_window: u64,
        /// Seconds after the threshold-th share before anyone may settle without the buyer.
        #[arg(long, default_value_t = 86_400)]
        confirmation_window: u64,
        /// Keeper chain poll interval, milliseconds.
        #[arg(long, default_value_t = 250)]
        keeper_poll_ms: u64,
        /// Also write the deployment file here (e.g. deploy/deployments/31337.json).
        #[arg(long)]
        write_deployment: Option<PathBuf>,
    },
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = Cli::parse();
    phd_cli::init_tracing(cli.verbose.max(1));
    match cli.cmd {
        Cmd::Up {
            state_dir,
            keepers,
            threshold,
            port,
            delivery_window,
            confirmation_window,
            keeper_poll_ms,
            write_deployment,
        } => {
            let mut config = DevnetConfig::new(state_dir);
            config.keepers = keepers;
            config.threshold = threshold;
            config.port = port;
            config.deploy.delivery_window = delivery_window;
            config.deploy.confirmation_window = confirmation_window;
            config.keeper_poll_interval = Duration::from_millis(keeper_poll_ms.max(10));
            config.extra_deployment_path = write_deployment;
            phd_devnet::run(config, shutdown_signal()).await.wrap_err("phd-devnet up")?;
        }
    }
    Ok(())
}
