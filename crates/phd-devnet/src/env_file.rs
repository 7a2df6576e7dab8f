//! The env file `<state>/env` (docs/PROTOCOL.md "Devnet environment file") that the CLIs read.

use std::fmt::Write as _;
use std::path::Path;

use alloy::signers::local::PrivateKeySigner;

use crate::{Devnet, DevnetError, KeeperHandle};

impl Devnet {
    /// `KEY=VALUE` pairs of the env file.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let endpoints: Vec<&str> = self.keepers.iter().map(KeeperHandle::endpoint).collect();
        let addresses: Vec<String> = self.keepers.iter().map(|k| k.address.to_string()).collect();
        vec![
            ("PHD_RPC_URL".into(), self.rpc_url.clone()),
            ("PHD_CHAIN_ID".into(), self.deployment.chain_id.to_string()),
            ("PHD_DEPLOYMENT".into(), self.deployment_path.display().to_string()),
            ("AWS_ENDPOINT_URL".into(), self.s3.endpoint.clone()),
            ("AWS_REGION".into(), self.s3.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.s3.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.s3.secret_access_key.clone()),
            ("AWS_S3_FORCE_PATH_STYLE".into(), "true".into()),
            ("PHD_S3_BUCKET".into(), self.s3.bucket.clone()),
            ("PHD_USER_PRIVATE_KEY".into(), signer_hex(&self.accounts.user)),
            ("PHD_CUSTOMER_PRIVATE_KEY".into(), signer_hex(&self.accounts.customer)),
            ("PHD_MANUFACTURER_PRIVATE_KEY".into(), signer_hex(&self.accounts.manufacturer)),
            ("PHD_VALIDATOR_PRIVATE_KEY".into(), signer_hex(&self.accounts.validator)),
            ("PHD_KEEPERS".into(), endpoints.join(",")),
            ("PHD_KEEPER_ADDRESSES".into(), addresses.join(",")),
            ("PHD_THRESHOLD".into(), self.threshold.to_string()),
            ("PHD_VALIDATOR_ADDRESS".into(), self.accounts.validator.address().to_string()),
            ("PHD_VALIDATOR_ENDPOINT".into(), self.validator_endpoint.clone().unwrap_or_default()),
            ("PHD_DEVNET_STATE_DIR".into(), self.state_dir.display().to_string()),
        ]
    }

    /// (Re)writes `<state>/env` (mode 0600: it holds dev private keys), atomically.
    pub fn write_env(&self) -> Result<(), DevnetError> {
        let mut text = String::from(
            "# Written by phd-devnet. Every PHD CLI reads this file when the variables are not set.\n\
             # Dev keys of a throw-away local chain only.\n",
        );
        for (k, v) in self.env_vars() {
            let _ = writeln!(text, "{k}={v}");
        }
        let tmp = self.env_path.with_extension("tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &self.env_path).map_err(DevnetError::io("writing", &self.env_path))
    }
}

fn signer_hex(s: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(s.to_bytes()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DevnetError> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(DevnetError::io("creating", path))?;
    f.write_all(bytes).map_err(DevnetError::io("writing", path))?;
    f.sync_all().map_err(DevnetError::io("syncing", path))
}
