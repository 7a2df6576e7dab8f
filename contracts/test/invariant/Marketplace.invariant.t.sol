// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {Base} from "../Base.t.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {MarketplaceHandler} from "./handlers/MarketplaceHandler.sol";

/// @notice Escrow invariants under random valid sequences of purchases, grants, deliveries,
/// confirmations, settlements, refunds, withdrawals, price changes, consent withdrawals,
/// publications, certifications and time jumps.
contract MarketplaceInvariantTest is Base {
    MarketplaceHandler internal handler;
    address[] internal actors;

    /// @dev Short windows so that a 100-call run sees many full purchase lifecycles.
    function marketWindows() internal pure override returns (uint64, uint64) {
        return (6 hours, 3 hours);
    }

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);

        Vm.Wallet[] memory bs = new Vm.Wallet[](4);
        bs[0] = buyerW;
        bs[1] = buyer2W;
        bs[2] = vm.createWallet("buyer3");
        bs[3] = vm.createWallet("buyer4");
        fund(bs[2].addr, 10_000 * UNIT);
        fund(bs[3].addr, 10_000 * UNIT);
        // Buyers hold more than the handler can ever spend (≤ 100 purchases × 1 000 PHD).
        for (uint256 i; i < bs.length; ++i) {
            fund(bs[i].addr, 100_000 * UNIT);
        }

        address owner2 = makeAddr("owner2");
        // Owners pay the keepers' delivery fee of their grants.
        fund(owner, 100_000 * UNIT);
        fund(owner2, 100_000 * UNIT);
        fundBonds(owner2, 100 * LISTING_BOND);
        address[] memory os = new address[](2);
        os[0] = owner;
        os[1] = owner2;

        uint256[] memory ids = new uint256[](3);
        ids[0] = activeDataset(); // n = 5, t = 3
        ids[1] = publish(4, 2, 7 * UNIT + 3);
        acknowledge(ids[1], 2);
        IDataRegistry.PublishParams memory p = params(8, 8, 0);
        vm.prank(owner2);
        ids[2] = registry.publish(p);
        acknowledge(ids[2], 8);

        address[] memory vs = new address[](2);
        vs[0] = validator;
        vs[1] = validator2;

        handler = new MarketplaceHandler(coin, registry, market, bs, os, keepers, vs, ids);

        actors.push(treasury);
        actors.push(admin);
        actors.push(address(market));
        actors.push(address(registry));
        actors.push(address(keeperRegistry));
        actors.push(address(handler));
        actors.push(address(this));
        for (uint256 i; i < bs.length; ++i) {
            actors.push(bs[i].addr);
        }
        actors.push(owner);
        actors.push(owner2);
        for (uint256 i; i < keepers.length; ++i) {
            actors.push(keepers[i]);
        }
        actors.push(validator);
        actors.push(validator2);

        targetContract(address(handler));
    }

    /// @dev (a) Solvency: the escrow holds exactly open escrow + unwithdrawn credits, and both
    /// match the ghost sums.
    function invariant_Solvency() public view {
        uint256 bal = coin.balanceOf(address(market));
        assertEq(bal, market.openEscrow() + market.totalCredits(), "balance != open + credits");
        assertEq(bal, handler.ghostDeposited() - handler.ghostRefunded() - handler.ghostWithdrawn(), "ghost flow");
        assertEq(market.openEscrow(), handler.ghostOpenEscrow(), "open escrow");
        assertEq(market.totalCredits(), handler.ghostCredited() - handler.ghostWithdrawn(), "credits");
    }

    /// @dev (b) Every purchase ends at most once, as Settled or Refunded, the contract agrees with
    /// the ghost record, and no second ending (settle/refund of a closed purchase, probed by the
    /// handler) was ever accepted. After every call: the aggregate counters and the purchase the
    /// call touched; after every run (`afterInvariant`): every purchase.
    function invariant_EndsExactlyOnce() public view {
        assertEq(market.purchaseCount(), handler.purchaseCount(), "purchase count");
        assertEq(handler.ghostSecondEndingAccepted(), 0, "second ending accepted");
        assertLe(handler.ghostSettledCount() + handler.ghostRefundedCount(), handler.purchaseCount(), "ended > bought");
        uint256 pid = handler.lastTouched();
        if (pid != 0) _checkPurchaseStatus(pid);
    }

    function _checkPurchaseStatus(uint256 pid) internal view returns (IMarketplace.PurchaseStatus s) {
        (MarketplaceHandler.GhostStatus gs, uint8 ends) = handler.ghostStatus(pid);
        s = market.getPurchase(pid).status;
        assertEq(uint8(s), uint8(gs), "status mismatch");
        assertLe(ends, 1, "ended twice");
        assertTrue(s != IMarketplace.PurchaseStatus.None, "unknown");
        assertEq(ends, s == IMarketplace.PurchaseStatus.Open ? 0 : 1, "ends vs status");
    }

    function _checkAllStatuses() internal view {
        uint256 n = handler.purchaseCount();
        uint256 settled;
        uint256 refunded;
        for (uint256 i; i < n; ++i) {
            IMarketplace.PurchaseStatus s = _checkPurchaseStatus(handler.purchaseIds(i));
            if (s == IMarketplace.PurchaseStatus.Settled) settled++;
            else if (s == IMarketplace.PurchaseStatus.Refunded) refunded++;
        }
        assertEq(settled, handler.ghostSettledCount(), "settled count");
        assertEq(refunded, handler.ghostRefundedCount(), "refunded count");
    }

    /// @dev (c) Keepers (and owners) are credited exactly what the fee rule gives for the shares
    /// they delivered according to the ghost list of deliverers — nothing for shares they did not
    /// deliver. (Per-purchase delivered bitmaps are compared with the ghost lists in
    /// `afterInvariant`, once per run, to keep the per-call check cheap.)
    function invariant_PaidOnlyForDeliveredShares() public view {
        address[] memory es = handler.earners();
        for (uint256 i; i < es.length; ++i) {
            assertEq(market.creditsOf(es[i]) + handler.ghostWithdrawnBy(es[i]), handler.ghostEarned(es[i]), "earned");
        }
    }

    function _checkDeliveredBitmaps() internal view {
        uint256 n = handler.purchaseCount();
        for (uint256 i; i < n; ++i) {
            uint256 pid = handler.purchaseIds(i);
            address[] memory ds = handler.ghostDeliverers(pid);
            IMarketplace.Purchase memory p = market.getPurchase(pid);
            assertEq(p.delivered, ds.length, "delivered count");
            for (uint256 j; j < ds.length; ++j) {
                assertTrue(market.hasDelivered(pid, ds[j]), "delivered flag");
            }
            assertEq(_popcount(market.deliveredBitmap(pid)), ds.length, "bitmap");
        }
    }

    /// @dev (d) PHD total supply equals the sum of all actors' balances, and grows only by
    /// certification rewards.
    function invariant_SupplyConserved() public view {
        uint256 sum;
        for (uint256 i; i < actors.length; ++i) {
            sum += coin.balanceOf(actors[i]);
        }
        assertEq(coin.totalSupply(), sum, "supply != sum of balances");
        assertEq(coin.totalSupply(), INITIAL_SUPPLY + handler.ghostMinted(), "minted");
    }

    function afterInvariant() public view {
        _checkAllStatuses();
        _checkDeliveredBitmaps();
        console2.log("purchases", handler.calls("purchase"), "grants", handler.calls("grant"));
        console2.log("deliveries", handler.calls("deliverShare"), "confirms", handler.calls("confirm"));
        console2.log("settles", handler.calls("settle"), "refunds", handler.calls("refund"));
        console2.log("withdrawals", handler.calls("withdraw"), "publishes", handler.calls("publish"));
        console2.log("certifies", handler.calls("certify"), "consent withdrawals", handler.calls("withdrawConsent"));
    }

    function _popcount(uint256 x) internal pure returns (uint256 c) {
        for (; x != 0; ++c) {
            x &= x - 1;
        }
    }
}
