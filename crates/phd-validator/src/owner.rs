//! Owner-side helpers (`phd-user publish --validate`): ask a validator to certify a dataset
//! (a zero-price grant with purpose validation) and wait for the certificate.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use phd_chain::{BlockRange, PhdClient, PurchaseStatus, Purpose};
use phd_protocol::PurchaseId;
use serde::{Deserialize, Serialize};

use crate::api::Health;
use crate::error::{Result, ValidatorError};

/// What [`request_validation`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedValidation {
    pub dataset_id: u64,
    /// The validator's account.
    pub validator: Address,
    /// The grant (a purchase of price zero).
    pub purchase_id: u64,
    /// Grant transaction; `None` when an earlier, still valid grant was reused.
    pub tx_hash: Option<String>,
    /// Model id the validator announced.
    pub model_id: String,
}

/// A certificate as stored on-chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationInfo {
    pub dataset_id: u64,
    pub validator: Address,
    pub score_bps: u16,
    pub certified_at: u64,
    /// bytes32 0x-hex.
    pub model_id: String,
    /// keccak256 of the report bytes, 0x-hex.
    pub report_hash: String,
    pub report_uri: String,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// `GET <endpoint>/health` of a validator.
pub async fn fetch_health(endpoint: &str) -> Result<Health> {
    let url = format!("{}/health", endpoint.trim_end_matches('/'));
    let err = |reason: String| ValidatorError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let resp = http()
        .get(&url)
        .send()
        .await
        .map_err(|e| err(format!("GET /health: {e}")))?;
    if !resp.status().is_success() {
        return Err(err(format!("GET /health answered {}", resp.status())));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| err(format!("GET /health: {e}")))?;
    serde_json::from_slice(&body).map_err(|e| {
        err(format!(
            "GET /health: not a validator health document ({e})"
        ))
    })
}

/// `GET <endpoint>/reports/<dataset_id>`: the exact report bytes, `None` when there is none (yet).
pub async fn fetch_report(endpoint: &str, dataset_id: u64) -> Result<Option<Vec<u8>>> {
    let url = format!("{}/reports/{dataset_id}", endpoint.trim_end_matches('/'));
    let err = |reason: String| ValidatorError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let resp = http()
        .get(&url)
        .send()
        .await
        .map_err(|e| err(format!("GET /reports/{dataset_id}: {e}")))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !resp.status().is_success() {
        return Err(err(format!(
            "GET /reports/{dataset_id} answered {}",
            resp.status()
        )));
    }
    Ok(Some(
        resp.bytes()
            .await
            .map_err(|e| err(format!("GET /reports/{dataset_id}: {e}")))?
            .to_vec(),
    ))
}

/// Checks the validator behind `validator_endpoint` and grants it access to `dataset_id`
/// (`grant(datasetId, validator, accountPubKey, PURPOSE_VALIDATION)`), signed by `client`
/// (the dataset owner). Checks, in order: `/health` answers on the client's chain; the announced
/// 64-byte account key hashes to the announced address; that address `isValidator` on-chain.
/// An earlier grant to the same validator that is open or settled is reused (no second grant).
pub async fn request_validation(
    client: &PhdClient,
    dataset_id: u64,
    validator_endpoint: &str,
) -> Result<RequestedValidation> {
    let h = fetch_health(validator_endpoint).await?;
    let chain_id = client.deployment().chain_id;
    if h.chain_id != chain_id {
        return Err(ValidatorError::Endpoint {
            endpoint: validator_endpoint.to_owned(),
            reason: format!("serves chain {}, not {chain_id}", h.chain_id),
        });
    }
    let address: Address = h.address.parse().map_err(|e| ValidatorError::Endpoint {
        endpoint: validator_endpoint.to_owned(),
        reason: format!("address {:?} is not an address ({e})", h.address),
    })?;
    let not_validator = |reason: String| ValidatorError::NotAValidator {
        address: address.to_string(),
        reason,
    };
    let pk_hex = h.account_pubkey.trim_start_matches("0x");
    let pk = hex::decode(pk_hex).map_err(|_| not_validator("account_pubkey is not hex".into()))?;
    let pk: [u8; 64] = pk
        .as_slice()
        .try_into()
        .map_err(|_| not_validator(format!("account_pubkey is {} bytes, expected 64", pk.len())))?;
    let derived = phd_chain::address_of_pubkey64(&pk);
    if derived != address {
        return Err(not_validator(format!(
            "account_pubkey belongs to {derived}, not to the announced address"
        )));
    }
    let is_validator = client
        .keeper_registry()
        .isValidator(address)
        .call()
        .await
        .map_err(|e| {
            ValidatorError::chain(
                "KeeperRegistry.isValidator",
                phd_chain::ChainError::from_contract("isValidator", client.rpc_url(), e),
            )
        })?;
    if !is_validator {
        return Err(not_validator(
            "not registered as a validator in the KeeperRegistry".into(),
        ));
    }
    let did = U256::from(dataset_id);

    // reuse an open or settled grant to the same validator
    let earlier = client
        .grants(Some(did), Some(address), BlockRange::all())
        .await
        .map_err(|e| ValidatorError::chain("reading earlier grants", e))?;
    for g in earlier.iter().rev() {
        let p = client
            .get_purchase(g.event.purchaseId)
            .await
            .map_err(|e| ValidatorError::chain("reading an earlier grant", e))?;
        if matches!(
            PurchaseStatus::from(p.status),
            PurchaseStatus::Open | PurchaseStatus::Settled
        ) {
            let purchase_id = PurchaseId::new(g.event.purchaseId).to_u64()?;
            tracing::info!(dataset_id, purchase_id, validator = %address, "validation already requested; reusing the grant");
            return Ok(RequestedValidation {
                dataset_id,
                validator: address,
                purchase_id,
                tx_hash: None,
                model_id: h.model_id,
            });
        }
    }
    let out = client
        .grant(did, address, &pk, Purpose::Validation)
        .await
        .map_err(|e| {
            ValidatorError::chain(
                format!("granting dataset {dataset_id} to validator {address}"),
                e,
            )
        })?;
    let purchase_id = PurchaseId::new(out.purchase_id).to_u64()?;
    tracing::info!(dataset_id, purchase_id, validator = %address, tx = %out.tx.tx_hash, "validation requested");
    Ok(RequestedValidation {
        dataset_id,
        validator: address,
        purchase_id,
        tx_hash: Some(format!("{:#x}", out.tx.tx_hash)),
        model_id: h.model_id,
    })
}

/// The dataset's certificate, `None` when not certified.
pub async fn certification(
    client: &PhdClient,
    dataset_id: u64,
) -> Result<Option<CertificationInfo>> {
    let c = client
        .certification(U256::from(dataset_id))
        .await
        .map_err(|e| ValidatorError::chain("reading the certification", e))?;
    if c.validator == Address::ZERO {
        return Ok(None);
    }
    Ok(Some(CertificationInfo {
        dataset_id,
        validator: c.validator,
        score_bps: c.scoreBps,
        certified_at: c.certifiedAt,
        model_id: format!("{:#x}", c.modelId),
        report_hash: format!("{:#x}", c.reportHash),
        report_uri: c.reportUri,
    }))
}

/// Polls until the dataset is certified (by any validator) or `timeout` passes.
pub async fn wait_for_certification(
    client: &PhdClient,
    dataset_id: u64,
    timeout: Duration,
) -> Result<CertificationInfo> {
    let start = Instant::now();
    loop {
        match certification(client, dataset_id).await {
            Ok(Some(c)) => return Ok(c),
            Ok(None) => {}
            Err(e) if e.is_transient() => {
                tracing::debug!(error = %e, "reading the certification failed; retrying")
            }
            Err(e) => return Err(e),
        }
        if start.elapsed() >= timeout {
            return Err(ValidatorError::Timeout {
                what: format!("the certification of dataset {dataset_id}"),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
