// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {SeriesBase} from "../SeriesBase.t.sol";
import {SeriesDisputeBase} from "../SeriesDisputeBase.t.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @notice Gas of the series hot paths, each call its own transaction (`FOUNDRY_PROFILE=gas`,
/// isolate = true; snapshots in `snapshots/series*.json`): append (n = 5, t = 3), subscribe,
/// and one keeper's batched release of one segment to 1, 10 and 100 subscribers, both the
/// first keeper (no charge) and the t-th (charges every subscriber), in steady state (segment 1:
/// cursors and credits already non-zero after segment 0).
contract SeriesGas is SeriesBase {
    /// @dev The issue's aim for one append with n = 5, t = 3.
    uint256 internal constant APPEND_BUDGET = 120_000;

    uint256 internal id;

    function setUp() public override {
        super.setUp();
        id = createSeries(N_KEEPERS, THRESHOLD, SEGMENT_PRICE);
    }

    function test_Gas_AppendAndSubscribe() public {
        bytes memory cs = packedCommitments(THRESHOLD, 5000);
        vm.prank(owner);
        series.appendSegment(id, 0, keccak256("root0"), cs, SEGMENT_URI, SEGMENT_META);
        uint256 first = vm.snapshotGasLastCall("series", "appendSegment_first_n5_t3");
        cs = packedCommitments(THRESHOLD, 6000);
        vm.prank(owner);
        series.appendSegment(id, 1, keccak256("root1"), cs, SEGMENT_URI, SEGMENT_META);
        uint256 next = vm.snapshotGasLastCall("series", "appendSegment_n5_t3");
        assertLt(first, APPEND_BUDGET, "append budget");
        assertLt(next, APPEND_BUDGET, "append budget");
        console2.log("appendSegment n=5 t=3:", next);

        bytes memory key = pubKey(buyerW);
        vm.prank(buyer);
        series.subscribe(id, 0, 24, SEGMENT_PRICE, Purposes.RESEARCH, key);
        vm.snapshotGasLastCall("series", "subscribe_first");
        key = pubKey(buyer2W);
        vm.prank(buyer2);
        series.subscribe(id, 0, 24, SEGMENT_PRICE, Purposes.RESEARCH, key);
        vm.snapshotGasLastCall("series", "subscribe");
    }

    function test_Gas_Release_1() public {
        _release(1);
    }

    function test_Gas_Release_10() public {
        _release(10);
    }

    function test_Gas_Release_100() public {
        _release(100);
    }

    function _release(uint256 subscribers) internal {
        uint256[] memory sids = new uint256[](subscribers);
        for (uint256 i; i < subscribers; ++i) {
            Vm.Wallet memory w = vm.createWallet(string.concat("subscriber", vm.toString(i)));
            fundSeries(w.addr, 1_000 * UNIT);
            sids[i] = subscribeAs(w, id, 0, 24);
        }
        appendUpTo(id, 2);
        for (uint256 k; k < THRESHOLD; ++k) {
            releaseTo(id, k, 0, sids);
        }
        string memory group = string.concat("series_release_", vm.toString(subscribers));
        ISeriesMarket.Release[] memory rs = _batch(sids, 1);
        vm.prank(keepers[0]);
        series.releaseShares(id, rs);
        uint256 firstKeeper = vm.snapshotGasLastCall(group, "releaseShares_keeper1");
        vm.prank(keepers[1]);
        series.releaseShares(id, rs);
        vm.prank(keepers[2]);
        series.releaseShares(id, rs);
        uint256 settling = vm.snapshotGasLastCall(group, "releaseShares_keeper3_settles_all");
        console2.log("subscribers:", subscribers);
        console2.log("  keeper 1 release:", firstKeeper, " keeper 3 (settles):", settling);
    }

    function _batch(uint256[] memory sids, uint64 seq) internal pure returns (ISeriesMarket.Release[] memory rs) {
        rs = new ISeriesMarket.Release[](sids.length);
        for (uint256 i; i < sids.length; ++i) {
            // An ECIES share payload is 113 bytes (33 ephemeral key + 12 nonce + 32 share + 16 tag + …).
            rs[i] = ISeriesMarket.Release({
                subscriptionId: uint64(sids[i]),
                seq: seq,
                payload: bytes.concat(payload(i), bytes16(keccak256(abi.encode(i))), bytes16(0))
            });
        }
    }
}

/// @notice Gas of `disputeRelease` (n = 5, t = 3), isolated transactions: a true dispute of a
/// wrong share with two later releases of the keeper in the log (fee taken back, slash), the
/// dispute that leaves fewer than t good releases (price refunded), and a false dispute (reverts).
/// The issue's aim for a dispute: ≤ 500k.
contract SeriesDisputeGas is SeriesDisputeBase {
    uint256 internal constant DISPUTE_BUDGET = 500_000;

    function setUp() public override {
        super.setUp();
        openSeries(N_KEEPERS, THRESHOLD, 3, 3);
    }

    function test_Gas_DisputeRelease() public {
        Case memory good1 = release(1, 0, 0);
        Case memory bad2 = release(2, 0, 1);
        Case memory bad3 = release(3, 0, 2);
        release(4, 0, 0);
        for (uint64 seq = 1; seq < 3; ++seq) {
            release(2, seq, 0); // later entries in keeper 2's log
        }
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad2);
        vm.prank(subW.addr);
        series.disputeRelease(d);
        uint256 trueGas = vm.snapshotGasLastCall("series_dispute", "disputeRelease_true_n5_t3");
        d = disputeOf(sid, 0, 3, bad3);
        vm.prank(subW.addr);
        series.disputeRelease(d);
        uint256 refundGas = vm.snapshotGasLastCall("series_dispute", "disputeRelease_true_refund_n5_t3");
        d = disputeOf(sid, 0, 1, good1);
        vm.prank(subW.addr);
        try series.disputeRelease(d) {
            revert("false dispute accepted");
        } catch {}
        uint256 falseGas = vm.snapshotGasLastCall("series_dispute", "disputeRelease_false_n5_t3_reverts");
        assertLt(trueGas, DISPUTE_BUDGET, "dispute budget");
        assertLt(refundGas, DISPUTE_BUDGET, "dispute budget");
        assertLt(falseGas, DISPUTE_BUDGET, "dispute budget");
        console2.log("disputeRelease true / refund / false:", trueGas, refundGas);
        console2.log("  false:", falseGas);
    }
}
