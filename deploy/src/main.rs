//! `phd-deploy`: deploy (or verify and reuse) the PHD exchange contracts.

use std::path::PathBuf;

use clap::Parser;
use eyre::WrapErr;
use phd_cli::{OutputArgs, RpcArgs, WalletArgs};
use phd_deploy::{DeployConfig, deploy};

/// Deploys PHDCoin, KeeperRegistry, DataRegistry and Marketplace and writes their addresses.
#[derive(Debug, Parser)]
#[command(name = "phd-deploy", version)]
struct Cli {
    #[command(flatten)]
    rpc: RpcArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Deployment file to write (default: --deployment, else deploy/deployments/<chainId>.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Deploy fresh even when the file holds a deployment that matches the chain.
    #[arg(long)]
    force: bool,
    /// Keepers' share of each price in basis points.
    #[arg(long, default_value_t = 1000)]
    keeper_fee_bps: u16,
    /// Seconds keepers have to deliver after a purchase.
    #[arg(long, default_value_t = 3600)]
    delivery_window: u64,
    /// Seconds after the threshold-th share before anyone may settle.
    #[arg(long, default_value_t = 86_400)]
    confirmation_window: u64,
    /// PHD paid from the reward pool to a dataset owner when its dataset becomes certified.
    #[arg(long, default_value = "10", value_parser = phd_cli::parse_phd)]
    certification_reward: alloy::primitives::U256,
    /// PHD put into the certification reward pool at deployment.
    #[arg(long, default_value = "10000", value_parser = phd_cli::parse_phd)]
    reward_budget: alloy::primitives::U256,
    /// Smallest keeper/validator stake, PHD.
    #[arg(long, default_value = "100", value_parser = phd_cli::parse_phd)]
    min_stake: alloy::primitives::U256,
    /// Seconds an exiting node's stake stays slashable (≥ delivery + confirmation windows).
    #[arg(long, default_value_t = 7 * 86_400)]
    unbonding_delay: u64,
    /// Smallest certificate score that counts, basis points.
    #[arg(long, default_value_t = 5000)]
    min_score_bps: u16,
    /// Independent certificates a dataset needs (k). Production: at least 2; a one-validator
    /// devnet uses 1.
    #[arg(long, default_value_t = 2)]
    min_certifications: u8,
    /// PHD every listing deposits as bond, slashed when a buyer proves owner fraud.
    #[arg(long, env = "PHD_LISTING_BOND", default_value = "10", value_parser = phd_cli::parse_phd)]
    listing_bond: alloy::primitives::U256,
    /// PHD each delivering keeper earns for a grant or a free dataset.
    #[arg(long, default_value = "1", value_parser = phd_cli::parse_phd)]
    delivery_fee: alloy::primitives::U256,
    /// Seconds keepers have to release a series segment to a subscriber (SeriesMarket).
    #[arg(long, env = "PHD_RELEASE_WINDOW", default_value_t = 86_400)]
    release_window: u64,
    /// Supply cap of the coin, PHD (default: the initial supply).
    #[arg(long, value_parser = phd_cli::parse_phd)]
    supply_cap: Option<alloy::primitives::U256>,
    /// Seconds a new coin admin waits before accepting the role.
    #[arg(long, default_value_t = 86_400)]
    admin_transfer_delay: u64,
    /// Timelock / multisig that takes over the coin's admin role and the registry's ownership
    /// (the transfer starts now; the new admin accepts it after the delay).
    #[arg(long)]
    admin: Option<alloy::primitives::Address>,
    /// PHD minted at deployment (the reward budget is taken from it).
    #[arg(long, default_value = "1000000", value_parser = phd_cli::parse_phd)]
    initial_supply: alloy::primitives::U256,
    /// Receiver of the initial supply (default: the deployer).
    #[arg(long)]
    initial_holder: Option<alloy::primitives::Address>,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    phd_cli::exit_with(run().await)
}

async fn run() -> eyre::Result<()> {
    let cli: Cli = phd_cli::parse()?;
    phd_cli::init_tracing(cli.verbose.max(1));
    let signer = cli.wallet.signer()?;
    let out = match cli.out.clone().or_else(|| cli.rpc.deployment.clone()) {
        Some(p) => p,
        None => phd_deploy_default_path(&cli.rpc.rpc_url).await?,
    };
    let config = DeployConfig {
        keeper_fee_bps: cli.keeper_fee_bps,
        delivery_window: cli.delivery_window,
        confirmation_window: cli.confirmation_window,
        certification_reward: cli.certification_reward,
        initial_supply: cli.initial_supply,
        initial_holder: cli.initial_holder,
        supply_cap: cli.supply_cap,
        admin_transfer_delay: cli.admin_transfer_delay,
        min_stake: cli.min_stake,
        unbonding_delay: cli.unbonding_delay,
        min_score_bps: cli.min_score_bps,
        min_certifications: cli.min_certifications,
        delivery_fee: cli.delivery_fee,
        reward_budget: cli.reward_budget,
        release_window: cli.release_window,
        listing_bond: cli.listing_bond,
        admin: cli.admin,
    };
    let outcome = deploy(&cli.rpc.rpc_url, signer, &config, Some(&out), cli.force)
        .await
        .wrap_err_with(|| format!("deploying to {}", cli.rpc.rpc_url))?;
    let d = &outcome.deployment;
    cli.output.emit(d, || {
        let mut s = String::new();
        s.push_str(if outcome.reused { "reused existing deployment\n" } else { "deployed\n" });
        for tx in &outcome.transactions {
            s.push_str(&format!("  {:<24} tx {} gas {}\n", tx.operation, tx.tx_hash, tx.gas_used));
        }
        s.push_str(&format!(
            "chain {}\n  PHDCoin        {}\n  KeeperRegistry {}\n  DataRegistry   {}\n  Marketplace    {}\n  from block     {}\nwritten to {}",
            d.chain_id,
            d.coin,
            d.keeper_registry,
            d.data_registry,
            d.marketplace,
            d.deployed_at_block,
            out.display()
        ));
        s
    })?;
    Ok(())
}

async fn phd_deploy_default_path(rpc_url: &str) -> eyre::Result<PathBuf> {
    let chain_id = phd_cli::chain_id(rpc_url).await?;
    Ok(phd_chain::Deployment::default_path(chain_id))
}
