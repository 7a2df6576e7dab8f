//! Local chain settings (`anvil/devnet.json`) and spawning anvil.

use std::path::{Path, PathBuf};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
};
use serde::{Deserialize, Serialize};

use crate::ChainError;
use alloy::signers::Signer as _;

/// Which anvil account index plays which role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleIndexes {
    /// Deploys the contracts; coin admin, registry owner.
    pub deployer: u32,
    /// Data owner.
    pub user: u32,
    /// Buyer.
    pub customer: u32,
    /// Key keepers.
    pub keepers: Vec<u32>,
    /// Quality validator.
    pub validator: u32,
    /// Device manufacturer.
    pub manufacturer: u32,
}

/// Settings of the local chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnvilSettings {
    /// Chain id.
    pub chain_id: u64,
    /// Mnemonic the dev accounts derive from.
    pub mnemonic: String,
    /// BIP-32 path prefix; the account index is appended.
    #[serde(default = "default_path")]
    pub derivation_path: String,
    /// Number of funded accounts.
    pub accounts: u32,
    /// Ether per account.
    pub balance_eth: u64,
    /// Seconds per block; 0 mines a block per transaction.
    pub block_time: u64,
    /// Role → account index.
    pub roles: RoleIndexes,
}

fn default_path() -> String {
    "m/44'/60'/0'/0/".into()
}

impl Default for AnvilSettings {
    fn default() -> Self {
        Self {
            chain_id: 31337,
            mnemonic: "test test test test test test test test test test test junk".into(),
            derivation_path: default_path(),
            accounts: 20,
            balance_eth: 10_000,
            block_time: 0,
            roles: RoleIndexes {
                deployer: 0,
                user: 1,
                customer: 2,
                keepers: vec![3, 4, 5, 6, 7],
                validator: 8,
                manufacturer: 9,
            },
        }
    }
}

/// Signers of every role.
#[derive(Debug, Clone)]
pub struct RoleSigners {
    /// Deployer.
    pub deployer: PrivateKeySigner,
    /// Data owner.
    pub user: PrivateKeySigner,
    /// Buyer.
    pub customer: PrivateKeySigner,
    /// Keepers.
    pub keepers: Vec<PrivateKeySigner>,
    /// Validator.
    pub validator: PrivateKeySigner,
    /// Manufacturer.
    pub manufacturer: PrivateKeySigner,
}

impl AnvilSettings {
    /// Reads settings from a JSON file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ChainError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Io {
            action: "reading anvil settings",
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ChainError::Json {
            action: "parsing anvil settings",
            path: path.to_owned(),
            source,
        })
    }

    /// `anvil/devnet.json` of the repository, or the built-in defaults when it cannot be found.
    pub fn load_default() -> Result<Self, ChainError> {
        match repo_root().map(|r| r.join("anvil").join("devnet.json")) {
            Some(p) if p.is_file() => Self::load(p),
            _ => Ok(Self::default()),
        }
    }

    /// The signer of account `index`.
    pub fn signer(&self, index: u32) -> Result<PrivateKeySigner, ChainError> {
        let path = format!("{}{index}", self.derivation_path);
        MnemonicBuilder::<English>::default()
            .phrase(self.mnemonic.as_str())
            .derivation_path(&path)
            .and_then(|b| b.build())
            .map(|s| s.with_chain_id(Some(self.chain_id)))
            .map_err(|e| ChainError::Key(format!("deriving account {index} ({path}): {e}")))
    }

    /// Signers of all roles.
    pub fn role_signers(&self) -> Result<RoleSigners, ChainError> {
        Ok(RoleSigners {
            deployer: self.signer(self.roles.deployer)?,
            user: self.signer(self.roles.user)?,
            customer: self.signer(self.roles.customer)?,
            keepers: self
                .roles
                .keepers
                .iter()
                .map(|&i| self.signer(i))
                .collect::<Result<_, _>>()?,
            validator: self.signer(self.roles.validator)?,
            manufacturer: self.signer(self.roles.manufacturer)?,
        })
    }
}

/// The repository root: `PHD_REPO_ROOT`, else the first ancestor of the current directory or of
/// this crate's source directory that holds `Cargo.toml` and `contracts/`.
pub fn repo_root() -> Option<PathBuf> {
    if let Some(r) = std::env::var_os("PHD_REPO_ROOT") {
        return Some(PathBuf::from(r));
    }
    let is_root = |d: &Path| d.join("Cargo.toml").is_file() && d.join("contracts").is_dir();
    let from_cwd = std::env::current_dir()
        .ok()
        .and_then(|c| c.ancestors().find(|d| is_root(d)).map(Path::to_path_buf));
    from_cwd.or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .find(|d| is_root(d))
            .map(Path::to_path_buf)
    })
}

/// The anvil binary: `PHD_ANVIL_BIN`, else the npm-pinned one under the repository, else `anvil`
/// from `PATH`.
pub fn anvil_bin() -> PathBuf {
    if let Some(b) = std::env::var_os("PHD_ANVIL_BIN") {
        return PathBuf::from(b);
    }
    repo_root()
        .map(|r| r.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("anvil"))
}

/// Starts anvil with `settings` on loopback `port` (0 picks a free port). The process is killed
/// when the returned instance is dropped.
pub fn spawn_anvil(settings: &AnvilSettings, port: u16) -> Result<AnvilInstance, ChainError> {
    let bin = anvil_bin();
    let mut anvil = Anvil::at(&bin)
        .port(port)
        .chain_id(settings.chain_id)
        .mnemonic(settings.mnemonic.clone())
        .arg("--accounts")
        .arg(settings.accounts.to_string())
        .arg("--balance")
        .arg(settings.balance_eth.to_string())
        .arg("--derivation-path")
        .arg(settings.derivation_path.clone())
        .timeout(20_000);
    if settings.block_time > 0 {
        anvil = anvil.block_time(settings.block_time);
    }
    anvil.try_spawn().map_err(|e| ChainError::Anvil {
        bin,
        reason: e.to_string(),
    })
}
