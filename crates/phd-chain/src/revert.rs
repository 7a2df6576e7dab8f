//! Decoding revert data of the contracts into typed errors with human messages.

use std::fmt;

use alloy::{
    primitives::{Bytes, U256},
    sol_types::{GenericContractError, SolInterface},
};

use crate::{
    bindings::{
        coin::PHDCoin::PHDCoinErrors as C, data_registry::DataRegistry::DataRegistryErrors as D,
        keeper_registry::KeeperRegistry::KeeperRegistryErrors as K,
        marketplace::Marketplace::MarketplaceErrors as M,
        series_certification::SeriesCertification::SeriesCertificationErrors as SC,
        series_market::SeriesMarket::SeriesMarketErrors as S,
    },
    purpose::{DatasetStatus, PurchaseStatus, purpose_name, role_name},
    units::format_phd_unit as phd,
};

/// Why a contract call reverted, decoded from the revert data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractRevert {
    /// A `DataRegistry` error.
    DataRegistry(D),
    /// A `KeeperRegistry` error (incl. OpenZeppelin `Ownable`).
    KeeperRegistry(K),
    /// A `Marketplace` error (incl. `ReentrancyGuard`, `SafeERC20`).
    Marketplace(M),
    /// A `SeriesMarket` error.
    SeriesMarket(S),
    /// A `SeriesCertification` error.
    SeriesCertification(SC),
    /// A `PHDCoin` error (incl. OpenZeppelin ERC-20, ERC-2612, AccessControl, ECDSA, nonces).
    Coin(C),
    /// `Error(string)` from `require`/`revert("...")`.
    Message(String),
    /// `Panic(uint256)`: assertion, arithmetic overflow, …
    Panic(U256),
    /// The call reverted without data.
    Empty,
    /// Data that matches no known error.
    Unknown(Bytes),
}

impl ContractRevert {
    /// Decodes revert data, trying every contract's error set.
    pub fn decode(data: &[u8]) -> Self {
        if data.is_empty() {
            return Self::Empty;
        }
        if let Ok(e) = M::abi_decode(data) {
            return Self::Marketplace(e);
        }
        if let Ok(e) = S::abi_decode(data) {
            return Self::SeriesMarket(e);
        }
        if let Ok(e) = SC::abi_decode(data) {
            return Self::SeriesCertification(e);
        }
        if let Ok(e) = D::abi_decode(data) {
            return Self::DataRegistry(e);
        }
        if let Ok(e) = K::abi_decode(data) {
            return Self::KeeperRegistry(e);
        }
        if let Ok(e) = C::abi_decode(data) {
            return Self::Coin(e);
        }
        match GenericContractError::abi_decode(data) {
            Ok(GenericContractError::Revert(r)) => Self::Message(r.reason),
            Ok(GenericContractError::Panic(p)) => Self::Panic(p.code),
            Err(_) => Self::Unknown(Bytes::copy_from_slice(data)),
        }
    }

    /// Solidity name of the error (`MarketplacePriceAboveMax`, `Error`, `Panic`, …).
    pub fn name(&self) -> String {
        fn short(dbg: String) -> String {
            // `Variant(Struct { .. })` → `Variant`
            dbg.split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        }
        match self {
            Self::DataRegistry(e) => short(format!("{e:?}")),
            Self::KeeperRegistry(e) => short(format!("{e:?}")),
            Self::Marketplace(e) => short(format!("{e:?}")),
            Self::SeriesMarket(e) => short(format!("{e:?}")),
            Self::SeriesCertification(e) => short(format!("{e:?}")),
            Self::Coin(e) => short(format!("{e:?}")),
            Self::Message(_) => "Error".into(),
            Self::Panic(_) => "Panic".into(),
            Self::Empty => "EmptyRevert".into(),
            Self::Unknown(_) => "UnknownError".into(),
        }
    }
}

fn status(s: u8) -> DatasetStatus {
    s.into()
}

fn pstatus(s: u8) -> PurchaseStatus {
    s.into()
}

impl fmt::Display for ContractRevert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Marketplace(e) => match e {
                M::MarketplaceUnknownPurchase(e) => write!(f, "purchase {} does not exist", e.purchaseId),
                M::MarketplaceDatasetNotActive(e) => {
                    write!(f, "dataset {} is not for sale (status: {})", e.datasetId, status(e.status))
                }
                M::MarketplacePurposeNotConsented(e) => write!(
                    f,
                    "the owner of dataset {} did not consent to purpose {}",
                    e.datasetId,
                    purpose_name(e.purpose)
                ),
                M::MarketplacePriceAboveMax(e) => {
                    write!(f, "price {} is above your maximum {}", phd(e.price), phd(e.maxPrice))
                }
                M::MarketplaceInsufficientBalance(e) => write!(
                    f,
                    "declined: {} holds {} but the price is {}",
                    e.buyer,
                    phd(e.balance),
                    phd(e.price)
                ),
                M::MarketplaceInsufficientAllowance(e) => write!(
                    f,
                    "declined: {} allowed the marketplace to take {} but the price is {} (approve first)",
                    e.buyer,
                    phd(e.allowance),
                    phd(e.price)
                ),
                M::MarketplaceInvalidPubKey(e) => write!(
                    f,
                    "public key for {} must be 64 bytes (x‖y), got {} bytes",
                    e.account, e.length
                ),
                M::MarketplacePubKeyMismatch(e) => {
                    write!(f, "public key belongs to {}, not to {}", e.derived, e.account)
                }
                M::MarketplaceNotDatasetOwner(e) => {
                    write!(f, "{} is not the owner of dataset {}", e.caller, e.datasetId)
                }
                M::MarketplaceNotListedKeeper(e) => {
                    write!(f, "{} is not a keeper of the dataset of purchase {}", e.keeper, e.purchaseId)
                }
                M::MarketplaceAlreadyDelivered(e) => {
                    write!(f, "keeper {} already delivered its share for purchase {}", e.keeper, e.purchaseId)
                }
                M::MarketplaceEmptyPayload(_) => f.write_str("the share payload is empty"),
                M::MarketplacePayloadTooLarge(e) => {
                    write!(f, "the share payload is {} bytes, at most {} allowed", e.length, e.max)
                }
                M::MarketplacePurchaseNotOpen(e) => {
                    write!(f, "purchase {} is not open (status: {})", e.purchaseId, pstatus(e.status))
                }
                M::MarketplaceDeliveryClosed(e) => {
                    write!(f, "delivery for purchase {} closed at unix time {}", e.purchaseId, e.deadline)
                }
                M::MarketplaceNotBuyer(e) => write!(f, "{} is not the buyer of purchase {}", e.caller, e.purchaseId),
                M::MarketplaceThresholdNotReached(e) => write!(
                    f,
                    "purchase {} has {} of {} required shares",
                    e.purchaseId, e.delivered, e.threshold
                ),
                M::MarketplaceConfirmationWindowOpen(e) => write!(
                    f,
                    "purchase {} awaits the buyer's confirmation until unix time {}",
                    e.purchaseId, e.endsAt
                ),
                M::MarketplaceRefundNotYetAllowed(e) => write!(
                    f,
                    "purchase {} cannot be refunded before its delivery deadline (unix time {})",
                    e.purchaseId, e.deadline
                ),
                M::MarketplaceNothingToWithdraw(e) => write!(f, "{} has no credits to withdraw", e.account),
                M::MarketplaceInvalidConfig(_) => f.write_str("invalid marketplace configuration"),
                M::ReentrancyGuardReentrantCall(_) => f.write_str("reentrant call refused"),
                M::SafeERC20FailedOperation(e) => write!(f, "token transfer failed ({})", e.token),
                M::MarketplaceAlreadyCommitted(e) => {
                    write!(f, "keeper {} already committed to purchase {}", e.keeper, e.purchaseId)
                }
                M::MarketplaceCommitClosed(e) => write!(
                    f,
                    "commitments to purchase {} closed at unix time {}",
                    e.purchaseId, e.commitDeadline
                ),
                M::MarketplaceNotEnoughCommitments(e) => write!(
                    f,
                    "purchase {} has {} of {} required keeper commitments; deliveries wait for them",
                    e.purchaseId, e.committed, e.threshold
                ),
                M::MarketplaceKeeperNotStaked(e) => {
                    write!(f, "keeper {} is not an active, staked keeper", e.keeper)
                }
                M::MarketplaceThresholdDelivered(e) => write!(
                    f,
                    "purchase {} already received {} of {} required shares: no refund",
                    e.purchaseId, e.delivered, e.threshold
                ),
                M::MarketplaceNotSlashable(e) => {
                    write!(f, "keeper {} cannot be slashed for purchase {}", e.keeper, e.purchaseId)
                }
                M::MarketplaceFalseDispute(e) => write!(
                    f,
                    "dispute refused: share {} of purchase {} is not proven wrong",
                    e.shareIndex, e.purchaseId
                ),
                M::MarketplaceNotDisputable(e) => write!(
                    f,
                    "share {} of purchase {} was not delivered or was already disputed",
                    e.shareIndex, e.purchaseId
                ),
                M::MarketplaceInvalidDeliveryLog(e) => write!(
                    f,
                    "the delivery log does not match the deliveries of purchase {} (rebuild it from every ShareDelivered event)",
                    e.purchaseId
                ),
                M::MarketplaceFraudProofClosed(e) => write!(
                    f,
                    "the owner-fraud proof window of purchase {} closed at {} (the confirmation window)",
                    e.purchaseId, e.endsAt
                ),
                M::ShareProofInvalidBuyerKey(_) => f.write_str("share proof: the buyer key is not a valid point"),
                M::ShareProofInvalidEncoding(_) => f.write_str("share proof: malformed proof encoding"),
                M::ShareProofInvalidPoint(_) => f.write_str("share proof: a point is not on secp256k1"),
                M::ShareProofInvalidScalar(_) => f.write_str("share proof: a scalar is out of range"),
                M::ShareProofInvalidProof(_) => f.write_str("share proof: the DLEQ proof does not verify"),
                M::ShareProofInvalidCommitment(_) => f.write_str("share proof: invalid Feldman commitment"),
                M::ShareProofInvalidIndex(_) => f.write_str("share proof: invalid share index"),
            },
            Self::SeriesMarket(e) => series_message(e, f),
            Self::SeriesCertification(e) => series_certification_message(e, f),
            Self::DataRegistry(e) => match e {
                D::DataRegistryUnknownDataset(e) => write!(f, "dataset {} does not exist", e.datasetId),
                D::DataRegistryNotOwner(e) => write!(f, "{} is not the owner of dataset {}", e.caller, e.datasetId),
                D::DataRegistryInvalidThreshold(e) => write!(
                    f,
                    "threshold {} is invalid for {} keepers (need 2 ≤ t ≤ n ≤ 32)",
                    e.threshold, e.keeperCount
                ),
                D::DataRegistryInvalidCommitments(e) => {
                    write!(f, "expected {} commitments (one per threshold), got {}", e.expected, e.actual)
                }
                D::DataRegistryInvalidCommitment(e) => {
                    write!(f, "commitment {} is not a compressed secp256k1 point", e.index)
                }
                D::DataRegistryKeeperNotRegistered(e) => write!(f, "{} is not a registered keeper", e.keeper),
                D::DataRegistryDuplicateKeeper(e) => write!(f, "keeper {} is listed twice", e.keeper),
                D::DataRegistryMetadataTooLarge(e) => {
                    write!(f, "metadata is {} bytes, at most {} allowed", e.length, e.max)
                }
                D::DataRegistryEmptyStorageUri(_) => f.write_str("the storage URI is empty"),
                D::DataRegistryNoPurposes(_) => f.write_str("no purposes consented"),
                D::DataRegistryNotListedKeeper(e) => {
                    write!(f, "{} is not a keeper of dataset {}", e.keeper, e.datasetId)
                }
                D::DataRegistryAlreadyAcknowledged(e) => {
                    write!(f, "keeper {} already acknowledged dataset {}", e.keeper, e.datasetId)
                }
                D::DataRegistryWrongStatus(e) => {
                    write!(f, "dataset {} is {} for this operation", e.datasetId, status(e.status))
                }
                D::DataRegistryNotValidator(e) => write!(f, "{} is not a registered validator", e.caller),
                D::DataRegistryInvalidScore(e) => write!(f, "score {} bps is above 10000", e.scoreBps),
                D::DataRegistryAlreadyCertifiedBy(e) => {
                    write!(f, "validator {} already certified dataset {}", e.validator, e.datasetId)
                }
                D::DataRegistryAlreadyConfirmedErasure(e) => {
                    write!(f, "keeper {} already confirmed erasure for dataset {}", e.keeper, e.datasetId)
                }
                D::DataRegistryPriceTooLarge(e) => write!(f, "price {} is above the maximum {}", phd(e.price), phd(e.max)),
                D::ReentrancyGuardReentrantCall(_) => f.write_str("reentrant call refused"),
                D::SafeERC20FailedOperation(e) => write!(f, "token transfer failed ({})", e.token),
                D::DataRegistryValidatorNotIndependent(e) => write!(
                    f,
                    "validator {} is not independent of dataset {} (its owner or one of its keepers)",
                    e.validator, e.datasetId
                ),
                D::DataRegistryAccessNotGranted(e) => write!(
                    f,
                    "validator {} holds no settled grant for dataset {} (the owner grants, keepers deliver, the validator confirms)",
                    e.validator, e.datasetId
                ),
                D::DataRegistryInvalidConfig(_) => f.write_str("invalid data registry configuration"),
                D::DataRegistryUnknownPurposes(e) => {
                    write!(f, "purposes 0x{:x} are not a non-empty subset of the known purposes (0x1f)", e.purposes)
                }
                D::DataRegistryStorageUriTooLong(e) => {
                    write!(f, "storage URI is {} bytes, at most {} allowed", e.length, e.max)
                }
                D::DataRegistryReportUriTooLong(e) => {
                    write!(f, "report URI is {} bytes, at most {} allowed", e.length, e.max)
                }
                D::DataRegistryNotMarketplace(e) => {
                    write!(f, "{} is not the marketplace: owner-fraud proofs go through Marketplace.proveOwnerFraud", e.caller)
                }
                D::DataRegistryInvalidHeader(e) => {
                    write!(f, "owner-fraud proof: the sealed header must be 64 bytes, got {}", e.length)
                }
                D::DataRegistryInvalidSecret(e) => write!(
                    f,
                    "owner-fraud proof: the secret does not match the key commitment C0 of dataset {}",
                    e.datasetId
                ),
                D::DataRegistryContentRootMismatch(e) => write!(
                    f,
                    "owner-fraud proof: the evidence hashes to {} but dataset {} lists content root {}",
                    e.actual, e.datasetId, e.expected
                ),
                D::DataRegistryKeyCheckMatches(e) => write!(
                    f,
                    "no owner fraud: the sealed header of dataset {} carries the key check of the committed key",
                    e.datasetId
                ),
                D::DataRegistryListingBondLocked(e) => {
                    if e.unlocksAt == U256::MAX {
                        write!(f, "the listing bond of dataset {} stays until consent is withdrawn", e.datasetId)
                    } else {
                        write!(f, "the listing bond of dataset {} unlocks at {}", e.datasetId, e.unlocksAt)
                    }
                }
                D::DataRegistryNoListingBond(e) => {
                    write!(f, "dataset {} holds no listing bond (reclaimed or slashed)", e.datasetId)
                }
                D::ShareProofInvalidCommitment(_) => f.write_str("owner-fraud proof: invalid key commitment C0"),
                D::ShareProofInvalidIndex(_) => f.write_str("owner-fraud proof: invalid share index"),
            },
            Self::KeeperRegistry(e) => match e {
                K::KeeperRegistryAlreadyRegistered(e) => {
                    write!(f, "{} is already registered as {}", e.node, role_name(e.role))
                }
                K::KeeperRegistryNotRegistered(e) => write!(f, "{} is not registered", e.node),
                K::KeeperRegistryInvalidRole(e) => write!(f, "invalid role {}", e.role),
                K::KeeperRegistryInvalidEncryptionKey(e) => write!(
                    f,
                    "encryption key 0x{} is not a 33-byte compressed secp256k1 point",
                    alloy::hex::encode(&e.key)
                ),
                K::KeeperRegistryInvalidEndpoint(e) => {
                    write!(f, "endpoint {:?} is empty or longer than 256 bytes", e.endpoint)
                }
                K::KeeperRegistryInvalidManufacturer(e) => write!(f, "invalid manufacturer {}", e.manufacturer),
                K::KeeperRegistryManufacturerNotApproved(e) => {
                    write!(f, "manufacturer {} is not approved", e.manufacturer)
                }
                K::OwnableInvalidOwner(e) => write!(f, "invalid owner {}", e.owner),
                K::OwnableUnauthorizedAccount(e) => {
                    write!(f, "{} is not the registry owner", e.account)
                }
                K::KeeperRegistryInsufficientStake(e) => {
                    write!(f, "stake {} is below the minimum {}", phd(e.amount), phd(e.minimum))
                }
                K::KeeperRegistryInvalidKeyProof(e) => write!(
                    f,
                    "key proof of {} is not a signature by the encryption key over keyProofDigest",
                    e.node
                ),
                K::KeeperRegistryStakeLocked(e) => {
                    write!(f, "stake of {} is locked until unix time {}", e.node, e.unlockAt)
                }
                K::KeeperRegistryExiting(e) => {
                    write!(f, "{} is leaving (stake unlocks at unix time {})", e.node, e.unlockAt)
                }
                K::KeeperRegistryNotMarketplace(e) => {
                    write!(f, "{} is neither the marketplace nor the series market", e.caller)
                }
                K::KeeperRegistrySeriesMarketAlreadySet(e) => {
                    write!(f, "the series market is already set to {}", e.seriesMarket)
                }
                K::KeeperRegistryMarketplaceAlreadySet(e) => {
                    write!(f, "the marketplace is already set to {}", e.marketplace)
                }
                K::KeeperRegistryInvalidConfig(_) => f.write_str("invalid keeper registry configuration"),
                K::KeeperRegistryRenounceDisabled(_) => f.write_str("renouncing the registry ownership is disabled"),
                K::ReentrancyGuardReentrantCall(_) => f.write_str("reentrant call refused"),
                K::SafeERC20FailedOperation(e) => write!(f, "token transfer failed ({})", e.token),
            },
            Self::Coin(e) => match e {
                C::AccessControlBadConfirmation(_) => f.write_str("role renouncement not confirmed by the caller"),
                C::AccessControlUnauthorizedAccount(e) => {
                    write!(f, "{} lacks role {}", e.account, e.neededRole)
                }
                C::ECDSAInvalidSignature(_) => f.write_str("invalid signature"),
                C::ECDSAInvalidSignatureLength(e) => write!(f, "invalid signature length {}", e.length),
                C::ECDSAInvalidSignatureS(e) => write!(f, "invalid signature s value {}", e.s),
                C::ERC20InsufficientAllowance(e) => write!(
                    f,
                    "{} may spend {} but needs {}",
                    e.spender,
                    phd(e.allowance),
                    phd(e.needed)
                ),
                C::ERC20InsufficientBalance(e) => write!(
                    f,
                    "{} holds {} but needs {}",
                    e.sender,
                    phd(e.balance),
                    phd(e.needed)
                ),
                C::ERC20InvalidApprover(e) => write!(f, "invalid approver {}", e.approver),
                C::ERC20InvalidReceiver(e) => write!(f, "invalid receiver {}", e.receiver),
                C::ERC20InvalidSender(e) => write!(f, "invalid sender {}", e.sender),
                C::ERC20InvalidSpender(e) => write!(f, "invalid spender {}", e.spender),
                C::ERC2612ExpiredSignature(e) => write!(f, "permit expired at unix time {}", e.deadline),
                C::ERC2612InvalidSigner(e) => {
                    write!(f, "permit signed by {}, not by the owner {}", e.signer, e.owner)
                }
                C::InvalidAccountNonce(e) => {
                    write!(f, "invalid nonce for {} (current {})", e.account, e.currentNonce)
                }
                C::InvalidShortString(_) => f.write_str("invalid short string"),
                C::StringTooLong(e) => write!(f, "string too long: {:?}", e.str),
                C::AccessControlEnforcedDefaultAdminDelay(e) => {
                    write!(f, "the admin transfer can be accepted only after unix time {}", e.schedule)
                }
                C::AccessControlEnforcedDefaultAdminRules(_) => f.write_str(
                    "the default admin role is only handed over with beginDefaultAdminTransfer / acceptDefaultAdminTransfer",
                ),
                C::AccessControlInvalidDefaultAdmin(e) => write!(f, "{} is not the pending default admin", e.defaultAdmin),
                C::ERC20ExceededCap(e) => write!(f, "supply {} would exceed the cap {}", phd(e.increasedSupply), phd(e.cap)),
                C::ERC20InvalidCap(e) => write!(f, "invalid supply cap {}", phd(e.cap)),
                C::SafeCastOverflowedUintDowncast(e) => {
                    write!(f, "value {} does not fit in {} bits", e.value, e.bits)
                }
            },
            Self::Message(m) => write!(f, "reverted: {m}"),
            Self::Panic(code) => write!(f, "panic 0x{code:x} ({})", panic_reason(*code)),
            Self::Empty => f.write_str("reverted without a reason"),
            Self::Unknown(data) => write!(f, "reverted with unknown error data {data}"),
        }
    }
}

fn series_status(s: u8) -> &'static str {
    match s {
        1 => "active",
        2 => "withdrawn (consent)",
        _ => "unknown",
    }
}

fn series_message(e: &S, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        S::SeriesMarketInvalidConfig(_) => f.write_str("invalid series market configuration"),
        S::SeriesMarketInvalidThreshold(e) => write!(
            f,
            "threshold {} is invalid for {} keepers (need 2 ≤ t ≤ n ≤ 8)",
            e.threshold, e.keeperCount
        ),
        S::SeriesMarketNoPurposes(_) => f.write_str("no purposes consented"),
        S::SeriesMarketUnknownPurposes(e) => {
            write!(
                f,
                "purposes 0x{:x} are not a non-empty subset of the known purposes (0x1f)",
                e.purposes
            )
        }
        S::SeriesMarketPriceTooLarge(e) => write!(
            f,
            "price {} is above the maximum {}",
            phd(e.price),
            phd(e.max)
        ),
        S::SeriesMarketKeeperNotRegistered(e) => {
            write!(f, "{} is not a registered, staked keeper", e.keeper)
        }
        S::SeriesMarketDuplicateKeeper(e) => write!(f, "keeper {} is listed twice", e.keeper),
        S::SeriesMarketUnknownSeries(e) => write!(f, "series {} does not exist", e.seriesId),
        S::SeriesMarketNotOwner(e) => {
            write!(f, "{} is not the owner of series {}", e.account, e.seriesId)
        }
        S::SeriesMarketNotActive(e) => {
            write!(
                f,
                "series {} is {}: nothing more is appended, sold or released",
                e.seriesId,
                series_status(e.status)
            )
        }
        S::SeriesMarketNotWithdrawn(e) => write!(
            f,
            "series {} still has consent: nothing to erase",
            e.seriesId
        ),
        S::SeriesMarketWrongSeq(e) => {
            write!(
                f,
                "series {} expects segment {} next, got {}",
                e.seriesId, e.expected, e.got
            )
        }
        S::SeriesMarketInvalidCommitments(e) => write!(
            f,
            "segment commitments are {} bytes, expected {} (threshold × 33)",
            e.length, e.expectedLength
        ),
        S::SeriesMarketInvalidCommitment(e) => {
            write!(
                f,
                "commitment {} is not a compressed secp256k1 point",
                e.index
            )
        }
        S::SeriesMarketInvalidUri(e) => {
            write!(f, "segment URI is {} bytes, need 1..={}", e.length, e.max)
        }
        S::SeriesMarketPurposeNotConsented(e) => write!(
            f,
            "the owner of series {} did not consent to purpose {}",
            e.seriesId,
            purpose_name(e.purpose)
        ),
        S::SeriesMarketPriceAboveMax(e) => {
            write!(
                f,
                "price per segment {} is above your maximum {}",
                phd(e.price),
                phd(e.max)
            )
        }
        S::SeriesMarketInvalidSegments(e) => {
            write!(
                f,
                "{} segments from {} is not a valid range (1..=2³²−1 segments)",
                e.segments, e.fromSeq
            )
        }
        S::SeriesMarketInvalidPubKey(e) => {
            write!(
                f,
                "public key for {} must be 64 bytes (x‖y), got {} bytes",
                e.account, e.length
            )
        }
        S::SeriesMarketPubKeyMismatch(e) => write!(
            f,
            "public key belongs to {}, not to {}",
            e.derived, e.account
        ),
        S::SeriesMarketUnknownSubscription(e) => {
            write!(f, "subscription {} does not exist", e.subscriptionId)
        }
        S::SeriesMarketNotSubscriber(e) => {
            write!(
                f,
                "{} is not the subscriber of subscription {}",
                e.account, e.subscriptionId
            )
        }
        S::SeriesMarketAlreadyCancelled(e) => {
            write!(f, "subscription {} is already cancelled", e.subscriptionId)
        }
        S::SeriesMarketNothingToRefund(e) => write!(
            f,
            "subscription {} has nothing refundable now (appended segments stay owed until their release window ends)",
            e.subscriptionId
        ),
        S::SeriesMarketNotListedKeeper(e) => {
            write!(f, "{} is not a keeper of series {}", e.account, e.seriesId)
        }
        S::SeriesMarketKeeperNotStaked(e) => {
            write!(f, "keeper {} is not an active, staked keeper", e.keeper)
        }
        S::SeriesMarketSegmentNotAppended(e) => {
            write!(
                f,
                "segment {} of series {} is not appended yet",
                e.seq, e.seriesId
            )
        }
        S::SeriesMarketWrongSeries(e) => {
            write!(
                f,
                "subscription {} is not a subscription of series {}",
                e.subscriptionId, e.seriesId
            )
        }
        S::SeriesMarketInvalidPayload(e) => write!(
            f,
            "a share payload is {} bytes, need 1..={}",
            e.length, e.max
        ),
        S::SeriesMarketAlreadyConfirmedErasure(e) => {
            write!(
                f,
                "keeper {} already confirmed erasure of series {}",
                e.keeper, e.seriesId
            )
        }
        S::SeriesMarketNothingToWithdraw(e) => {
            write!(f, "{} has no series credits to withdraw", e.account)
        }
        S::SeriesMarketNotDisputable(e) => write!(
            f,
            "share index {} did not release segment {} to subscription {}, or that release was already proven wrong",
            e.shareIndex, e.seq, e.subscriptionId
        ),
        S::SeriesMarketDisputeClosed(e) => write!(
            f,
            "the dispute window of segment {} of subscription {} closed at {}",
            e.seq, e.subscriptionId, e.deadline
        ),
        S::SeriesMarketDisputeTooEarly(e) => write!(
            f,
            "segment {} of subscription {} has fewer than t releases and its release window is open until {}: dispute once it is charged or the window closed",
            e.seq, e.subscriptionId, e.releaseEnd
        ),
        S::SeriesMarketInvalidReleaseLog(e) => write!(
            f,
            "the payload is not in the release log of share index {} to subscription {} (not what the keeper released)",
            e.shareIndex, e.subscriptionId
        ),
        S::SeriesMarketWrongCommitments(e) => write!(
            f,
            "the commitments are not those appended for segment {} of series {}",
            e.seq, e.seriesId
        ),
        S::SeriesMarketFalseDispute(e) => write!(
            f,
            "false dispute: share index {}'s release of segment {} to subscription {} is correct",
            e.shareIndex, e.seq, e.subscriptionId
        ),
        S::SeriesMarketNotSlashable(e) => {
            write!(
                f,
                "keeper {} could not be slashed (SeriesMarket not wired as slasher)",
                e.keeper
            )
        }
        S::ShareProofInvalidBuyerKey(_) => {
            f.write_str("share proof: the subscriber key is not a valid point")
        }
        S::ShareProofInvalidEncoding(_) => f.write_str("share proof: malformed proof encoding"),
        S::ShareProofInvalidPoint(_) => f.write_str("share proof: a point is not on secp256k1"),
        S::ShareProofInvalidScalar(_) => f.write_str("share proof: a scalar is out of range"),
        S::ShareProofInvalidProof(_) => f.write_str("share proof: the DLEQ proof does not verify"),
        S::ShareProofInvalidCommitment(_) => f.write_str("share proof: invalid Feldman commitment"),
        S::ShareProofInvalidIndex(_) => f.write_str("share proof: invalid share index"),
        S::ReentrancyGuardReentrantCall(_) => f.write_str("reentrant call refused"),
        S::SafeERC20FailedOperation(e) => write!(f, "token transfer failed ({})", e.token),
    }
}

fn panic_reason(code: U256) -> &'static str {
    match code.saturating_to::<u64>() {
        0x01 => "assertion failed",
        0x11 => "arithmetic overflow or underflow",
        0x12 => "division by zero",
        0x21 => "invalid enum value",
        0x31 => "pop on empty array",
        0x32 => "array index out of bounds",
        0x41 => "out of memory",
        0x51 => "call to uninitialised function",
        _ => "unknown panic",
    }
}

fn series_certification_message(e: &SC, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        SC::SeriesCertificationInvalidConfig(_) => {
            f.write_str("invalid SeriesCertification configuration")
        }
        SC::SeriesCertificationNotValidator(e) => {
            write!(f, "{} is not a staked validator", e.account)
        }
        SC::SeriesCertificationInvalidScore(e) => {
            write!(f, "score {} bps is above 10000", e.scoreBps)
        }
        SC::SeriesCertificationReportUriTooLong(e) => {
            write!(f, "report URI is {} bytes (max {})", e.length, e.max)
        }
        SC::SeriesCertificationUnknownSeries(e) => {
            write!(f, "series {} does not exist", e.seriesId)
        }
        SC::SeriesCertificationSeriesNotActive(e) => {
            write!(f, "series {} is not active (consent withdrawn)", e.seriesId)
        }
        SC::SeriesCertificationValidatorNotIndependent(e) => write!(
            f,
            "{} is the owner or a keeper of series {}: it cannot certify it",
            e.validator, e.seriesId
        ),
        SC::SeriesCertificationAccessNotGranted(e) => write!(
            f,
            "subscription {} is not {}'s access to series {}",
            e.subscriptionId, e.validator, e.seriesId
        ),
        SC::SeriesCertificationNotReleased(e) => write!(
            f,
            "segment {} of series {} was not released through this subscription (released: {}..{})",
            e.throughSeq, e.seriesId, e.fromSeq, e.releasedEnd
        ),
        SC::SeriesCertificationNotLater(e) => write!(
            f,
            "{} already certified series {} through segment {}: a new certificate must cover a later one",
            e.validator, e.seriesId, e.previousThroughSeq
        ),
        SC::SeriesCertificationUnknownCertificate(e) => {
            write!(f, "series {} has no certificate {}", e.seriesId, e.index)
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::Address,
        sol_types::{SolError, SolInterface as _},
    };

    use super::*;
    use crate::{bindings::marketplace::Marketplace, units::phd as whole};

    #[test]
    fn decodes_and_displays() {
        let err = Marketplace::MarketplacePriceAboveMax {
            price: whole(120),
            maxPrice: whole(100),
        };
        let data = err.abi_encode();
        let r = ContractRevert::decode(&data);
        assert_eq!(r.to_string(), "price 120 PHD is above your maximum 100 PHD");
        assert_eq!(r.name(), "MarketplacePriceAboveMax");

        let e = M::MarketplaceNothingToWithdraw(Marketplace::MarketplaceNothingToWithdraw {
            account: Address::ZERO,
        });
        assert_eq!(
            ContractRevert::decode(&e.abi_encode()),
            ContractRevert::Marketplace(e)
        );
        assert_eq!(ContractRevert::decode(&[]), ContractRevert::Empty);
        assert!(matches!(
            ContractRevert::decode(&[1, 2, 3, 4, 5]),
            ContractRevert::Unknown(_)
        ));
        // Errors added with the trust rules decode to their contract and read as sentences.
        let e = Marketplace::MarketplaceNotEnoughCommitments {
            purchaseId: U256::from(7),
            committed: 1,
            threshold: 2,
        };
        let r = ContractRevert::decode(&e.abi_encode());
        assert_eq!(r.name(), "MarketplaceNotEnoughCommitments");
        assert!(r.to_string().contains("1 of 2"), "{r}");
        let e = Marketplace::ShareProofInvalidProof {};
        assert_eq!(
            ContractRevert::decode(&e.abi_encode()).name(),
            "ShareProofInvalidProof"
        );
        let e = crate::bindings::keeper_registry::KeeperRegistry::KeeperRegistryInvalidKeyProof {
            node: Address::ZERO,
        };
        assert!(matches!(
            ContractRevert::decode(&e.abi_encode()),
            ContractRevert::KeeperRegistry(_)
        ));
        let e = crate::bindings::data_registry::DataRegistry::DataRegistryAccessNotGranted {
            datasetId: U256::from(3),
            validator: Address::ZERO,
        };
        let r = ContractRevert::decode(&e.abi_encode());
        assert_eq!(r.name(), "DataRegistryAccessNotGranted");
        assert!(r.to_string().contains("settled grant"), "{r}");
        let e = crate::bindings::coin::PHDCoin::ERC20ExceededCap {
            increasedSupply: whole(2),
            cap: whole(1),
        };
        assert_eq!(
            ContractRevert::decode(&e.abi_encode()).name(),
            "ERC20ExceededCap"
        );
        let e = crate::bindings::series_market::SeriesMarket::SeriesMarketWrongSeq {
            seriesId: U256::from(2),
            expected: 5,
            got: 4,
        };
        let r = ContractRevert::decode(&e.abi_encode());
        assert_eq!(r.name(), "SeriesMarketWrongSeq");
        assert_eq!(r.to_string(), "series 2 expects segment 5 next, got 4");
        let msg = alloy::sol_types::Revert::from("nope").abi_encode();
        assert_eq!(
            ContractRevert::decode(&msg),
            ContractRevert::Message("nope".into())
        );
    }
}
