// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDataRegistry
/// @notice Listings of sealed health datasets: where the ciphertext lives, its content root, the
/// keepers holding key shares and the Feldman commitments that let anyone verify a share, the
/// purposes the owner consented to, validator certificates, and consent withdrawal with
/// per-keeper erasure confirmations (GDPR Art. 7(3), 17).
interface IDataRegistry {
    /// @notice Pending until `threshold` keepers acknowledged their share; Withdrawn is final;
    /// Delisted: a buyer proved the owner's listing does not open under the committed key (only
    /// `withdrawConsent` still applies, so keepers can erase).
    enum Status {
        None,
        Pending,
        Active,
        Withdrawn,
        Delisted
    }

    /// @notice Everything the owner states when publishing.
    /// @param storageUri Where the sealed object lives, e.g. `s3://bucket/key`.
    /// @param contentRoot SHA-256 Merkle root over the sealed object's chunk hashes.
    /// @param metadata Versioned JSON metadata, at most 4096 bytes; only its keccak256 is stored,
    /// the bytes are in the `Published` event.
    /// @param price Price in PHD (wei units) for one purchase.
    /// @param keepers Keeper i (0-based) holds share identifier i + 1. 2 ≤ threshold ≤ n ≤ 255.
    /// @param threshold Shares needed to reconstruct the key.
    /// @param commitments Feldman commitments a_j·G, exactly `threshold` compressed points
    /// (33 bytes each); commitments[0] = s·G is the key commitment C0.
    /// @param purposes Bitmask of consented purpose ids (see `PURPOSE_*` in Purposes.sol).
    /// @param consentTermsHash Hash of the consent terms text the owner agreed to.
    struct PublishParams {
        string storageUri;
        bytes32 contentRoot;
        bytes metadata;
        uint256 price;
        address[] keepers;
        uint8 threshold;
        bytes[] commitments;
        uint256 purposes;
        bytes32 consentTermsHash;
    }

    /// @notice A dataset as stored.
    struct Dataset {
        address owner;
        Status status;
        uint8 threshold;
        uint8 keeperCount;
        uint8 acknowledged;
        uint8 erasures;
        uint64 publishedAt;
        uint64 withdrawnAt;
        uint256 price;
        uint256 purposes;
        bytes32 contentRoot;
        bytes32 metadataHash;
        bytes32 consentTermsHash;
        string storageUri;
    }

    /// @notice A certificate a validator posted for a dataset (kept as a history, one per validator).
    struct Certification {
        address validator;
        uint16 scoreBps;
        uint64 certifiedAt;
        bytes32 modelId;
        bytes32 reportHash;
        string reportUri;
    }

    event Published(
        uint256 indexed datasetId,
        address indexed owner,
        string storageUri,
        bytes32 contentRoot,
        bytes metadata,
        uint256 price,
        address[] keepers,
        uint8 threshold,
        bytes[] commitments,
        uint256 purposes,
        bytes32 consentTermsHash
    );
    event ShareAcknowledged(uint256 indexed datasetId, address indexed keeper, uint8 shareIndex, uint8 acknowledged);
    event Activated(uint256 indexed datasetId);
    event PriceChanged(uint256 indexed datasetId, uint256 oldPrice, uint256 newPrice);
    event Certified(
        uint256 indexed datasetId,
        address indexed validator,
        uint16 scoreBps,
        bytes32 modelId,
        bytes32 reportHash,
        string reportUri,
        uint256 reward
    );
    event ConsentWithdrawn(uint256 indexed datasetId, address indexed owner);
    event ErasureConfirmed(uint256 indexed datasetId, address indexed keeper, uint8 erasures);
    event RewardsFunded(address indexed funder, uint256 amount, uint256 pool);
    /// @notice The `MIN_CERTIFICATIONS`-th counting certificate arrived: the dataset is certified.
    event CertificationReached(uint256 indexed datasetId, uint256 counted, uint16 aggregateScoreBps);

    /// @notice The owner deposited the listing bond (`LISTING_BOND`) with `publish`.
    event ListingBondPosted(uint256 indexed datasetId, address indexed owner, uint256 amount);
    /// @notice The owner took its listing bond back (the listing is closed, no proof can come).
    event ListingBondReclaimed(uint256 indexed datasetId, address indexed owner, uint256 amount);
    /// @notice A buyer proved that the listed object does not open under the committed key: the
    /// bond was slashed, first `toKeepers` (to the Marketplace, for the keepers whose shares of
    /// the proving purchase were good), of the rest `toBeneficiary` to the buyer and `toPool`
    /// into the reward pool.
    event OwnerFraudProven(
        uint256 indexed datasetId,
        address indexed owner,
        address indexed beneficiary,
        uint256 toKeepers,
        uint256 toBeneficiary,
        uint256 toPool
    );
    /// @notice The dataset left the market for owner fraud: no new purchases, open ones refundable.
    event Delisted(uint256 indexed datasetId);

    error DataRegistryUnknownDataset(uint256 datasetId);
    /// @notice Only the Marketplace named in the KeeperRegistry may submit owner-fraud proofs.
    error DataRegistryNotMarketplace(address caller);
    /// @notice An owner-fraud proof's header is not 64 bytes.
    error DataRegistryInvalidHeader(uint256 length);
    /// @notice The revealed secret is 0, not below the group order, or `s·G ≠ C0`.
    error DataRegistryInvalidSecret(uint256 datasetId);
    /// @notice Header, chunk count, plaintext length and tree root do not hash to the listed root.
    error DataRegistryContentRootMismatch(uint256 datasetId, bytes32 expected, bytes32 actual);
    /// @notice The header's key check matches the key of the revealed secret: no fraud.
    error DataRegistryKeyCheckMatches(uint256 datasetId);
    /// @notice The bond is still needed: the listing is open, or a proof may come until `unlocksAt`.
    error DataRegistryListingBondLocked(uint256 datasetId, uint256 unlocksAt);
    /// @notice No bond is held for the dataset (never posted, reclaimed, or slashed).
    error DataRegistryNoListingBond(uint256 datasetId);
    error DataRegistryNotOwner(uint256 datasetId, address caller);
    error DataRegistryInvalidThreshold(uint8 threshold, uint256 keeperCount);
    error DataRegistryInvalidCommitments(uint256 expected, uint256 actual);
    /// @dev Wrong length, wrong prefix, or not on secp256k1.
    error DataRegistryInvalidCommitment(uint256 index);
    error DataRegistryKeeperNotRegistered(address keeper);
    error DataRegistryDuplicateKeeper(address keeper);
    error DataRegistryMetadataTooLarge(uint256 length, uint256 max);
    error DataRegistryEmptyStorageUri();
    error DataRegistryNoPurposes();
    error DataRegistryNotListedKeeper(uint256 datasetId, address keeper);
    error DataRegistryAlreadyAcknowledged(uint256 datasetId, address keeper);
    error DataRegistryWrongStatus(uint256 datasetId, Status status);
    error DataRegistryNotValidator(address caller);
    error DataRegistryInvalidScore(uint16 scoreBps);
    error DataRegistryAlreadyCertifiedBy(uint256 datasetId, address validator);
    error DataRegistryAlreadyConfirmedErasure(uint256 datasetId, address keeper);
    /// @dev Added with the implementation: prices are stored as uint96 (≤ 7.9·10²⁸ wei).
    error DataRegistryPriceTooLarge(uint256 price, uint256 max);
    /// @dev The validator is the dataset's owner or one of its listed keepers.
    error DataRegistryValidatorNotIndependent(uint256 datasetId, address validator);
    /// @dev The validator holds no settled grant (Marketplace) for the dataset: it never saw the data.
    error DataRegistryAccessNotGranted(uint256 datasetId, address validator);
    error DataRegistryInvalidConfig();
    /// @dev Bits outside the defined purpose ids (Purposes.ALL = 0x1f).
    error DataRegistryUnknownPurposes(uint256 purposes);
    error DataRegistryStorageUriTooLong(uint256 length, uint256 max);
    error DataRegistryReportUriTooLong(uint256 length, uint256 max);

    /// @notice Lists a dataset in status Pending. Returns its id (ids start at 1).
    function publish(PublishParams calldata params) external returns (uint256 datasetId);

    /// @notice A listed keeper states it verified and durably stored its share.
    /// @dev The `threshold`-th acknowledgement activates the dataset.
    function acknowledgeShare(uint256 datasetId) external;

    /// @notice Owner only; not after withdrawal. Purchases name a `maxPrice`, so a change cannot
    /// front-run a buyer.
    function setPrice(uint256 datasetId, uint256 newPrice) external;

    /// @notice A staked validator that is neither the owner nor a listed keeper, and that holds a
    /// settled grant for the dataset, certifies its quality (once per dataset; certificates are
    /// kept as a history). A certificate with `scoreBps ≥ MIN_SCORE_BPS` counts; the
    /// `MIN_CERTIFICATIONS`-th counting certificate makes the dataset certified and pays the owner
    /// `CERTIFICATION_REWARD` PHD from the funded reward pool (less if the pool runs low, nothing
    /// once it is empty).
    /// @param scoreBps Quality score in basis points (0..10000).
    function certify(uint256 datasetId, uint16 scoreBps, bytes32 modelId, bytes32 reportHash, string calldata reportUri)
        external;

    /// @notice Owner only: final. No new purchases; open purchases become refundable at once;
    /// keepers must destroy their shares and confirm.
    function withdrawConsent(uint256 datasetId) external;

    /// @notice A listed keeper confirms it destroyed its share of a withdrawn dataset.
    function confirmErasure(uint256 datasetId) external;

    /// @notice The owner takes its listing bond back: only once the listing is Withdrawn and the
    /// Marketplace's confirmation window since the withdrawal passed (no delivery can happen
    /// after a withdrawal, so no purchase can be proven fraudulent any more).
    function reclaimListingBond(uint256 datasetId) external returns (uint256 amount);

    /// @notice Owner-fraud proof, called by the Marketplace for a buyer that received threshold
    /// shares: checks `secret·G == C0`, that (header, chunkCount, plaintextLen, treeRoot) hash to
    /// the listed content root, and that the header's key check is NOT the one of the key the
    /// secret derives (docs/FORMATS.md §1.5, §2.1). Then slashes the listing bond — first
    /// `keeperPay` to the Marketplace (the honest keepers' fees; the Marketplace keeps it ≤ the
    /// bond), of the rest half to `beneficiary` and half to the reward pool — and delists the
    /// dataset (when Pending/Active).
    /// @return toBeneficiary Bond paid to `beneficiary`.
    function delistForOwnerFraud(
        uint256 datasetId,
        address beneficiary,
        uint256 keeperPay,
        uint256 secret,
        bytes calldata header,
        uint64 chunkCount,
        uint64 plaintextLen,
        bytes32 treeRoot
    ) external returns (uint256 toBeneficiary);

    /// @notice PHD (wei units) every `publish` deposits as listing bond.
    function LISTING_BOND() external view returns (uint256);
    /// @notice Bond currently held for `datasetId`.
    function listingBondOf(uint256 datasetId) external view returns (uint256);
    /// @notice Sum of all listing bonds held (the registry's balance is rewardPool + this).
    function listingBonds() external view returns (uint256);

    function CERTIFICATION_REWARD() external view returns (uint256);
    function MAX_METADATA_BYTES() external view returns (uint256);
    /// @notice Longest `storageUri` and `reportUri`, in bytes.
    function MAX_URI_BYTES() external view returns (uint256);
    function datasetCount() external view returns (uint256);
    function dataset(uint256 datasetId) external view returns (Dataset memory);
    function keepersOf(uint256 datasetId) external view returns (address[] memory);
    function commitmentsOf(uint256 datasetId) external view returns (bytes[] memory);
    /// @notice 1-based share identifier of `keeper` in the dataset, 0 when not listed.
    function shareIndexOf(uint256 datasetId, address keeper) external view returns (uint8);
    function hasAcknowledged(uint256 datasetId, address keeper) external view returns (bool);
    function hasConfirmedErasure(uint256 datasetId, address keeper) external view returns (bool);
    function isPurposeConsented(uint256 datasetId, uint8 purpose) external view returns (bool);
    /// @notice The latest certificate, with `scoreBps` replaced by the aggregate (mean) score of
    /// all certificates of the dataset; all zero when there is none.
    function certification(uint256 datasetId) external view returns (Certification memory);
    /// @notice At least `MIN_CERTIFICATIONS` counting certificates.
    function isCertified(uint256 datasetId) external view returns (bool);

    // ---------------------------------------------------------------------------------------
    // Added on branch trust: reward pool and certificate history.
    // ---------------------------------------------------------------------------------------

    /// @notice Adds `amount` PHD (pulled from the caller; approve first) to the reward pool.
    function fundRewards(uint256 amount) external;

    function rewardPool() external view returns (uint256);
    function MIN_SCORE_BPS() external view returns (uint16);
    function MIN_CERTIFICATIONS() external view returns (uint8);
    function KEEPER_REGISTRY() external view returns (address);
    function certificationCount(uint256 datasetId) external view returns (uint256);
    function certificationAt(uint256 datasetId, uint256 index) external view returns (Certification memory);
    function certifications(uint256 datasetId) external view returns (Certification[] memory);
    /// @notice certified (counted ≥ MIN_CERTIFICATIONS), mean score of all certificates, number of
    /// certificates, number that count (score ≥ MIN_SCORE_BPS).
    function certificationSummary(uint256 datasetId)
        external
        view
        returns (bool certified, uint16 aggregateScoreBps, uint256 count, uint256 counted);

    // ---------------------------------------------------------------------------------------
    // Added with the implementation: compact views for the Marketplace (one call per step).
    // ---------------------------------------------------------------------------------------

    /// @notice What `purchase`/`grant` need, in one call. Status None for an unknown id.
    function purchaseTerms(uint256 datasetId)
        external
        view
        returns (address owner, Status status, uint8 threshold, uint256 price, uint256 purposes);

    /// @notice What `deliverShare` needs: the dataset status and `keeper`'s 1-based share index
    /// (0 when not listed).
    function deliveryTerms(uint256 datasetId, address keeper) external view returns (Status status, uint8 shareIndex);

    /// @notice What `settle` needs: the owner and the keepers whose share index i has bit i − 1
    /// set in `shareBitmap`, in share-index order.
    function settlementParties(uint256 datasetId, uint256 shareBitmap)
        external
        view
        returns (address owner, address[] memory keepers);
}
