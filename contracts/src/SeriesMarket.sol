// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ISeriesMarket} from "./interfaces/ISeriesMarket.sol";
import {IKeeperRegistry} from "./interfaces/IKeeperRegistry.sol";
import {Purposes} from "./Purposes.sol";
import {Secp256k1} from "./libraries/Secp256k1.sol";
import {ShareProof} from "./libraries/ShareProof.sol";

/// @title SeriesMarket
/// @notice Continuous datasets and their subscriptions. An owner creates a series with its keepers
/// (t of n, bonded in the KeeperRegistry, distinct), consented purposes and a price per segment,
/// then appends sealed segments in order, each under a fresh secret whose Feldman commitments
/// travel in calldata and the `SegmentAppended` event (only their hash is stored).
///
/// A subscriber escrows `price × segments` for a range of segments that may start in the past.
/// Each keeper releases a subscription's segments in order, and releases one segment to every
/// subscriber in ONE `releaseShares` call (the number of transactions per segment does not grow
/// with the number of subscribers). Per (subscription, keeper) the contract keeps a cursor, the
/// next segment that keeper will release; segment k of a subscription is released by ≥ t keepers
/// exactly when ≥ t cursors are past k, so the number of segments charged is the t-th largest
/// cursor. The t-th release of a segment charges it: keeper fee = price × keeperFeeBps / 10 000,
/// split equally among the t keepers that released it, the rest (and the dust) to the owner, as
/// withdrawable credits. A subscriber is never charged for a segment fewer than t keepers released.
///
/// Cancellation cannot refund a segment already appended: its t-th share may be in the mempool,
/// readable before the cancel would make it fail, so refunding it would hand out data for free.
/// Such segments stay owed until their release window (`RELEASE_WINDOW` after the later of the
/// append and the subscription) passes; a release after it is refused, and `refund` then returns
/// every segment not charged. Segments appended after the cancellation are refunded at once and
/// never released. Consent withdrawal stops every release at once; subscribers refund what was
/// not charged; each keeper confirms it erased the series' shares.
///
/// Every release is appended to a hash chain per (subscription, keeper), so a subscriber can
/// prove on-chain that a keeper released a wrong share (`disputeRelease`, the dataset proof of
/// `ShareProof` in the series context). A proven bad release stops counting: the keeper pays its
/// fee for the segment back — or the whole price when fewer than t good releases remain — plus
/// `badReleaseSlash()`, to the subscriber, from its credits and then its bond. Disputes are open
/// until one release window after the segment's release window; the constructor requires two
/// release windows to fit in the KeeperRegistry's unbonding delay, so the keeper is still bonded.
/// @dev Invariant: token.balanceOf(this) == openEscrow + totalCredits (for a plain ERC-20), where
/// openEscrow = Σ price × (segments − charged) over subscriptions. A subscription takes three
/// slots: subscriber/series/purpose/status, terms, and eight 32-bit keeper cursors (hence
/// MAX_KEEPERS = 8).
contract SeriesMarket is ISeriesMarket, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using Purposes for uint256;

    /// @notice Largest keeper list: eight 32-bit release cursors fill one storage slot.
    uint256 public constant MAX_KEEPERS = 8;
    /// @notice Smallest threshold.
    uint256 public constant MIN_THRESHOLD = 2;
    /// @notice Longest segment URI, in bytes.
    uint256 public constant MAX_URI_BYTES = 512;
    /// @notice Largest encrypted share payload, in bytes.
    uint256 public constant MAX_PAYLOAD_BYTES = 1024;
    /// @notice Length of an uncompressed public key without its 0x04 prefix.
    uint256 public constant PUBKEY_LENGTH = 64;
    /// @notice Basis-point denominator.
    uint16 public constant BPS = 10_000;
    /// @notice Upper bound of the release window at deployment.
    uint64 public constant MAX_WINDOW = type(uint32).max;

    IERC20 private immutable _TOKEN;
    IKeeperRegistry private immutable _KEEPERS;
    uint16 private immutable _KEEPER_FEE_BPS;
    uint64 private immutable _RELEASE_WINDOW;
    uint256 private immutable _BAD_RELEASE_SLASH;

    /// @notice Bad-release penalty in basis points of the KeeperRegistry's minimum stake.
    uint16 public constant BAD_RELEASE_SLASH_BPS = 5_000;
    /// @dev Flag in `_disputed`: the segment was refunded to the subscriber by a dispute.
    uint256 private constant DISPUTE_REFUNDED = 1 << 8;

    /// @dev A series as stored; slots 0 and 1 hold everything the hot paths need.
    struct SeriesData {
        // slot 0
        address owner;
        SeriesStatus status;
        uint8 threshold;
        uint8 keeperCount;
        uint8 erasures;
        uint40 createdAt;
        // slot 1
        uint96 price;
        uint64 segmentCount;
        uint40 withdrawnAt;
        /// @dev Bit i − 1 set when the keeper at share index i confirmed erasure.
        uint32 erasedBits;
        // slot 2..
        uint256 purposes;
        bytes32 metadataHash;
        bytes32 consentTermsHash;
    }

    /// @dev A subscription as stored.
    struct SubscriptionData {
        // slot 0
        address subscriber;
        uint48 seriesId;
        uint8 purpose;
        SubscriptionStatus status;
        /// @dev Opened by the series owner for `subscriber` (`grant`): the owner paid the escrow,
        /// so refunds go to the owner, and the owner may cancel it too.
        bool granted;
        // slot 1
        uint96 price;
        uint64 fromSeq;
        uint32 segments;
        uint40 createdAt;
        // slot 2: cursor of share index i (offset from fromSeq) in bits [32(i−1), 32i)
        uint256 cursors;
    }

    /// @dev Global counters, one slot.
    struct Totals {
        uint128 openEscrow;
        uint128 totalCredits;
    }

    Totals private _totals;
    uint256 private _seriesCount;
    uint256 private _subscriptionCount;
    mapping(uint256 seriesId => SeriesData) private _series;
    mapping(uint256 seriesId => mapping(uint256 shareIndex => address keeper)) private _keeperAt;
    mapping(uint256 seriesId => mapping(address keeper => uint8 shareIndex)) private _shareIndex;
    mapping(uint256 seriesId => mapping(uint64 seq => bytes32)) private _commitmentsHash;
    mapping(uint256 seriesId => mapping(uint64 seq => uint40)) private _appendedAt;
    mapping(uint256 subscriptionId => SubscriptionData) private _subscriptions;
    mapping(address account => uint256) private _credits;
    /// @dev Hash chain of each keeper's releases to each subscription: h ← keccak256(h ‖
    /// keccak256(seq ‖ payload)). Binds a disputed payload to what the keeper posted.
    mapping(uint256 subscriptionId => mapping(uint256 shareIndex => bytes32)) private _releaseLog;
    /// @dev Per (subscription, seq): bit i − 1 when share index i's release was proven wrong,
    /// `DISPUTE_REFUNDED` once the segment was refunded by a dispute. Written only by disputes.
    mapping(uint256 subscriptionId => mapping(uint64 seq => uint256)) private _disputed;

    /// @param token_ The PHD coin (the KeeperRegistry's stake token).
    /// @param keeperRegistry_ Where keepers are registered and bonded.
    /// @param keeperFeeBps_ Keepers' share of each segment price, in basis points (≤ 10 000).
    /// @param releaseWindow_ Seconds after the later of a segment's append and a subscription's
    /// start during which keepers may release that segment to that subscription (> 0); disputes
    /// stay open one more window, and two windows must fit in the registry's unbonding delay.
    constructor(address token_, address keeperRegistry_, uint16 keeperFeeBps_, uint64 releaseWindow_) {
        if (
            token_ == address(0) || keeperRegistry_ == address(0) || keeperFeeBps_ > BPS || releaseWindow_ == 0
                || releaseWindow_ > MAX_WINDOW || IKeeperRegistry(keeperRegistry_).STAKE_TOKEN() != token_
                || 2 * uint256(releaseWindow_) > IKeeperRegistry(keeperRegistry_).UNBONDING_DELAY()
        ) revert SeriesMarketInvalidConfig();
        _TOKEN = IERC20(token_);
        _KEEPERS = IKeeperRegistry(keeperRegistry_);
        _KEEPER_FEE_BPS = keeperFeeBps_;
        _RELEASE_WINDOW = releaseWindow_;
        _BAD_RELEASE_SLASH = IKeeperRegistry(keeperRegistry_).MIN_STAKE() * BAD_RELEASE_SLASH_BPS / BPS;
    }

    // ------------------------------------------------------------------------------------------
    // Owner
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISeriesMarket
    function createSeries(CreateParams calldata params) external returns (uint256 seriesId) {
        if (params.purposes == 0) revert SeriesMarketNoPurposes();
        if (params.purposes & ~Purposes.ALL != 0) revert SeriesMarketUnknownPurposes(params.purposes);
        _checkPrice(params.pricePerSegment);
        uint256 n = params.keepers.length;
        uint8 t = params.threshold;
        if (t < MIN_THRESHOLD || t > n || n > MAX_KEEPERS) revert SeriesMarketInvalidThreshold(t, n);

        seriesId = ++_seriesCount;
        for (uint256 i; i < n; ++i) {
            address keeper = params.keepers[i];
            if (!_KEEPERS.isKeeper(keeper)) revert SeriesMarketKeeperNotRegistered(keeper);
            if (_shareIndex[seriesId][keeper] != 0) revert SeriesMarketDuplicateKeeper(keeper);
            // forge-lint: disable-next-line(unsafe-typecast) -- i < n ≤ 8
            uint8 shareIndex = uint8(i + 1);
            _shareIndex[seriesId][keeper] = shareIndex;
            _keeperAt[seriesId][shareIndex] = keeper;
        }

        SeriesData storage s = _series[seriesId];
        s.owner = msg.sender;
        s.status = SeriesStatus.Active;
        s.threshold = t;
        // forge-lint: disable-next-line(unsafe-typecast) -- n ≤ 8
        s.keeperCount = uint8(n);
        s.createdAt = uint40(block.timestamp);
        // forge-lint: disable-next-line(unsafe-typecast) -- _checkPrice
        s.price = uint96(params.pricePerSegment);
        s.purposes = params.purposes;
        s.metadataHash = params.metadataHash;
        s.consentTermsHash = params.consentTermsHash;
        emit SeriesCreated(
            seriesId,
            msg.sender,
            params.keepers,
            t,
            params.purposes,
            params.pricePerSegment,
            params.metadataHash,
            params.consentTermsHash
        );
    }

    /// @inheritdoc ISeriesMarket
    function appendSegment(
        uint256 seriesId,
        uint64 seq,
        bytes32 contentRoot,
        bytes calldata commitments,
        string calldata uri,
        bytes32 metadataHash
    ) external {
        SeriesData storage s = _ownedActive(seriesId);
        uint64 next = s.segmentCount;
        if (seq != next) revert SeriesMarketWrongSeq(seriesId, next, seq);
        uint256 t = s.threshold;
        if (commitments.length != t * Secp256k1.COMPRESSED_LENGTH) {
            revert SeriesMarketInvalidCommitments(t * Secp256k1.COMPRESSED_LENGTH, commitments.length);
        }
        for (uint256 j; j < t; ++j) {
            uint256 at = j * Secp256k1.COMPRESSED_LENGTH;
            if (!Secp256k1.isValidCompressed(commitments[at:at + Secp256k1.COMPRESSED_LENGTH])) {
                revert SeriesMarketInvalidCommitment(j);
            }
        }
        uint256 uriLength = bytes(uri).length;
        if (uriLength == 0 || uriLength > MAX_URI_BYTES) revert SeriesMarketInvalidUri(uriLength, MAX_URI_BYTES);

        s.segmentCount = next + 1;
        _commitmentsHash[seriesId][seq] = keccak256(commitments);
        _appendedAt[seriesId][seq] = uint40(block.timestamp);
        emit SegmentAppended(seriesId, seq, contentRoot, metadataHash, commitments, uri);
    }

    /// @inheritdoc ISeriesMarket
    function setPrice(uint256 seriesId, uint256 newPrice) external {
        SeriesData storage s = _ownedActive(seriesId);
        _checkPrice(newPrice);
        uint256 oldPrice = s.price;
        // forge-lint: disable-next-line(unsafe-typecast) -- _checkPrice
        s.price = uint96(newPrice);
        emit PriceChanged(seriesId, oldPrice, newPrice);
    }

    /// @inheritdoc ISeriesMarket
    function withdrawConsent(uint256 seriesId) external {
        SeriesData storage s = _ownedActive(seriesId);
        s.status = SeriesStatus.Withdrawn;
        s.withdrawnAt = uint40(block.timestamp);
        emit ConsentWithdrawn(seriesId, msg.sender);
    }

    // ------------------------------------------------------------------------------------------
    // Subscriber
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISeriesMarket
    function subscribe(
        uint256 seriesId,
        uint64 fromSeq,
        uint64 segments,
        uint256 maxPricePerSegment,
        uint8 purpose,
        bytes calldata pubKey
    ) external nonReentrant returns (uint256 subscriptionId) {
        subscriptionId = _subscribe(seriesId, msg.sender, false, fromSeq, segments, maxPricePerSegment, purpose, pubKey);
    }

    /// @inheritdoc ISeriesMarket
    /// @dev Mirrors the Marketplace's grant: whoever asks for the keepers' work pays for it. The
    /// owner escrows the series price for the granted segments like any subscriber; each
    /// release pays the keepers their fee and credits the rest back to the owner, so the grant
    /// costs the owner the keepers' fee per segment and nothing when the series is free.
    function grant(
        uint256 seriesId,
        address grantee,
        uint64 fromSeq,
        uint64 segments,
        uint8 purpose,
        bytes calldata pubKey
    ) external nonReentrant returns (uint256 subscriptionId) {
        if (_existing(seriesId).owner != msg.sender) revert SeriesMarketNotOwner(seriesId, msg.sender);
        subscriptionId = _subscribe(seriesId, grantee, true, fromSeq, segments, type(uint256).max, purpose, pubKey);
        emit Granted(subscriptionId, seriesId, grantee);
    }

    /// @dev Opens a subscription for `subscriber`, escrowing its price from the caller.
    function _subscribe(
        uint256 seriesId,
        address subscriber,
        bool granted,
        uint64 fromSeq,
        uint64 segments,
        uint256 maxPricePerSegment,
        uint8 purpose,
        bytes calldata pubKey
    ) private returns (uint256 subscriptionId) {
        _checkPubKey(subscriber, pubKey);
        SeriesData storage s = _existing(seriesId);
        if (s.status != SeriesStatus.Active) revert SeriesMarketNotActive(seriesId, s.status);
        if (!s.purposes.contains(purpose)) revert SeriesMarketPurposeNotConsented(seriesId, purpose);
        uint256 price = s.price;
        if (price > maxPricePerSegment) revert SeriesMarketPriceAboveMax(price, maxPricePerSegment);
        if (segments == 0 || segments > type(uint32).max || uint256(fromSeq) + segments > type(uint64).max) {
            revert SeriesMarketInvalidSegments(fromSeq, segments);
        }
        uint256 escrow = price * segments;

        subscriptionId = ++_subscriptionCount;
        SubscriptionData storage sub = _subscriptions[subscriptionId];
        sub.subscriber = subscriber;
        // forge-lint: disable-next-line(unsafe-typecast) -- ids are sequential, far below 2⁴⁸
        sub.seriesId = uint48(seriesId);
        sub.purpose = purpose;
        sub.status = SubscriptionStatus.Active;
        sub.granted = granted;
        // forge-lint: disable-next-line(unsafe-typecast) -- price ≤ 2⁹⁶ (series price)
        sub.price = uint96(price);
        sub.fromSeq = fromSeq;
        // forge-lint: disable-next-line(unsafe-typecast) -- checked above
        sub.segments = uint32(segments);
        sub.createdAt = uint40(block.timestamp);
        // forge-lint: disable-next-line(unsafe-typecast) -- escrow < 2⁹⁶ · 2³² = 2¹²⁸
        _totals.openEscrow += uint128(escrow);
        emit Subscribed(subscriptionId, seriesId, subscriber, fromSeq, segments, price, purpose, pubKey);
        if (escrow != 0) _TOKEN.safeTransferFrom(msg.sender, address(this), escrow);
    }

    /// @inheritdoc ISeriesMarket
    function cancel(uint256 subscriptionId) external nonReentrant returns (uint256 refunded) {
        SubscriptionData storage sub = _ownSubscription(subscriptionId);
        if (sub.status != SubscriptionStatus.Active) revert SeriesMarketAlreadyCancelled(subscriptionId);
        sub.status = SubscriptionStatus.Cancelled;
        emit SubscriptionCancelled(subscriptionId, msg.sender);
        (refunded,) = _refund(subscriptionId, sub);
    }

    /// @inheritdoc ISeriesMarket
    function refund(uint256 subscriptionId) external nonReentrant returns (uint256 refunded) {
        SubscriptionData storage sub = _ownSubscription(subscriptionId);
        bool shrunk;
        (refunded, shrunk) = _refund(subscriptionId, sub);
        if (!shrunk) revert SeriesMarketNothingToRefund(subscriptionId);
    }

    /// @inheritdoc ISeriesMarket
    function withdraw() external nonReentrant returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert SeriesMarketNothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        // forge-lint: disable-next-line(unsafe-typecast) -- amount ≤ totalCredits < 2¹²⁸
        _totals.totalCredits -= uint128(amount);
        emit Withdrawn(msg.sender, amount);
        _TOKEN.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Keeper
    // ------------------------------------------------------------------------------------------

    /// @dev What one batch accumulates before writing it once.
    struct Batch {
        uint256 seriesId;
        uint8 shareIndex;
        uint8 threshold;
        uint8 keeperCount;
        uint64 segmentCount;
        uint256 released;
        uint256 skipped;
        uint256 settled;
        uint256 ownerCredit;
        uint256 charged;
        /// @dev Credit per share index (index 0 unused).
        uint256[] keeperCredit;
    }

    /// @inheritdoc ISeriesMarket
    function releaseShares(uint256 seriesId, Release[] calldata releases) external nonReentrant {
        SeriesData storage s = _existing(seriesId);
        if (s.status != SeriesStatus.Active) revert SeriesMarketNotActive(seriesId, s.status);
        uint8 shareIndex = _shareIndex[seriesId][msg.sender];
        if (shareIndex == 0) revert SeriesMarketNotListedKeeper(seriesId, msg.sender);
        if (!_KEEPERS.isKeeper(msg.sender)) revert SeriesMarketKeeperNotStaked(msg.sender);

        Batch memory b;
        b.seriesId = seriesId;
        b.shareIndex = shareIndex;
        b.threshold = s.threshold;
        b.keeperCount = s.keeperCount;
        b.segmentCount = s.segmentCount;
        b.keeperCredit = new uint256[](b.keeperCount + 1);
        for (uint256 i; i < releases.length; ++i) {
            _releaseOne(b, releases[i]);
        }

        if (b.charged != 0) {
            Totals memory totals = _totals;
            // forge-lint: disable-next-line(unsafe-typecast) -- charged ≤ openEscrow < 2¹²⁸
            totals.openEscrow -= uint128(b.charged);
            // forge-lint: disable-next-line(unsafe-typecast)
            totals.totalCredits += uint128(b.charged);
            _totals = totals;
            if (b.ownerCredit != 0) _credits[s.owner] += b.ownerCredit;
            for (uint256 i = 1; i <= b.keeperCount; ++i) {
                if (b.keeperCredit[i] != 0) _credits[_keeperAt[seriesId][i]] += b.keeperCredit[i];
            }
        }
        emit Released(seriesId, msg.sender, b.released, b.skipped, b.settled);
    }

    /// @dev Releases one item or counts it skipped (no longer deliverable: cancelled, refunded,
    /// out of its window, or not this keeper's next segment for the subscription).
    function _releaseOne(Batch memory b, Release calldata r) private {
        uint256 payloadLength = r.payload.length;
        if (payloadLength == 0 || payloadLength > MAX_PAYLOAD_BYTES) {
            revert SeriesMarketInvalidPayload(payloadLength, MAX_PAYLOAD_BYTES);
        }
        uint64 seq = r.seq;
        if (seq >= b.segmentCount) revert SeriesMarketSegmentNotAppended(b.seriesId, seq);
        SubscriptionData storage sub = _subscriptions[r.subscriptionId];
        if (sub.seriesId != b.seriesId) revert SeriesMarketWrongSeries(r.subscriptionId, b.seriesId);

        uint64 fromSeq = sub.fromSeq;
        // Before the range: an offset no range reaches, so the item is skipped below.
        uint256 offset = seq >= fromSeq ? seq - fromSeq : type(uint256).max;
        uint256 cursors = sub.cursors;
        uint256 shift = 32 * (uint256(b.shareIndex) - 1);
        if (
            offset >= sub.segments || (cursors >> shift) & 0xffffffff != offset
                || block.timestamp >= _releaseDeadline(b.seriesId, seq, sub.createdAt)
        ) {
            ++b.skipped;
            return;
        }

        sub.cursors = (cursors & ~(uint256(0xffffffff) << shift)) | ((offset + 1) << shift);
        mapping(uint256 => bytes32) storage log = _releaseLog[r.subscriptionId];
        log[b.shareIndex] = _chain(log[b.shareIndex], _releaseEntry(seq, r.payload));
        ++b.released;
        emit ShareReleased(r.subscriptionId, seq, msg.sender, b.shareIndex, r.payload);

        // The threshold-th release of this segment charges it to the t keepers past it.
        uint256 past;
        for (uint256 i = 1; i <= b.keeperCount; ++i) {
            if (i != b.shareIndex && (cursors >> (32 * (i - 1))) & 0xffffffff > offset) ++past;
        }
        if (past + 1 != b.threshold) return;
        uint256 price = sub.price;
        uint256 each = price * _KEEPER_FEE_BPS / BPS / b.threshold;
        for (uint256 i = 1; i <= b.keeperCount; ++i) {
            if (i == b.shareIndex || (cursors >> (32 * (i - 1))) & 0xffffffff > offset) b.keeperCredit[i] += each;
        }
        b.ownerCredit += price - each * b.threshold;
        b.charged += price;
        ++b.settled;
    }

    /// @inheritdoc ISeriesMarket
    function confirmErasure(uint256 seriesId) external {
        SeriesData storage s = _existing(seriesId);
        uint8 shareIndex = _shareIndex[seriesId][msg.sender];
        if (shareIndex == 0) revert SeriesMarketNotListedKeeper(seriesId, msg.sender);
        if (s.status != SeriesStatus.Withdrawn) revert SeriesMarketNotWithdrawn(seriesId);
        uint32 bit = uint32(1) << (shareIndex - 1);
        uint32 bits = s.erasedBits;
        if (bits & bit != 0) revert SeriesMarketAlreadyConfirmedErasure(seriesId, msg.sender);
        s.erasedBits = bits | bit;
        uint8 erasures = s.erasures + 1;
        s.erasures = erasures;
        emit ErasureConfirmed(seriesId, msg.sender, erasures);
    }

    // ------------------------------------------------------------------------------------------
    // Disputes
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISeriesMarket
    function disputeRelease(ReleaseDispute calldata d) external nonReentrant returns (uint256 compensation) {
        SubscriptionData storage sub = _subscriptions[d.subscriptionId];
        if (sub.status == SubscriptionStatus.None) revert SeriesMarketUnknownSubscription(d.subscriptionId);
        // Only the recipient: the shares were encrypted to its key. The owner paying for a grant
        // may cancel it, but a dispute under the owner's own key would decrypt an honest share to
        // garbage and "prove" it wrong.
        if (sub.subscriber != msg.sender) revert SeriesMarketNotSubscriber(d.subscriptionId, msg.sender);
        uint256 seriesId = sub.seriesId;
        SeriesData storage s = _series[seriesId];
        (uint256 bit, uint256 releasedBy) = _checkDisputable(d, sub, s);
        _checkReleaseLog(d);
        if (keccak256(d.commitments) != _commitmentsHash[seriesId][d.seq]) {
            revert SeriesMarketWrongCommitments(seriesId, d.seq);
        }
        _checkPubKey(msg.sender, d.subscriberPubKey);
        // The series context is SeriesDeliveryContext::to_bytes (phd-keys): its first word
        // carries the tag 0x01 and seq above the chain id, so it never equals a purchase context.
        ShareProof.Context memory ctx = ShareProof.Context({
            chainId: (uint256(1) << 248) | (uint256(d.seq) << 128) | block.chainid,
            marketplace: address(this),
            purchaseId: d.subscriptionId,
            index: d.shareIndex
        });
        if (!ShareProof.verifyDispute(ctx, d.subscriberPubKey, d.payload, _splitCommitments(d.commitments), d.proof)) {
            revert SeriesMarketFalseDispute(d.subscriptionId, d.seq, d.shareIndex);
        }
        compensation = _applyDispute(d, sub, s, bit, releasedBy);
    }

    /// @dev A release of `d.shareIndex` to the subscription, not proven wrong yet, inside the
    /// dispute window, of a segment charged or out of its release window (so its count is final).
    function _checkDisputable(ReleaseDispute calldata d, SubscriptionData storage sub, SeriesData storage s)
        private
        view
        returns (uint256 bit, uint256 releasedBy)
    {
        uint256 index = d.shareIndex;
        uint64 seq = d.seq;
        uint64 fromSeq = sub.fromSeq;
        uint256 cursors = sub.cursors;
        uint256 n = s.keeperCount;
        // A release of seq by this keeper: seq in front of its cursor.
        if (
            index == 0 || index > n || seq < fromSeq || (cursors >> (32 * (index - 1))) & 0xffffffff <= seq - fromSeq
                || _disputed[d.subscriptionId][seq] & (1 << (index - 1)) != 0
        ) revert SeriesMarketNotDisputable(d.subscriptionId, seq, d.shareIndex);
        bit = 1 << (index - 1);
        uint256 releaseEnd = _releaseDeadline(sub.seriesId, seq, sub.createdAt);
        uint256 deadline = releaseEnd + _RELEASE_WINDOW;
        if (block.timestamp >= deadline) revert SeriesMarketDisputeClosed(d.subscriptionId, seq, deadline);
        for (uint256 i; i < n; ++i) {
            if ((cursors >> (32 * i)) & 0xffffffff > seq - fromSeq) ++releasedBy;
        }
        if (releasedBy < s.threshold && block.timestamp < releaseEnd && s.status == SeriesStatus.Active) {
            revert SeriesMarketDisputeTooEarly(d.subscriptionId, seq, releaseEnd);
        }
    }

    /// @dev The payload is the keeper's entry for seq in its release log to the subscription.
    function _checkReleaseLog(ReleaseDispute calldata d) private view {
        bytes32 h = _chain(d.logPrefix, _releaseEntry(d.seq, d.payload));
        for (uint256 i; i < d.laterEntries.length; ++i) {
            h = _chain(h, d.laterEntries[i]);
        }
        if (h != _releaseLog[d.subscriptionId][d.shareIndex]) {
            revert SeriesMarketInvalidReleaseLog(d.subscriptionId, d.shareIndex);
        }
    }

    /// @dev The keeper owes its fee for a charged segment (the price once, when fewer than t good
    /// releases remain) plus the penalty: from its credits, then its bond, to the subscriber.
    function _applyDispute(
        ReleaseDispute calldata d,
        SubscriptionData storage sub,
        SeriesData storage s,
        uint256 bit,
        uint256 releasedBy
    ) private returns (uint256 compensation) {
        (uint256 owed, bool refunded) =
            _recordBadRelease(d.subscriptionId, d.seq, sub.price, s.threshold, bit, releasedBy);
        address keeper = _keeperAt[sub.seriesId][d.shareIndex];
        uint256 fromStake;
        (compensation, fromStake) = _takeFrom(keeper, owed);
        _credits[msg.sender] += compensation;
        // forge-lint: disable-next-line(unsafe-typecast) -- fromStake ≤ a uint96 stake
        _totals.totalCredits += uint128(fromStake);
        emit ReleaseDisputed(d.subscriptionId, d.seq, keeper, d.shareIndex, compensation, refunded);
        // The trusted registry transfers exactly `fromStake` (≤ the stake read above) to this contract.
        if (fromStake != 0 && _KEEPERS.slash(keeper, fromStake) != fromStake) revert SeriesMarketNotSlashable(keeper);
    }

    /// @dev Marks the release bad; what its keeper owes: nothing for a segment never charged, else
    /// its fee, or the whole price when this dispute leaves fewer than t good releases.
    function _recordBadRelease(
        uint256 subscriptionId,
        uint64 seq,
        uint256 price,
        uint256 t,
        uint256 bit,
        uint256 releasedBy
    ) private returns (uint256 owed, bool refunded) {
        uint256 flags = _disputed[subscriptionId][seq] | bit;
        if (releasedBy >= t) {
            uint256 bad;
            for (uint256 i; i < MAX_KEEPERS; ++i) {
                bad += (flags >> i) & 1;
            }
            refunded = releasedBy - bad < t && flags & DISPUTE_REFUNDED == 0;
            if (refunded) flags |= DISPUTE_REFUNDED;
            owed = refunded ? price : price * _KEEPER_FEE_BPS / BPS / t;
        }
        _disputed[subscriptionId][seq] = flags;
    }

    /// @dev Takes `owed` from the keeper's credits, the rest and the penalty from its bond (capped).
    function _takeFrom(address keeper, uint256 owed) private returns (uint256 total, uint256 fromStake) {
        uint256 credit = _credits[keeper];
        uint256 fromCredit = owed < credit ? owed : credit;
        _credits[keeper] = credit - fromCredit;
        uint256 stake = _KEEPERS.stakeOf(keeper).amount;
        fromStake = owed - fromCredit + _BAD_RELEASE_SLASH;
        if (fromStake > stake) fromStake = stake;
        total = fromCredit + fromStake;
    }

    function _releaseEntry(uint64 seq, bytes calldata payload) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(seq, payload));
    }

    function _chain(bytes32 h, bytes32 entry) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(h, entry));
    }

    /// @dev The appended packing (t × 33 bytes, checked against the stored hash) as ShareProof's list.
    function _splitCommitments(bytes calldata packed) private pure returns (bytes[] memory out) {
        uint256 t = packed.length / Secp256k1.COMPRESSED_LENGTH;
        out = new bytes[](t);
        for (uint256 j; j < t; ++j) {
            out[j] = packed[j * Secp256k1.COMPRESSED_LENGTH:(j + 1) * Secp256k1.COMPRESSED_LENGTH];
        }
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISeriesMarket
    function series(uint256 seriesId) external view returns (Series memory) {
        SeriesData storage s = _existing(seriesId);
        return Series({
            owner: s.owner,
            status: s.status,
            threshold: s.threshold,
            keeperCount: s.keeperCount,
            erasures: s.erasures,
            createdAt: s.createdAt,
            withdrawnAt: s.withdrawnAt,
            segmentCount: s.segmentCount,
            pricePerSegment: s.price,
            purposes: s.purposes,
            metadataHash: s.metadataHash,
            consentTermsHash: s.consentTermsHash
        });
    }

    /// @inheritdoc ISeriesMarket
    function seriesCount() external view returns (uint256) {
        return _seriesCount;
    }

    /// @inheritdoc ISeriesMarket
    function keepersOf(uint256 seriesId) external view returns (address[] memory out) {
        uint256 n = _existing(seriesId).keeperCount;
        out = new address[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = _keeperAt[seriesId][i + 1];
        }
    }

    /// @inheritdoc ISeriesMarket
    function shareIndexOf(uint256 seriesId, address keeper) external view returns (uint8) {
        return _shareIndex[seriesId][keeper];
    }

    /// @inheritdoc ISeriesMarket
    function segmentCommitmentsHash(uint256 seriesId, uint64 seq) external view returns (bytes32) {
        return _commitmentsHash[seriesId][seq];
    }

    /// @inheritdoc ISeriesMarket
    function segmentAppendedAt(uint256 seriesId, uint64 seq) external view returns (uint64) {
        return _appendedAt[seriesId][seq];
    }

    /// @inheritdoc ISeriesMarket
    function subscription(uint256 subscriptionId) external view returns (Subscription memory) {
        SubscriptionData storage sub = _subscriptions[subscriptionId];
        if (sub.status == SubscriptionStatus.None) revert SeriesMarketUnknownSubscription(subscriptionId);
        return Subscription({
            seriesId: sub.seriesId,
            subscriber: sub.subscriber,
            purpose: sub.purpose,
            status: sub.status,
            fromSeq: sub.fromSeq,
            segments: sub.segments,
            charged: _charged(sub),
            createdAt: sub.createdAt,
            pricePerSegment: sub.price
        });
    }

    /// @inheritdoc ISeriesMarket
    function subscriptionCount() external view returns (uint256) {
        return _subscriptionCount;
    }

    /// @inheritdoc ISeriesMarket
    function releaseCursor(uint256 subscriptionId, address keeper) external view returns (uint64) {
        SubscriptionData storage sub = _subscriptions[subscriptionId];
        uint8 shareIndex = _shareIndex[sub.seriesId][keeper];
        if (shareIndex == 0) return sub.fromSeq;
        // forge-lint: disable-next-line(unsafe-typecast) -- a 32-bit cursor
        return sub.fromSeq + uint64((sub.cursors >> (32 * (uint256(shareIndex) - 1))) & 0xffffffff);
    }

    /// @inheritdoc ISeriesMarket
    function hasConfirmedErasure(uint256 seriesId, address keeper) external view returns (bool) {
        uint8 shareIndex = _shareIndex[seriesId][keeper];
        return shareIndex != 0 && (_series[seriesId].erasedBits >> (shareIndex - 1)) & 1 == 1;
    }

    /// @inheritdoc ISeriesMarket
    function creditOf(address account) external view returns (uint256) {
        return _credits[account];
    }

    /// @inheritdoc ISeriesMarket
    function releaseLog(uint256 subscriptionId, uint8 shareIndex) external view returns (bytes32) {
        return _releaseLog[subscriptionId][shareIndex];
    }

    /// @inheritdoc ISeriesMarket
    function provenBadReleases(uint256 subscriptionId, uint64 seq)
        external
        view
        returns (uint8 shareIndexBits, bool refunded)
    {
        uint256 flags = _disputed[subscriptionId][seq];
        // forge-lint: disable-next-line(unsafe-typecast) -- the low byte holds the index bits
        return (uint8(flags), flags & DISPUTE_REFUNDED != 0);
    }

    /// @inheritdoc ISeriesMarket
    function badReleaseSlash() external view returns (uint256) {
        return _BAD_RELEASE_SLASH;
    }

    /// @inheritdoc ISeriesMarket
    function openEscrow() external view returns (uint256) {
        return _totals.openEscrow;
    }

    /// @inheritdoc ISeriesMarket
    function totalCredits() external view returns (uint256) {
        return _totals.totalCredits;
    }

    /// @inheritdoc ISeriesMarket
    function token() external view returns (address) {
        return address(_TOKEN);
    }

    /// @inheritdoc ISeriesMarket
    function keeperRegistry() external view returns (address) {
        return address(_KEEPERS);
    }

    /// @inheritdoc ISeriesMarket
    function keeperFeeBps() external view returns (uint16) {
        return _KEEPER_FEE_BPS;
    }

    /// @inheritdoc ISeriesMarket
    function releaseWindow() external view returns (uint64) {
        return _RELEASE_WINDOW;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _existing(uint256 seriesId) private view returns (SeriesData storage s) {
        s = _series[seriesId];
        if (s.status == SeriesStatus.None) revert SeriesMarketUnknownSeries(seriesId);
    }

    function _ownedActive(uint256 seriesId) private view returns (SeriesData storage s) {
        s = _existing(seriesId);
        if (s.owner != msg.sender) revert SeriesMarketNotOwner(seriesId, msg.sender);
        if (s.status != SeriesStatus.Active) revert SeriesMarketNotActive(seriesId, s.status);
    }

    function _ownSubscription(uint256 subscriptionId) private view returns (SubscriptionData storage sub) {
        sub = _subscriptions[subscriptionId];
        if (sub.status == SubscriptionStatus.None) revert SeriesMarketUnknownSubscription(subscriptionId);
        if (sub.subscriber != msg.sender && !(sub.granted && _series[sub.seriesId].owner == msg.sender)) {
            revert SeriesMarketNotSubscriber(subscriptionId, msg.sender);
        }
    }

    /// @dev Who paid the escrow and gets refunds: the owner for a grant, else the subscriber.
    function _payer(SubscriptionData storage sub) private view returns (address) {
        return sub.granted ? _series[sub.seriesId].owner : sub.subscriber;
    }

    /// @dev Segments released by ≥ threshold keepers: the threshold-th largest cursor.
    function _charged(SubscriptionData storage sub) private view returns (uint64) {
        SeriesData storage s = _series[sub.seriesId];
        uint256 n = s.keeperCount;
        uint256 t = s.threshold;
        uint256 cursors = sub.cursors;
        // Largest c with at least t cursors ≥ c: check each cursor value as a candidate.
        uint256 best;
        for (uint256 i; i < n; ++i) {
            uint256 c = (cursors >> (32 * i)) & 0xffffffff;
            if (c <= best) continue;
            uint256 atLeast;
            for (uint256 j; j < n; ++j) {
                if ((cursors >> (32 * j)) & 0xffffffff >= c) ++atLeast;
            }
            if (atLeast >= t) best = c;
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- a 32-bit cursor
        return uint64(best);
    }

    /// @dev End of the window in which `seq` may be released to a subscription made at `createdAt`.
    function _releaseDeadline(uint256 seriesId, uint64 seq, uint40 createdAt) private view returns (uint256) {
        uint256 appendedAt = _appendedAt[seriesId][seq];
        uint256 start = appendedAt > createdAt ? appendedAt : createdAt;
        return start + _RELEASE_WINDOW;
    }

    /// @dev Shrinks the subscription to what is still deliverable and pays back the rest.
    /// Deliverable: nothing beyond what was charged once consent was withdrawn, or once the next
    /// segment to charge is appended and its release window passed; after a cancel, no segment
    /// appended later; otherwise the whole range.
    function _refund(uint256 subscriptionId, SubscriptionData storage sub)
        private
        returns (uint256 amount, bool shrunk)
    {
        SeriesData storage s = _series[sub.seriesId];
        uint64 charged = _charged(sub);
        uint64 segments = sub.segments;
        uint64 fromSeq = sub.fromSeq;
        uint64 segmentCount = s.segmentCount;
        uint64 end = segments;
        if (s.status == SeriesStatus.Withdrawn) {
            end = charged;
        } else if (
            charged < segments && fromSeq + charged < segmentCount
                && block.timestamp >= _releaseDeadline(sub.seriesId, fromSeq + charged, sub.createdAt)
        ) {
            end = charged;
        } else if (sub.status == SubscriptionStatus.Cancelled) {
            uint64 appended = segmentCount > fromSeq ? segmentCount - fromSeq : 0;
            end = appended < segments ? appended : segments;
            if (end < charged) end = charged;
        }
        if (end == segments) return (0, false);

        shrunk = true;
        amount = uint256(sub.price) * (segments - end);
        // forge-lint: disable-next-line(unsafe-typecast) -- end < segments ≤ 2³²
        sub.segments = uint32(end);
        if (sub.status == SubscriptionStatus.Active) sub.status = SubscriptionStatus.Cancelled;
        // forge-lint: disable-next-line(unsafe-typecast) -- amount ≤ this subscription's escrow
        _totals.openEscrow -= uint128(amount);
        address payer = _payer(sub);
        emit SubscriptionRefunded(subscriptionId, payer, end, amount);
        if (amount != 0) _TOKEN.safeTransfer(payer, amount);
    }

    function _checkPrice(uint256 price) private pure {
        if (price > type(uint96).max) revert SeriesMarketPriceTooLarge(price, type(uint96).max);
    }

    /// @dev The key must be 64 bytes and hash to `account` (Ethereum address derivation).
    function _checkPubKey(address account, bytes calldata pubKey) private pure {
        if (pubKey.length != PUBKEY_LENGTH) revert SeriesMarketInvalidPubKey(account, pubKey.length);
        address derived = address(uint160(uint256(keccak256(pubKey))));
        if (derived != account) revert SeriesMarketPubKeyMismatch(account, derived);
    }
}
