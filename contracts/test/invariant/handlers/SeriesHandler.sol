// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "forge-std/Test.sol";
import {PHDCoin} from "../../../src/PHDCoin.sol";
import {SeriesMarket} from "../../../src/SeriesMarket.sol";
import {ISeriesMarket} from "../../../src/interfaces/ISeriesMarket.sol";
import {Purposes} from "../../../src/Purposes.sol";

/// @notice Drives a SeriesMarket through random appends, subscriptions (back-filled or not),
/// batched releases (honest, replayed, out of order, duplicated), cancels, refunds, consent
/// withdrawals, erasures, withdrawals and time jumps, and keeps a ghost model:
/// - what each subscription must have paid (price × segments released by ≥ t keepers),
/// - when each subscription was cancelled (segment count at that moment), to check that no
///   segment appended afterwards is ever released to it.
contract SeriesHandler is Test {
    PHDCoin internal coin;
    SeriesMarket internal market;
    Vm.Wallet[] internal subscribers;
    address[] internal keepers;
    uint256[] public seriesIds;
    address[] internal owners;

    uint256[] public subs;
    /// @dev Per subscription and share index: segments released (ghost of the cursors).
    mapping(uint256 sid => mapping(uint256 shareIndex => uint64)) public ghostCursor;
    /// @dev Segment count of the series when the subscription was cancelled (max when not).
    mapping(uint256 sid => uint64) public appendedAtCancel;
    mapping(uint256 sid => bool) public cancelled;
    /// @dev A release of a segment appended after the cancel was observed.
    bool public releasedAfterCancel;
    uint256 public ghostPaidIn;
    uint256 public ghostRefunded;
    uint256 public ghostWithdrawn;

    constructor(
        PHDCoin coin_,
        SeriesMarket market_,
        Vm.Wallet[] memory subscribers_,
        address[] memory keepers_,
        address[] memory owners_,
        uint256[] memory seriesIds_
    ) {
        coin = coin_;
        market = market_;
        for (uint256 i; i < subscribers_.length; ++i) {
            subscribers.push(subscribers_[i]);
        }
        keepers = keepers_;
        owners = owners_;
        seriesIds = seriesIds_;
    }

    function subCount() external view returns (uint256) {
        return subs.length;
    }

    function _series(uint256 seed) internal view returns (uint256) {
        return seriesIds[seed % seriesIds.length];
    }

    // ------------------------------------------------------------------ actions

    function append(uint256 seriesSeed) external {
        uint256 id = _series(seriesSeed);
        ISeriesMarket.Series memory s = market.series(id);
        if (s.status != ISeriesMarket.SeriesStatus.Active) return;
        bytes memory cs;
        for (uint256 j; j < s.threshold; ++j) {
            Vm.Wallet memory w = vm.createWallet(uint256(keccak256(abi.encode(id, s.segmentCount, j))) % 1e30 + 1);
            cs = bytes.concat(cs, abi.encodePacked(bytes1(w.publicKeyY & 1 == 0 ? 0x02 : 0x03), bytes32(w.publicKeyX)));
        }
        vm.prank(s.owner);
        market.appendSegment(id, s.segmentCount, bytes32(uint256(s.segmentCount)), cs, "s3://b/k", bytes32(0));
    }

    function subscribe(uint256 seriesSeed, uint256 subscriberSeed, uint64 back, uint64 segments) external {
        uint256 id = _series(seriesSeed);
        ISeriesMarket.Series memory s = market.series(id);
        if (s.status != ISeriesMarket.SeriesStatus.Active) return;
        Vm.Wallet memory w = subscribers[subscriberSeed % subscribers.length];
        uint64 fromSeq = s.segmentCount - uint64(bound(back, 0, s.segmentCount));
        segments = uint64(bound(segments, 1, 12));
        vm.prank(w.addr);
        uint256 sid = market.subscribe(
            id, fromSeq, segments, s.pricePerSegment, Purposes.RESEARCH, abi.encodePacked(w.publicKeyX, w.publicKeyY)
        );
        subs.push(sid);
        appendedAtCancel[sid] = type(uint64).max;
        ghostPaidIn += s.pricePerSegment * segments;
    }

    /// @dev One keeper's batch for one segment: every subscription of the series, plus noise
    /// (a replay of an earlier segment, a duplicate) when `noisy`.
    function release(uint256 seriesSeed, uint256 keeperSeed, uint64 seqSeed, bool noisy) external {
        uint256 id = _series(seriesSeed);
        ISeriesMarket.Series memory s = market.series(id);
        if (s.status != ISeriesMarket.SeriesStatus.Active || s.segmentCount == 0) return;
        address[] memory ks = market.keepersOf(id);
        uint256 k = keeperSeed % ks.length;
        uint64 seq = uint64(bound(seqSeed, 0, s.segmentCount - 1));

        uint256 count;
        for (uint256 i; i < subs.length; ++i) {
            if (market.subscription(subs[i]).seriesId == id) ++count;
        }
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](noisy ? count * 2 : count);
        uint256 at;
        for (uint256 i; i < subs.length; ++i) {
            uint256 sid = subs[i];
            if (market.subscription(sid).seriesId != id) continue;
            // Honest keepers send each subscription its next segment; `seq` is used as noise.
            uint64 next = market.releaseCursor(sid, ks[k]);
            rs[at++] = ISeriesMarket.Release({
                subscriptionId: uint64(sid), seq: next < s.segmentCount ? next : seq, payload: hex"01"
            });
            if (noisy) rs[at++] = ISeriesMarket.Release({subscriptionId: uint64(sid), seq: seq, payload: hex"02"});
        }
        uint64[] memory before = new uint64[](rs.length);
        for (uint256 i; i < rs.length; ++i) {
            before[i] = market.releaseCursor(rs[i].subscriptionId, ks[k]);
        }
        vm.prank(ks[k]);
        market.releaseShares(id, rs);
        for (uint256 i; i < rs.length; ++i) {
            uint256 sid = rs[i].subscriptionId;
            uint64 afterCursor = market.releaseCursor(sid, ks[k]);
            uint64 fromSeq = market.subscription(sid).fromSeq;
            if (afterCursor > before[i]) {
                ghostCursor[sid][k + 1] = afterCursor - fromSeq;
                if (cancelled[sid] && afterCursor - 1 >= appendedAtCancel[sid]) releasedAfterCancel = true;
            }
        }
    }

    function cancel(uint256 subSeed) external {
        if (subs.length == 0) return;
        uint256 sid = subs[subSeed % subs.length];
        ISeriesMarket.Subscription memory sub = market.subscription(sid);
        if (sub.status != ISeriesMarket.SubscriptionStatus.Active) return;
        appendedAtCancel[sid] = market.series(sub.seriesId).segmentCount;
        cancelled[sid] = true;
        vm.prank(sub.subscriber);
        ghostRefunded += market.cancel(sid);
    }

    function refund(uint256 subSeed) external {
        if (subs.length == 0) return;
        uint256 sid = subs[subSeed % subs.length];
        ISeriesMarket.Subscription memory sub = market.subscription(sid);
        vm.prank(sub.subscriber);
        try market.refund(sid) returns (uint256 amount) {
            ghostRefunded += amount;
            if (!cancelled[sid]) {
                cancelled[sid] = true;
                appendedAtCancel[sid] = market.series(sub.seriesId).segmentCount;
            }
        } catch (bytes memory err) {
            require(bytes4(err) == ISeriesMarket.SeriesMarketNothingToRefund.selector, "unexpected refund revert");
        }
    }

    function withdrawConsent(uint256 seriesSeed, uint256 chance) external {
        if (chance % 20 != 0) return; // rare: a withdrawn series stops everything
        uint256 id = _series(seriesSeed);
        ISeriesMarket.Series memory s = market.series(id);
        if (s.status != ISeriesMarket.SeriesStatus.Active) return;
        vm.prank(s.owner);
        market.withdrawConsent(id);
    }

    function confirmErasure(uint256 seriesSeed, uint256 keeperSeed) external {
        uint256 id = _series(seriesSeed);
        if (market.series(id).status != ISeriesMarket.SeriesStatus.Withdrawn) return;
        address[] memory ks = market.keepersOf(id);
        address k = ks[keeperSeed % ks.length];
        if (market.hasConfirmedErasure(id, k)) return;
        vm.prank(k);
        market.confirmErasure(id);
    }

    function withdraw(uint256 who) external {
        address a = who % 2 == 0 ? owners[who / 2 % owners.length] : keepers[who / 2 % keepers.length];
        uint256 credit = market.creditOf(a);
        if (credit == 0) return;
        vm.prank(a);
        ghostWithdrawn += market.withdraw();
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 12 hours));
    }

    // ------------------------------------------------------------------ model

    /// @dev Segments released by ≥ t keepers per the ghost cursors.
    function ghostCharged(uint256 sid) public view returns (uint64 best) {
        ISeriesMarket.Subscription memory sub = market.subscription(sid);
        ISeriesMarket.Series memory s = market.series(sub.seriesId);
        for (uint256 i = 1; i <= s.keeperCount; ++i) {
            uint64 c = ghostCursor[sid][i];
            if (c <= best) continue;
            uint256 atLeast;
            for (uint256 j = 1; j <= s.keeperCount; ++j) {
                if (ghostCursor[sid][j] >= c) ++atLeast;
            }
            if (atLeast >= s.threshold) best = c;
        }
    }
}
