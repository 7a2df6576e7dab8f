// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SeriesBase} from "../SeriesBase.t.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";

contract SeriesMarketFuzzTest is SeriesBase {
    /// @dev Any price, any range, any number of releasing keepers and cancel point: the
    /// subscriber pays exactly the segments t keepers released before refunding, owner and
    /// keepers split exactly what was paid, and the rest comes back.
    function testFuzz_SettlementAndRefundAreExact(
        uint96 price,
        uint8 n,
        uint8 t,
        uint8 segments,
        uint8 appended,
        uint8 releasers
    ) public {
        n = uint8(bound(n, 2, 8));
        t = uint8(bound(t, 2, n));
        segments = uint8(bound(segments, 1, 8));
        appended = uint8(bound(appended, 0, 8));
        releasers = uint8(bound(releasers, 0, n));
        price = uint96(bound(price, 0, 1_000 * UNIT));
        uint256 id = createSeries(n, t, price);
        uint256 sid = subscribeAs(buyerW, id, 0, segments);
        appendUpTo(id, appended);
        uint64 deliverable = appended < segments ? appended : segments;
        for (uint64 seq; seq < deliverable; ++seq) {
            for (uint256 k; k < releasers; ++k) {
                releaseTo(id, k, seq, one(sid));
            }
        }
        uint256 charged = releasers >= t ? deliverable : 0;
        _checkCredits(sid, price, t, charged);
        uint256 before = coin.balanceOf(buyer);
        vm.prank(buyer);
        series.cancel(sid);
        // Appended but unreleased segments stay owed; the rest came back.
        uint256 owed = deliverable - charged;
        assertEq(coin.balanceOf(buyer) - before, uint256(price) * (segments - charged - owed));
        assertEq(series.openEscrow(), uint256(price) * owed);
        vm.warp(block.timestamp + RELEASE_WINDOW);
        if (owed != 0) {
            vm.prank(buyer);
            series.refund(sid);
        }
        assertEq(series.openEscrow(), 0);
        assertEq(coin.balanceOf(address(series)), series.totalCredits());
    }

    function _checkCredits(uint256 sid, uint256 price, uint8 t, uint256 charged) internal view {
        assertEq(series.subscription(sid).charged, charged);
        (uint256 ownerAmt, uint256 each) = splitOf(price, t);
        assertEq(series.creditOf(owner), ownerAmt * charged);
        for (uint256 k; k < t && charged != 0; ++k) {
            assertEq(series.creditOf(keepers[k]), each * charged);
        }
        assertEq(series.totalCredits(), price * charged);
    }
}
