// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IMarketplace} from "./interfaces/IMarketplace.sol";
import {IDataRegistry} from "./interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "./interfaces/IKeeperRegistry.sol";
import {Purposes} from "./Purposes.sol";
import {ShareProof} from "./libraries/ShareProof.sol";

/// @title Marketplace
/// @notice Escrow for dataset purchases. `purchase` pulls the price into escrow. Each bonded
/// keeper listed on the dataset first `commit`s to serving the purchase (first half of the
/// delivery window); once ≥ threshold keepers committed, each committed keeper posts its share,
/// encrypted to the buyer's key, once through `deliverShare` before the delivery deadline. So a
/// partial release (fewer than threshold shares) happens only when a committed keeper defaults,
/// and that keeper can then be slashed (`slashNonDelivery`, to the buyer). With ≥ threshold
/// shares delivered the sale settles — at once when the buyer `confirm`s, or by anyone once the
/// confirmation window since the threshold-th share passed — into withdrawable credits:
///   keeper fee = price × keeperFeeBps / 10 000, split equally among all keepers who delivered;
///   the owner gets price − (fee share × deliverers), i.e. the rounding dust too.
/// A purchase that received threshold shares is never refunded (processing already done is not
/// undone, GDPR Art. 7(3)). With fewer by the deadline, or at once after consent was withdrawn,
/// the buyer takes a full refund. Every purchase ends exactly once, as Settled or Refunded.
/// @dev Invariant: token.balanceOf(this) == openEscrow + totalCredits (for a plain ERC-20).
/// Storage: a purchase takes two slots; delivered and committed share indexes (1..32, the
/// DataRegistry's MAX_KEEPERS) are two bitmaps inside the second slot. Counters are packed in one
/// slot. Prices are uint96 (the DataRegistry enforces it).
contract Marketplace is IMarketplace, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Purposes for uint256;

    /// @notice Largest encrypted share payload, in bytes.
    uint256 public constant MAX_PAYLOAD_BYTES = 1024;
    /// @notice Basis-point denominator.
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound of both windows at deployment (about 136 years).
    uint64 public constant MAX_WINDOW = type(uint32).max;
    /// @notice Length of an uncompressed public key without its 0x04 prefix.
    uint256 public constant PUBKEY_LENGTH = 64;
    /// @notice Share of the KeeperRegistry's MIN_STAKE taken from a committed keeper that defaults.
    uint16 public constant NON_DELIVERY_SLASH_BPS = 1_000;
    /// @notice Share of the KeeperRegistry's MIN_STAKE taken from a keeper proven to have
    /// delivered a wrong share (credited to the buyer).
    uint16 public constant BAD_SHARE_SLASH_BPS = 5_000;

    IERC20 private immutable _TOKEN;
    IDataRegistry private immutable _REGISTRY;
    IKeeperRegistry private immutable _KEEPERS;
    uint16 private immutable _KEEPER_FEE_BPS;
    uint64 private immutable _DELIVERY_WINDOW;
    uint64 private immutable _COMMIT_WINDOW;
    uint64 private immutable _CONFIRMATION_WINDOW;
    /// @inheritdoc IMarketplace
    uint256 public immutable NON_DELIVERY_SLASH;
    uint256 private immutable _DELIVERY_FEE;
    /// @notice Stake taken from a keeper proven (by `dispute`) to have delivered a wrong share.
    uint256 public immutable BAD_SHARE_SLASH;

    /// @dev A purchase as stored: two slots.
    struct PurchaseData {
        // slot 0
        address buyer;
        uint96 price;
        // slot 1
        uint48 datasetId;
        uint8 purpose;
        uint8 threshold;
        uint8 delivered;
        PurchaseStatus status;
        bool confirmed;
        bool isGrant;
        uint40 createdAt;
        uint40 thresholdReachedAt;
        /// @dev Bit i − 1 set when share index i delivered.
        uint32 deliveredBits;
        /// @dev Bit i − 1 set when share index i committed.
        uint32 committedBits;
        uint8 committed;
        /// @dev Grant or free dataset: `price` is threshold × deliveryFee, all of it for keepers.
        bool feeOnly;
    }

    /// @dev Global counters, one slot.
    struct Totals {
        uint64 purchaseCount;
        uint96 openEscrow;
        uint96 totalCredits;
    }

    Totals private _totals;
    mapping(uint256 purchaseId => PurchaseData) private _purchases;
    mapping(address account => uint256) private _credits;
    /// @dev The grant (purchase id) that counts for `accessGranted`: the latest one unless an
    /// earlier one already settled.
    mapping(uint256 datasetId => mapping(address grantee => uint256 purchaseId)) private _grantOf;
    /// @dev Bit i − 1 set when the keeper at share index i was slashed for the purchase (for not
    /// delivering, or for a delivery proven wrong — then its delivered bit stays set but the
    /// delivery neither counts nor is paid).
    mapping(uint256 purchaseId => uint256) private _slashedBits;
    /// @dev Hash chain over the purchase's deliveries: h ← keccak256(h ‖ keccak256(index ‖
    /// keccak256(payload))). Binds a disputed payload to what the keeper posted.
    mapping(uint256 purchaseId => bytes32) private _deliveryLog;

    /// @param token_ The PHD coin (also the KeeperRegistry's stake token).
    /// @param dataRegistry_ The DataRegistry listing the datasets (its KEEPER_REGISTRY is used).
    /// @param keeperFeeBps_ Keepers' share of each price in basis points (≤ 10 000).
    /// @param deliveryWindow_ Seconds after a purchase during which keepers may deliver (≥ 2);
    /// commitments close after half of it.
    /// @param confirmationWindow_ Seconds after the threshold-th share after which anyone may
    /// settle without the buyer's confirmation (> 0). Both windows together must not exceed the
    /// KeeperRegistry's UNBONDING_DELAY, so a defaulting keeper is still bonded when slashed.
    /// @param deliveryFee_ PHD (wei units) per share paid by whoever requests a grant or a copy
    /// of a free dataset: such a request escrows threshold × deliveryFee, all of it for the
    /// delivering keepers (≤ 2⁹⁶ / 256).
    constructor(
        address token_,
        address dataRegistry_,
        uint16 keeperFeeBps_,
        uint64 deliveryWindow_,
        uint64 confirmationWindow_,
        uint256 deliveryFee_
    ) {
        if (
            token_ == address(0) || dataRegistry_ == address(0) || keeperFeeBps_ > BPS || deliveryWindow_ < 2
                || deliveryWindow_ > MAX_WINDOW || confirmationWindow_ == 0 || confirmationWindow_ > MAX_WINDOW
                || deliveryFee_ > type(uint96).max / 256
        ) revert MarketplaceInvalidConfig();
        IKeeperRegistry keepers_ = IKeeperRegistry(IDataRegistry(dataRegistry_).KEEPER_REGISTRY());
        if (
            keepers_.STAKE_TOKEN() != token_
                || uint256(deliveryWindow_) + confirmationWindow_ > keepers_.UNBONDING_DELAY()
        ) revert MarketplaceInvalidConfig();
        _TOKEN = IERC20(token_);
        _REGISTRY = IDataRegistry(dataRegistry_);
        _KEEPERS = keepers_;
        _KEEPER_FEE_BPS = keeperFeeBps_;
        _DELIVERY_WINDOW = deliveryWindow_;
        _COMMIT_WINDOW = deliveryWindow_ / 2;
        _CONFIRMATION_WINDOW = confirmationWindow_;
        _DELIVERY_FEE = deliveryFee_;
        NON_DELIVERY_SLASH = keepers_.MIN_STAKE() * NON_DELIVERY_SLASH_BPS / BPS;
        BAD_SHARE_SLASH = keepers_.MIN_STAKE() * BAD_SHARE_SLASH_BPS / BPS;
    }

    // ------------------------------------------------------------------------------------------
    // Buying
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMarketplace
    function purchase(uint256 datasetId, bytes calldata buyerPubKey, uint8 purpose, uint256 maxPrice)
        external
        nonReentrant
        returns (uint256 purchaseId)
    {
        return _purchase(datasetId, buyerPubKey, purpose, maxPrice);
    }

    /// @inheritdoc IMarketplace
    /// @dev A failing permit is ignored (it may have been front-run); the allowance pre-check then
    /// decides.
    function purchaseWithPermit(
        uint256 datasetId,
        bytes calldata buyerPubKey,
        uint8 purpose,
        uint256 maxPrice,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 purchaseId) {
        try IERC20Permit(address(_TOKEN)).permit(msg.sender, address(this), maxPrice, permitDeadline, v, r, s) {}
            catch {}
        return _purchase(datasetId, buyerPubKey, purpose, maxPrice);
    }

    /// @inheritdoc IMarketplace
    function grant(uint256 datasetId, address grantee, bytes calldata granteePubKey, uint8 purpose)
        external
        nonReentrant
        returns (uint256 purchaseId)
    {
        _checkPubKey(grantee, granteePubKey);
        (address owner, IDataRegistry.Status status, uint8 threshold,, uint256 purposes) =
            _REGISTRY.purchaseTerms(datasetId);
        if (status != IDataRegistry.Status.Active) revert MarketplaceDatasetNotActive(datasetId, uint8(status));
        if (owner != msg.sender) revert MarketplaceNotDatasetOwner(datasetId, msg.sender);
        if (!purposes.contains(purpose)) revert MarketplacePurposeNotConsented(datasetId, purpose);
        uint256 fee = threshold * _DELIVERY_FEE;
        _checkFunds(fee);

        uint64 deadline;
        (purchaseId, deadline) = _open(datasetId, grantee, purpose, threshold, fee, true, true);
        uint256 previous = _grantOf[datasetId][grantee];
        if (previous == 0 || _purchases[previous].status != PurchaseStatus.Settled) {
            _grantOf[datasetId][grantee] = purchaseId;
        }
        emit Granted(purchaseId, datasetId, grantee, purpose, granteePubKey, deadline);
        if (fee != 0) _TOKEN.safeTransferFrom(msg.sender, address(this), fee);
    }

    // ------------------------------------------------------------------------------------------
    // Commitment, delivery and settlement
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMarketplace
    function commit(uint256 purchaseId) external nonReentrant {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus pStatus = p.status;
        if (pStatus != PurchaseStatus.Open) _revertNotOpen(purchaseId, pStatus);
        uint64 commitDeadline = p.createdAt + _COMMIT_WINDOW;
        if (block.timestamp >= commitDeadline) revert MarketplaceCommitClosed(purchaseId, commitDeadline);

        uint256 datasetId = p.datasetId;
        uint8 shareIndex = _listedActiveKeeper(purchaseId, datasetId);
        if (!_KEEPERS.isKeeper(msg.sender)) revert MarketplaceKeeperNotStaked(msg.sender);

        uint32 bit = uint32(1) << (shareIndex - 1);
        uint32 bits = p.committedBits;
        if (bits & bit != 0) revert MarketplaceAlreadyCommitted(purchaseId, msg.sender);
        p.committedBits = bits | bit;
        uint8 committed = p.committed + 1;
        p.committed = committed;
        emit Committed(purchaseId, datasetId, msg.sender, shareIndex, committed);
    }

    /// @inheritdoc IMarketplace
    /// @dev Refused once the dataset's consent was withdrawn (no further release of data).
    function deliverShare(uint256 purchaseId, bytes calldata payload) external nonReentrant {
        if (payload.length == 0) revert MarketplaceEmptyPayload();
        if (payload.length > MAX_PAYLOAD_BYTES) revert MarketplacePayloadTooLarge(payload.length, MAX_PAYLOAD_BYTES);

        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus pStatus = p.status;
        if (pStatus != PurchaseStatus.Open) _revertNotOpen(purchaseId, pStatus);
        _checkBeforeDeadline(purchaseId, p.createdAt);
        uint8 shareIndex = _listedActiveKeeper(purchaseId, p.datasetId);

        uint32 bit = uint32(1) << (shareIndex - 1);
        uint32 bits = p.deliveredBits;
        if (bits & bit != 0) revert MarketplaceAlreadyDelivered(purchaseId, msg.sender);
        uint8 threshold = p.threshold;
        uint8 committed = p.committed;
        uint32 committedBits = p.committedBits;
        if (committedBits & bit == 0) {
            // Delivering is committing: the keeper serves now, nothing is left to default on.
            ++committed;
            p.committedBits = committedBits | bit;
            p.committed = committed;
        }
        if (committed < threshold) revert MarketplaceNotEnoughCommitments(purchaseId, committed, threshold);
        p.deliveredBits = bits | bit;
        uint8 delivered = p.delivered + 1;
        p.delivered = delivered;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (delivered == threshold) p.thresholdReachedAt = uint40(block.timestamp);
        _logDelivery(purchaseId, shareIndex, payload);
        emit ShareDelivered(purchaseId, msg.sender, shareIndex, delivered, payload);
    }

    /// @inheritdoc IMarketplace
    function dispute(
        uint256 purchaseId,
        uint8 shareIndex,
        bytes calldata payload,
        bytes calldata buyerPubKey,
        bytes32[] calldata deliveryLog,
        bytes calldata proof
    ) external nonReentrant returns (uint256 amount) {
        PurchaseData storage p = _disputeCaller(purchaseId, buyerPubKey);
        uint256 bit = _checkDisputable(purchaseId, p.deliveredBits, shareIndex, payload, deliveryLog);
        _requireBad(purchaseId, shareIndex, p.datasetId, payload, buyerPubKey, proof);
        amount = _applyDispute(purchaseId, p, shareIndex, bit);
    }

    /// @dev Open purchase of the caller, whose key is `buyerPubKey`.
    function _disputeCaller(uint256 purchaseId, bytes calldata buyerPubKey)
        private
        view
        returns (PurchaseData storage p)
    {
        p = _purchases[purchaseId];
        PurchaseStatus status = p.status;
        if (status != PurchaseStatus.Open) _revertNotOpen(purchaseId, status);
        if (p.buyer != msg.sender) revert MarketplaceNotBuyer(purchaseId, msg.sender);
        _checkPubKey(msg.sender, buyerPubKey);
    }

    /// @dev Reverts `MarketplaceFalseDispute` unless the proof shows the delivery is wrong.
    function _requireBad(
        uint256 purchaseId,
        uint8 shareIndex,
        uint256 datasetId,
        bytes calldata payload,
        bytes calldata buyerPubKey,
        bytes calldata proof
    ) private view {
        bool bad = ShareProof.verifyDispute(
            ShareProof.here(purchaseId, shareIndex), buyerPubKey, payload, _REGISTRY.commitmentsOf(datasetId), proof
        );
        if (!bad) revert MarketplaceFalseDispute(purchaseId, shareIndex);
    }

    /// @dev The delivery no longer counts (and will not be paid); the keeper is slashed to the buyer.
    function _applyDispute(uint256 purchaseId, PurchaseData storage p, uint8 shareIndex, uint256 bit)
        private
        returns (uint256 amount)
    {
        _slashedBits[purchaseId] |= bit;
        uint8 delivered = p.delivered - 1;
        p.delivered = delivered;
        if (delivered < p.threshold) p.thresholdReachedAt = 0;
        uint256 datasetId = p.datasetId;
        (, address[] memory ks) = _REGISTRY.settlementParties(datasetId, bit);
        address keeper = ks[0];
        uint256 stake = _KEEPERS.stakeOf(keeper).amount;
        amount = BAD_SHARE_SLASH < stake ? BAD_SHARE_SLASH : stake;
        if (amount != 0) {
            _credits[msg.sender] += amount;
            // forge-lint: disable-next-line(unsafe-typecast) -- amount ≤ a uint96 stake
            _totals.totalCredits += uint96(amount);
        }
        emit ShareDisputed(purchaseId, datasetId, keeper, shareIndex, amount, delivered);
        if (amount != 0 && _KEEPERS.slash(keeper, amount) != amount) {
            revert MarketplaceNotSlashable(purchaseId, keeper);
        }
    }

    /// @dev Appends a delivery to the purchase's hash chain.
    function _logDelivery(uint256 purchaseId, uint8 shareIndex, bytes calldata payload) private {
        _deliveryLog[purchaseId] = keccak256(abi.encodePacked(_deliveryLog[purchaseId], _logEntry(shareIndex, payload)));
    }

    function _logEntry(uint8 shareIndex, bytes calldata payload) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(shareIndex, keccak256(payload)));
    }

    /// @dev `shareIndex` delivered, not yet slashed, and (`shareIndex`, `payload`) is an entry of
    /// `log`, whose chain is the stored one. Returns the share's bit.
    function _checkDisputable(
        uint256 purchaseId,
        uint32 deliveredBits,
        uint8 shareIndex,
        bytes calldata payload,
        bytes32[] calldata log
    ) private view returns (uint256 bit) {
        bit = shareIndex == 0 || shareIndex > 32 ? 0 : uint256(1) << (shareIndex - 1);
        if (bit == 0 || deliveredBits & bit == 0 || _slashedBits[purchaseId] & bit != 0) {
            revert MarketplaceNotDisputable(purchaseId, shareIndex);
        }
        bytes32 entry = _logEntry(shareIndex, payload);
        bytes32 h;
        bool found;
        for (uint256 i; i < log.length; ++i) {
            h = keccak256(abi.encodePacked(h, log[i]));
            if (log[i] == entry) found = true;
        }
        if (!found || h != _deliveryLog[purchaseId]) revert MarketplaceInvalidDeliveryLog(purchaseId);
    }

    function _checkBeforeDeadline(uint256 purchaseId, uint40 createdAt) private view {
        uint64 deadline = createdAt + _DELIVERY_WINDOW;
        if (block.timestamp >= deadline) revert MarketplaceDeliveryClosed(purchaseId, deadline);
    }

    /// @dev The caller's share index on an Active dataset (reverts when not listed / not Active).
    function _listedActiveKeeper(uint256 purchaseId, uint256 datasetId) private view returns (uint8 shareIndex) {
        IDataRegistry.Status dStatus;
        (dStatus, shareIndex) = _REGISTRY.deliveryTerms(datasetId, msg.sender);
        if (shareIndex == 0) revert MarketplaceNotListedKeeper(purchaseId, msg.sender);
        if (dStatus != IDataRegistry.Status.Active) revert MarketplaceDatasetNotActive(datasetId, uint8(dStatus));
    }

    /// @inheritdoc IMarketplace
    function slashNonDelivery(uint256 purchaseId, address keeper) external nonReentrant returns (uint256 amount) {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus pStatus = p.status;
        if (pStatus == PurchaseStatus.None) revert MarketplaceUnknownPurchase(purchaseId);
        uint64 deadline = p.createdAt + _DELIVERY_WINDOW;
        if (block.timestamp < deadline) revert MarketplaceRefundNotYetAllowed(purchaseId, deadline);
        uint256 datasetId = p.datasetId;
        uint8 shareIndex = _REGISTRY.shareIndexOf(datasetId, keeper);
        uint256 bit = shareIndex == 0 ? 0 : uint256(1) << (shareIndex - 1);
        uint256 slashed = _slashedBits[purchaseId];
        // Deliveries were possible (≥ threshold commitments), the purchase failed, the keeper
        // committed, did not deliver, and was not slashed for it yet.
        if (
            bit == 0 || p.committed < p.threshold || p.delivered >= p.threshold || p.committedBits & bit == 0
                || p.deliveredBits & bit != 0 || slashed & bit != 0
        ) revert MarketplaceNotSlashable(purchaseId, keeper);
        // Consent withdrawn (or the dataset delisted) before the deadline stopped deliveries: not
        // the keeper's fault.
        IDataRegistry.Dataset memory d = _REGISTRY.dataset(datasetId);
        if (d.status >= IDataRegistry.Status.Withdrawn && d.withdrawnAt < deadline) {
            revert MarketplaceNotSlashable(purchaseId, keeper);
        }

        uint256 stake = _KEEPERS.stakeOf(keeper).amount;
        amount = NON_DELIVERY_SLASH < stake ? NON_DELIVERY_SLASH : stake;
        _slashedBits[purchaseId] = slashed | bit;
        address beneficiary = p.buyer;
        if (amount != 0) {
            _credits[beneficiary] += amount;
            // forge-lint: disable-next-line(unsafe-typecast) -- amount ≤ a uint96 stake
            _totals.totalCredits += uint96(amount);
        }
        emit KeeperSlashed(purchaseId, datasetId, keeper, amount, beneficiary);
        // The trusted registry transfers exactly `amount` (≤ the stake read above) to this contract.
        if (amount != 0 && _KEEPERS.slash(keeper, amount) != amount) {
            revert MarketplaceNotSlashable(purchaseId, keeper);
        }
    }

    /// @inheritdoc IMarketplace
    /// @dev The registry verifies the proof (and reverts when it fails) and slashes the bond. Order
    /// of payment: the buyer's refund from the escrow, then the keepers whose shares counted from
    /// the bond (they served honestly), then the rest of the bond (half to the buyer).
    function proveOwnerFraud(
        uint256 purchaseId,
        uint256 secret,
        bytes calldata header,
        uint64 chunkCount,
        uint64 plaintextLen,
        bytes32 treeRoot
    ) external nonReentrant returns (uint256 refunded, uint256 bond) {
        uint256 datasetId;
        (datasetId, refunded) = _refundForFraud(purchaseId);
        // The registry transfers the keepers' pay to this contract, matching their credits.
        bond = _REGISTRY.delistForOwnerFraud(
            datasetId,
            msg.sender,
            _creditKeepersFromBond(purchaseId, datasetId),
            secret,
            header,
            chunkCount,
            plaintextLen,
            treeRoot
        );
        emit OwnerFraudRefunded(purchaseId, datasetId, msg.sender, refunded, bond);
        if (refunded != 0) _TOKEN.safeTransfer(msg.sender, refunded);
    }

    /// @dev Checks the caller may prove owner fraud on the purchase, then marks it Refunded.
    function _refundForFraud(uint256 purchaseId) private returns (uint256 datasetId, uint256 refunded) {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus status = p.status;
        if (status != PurchaseStatus.Open) _revertNotOpen(purchaseId, status);
        if (p.buyer != msg.sender || p.isGrant) revert MarketplaceNotBuyer(purchaseId, msg.sender);
        uint8 delivered = p.delivered;
        uint8 threshold = p.threshold;
        if (delivered < threshold) revert MarketplaceThresholdNotReached(purchaseId, delivered, threshold);
        // The proof window is the confirmation window: after it anyone may settle, and the
        // registry releases a withdrawn listing's bond.
        uint64 endsAt = p.thresholdReachedAt + _CONFIRMATION_WINDOW;
        if (block.timestamp >= endsAt) revert MarketplaceFraudProofClosed(purchaseId, endsAt);

        refunded = p.price;
        datasetId = p.datasetId;
        p.status = PurchaseStatus.Refunded;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (refunded != 0) _totals.openEscrow -= uint96(refunded);
        emit Refunded(purchaseId, datasetId, msg.sender, refunded);
    }

    /// @dev Credits every keeper whose delivery counts the fee a settlement would have paid it,
    /// lowered to an equal share of the listing bond when the bond cannot cover them all; emits
    /// `KeepersPaidFromBond`. Returns the total (≤ the bond).
    function _creditKeepersFromBond(uint256 purchaseId, uint256 datasetId) private returns (uint256 pay) {
        PurchaseData storage p = _purchases[purchaseId];
        uint256 paid = p.delivered; // ≥ threshold ≥ 2 (checked by _refundForFraud)
        uint256 each = _keeperFeeEach(p, paid);
        uint256 cap = _REGISTRY.listingBondOf(datasetId) / paid;
        if (cap < each) each = cap;
        if (each == 0) return 0;
        (, address[] memory keepers) = _REGISTRY.settlementParties(datasetId, _paidBitmap(purchaseId, p));
        for (uint256 i; i < keepers.length; ++i) {
            _credits[keepers[i]] += each;
        }
        pay = each * paid;
        // forge-lint: disable-next-line(unsafe-typecast) -- pay ≤ a uint96 bond
        _totals.totalCredits += uint96(pay);
        emit KeepersPaidFromBond(purchaseId, datasetId, each, paid);
    }

    /// @dev Each delivering keeper's fee for a purchase (a fee-only purchase is all fee).
    function _keeperFeeEach(PurchaseData storage p, uint256 deliverers) private view returns (uint256) {
        return uint256(p.price) * (p.feeOnly ? BPS : _KEEPER_FEE_BPS) / BPS / deliverers;
    }

    /// @inheritdoc IMarketplace
    function confirm(uint256 purchaseId) external nonReentrant {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus status = p.status;
        if (status != PurchaseStatus.Open) _revertNotOpen(purchaseId, status);
        if (p.buyer != msg.sender) revert MarketplaceNotBuyer(purchaseId, msg.sender);
        uint8 delivered = p.delivered;
        uint8 threshold = p.threshold;
        if (delivered < threshold) revert MarketplaceThresholdNotReached(purchaseId, delivered, threshold);

        p.confirmed = true;
        emit Confirmed(purchaseId, p.datasetId, msg.sender);
        _settle(purchaseId, p);
    }

    /// @inheritdoc IMarketplace
    function settle(uint256 purchaseId) external nonReentrant {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus status = p.status;
        if (status != PurchaseStatus.Open) _revertNotOpen(purchaseId, status);
        uint8 delivered = p.delivered;
        uint8 threshold = p.threshold;
        if (delivered < threshold) revert MarketplaceThresholdNotReached(purchaseId, delivered, threshold);
        if (!p.confirmed) {
            uint64 endsAt = p.thresholdReachedAt + _CONFIRMATION_WINDOW;
            if (block.timestamp < endsAt) revert MarketplaceConfirmationWindowOpen(purchaseId, endsAt);
        }
        _settle(purchaseId, p);
    }

    /// @inheritdoc IMarketplace
    /// @dev A grant's delivery fee goes back to the dataset owner (who paid it); the grantee or
    /// the owner may ask.
    function refund(uint256 purchaseId) external nonReentrant {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus status = p.status;
        if (status != PurchaseStatus.Open) _revertNotOpen(purchaseId, status);
        uint256 datasetId = p.datasetId;
        address payer = p.buyer;
        IDataRegistry.Status dStatus;
        if (p.isGrant || block.timestamp < p.createdAt + _DELIVERY_WINDOW) {
            address owner;
            (owner, dStatus,,,) = _REGISTRY.purchaseTerms(datasetId);
            if (p.isGrant) {
                if (msg.sender != owner && msg.sender != payer) revert MarketplaceNotBuyer(purchaseId, msg.sender);
                payer = owner;
            }
        }
        if (payer != msg.sender && !p.isGrant) revert MarketplaceNotBuyer(purchaseId, msg.sender);
        _checkRefundable(purchaseId, p, dStatus);

        uint256 amount = p.price;
        p.status = PurchaseStatus.Refunded;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (amount != 0) _totals.openEscrow -= uint96(amount);
        emit Refunded(purchaseId, datasetId, payer, amount);
        if (amount != 0) _TOKEN.safeTransfer(payer, amount);
    }

    /// @dev Fewer than threshold shares, and the deadline passed or consent was withdrawn.
    function _checkRefundable(uint256 purchaseId, PurchaseData storage p, IDataRegistry.Status dStatus) private view {
        uint8 delivered = p.delivered;
        uint8 threshold = p.threshold;
        if (delivered >= threshold) revert MarketplaceThresholdDelivered(purchaseId, delivered, threshold);
        uint64 deadline = p.createdAt + _DELIVERY_WINDOW;
        // Withdrawn or Delisted: no more deliveries, the buyer need not wait.
        if (block.timestamp < deadline && dStatus < IDataRegistry.Status.Withdrawn) {
            revert MarketplaceRefundNotYetAllowed(purchaseId, deadline);
        }
    }

    /// @inheritdoc IMarketplace
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert MarketplaceNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        // forge-lint: disable-next-line(unsafe-typecast)
        _totals.totalCredits -= uint96(amount);
        emit Withdrawn(msg.sender, amount);
        _TOKEN.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMarketplace
    function token() external view returns (address) {
        return address(_TOKEN);
    }

    /// @inheritdoc IMarketplace
    function dataRegistry() external view returns (address) {
        return address(_REGISTRY);
    }

    /// @inheritdoc IMarketplace
    function keeperFeeBps() external view returns (uint16) {
        return _KEEPER_FEE_BPS;
    }

    /// @inheritdoc IMarketplace
    function deliveryWindow() external view returns (uint64) {
        return _DELIVERY_WINDOW;
    }

    /// @inheritdoc IMarketplace
    function confirmationWindow() external view returns (uint64) {
        return _CONFIRMATION_WINDOW;
    }

    /// @inheritdoc IMarketplace
    function purchaseCount() external view returns (uint256) {
        return _totals.purchaseCount;
    }

    /// @inheritdoc IMarketplace
    function getPurchase(uint256 purchaseId) external view returns (Purchase memory) {
        PurchaseData storage p = _purchases[purchaseId];
        if (p.status == PurchaseStatus.None) revert MarketplaceUnknownPurchase(purchaseId);
        return Purchase({
            datasetId: p.datasetId,
            buyer: p.buyer,
            purpose: p.purpose,
            threshold: p.threshold,
            delivered: p.delivered,
            confirmed: p.confirmed,
            isGrant: p.isGrant,
            status: p.status,
            createdAt: p.createdAt,
            deliveryDeadline: p.createdAt + _DELIVERY_WINDOW,
            thresholdReachedAt: p.thresholdReachedAt,
            price: p.price
        });
    }

    /// @inheritdoc IMarketplace
    function hasDelivered(uint256 purchaseId, address keeper) external view returns (bool) {
        PurchaseData storage p = _purchases[purchaseId];
        if (p.status == PurchaseStatus.None) return false;
        uint256 shareIndex = _REGISTRY.shareIndexOf(p.datasetId, keeper);
        if (shareIndex == 0) return false;
        return (p.deliveredBits >> (shareIndex - 1)) & 1 == 1;
    }

    /// @notice Bitmap of delivered share indexes of a purchase: bit i − 1 for share index i.
    function deliveredBitmap(uint256 purchaseId) external view returns (uint256) {
        return _purchases[purchaseId].deliveredBits;
    }

    /// @inheritdoc IMarketplace
    function commitState(uint256 purchaseId) external view returns (uint8 committed, uint256 bitmap) {
        PurchaseData storage p = _purchases[purchaseId];
        return (p.committed, p.committedBits);
    }

    /// @inheritdoc IMarketplace
    function hasCommitted(uint256 purchaseId, address keeper) external view returns (bool) {
        PurchaseData storage p = _purchases[purchaseId];
        if (p.status == PurchaseStatus.None) return false;
        uint256 shareIndex = _REGISTRY.shareIndexOf(p.datasetId, keeper);
        if (shareIndex == 0) return false;
        return (p.committedBits >> (shareIndex - 1)) & 1 == 1;
    }

    /// @notice Bitmap of share indexes slashed for not delivering the purchase.
    function slashedBitmap(uint256 purchaseId) external view returns (uint256) {
        return _slashedBits[purchaseId];
    }

    /// @inheritdoc IMarketplace
    function keeperRegistry() external view returns (address) {
        return address(_KEEPERS);
    }

    /// @inheritdoc IMarketplace
    function deliveryFee() external view returns (uint256) {
        return _DELIVERY_FEE;
    }

    /// @inheritdoc IMarketplace
    function commitWindow() external view returns (uint64) {
        return _COMMIT_WINDOW;
    }

    /// @inheritdoc IMarketplace
    function creditsOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc IMarketplace
    function openEscrow() external view returns (uint256) {
        return _totals.openEscrow;
    }

    /// @inheritdoc IMarketplace
    function totalCredits() external view returns (uint256) {
        return _totals.totalCredits;
    }

    /// @inheritdoc IMarketplace
    function accessGranted(uint256 datasetId, address account) external view returns (bool) {
        uint256 pid = _grantOf[datasetId][account];
        return pid != 0 && _purchases[pid].status == PurchaseStatus.Settled;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _purchase(uint256 datasetId, bytes calldata buyerPubKey, uint8 purpose, uint256 maxPrice)
        private
        returns (uint256 purchaseId)
    {
        _checkPubKey(msg.sender, buyerPubKey);
        (uint8 threshold, uint256 price, bool feeOnly) = _buyTerms(datasetId, purpose);
        if (price > maxPrice) revert MarketplacePriceAboveMax(price, maxPrice);
        _checkFunds(price);

        uint64 deadline;
        (purchaseId, deadline) = _open(datasetId, msg.sender, purpose, threshold, price, false, feeOnly);
        emit Purchased(purchaseId, datasetId, msg.sender, purpose, price, buyerPubKey, deadline);
        if (price != 0) _TOKEN.safeTransferFrom(msg.sender, address(this), price);
    }

    /// @dev Threshold and amount to escrow for a purchase (a free dataset still pays its keepers:
    /// threshold × deliveryFee, `feeOnly`).
    function _buyTerms(uint256 datasetId, uint8 purpose)
        private
        view
        returns (uint8 threshold, uint256 price, bool feeOnly)
    {
        IDataRegistry.Status status;
        uint256 purposes;
        (, status, threshold, price, purposes) = _REGISTRY.purchaseTerms(datasetId);
        if (status != IDataRegistry.Status.Active) revert MarketplaceDatasetNotActive(datasetId, uint8(status));
        if (!purposes.contains(purpose)) revert MarketplacePurposeNotConsented(datasetId, purpose);
        feeOnly = price == 0;
        if (feeOnly) price = threshold * _DELIVERY_FEE;
    }

    /// @dev The caller can pay `amount` (balance and allowance), the paper's "declined" otherwise.
    function _checkFunds(uint256 amount) private view {
        if (amount == 0) return;
        uint256 balance = _TOKEN.balanceOf(msg.sender);
        if (balance < amount) revert MarketplaceInsufficientBalance(msg.sender, balance, amount);
        uint256 allowance = _TOKEN.allowance(msg.sender, address(this));
        if (allowance < amount) revert MarketplaceInsufficientAllowance(msg.sender, allowance, amount);
    }

    /// @dev Records a new Open purchase and adds its price to the open escrow.
    function _open(
        uint256 datasetId,
        address buyer,
        uint8 purpose,
        uint8 threshold,
        uint256 price,
        bool isGrant,
        bool feeOnly
    ) private returns (uint256 purchaseId, uint64 deadline) {
        Totals memory totals = _totals;
        purchaseId = totals.purchaseCount + 1;
        // forge-lint: disable-next-line(unsafe-typecast)
        totals.purchaseCount = uint64(purchaseId);
        // forge-lint: disable-next-line(unsafe-typecast)
        totals.openEscrow += uint96(price); // price ≤ type(uint96).max, enforced by the DataRegistry
        _totals = totals;

        PurchaseData storage p = _purchases[purchaseId];
        p.buyer = buyer;
        // forge-lint: disable-next-line(unsafe-typecast)
        p.price = uint96(price);
        // forge-lint: disable-next-line(unsafe-typecast)
        p.datasetId = uint48(datasetId); // ids are sequential, far below 2⁴⁸
        p.purpose = purpose;
        p.threshold = threshold;
        p.status = PurchaseStatus.Open;
        p.isGrant = isGrant;
        if (feeOnly) p.feeOnly = true;
        // forge-lint: disable-next-line(unsafe-typecast)
        p.createdAt = uint40(block.timestamp);
        deadline = uint64(block.timestamp) + _DELIVERY_WINDOW;
    }

    /// @dev Marks the purchase Settled and credits the owner and the delivering keepers.
    /// Callers checked: Open, ≥ threshold delivered, confirmed or window passed.
    function _settle(uint256 purchaseId, PurchaseData storage p) private {
        uint256 price = p.price;
        uint8 deliverers = p.delivered;
        uint256 ownerAmount;
        uint256 keeperAmountEach;

        p.status = PurchaseStatus.Settled;
        if (price != 0) {
            (address owner, address[] memory keepers) =
                _REGISTRY.settlementParties(p.datasetId, _paidBitmap(purchaseId, p));
            keeperAmountEach = _keeperFeeEach(p, deliverers);
            ownerAmount = price - keeperAmountEach * deliverers;

            Totals memory totals = _totals;
            // forge-lint: disable-next-line(unsafe-typecast)
            totals.openEscrow -= uint96(price);
            // forge-lint: disable-next-line(unsafe-typecast)
            totals.totalCredits += uint96(price);
            _totals = totals;
            if (keeperAmountEach != 0) {
                for (uint256 i; i < keepers.length; ++i) {
                    _credits[keepers[i]] += keeperAmountEach;
                }
            }
            if (ownerAmount != 0) _credits[owner] += ownerAmount;
        }
        emit Settled(purchaseId, p.datasetId, ownerAmount, keeperAmountEach, deliverers);
    }

    /// @dev Delivered shares that count: the slashed slot is read only when a delivery was
    /// disputed (the delivered count is then below the number of delivered bits).
    function _paidBitmap(uint256 purchaseId, PurchaseData storage p) private view returns (uint256 bitmap) {
        uint32 bits = p.deliveredBits;
        bitmap = bits;
        uint256 n;
        unchecked {
            for (; bits != 0; ++n) {
                bits &= bits - 1;
            }
        }
        if (n != p.delivered) bitmap &= ~_slashedBits[purchaseId];
    }

    /// @dev The key must be 64 bytes and hash to `account` (Ethereum address derivation).
    function _checkPubKey(address account, bytes calldata pubKey) private pure {
        if (pubKey.length != PUBKEY_LENGTH) revert MarketplaceInvalidPubKey(account, pubKey.length);
        address derived = address(uint160(uint256(keccak256(pubKey))));
        if (derived != account) revert MarketplacePubKeyMismatch(account, derived);
    }

    function _revertNotOpen(uint256 purchaseId, PurchaseStatus status) private pure {
        if (status == PurchaseStatus.None) revert MarketplaceUnknownPurchase(purchaseId);
        revert MarketplacePurchaseNotOpen(purchaseId, status);
    }
}
