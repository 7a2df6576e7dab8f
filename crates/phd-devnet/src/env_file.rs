//! The env file `<state>/env` (docs/PROTOCOL.md "Devnet environment file") that the CLIs read.

use std::fmt::Write as _;

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
            (
                "PHD_DEPLOYMENT".into(),
                self.deployment_path.display().to_string(),
            ),
            ("AWS_ENDPOINT_URL".into(), self.s3.endpoint.clone()),
            ("AWS_REGION".into(), self.s3.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.s3.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.s3.secret_access_key.clone(),
            ),
            ("AWS_S3_FORCE_PATH_STYLE".into(), "true".into()),
            ("PHD_S3_BUCKET".into(), self.s3.bucket.clone()),
            (
                "PHD_USER_PRIVATE_KEY".into(),
                signer_hex(&self.accounts.user),
            ),
            (
                "PHD_CUSTOMER_PRIVATE_KEY".into(),
                signer_hex(&self.accounts.customer),
            ),
            (
                "PHD_MANUFACTURER_PRIVATE_KEY".into(),
                signer_hex(&self.accounts.manufacturer),
            ),
            (
                "PHD_VALIDATOR_PRIVATE_KEY".into(),
                signer_hex(&self.accounts.validator),
            ),
            ("PHD_KEEPERS".into(), endpoints.join(",")),
            ("PHD_KEEPER_ADDRESSES".into(), addresses.join(",")),
            ("PHD_THRESHOLD".into(), self.threshold.to_string()),
            (
                "PHD_VALIDATOR_ADDRESS".into(),
                self.accounts.validator.address().to_string(),
            ),
            (
                "PHD_VALIDATOR_ENDPOINT".into(),
                self.validator_endpoint.clone().unwrap_or_default(),
            ),
            (
                "PHD_DEVNET_STATE_DIR".into(),
                self.state_dir.display().to_string(),
            ),
            // Every devnet keeper listens on 127.0.0.1: publish's one-keeper-per-host rule
            // would leave a single eligible keeper. Only this local stack relaxes it.
            ("PHD_ALLOW_SHARED_HOSTS".into(), "true".into()),
        ]
    }

    /// (Re)writes `<state>/env` (mode 0600: it holds dev private keys), atomically.
    pub fn write_env(&self) -> Result<(), DevnetError> {
        let mut text = String::from(
            "# Written by phd-devnet. A PHD CLI reads it only when asked: `--devnet`, or\n\
             # PHD_DEVNET_ENV=<this file>; flags and set variables win over it.\n\
             # Dev keys of a throw-away local chain only.\n",
        );
        for (k, v) in self.env_vars() {
            let _ = writeln!(text, "{k}={v}");
        }
        phd_cli::fs::write_atomic(
            &self.env_path,
            text.as_bytes(),
            phd_cli::fs::Access::OwnerOnly,
        )
        .map_err(DevnetError::io("writing", &self.env_path))
    }
}

fn signer_hex(s: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(s.to_bytes()))
}
