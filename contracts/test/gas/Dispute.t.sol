// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DisputeFixture} from "../unit/MarketplaceDispute.t.sol";

/// @notice Gas of `dispute` (t = 3), isolated transactions: a true dispute (wrong share, real
/// DLEQ proof), a dispute of a malformed payload (no proof), and a false dispute (reverts).
contract DisputeGas is DisputeFixture {
    function test_Gas_Dispute() public {
        Case memory good1 = _case(1, 0);
        Case memory bad2 = _case(2, 1);
        _deliver(1, good1.payload);
        _deliver(2, bad2.payload);
        _deliver(3, hex"00");
        vm.prank(bW.addr);
        market.dispute(pid, 2, bad2.payload, bad2.buyerKey, log_, bad2.proof);
        vm.snapshotGasLastCall("dispute", "dispute_true_t3");
        vm.prank(bW.addr);
        market.dispute(pid, 3, hex"00", bad2.buyerKey, log_, "");
        vm.snapshotGasLastCall("dispute", "dispute_malformed_payload");
        vm.prank(bW.addr);
        try market.dispute(pid, 1, good1.payload, good1.buyerKey, log_, good1.proof) {
            revert("false dispute accepted");
        } catch {}
        vm.snapshotGasLastCall("dispute", "dispute_false_t3_reverts");
    }
}
