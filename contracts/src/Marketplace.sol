// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IMarketplace} from "./interfaces/IMarketplace.sol";
import {IDataRegistry} from "./interfaces/IDataRegistry.sol";
import {Purposes} from "./Purposes.sol";

/// @title Marketplace
/// @notice Escrow for dataset purchases. `purchase` pulls the price into escrow; each keeper
/// listed on the dataset posts its share, ECIES-encrypted to the buyer's key, once through
/// `deliverShare` before the delivery deadline. With ≥ threshold shares delivered the sale
/// settles — at once when the buyer `confirm`s, or by anyone once the confirmation window since
/// the threshold-th share passed — into withdrawable credits:
///   keeper fee = price × keeperFeeBps / 10 000, split equally among all keepers who delivered;
///   the owner gets price − (fee share × deliverers), i.e. the rounding dust too.
/// With fewer than threshold shares by the deadline, or at once after consent was withdrawn, the
/// buyer takes a full refund. Every purchase ends exactly once, as Settled or Refunded.
/// @dev Invariant: token.balanceOf(this) == openEscrow + totalCredits (for a plain ERC-20).
/// Storage: a purchase takes two slots; delivered share indexes 1..64 live in a bitmap inside the
/// second slot, indexes 65..255 in an overflow slot touched only by such keepers. Counters are
/// packed in one slot. Prices are uint96 (the DataRegistry enforces it).
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
    /// @dev Share indexes 1..LOW_BITS are tracked inside the purchase's second slot.
    uint256 private constant LOW_BITS = 64;

    IERC20 private immutable _TOKEN;
    IDataRegistry private immutable _REGISTRY;
    uint16 private immutable _KEEPER_FEE_BPS;
    uint64 private immutable _DELIVERY_WINDOW;
    uint64 private immutable _CONFIRMATION_WINDOW;

    /// @dev A purchase as stored: two slots.
    struct PurchaseData {
        // slot 0
        address buyer;
        uint96 price;
        // slot 1
        uint64 datasetId;
        uint8 purpose;
        uint8 threshold;
        uint8 delivered;
        PurchaseStatus status;
        bool confirmed;
        bool isGrant;
        uint40 createdAt;
        uint40 thresholdReachedAt;
        /// @dev Bit i − 1 set when share index i (1..64) was delivered.
        uint64 deliveredLow;
    }

    /// @dev Global counters, one slot.
    struct Totals {
        uint64 purchaseCount;
        uint96 openEscrow;
        uint96 totalCredits;
    }

    Totals private _totals;
    mapping(uint256 purchaseId => PurchaseData) private _purchases;
    /// @dev Bit i − 65 set when share index i (65..255) was delivered.
    mapping(uint256 purchaseId => uint256) private _deliveredHigh;
    mapping(address account => uint256) private _credits;
    /// @dev The grant (purchase id) that counts for `accessGranted`: the latest one unless an
    /// earlier one already settled.
    mapping(uint256 datasetId => mapping(address grantee => uint256 purchaseId)) private _grantOf;

    /// @param token_ The PHD coin.
    /// @param dataRegistry_ The DataRegistry listing the datasets.
    /// @param keeperFeeBps_ Keepers' share of each price in basis points (≤ 10 000).
    /// @param deliveryWindow_ Seconds after a purchase during which keepers may deliver (> 0).
    /// @param confirmationWindow_ Seconds after the threshold-th share after which anyone may
    /// settle without the buyer's confirmation (> 0).
    constructor(
        address token_,
        address dataRegistry_,
        uint16 keeperFeeBps_,
        uint64 deliveryWindow_,
        uint64 confirmationWindow_
    ) {
        if (
            token_ == address(0) || dataRegistry_ == address(0) || keeperFeeBps_ > BPS || deliveryWindow_ == 0
                || deliveryWindow_ > MAX_WINDOW || confirmationWindow_ == 0 || confirmationWindow_ > MAX_WINDOW
        ) revert MarketplaceInvalidConfig();
        _TOKEN = IERC20(token_);
        _REGISTRY = IDataRegistry(dataRegistry_);
        _KEEPER_FEE_BPS = keeperFeeBps_;
        _DELIVERY_WINDOW = deliveryWindow_;
        _CONFIRMATION_WINDOW = confirmationWindow_;
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

        uint64 deadline;
        (purchaseId, deadline) = _open(datasetId, grantee, purpose, threshold, 0, true);
        uint256 previous = _grantOf[datasetId][grantee];
        if (previous == 0 || _purchases[previous].status != PurchaseStatus.Settled) {
            _grantOf[datasetId][grantee] = purchaseId;
        }
        emit Granted(purchaseId, datasetId, grantee, purpose, granteePubKey, deadline);
    }

    // ------------------------------------------------------------------------------------------
    // Delivery and settlement
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IMarketplace
    /// @dev Refused once the dataset's consent was withdrawn (no further release of data).
    function deliverShare(uint256 purchaseId, bytes calldata payload) external nonReentrant {
        uint256 len = payload.length;
        if (len == 0) revert MarketplaceEmptyPayload();
        if (len > MAX_PAYLOAD_BYTES) revert MarketplacePayloadTooLarge(len, MAX_PAYLOAD_BYTES);

        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus pStatus = p.status;
        if (pStatus != PurchaseStatus.Open) _revertNotOpen(purchaseId, pStatus);
        uint64 deadline = p.createdAt + _DELIVERY_WINDOW;
        if (block.timestamp >= deadline) revert MarketplaceDeliveryClosed(purchaseId, deadline);

        uint256 datasetId = p.datasetId;
        (IDataRegistry.Status dStatus, uint8 shareIndex) = _REGISTRY.deliveryTerms(datasetId, msg.sender);
        if (shareIndex == 0) revert MarketplaceNotListedKeeper(purchaseId, msg.sender);
        if (dStatus != IDataRegistry.Status.Active) revert MarketplaceDatasetNotActive(datasetId, uint8(dStatus));

        if (shareIndex <= LOW_BITS) {
            uint64 bit = uint64(1) << (shareIndex - 1);
            uint64 low = p.deliveredLow;
            if (low & bit != 0) revert MarketplaceAlreadyDelivered(purchaseId, msg.sender);
            p.deliveredLow = low | bit;
        } else {
            uint256 bit = uint256(1) << (shareIndex - LOW_BITS - 1);
            uint256 high = _deliveredHigh[purchaseId];
            if (high & bit != 0) revert MarketplaceAlreadyDelivered(purchaseId, msg.sender);
            _deliveredHigh[purchaseId] = high | bit;
        }
        uint8 delivered = p.delivered + 1;
        p.delivered = delivered;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (delivered == p.threshold) p.thresholdReachedAt = uint40(block.timestamp);
        emit ShareDelivered(purchaseId, msg.sender, shareIndex, delivered, payload);
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
        emit Confirmed(purchaseId, msg.sender);
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
    function refund(uint256 purchaseId) external nonReentrant {
        PurchaseData storage p = _purchases[purchaseId];
        PurchaseStatus status = p.status;
        if (status != PurchaseStatus.Open) _revertNotOpen(purchaseId, status);
        address buyer = p.buyer;
        if (buyer != msg.sender) revert MarketplaceNotBuyer(purchaseId, msg.sender);
        uint64 deadline = p.createdAt + _DELIVERY_WINDOW;
        if (block.timestamp < deadline || p.delivered >= p.threshold) {
            (, IDataRegistry.Status dStatus,,,) = _REGISTRY.purchaseTerms(p.datasetId);
            if (dStatus != IDataRegistry.Status.Withdrawn) revert MarketplaceRefundNotYetAllowed(purchaseId, deadline);
        }

        uint256 amount = p.price;
        p.status = PurchaseStatus.Refunded;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (amount != 0) _totals.openEscrow -= uint96(amount);
        emit Refunded(purchaseId, buyer, amount);
        if (amount != 0) _TOKEN.safeTransfer(buyer, amount);
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
        return (_deliveredBitmap(purchaseId, p) >> (shareIndex - 1)) & 1 == 1;
    }

    /// @notice Bitmap of delivered share indexes of a purchase: bit i − 1 for share index i.
    function deliveredBitmap(uint256 purchaseId) external view returns (uint256) {
        return _deliveredBitmap(purchaseId, _purchases[purchaseId]);
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
        (, IDataRegistry.Status status, uint8 threshold, uint256 price, uint256 purposes) =
            _REGISTRY.purchaseTerms(datasetId);
        if (status != IDataRegistry.Status.Active) revert MarketplaceDatasetNotActive(datasetId, uint8(status));
        if (!purposes.contains(purpose)) revert MarketplacePurposeNotConsented(datasetId, purpose);
        if (price > maxPrice) revert MarketplacePriceAboveMax(price, maxPrice);
        if (price != 0) {
            uint256 balance = _TOKEN.balanceOf(msg.sender);
            if (balance < price) revert MarketplaceInsufficientBalance(msg.sender, balance, price);
            uint256 allowance = _TOKEN.allowance(msg.sender, address(this));
            if (allowance < price) revert MarketplaceInsufficientAllowance(msg.sender, allowance, price);
        }

        uint64 deadline;
        (purchaseId, deadline) = _open(datasetId, msg.sender, purpose, threshold, price, false);
        emit Purchased(purchaseId, datasetId, msg.sender, purpose, price, buyerPubKey, deadline);
        if (price != 0) _TOKEN.safeTransferFrom(msg.sender, address(this), price);
    }

    /// @dev Records a new Open purchase and adds its price to the open escrow.
    function _open(uint256 datasetId, address buyer, uint8 purpose, uint8 threshold, uint256 price, bool isGrant)
        private
        returns (uint256 purchaseId, uint64 deadline)
    {
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
        p.datasetId = uint64(datasetId); // ids are sequential, far below 2⁶⁴
        p.purpose = purpose;
        p.threshold = threshold;
        p.status = PurchaseStatus.Open;
        p.isGrant = isGrant;
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
                _REGISTRY.settlementParties(p.datasetId, _deliveredBitmap(purchaseId, p));
            keeperAmountEach = price * _KEEPER_FEE_BPS / BPS / deliverers;
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
        emit Settled(purchaseId, ownerAmount, keeperAmountEach, deliverers);
    }

    /// @dev Low bits from the purchase slot; the overflow slot is read only when some delivered
    /// share index is above 64 (the low bitmap holds fewer bits than `delivered`).
    function _deliveredBitmap(uint256 purchaseId, PurchaseData storage p) private view returns (uint256 bitmap) {
        uint64 low = p.deliveredLow;
        bitmap = low;
        uint256 inLow;
        unchecked {
            for (; low != 0; ++inLow) {
                low &= low - 1;
            }
        }
        if (inLow < p.delivered) bitmap |= _deliveredHigh[purchaseId] << LOW_BITS;
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
