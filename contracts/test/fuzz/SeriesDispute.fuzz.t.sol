// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SeriesDisputeBase} from "../SeriesDisputeBase.t.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";

/// @notice Disputes of series releases with real proofs: any threshold, any set of wrong keepers,
/// any error size, any dispute order.
contract SeriesDisputeFuzzTest is SeriesDisputeBase {
    /// @dev Every keeper releases segment 0, those in `wrongMask` a share off by `delta`; the
    /// subscriber disputes each release. Wrong ones are proven (fee or, once fewer than t good
    /// remain, the price back, plus the penalty), correct ones revert `SeriesMarketFalseDispute`;
    /// escrow and stakes stay exactly backed and no wrong keeper keeps its fee.
    function testFuzz_DisputeOutcomeFollowsTheShare(uint8 n, uint8 t, uint8 wrongMask, uint256 delta, uint8 rotate)
        public
    {
        n = uint8(bound(n, 2, 5));
        t = uint8(bound(t, 2, n));
        delta = bound(delta, 1, N - 1);
        openSeries(n, t, 1, 1);
        Case[] memory cs = new Case[](n + 1);
        for (uint8 i = 1; i <= n; ++i) {
            cs[i] = release(i, 0, (wrongMask >> (i - 1)) & 1 == 1 ? delta : 0);
        }
        (, uint256 each) = splitOf(SEGMENT_PRICE, t);
        uint256 slash = series.badReleaseSlash();
        uint256 good = n;
        bool refunded;
        for (uint8 j; j < n; ++j) {
            uint8 i = uint8((uint256(j) + rotate) % n) + 1;
            ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, i, cs[i]);
            uint256 creditBefore = series.creditOf(subW.addr);
            if ((wrongMask >> (i - 1)) & 1 == 0) {
                vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketFalseDispute.selector, sid, 0, i));
                disputeAsSubscriber(d);
                continue;
            }
            --good;
            uint256 got = disputeAsSubscriber(d);
            uint256 owed = good < t && !refunded ? SEGMENT_PRICE : each;
            if (good < t) refunded = true;
            assertEq(got, owed + slash, "fee or price, plus the penalty");
            assertEq(series.creditOf(subW.addr), creditBefore + got);
            assertEq(series.creditOf(keepers[i - 1]), 0, "a wrong keeper keeps no fee");
        }
        assertEq(coin.balanceOf(address(series)), series.openEscrow() + series.totalCredits());
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked());
    }
}
