// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Base} from "../Base.t.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";
import {ShareProof} from "../../src/libraries/ShareProof.sol";
import {ShareProofFixture, ShareProofHarness} from "./ShareProof.t.sol";

/// @notice `Marketplace.dispute` (finding 2): a buyer proves a delivered share wrong with the
/// `ShareProof` library; the keeper is slashed, its delivery does not count and is not paid.
/// Real provable deliveries are built with the ShareProof test fixture (points as multiples of G).
abstract contract DisputeFixture is Base, ShareProofFixture {
    uint256 internal constant SEED = 42;

    uint256 internal id;
    uint256 internal pid;
    Vm.Wallet internal bW; // the buyer: its key b is the fixture's scalar(SEED, "b")
    uint256[] internal coeffs; // the dataset polynomial a_0..a_{t-1}
    bytes32[] internal log_;

    function setUp() public override {
        super.setUp();
        vm.warp(1_700_000_000);
        h = new ShareProofHarness();
        bW = vm.createWallet(_scalar(SEED, "b"));
        fund(bW.addr, 10_000 * UNIT);

        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        for (uint256 j; j < THRESHOLD; ++j) {
            uint256 a = _scalar(SEED, string.concat("a", vm.toString(j)));
            coeffs.push(a);
            (uint256 cx, uint256 cy) = _mulG(a);
            p.commitments[j] = _compress(cx, cy);
        }
        vm.prank(owner);
        id = registry.publish(p);
        acknowledge(id, THRESHOLD);
        vm.prank(bW.addr);
        pid = market.purchase(id, abi.encodePacked(bW.publicKeyX, bW.publicKeyY), Purposes.RESEARCH, PRICE);
        commitKeepers(pid, 4);
    }

    /// @dev f(index) (+ delta) masked for this purchase; returns the payload and the proof.
    function _case(uint8 index, uint256 delta) internal returns (Case memory c) {
        c.ctx =
            ShareProof.Context({chainId: block.chainid, marketplace: address(market), purchaseId: pid, index: index});
        uint256 pow = 1;
        for (uint256 j; j < coeffs.length; ++j) {
            c.share = addmod(c.share, mulmod(coeffs[j], pow, N), N);
            pow = mulmod(pow, index, N);
        }
        c.delivered = addmod(c.share, delta, N);
        c.proof = _prove(c, SEED);
    }

    /// @dev Keeper at `index` (1-based) delivers `payload`; the log entry is recorded.
    function _deliver(uint8 index, bytes memory pl) internal {
        vm.prank(keepers[index - 1]);
        market.deliverShare(pid, pl);
        log_.push(keccak256(abi.encodePacked(index, keccak256(pl))));
    }

    function _dispute(uint8 index, Case memory c) internal returns (uint256) {
        vm.prank(bW.addr);
        return market.dispute(pid, index, c.payload, c.buyerKey, log_, c.proof);
    }
}

contract MarketplaceDisputeTest is DisputeFixture {
    function test_Dispute_BadShareIsSlashedNotCountedNotPaid() public {
        Case memory good1 = _case(1, 0);
        Case memory bad2 = _case(2, 1);
        Case memory good3 = _case(3, 0);
        _deliver(1, good1.payload);
        _deliver(2, bad2.payload);
        _deliver(3, good3.payload);
        assertEq(market.getPurchase(pid).delivered, 3);

        uint256 slash = market.BAD_SHARE_SLASH();
        assertEq(slash, MIN_STAKE / 2);
        vm.expectEmit(address(market));
        emit IMarketplace.ShareDisputed(pid, id, keepers[1], 2, slash, 2);
        assertEq(_dispute(2, bad2), slash);
        IMarketplace.Purchase memory p = market.getPurchase(pid);
        assertEq(p.delivered, 2, "the bad delivery does not count");
        assertEq(p.thresholdReachedAt, 0);
        assertEq(market.creditsOf(bW.addr), slash, "slash to the buyer");
        assertEq(keeperRegistry.stakeOf(keepers[1]).amount, MIN_STAKE - slash);
        assertFalse(keeperRegistry.isKeeper(keepers[1]));

        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceThresholdNotReached.selector, pid, 2, 3));
        vm.prank(bW.addr);
        market.confirm(pid);
        // The keeper cannot deliver again; another committed keeper completes the sale.
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceAlreadyDelivered.selector, pid, keepers[1]));
        vm.prank(keepers[1]);
        market.deliverShare(pid, good1.payload);
        Case memory good4 = _case(4, 0);
        _deliver(4, good4.payload);
        vm.prank(bW.addr);
        market.confirm(pid);
        (, uint256 each) = expectedSplit(PRICE, 3);
        assertEq(market.creditsOf(keepers[0]), each);
        assertEq(market.creditsOf(keepers[2]), each);
        assertEq(market.creditsOf(keepers[3]), each);
        assertEq(market.creditsOf(keepers[1]), 0, "bad keeper not paid");
        assertEq(coin.balanceOf(address(market)), market.openEscrow() + market.totalCredits());
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked());
    }

    function test_RevertWhen_DisputeCorrectShare() public {
        Case memory good1 = _case(1, 0);
        _deliver(1, good1.payload);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceFalseDispute.selector, pid, 1));
        _dispute(1, good1);
    }

    function test_RevertWhen_DisputeInvalidProof() public {
        Case memory bad1 = _case(1, 5);
        _deliver(1, bad1.payload);
        bad1.proof[351] = bytes1(uint8(bad1.proof[351]) ^ 1);
        vm.expectRevert();
        _dispute(1, bad1);
    }

    function test_RevertWhen_DisputeWrongLog() public {
        Case memory bad1 = _case(1, 5);
        _deliver(1, bad1.payload);
        log_[0] = bytes32(uint256(1));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceInvalidDeliveryLog.selector, pid));
        _dispute(1, bad1);
    }

    /// @dev A payload other than the one posted cannot be disputed in its place.
    function test_RevertWhen_DisputeOtherPayload() public {
        Case memory good1 = _case(1, 0);
        Case memory bad1 = _case(1, 5);
        _deliver(1, good1.payload);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceInvalidDeliveryLog.selector, pid));
        _dispute(1, bad1);
    }

    /// @dev Attack: the keeper posted a correct share; the buyer forges a log that names a wrong
    /// payload the keeper never posted (the entry is present, but the chain does not hash to what
    /// the contract recorded), hoping to get an honest keeper slashed.
    function test_RevertWhen_DisputeForgedLog() public {
        Case memory good1 = _case(1, 0);
        Case memory bad1 = _case(1, 5);
        _deliver(1, good1.payload);
        log_[0] = keccak256(abi.encodePacked(uint8(1), keccak256(bad1.payload)));
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceInvalidDeliveryLog.selector, pid));
        _dispute(1, bad1);
    }

    function test_RevertWhen_DisputeNotBuyer() public {
        Case memory bad1 = _case(1, 5);
        _deliver(1, bad1.payload);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotBuyer.selector, pid, stranger));
        vm.prank(stranger);
        market.dispute(pid, 1, bad1.payload, bad1.buyerKey, log_, bad1.proof);
    }

    function test_RevertWhen_DisputeTwiceOrUndelivered() public {
        Case memory bad1 = _case(1, 5);
        _deliver(1, bad1.payload);
        _dispute(1, bad1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotDisputable.selector, pid, 1));
        _dispute(1, bad1);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceNotDisputable.selector, pid, 4));
        _dispute(4, bad1);
    }

    function test_RevertWhen_DisputeAfterSettlement() public {
        for (uint8 i = 1; i <= 3; ++i) {
            _deliver(i, _case(i, 0).payload);
        }
        vm.prank(bW.addr);
        market.confirm(pid);
        Case memory c = _case(1, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IMarketplace.MarketplacePurchaseNotOpen.selector, pid, IMarketplace.PurchaseStatus.Settled
            )
        );
        _dispute(1, c);
    }

    /// @dev Finding 2: garbage payloads (1 byte) were counted and paid and blocked the refund.
    /// Now a malformed delivery is provably wrong without any proof: each is disputed and
    /// slashed, and with fewer than t good shares at the deadline the buyer is refunded.
    function test_Attack_GarbageSharesPaid() public {
        for (uint8 i = 1; i <= 3; ++i) {
            _deliver(i, hex"00");
        }
        Case memory none;
        none.buyerKey = abi.encodePacked(bW.publicKeyX, bW.publicKeyY);
        none.payload = hex"00";
        for (uint8 i = 1; i <= 3; ++i) {
            _dispute(i, none);
        }
        assertEq(market.getPurchase(pid).delivered, 0);
        vm.warp(block.timestamp + DELIVERY_WINDOW);
        vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceThresholdNotReached.selector, pid, 0, 3));
        market.settle(pid);
        uint256 before = coin.balanceOf(bW.addr);
        vm.prank(bW.addr);
        market.refund(pid);
        vm.prank(bW.addr);
        market.withdraw();
        assertEq(coin.balanceOf(bW.addr), before + PRICE + 3 * market.BAD_SHARE_SLASH());
    }

    /// @dev Any wrong share (delta ≠ 0) at any committed index is proven bad; the right one never is.
    function testFuzz_Dispute(uint256 delta, uint8 index) public {
        index = uint8(bound(index, 1, 4));
        delta = bound(delta, 0, N - 1);
        Case memory c = _case(index, delta);
        _deliver(index, c.payload);
        if (delta == 0) {
            vm.expectRevert(abi.encodeWithSelector(IMarketplace.MarketplaceFalseDispute.selector, pid, index));
            _dispute(index, c);
        } else {
            assertEq(_dispute(index, c), market.BAD_SHARE_SLASH());
            assertEq(market.getPurchase(pid).delivered, 0);
        }
    }
}
