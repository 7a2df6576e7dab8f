//! Registration in the `KeeperRegistry`: register the node's role, encryption key and endpoint,
//! update them when they changed, leave them alone when they did not. Transient chain failures
//! (the node is still starting, the RPC endpoint hiccups) are retried with backoff.

use std::time::Duration;

use alloy::primitives::{Address, B256};
use phd_chain::NodeRole;

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
    /// `KeeperRegistry.register(role, key, endpoint)`, mined.
    async fn register(&self, role: NodeRole, encryption_key: &[u8; 33], endpoint: &str) -> Result<B256, Self::Error>;
    /// `KeeperRegistry.update(key, endpoint)`, mined.
    async fn update(&self, encryption_key: &[u8; 33], endpoint: &str) -> Result<B256, Self::Error>;
    /// Whether the same call may succeed later (transport trouble, not a revert).
    fn is_transient(&self, error: &Self::Error) -> bool;
}

/// Makes the registry hold `role`, `encryption_key` and `endpoint` for the node's account.
pub async fn ensure_registered<R: RegistryAccess + ?Sized>(
    registry: &R,
    role: NodeRole,
    encryption_key: &[u8; 33],
    endpoint: &str,
) -> Result<Registration, RegisterError<R::Error>> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT {
        return Err(RegisterError::InvalidEndpoint { len: endpoint.len() });
    }
    let mut delay = FIRST_DELAY;
    let mut attempt = 1u32;
    loop {
        match once(registry, role, encryption_key, endpoint).await {
            Err(RegisterError::Chain { step, source }) if attempt < ATTEMPTS && registry.is_transient(&source) => {
                tracing::warn!(op = step.call(), error = %source, attempt, "registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn once<R: RegistryAccess + ?Sized>(
    registry: &R,
    role: NodeRole,
    encryption_key: &[u8; 33],
    endpoint: &str,
) -> Result<Registration, RegisterError<R::Error>> {
    let chain = |step| move |source| RegisterError::Chain { step, source };
    let node = registry.node().await.map_err(chain(RegisterStep::ReadNode))?;
    let out = match NodeRole::from_id(node.role) {
        Some(NodeRole::None) => Registration::Registered(
            registry.register(role, encryption_key, endpoint).await.map_err(chain(RegisterStep::Register))?,
        ),
        Some(r) if r == role && node.encryption_key == encryption_key.as_slice() && node.endpoint == endpoint => {
            Registration::Unchanged
        }
        Some(r) if r == role => {
            Registration::Updated(registry.update(encryption_key, endpoint).await.map_err(chain(RegisterStep::Update))?)
        }
        _ => return Err(RegisterError::WrongRole { address: registry.account(), role: node.role }),
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
    }

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
            Ok(self.node.lock().unwrap().clone().unwrap_or(RegistryNode { role: 0, encryption_key: vec![], endpoint: String::new() }))
        }
        async fn register(&self, role: NodeRole, key: &[u8; 33], endpoint: &str) -> Result<B256, Fail> {
            self.calls.lock().unwrap().push("register");
            *self.node.lock().unwrap() = Some(RegistryNode { role: role as u8, encryption_key: key.to_vec(), endpoint: endpoint.into() });
            Ok(B256::repeat_byte(1))
        }
        async fn update(&self, key: &[u8; 33], endpoint: &str) -> Result<B256, Fail> {
            self.calls.lock().unwrap().push("update");
            let mut n = self.node.lock().unwrap();
            let role = n.as_ref().map_or(0, |n| n.role);
            *n = Some(RegistryNode { role, encryption_key: key.to_vec(), endpoint: endpoint.into() });
            Ok(B256::repeat_byte(2))
        }
        fn is_transient(&self, e: &Fail) -> bool {
            e.0 == "rpc down"
        }
    }

    #[tokio::test]
    async fn registers_updates_and_leaves_alone() {
        let m = Mock { transient_failures: Mutex::new(2), ..Mock::default() };
        let key = [3u8; 33];
        let r = ensure_registered(&m, NodeRole::Keeper, &key, "http://a").await.unwrap();
        assert_eq!(r, Registration::Registered(B256::repeat_byte(1)));
        assert_eq!(ensure_registered(&m, NodeRole::Keeper, &key, "http://a").await.unwrap(), Registration::Unchanged);
        let r = ensure_registered(&m, NodeRole::Keeper, &key, "http://b").await.unwrap();
        assert_eq!(r, Registration::Updated(B256::repeat_byte(2)));
        assert_eq!(*m.calls.lock().unwrap(), vec!["register", "update"]);
        let wrong = ensure_registered(&m, NodeRole::Validator, &key, "http://b").await;
        assert!(matches!(wrong, Err(RegisterError::WrongRole { role: 1, .. })));
    }

    #[tokio::test]
    async fn gives_up_and_checks_the_endpoint() {
        let m = Mock { transient_failures: Mutex::new(100), ..Mock::default() };
        let r = ensure_registered(&m, NodeRole::Validator, &[3u8; 33], "http://a").await;
        assert!(matches!(r, Err(RegisterError::Chain { step: RegisterStep::ReadNode, .. })));
        assert_eq!(*m.transient_failures.lock().unwrap(), 100 - ATTEMPTS);
        let long = "x".repeat(257);
        assert!(matches!(
            ensure_registered(&m, NodeRole::Validator, &[3u8; 33], &long).await,
            Err(RegisterError::InvalidEndpoint { len: 257 })
        ));
    }
}
