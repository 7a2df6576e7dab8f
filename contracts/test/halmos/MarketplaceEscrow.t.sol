// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {PHDCoin} from "../../src/PHDCoin.sol";
import {KeeperRegistry} from "../../src/KeeperRegistry.sol";
import {DataRegistry} from "../../src/DataRegistry.sol";
import {Marketplace} from "../../src/Marketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @dev Halmos' symbolic-value cheatcodes (halmos-cheatcodes' SVM, declared here so that no extra
/// dependency is needed). Only Halmos answers at this address; forge never runs `check_…`.
interface SVM {
    function createUint(uint256 bitSize, string calldata name) external returns (uint256);
    function createUint256(string calldata name) external returns (uint256);
    function createBool(string calldata name) external returns (bool);
    function createAddress(string calldata name) external returns (address);
    function createCalldata(string calldata contractName) external returns (bytes memory);
    function createCalldata(string calldata contractName, bool includeViewFunctions) external returns (bytes memory);
}

/// @title Symbolic checks of the Marketplace escrow (run by `make audit` through Halmos)
/// @notice The real PHDCoin, KeeperRegistry, DataRegistry and Marketplace, deployed concretely in
/// `setUp`. One dataset (n = 3 keepers, threshold t = 2) is Active; the buyer then acts with
/// symbolic price, symbolic keeper behaviour (who commits, who delivers), symbolic time and
/// symbolic callers/orders of the terminal calls. Each `check_…` is a property over every path.
/// @dev Keepers are bonded by writing the KeeperRegistry's `_nodes` slot (Halmos treats
/// `ecrecover`/modexp as uninterpreted functions, so a real `register` would leave two symbolic
/// paths in setUp, which Halmos refuses). `check_setupIsLive` asserts that the fixture is the
/// intended one (keepers bonded, dataset Active, a complete sale succeeds), so a change in the
/// storage layout cannot make the other checks vacuous.
contract MarketplaceEscrowHalmos is Test {
    SVM internal constant svm = SVM(address(uint160(uint256(keccak256("svm cheat code")))));

    uint256 internal constant UNIT = 1e18;
    uint256 internal constant MIN_STAKE = 1_000 * UNIT;
    uint256 internal constant BOND = 10 * MIN_STAKE; // several slashes never unbond a keeper
    uint64 internal constant UNBONDING_DELAY = 14 days;
    uint16 internal constant FEE_BPS = 1_000;
    uint64 internal constant DELIVERY_WINDOW = 3 days;
    uint64 internal constant CONFIRMATION_WINDOW = 2 days;
    uint256 internal constant DELIVERY_FEE = 1 * UNIT;
    uint256 internal constant START = 1_700_000_000;
    /// @dev KeeperRegistry storage slot of `_nodes` (see `forge inspect KeeperRegistry storageLayout`).
    uint256 internal constant NODES_SLOT = 2;
    uint256 internal constant TOTAL_STAKED_SLOT = 15;

    address internal constant ADMIN = address(0xAD);
    address internal constant TREASURY = address(0x7E);
    address internal constant OWNER = address(0x0E);
    address internal constant STRANGER = address(0x57);

    PHDCoin internal coin;
    KeeperRegistry internal keeperRegistry;
    DataRegistry internal registry;
    Marketplace internal market;

    address[3] internal ks;
    bytes internal buyerKey;
    address internal buyer;
    uint256 internal datasetId;

    function setUp() public {
        vm.warp(START);
        vm.startPrank(ADMIN);
        coin = new PHDCoin(ADMIN, 2 days, TREASURY, 1_000_000 * UNIT, 1e30);
        keeperRegistry = new KeeperRegistry(ADMIN, coin, MIN_STAKE, UNBONDING_DELAY);
        registry = new DataRegistry(coin, keeperRegistry, 10 * UNIT, 5_000, 2, 0);
        market = new Marketplace(
            address(coin), address(registry), FEE_BPS, DELIVERY_WINDOW, CONFIRMATION_WINDOW, DELIVERY_FEE
        );
        keeperRegistry.setMarketplace(address(market));
        vm.stopPrank();

        ks[0] = address(0x1001);
        ks[1] = address(0x1002);
        ks[2] = address(0x1003);
        for (uint256 i; i < 3; ++i) {
            _bond(ks[i]);
        }
        vm.store(address(keeperRegistry), bytes32(TOTAL_STAKED_SLOT), bytes32(3 * BOND));
        vm.prank(TREASURY);
        coin.transfer(address(keeperRegistry), 3 * BOND);

        // A 64-byte "public key" whose keccak gives the buyer's address (all Marketplace checks).
        buyerKey = abi.encodePacked(keccak256("buyer x"), keccak256("buyer y"));
        buyer = address(uint160(uint256(keccak256(buyerKey))));
        vm.prank(TREASURY);
        coin.transfer(buyer, 100_000 * UNIT);
        vm.prank(buyer);
        coin.approve(address(market), type(uint256).max);

        _listDataset();
    }

    /// @dev DataRegistry storage slots (see `forge inspect DataRegistry storageLayout`).
    uint256 internal constant DATASET_COUNT_SLOT = 0;
    uint256 internal constant DATASETS_SLOT = 1;
    uint256 internal constant KEEPER_AT_SLOT = 2;
    uint256 internal constant SHARE_INDEX_SLOT = 3;
    uint256 internal constant PRICE = 100 * UNIT;

    /// @dev Dataset 1 as `publish` (n = 3, t = 2, PRICE, all purposes) followed by two
    /// acknowledgements leaves it, written directly: `publish` validates the Feldman commitments
    /// through the modexp precompile, which Halmos 0.3.3 cannot execute (its modexp model has a
    /// sort mismatch). `test_fixtureMatchesPublish` (forge) compares these slots with a real
    /// publish, so the fixture cannot drift from the contract.
    function _listDataset() internal {
        address r = address(registry);
        datasetId = 1;
        vm.store(r, bytes32(DATASET_COUNT_SLOT), bytes32(uint256(1)));
        uint256 base = uint256(keccak256(abi.encode(uint256(1), DATASETS_SLOT)));
        // slot 0: owner | status Active (2) | threshold 2 | keeperCount 3 | acknowledged 2 | … | publishedAt
        uint256 slot0 = uint256(uint160(OWNER)) | (uint256(uint8(IDataRegistry.Status.Active)) << 160) | (2 << 168)
            | (3 << 176) | (2 << 184) | (START << 208);
        vm.store(r, bytes32(base), bytes32(slot0));
        vm.store(r, bytes32(base + 1), bytes32(PRICE)); // price, withdrawnAt 0
        vm.store(r, bytes32(base + 2), bytes32(Purposes.ALL)); // purposes
        bytes32 keeperAt = keccak256(abi.encode(uint256(1), KEEPER_AT_SLOT));
        bytes32 shareIndex = keccak256(abi.encode(uint256(1), SHARE_INDEX_SLOT));
        for (uint256 i; i < 3; ++i) {
            // KeeperSlot: keeper | acknowledged (first two keepers)
            uint256 ack = i < 2 ? 1 : 0;
            vm.store(r, keccak256(abi.encode(i + 1, keeperAt)), bytes32(uint256(uint160(ks[i])) | (ack << 160)));
            vm.store(r, keccak256(abi.encode(ks[i], shareIndex)), bytes32(i + 1));
        }
    }

    /// @dev Role Keeper (1) at offset 0, stake (uint96) at byte offset 9, unlockAt = 0.
    function _bond(address k) internal {
        bytes32 slot = keccak256(abi.encode(k, NODES_SLOT));
        vm.store(address(keeperRegistry), slot, bytes32(uint256(1) | (BOND << 72)));
    }

    /// @notice (forge, not Halmos) The written fixture equals what a real `publish` + two
    /// acknowledgements store, slot by slot.
    function test_fixtureMatchesPublish() public {
        DataRegistry real = new DataRegistry(coin, keeperRegistry, 10 * UNIT, 5_000, 2, 0);
        address[] memory keepers = new address[](3);
        keepers[0] = ks[0];
        keepers[1] = ks[1];
        keepers[2] = ks[2];
        bytes[] memory cs = new bytes[](2);
        // x-coordinates of G and 2G: valid compressed points.
        cs[0] =
            abi.encodePacked(bytes1(0x02), bytes32(0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798));
        cs[1] =
            abi.encodePacked(bytes1(0x02), bytes32(0xC6047F9441ED7D6D3045406E95C07CD85C778E4B8CEF3CA7ABAC09B95C709EE5));
        IDataRegistry.PublishParams memory p = IDataRegistry.PublishParams({
            storageUri: "s3://phd-data/datasets/0001.sealed",
            contentRoot: keccak256("content root"),
            metadata: bytes('{"v":1}'),
            price: PRICE,
            keepers: keepers,
            threshold: 2,
            commitments: cs,
            purposes: Purposes.ALL,
            consentTermsHash: keccak256("terms")
        });
        vm.warp(START);
        vm.prank(OWNER);
        assertEq(real.publish(p), 1);
        vm.prank(ks[0]);
        real.acknowledgeShare(1);
        vm.prank(ks[1]);
        real.acknowledgeShare(1);

        bytes32[] memory slots = new bytes32[](10);
        uint256 base = uint256(keccak256(abi.encode(uint256(1), DATASETS_SLOT)));
        bytes32 keeperAt = keccak256(abi.encode(uint256(1), KEEPER_AT_SLOT));
        bytes32 shareIndex = keccak256(abi.encode(uint256(1), SHARE_INDEX_SLOT));
        slots[0] = bytes32(DATASET_COUNT_SLOT);
        slots[1] = bytes32(base);
        slots[2] = bytes32(base + 1);
        slots[3] = bytes32(base + 2);
        for (uint256 i; i < 3; ++i) {
            slots[4 + i] = keccak256(abi.encode(i + 1, keeperAt));
            slots[7 + i] = keccak256(abi.encode(ks[i], shareIndex));
        }
        for (uint256 i; i < slots.length; ++i) {
            assertEq(vm.load(address(registry), slots[i]), vm.load(address(real), slots[i]));
        }
        assertEq(_terms(registry), _terms(real));
        assertEq(abi.encode(registry.keepersOf(1)), abi.encode(real.keepersOf(1)));
    }

    function _terms(DataRegistry r) internal view returns (bytes memory) {
        (address o, IDataRegistry.Status st, uint8 t, uint256 p, uint256 u) = r.purchaseTerms(1);
        return abi.encode(o, st, t, p, u);
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /// @dev The buyer buys at a symbolic price (≤ its balance); returns the purchase id.
    function _buy(uint256 price) internal returns (uint256 pid) {
        vm.prank(OWNER);
        registry.setPrice(datasetId, price);
        vm.prank(buyer);
        pid = market.purchase(datasetId, buyerKey, Purposes.RESEARCH, type(uint256).max);
    }

    /// @dev What a purchase at list price `price` escrows: the price, or for a free dataset
    /// threshold × DELIVERY_FEE (all for the keepers).
    function _escrowOf(uint256 price) internal pure returns (uint256) {
        return price == 0 ? 2 * DELIVERY_FEE : price;
    }

    function _symbolicPrice() internal returns (uint256 price) {
        price = svm.createUint(96, "price");
        vm.assume(price <= 10_000 * UNIT);
    }

    /// @dev A list price chosen symbolically among representative values: free (the purchase
    /// escrows t × deliveryFee), 7 wei (every keeper fee rounds to 0), 100 PHD, and an odd
    /// 10 000 PHD + 3 wei (rounding dust). Concrete per path: the checks that enumerate many
    /// call sequences stay fast; the full uint96 range is covered by the split and refund checks.
    function _pickPrice() internal returns (uint256) {
        uint256 k = svm.createUint(2, "priceChoice");
        return k == 0 ? 0 : k == 1 ? 7 : k == 2 ? PRICE : 10_000 * UNIT + 3;
    }

    /// @dev All three keepers commit; then one of them delivers (below the threshold t = 2) or
    /// two do (at the threshold).
    function _keepersActShort(uint256 pid) internal {
        for (uint256 i; i < 3; ++i) {
            vm.prank(ks[i]);
            market.commit(pid);
        }
        vm.prank(ks[0]);
        market.deliverShare(pid, hex"02aa");
        if (svm.createBool("reached")) {
            vm.prank(ks[1]);
            market.deliverShare(pid, hex"02bb");
        }
    }

    /// @dev All three keepers commit; then a symbolic number of them (0..3) deliver.
    function _keepersAct(uint256 pid) internal {
        for (uint256 i; i < 3; ++i) {
            vm.prank(ks[i]);
            market.commit(pid);
        }
        uint256 d = svm.createUint(2, "deliveries");
        for (uint256 i; i < 3; ++i) {
            if (i < d) {
                vm.prank(ks[i]);
                market.deliverShare(pid, hex"02aa");
            }
        }
    }

    /// @dev The owner withdraws consent, or not (symbolic).
    function _maybeWithdrawConsent() internal {
        if (svm.createBool("withdrawConsent")) {
            vm.prank(OWNER);
            registry.withdrawConsent(datasetId);
        }
    }

    /// @dev Time moves to a symbolically chosen phase: inside the delivery window, after the
    /// delivery deadline (confirmation window of an early threshold still open or not), or long
    /// after everything. Concrete times per path keep the solver fast.
    function _warpPhase() internal {
        uint256 phase = svm.createUint(2, "phase");
        uint256 t0 = block.timestamp;
        if (phase == 0) vm.warp(t0 + 1 hours);
        else if (phase == 1) vm.warp(t0 + DELIVERY_WINDOW);
        else vm.warp(t0 + DELIVERY_WINDOW + CONFIRMATION_WINDOW);
    }

    function _warpSymbolic() internal {
        uint256 dt = svm.createUint(40, "dt");
        vm.warp(block.timestamp + dt);
    }

    /// @dev One terminal call, chosen symbolically: settle (by a stranger: anyone may), confirm
    /// or refund (by the buyer: the only caller they accept, which the unit tests and the
    /// mutation check cover). Returns whether it succeeded.
    function _terminal(uint256 pid, string memory tag) internal returns (bool ok) {
        uint256 op = svm.createUint(2, string.concat("op", tag));
        vm.assume(op < 3);
        bytes memory data = op == 0
            ? abi.encodeCall(market.settle, (pid))
            : op == 1 ? abi.encodeCall(market.confirm, (pid)) : abi.encodeCall(market.refund, (pid));
        vm.prank(op == 0 ? STRANGER : buyer);
        (ok,) = address(market).call(data);
    }

    function _sumCredits() internal view returns (uint256 s) {
        s = market.creditsOf(OWNER) + market.creditsOf(buyer);
        for (uint256 i; i < 3; ++i) {
            s += market.creditsOf(ks[i]);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Checks
    // ------------------------------------------------------------------------------------------

    /// @notice The fixture is live: keepers bonded, dataset Active, and a complete sale (purchase,
    /// two commits, two deliveries, confirm) succeeds and settles. Guards the other checks
    /// against vacuity (a fixture that reverts everywhere would make them pass trivially).
    function check_setupIsLive() public {
        assertTrue(keeperRegistry.isKeeper(ks[0]) && keeperRegistry.isKeeper(ks[2]));
        assertEq(uint8(registry.dataset(datasetId).status), uint8(IDataRegistry.Status.Active));
        uint256 pid = _buy(100 * UNIT);
        for (uint256 i; i < 2; ++i) {
            vm.prank(ks[i]);
            (bool okc,) = address(market).call(abi.encodeCall(market.commit, (pid)));
            assertTrue(okc);
        }
        for (uint256 i; i < 2; ++i) {
            vm.prank(ks[i]);
            (bool okd,) = address(market).call(abi.encodeCall(market.deliverShare, (pid, hex"02aa")));
            assertTrue(okd);
        }
        vm.prank(buyer);
        (bool ok,) = address(market).call(abi.encodeCall(market.confirm, (pid)));
        assertTrue(ok);
        assertEq(uint8(market.getPurchase(pid).status), uint8(IMarketplace.PurchaseStatus.Settled));
        assertEq(_sumCredits(), PRICE);
    }

    /// @notice A purchase's escrow is paid out at most once: of two terminal calls (settle,
    /// confirm or refund, in any order, the first in any phase of the windows and the second
    /// after all of them, below or at the threshold, with or without consent withdrawn, for
    /// free and priced datasets) at most one
    /// succeeds, and what leaves the escrow (refund to the buyer + credits created) equals the
    /// price when one succeeded and 0 otherwise.
    function check_payoutAtMostOnce() public {
        uint256 price = _pickPrice();
        uint256 pid = _buy(price);
        _keepersActShort(pid);
        _maybeWithdrawConsent();
        _warpPhase();
        uint256 buyerBefore = coin.balanceOf(buyer);
        uint256 creditsBefore = market.totalCredits();

        bool first = _terminal(pid, "1");
        vm.warp(block.timestamp + DELIVERY_WINDOW + CONFIRMATION_WINDOW); // everything is due now
        bool second = _terminal(pid, "2");

        assertFalse(first && second);
        uint256 paidOut = (coin.balanceOf(buyer) - buyerBefore) + (market.totalCredits() - creditsBefore);
        assertEq(paidOut, (first || second) ? _escrowOf(price) : 0);
        IMarketplace.PurchaseStatus s = market.getPurchase(pid).status;
        if (first || second) assertTrue(s != IMarketplace.PurchaseStatus.Open);
        else assertTrue(s == IMarketplace.PurchaseStatus.Open);
    }

    /// @notice Settlement splits exactly the price: owner + delivering keepers' credits == price,
    /// every keeper that delivered gets the same amount, one that did not gets nothing.
    function check_settlementSplitsPrice() public {
        uint256 price = _symbolicPrice();
        uint256 pid = _buy(price);
        // Every keeper commits; each then delivers or not (≥ t = 2 of 3 must, for a settlement).
        for (uint256 i; i < 3; ++i) {
            vm.prank(ks[i]);
            market.commit(pid);
        }
        for (uint256 i; i < 3; ++i) {
            if (svm.createBool("deliver")) {
                vm.prank(ks[i]);
                market.deliverShare(pid, hex"02aa");
            }
        }
        vm.warp(block.timestamp + DELIVERY_WINDOW + CONFIRMATION_WINDOW);
        if (svm.createBool("confirm")) {
            vm.prank(buyer);
            market.confirm(pid);
        } else {
            vm.prank(STRANGER);
            market.settle(pid);
        }

        uint256 escrow = _escrowOf(price);
        assertEq(_sumCredits(), escrow);
        assertEq(market.creditsOf(buyer), 0);
        uint256 each;
        bool seen;
        for (uint256 i; i < 3; ++i) {
            uint256 c = market.creditsOf(ks[i]);
            if (!market.hasDelivered(pid, ks[i])) {
                assertEq(c, 0);
            } else if (!seen) {
                each = c;
                seen = true;
            } else {
                assertEq(c, each);
            }
        }
        assertTrue(seen); // settlement needs ≥ t deliveries
        uint256 bps = price == 0 ? 10_000 : FEE_BPS; // a free dataset's fee is all the keepers'
        assertEq(each, escrow * bps / 10_000 / market.getPurchase(pid).delivered);
    }

    /// @notice No refund once threshold shares were delivered: whoever calls, whenever, and even
    /// after the owner withdrew consent.
    function check_noRefundAfterThreshold() public {
        uint256 price = _symbolicPrice();
        uint256 pid = _buy(price);
        _keepersAct(pid);
        vm.assume(market.getPurchase(pid).delivered >= 2);
        _warpSymbolic();
        _maybeWithdrawConsent();
        uint256 who = svm.createUint(2, "caller");
        vm.prank(who == 0 ? buyer : who == 1 ? OWNER : STRANGER);
        (bool ok,) = address(market).call(abi.encodeCall(market.refund, (pid)));
        assertFalse(ok);
    }

    // ------------------------------------------------------------------------------------------
    // Solvency after any single call, one check per state-changing selector
    // ------------------------------------------------------------------------------------------
    // `createCalldata("Marketplace")` over every selector at once never finished (stopped after
    // 14.5 CPU-minutes): it enumerates several lengths of each dynamic `bytes` argument, times
    // every selector. Here each selector gets its own check with symbolic arguments of the
    // lengths the contract accepts (and one it refuses), so each finishes and reports by itself.
    // `dispute` and `proveOwnerFraud` stay out: they verify a Chaum-Pedersen proof and an sha256
    // Merkle path through ecrecover/modexp/sha256, which Halmos cannot execute; their accounting is
    // covered by the Trust invariant suite (`invariant_BondAccounting`, `invariant_MarketAccounting`)
    // and the owner-fraud fuzz tests.

    /// @dev The state every solvency check starts from: a settled sale (credits outstanding) and
    /// an open purchase at a representative price, all keepers committed, one or two delivered
    /// (below / at the threshold), inside or past the windows. Returns the caller of the call under
    /// test (buyer, owner, a keeper, the keeper that has not delivered, or a stranger).
    function _solvencyState() internal returns (uint256 settled, uint256 open, uint256 price, address caller) {
        settled = _buy(100 * UNIT);
        for (uint256 i; i < 2; ++i) {
            vm.prank(ks[i]);
            market.commit(settled);
        }
        for (uint256 i; i < 2; ++i) {
            vm.prank(ks[i]);
            market.deliverShare(settled, hex"02aa");
        }
        vm.prank(buyer);
        market.confirm(settled);
        price = _pickPrice();
        open = _buy(price);
        _keepersActShort(open);
        if (svm.createBool("late")) vm.warp(block.timestamp + DELIVERY_WINDOW + CONFIRMATION_WINDOW);
        uint256 who = svm.createUint(3, "who");
        vm.assume(who < 5);
        caller = who == 0 ? buyer : who == 1 ? OWNER : who == 2 ? ks[0] : who == 3 ? ks[2] : STRANGER;
    }

    /// @dev A purchase id among the settled one (1), the open one (2), a new one (3) and none (0).
    function _symbolicPid() internal returns (uint256) {
        return svm.createUint(2, "pid");
    }

    /// @dev A 64-byte public key: the caller's own (the buyer's, when it calls) or any other.
    function _symbolicPubKey(address caller) internal returns (bytes memory) {
        if (caller == buyer && svm.createBool("ownKey")) return buyerKey;
        return abi.encodePacked(svm.createUint256("keyX"), svm.createUint256("keyY"));
    }

    /// @dev The Marketplace holds exactly openEscrow + totalCredits, and openEscrow is the escrow
    /// of the purchases still Open.
    function _assertSolvent(uint256 settled, uint256 open, uint256 price) internal view {
        uint256 escrow = market.openEscrow();
        assertEq(coin.balanceOf(address(market)), escrow + market.totalCredits());
        uint256 expectedOpen;
        if (market.getPurchase(open).status == IMarketplace.PurchaseStatus.Open) expectedOpen += _escrowOf(price);
        if (market.getPurchase(settled).status == IMarketplace.PurchaseStatus.Open) expectedOpen += PRICE;
        if (market.purchaseCount() == 3 && market.getPurchase(3).status == IMarketplace.PurchaseStatus.Open) {
            expectedOpen += market.getPurchase(3).price;
        }
        assertEq(escrow, expectedOpen);
    }

    function _callAs(address caller, bytes memory data) internal {
        vm.prank(caller);
        (bool ok,) = address(market).call(data);
        ok; // success or revert: solvency must hold either way
    }

    /// @notice Solvency after `purchase` with symbolic dataset, key, purpose and price bound.
    function check_solvencyAfterPurchase() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        bytes memory key = _symbolicPubKey(caller);
        _callAs(
            caller,
            abi.encodeCall(
                market.purchase,
                (svm.createUint(2, "dataset"), key, uint8(svm.createUint(8, "purpose")), svm.createUint256("maxPrice"))
            )
        );
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `purchaseWithPermit` with a symbolic permit signature (the permit
    /// may succeed, fail or be front-run; the allowance check then decides).
    function check_solvencyAfterPurchaseWithPermit() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        bytes memory key = _symbolicPubKey(caller);
        bytes memory data = abi.encodeCall(
            market.purchaseWithPermit,
            (
                svm.createUint(2, "dataset"),
                key,
                uint8(svm.createUint(8, "purpose")),
                svm.createUint256("maxPrice"),
                svm.createUint256("permitDeadline"),
                uint8(svm.createUint(8, "v")),
                bytes32(svm.createUint256("r")),
                bytes32(svm.createUint256("s"))
            )
        );
        _callAs(caller, data);
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `grant` (owner-paid access) to a symbolic grantee.
    function check_solvencyAfterGrant() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        address grantee = svm.createBool("granteeIsBuyer") ? buyer : svm.createAddress("grantee");
        bytes memory key = grantee == buyer ? buyerKey : _symbolicPubKey(caller);
        _callAs(
            caller,
            abi.encodeCall(
                market.grant, (svm.createUint(2, "dataset"), grantee, key, uint8(svm.createUint(8, "purpose")))
            )
        );
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `commit`.
    function check_solvencyAfterCommit() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        _callAs(caller, abi.encodeCall(market.commit, (_symbolicPid())));
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `deliverShare` with an empty, a one-byte or a 65-byte payload.
    function check_solvencyAfterDeliverShare() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        uint256 len = svm.createUint(2, "payloadKind");
        bytes memory payload = len == 0
            ? bytes("")
            : len == 1
                ? abi.encodePacked(bytes1(uint8(svm.createUint(8, "b"))))
                : abi.encodePacked(svm.createUint256("p0"), svm.createUint256("p1"), bytes1(0x04));
        _callAs(caller, abi.encodeCall(market.deliverShare, (_symbolicPid(), payload)));
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `slashNonDelivery` of a symbolic keeper.
    function check_solvencyAfterSlashNonDelivery() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        uint256 k = svm.createUint(2, "slashed");
        // Branch to a concrete index: `ks[k]` with a symbolic k is a symbolic storage slot,
        // which Halmos cannot read (NotConcreteError).
        address keeper = k == 0 ? ks[0] : k == 1 ? ks[1] : k == 2 ? ks[2] : svm.createAddress("notAKeeper");
        _callAs(caller, abi.encodeCall(market.slashNonDelivery, (_symbolicPid(), keeper)));
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `confirm`.
    function check_solvencyAfterConfirm() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        _callAs(caller, abi.encodeCall(market.confirm, (_symbolicPid())));
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `settle`.
    function check_solvencyAfterSettle() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        _callAs(caller, abi.encodeCall(market.settle, (_symbolicPid())));
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `refund`.
    function check_solvencyAfterRefund() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        _callAs(caller, abi.encodeCall(market.refund, (_symbolicPid())));
        _assertSolvent(settled, open, price);
    }

    /// @notice Solvency after `withdraw` (pull payment of credits).
    function check_solvencyAfterWithdraw() public {
        (uint256 settled, uint256 open, uint256 price, address caller) = _solvencyState();
        _callAs(caller, abi.encodeCall(market.withdraw, ()));
        _assertSolvent(settled, open, price);
    }
}
