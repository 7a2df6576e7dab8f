// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISeriesCertification} from "./interfaces/ISeriesCertification.sol";
import {ISeriesMarket} from "./interfaces/ISeriesMarket.sol";
import {IKeeperRegistry} from "./interfaces/IKeeperRegistry.sol";

/// @title SeriesCertification
/// @notice Validators' certificates of continuous series, kept apart from the SeriesMarket (which
/// keeps its code-size headroom) and reading it: see `ISeriesCertification` for the rules.
/// @dev Independence is checked when a certificate is made: the owner and the keepers of a series
/// never change, and the access check reads the SeriesMarket's own count of segments released by
/// t keepers (`charged`), so a certificate cannot claim segments its validator could not decrypt.
/// The contract holds no funds and makes no external call that could reenter (only views).
contract SeriesCertification is ISeriesCertification {
    /// @notice Highest score (100 %).
    uint16 public constant MAX_SCORE_BPS = 10_000;
    /// @notice Longest report URI, in bytes.
    uint256 public constant MAX_URI_BYTES = 512;

    /// @notice Lowest score a current certificate needs to count.
    uint16 public immutable MIN_SCORE_BPS;
    /// @notice Counted current certificates that make a series certified.
    uint8 public immutable MIN_CERTIFICATIONS;

    ISeriesMarket private immutable _MARKET;
    IKeeperRegistry private immutable _KEEPERS;

    mapping(uint256 seriesId => Certificate[]) private _history;
    /// @dev History index + 1 of each validator's current certificate (0: none).
    mapping(uint256 seriesId => mapping(address validator => uint256)) private _currentIndex;
    mapping(uint256 seriesId => uint256) private _counted;

    /// @param seriesMarket_ The SeriesMarket whose series are certified.
    /// @param minScoreBps_ Lowest counting score (≤ 10 000).
    /// @param minCertifications_ Counted current certificates that certify a series (> 0).
    constructor(address seriesMarket_, uint16 minScoreBps_, uint8 minCertifications_) {
        if (seriesMarket_ == address(0) || minScoreBps_ > MAX_SCORE_BPS || minCertifications_ == 0) {
            revert SeriesCertificationInvalidConfig();
        }
        _MARKET = ISeriesMarket(seriesMarket_);
        _KEEPERS = IKeeperRegistry(ISeriesMarket(seriesMarket_).keeperRegistry());
        MIN_SCORE_BPS = minScoreBps_;
        MIN_CERTIFICATIONS = minCertifications_;
    }

    /// @inheritdoc ISeriesCertification
    function certify(
        uint256 seriesId,
        uint64 subscriptionId,
        uint64 throughSeq,
        uint16 scoreBps,
        bytes32 modelId,
        bytes32 reportHash,
        string calldata reportUri
    ) external {
        if (!_KEEPERS.isValidator(msg.sender)) revert SeriesCertificationNotValidator(msg.sender);
        if (scoreBps > MAX_SCORE_BPS) revert SeriesCertificationInvalidScore(scoreBps);
        if (bytes(reportUri).length > MAX_URI_BYTES) {
            revert SeriesCertificationReportUriTooLong(bytes(reportUri).length, MAX_URI_BYTES);
        }
        _checkAccess(seriesId, subscriptionId, throughSeq);

        bool previousCounted = _previousCounted(seriesId, throughSeq);
        _store(seriesId, subscriptionId, throughSeq, scoreBps, modelId, reportHash, reportUri);
        _recount(seriesId, previousCounted, scoreBps >= MIN_SCORE_BPS);
    }

    /// @dev Whether the caller's current certificate counts; reverts unless `throughSeq` is later.
    function _previousCounted(uint256 seriesId, uint64 throughSeq) private view returns (bool) {
        uint256 previous = _currentIndex[seriesId][msg.sender];
        if (previous == 0) return false;
        Certificate storage last = _history[seriesId][previous - 1];
        if (throughSeq <= last.throughSeq) revert SeriesCertificationNotLater(seriesId, msg.sender, last.throughSeq);
        return last.scoreBps >= MIN_SCORE_BPS;
    }

    /// @dev Appends the certificate to the history and makes it the caller's current one.
    function _store(
        uint256 seriesId,
        uint64 subscriptionId,
        uint64 throughSeq,
        uint16 scoreBps,
        bytes32 modelId,
        bytes32 reportHash,
        string calldata reportUri
    ) private {
        Certificate[] storage history = _history[seriesId];
        uint256 index = history.length;
        history.push(
            Certificate({
                validator: msg.sender,
                throughSeq: throughSeq,
                scoreBps: scoreBps,
                subscriptionId: subscriptionId,
                certifiedAt: uint64(block.timestamp),
                modelId: modelId,
                reportHash: reportHash,
                reportUri: reportUri
            })
        );
        _currentIndex[seriesId][msg.sender] = index + 1;
        emit SeriesCertified(
            seriesId, msg.sender, index, subscriptionId, throughSeq, scoreBps, modelId, reportHash, reportUri
        );
    }

    /// @dev Replaces the caller's previous certificate by the new one in the count.
    function _recount(uint256 seriesId, bool previousCounted, bool counts) private {
        if (counts == previousCounted) return;
        uint256 before = _counted[seriesId];
        uint256 counted = counts ? before + 1 : before - 1;
        _counted[seriesId] = counted;
        if (counted == MIN_CERTIFICATIONS && before < counted) emit SeriesCertificationReached(seriesId, counted);
        if (before == MIN_CERTIFICATIONS && counted < before) emit SeriesCertificationLost(seriesId, counted);
    }

    /// @dev The caller is independent of the Active series and saw segments up to `throughSeq`
    /// through its own subscription to it.
    function _checkAccess(uint256 seriesId, uint64 subscriptionId, uint64 throughSeq) private view {
        if (seriesId == 0 || seriesId > _MARKET.seriesCount()) revert SeriesCertificationUnknownSeries(seriesId);
        ISeriesMarket.Series memory s = _MARKET.series(seriesId);
        if (s.status != ISeriesMarket.SeriesStatus.Active) revert SeriesCertificationSeriesNotActive(seriesId);
        if (msg.sender == s.owner || _MARKET.shareIndexOf(seriesId, msg.sender) != 0) {
            revert SeriesCertificationValidatorNotIndependent(seriesId, msg.sender);
        }
        if (subscriptionId == 0 || subscriptionId > _MARKET.subscriptionCount()) {
            revert SeriesCertificationAccessNotGranted(seriesId, subscriptionId, msg.sender);
        }
        ISeriesMarket.Subscription memory sub = _MARKET.subscription(subscriptionId);
        if (sub.subscriber != msg.sender || sub.seriesId != seriesId) {
            revert SeriesCertificationAccessNotGranted(seriesId, subscriptionId, msg.sender);
        }
        uint64 releasedEnd = sub.fromSeq + sub.charged;
        if (throughSeq < sub.fromSeq || throughSeq >= releasedEnd) {
            revert SeriesCertificationNotReleased(seriesId, throughSeq, sub.fromSeq, releasedEnd);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ISeriesCertification
    function isCertified(uint256 seriesId) external view returns (bool) {
        return _counted[seriesId] >= MIN_CERTIFICATIONS;
    }

    /// @inheritdoc ISeriesCertification
    function countedOf(uint256 seriesId) external view returns (uint256) {
        return _counted[seriesId];
    }

    /// @inheritdoc ISeriesCertification
    function currentOf(uint256 seriesId, address validator)
        external
        view
        returns (bool found, Certificate memory certificate)
    {
        uint256 index = _currentIndex[seriesId][validator];
        if (index == 0) return (false, certificate);
        return (true, _history[seriesId][index - 1]);
    }

    /// @inheritdoc ISeriesCertification
    function certificationCount(uint256 seriesId) external view returns (uint256) {
        return _history[seriesId].length;
    }

    /// @inheritdoc ISeriesCertification
    function certificationAt(uint256 seriesId, uint256 index) external view returns (Certificate memory) {
        Certificate[] storage history = _history[seriesId];
        if (index >= history.length) revert SeriesCertificationUnknownCertificate(seriesId, index);
        return history[index];
    }

    /// @inheritdoc ISeriesCertification
    function seriesMarket() external view returns (address) {
        return address(_MARKET);
    }

    /// @inheritdoc ISeriesCertification
    function keeperRegistry() external view returns (address) {
        return address(_KEEPERS);
    }
}
