//! The env files the CLIs read (docs/PROTOCOL.md "Devnet environment file"): `<state>/env`
//! with the shared public facts (RPC, deployment, endpoints, gateway URL), and one secrets file
//! per role in `<state>/secrets/<role>.env` that only that role's program reads
//! (`phd_cli::parse_as`): the owner its key, its bucket credentials and its gateway's access log, the gateway (run by the
//! owner) the bucket credentials, the buyer, the validator and the manufacturer their key, each
//! keeper its key and data directory. Every file is mode 0600.

use std::fmt::Write as _;
use std::path::PathBuf;

use alloy::signers::local::PrivateKeySigner;

use crate::{Devnet, DevnetError, KeeperHandle};

type Vars = Vec<(String, String)>;

impl Devnet {
    /// `KEY=VALUE` pairs of the shared env file: public facts only.
    pub fn env_vars(&self) -> Vars {
        let endpoints: Vec<&str> = self.keepers.iter().map(KeeperHandle::endpoint).collect();
        let addresses: Vec<String> = self.keepers.iter().map(|k| k.address.to_string()).collect();
        let mut v: Vars = vec![
            ("PHD_RPC_URL".into(), self.rpc_url.clone()),
            ("PHD_CHAIN_ID".into(), self.deployment.chain_id.to_string()),
            (
                "PHD_DEPLOYMENT".into(),
                self.deployment_path.display().to_string(),
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
        ];
        if let Some(g) = &self.gateway_url {
            v.push(("PHD_GATEWAY_URL".into(), g.clone()));
        }
        v
    }

    /// The owner's bucket and credentials (`AWS_*`, `PHD_S3_BUCKET`).
    fn storage_vars(&self) -> Vars {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.s3.endpoint.clone()),
            ("AWS_REGION".into(), self.s3.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.s3.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.s3.secret_access_key.clone(),
            ),
            ("AWS_S3_FORCE_PATH_STYLE".into(), "true".into()),
            ("PHD_S3_BUCKET".into(), self.s3.bucket.clone()),
        ]
    }

    /// Every role's secrets: `(role, vars)`; roles `user`, `gateway`, `customer`, `validator`,
    /// `manufacturer`, `keeper-<n>` (1-based).
    pub fn role_secrets(&self) -> Vec<(String, Vars)> {
        let key = |name: &str, s: &PrivateKeySigner| (name.to_owned(), signer_hex(s));
        // The owner runs the gateway: both read its access log (`phd-user sales`/`export`).
        let access_log = (
            "PHD_GATEWAY_ACCESS_LOG".to_owned(),
            self.state_dir
                .join("gateway/access.jsonl")
                .display()
                .to_string(),
        );
        let mut user = vec![key("PHD_USER_PRIVATE_KEY", &self.accounts.user)];
        user.extend(self.storage_vars());
        user.push(access_log.clone());
        let mut gateway = self.storage_vars();
        gateway.push(access_log);
        let mut out = vec![
            ("user".to_owned(), user),
            ("gateway".to_owned(), gateway),
            (
                "customer".to_owned(),
                vec![key("PHD_CUSTOMER_PRIVATE_KEY", &self.accounts.customer)],
            ),
            (
                "validator".to_owned(),
                vec![
                    key("PHD_VALIDATOR_PRIVATE_KEY", &self.accounts.validator),
                    (
                        "PHD_VALIDATOR_DATA_DIR".into(),
                        self.state_dir.join("validator").display().to_string(),
                    ),
                ],
            ),
            (
                "manufacturer".to_owned(),
                vec![key(
                    "PHD_MANUFACTURER_PRIVATE_KEY",
                    &self.accounts.manufacturer,
                )],
            ),
        ];
        for (k, s) in self.keepers.iter().zip(&self.accounts.keepers) {
            out.push((
                format!("keeper-{}", k.index + 1),
                vec![
                    key("PHD_PRIVATE_KEY", s),
                    (
                        "PHD_KEEPER_DATA_DIR".into(),
                        self.state_dir
                            .join("keepers")
                            .join(k.index.to_string())
                            .display()
                            .to_string(),
                    ),
                ],
            ));
        }
        out
    }

    /// The secrets of `role` (empty for an unknown role).
    pub fn role_vars(&self, role: &str) -> Vars {
        self.role_secrets()
            .into_iter()
            .find(|(r, _)| r == role)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    /// Directory of the role secrets files.
    pub fn secrets_dir(&self) -> PathBuf {
        phd_cli::role_secrets_file(&self.env_path, "x")
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default()
    }

    /// (Re)writes `<state>/env` and `<state>/secrets/<role>.env` (each mode 0600), atomically.
    pub fn write_env(&self) -> Result<(), DevnetError> {
        let header = "# Written by phd-devnet. A PHD CLI reads it only when asked: `--devnet`, or\n\
                      # PHD_DEVNET_ENV=<the shared env file>; flags and set variables win over it.\n";
        write_vars(
            &self.env_path,
            &format!(
                "{header}# Shared public facts only; each role's secrets are in secrets/<role>.env.\n"
            ),
            &self.env_vars(),
        )?;
        let dir = self.secrets_dir();
        std::fs::create_dir_all(&dir).map_err(DevnetError::io("creating", &dir))?;
        for (role, vars) in self.role_secrets() {
            let path = phd_cli::role_secrets_file(&self.env_path, &role);
            write_vars(
                &path,
                &format!(
                    "{header}# Secrets of the {role} role only. Dev keys of a throw-away local chain.\n"
                ),
                &vars,
            )?;
        }
        Ok(())
    }
}

fn write_vars(path: &std::path::Path, header: &str, vars: &Vars) -> Result<(), DevnetError> {
    let mut text = header.to_owned();
    for (k, v) in vars {
        let _ = writeln!(text, "{k}={v}");
    }
    phd_cli::fs::write_atomic(path, text.as_bytes(), phd_cli::fs::Access::OwnerOnly)
        .map_err(DevnetError::io("writing", path))
}

fn signer_hex(s: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(s.to_bytes()))
}
