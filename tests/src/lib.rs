//! phd-e2e: helpers for end-to-end tests — a fresh anvil on a free port, the contracts deployed
//! with phd-deploy, and funded signers for every role.

use alloy::{
    node_bindings::AnvilInstance,
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::local::PrivateKeySigner,
};
use phd_chain::{
    AnvilSettings, ChainError, Deployment, NodeRole, PhdClient, PublishParams, Purpose,
    RoleSigners, phd, pubkey_compressed, random_compressed_point, spawn_anvil,
};
use phd_deploy::{DeployConfig, DeployOutcome};

/// PHD each of the user and the customer receive from the deployer at start.
pub const START_PHD: u64 = 1_000;

/// A running test chain with the contracts deployed.
#[derive(Debug)]
pub struct TestChain {
    /// The anvil process (killed on drop).
    pub anvil: AnvilInstance,
    /// Its settings.
    pub settings: AnvilSettings,
    /// RPC URL.
    pub rpc_url: String,
    /// Deployed contracts.
    pub deployment: Deployment,
    /// What the deployment did.
    pub deploy: DeployOutcome,
    /// Signers of every role.
    pub roles: RoleSigners,
    /// Configuration deployed with.
    pub config: DeployConfig,
}

impl TestChain {
    /// Starts anvil (settings from `anvil/devnet.json`, free port), deploys with the default
    /// configuration and gives the user and the customer [`START_PHD`] PHD each.
    pub async fn start() -> eyre::Result<Self> {
        Self::start_with(DeployConfig::default()).await
    }

    /// Like [`TestChain::start`] with a given deployment configuration.
    pub async fn start_with(config: DeployConfig) -> eyre::Result<Self> {
        let settings = AnvilSettings::load_default()?;
        let anvil = spawn_anvil(&settings, 0)?;
        let rpc_url = anvil.endpoint();
        let roles = settings.role_signers()?;
        let deploy =
            phd_deploy::deploy(&rpc_url, roles.deployer.clone(), &config, None, false).await?;
        let deployment = deploy.deployment.clone();
        let chain = Self {
            anvil,
            settings,
            rpc_url,
            deployment,
            deploy,
            roles,
            config,
        };
        let deployer = chain.client(&chain.roles.deployer).await?;
        for to in [chain.roles.user.address(), chain.roles.customer.address()] {
            deployer.transfer_coin(to, phd(START_PHD)).await?;
        }
        Ok(chain)
    }

    /// A client signing as `signer`.
    pub async fn client(&self, signer: &PrivateKeySigner) -> Result<PhdClient, ChainError> {
        PhdClient::connect(&self.rpc_url, signer.clone(), self.deployment.clone()).await
    }

    /// Client of the data owner.
    pub async fn user(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.roles.user).await
    }

    /// Client of the customer.
    pub async fn customer(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.roles.customer).await
    }

    /// Client of the deployer (coin admin, registry owner).
    pub async fn deployer(&self) -> Result<PhdClient, ChainError> {
        self.client(&self.roles.deployer).await
    }

    /// Clients of all keepers.
    pub async fn keepers(&self) -> Result<Vec<PhdClient>, ChainError> {
        let mut out = Vec::new();
        for k in &self.roles.keepers {
            out.push(self.client(k).await?);
        }
        Ok(out)
    }

    /// Registers every keeper (encryption key = its account key, endpoint
    /// `http://keeper-<i>.test`, the minimum stake given by the deployer) and the validator;
    /// approves the manufacturer.
    pub async fn register_nodes(&self) -> Result<(), ChainError> {
        for (i, k) in self.keepers().await?.iter().enumerate() {
            self.stake_and_register(
                k,
                NodeRole::Keeper,
                &format!("http://keeper-{i}.test"),
                None,
            )
            .await?;
        }
        let v = self.client(&self.roles.validator).await?;
        self.stake_and_register(&v, NodeRole::Validator, "http://validator.test", None)
            .await?;
        self.deployer()
            .await?
            .approve_manufacturer(self.roles.manufacturer.address(), "Acme Wearables")
            .await?;
        Ok(())
    }

    /// Funds `node` with `stake` PHD (default: the minimum stake) from the deployer and registers
    /// it with that stake, its account key as encryption key and the key proof.
    pub async fn stake_and_register(
        &self,
        node: &PhdClient,
        role: NodeRole,
        endpoint: &str,
        stake: Option<U256>,
    ) -> Result<(), ChainError> {
        stake_and_register(&self.deployer().await?, node, role, endpoint, stake).await
    }

    /// Moves chain time forward and mines a block.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), ChainError> {
        self.deployer().await?.increase_time(seconds).await
    }
}

/// `deployer` gives `node` `stake` PHD (default: the minimum stake); `node` registers with that
/// stake, its account key as encryption key, and the key proof over `keyProofDigest`.
pub async fn stake_and_register(
    deployer: &PhdClient,
    node: &PhdClient,
    role: NodeRole,
    endpoint: &str,
    stake: Option<U256>,
) -> Result<(), ChainError> {
    let stake = match stake {
        Some(s) => s,
        None => node.min_stake().await?,
    };
    deployer.transfer_coin(node.address(), stake).await?;
    let secret: [u8; 32] = node.signer().to_bytes().into();
    let proof = node.key_proof(&secret).await?;
    node.register_node(
        role,
        &pubkey_compressed(node.signer()),
        endpoint,
        stake,
        &proof,
    )
    .await?;
    Ok(())
}

/// `t` valid compressed secp256k1 points (stand-ins for Feldman commitments a_j·G).
pub fn random_commitments(t: u8) -> Vec<Bytes> {
    (0..t)
        .map(|_| Bytes::copy_from_slice(&random_compressed_point()))
        .collect()
}

/// Publish parameters for a sample dataset held by `keepers` with threshold `t`.
pub fn sample_params(
    keepers: &[Address],
    t: u8,
    price: U256,
    purposes: &[Purpose],
) -> PublishParams {
    let metadata = br#"{"v":1,"title":"wrist accelerometer, 3 days","data_type":"accelerometer","sampling_hz":50}"#;
    PublishParams {
        storage_uri: "s3://phd-test/datasets/sample.phd".into(),
        content_root: keccak256(b"content root"),
        metadata: Bytes::from_static(metadata),
        price,
        keepers: keepers.to_vec(),
        threshold: t,
        commitments: random_commitments(t),
        purposes: purposes.to_vec(),
        consent_terms_hash: B256::from(keccak256(b"consent terms v1")),
    }
}

/// Publishes a sample dataset as `owner` over the first `n` keepers with threshold `t`, and has
/// the first `acks` keepers acknowledge. Returns the dataset id.
pub async fn publish_sample(
    owner: &PhdClient,
    keepers: &[PhdClient],
    n: usize,
    t: u8,
    price: U256,
    purposes: &[Purpose],
    acks: usize,
) -> Result<U256, ChainError> {
    let addrs: Vec<Address> = keepers.iter().take(n).map(PhdClient::address).collect();
    let (_, id) = owner
        .publish(&sample_params(&addrs, t, price, purposes))
        .await?;
    for k in keepers.iter().take(acks) {
        k.acknowledge_share(id).await?;
    }
    Ok(id)
}
pub mod stack;
