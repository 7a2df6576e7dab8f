// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Base} from "../Base.t.sol";
import {DataRegistry} from "../../src/DataRegistry.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

contract DataRegistryTest is Base {
    // ---------------------------------------------------------------- publish

    function test_Constructor() public view {
        assertEq(address(registry.TOKEN()), address(coin));
        assertEq(address(registry.KEEPER_REGISTRY()), address(keeperRegistry));
        assertEq(registry.CERTIFICATION_REWARD(), REWARD);
        assertEq(registry.MAX_METADATA_BYTES(), 4096);
        assertEq(registry.datasetCount(), 0);
    }

    function test_Publish() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        vm.warp(1_750_000_000);
        vm.expectEmit(address(registry));
        emit IDataRegistry.Published(
            1,
            owner,
            p.storageUri,
            p.contentRoot,
            p.metadata,
            p.price,
            p.keepers,
            p.threshold,
            p.commitments,
            p.purposes,
            p.consentTermsHash
        );
        vm.prank(owner);
        uint256 id = registry.publish(p);
        assertEq(id, 1);
        assertEq(registry.datasetCount(), 1);

        IDataRegistry.Dataset memory d = registry.dataset(id);
        assertEq(d.owner, owner);
        assertEq(uint8(d.status), uint8(IDataRegistry.Status.Pending));
        assertEq(d.threshold, THRESHOLD);
        assertEq(d.keeperCount, N_KEEPERS);
        assertEq(d.acknowledged, 0);
        assertEq(d.erasures, 0);
        assertEq(d.publishedAt, 1_750_000_000);
        assertEq(d.withdrawnAt, 0);
        assertEq(d.price, PRICE);
        assertEq(d.purposes, ALL_PURPOSES);
        assertEq(d.contentRoot, CONTENT_ROOT);
        assertEq(d.metadataHash, keccak256(p.metadata));
        assertEq(d.consentTermsHash, TERMS_HASH);
        assertEq(d.storageUri, STORAGE_URI);

        address[] memory ks = registry.keepersOf(id);
        assertEq(ks.length, N_KEEPERS);
        for (uint256 i; i < N_KEEPERS; ++i) {
            assertEq(ks[i], keepers[i]);
            assertEq(registry.shareIndexOf(id, keepers[i]), i + 1);
        }
        assertEq(registry.shareIndexOf(id, keepers[6]), 0);
        bytes[] memory cs = registry.commitmentsOf(id);
        assertEq(cs.length, THRESHOLD);
        for (uint256 j; j < THRESHOLD; ++j) {
            assertEq(cs[j], p.commitments[j]);
        }
        assertFalse(registry.isCertified(id));
        assertTrue(registry.isPurposeConsented(id, Purposes.RESEARCH));
    }

    function test_Publish_CommitmentParityRoundTrips() public {
        // Find keys with both parities and check both prefixes survive storage.
        IDataRegistry.PublishParams memory p = params(8, 8, PRICE);
        p.commitments = commitments(8, 77);
        vm.prank(owner);
        uint256 id = registry.publish(p);
        bytes[] memory cs = registry.commitmentsOf(id);
        bool saw2;
        bool saw3;
        for (uint256 j; j < 8; ++j) {
            assertEq(cs[j], p.commitments[j]);
            if (cs[j][0] == 0x02) saw2 = true;
            else saw3 = true;
        }
        assertTrue(saw2 && saw3);
    }

    function test_Publish_MaxMetadata() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.metadata = new bytes(4096);
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishEmptyStorageUri() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.storageUri = "";
        vm.expectRevert(IDataRegistry.DataRegistryEmptyStorageUri.selector);
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishMetadataTooLarge() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.metadata = new bytes(4097);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryMetadataTooLarge.selector, 4097, 4096));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishNoPurposes() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = 0;
        vm.expectRevert(IDataRegistry.DataRegistryNoPurposes.selector);
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishPriceTooLarge() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.price = uint256(type(uint96).max) + 1;
        vm.expectRevert(
            abi.encodeWithSelector(IDataRegistry.DataRegistryPriceTooLarge.selector, p.price, type(uint96).max)
        );
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishThresholdBelowTwo() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, 1, PRICE);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, 1, N_KEEPERS));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishThresholdAboveN() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.threshold = 6;
        p.commitments = commitments(6, 1);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, 6, N_KEEPERS));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishTooManyKeepers() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.keepers = new address[](256);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, THRESHOLD, 256));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishWrongCommitmentCount() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.commitments = commitments(2, 1);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidCommitments.selector, 3, 2));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishInvalidCommitment() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.commitments[2] = abi.encodePacked(bytes1(0x02), uint256(5)); // off curve
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidCommitment.selector, 2));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishCommitmentWrongLength() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.commitments[0] = hex"02";
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidCommitment.selector, 0));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishKeeperNotRegistered() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.keepers[1] = validator; // registered, but as a validator
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryKeeperNotRegistered.selector, validator));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishDuplicateKeeper() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.keepers[4] = p.keepers[0];
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryDuplicateKeeper.selector, p.keepers[0]));
        vm.prank(owner);
        registry.publish(p);
    }

    // ---------------------------------------------------------------- acknowledgeShare

    function test_AcknowledgeShare() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.expectEmit(address(registry));
        emit IDataRegistry.ShareAcknowledged(id, keepers[2], 3, 1);
        vm.prank(keepers[2]);
        registry.acknowledgeShare(id);
        assertTrue(registry.hasAcknowledged(id, keepers[2]));
        assertFalse(registry.hasAcknowledged(id, keepers[0]));
        assertFalse(registry.hasAcknowledged(id, stranger));
        assertEq(registry.dataset(id).acknowledged, 1);
        assertEq(uint8(registry.dataset(id).status), uint8(IDataRegistry.Status.Pending));
    }

    function test_AcknowledgeShare_ActivatesAtThreshold() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        acknowledge(id, 2);
        vm.expectEmit(address(registry));
        emit IDataRegistry.ShareAcknowledged(id, keepers[2], 3, 3);
        vm.expectEmit(address(registry));
        emit IDataRegistry.Activated(id);
        vm.prank(keepers[2]);
        registry.acknowledgeShare(id);
        assertEq(uint8(registry.dataset(id).status), uint8(IDataRegistry.Status.Active));

        // Later acknowledgements count but do not re-activate.
        vm.recordLogs();
        vm.prank(keepers[3]);
        registry.acknowledgeShare(id);
        assertEq(vm.getRecordedLogs().length, 1);
        assertEq(registry.dataset(id).acknowledged, 4);
    }

    function test_RevertWhen_AcknowledgeUnknownDataset() public {
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 9));
        vm.prank(keepers[0]);
        registry.acknowledgeShare(9);
    }

    function test_RevertWhen_AcknowledgeNotListed() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotListedKeeper.selector, id, keepers[6]));
        vm.prank(keepers[6]);
        registry.acknowledgeShare(id);
    }

    function test_RevertWhen_AcknowledgeTwice() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        acknowledge(id, 1);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAlreadyAcknowledged.selector, id, keepers[0]));
        vm.prank(keepers[0]);
        registry.acknowledgeShare(id);
    }

    function test_RevertWhen_AcknowledgeWithdrawn() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Withdrawn
            )
        );
        vm.prank(keepers[0]);
        registry.acknowledgeShare(id);
    }

    // ---------------------------------------------------------------- setPrice

    function test_SetPrice() public {
        uint256 id = activeDataset();
        vm.expectEmit(address(registry));
        emit IDataRegistry.PriceChanged(id, PRICE, 7);
        vm.prank(owner);
        registry.setPrice(id, 7);
        assertEq(registry.dataset(id).price, 7);
    }

    function test_SetPrice_Pending() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(owner);
        registry.setPrice(id, 0);
        assertEq(registry.dataset(id).price, 0);
    }

    function test_RevertWhen_SetPriceUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 1));
        vm.prank(owner);
        registry.setPrice(1, 7);
    }

    function test_RevertWhen_SetPriceNotOwner() public {
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotOwner.selector, id, stranger));
        vm.prank(stranger);
        registry.setPrice(id, 7);
    }

    function test_RevertWhen_SetPriceWithdrawn() public {
        uint256 id = activeDataset();
        vm.startPrank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Withdrawn
            )
        );
        registry.setPrice(id, 7);
        vm.stopPrank();
    }

    function test_RevertWhen_SetPriceTooLarge() public {
        uint256 id = activeDataset();
        vm.expectRevert(
            abi.encodeWithSelector(
                IDataRegistry.DataRegistryPriceTooLarge.selector, uint256(type(uint96).max) + 1, type(uint96).max
            )
        );
        vm.prank(owner);
        registry.setPrice(id, uint256(type(uint96).max) + 1);
    }

    // ---------------------------------------------------------------- certify

    function test_Certify_FirstMintsReward() public {
        uint256 id = activeDataset();
        vm.warp(1_760_000_000);
        vm.expectEmit(address(registry));
        emit IDataRegistry.Certified(id, validator, 9_100, "model-v1", "report", "ipfs://report", REWARD);
        vm.prank(validator);
        registry.certify(id, 9_100, "model-v1", "report", "ipfs://report");
        assertEq(coin.balanceOf(owner), REWARD);
        assertEq(coin.totalSupply(), INITIAL_SUPPLY + REWARD);
        assertTrue(registry.isCertified(id));
        assertTrue(registry.isCertifiedBy(id, validator));
        IDataRegistry.Certification memory c = registry.certification(id);
        assertEq(c.validator, validator);
        assertEq(c.scoreBps, 9_100);
        assertEq(c.certifiedAt, 1_760_000_000);
        assertEq(c.modelId, "model-v1");
        assertEq(c.reportHash, "report");
        assertEq(c.reportUri, "ipfs://report");
    }

    function test_Certify_SecondValidatorNoReward() public {
        uint256 id = activeDataset();
        vm.prank(validator);
        registry.certify(id, 9_100, "m", "r", "u");
        vm.expectEmit(address(registry));
        emit IDataRegistry.Certified(id, validator2, 10_000, "m2", "r2", "u2", 0);
        vm.prank(validator2);
        registry.certify(id, 10_000, "m2", "r2", "u2");
        assertEq(coin.balanceOf(owner), REWARD);
        assertEq(registry.certification(id).validator, validator2);
    }

    function test_RevertWhen_CertifyNotValidator() public {
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotValidator.selector, keepers[0]));
        vm.prank(keepers[0]);
        registry.certify(id, 1, "m", "r", "u");
    }

    function test_RevertWhen_CertifyScoreTooHigh() public {
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidScore.selector, 10_001));
        vm.prank(validator);
        registry.certify(id, 10_001, "m", "r", "u");
    }

    function test_RevertWhen_CertifyUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 3));
        vm.prank(validator);
        registry.certify(3, 1, "m", "r", "u");
    }

    function test_RevertWhen_CertifyPending() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.expectRevert(
            abi.encodeWithSelector(IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Pending)
        );
        vm.prank(validator);
        registry.certify(id, 1, "m", "r", "u");
    }

    function test_RevertWhen_CertifyTwice() public {
        uint256 id = activeDataset();
        vm.startPrank(validator);
        registry.certify(id, 1, "m", "r", "u");
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAlreadyCertifiedBy.selector, id, validator));
        registry.certify(id, 2, "m", "r", "u");
        vm.stopPrank();
    }

    function test_RevertWhen_CertifyWithoutMinterRole() public {
        uint256 id = activeDataset();
        vm.startPrank(admin);
        coin.revokeRole(coin.MINTER_ROLE(), address(registry));
        vm.stopPrank();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(registry), coin.MINTER_ROLE()
            )
        );
        vm.prank(validator);
        registry.certify(id, 1, "m", "r", "u");
    }

    function test_Certify_ZeroRewardRegistry() public {
        DataRegistry r = new DataRegistry(coin, keeperRegistry, 0);
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(owner);
        uint256 id = r.publish(p);
        for (uint256 i; i < THRESHOLD; ++i) {
            vm.prank(keepers[i]);
            r.acknowledgeShare(id);
        }
        vm.prank(validator);
        r.certify(id, 1, "m", "r", "u"); // no MINTER_ROLE needed: nothing is minted
        assertTrue(r.isCertified(id));
        assertEq(coin.balanceOf(owner), 0);
    }

    // ---------------------------------------------------------------- withdrawConsent

    function test_WithdrawConsent_FromActive() public {
        uint256 id = activeDataset();
        vm.warp(1_770_000_000);
        vm.expectEmit(address(registry));
        emit IDataRegistry.ConsentWithdrawn(id, owner);
        vm.prank(owner);
        registry.withdrawConsent(id);
        IDataRegistry.Dataset memory d = registry.dataset(id);
        assertEq(uint8(d.status), uint8(IDataRegistry.Status.Withdrawn));
        assertEq(d.withdrawnAt, 1_770_000_000);
    }

    function test_WithdrawConsent_FromPending() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(owner);
        registry.withdrawConsent(id);
        assertEq(uint8(registry.dataset(id).status), uint8(IDataRegistry.Status.Withdrawn));
    }

    function test_RevertWhen_WithdrawConsentNotOwner() public {
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotOwner.selector, id, stranger));
        vm.prank(stranger);
        registry.withdrawConsent(id);
    }

    function test_RevertWhen_WithdrawConsentTwice() public {
        uint256 id = activeDataset();
        vm.startPrank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Withdrawn
            )
        );
        registry.withdrawConsent(id);
        vm.stopPrank();
    }

    function test_RevertWhen_WithdrawConsentUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 4));
        vm.prank(owner);
        registry.withdrawConsent(4);
    }

    // ---------------------------------------------------------------- confirmErasure

    function test_ConfirmErasure() public {
        uint256 id = activeDataset();
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectEmit(address(registry));
        emit IDataRegistry.ErasureConfirmed(id, keepers[4], 1);
        vm.prank(keepers[4]);
        registry.confirmErasure(id);
        assertTrue(registry.hasConfirmedErasure(id, keepers[4]));
        assertFalse(registry.hasConfirmedErasure(id, keepers[0]));
        assertFalse(registry.hasConfirmedErasure(id, stranger));
        for (uint256 i; i < 4; ++i) {
            vm.prank(keepers[i]);
            registry.confirmErasure(id);
        }
        assertEq(registry.dataset(id).erasures, 5);
    }

    function test_RevertWhen_ConfirmErasureNotWithdrawn() public {
        uint256 id = activeDataset();
        vm.expectRevert(
            abi.encodeWithSelector(IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Active)
        );
        vm.prank(keepers[0]);
        registry.confirmErasure(id);
    }

    function test_RevertWhen_ConfirmErasureNotListed() public {
        uint256 id = activeDataset();
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotListedKeeper.selector, id, stranger));
        vm.prank(stranger);
        registry.confirmErasure(id);
    }

    function test_RevertWhen_ConfirmErasureTwice() public {
        uint256 id = activeDataset();
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.startPrank(keepers[1]);
        registry.confirmErasure(id);
        vm.expectRevert(
            abi.encodeWithSelector(IDataRegistry.DataRegistryAlreadyConfirmedErasure.selector, id, keepers[1])
        );
        registry.confirmErasure(id);
        vm.stopPrank();
    }

    function test_RevertWhen_ConfirmErasureUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 2));
        vm.prank(keepers[0]);
        registry.confirmErasure(2);
    }

    // ---------------------------------------------------------------- views

    function test_RevertWhen_ViewUnknownDataset() public {
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 1));
        registry.dataset(1);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 1));
        registry.keepersOf(1);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownDataset.selector, 1));
        registry.commitmentsOf(1);
    }

    function test_PurchaseTerms() public {
        (address o, IDataRegistry.Status s, uint8 t, uint256 price, uint256 purposes) = registry.purchaseTerms(1);
        assertEq(o, address(0));
        assertEq(uint8(s), 0);
        assertEq(t, 0);
        assertEq(price, 0);
        assertEq(purposes, 0);
        uint256 id = activeDataset();
        (o, s, t, price, purposes) = registry.purchaseTerms(id);
        assertEq(o, owner);
        assertEq(uint8(s), uint8(IDataRegistry.Status.Active));
        assertEq(t, THRESHOLD);
        assertEq(price, PRICE);
        assertEq(purposes, ALL_PURPOSES);
    }

    function test_DeliveryTerms() public {
        uint256 id = activeDataset();
        (IDataRegistry.Status s, uint8 idx) = registry.deliveryTerms(id, keepers[3]);
        assertEq(uint8(s), uint8(IDataRegistry.Status.Active));
        assertEq(idx, 4);
        (, idx) = registry.deliveryTerms(id, stranger);
        assertEq(idx, 0);
    }

    function test_SettlementParties() public {
        uint256 id = activeDataset();
        (address o, address[] memory ks) = registry.settlementParties(id, (1 << 0) | (1 << 2) | (1 << 4));
        assertEq(o, owner);
        assertEq(ks.length, 3);
        assertEq(ks[0], keepers[0]);
        assertEq(ks[1], keepers[2]);
        assertEq(ks[2], keepers[4]);
        (, ks) = registry.settlementParties(id, 0);
        assertEq(ks.length, 0);
    }

    function test_IsPurposeConsented() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = Purposes.bit(Purposes.VALIDATION) | Purposes.bit(Purposes.PORTABILITY);
        vm.prank(owner);
        uint256 id = registry.publish(p);
        assertFalse(registry.isPurposeConsented(id, Purposes.RESEARCH));
        assertFalse(registry.isPurposeConsented(id, Purposes.COMMERCIAL));
        assertTrue(registry.isPurposeConsented(id, Purposes.VALIDATION));
        assertTrue(registry.isPurposeConsented(id, Purposes.PORTABILITY));
        assertFalse(registry.isPurposeConsented(id, 255));
    }

    function test_DeregisteredKeeperStillListed() public {
        uint256 id = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        vm.prank(keepers[0]);
        registry.acknowledgeShare(id);
        assertTrue(registry.hasAcknowledged(id, keepers[0]));
    }
}
