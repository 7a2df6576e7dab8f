//! Command-line interface of `phd-customer`.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::U256;
use clap::{ArgAction, Parser, Subcommand};
use eyre::WrapErr;
use phd_chain::Purpose;
use phd_cli::{OutputArgs, Progress, RpcArgs, S3Args, WalletArgs};
use phd_sdk::browse::BrowseFilter;
use phd_sdk::retrieve::RetrieveOptions;

use crate::CustomerCtx;
use crate::buy::BuyArgs;

/// PHD exchange — customer: browse, buy and download certified wearable data.
#[derive(Debug, Parser)]
#[command(name = "phd-customer", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub rpc: RpcArgs,
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub output: OutputArgs,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List datasets for sale.
    Browse {
        /// Data type contains (e.g. accelerometer).
        #[arg(long, env = "PHD_DATA_TYPE")]
        data_type: Option<String>,
        /// Minimum quality score 0..1 (certified score if certified).
        #[arg(long, env = "PHD_MIN_QUALITY")]
        min_quality: Option<f64>,
        /// Only validator-certified datasets.
        #[arg(long, env = "PHD_CERTIFIED")]
        certified: bool,
        /// Maximum price in PHD.
        #[arg(long, env = "PHD_MAX_PRICE", value_parser = parse_price)]
        max_price: Option<U256>,
        /// Include pending and withdrawn datasets.
        #[arg(long, env = "PHD_BROWSE_ALL")]
        all: bool,
    },
    /// Buy a dataset, collect key shares, download, verify, decrypt, confirm.
    Buy {
        /// Dataset id.
        id: u64,
        /// Purpose (must be one the owner consented to).
        #[arg(long, env = "PHD_PURPOSE", default_value = "research")]
        purpose: Purpose,
        /// Pay at most this many PHD (default: the current price).
        #[arg(long, env = "PHD_MAX_PRICE", value_parser = parse_price)]
        max_price: Option<U256>,
        /// Pay with an EIP-2612 permit instead of approve + purchase.
        #[arg(long, env = "PHD_PERMIT")]
        permit: bool,
        /// Output file.
        #[arg(long, short, env = "PHD_OUT")]
        out: PathBuf,
        /// Output format: csv (the sealed canonical CSV), omh (Open mHealth data points) or
        /// fhir (FHIR R4 Bundle of Observations); for omh/fhir the verified CSV is kept at
        /// `<out>.canonical.csv`.
        #[arg(long, env = "PHD_FORMAT", default_value = "csv")]
        format: crate::export::ExportFormat,
        /// Seconds to wait for key shares.
        #[arg(long, env = "PHD_SHARE_TIMEOUT", default_value_t = 120)]
        share_timeout: u64,
        /// Do not confirm receipt on-chain.
        #[arg(long, env = "PHD_NO_CONFIRM")]
        no_confirm: bool,
    },
    /// Download (again) the data of a purchase or grant of mine.
    Retrieve {
        /// Purchase id.
        purchase: u64,
        /// Output file.
        #[arg(long, short, env = "PHD_OUT")]
        out: PathBuf,
        /// Output format: csv, omh or fhir (as for `buy`).
        #[arg(long, env = "PHD_FORMAT", default_value = "csv")]
        format: crate::export::ExportFormat,
        /// Seconds to wait for key shares.
        #[arg(long, env = "PHD_SHARE_TIMEOUT", default_value_t = 120)]
        share_timeout: u64,
        /// Confirm receipt on-chain afterwards.
        #[arg(long, env = "PHD_CONFIRM")]
        confirm: bool,
    },
    /// Refund a purchase (too few shares by the deadline, or consent withdrawn).
    Refund {
        /// Purchase id.
        purchase: u64,
    },
    /// My purchases, with status.
    Purchases,
    /// Prove delivered shares wrong on-chain: the keeper is slashed, the amount credited to you
    /// (`buy` does this by itself for every bad share). Only while the purchase is open.
    Dispute {
        /// Purchase id.
        purchase: u64,
        /// Only this share index (default: every bad share).
        #[arg(long, env = "PHD_SHARE_INDEX")]
        index: Option<u8>,
    },
    /// Prove owner fraud on-chain: the key your verified shares reconstruct (checked against C0)
    /// does not open the listed object. Refund, half of the owner's listing bond left after the
    /// honest keepers' fees, dataset delisted (`buy` does this by itself). Reveals the dataset secret, which opens nothing. Only within
    /// the purchase's confirmation window.
    ProveFraud {
        /// Purchase id.
        purchase: u64,
        /// Seconds to wait for key shares.
        #[arg(long, env = "PHD_SHARE_TIMEOUT", default_value_t = 120)]
        share_timeout: u64,
    },
    /// After the delivery deadline of a failed purchase: slash every keeper that committed but
    /// did not deliver (credited to you).
    SlashNonDelivery {
        /// Purchase id.
        purchase: u64,
    },
    /// List series (live, continuously growing datasets) to subscribe to with `follow`.
    SeriesBrowse {
        /// Only series certified by enough independent validators.
        #[arg(long, env = "PHD_CERTIFIED")]
        certified: bool,
        /// Maximum price per segment in PHD.
        #[arg(long, env = "PHD_MAX_PRICE_PER_SEGMENT", value_parser = parse_price)]
        max_price_per_segment: Option<U256>,
        /// Only series whose owner consented to this purpose.
        #[arg(long, env = "PHD_PURPOSE")]
        purpose: Option<Purpose>,
        /// Include withdrawn series.
        #[arg(long, env = "PHD_BROWSE_ALL")]
        all: bool,
    },
    /// A series' state and certification (each validator's current rolling certificate).
    SeriesStatus {
        /// Series id.
        series: u64,
    },
    /// Subscribe to a series (or reuse a subscription) and write each new segment, verified
    /// and decrypted, as `<out>/segment-<seq>.csv`; resumes from `<out>` after a restart.
    /// Runs until the paid range is written, the series is withdrawn, or Ctrl-C / SIGTERM.
    Follow(Box<FollowCmd>),
    /// Cancel a series subscription: segments not yet released are refunded at once.
    SeriesCancel {
        /// Subscription id.
        subscription: u64,
    },
    /// Refund what a subscription can no longer receive (series withdrawn, segments expired).
    SeriesRefund {
        /// Subscription id.
        subscription: u64,
    },
    /// Prove a keeper's wrong release of a segment on-chain: the keeper is slashed and pays you
    /// back its fee (the segment's price when fewer than t good releases remain) plus the slash,
    /// as SeriesMarket credits (`follow` does this by itself). Allowed once the segment is
    /// charged or its release window closed, until one more release window.
    SeriesDispute {
        /// Subscription id.
        subscription: u64,
        /// Segment.
        #[arg(long, env = "PHD_SEQ")]
        seq: u64,
        /// Only this share index (default: every provably wrong release of the segment).
        #[arg(long, env = "PHD_SHARE_INDEX")]
        index: Option<u8>,
        /// Send the dispute even when the release verifies (the contract refuses a false
        /// dispute: it costs only gas).
        #[arg(long, env = "PHD_FORCE", requires = "index")]
        force: bool,
    },
}

/// `follow` flags.
#[derive(Debug, clap::Args)]
pub struct FollowCmd {
    /// Series id.
    pub series: u64,
    /// Output directory (segment files and the resume state `.phd-follow.json`).
    #[arg(long, short, env = "PHD_OUT")]
    pub out: PathBuf,
    /// First segment to subscribe from (back-fill); default: the next one appended.
    #[arg(long, env = "PHD_SINCE", conflicts_with = "subscription")]
    pub since: Option<u64>,
    /// Segments to pay for when subscribing.
    #[arg(long, env = "PHD_SEGMENTS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "subscription")]
    pub segments: u64,
    /// Pay at most this many PHD per segment (default: the current price).
    #[arg(long, env = "PHD_MAX_PRICE_PER_SEGMENT", value_parser = parse_price, conflicts_with = "subscription")]
    pub max_price_per_segment: Option<U256>,
    /// Purpose (must be one the owner consented to).
    #[arg(
        long,
        env = "PHD_PURPOSE",
        default_value = "research",
        conflicts_with = "subscription"
    )]
    pub purpose: Purpose,
    /// Use this existing subscription of mine instead of subscribing.
    #[arg(long, env = "PHD_SUBSCRIPTION")]
    pub subscription: Option<u64>,
    /// Milliseconds between looks at the chain while waiting.
    #[arg(long, env = "PHD_FOLLOW_POLL_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_ms: u64,
    /// Stop after this many segments in this run.
    #[arg(long, env = "PHD_MAX_SEGMENTS")]
    pub max_segments: Option<u64>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, env = "PHD_FOLLOW_PROGRESS", default_value_t = 5)]
    pub progress: u64,
    /// Also write each segment as omh (`segment-<seq>.omh.json`, Open mHealth data points) or
    /// fhir (`segment-<seq>.fhir.json`, a FHIR R4 Bundle); the verified CSV is always kept.
    #[arg(long, env = "PHD_FORMAT", default_value = "csv")]
    pub format: crate::export::ExportFormat,
}

fn parse_price(s: &str) -> Result<U256, String> {
    phd_chain::parse_phd(s).map_err(|e| e.to_string())
}

/// Builds the context: wallet from flags, else `PHD_CUSTOMER_PRIVATE_KEY` (devnet env).
pub async fn connect(cli: &Cli) -> eyre::Result<CustomerCtx> {
    let signer = cli.wallet.signer_or_env("PHD_CUSTOMER_PRIVATE_KEY")?;
    let chain = cli.rpc.connect(signer).await?;
    let store = match phd_storage::S3Config::from_flags(cli.s3.parts()) {
        Some(cfg) => Some(
            phd_storage::Store::connect(cfg)
                .await
                .wrap_err("configuring S3 storage")?,
        ),
        None => None,
    };
    Ok(CustomerCtx::new(chain, store).with_progress(Progress::auto(cli.output.json)))
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> eyre::Result<()> {
    let ctx = connect(&cli).await?;
    let out = cli.output;
    match cli.command {
        Command::Browse {
            data_type,
            min_quality,
            certified,
            max_price,
            all,
        } => {
            let f = BrowseFilter {
                data_type,
                min_quality,
                certified,
                max_price,
                all,
            };
            let rows = phd_sdk::browse::browse(&ctx, &f).await?;
            out.emit(&rows, || {
                let mut s = format!(
                    "{:>4}  {:<26} {:>9} {:>9}  {:>7}  {:<10} {:>10} {:>12}  {}",
                    "ID",
                    "TYPE",
                    "BYTES",
                    "SAMPLES",
                    "QUALITY",
                    "CERTIFIED",
                    "PRICE",
                    "MIN STAKE",
                    "PURPOSES"
                );
                for l in &rows {
                    s.push_str(&format!(
                        "\n{:>4}  {:<26} {:>9} {:>9}  {:>7}  {:<10} {:>10} {:>12}  {}",
                        l.dataset_id,
                        l.data_type.as_deref().unwrap_or("?"),
                        l.plaintext_bytes.map_or("?".into(), |b| b.to_string()),
                        l.samples.map_or("?".into(), |b| b.to_string()),
                        l.effective_quality()
                            .map_or("-".into(), |q| format!("{q:.3}")),
                        if l.certified {
                            format!("yes ({})", l.certifications_counted)
                        } else {
                            format!("no ({})", l.certifications)
                        },
                        l.price_phd,
                        l.keeper_stake_min_phd.as_deref().unwrap_or("?"),
                        l.purposes.join(",")
                    ));
                }
                if rows.is_empty() {
                    s.push_str("\n(nothing matches)");
                }
                s
            })?;
        }
        Command::Buy {
            id,
            purpose,
            max_price,
            permit,
            out: path,
            format,
            share_timeout,
            no_confirm,
        } => {
            let args = BuyArgs {
                dataset_id: id,
                purpose,
                max_price,
                permit,
                out: crate::export::canonical_path(&path, format),
                confirm: !no_confirm,
                retrieve: RetrieveOptions {
                    share_timeout: Duration::from_secs(share_timeout),
                    ..RetrieveOptions::default()
                },
            };
            let r = crate::buy::buy(&ctx, &args).await?;
            let exported = crate::export::export(&args.out, &path, format)?;
            out.emit(&r, || {
                let mut s = format!(
                    "bought dataset {} as purchase {} for {} PHD (tx {})\n  {} bytes written to {} ({} chunks verified against the on-chain root)\n  shares used: {:?}",
                    r.dataset_id,
                    r.purchase_id,
                    r.price_phd,
                    r.purchase_tx,
                    r.retrieved.bytes_written,
                    r.retrieved.out.display(),
                    r.retrieved.chunks,
                    r.retrieved.shares_used
                );
                for b in &r.retrieved.bad_shares {
                    s.push_str(&format!("\n  warning: {b}"));
                }
                for d in &r.disputes {
                    s.push_str(&format!("\n  dispute: {d}"));
                }
                if let Some(n) = &r.not_confirmed {
                    s.push_str(&format!("\n  warning: {n}"));
                }
                if let Some(c) = &r.confirm_tx {
                    s.push_str(&format!("\n  confirmed (tx {c})"));
                }
                if exported > 0 {
                    s.push_str(&format!("\n  exported as {format:?} to {} ({exported} bytes)", path.display()));
                }
                s
            })?;
        }
        Command::Retrieve {
            purchase,
            out: path,
            format,
            share_timeout,
            confirm,
        } => {
            let csv_path = crate::export::canonical_path(&path, format);
            let opts = RetrieveOptions {
                share_timeout: Duration::from_secs(share_timeout),
                ..RetrieveOptions::default()
            };
            let (r, disputes) =
                crate::buy::retrieve_and_dispute(&ctx, purchase, &csv_path, &opts).await?;
            let exported = crate::export::export(&csv_path, &path, format)?;
            // Never confirm over a bad share whose dispute failed: confirming gives it up.
            let undisputed = disputes.iter().any(|d| d.slashed_wei.is_none());
            let c = if confirm && !undisputed {
                Some(crate::buy::confirm(&ctx, purchase).await?)
            } else {
                None
            };
            let v = serde_json::json!({ "retrieved": r, "disputes": disputes, "confirm": c });
            out.emit(&v, || {
                let mut s = format!("{} bytes of dataset {} written to {}", r.bytes_written, r.dataset_id, r.out.display());
                for b in &r.bad_shares {
                    s.push_str(&format!("\n  warning: {b}"));
                }
                for d in &disputes {
                    s.push_str(&format!("\n  dispute: {d}"));
                }
                if exported > 0 {
                    s.push_str(&format!("\n  exported as {format:?} to {} ({exported} bytes)", path.display()));
                }
                if confirm && undisputed {
                    s.push_str(&format!("\n  warning: not confirmed: a bad share could not be disputed (`phd-customer dispute {purchase}`)"));
                }
                s
            })?;
        }
        Command::Refund { purchase } => {
            let r = crate::buy::refund(&ctx, purchase).await?;
            out.emit(&r, || {
                format!(
                    "refunded {} PHD for purchase {purchase} (tx {})",
                    r.amount_phd.clone().unwrap_or_default(),
                    r.tx_hash
                )
            })?;
        }
        Command::Dispute { purchase, index } => {
            let rs = crate::dispute::dispute(&ctx, purchase, index).await?;
            out.emit(&rs, || {
                if rs.is_empty() {
                    return format!("purchase {purchase}: every delivered share opens and verifies; nothing to dispute");
                }
                rs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
            })?;
            if rs.iter().any(|r| r.error.is_some()) {
                eyre::bail!("some disputes of purchase {purchase} failed");
            }
        }
        Command::ProveFraud {
            purchase,
            share_timeout,
        } => {
            let opts = RetrieveOptions {
                share_timeout: Duration::from_secs(share_timeout),
                ..RetrieveOptions::default()
            };
            let o = crate::buy::prove_fraud(&ctx, purchase, &opts).await?;
            out.emit(&o, || {
                format!(
                    "owner fraud proven for purchase {purchase} (dataset {}, tx {:#x}): refunded {} PHD, {} PHD of the owner's listing bond paid to you; the dataset is delisted",
                    o.dataset_id,
                    o.tx_hash,
                    phd_chain::format_phd(o.refunded),
                    phd_chain::format_phd(o.bond)
                )
            })?;
        }
        Command::SlashNonDelivery { purchase } => {
            let rs = crate::dispute::slash_non_delivery(&ctx, purchase).await?;
            out.emit(&rs, || {
                if rs.is_empty() {
                    return format!("purchase {purchase}: no keeper committed without delivering");
                }
                rs.iter()
                    .map(|r| match (&r.slashed_phd, &r.error) {
                        (Some(a), _) => format!(
                            "keeper {:#x} slashed {a} PHD, credited to you (tx {})",
                            r.keeper,
                            r.tx_hash.clone().unwrap_or_default()
                        ),
                        (None, e) => format!(
                            "keeper {:#x}: slash failed: {}",
                            r.keeper,
                            e.clone().unwrap_or_default()
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
            if rs.iter().any(|r| r.error.is_some()) {
                eyre::bail!("some slashes for purchase {purchase} failed");
            }
        }
        Command::SeriesBrowse {
            certified,
            max_price_per_segment,
            purpose,
            all,
        } => {
            let f = phd_sdk::series_cert::SeriesFilter {
                certified,
                max_price_per_segment,
                purpose,
                all,
            };
            let rows = phd_sdk::series_cert::browse_series(&ctx, &f).await?;
            out.emit(&rows, || series_table(&rows))?;
        }
        Command::SeriesStatus { series } => {
            let v = phd_sdk::series_cert::series_status(&ctx, series).await?;
            out.emit(&v, || v.to_text())?;
        }
        Command::Follow(f) => {
            let f = *f;
            let args = crate::follow::FollowArgs {
                series_id: f.series,
                out_dir: f.out,
                since: f.since,
                segments: f.segments,
                max_price_per_segment: f.max_price_per_segment,
                purpose: f.purpose,
                subscription_id: f.subscription,
                poll: Duration::from_millis(f.poll_ms),
                max_segments: f.max_segments,
                format: f.format,
                progress_every: (f.progress > 0).then(|| Duration::from_secs(f.progress)),
                json_events: out.json,
            };
            let r = crate::follow::follow(&ctx, &args, phd_cli::shutdown_signal()).await?;
            out.emit(&r, || {
                let disputes = r
                    .disputes
                    .iter()
                    .map(|d| {
                        format!(
                            "\nkeeper {:#x} (share {}) released a wrong share of segment {}: proven on-chain, {} PHD credited to you (tx {:#x})",
                            d.keeper,
                            d.share_index,
                            d.seq,
                            phd_chain::format_phd(d.compensation),
                            d.tx.tx_hash
                        )
                    })
                    .collect::<String>();
                format!(
                    "series {} (subscription {}): wrote {} segments to {} in this run; next segment {} ({}){disputes}",
                    f.series,
                    r.subscription_id,
                    r.written.len(),
                    args.out_dir.display(),
                    r.next_seq,
                    r.stopped
                )
            })?;
        }
        Command::SeriesCancel { subscription } => {
            subscription_refund(&ctx, &out, subscription, true).await?;
        }
        Command::SeriesRefund { subscription } => {
            subscription_refund(&ctx, &out, subscription, false).await?;
        }
        Command::SeriesDispute {
            subscription,
            seq,
            index,
            force,
        } => {
            let rs = match index {
                Some(i) => vec![
                    phd_sdk::series_dispute::dispute_release(&ctx, subscription, seq, i, force)
                        .await
                        .wrap_err_with(|| {
                            format!(
                                "disputing share {i} of segment {seq} (subscription {subscription})"
                            )
                        })?,
                ],
                None => phd_sdk::series_dispute::dispute_bad_releases(&ctx, subscription, seq)
                    .await
                    .wrap_err_with(|| {
                        format!("checking segment {seq} of subscription {subscription}")
                    })?,
            };
            out.emit(&rs, || {
                if rs.is_empty() {
                    return format!("subscription {subscription}, segment {seq}: nothing (left) to dispute");
                }
                rs.iter()
                    .map(|r| {
                        format!(
                            "keeper {:#x} (share {}) proven wrong for segment {seq}: {} PHD credited to you{} (tx {:#x})",
                            r.keeper,
                            r.share_index,
                            phd_chain::format_phd(r.compensation),
                            if r.refunded { ", the segment's price included" } else { "" },
                            r.tx.tx_hash
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
        Command::Purchases => {
            let rows = crate::buy::purchases(&ctx).await?;
            out.emit(&rows, || {
                let mut s = format!(
                    "{:>5} {:>4}  {:<8} {:<13} {:>10}  {:<9} {:<7} {:<7} {}",
                    "BUY",
                    "DS",
                    "KIND",
                    "PURPOSE",
                    "PRICE",
                    "STATUS",
                    "SHARES",
                    "COMMITS",
                    "CONFIRMED"
                );
                for r in &rows {
                    s.push_str(&format!(
                        "\n{:>5} {:>4}  {:<8} {:<13} {:>10}  {:<9} {:<7} {:<7} {}",
                        r.purchase_id,
                        r.dataset_id,
                        r.kind,
                        r.purpose,
                        r.price_phd,
                        r.status,
                        format!("{}/{}", r.delivered, r.threshold),
                        format!("{}/{}", r.committed, r.threshold),
                        if r.confirmed { "yes" } else { "no" }
                    ));
                }
                if rows.is_empty() {
                    s.push_str("\n(no purchases)");
                }
                s
            })?;
        }
    }
    Ok(())
}

/// The `series-browse` table.
fn series_table(rows: &[phd_sdk::series_cert::SeriesStatusView]) -> String {
    let mut s = format!(
        "{:>4}  {:<42}  {:<9} {:>8}  {:>6}  {:>12}  {:<24}  {}",
        "ID", "OWNER", "STATUS", "SEGMENTS", "T OF N", "PRICE/SEG", "CERTIFIED", "PURPOSES"
    );
    for v in rows {
        let cert = v.certification.as_ref().map_or_else(
            || "-".to_string(),
            |c| {
                format!(
                    "{} ({}/{})",
                    if c.certified { "yes" } else { "no" },
                    c.counted,
                    c.required
                )
            },
        );
        s.push_str(&format!(
            "\n{:>4}  {:<42}  {:<9} {:>8}  {:>6}  {:>12}  {:<24}  {}",
            v.series_id,
            v.owner,
            format!("{:?}", v.status),
            v.segments,
            format!("{}/{}", v.threshold, v.keepers),
            v.price_per_segment_phd,
            cert,
            v.purposes.join(",")
        ));
    }
    if rows.is_empty() {
        s.push_str("\n(nothing matches)");
    }
    s
}

/// `series-cancel` (`cancel`: ends the subscription, refunds what was not appended) and
/// `series-refund` (refunds what can no longer be released): the same report either way.
async fn subscription_refund(
    ctx: &CustomerCtx,
    out: &OutputArgs,
    subscription: u64,
    cancel: bool,
) -> eyre::Result<()> {
    let id = U256::from(subscription);
    let (tx, refunded) = if cancel {
        ctx.chain
            .cancel_subscription(id)
            .await
            .wrap_err_with(|| format!("cancelling subscription {subscription}"))?
    } else {
        ctx.chain
            .refund_subscription(id)
            .await
            .wrap_err_with(|| format!("refunding subscription {subscription}"))?
    };
    let v = serde_json::json!({
        "subscription_id": subscription,
        "tx_hash": format!("{:#x}", tx.tx_hash),
        "refunded_phd": phd_chain::format_phd(refunded),
    });
    out.emit(&v, || {
        let what = if cancel {
            format!("cancelled subscription {subscription}: refunded")
        } else {
            "refunded".to_string()
        };
        let whose = if cancel {
            String::new()
        } else {
            format!(" for subscription {subscription}")
        };
        format!(
            "{what} {} PHD{whose} (tx {:#x})",
            phd_chain::format_phd(refunded),
            tx.tx_hash
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("phd-customer").chain(args.iter().copied()))
    }

    #[test]
    fn buy_flags() {
        let cli = parse(&[
            "buy",
            "7",
            "--purpose",
            "research",
            "--max-price",
            "13",
            "--permit",
            "--out",
            "d.csv",
        ]);
        assert!(cli.is_ok(), "{cli:?}");
        if let Ok(Cli {
            command:
                Command::Buy {
                    id,
                    purpose,
                    max_price,
                    permit,
                    out,
                    ..
                },
            ..
        }) = cli
        {
            assert_eq!(id, 7);
            assert_eq!(purpose, Purpose::Research);
            assert_eq!(max_price, phd_chain::parse_phd("13").ok());
            assert!(permit);
            assert_eq!(out, PathBuf::from("d.csv"));
        }
    }

    #[test]
    fn export_format_flag() {
        let format_of = |args: &[&str]| match parse(args) {
            Ok(Cli {
                command: Command::Buy { format, .. } | Command::Retrieve { format, .. },
                ..
            }) => Ok(format),
            Ok(_) => Err("other command".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        use crate::export::ExportFormat;
        assert_eq!(
            format_of(&["buy", "7", "--out", "d"]),
            Ok(ExportFormat::Csv)
        );
        assert_eq!(
            format_of(&["buy", "7", "--out", "d", "--format", "fhir"]),
            Ok(ExportFormat::Fhir)
        );
        assert_eq!(
            format_of(&["retrieve", "3", "--out", "d", "--format", "omh"]),
            Ok(ExportFormat::Omh)
        );
        assert!(format_of(&["buy", "7", "--out", "d", "--format", "xml"]).is_err());
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["buy", "7", "--purpose", "marketing", "--out", "x"]).is_err());
        assert!(parse(&["buy", "7"]).is_err(), "--out is required");
        assert!(parse(&["buy", "x", "--out", "y"]).is_err());
        assert!(parse(&["browse", "--max-price", "abc"]).is_err());
        assert!(parse(&["refund"]).is_err());
        assert!(parse(&["dispute"]).is_err(), "purchase id is required");
        assert!(
            parse(&["dispute", "3", "--index", "300"]).is_err(),
            "a share index is a u8"
        );
        assert!(parse(&["slash-non-delivery", "x"]).is_err());
    }

    #[test]
    fn dispute_and_slash_flags() {
        assert!(matches!(
            parse(&["dispute", "4", "--index", "2"]),
            Ok(Cli {
                command: Command::Dispute {
                    purchase: 4,
                    index: Some(2)
                },
                ..
            })
        ));
        assert!(matches!(
            parse(&["dispute", "4"]),
            Ok(Cli {
                command: Command::Dispute {
                    purchase: 4,
                    index: None
                },
                ..
            })
        ));
        assert!(matches!(
            parse(&["prove-fraud", "4"]),
            Ok(Cli {
                command: Command::ProveFraud {
                    purchase: 4,
                    share_timeout: 120
                },
                ..
            })
        ));
        assert!(matches!(
            parse(&["slash-non-delivery", "9", "--json"]),
            Ok(Cli {
                command: Command::SlashNonDelivery { purchase: 9 },
                ..
            })
        ));
    }

    #[test]
    fn browse_flags() {
        let cli = parse(&[
            "browse",
            "--data-type",
            "accelerometer",
            "--min-quality",
            "0.8",
            "--certified",
            "--json",
        ]);
        assert!(matches!(
            cli,
            Ok(Cli {
                command: Command::Browse {
                    certified: true,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn follow_flags() {
        let cli = parse(&[
            "follow",
            "3",
            "--out",
            "seg",
            "--since",
            "0",
            "--segments",
            "4",
            "--max-price-per-segment",
            "1.5",
            "--purpose",
            "validation",
            "--json",
        ])
        .unwrap();
        assert!(cli.output.json);
        let Command::Follow(f) = cli.command else {
            panic!("not follow")
        };
        assert_eq!((f.series, f.since, f.segments), (3, Some(0), 4));
        assert_eq!(f.out, PathBuf::from("seg"));
        assert_eq!(f.max_price_per_segment, phd_chain::parse_phd("1.5").ok());
        assert_eq!(f.purpose, Purpose::Validation);
        assert_eq!((f.subscription, f.poll_ms, f.progress), (None, 2000, 5));
        let Command::Follow(f) = parse(&["follow", "3", "-o", "seg", "--subscription", "9"])
            .unwrap()
            .command
        else {
            panic!("not follow")
        };
        assert_eq!(
            (f.subscription, f.since, f.max_price_per_segment),
            (Some(9), None, None)
        );
    }

    #[test]
    fn follow_bad_input() {
        use clap::error::ErrorKind;
        let kind = |args: &[&str]| parse(args).map(|_| ()).unwrap_err().kind();
        assert_eq!(
            kind(&["follow", "3"]),
            ErrorKind::MissingRequiredArgument,
            "--out"
        );
        assert_eq!(
            kind(&["follow", "--out", "d"]),
            ErrorKind::MissingRequiredArgument,
            "series"
        );
        assert_eq!(
            kind(&["follow", "x", "--out", "d"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["follow", "3", "--out", "d", "--segments", "0"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&[
                "follow",
                "3",
                "--out",
                "d",
                "--max-price-per-segment",
                "abc"
            ]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["follow", "3", "--out", "d", "--purpose", "marketing"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["follow", "3", "--out", "d", "--since", "-1"]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            kind(&[
                "follow",
                "3",
                "--out",
                "d",
                "--subscription",
                "2",
                "--since",
                "0"
            ]),
            ErrorKind::ArgumentConflict,
            "subscribing flags make no sense with an existing subscription"
        );
    }

    #[test]
    fn series_browse_and_status() {
        let Command::SeriesBrowse {
            certified,
            max_price_per_segment,
            purpose,
            all,
        } = parse(&[
            "series-browse",
            "--certified",
            "--max-price-per-segment",
            "2.5",
            "--purpose",
            "research",
        ])
        .unwrap()
        .command
        else {
            panic!("not series-browse")
        };
        assert!(certified && !all);
        assert_eq!(
            max_price_per_segment,
            Some(phd_chain::parse_phd("2.5").unwrap())
        );
        assert_eq!(purpose, Some(Purpose::Research));
        assert!(matches!(
            parse(&["series-status", "3"]).unwrap().command,
            Command::SeriesStatus { series: 3 }
        ));
        assert!(parse(&["series-status"]).is_err());
        assert!(parse(&["series-browse", "--purpose", "gossip"]).is_err());
    }

    #[test]
    fn series_cancel_and_refund() {
        assert!(matches!(
            parse(&["series-cancel", "4"]).unwrap().command,
            Command::SeriesCancel { subscription: 4 }
        ));
        assert!(matches!(
            parse(&["series-refund", "5", "--json"]).unwrap().command,
            Command::SeriesRefund { subscription: 5 }
        ));
        assert!(parse(&["series-cancel"]).is_err());
        assert!(matches!(
            parse(&[
                "series-dispute",
                "3",
                "--seq",
                "7",
                "--index",
                "2",
                "--force",
                "--json"
            ])
            .unwrap()
            .command,
            Command::SeriesDispute {
                subscription: 3,
                seq: 7,
                index: Some(2),
                force: true
            }
        ));
        assert!(
            parse(&["series-dispute", "3", "--seq", "7", "--force"]).is_err(),
            "--force needs --index"
        );
        assert!(
            parse(&["series-dispute", "3"]).is_err(),
            "--seq is required"
        );
        assert!(parse(&["series-refund", "x"]).is_err());
    }
}
