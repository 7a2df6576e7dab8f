// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {OwnerFraudBase} from "../OwnerFraudBase.t.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";

/// @notice Owner-fraud proofs under random inputs: only the committed secret with the listed
/// evidence proves anything, and then exactly when the header's key check is not the secret's.
contract OwnerFraudFuzzTest is OwnerFraudBase {
    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
    }

    /// @dev Any key check other than the secret's is provable fraud; the whole bond is slashed:
    /// the keepers' fees first, the rest half to the buyer, half to the pool.
    function testFuzz_AnyOtherKeyCheckIsProvable(bytes16 check) public {
        vm.assume(check != S_KEY_CHECK);
        bytes memory header = sealedHeader(SALT, check);
        uint256 id = listWithHeader(owner, S, header);
        uint256 pid = boughtWithShares(buyerW, id);
        uint256 pool = registry.rewardPool();
        uint256 credits = market.totalCredits();
        (uint256 refunded, uint256 bond) = prove(buyer, pid, S, header);
        assertEq(refunded, PRICE);
        uint256 toKeepers = market.totalCredits() - credits;
        (, uint256 each) = expectedSplit(PRICE, THRESHOLD);
        assertEq(toKeepers, each * THRESHOLD, "keepers' normal fees");
        assertEq(toKeepers + bond + registry.rewardPool() - pool, LISTING_BOND);
        assertEq(uint8(registry.dataset(id).status), uint8(IDataRegistry.Status.Delisted));
    }

    /// @dev No other secret (reduced or not, zero or not) is accepted for C0 = S·G.
    function testFuzz_AnyOtherSecretRefused(uint256 secret) public {
        vm.assume(secret != S);
        uint256 id = fraudulentListing();
        uint256 pid = boughtWithShares(buyerW, id);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidSecret.selector, id));
        prove(buyer, pid, secret, sealedHeader(SALT, OTHER_KEY_CHECK));
    }

    /// @dev Evidence that is not the listed object's (another count, length, tree or salt) is refused.
    function testFuzz_TamperedEvidenceRefused(uint64 chunks, uint64 len, bytes32 tree, bytes32 salt) public {
        vm.assume(chunks != CHUNKS || len != PLAINTEXT_LEN || tree != TREE_ROOT || salt != SALT);
        uint256 id = honestListing();
        uint256 pid = boughtWithShares(buyerW, id);
        bytes memory header = sealedHeader(salt, OTHER_KEY_CHECK);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDataRegistry.DataRegistryContentRootMismatch.selector,
                id,
                registry.dataset(id).contentRoot,
                rootOf(header, chunks, len, tree)
            )
        );
        vm.prank(buyer);
        market.proveOwnerFraud(pid, S, header, chunks, len, tree);
    }
}
