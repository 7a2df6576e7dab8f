// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Base} from "../Base.t.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

contract MarketplaceTest is Base {
    uint256 internal id;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        id = activeDataset();
    }

    function _deadline() internal view returns (uint64) {
        return uint64(block.timestamp) + DELIVERY_WINDOW;
    }

    // ---------------------------------------------------------------- constructor

    function test_Constructor() public view {
        assertEq(market.token(), address(coin));
        assertEq(market.dataRegistry(), address(registry));
        assertEq(market.keeperFeeBps(), FEE_BPS);
        assertEq(market.deliveryWindow(), DELIVERY_WINDOW);
        assertEq(market.confirmationWindow(), CONFIRMATION_WINDOW);
        assertEq(market.purchaseCount(), 0);
        assertEq(market.openEscrow(), 0);
        assertEq(market.totalCredits(), 0);
    }

    /// @dev Every negative case is otherwise valid (delivery window 2), so each one fails on
    /// exactly the clause it names (a guard mutant that drops that clause must fail this test).
    function test_RevertWhen_ConstructorInvalidConfig() public {
        address t = address(coin);
        address r = address(registry);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(address(0), r, 1, 2, 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, address(0), 1, 2, 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 10_001, 2, 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, 0, 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, 2, 0, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, uint64(type(uint32).max) + 1, 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, 2, uint64(type(uint32).max) + 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, UNBONDING_DELAY - 1, 2, DELIVERY_FEE); // windows exceed the unbonding delay
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(makeAddr("other token"), r, 1, 2, 1, DELIVERY_FEE); // not the stake token
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, 2, 1, uint256(type(uint96).max) / 256 + 1); // fee overflows the packed escrow
        Marketplace m = new Marketplace(t, r, 10_000, UNBONDING_DELAY - 1, 1, DELIVERY_FEE);
        assertEq(m.keeperFeeBps(), 10_000);
        assertEq(m.commitWindow(), (UNBONDING_DELAY - 1) / 2);
    }

    /// @dev The bounds the real registries would also refuse (token 0, windows above
    /// MAX_WINDOW), checked against stub registries that accept anything, so that each of the
    /// Marketplace's own clauses is needed (they were masked by the registry checks).
    function test_RevertWhen_ConstructorInvalidConfigEvenIfRegistriesAccept() public {
        uint64 maxWindow = type(uint32).max;
        StubKeeperRegistry anyToken = new StubKeeperRegistry(address(0));
        address r0 = address(new StubDataRegistry(address(anyToken)));
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(address(0), r0, 1, 2, 1, DELIVERY_FEE);

        address t = address(coin);
        address r = address(new StubDataRegistry(address(new StubKeeperRegistry(t))));
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, maxWindow + 1, 1, DELIVERY_FEE);
        vm.expectRevert(IMarketplace.MarketplaceInvalidConfig.selector);
        new Marketplace(t, r, 1, 2, maxWindow + 1, DELIVERY_FEE);
        // The stubs themselves accept the largest valid windows.
        Marketplace m = new Marketplace(t, r, 1, maxWindow, maxWindow, DELIVERY_FEE);
        assertEq(m.deliveryWindow(), maxWindow);
        assertEq(m.confirmationWindow(), maxWindow);
    }

    // ---------------------------------------------------------------- purchase

    function test_Purchase() public {
        bytes memory key = pubKey(buyerW);
        uint256 balanceBefore = coin.balanceOf(buyer);
        vm.expectEmit(address(market));
        emit IMarketplace.Purchased(1, id, buyer, Purposes.COMMERCIAL, PRICE, key, _deadline());
        vm.expectEmit(address(coin));
        emit IERC20.Transfer(buyer, address(market), PRICE);
        vm.prank(buyer);
        uint256 pid = market.purchase(id, key, Purposes.COMMERCIAL, PRICE);

        assertEq(pid, 1);
        assertEq(market.purchaseCount(), 1);
        assertEq(market.openEscrow(), PRICE);
        assertEq(coin.balanceOf(address(market)), PRICE);
        assertEq(coin.balanceOf(buyer), balanceBefore - PRICE);
        IMarketplace.Purchase memory p = market.getPurchase(pid);
        assertEq(p.datasetId, id);
        assertEq(p.buyer, buyer);
        assertEq(p.purpose, Purposes.COMMERCIAL);
        assertEq(p.threshold, THRESHOLD);
        assertEq(p.delivered, 0);
        assertFalse(p.confirmed);
        assertFalse(p.isGrant);
        assertEq(uint8(p.status), uint8(IMarketplace.PurchaseStatus.Open));
        assertEq(p.createdAt, block.timestamp);
        assertEq(p.deliveryDeadline, _deadline());
        assertEq(p.thresholdReachedAt, 0);
        assertEq(p.price, PRICE);
    }

    function test_Purchase_FreeDataset() public {
        vm.prank(owner);
        registry.setPrice(id, 0);
        vm.prank(stranger);
        coin.approve(address(market), 0);
        Vm.Wallet memory w = vm.createWallet("poor buyer");
        fund(w.addr, THRESHOLD * DELIVERY_FEE);
        vm.prank(w.addr);
        uint256 pid = market.purchase(id, pubKey(w), Purposes.RESEARCH, THRESHOLD * DELIVERY_FEE);
        assertEq(market.getPurchase(pid).price, THRESHOLD * DELIVERY_FEE, "free data: the delivery fee only");
        assertEq(market.openEscrow(), THRESHOLD * DELIVERY_FEE);
    }

    function test_RevertWhen_PurchasePubKeyWrongLength() public {
        bytes memory key = abi.encodePacked(bytes1(0x04), pubKey(buyerW));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceInvalidPubKey.selector, buyer, 65));
        vm.prank(buyer);
        market.purchase(id, key, Purposes.RESEARCH, PRICE);
    }

    function test_RevertWhen_PurchasePubKeyMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePubKeyMismatch.selector, buyer, buyer2));
        vm.prank(buyer);
        market.purchase(id, pubKey(buyer2W), Purposes.RESEARCH, PRICE);
    }

    function test_RevertWhen_PurchaseUnknownDataset() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceDatasetNotActive.selector, 99, 0));
        buy(buyerW, 99);
    }

    function test_RevertWhen_PurchasePendingDataset() public {
        uint256 pending = publish(N_KEEPERS, THRESHOLD, PRICE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceDatasetNotActive.selector, pending, uint8(IDataRegistry.Status.Pending)
            )
        );
        buy(buyerW, pending);
    }

    function test_RevertWhen_PurchaseWithdrawnDataset() public {
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceDatasetNotActive.selector, id, uint8(IDataRegistry.Status.Withdrawn)
            )
        );
        buy(buyerW, id);
    }

    function test_RevertWhen_PurchasePurposeNotConsented() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = Purposes.bit(Purposes.RESEARCH);
        vm.prank(owner);
        uint256 rid = registry.publish(p);
        acknowledge(rid, THRESHOLD);
        bytes memory key = pubKey(buyerW);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplacePurposeNotConsented.selector, rid, Purposes.COMMERCIAL)
        );
        vm.prank(buyer);
        market.purchase(rid, key, Purposes.COMMERCIAL, PRICE);
    }

    function test_RevertWhen_PurchasePriceAboveMax() public {
        bytes memory key = pubKey(buyerW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePriceAboveMax.selector, PRICE, PRICE - 1));
        vm.prank(buyer);
        market.purchase(id, key, Purposes.RESEARCH, PRICE - 1);
    }

    function test_RevertWhen_PurchaseFrontRunPriceChange() public {
        vm.prank(owner);
        registry.setPrice(id, PRICE * 2);
        bytes memory key = pubKey(buyerW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePriceAboveMax.selector, PRICE * 2, PRICE));
        vm.prank(buyer);
        market.purchase(id, key, Purposes.RESEARCH, PRICE);
    }

    function test_RevertWhen_PurchaseInsufficientBalance() public {
        Vm.Wallet memory w = vm.createWallet("poor buyer");
        fund(w.addr, PRICE - 1);
        bytes memory key = pubKey(w);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplaceInsufficientBalance.selector, w.addr, PRICE - 1, PRICE)
        );
        vm.prank(w.addr);
        market.purchase(id, key, Purposes.RESEARCH, PRICE);
    }

    function test_RevertWhen_PurchaseInsufficientAllowance() public {
        vm.prank(buyer);
        coin.approve(address(market), PRICE - 2);
        bytes memory key = pubKey(buyerW);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplaceInsufficientAllowance.selector, buyer, PRICE - 2, PRICE)
        );
        vm.prank(buyer);
        market.purchase(id, key, Purposes.RESEARCH, PRICE);
    }

    // ---------------------------------------------------------------- purchaseWithPermit

    function _permit(Vm.Wallet memory w, uint256 value, uint256 deadline)
        internal
        view
        returns (uint8, bytes32, bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                w.addr,
                address(market),
                value,
                coin.nonces(w.addr),
                deadline
            )
        );
        return vm.sign(w.privateKey, keccak256(abi.encodePacked("\x19\x01", coin.DOMAIN_SEPARATOR(), structHash)));
    }

    function test_PurchaseWithPermit() public {
        vm.prank(buyer);
        coin.approve(address(market), 0);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(buyerW, PRICE, deadline);
        bytes memory key = pubKey(buyerW);
        vm.expectEmit(address(market));
        emit IMarketplace.Purchased(1, id, buyer, Purposes.RESEARCH, PRICE, key, _deadline());
        vm.prank(buyer);
        uint256 pid = market.purchaseWithPermit(id, key, Purposes.RESEARCH, PRICE, deadline, v, r, s);
        assertEq(pid, 1);
        assertEq(coin.allowance(buyer, address(market)), 0);
        assertEq(market.openEscrow(), PRICE);
    }

    function test_PurchaseWithPermit_FrontRunPermitStillBuys() public {
        vm.prank(buyer);
        coin.approve(address(market), 0);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(buyerW, PRICE, deadline);
        coin.permit(buyer, address(market), PRICE, deadline, v, r, s); // someone front-runs the permit
        bytes memory key = pubKey(buyerW);
        vm.prank(buyer);
        market.purchaseWithPermit(id, key, Purposes.RESEARCH, PRICE, deadline, v, r, s);
        assertEq(market.openEscrow(), PRICE);
    }

    function test_RevertWhen_PurchaseWithPermitBadSignature() public {
        vm.prank(buyer);
        coin.approve(address(market), 0);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permit(buyer2W, PRICE, deadline); // wrong signer
        bytes memory key = pubKey(buyerW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceInsufficientAllowance.selector, buyer, 0, PRICE));
        vm.prank(buyer);
        market.purchaseWithPermit(id, key, Purposes.RESEARCH, PRICE, deadline, v, r, s);
    }

    // ---------------------------------------------------------------- grant

    /// @dev The owner pays threshold × deliveryFee into escrow for the keepers (finding 9).
    function test_Grant() public {
        fund(owner, THRESHOLD * DELIVERY_FEE);
        bytes memory key = pubKey(validatorW);
        vm.expectEmit(address(market));
        emit IMarketplace.Granted(1, id, validator, Purposes.VALIDATION, key, _deadline());
        vm.expectEmit(address(coin));
        emit IERC20.Transfer(owner, address(market), THRESHOLD * DELIVERY_FEE);
        vm.prank(owner);
        uint256 pid = market.grant(id, validator, key, Purposes.VALIDATION);
        IMarketplace.Purchase memory p = market.getPurchase(pid);
        assertTrue(p.isGrant);
        assertEq(p.price, THRESHOLD * DELIVERY_FEE);
        assertEq(p.buyer, validator);
        assertEq(market.openEscrow(), THRESHOLD * DELIVERY_FEE);
        assertEq(market.deliveryFee(), DELIVERY_FEE);
    }

    function test_RevertWhen_GrantOwnerCannotPayFee() public {
        bytes memory key = pubKey(validatorW);
        uint256 bondFloat = coin.balanceOf(owner);
        vm.prank(owner);
        coin.transfer(stranger, bondFloat);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceInsufficientBalance.selector, owner, 0, THRESHOLD * DELIVERY_FEE
            )
        );
        vm.prank(owner);
        market.grant(id, validator, key, Purposes.VALIDATION);
    }

    /// @dev The whole fee goes to the delivering keepers (the owner gets rounding dust only).
    function test_Grant_PortabilityToSelf() public {
        fund(owner, THRESHOLD * DELIVERY_FEE);
        vm.prank(owner);
        uint256 pid = market.grant(id, owner, pubKey(ownerW), Purposes.PORTABILITY);
        deliver(pid, THRESHOLD);
        vm.expectEmit(address(market));
        emit IMarketplace.Settled(pid, id, 0, DELIVERY_FEE, THRESHOLD);
        vm.prank(owner);
        market.confirm(pid);
        assertEq(market.totalCredits(), THRESHOLD * DELIVERY_FEE);
        assertEq(market.creditsOf(keepers[0]), DELIVERY_FEE);
        assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Settled));
    }

    /// @dev Finding 9: each grant (or purchase of a free dataset) made every listed keeper spend
    /// ≈ 42k gas delivering, for no pay. Now keepers are paid the delivery fee per share, and a
    /// requester that cannot pay it is declined.
    function test_Attack_FreeWorkOnDemand() public {
        vm.prank(owner);
        registry.setPrice(id, 0);
        Vm.Wallet memory w = vm.createWallet("free rider");
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplacePriceAboveMax.selector, THRESHOLD * DELIVERY_FEE, 0)
        );
        vm.prank(w.addr);
        market.purchase(id, pubKey(w), Purposes.RESEARCH, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceInsufficientBalance.selector, w.addr, 0, THRESHOLD * DELIVERY_FEE
            )
        );
        vm.prank(w.addr);
        market.purchase(id, pubKey(w), Purposes.RESEARCH, type(uint256).max);
        // A paying requester: the keepers that deliver share the fee.
        fund(w.addr, THRESHOLD * DELIVERY_FEE);
        vm.prank(w.addr);
        uint256 pid = market.purchase(id, pubKey(w), Purposes.RESEARCH, THRESHOLD * DELIVERY_FEE);
        deliver(pid, THRESHOLD);
        vm.prank(w.addr);
        market.confirm(pid);
        for (uint256 i; i < THRESHOLD; ++i) {
            assertEq(market.creditsOf(keepers[i]), DELIVERY_FEE);
        }
        assertEq(market.creditsOf(owner), 0);
    }

    function test_RevertWhen_GrantNotOwner() public {
        bytes memory key = pubKey(validatorW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotDatasetOwner.selector, id, stranger));
        vm.prank(stranger);
        market.grant(id, validator, key, Purposes.VALIDATION);
    }

    function test_RevertWhen_GrantNotActive() public {
        uint256 pending = publish(N_KEEPERS, THRESHOLD, PRICE);
        bytes memory key = pubKey(validatorW);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceDatasetNotActive.selector, pending, uint8(IDataRegistry.Status.Pending)
            )
        );
        vm.prank(owner);
        market.grant(pending, validator, key, Purposes.VALIDATION);
    }

    function test_RevertWhen_GrantPurposeNotConsented() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = Purposes.bit(Purposes.RESEARCH);
        vm.prank(owner);
        uint256 rid = registry.publish(p);
        acknowledge(rid, THRESHOLD);
        bytes memory key = pubKey(validatorW);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplacePurposeNotConsented.selector, rid, Purposes.VALIDATION)
        );
        vm.prank(owner);
        market.grant(rid, validator, key, Purposes.VALIDATION);
    }

    function test_RevertWhen_GrantPubKeyMismatch() public {
        bytes memory key = pubKey(buyerW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePubKeyMismatch.selector, validator, buyer));
        vm.prank(owner);
        market.grant(id, validator, key, Purposes.VALIDATION);
    }

    function test_RevertWhen_GrantPubKeyWrongLength() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceInvalidPubKey.selector, validator, 33));
        vm.prank(owner);
        market.grant(id, validator, compressed(validatorW), Purposes.VALIDATION);
    }

    // ---------------------------------------------------------------- deliverShare

    function test_DeliverShare() public {
        uint256 pid = buy(buyerW, id);
        commitKeepers(pid, 4);
        bytes memory pl = payload(7);
        vm.expectEmit(address(market));
        emit IMarketplace.ShareDelivered(pid, keepers[3], 4, 1, pl);
        vm.prank(keepers[3]);
        market.deliverShare(pid, pl);
        assertTrue(market.hasDelivered(pid, keepers[3]));
        assertFalse(market.hasDelivered(pid, keepers[0]));
        assertFalse(market.hasDelivered(pid, stranger));
        assertFalse(market.hasDelivered(99, keepers[3]));
        assertEq(market.deliveredBitmap(pid), 1 << 3);
        assertEq(market.getPurchase(pid).delivered, 1);
        assertEq(market.getPurchase(pid).thresholdReachedAt, 0);
    }

    function test_DeliverShare_ThresholdReachedAndBeyond() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, 2);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(keepers[2]);
        market.deliverShare(pid, payload(2));
        assertEq(market.getPurchase(pid).thresholdReachedAt, block.timestamp);
        uint256 reachedAt = block.timestamp;
        vm.prank(keepers[4]);
        market.commit(pid);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(keepers[4]);
        market.deliverShare(pid, payload(4));
        IMarketplace.Purchase memory p = market.getPurchase(pid);
        assertEq(p.delivered, 4);
        assertEq(p.thresholdReachedAt, reachedAt);
        assertEq(market.deliveredBitmap(pid), 0x17);
    }

    function test_DeliverShare_MaxPayload() public {
        uint256 pid = buy(buyerW, id);
        commitKeepers(pid, THRESHOLD);
        vm.prank(keepers[0]);
        market.deliverShare(pid, new bytes(1024));
    }

    function test_RevertWhen_DeliverEmptyPayload() public {
        uint256 pid = buy(buyerW, id);
        vm.expectRevert(IMarketplace.MarketplaceEmptyPayload.selector);
        vm.prank(keepers[0]);
        market.deliverShare(pid, "");
    }

    function test_RevertWhen_DeliverPayloadTooLarge() public {
        uint256 pid = buy(buyerW, id);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePayloadTooLarge.selector, 1025, 1024));
        vm.prank(keepers[0]);
        market.deliverShare(pid, new bytes(1025));
    }

    function test_RevertWhen_DeliverUnknownPurchase() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 5));
        vm.prank(keepers[0]);
        market.deliverShare(5, payload(0));
    }

    function test_RevertWhen_DeliverAfterSettled() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        vm.prank(buyer);
        market.confirm(pid);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplacePurchaseNotOpen.selector, pid, IMarketplace.PurchaseStatus.Settled
            )
        );
        vm.prank(keepers[4]);
        market.deliverShare(pid, payload(4));
    }

    function test_RevertWhen_DeliverAfterDeadline() public {
        uint256 pid = buy(buyerW, id);
        uint64 deadline = _deadline();
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceDeliveryClosed.selector, pid, deadline));
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));
    }

    function test_DeliverShare_JustBeforeDeadline() public {
        uint256 pid = buy(buyerW, id);
        commitKeepers(pid, THRESHOLD);
        vm.warp(_deadline() - 1);
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));
    }

    function test_RevertWhen_DeliverNotListed() public {
        uint256 pid = buy(buyerW, id);
        commitKeepers(pid, THRESHOLD);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotListedKeeper.selector, pid, keepers[5]));
        vm.prank(keepers[5]);
        market.deliverShare(pid, payload(5));
    }

    function test_RevertWhen_DeliverTwice() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, 1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceAlreadyDelivered.selector, pid, keepers[0]));
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));
    }

    function test_RevertWhen_DeliverAfterConsentWithdrawn() public {
        uint256 pid = buy(buyerW, id);
        commitKeepers(pid, THRESHOLD);
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplaceDatasetNotActive.selector, id, uint8(IDataRegistry.Status.Withdrawn)
            )
        );
        vm.prank(keepers[0]);
        market.deliverShare(pid, payload(0));
    }

    /// @dev n = MAX_KEEPERS = 32: share indexes up to 32 fit the 32-bit bitmaps.
    function test_DeliverShare_MaxKeepers() public {
        uint256 n = 32;
        address[] memory ks = new address[](n);
        for (uint256 i; i < n; ++i) {
            Vm.Wallet memory w = vm.createWallet(string.concat("bulk keeper ", vm.toString(i)));
            ks[i] = w.addr;
            registerNode(w, IKeeperRegistry.Role.Keeper);
        }
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, 3, PRICE);
        p.keepers = ks;
        vm.prank(owner);
        uint256 big = registry.publish(p);
        for (uint256 i; i < 3; ++i) {
            vm.prank(ks[i]);
            registry.acknowledgeShare(big);
        }
        uint256 pid = buy(buyerW, big);
        uint256[4] memory idx = [uint256(31), 30, 0, 15]; // share indexes 32, 31, 1, 16
        for (uint256 i; i < 4; ++i) {
            vm.prank(ks[idx[i]]);
            market.commit(pid);
        }
        (uint8 committed, uint256 cbits) = market.commitState(pid);
        assertEq(committed, 4);
        assertEq(cbits, (1 << 31) | (1 << 30) | 1 | (1 << 15));
        for (uint256 i; i < 3; ++i) {
            vm.prank(ks[idx[i]]);
            market.deliverShare(pid, payload(i));
        }
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceAlreadyDelivered.selector, pid, ks[31]));
        vm.prank(ks[31]);
        market.deliverShare(pid, payload(0));
        vm.prank(ks[15]);
        market.deliverShare(pid, payload(0));
        assertEq(market.deliveredBitmap(pid), (1 << 31) | (1 << 30) | 1 | (1 << 15));
        assertTrue(market.hasDelivered(pid, ks[31]));
        assertFalse(market.hasDelivered(pid, ks[16]));

        (uint256 ownerAmt, uint256 each) = expectedSplit(PRICE, 4);
        vm.prank(buyer);
        market.confirm(pid);
        assertEq(market.creditsOf(ks[31]), each);
        assertEq(market.creditsOf(ks[30]), each);
        assertEq(market.creditsOf(ks[0]), each);
        assertEq(market.creditsOf(ks[15]), each);
        assertEq(market.creditsOf(ks[1]), 0);
        assertEq(market.creditsOf(owner), ownerAmt);
    }

    // ---------------------------------------------------------------- confirm

    function test_Confirm_SettlesAtOnce() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        (uint256 ownerAmt, uint256 each) = expectedSplit(PRICE, THRESHOLD);
        vm.expectEmit(address(market));
        emit IMarketplace.Confirmed(pid, id, buyer);
        vm.expectEmit(address(market));
        emit IMarketplace.Settled(pid, id, ownerAmt, each, THRESHOLD);
        vm.prank(buyer);
        market.confirm(pid);

        IMarketplace.Purchase memory p = market.getPurchase(pid);
        assertTrue(p.confirmed);
        assertEq(uint8(p.status), uint8(IMarketplace.PurchaseStatus.Settled));
        assertEq(market.creditsOf(owner), ownerAmt);
        for (uint256 i; i < THRESHOLD; ++i) {
            assertEq(market.creditsOf(keepers[i]), each);
        }
        assertEq(market.creditsOf(keepers[3]), 0);
        assertEq(market.openEscrow(), 0);
        assertEq(market.totalCredits(), PRICE);
        assertEq(ownerAmt + each * THRESHOLD, PRICE);
    }

    function test_RevertWhen_ConfirmUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 1));
        vm.prank(buyer);
        market.confirm(1);
    }

    function test_RevertWhen_ConfirmNotBuyer() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotBuyer.selector, pid, stranger));
        vm.prank(stranger);
        market.confirm(pid);
    }

    function test_RevertWhen_ConfirmThresholdNotReached() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, 2);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceThresholdNotReached.selector, pid, 2, 3));
        vm.prank(buyer);
        market.confirm(pid);
    }

    function test_RevertWhen_ConfirmTwice() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        vm.startPrank(buyer);
        market.confirm(pid);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplacePurchaseNotOpen.selector, pid, IMarketplace.PurchaseStatus.Settled
            )
        );
        market.confirm(pid);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- settle

    function test_Settle_AfterConfirmationWindow() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, 4);
        vm.warp(block.timestamp + CONFIRMATION_WINDOW);
        (uint256 ownerAmt, uint256 each) = expectedSplit(PRICE, 4);
        vm.expectEmit(address(market));
        emit IMarketplace.Settled(pid, id, ownerAmt, each, 4);
        vm.prank(stranger);
        market.settle(pid);
        assertEq(market.creditsOf(keepers[3]), each);
        assertEq(market.creditsOf(owner), ownerAmt);
        assertFalse(market.getPurchase(pid).confirmed);
    }

    function test_Settle_RoundingDustToOwner() public {
        vm.prank(owner);
        registry.setPrice(id, 1_000_003);
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        vm.warp(block.timestamp + CONFIRMATION_WINDOW);
        market.settle(pid);
        // fee = 100_000 (10 %, floor), each = 33_333, owner = 1_000_003 − 99_999.
        assertEq(market.creditsOf(keepers[0]), 33_333);
        assertEq(market.creditsOf(owner), 900_004);
        assertEq(market.totalCredits(), 1_000_003);
    }

    function test_RevertWhen_SettleWindowOpen() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        uint64 endsAt = uint64(block.timestamp) + CONFIRMATION_WINDOW;
        vm.warp(endsAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceConfirmationWindowOpen.selector, pid, endsAt));
        market.settle(pid);
    }

    function test_RevertWhen_SettleThresholdNotReached() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, 2);
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceThresholdNotReached.selector, pid, 2, 3));
        market.settle(pid);
    }

    function test_RevertWhen_SettleUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 3));
        market.settle(3);
    }

    function test_RevertWhen_SettleRefunded() public {
        uint256 pid = buy(buyerW, id);
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        vm.prank(buyer);
        market.refund(pid);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplacePurchaseNotOpen.selector, pid, IMarketplace.PurchaseStatus.Refunded
            )
        );
        market.settle(pid);
    }

    function test_Settle_FullKeeperFee() public {
        Marketplace m = new Marketplace(address(coin), address(registry), 10_000, DELIVERY_WINDOW, 1, DELIVERY_FEE);
        vm.prank(buyer);
        coin.approve(address(m), PRICE);
        vm.prank(buyer);
        uint256 pid = m.purchase(id, pubKey(buyerW), Purposes.RESEARCH, PRICE);
        commitOn(m, pid, keepers, THRESHOLD);
        for (uint256 i; i < THRESHOLD; ++i) {
            vm.prank(keepers[i]);
            m.deliverShare(pid, payload(i));
        }
        vm.prank(buyer);
        m.confirm(pid);
        uint256 each = PRICE / 3;
        assertEq(m.creditsOf(keepers[0]), each);
        assertEq(m.creditsOf(owner), PRICE - 3 * each); // dust only
    }

    function test_Settle_ZeroKeeperFee() public {
        Marketplace m = new Marketplace(address(coin), address(registry), 0, DELIVERY_WINDOW, 1, DELIVERY_FEE);
        vm.prank(buyer);
        coin.approve(address(m), PRICE);
        vm.prank(buyer);
        uint256 pid = m.purchase(id, pubKey(buyerW), Purposes.RESEARCH, PRICE);
        commitOn(m, pid, keepers, THRESHOLD);
        for (uint256 i; i < THRESHOLD; ++i) {
            vm.prank(keepers[i]);
            m.deliverShare(pid, payload(i));
        }
        vm.expectEmit(address(m));
        emit IMarketplace.Settled(pid, id, PRICE, 0, THRESHOLD);
        vm.prank(buyer);
        m.confirm(pid);
        assertEq(m.creditsOf(keepers[0]), 0);
        assertEq(m.creditsOf(owner), PRICE);
    }

    // ---------------------------------------------------------------- refund

    function test_Refund_AfterDeadline() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, 2);
        vm.warp(_deadline());
        uint256 before = coin.balanceOf(buyer);
        vm.expectEmit(address(market));
        emit IMarketplace.Refunded(pid, id, buyer, PRICE);
        vm.expectEmit(address(coin));
        emit IERC20.Transfer(address(market), buyer, PRICE);
        vm.prank(buyer);
        market.refund(pid);
        assertEq(coin.balanceOf(buyer), before + PRICE);
        assertEq(market.openEscrow(), 0);
        assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Refunded));
        assertEq(market.creditsOf(keepers[0]), 0);
    }

    function test_Refund_AtOnceAfterConsentWithdrawn() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD - 1); // fewer than t shares
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.prank(buyer);
        market.refund(pid);
        assertEq(market.openEscrow(), 0);
        assertEq(coin.balanceOf(address(market)), 0);
    }

    /// @dev A failed grant refunds the delivery fee to the owner, who paid it.
    function test_Refund_Grant() public {
        fund(owner, THRESHOLD * DELIVERY_FEE);
        vm.prank(owner);
        uint256 pid = market.grant(id, validator, pubKey(validatorW), Purposes.VALIDATION);
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        vm.expectEmit(address(market));
        emit IMarketplace.Refunded(pid, id, owner, THRESHOLD * DELIVERY_FEE);
        vm.prank(validator);
        market.refund(pid);
        assertEq(ownerEarnings(), THRESHOLD * DELIVERY_FEE);
        assertEq(coin.balanceOf(validator), 0);
        assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Refunded));
    }

    function test_RevertWhen_RefundGrantByStranger() public {
        fund(owner, THRESHOLD * DELIVERY_FEE);
        vm.prank(owner);
        uint256 pid = market.grant(id, validator, pubKey(validatorW), Purposes.VALIDATION);
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotBuyer.selector, pid, stranger));
        vm.prank(stranger);
        market.refund(pid);
        vm.prank(owner);
        market.refund(pid);
    }

    function test_RevertWhen_RefundBeforeDeadline() public {
        uint256 pid = buy(buyerW, id);
        uint64 deadline = _deadline();
        vm.warp(deadline - 1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceRefundNotYetAllowed.selector, pid, deadline));
        vm.prank(buyer);
        market.refund(pid);
    }

    function test_RevertWhen_RefundThresholdReached() public {
        uint256 pid = buy(buyerW, id);
        uint64 deadline = _deadline();
        deliver(pid, THRESHOLD);
        vm.warp(deadline + 10 days);
        vm.expectRevert(
            abi.encodeWithSelector(IMarketplace.MarketplaceThresholdDelivered.selector, pid, THRESHOLD, THRESHOLD)
        );
        vm.prank(buyer);
        market.refund(pid);
    }

    function test_RevertWhen_RefundNotBuyer() public {
        uint256 pid = buy(buyerW, id);
        vm.warp(_deadline());
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotBuyer.selector, pid, stranger));
        vm.prank(stranger);
        market.refund(pid);
    }

    function test_RevertWhen_RefundUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 8));
        market.refund(8);
    }

    function test_RevertWhen_RefundSettled() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        vm.prank(buyer);
        market.confirm(pid);
        vm.prank(owner);
        registry.withdrawConsent(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplacePurchaseNotOpen.selector, pid, IMarketplace.PurchaseStatus.Settled
            )
        );
        vm.prank(buyer);
        market.refund(pid);
    }

    function test_RevertWhen_RefundTwice() public {
        uint256 pid = buy(buyerW, id);
        vm.warp(_deadline());
        vm.startPrank(buyer);
        market.refund(pid);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplacePurchaseNotOpen.selector, pid, IMarketplace.PurchaseStatus.Refunded
            )
        );
        market.refund(pid);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- withdraw

    function test_Withdraw() public {
        uint256 pid = buy(buyerW, id);
        deliver(pid, THRESHOLD);
        vm.prank(buyer);
        market.confirm(pid);
        (uint256 ownerAmt, uint256 each) = expectedSplit(PRICE, THRESHOLD);

        vm.expectEmit(address(market));
        emit IMarketplace.Withdrawn(owner, ownerAmt);
        vm.expectEmit(address(coin));
        emit IERC20.Transfer(address(market), owner, ownerAmt);
        vm.prank(owner);
        assertEq(market.withdraw(), ownerAmt);
        assertEq(ownerEarnings(), ownerAmt);
        assertEq(market.creditsOf(owner), 0);
        assertEq(market.totalCredits(), PRICE - ownerAmt);

        vm.prank(keepers[1]);
        market.withdraw();
        assertEq(coin.balanceOf(keepers[1]), each);
        assertEq(coin.balanceOf(address(market)), market.totalCredits());
    }

    function test_RevertWhen_WithdrawNothing() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNothingToWithdraw.selector, stranger));
        vm.prank(stranger);
        market.withdraw();
    }

    // ---------------------------------------------------------------- views

    function test_RevertWhen_GetPurchaseUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceUnknownPurchase.selector, 1));
        market.getPurchase(1);
    }

    function test_Constants() public view {
        assertEq(market.MAX_PAYLOAD_BYTES(), 1024);
        assertEq(market.BPS(), 10_000);
        assertEq(market.PUBKEY_LENGTH(), 64);
    }
}

/// @dev A KeeperRegistry that accepts any window (the longest unbonding delay) for `token`.
contract StubKeeperRegistry {
    address public immutable STAKE_TOKEN;

    constructor(address token) {
        STAKE_TOKEN = token;
    }

    function UNBONDING_DELAY() external pure returns (uint64) {
        return type(uint64).max;
    }

    function MIN_STAKE() external pure returns (uint256) {
        return 0;
    }
}

/// @dev A DataRegistry that only names its KeeperRegistry (all the constructor reads).
contract StubDataRegistry {
    address public immutable KEEPER_REGISTRY;

    constructor(address keepers) {
        KEEPER_REGISTRY = keepers;
    }
}
