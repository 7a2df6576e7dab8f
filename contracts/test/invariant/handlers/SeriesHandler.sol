// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "forge-std/Test.sol";
import {PHDCoin} from "../../../src/PHDCoin.sol";
import {SeriesMarket} from "../../../src/SeriesMarket.sol";
import {ISeriesMarket} from "../../../src/interfaces/ISeriesMarket.sol";
import {Purposes} from "../../../src/Purposes.sol";
import {IKeeperRegistry} from "../../../src/interfaces/IKeeperRegistry.sol";
import {ShareProof} from "../../../src/libraries/ShareProof.sol";

/// @notice Drives a SeriesMarket through random appends, subscriptions (back-filled or not),
/// batched releases (honest, replayed, out of order, duplicated), cancels, refunds, consent
/// withdrawals, erasures, withdrawals and time jumps, and keeps a ghost model:
/// - what each subscription must have paid (price × segments released by ≥ t keepers),
/// - when each subscription was cancelled (segment count at that moment), to check that no
///   segment appended afterwards is ever released to it;
/// - each (subscription, keeper) release log, for true and false disputes: the keeper at share
///   index 2 of every series cheats (its payloads are malformed, so provably wrong without a
///   DLEQ proof), the others post well-formed payloads; subscribers dispute random releases
///   (true ones must slash the keeper and take back its fee, false and forged ones must revert
///   with a named error and change nothing); what disputes slash comes into the escrow ghost.
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
    /// @dev Tokens slashed from keeper bonds into the SeriesMarket by disputes.
    uint256 public ghostSlashedIn;
    uint256 public trueDisputes;
    uint256 public falseDisputes;
    /// @dev A proven bad release of a charged segment left its keeper with its fee (or the
    /// keeper's loss differed from what the subscriber got).
    bool public badKeeperPaid;
    uint8 internal constant CHEATER = 2;
    mapping(uint256 sid => mapping(uint256 shareIndex => bytes32[])) internal logEntries;
    mapping(uint256 sid => mapping(uint256 shareIndex => mapping(uint64 seq => bytes))) internal released;
    mapping(uint256 sid => mapping(uint256 shareIndex => uint64[])) internal releasedSeqs;
    mapping(uint256 seriesId => mapping(uint64 seq => bytes)) internal commitmentsOf;

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

    /// @dev A cheater's payload is malformed; the others are well-formed (R = G) with a random m.
    function _payload(uint256 shareIndex, uint256 sid, uint64 seq, uint256 salt) internal pure returns (bytes memory) {
        if (shareIndex == CHEATER) return abi.encodePacked(bytes1(0x01), salt);
        return abi.encodePacked(
            uint8(2), uint8(2), ShareProof.GX, uint256(keccak256(abi.encode(sid, seq, salt))) % ShareProof.N
        );
    }

    function _registry() internal view returns (IKeeperRegistry) {
        return IKeeperRegistry(market.keeperRegistry());
    }

    function _chain(bytes32 h, bytes32 entry) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(h, entry));
    }

    /// @dev Records which of a subscription's items (at most two per batch) the contract logged:
    /// the subset whose chain reaches the stored log, in batch order.
    function _recordReleases(uint256 sid, uint256 shareIndex, ISeriesMarket.Release[] memory rs) internal {
        uint256[2] memory at;
        uint256 n;
        for (uint256 i; i < rs.length && n < 2; ++i) {
            if (rs[i].subscriptionId == sid) at[n++] = i;
        }
        bytes32 head = market.releaseLog(sid, uint8(shareIndex));
        bytes32 h;
        bytes32[] storage log = logEntries[sid][shareIndex];
        for (uint256 i; i < log.length; ++i) {
            h = _chain(h, log[i]);
        }
        if (h == head) return;
        for (uint256 mask = 1; mask < (1 << n); ++mask) {
            bytes32 c = h;
            for (uint256 j; j < n; ++j) {
                if (mask & (1 << j) != 0) c = _chain(c, _entry(rs[at[j]]));
            }
            if (c != head) continue;
            for (uint256 j; j < n; ++j) {
                if (mask & (1 << j) == 0) continue;
                ISeriesMarket.Release memory r = rs[at[j]];
                log.push(_entry(r));
                released[sid][shareIndex][r.seq] = r.payload;
                releasedSeqs[sid][shareIndex].push(r.seq);
            }
            return;
        }
        revert("release log diverged from the model");
    }

    function _entry(ISeriesMarket.Release memory r) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(r.seq, r.payload));
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
        commitmentsOf[id][s.segmentCount] = cs;
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
        if (!_registry().isKeeper(ks[k])) return; // slashed out by disputes
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
            uint64 first = next < s.segmentCount ? next : seq;
            rs[at++] = ISeriesMarket.Release({
                subscriptionId: uint64(sid), seq: first, payload: _payload(k + 1, sid, first, 1)
            });
            if (noisy) {
                rs[at++] = ISeriesMarket.Release({
                    subscriptionId: uint64(sid), seq: seq, payload: _payload(k + 1, sid, seq, 2)
                });
            }
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
        for (uint256 i; i < subs.length; ++i) {
            if (market.subscription(subs[i]).seriesId == id) _recordReleases(subs[i], k + 1, rs);
        }
    }

    /// @dev A subscriber disputes one of the releases it got (`forge`: a payload never released).
    /// True disputes (the cheater's) slash and take the fee back; everything else must revert
    /// with a named error and change nothing.
    function dispute(uint256 subSeed, uint256 keeperSeed, uint256 pick, bool forge) external {
        if (subs.length == 0) return;
        uint256 sid = subs[subSeed % subs.length];
        ISeriesMarket.Subscription memory sub = market.subscription(sid);
        ISeriesMarket.Series memory s = market.series(sub.seriesId);
        uint256 index = keeperSeed % s.keeperCount + 1;
        uint64[] storage seqs = releasedSeqs[sid][index];
        if (seqs.length == 0) return;
        uint256 at = pick % seqs.length;
        ISeriesMarket.ReleaseDispute memory d = _disputeOf(sid, index, at, seqs[at]);
        if (forge) d.payload = _payload(CHEATER, sid, seqs[at], 3); // never released
        Before memory b;
        b.keeper = market.keepersOf(sub.seriesId)[index - 1];
        b.stake = _registry().stakeOf(b.keeper).amount;
        b.wealth = market.creditOf(b.keeper) + b.stake;
        b.subscriberCredit = market.creditOf(sub.subscriber);
        b.charged = _releasedBy(sid, seqs[at], s) >= s.threshold;
        b.fee = uint256(sub.pricePerSegment) * market.keeperFeeBps() / 10_000 / s.threshold;
        vm.prank(sub.subscriber);
        try market.disputeRelease(d) returns (uint256 compensation) {
            require(!forge && index == CHEATER, "a false dispute succeeded");
            _checkTrueDispute(b, sub.subscriber, compensation);
        } catch (bytes memory err) {
            ++falseDisputes;
            bytes4 sel = bytes4(err);
            require(
                sel == ISeriesMarket.SeriesMarketNotDisputable.selector
                    || sel == ISeriesMarket.SeriesMarketDisputeClosed.selector
                    || sel == ISeriesMarket.SeriesMarketDisputeTooEarly.selector
                    || sel == ISeriesMarket.SeriesMarketInvalidReleaseLog.selector
                    || sel == ShareProof.ShareProofInvalidEncoding.selector,
                "unexpected dispute revert"
            );
            require(market.creditOf(b.keeper) + _registry().stakeOf(b.keeper).amount == b.wealth, "false dispute cost");
        }
    }

    /// @dev The keeper's state before a dispute.
    struct Before {
        address keeper;
        uint256 stake;
        uint256 wealth;
        uint256 subscriberCredit;
        bool charged;
        uint256 fee;
    }

    function _checkTrueDispute(Before memory b, address subscriber, uint256 compensation) internal {
        ++trueDisputes;
        uint256 stakeAfter = _registry().stakeOf(b.keeper).amount;
        ghostSlashedIn += b.stake - stakeAfter;
        if (b.wealth - (market.creditOf(b.keeper) + stakeAfter) != compensation) badKeeperPaid = true;
        if (market.creditOf(subscriber) != b.subscriberCredit + compensation) badKeeperPaid = true;
        if (b.charged && compensation < (b.fee < b.wealth ? b.fee : b.wealth)) badKeeperPaid = true;
    }

    function _releasedBy(uint256 sid, uint64 seq, ISeriesMarket.Series memory s) internal view returns (uint256 n) {
        address[] memory ks = market.keepersOf(sub_(sid).seriesId);
        for (uint256 i; i < s.keeperCount; ++i) {
            if (market.releaseCursor(sid, ks[i]) > seq) ++n;
        }
    }

    function sub_(uint256 sid) internal view returns (ISeriesMarket.Subscription memory) {
        return market.subscription(sid);
    }

    function _disputeOf(uint256 sid, uint256 index, uint256 at, uint64 seq)
        internal
        view
        returns (ISeriesMarket.ReleaseDispute memory d)
    {
        bytes32[] storage log = logEntries[sid][index];
        bytes32 prefix;
        for (uint256 i; i < at; ++i) {
            prefix = _chain(prefix, log[i]);
        }
        bytes32[] memory later = new bytes32[](log.length - at - 1);
        for (uint256 i = at + 1; i < log.length; ++i) {
            later[i - at - 1] = log[i];
        }
        ISeriesMarket.Subscription memory sub = market.subscription(sid);
        Vm.Wallet memory w;
        for (uint256 i; i < subscribers.length; ++i) {
            if (subscribers[i].addr == sub.subscriber) w = subscribers[i];
        }
        d = ISeriesMarket.ReleaseDispute({
            subscriptionId: sid,
            seq: seq,
            // forge-lint: disable-next-line(unsafe-typecast) -- index ≤ 8
            shareIndex: uint8(index),
            payload: released[sid][index][seq],
            subscriberPubKey: abi.encodePacked(w.publicKeyX, w.publicKeyY),
            logPrefix: prefix,
            laterEntries: later,
            commitments: commitmentsOf[sub.seriesId][seq],
            proof: hex"00" // no DLEQ proof: only the cheater's malformed payloads are provable here
        });
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
        address a = who % 3 == 0
            ? owners[who / 3 % owners.length]
            : who % 3 == 1 ? keepers[who / 3 % keepers.length] : subscribers[who / 3 % subscribers.length].addr;
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
