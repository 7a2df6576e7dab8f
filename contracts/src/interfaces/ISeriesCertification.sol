// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISeriesCertification
/// @notice Validators certify a series (SeriesMarket) from the segments released to them, under
/// the DataRegistry's independence rules for datasets: a staked validator, neither the series
/// owner nor one of its keepers, that holds a subscription to the series (an owner `grant` or a
/// paid one) through which every segment up to the certified one was released (t shares). The
/// score is rolling: a validator certifies again only for a later segment, its latest certificate
/// is its current one, and the series is certified while at least `MIN_CERTIFICATIONS`
/// validators' current certificates score ≥ `MIN_SCORE_BPS`. Every certificate stays in the
/// history. No reward is paid: a series has no listing bond, so an owner could create series and
/// certify them with its own staked validators to drain any per-series reward.
interface ISeriesCertification {
    /// @notice One certificate.
    /// @dev Field order packs validator, throughSeq and scoreBps in one slot.
    struct Certificate {
        address validator;
        /// @dev The last segment the score covers (the validator's rolling window ends here).
        uint64 throughSeq;
        uint16 scoreBps;
        uint64 subscriptionId;
        uint64 certifiedAt;
        bytes32 modelId;
        bytes32 reportHash;
        string reportUri;
    }

    /// @param index Position in the series' certificate history.
    event SeriesCertified(
        uint256 indexed seriesId,
        address indexed validator,
        uint256 index,
        uint64 subscriptionId,
        uint64 throughSeq,
        uint16 scoreBps,
        bytes32 modelId,
        bytes32 reportHash,
        string reportUri
    );
    /// @notice `counted` current certificates reach the minimum: the series is certified.
    event SeriesCertificationReached(uint256 indexed seriesId, uint256 counted);
    /// @notice A validator's new certificate scored below the minimum: `counted` fell below it.
    event SeriesCertificationLost(uint256 indexed seriesId, uint256 counted);

    error SeriesCertificationInvalidConfig();
    error SeriesCertificationNotValidator(address account);
    error SeriesCertificationInvalidScore(uint16 scoreBps);
    error SeriesCertificationReportUriTooLong(uint256 length, uint256 max);
    error SeriesCertificationUnknownSeries(uint256 seriesId);
    error SeriesCertificationSeriesNotActive(uint256 seriesId);
    error SeriesCertificationValidatorNotIndependent(uint256 seriesId, address validator);
    error SeriesCertificationAccessNotGranted(uint256 seriesId, uint256 subscriptionId, address validator);
    /// @param releasedEnd Segments [fromSeq, releasedEnd) of the subscription were released.
    error SeriesCertificationNotReleased(uint256 seriesId, uint64 throughSeq, uint64 fromSeq, uint64 releasedEnd);
    error SeriesCertificationNotLater(uint256 seriesId, address validator, uint64 previousThroughSeq);
    error SeriesCertificationUnknownCertificate(uint256 seriesId, uint256 index);

    /// @notice Certifies series `seriesId` through segment `throughSeq` with `scoreBps`, as seen
    /// through the caller's subscription `subscriptionId` (its segments [fromSeq, throughSeq]
    /// must have been released to the caller by t keepers).
    function certify(
        uint256 seriesId,
        uint64 subscriptionId,
        uint64 throughSeq,
        uint16 scoreBps,
        bytes32 modelId,
        bytes32 reportHash,
        string calldata reportUri
    ) external;

    /// @notice True while at least `MIN_CERTIFICATIONS` current certificates score ≥ `MIN_SCORE_BPS`.
    function isCertified(uint256 seriesId) external view returns (bool);
    /// @notice Validators whose current certificate scores ≥ `MIN_SCORE_BPS`.
    function countedOf(uint256 seriesId) external view returns (uint256);
    /// @notice `validator`'s current certificate; `found` is false when it has none.
    function currentOf(uint256 seriesId, address validator)
        external
        view
        returns (bool found, Certificate memory certificate);
    /// @notice Number of certificates in the history of `seriesId`.
    function certificationCount(uint256 seriesId) external view returns (uint256);
    /// @notice Certificate `index` of the history of `seriesId`.
    function certificationAt(uint256 seriesId, uint256 index) external view returns (Certificate memory);
    /// @notice The SeriesMarket whose series and subscriptions are read.
    function seriesMarket() external view returns (address);
    /// @notice The KeeperRegistry whose staked validators may certify.
    function keeperRegistry() external view returns (address);
}
