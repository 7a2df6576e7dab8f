//! phd-deploy: deploys PHDCoin, KeeperRegistry, DataRegistry, Marketplace, SeriesMarket and SeriesCertification from the committed
//! artifacts, wires them (`KeeperRegistry.setMarketplace`, `setSeriesMarket`), funds the certification reward pool
//! (nobody holds `MINTER_ROLE`: rewards come from the pool) and records the addresses. With an
//! admin address it starts handing the coin's default admin role and the registry's ownership
//! over to it (a timelock or multisig accepts them later).
//!
//! Re-running is safe: when the deployment file exists and every recorded address holds exactly
//! the artifacts' runtime code (immutables masked), the existing deployment is reused.

#![allow(clippy::result_large_err, clippy::collapsible_if)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    signers::local::PrivateKeySigner,
};
use phd_chain::{
    ChainError, ContractKind, Deployment, DeploymentParams, TxOutcome,
    bindings::{
        DataRegistry, KeeperRegistry, Marketplace, PHDCoin, SeriesCertification, SeriesMarket,
    },
    send_call,
};

/// Constructor parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployConfig {
    /// Keepers' share of each price, basis points (default 1000 = 10 %).
    pub keeper_fee_bps: u16,
    /// Seconds keepers have to deliver (default 1 h).
    pub delivery_window: u64,
    /// Seconds after the threshold-th share before anyone may settle (default 1 day).
    pub confirmation_window: u64,
    /// PHD wei paid to an owner when its dataset becomes certified (default 10 PHD).
    pub certification_reward: U256,
    /// PHD wei minted at deployment (default 1 000 000 PHD).
    pub initial_supply: U256,
    /// Receiver of the initial supply, less the reward budget (default: the deployer).
    pub initial_holder: Option<Address>,
    /// Supply cap of the coin (default: the initial supply — no minting after deployment).
    pub supply_cap: Option<U256>,
    /// Seconds a new default admin of the coin must wait before accepting (default 1 day).
    pub admin_transfer_delay: u64,
    /// Smallest keeper/validator bond (default 100 PHD).
    pub min_stake: U256,
    /// Seconds an exiting node's stake stays slashable (default 7 days). Must cover
    /// `delivery_window + confirmation_window`, so a node cannot leave before its purchases close.
    pub unbonding_delay: u64,
    /// Smallest certificate score that counts, basis points (default 5000).
    pub min_score_bps: u16,
    /// Counted certificates a dataset needs (k). Default 1 so a devnet's single validator can
    /// certify; production deployments use ≥ 2 independent validators.
    pub min_certifications: u8,
    /// PHD wei each delivering keeper earns for a grant or free dataset (default 1 PHD).
    pub delivery_fee: U256,
    /// PHD wei put into the certification reward pool at deployment (default 10 000 PHD).
    pub reward_budget: U256,
    /// Seconds keepers have to release a series segment to a subscription (default 1 day).
    pub release_window: u64,
    /// PHD wei every listing deposits, slashed when a buyer proves owner fraud (default 10 PHD).
    pub listing_bond: U256,
    /// Timelock / multisig to hand the coin's admin role and the registry's ownership to
    /// (`beginDefaultAdminTransfer` + `transferOwnership`; it accepts both later). None: the
    /// deployer keeps them.
    pub admin: Option<Address>,
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            keeper_fee_bps: 1000,
            delivery_window: 3600,
            confirmation_window: 86_400,
            certification_reward: phd_chain::phd(10),
            initial_supply: phd_chain::phd(1_000_000),
            initial_holder: None,
            supply_cap: None,
            admin_transfer_delay: 86_400,
            min_stake: phd_chain::phd(100),
            unbonding_delay: 7 * 86_400,
            min_score_bps: 5000,
            min_certifications: 1,
            delivery_fee: phd_chain::phd(1),
            reward_budget: phd_chain::phd(10_000),
            release_window: 86_400,
            listing_bond: phd_chain::phd(10),
            admin: None,
        }
    }
}

impl DeployConfig {
    /// Refuses settings the contracts would revert on, with a sentence instead of a revert.
    pub fn validate(&self) -> Result<(), DeployError> {
        let bad = |reason: String| Err(DeployError::InvalidConfig(reason));
        if self.delivery_window < 2 {
            return bad(format!(
                "delivery window {} s is below 2 s",
                self.delivery_window
            ));
        }
        let windows = self
            .delivery_window
            .saturating_add(self.confirmation_window);
        if self.unbonding_delay < windows {
            return bad(format!(
                "unbonding delay {} s is shorter than the delivery + confirmation windows ({windows} s): a node could leave before its purchases close",
                self.unbonding_delay
            ));
        }
        if self.min_stake.is_zero() {
            return bad("the minimum stake must be above zero".into());
        }
        if self.min_certifications == 0 {
            return bad("at least one certification must be required".into());
        }
        if self.min_score_bps > 10_000 {
            return bad(format!(
                "minimum score {} bps is above 10000",
                self.min_score_bps
            ));
        }
        if self.reward_budget > self.initial_supply {
            return bad("the reward budget exceeds the initial supply".into());
        }
        if self
            .supply_cap
            .is_some_and(|c| c < self.initial_supply || c.is_zero())
        {
            return bad("the supply cap must be non-zero and at least the initial supply".into());
        }
        if self.release_window == 0 || self.release_window > u64::from(u32::MAX) {
            return bad(format!(
                "release window {} s is not in 1..=2³²−1",
                self.release_window
            ));
        }
        if self.release_window.saturating_mul(2) > self.unbonding_delay {
            return bad(format!(
                "unbonding delay {} s is shorter than two release windows ({} s): a keeper could leave before a series release can be disputed",
                self.unbonding_delay,
                self.release_window.saturating_mul(2)
            ));
        }
        if self.keeper_fee_bps > 10_000 {
            return bad(format!(
                "keeper fee {} bps is above 10000",
                self.keeper_fee_bps
            ));
        }
        if self.listing_bond >= U256::from(1u8) << 96 {
            return bad("the listing bond does not fit in 96 bits".into());
        }
        if self.admin_transfer_delay >> 48 != 0 {
            return bad("the admin transfer delay does not fit in 48 bits".into());
        }
        Ok(())
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A chain operation failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The deployment file is for another chain.
    #[error("{path} is for chain {file_chain}, but the node is chain {node_chain}")]
    ChainMismatch {
        /// File.
        path: PathBuf,
        /// Chain id in the file.
        file_chain: u64,
        /// Chain id of the node.
        node_chain: u64,
    },
    /// The configuration would make a constructor revert.
    #[error("invalid deployment configuration: {0}")]
    InvalidConfig(String),
    /// A deploy transaction created no contract.
    #[error("deploying {0}: receipt has no contract address")]
    NoContractAddress(&'static str),
}

/// What [`deploy`] did.
#[derive(Debug, Clone)]
pub struct DeployOutcome {
    /// The deployment.
    pub deployment: Deployment,
    /// True when an existing deployment was verified and reused.
    pub reused: bool,
    /// Where it was written (or read from).
    pub path: Option<PathBuf>,
    /// Transactions sent (empty when reused).
    pub transactions: Vec<TxOutcome>,
}

/// Deploys (or reuses) the contracts on the chain at `rpc_url`.
///
/// `out`: the deployment file to reuse/write; `None` deploys without touching files.
/// `force`: deploy fresh even when `out` holds a matching deployment.
pub async fn deploy(
    rpc_url: &str,
    signer: PrivateKeySigner,
    config: &DeployConfig,
    out: Option<&Path>,
    force: bool,
) -> Result<DeployOutcome, DeployError> {
    config.validate()?;
    let deployer = signer.address();
    let provider = phd_chain::signing_provider(rpc_url, signer, None)?;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| ChainError::from_transport("connect", rpc_url, e))?;

    if let (Some(path), false) = (out, force) {
        if path.is_file() {
            let existing = Deployment::load(path)?;
            if existing.chain_id != chain_id {
                return Err(DeployError::ChainMismatch {
                    path: path.to_owned(),
                    file_chain: existing.chain_id,
                    node_chain: chain_id,
                });
            }
            if matches_artifacts(&provider, rpc_url, &existing).await? {
                tracing::info!(path = %path.display(), "existing deployment matches the artifacts; reusing it");
                return Ok(DeployOutcome {
                    deployment: existing,
                    reused: true,
                    path: Some(path.to_owned()),
                    transactions: vec![],
                });
            }
            tracing::info!(path = %path.display(), "existing deployment is stale; deploying fresh");
        }
    }

    let (deployment, transactions) =
        deploy_fresh(&provider, rpc_url, deployer, chain_id, config).await?;
    if let Some(path) = out {
        deployment.save(path)?;
    }
    Ok(DeployOutcome {
        deployment,
        reused: false,
        path: out.map(Path::to_owned),
        transactions,
    })
}

/// Whether every address of `deployment` holds the committed artifact's runtime code.
pub async fn matches_artifacts(
    provider: &DynProvider,
    rpc_url: &str,
    deployment: &Deployment,
) -> Result<bool, ChainError> {
    for kind in ContractKind::ALL {
        let artifact = kind.artifact()?;
        let code = provider
            .get_code_at(deployment.address_of(kind))
            .await
            .map_err(|e| ChainError::from_transport("getCode", rpc_url, e))?;
        if !artifact.matches_runtime(&code) {
            tracing::debug!(contract = kind.name(), "runtime code differs");
            return Ok(false);
        }
    }
    Ok(true)
}

/// Deploys the four contracts, wires the marketplace into the keeper registry, funds the reward
/// pool, hands the supply to its holder and, with `config.admin`, starts the admin hand-over.
pub async fn deploy_fresh(
    provider: &DynProvider,
    rpc_url: &str,
    deployer: Address,
    chain_id: u64,
    config: &DeployConfig,
) -> Result<(Deployment, Vec<TxOutcome>), DeployError> {
    config.validate()?;
    for kind in ContractKind::ALL {
        let artifact = kind.artifact()?;
        if artifact.exceeds_eip170() {
            tracing::warn!(
                contract = kind.name(),
                bytes = artifact.deployed_bytecode.len(),
                limit = phd_chain::code::EIP170_LIMIT,
                "runtime code exceeds EIP-170: the deployment will fail on any chain enforcing it"
            );
        }
    }
    let ctx = phd_chain::SendCtx {
        url: rpc_url,
        from: deployer,
        timeout: Duration::from_secs(120),
    };
    let mut txs = Vec::new();
    let holder = config.initial_holder.unwrap_or(deployer);
    let cap = config.supply_cap.unwrap_or(config.initial_supply);
    let delay =
        alloy::primitives::aliases::U48::try_from(config.admin_transfer_delay).map_err(|_| {
            DeployError::InvalidConfig("the admin transfer delay does not fit in 48 bits".into())
        })?;

    // The deployer receives the supply first: it funds the reward pool, then passes the rest on.
    let call = PHDCoin::deploy_builder(
        provider.clone(),
        deployer,
        delay,
        deployer,
        config.initial_supply,
        cap,
    );
    let (tx, _) = send_call(&ctx, "deploy PHDCoin", &call).await?;
    let coin = tx
        .contract_address
        .ok_or(DeployError::NoContractAddress("PHDCoin"))?;
    let deployed_at_block = tx.block_number;
    txs.push(tx);

    let call = KeeperRegistry::deploy_builder(
        provider.clone(),
        deployer,
        coin,
        config.min_stake,
        config.unbonding_delay,
    );
    let (tx, _) = send_call(&ctx, "deploy KeeperRegistry", &call).await?;
    let keeper_registry = tx
        .contract_address
        .ok_or(DeployError::NoContractAddress("KeeperRegistry"))?;
    txs.push(tx);

    let call = DataRegistry::deploy_builder(
        provider.clone(),
        coin,
        keeper_registry,
        config.certification_reward,
        config.min_score_bps,
        config.min_certifications,
        config.listing_bond,
    );
    let (tx, _) = send_call(&ctx, "deploy DataRegistry", &call).await?;
    let data_registry = tx
        .contract_address
        .ok_or(DeployError::NoContractAddress("DataRegistry"))?;
    txs.push(tx);

    let call = Marketplace::deploy_builder(
        provider.clone(),
        coin,
        data_registry,
        config.keeper_fee_bps,
        config.delivery_window,
        config.confirmation_window,
        config.delivery_fee,
    );
    let (tx, _) = send_call(&ctx, "deploy Marketplace", &call).await?;
    let marketplace = tx
        .contract_address
        .ok_or(DeployError::NoContractAddress("Marketplace"))?;
    txs.push(tx);

    let call = SeriesMarket::deploy_builder(
        provider.clone(),
        coin,
        keeper_registry,
        config.keeper_fee_bps,
        config.release_window,
    );
    let (tx, _) = send_call(&ctx, "deploy SeriesMarket", &call).await?;
    let series_market = tx
        .contract_address
        .ok_or(DeployError::NoContractAddress("SeriesMarket"))?;
    txs.push(tx);

    // Same independence rules and thresholds as the datasets' certificates.
    let call = SeriesCertification::deploy_builder(
        provider.clone(),
        series_market,
        config.min_score_bps,
        config.min_certifications,
    );
    let (tx, _) = send_call(&ctx, "deploy SeriesCertification", &call).await?;
    let series_certification = tx
        .contract_address
        .ok_or(DeployError::NoContractAddress("SeriesCertification"))?;
    txs.push(tx);

    // Without it no slash works and no validator grant is recognised.
    let registry = KeeperRegistry::new(keeper_registry, provider.clone());
    let call = registry.setMarketplace(marketplace);
    txs.push(send_call(&ctx, "setMarketplace", &call).await?.0);
    // The second slasher: without it a proven bad series release cannot be slashed and the
    // dispute reverts (SeriesMarketNotSlashable / KeeperRegistryNotMarketplace).
    let call = registry.setSeriesMarket(series_market);
    txs.push(send_call(&ctx, "setSeriesMarket", &call).await?.0);

    let coin_i = PHDCoin::new(coin, provider.clone());
    if !config.reward_budget.is_zero() {
        let call = coin_i.approve(data_registry, config.reward_budget);
        txs.push(send_call(&ctx, "approve rewards", &call).await?.0);
        let registry = DataRegistry::new(data_registry, provider.clone());
        let call = registry.fundRewards(config.reward_budget);
        txs.push(send_call(&ctx, "fundRewards", &call).await?.0);
    }
    let rest = config.initial_supply.saturating_sub(config.reward_budget);
    if holder != deployer && !rest.is_zero() {
        let call = coin_i.transfer(holder, rest);
        txs.push(send_call(&ctx, "transfer supply", &call).await?.0);
    }

    if let Some(admin) = config.admin.filter(|a| *a != deployer) {
        let call = coin_i.beginDefaultAdminTransfer(admin);
        txs.push(send_call(&ctx, "beginDefaultAdminTransfer", &call).await?.0);
        let call = registry.transferOwnership(admin);
        txs.push(send_call(&ctx, "transferOwnership", &call).await?.0);
    }

    let mut deployment = Deployment {
        chain_id,
        coin,
        keeper_registry,
        data_registry,
        marketplace,
        series_market,
        series_certification,
        deployed_at_block,
        deployer,
        params: Some(DeploymentParams {
            keeper_fee_bps: config.keeper_fee_bps,
            delivery_window: config.delivery_window,
            confirmation_window: config.confirmation_window,
            certification_reward: config.certification_reward,
            delivery_fee: config.delivery_fee,
            min_stake: config.min_stake,
            unbonding_delay: config.unbonding_delay,
            min_score_bps: config.min_score_bps,
            min_certifications: config.min_certifications,
            reward_budget: config.reward_budget,
            release_window: config.release_window,
            listing_bond: config.listing_bond,
        }),
        code_hashes: Default::default(),
    };
    for kind in ContractKind::ALL {
        let code = provider
            .get_code_at(deployment.address_of(kind))
            .await
            .map_err(|e| ChainError::from_transport("getCode", rpc_url, e))?;
        if let Some(h) = kind.artifact()?.masked_hash(&code) {
            deployment.code_hashes.insert(kind.name().to_owned(), h);
        }
    }
    Ok((deployment, txs))
}
