//! The calls added with the trust rules (issue 10): node stakes and key proofs, keeper
//! commitments, disputes of wrong shares, non-delivery slashing, certification history and the
//! reward pool.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use serde::Serialize;

use crate::{
    ChainError, PhdClient,
    bindings::{
        data_registry::DataRegistry, keeper_registry::KeeperRegistry, marketplace::Marketplace,
    },
    client::Certification,
    events::{BlockRange, EventLog},
    tx::{TxOutcome, require_event, send_call},
};

/// A node's bond in the `KeeperRegistry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stake {
    /// Bonded PHD wei.
    pub amount: U256,
    /// Unix time the stake can be withdrawn after an exit request (0 while active).
    pub unlock_at: u64,
}

/// `Marketplace.commitState(purchaseId)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommitState {
    /// Keepers committed so far (a delivery counts as its keeper's commitment).
    pub committed: u8,
    /// Bit `i − 1` set when the keeper of share `i` committed.
    pub bitmap: U256,
}

/// Result of `commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Committed {
    /// 1-based share index of the keeper.
    pub share_index: u8,
    /// Commitments so far, this one included.
    pub committed: u8,
}

/// `DataRegistry.certificationSummary(datasetId)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CertificationSummary {
    /// At least `MIN_CERTIFICATIONS()` certificates with a score ≥ `MIN_SCORE_BPS()`.
    pub certified: bool,
    /// Mean score of all certificates, basis points.
    pub aggregate_score_bps: u16,
    /// Number of certificates.
    pub count: U256,
    /// Number of certificates that count (score ≥ `MIN_SCORE_BPS()`).
    pub counted: U256,
}

/// Entry of a purchase's delivery log for one delivery:
/// `keccak256(abi.encodePacked(uint8 shareIndex, keccak256(payload)))`.
pub fn delivery_log_entry(share_index: u8, payload: &[u8]) -> B256 {
    let mut packed = [0u8; 33];
    packed[0] = share_index;
    packed[1..].copy_from_slice(keccak256(payload).as_slice());
    keccak256(packed)
}

/// The `deliveryLog` argument of `dispute`: one entry per `ShareDelivered` of the purchase, in
/// log order (the contract re-chains them and compares with its stored hash, so none may be
/// missing, reordered or duplicated). `deliveries` must be every delivery of one purchase, as
/// [`PhdClient::share_deliveries`] returns them (oldest first).
pub fn delivery_log(deliveries: &[EventLog<Marketplace::ShareDelivered>]) -> Vec<B256> {
    deliveries
        .iter()
        .map(|d| delivery_log_entry(d.event.shareIndex, &d.event.payload))
        .collect()
}

/// The chain hash the contract stores for `log` (`h = keccak256(h ‖ entry)` from zero), to
/// check a rebuilt log before spending gas on a dispute.
pub fn delivery_log_hash(log: &[B256]) -> B256 {
    log.iter().fold(B256::ZERO, |h, e| {
        let mut packed = [0u8; 64];
        packed[..32].copy_from_slice(h.as_slice());
        packed[32..].copy_from_slice(e.as_slice());
        keccak256(packed)
    })
}

impl PhdClient {
    // ---------------------------------------------------------------------------------------
    // KeeperRegistry: stakes and key proofs
    // ---------------------------------------------------------------------------------------

    /// The digest a node's encryption key signs to prove possession (chain id, registry and
    /// account bound), as the registry computes it.
    pub async fn key_proof_digest(&self, account: Address) -> Result<B256, ChainError> {
        self.keeper_registry()
            .keyProofDigest(account)
            .call()
            .await
            .map_err(self.rpc_err("keyProofDigest"))
    }

    /// The key proof for this account, signed with the encryption secret key (32 bytes).
    pub async fn key_proof(&self, encryption_secret: &[u8; 32]) -> Result<Bytes, ChainError> {
        let digest = self.key_proof_digest(self.address()).await?;
        crate::keys::sign_key_proof(encryption_secret, digest)
    }

    /// A node's bond.
    pub async fn stake_of(&self, account: Address) -> Result<Stake, ChainError> {
        let s = self
            .keeper_registry()
            .stakeOf(account)
            .call()
            .await
            .map_err(self.rpc_err("stakeOf"))?;
        Ok(Stake {
            amount: s.amount,
            unlock_at: s.unlockAt,
        })
    }

    /// Smallest bond of an active node.
    pub async fn min_stake(&self) -> Result<U256, ChainError> {
        self.keeper_registry()
            .MIN_STAKE()
            .call()
            .await
            .map_err(self.rpc_err("MIN_STAKE"))
    }

    /// Seconds between an exit request and the stake's release.
    pub async fn unbonding_delay(&self) -> Result<u64, ChainError> {
        self.keeper_registry()
            .UNBONDING_DELAY()
            .call()
            .await
            .map_err(self.rpc_err("UNBONDING_DELAY"))
    }

    /// Whether `account` is an active, staked keeper.
    pub async fn is_keeper(&self, account: Address) -> Result<bool, ChainError> {
        self.keeper_registry()
            .isKeeper(account)
            .call()
            .await
            .map_err(self.rpc_err("isKeeper"))
    }

    /// Whether `account` is an active, staked validator.
    pub async fn is_validator(&self, account: Address) -> Result<bool, ChainError> {
        self.keeper_registry()
            .isValidator(account)
            .call()
            .await
            .map_err(self.rpc_err("isValidator"))
    }

    /// Active node: bonds `amount` more PHD (approving the registry first when needed); returns
    /// the new total and the approval, if one was sent.
    pub async fn add_stake(
        &self,
        amount: U256,
    ) -> Result<(TxOutcome, U256, Option<TxOutcome>), ChainError> {
        let approve = self
            .ensure_allowance(self.deployment().keeper_registry, amount)
            .await?;
        let reg = self.keeper_registry();
        let call = reg.addStake(amount);
        let (tx, receipt) = send_call(&self.send_ctx(), "addStake", &call).await?;
        let ev: KeeperRegistry::StakeAdded = require_event(
            "addStake",
            &receipt,
            self.deployment().keeper_registry,
            "StakeAdded",
        )?;
        Ok((tx, ev.total, approve))
    }

    /// Node: leaves at once (`deregister`); the stake unlocks after the unbonding delay. Returns
    /// the unlock time.
    pub async fn request_exit(&self) -> Result<(TxOutcome, u64), ChainError> {
        let reg = self.keeper_registry();
        let call = reg.deregister();
        let (tx, receipt) = send_call(&self.send_ctx(), "deregister", &call).await?;
        let ev: KeeperRegistry::ExitRequested = require_event(
            "deregister",
            &receipt,
            self.deployment().keeper_registry,
            "ExitRequested",
        )?;
        Ok((tx, ev.unlockAt))
    }

    /// Exited node: takes its stake back after `unlockAt` (the registry then forgets it).
    pub async fn withdraw_stake(&self) -> Result<(TxOutcome, U256), ChainError> {
        let reg = self.keeper_registry();
        let call = reg.withdrawStake();
        let (tx, receipt) = send_call(&self.send_ctx(), "withdrawStake", &call).await?;
        let ev: KeeperRegistry::StakeWithdrawn = require_event(
            "withdrawStake",
            &receipt,
            self.deployment().keeper_registry,
            "StakeWithdrawn",
        )?;
        Ok((tx, ev.amount))
    }

    /// Registry owner, once: the marketplace allowed to slash.
    pub async fn set_marketplace(&self, marketplace: Address) -> Result<TxOutcome, ChainError> {
        let reg = self.keeper_registry();
        let call = reg.setMarketplace(marketplace);
        Ok(send_call(&self.send_ctx(), "setMarketplace", &call)
            .await?
            .0)
    }

    // ---------------------------------------------------------------------------------------
    // Marketplace: commitments, disputes, slashing
    // ---------------------------------------------------------------------------------------

    /// Keeper: commits to deliver its share for a purchase (within `commitWindow()` of it).
    pub async fn commit(&self, purchase_id: U256) -> Result<(TxOutcome, Committed), ChainError> {
        let m = self.marketplace();
        let call = m.commit(purchase_id);
        let (tx, receipt) = send_call(&self.send_ctx(), "commit", &call).await?;
        let ev: Marketplace::Committed = require_event(
            "commit",
            &receipt,
            self.deployment().marketplace,
            "Committed",
        )?;
        Ok((
            tx,
            Committed {
                share_index: ev.shareIndex,
                committed: ev.committed,
            },
        ))
    }

    /// Commitments of a purchase.
    pub async fn commit_state(&self, purchase_id: U256) -> Result<CommitState, ChainError> {
        let r = self
            .marketplace()
            .commitState(purchase_id)
            .call()
            .await
            .map_err(self.rpc_err("commitState"))?;
        Ok(CommitState {
            committed: r.committed,
            bitmap: r.bitmap,
        })
    }

    /// Whether `keeper` committed (or delivered) for a purchase.
    pub async fn has_committed(
        &self,
        purchase_id: U256,
        keeper: Address,
    ) -> Result<bool, ChainError> {
        self.marketplace()
            .hasCommitted(purchase_id, keeper)
            .call()
            .await
            .map_err(self.rpc_err("hasCommitted"))
    }

    /// Seconds after a purchase during which keepers may commit.
    pub async fn commit_window(&self) -> Result<u64, ChainError> {
        self.marketplace()
            .commitWindow()
            .call()
            .await
            .map_err(self.rpc_err("commitWindow"))
    }

    /// PHD wei each delivering keeper earns for a grant or a free dataset (escrowed
    /// threshold × fee).
    pub async fn delivery_fee(&self) -> Result<U256, ChainError> {
        self.marketplace()
            .deliveryFee()
            .call()
            .await
            .map_err(self.rpc_err("deliveryFee"))
    }

    /// Whether a grant of `dataset_id` to `account` settled (a validator may then certify).
    pub async fn access_granted(
        &self,
        dataset_id: U256,
        account: Address,
    ) -> Result<bool, ChainError> {
        self.marketplace()
            .accessGranted(dataset_id, account)
            .call()
            .await
            .map_err(self.rpc_err("accessGranted"))
    }

    /// Bit `i − 1` set when the keeper of share `i` was slashed for this purchase (dispute or
    /// non-delivery).
    pub async fn slashed_bitmap(&self, purchase_id: U256) -> Result<U256, ChainError> {
        self.marketplace()
            .slashedBitmap(purchase_id)
            .call()
            .await
            .map_err(self.rpc_err("slashedBitmap"))
    }

    /// Anyone, after the delivery deadline of a failed purchase (≥ t committed, < t delivered):
    /// slashes a committed keeper that did not deliver; the amount is credited to the buyer.
    pub async fn slash_non_delivery(
        &self,
        purchase_id: U256,
        keeper: Address,
    ) -> Result<(TxOutcome, U256), ChainError> {
        let m = self.marketplace();
        let call = m.slashNonDelivery(purchase_id, keeper);
        let (tx, receipt) = send_call(&self.send_ctx(), "slashNonDelivery", &call).await?;
        let ev: Marketplace::KeeperSlashed = require_event(
            "slashNonDelivery",
            &receipt,
            self.deployment().marketplace,
            "KeeperSlashed",
        )?;
        Ok((tx, ev.amount))
    }

    /// Buyer, while the purchase is open: proves the delivery of `share_index` wrong. `payload`
    /// is the posted payload, `buyer_pubkey64` the buyer's key (x ‖ y), `delivery_log` every
    /// delivery of the purchase ([`PhdClient::delivery_log`]), `proof` the 352-byte DLEQ proof
    /// (empty for a malformed payload). Returns the amount slashed to the buyer's credits.
    pub async fn dispute(
        &self,
        purchase_id: U256,
        share_index: u8,
        payload: &[u8],
        buyer_pubkey64: &[u8; 64],
        delivery_log: &[B256],
        proof: &[u8],
    ) -> Result<(TxOutcome, U256), ChainError> {
        let m = self.marketplace();
        let call = m.dispute(
            purchase_id,
            share_index,
            Bytes::copy_from_slice(payload),
            Bytes::copy_from_slice(buyer_pubkey64),
            delivery_log.to_vec(),
            Bytes::copy_from_slice(proof),
        );
        let (tx, receipt) = send_call(&self.send_ctx(), "dispute", &call).await?;
        let ev: Marketplace::ShareDisputed = require_event(
            "dispute",
            &receipt,
            self.deployment().marketplace,
            "ShareDisputed",
        )?;
        Ok((tx, ev.slashed))
    }

    /// The `deliveryLog` of a purchase rebuilt from its `ShareDelivered` events.
    pub async fn delivery_log(&self, purchase_id: U256) -> Result<Vec<B256>, ChainError> {
        Ok(delivery_log(
            &self
                .share_deliveries(purchase_id, BlockRange::all())
                .await?,
        ))
    }

    // ---------------------------------------------------------------------------------------
    // DataRegistry: certification and rewards
    // ---------------------------------------------------------------------------------------

    /// Aggregate certification state of a dataset.
    pub async fn certification_summary(
        &self,
        dataset_id: U256,
    ) -> Result<CertificationSummary, ChainError> {
        let r = self
            .data_registry()
            .certificationSummary(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("certificationSummary"))?;
        Ok(CertificationSummary {
            certified: r.certified,
            aggregate_score_bps: r.aggregateScoreBps,
            count: r.count,
            counted: r.counted,
        })
    }

    /// Every certificate of a dataset, oldest first (`DataRegistry.certifications(id)`; the
    /// `Certified` event query is [`PhdClient::certifications`]).
    pub async fn certification_history(
        &self,
        dataset_id: U256,
    ) -> Result<Vec<Certification>, ChainError> {
        self.data_registry()
            .certifications(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("certifications"))
    }

    /// Whether a dataset is certified (≥ `MIN_CERTIFICATIONS()` counted certificates).
    pub async fn is_certified(&self, dataset_id: U256) -> Result<bool, ChainError> {
        self.data_registry()
            .isCertified(dataset_id)
            .call()
            .await
            .map_err(self.rpc_err("isCertified"))
    }

    /// Certificates needed for a dataset to count as certified.
    pub async fn min_certifications(&self) -> Result<u8, ChainError> {
        self.data_registry()
            .MIN_CERTIFICATIONS()
            .call()
            .await
            .map_err(self.rpc_err("MIN_CERTIFICATIONS"))
    }

    /// PHD wei left to pay certification rewards.
    pub async fn reward_pool(&self) -> Result<U256, ChainError> {
        self.data_registry()
            .rewardPool()
            .call()
            .await
            .map_err(self.rpc_err("rewardPool"))
    }

    /// Anyone: adds `amount` to the reward pool (approving the registry first when needed);
    /// returns the new pool.
    pub async fn fund_rewards(&self, amount: U256) -> Result<(TxOutcome, U256), ChainError> {
        self.ensure_allowance(self.deployment().data_registry, amount)
            .await?;
        let reg = self.data_registry();
        let call = reg.fundRewards(amount);
        let (tx, receipt) = send_call(&self.send_ctx(), "fundRewards", &call).await?;
        let ev: DataRegistry::RewardsFunded = require_event(
            "fundRewards",
            &receipt,
            self.deployment().data_registry,
            "RewardsFunded",
        )?;
        Ok((tx, ev.pool))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use alloy::sol_types::SolValue;

    use super::*;

    #[test]
    fn delivery_log_matches_the_contract_encoding() {
        // _logEntry: keccak256(abi.encodePacked(uint8 shareIndex, keccak256(payload)))
        let payload = b"some delivery payload";
        let packed = [&[3u8][..], keccak256(payload).as_slice()].concat();
        assert_eq!(packed.len(), 33);
        assert_eq!(delivery_log_entry(3, payload), keccak256(&packed));
        // Another index or payload is another entry (a log cannot be reused across shares).
        assert_ne!(
            delivery_log_entry(4, payload),
            delivery_log_entry(3, payload)
        );
        assert_ne!(
            delivery_log_entry(3, b"other"),
            delivery_log_entry(3, payload)
        );

        // _logDelivery: h = keccak256(abi.encodePacked(h, entry)) from zero, in delivery order.
        let (a, b) = (delivery_log_entry(1, b"a"), delivery_log_entry(2, b"b"));
        let h1 = keccak256((B256::ZERO, a).abi_encode_packed());
        let h2 = keccak256((h1, b).abi_encode_packed());
        assert_eq!(delivery_log_hash(&[a, b]), h2);
        assert_ne!(delivery_log_hash(&[b, a]), h2, "order matters");
        assert_eq!(delivery_log_hash(&[]), B256::ZERO);
    }
}
