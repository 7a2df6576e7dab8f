// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {SeriesBase} from "../SeriesBase.t.sol";
import {SeriesMarket} from "../../src/SeriesMarket.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

contract SeriesMarketTest is SeriesBase {
    uint256 internal id;

    function setUp() public override {
        super.setUp();
        id = createSeries(N_KEEPERS, THRESHOLD, SEGMENT_PRICE);
    }

    // ------------------------------------------------------------------ construction

    function test_RevertWhen_ConstructorTokenIsNotTheStakeToken() public {
        vm.expectRevert(ISeriesMarket.SeriesMarketInvalidConfig.selector);
        new SeriesMarket(address(0xdead), address(keeperRegistry), FEE_BPS, RELEASE_WINDOW);
    }

    function test_RevertWhen_ConstructorFeeAboveOneHundredPercent() public {
        vm.expectRevert(ISeriesMarket.SeriesMarketInvalidConfig.selector);
        new SeriesMarket(address(coin), address(keeperRegistry), 10_001, RELEASE_WINDOW);
    }

    function test_RevertWhen_ConstructorWindowIsZero() public {
        vm.expectRevert(ISeriesMarket.SeriesMarketInvalidConfig.selector);
        new SeriesMarket(address(coin), address(keeperRegistry), FEE_BPS, 0);
    }

    // ------------------------------------------------------------------ series

    function test_CreateSeries() public view {
        ISeriesMarket.Series memory s = series.series(id);
        assertEq(s.owner, owner);
        assertEq(uint8(s.status), uint8(ISeriesMarket.SeriesStatus.Active));
        assertEq(s.threshold, THRESHOLD);
        assertEq(s.keeperCount, N_KEEPERS);
        assertEq(s.pricePerSegment, SEGMENT_PRICE);
        assertEq(s.segmentCount, 0);
        assertEq(series.keepersOf(id), firstKeepers(N_KEEPERS));
        assertEq(series.shareIndexOf(id, keepers[4]), 5);
    }

    function test_RevertWhen_CreateSeriesWithDuplicateKeeper() public {
        ISeriesMarket.CreateParams memory p = seriesParams(3, 2, 1);
        p.keepers[2] = p.keepers[0];
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketDuplicateKeeper.selector, keepers[0]));
        series.createSeries(p);
    }

    function test_RevertWhen_CreateSeriesWithUnstakedKeeper() public {
        ISeriesMarket.CreateParams memory p = seriesParams(3, 2, 1);
        p.keepers[1] = stranger;
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketKeeperNotRegistered.selector, stranger));
        series.createSeries(p);
    }

    function test_RevertWhen_CreateSeriesThresholdOutOfRange() public {
        ISeriesMarket.CreateParams memory p = seriesParams(3, 4, 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidThreshold.selector, 4, 3));
        series.createSeries(p);
        p = seriesParams(3, 1, 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidThreshold.selector, 1, 3));
        series.createSeries(p);
    }

    function test_RevertWhen_CreateSeriesWithoutOrUnknownPurposes() public {
        ISeriesMarket.CreateParams memory p = seriesParams(3, 2, 1);
        p.purposes = 0;
        vm.prank(owner);
        vm.expectRevert(ISeriesMarket.SeriesMarketNoPurposes.selector);
        series.createSeries(p);
        p.purposes = 0x20;
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketUnknownPurposes.selector, 0x20));
        series.createSeries(p);
    }

    // ------------------------------------------------------------------ append

    function test_AppendSegment() public {
        bytes memory cs = packedCommitments(THRESHOLD, 77);
        vm.expectEmit(address(series));
        emit ISeriesMarket.SegmentAppended(id, 0, bytes32("root"), SEGMENT_META, cs, SEGMENT_URI);
        vm.prank(owner);
        series.appendSegment(id, 0, bytes32("root"), cs, SEGMENT_URI, SEGMENT_META);
        assertEq(series.series(id).segmentCount, 1);
        assertEq(series.segmentCommitmentsHash(id, 0), keccak256(cs));
        assertEq(series.segmentAppendedAt(id, 0), block.timestamp);
    }

    function test_Attack_DuplicateSeqIsRefused() public {
        append(id, 0);
        bytes memory cs = packedCommitments(THRESHOLD, 78);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketWrongSeq.selector, id, 1, 0));
        series.appendSegment(id, 0, bytes32("other root"), cs, SEGMENT_URI, SEGMENT_META);
    }

    function test_RevertWhen_AppendSkipsASeq() public {
        bytes memory cs = packedCommitments(THRESHOLD, 78);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketWrongSeq.selector, id, 0, 1));
        series.appendSegment(id, 1, bytes32("root"), cs, SEGMENT_URI, SEGMENT_META);
    }

    function test_RevertWhen_AppendByStranger() public {
        bytes memory cs = packedCommitments(THRESHOLD, 78);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotOwner.selector, id, stranger));
        series.appendSegment(id, 0, bytes32("root"), cs, SEGMENT_URI, SEGMENT_META);
    }

    function test_RevertWhen_AppendWithWrongCommitmentCount() public {
        bytes memory cs = packedCommitments(THRESHOLD - 1, 78);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidCommitments.selector, 99, 66));
        series.appendSegment(id, 0, bytes32("root"), cs, SEGMENT_URI, SEGMENT_META);
    }

    function test_RevertWhen_AppendWithPointOffTheCurve() public {
        bytes memory cs = packedCommitments(THRESHOLD, 78);
        cs[34] = 0xff; // x of commitment 1 ≥ p
        for (uint256 i = 35; i < 66; ++i) {
            cs[i] = 0xff;
        }
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidCommitment.selector, 1));
        series.appendSegment(id, 0, bytes32("root"), cs, SEGMENT_URI, SEGMENT_META);
    }

    function test_RevertWhen_AppendWithEmptyUri() public {
        bytes memory cs = packedCommitments(THRESHOLD, 78);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidUri.selector, 0, 512));
        series.appendSegment(id, 0, bytes32("root"), cs, "", SEGMENT_META);
    }

    function test_RevertWhen_AppendAfterConsentWithdrawn() public {
        vm.prank(owner);
        series.withdrawConsent(id);
        bytes memory cs = packedCommitments(THRESHOLD, 78);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISeriesMarket.SeriesMarketNotActive.selector, id, ISeriesMarket.SeriesStatus.Withdrawn
            )
        );
        series.appendSegment(id, 0, bytes32("root"), cs, SEGMENT_URI, SEGMENT_META);
    }

    // ------------------------------------------------------------------ subscribe

    function test_SubscribeEscrowsPriceTimesSegments() public {
        uint256 before = coin.balanceOf(buyer);
        uint256 sid = subscribeAs(buyerW, id, 0, 10);
        assertEq(coin.balanceOf(buyer), before - 10 * SEGMENT_PRICE);
        assertEq(series.openEscrow(), 10 * SEGMENT_PRICE);
        ISeriesMarket.Subscription memory s = series.subscription(sid);
        assertEq(s.subscriber, buyer);
        assertEq(s.fromSeq, 0);
        assertEq(s.segments, 10);
        assertEq(s.charged, 0);
        assertEq(s.pricePerSegment, SEGMENT_PRICE);
    }

    function test_RevertWhen_SubscribePriceAboveMax() public {
        vm.prank(buyer);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesMarket.SeriesMarketPriceAboveMax.selector, SEGMENT_PRICE, SEGMENT_PRICE - 1)
        );
        series.subscribe(id, 0, 1, SEGMENT_PRICE - 1, Purposes.RESEARCH, pubKey(buyerW));
    }

    function test_RevertWhen_SubscribeWithSomeoneElsesKey() public {
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketPubKeyMismatch.selector, buyer, buyer2));
        series.subscribe(id, 0, 1, SEGMENT_PRICE, Purposes.RESEARCH, pubKey(buyer2W));
    }

    function test_RevertWhen_SubscribeZeroSegments() public {
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidSegments.selector, 0, 0));
        series.subscribe(id, 0, 0, SEGMENT_PRICE, Purposes.RESEARCH, pubKey(buyerW));
    }

    function test_RevertWhen_SubscribeForUnconsentedPurpose() public {
        ISeriesMarket.CreateParams memory p = seriesParams(3, 2, 1);
        p.purposes = 1 << Purposes.RESEARCH;
        vm.prank(owner);
        uint256 narrow = series.createSeries(p);
        vm.prank(buyer);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesMarket.SeriesMarketPurposeNotConsented.selector, narrow, Purposes.COMMERCIAL)
        );
        series.subscribe(narrow, 0, 1, 1, Purposes.COMMERCIAL, pubKey(buyerW));
    }

    function test_SubscriptionKeepsItsPriceAfterAPriceChange() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 2);
        vm.prank(owner);
        series.setPrice(id, 1000 * UNIT);
        append(id, 0);
        releaseBy(id, THRESHOLD, 0, sid);
        (uint256 ownerAmt,) = splitOf(SEGMENT_PRICE, THRESHOLD);
        assertEq(series.creditOf(owner), ownerAmt);
    }

    // ------------------------------------------------------------------ release and settlement

    function test_ReleaseChargesOnlyAtTheThresholdthKeeper() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 3);
        append(id, 0);
        releaseBy(id, THRESHOLD - 1, 0, sid);
        assertEq(series.subscription(sid).charged, 0);
        assertEq(series.totalCredits(), 0);
        releaseTo(id, THRESHOLD - 1, 0, one(sid));
        assertEq(series.subscription(sid).charged, 1);
        (uint256 ownerAmt, uint256 each) = splitOf(SEGMENT_PRICE, THRESHOLD);
        assertEq(series.creditOf(owner), ownerAmt);
        for (uint256 k; k < THRESHOLD; ++k) {
            assertEq(series.creditOf(keepers[k]), each);
        }
        assertEq(series.openEscrow(), 2 * SEGMENT_PRICE);
        // A fourth keeper's release is delivered (redundancy) but not paid.
        releaseTo(id, 3, 0, one(sid));
        assertEq(series.creditOf(keepers[3]), 0);
        assertEq(series.totalCredits(), SEGMENT_PRICE);
    }

    function test_ReleaseEmitsOneShareEventPerSubscriberInOneTransaction() public {
        uint256[] memory sids = new uint256[](2);
        sids[0] = subscribeAs(buyerW, id, 0, 1);
        sids[1] = subscribeAs(buyer2W, id, 0, 1);
        append(id, 0);
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](2);
        rs[0] = item(sids[0], 0, 1);
        rs[1] = item(sids[1], 0, 2);
        vm.expectEmit(address(series));
        emit ISeriesMarket.ShareReleased(sids[0], 0, keepers[0], 1, payload(1));
        vm.expectEmit(address(series));
        emit ISeriesMarket.ShareReleased(sids[1], 0, keepers[0], 1, payload(2));
        vm.expectEmit(address(series));
        emit ISeriesMarket.Released(id, keepers[0], 2, 0, 0);
        vm.prank(keepers[0]);
        series.releaseShares(id, rs);
        assertEq(series.releaseCursor(sids[0], keepers[0]), 1);
    }

    function test_BackfilledSubscriptionReceivesPastSegmentsInOrder() public {
        appendUpTo(id, 4);
        uint256 sid = subscribeAs(buyerW, id, 1, 5);
        // Segments 1..3 exist: one batch per keeper carries all three.
        for (uint256 k; k < THRESHOLD; ++k) {
            ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](3);
            for (uint64 s; s < 3; ++s) {
                rs[s] = item(sid, 1 + s, s);
            }
            vm.prank(keepers[k]);
            series.releaseShares(id, rs);
        }
        assertEq(series.subscription(sid).charged, 3);
        assertEq(series.openEscrow(), 2 * SEGMENT_PRICE);
    }

    function test_Attack_NonKeeperRelease() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 1);
        append(id, 0);
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = item(sid, 0, 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotListedKeeper.selector, id, stranger));
        series.releaseShares(id, rs);
        // A bonded keeper not listed on this series is refused too.
        vm.prank(keepers[7]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotListedKeeper.selector, id, keepers[7]));
        series.releaseShares(id, rs);
    }

    function test_Attack_ListedKeeperThatLeftTheRegistryCannotRelease() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 1);
        append(id, 0);
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = item(sid, 0, 1);
        vm.prank(keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketKeeperNotStaked.selector, keepers[0]));
        series.releaseShares(id, rs);
    }

    function test_Attack_ReplayedReleaseIsSkippedAndNotPaidTwice() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 2);
        appendUpTo(id, 2);
        releaseBy(id, THRESHOLD, 0, sid);
        uint256 credits = series.totalCredits();
        // The same keeper posts segment 0 again, in the same batch and in a new one.
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](2);
        rs[0] = item(sid, 0, 1);
        rs[1] = item(sid, 0, 1);
        vm.expectEmit(address(series));
        emit ISeriesMarket.Released(id, keepers[0], 0, 2, 0);
        vm.prank(keepers[0]);
        series.releaseShares(id, rs);
        assertEq(series.totalCredits(), credits);
        assertEq(series.subscription(sid).charged, 1);
    }

    function test_Attack_DoubleChargeThroughDuplicateItemsInOneBatch() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 2);
        appendUpTo(id, 2);
        releaseBy(id, THRESHOLD - 1, 0, sid);
        // The t-th keeper lists segment 0 three times: one release, one charge.
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](3);
        rs[0] = item(sid, 0, 1);
        rs[1] = item(sid, 0, 1);
        rs[2] = item(sid, 0, 1);
        vm.prank(keepers[THRESHOLD - 1]);
        series.releaseShares(id, rs);
        assertEq(series.totalCredits(), SEGMENT_PRICE);
        assertEq(series.openEscrow(), SEGMENT_PRICE);
    }

    function test_Attack_ReleaseOutOfOrderIsSkipped() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 3);
        appendUpTo(id, 3);
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = item(sid, 2, 1);
        vm.prank(keepers[0]);
        series.releaseShares(id, rs);
        assertEq(series.releaseCursor(sid, keepers[0]), 0);
    }

    function test_RevertWhen_ReleaseOfUnappendedSegment() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 3);
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = item(sid, 0, 1);
        vm.prank(keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketSegmentNotAppended.selector, id, 0));
        series.releaseShares(id, rs);
    }

    function test_Attack_ReleaseToAnotherSeriesSubscription() public {
        uint256 other = createSeries(N_KEEPERS, THRESHOLD, 1);
        uint256 sid = subscribeAs(buyerW, other, 0, 3);
        append(id, 0);
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = item(sid, 0, 1);
        vm.prank(keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketWrongSeries.selector, sid, id));
        series.releaseShares(id, rs);
    }

    function test_RevertWhen_ReleasePayloadEmptyOrTooLarge() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 3);
        append(id, 0);
        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = ISeriesMarket.Release({subscriptionId: uint64(sid), seq: 0, payload: ""});
        vm.prank(keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidPayload.selector, 0, 1024));
        series.releaseShares(id, rs);
        rs[0].payload = new bytes(1025);
        vm.prank(keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidPayload.selector, 1025, 1024));
        series.releaseShares(id, rs);
    }

    function test_ReleaseAfterItsWindowIsSkipped() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 3);
        append(id, 0);
        vm.warp(block.timestamp + RELEASE_WINDOW);
        releaseTo(id, 0, 0, one(sid));
        assertEq(series.releaseCursor(sid, keepers[0]), 0);
    }

    // ------------------------------------------------------------------ cancel and refund

    function test_CancelRefundsSegmentsNotAppendedAndKeepsAppendedOnesOwed() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 10);
        appendUpTo(id, 3);
        releaseBy(id, THRESHOLD, 0, sid);
        uint256 before = coin.balanceOf(buyer);
        vm.prank(buyer);
        uint256 refunded = series.cancel(sid);
        assertEq(refunded, 7 * SEGMENT_PRICE);
        assertEq(coin.balanceOf(buyer), before + 7 * SEGMENT_PRICE);
        ISeriesMarket.Subscription memory s = series.subscription(sid);
        assertEq(s.segments, 3);
        assertEq(uint8(s.status), uint8(ISeriesMarket.SubscriptionStatus.Cancelled));
        // Segments 1 and 2 were appended before the cancel: still delivered and charged.
        releaseBy(id, THRESHOLD, 1, sid);
        assertEq(series.subscription(sid).charged, 2);
    }

    function test_Attack_NoReleaseOfASegmentAppendedAfterCancel() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 10);
        append(id, 0);
        releaseBy(id, THRESHOLD, 0, sid);
        vm.prank(buyer);
        series.cancel(sid);
        append(id, 1);
        releaseTo(id, 0, 1, one(sid));
        assertEq(series.releaseCursor(sid, keepers[0]), 1);
        assertEq(series.subscription(sid).charged, 1);
    }

    function test_Attack_CancelCannotRefundASegmentWhoseShareIsInFlight() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 2);
        append(id, 0);
        releaseBy(id, THRESHOLD - 1, 0, sid);
        // The subscriber front-runs the t-th keeper's release with a cancel.
        vm.prank(buyer);
        assertEq(series.cancel(sid), SEGMENT_PRICE); // only segment 1 (not appended) comes back
        releaseTo(id, THRESHOLD - 1, 0, one(sid));
        assertEq(series.subscription(sid).charged, 1); // the in-flight segment is paid
        assertEq(series.openEscrow(), 0);
    }

    function test_RefundAfterTheNextSegmentsWindowLapsed() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 4);
        appendUpTo(id, 2);
        releaseBy(id, THRESHOLD, 0, sid);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNothingToRefund.selector, sid));
        series.refund(sid);
        vm.warp(block.timestamp + RELEASE_WINDOW);
        vm.prank(buyer);
        assertEq(series.refund(sid), 3 * SEGMENT_PRICE);
        assertEq(series.openEscrow(), 0);
        // Later releases of the lapsed range are skipped.
        releaseTo(id, 0, 1, one(sid));
        assertEq(series.releaseCursor(sid, keepers[0]), 1);
    }

    function test_RevertWhen_CancelTwiceOrByStranger() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 4);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotSubscriber.selector, sid, stranger));
        series.cancel(sid);
        vm.prank(buyer);
        series.cancel(sid);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketAlreadyCancelled.selector, sid));
        series.cancel(sid);
    }

    // ------------------------------------------------------------------ consent withdrawal

    function test_WithdrawConsentStopsReleasesRefundsAndCollectsErasures() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 5);
        appendUpTo(id, 2);
        releaseBy(id, THRESHOLD, 0, sid);
        releaseBy(id, THRESHOLD - 1, 1, sid);
        vm.prank(owner);
        series.withdrawConsent(id);

        ISeriesMarket.Release[] memory rs = new ISeriesMarket.Release[](1);
        rs[0] = item(sid, 1, 9);
        vm.prank(keepers[THRESHOLD - 1]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISeriesMarket.SeriesMarketNotActive.selector, id, ISeriesMarket.SeriesStatus.Withdrawn
            )
        );
        series.releaseShares(id, rs);

        vm.prank(buyer);
        assertEq(series.refund(sid), 4 * SEGMENT_PRICE);
        assertEq(series.openEscrow(), 0);

        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketUnknownSeries.selector, 99));
        series.subscribe(99, 0, 1, SEGMENT_PRICE, Purposes.RESEARCH, pubKey(buyerW));

        for (uint256 k; k < N_KEEPERS; ++k) {
            vm.prank(keepers[k]);
            series.confirmErasure(id);
            assertTrue(series.hasConfirmedErasure(id, keepers[k]));
        }
        assertEq(series.series(id).erasures, N_KEEPERS);
        vm.prank(keepers[0]);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesMarket.SeriesMarketAlreadyConfirmedErasure.selector, id, keepers[0])
        );
        series.confirmErasure(id);
    }

    function test_RevertWhen_ErasureConfirmedBeforeWithdrawalOrByStranger() public {
        vm.prank(keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotWithdrawn.selector, id));
        series.confirmErasure(id);
        vm.prank(owner);
        series.withdrawConsent(id);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotListedKeeper.selector, id, stranger));
        series.confirmErasure(id);
    }

    // ------------------------------------------------------------------ withdraw

    function test_WithdrawPaysCredits() public {
        uint256 sid = subscribeAs(buyerW, id, 0, 1);
        append(id, 0);
        releaseBy(id, THRESHOLD, 0, sid);
        (uint256 ownerAmt, uint256 each) = splitOf(SEGMENT_PRICE, THRESHOLD);
        uint256 before = coin.balanceOf(owner);
        vm.prank(owner);
        assertEq(series.withdraw(), ownerAmt);
        assertEq(coin.balanceOf(owner), before + ownerAmt);
        vm.prank(keepers[0]);
        assertEq(series.withdraw(), each);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNothingToWithdraw.selector, owner));
        series.withdraw();
    }
}
