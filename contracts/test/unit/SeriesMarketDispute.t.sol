// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {SeriesDisputeBase} from "../SeriesDisputeBase.t.sol";
import {SeriesMarket} from "../../src/SeriesMarket.sol";
import {KeeperRegistry} from "../../src/KeeperRegistry.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {ShareProof} from "../../src/libraries/ShareProof.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @notice `SeriesMarket.disputeRelease`: a subscriber proves a keeper's series release wrong with
/// the dataset `ShareProof` in the series context; the keeper is slashed through the
/// KeeperRegistry, its release does not count and is not paid, and a segment left with fewer than
/// t good releases is refunded. Real provable payloads (points as multiples of G).
contract SeriesMarketDisputeTest is SeriesDisputeBase {
    uint8 internal constant T = 2;

    function setUp() public override {
        super.setUp();
        openSeries(3, T, 3, 3); // n = 3, t = 2, segments 0..2 appended, subscription to all three
    }

    function _each() internal pure returns (uint256 each) {
        (, each) = splitOf(SEGMENT_PRICE, T);
    }

    function _stake(uint8 index) internal view returns (uint256) {
        return keeperRegistry.stakeOf(keepers[index - 1]).amount;
    }

    function _accountingHolds() internal view {
        assertEq(coin.balanceOf(address(series)), series.openEscrow() + series.totalCredits(), "escrow + credits");
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked(), "stakes");
    }

    // ------------------------------------------------------------------ proven bad releases

    function test_Attack_WrongSeriesShareIsSlashed() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1); // the t-th release: charges the segment, pays keepers 1 and 2
        release(3, 0, 0);
        assertEq(series.creditOf(keepers[1]), _each());
        uint256 stakeBefore = _stake(2);
        uint256 slash = series.badReleaseSlash();
        assertEq(slash, MIN_STAKE / 2);

        vm.expectEmit(address(series));
        emit ISeriesMarket.ReleaseDisputed(sid, 0, keepers[1], 2, _each() + slash, false);
        uint256 got = disputeAsSubscriber(disputeOf(sid, 0, 2, bad));

        assertEq(got, _each() + slash, "fee back + penalty");
        assertEq(series.creditOf(subW.addr), got);
        assertEq(series.creditOf(keepers[1]), 0, "the bad keeper's fee for the segment is taken back");
        assertEq(series.creditOf(keepers[0]), _each(), "the honest keeper keeps its fee");
        assertEq(_stake(2), stakeBefore - slash, "slashed through the KeeperRegistry");
        (uint8 bits, bool refunded) = series.provenBadReleases(sid, 0);
        assertEq(bits, 2);
        assertFalse(refunded, "two good releases remain: the subscriber decrypts, no refund");
        assertEq(series.subscription(sid).charged, 1);
        _accountingHolds();

        vm.prank(subW.addr);
        assertEq(series.withdraw(), got);
        _accountingHolds();
    }

    /// A grant's owner pays the escrow and may cancel, but the shares are encrypted to the
    /// grantee: a dispute under the owner's key would decrypt an honest share to garbage and get
    /// the keeper slashed. Only the grantee may dispute.
    function test_Attack_OwnerDisputesAReleaseToItsGrant() public {
        fundSeries(owner, 1_000 * UNIT);
        vm.prank(owner);
        uint256 gid = series.grant(seriesId, subW.addr, 0, 1, Purposes.RESEARCH, pubKey(subW));
        Case memory bad = releaseCase(gid, 0, 1, 3);
        releaseAs(1, gid, 0, bad.payload);
        Case memory good = releaseCase(gid, 0, 2, 0);
        releaseAs(2, gid, 0, good.payload);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(gid, 0, 2, good);

        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotSubscriber.selector, gid, owner));
        series.disputeRelease(d);
        assertEq(_stake(2), MIN_STAKE, "the honest keeper is untouched");

        // The grantee proves the wrong one and is compensated.
        vm.prank(subW.addr);
        uint256 got = series.disputeRelease(disputeOf(gid, 0, 1, bad));
        assertGt(got, 0);
        assertEq(series.creditOf(subW.addr), got);
        _accountingHolds();
    }

    function test_RevertWhen_DisputeHonestRelease() public {
        Case memory good = release(1, 0, 0);
        release(2, 0, 0);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 1, good);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketFalseDispute.selector, sid, 0, 1));
        disputeAsSubscriber(d);
        assertEq(_stake(1), MIN_STAKE, "an honest keeper is never slashed");
    }

    function test_SubscriberRefundedWhenFewerThanThresholdGoodReleases() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 5);
        uint256 stakeBefore = _stake(2);
        uint256 slash = series.badReleaseSlash();

        uint256 got = disputeAsSubscriber(disputeOf(sid, 0, 2, bad));

        assertEq(got, SEGMENT_PRICE + slash, "whole price back + penalty");
        assertEq(_stake(2), stakeBefore - (SEGMENT_PRICE - _each()) - slash, "its credit covered its own fee");
        assertEq(series.creditOf(keepers[1]), 0);
        (, bool refunded) = series.provenBadReleases(sid, 0);
        assertTrue(refunded);
        // Keeper 3 still releases (reopened for the others): not charged or paid again.
        release(3, 0, 0);
        assertEq(series.subscription(sid).charged, 1);
        assertEq(series.creditOf(keepers[2]), 0);
        _accountingHolds();
    }

    function test_SecondBadReleaseOfASegmentRefundsOnce() public {
        Case memory bad1 = release(1, 0, 3);
        Case memory bad2 = release(2, 0, 4);
        release(3, 0, 0);
        uint256 slash = series.badReleaseSlash();
        assertEq(disputeAsSubscriber(disputeOf(sid, 0, 1, bad1)), _each() + slash, "two good releases left");
        (, bool refunded) = series.provenBadReleases(sid, 0);
        assertFalse(refunded);
        assertEq(disputeAsSubscriber(disputeOf(sid, 0, 2, bad2)), SEGMENT_PRICE + slash, "one good left: refund");
        (uint8 bits, bool refundedNow) = series.provenBadReleases(sid, 0);
        assertEq(bits, 3);
        assertTrue(refundedNow);
        _accountingHolds();
    }

    function test_Attack_KeeperNeverPaidForAProvenBadRelease() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1);
        release(3, 0, 0); // two good releases remain: only the fee is owed
        address k = keepers[1];
        // The bad keeper withdraws its fee at once, before anyone disputes.
        vm.prank(k);
        assertEq(series.withdraw(), _each());
        uint256 wealthBefore = coin.balanceOf(k) + _stake(2) + series.creditOf(k) - _each();

        disputeAsSubscriber(disputeOf(sid, 0, 2, bad));

        uint256 wealthAfter = coin.balanceOf(k) + _stake(2) + series.creditOf(k);
        assertEq(wealthBefore - wealthAfter, series.badReleaseSlash(), "fee taken back from the bond, plus penalty");
        _accountingHolds();
    }

    function test_MalformedPayloadIsBadWithoutProof() public {
        release(1, 0, 0);
        bytes memory junk = payload(9); // not a provable delivery
        releaseAs(2, sid, 0, junk);
        Case memory c;
        c.payload = junk;
        c.buyerKey = abi.encodePacked(subW.publicKeyX, subW.publicKeyY);
        uint256 got = disputeAsSubscriber(disputeOf(sid, 0, 2, c));
        assertEq(got, SEGMENT_PRICE + series.badReleaseSlash());
    }

    function test_UncountedSegmentDisputedAfterItsWindowOnlySlashes() public {
        Case memory bad = release(2, 0, 1); // alone: fewer than t, never charged
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad);
        uint256 releaseEnd = block.timestamp + RELEASE_WINDOW;
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketDisputeTooEarly.selector, sid, 0, releaseEnd));
        disputeAsSubscriber(d);

        vm.warp(releaseEnd);
        assertEq(disputeAsSubscriber(d), series.badReleaseSlash(), "nothing was paid: only the penalty");
        vm.prank(subW.addr);
        assertEq(series.refund(sid), 3 * SEGMENT_PRICE, "the escrow comes back as before");
        _accountingHolds();
    }

    // ------------------------------------------------------------------ false and forged disputes

    function test_Attack_ReplayedDisputeIsRefused() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad);
        disputeAsSubscriber(d);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotDisputable.selector, sid, 0, 2));
        disputeAsSubscriber(d);
    }

    function test_Attack_ForgedPayloadIsRefused() public {
        release(1, 0, 0);
        release(2, 0, 0);
        // The subscriber makes up a wrong share "from keeper 2" that keeper 2 never released.
        Case memory forged = releaseCase(sid, 0, 2, 1);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, forged);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidReleaseLog.selector, sid, 2));
        disputeAsSubscriber(d);
    }

    function test_Attack_PayloadOfAnotherSubscriptionIsRefused() public {
        uint256 sid2 = subscribeAs(subW, seriesId, 0, 1);
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1); // wrong, to sid
        Case memory good2 = releaseCase(sid2, 0, 2, 0);
        releaseAs(1, sid2, 0, releaseCase(sid2, 0, 1, 0).payload);
        releaseAs(2, sid2, 0, good2.payload);
        // sid's wrong payload claimed as a release to sid2 (same subscriber, same keeper, same seq).
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad);
        d.subscriptionId = sid2;
        d.logPrefix = bytes32(0);
        d.laterEntries = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidReleaseLog.selector, sid2, 2));
        disputeAsSubscriber(d);
        // Another subscriber cannot dispute sid's release at all.
        vm.prank(buyer2);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotSubscriber.selector, sid, buyer2));
        series.disputeRelease(disputeOf(sid, 0, 2, bad));
    }

    function test_Attack_PayloadOfAnotherSeqIsRefused() public {
        release(1, 0, 0);
        Case memory bad0 = release(2, 0, 1);
        release(1, 1, 0);
        release(2, 1, 0);
        // seq 0's wrong payload claimed as keeper 2's release of seq 1.
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad0);
        d.seq = 1;
        d.commitments = packedOf[1];
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketInvalidReleaseLog.selector, sid, 2));
        disputeAsSubscriber(d);
        // The real seq-0 dispute with seq 1's commitments is refused too.
        d = disputeOf(sid, 0, 2, bad0);
        d.commitments = packedOf[1];
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketWrongCommitments.selector, seriesId, 0));
        disputeAsSubscriber(d);
        // With the later release (seq 1) in the log, the seq-0 dispute still verifies.
        disputeAsSubscriber(disputeOf(sid, 0, 2, bad0));
    }

    function test_RevertWhen_DisputeAfterTheWindow() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1);
        uint256 deadline = series.segmentAppendedAt(seriesId, 0) + 2 * RELEASE_WINDOW;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketDisputeClosed.selector, sid, 0, deadline));
        disputeAsSubscriber(disputeOf(sid, 0, 2, bad));
    }

    function test_RevertWhen_DisputedKeeperDidNotRelease() public {
        release(1, 0, 0);
        Case memory c = release(2, 0, 0);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 3, c);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotDisputable.selector, sid, 0, 3));
        disputeAsSubscriber(d);
        d.shareIndex = 0;
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotDisputable.selector, sid, 0, 0));
        disputeAsSubscriber(d);
        d.shareIndex = 9;
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotDisputable.selector, sid, 0, 9));
        disputeAsSubscriber(d);
    }

    function test_RevertWhen_PubKeyIsNotTheCallers() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad);
        d.subscriberPubKey = pubKey(buyer2W);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketPubKeyMismatch.selector, subW.addr, buyer2));
        disputeAsSubscriber(d);
    }

    function test_RevertWhen_ProofIsForged() public {
        release(1, 0, 0);
        Case memory bad = release(2, 0, 1);
        ISeriesMarket.ReleaseDispute memory d = disputeOf(sid, 0, 2, bad);
        d.proof[351] ^= 0x01; // z changed
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        disputeAsSubscriber(d);
    }

    function test_RevertWhen_SeriesMarketIsNotAWiredSlasher() public {
        KeeperRegistry other = new KeeperRegistry(admin, coin, MIN_STAKE, UNBONDING_DELAY);
        SeriesMarket unwired = new SeriesMarket(address(coin), address(other), FEE_BPS, RELEASE_WINDOW);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryNotMarketplace.selector, stranger));
        other.slash(keepers[0], 1);
        assertEq(unwired.badReleaseSlash(), MIN_STAKE / 2);
    }

    function test_RevertWhen_ReleaseWindowDoesNotFitTwiceInTheUnbondingDelay() public {
        vm.expectRevert(ISeriesMarket.SeriesMarketInvalidConfig.selector);
        new SeriesMarket(address(coin), address(keeperRegistry), FEE_BPS, UNBONDING_DELAY / 2 + 1);
        new SeriesMarket(address(coin), address(keeperRegistry), FEE_BPS, UNBONDING_DELAY / 2);
    }

    function test_SeriesMarketIsWiredOnceByTheOwner() public {
        assertEq(keeperRegistry.seriesMarket(), address(series));
        vm.prank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IKeeperRegistry.KeeperRegistrySeriesMarketAlreadySet.selector, address(series))
        );
        keeperRegistry.setSeriesMarket(stranger);
        KeeperRegistry fresh = new KeeperRegistry(admin, coin, MIN_STAKE, UNBONDING_DELAY);
        vm.prank(stranger);
        vm.expectRevert();
        fresh.setSeriesMarket(stranger);
        vm.prank(admin);
        vm.expectRevert(IKeeperRegistry.KeeperRegistryInvalidConfig.selector);
        fresh.setSeriesMarket(address(0));
    }

    function test_ReleaseLogIsTheHashChainOfEachKeepersReleases() public {
        Case memory a = release(1, 0, 0);
        Case memory b = release(1, 1, 0);
        bytes32 h0 = keccak256(abi.encodePacked(bytes32(0), keccak256(abi.encodePacked(uint64(0), a.payload))));
        bytes32 h1 = keccak256(abi.encodePacked(h0, keccak256(abi.encodePacked(uint64(1), b.payload))));
        assertEq(series.releaseLog(sid, 1), h1);
        assertEq(series.releaseLog(sid, 2), bytes32(0));
    }
}
