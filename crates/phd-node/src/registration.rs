//! Registration in the `KeeperRegistry`: register the node's role, encryption key and endpoint
//! with a stake and a proof of possession of the encryption key, update key/endpoint when they
//! changed (with a fresh proof), leave them alone when they did not. Transient chain failures
//! (the node is still starting, the RPC endpoint hiccups) are retried with backoff.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use phd_chain::NodeRole;
use phd_keys::EncryptionSecretKey;

use crate::{RegisterError, RegisterStep};

/// Longest endpoint the registry accepts.
const MAX_ENDPOINT: usize = 256;
/// Attempts per registration before a transient failure is returned.
const ATTEMPTS: u32 = 6;
/// First retry delay; doubled after every attempt.
const FIRST_DELAY: Duration = Duration::from_millis(200);

/// What [`ensure_registered`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Newly registered.
    Registered(B256),
    /// Key and/or endpoint updated.
    Updated(B256),
    /// Already registered with this role, key and endpoint.
    Unchanged,
}

/// A node as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryNode {
    /// On-chain role id (0 none, 1 keeper, 2 validator).
    pub role: u8,
    /// Registered 33-byte compressed encryption key.
    pub encryption_key: Vec<u8>,
    /// Registered endpoint.
    pub endpoint: String,
}

/// The registry calls registration needs, acting as the node's own account.
#[async_trait::async_trait]
pub trait RegistryAccess: Send + Sync {
    /// The role's chain error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The node's account.
    fn account(&self) -> Address;
    /// `KeeperRegistry.node(account)`.
    async fn node(&self) -> Result<RegistryNode, Self::Error>;
    /// `KeeperRegistry.keyProofDigest(account)`: what the encryption key signs.
    async fn key_proof_digest(&self) -> Result<B256, Self::Error>;
    /// `KeeperRegistry.MIN_STAKE()`.
    async fn min_stake(&self) -> Result<U256, Self::Error>;
    /// `PHD.approve(registry, stake)` (when the allowance is short), then
    /// `KeeperRegistry.register(role, key, endpoint, stake, keyProof)`, mined.
    async fn register(
        &self,
        role: NodeRole,
        encryption_key: &[u8; 33],
        endpoint: &str,
        stake: U256,
        key_proof: &[u8],
    ) -> Result<B256, Self::Error>;
    /// `KeeperRegistry.update(key, endpoint, keyProof)`, mined.
    async fn update(
        &self,
        encryption_key: &[u8; 33],
        endpoint: &str,
        key_proof: &[u8],
    ) -> Result<B256, Self::Error>;
    /// Whether the same call may succeed later (transport trouble, not a revert).
    fn is_transient(&self, error: &Self::Error) -> bool;
}

/// Makes the registry hold `role`, the public half of `encryption_key` and `endpoint` for the
/// node's account. A new registration bonds `stake` PHD wei (default: the registry's
/// `MIN_STAKE()`); registering and updating carry a signature by `encryption_key` over the
/// registry's `keyProofDigest(account)`, so only the holder of the key can register it.
pub async fn ensure_registered<R: RegistryAccess + ?Sized>(
    registry: &R,
    role: NodeRole,
    encryption_key: &EncryptionSecretKey,
    endpoint: &str,
    stake: Option<U256>,
) -> Result<Registration, RegisterError<R::Error>> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT {
        return Err(RegisterError::InvalidEndpoint {
            len: endpoint.len(),
        });
    }
    let mut delay = FIRST_DELAY;
    let mut attempt = 1u32;
    loop {
        match once(registry, role, encryption_key, endpoint, stake).await {
            Err(RegisterError::Chain { step, source })
                if attempt < ATTEMPTS && registry.is_transient(&source) =>
            {
                tracing::warn!(op = step.call(), error = %source, attempt, "registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The registry's key proof for this account, signed with the encryption key.
async fn key_proof<R: RegistryAccess + ?Sized>(
    registry: &R,
    encryption_key: &EncryptionSecretKey,
) -> Result<alloy::primitives::Bytes, RegisterError<R::Error>> {
    let digest = registry
        .key_proof_digest()
        .await
        .map_err(|source| RegisterError::Chain {
            step: RegisterStep::KeyProofDigest,
            source,
        })?;
    let secret = encryption_key.to_bytes();
    phd_chain::sign_key_proof(&secret, digest).map_err(|e| RegisterError::KeyProof {
        reason: e.to_string(),
    })
}

async fn once<R: RegistryAccess + ?Sized>(
    registry: &R,
    role: NodeRole,
    encryption_key: &EncryptionSecretKey,
    endpoint: &str,
    stake: Option<U256>,
) -> Result<Registration, RegisterError<R::Error>> {
    let chain = |step| move |source| RegisterError::Chain { step, source };
    let public = encryption_key.public_key_compressed();
    let node = registry
        .node()
        .await
        .map_err(chain(RegisterStep::ReadNode))?;
    let out = match NodeRole::from_id(node.role) {
        Some(NodeRole::None) => {
            let minimum = registry
                .min_stake()
                .await
                .map_err(chain(RegisterStep::MinStake))?;
            let stake = stake.unwrap_or(minimum);
            // Refused here with both numbers rather than as a revert after an approval.
            if stake < minimum {
                return Err(RegisterError::StakeTooLow { stake, minimum });
            }
            let proof = key_proof(registry, encryption_key).await?;
            Registration::Registered(
                registry
                    .register(role, &public, endpoint, stake, &proof)
                    .await
                    .map_err(chain(RegisterStep::Register))?,
            )
        }
        Some(r)
            if r == role
                && node.encryption_key == public.as_slice()
                && node.endpoint == endpoint =>
        {
            Registration::Unchanged
        }
        Some(r) if r == role => {
            let proof = key_proof(registry, encryption_key).await?;
            Registration::Updated(
                registry
                    .update(&public, endpoint, &proof)
                    .await
                    .map_err(chain(RegisterStep::Update))?,
            )
        }
        _ => {
            return Err(RegisterError::WrongRole {
                address: registry.account(),
                role: node.role,
            });
        }
    };
    tracing::info!(address = %registry.account(), role = ?role, endpoint, outcome = ?out, "registration checked");
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Fail(&'static str);

    #[derive(Default)]
    struct Mock {
        node: Mutex<Option<RegistryNode>>,
        transient_failures: Mutex<u32>,
        calls: Mutex<Vec<&'static str>>,
        /// (stake, proof) of each register/update.
        proofs: Mutex<Vec<(U256, Vec<u8>)>>,
    }

    const DIGEST: B256 = B256::repeat_byte(0x5a);

    #[async_trait::async_trait]
    impl RegistryAccess for Mock {
        type Error = Fail;
        fn account(&self) -> Address {
            Address::repeat_byte(7)
        }
        async fn node(&self) -> Result<RegistryNode, Fail> {
            let mut left = self.transient_failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(Fail("rpc down"));
            }
            Ok(self.node.lock().unwrap().clone().unwrap_or(RegistryNode {
                role: 0,
                encryption_key: vec![],
                endpoint: String::new(),
            }))
        }
        async fn key_proof_digest(&self) -> Result<B256, Fail> {
            Ok(DIGEST)
        }
        async fn min_stake(&self) -> Result<U256, Fail> {
            Ok(U256::from(100))
        }
        async fn register(
            &self,
            role: NodeRole,
            key: &[u8; 33],
            endpoint: &str,
            stake: U256,
            proof: &[u8],
        ) -> Result<B256, Fail> {
            self.calls.lock().unwrap().push("register");
            self.proofs.lock().unwrap().push((stake, proof.to_vec()));
            *self.node.lock().unwrap() = Some(RegistryNode {
                role: role as u8,
                encryption_key: key.to_vec(),
                endpoint: endpoint.into(),
            });
            Ok(B256::repeat_byte(1))
        }
        async fn update(&self, key: &[u8; 33], endpoint: &str, proof: &[u8]) -> Result<B256, Fail> {
            self.calls.lock().unwrap().push("update");
            self.proofs
                .lock()
                .unwrap()
                .push((U256::ZERO, proof.to_vec()));
            let mut n = self.node.lock().unwrap();
            let role = n.as_ref().map_or(0, |n| n.role);
            *n = Some(RegistryNode {
                role,
                encryption_key: key.to_vec(),
                endpoint: endpoint.into(),
            });
            Ok(B256::repeat_byte(2))
        }
        fn is_transient(&self, e: &Fail) -> bool {
            e.0 == "rpc down"
        }
    }

    #[tokio::test]
    async fn registers_updates_and_leaves_alone() {
        let m = Mock {
            transient_failures: Mutex::new(2),
            ..Mock::default()
        };
        let key = EncryptionSecretKey::generate().unwrap();
        let r = ensure_registered(&m, NodeRole::Keeper, &key, "http://a", None)
            .await
            .unwrap();
        assert_eq!(r, Registration::Registered(B256::repeat_byte(1)));
        assert_eq!(
            m.node.lock().unwrap().as_ref().unwrap().encryption_key,
            key.public_key_compressed().to_vec()
        );
        assert_eq!(
            ensure_registered(&m, NodeRole::Keeper, &key, "http://a", None)
                .await
                .unwrap(),
            Registration::Unchanged
        );
        let r = ensure_registered(&m, NodeRole::Keeper, &key, "http://b", None)
            .await
            .unwrap();
        assert_eq!(r, Registration::Updated(B256::repeat_byte(2)));
        assert_eq!(*m.calls.lock().unwrap(), vec!["register", "update"]);
        let wrong = ensure_registered(&m, NodeRole::Validator, &key, "http://b", None).await;
        assert!(matches!(
            wrong,
            Err(RegisterError::WrongRole { role: 1, .. })
        ));

        // Registration staked the minimum; both proofs are signatures by the encryption key
        // over the registry's digest (what KeeperRegistry checks with ecrecover).
        let proofs = m.proofs.lock().unwrap().clone();
        assert_eq!(proofs[0].0, U256::from(100));
        let signer =
            alloy::signers::local::PrivateKeySigner::from_bytes(&B256::from(*key.to_bytes()))
                .unwrap();
        for (_, proof) in &proofs {
            let sig = alloy::primitives::Signature::try_from(proof.as_slice()).unwrap();
            assert_eq!(
                sig.recover_address_from_prehash(&DIGEST).unwrap(),
                signer.address()
            );
        }
    }

    #[tokio::test]
    async fn refuses_a_stake_below_the_minimum() {
        let m = Mock::default();
        let key = EncryptionSecretKey::generate().unwrap();
        let r =
            ensure_registered(&m, NodeRole::Keeper, &key, "http://a", Some(U256::from(99))).await;
        assert!(matches!(r, Err(RegisterError::StakeTooLow { .. })), "{r:?}");
        assert!(m.calls.lock().unwrap().is_empty());
        let r = ensure_registered(
            &m,
            NodeRole::Keeper,
            &key,
            "http://a",
            Some(U256::from(250)),
        )
        .await
        .unwrap();
        assert!(matches!(r, Registration::Registered(_)));
        assert_eq!(m.proofs.lock().unwrap()[0].0, U256::from(250));
    }

    #[tokio::test]
    async fn gives_up_and_checks_the_endpoint() {
        let m = Mock {
            transient_failures: Mutex::new(100),
            ..Mock::default()
        };
        let key = EncryptionSecretKey::generate().unwrap();
        let r = ensure_registered(&m, NodeRole::Validator, &key, "http://a", None).await;
        assert!(matches!(
            r,
            Err(RegisterError::Chain {
                step: RegisterStep::ReadNode,
                ..
            })
        ));
        assert_eq!(*m.transient_failures.lock().unwrap(), 100 - ATTEMPTS);
        let long = "x".repeat(257);
        assert!(matches!(
            ensure_registered(&m, NodeRole::Validator, &key, &long, None).await,
            Err(RegisterError::InvalidEndpoint { len: 257 })
        ));
    }
}
