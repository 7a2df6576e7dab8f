// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Base} from "./Base.t.sol";
import {SeriesMarket} from "../src/SeriesMarket.sol";
import {ISeriesMarket} from "../src/interfaces/ISeriesMarket.sol";
import {Purposes} from "../src/Purposes.sol";

/// @notice The `Base` deployment plus a SeriesMarket on the same coin and KeeperRegistry.
abstract contract SeriesBase is Base {
    uint64 internal constant RELEASE_WINDOW = 1 days;
    uint256 internal constant SEGMENT_PRICE = 3 * UNIT + 7; // odd: fee rounding dust is exercised
    bytes32 internal constant SERIES_META = keccak256("series metadata");
    bytes32 internal constant SEGMENT_META = keccak256("segment metadata");
    string internal constant SEGMENT_URI = "s3://phd-data/series/1/000000.sealed";

    SeriesMarket internal series;

    function setUp() public virtual override {
        super.setUp();
        vm.warp(1_700_000_000);
        series = new SeriesMarket(address(coin), address(keeperRegistry), FEE_BPS, RELEASE_WINDOW);
        vm.label(address(series), "SeriesMarket");
        vm.prank(admin);
        keeperRegistry.setSeriesMarket(address(series));
        fundSeries(buyer, 10_000 * UNIT);
        fundSeries(buyer2, 10_000 * UNIT);
    }

    function fundSeries(address who, uint256 amount) internal {
        vm.prank(treasury);
        coin.transfer(who, amount);
        vm.prank(who);
        coin.approve(address(series), type(uint256).max);
    }

    function seriesParams(uint256 n, uint8 t, uint256 price)
        internal
        view
        returns (ISeriesMarket.CreateParams memory p)
    {
        p = ISeriesMarket.CreateParams({
            keepers: firstKeepers(n),
            threshold: t,
            purposes: ALL_PURPOSES,
            pricePerSegment: price,
            metadataHash: SERIES_META,
            consentTermsHash: TERMS_HASH
        });
    }

    function createSeries(uint256 n, uint8 t, uint256 price) internal returns (uint256 id) {
        ISeriesMarket.CreateParams memory p = seriesParams(n, t, price);
        vm.prank(owner);
        id = series.createSeries(p);
    }

    /// @dev t compressed commitments back to back.
    function packedCommitments(uint256 t, uint256 seed) internal returns (bytes memory out) {
        bytes[] memory cs = commitments(t, seed);
        for (uint256 j; j < t; ++j) {
            out = bytes.concat(out, cs[j]);
        }
    }

    function append(uint256 id, uint64 seq) internal {
        uint8 t = series.series(id).threshold;
        bytes memory cs = packedCommitments(t, 5000 + seq * 8);
        vm.prank(series.series(id).owner);
        series.appendSegment(id, seq, keccak256(abi.encode("root", seq)), cs, SEGMENT_URI, SEGMENT_META);
    }

    /// @dev Appends segments until the series holds `count`.
    function appendUpTo(uint256 id, uint64 count) internal {
        for (uint64 seq = series.series(id).segmentCount; seq < count; ++seq) {
            append(id, seq);
        }
    }

    function subscribeAs(Vm.Wallet memory w, uint256 id, uint64 fromSeq, uint64 segments)
        internal
        returns (uint256 sid)
    {
        vm.prank(w.addr);
        sid = series.subscribe(id, fromSeq, segments, type(uint256).max, Purposes.RESEARCH, pubKey(w));
    }

    function item(uint256 sid, uint64 seq, uint256 salt) internal pure returns (ISeriesMarket.Release memory r) {
        r = ISeriesMarket.Release({subscriptionId: uint64(sid), seq: seq, payload: payload(salt)});
    }

    /// @dev Keeper `k` (0-based in `keepers`) releases `seq` to each subscription in one call.
    function releaseTo(uint256 id, uint256 k, uint64 seq, uint256[] memory sids) internal {
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](sids.length);
        for (uint256 i; i < sids.length; ++i) {
            rs[i] = item(sids[i], seq, seq * 1000 + k * 100 + i);
        }
        vm.prank(keepers[k]);
        series.releaseShares(id, rs);
    }

    function one(uint256 sid) internal pure returns (uint256[] memory a) {
        a = new uint256[](1);
        a[0] = sid;
    }

    /// @dev Keepers 0..count−1 release `seq` to `sid`.
    function releaseBy(uint256 id, uint256 count, uint64 seq, uint256 sid) internal {
        for (uint256 k; k < count; ++k) {
            releaseTo(id, k, seq, one(sid));
        }
    }

    function splitOf(uint256 price, uint256 t) internal pure returns (uint256 ownerAmt, uint256 each) {
        each = price * FEE_BPS / 10_000 / t;
        ownerAmt = price - each * t;
    }
}
