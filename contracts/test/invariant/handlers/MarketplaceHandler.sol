// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";
import {PHDCoin} from "../../../src/PHDCoin.sol";
import {DataRegistry} from "../../../src/DataRegistry.sol";
import {Marketplace} from "../../../src/Marketplace.sol";
import {IDataRegistry} from "../../../src/interfaces/IDataRegistry.sol";
import {IMarketplace} from "../../../src/interfaces/IMarketplace.sol";

/// @notice Drives the Marketplace with valid calls only (fail_on_revert = true): every action
/// bounds its inputs and picks an actor for which the call must succeed, else it returns early.
/// Ghost variables mirror what the contracts must hold.
contract MarketplaceHandler is CommonBase, StdCheats, StdUtils {
    PHDCoin internal immutable coin;
    DataRegistry internal immutable registry;
    Marketplace internal immutable market;
    uint16 internal immutable feeBps;
    uint64 internal immutable deliveryWindow;
    uint64 internal immutable confirmationWindow;

    address[] public buyers;
    bytes[] internal buyerKeys;
    address[] public owners;
    address[] public keepers;
    address[] public validators;
    address public minterAdmin;
    uint256[] public datasetIds;

    enum GhostStatus {
        None,
        Open,
        Settled,
        Refunded
    }

    struct GhostPurchase {
        uint256 datasetId;
        address buyer;
        uint256 price;
        uint8 threshold;
        uint64 createdAt;
        uint64 thresholdReachedAt;
        GhostStatus status;
        uint8 ends; // how many times the purchase ended (must stay ≤ 1)
        bool feeOnly; // grant or free dataset: all of `price` goes to the keepers
        address[] deliverers;
    }

    mapping(uint256 purchaseId => GhostPurchase) internal _ghost;
    uint256[] public purchaseIds;
    mapping(uint256 datasetId => uint256) public keeperCountOf;

    // (a) escrow solvency
    uint256 public ghostDeposited;
    uint256 public ghostRefunded;
    uint256 public ghostWithdrawn;
    uint256 public ghostOpenEscrow;
    uint256 public ghostCredited;
    // (b) exactly-once endings
    uint256 public ghostSettledCount;
    uint256 public ghostRefundedCount;
    uint256 public ghostSecondEndingAccepted;
    // (c) who earned what
    mapping(address => uint256) public ghostEarned;
    mapping(address => uint256) public ghostWithdrawnBy;
    // (d) supply
    uint256 public ghostMinted;

    mapping(bytes32 => uint256) public calls;
    /// @dev The purchase the last action touched (0 if none): checked after every call.
    uint256 public lastTouched;

    constructor(
        PHDCoin coin_,
        DataRegistry registry_,
        Marketplace market_,
        Vm.Wallet[] memory buyerWallets,
        address[] memory owners_,
        address[] memory keepers_,
        address[] memory validators_,
        uint256[] memory datasetIds_
    ) {
        coin = coin_;
        registry = registry_;
        market = market_;
        feeBps = market_.keeperFeeBps();
        deliveryWindow = market_.deliveryWindow();
        confirmationWindow = market_.confirmationWindow();
        for (uint256 i; i < buyerWallets.length; ++i) {
            buyers.push(buyerWallets[i].addr);
            buyerKeys.push(abi.encodePacked(buyerWallets[i].publicKeyX, buyerWallets[i].publicKeyY));
        }
        owners = owners_;
        keepers = keepers_;
        validators = validators_;
        datasetIds = datasetIds_;
        for (uint256 i; i < datasetIds_.length; ++i) {
            keeperCountOf[datasetIds_[i]] = registry_.keepersOf(datasetIds_[i]).length;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Actions
    // ------------------------------------------------------------------------------------------

    function purchase(uint256 buyerSeed, uint256 datasetSeed, uint256 purposeSeed, uint256 slack) external {
        (bool found, uint256 id) = _activeDataset(datasetSeed);
        if (!found) return;
        uint256 bi = buyerSeed % buyers.length;
        address b = buyers[bi];
        (,, uint8 t, uint256 price, uint256 purposes) = registry.purchaseTerms(id);
        uint8 purpose = _consentedPurpose(purposes, purposeSeed);
        bool feeOnly = price == 0;
        if (feeOnly) price = t * market.deliveryFee(); // free data still pays its keepers
        if (coin.balanceOf(b) < price) return; // never happens with the funding, but stay valid
        uint256 maxPrice = price + _bound(slack, 0, 1e18);

        vm.prank(b);
        uint256 pid = market.purchase(id, buyerKeys[bi], purpose, maxPrice);
        _record(pid, id, b, price, t);
        _ghost[pid].feeOnly = feeOnly;
        ghostDeposited += price;
        ghostOpenEscrow += price;
        calls["purchase"]++;
    }

    function grant(uint256 datasetSeed, uint256 granteeSeed, uint256 purposeSeed) external {
        (bool found, uint256 id) = _activeDataset(datasetSeed);
        if (!found) return;
        uint256 bi = granteeSeed % buyers.length;
        (address o,, uint8 t,, uint256 purposes) = registry.purchaseTerms(id);
        uint8 purpose = _consentedPurpose(purposes, purposeSeed);
        uint256 fee = t * market.deliveryFee();
        if (coin.balanceOf(o) < fee) return;
        vm.prank(o);
        uint256 pid = market.grant(id, buyers[bi], buyerKeys[bi], purpose);
        _record(pid, id, buyers[bi], fee, t);
        _ghost[pid].feeOnly = true;
        ghostDeposited += fee;
        ghostOpenEscrow += fee;
        calls["grant"]++;
    }

    /// @dev Delivers 1..8 shares (from distinct listed keepers) for one open purchase.
    function deliverShare(uint256 purchaseSeed, uint256 keeperSeed, uint256 len, uint256 count) external {
        (bool found, uint256 pid) = _deliverablePurchase(purchaseSeed);
        if (!found) return;
        GhostPurchase storage g = _ghost[pid];
        lastTouched = pid;
        address[] memory listed = registry.keepersOf(g.datasetId);
        count = _bound(count, 1, 8);
        len = _bound(len, 1, 1024);
        bool commitOpen = block.timestamp < g.createdAt + market.commitWindow();
        // Commitments first: deliveries need ≥ threshold committed keepers.
        (uint8 committed,) = market.commitState(pid);
        for (uint256 i; i < listed.length && committed < g.threshold && commitOpen; ++i) {
            address keeper = listed[(keeperSeed % listed.length + i) % listed.length];
            if (market.hasCommitted(pid, keeper)) continue;
            vm.prank(keeper);
            market.commit(pid);
            ++committed;
            calls["commit"]++;
        }
        if (committed < g.threshold) return;
        for (uint256 i; i < listed.length && count != 0; ++i) {
            address keeper = listed[(keeperSeed % listed.length + i) % listed.length];
            if (_delivered(g, keeper)) continue;
            if (!market.hasCommitted(pid, keeper)) {
                if (!commitOpen) continue;
                vm.prank(keeper);
                market.commit(pid);
                calls["commit"]++;
            }
            vm.prank(keeper);
            market.deliverShare(pid, new bytes(len));
            g.deliverers.push(keeper);
            if (g.deliverers.length == g.threshold) g.thresholdReachedAt = uint64(block.timestamp);
            calls["deliverShare"]++;
            --count;
        }
    }

    /// @dev Buyers confirm one time in three; otherwise sales wait for `settle` after the window.
    function confirm(uint256 purchaseSeed) external {
        if (_roll(purchaseSeed, 3) != 0) return;
        (bool found, uint256 pid) = _settleablePurchase(purchaseSeed, false);
        if (!found) return;
        GhostPurchase storage g = _ghost[pid];
        vm.prank(g.buyer);
        market.confirm(pid);
        _settleGhost(pid);
        calls["confirm"]++;
    }

    function settle(uint256 purchaseSeed, address caller) external {
        if (_roll(purchaseSeed, 4) == 0) {
            // Adversarial probe: a second ending of a closed purchase must be refused.
            (bool closed, uint256 cpid) = _closedPurchase(purchaseSeed / 4);
            if (!closed) return;
            lastTouched = cpid;
            vm.prank(caller);
            try market.settle(cpid) {
                ghostSecondEndingAccepted++;
            } catch {}
            return;
        }
        (bool found, uint256 pid) = _settleablePurchase(purchaseSeed, true);
        if (!found) return;
        vm.prank(caller);
        market.settle(pid);
        _settleGhost(pid);
        calls["settle"]++;
    }

    function refund(uint256 purchaseSeed) external {
        if (_roll(purchaseSeed, 4) == 0) {
            (bool closed, uint256 cpid) = _closedPurchase(purchaseSeed / 4);
            if (!closed) return;
            lastTouched = cpid;
            vm.prank(_ghost[cpid].buyer);
            try market.refund(cpid) {
                ghostSecondEndingAccepted++;
            } catch {}
            return;
        }
        (bool found, uint256 pid) = _refundablePurchase(purchaseSeed);
        if (!found) return;
        GhostPurchase storage g = _ghost[pid];
        vm.prank(g.buyer);
        market.refund(pid);
        lastTouched = pid;
        g.status = GhostStatus.Refunded;
        g.ends++;
        ghostRefundedCount++;
        ghostRefunded += g.price;
        ghostOpenEscrow -= g.price;
        calls["refund"]++;
    }

    function withdraw(uint256 actorSeed) external {
        address a = _earner(actorSeed);
        uint256 c = market.creditsOf(a);
        if (c == 0) return;
        vm.prank(a);
        market.withdraw();
        ghostWithdrawn += c;
        ghostWithdrawnBy[a] += c;
        calls["withdraw"]++;
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + _bound(secs, 5 minutes, 4 hours));
        calls["warp"]++;
    }

    function setPrice(uint256 datasetSeed, uint256 price) external {
        uint256 id = datasetIds[datasetSeed % datasetIds.length];
        (address o, IDataRegistry.Status st,,,) = registry.purchaseTerms(id);
        if (st == IDataRegistry.Status.Withdrawn) return;
        vm.prank(o);
        registry.setPrice(id, _bound(price, 0, 1_000e18));
        calls["setPrice"]++;
    }

    /// @dev Rare: one call in 32 withdraws consent, so datasets do not all die early.
    function withdrawConsent(uint256 datasetSeed) external {
        if (_roll(datasetSeed, 32) != 0) return;
        uint256 id = datasetIds[(datasetSeed / 32) % datasetIds.length];
        (address o, IDataRegistry.Status st,,,) = registry.purchaseTerms(id);
        if (st == IDataRegistry.Status.Withdrawn) return;
        vm.prank(o);
        registry.withdrawConsent(id);
        calls["withdrawConsent"]++;
    }

    /// @dev Publishes and activates a fresh dataset (keeps the market alive after withdrawals).
    function publish(uint256 ownerSeed, uint256 nSeed, uint256 tSeed, uint256 price) external {
        if (datasetIds.length >= 12) return;
        IDataRegistry.PublishParams memory p = _publishParams(ownerSeed, nSeed, tSeed, price);
        vm.prank(owners[ownerSeed % owners.length]);
        uint256 id = registry.publish(p);
        for (uint256 i; i < p.threshold; ++i) {
            vm.prank(p.keepers[i]);
            registry.acknowledgeShare(id);
        }
        datasetIds.push(id);
        keeperCountOf[id] = p.keepers.length;
        calls["publish"]++;
    }

    function _publishParams(uint256 ownerSeed, uint256 nSeed, uint256 tSeed, uint256 price)
        internal
        returns (IDataRegistry.PublishParams memory p)
    {
        uint256 n = _bound(nSeed, 2, keepers.length);
        uint8 t = uint8(_bound(tSeed, 2, n));
        p.keepers = new address[](n);
        uint256 offset = nSeed % keepers.length;
        for (uint256 i; i < n; ++i) {
            p.keepers[i] = keepers[(offset + i) % keepers.length];
        }
        p.commitments = new bytes[](t);
        for (uint256 j; j < t; ++j) {
            Vm.Wallet memory w = vm.createWallet(uint256(keccak256(abi.encode(datasetIds.length, j))) % 1e70 + 1);
            p.commitments[j] = abi.encodePacked(bytes1(w.publicKeyY & 1 == 0 ? 0x02 : 0x03), bytes32(w.publicKeyX));
        }
        p.threshold = t;
        p.storageUri = "s3://bucket/key";
        p.contentRoot = bytes32(price);
        p.metadata = "{}";
        p.price = _bound(price, 0, 1_000e18);
        p.purposes = (ownerSeed >> 8) % 31 + 1;
    }

    function certify(uint256 datasetSeed, uint256 validatorSeed, uint16 score) external {
        uint256 id = datasetIds[datasetSeed % datasetIds.length];
        address v = validators[validatorSeed % validators.length];
        if (_status(id) != IDataRegistry.Status.Active) return;
        if (registry.isCertifiedBy(id, v) || !market.accessGranted(id, v)) return;
        vm.prank(v);
        registry.certify(id, uint16(_bound(score, 0, 10_000)), "model", "report", "uri");
        calls["certify"]++;
    }

    // ------------------------------------------------------------------------------------------
    // Views for the invariants
    // ------------------------------------------------------------------------------------------

    function purchaseCount() external view returns (uint256) {
        return purchaseIds.length;
    }

    function ghostStatus(uint256 pid) external view returns (GhostStatus, uint8 ends) {
        return (_ghost[pid].status, _ghost[pid].ends);
    }

    function ghostDeliverers(uint256 pid) external view returns (address[] memory) {
        return _ghost[pid].deliverers;
    }

    function earners() public view returns (address[] memory out) {
        out = new address[](owners.length + keepers.length);
        for (uint256 i; i < owners.length; ++i) {
            out[i] = owners[i];
        }
        for (uint256 i; i < keepers.length; ++i) {
            out[owners.length + i] = keepers[i];
        }
    }

    function buyerCount() external view returns (uint256) {
        return buyers.length;
    }

    function validatorCount() external view returns (uint256) {
        return validators.length;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _record(uint256 pid, uint256 id, address b, uint256 price, uint8 t) internal {
        GhostPurchase storage g = _ghost[pid];
        g.datasetId = id;
        g.buyer = b;
        g.price = price;
        g.threshold = t;
        g.createdAt = uint64(block.timestamp);
        g.status = GhostStatus.Open;
        purchaseIds.push(pid);
        lastTouched = pid;
    }

    /// @dev Mirrors the fee rule from the ghost list of deliverers (not from contract state).
    function _settleGhost(uint256 pid) internal {
        lastTouched = pid;
        GhostPurchase storage g = _ghost[pid];
        g.status = GhostStatus.Settled;
        g.ends++;
        ghostSettledCount++;
        ghostOpenEscrow -= g.price;
        ghostCredited += g.price;
        uint256 k = g.deliverers.length;
        uint256 each = g.price * (g.feeOnly ? 10_000 : feeBps) / 10_000 / k;
        for (uint256 i; i < k; ++i) {
            ghostEarned[g.deliverers[i]] += each;
        }
        (address o,,,,) = registry.purchaseTerms(g.datasetId);
        ghostEarned[o] += g.price - each * k;
    }

    /// @dev Uniform-ish die roll immune to the fuzzer's bias towards 0 and small values.
    function _roll(uint256 seed, uint256 sides) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed))) % sides;
    }

    function _status(uint256 id) internal view returns (IDataRegistry.Status status) {
        (, status,,,) = registry.purchaseTerms(id);
    }

    function _delivered(GhostPurchase storage g, address k) internal view returns (bool) {
        for (uint256 i; i < g.deliverers.length; ++i) {
            if (g.deliverers[i] == k) return true;
        }
        return false;
    }

    function _activeDataset(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = datasetIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 id = datasetIds[(seed % n + i) % n];
            if (_status(id) == IDataRegistry.Status.Active) return (true, id);
        }
        return (false, 0);
    }

    function _consentedPurpose(uint256 mask, uint256 seed) internal pure returns (uint8) {
        for (uint256 i; i < 256; ++i) {
            uint8 p = uint8((seed % 256 + i) % 256);
            if ((mask >> p) & 1 == 1) return p;
        }
        revert("no purpose"); // unreachable: masks are non-zero
    }

    function _openPurchase(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = purchaseIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 pid = purchaseIds[(seed % n + i) % n];
            if (_ghost[pid].status == GhostStatus.Open) return (true, pid);
        }
        return (false, 0);
    }

    /// @dev An open purchase still inside its delivery window, on a non-withdrawn dataset, with
    /// at least one listed keeper that has not delivered yet.
    function _deliverablePurchase(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = purchaseIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 pid = purchaseIds[(seed % n + i) % n];
            GhostPurchase storage g = _ghost[pid];
            if (g.status != GhostStatus.Open || block.timestamp >= g.createdAt + deliveryWindow) continue;
            if (_status(g.datasetId) != IDataRegistry.Status.Active) continue;
            if (g.deliverers.length == keeperCountOf[g.datasetId]) continue;
            return (true, pid);
        }
        return (false, 0);
    }

    /// @dev An open purchase with ≥ threshold deliveries (and, if `windowPassed`, whose
    /// confirmation window has passed).
    function _settleablePurchase(uint256 seed, bool windowPassed) internal view returns (bool, uint256) {
        uint256 n = purchaseIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 pid = purchaseIds[(seed % n + i) % n];
            GhostPurchase storage g = _ghost[pid];
            if (g.status != GhostStatus.Open || g.deliverers.length < g.threshold) continue;
            if (windowPassed && block.timestamp < g.thresholdReachedAt + confirmationWindow) continue;
            return (true, pid);
        }
        return (false, 0);
    }

    /// @dev An open purchase the buyer may take back: late with < threshold shares, or consent withdrawn.
    function _refundablePurchase(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = purchaseIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 pid = purchaseIds[(seed % n + i) % n];
            GhostPurchase storage g = _ghost[pid];
            if (g.status != GhostStatus.Open) continue;
            if (g.deliverers.length >= g.threshold) continue; // never refunded after t shares
            bool late = block.timestamp >= g.createdAt + deliveryWindow;
            if (late || _status(g.datasetId) == IDataRegistry.Status.Withdrawn) return (true, pid);
        }
        return (false, 0);
    }

    function _closedPurchase(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = purchaseIds.length;
        for (uint256 i; i < n; ++i) {
            uint256 pid = purchaseIds[(seed % n + i) % n];
            if (_ghost[pid].status != GhostStatus.Open) return (true, pid);
        }
        return (false, 0);
    }

    function _earner(uint256 seed) internal view returns (address) {
        uint256 total = owners.length + keepers.length;
        uint256 i = seed % total;
        return i < owners.length ? owners[i] : keepers[i - owners.length];
    }
}
