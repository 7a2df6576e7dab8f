//! phd-deploy: deploys PHDCoin, KeeperRegistry, DataRegistry and Marketplace from the committed
//! artifacts, wires them (MINTER_ROLE → DataRegistry) and records the addresses.
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
    bindings::{DataRegistry, KeeperRegistry, Marketplace, PHDCoin},
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
    /// PHD wei minted to an owner on first certification (default 10 PHD).
    pub certification_reward: U256,
    /// PHD wei minted at deployment (default 1 000 000 PHD).
    pub initial_supply: U256,
    /// Receiver of the initial supply (default: the deployer).
    pub initial_holder: Option<Address>,
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
        }
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
    let deployer = signer.address();
    let provider = phd_chain::signing_provider(rpc_url, signer, None)?;
    let chain_id = provider.get_chain_id().await.map_err(|e| ChainError::from_transport("connect", rpc_url, e))?;

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

    let (deployment, transactions) = deploy_fresh(&provider, rpc_url, deployer, chain_id, config).await?;
    if let Some(path) = out {
        deployment.save(path)?;
    }
    Ok(DeployOutcome { deployment, reused: false, path: out.map(Path::to_owned), transactions })
}

/// Whether every address of `deployment` holds the committed artifact's runtime code.
pub async fn matches_artifacts(provider: &DynProvider, rpc_url: &str, deployment: &Deployment) -> Result<bool, ChainError> {
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

/// Deploys the four contracts and grants MINTER_ROLE to the DataRegistry.
pub async fn deploy_fresh(
    provider: &DynProvider,
    rpc_url: &str,
    deployer: Address,
    chain_id: u64,
    config: &DeployConfig,
) -> Result<(Deployment, Vec<TxOutcome>), DeployError> {
    let ctx = phd_chain::SendCtx { url: rpc_url, from: deployer, timeout: Duration::from_secs(120) };
    let mut txs = Vec::new();
    let holder = config.initial_holder.unwrap_or(deployer);

    let call = PHDCoin::deploy_builder(provider.clone(), deployer, holder, config.initial_supply);
    let (tx, _) = send_call(&ctx, "deploy PHDCoin", &call).await?;
    let coin = tx.contract_address.ok_or(DeployError::NoContractAddress("PHDCoin"))?;
    let deployed_at_block = tx.block_number;
    txs.push(tx);

    let call = KeeperRegistry::deploy_builder(provider.clone(), deployer);
    let (tx, _) = send_call(&ctx, "deploy KeeperRegistry", &call).await?;
    let keeper_registry = tx.contract_address.ok_or(DeployError::NoContractAddress("KeeperRegistry"))?;
    txs.push(tx);

    let call = DataRegistry::deploy_builder(provider.clone(), coin, keeper_registry, config.certification_reward);
    let (tx, _) = send_call(&ctx, "deploy DataRegistry", &call).await?;
    let data_registry = tx.contract_address.ok_or(DeployError::NoContractAddress("DataRegistry"))?;
    txs.push(tx);

    let call = Marketplace::deploy_builder(
        provider.clone(),
        coin,
        data_registry,
        config.keeper_fee_bps,
        config.delivery_window,
        config.confirmation_window,
    );
    let (tx, _) = send_call(&ctx, "deploy Marketplace", &call).await?;
    let marketplace = tx.contract_address.ok_or(DeployError::NoContractAddress("Marketplace"))?;
    txs.push(tx);

    let coin_i = PHDCoin::new(coin, provider.clone());
    let minter = coin_i
        .MINTER_ROLE()
        .call()
        .await
        .map_err(|e| ChainError::from_contract("MINTER_ROLE", rpc_url, e))?;
    let call = coin_i.grantRole(minter, data_registry);
    let (tx, _) = send_call(&ctx, "grantRole MINTER_ROLE", &call).await?;
    txs.push(tx);

    let mut deployment = Deployment {
        chain_id,
        coin,
        keeper_registry,
        data_registry,
        marketplace,
        deployed_at_block,
        deployer,
        params: Some(DeploymentParams {
            keeper_fee_bps: config.keeper_fee_bps,
            delivery_window: config.delivery_window,
            confirmation_window: config.confirmation_window,
            certification_reward: config.certification_reward,
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
