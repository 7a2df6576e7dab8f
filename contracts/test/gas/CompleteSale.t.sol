// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {Base} from "../Base.t.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @notice Reproducible gas of each step of a sale, measured with `vm.snapshotGasLastCall`
/// (written to `snapshots/CompleteSale.json` by `forge test --mc CompleteSaleGas --isolate`).
/// Each external call is its own transaction under `--isolate`, so the figures include the
/// 21 000 intrinsic gas, calldata, cold accesses and refunds, as a wallet would pay.
/// Two scenarios: the very first sale on a fresh deployment (every touched slot goes
/// zero → non-zero), and a steady-state sale (escrow, counters and keeper/owner credits already
/// non-zero, as after earlier sales).
/// Run: `FOUNDRY_PROFILE=gas forge test` (profile `gas` sets isolate = true; the default profile
/// skips this directory because non-isolated figures would be meaningless).
contract CompleteSaleGas is Base {
    uint256 internal id;
    bytes internal buyerKey;
    bytes internal buyer2Key;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        buyerKey = pubKey(buyerW);
        buyer2Key = pubKey(buyer2W);
    }

    function _registryFlow(string memory group) internal {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(owner);
        id = registry.publish(p);
        vm.snapshotGasLastCall(group, "publish_n5_t3");
        vm.prank(keepers[0]);
        registry.acknowledgeShare(id);
        vm.snapshotGasLastCall(group, "acknowledgeShare");
        vm.prank(keepers[1]);
        registry.acknowledgeShare(id);
        vm.prank(keepers[2]);
        registry.acknowledgeShare(id);
        vm.snapshotGasLastCall(group, "acknowledgeShare_activating");
    }

    /// @dev Budgets: purchase < 150k. The issue aims at a complete sale < Ocean's
    /// buyFromFreAndOrder (≈ 364k); with per-purchase commitments the sale has t − 1 more
    /// transactions (≈ 45k each, 21k of them intrinsic) and each delivery extends the dispute
    /// log (one slot per purchase: 22k on the first delivery, 5k after), so it is measured
    /// against a regression budget instead and the gap is reported in docs/PERFORMANCE.md.
    uint256 internal constant PURCHASE_BUDGET = 150_000;
    uint256 internal constant SALE_AIM = 364_000;
    uint256 internal constant SALE_BUDGET = 450_000;

    function _sale(string memory group, Vm.Wallet memory w, bytes memory key, bool viaConfirm)
        internal
        returns (uint256 total)
    {
        vm.prank(w.addr);
        uint256 pid = market.purchase(id, key, Purposes.RESEARCH, PRICE);
        uint256 purchaseGas = vm.snapshotGasLastCall(group, "purchase");
        assertLt(purchaseGas, PURCHASE_BUDGET, "purchase budget");
        total += purchaseGas;
        // The threshold-th keeper commits by delivering (no separate commit transaction).
        for (uint256 i; i + 1 < THRESHOLD; ++i) {
            vm.prank(keepers[i]);
            market.commit(pid);
            total += vm.snapshotGasLastCall(group, string.concat("commit_", vm.toString(i + 1)));
        }
        // The uncommitted threshold-th keeper delivers first (completing the commitments), then the others.
        for (uint256 j; j < THRESHOLD; ++j) {
            uint256 i = (j + THRESHOLD - 1) % THRESHOLD;
            bytes memory pl = payload(i);
            vm.prank(keepers[i]);
            market.deliverShare(pid, pl);
            total += vm.snapshotGasLastCall(group, string.concat("deliverShare_", vm.toString(j + 1)));
        }
        if (viaConfirm) {
            vm.prank(w.addr);
            market.confirm(pid);
            total += vm.snapshotGasLastCall(group, "confirm_and_settle");
        } else {
            vm.warp(block.timestamp + CONFIRMATION_WINDOW);
            market.settle(pid);
            total += vm.snapshotGasLastCall(group, "settle");
        }
    }

    /// @dev First sale ever on a fresh deployment, settled by `settle` after the window.
    function test_Gas_FirstSale_Settle() public {
        _registryFlow("first");
        uint256 total = _sale("first", buyerW, buyerKey, false);
        vm.snapshotValue("first", "complete_sale_total", total);
        console2.log("first sale (purchase + 3 deliveries + settle):", total);
        vm.prank(owner);
        market.withdraw();
        vm.snapshotGasLastCall("first", "withdraw_owner");
    }

    /// @dev A later sale: escrow and credits already non-zero; buyer confirms (settles at once).
    function test_Gas_SteadyState_Confirm() public {
        _registryFlow("warmup");
        _sale("warmup", buyer2W, buyer2Key, true);
        uint256 total = _sale("steady", buyerW, buyerKey, true);
        vm.snapshotValue("steady", "complete_sale_total", total);
        assertLt(total, SALE_BUDGET, "sale budget");
        console2.log("steady-state sale (purchase + 3 deliveries + confirm):", total);
        vm.prank(keepers[0]);
        market.withdraw();
        vm.snapshotGasLastCall("steady", "withdraw_keeper");
    }

    /// @dev A later sale settled by anyone after the confirmation window.
    function test_Gas_SteadyState_Settle() public {
        _registryFlow("warmup");
        _sale("warmup", buyer2W, buyer2Key, true);
        uint256 total = _sale("steady_settle", buyerW, buyerKey, false);
        vm.snapshotValue("steady_settle", "complete_sale_total", total);
        assertLt(total, SALE_BUDGET, "sale budget");
    }

    /// @dev The canonical flow: all t keepers send `commit`, then all t deliver.
    function test_Gas_SteadyState_AllCommit() public {
        _registryFlow("warmup");
        _sale("warmup", buyer2W, buyer2Key, true);
        vm.prank(buyer);
        uint256 pid = market.purchase(id, buyerKey, Purposes.RESEARCH, PRICE);
        uint256 total = vm.snapshotGasLastCall("steady_all_commit", "purchase");
        for (uint256 i; i < THRESHOLD; ++i) {
            vm.prank(keepers[i]);
            market.commit(pid);
            total += vm.snapshotGasLastCall("steady_all_commit", string.concat("commit_", vm.toString(i + 1)));
        }
        for (uint256 i; i < THRESHOLD; ++i) {
            bytes memory pl = payload(i);
            vm.prank(keepers[i]);
            market.deliverShare(pid, pl);
            total += vm.snapshotGasLastCall("steady_all_commit", string.concat("deliverShare_", vm.toString(i + 1)));
        }
        vm.prank(buyer);
        market.confirm(pid);
        total += vm.snapshotGasLastCall("steady_all_commit", "confirm_and_settle");
        vm.snapshotValue("steady_all_commit", "complete_sale_total", total);
        console2.log("steady-state sale with t explicit commits:", total);
    }

    /// @dev Registration with stake and key proof (approve is a separate transaction).
    function test_Gas_RegisterAndStake() public {
        Vm.Wallet memory w = vm.createWallet("gas keeper");
        vm.prank(treasury);
        coin.transfer(w.addr, MIN_STAKE);
        vm.prank(w.addr);
        coin.approve(address(keeperRegistry), MIN_STAKE);
        vm.snapshotGasLastCall("nodes", "approve_stake");
        bytes memory key = compressed(w);
        bytes memory proof = keyProof(w, w.addr);
        vm.prank(w.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT, MIN_STAKE, proof);
        vm.snapshotGasLastCall("nodes", "register_with_stake");
        vm.prank(w.addr);
        keeperRegistry.deregister();
        vm.snapshotGasLastCall("nodes", "deregister_request_exit");
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(w.addr);
        keeperRegistry.withdrawStake();
        vm.snapshotGasLastCall("nodes", "withdraw_stake");
    }

    /// @dev Slash of a committed keeper that defaulted (after the deadline).
    function test_Gas_SlashNonDelivery() public {
        _registryFlow("warmup");
        vm.prank(buyer);
        uint256 pid = market.purchase(id, buyerKey, Purposes.RESEARCH, PRICE);
        commitKeepers(pid, THRESHOLD);
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        market.slashNonDelivery(pid, keepers[0]);
        vm.snapshotGasLastCall("slash", "slash_non_delivery");
    }

    function test_Gas_Refund() public {
        _registryFlow("warmup");
        vm.prank(buyer);
        uint256 pid = market.purchase(id, buyerKey, Purposes.RESEARCH, PRICE);
        commitKeepers(pid, THRESHOLD);
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        vm.prank(buyer);
        market.refund(pid);
        vm.snapshotGasLastCall("refund", "refund_after_deadline");
    }
}
