// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMarketplace
/// @notice Escrow for dataset purchases. The buyer's PHD is held while keepers first `commit` to
/// serving the purchase; once ≥ threshold keepers committed, committed keepers post their share
/// (encrypted to the buyer's key) through `deliverShare`. With ≥ threshold shares the sale settles
/// into withdrawable credits for the owner and the delivering keepers — it can no longer be
/// refunded. With fewer by the deadline, or after consent was withdrawn, the buyer takes a full
/// refund, and a committed keeper that did not deliver can be slashed (to the buyer).
interface IMarketplace {
    enum PurchaseStatus {
        None,
        Open,
        Settled,
        Refunded
    }

    /// @notice A purchase or a grant (a grant is a purchase of price zero made by the owner).
    struct Purchase {
        uint256 datasetId;
        address buyer;
        uint8 purpose;
        uint8 threshold;
        uint8 delivered;
        bool confirmed;
        bool isGrant;
        PurchaseStatus status;
        uint64 createdAt;
        uint64 deliveryDeadline;
        /// @dev When the threshold-th share arrived (0 before); starts the confirmation window.
        uint64 thresholdReachedAt;
        uint256 price;
    }

    event Purchased(
        uint256 indexed purchaseId,
        uint256 indexed datasetId,
        address indexed buyer,
        uint8 purpose,
        uint256 price,
        bytes buyerPubKey,
        uint64 deliveryDeadline
    );
    event Granted(
        uint256 indexed purchaseId,
        uint256 indexed datasetId,
        address indexed grantee,
        uint8 purpose,
        bytes granteePubKey,
        uint64 deliveryDeadline
    );
    /// @param payload The keeper's share, ECIES-encrypted to the buyer's public key.
    event ShareDelivered(
        uint256 indexed purchaseId, address indexed keeper, uint8 shareIndex, uint8 delivered, bytes payload
    );
    event Confirmed(uint256 indexed purchaseId, uint256 indexed datasetId, address indexed buyer);
    event Settled(
        uint256 indexed purchaseId,
        uint256 indexed datasetId,
        uint256 ownerAmount,
        uint256 keeperAmountEach,
        uint8 keeperCount
    );
    event Refunded(uint256 indexed purchaseId, uint256 indexed datasetId, address indexed buyer, uint256 amount);
    /// @notice `keeper` promised to deliver its share for the purchase; `committed` keepers so far.
    event Committed(
        uint256 indexed purchaseId, uint256 indexed datasetId, address indexed keeper, uint8 shareIndex, uint8 committed
    );
    /// @notice The buyer proved keeper `keeper`'s delivery wrong: it no longer counts (`delivered`
    /// good shares remain), is not paid, and `slashed` of its stake was credited to the buyer.
    event ShareDisputed(
        uint256 indexed purchaseId,
        uint256 indexed datasetId,
        address indexed keeper,
        uint8 shareIndex,
        uint256 slashed,
        uint8 delivered
    );
    /// @notice A committed keeper did not deliver by the deadline of a purchase that failed:
    /// `amount` of its stake was credited to `beneficiary` (the buyer).
    event KeeperSlashed(
        uint256 indexed purchaseId,
        uint256 indexed datasetId,
        address indexed keeper,
        uint256 amount,
        address beneficiary
    );
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice The buyer proved the owner listed an object that does not open under the committed
    /// key: `refund` returned, `bond` of the owner's listing bond paid to the buyer.
    event OwnerFraudRefunded(
        uint256 indexed purchaseId, uint256 indexed datasetId, address indexed buyer, uint256 refund, uint256 bond
    );
    /// @notice Owner fraud proven on the purchase: each of the `keepersPaid` keepers whose share
    /// counted was credited `keeperAmountEach` from the owner's listing bond (its normal fee, or
    /// an equal share of the bond when the bond is smaller).
    event KeepersPaidFromBond(
        uint256 indexed purchaseId, uint256 indexed datasetId, uint256 keeperAmountEach, uint256 keepersPaid
    );

    error MarketplaceUnknownPurchase(uint256 purchaseId);
    error MarketplaceDatasetNotActive(uint256 datasetId, uint8 status);
    error MarketplacePurposeNotConsented(uint256 datasetId, uint8 purpose);
    error MarketplacePriceAboveMax(uint256 price, uint256 maxPrice);
    /// @dev The paper's "declined": the buyer cannot pay.
    error MarketplaceInsufficientBalance(address buyer, uint256 balance, uint256 price);
    error MarketplaceInsufficientAllowance(address buyer, uint256 allowance, uint256 price);
    /// @dev The public key must be 64 bytes (x ‖ y) and hash to the account it is for.
    error MarketplaceInvalidPubKey(address account, uint256 length);
    error MarketplacePubKeyMismatch(address account, address derived);
    error MarketplaceNotDatasetOwner(uint256 datasetId, address caller);
    error MarketplaceNotListedKeeper(uint256 purchaseId, address keeper);
    error MarketplaceAlreadyDelivered(uint256 purchaseId, address keeper);
    error MarketplaceEmptyPayload();
    error MarketplacePayloadTooLarge(uint256 length, uint256 max);
    error MarketplacePurchaseNotOpen(uint256 purchaseId, PurchaseStatus status);
    error MarketplaceDeliveryClosed(uint256 purchaseId, uint64 deadline);
    error MarketplaceNotBuyer(uint256 purchaseId, address caller);
    error MarketplaceThresholdNotReached(uint256 purchaseId, uint8 delivered, uint8 threshold);
    error MarketplaceConfirmationWindowOpen(uint256 purchaseId, uint64 endsAt);
    error MarketplaceRefundNotYetAllowed(uint256 purchaseId, uint64 deadline);
    error MarketplaceNothingToWithdraw(address account);
    error MarketplaceInvalidConfig();
    /// @dev `deliverShare` before `threshold` keepers committed.
    error MarketplaceNotEnoughCommitments(uint256 purchaseId, uint8 committed, uint8 threshold);
    error MarketplaceAlreadyCommitted(uint256 purchaseId, address keeper);
    /// @dev Commitments are accepted during the first half of the delivery window.
    error MarketplaceCommitClosed(uint256 purchaseId, uint64 commitDeadline);
    /// @dev The keeper is not (or no longer) bonded in the KeeperRegistry.
    error MarketplaceKeeperNotStaked(address keeper);
    /// @dev Refund refused: the purchase already received `threshold` shares (it settles).
    error MarketplaceThresholdDelivered(uint256 purchaseId, uint8 delivered, uint8 threshold);
    /// @dev Slash refused: not a committed keeper that failed a purchase after its deadline.
    error MarketplaceNotSlashable(uint256 purchaseId, address keeper);
    /// @dev The delivery is correct: the dispute is refused.
    error MarketplaceFalseDispute(uint256 purchaseId, uint8 shareIndex);
    /// @dev Share index not delivered, or already disputed/slashed.
    error MarketplaceNotDisputable(uint256 purchaseId, uint8 shareIndex);
    /// @dev The delivery log does not hash to the stored chain, or lacks the disputed delivery.
    error MarketplaceInvalidDeliveryLog(uint256 purchaseId);
    /// @notice An owner-fraud proof comes after the purchase's confirmation window (`endsAt`).
    error MarketplaceFraudProofClosed(uint256 purchaseId, uint64 endsAt);

    /// @notice Pays `price` (≤ `maxPrice`) into escrow for dataset `datasetId`; for a dataset of
    /// price 0, threshold × `deliveryFee()` (for the keepers) instead.
    /// @param buyerPubKey Uncompressed secp256k1 key without prefix (64 bytes) of `msg.sender`;
    /// keepers encrypt shares to it.
    /// @param purpose A purpose id the owner consented to.
    function purchase(uint256 datasetId, bytes calldata buyerPubKey, uint8 purpose, uint256 maxPrice)
        external
        returns (uint256 purchaseId);

    /// @notice `purchase` with an EIP-2612 permit instead of a prior approval.
    function purchaseWithPermit(
        uint256 datasetId,
        bytes calldata buyerPubKey,
        uint8 purpose,
        uint256 maxPrice,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 purchaseId);

    /// @notice Owner only: access for `grantee` (a validator, or the owner's own portability copy)
    /// without a price; the owner pays the keepers threshold × `deliveryFee()` (approve first).
    function grant(uint256 datasetId, address grantee, bytes calldata granteePubKey, uint8 purpose)
        external
        returns (uint256 purchaseId);

    /// @notice A bonded keeper listed on the dataset promises to deliver its share for the
    /// purchase. Open during the first half of the delivery window; once per keeper.
    function commit(uint256 purchaseId) external;

    /// @notice A listed keeper posts its share for the purchase, once, before the delivery
    /// deadline, when ≥ threshold keepers committed — counting itself: a delivery by a keeper
    /// that did not `commit` commits it at the same time (so the threshold-th keeper may skip
    /// `commit`). Reverts `MarketplaceNotEnoughCommitments` before that.
    function deliverShare(uint256 purchaseId, bytes calldata payload) external;

    /// @notice Anyone, after the delivery deadline of a purchase that got fewer than threshold
    /// shares although ≥ threshold keepers committed: slashes a committed keeper that did not
    /// deliver (once per purchase) by `NON_DELIVERY_SLASH`, credited to the buyer. Not when
    /// consent was withdrawn before the deadline.
    function slashNonDelivery(uint256 purchaseId, address keeper) external returns (uint256 amount);

    /// @notice Buyer, while the purchase is open (before it settles — `settle` by others waits the
    /// confirmation window): proves that the share delivered at `shareIndex` is wrong
    /// (docs/FORMATS.md §2.4, `ShareProof`). The delivery stops counting and is never paid, the
    /// keeper is slashed `BAD_SHARE_SLASH` (credited to the buyer); if fewer than threshold good
    /// shares remain, other committed keepers may still deliver before the deadline, else the
    /// buyer is refunded. A malformed payload is wrong without a proof. A correct share reverts
    /// `MarketplaceFalseDispute`; an invalid proof reverts with a `ShareProof…` error.
    /// @param payload The disputed delivery, exactly as in `ShareDelivered`.
    /// @param buyerPubKey The buyer's 64-byte public key (as in `Purchased`/`Granted`).
    /// @param deliveryLog keccak256(abi.encodePacked(uint8 shareIndex, keccak256(payload))) of
    /// every delivery of the purchase so far, in `ShareDelivered` order.
    /// @param proof The 352-byte DLEQ proof of `ShareProof` (ignored for a malformed payload).
    function dispute(
        uint256 purchaseId,
        uint8 shareIndex,
        bytes calldata payload,
        bytes calldata buyerPubKey,
        bytes32[] calldata deliveryLog,
        bytes calldata proof
    ) external returns (uint256 slashed);

    /// @notice Owner-fraud proof by the buyer of an Open purchase that received ≥ threshold shares,
    /// within its confirmation window: the dataset secret `secret` (checked against C0) and the
    /// sealed object's 64-byte header, chunk count, plaintext length and chunk tree root (checked
    /// against the listed content root) show that the header's key check is not the one of the
    /// key `secret` derives (docs/FORMATS.md §1.5). The buyer is refunded in full from the escrow;
    /// the owner's listing bond is slashed: first each keeper whose share counted is credited its
    /// normal fee for the purchase (capped so that all of them fit in the bond, equal shares),
    /// then half the rest goes to the buyer and half to the reward pool; the dataset is
    /// delisted. Reveals `secret`.
    /// Reverts with the DataRegistry's `DataRegistryKeyCheckMatches` when the key does open it.
    function proveOwnerFraud(
        uint256 purchaseId,
        uint256 secret,
        bytes calldata header,
        uint64 chunkCount,
        uint64 plaintextLen,
        bytes32 treeRoot
    ) external returns (uint256 refunded, uint256 bond);

    /// @notice Buyer states receipt; settles the sale at once when ≥ threshold shares arrived.
    function confirm(uint256 purchaseId) external;

    /// @notice Anyone: settles when ≥ threshold shares arrived and the buyer confirmed or the
    /// confirmation window passed.
    function settle(uint256 purchaseId) external;

    /// @notice Buyer: full refund when fewer than threshold shares arrived, either after the
    /// delivery deadline or at once when the owner withdrew consent. Never after threshold shares.
    function refund(uint256 purchaseId) external;

    /// @notice Pulls the caller's credits.
    function withdraw() external returns (uint256 amount);

    function token() external view returns (address);
    function dataRegistry() external view returns (address);
    function keeperFeeBps() external view returns (uint16);
    function deliveryWindow() external view returns (uint64);
    function confirmationWindow() external view returns (uint64);
    function purchaseCount() external view returns (uint256);
    function getPurchase(uint256 purchaseId) external view returns (Purchase memory);
    function hasDelivered(uint256 purchaseId, address keeper) external view returns (bool);
    function creditsOf(address account) external view returns (uint256);
    /// @notice Sum of prices of open purchases: with total credits, what the contract must hold.
    function openEscrow() external view returns (uint256);
    function totalCredits() external view returns (uint256);
    /// @notice True when `account` holds a settled grant for `datasetId` (it received the shares);
    /// the DataRegistry requires it from certifying validators.
    function accessGranted(uint256 datasetId, address account) external view returns (bool);
    function keeperRegistry() external view returns (address);
    /// @notice Number of committed keepers and their share-index bitmap (bit i − 1 for index i).
    function commitState(uint256 purchaseId) external view returns (uint8 committed, uint256 bitmap);
    function hasCommitted(uint256 purchaseId, address keeper) external view returns (bool);
    /// @notice Stake taken from a keeper proven to have delivered a wrong share.
    function BAD_SHARE_SLASH() external view returns (uint256);
    /// @notice Stake taken from a committed keeper that failed to deliver.
    function NON_DELIVERY_SLASH() external view returns (uint256);
    /// @notice Per-share fee paid by the requester of a grant or of a free dataset: such a request
    /// escrows threshold × deliveryFee, split among the delivering keepers at settlement.
    function deliveryFee() external view returns (uint256);
    /// @notice Seconds after a purchase during which keepers may commit (half the delivery window).
    function commitWindow() external view returns (uint64);
}
