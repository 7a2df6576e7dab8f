// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "forge-std/Test.sol";
import {SeriesMarket} from "../../../src/SeriesMarket.sol";
import {SeriesCertification} from "../../../src/SeriesCertification.sol";
import {KeeperRegistry} from "../../../src/KeeperRegistry.sol";
import {ISeriesMarket} from "../../../src/interfaces/ISeriesMarket.sol";
import {Purposes} from "../../../src/Purposes.sol";

/// @notice Adversarial driver of SeriesCertification: certifiers are honest staked validators,
/// the series owner (also a staked validator), a former keeper of the series come back as a
/// validator, an unstaked account, and a validator that deregisters midway. They grant,
/// subscribe, get segments released (by t keepers, or fewer), and certify with arbitrary
/// subscriptions, segments and scores, replays included. Each successful certificate is checked
/// against the conditions at its block and any breach is latched in `breach`.
contract SeriesCertificationHandler is Test {
    SeriesMarket internal market;
    SeriesCertification internal certs;
    KeeperRegistry internal registry;
    uint256 public seriesId;
    Vm.Wallet[] internal actors;
    uint256[] public subs;

    /// @dev Why the first bad certificate was accepted ("" while none was).
    string public breach;
    uint256 public accepted;
    uint256 public refused;

    constructor(
        SeriesMarket market_,
        SeriesCertification certs_,
        KeeperRegistry registry_,
        uint256 seriesId_,
        Vm.Wallet[] memory actors_
    ) {
        market = market_;
        certs = certs_;
        registry = registry_;
        seriesId = seriesId_;
        for (uint256 i; i < actors_.length; ++i) {
            actors.push(actors_[i]);
        }
    }

    function subCount() external view returns (uint256) {
        return subs.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function actorAt(uint256 i) external view returns (address) {
        return actors[i].addr;
    }

    // ------------------------------------------------------------------ actions

    function append() external {
        ISeriesMarket.Series memory s = market.series(seriesId);
        bytes memory cs;
        for (uint256 j; j < s.threshold; ++j) {
            Vm.Wallet memory w = vm.createWallet(uint256(keccak256(abi.encode(s.segmentCount, j))) % 1e30 + 1);
            cs = bytes.concat(cs, abi.encodePacked(bytes1(w.publicKeyY & 1 == 0 ? 0x02 : 0x03), bytes32(w.publicKeyX)));
        }
        vm.prank(s.owner);
        market.appendSegment(seriesId, s.segmentCount, bytes32(uint256(s.segmentCount)), cs, "s3://b/k", bytes32(0));
    }

    /// @dev The owner grants an actor, or the actor subscribes itself.
    function open(uint256 actorSeed, uint64 back, uint64 segments, bool byOwner) external {
        ISeriesMarket.Series memory s = market.series(seriesId);
        Vm.Wallet memory w = actors[actorSeed % actors.length];
        uint64 fromSeq = s.segmentCount - uint64(bound(back, 0, s.segmentCount));
        segments = uint64(bound(segments, 1, 8));
        bytes memory key = abi.encodePacked(w.publicKeyX, w.publicKeyY);
        uint256 sid;
        if (byOwner) {
            vm.prank(s.owner);
            sid = market.grant(seriesId, w.addr, fromSeq, segments, Purposes.RESEARCH, key);
        } else {
            vm.prank(w.addr);
            sid = market.subscribe(seriesId, fromSeq, segments, s.pricePerSegment, Purposes.RESEARCH, key);
        }
        subs.push(sid);
    }

    /// @dev `count` keepers (possibly fewer than t) release each subscription's next segment.
    function release(uint256 count) external {
        ISeriesMarket.Series memory s = market.series(seriesId);
        address[] memory ks = market.keepersOf(seriesId);
        count = bound(count, 1, ks.length);
        for (uint256 k; k < count; ++k) {
            if (!registry.isKeeper(ks[k])) continue;
            uint256 n;
            ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](subs.length);
            for (uint256 i; i < subs.length; ++i) {
                uint64 next = market.releaseCursor(subs[i], ks[k]);
                if (next >= s.segmentCount) continue;
                rs[n++] = ISeriesMarket.Release({subscriptionId: uint64(subs[i]), seq: next, payload: hex"01"});
            }
            assembly {
                mstore(rs, n)
            }
            vm.prank(ks[k]);
            market.releaseShares(seriesId, rs);
        }
    }

    function certify(uint256 actorSeed, uint256 subSeed, uint64 throughSeq, uint16 score) external {
        if (subs.length == 0) return;
        address v = actors[actorSeed % actors.length].addr;
        uint256 sid = subSeed % 4 == 0 ? bound(subSeed, 0, subs.length + 2) : subs[subSeed % subs.length];
        throughSeq = uint64(bound(throughSeq, 0, market.series(seriesId).segmentCount + 2));
        score = uint16(bound(score, 0, 10_000));
        // Half the time the subscription's holder certifies its last released segment: the
        // attackers among the actors then hold real access and only their role should stop them.
        if (actorSeed % 2 == 0 && sid != 0 && sid <= market.subscriptionCount()) {
            ISeriesMarket.Subscription memory aimed = market.subscription(sid);
            v = aimed.subscriber;
            if (aimed.charged != 0) throughSeq = aimed.fromSeq + aimed.charged - 1;
        }

        // What the rules require, read before the call.
        ISeriesMarket.Series memory s = market.series(seriesId);
        bool staked = registry.isValidator(v);
        bool independent = v != s.owner && market.shareIndexOf(seriesId, v) == 0;
        bool access;
        if (sid != 0 && sid <= market.subscriptionCount()) {
            ISeriesMarket.Subscription memory sub = market.subscription(sid);
            access = sub.subscriber == v && sub.seriesId == seriesId && throughSeq >= sub.fromSeq
                && throughSeq < sub.fromSeq + sub.charged;
        }
        (bool had, SeriesCertification.Certificate memory prev) = certs.currentOf(seriesId, v);

        vm.prank(v);
        try certs.certify(seriesId, uint64(sid), throughSeq, score, bytes32(0), bytes32(0), "") {
            ++accepted;
            if (!staked) _latch("an unstaked account certified");
            if (!independent) _latch("the owner or a keeper certified");
            if (!access) _latch("a certificate beyond the segments released to its validator");
            if (had && throughSeq <= prev.throughSeq) _latch("a replayed or earlier certificate");
        } catch {
            ++refused;
        }
    }

    /// @dev A validator leaves (unbonding starts; it is no longer staked), one call in eight so
    /// the others keep certifying.
    function deregister(uint256 actorSeed) external {
        if (actorSeed % 8 != 0) return;
        address v = actors[actorSeed % actors.length].addr;
        if (!registry.isValidator(v)) return;
        vm.prank(v);
        registry.deregister();
    }

    function _latch(string memory why) private {
        if (bytes(breach).length == 0) breach = why;
    }
}
