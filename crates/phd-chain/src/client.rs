//! A signing client for the four contracts.

use std::time::Duration;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::{Signer, local::PrivateKeySigner},
    sol_types::{Eip712Domain, SolStruct},
};
use serde::Serialize;

use crate::{
    ChainError,
    bindings::{
        coin::{PHDCoin, PHDCoin::PHDCoinInstance, Permit},
        data_registry::{DataRegistry, DataRegistry::DataRegistryInstance},
        keeper_registry::{KeeperRegistry, KeeperRegistry::KeeperRegistryInstance},
        marketplace::{Marketplace, Marketplace::MarketplaceInstance},
    },
    code::ContractKind,
    deployment::Deployment,
    keys::pubkey64,
    purpose::{NodeRole, Purpose},
    tx::{SendCtx, TxOutcome, require_event, send_call},
};

/// A dataset as stored on-chain.
pub type Dataset = crate::bindings::data_registry::IDataRegistry::Dataset;
/// A validator certificate.
pub type Certification = crate::bindings::data_registry::IDataRegistry::Certification;
/// A purchase or grant.
pub type Purchase = crate::bindings::marketplace::IMarketplace::Purchase;
/// A registered keeper or validator.
pub type Node = crate::bindings::keeper_registry::IKeeperRegistry::Node;

/// Everything the owner states when publishing (see `IDataRegistry.PublishParams`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishParams {
    /// Where the sealed object lives, e.g. `s3://bucket/key`.
    pub storage_uri: String,
    /// SHA-256 Merkle root over the sealed object's chunk hashes.
    pub content_root: B256,
    /// Metadata JSON (≤ 4096 bytes).
    pub metadata: Bytes,
    /// Price in PHD wei.
    pub price: U256,
    /// Keeper i holds share identifier i + 1.
    pub keepers: Vec<Address>,
    /// Shares needed.
    pub threshold: u8,
    /// Feldman commitments, `threshold` compressed points.
    pub commitments: Vec<Bytes>,
    /// Consented purposes.
    pub purposes: Vec<Purpose>,
    /// Hash of the consent terms text.
    pub consent_terms_hash: B256,
}

impl From<&PublishParams> for crate::bindings::data_registry::IDataRegistry::PublishParams {
    fn from(p: &PublishParams) -> Self {
        Self {
            storageUri: p.storage_uri.clone(),
            contentRoot: p.content_root,
            metadata: p.metadata.clone(),
            price: p.price,
            keepers: p.keepers.clone(),
            threshold: p.threshold,
            commitments: p.commitments.clone(),
            purposes: Purpose::mask(&p.purposes),
            consentTermsHash: p.consent_terms_hash,
        }
    }
}

/// Result of `acknowledgeShare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Acknowledged {
    /// 1-based share index of the keeper.
    pub share_index: u8,
    /// Acknowledgements so far.
    pub acknowledged: u8,
    /// Whether this acknowledgement activated the dataset.
    pub activated: bool,
}

/// Result of `purchase` / `purchaseWithPermit` / `grant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseOutcome {
    /// The approval sent first, if one was needed.
    pub approve: Option<TxOutcome>,
    /// The purchase transaction.
    pub tx: TxOutcome,
    /// New purchase id.
    pub purchase_id: U256,
    /// Price paid into escrow.
    pub price: U256,
    /// Keepers must deliver by this unix time.
    pub delivery_deadline: u64,
}

/// Result of `settle`, or `confirm` when it settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// Credited to the owner.
    pub owner_amount: U256,
    /// Credited to each delivering keeper.
    pub keeper_amount_each: U256,
    /// Number of delivering keepers.
    pub keeper_count: u8,
}

/// An HTTP provider signing with `signer`: gas estimation, nonces from the node's pending count
/// (no local cache, so a refused transaction never leaves a nonce gap), chain id given or fetched.
pub fn signing_provider(
    rpc_url: &str,
    signer: PrivateKeySigner,
    chain_id: Option<u64>,
) -> Result<DynProvider, ChainError> {
    let url: alloy::transports::http::reqwest::Url = rpc_url
        .parse()
        .map_err(|e| ChainError::InvalidInput(format!("invalid RPC URL {rpc_url:?}: {e}")))?;
    let base = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management();
    let wallet = EthereumWallet::from(signer);
    Ok(match chain_id {
        Some(id) => base
            .with_chain_id(id)
            .wallet(wallet)
            .connect_http(url)
            .erased(),
        None => base
            .fetch_chain_id()
            .wallet(wallet)
            .connect_http(url)
            .erased(),
    })
}

/// Default time to wait for a receipt.
pub const DEFAULT_TX_TIMEOUT: Duration = Duration::from_secs(120);

/// A client acting as one account.
#[derive(Debug, Clone)]
pub struct PhdClient {
    provider: DynProvider,
    signer: PrivateKeySigner,
    deployment: Deployment,
    rpc_url: String,
    tx_timeout: Duration,
    pub(crate) log_chunk: u64,
}

impl PhdClient {
    /// Connects to `rpc_url` signing with `signer`; checks the node's chain id matches the deployment.
    pub async fn connect(
        rpc_url: &str,
        signer: PrivateKeySigner,
        deployment: Deployment,
    ) -> Result<Self, ChainError> {
        let signer = signer.with_chain_id(Some(deployment.chain_id));
        let provider = signing_provider(rpc_url, signer.clone(), Some(deployment.chain_id))?;
        let actual = provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::from_transport("connect", rpc_url, e))?;
        if actual != deployment.chain_id {
            return Err(ChainError::WrongChain {
                url: rpc_url.to_owned(),
                expected: deployment.chain_id,
                actual,
            });
        }
        Ok(Self {
            provider,
            signer,
            deployment,
            rpc_url: rpc_url.to_owned(),
            tx_timeout: DEFAULT_TX_TIMEOUT,
            log_chunk: 10_000,
        })
    }

    /// Sets how long to wait for receipts.
    pub fn with_tx_timeout(mut self, timeout: Duration) -> Self {
        self.tx_timeout = timeout;
        self
    }

    /// Sets the block span of one `eth_getLogs` request in event scans.
    pub fn with_log_chunk(mut self, blocks: u64) -> Self {
        self.log_chunk = blocks.max(1);
        self
    }

    /// Checks each contract address has code (catches a stale deployment file on a fresh chain).
    pub async fn check_code(&self) -> Result<(), ChainError> {
        for kind in ContractKind::ALL {
            let address = self.deployment.address_of(kind);
            let code = self
                .provider
                .get_code_at(address)
                .await
                .map_err(|e| ChainError::from_transport("check code", &self.rpc_url, e))?;
            if code.is_empty() {
                return Err(ChainError::NoCode {
                    name: kind.name(),
                    address,
                    chain_id: self.deployment.chain_id,
                });
            }
        }
        Ok(())
    }

    /// This client's account.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The signer.
    pub fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    /// The uncompressed public key (x ‖ y) of this account.
    pub fn pubkey64(&self) -> [u8; 64] {
        pubkey64(&self.signer)
    }

    /// The deployment.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// The RPC URL.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The signing provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Raw `PHDCoin` binding.
    pub fn coin(&self) -> PHDCoinInstance<DynProvider> {
        PHDCoin::new(self.deployment.coin, self.provider.clone())
    }

    /// Raw `KeeperRegistry` binding.
    pub fn keeper_registry(&self) -> KeeperRegistryInstance<DynProvider> {
        KeeperRegistry::new(self.deployment.keeper_registry, self.provider.clone())
    }

    /// Raw `DataRegistry` binding.
    pub fn data_registry(&self) -> DataRegistryInstance<DynProvider> {
        DataRegistry::new(self.deployment.data_registry, self.provider.clone())
    }

    /// Raw `Marketplace` binding.
    pub fn marketplace(&self) -> MarketplaceInstance<DynProvider> {
        Marketplace::new(self.deployment.marketplace, self.provider.clone())
    }

    /// Context for [`send_call`] with this client's settings.
    pub fn send_ctx(&self) -> SendCtx<'_> {
        SendCtx {
            url: &self.rpc_url,
            from: self.address(),
            timeout: self.tx_timeout,
        }
    }

    pub(crate) fn rpc_err(
        &self,
        op: &'static str,
    ) -> impl Fn(alloy::contract::Error) -> ChainError + '_ {
        move |e| ChainError::from_contract(op, &self.rpc_url, e)
    }

    pub(crate) fn transport_err(
        &self,
        op: &'static str,
    ) -> impl Fn(alloy::transports::TransportError) -> ChainError + '_ {
        move |e| ChainError::from_transport(op, &self.rpc_url, e)
    }

    // ---------------------------------------------------------------------------------------
    // KeeperRegistry
    // ---------------------------------------------------------------------------------------

    /// Registers this account as a keeper or validator with its encryption key and endpoint,
    /// bonding `stake` PHD (≥ `MIN_STAKE()`; the registry is approved first when the allowance is
    /// short). `key_proof` is the 65-byte signature by the encryption key over
    /// [`PhdClient::key_proof_digest`] (see [`crate::keys::sign_key_proof`]). Returns the
    /// registration and, when one was needed, the approval.
    pub async fn register_node(
        &self,
        role: NodeRole,
        encryption_key: &[u8],
        endpoint: &str,
        stake: U256,
        key_proof: &[u8],
    ) -> Result<(TxOutcome, Option<TxOutcome>), ChainError> {
        let approve = self
            .ensure_allowance(self.deployment.keeper_registry, stake)
            .await?;
        let reg = self.keeper_registry();
        let call = reg.register(
            role as u8,
            Bytes::copy_from_slice(encryption_key),
            endpoint.to_owned(),
            stake,
            Bytes::copy_from_slice(key_proof),
        );
        Ok((
            send_call(&self.send_ctx(), "register", &call).await?.0,
            approve,
        ))
    }

    /// Rotates this node's encryption key and/or endpoint; `key_proof` proves possession of the
    /// (new) key like at registration.
    pub async fn update_node(
        &self,
        encryption_key: &[u8],
        endpoint: &str,
        key_proof: &[u8],
    ) -> Result<TxOutcome, ChainError> {
        let reg = self.keeper_registry();
        let call = reg.update(
            Bytes::copy_from_slice(encryption_key),
            endpoint.to_owned(),
            Bytes::copy_from_slice(key_proof),
        );
        Ok(send_call(&self.send_ctx(), "update", &call).await?.0)
    }

    /// Registry owner: accepts certificates signed by `manufacturer`.
    pub async fn approve_manufacturer(
        &self,
        manufacturer: Address,
        name: &str,
    ) -> Result<TxOutcome, ChainError> {
        let reg = self.keeper_registry();
        let call = reg.approveManufacturer(manufacturer, name.to_owned());
        Ok(send_call(&self.send_ctx(), "approveManufacturer", &call)
            .await?
            .0)
    }

    /// Registry owner: revokes a manufacturer.
    pub async fn revoke_manufacturer(
        &self,
        manufacturer: Address,
    ) -> Result<TxOutcome, ChainError> {
        let reg = self.keeper_registry();
        let call = reg.revokeManufacturer(manufacturer);
        Ok(send_call(&self.send_ctx(), "revokeManufacturer", &call)
            .await?
            .0)
    }

    /// A registered node (role `None` when not registered).
    pub async fn node(&self, account: Address) -> Result<Node, ChainError> {
        self.keeper_registry()
            .node(account)
            .call()
            .await
            .map_err(self.rpc_err("node"))
    }

    /// All registered keepers.
    pub async fn keepers(&self) -> Result<Vec<Address>, ChainError> {
        self.keeper_registry()
            .keepers()
            .call()
            .await
            .map_err(self.rpc_err("keepers"))
    }

    /// All registered validators.
    pub async fn validators(&self) -> Result<Vec<Address>, ChainError> {
        self.keeper_registry()
            .validators()
            .call()
            .await
            .map_err(self.rpc_err("validators"))
    }

    /// Whether `manufacturer` is on the approved list.
    pub async fn is_approved_manufacturer(
        &self,
        manufacturer: Address,
    ) -> Result<bool, ChainError> {
        self.keeper_registry()
            .isApprovedManufacturer(manufacturer)
            .call()
            .await
            .map_err(self.rpc_err("isApprovedManufacturer"))
    }

    // ---------------------------------------------------------------------------------------
    // DataRegistry
    // ---------------------------------------------------------------------------------------

    /// Lists a dataset; returns its id.
    pub async fn publish(&self, params: &PublishParams) -> Result<(TxOutcome, U256), ChainError> {
        let reg = self.data_registry();
        let call = reg.publish(params.into());
        let (tx, receipt) = send_call(&self.send_ctx(), "publish", &call).await?;
        let ev: DataRegistry::Published = require_event(
            "publish",
            &receipt,
            self.deployment.data_registry,
            "Published",
        )?;
        Ok((tx, ev.datasetId))
    }

    /// A listed keeper acknowledges it stored its share.
    pub async fn acknowledge_share(
        &self,
        dataset_id: U256,
    ) -> Result<(TxOutcome, Acknowledged), ChainError> {
        let reg = self.data_registry();
        let call = reg.acknowledgeShare(dataset_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "acknowledgeShare", &call).await?;
        let ev: DataRegistry::ShareAcknowledged = require_event(
            "acknowledgeShare",
            &receipt,
            self.deployment.data_registry,
            "ShareAcknowledged",
        )?;
        let activated = crate::tx::find_event::<DataRegistry::Activated>(
            &receipt,
            self.deployment.data_registry,
        )
        .is_some();
        Ok((
            tx,
            Acknowledged {
                share_index: ev.shareIndex,
                acknowledged: ev.acknowledged,
                activated,
            },
        ))
    }

    /// Owner: changes the price.
    pub async fn set_price(
        &self,
        dataset_id: U256,
        new_price: U256,
    ) -> Result<TxOutcome, ChainError> {
        let reg = self.data_registry();
        let call = reg.setPrice(dataset_id, new_price);
        Ok(send_call(&self.send_ctx(), "setPrice", &call).await?.0)
    }

    /// Validator: certifies a dataset's quality.
    pub async fn certify(
        &self,
        dataset_id: U256,
        score_bps: u16,
        model_id: B256,
        report_hash: B256,
        report_uri: &str,
    ) -> Result<TxOutcome, ChainError> {
        let reg = self.data_registry();
        let call = reg.certify(
            dataset_id,
            score_bps,
            model_id,
            report_hash,
            report_uri.to_owned(),
        );
        Ok(send_call(&self.send_ctx(), "certify", &call).await?.0)
    }

    /// Owner: withdraws consent (final).
    pub async fn withdraw_consent(&self, dataset_id: U256) -> Result<TxOutcome, ChainError> {
        let reg = self.data_registry();
        let call = reg.withdrawConsent(dataset_id);
        Ok(send_call(&self.send_ctx(), "withdrawConsent", &call)
            .await?
            .0)
    }

    /// Keeper: confirms it destroyed its share of a withdrawn dataset.
    pub async fn confirm_erasure(&self, dataset_id: U256) -> Result<TxOutcome, ChainError> {
        let reg = self.data_registry();
        let call = reg.confirmErasure(dataset_id);
        Ok(send_call(&self.send_ctx(), "confirmErasure", &call)
            .await?
            .0)
    }

    /// A dataset.
    pub async fn dataset(&self, dataset_id: U256) -> Result<Dataset, ChainError> {
        self.data_registry()
            .dataset(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("dataset"))
    }

    /// Number of datasets ever published (ids are 1..=count).
    pub async fn dataset_count(&self) -> Result<U256, ChainError> {
        self.data_registry()
            .datasetCount()
            .call()
            .await
            .map_err(self.rpc_err("datasetCount"))
    }

    /// Keepers of a dataset, in share order.
    pub async fn keepers_of(&self, dataset_id: U256) -> Result<Vec<Address>, ChainError> {
        self.data_registry()
            .keepersOf(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("keepersOf"))
    }

    /// Feldman commitments of a dataset.
    pub async fn commitments_of(&self, dataset_id: U256) -> Result<Vec<Bytes>, ChainError> {
        self.data_registry()
            .commitmentsOf(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("commitmentsOf"))
    }

    /// 1-based share index of `keeper` (0 when not listed).
    pub async fn share_index_of(
        &self,
        dataset_id: U256,
        keeper: Address,
    ) -> Result<u8, ChainError> {
        self.data_registry()
            .shareIndexOf(dataset_id, keeper)
            .call()
            .await
            .map_err(self.rpc_err("shareIndexOf"))
    }

    /// Whether `keeper` acknowledged.
    pub async fn has_acknowledged(
        &self,
        dataset_id: U256,
        keeper: Address,
    ) -> Result<bool, ChainError> {
        self.data_registry()
            .hasAcknowledged(dataset_id, keeper)
            .call()
            .await
            .map_err(self.rpc_err("hasAcknowledged"))
    }

    /// Latest certificate (validator zero when none).
    pub async fn certification(&self, dataset_id: U256) -> Result<Certification, ChainError> {
        self.data_registry()
            .certification(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("certification"))
    }

    // ---------------------------------------------------------------------------------------
    // PHDCoin
    // ---------------------------------------------------------------------------------------

    /// PHD balance.
    pub async fn balance_of(&self, account: Address) -> Result<U256, ChainError> {
        self.coin()
            .balanceOf(account)
            .call()
            .await
            .map_err(self.rpc_err("balanceOf"))
    }

    /// Allowance `owner` gave `spender`.
    pub async fn allowance(&self, owner: Address, spender: Address) -> Result<U256, ChainError> {
        self.coin()
            .allowance(owner, spender)
            .call()
            .await
            .map_err(self.rpc_err("allowance"))
    }

    /// Approves `spender` to take `amount`.
    pub async fn approve_coin(
        &self,
        spender: Address,
        amount: U256,
    ) -> Result<TxOutcome, ChainError> {
        let coin = self.coin();
        let call = coin.approve(spender, amount);
        Ok(send_call(&self.send_ctx(), "approve", &call).await?.0)
    }

    /// Approves `spender` for `amount` unless the current allowance already covers it; returns
    /// the approval when one was sent.
    pub async fn ensure_allowance(
        &self,
        spender: Address,
        amount: U256,
    ) -> Result<Option<TxOutcome>, ChainError> {
        if amount.is_zero() || self.allowance(self.address(), spender).await? >= amount {
            return Ok(None);
        }
        Ok(Some(self.approve_coin(spender, amount).await?))
    }

    /// Transfers PHD.
    pub async fn transfer_coin(&self, to: Address, amount: U256) -> Result<TxOutcome, ChainError> {
        let coin = self.coin();
        let call = coin.transfer(to, amount);
        Ok(send_call(&self.send_ctx(), "transfer", &call).await?.0)
    }

    /// Signs an EIP-2612 permit for `spender` over `value`, valid until `deadline`.
    pub async fn sign_permit(
        &self,
        spender: Address,
        value: U256,
        deadline: U256,
    ) -> Result<(u8, B256, B256), ChainError> {
        let coin = self.coin();
        let owner = self.address();
        let nonce = coin
            .nonces(owner)
            .call()
            .await
            .map_err(self.rpc_err("nonces"))?;
        let d = coin
            .eip712Domain()
            .call()
            .await
            .map_err(self.rpc_err("eip712Domain"))?;
        let domain = Eip712Domain::new(
            Some(d.name.into()),
            Some(d.version.into()),
            Some(d.chainId),
            Some(d.verifyingContract),
            None,
        );
        let hash = Permit {
            owner,
            spender,
            value,
            nonce,
            deadline,
        }
        .eip712_signing_hash(&domain);
        let sig = self
            .signer
            .sign_hash(&hash)
            .await
            .map_err(|source| ChainError::Signer {
                context: "permit",
                source,
            })?;
        Ok((
            27 + u8::from(sig.v()),
            B256::from(sig.r()),
            B256::from(sig.s()),
        ))
    }

    // ---------------------------------------------------------------------------------------
    // Marketplace
    // ---------------------------------------------------------------------------------------

    fn purchased(
        &self,
        operation: &'static str,
        receipt: &alloy::rpc::types::TransactionReceipt,
    ) -> Result<(U256, U256, u64), ChainError> {
        let ev: Marketplace::Purchased =
            require_event(operation, receipt, self.deployment.marketplace, "Purchased")?;
        Ok((ev.purchaseId, ev.price, ev.deliveryDeadline))
    }

    /// Approves the marketplace for the current price (when the allowance is short) and buys
    /// `dataset_id` for `purpose`, paying at most `max_price`.
    pub async fn purchase(
        &self,
        dataset_id: U256,
        purpose: Purpose,
        max_price: U256,
    ) -> Result<PurchaseOutcome, ChainError> {
        let market = self.deployment.marketplace;
        let d = self.dataset(dataset_id).await?;
        // A free dataset still escrows threshold × deliveryFee for its keepers.
        let price = if d.price.is_zero() {
            self.delivery_fee().await? * U256::from(d.threshold)
        } else {
            d.price
        };
        let approve = if price <= max_price {
            self.ensure_allowance(market, price).await?
        } else {
            None
        };
        let m = self.marketplace();
        let call = m.purchase(
            dataset_id,
            Bytes::copy_from_slice(&self.pubkey64()),
            purpose.id(),
            max_price,
        );
        let (tx, receipt) = send_call(&self.send_ctx(), "purchase", &call).await?;
        let (purchase_id, price, delivery_deadline) = self.purchased("purchase", &receipt)?;
        Ok(PurchaseOutcome {
            approve,
            tx,
            purchase_id,
            price,
            delivery_deadline,
        })
    }

    /// Buys with an EIP-2612 permit (signed locally for `max_price`, valid for an hour) instead of
    /// a separate approval.
    pub async fn purchase_with_permit(
        &self,
        dataset_id: U256,
        purpose: Purpose,
        max_price: U256,
    ) -> Result<PurchaseOutcome, ChainError> {
        let now = self.block_timestamp().await?;
        let deadline = U256::from(now.saturating_add(3600));
        let (v, r, s) = self
            .sign_permit(self.deployment.marketplace, max_price, deadline)
            .await?;
        let m = self.marketplace();
        let call = m.purchaseWithPermit(
            dataset_id,
            Bytes::copy_from_slice(&self.pubkey64()),
            purpose.id(),
            max_price,
            deadline,
            v,
            r,
            s,
        );
        let (tx, receipt) = send_call(&self.send_ctx(), "purchaseWithPermit", &call).await?;
        let (purchase_id, price, delivery_deadline) =
            self.purchased("purchaseWithPermit", &receipt)?;
        Ok(PurchaseOutcome {
            approve: None,
            tx,
            purchase_id,
            price,
            delivery_deadline,
        })
    }

    /// Owner: free access for `grantee` (whose 64-byte public key shares are encrypted to). The
    /// owner pays the keepers' delivery fees (threshold × `deliveryFee()`) into escrow; the
    /// marketplace is approved for them first when the allowance is short.
    pub async fn grant(
        &self,
        dataset_id: U256,
        grantee: Address,
        grantee_pubkey: &[u8; 64],
        purpose: Purpose,
    ) -> Result<PurchaseOutcome, ChainError> {
        let threshold = self.dataset(dataset_id).await?.threshold;
        let fee = self.delivery_fee().await? * U256::from(threshold);
        let approve = self
            .ensure_allowance(self.deployment.marketplace, fee)
            .await?;
        let m = self.marketplace();
        let call = m.grant(
            dataset_id,
            grantee,
            Bytes::copy_from_slice(grantee_pubkey),
            purpose.id(),
        );
        let (tx, receipt) = send_call(&self.send_ctx(), "grant", &call).await?;
        let ev: Marketplace::Granted =
            require_event("grant", &receipt, self.deployment.marketplace, "Granted")?;
        Ok(PurchaseOutcome {
            approve,
            tx,
            purchase_id: ev.purchaseId,
            price: fee,
            delivery_deadline: ev.deliveryDeadline,
        })
    }

    /// Keeper: posts its encrypted share for a purchase; returns the number delivered so far.
    pub async fn deliver_share(
        &self,
        purchase_id: U256,
        payload: &[u8],
    ) -> Result<(TxOutcome, u8), ChainError> {
        let m = self.marketplace();
        let call = m.deliverShare(purchase_id, Bytes::copy_from_slice(payload));
        let (tx, receipt) = send_call(&self.send_ctx(), "deliverShare", &call).await?;
        let ev: Marketplace::ShareDelivered = require_event(
            "deliverShare",
            &receipt,
            self.deployment.marketplace,
            "ShareDelivered",
        )?;
        Ok((tx, ev.delivered))
    }

    fn settlement(&self, receipt: &alloy::rpc::types::TransactionReceipt) -> Option<Settlement> {
        crate::tx::find_event::<Marketplace::Settled>(receipt, self.deployment.marketplace).map(
            |e| Settlement {
                owner_amount: e.ownerAmount,
                keeper_amount_each: e.keeperAmountEach,
                keeper_count: e.keeperCount,
            },
        )
    }

    /// Buyer: confirms receipt; settles at once when enough shares arrived.
    pub async fn confirm(
        &self,
        purchase_id: U256,
    ) -> Result<(TxOutcome, Option<Settlement>), ChainError> {
        let m = self.marketplace();
        let call = m.confirm(purchase_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "confirm", &call).await?;
        Ok((tx, self.settlement(&receipt)))
    }

    /// Anyone: settles a purchase whose confirmation window passed.
    pub async fn settle(&self, purchase_id: U256) -> Result<(TxOutcome, Settlement), ChainError> {
        let m = self.marketplace();
        let call = m.settle(purchase_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "settle", &call).await?;
        let s = self.settlement(&receipt).ok_or(ChainError::MissingEvent {
            context: "settle",
            tx_hash: tx.tx_hash,
            event: "Settled",
        })?;
        Ok((tx, s))
    }

    /// Buyer: full refund after the delivery deadline with too few shares, or after withdrawal.
    pub async fn refund(&self, purchase_id: U256) -> Result<(TxOutcome, U256), ChainError> {
        let m = self.marketplace();
        let call = m.refund(purchase_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "refund", &call).await?;
        let ev: Marketplace::Refunded =
            require_event("refund", &receipt, self.deployment.marketplace, "Refunded")?;
        Ok((tx, ev.amount))
    }

    /// Pulls this account's credits; returns the amount.
    pub async fn withdraw_credits(&self) -> Result<(TxOutcome, U256), ChainError> {
        let m = self.marketplace();
        let call = m.withdraw();
        let (tx, receipt) = send_call(&self.send_ctx(), "withdraw", &call).await?;
        let ev: Marketplace::Withdrawn = require_event(
            "withdraw",
            &receipt,
            self.deployment.marketplace,
            "Withdrawn",
        )?;
        Ok((tx, ev.amount))
    }

    /// A purchase.
    pub async fn get_purchase(&self, purchase_id: U256) -> Result<Purchase, ChainError> {
        self.marketplace()
            .getPurchase(purchase_id)
            .call()
            .await
            .map_err(self.rpc_err("getPurchase"))
    }

    /// Whether `keeper` delivered for a purchase.
    pub async fn has_delivered(
        &self,
        purchase_id: U256,
        keeper: Address,
    ) -> Result<bool, ChainError> {
        self.marketplace()
            .hasDelivered(purchase_id, keeper)
            .call()
            .await
            .map_err(self.rpc_err("hasDelivered"))
    }

    /// Withdrawable credits of `account`.
    pub async fn credits_of(&self, account: Address) -> Result<U256, ChainError> {
        self.marketplace()
            .creditsOf(account)
            .call()
            .await
            .map_err(self.rpc_err("creditsOf"))
    }

    /// Sum of prices of open purchases.
    pub async fn open_escrow(&self) -> Result<U256, ChainError> {
        self.marketplace()
            .openEscrow()
            .call()
            .await
            .map_err(self.rpc_err("openEscrow"))
    }

    /// Sum of unwithdrawn credits.
    pub async fn total_credits(&self) -> Result<U256, ChainError> {
        self.marketplace()
            .totalCredits()
            .call()
            .await
            .map_err(self.rpc_err("totalCredits"))
    }

    // ---------------------------------------------------------------------------------------
    // Chain
    // ---------------------------------------------------------------------------------------

    /// Latest block number.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(self.transport_err("blockNumber"))
    }

    /// Hash of block `number`; `None` when the node has no such block (past the head). The
    /// watchers compare it with the hashes they remember to detect reorganisations.
    pub async fn block_hash(
        &self,
        number: u64,
    ) -> Result<Option<alloy::primitives::B256>, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(number))
            .await
            .map_err(self.transport_err("getBlockByNumber"))?;
        Ok(block.map(|b| b.header.hash))
    }

    /// Timestamp of the latest block.
    pub async fn block_timestamp(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(self.transport_err("getBlock"))?
            .ok_or_else(|| ChainError::Call {
                context: "getBlock",
                reason: "node returned no latest block".into(),
            })?;
        Ok(block.header.timestamp)
    }

    /// Dev chains (anvil): moves time forward by `seconds` and mines a block.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), ChainError> {
        let _: serde_json::Value = self
            .provider
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .map_err(self.transport_err("evm_increaseTime"))?;
        let _: serde_json::Value = self
            .provider
            .raw_request("evm_mine".into(), ())
            .await
            .map_err(self.transport_err("evm_mine"))?;
        Ok(())
    }
}
