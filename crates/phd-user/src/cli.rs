//! Command-line interface: clap definitions and the dispatcher the binary calls.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use clap::{ArgAction, Args, Parser, Subcommand};
use eyre::WrapErr;
use phd_chain::Purpose;
use phd_cli::{OutputArgs, RpcArgs, S3Args, WalletArgs};

use crate::ctx::UserCtx;
pub use crate::publish::KeeperArgs;
use crate::state::LocalState;
use crate::util::Progress;

/// PHD exchange — data owner: publish wearable data, see sales, withdraw consent, export.
#[derive(Debug, Parser)]
#[command(name = "phd-user", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub rpc: RpcArgs,
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Local state directory (default ~/.local/share/phd/user/<address>).
    #[arg(long, env = "PHD_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, pseudonymise, seal, upload and list a sensor file; send key shares to keepers.
    Publish(Box<PublishCmd>),
    /// My datasets: id, status, price, acknowledgements, sales, certification.
    List,
    /// Who bought my data: when, purpose, price, status.
    Sales {
        /// Only this dataset.
        #[arg(long, env = "PHD_DATASET")]
        dataset: Option<u64>,
        /// Your gateway's access log: adds reads, bytes served and refused requests per sale.
        #[arg(long, env = "PHD_GATEWAY_ACCESS_LOG")]
        access_log: Option<PathBuf>,
    },
    /// Change the price of a dataset.
    Price {
        /// Dataset id.
        id: u64,
        /// New price in PHD (e.g. 12.5).
        #[arg(value_parser = parse_price)]
        price: U256,
    },
    /// Withdraw my credits (sale proceeds) from the marketplace.
    Withdraw,
    /// Free access for a validator (or another grantee) for one purpose.
    Grant {
        /// Dataset id.
        id: u64,
        /// Grantee address.
        #[arg(long, env = "PHD_GRANT_TO")]
        to: Address,
        /// Grantee's 64-byte public key (hex x‖y, optional 0x/04 prefix); shares are encrypted to it.
        #[arg(long, env = "PHD_GRANT_PUBKEY")]
        pubkey: String,
        /// Purpose of the grant.
        #[arg(long, env = "PHD_GRANT_PURPOSE", default_value = "validation")]
        purpose: Purpose,
    },
    /// Withdraw consent (GDPR Art. 7(3)/17): close the listing, delete the object, wait for keepers' erasure.
    WithdrawConsent {
        /// Dataset id.
        id: u64,
        /// Seconds to wait for erasure confirmations.
        #[arg(long, env = "PHD_ERASURE_WAIT", default_value_t = 60)]
        wait: u64,
    },
    /// On-chain status, acknowledgements, erasures and storage state of a dataset.
    Status {
        /// Dataset id.
        id: u64,
    },
    /// Export everything about me as one JSON document (GDPR Art. 15/20; docs/EXPORT.md).
    Export {
        /// Write to this file (atomically) instead of stdout.
        #[arg(long, env = "PHD_EXPORT_OUT")]
        out: Option<PathBuf>,
        /// Embed my pseudonymised data from the local copy.
        #[arg(long, env = "PHD_EXPORT_WITH_DATA")]
        with_data: bool,
        /// Your gateway's access log: adds every request about each dataset.
        #[arg(long, env = "PHD_GATEWAY_ACCESS_LOG")]
        access_log: Option<PathBuf>,
    },
    /// Continuous series: open one (then feed it with `stream`).
    #[command(subcommand)]
    Series(SeriesCmd),
    /// Grant a validator (or another grantee) access to segments of my series (same as
    /// `series grant`): an owner-paid subscription whose releases it can decrypt and certify.
    SeriesGrant(Box<SeriesGrantCmd>),
    /// Follow a growing CSV and append it to a series segment by segment (runs until Ctrl-C /
    /// SIGTERM; resumes from --state after a crash with nothing lost or appended twice).
    Stream(Box<StreamCmd>),
    /// Progress and lag of a stream, from its --state file (no network): segments cut,
    /// uploaded, appended, skipped; samples; bytes; last sample time; lag; pending bytes.
    StreamStatus(StreamStatusCmd),
}

/// `stream-status` flags.
#[derive(Debug, Args)]
pub struct StreamStatusCmd {
    /// The streamer's progress file (its --state).
    #[arg(long, env = "PHD_STREAM_STATE")]
    pub state: PathBuf,
    /// The streamer's --source (for the pending bytes); default: the spool next to --state
    /// when there is one (drop directory or stdin).
    #[arg(long, env = "PHD_STREAM_SOURCE")]
    pub source: Option<PathBuf>,
}

/// `series` subcommands.
#[derive(Debug, Subcommand)]
pub enum SeriesCmd {
    /// Open a series on-chain (keepers, threshold, price per segment, purposes); prints its id.
    Create(Box<SeriesCreateCmd>),
    /// Grant a validator access to segments of my series (I pay the keepers' fee per segment).
    Grant(Box<SeriesGrantCmd>),
    /// A series' state and certification (validators' current certificates).
    Status {
        /// Series id.
        id: u64,
    },
}

/// `series grant` / `series-grant` flags.
#[derive(Debug, Args)]
pub struct SeriesGrantCmd {
    /// Series id.
    pub id: u64,
    /// Grantee address (the validator's account).
    #[arg(long, env = "PHD_GRANT_TO")]
    pub to: Address,
    /// Grantee's 64-byte public key (hex x‖y, optional 0x/04 prefix; a validator's
    /// `/health` shows it as `account_pubkey`); shares are encrypted to it.
    #[arg(long, env = "PHD_GRANT_PUBKEY")]
    pub pubkey: String,
    /// First granted segment (default: the next one appended).
    #[arg(long, env = "PHD_GRANT_FROM_SEQ")]
    pub from_seq: Option<u64>,
    /// Number of segments granted.
    #[arg(long, env = "PHD_GRANT_SEGMENTS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    pub segments: u64,
    /// Purpose of the grant (one the series consented to).
    #[arg(long, env = "PHD_GRANT_PURPOSE", default_value = "research")]
    pub purpose: Purpose,
}

/// `series create` flags.
#[derive(Debug, Args)]
pub struct SeriesCreateCmd {
    /// Price of one segment in PHD (e.g. 0.5).
    #[arg(long, env = "PHD_PRICE_PER_SEGMENT", value_parser = parse_price)]
    pub price_per_segment: U256,
    /// Consented purposes.
    #[arg(
        long,
        env = "PHD_PURPOSES",
        value_delimiter = ',',
        default_value = "research"
    )]
    pub purposes: Vec<Purpose>,
    /// Consent terms text file (its hash goes on-chain).
    #[arg(long, env = "PHD_CONSENT_TERMS")]
    pub consent_terms: Option<PathBuf>,
    #[command(flatten)]
    pub keepers: KeeperArgs,
    /// Title in the series metadata.
    #[arg(long, env = "PHD_TITLE")]
    pub title: Option<String>,
    /// Data type in the series metadata.
    #[arg(long, env = "PHD_DATA_TYPE")]
    pub data_type: Option<String>,
}

/// `stream` flags.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("cut").args(["segment_rows", "segment"]).required(true))]
pub struct StreamCmd {
    /// Series to append to (from `series create`).
    #[arg(long, env = "PHD_SERIES")]
    pub series: u64,
    /// CSV file the device appends to (`tail -F`: rotation and truncation are followed), a
    /// directory the watch app drops whole files into (taken in name order, each once), or `-`
    /// for stdin (stops when it ends).
    #[arg(long, env = "PHD_STREAM_SOURCE")]
    pub source: PathBuf,
    /// Cut a segment every N rows.
    #[arg(long, env = "PHD_SEGMENT_ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub segment_rows: Option<u64>,
    /// Cut segments by sample time (e.g. 1h, 15m, 90s).
    #[arg(long, env = "PHD_SEGMENT", value_parser = crate::series::parse_segment_duration)]
    pub segment: Option<f64>,
    /// Progress file: the resume point after a crash or restart.
    #[arg(long, env = "PHD_STREAM_STATE")]
    pub state: PathBuf,
    /// Keep these columns unchanged (overrides the identifier classifier).
    #[arg(long = "keep-column", env = "PHD_KEEP_COLUMNS", value_delimiter = ',')]
    pub keep_column: Vec<String>,
    /// Drop these columns.
    #[arg(long = "drop-column", env = "PHD_DROP_COLUMNS", value_delimiter = ',')]
    pub drop_column: Vec<String>,
    /// Owner HMAC key for keyed hashes (hex, ≥ 16 bytes); default: the one in the state dir.
    #[arg(long, env = "PHD_PSEUDONYM_KEY", hide_env_values = true)]
    pub pseudonym_key: Option<String>,
    /// Milliseconds between looks at the source while it does not grow.
    #[arg(long, env = "PHD_STREAM_POLL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_ms: u64,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, env = "PHD_STREAM_PROGRESS", default_value_t = 5)]
    pub progress: u64,
    /// Stop after this many segments (default: run until Ctrl-C / SIGTERM).
    #[arg(long, env = "PHD_MAX_SEGMENTS")]
    pub max_segments: Option<u64>,
    /// Public URL of your access gateway (`phd-gateway`): segments are listed behind it and
    /// subscribers read them without any storage credential.
    #[arg(long, env = "PHD_GATEWAY_URL")]
    pub gateway_url: Option<String>,
    /// Also write each segment's pseudonymised rows to `<dir>/segment-<seq>.csv` (what
    /// subscribers receive, byte for byte).
    #[arg(long, env = "PHD_PSEUDONYMISED_OUT")]
    pub pseudonymised_out: Option<PathBuf>,
    /// Run the quality model on each segment (whole windows; a window cut by a segment end is
    /// scored whole in the next one) and drop invalid windows; its report goes into the
    /// segment's metadata hash.
    #[arg(long, env = "PHD_STREAM_QUALITY")]
    pub quality: bool,
    /// Quality model file (default: the shipped model); implies --quality.
    #[arg(long, env = "PHD_QUALITY_MODEL")]
    pub quality_model: Option<PathBuf>,
    /// Activities to share (e.g. walking,running); implies --quality.
    #[arg(long = "keep", env = "PHD_KEEP", value_delimiter = ',')]
    pub keep: Vec<String>,
    /// Serve Prometheus metrics (`GET /metrics`: segments, samples, bytes, lag) on this
    /// address while streaming, e.g. 127.0.0.1:9464 (port 0: any free port; the address is
    /// printed on stderr).
    #[arg(long, env = "PHD_STREAM_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `publish` flags.
#[derive(Debug, Args)]
pub struct PublishCmd {
    /// CSV file with a time column, or a BasicMotions .ts file.
    pub file: PathBuf,
    /// Price in PHD (e.g. 12.5).
    #[arg(long, env = "PHD_PRICE", value_parser = parse_price)]
    pub price: U256,
    /// Consented purposes.
    #[arg(
        long,
        env = "PHD_PURPOSES",
        value_delimiter = ',',
        default_value = "research"
    )]
    pub purposes: Vec<Purpose>,
    /// Consent terms text file (its SHA-256 goes on-chain).
    #[arg(long, env = "PHD_CONSENT_TERMS")]
    pub consent_terms: Option<PathBuf>,
    #[command(flatten)]
    pub keepers: KeeperArgs,
    /// Activities to share (e.g. walking,running); other windows are dropped before sealing.
    #[arg(long = "keep", env = "PHD_KEEP", value_delimiter = ',')]
    pub keep: Vec<String>,
    /// Keep these columns unchanged (overrides the identifier classifier).
    #[arg(long = "keep-column", env = "PHD_KEEP_COLUMNS", value_delimiter = ',')]
    pub keep_column: Vec<String>,
    /// Drop these columns.
    #[arg(long = "drop-column", env = "PHD_DROP_COLUMNS", value_delimiter = ',')]
    pub drop_column: Vec<String>,
    /// Owner HMAC key for keyed hashes (hex, ≥ 16 bytes); default: generated once in the state dir.
    #[arg(long, env = "PHD_PSEUDONYM_KEY", hide_env_values = true)]
    pub pseudonym_key: Option<String>,
    /// Also write the pseudonymised canonical CSV here.
    #[arg(long, env = "PHD_PSEUDONYMISED_OUT")]
    pub pseudonymised_out: Option<PathBuf>,
    /// Refuse data without a valid device signature (<FILE>.sig.json).
    #[arg(long, env = "PHD_REQUIRE_CERTIFIED")]
    pub require_certified: bool,
    /// Quality model file (default: the shipped model).
    #[arg(long, env = "PHD_QUALITY_MODEL")]
    pub quality_model: Option<PathBuf>,
    /// Skip the quality model (no score in the metadata).
    #[arg(long, env = "PHD_NO_QUALITY")]
    pub no_quality: bool,
    /// Title in the metadata.
    #[arg(long, env = "PHD_TITLE")]
    pub title: Option<String>,
    /// Data type in the metadata (default: from the channel names).
    #[arg(long, env = "PHD_DATA_TYPE")]
    pub data_type: Option<String>,
    /// Sampling rate (Hz) when the file does not say.
    #[arg(long, env = "PHD_SAMPLING_RATE")]
    pub sampling_rate: Option<f64>,
    /// Input format: csv, ts, omh (Open mHealth / IEEE 1752.1 JSON), fhir (Observation with
    /// sampledData). Default: from the extension, or the JSON content.
    #[arg(long, env = "PHD_INPUT_FORMAT")]
    pub input_format: Option<phd_ingest::InputFormat>,
    /// Keep sensor channels the quality model does not check (listed in the metadata as
    /// `unchecked_channels`); by default they are dropped and reported.
    #[arg(long, env = "PHD_KEEP_UNCHECKED")]
    pub keep_unchecked: bool,
    /// Seconds to wait for ≥ threshold keeper acknowledgements.
    #[arg(long, env = "PHD_ACK_TIMEOUT", default_value_t = 120)]
    pub ack_timeout: u64,
    /// Public URL of your access gateway (`phd-gateway`): buyers then read the object through
    /// it without any storage credential (listed as <url>/v1/objects/<key>).
    #[arg(long, env = "PHD_GATEWAY_URL")]
    pub gateway_url: Option<String>,
}

fn parse_price(s: &str) -> Result<U256, String> {
    phd_chain::parse_phd(s).map_err(|e| e.to_string())
}

/// Builds the context from the flags: chain client (wallet from --private-key / keystore, else
/// `PHD_USER_PRIVATE_KEY` from the devnet env), optional store, state dir.
pub async fn connect(cli: &Cli) -> eyre::Result<UserCtx> {
    let signer = cli.wallet.signer_or_env("PHD_USER_PRIVATE_KEY")?;
    let chain = cli.rpc.connect(signer).await?;
    let store = match phd_storage::S3Config::from_flags(cli.s3.parts()) {
        Some(cfg) => Some(
            phd_storage::Store::connect(cfg)
                .await
                .wrap_err("configuring S3 storage")?,
        ),
        None => None,
    };
    let state_dir = cli
        .state_dir
        .clone()
        .unwrap_or_else(|| LocalState::default_dir(&format!("{:#x}", chain.address())));
    Ok(UserCtx::new(chain, store, state_dir).with_progress(Progress::auto(cli.output.json)))
}

/// Checks local inputs before touching the network, so a typo fails fast and clearly.
pub fn precheck(cmd: &Command) -> crate::Result<()> {
    use crate::error::UserError;
    if let Command::Publish(p) = cmd {
        let must_exist = |path: &std::path::Path| {
            if path.is_file() {
                Ok(())
            } else {
                Err(UserError::Read {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                })
            }
        };
        must_exist(&p.file)?;
        if let Some(t) = &p.consent_terms {
            must_exist(t)?;
        }
        if let Some(m) = &p.quality_model {
            must_exist(m)?;
        }
        crate::publish::require_purposes(&p.purposes)?;
    }
    if let Command::Stream(st) = cmd
        && !(st.source.is_file() || st.source.is_dir() || st.source.as_os_str() == "-")
    {
        return Err(UserError::Read {
            path: st.source.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    if let Command::Series(SeriesCmd::Create(c)) = cmd {
        if let Some(t) = &c.consent_terms
            && !t.is_file()
        {
            return Err(UserError::Read {
                path: t.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        crate::publish::require_purposes(&c.purposes)?;
    }
    Ok(())
}

fn parse_hex_key(h: &Option<String>) -> eyre::Result<Option<Vec<u8>>> {
    h.as_ref()
        .map(|h| hex::decode(h.trim_start_matches("0x")).wrap_err("--pseudonym-key is not hex"))
        .transpose()
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> eyre::Result<()> {
    precheck(&cli.command)?;
    if let Command::StreamStatus(st) = &cli.command {
        // Local files only: works while the node is down, which is when one wants to know.
        let s = crate::series::StreamStatus::read(
            &st.state,
            st.source.as_deref(),
            crate::series::now_unix(),
        )?;
        cli.output.emit(&s, || s.text())?;
        return Ok(());
    }
    let ctx = connect(&cli).await?;
    let out = cli.output;
    match cli.command {
        Command::Publish(p) => {
            let p = *p;
            let quality = if p.no_quality {
                None
            } else {
                Some(match &p.quality_model {
                    Some(path) => crate::checks::ModelQuality::load(path)?,
                    None => crate::checks::ModelQuality::shipped()?,
                })
            };
            let pseudonym_key = parse_hex_key(&p.pseudonym_key)?;
            let args = crate::publish::PublishArgs {
                file: p.file,
                price: p.price,
                purposes: p.purposes,
                consent_terms: p.consent_terms,
                threshold: p.keepers.threshold,
                keepers: p.keepers.keepers,
                keepers_n: p.keepers.keepers_n,
                allow_shared_hosts: p.keepers.allow_shared_hosts,
                selection_seed: p.keepers.selection_seed,
                keep_classes: p.keep,
                keep_columns: p.keep_column,
                drop_columns: p.drop_column,
                pseudonym_key,
                pseudonymised_out: p.pseudonymised_out,
                require_certified: p.require_certified,
                title: p.title,
                data_type: p.data_type,
                sampling_rate_hz: p.sampling_rate,
                ack_timeout: Duration::from_secs(p.ack_timeout),
                gateway: p.gateway_url,
                input_format: p.input_format,
                keep_unchecked: p.keep_unchecked,
            };
            let hw = crate::checks::DeviceSignature;
            let r = crate::publish::publish(
                &ctx,
                &args,
                quality
                    .as_ref()
                    .map(|q| q as &dyn crate::prepare::QualityCheck),
                Some(&hw),
            )
            .await?;
            out.emit(&r, || {
                let mut s = format!(
                    "published dataset {} ({})\n  tx {} (gas {})\n  object {} ({} bytes sealed, {} of {} rows kept{})\n  keepers acknowledged {}/{} (threshold {})",
                    r.dataset_id,
                    r.status,
                    r.tx_hash,
                    r.gas_used,
                    r.storage_uri,
                    r.sealed_bytes,
                    r.rows_kept,
                    r.rows_read,
                    r.quality_score.map(|s| format!(", quality {s:.3}")).unwrap_or_default(),
                    r.acknowledged,
                    r.keepers.len(),
                    r.threshold
                );
                for k in &r.keepers {
                    s.push_str(&format!("\n    share {:>2}  {:#x}  stake {:>10} PHD  {}", k.share_index, k.address, k.stake_phd, k.endpoint));
                }
                for l in &r.input {
                    s.push_str(&format!("\n  input: {l}"));
                }
                for w in &r.warnings {
                    s.push_str(&format!("\n  warning: {w}"));
                }
                s
            })?;
        }
        Command::List => {
            let rows = crate::manage::list(&ctx).await?;
            out.emit(&rows, || {
                let mut s = format!(
                    "{:>4}  {:<10} {:>10}  {:<7} {:>5} {:>6}  {:<9} {}",
                    "ID", "STATUS", "PRICE", "ACKS", "SALES", "GRANTS", "CERTIFIED", "TITLE"
                );
                for r in &rows {
                    s.push_str(&format!(
                        "\n{:>4}  {:<10} {:>10}  {:<7} {:>5} {:>6}  {:<9} {}",
                        r.dataset_id,
                        r.status,
                        r.price_phd,
                        format!("{}/{}", r.acknowledged, r.keepers),
                        r.sales,
                        r.grants,
                        match r.certified_score_bps {
                            Some(b) => format!(
                                "{}{}x {:.1}%",
                                if r.certified { "yes " } else { "" },
                                r.certifications,
                                f64::from(b) / 100.0
                            ),
                            None => "no".to_string(),
                        },
                        r.title.as_deref().unwrap_or("")
                    ));
                }
                if rows.is_empty() {
                    s.push_str("\n(no datasets)");
                }
                s
            })?;
        }
        Command::Sales {
            dataset,
            access_log,
        } => {
            let rows = match &access_log {
                Some(log) => crate::manage::sales_with_access(&ctx, dataset, log).await?,
                None => crate::manage::sales(&ctx, dataset).await?,
            };
            out.emit(&rows, || {
                let mut s = format!(
                    "{:>5} {:>4}  {:<8} {:<42} {:<12} {:>10}  {:<9} {}",
                    "BUY", "DS", "KIND", "BUYER", "PURPOSE", "PRICE", "STATUS", "CREATED"
                );
                if access_log.is_some() {
                    s.push_str(&format!(
                        "  {:>5} {:>12} {:>7}",
                        "READS", "BYTES", "REFUSED"
                    ));
                }
                for r in &rows {
                    s.push_str(&format!(
                        "\n{:>5} {:>4}  {:<8} {:<42} {:<12} {:>10}  {:<9} {}",
                        r.purchase_id,
                        r.dataset_id,
                        r.kind,
                        format!("{:#x}", r.buyer),
                        r.purpose,
                        r.price_phd,
                        r.status,
                        r.created_at
                    ));
                    if let Some(a) = &r.access {
                        s.push_str(&format!(
                            "  {:>5} {:>12} {:>7}",
                            a.reads, a.bytes, a.refused
                        ));
                    }
                }
                if rows.is_empty() {
                    s.push_str("\n(no sales yet)");
                }
                s
            })?;
        }
        Command::Price { id, price } => {
            let r = crate::manage::set_price(&ctx, id, price).await?;
            out.emit(&r, || {
                format!(
                    "dataset {id} now costs {} PHD (tx {})",
                    r.amount_phd.clone().unwrap_or_default(),
                    r.tx_hash
                )
            })?;
        }
        Command::Withdraw => {
            let r = crate::manage::withdraw_credits(&ctx).await?;
            out.emit(&r, || {
                format!(
                    "withdrew {} PHD (tx {})",
                    r.amount_phd.clone().unwrap_or_default(),
                    r.tx_hash
                )
            })?;
        }
        Command::Grant {
            id,
            to,
            pubkey,
            purpose,
        } => {
            let pk = crate::manage::parse_pubkey64(&pubkey)?;
            let r = crate::manage::grant(&ctx, id, to, &pk, purpose).await?;
            out.emit(&r, || {
                format!(
                    "granted dataset {id} to {to} for {purpose:?} as purchase {} (tx {})",
                    r.purchase_id.unwrap_or_default(),
                    r.tx_hash
                )
            })?;
        }
        Command::WithdrawConsent { id, wait } => {
            let r = crate::gdpr::withdraw_consent(&ctx, id, Duration::from_secs(wait)).await?;
            out.emit(&r, || {
                let mut s = format!(
                    "consent withdrawn for dataset {id}{}\n  object deleted: {}{}\n  unfinished uploads aborted: {}\n  keepers confirmed erasure: {}/{}",
                    r.tx_hash.as_ref().map(|t| format!(" (tx {t})")).unwrap_or_else(|| " (already withdrawn)".into()),
                    if r.object_deleted { "yes" } else { "no" },
                    r.storage_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default(),
                    r.uploads_aborted,
                    r.erasures,
                    r.keepers
                );
                if !r.missing_erasures.is_empty() {
                    s.push_str(&format!(
                        "\n  still waiting for: {}",
                        r.missing_erasures.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>().join(", ")
                    ));
                }
                if !r.refundable_purchases.is_empty() {
                    s.push_str(&format!("\n  open purchases now refundable by their buyers: {:?}", r.refundable_purchases));
                }
                s
            })?;
        }
        Command::Status { id } => {
            let r = crate::gdpr::status(&ctx, id).await?;
            out.emit(&r, || {
                let mut s = format!(
                    "dataset {id}: {}\n  price {} PHD, purposes {}\n  acknowledgements {}/{} (threshold {})\n  erasure confirmations {}/{}\n  certified: {} ({} certificates, {} counted{})\n  storage {}: {}",
                    r.status,
                    r.price_phd,
                    r.purposes.join(","),
                    r.acknowledged,
                    r.keeper_count,
                    r.threshold,
                    r.erasures,
                    r.keeper_count,
                    if r.certified { "yes" } else { "no" },
                    r.certifications,
                    r.certifications_counted,
                    r.certified_score_bps.map_or(String::new(), |b| format!(", aggregate score {:.1}%", f64::from(b) / 100.0)),
                    r.storage.storage_uri,
                    match (r.storage.object_present, &r.storage.error) {
                        (Some(true), _) => format!("object present ({} bytes)", r.storage.object_bytes.unwrap_or(0)),
                        (Some(false), _) => "object absent".to_string(),
                        (None, Some(e)) => format!("unknown ({e})"),
                        (None, None) => "unknown".to_string(),
                    }
                );
                if let Some(n) = r.storage.incomplete_uploads {
                    s.push_str(&format!(", incomplete uploads: {n}"));
                }
                for k in &r.keepers {
                    s.push_str(&format!(
                        "\n  keeper {} {:#x}: {}{}",
                        k.share_index,
                        k.address,
                        if k.acknowledged { "acknowledged" } else { "not acknowledged" },
                        if k.erasure_confirmed { ", erasure confirmed" } else { "" }
                    ));
                }
                s
            })?;
        }
        Command::Export {
            out: path,
            with_data,
            access_log,
        } => {
            let doc =
                crate::gdpr::export_with_access(&ctx, with_data, access_log.as_deref()).await?;
            match path {
                Some(p) => {
                    crate::gdpr::write_export(&doc, &p)?;
                    if out.json {
                        println!(
                            "{}",
                            serde_json::json!({ "written": p, "datasets": doc.datasets.len() })
                        );
                    } else {
                        println!(
                            "export of {} datasets written to {}",
                            doc.datasets.len(),
                            p.display()
                        );
                    }
                }
                None => println!("{}", serde_json::to_string_pretty(&doc)?),
            }
        }
        Command::Series(SeriesCmd::Create(c)) => {
            let c = *c;
            let args = crate::series::CreateSeriesArgs {
                price_per_segment: c.price_per_segment,
                purposes: c.purposes,
                consent_terms: c.consent_terms,
                keepers: c.keepers,
                title: c.title,
                data_type: c.data_type,
            };
            let r = crate::series::create_series(&ctx, &args).await?;
            out.emit(&r, || {
                let mut s = format!(
                    "created series {} ({} PHD per segment, {} of {} keepers) (tx {}, gas {})",
                    r.series_id,
                    r.price_per_segment_phd,
                    r.threshold,
                    r.keepers.len(),
                    r.tx_hash,
                    r.gas_used
                );
                for (i, k) in r.keepers.iter().enumerate() {
                    s.push_str(&format!("\n    share {:>2}  {k:#x}", i + 1));
                }
                for w in &r.warnings {
                    s.push_str(&format!("\n  warning: {w}"));
                }
                s
            })?;
        }
        Command::SeriesGrant(g) | Command::Series(SeriesCmd::Grant(g)) => {
            let g = *g;
            let pk = crate::manage::parse_pubkey64(&g.pubkey)?;
            let r = phd_sdk::series_cert::grant_series(
                &ctx.client(),
                g.id,
                g.to,
                &pk,
                g.from_seq,
                g.segments,
                g.purpose,
            )
            .await?;
            out.emit(&r, || {
                format!(
                    "granted series {} segments {}..{} to {} as subscription {} (escrow {} PHD; tx {})",
                    r.series_id,
                    r.from_seq,
                    r.from_seq.saturating_add(r.segments),
                    r.grantee,
                    r.subscription_id,
                    r.escrow_phd,
                    r.tx_hash
                )
            })?;
        }
        Command::Series(SeriesCmd::Status { id }) => {
            let v = phd_sdk::series_cert::series_status(&ctx.client(), id).await?;
            out.emit(&v, || v.to_text())?;
        }
        Command::Stream(st) => {
            let st = *st;
            let segment_by = match (st.segment_rows, st.segment) {
                (Some(n), _) => phd_sdk::stream::SegmentBy::Rows(
                    usize::try_from(n).wrap_err("--segment-rows is too large")?,
                ),
                (None, Some(secs)) => phd_sdk::stream::SegmentBy::Seconds(secs),
                // clap's `cut` group requires one of them.
                (None, None) => eyre::bail!("give --segment-rows or --segment"),
            };
            let args = crate::series::StreamArgs {
                series_id: st.series,
                source: st.source,
                state_file: st.state,
                segment_by,
                pseudonym_key: parse_hex_key(&st.pseudonym_key)?,
                keep_columns: st.keep_column,
                drop_columns: st.drop_column,
                poll: Duration::from_millis(st.poll_ms),
                max_segments: st.max_segments,
                gateway: st.gateway_url,
                pseudonymised_out: st.pseudonymised_out,
                quality: if st.quality || st.quality_model.is_some() || !st.keep.is_empty() {
                    let model = match &st.quality_model {
                        Some(p) => crate::checks::ModelQuality::load(p)?,
                        None => crate::checks::ModelQuality::shipped()?,
                    };
                    Some(std::sync::Arc::new(crate::checks::SegmentModel::new(
                        model, st.keep,
                    )?))
                } else {
                    None
                },
                progress_every: (st.progress > 0).then(|| Duration::from_secs(st.progress)),
                json_events: out.json,
            };
            let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
            let metrics = match st.metrics_addr {
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .wrap_err_with(|| format!("binding --metrics-addr {addr}"))?;
                    let bound = listener.local_addr().wrap_err("metrics address")?;
                    eprintln!("metrics on http://{bound}/metrics");
                    let src = crate::metrics::MetricsSource {
                        series_id: args.series_id,
                        state_file: args.state_file.clone(),
                        source: args.source.clone(),
                    };
                    Some(tokio::spawn(crate::metrics::serve(listener, src, async {
                        let _ = metrics_stopped.await;
                    })))
                }
                None => None,
            };
            let r = crate::series::stream(&ctx, &args, phd_cli::shutdown_signal()).await;
            // The metrics server ends with the streamer (graceful: in-flight scrapes finish).
            let _ = stop_metrics.send(());
            if let Some(m) = metrics {
                m.await
                    .wrap_err("metrics server task")?
                    .wrap_err("metrics server")?;
            }
            let r = r?;
            out.emit(&r, || {
                format!(
                    "series {}: appended {} segments ({} rows) in this run; next segment {} (resume with the same --state)",
                    st.series,
                    r.segments.len(),
                    r.rows,
                    r.next_seq
                )
            })?;
        }
        // Read from local files before connecting (above).
        Command::StreamStatus(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("phd-user").chain(args.iter().copied()))
    }

    #[test]
    fn publish_flags() {
        let cli = parse(&[
            "publish",
            "walk.csv",
            "--price",
            "12.5",
            "--purposes",
            "research,commercial,validation",
            "--threshold",
            "3",
            "--keep",
            "walking,running",
            "--keepers",
            "0x0000000000000000000000000000000000000001,0x0000000000000000000000000000000000000002",
            "--json",
        ])
        .unwrap();
        assert!(cli.output.json);
        let Command::Publish(p) = cli.command else {
            panic!("not publish")
        };
        assert_eq!(p.price, phd_chain::parse_phd("12.5").unwrap());
        assert_eq!(
            p.purposes,
            vec![Purpose::Research, Purpose::Commercial, Purpose::Validation]
        );
        assert_eq!(p.keep, vec!["walking".to_string(), "running".to_string()]);
        assert_eq!(p.keepers.keepers.len(), 2);
        assert_eq!(p.keepers.selection_seed, None, "the OS RNG unless asked");
        let Command::Publish(p) =
            parse(&["publish", "x.csv", "--price", "1", "--selection-seed", "42"])
                .unwrap()
                .command
        else {
            panic!("not publish")
        };
        assert_eq!(p.keepers.selection_seed, Some(42));
        assert!(parse(&["publish", "x.csv", "--price", "1", "--selection-seed", "-1"]).is_err());
        let Command::Publish(p) = parse(&[
            "publish",
            "w.json",
            "--price",
            "1",
            "--input-format",
            "fhir",
            "--keep-unchecked",
        ])
        .unwrap()
        .command
        else {
            panic!("not publish")
        };
        assert_eq!(p.input_format, Some(phd_ingest::InputFormat::Fhir));
        assert!(p.keep_unchecked);
        assert!(parse(&["publish", "w.json", "--price", "1", "--input-format", "xml"]).is_err());
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["publish", "x.csv", "--price", "abc"]).is_err());
        assert!(
            parse(&[
                "publish",
                "x.csv",
                "--price",
                "1",
                "--purposes",
                "marketing"
            ])
            .is_err()
        );
        assert!(parse(&["price", "notanumber", "1"]).is_err());
        assert!(parse(&["grant", "1", "--to", "0xzz", "--pubkey", "00"]).is_err());
    }

    #[test]
    fn other_commands() {
        assert!(matches!(
            parse(&["withdraw-consent", "7"]).unwrap().command,
            Command::WithdrawConsent { id: 7, wait: 60 }
        ));
        assert!(matches!(
            parse(&["export", "--with-data", "--out", "e.json"])
                .unwrap()
                .command,
            Command::Export {
                with_data: true,
                ..
            }
        ));
        assert!(matches!(
            parse(&["sales", "--dataset", "3"]).unwrap().command,
            Command::Sales {
                dataset: Some(3),
                access_log: None
            }
        ));
        assert!(matches!(
            parse(&["sales", "--access-log", "/var/log/gw.jsonl"])
                .unwrap()
                .command,
            Command::Sales {
                dataset: None,
                access_log: Some(p)
            } if p == std::path::Path::new("/var/log/gw.jsonl")
        ));
        assert!(matches!(
            parse(&["status", "3"]).unwrap().command,
            Command::Status { id: 3 }
        ));
    }

    #[test]
    fn series_create_flags() {
        let cli = parse(&[
            "series",
            "create",
            "--price-per-segment",
            "0.5",
            "--purposes",
            "research,validation",
            "--threshold",
            "2",
            "--keepers-n",
            "3",
            "--selection-seed",
            "7",
            "--json",
        ])
        .unwrap();
        assert!(cli.output.json);
        let Command::Series(SeriesCmd::Create(c)) = cli.command else {
            panic!("not series create")
        };
        assert_eq!(c.price_per_segment, phd_chain::parse_phd("0.5").unwrap());
        assert_eq!(c.purposes, vec![Purpose::Research, Purpose::Validation]);
        assert_eq!(
            (
                c.keepers.threshold,
                c.keepers.keepers_n,
                c.keepers.selection_seed
            ),
            (2, 3, Some(7))
        );
        let Command::Series(SeriesCmd::Create(c)) = parse(&[
            "series",
            "create",
            "--price-per-segment",
            "1",
            "--keepers",
            "0x0000000000000000000000000000000000000001,0x0000000000000000000000000000000000000002",
        ])
        .unwrap()
        .command
        else {
            panic!("not series create")
        };
        assert_eq!(c.keepers.keepers.len(), 2);
        assert_eq!(c.purposes, vec![Purpose::Research], "the default purpose");
    }

    #[test]
    fn series_grant_flags_both_spellings() {
        let to = "0x0000000000000000000000000000000000000009";
        let pk = "11".repeat(64);
        let cli = parse(&[
            "series-grant",
            "4",
            "--to",
            to,
            "--pubkey",
            &pk,
            "--from-seq",
            "2",
            "--segments",
            "6",
            "--json",
        ])
        .unwrap();
        assert!(cli.output.json);
        let Command::SeriesGrant(g) = cli.command else {
            panic!("not series-grant")
        };
        assert_eq!((g.id, g.from_seq, g.segments), (4, Some(2), 6));
        assert_eq!(g.purpose, Purpose::Research, "the default purpose");
        let Command::Series(SeriesCmd::Grant(g)) =
            parse(&["series", "grant", "4", "--to", to, "--pubkey", &pk])
                .unwrap()
                .command
        else {
            panic!("not series grant")
        };
        assert_eq!((g.from_seq, g.segments), (None, 24));
        // Refused by clap: no grantee, zero segments, a bad address.
        assert!(parse(&["series-grant", "4", "--pubkey", &pk]).is_err());
        assert!(
            parse(&[
                "series-grant",
                "4",
                "--to",
                to,
                "--pubkey",
                &pk,
                "--segments",
                "0"
            ])
            .is_err()
        );
        assert!(parse(&["series-grant", "4", "--to", "0xzz", "--pubkey", &pk]).is_err());
        let Command::Series(SeriesCmd::Status { id }) =
            parse(&["series", "status", "9"]).unwrap().command
        else {
            panic!("not series status")
        };
        assert_eq!(id, 9);
    }

    #[test]
    fn series_create_bad_input() {
        assert!(parse(&["series", "create"]).is_err(), "price is required");
        assert!(parse(&["series", "create", "--price-per-segment", "abc"]).is_err());
        assert!(
            parse(&[
                "series",
                "create",
                "--price-per-segment",
                "1",
                "--purposes",
                "marketing"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "series",
                "create",
                "--price-per-segment",
                "1",
                "--keepers",
                "0xzz"
            ])
            .is_err()
        );
        assert!(
            parse(&["series"]).is_err(),
            "a series subcommand is required"
        );
    }

    #[test]
    fn stream_flags() {
        let cli = parse(&[
            "stream",
            "--series",
            "4",
            "--source",
            "watch.csv",
            "--segment-rows",
            "600",
            "--state",
            "s.json",
            "--max-segments",
            "2",
            "--json",
        ])
        .unwrap();
        let Command::Stream(st) = cli.command else {
            panic!("not stream")
        };
        assert_eq!(st.series, 4);
        assert_eq!(st.source, PathBuf::from("watch.csv"));
        assert_eq!((st.segment_rows, st.segment), (Some(600), None));
        assert_eq!(st.state, PathBuf::from("s.json"));
        assert_eq!(
            (st.max_segments, st.poll_ms, st.progress),
            (Some(2), 500, 5)
        );
        let Command::Stream(st) = parse(&[
            "stream",
            "--series",
            "4",
            "--source",
            "w.csv",
            "--segment",
            "1h",
            "--state",
            "s",
        ])
        .unwrap()
        .command
        else {
            panic!("not stream")
        };
        assert_eq!((st.segment_rows, st.segment), (None, Some(3600.0)));
        assert!(!st.quality && st.keep.is_empty() && st.gateway_url.is_none());
        let Command::Stream(st) = parse(&[
            "stream",
            "--series",
            "4",
            "--source",
            "-",
            "--segment",
            "1h",
            "--state",
            "s",
            "--keep",
            "walking,running",
            "--gateway-url",
            "http://gw:8600",
            "--pseudonymised-out",
            "mine",
        ])
        .unwrap()
        .command
        else {
            panic!("not stream")
        };
        assert_eq!(st.source, PathBuf::from("-"));
        assert_eq!(st.keep, ["walking", "running"]);
        assert_eq!(st.gateway_url.as_deref(), Some("http://gw:8600"));
        assert_eq!(st.pseudonymised_out, Some(PathBuf::from("mine")));
    }

    #[test]
    fn stream_bad_input_is_a_clear_clap_error() {
        use clap::error::ErrorKind;
        let kind = |args: &[&str]| parse(args).map(|_| ()).unwrap_err().kind();
        let base = ["stream", "--series", "1", "--state", "s.json"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            base.iter().copied().chain(extra.iter().copied()).collect()
        };
        assert_eq!(
            kind(&with(&["--segment-rows", "10"])),
            ErrorKind::MissingRequiredArgument,
            "--source is required"
        );
        assert_eq!(
            kind(&with(&["--source", "a.csv"])),
            ErrorKind::MissingRequiredArgument,
            "one of --segment-rows / --segment is required"
        );
        assert_eq!(
            kind(&with(&["--source", "a.csv", "--segment-rows", "0"])),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&with(&["--source", "a.csv", "--segment-rows", "-3"])),
            ErrorKind::UnknownArgument
        );
        for bad in ["1w", "0s", "soon", "-5m"] {
            let e = parse(&with(&["--source", "a.csv", "--segment", bad])).unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ValueValidation | ErrorKind::UnknownArgument
                ),
                "{bad}: {e}"
            );
        }
        let e = parse(&with(&["--source", "a.csv", "--segment", "1w"])).unwrap_err();
        assert!(e.to_string().contains("unknown unit"), "{e}");
        assert_eq!(
            kind(&with(&[
                "--source",
                "a.csv",
                "--segment-rows",
                "5",
                "--segment",
                "1h"
            ])),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind(&[
                "stream",
                "--series",
                "x",
                "--source",
                "a",
                "--state",
                "s",
                "--segment",
                "1h"
            ]),
            ErrorKind::ValueValidation
        );
        assert!(
            parse(&["stream", "--source", "a", "--state", "s", "--segment", "1h"]).is_err(),
            "--series is required"
        );
        assert!(
            parse(&[
                "stream",
                "--series",
                "1",
                "--source",
                "a",
                "--segment",
                "1h"
            ])
            .is_err(),
            "--state is required"
        );
    }

    #[test]
    fn stream_missing_source_fails_before_the_network() {
        let cli = parse(&[
            "stream",
            "--series",
            "1",
            "--source",
            "/nonexistent/phd/watch.csv",
            "--segment-rows",
            "10",
            "--state",
            "s.json",
        ])
        .unwrap();
        let e = precheck(&cli.command).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/phd/watch.csv"), "{e}");
    }
}
