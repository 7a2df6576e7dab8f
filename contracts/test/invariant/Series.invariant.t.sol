// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {SeriesBase} from "../SeriesBase.t.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";
import {SeriesHandler} from "./handlers/SeriesHandler.sol";

/// @notice Escrow and release invariants of the SeriesMarket under random sequences of appends,
/// subscriptions (back-filled), batched releases with replays and duplicates, cancels, refunds,
/// consent withdrawals, erasures, withdrawals, time jumps, and true, false and forged disputes
/// of releases (the keeper at share index 2 cheats).
contract SeriesInvariantTest is SeriesBase {
    SeriesHandler internal handler;

    function setUp() public override {
        super.setUp();
        Vm.Wallet[] memory ws = new Vm.Wallet[](3);
        ws[0] = buyerW;
        ws[1] = buyer2W;
        ws[2] = vm.createWallet("buyer3");
        for (uint256 i; i < ws.length; ++i) {
            fundSeries(ws[i].addr, 100_000 * UNIT);
        }
        address owner2 = makeAddr("owner2");
        address[] memory os = new address[](2);
        os[0] = owner;
        os[1] = owner2;

        uint256[] memory ids = new uint256[](2);
        ids[0] = createSeries(N_KEEPERS, THRESHOLD, SEGMENT_PRICE); // n = 5, t = 3
        ISeriesMarket.CreateParams memory p = seriesParams(8, 8, 1); // every keeper needed, 1 wei
        vm.prank(owner2);
        ids[1] = series.createSeries(p);

        handler = new SeriesHandler(coin, series, ws, keepers, os, ids);
        targetContract(address(handler));
    }

    /// @dev The contract holds exactly the open escrow plus the credits, and that is what came in
    /// minus what went out.
    function invariant_EscrowAccountingIsExact() public view {
        assertEq(coin.balanceOf(address(series)), series.openEscrow() + series.totalCredits());
        assertEq(
            series.openEscrow() + series.totalCredits(),
            handler.ghostPaidIn() + handler.ghostSlashedIn() - handler.ghostRefunded() - handler.ghostWithdrawn()
        );
    }

    /// @dev Stakes stay backed after disputes slashed some of them.
    function invariant_StakeAccountingHolds() public view {
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked());
    }

    /// @dev A keeper whose release was proven wrong never keeps its fee for it, and what it loses
    /// is exactly what the subscriber is credited.
    function invariant_KeeperProvenWrongIsNeverPaid() public view {
        assertFalse(handler.badKeeperPaid());
    }

    /// @dev Each subscription's charge is exactly price × segments released by ≥ t keepers, and
    /// its escrow is exactly price × (segments covered − charged): summed, the open escrow.
    function invariant_NeverChargedForAnUnreleasedSegment() public view {
        uint256 escrow;
        for (uint256 i; i < handler.subCount(); ++i) {
            uint256 sid = handler.subs(i);
            ISeriesMarket.Subscription memory sub = series.subscription(sid);
            assertEq(sub.charged, handler.ghostCharged(sid), "charged != segments released by t keepers");
            assertLe(sub.charged, sub.segments);
            escrow += sub.pricePerSegment * (sub.segments - sub.charged);
        }
        assertEq(series.openEscrow(), escrow);
    }

    function invariant_NoReleaseOfASegmentAppendedAfterCancel() public view {
        assertFalse(handler.releasedAfterCancel());
    }
}
