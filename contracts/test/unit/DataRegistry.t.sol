// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, stdStorage, StdStorage} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Base} from "../Base.t.sol";
import {DataRegistry} from "../../src/DataRegistry.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

contract DataRegistryTest is Base {
    using stdStorage for StdStorage;

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
        p.keepers = new address[](33);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, THRESHOLD, 33));
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
            abi.encodeWithSelector(IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Withdrawn)
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
            abi.encodeWithSelector(IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Withdrawn)
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

    /// @dev A dataset with both validators granted (settled grants).
    function _grantedDataset() internal returns (uint256 id) {
        id = activeDataset();
        grantAndSettle(id, validatorW);
        grantAndSettle(id, validator2W);
    }

    function test_Certify_RecordsHistoryWithoutRewardBeforeK() public {
        uint256 id = _grantedDataset();
        vm.warp(1_760_000_000);
        vm.expectEmit(address(registry));
        emit IDataRegistry.Certified(id, validator, 9_100, "model-v1", "report", "ipfs://report", 0);
        vm.prank(validator);
        registry.certify(id, 9_100, "model-v1", "report", "ipfs://report");
        assertEq(ownerEarnings(), 0, "k = 2: no reward yet");
        assertFalse(registry.isCertified(id));
        assertTrue(registry.isCertifiedBy(id, validator));
        IDataRegistry.Certification memory c = registry.certification(id);
        assertEq(c.validator, validator);
        assertEq(c.scoreBps, 9_100);
        assertEq(c.certifiedAt, 1_760_000_000);
        assertEq(c.modelId, "model-v1");
        assertEq(c.reportHash, "report");
        assertEq(c.reportUri, "ipfs://report");
        assertEq(registry.certificationCount(id), 1);
    }

    function test_Certify_KthCertificatePaysRewardFromPool() public {
        uint256 id = _grantedDataset();
        uint256 supply = coin.totalSupply();
        vm.prank(validator);
        registry.certify(id, 9_100, "m", "r", "u");
        vm.expectEmit(address(registry));
        emit IDataRegistry.Certified(id, validator2, 8_000, "m2", "r2", "u2", REWARD);
        vm.expectEmit(address(registry));
        emit IDataRegistry.CertificationReached(id, 2, 8_550);
        vm.prank(validator2);
        registry.certify(id, 8_000, "m2", "r2", "u2");
        assertEq(ownerEarnings(), REWARD);
        assertEq(coin.totalSupply(), supply, "paid from the pool, nothing minted");
        assertEq(registry.rewardPool(), REWARD_BUDGET - REWARD);
        assertEq(coin.balanceOf(address(registry)), registry.rewardPool() + registry.listingBonds());
        assertTrue(registry.isCertified(id));
        (bool certified, uint16 score, uint256 count, uint256 counted) = registry.certificationSummary(id);
        assertTrue(certified);
        assertEq(score, 8_550);
        assertEq(count, 2);
        assertEq(counted, 2);
        // History: the first certificate is not overwritten.
        IDataRegistry.Certification[] memory all = registry.certifications(id);
        assertEq(all.length, 2);
        assertEq(all[0].validator, validator);
        assertEq(all[0].scoreBps, 9_100);
        assertEq(all[1].validator, validator2);
        assertEq(registry.certificationAt(id, 1).scoreBps, 8_000);
        IDataRegistry.Certification memory latest = registry.certification(id);
        assertEq(latest.validator, validator2);
        assertEq(latest.scoreBps, 8_550, "aggregate");
    }

    function test_Certify_LowScoreRecordedButDoesNotCount() public {
        uint256 id = _grantedDataset();
        vm.prank(validator);
        registry.certify(id, MIN_SCORE - 1, "m", "r", "u");
        vm.prank(validator2);
        registry.certify(id, 10_000, "m", "r", "u");
        assertFalse(registry.isCertified(id));
        assertEq(ownerEarnings(), 0);
        (, uint16 score, uint256 count, uint256 counted) = registry.certificationSummary(id);
        assertEq(count, 2);
        assertEq(counted, 1);
        assertEq(score, (MIN_SCORE - 1 + 10_000) / 2);
    }

    function test_Certify_PoolExhaustedPaysRemainder() public {
        DataRegistry r = new DataRegistry(coin, keeperRegistry, REWARD, MIN_SCORE, 1, 0);
        vm.startPrank(treasury);
        coin.approve(address(r), 3 * UNIT);
        r.fundRewards(3 * UNIT);
        vm.stopPrank();
        assertEq(r.rewardPool(), 3 * UNIT);
        // A registry that is not the Marketplace's own does not accept its grants.
        uint256 id = _grantedDataset();
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        vm.prank(owner);
        uint256 rid = r.publish(p);
        assertEq(rid, id);
        for (uint256 i; i < THRESHOLD; ++i) {
            vm.prank(keepers[i]);
            r.acknowledgeShare(rid);
        }
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAccessNotGranted.selector, rid, validator));
        vm.prank(validator);
        r.certify(rid, 9_000, "m", "r", "u");
        // The canonical registry with a nearly empty pool pays what is left.
        stdstore.target(address(registry)).sig("rewardPool()").checked_write(3 * UNIT);
        vm.prank(validator);
        registry.certify(id, 9_000, "m", "r", "u");
        vm.prank(validator2);
        registry.certify(id, 9_000, "m", "r", "u");
        assertEq(ownerEarnings(), 3 * UNIT, "only what is left");
        assertEq(registry.rewardPool(), 0);
    }

    function test_RevertWhen_ConstructorInvalid() public {
        vm.expectRevert(IDataRegistry.DataRegistryInvalidConfig.selector);
        new DataRegistry(coin, keeperRegistry, REWARD, 10_001, 1, LISTING_BOND);
        vm.expectRevert(IDataRegistry.DataRegistryInvalidConfig.selector);
        new DataRegistry(coin, keeperRegistry, REWARD, MIN_SCORE, 0, LISTING_BOND);
        vm.expectRevert(IDataRegistry.DataRegistryInvalidConfig.selector);
        new DataRegistry(coin, keeperRegistry, REWARD, MIN_SCORE, 1, uint256(type(uint96).max) + 1);
    }

    function test_FundRewards() public {
        vm.startPrank(treasury);
        coin.approve(address(registry), 5);
        vm.expectEmit(address(registry));
        emit IDataRegistry.RewardsFunded(treasury, 5, REWARD_BUDGET + 5);
        registry.fundRewards(5);
        vm.stopPrank();
        assertEq(registry.rewardPool(), REWARD_BUDGET + 5);
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
        uint256 id = _grantedDataset();
        vm.startPrank(validator);
        registry.certify(id, 1, "m", "r", "u");
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAlreadyCertifiedBy.selector, id, validator));
        registry.certify(id, 2, "m", "r", "u");
        vm.stopPrank();
    }

    function test_RevertWhen_CertifyWithoutGrant() public {
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAccessNotGranted.selector, id, validator));
        vm.prank(validator);
        registry.certify(id, 9_000, "m", "r", "u");
    }

    /// @dev A grant that has not settled (shares not delivered) does not count.
    function test_RevertWhen_CertifyGrantNotSettled() public {
        uint256 id = activeDataset();
        fund(owner, THRESHOLD * DELIVERY_FEE);
        vm.prank(owner);
        market.grant(id, validator, pubKey(validatorW), Purposes.VALIDATION);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAccessNotGranted.selector, id, validator));
        vm.prank(validator);
        registry.certify(id, 9_000, "m", "r", "u");
    }

    /// @dev Finding 1: a validator that is the dataset's owner earns nothing.
    function test_RevertWhen_CertifyByOwnerValidator() public {
        // The owner account is itself a staked validator.
        registerNode(ownerW, IKeeperRegistry.Role.Validator);
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryValidatorNotIndependent.selector, id, owner));
        vm.prank(owner);
        registry.certify(id, 9_000, "m", "r", "u");
    }

    /// @dev A validator that used to be a keeper listed on the dataset is not independent.
    function test_RevertWhen_CertifyByListedKeeper() public {
        uint256 id = activeDataset();
        vm.prank(keepers[4]);
        keeperRegistry.deregister();
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(keepers[4]);
        keeperRegistry.withdrawStake();
        registerNode(keeperWs[4], IKeeperRegistry.Role.Validator);
        vm.expectRevert(
            abi.encodeWithSelector(IDataRegistry.DataRegistryValidatorNotIndependent.selector, id, keepers[4])
        );
        vm.prank(keepers[4]);
        registry.certify(id, 9_000, "m", "r", "u");
    }

    /// @dev A validator that asked to leave (unbonding) no longer certifies.
    function test_RevertWhen_CertifyByExitingValidator() public {
        uint256 id = _grantedDataset();
        vm.prank(validator);
        keeperRegistry.deregister();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryNotValidator.selector, validator));
        vm.prank(validator);
        registry.certify(id, 9_000, "m", "r", "u");
    }

    /// @dev Finding 1 (unlimited minting): an account registers as validator, publishes with its
    /// own keepers and certifies its own dataset with score 0; on the old contracts the first
    /// certificate minted CERTIFICATION_REWARD, 25 loops gave 25 rewards. Now: not independent.
    function test_Attack_SelfCertificationMints() public {
        registerNode(ownerW, IKeeperRegistry.Role.Validator);
        uint256 supply = coin.totalSupply();
        for (uint256 i; i < 3; ++i) {
            uint256 id = publish(2, 2, 0);
            acknowledge(id, 2);
            vm.expectRevert(
                abi.encodeWithSelector(IDataRegistry.DataRegistryValidatorNotIndependent.selector, id, owner)
            );
            vm.prank(owner);
            registry.certify(id, 0, "m", "r", "u");
        }
        assertEq(ownerEarnings(), 0);
        assertEq(coin.totalSupply(), supply);
    }

    /// @dev Finding 1, Sybil variant: a second staked validator account of the owner, never
    /// granted access, with score 0. Refused (no grant); and even granted, a score-0 certificate
    /// does not count and k = 2 independent certificates are needed.
    function test_Attack_SybilValidatorScoreZero() public {
        uint256 id = activeDataset();
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAccessNotGranted.selector, id, validator));
        vm.prank(validator);
        registry.certify(id, 0, "m", "r", "u");
        grantAndSettle(id, validatorW);
        vm.prank(validator);
        registry.certify(id, 0, "m", "r", "u");
        assertFalse(registry.isCertified(id));
        assertEq(ownerEarnings(), 0);
    }

    /// @dev Finding 6: any validator overwrote the certificate, up or down, without having seen
    /// the data. Now it needs a grant, and certificates are a history (no overwrite).
    function test_Attack_CertificateOverwrite() public {
        uint256 id = activeDataset();
        grantAndSettle(id, validatorW);
        vm.prank(validator);
        registry.certify(id, 9_500, "m", "r", "u");
        // validator2 never saw the data.
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryAccessNotGranted.selector, id, validator2));
        vm.prank(validator2);
        registry.certify(id, 0, "m", "r", "u");
        assertEq(registry.certificationAt(id, 0).scoreBps, 9_500);
        assertEq(registry.certification(id).validator, validator);
        assertEq(registry.certificationCount(id), 1);
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
            abi.encodeWithSelector(IDataRegistry.DataRegistryWrongStatus.selector, id, IDataRegistry.Status.Withdrawn)
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
