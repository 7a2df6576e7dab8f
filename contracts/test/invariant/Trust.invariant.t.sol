// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {Base} from "../Base.t.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {TrustHandler} from "./handlers/TrustHandler.sol";

/// @notice Issue 10 invariants under an adversarial handler: Sybil owners, keepers and validators,
/// donations, exits and re-registrations, slashing attempts, disputes and every forbidden call.
contract TrustInvariantTest is Base {
    TrustHandler internal handler;
    Vm.Wallet[] internal ws;

    function marketWindows() internal pure override returns (uint64, uint64) {
        return (6 hours, 3 hours);
    }

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);

        // Sybil owner `owner`: two keepers and two validators of its own, all staked.
        Vm.Wallet[4] memory sybils = [
            vm.createWallet("sybil keeper 0"),
            vm.createWallet("sybil keeper 1"),
            vm.createWallet("sybil validator 0"),
            vm.createWallet("sybil validator 1")
        ];
        registerNode(sybils[0], IKeeperRegistry.Role.Keeper);
        registerNode(sybils[1], IKeeperRegistry.Role.Keeper);
        registerNode(sybils[2], IKeeperRegistry.Role.Validator);
        registerNode(sybils[3], IKeeperRegistry.Role.Validator);
        Vm.Wallet memory owner2W = vm.createWallet("owner2");

        uint256[] memory ids = new uint256[](3);
        // Junk listing of the Sybil owner with its own keepers, free (t = n = 2).
        IDataRegistry.PublishParams memory p = params(2, 2, 0);
        p.keepers[0] = sybils[0].addr;
        p.keepers[1] = sybils[1].addr;
        vm.prank(owner);
        ids[0] = registry.publish(p);
        acknowledge(ids[0], 2);
        // Honest listings.
        p = params(5, 3, PRICE);
        vm.prank(owner2W.addr);
        ids[1] = registry.publish(p);
        acknowledge(ids[1], 3);
        p = params(4, 2, 7 * UNIT + 3);
        vm.prank(owner2W.addr);
        ids[2] = registry.publish(p);
        acknowledge(ids[2], 2);

        ws.push(buyerW);
        ws.push(buyer2W);
        ws.push(ownerW);
        ws.push(owner2W);
        ws.push(validatorW);
        ws.push(validator2W);
        for (uint256 i; i < keeperWs.length; ++i) {
            ws.push(keeperWs[i]);
        }
        for (uint256 i; i < sybils.length; ++i) {
            ws.push(sybils[i]);
        }
        ws.push(vm.createWallet("stranger wallet"));
        for (uint256 i; i < ws.length; ++i) {
            fund(ws[i].addr, 20_000 * UNIT);
        }

        handler = new TrustHandler(coin, keeperRegistry, registry, market, ws, ids);
        targetContract(address(handler));
    }

    /// @dev Escrow: the Marketplace holds exactly open escrow + credits (+ donations), and the
    /// credits are those of the known accounts.
    function invariant_MarketAccounting() public view {
        assertEq(
            coin.balanceOf(address(market)),
            market.openEscrow() + market.totalCredits() + handler.donatedMarket(),
            "market balance"
        );
        uint256 credits;
        for (uint256 i; i < ws.length; ++i) {
            credits += market.creditsOf(ws[i].addr);
        }
        assertEq(credits, market.totalCredits(), "credits");
    }

    /// @dev Stakes: the KeeperRegistry holds exactly the bonds (+ donations).
    function invariant_StakeAccounting() public view {
        assertEq(
            coin.balanceOf(address(keeperRegistry)),
            keeperRegistry.totalStaked() + handler.donatedKeeperRegistry(),
            "registry balance"
        );
        uint256 staked;
        for (uint256 i; i < ws.length; ++i) {
            staked += keeperRegistry.stakeOf(ws[i].addr).amount;
        }
        assertEq(staked, keeperRegistry.totalStaked(), "stakes");
    }

    /// @dev Rewards: paid only from the funded pool, never more than it.
    function invariant_RewardBudget() public view {
        assertEq(coin.balanceOf(address(registry)), registry.rewardPool() + handler.donatedRegistry(), "pool");
        assertEq(registry.rewardPool() + handler.rewardsPaid(), REWARD_BUDGET, "budget");
        assertEq(coin.totalSupply(), INITIAL_SUPPLY, "no minting");
    }

    /// @dev No reward without an independent, staked, granted validator; no refund after t
    /// deliveries; no delivery before t commitments; no slash of a keeper that delivered; every
    /// refused call refused with a named error.
    function invariant_NoRuleBroken() public view {
        assertEq(handler.badReward(), 0, "reward to an ineligible certifier");
        assertEq(handler.refundAfterThreshold(), 0, "refund after t shares");
        assertEq(handler.deliveryWithoutCommitments(), 0, "delivery before t commitments");
        assertEq(handler.slashOfDeliverer(), 0, "deliverer slashed");
        assertEq(handler.unexpectedRevert(), 0, "panic or unnamed revert");
        assertEq(handler.disputedKeeperPaid(), 0, "keeper proven wrong was paid");
        assertEq(handler.goodCountMismatch(), 0, "good deliveries");
    }

    function afterInvariant() public view {
        console2.log("purchases", handler.calls("purchase"), "grants", handler.calls("grant"));
        console2.log(
            "commits", handler.calls("commit"), "deliveries", handler.calls("deliverShare") + handler.calls("serve")
        );
        console2.log("settles", handler.calls("settle") + handler.calls("confirm"), "refunds", handler.calls("refund"));
        console2.log("slashes", handler.calls("slash"), "certifies", handler.calls("certify"));
        console2.log("disputes", handler.calls("dispute"));
        console2.log("exits", handler.calls("deregister"), "re-registrations", handler.calls("register"));
    }
}
