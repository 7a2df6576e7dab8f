// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Base} from "../Base.t.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";

contract MarketplaceFuzzTest is Base {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
    }

    /// @dev Fee split: keepers get floor(floor(price·bps/10⁴)/k) each, the owner the rest; nothing
    /// is lost or created, and the owner's share is at least price·(1 − bps/10⁴).
    function testFuzz_FeeSplit(uint96 price, uint16 bps, uint8 n, uint8 t, uint8 extra) public {
        bps = uint16(bound(bps, 0, 10_000));
        n = uint8(bound(n, 2, 8));
        t = uint8(bound(t, 2, n));
        uint8 k = uint8(bound(extra, t, n));
        price = uint96(bound(price, 0, 1e30));

        Marketplace m =
            new Marketplace(address(coin), address(registry), bps, DELIVERY_WINDOW, CONFIRMATION_WINDOW, DELIVERY_FEE);
        uint256 id = publish(n, t, price);
        acknowledge(id, t);
        uint256 pay = price == 0 ? t * DELIVERY_FEE : price;
        mintTo(buyer, pay);
        vm.prank(buyer);
        coin.approve(address(m), pay);
        vm.prank(buyer);
        uint256 pid = m.purchase(id, pubKey(buyerW), Purposes.RESEARCH, pay);
        commitOn(m, pid, keepers, k);
        for (uint256 i; i < k; ++i) {
            vm.prank(keepers[i]);
            m.deliverShare(pid, payload(i));
        }
        vm.prank(buyer);
        m.confirm(pid);

        if (price == 0) {
            // Free dataset: the buyer paid t × deliveryFee, all of it for the keepers.
            price = uint96(t * DELIVERY_FEE);
            bps = 10_000;
        }
        uint256 each = uint256(price) * bps / 10_000 / k;
        uint256 ownerAmt = price - each * k;
        uint256 sum = m.creditsOf(owner);
        assertEq(sum, ownerAmt);
        for (uint256 i; i < n; ++i) {
            uint256 c = m.creditsOf(keepers[i]);
            assertEq(c, i < k ? each : 0);
            sum += c;
        }
        assertEq(sum, price);
        assertEq(m.totalCredits(), price);
        assertEq(m.openEscrow(), 0);
        assertGe(ownerAmt * 10_000, uint256(price) * (10_000 - bps));
        assertEq(coin.balanceOf(address(m)), price);
    }

    /// @dev Purchases succeed iff price ≤ maxPrice.
    function testFuzz_PriceVsMaxPrice(uint96 price, uint256 maxPrice) public {
        price = uint96(bound(price, 0, 10_000 * UNIT));
        uint256 id = publish(N_KEEPERS, THRESHOLD, price);
        acknowledge(id, THRESHOLD);
        bytes memory key = pubKey(buyerW);
        uint256 pay = price == 0 ? THRESHOLD * DELIVERY_FEE : price; // free data: the delivery fee
        if (pay > maxPrice) {
            vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePriceAboveMax.selector, pay, maxPrice));
        }
        vm.prank(buyer);
        market.purchase(id, key, Purposes.RESEARCH, maxPrice);
        if (pay <= maxPrice) assertEq(market.openEscrow(), pay);
    }

    /// @dev Balance and allowance pre-checks name the shortfall.
    function testFuzz_Declined(uint96 price, uint96 balance, uint96 allowance) public {
        price = uint96(bound(price, 1, 1e30));
        balance = uint96(bound(balance, 0, 1e30));
        allowance = uint96(bound(allowance, 0, 1e30));
        uint256 id = publish(N_KEEPERS, THRESHOLD, price);
        acknowledge(id, THRESHOLD);
        Vm.Wallet memory w = vm.createWallet("fuzz buyer");
        mintTo(w.addr, balance);
        vm.prank(w.addr);
        coin.approve(address(market), allowance);
        bytes memory key = pubKey(w);
        if (balance < price) {
            vm.expectRevert(
                abi.encodeWithSelector(IMarketplace.MarketplaceInsufficientBalance.selector, w.addr, balance, price)
            );
        } else if (allowance < price) {
            vm.expectRevert(
                abi.encodeWithSelector(IMarketplace.MarketplaceInsufficientAllowance.selector, w.addr, allowance, price)
            );
        }
        vm.prank(w.addr);
        market.purchase(id, key, Purposes.RESEARCH, price);
    }

    /// @dev Threshold bookkeeping: settlement possible exactly when ≥ t shares arrived; refunds
    /// after the deadline exactly when fewer did.
    function testFuzz_Threshold(uint8 n, uint8 t, uint8 delivered) public {
        n = uint8(bound(n, 2, 8));
        t = uint8(bound(t, 2, n));
        delivered = uint8(bound(delivered, 0, n));
        uint256 id = publish(n, t, PRICE);
        acknowledge(id, t);
        uint256 pid = buy(buyerW, id);
        deliver(pid, delivered);
        assertEq(market.getPurchase(pid).delivered, delivered);
        assertEq(market.deliveredBitmap(pid), (uint256(1) << delivered) - 1);
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        if (delivered >= t) {
            vm.prank(buyer);
            vm.expectRevert();
            market.refund(pid);
            market.settle(pid); // window (2 d) < delivery window (3 d): already passed
            assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Settled));
        } else {
            vm.expectRevert(
                abi.encodeWithSelector(IMarketplace.MarketplaceThresholdNotReached.selector, pid, delivered, t)
            );
            market.settle(pid);
            vm.prank(buyer);
            market.refund(pid);
            assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Refunded));
        }
    }

    /// @dev Publishing accepts exactly 2 ≤ t ≤ n.
    function testFuzz_PublishThreshold(uint8 n, uint8 t) public {
        n = uint8(bound(n, 0, 8));
        t = uint8(bound(t, 0, 10));
        IDataRegistry.PublishParams memory p = params(n, 2, PRICE);
        p.threshold = t;
        p.commitments = commitments(t, 5);
        if (t < 2 || t > n) {
            vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, t, n));
        }
        vm.prank(owner);
        registry.publish(p);
    }

    /// @dev The 64-byte key of any private key hashes to its address; any other key is refused.
    function testFuzz_PubKeyDerivation(uint256 pk, uint256 otherPk) public {
        pk = bound(pk, 1, SECP256K1_N - 1);
        otherPk = bound(otherPk, 1, SECP256K1_N - 1);
        vm.assume(pk != otherPk);
        uint256 id = publish(N_KEEPERS, THRESHOLD, 0);
        acknowledge(id, THRESHOLD);
        (bytes memory key, address addr) = pubKeyOf(pk);
        assertEq(addr, vm.addr(pk));
        assertEq(address(uint160(uint256(keccak256(key)))), addr);

        (bytes memory otherKey, address otherAddr) = pubKeyOf(otherPk);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePubKeyMismatch.selector, addr, otherAddr));
        vm.prank(addr);
        market.purchase(id, otherKey, Purposes.RESEARCH, 0);

        fund(addr, THRESHOLD * DELIVERY_FEE);
        vm.prank(addr);
        uint256 pid = market.purchase(id, key, Purposes.RESEARCH, THRESHOLD * DELIVERY_FEE);
        assertEq(market.getPurchase(pid).buyer, addr);
    }

    /// @dev Only consented purposes are purchasable.
    function testFuzz_Purpose(uint256 mask, uint8 purpose) public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = mask;
        if (mask == 0 || mask & ~Purposes.ALL != 0) {
            // Only non-empty subsets of the defined purposes are accepted (finding 8).
            if (mask == 0) vm.expectRevert(IDataRegistry.DataRegistryNoPurposes.selector);
            else vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownPurposes.selector, mask));
            vm.prank(owner);
            registry.publish(p);
            mask &= Purposes.ALL;
            if (mask == 0) mask = 1;
            p.purposes = mask;
        }
        vm.prank(owner);
        uint256 id = registry.publish(p);
        acknowledge(id, THRESHOLD);
        bytes memory key = pubKey(buyerW);
        bool ok = (mask >> purpose) & 1 == 1;
        if (!ok) {
            vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplacePurposeNotConsented.selector, id, purpose));
        }
        vm.prank(buyer);
        market.purchase(id, key, purpose, PRICE);
    }

    /// @dev Compressed keys built from any wallet register.
    function testFuzz_RegisterWalletKey(uint256 pk) public {
        pk = bound(pk, 1, SECP256K1_N - 1);
        Vm.Wallet memory w = vm.createWallet(pk);
        vm.assume(!keeperRegistry.isKeeper(w.addr) && !keeperRegistry.isValidator(w.addr));
        registerNode(w, pk % 2 == 0 ? _keeperRole() : _validatorRole());
        assertEq(keeperRegistry.node(w.addr).encryptionKey, compressed(w));
    }

    function _keeperRole() internal pure returns (IKeeperRegistry.Role) {
        return IKeeperRegistry.Role.Keeper;
    }

    function _validatorRole() internal pure returns (IKeeperRegistry.Role) {
        return IKeeperRegistry.Role.Validator;
    }
}
