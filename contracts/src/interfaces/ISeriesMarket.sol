// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISeriesMarket
/// @notice Continuous datasets ("series"): an owner appends sealed segments one by one, each
/// under a fresh secret split among the series' keepers (t of n); subscribers escrow the price of
/// a range of segments (which may start in the past); each keeper releases its share of a
/// segment to every active subscriber in one batched transaction. A segment is charged to a
/// subscriber only once t keepers released it to them; then the price is credited (pull
/// payments) to the owner and those t keepers.
interface ISeriesMarket {
    enum SeriesStatus {
        None,
        Active,
        Withdrawn
    }

    enum SubscriptionStatus {
        None,
        Active,
        /// @dev Closed to segments appended after the cancellation (or after a refund ended it);
        /// segments already appended and kept stay deliverable until their release window ends.
        Cancelled
    }

    /// @notice Parameters of `createSeries`.
    struct CreateParams {
        address[] keepers;
        uint8 threshold;
        uint256 purposes;
        uint256 pricePerSegment;
        bytes32 metadataHash;
        bytes32 consentTermsHash;
    }

    /// @notice A series as returned by `series`.
    struct Series {
        address owner;
        SeriesStatus status;
        uint8 threshold;
        uint8 keeperCount;
        uint8 erasures;
        uint64 createdAt;
        uint64 withdrawnAt;
        uint64 segmentCount;
        uint256 pricePerSegment;
        uint256 purposes;
        bytes32 metadataHash;
        bytes32 consentTermsHash;
    }

    /// @notice A subscription as returned by `subscription`.
    struct Subscription {
        uint256 seriesId;
        address subscriber;
        uint8 purpose;
        SubscriptionStatus status;
        uint64 fromSeq;
        /// @dev Segments still covered: [fromSeq, fromSeq + segments). Shrinks on cancel/refund.
        uint64 segments;
        /// @dev Segments released by ≥ threshold keepers and therefore paid: [fromSeq, fromSeq + charged).
        uint64 charged;
        uint64 createdAt;
        uint256 pricePerSegment;
    }

    /// @notice One share of one segment for one subscription, ECIES-encrypted to its key.
    struct Release {
        uint64 subscriptionId;
        uint64 seq;
        bytes payload;
    }

    /// @notice A subscriber's proof that a keeper released a wrong share (`disputeRelease`).
    /// @dev The release log of (subscription, keeper) is a hash chain h ← keccak256(h ‖ entry),
    /// entry = keccak256(seq (8 bytes BE) ‖ payload), starting from 0: `logPrefix` is its value
    /// before the disputed release and `laterEntries` the entries the keeper appended after it.
    struct ReleaseDispute {
        uint256 subscriptionId;
        uint64 seq;
        /// @dev The disputed keeper's share index on the series (1..keeperCount).
        uint8 shareIndex;
        /// @dev The payload exactly as released (ShareReleased event).
        bytes payload;
        /// @dev The caller's 64-byte public key (it must hash to the caller).
        bytes subscriberPubKey;
        bytes32 logPrefix;
        bytes32[] laterEntries;
        /// @dev The segment's commitments as appended (t × 33 bytes, SegmentAppended event).
        bytes commitments;
        /// @dev The 352-byte ShareProof dispute proof (ignored when the payload is malformed).
        bytes proof;
    }

    event SeriesCreated(
        uint256 indexed seriesId,
        address indexed owner,
        address[] keepers,
        uint8 threshold,
        uint256 purposes,
        uint256 pricePerSegment,
        bytes32 metadataHash,
        bytes32 consentTermsHash
    );
    /// @param commitments The segment's t Feldman commitments, 33-byte compressed points back to
    /// back (only their keccak256 is stored).
    event SegmentAppended(
        uint256 indexed seriesId,
        uint64 indexed seq,
        bytes32 contentRoot,
        bytes32 metadataHash,
        bytes commitments,
        string uri
    );
    event PriceChanged(uint256 indexed seriesId, uint256 oldPrice, uint256 newPrice);
    event Subscribed(
        uint256 indexed subscriptionId,
        uint256 indexed seriesId,
        address indexed subscriber,
        uint64 fromSeq,
        uint64 segments,
        uint256 pricePerSegment,
        uint8 purpose,
        bytes pubKey
    );
    /// @param payload The keeper's share of segment `seq`, ECIES-encrypted to the subscriber.
    event ShareReleased(
        uint256 indexed subscriptionId, uint64 indexed seq, address indexed keeper, uint8 shareIndex, bytes payload
    );
    /// @notice One batch of `keeper`: `released` items posted, `settled` segment charges made.
    event Released(
        uint256 indexed seriesId, address indexed keeper, uint256 released, uint256 skipped, uint256 settled
    );
    /// @notice Segments [fromSeq + segments, old end) are no longer covered and were refunded.
    event SubscriptionRefunded(
        uint256 indexed subscriptionId, address indexed subscriber, uint64 segments, uint256 amount
    );
    /// @notice The series owner opened subscription `subscriptionId` for `grantee` (see `grant`).
    event Granted(uint256 indexed subscriptionId, uint256 indexed seriesId, address indexed grantee);
    event SubscriptionCancelled(uint256 indexed subscriptionId, address indexed subscriber);
    event ConsentWithdrawn(uint256 indexed seriesId, address indexed owner);
    event ErasureConfirmed(uint256 indexed seriesId, address indexed keeper, uint8 erasures);
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice `keeper`'s release of segment `seq` to the subscription was proven wrong: it no
    /// longer counts, the keeper paid `compensation` (its fee for the segment, or the whole price
    /// when fewer than t good releases remain — then `refunded` — plus the bad-release slash)
    /// to the subscriber's credits.
    event ReleaseDisputed(
        uint256 indexed subscriptionId,
        uint64 indexed seq,
        address indexed keeper,
        uint8 shareIndex,
        uint256 compensation,
        bool refunded
    );

    error SeriesMarketInvalidConfig();
    error SeriesMarketInvalidThreshold(uint8 threshold, uint256 keeperCount);
    error SeriesMarketNoPurposes();
    error SeriesMarketUnknownPurposes(uint256 purposes);
    error SeriesMarketPriceTooLarge(uint256 price, uint256 max);
    error SeriesMarketKeeperNotRegistered(address keeper);
    error SeriesMarketDuplicateKeeper(address keeper);
    error SeriesMarketUnknownSeries(uint256 seriesId);
    error SeriesMarketNotOwner(uint256 seriesId, address account);
    error SeriesMarketNotActive(uint256 seriesId, SeriesStatus status);
    error SeriesMarketNotWithdrawn(uint256 seriesId);
    error SeriesMarketWrongSeq(uint256 seriesId, uint64 expected, uint64 got);
    error SeriesMarketInvalidCommitments(uint256 expectedLength, uint256 length);
    error SeriesMarketInvalidCommitment(uint256 index);
    error SeriesMarketInvalidUri(uint256 length, uint256 max);
    error SeriesMarketPurposeNotConsented(uint256 seriesId, uint8 purpose);
    error SeriesMarketPriceAboveMax(uint256 price, uint256 max);
    error SeriesMarketInvalidSegments(uint64 fromSeq, uint64 segments);
    error SeriesMarketInvalidPubKey(address account, uint256 length);
    error SeriesMarketPubKeyMismatch(address account, address derived);
    error SeriesMarketUnknownSubscription(uint256 subscriptionId);
    error SeriesMarketNotSubscriber(uint256 subscriptionId, address account);
    error SeriesMarketAlreadyCancelled(uint256 subscriptionId);
    error SeriesMarketNothingToRefund(uint256 subscriptionId);
    error SeriesMarketNotListedKeeper(uint256 seriesId, address account);
    error SeriesMarketKeeperNotStaked(address keeper);
    error SeriesMarketSegmentNotAppended(uint256 seriesId, uint64 seq);
    error SeriesMarketWrongSeries(uint256 subscriptionId, uint256 seriesId);
    error SeriesMarketInvalidPayload(uint256 length, uint256 max);
    error SeriesMarketAlreadyConfirmedErasure(uint256 seriesId, address keeper);
    error SeriesMarketNothingToWithdraw(address account);
    /// @dev Not a release of that keeper to that subscription, or already proven wrong.
    error SeriesMarketNotDisputable(uint256 subscriptionId, uint64 seq, uint8 shareIndex);
    /// @dev The dispute window of the segment (one release window after its release window) is over.
    error SeriesMarketDisputeClosed(uint256 subscriptionId, uint64 seq, uint256 deadline);
    /// @dev Fewer than t keepers released the segment and its release window is still open.
    error SeriesMarketDisputeTooEarly(uint256 subscriptionId, uint64 seq, uint256 releaseEnd);
    /// @dev The payload, prefix and later entries do not hash to the stored release log.
    error SeriesMarketInvalidReleaseLog(uint256 subscriptionId, uint8 shareIndex);
    /// @dev The commitments are not the ones appended for the segment.
    error SeriesMarketWrongCommitments(uint256 seriesId, uint64 seq);
    /// @dev The released share is correct: the dispute is false.
    error SeriesMarketFalseDispute(uint256 subscriptionId, uint64 seq, uint8 shareIndex);
    /// @dev The KeeperRegistry did not take the amount owed (not wired as slasher).
    error SeriesMarketNotSlashable(address keeper);

    // ------------------------------------------------------------------ owner
    /// @notice Opens a series (Active at once): keepers must be bonded in the KeeperRegistry and distinct.
    function createSeries(CreateParams calldata params) external returns (uint256 seriesId);
    /// @notice Appends segment `seq` (exactly the next one) of the caller's Active series.
    /// @param commitments t compressed Feldman commitments back to back (t × 33 bytes).
    function appendSegment(
        uint256 seriesId,
        uint64 seq,
        bytes32 contentRoot,
        bytes calldata commitments,
        string calldata uri,
        bytes32 metadataHash
    ) external;
    /// @notice New price for future subscriptions (existing ones keep theirs).
    function setPrice(uint256 seriesId, uint256 newPrice) external;
    /// @notice Stops the series for good: no append, no subscription, no release; every
    /// subscriber may refund what was not charged; keepers erase and `confirmErasure`.
    function withdrawConsent(uint256 seriesId) external;

    /// @notice Opens a subscription for `grantee` (e.g. a validator) paid by the owner: escrows the
    /// series price for segments [fromSeq, fromSeq + segments) from the caller. Keepers release to
    /// it like to any subscription (keepers' fee per segment; the rest is credited back to the
    /// owner); refunds go to the owner; the owner or the grantee may cancel.
    /// @param pubKey 64-byte uncompressed key of `grantee` (shares are encrypted to it).
    function grant(
        uint256 seriesId,
        address grantee,
        uint64 fromSeq,
        uint64 segments,
        uint8 purpose,
        bytes calldata pubKey
    ) external returns (uint256 subscriptionId);

    // ------------------------------------------------------------------ subscriber
    /// @notice Escrows `pricePerSegment × segments` for segments [fromSeq, fromSeq + segments).
    /// @param pubKey 64-byte uncompressed key of the caller (shares are encrypted to it).
    function subscribe(
        uint256 seriesId,
        uint64 fromSeq,
        uint64 segments,
        uint256 maxPricePerSegment,
        uint8 purpose,
        bytes calldata pubKey
    ) external returns (uint256 subscriptionId);
    /// @notice Ends the subscription: segments not appended yet are refunded at once; segments
    /// appended already stay owed (their shares may be in flight) until their release window.
    function cancel(uint256 subscriptionId) external returns (uint256 refunded);
    /// @notice Refunds what is no longer deliverable: everything not charged once consent was
    /// withdrawn or once the next segment's release window passed unreleased; after `cancel`,
    /// the appended segments whose window passed.
    function refund(uint256 subscriptionId) external returns (uint256 refunded);
    /// @notice Pays out the caller's credits.
    function withdraw() external returns (uint256 amount);

    // ------------------------------------------------------------------ keeper
    /// @notice The caller's share of each listed (subscription, segment), in one transaction.
    /// Each keeper releases a subscription's segments in order. An item no longer deliverable
    /// (cancelled, refunded, out of window, already released) is skipped, not reverted, so a
    /// subscriber cannot fail the batch for the others.
    function releaseShares(uint256 seriesId, Release[] calldata releases) external;
    /// @notice A listed keeper confirms it erased every share of a Withdrawn series.
    function confirmErasure(uint256 seriesId) external;

    // ------------------------------------------------------------------ disputes
    /// @notice The subscriber proves that a keeper released a wrong share of segment `seq` to it
    /// (`ShareProof.verifyDispute` in the series context, docs/FORMATS.md §2.4). Allowed once the
    /// segment was charged (t releases) or its release window closed, until one release window
    /// later. The release stops counting: the keeper pays its fee for the segment — the whole
    /// price when fewer than t good releases remain (a refund, once per segment) — plus
    /// `badReleaseSlash()`, from its SeriesMarket credits first, then from its bond (capped by
    /// it), all to the caller's credits. Reverts `SeriesMarketFalseDispute` for a correct share.
    /// @return compensation What was credited to the caller.
    function disputeRelease(ReleaseDispute calldata dispute) external returns (uint256 compensation);

    // ------------------------------------------------------------------ views
    function series(uint256 seriesId) external view returns (Series memory);
    function seriesCount() external view returns (uint256);
    function keepersOf(uint256 seriesId) external view returns (address[] memory);
    function shareIndexOf(uint256 seriesId, address keeper) external view returns (uint8);
    function segmentCommitmentsHash(uint256 seriesId, uint64 seq) external view returns (bytes32);
    function segmentAppendedAt(uint256 seriesId, uint64 seq) external view returns (uint64);
    function subscription(uint256 subscriptionId) external view returns (Subscription memory);
    function subscriptionCount() external view returns (uint256);
    /// @notice Next segment `keeper` will release to the subscription.
    function releaseCursor(uint256 subscriptionId, address keeper) external view returns (uint64);
    function hasConfirmedErasure(uint256 seriesId, address keeper) external view returns (bool);
    function creditOf(address account) external view returns (uint256);
    /// @notice Hash chain of the shares `shareIndex`'s keeper released to the subscription.
    function releaseLog(uint256 subscriptionId, uint8 shareIndex) external view returns (bytes32);
    /// @notice Share indices (bit i − 1 for index i) whose release of `seq` to the subscription
    /// was proven wrong, and whether the segment was refunded by a dispute.
    function provenBadReleases(uint256 subscriptionId, uint64 seq)
        external
        view
        returns (uint8 shareIndexBits, bool refunded);
    /// @notice Penalty of a proven bad release on top of the fee or refund (half the minimum stake).
    function badReleaseSlash() external view returns (uint256);
    function openEscrow() external view returns (uint256);
    function totalCredits() external view returns (uint256);
    function token() external view returns (address);
    function keeperRegistry() external view returns (address);
    function keeperFeeBps() external view returns (uint16);
    function releaseWindow() external view returns (uint64);
}
