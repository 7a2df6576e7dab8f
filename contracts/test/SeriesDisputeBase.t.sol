// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {SeriesBase} from "./SeriesBase.t.sol";
import {ISeriesMarket} from "../src/interfaces/ISeriesMarket.sol";
import {ShareProof} from "../src/libraries/ShareProof.sol";
import {ShareProofFixture, ShareProofHarness} from "./unit/ShareProof.t.sol";

/// @notice A series whose segments have known Feldman polynomials, a subscriber whose key the
/// ShareProof fixture proves with, and keepers that release real provable payloads (correct or
/// off by `delta`) while the test mirrors each (subscription, keeper) release log.
abstract contract SeriesDisputeBase is SeriesBase, ShareProofFixture {
    uint256 internal constant SEED = 77;

    uint256 internal sid; // the subscription of `subW`
    uint256 internal seriesId;
    Vm.Wallet internal subW; // its key b is the fixture's scalar(SEED, "b")
    mapping(uint256 sid => mapping(uint8 index => bytes32[])) internal logOf;
    mapping(uint64 seq => uint256[]) internal coeffsOf;
    mapping(uint64 seq => bytes) internal packedOf;

    function setUp() public virtual override {
        super.setUp();
        h = new ShareProofHarness();
        subW = vm.createWallet(_scalar(SEED, "b"));
        fundSeries(subW.addr, 10_000 * UNIT);
    }

    /// @dev Series with n keepers and threshold t, `count` segments with known polynomials, and a
    /// subscription of `subW` to segments [0, segments).
    function openSeries(uint256 n, uint8 t, uint64 count, uint64 segments) internal {
        seriesId = createSeries(n, t, SEGMENT_PRICE);
        for (uint64 seq; seq < count; ++seq) {
            appendKnown(seq);
        }
        sid = subscribeAs(subW, seriesId, 0, segments);
    }

    function appendKnown(uint64 seq) internal {
        uint8 t = series.series(seriesId).threshold;
        bytes memory packed;
        for (uint256 j; j < t; ++j) {
            uint256 a = _scalar(SEED + seq, string.concat("a", vm.toString(j)));
            coeffsOf[seq].push(a);
            (uint256 cx, uint256 cy) = _mulG(a);
            packed = bytes.concat(packed, _compress(cx, cy));
        }
        packedOf[seq] = packed;
        vm.prank(owner);
        series.appendSegment(seriesId, seq, keccak256(abi.encode("root", seq)), packed, SEGMENT_URI, SEGMENT_META);
    }

    /// @dev SeriesDeliveryContext::to_bytes as ShareProof's Context.
    function seriesCtx(uint256 subscriptionId, uint64 seq, uint8 index)
        internal
        view
        returns (ShareProof.Context memory)
    {
        return ShareProof.Context({
            chainId: (uint256(1) << 248) | (uint256(seq) << 128) | block.chainid,
            marketplace: address(series),
            purchaseId: subscriptionId,
            index: index
        });
    }

    /// @dev Keeper `index`'s share of `seq` (+ delta) masked for subscription `subscriptionId`.
    function releaseCase(uint256 subscriptionId, uint64 seq, uint8 index, uint256 delta)
        internal
        returns (Case memory c)
    {
        c.ctx = seriesCtx(subscriptionId, seq, index);
        uint256 pow = 1;
        uint256[] storage coeffs = coeffsOf[seq];
        for (uint256 j; j < coeffs.length; ++j) {
            c.share = addmod(c.share, mulmod(coeffs[j], pow, N), N);
            pow = mulmod(pow, index, N);
        }
        c.delivered = addmod(c.share, delta, N);
        c.proof = _prove(c, SEED);
    }

    /// @dev Keeper at share index `index` releases `pl` of `seq` to `subscriptionId`; mirrors the log.
    function releaseAs(uint8 index, uint256 subscriptionId, uint64 seq, bytes memory pl) internal {
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = ISeriesMarket.Release({subscriptionId: uint64(subscriptionId), seq: seq, payload: pl});
        vm.prank(keepers[index - 1]);
        series.releaseShares(seriesId, rs);
        if (series.releaseLog(subscriptionId, index) != logHead(subscriptionId, index)) {
            logOf[subscriptionId][index].push(keccak256(abi.encodePacked(seq, pl)));
        }
    }

    /// @dev Releases a correct (delta 0) or wrong share; returns the case for a dispute.
    function release(uint8 index, uint64 seq, uint256 delta) internal returns (Case memory c) {
        c = releaseCase(sid, seq, index, delta);
        releaseAs(index, sid, seq, c.payload);
    }

    function logHead(uint256 subscriptionId, uint8 index) internal view returns (bytes32 h_) {
        bytes32[] storage log = logOf[subscriptionId][index];
        for (uint256 i; i < log.length; ++i) {
            h_ = keccak256(abi.encodePacked(h_, log[i]));
        }
    }

    /// @dev The dispute of `payload` as keeper `index`'s release of `seq` to `subscriptionId`,
    /// with the log split around the matching entry (the whole log as later entries when absent).
    function disputeOf(uint256 subscriptionId, uint64 seq, uint8 index, Case memory c)
        internal
        view
        returns (ISeriesMarket.ReleaseDispute memory d)
    {
        bytes32[] storage log = logOf[subscriptionId][index];
        bytes32 entry = keccak256(abi.encodePacked(seq, c.payload));
        uint256 at = log.length;
        for (uint256 i; i < log.length; ++i) {
            if (log[i] == entry) at = i;
        }
        bytes32 prefix;
        for (uint256 i; i < at && i < log.length; ++i) {
            prefix = keccak256(abi.encodePacked(prefix, log[i]));
        }
        uint256 from = at < log.length ? at + 1 : 0;
        bytes32[] memory later = new bytes32[](log.length - from);
        for (uint256 i = from; i < log.length; ++i) {
            later[i - from] = log[i];
        }
        d = ISeriesMarket.ReleaseDispute({
            subscriptionId: subscriptionId,
            seq: seq,
            shareIndex: index,
            payload: c.payload,
            subscriberPubKey: c.buyerKey,
            logPrefix: prefix,
            laterEntries: later,
            commitments: packedOf[seq],
            proof: c.proof
        });
    }

    function disputeAsSubscriber(ISeriesMarket.ReleaseDispute memory d) internal returns (uint256) {
        vm.prank(subW.addr);
        return series.disputeRelease(d);
    }
}
