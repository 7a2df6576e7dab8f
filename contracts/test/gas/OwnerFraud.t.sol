// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OwnerFraudBase} from "../OwnerFraudBase.t.sol";

/// @notice Gas of `proveOwnerFraud` (t = 3), isolated transactions: the true proof (refund, bond
/// slashed, dataset delisted) and a refused one (the key check matches).
contract OwnerFraudGas is OwnerFraudBase {
    /// @dev The issue's aim for a dispute (≤ 500k) applies to this proof too.
    uint256 internal constant PROOF_BUDGET = 500_000;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
    }

    function test_Gas_ProveOwnerFraud() public {
        uint256 honest = honestListing();
        uint256 honestPid = boughtWithShares(buyer2W, honest);
        uint256 pid = boughtWithShares(buyerW, fraudulentListing());

        prove(buyer, pid, S, sealedHeader(SALT, OTHER_KEY_CHECK));
        uint256 gasUsed = vm.snapshotGasLastCall("owner_fraud", "proveOwnerFraud_true_t3");
        assertLe(gasUsed, PROOF_BUDGET, "proof budget");

        vm.prank(buyer2);
        try market.proveOwnerFraud(honestPid, S, sealedHeader(SALT, S_KEY_CHECK), CHUNKS, PLAINTEXT_LEN, TREE_ROOT) {
            revert("honest listing proven fraudulent");
        } catch {}
        vm.snapshotGasLastCall("owner_fraud", "proveOwnerFraud_key_check_matches_reverts");
    }
}
