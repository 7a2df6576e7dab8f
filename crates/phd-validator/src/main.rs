//! `phd-validator`: thin binary over the `phd_validator` library.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use eyre::WrapErr;
use phd_cli::{OutputArgs, RpcArgs, S3Args, WalletArgs};
use phd_validator::ValidatorConfig;

#[derive(Debug, Parser)]
#[command(
    name = "phd-validator",
    version,
    about = "PHD exchange quality validator"
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Train the quality model on the TRAIN split, save it, print its id and TEST accuracy.
    Train {
        /// BasicMotions directory (BasicMotions_TRAIN.ts, BasicMotions_TEST.ts).
        #[arg(long, env = "PHD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Output model file.
        #[arg(long, default_value = "model.bin")]
        out: PathBuf,
    },
    /// Serve the HTTP API, watch grants and certify until Ctrl-C / SIGTERM.
    Run(Box<RunArgs>),
    /// Score a canonical CSV offline (no chain) and print the report JSON.
    CertifyFile {
        /// Canonical CSV (what `phd-user publish` seals).
        file: PathBuf,
        /// Model file (default: the shipped model).
        #[arg(long, env = "PHD_VALIDATOR_MODEL")]
        model: Option<PathBuf>,
        /// Minimum score (bps) that would be certified.
        #[arg(long, env = "PHD_VALIDATOR_MIN_SCORE_BPS", default_value_t = phd_validator::DEFAULT_MIN_CERTIFY_BPS)]
        min_score_bps: u16,
        /// Write the report bytes here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Owner side: grant a validator access to a dataset and (optionally) wait for the certificate.
    Request(Box<RequestArgs>),
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    s3: S3Args,
    /// Data directory (encryption key, cursor, jobs, reports).
    #[arg(long, env = "PHD_VALIDATOR_DATA_DIR", default_value = ".phd-validator")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "PHD_VALIDATOR_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// URL registered on-chain (default: http://<listen address>).
    #[arg(long, env = "PHD_VALIDATOR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Model file (default: the shipped model).
    #[arg(long, env = "PHD_VALIDATOR_MODEL")]
    model: Option<PathBuf>,
    /// Chain poll interval in milliseconds.
    #[arg(long, env = "PHD_VALIDATOR_POLL_MS", default_value_t = 1000)]
    poll_ms: u64,
    /// Blocks to stay behind the head (default: 0 on the devnet, chain id 31337; 12 elsewhere).
    #[arg(long, env = "PHD_VALIDATOR_CONFIRMATIONS")]
    confirmations: Option<u64>,
    /// Seconds one retrieval waits for key shares before retrying.
    #[arg(long, env = "PHD_VALIDATOR_SHARE_TIMEOUT", default_value_t = 60)]
    share_timeout: u64,
    /// Minimum score (bps) to certify; lower scores are rejected (report only, no certificate).
    #[arg(long, env = "PHD_VALIDATOR_MIN_SCORE_BPS", default_value_t = phd_validator::DEFAULT_MIN_CERTIFY_BPS)]
    min_score_bps: u16,
    /// Do not confirm grants on-chain.
    #[arg(long)]
    no_confirm: bool,
    /// Granted series: certify on-chain every N newly scored segments.
    #[arg(long, env = "PHD_VALIDATOR_SERIES_EVERY", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    series_certify_every: u64,
    /// Granted series: segments in the rolling score window.
    #[arg(long, env = "PHD_VALIDATOR_SERIES_WINDOW", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    series_window: u64,
}

#[derive(Debug, Args)]
struct RequestArgs {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Dataset id.
    #[arg(long)]
    dataset: u64,
    /// Validator endpoint (http://host:port).
    #[arg(long, env = "PHD_VALIDATOR_URL")]
    endpoint: String,
    /// Wait this many seconds for the certificate (0 = do not wait).
    #[arg(long, default_value_t = 0)]
    wait: u64,
}

async fn run(a: RunArgs) -> eyre::Result<()> {
    let signer = a
        .wallet
        .signer_or_env("PHD_VALIDATOR_PRIVATE_KEY")
        .wrap_err("loading the validator's account key")?;
    let deployment = a
        .rpc
        .load_deployment()
        .await
        .wrap_err("loading the deployment")?;
    let mut cfg = ValidatorConfig::new(a.data_dir, a.rpc.rpc_url.clone(), signer, deployment);
    if let Some(m) = a.model {
        cfg.model_path = m;
    }
    cfg.s3 = phd_storage::S3Config::from_flags(a.s3.parts());
    cfg.public_endpoint = a.public_url;
    cfg.poll_interval = Duration::from_millis(a.poll_ms.max(10));
    cfg.confirmations =
        phd_node::confirmations_or_default(cfg.deployment.chain_id, a.confirmations);
    cfg.share_timeout = Duration::from_secs(a.share_timeout.max(1));
    cfg.min_certify_bps = a.min_score_bps;
    cfg.confirm_grants = !a.no_confirm;
    cfg.series_certify_every = a.series_certify_every;
    cfg.series_window = usize::try_from(a.series_window).wrap_err("--series-window")?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .wrap_err_with(|| format!("binding {}", a.listen))?;
    let local = listener
        .local_addr()
        .wrap_err("reading the listen address")?;
    eprintln!("phd-validator listening on http://{local}");
    phd_validator::run(cfg, listener, phd_cli::shutdown_signal())
        .await
        .wrap_err("validator failed")?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    phd_cli::exit_with(cli_main().await)
}

async fn cli_main() -> eyre::Result<()> {
    let cli: Cli = phd_cli::parse_as("validator")?;
    phd_cli::init_tracing(cli.verbose);
    let output = cli.output;
    match cli.cmd {
        Cmd::Train { data_dir, out } => {
            let dir = data_dir.unwrap_or_else(phd_quality::default_data_dir);
            let o = tokio::task::spawn_blocking(move || phd_validator::train::train(&dir, &out))
                .await
                .wrap_err("training task")?
                .wrap_err("training failed")?;
            output.emit(&o, || {
                let mut s = format!(
                    "model id   {}\nwritten to {} ({} bytes, {} TRAIN windows)",
                    o.model_id, o.out, o.file_bytes, o.train_windows
                );
                for t in &o.test {
                    s.push_str(&format!(
                        "\nTEST accuracy ({}): {:.3}, false rejects {:.3}",
                        t.variant, t.accuracy, t.false_reject_rate
                    ));
                }
                s
            })?;
        }
        Cmd::Run(a) => run(*a).await?,
        Cmd::CertifyFile {
            file,
            model,
            min_score_bps,
            out,
        } => {
            let path = model.unwrap_or_else(phd_quality::shipped_model_path);
            let (model, _) = phd_validator::load_model(&path)?;
            let bytes =
                std::fs::read(&file).wrap_err_with(|| format!("reading {}", file.display()))?;
            let summary = phd_validator::score_plaintext(&model, &bytes);
            let report = phd_validator::ValidationReport::offline(summary, min_score_bps);
            let rb = report.to_bytes()?;
            let hash = phd_validator::report_hash(&rb);
            eprintln!(
                "{}: {:?}, score {} bps, decision {:?}, report keccak256 {hash:#x}",
                file.display(),
                report.result.outcome,
                report.result.score_bps,
                report.decision
            );
            match out {
                Some(o) => {
                    std::fs::write(&o, &rb).wrap_err_with(|| format!("writing {}", o.display()))?
                }
                None => print!("{}", String::from_utf8_lossy(&rb)),
            }
        }
        Cmd::Request(a) => {
            let signer = a
                .wallet
                .signer_or_env("PHD_USER_PRIVATE_KEY")
                .wrap_err("loading the owner's account key")?;
            let client = a.rpc.connect(signer).await?;
            let r = phd_validator::request_validation(&client, a.dataset, &a.endpoint).await?;
            output.emit(&r, || {
                format!(
                    "dataset {} granted to validator {} (grant {}, tx {})",
                    r.dataset_id,
                    r.validator,
                    r.purchase_id,
                    r.tx_hash.as_deref().unwrap_or("reused")
                )
            })?;
            if a.wait > 0 {
                let c = phd_validator::wait_for_certification(
                    &client,
                    a.dataset,
                    Duration::from_secs(a.wait),
                )
                .await?;
                output.emit(&c, || {
                    format!(
                        "certified by {} with {} bps (model {}, report {})",
                        c.validator, c.score_bps, c.model_id, c.report_uri
                    )
                })?;
            }
        }
    }
    Ok(())
}
