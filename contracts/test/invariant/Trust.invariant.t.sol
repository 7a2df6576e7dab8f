// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {OwnerFraudBase} from "../OwnerFraudBase.t.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {TrustHandler} from "./handlers/TrustHandler.sol";

/// @notice Issue 10 invariants under an adversarial handler: Sybil owners, keepers and validators,
/// donations, exits and re-registrations, slashing attempts, disputes, owner-fraud proofs (true and
/// false), listing-bond reclaims and every forbidden call.
contract TrustInvariantTest is OwnerFraudBase {
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
        fundBonds(owner2W.addr, 100 * LISTING_BOND);

        uint256[] memory ids = new uint256[](5);
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
        // The Sybil owner's listing of an object sealed under another key than C0's secret, and
        // an honest listing under the same secret.
        bytes memory fraudHeader = sealedHeader(SALT, OTHER_KEY_CHECK);
        bytes memory honestHeader = sealedHeader(SALT, S_KEY_CHECK);
        ids[3] = listWithHeader(owner, S, fraudHeader);
        ids[4] = listWithHeader(owner2W.addr, S, honestHeader);

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
        handler.setFraudFixture(
            TrustHandler.FraudFixture({
                fraudId: ids[3],
                honestId: ids[4],
                secret: S,
                fraudHeader: fraudHeader,
                honestHeader: honestHeader,
                chunks: CHUNKS,
                plaintextLen: PLAINTEXT_LEN,
                treeRoot: TREE_ROOT
            })
        );
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
    /// Slashed listing bonds feed the pool; the registry holds exactly pool + bonds (+ donations).
    function invariant_RewardBudget() public view {
        assertEq(
            coin.balanceOf(address(registry)),
            registry.rewardPool() + registry.listingBonds() + handler.donatedRegistry(),
            "pool + bonds"
        );
        assertEq(registry.rewardPool() + handler.rewardsPaid(), REWARD_BUDGET + handler.bondsToPool(), "budget");
        assertEq(coin.totalSupply(), INITIAL_SUPPLY, "no minting");
    }

    /// @dev Listing bonds: every bond posted is held, reclaimed by its owner, or slashed (to a
    /// buyer, the keepers whose shares counted, and the pool) — nothing else; the per-dataset bonds
    /// sum to the total.
    function invariant_BondAccounting() public view {
        uint256 n = registry.datasetCount();
        uint256 held;
        for (uint256 id = 1; id <= n; ++id) {
            held += registry.listingBondOf(id);
        }
        assertEq(held, registry.listingBonds(), "bonds held");
        assertEq(
            held + handler.bondsReclaimed() + handler.bondsToBuyers() + handler.bondsToKeepers()
                + handler.bondsToPool(),
            n * LISTING_BOND,
            "bonds posted"
        );
    }

    /// @dev No reward without an independent, staked, granted validator; no refund after t
    /// deliveries; no delivery before t commitments; no slash of a keeper that delivered; every
    /// refused call refused with a named error.
    function invariant_NoRuleBroken() public view {
        assertEq(handler.badReward(), 0, "reward to an ineligible certifier");
        assertEq(handler.refundAfterThreshold(), 0, "refund after t shares");
        assertEq(handler.keeperBondPayMismatch(), 0, "keepers' pay from a slashed bond");
        assertEq(handler.deliveryWithoutCommitments(), 0, "delivery before t commitments");
        assertEq(handler.slashOfDeliverer(), 0, "deliverer slashed");
        assertEq(handler.unexpectedRevert(), 0, "panic or unnamed revert");
        assertEq(handler.disputedKeeperPaid(), 0, "keeper proven wrong was paid");
        assertEq(handler.goodCountMismatch(), 0, "good deliveries");
        assertEq(handler.falseFraudProof(), 0, "honest listing proven fraudulent");
        assertEq(handler.fraudProofWithoutShares(), 0, "fraud proof before t shares");
        assertEq(handler.badBondReclaim(), 0, "bond reclaimed from an open listing");
        assertTrue(registry.dataset(handler.honestId()).status != IDataRegistry.Status.Delisted, "honest delisted");
    }

    function afterInvariant() public view {
        console2.log("purchases", handler.calls("purchase"), "grants", handler.calls("grant"));
        console2.log(
            "commits", handler.calls("commit"), "deliveries", handler.calls("deliverShare") + handler.calls("serve")
        );
        console2.log("settles", handler.calls("settle") + handler.calls("confirm"), "refunds", handler.calls("refund"));
        console2.log("slashes", handler.calls("slash"), "certifies", handler.calls("certify"));
        console2.log("disputes", handler.calls("dispute"), "fraud proofs", handler.calls("proveOwnerFraud"));
        console2.log("bond reclaims", handler.calls("reclaimListingBond"));
        console2.log("exits", handler.calls("deregister"), "re-registrations", handler.calls("register"));
    }
}
