// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {SeriesCertificationBase} from "../SeriesCertificationBase.t.sol";
import {SeriesCertification} from "../../src/SeriesCertification.sol";
import {ISeriesCertification} from "../../src/interfaces/ISeriesCertification.sol";
import {ISeriesMarket} from "../../src/interfaces/ISeriesMarket.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

contract SeriesCertificationTest is SeriesCertificationBase {
    // ------------------------------------------------------------------------------ grant

    function test_Grant_OwnerPaysKeepersFeeAndGetsTheRestBack() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        appendUpTo(id, 2);
        uint256 before = coin.balanceOf(owner);
        uint256 sid = grantTo(id, validatorW, 0, 3);
        assertEq(before - coin.balanceOf(owner), 3 * SEGMENT_PRICE, "escrow from the owner");
        ISeriesMarket.Subscription memory sub = series.subscription(sid);
        assertEq(sub.subscriber, validator, "the grantee subscribes");
        releaseRange(id, sid, 0, 2);
        (uint256 ownerPart, uint256 each) = splitOf(SEGMENT_PRICE, 2);
        assertEq(series.creditOf(owner), 2 * ownerPart, "the owner's part comes back");
        assertEq(series.creditOf(keepers[0]), 2 * each, "keepers are paid their fee");
        assertEq(series.creditOf(validator), 0, "the grantee earns nothing");
    }

    function test_Grant_RefundGoesToTheOwnerWhoeverCancels() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        uint256 sid = grantTo(id, validatorW, 0, 4);
        uint256 ownerBefore = coin.balanceOf(owner);
        uint256 validatorBefore = coin.balanceOf(validator);
        vm.prank(validator);
        series.cancel(sid);
        assertEq(coin.balanceOf(owner) - ownerBefore, 4 * SEGMENT_PRICE, "refund to the payer");
        assertEq(coin.balanceOf(validator), validatorBefore, "the grantee gets nothing");

        uint256 sid2 = grantTo(id, validatorW, 0, 2);
        vm.prank(owner);
        series.cancel(sid2);
        assertEq(uint8(series.subscription(sid2).status), uint8(ISeriesMarket.SubscriptionStatus.Cancelled));
    }

    function test_RevertWhen_GrantByNonOwner() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotOwner.selector, id, buyer));
        series.grant(id, validator, 0, 1, Purposes.RESEARCH, pubKey(validatorW));
    }

    function test_RevertWhen_GrantWithAnotherAccountsKey() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesMarket.SeriesMarketPubKeyMismatch.selector, validator2, validator)
        );
        series.grant(id, validator2, 0, 1, Purposes.RESEARCH, pubKey(validatorW));
    }

    function test_RevertWhen_StrangerCancelsAGrant() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        uint256 sid = grantTo(id, validatorW, 0, 1);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotSubscriber.selector, sid, buyer));
        series.cancel(sid);
    }

    /// @dev A paid subscriber's refund is still its own: the owner cannot cancel it.
    function test_RevertWhen_OwnerCancelsAPaidSubscription() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        uint256 sid = subscribeAs(buyerW, id, 0, 2);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ISeriesMarket.SeriesMarketNotSubscriber.selector, sid, owner));
        series.cancel(sid);
    }

    // ------------------------------------------------------------------------------ certify

    function test_Certify_RecordsTheCertificate() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 3);
        vm.expectEmit(address(certs));
        emit ISeriesCertification.SeriesCertified(
            id, validator, 0, uint64(sid), 2, 8000, MODEL_ID, REPORT_HASH, REPORT_URI
        );
        certifyAs(validator, id, sid, 2, 8000);
        (bool found, ISeriesCertification.Certificate memory c) = certs.currentOf(id, validator);
        assertTrue(found);
        assertEq(c.throughSeq, 2);
        assertEq(c.scoreBps, 8000);
        assertEq(c.reportHash, REPORT_HASH);
        assertEq(certs.countedOf(id), 1);
        assertFalse(certs.isCertified(id), "one of two");
    }

    function test_Certify_KIndependentValidatorsCertify() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 3);
        uint256 sid2 = grantTo(id, validator2W, 1, 2);
        releaseRange(id, sid2, 1, 3);
        certifyAs(validator, id, sid, 2, 8000);
        vm.expectEmit(address(certs));
        emit ISeriesCertification.SeriesCertificationReached(id, 2);
        certifyAs(validator2, id, sid2, 2, 6000);
        assertTrue(certs.isCertified(id));
        assertEq(certs.certificationCount(id), 2);
    }

    /// @dev A paid subscription counts as access too: the data was released to the validator.
    function test_Certify_ThroughAPaidSubscription() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        appendUpTo(id, 1);
        fundSeries(validator, 100 * UNIT);
        uint256 sid = subscribeAs(validatorW, id, 0, 1);
        releaseRange(id, sid, 0, 1);
        certifyAs(validator, id, sid, 0, 9000);
        assertEq(certs.countedOf(id), 1);
    }

    function test_Certify_LowScoreDoesNotCount() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 3);
        uint256 sid2 = grantTo(id, validator2W, 0, 3);
        releaseRange(id, sid2, 0, 3);
        certifyAs(validator, id, sid, 2, 9000);
        certifyAs(validator2, id, sid2, 2, MIN_SERIES_SCORE - 1);
        assertEq(certs.countedOf(id), 1, "below the minimum");
        assertFalse(certs.isCertified(id));
        assertEq(certs.certificationCount(id), 2, "kept in the history");
    }

    /// @dev Rolling: the latest certificate replaces the validator's previous one in the count.
    function test_Certify_RollingScoreCanLoseCertification() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 2);
        uint256 sid2 = grantTo(id, validator2W, 0, 4);
        releaseRange(id, sid2, 0, 2);
        certifyAs(validator, id, sid, 1, 9000);
        certifyAs(validator2, id, sid2, 0, 9000);
        assertTrue(certs.isCertified(id));

        appendUpTo(id, 4);
        releaseRange(id, sid2, 2, 4);
        vm.expectEmit(address(certs));
        emit ISeriesCertification.SeriesCertificationLost(id, 1);
        certifyAs(validator2, id, sid2, 3, 1000);
        assertFalse(certs.isCertified(id), "the drop counts");
        assertEq(certs.countedOf(id), 1);
    }

    // ------------------------------------------------------------------------------ attacks

    function test_Attack_OwnerCertifiesOwnSeries() public {
        registerNode(ownerW, IKeeperRegistry.Role.Validator);
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        appendUpTo(id, 1);
        uint256 sid = grantTo(id, ownerW, 0, 1);
        releaseRange(id, sid, 0, 1);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationValidatorNotIndependent.selector, id, owner)
        );
        certs.certify(id, uint64(sid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
    }

    /// @dev A keeper of the series cannot certify: not as a keeper (not a validator), nor after
    /// leaving the registry and coming back as a validator (the series still lists it).
    function test_Attack_KeeperCertifies() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        appendUpTo(id, 1);
        Vm.Wallet memory kw = keeperWs[0];
        uint256 sid = grantTo(id, kw, 0, 1);
        releaseRange(id, sid, 0, 1);
        vm.prank(kw.addr);
        vm.expectRevert(abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotValidator.selector, kw.addr));
        certs.certify(id, uint64(sid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);

        vm.prank(kw.addr);
        keeperRegistry.deregister();
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(kw.addr);
        keeperRegistry.withdrawStake();
        registerNode(kw, IKeeperRegistry.Role.Validator);
        assertTrue(keeperRegistry.isValidator(kw.addr));
        vm.prank(kw.addr);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISeriesCertification.SeriesCertificationValidatorNotIndependent.selector, id, kw.addr
            )
        );
        certs.certify(id, uint64(sid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
    }

    function test_Attack_UnstakedValidator() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 1);
        vm.prank(validator);
        keeperRegistry.deregister();
        vm.prank(validator);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotValidator.selector, validator)
        );
        certs.certify(id, uint64(sid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);

        // A never-registered account holding a grant is refused alike.
        Vm.Wallet memory sw = vm.createWallet("sybil");
        uint256 sid2 = grantTo(id, sw, 0, 1);
        releaseRange(id, sid2, 0, 1);
        vm.prank(sw.addr);
        vm.expectRevert(abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotValidator.selector, sw.addr));
        certs.certify(id, uint64(sid2), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
    }

    /// @dev Without a subscription of its own to this series: none, another's, another series'.
    function test_Attack_CertifyWithoutAccess() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 1);
        vm.prank(validator2);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISeriesCertification.SeriesCertificationAccessNotGranted.selector, id, sid, validator2
            )
        );
        certs.certify(id, uint64(sid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);

        vm.prank(validator2);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISeriesCertification.SeriesCertificationAccessNotGranted.selector, id, 99, validator2
            )
        );
        certs.certify(id, 99, 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);

        (uint256 other, uint256 otherSid) = grantedSeries(validator2W, 1);
        vm.prank(validator2);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISeriesCertification.SeriesCertificationAccessNotGranted.selector, id, otherSid, validator2
            )
        );
        certs.certify(id, uint64(otherSid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
        assertTrue(other != id);
    }

    /// @dev Segments not appended, appended but released by fewer than t keepers, or before the
    /// subscription's range cannot be certified.
    function test_Attack_CertifyBeyondReleased() public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        appendUpTo(id, 4);
        uint256 sid = grantTo(id, validatorW, 1, 3);
        releaseRange(id, sid, 1, 2);
        releaseTo(id, 0, 2, one(sid)); // one share of segment 2: below t
        vm.startPrank(validator);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotReleased.selector, id, 2, 1, 2)
        );
        certs.certify(id, uint64(sid), 2, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotReleased.selector, id, 9, 1, 2)
        );
        certs.certify(id, uint64(sid), 9, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotReleased.selector, id, 0, 1, 2)
        );
        certs.certify(id, uint64(sid), 0, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
        certs.certify(id, uint64(sid), 1, 10_000, MODEL_ID, REPORT_HASH, REPORT_URI);
        vm.stopPrank();
    }

    function test_Attack_ReplaySameThroughSeq() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 3);
        certifyAs(validator, id, sid, 2, 9000);
        vm.prank(validator);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotLater.selector, id, validator, 2)
        );
        certs.certify(id, uint64(sid), 2, 9000, MODEL_ID, REPORT_HASH, REPORT_URI);
        vm.prank(validator);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationNotLater.selector, id, validator, 2)
        );
        certs.certify(id, uint64(sid), 1, 9000, MODEL_ID, REPORT_HASH, REPORT_URI);
        assertEq(certs.countedOf(id), 1, "one validator counts once");
    }

    /// @dev Two grants to the same validator do not make it two certificates.
    function test_Attack_TwoGrantsOneValidatorCountsOnce() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 2);
        uint256 sid2 = grantTo(id, validatorW, 0, 2);
        releaseRange(id, sid2, 0, 2);
        certifyAs(validator, id, sid, 0, 9000);
        certifyAs(validator, id, sid2, 1, 9000);
        assertEq(certs.countedOf(id), 1);
        assertFalse(certs.isCertified(id));
    }

    function test_RevertWhen_SeriesWithdrawn() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 1);
        vm.prank(owner);
        series.withdrawConsent(id);
        vm.prank(validator);
        vm.expectRevert(abi.encodeWithSelector(ISeriesCertification.SeriesCertificationSeriesNotActive.selector, id));
        certs.certify(id, uint64(sid), 0, 9000, MODEL_ID, REPORT_HASH, REPORT_URI);
    }

    function test_RevertWhen_UnknownSeries() public {
        vm.prank(validator);
        vm.expectRevert(abi.encodeWithSelector(ISeriesCertification.SeriesCertificationUnknownSeries.selector, 7));
        certs.certify(7, 1, 0, 9000, MODEL_ID, REPORT_HASH, REPORT_URI);
    }

    function test_RevertWhen_ScoreAboveMax() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 1);
        vm.prank(validator);
        vm.expectRevert(abi.encodeWithSelector(ISeriesCertification.SeriesCertificationInvalidScore.selector, 10_001));
        certs.certify(id, uint64(sid), 0, 10_001, MODEL_ID, REPORT_HASH, REPORT_URI);
    }

    function test_RevertWhen_ReportUriTooLong() public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 1);
        bytes memory uri = new bytes(513);
        vm.prank(validator);
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationReportUriTooLong.selector, 513, 512)
        );
        certs.certify(id, uint64(sid), 0, 9000, MODEL_ID, REPORT_HASH, string(uri));
    }

    function test_RevertWhen_UnknownCertificate() public {
        vm.expectRevert(
            abi.encodeWithSelector(ISeriesCertification.SeriesCertificationUnknownCertificate.selector, 1, 0)
        );
        certs.certificationAt(1, 0);
    }

    function test_RevertWhen_InvalidConfig() public {
        vm.expectRevert(ISeriesCertification.SeriesCertificationInvalidConfig.selector);
        new SeriesCertification(address(series), 10_001, 1);
        vm.expectRevert(ISeriesCertification.SeriesCertificationInvalidConfig.selector);
        new SeriesCertification(address(series), 5000, 0);
        vm.expectRevert(ISeriesCertification.SeriesCertificationInvalidConfig.selector);
        new SeriesCertification(address(0), 5000, 1);
    }
}

contract SeriesCertificationCodeSizeTest is SeriesCertificationBase {
    function test_FitsEip170() public view {
        assertLe(address(certs).code.length, 24_576, "SeriesCertification");
    }
}
