// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "../Base.t.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @notice Commitments before delivery, slashing of committed keepers that default, and the
/// refund rules that depend on them (findings 4 and 5 of issue 10).
contract MarketplaceCommitTest is Base {
    uint256 internal id;
    uint256 internal pid;
    uint64 internal deadline;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        id = activeDataset(); // n = 5, t = 3
        pid = buy(buyerW, id);
        deadline = uint64(block.timestamp) + DELIVERY_WINDOW;
    }

    function _assertSolvent() internal view {
        assertEq(coin.balanceOf(address(market)), market.openEscrow() + market.totalCredits(), "market");
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked(), "stakes");
    }

    // ---------------------------------------------------------------- commit

    function test_Commit() public {
        vm.expectEmit(address(market));
        emit IMarketplace.Committed(pid, id, keepers[2], 3, 1);
        vm.prank(keepers[2]);
        market.commit(pid);
        (uint8 committed, uint256 bits) = market.commitState(pid);
        assertEq(committed, 1);
        assertEq(bits, 1 << 2);
        assertTrue(market.hasCommitted(pid, keepers[2]));
        assertFalse(market.hasCommitted(pid, keepers[0]));
        assertFalse(market.hasCommitted(99, keepers[2]));
    }

    function test_RevertWhen_CommitTwice() public {
        vm.prank(keepers[0]);
        market.commit(pid);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceAlreadyCommitted.selector, pid, keepers[0]));
        vm.prank(keepers[0]);
        market.commit(pid);
    }

    function test_RevertWhen_CommitNotListed() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotListedKeeper.selector, pid, keepers[6]));
        vm.prank(keepers[6]);
        market.commit(pid);
    }

    function test_RevertWhen_CommitUnknownPurchase() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 42));
        vm.prank(keepers[0]);
        market.commit(42);
    }

    /// @dev A listed keeper that asked to leave (stake unbonding) cannot take new commitments.
    function test_RevertWhen_CommitKeeperExiting() public {
        vm.prank(keepers[1]);
        keeperRegistry.deregister();
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceKeeperNotStaked.selector, keepers[1]));
        vm.prank(keepers[1]);
        market.commit(pid);
    }

    function test_RevertWhen_CommitAfterCommitWindow() public {
        uint64 commitDeadline = uint64(block.timestamp) + DELIVERY_WINDOW / 2;
        vm.warp(commitDeadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceCommitClosed.selector, pid, commitDeadline));
        vm.prank(keepers[0]);
        market.commit(pid);
    }

    function test_RevertWhen_CommitAfterConsentWithdrawn() public {
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceDatasetNotActive.selector, id, uint8(IDataRegistry.Status.Withdrawn)
            )
        );
        vm.prank(keepers[0]);
        market.commit(pid);
    }

    function test_RevertWhen_DeliverBeforeThresholdCommitted() public {
        commitKeepers(pid, THRESHOLD - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplaceNotEnoughCommitments.selector, pid, THRESHOLD - 1, THRESHOLD)
        );
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));
    }

    /// @dev The threshold-th keeper may deliver without a separate `commit`: delivering commits it.
    function test_DeliverShare_ImplicitCommit() public {
        commitKeepers(pid, THRESHOLD - 1);
        vm.prank(keepers[4]);
        market.deliverShare(pid, payload(4));
        (uint8 committed, uint256 bits) = market.commitState(pid);
        assertEq(committed, THRESHOLD);
        assertEq(bits, 0x13);
        assertTrue(market.hasDelivered(pid, keepers[4]));
    }

    // ---------------------------------------------------------------- slashNonDelivery

    /// @dev Three keepers commit, two deliver, the third defaults: after the deadline anyone
    /// slashes it (to the buyer), and the buyer is refunded.
    function test_SlashNonDelivery() public {
        deliver(pid, THRESHOLD - 1); // keepers 0..2 commit, 0 and 1 deliver
        vm.warp(deadline);
        uint256 amount = market.NON_DELIVERY_SLASH();
        assertEq(amount, MIN_STAKE / 10);
        vm.expectEmit(address(market));
        emit IMarketplace.KeeperSlashed(pid, id, keepers[2], amount, buyer);
        vm.prank(stranger);
        assertEq(market.slashNonDelivery(pid, keepers[2]), amount);
        assertEq(market.creditsOf(buyer), amount);
        assertEq(keeperRegistry.stakeOf(keepers[2]).amount, MIN_STAKE - amount);
        assertFalse(keeperRegistry.isKeeper(keepers[2]), "below minimum: ejected");
        assertEq(market.slashedBitmap(pid), 1 << 2);
        _assertSolvent();

        uint256 before = coin.balanceOf(buyer);
        vm.prank(buyer);
        market.refund(pid);
        vm.prank(buyer);
        market.withdraw();
        assertEq(coin.balanceOf(buyer), before + PRICE + amount);
        _assertSolvent();
    }

    function test_RevertWhen_SlashUnknownPurchase() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 999));
        market.slashNonDelivery(999, keepers[0]);
    }

    function test_RevertWhen_SlashBeforeDeadline() public {
        deliver(pid, THRESHOLD - 1);
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceRefundNotYetAllowed.selector, pid, deadline));
        market.slashNonDelivery(pid, keepers[2]);
    }

    function test_RevertWhen_SlashTwice() public {
        deliver(pid, THRESHOLD - 1);
        vm.warp(deadline);
        market.slashNonDelivery(pid, keepers[2]);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, keepers[2]));
        market.slashNonDelivery(pid, keepers[2]);
    }

    function test_RevertWhen_SlashKeeperThatDelivered() public {
        deliver(pid, THRESHOLD - 1);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, keepers[0]));
        market.slashNonDelivery(pid, keepers[0]);
    }

    function test_RevertWhen_SlashKeeperThatNeverCommitted() public {
        deliver(pid, THRESHOLD - 1);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, keepers[4]));
        market.slashNonDelivery(pid, keepers[4]);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, stranger));
        market.slashNonDelivery(pid, stranger);
    }

    /// @dev With fewer than t commitments nobody could deliver: nobody is slashed.
    function test_RevertWhen_SlashWithoutThresholdCommitments() public {
        commitKeepers(pid, THRESHOLD - 1);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, keepers[0]));
        market.slashNonDelivery(pid, keepers[0]);
    }

    /// @dev The sale succeeded (t shares): an extra committed keeper that did not deliver is not slashed.
    function test_RevertWhen_SlashAfterSuccessfulSale() public {
        commitKeepers(pid, 4);
        deliver(pid, THRESHOLD);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, keepers[3]));
        market.slashNonDelivery(pid, keepers[3]);
    }

    /// @dev Consent withdrawn before the deadline stopped deliveries: not the keeper's fault.
    function test_RevertWhen_SlashAfterConsentWithdrawn() public {
        deliver(pid, THRESHOLD - 1);
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotSlashable.selector, pid, keepers[2]));
        market.slashNonDelivery(pid, keepers[2]);
    }

    /// @dev A keeper that commits and then asks to leave is still slashable: the unbonding delay
    /// outlasts the delivery and confirmation windows.
    function test_SlashNonDelivery_WhileUnbonding() public {
        deliver(pid, THRESHOLD - 1);
        vm.prank(keepers[2]);
        keeperRegistry.deregister();
        vm.warp(deadline + CONFIRMATION_WINDOW);
        assertEq(market.slashNonDelivery(pid, keepers[2]), MIN_STAKE / 10);
        vm.expectRevert();
        vm.prank(keepers[2]);
        keeperRegistry.withdrawStake(); // still locked
        _assertSolvent();
    }

    // ---------------------------------------------------------------- refunds

    function test_Settle_AfterConsentWithdrawnWithThreshold() public {
        deliver(pid, THRESHOLD);
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplaceThresholdDelivered.selector, pid, THRESHOLD, THRESHOLD)
        );
        vm.prank(buyer);
        market.refund(pid);
        vm.prank(buyer);
        market.confirm(pid);
        assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Settled));
    }

    // ---------------------------------------------------------------- attacks

    /// @dev Finding 4: an owner buys its own dataset, lets its keepers deliver every share,
    /// withdraws consent and refunds itself (keepers get nothing). Old contracts: refund
    /// succeeded. Now: `MarketplaceThresholdDelivered`, and the sale settles (keepers paid).
    function test_Attack_RefundAfterFullDelivery() public {
        fund(owner, PRICE);
        uint256 own = buy(ownerW, id);
        deliver(own, THRESHOLD);
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplaceThresholdDelivered.selector, own, THRESHOLD, THRESHOLD)
        );
        vm.prank(owner);
        market.refund(own);
        vm.warp(block.timestamp + CONFIRMATION_WINDOW);
        market.settle(own);
        (, uint256 each) = expectedSplit(PRICE, THRESHOLD);
        assertEq(market.creditsOf(keepers[0]), each, "keepers paid");
    }

    /// @dev Finding 5: purchase 1 received shares {1,2} and was refunded after the deadline,
    /// purchase 2 received {3} and was refunded: the buyer held three shares for free. Now a
    /// share is released only after t keepers committed; keepers 1 and 2 alone cannot deliver.
    function test_Attack_SharesAccumulateAcrossRefunds() public {
        commitKeepers(pid, 2);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotEnoughCommitments.selector, pid, 2, 3));
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));

        // Second purchase: keeper 3 alone cannot deliver either.
        uint256 pid2 = buy(buyerW, id);
        vm.prank(keepers[2]);
        market.commit(pid2);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotEnoughCommitments.selector, pid2, 1, 3));
        vm.prank(keepers[2]);
        market.deliverShare(pid2, payload(2));
        assertEq(market.getPurchase(pid).delivered + market.getPurchase(pid2).delivered, 0, "no share released");
    }

    /// @dev Finding 5, with a defaulting keeper: a partial release happens only when a
    /// committed keeper defaults, and that keeper is slashed for it.
    function test_Attack_PartialReleaseCostsTheDefaulter() public {
        deliver(pid, THRESHOLD - 1);
        vm.warp(deadline);
        vm.prank(buyer);
        market.refund(pid);
        uint256 slashed = market.slashNonDelivery(pid, keepers[2]);
        assertGt(slashed, 0);
        _assertSolvent();
    }
}
