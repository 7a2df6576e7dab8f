//! phd-cli: flag groups and helpers shared by the PHD exchange command-line programs.
//!
//! Flatten the groups into a clap `Parser` (`#[command(flatten)] rpc: RpcArgs`); every flag has
//! an environment fallback. [`parse`] adds `--devnet`, which fills unset flags from the env file of
//! a local devnet (see [`env`]). Also here: the shutdown signal and exit reporter of every binary
//! ([`process`]) and the one writer of crash-safe and private files ([`fs`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![allow(clippy::result_large_err)] // CliError wraps ChainError (see phd-chain)

use std::path::PathBuf;

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use clap::Args;
use phd_chain::{ChainError, Deployment, PhdClient};
use serde::Serialize;

pub use phd_chain::{format_phd as fmt_phd, format_phd_unit as fmt_phd_unit};

pub mod env;
pub mod fs;
mod process;
mod progress;
pub use env::{env_var, parse, parse_as, parse_as_roles, read_env_file, role_secrets_file};
pub use process::{exit_with, report, shutdown_signal};
pub use progress::Progress;

/// Errors of the shared CLI pieces.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Chain access failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// No signing key was given.
    #[error("no account: pass --private-key (PHD_PRIVATE_KEY) or --keystore (PHD_KEYSTORE)")]
    NoWallet,
    /// A keystore needs a password.
    #[error("keystore {0} needs a password: pass --password-file or set PHD_KEYSTORE_PASSWORD")]
    NoPassword(PathBuf),
    /// Reading a file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Decrypting a keystore failed.
    #[error("decrypting keystore {path}: {reason}")]
    Keystore {
        /// File.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// No deployment file for the chain.
    #[error(
        "no deployment for chain {chain_id} at {path}: run phd-deploy, or pass --deployment (PHD_DEPLOYMENT)"
    )]
    NoDeployment {
        /// Chain id.
        chain_id: u64,
        /// Where we looked.
        path: PathBuf,
    },
    /// Logging could not be set up.
    #[error("setting up logging: {0}")]
    Tracing(String),
    /// `--devnet` was given but no `.devnet/env` exists from here up.
    #[error(
        "--devnet: no .devnet/env in {from} or above (run `phd-devnet up` there, or set PHD_DEVNET_ENV)"
    )]
    NoDevnetEnv {
        /// Where the search started.
        from: PathBuf,
    },
    /// The env file could have been written or read by someone else.
    #[error("refusing env file {path}: {reason}")]
    UnsafeEnvFile {
        /// File.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// Neither a wallet flag nor the role's key variable was given.
    #[error(
        "no account: pass --private-key (PHD_PRIVATE_KEY) or --keystore (PHD_KEYSTORE), or set {var} (with --devnet, from the devnet env file)"
    )]
    NoRoleKey {
        /// The role's key variable.
        var: &'static str,
    },
    /// A malformed line in an env file.
    #[error("{path}:{line}: expected KEY=VALUE")]
    EnvSyntax {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// JSON output failed.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Which node and which deployment.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// Ethereum JSON-RPC endpoint.
    #[arg(
        long,
        env = "PHD_RPC_URL",
        default_value = "http://127.0.0.1:8545",
        global = true
    )]
    pub rpc_url: String,
    /// Deployment file (default: deploy/deployments/<chainId>.json of the repository).
    #[arg(long, env = "PHD_DEPLOYMENT", global = true)]
    pub deployment: Option<PathBuf>,
}

impl RpcArgs {
    /// The deployment: `--deployment`, else `deploy/deployments/<chainId>.json` for the node's chain.
    pub async fn load_deployment(&self) -> Result<Deployment, CliError> {
        if let Some(p) = &self.deployment {
            return Ok(Deployment::load(p)?);
        }
        let chain_id = chain_id(&self.rpc_url).await?;
        let path = Deployment::default_path(chain_id);
        if !path.is_file() {
            return Err(CliError::NoDeployment { chain_id, path });
        }
        Ok(Deployment::load(path)?)
    }

    /// Connects a client signing as `signer`, checking the contracts exist.
    pub async fn connect(&self, signer: PrivateKeySigner) -> Result<PhdClient, CliError> {
        let deployment = self.load_deployment().await?;
        let client = PhdClient::connect(&self.rpc_url, signer, deployment).await?;
        client.check_code().await?;
        Ok(client)
    }
}

/// Chain id reported by the node at `rpc_url`.
pub async fn chain_id(rpc_url: &str) -> Result<u64, CliError> {
    use alloy::providers::{Provider, ProviderBuilder};
    let url = rpc_url
        .parse()
        .map_err(|e| ChainError::InvalidInput(format!("invalid RPC URL {rpc_url:?}: {e}")))?;
    let provider = ProviderBuilder::new().connect_http(url);
    Ok(provider
        .get_chain_id()
        .await
        .map_err(|e| ChainError::from_transport("eth_chainId", rpc_url, e))?)
}

/// Which account signs.
#[derive(Debug, Clone, Args)]
pub struct WalletArgs {
    /// Hex private key.
    #[arg(
        long,
        env = "PHD_PRIVATE_KEY",
        hide_env_values = true,
        conflicts_with = "keystore",
        global = true
    )]
    pub private_key: Option<String>,
    /// Encrypted JSON keystore (Web3 Secret Storage).
    #[arg(long, env = "PHD_KEYSTORE", global = true)]
    pub keystore: Option<PathBuf>,
    /// File holding the keystore password.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// Keystore password (prefer --password-file).
    #[arg(
        long = "password",
        env = "PHD_KEYSTORE_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub password: Option<String>,
}

impl WalletArgs {
    /// Whether any key source was given.
    pub fn is_set(&self) -> bool {
        self.private_key.is_some() || self.keystore.is_some()
    }

    /// The signer from the flags, else from the role's key variable `var` (the devnet writes one
    /// per role, e.g. `PHD_USER_PRIVATE_KEY`), looked up in the environment and the env file.
    pub fn signer_or_env(&self, var: &'static str) -> Result<PrivateKeySigner, CliError> {
        if self.is_set() {
            return self.signer();
        }
        match env_var(var) {
            Some(k) => Ok(phd_chain::signer_from_hex(&k)?),
            None => Err(CliError::NoRoleKey { var }),
        }
    }

    /// The signer from `--private-key` or `--keystore`.
    pub fn signer(&self) -> Result<PrivateKeySigner, CliError> {
        if let Some(k) = &self.private_key {
            return Ok(phd_chain::signer_from_hex(k)?);
        }
        let Some(path) = &self.keystore else {
            return Err(CliError::NoWallet);
        };
        let password = match (&self.password_file, &self.password) {
            (Some(f), _) => std::fs::read_to_string(f)
                .map_err(|source| CliError::Read {
                    path: f.clone(),
                    source,
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, Some(p)) => p.clone(),
            (None, None) => return Err(CliError::NoPassword(path.clone())),
        };
        PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| CliError::Keystore {
            path: path.clone(),
            reason: e.to_string(),
        })
    }
}

/// S3-compatible storage settings (the storage crate consumes them).
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// Endpoint URL (MinIO, the devnet's embedded S3); AWS when unset.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    pub s3_endpoint: Option<String>,
    /// Region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,
    /// Bucket.
    #[arg(long, env = "PHD_S3_BUCKET", global = true)]
    pub s3_bucket: Option<String>,
    /// Access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true, global = true)]
    pub s3_access_key: Option<String>,
    /// Secret access key.
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub s3_secret_key: Option<String>,
    /// Path-style addressing (MinIO).
    #[arg(long, env = "AWS_S3_FORCE_PATH_STYLE", global = true)]
    pub s3_path_style: bool,
}

impl S3Args {
    /// `(endpoint, region, bucket, access_key, secret_key, path_style)`.
    #[allow(clippy::type_complexity)]
    pub fn parts(
        &self,
    ) -> (
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
    ) {
        (
            self.s3_endpoint.clone(),
            self.s3_region.clone(),
            self.s3_bucket.clone(),
            self.s3_access_key.clone(),
            self.s3_secret_key.clone(),
            self.s3_path_style,
        )
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

impl OutputArgs {
    /// Prints `value` as pretty JSON with `--json`, else the text `human()` returns.
    pub fn emit<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> Result<(), CliError> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            println!("{}", human());
        }
        Ok(())
    }
}

/// Logs to stderr; `RUST_LOG` wins, else `verbosity` (0 warn, 1 info, 2 debug, 3+ trace) for our
/// crates. Safe to call twice (the second call does nothing).
pub fn init_tracing(verbosity: u8) {
    use tracing_subscriber::{EnvFilter, fmt};
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("warn,phd={level},phd_chain={level},phd_deploy={level},phd_cli={level},phd_keeper={level},phd_user={level},phd_customer={level},phd_validator={level},phd_devnet={level}")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Parses a decimal PHD amount (`12.5`) into wei.
pub fn parse_phd(s: &str) -> Result<U256, ChainError> {
    phd_chain::parse_phd(s)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        rpc: RpcArgs,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        s3: S3Args,
        #[command(flatten)]
        out: OutputArgs,
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "x",
            "--rpc-url",
            "http://h:1",
            "--private-key",
            "0x0101010101010101010101010101010101010101010101010101010101010101",
            "--s3-bucket",
            "b",
            "--s3-path-style",
            "--json",
        ]);
        assert!(cli.is_ok(), "{cli:?}");
        if let Ok(cli) = cli {
            assert_eq!(cli.rpc.rpc_url, "http://h:1");
            assert!(cli.wallet.signer().is_ok());
            assert_eq!(cli.s3.parts().2.as_deref(), Some("b"));
            assert!(cli.s3.parts().5);
            assert!(cli.out.json);
        }
    }

    #[test]
    fn amounts() {
        assert_eq!(fmt_phd(parse_phd("12.5").unwrap_or_default()), "12.5");
    }
}
