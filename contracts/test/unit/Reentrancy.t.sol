// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Base} from "../Base.t.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {KeeperRegistry} from "../../src/KeeperRegistry.sol";
import {DataRegistry} from "../../src/DataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {IPHDCoin} from "../../src/interfaces/IPHDCoin.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";
import {HostileToken} from "../mocks/HostileToken.sol";
import {HostileReceiver} from "../mocks/HostileReceiver.sol";

/// @notice A Marketplace wired to a malicious token: callbacks into the Marketplace during any
/// token transfer are stopped by `nonReentrant`; hostile receivers cannot double-withdraw, and a
/// receiver that refuses payment blocks only its own withdrawal (pull payments).
contract ReentrancyTest is Base {
    HostileToken internal hos;
    KeeperRegistry internal hkr;
    DataRegistry internal hdr;
    Marketplace internal hm;
    HostileReceiver internal evilOwner;
    HostileReceiver internal evilKeeper;
    uint256 internal id;
    bytes internal buyerKey;

    bytes4 internal immutable REENTRANT = ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        hos = new HostileToken();
        // A whole stack on the hostile token (the Marketplace requires the stake token).
        hkr = new KeeperRegistry(admin, IERC20(address(hos)), MIN_STAKE, UNBONDING_DELAY);
        hdr = new DataRegistry(IPHDCoin(address(hos)), hkr, 0, MIN_SCORE, MIN_CERTS, 0);
        hm = new Marketplace(address(hos), address(hdr), FEE_BPS, DELIVERY_WINDOW, CONFIRMATION_WINDOW, DELIVERY_FEE);
        vm.prank(admin);
        hkr.setMarketplace(address(hm));
        evilOwner = new HostileReceiver(hm);
        evilKeeper = new HostileReceiver(hm);
        Vm.Wallet memory kw = vm.createWallet("evil keeper key");
        hos.mint(address(evilKeeper), MIN_STAKE);
        evilKeeper.registerKeeper(hkr, compressed(kw), MIN_STAKE, keyProofFor(address(hkr), kw, address(evilKeeper)));
        for (uint256 i; i < 2; ++i) {
            hos.mint(keepers[i], MIN_STAKE);
            bytes memory proof = keyProofFor(address(hkr), keeperWs[i], keepers[i]);
            vm.startPrank(keepers[i]);
            hos.approve(address(hkr), MIN_STAKE);
            hkr.register(IKeeperRegistry.Role.Keeper, compressed(keeperWs[i]), ENDPOINT, MIN_STAKE, proof);
            vm.stopPrank();
        }

        IDataRegistry.PublishParams memory p = params(3, 2, PRICE);
        p.keepers[2] = address(evilKeeper);
        id = evilOwner.publish(hdr, p);
        vm.prank(keepers[0]);
        hdr.acknowledgeShare(id);
        vm.prank(keepers[1]);
        hdr.acknowledgeShare(id);

        hos.mint(buyer, 10 * PRICE);
        vm.prank(buyer);
        hos.approve(address(hm), type(uint256).max);
        buyerKey = pubKey(buyerW);
    }

    function _buy() internal returns (uint256 pid) {
        vm.prank(buyer);
        pid = hm.purchase(id, buyerKey, Purposes.RESEARCH, PRICE);
    }

    function _settledSale() internal returns (uint256 pid) {
        pid = _buy();
        vm.prank(keepers[0]);
        hm.commit(pid);
        evilKeeper.commit(pid);
        vm.prank(keepers[0]);
        hm.deliverShare(pid, payload(0));
        evilKeeper.deliver(pid, payload(2));
        vm.prank(buyer);
        hm.confirm(pid);
    }

    function _assertSolvent() internal view {
        assertEq(hos.balanceOf(address(hm)), hm.openEscrow() + hm.totalCredits());
    }

    /// @dev The token re-enters `withdraw` during the escrow pull of `purchase`.
    function test_Reentrancy_TokenCallsWithdrawDuringPurchase() public {
        _settledSale();
        hos.arm(address(hm), abi.encodeCall(IMarketplace.withdraw, ()), false);
        _buy();
        assertEq(hos.attempts(), 1);
        assertFalse(hos.lastSuccess());
        assertEq(bytes4(hos.lastReturn()), REENTRANT);
        _assertSolvent();
    }

    /// @dev The token re-enters `refund` while `refund` pays out: the second refund is stopped.
    function test_Reentrancy_TokenCallsRefundDuringRefund() public {
        uint256 pid = _buy();
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        hos.arm(address(hm), abi.encodeCall(IMarketplace.refund, (pid)), true);
        vm.expectRevert(REENTRANT);
        vm.prank(buyer);
        hm.refund(pid);
        // Nothing moved (the revert also restored the token's trap); the honest refund works once.
        assertEq(uint8(hm.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Open));
        hos.disarm();
        vm.prank(buyer);
        hm.refund(pid);
        assertEq(hos.balanceOf(buyer), 10 * PRICE);
        _assertSolvent();
    }

    /// @dev The token re-enters `settle`/`deliverShare`/`purchase`/`grant` during a withdrawal.
    function test_Reentrancy_TokenCallsEveryEntryPoint() public {
        hos.mint(buyer, 5 * PRICE); // ten rounds of purchases
        uint256 pid = _settledSale();
        uint256 open = _buy();
        bytes[] memory calls = new bytes[](10);
        calls[0] = abi.encodeCall(IMarketplace.settle, (pid));
        calls[1] = abi.encodeCall(IMarketplace.deliverShare, (open, payload(1)));
        calls[2] = abi.encodeCall(IMarketplace.purchase, (id, buyerKey, Purposes.RESEARCH, PRICE));
        calls[3] = abi.encodeCall(IMarketplace.grant, (id, buyer, buyerKey, Purposes.RESEARCH));
        calls[4] = abi.encodeCall(IMarketplace.confirm, (open));
        calls[5] = abi.encodeCall(IMarketplace.refund, (open));
        calls[6] = abi.encodeCall(IMarketplace.withdraw, ());
        calls[7] = abi.encodeCall(IMarketplace.commit, (open));
        calls[8] = abi.encodeCall(IMarketplace.slashNonDelivery, (open, keepers[1]));
        bytes32[] memory log = new bytes32[](0);
        calls[9] = abi.encodeCall(IMarketplace.dispute, (open, 1, hex"00", buyerKey, log, ""));
        for (uint256 i; i < calls.length; ++i) {
            hos.arm(address(hm), calls[i], false);
            vm.prank(keepers[0]);
            hm.withdraw();
            assertFalse(hos.lastSuccess());
            assertEq(bytes4(hos.lastReturn()), REENTRANT);
            // give keeper 0 credits again for the next round
            uint256 p2 = _buy();
            vm.prank(keepers[0]);
            hm.commit(p2);
            evilKeeper.commit(p2);
            vm.prank(keepers[0]);
            hm.deliverShare(p2, payload(0));
            evilKeeper.deliver(p2, payload(2));
            vm.prank(buyer);
            hm.confirm(p2);
        }
        _assertSolvent();
    }

    /// @dev A hostile data owner tries to withdraw twice from its payment hook.
    function test_HostileReceiver_CannotDoubleWithdraw() public {
        _settledSale();
        (uint256 ownerAmt,) = expectedSplit(PRICE, 2);
        hos.setHooked(address(evilOwner), true);
        evilOwner.setMode(HostileReceiver.Mode.Reenter);
        evilOwner.withdraw();
        assertTrue(evilOwner.reentered());
        assertFalse(evilOwner.reentrySucceeded());
        assertEq(bytes4(evilOwner.reentryError()), REENTRANT);
        assertEq(hos.balanceOf(address(evilOwner)), ownerAmt);
        assertEq(hm.creditsOf(address(evilOwner)), 0);
        _assertSolvent();
    }

    /// @dev A keeper that refuses payment cannot block the sale, the owner, or other keepers.
    function test_HostileReceiver_RefusingKeeperDoesNotBlockOthers() public {
        hos.setHooked(address(evilKeeper), true);
        evilKeeper.setMode(HostileReceiver.Mode.Refuse);
        uint256 pid = _settledSale();
        assertEq(uint8(hm.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Settled));
        (uint256 ownerAmt, uint256 each) = expectedSplit(PRICE, 2);
        evilOwner.withdraw();
        vm.prank(keepers[0]);
        hm.withdraw();
        assertEq(hos.balanceOf(address(evilOwner)), ownerAmt);
        assertEq(hos.balanceOf(keepers[0]), each);
        vm.expectRevert(bytes("HostileReceiver: refused"));
        evilKeeper.withdraw();
        assertEq(hm.creditsOf(address(evilKeeper)), each); // still owed, nothing lost
        _assertSolvent();
    }
}
