// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {CommonBase} from "forge-std/Base.sol";
import {StdCheats} from "forge-std/StdCheats.sol";
import {StdUtils} from "forge-std/StdUtils.sol";
import {Vm} from "forge-std/Vm.sol";
import {PHDCoin} from "../../../src/PHDCoin.sol";
import {KeeperRegistry} from "../../../src/KeeperRegistry.sol";
import {DataRegistry} from "../../../src/DataRegistry.sol";
import {Marketplace} from "../../../src/Marketplace.sol";
import {IDataRegistry} from "../../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../../src/interfaces/IKeeperRegistry.sol";
import {IMarketplace} from "../../../src/interfaces/IMarketplace.sol";

/// @notice Adversarial handler (issue 10): random actors — honest and Sybil owners, keepers and
/// validators, buyers, strangers — call every entry point with random arguments. Calls that the
/// rules forbid must revert with a named custom error (recorded, never a panic or an empty
/// revert); calls that succeed are checked against the rules at the moment they happen
/// (violations are counted and asserted to be zero by the invariant test). Also: token donations
/// to every contract, keeper exits and re-registrations, slashing attempts.
contract TrustHandler is CommonBase, StdCheats, StdUtils {
    PHDCoin internal immutable coin;
    KeeperRegistry internal immutable kr;
    DataRegistry internal immutable registry;
    Marketplace internal immutable market;

    /// @dev Everybody who can act; wallets so that any of them can be a buyer or grantee.
    Vm.Wallet[] internal wallets;
    uint256[] public datasetIds;
    uint256 public purchaseCount;

    // Donations (tokens sent directly, owed to nobody).
    uint256 public donatedMarket;
    uint256 public donatedRegistry;
    uint256 public donatedKeeperRegistry;
    uint256 public rewardsPaid;

    // Rule violations observed by the handler (all must stay 0).
    uint256 public badReward; // reward paid to a dataset whose certifier was not independent/staked/granted
    uint256 public refundAfterThreshold; // refund accepted with ≥ t shares delivered
    uint256 public deliveryWithoutCommitments; // delivery accepted with < t commitments
    uint256 public slashOfDeliverer; // a keeper that delivered was slashed
    uint256 public unexpectedRevert; // a panic or an unnamed revert
    uint256 public disputedKeeperPaid; // a keeper proven wrong was credited at settlement
    uint256 public goodCountMismatch; // delivered count != deliveries − successful disputes
    uint256 public falseFraudProof; // an owner-fraud proof accepted against an honest listing
    uint256 public fraudProofWithoutShares; // an owner-fraud proof accepted before t good shares
    uint256 public badBondReclaim; // a bond reclaimed while the listing was not withdrawn

    // Listing bonds leaving the registry (or moving into its pool).
    uint256 public bondsReclaimed;
    uint256 public bondsToBuyers;
    uint256 public bondsToPool;
    uint256 public bondsToKeepers;
    uint256 public keeperBondPayMismatch; // keepers credited ≠ the bond's keeper part after a proof

    /// @notice A fraudulent and an honest listing under one secret, and their evidence.
    struct FraudFixture {
        uint256 fraudId;
        uint256 honestId;
        uint256 secret;
        bytes fraudHeader;
        bytes honestHeader;
        uint64 chunks;
        uint64 plaintextLen;
        bytes32 treeRoot;
    }

    FraudFixture internal _fraud;

    // Per purchase: the delivery log (for disputes), the payload of each share index, the
    // deliveries still counting, and the keepers proven wrong.
    mapping(uint256 => bytes32[]) internal _log;
    mapping(uint256 => mapping(uint8 => bytes)) internal _payload;
    mapping(uint256 => uint256) public ghostGood;
    mapping(uint256 => address[]) internal _disputed;

    mapping(bytes32 => uint256) public calls;
    mapping(bytes4 => uint256) public namedReverts;

    constructor(
        PHDCoin coin_,
        KeeperRegistry kr_,
        DataRegistry registry_,
        Marketplace market_,
        Vm.Wallet[] memory wallets_,
        uint256[] memory datasetIds_
    ) {
        coin = coin_;
        kr = kr_;
        registry = registry_;
        market = market_;
        for (uint256 i; i < wallets_.length; ++i) {
            wallets.push(wallets_[i]);
        }
        datasetIds = datasetIds_;
    }

    /// @dev Set once by the test's setUp; a no-op for the fuzzer afterwards.
    function setFraudFixture(FraudFixture calldata f) external {
        if (_fraud.fraudId != 0) return;
        _fraud = f;
    }

    function honestId() external view returns (uint256) {
        return _fraud.honestId;
    }

    // ------------------------------------------------------------------------------------------
    // Actions
    // ------------------------------------------------------------------------------------------

    /// @dev The buyer (or anyone) submits an owner-fraud proof: the true one, the honest
    /// listing's header, a wrong secret, or tampered evidence. Only a true proof after t good
    /// shares may succeed, and only against the fraudulent listing.
    function proveOwnerFraud(uint256 actorSeed, uint256 purchaseSeed, uint256 variant) external {
        uint256 pid = _purchase(purchaseSeed);
        FraudFixture memory f = _fraud;
        variant %= 5;
        bytes memory header = variant == 1 ? f.honestHeader : f.fraudHeader;
        uint256 secret = variant == 2 ? f.secret + 1 : f.secret;
        bytes32 tree = variant == 3 ? bytes32(uint256(f.treeRoot) ^ 1) : f.treeRoot;
        uint64 chunks = variant == 4 ? f.chunks + 1 : f.chunks;
        ProofSnapshot memory snap = _proofSnapshot(pid);
        vm.prank(_actorFor(actorSeed, pid));
        try market.proveOwnerFraud(pid, secret, header, chunks, f.plaintextLen, tree) returns (uint256, uint256 bond) {
            _afterProof(pid, snap, bond);
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev What a successful owner-fraud proof is checked against.
    struct ProofSnapshot {
        IMarketplace.Purchase purchase;
        uint256 pool;
        uint256 bond;
        uint256 credits;
        uint256[] disputedCredits;
    }

    function _proofSnapshot(uint256 pid) internal view returns (ProofSnapshot memory snap) {
        if (pid != 0 && pid <= market.purchaseCount()) {
            snap.purchase = market.getPurchase(pid);
            snap.disputedCredits = _disputedCredits(pid);
        }
        snap.pool = registry.rewardPool();
        snap.bond = registry.listingBondOf(_fraud.fraudId);
        snap.credits = market.totalCredits();
    }

    function _afterProof(uint256 pid, ProofSnapshot memory snap, uint256 bond) internal {
        if (snap.purchase.datasetId != _fraud.fraudId) falseFraudProof++;
        if (snap.purchase.delivered < snap.purchase.threshold) fraudProofWithoutShares++;
        uint256 toPool = registry.rewardPool() - snap.pool;
        // Only this proof credits anyone in this call: the rise of the Marketplace's credits is
        // what the keepers got, and it must be the bond's part not paid to the buyer or the pool.
        uint256 toKeepers = market.totalCredits() - snap.credits;
        if (toKeepers + bond + toPool != snap.bond) keeperBondPayMismatch++;
        bondsToBuyers += bond;
        bondsToPool += toPool;
        bondsToKeepers += toKeepers;
        _checkDisputedNotPaid(pid, snap.disputedCredits);
        calls["proveOwnerFraud"]++;
    }

    /// @dev A whole sale of the fraudulent (or the honest) listing ending in a proof attempt, so
    /// that true proofs happen in most runs, not only when the random calls line up.
    function buyServeProve(uint256 actorSeed, uint256 variant) external {
        Vm.Wallet memory w = _wallet(actorSeed);
        uint256 id = variant % 3 == 0 ? _fraud.honestId : _fraud.fraudId;
        vm.prank(w.addr);
        try market.purchase(id, _pubKey(w), 1, type(uint256).max) returns (uint256 pid) {
            purchaseCount++;
            calls["purchase"]++;
            serve(pid, type(uint256).max);
            this.proveOwnerFraud((actorSeed % 1000) * 3 + 1, 0, variant / 3);
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev Any actor (mostly the owner) tries to take a listing bond back.
    function reclaimListingBond(uint256 actorSeed, uint256 datasetSeed) external {
        uint256 id = _dataset(datasetSeed);
        address caller = _wallet(actorSeed).addr;
        if (actorSeed % 4 != 0 && id <= registry.datasetCount()) caller = registry.dataset(id).owner;
        vm.prank(caller);
        try registry.reclaimListingBond(id) returns (uint256 amount) {
            if (registry.dataset(id).status != IDataRegistry.Status.Withdrawn) badBondReclaim++;
            bondsReclaimed += amount;
            calls["reclaimListingBond"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function purchase(uint256 actorSeed, uint256 datasetSeed, uint8 purpose, uint256 maxPrice) external {
        Vm.Wallet memory w = _wallet(actorSeed);
        uint256 id = _dataset(datasetSeed);
        maxPrice = maxPrice % 4 == 0 ? _bound(maxPrice, 0, 200e18) : type(uint256).max;
        vm.prank(w.addr);
        try market.purchase(id, _pubKey(w), purpose % 7, maxPrice) {
            purchaseCount++;
            calls["purchase"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function grant(uint256 actorSeed, uint256 granteeSeed, uint256 datasetSeed, uint8 purpose) external {
        Vm.Wallet memory g = _wallet(granteeSeed);
        uint256 id = _dataset(datasetSeed);
        address caller = _wallet(actorSeed).addr;
        if (actorSeed % 4 != 0 && id <= registry.datasetCount()) caller = registry.dataset(id).owner;
        vm.prank(caller);
        try market.grant(id, g.addr, _pubKey(g), purpose % 7) {
            purchaseCount++;
            calls["grant"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function commit(uint256 actorSeed, uint256 purchaseSeed) external {
        uint256 pid = _purchase(purchaseSeed);
        vm.prank(_wallet(actorSeed).addr);
        try market.commit(pid) {
            calls["commit"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev Any actor tries to deliver to any purchase; a success must have ≥ t commitments.
    function deliverShare(uint256 actorSeed, uint256 purchaseSeed, uint256 len) external {
        uint256 pid = _purchase(purchaseSeed);
        address a = _wallet(actorSeed).addr;
        bytes memory pl = new bytes(_bound(len, 0, 1100));
        vm.prank(a);
        try market.deliverShare(pid, pl) {
            _recordDelivery(pid, a, pl);
            (uint8 committed,) = market.commitState(pid);
            if (committed < market.getPurchase(pid).threshold) deliveryWithoutCommitments++;
            calls["deliverShare"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev Listed keepers of an open purchase commit and deliver (keeps sales completing).
    function serve(uint256 purchaseSeed, uint256 count) public {
        uint256 pid = count == type(uint256).max ? purchaseSeed : _purchase(purchaseSeed);
        if (pid == 0 || pid > market.purchaseCount()) return;
        IMarketplace.Purchase memory p = market.getPurchase(pid);
        address[] memory ks = registry.keepersOf(p.datasetId);
        count = count == type(uint256).max ? ks.length : _bound(count, 1, ks.length);
        for (uint256 i; i < ks.length; ++i) {
            if (!market.hasCommitted(pid, ks[i])) {
                vm.prank(ks[i]);
                try market.commit(pid) {}
                    catch (bytes memory err) {
                    _expected(err);
                }
            }
        }
        for (uint256 i; i < count; ++i) {
            vm.prank(ks[i]);
            try market.deliverShare(pid, hex"02") {
                _recordDelivery(pid, ks[i], hex"02");
                calls["serve"]++;
            } catch (bytes memory err) {
                _expected(err);
            }
        }
    }

    function confirm(uint256 actorSeed, uint256 purchaseSeed) external {
        uint256 pid = _purchase(purchaseSeed);
        uint256[] memory before = _disputedCredits(pid);
        vm.prank(_actorFor(actorSeed, pid));
        try market.confirm(pid) {
            _checkDisputedNotPaid(pid, before);
            calls["confirm"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function settle(uint256 actorSeed, uint256 purchaseSeed) external {
        uint256 pid = _purchase(purchaseSeed);
        uint256[] memory before = _disputedCredits(pid);
        vm.prank(_wallet(actorSeed).addr);
        try market.settle(pid) {
            _checkDisputedNotPaid(pid, before);
            calls["settle"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev Anyone tries to refund; a success with ≥ t delivered shares is a violation.
    function refund(uint256 actorSeed, uint256 purchaseSeed) external {
        uint256 pid = _purchase(purchaseSeed);
        uint8 deliveredBefore;
        uint8 threshold;
        if (pid != 0 && pid <= market.purchaseCount()) {
            IMarketplace.Purchase memory p = market.getPurchase(pid);
            (deliveredBefore, threshold) = (p.delivered, p.threshold);
        }
        vm.prank(_actorFor(actorSeed, pid));
        try market.refund(pid) {
            if (deliveredBefore >= threshold) refundAfterThreshold++;
            calls["refund"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function slashNonDelivery(uint256 actorSeed, uint256 keeperSeed, uint256 purchaseSeed) external {
        uint256 pid = _purchase(purchaseSeed);
        address k = _wallet(keeperSeed).addr;
        bool delivered = pid != 0 && pid <= market.purchaseCount() && market.hasDelivered(pid, k);
        vm.prank(_wallet(actorSeed).addr);
        try market.slashNonDelivery(pid, k) {
            if (delivered) slashOfDeliverer++;
            calls["slash"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev Any actor certifies any dataset; a paid reward must come from a certifier that was
    /// staked, independent and granted at that moment.
    function certify(uint256 actorSeed, uint256 datasetSeed, uint16 score) external {
        address v = actorSeed % 2 == 0 ? _validator(actorSeed / 2) : _wallet(actorSeed).addr;
        _certify(v, _dataset(datasetSeed), score);
    }

    function _certify(address v, uint256 id, uint16 score) internal {
        bool eligible = kr.isValidator(v) && market.accessGranted(id, v) && registry.shareIndexOf(id, v) == 0;
        if (id != 0 && id <= registry.datasetCount()) eligible = eligible && registry.dataset(id).owner != v;
        uint256 poolBefore = registry.rewardPool();
        vm.prank(v);
        try registry.certify(id, uint16(_bound(score, 0, 10_001)), "m", "r", "u") {
            uint256 paid = poolBefore - registry.rewardPool();
            rewardsPaid += paid;
            if (!eligible) badReward++;
            calls["certify"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev A whole farming attempt: the dataset's owner grants a validator (often its own
    /// Sybil), the keepers serve, the grantee confirms and certifies.
    function farm(uint256 validatorSeed, uint256 datasetSeed, uint16 score) external {
        uint256 id = _dataset(datasetSeed);
        if (id > registry.datasetCount()) return;
        Vm.Wallet memory v = wallets[_validatorIndex(validatorSeed)];
        vm.prank(registry.dataset(id).owner);
        try market.grant(id, v.addr, _pubKey(v), 2) returns (uint256 pid) {
            purchaseCount++;
            serve(pid, type(uint256).max);
            vm.prank(v.addr);
            try market.confirm(pid) {
                calls["confirm"]++;
            }
                catch (bytes memory err) {
                _expected(err);
            }
        } catch (bytes memory err) {
            _expected(err);
        }
        _certify(v.addr, id, score);
        calls["farm"]++;
    }

    /// @dev The buyer (or anyone) disputes a delivered share. The handler's payloads are all
    /// malformed (provably wrong without a proof), so disputes by the buyer succeed once per share.
    function dispute(uint256 actorSeed, uint256 purchaseSeed, uint8 index) external {
        uint256 pid = _purchase(purchaseSeed);
        uint256 bits = pid != 0 && pid <= market.purchaseCount() ? market.deliveredBitmap(pid) : 0;
        if (bits != 0 && index % 8 != 0) {
            // Mostly a delivered share: the (index mod count)-th set bit.
            uint256 k = index % 32;
            for (uint8 i = 1;; i = i % 32 + 1) {
                if ((bits >> (i - 1)) & 1 == 1) {
                    if (k == 0) {
                        index = i;
                        break;
                    }
                    --k;
                }
            }
        } else {
            index = uint8(_bound(index, 1, 32));
        }
        Vm.Wallet memory w = _wallet(actorSeed);
        if (actorSeed % 4 != 0 && pid != 0 && pid <= market.purchaseCount()) {
            address b = market.getPurchase(pid).buyer;
            for (uint256 i; i < wallets.length; ++i) {
                if (wallets[i].addr == b) w = wallets[i];
            }
        }
        uint8 goodBefore = pid != 0 && pid <= market.purchaseCount() ? market.getPurchase(pid).delivered : 0;
        vm.prank(w.addr);
        try market.dispute(pid, index, _payload[pid][index], _pubKey(w), _log[pid], "") {
            ghostGood[pid]--;
            if (market.getPurchase(pid).delivered + 1 != goodBefore) goodCountMismatch++;
            (, address[] memory ks) = registry.settlementParties(market.getPurchase(pid).datasetId, 1 << (index - 1));
            _disputed[pid].push(ks[0]);
            calls["dispute"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function withdraw(uint256 actorSeed) external {
        vm.prank(_wallet(actorSeed).addr);
        try market.withdraw() {
            calls["withdraw"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    /// @dev Keepers/validators ask to leave, withdraw, or come back (with a new stake).
    function churn(uint256 actorSeed, uint256 op) external {
        Vm.Wallet memory w = _wallet(actorSeed);
        op = op % 3;
        vm.startPrank(w.addr);
        if (op == 0) {
            try kr.deregister() {
                calls["deregister"]++;
            }
                catch (bytes memory err) {
                _expected(err);
            }
        } else if (op == 1) {
            try kr.withdrawStake() {
                calls["withdrawStake"]++;
            }
                catch (bytes memory err) {
                _expected(err);
            }
        } else {
            uint256 stake = kr.MIN_STAKE();
            if (coin.balanceOf(w.addr) >= stake) {
                coin.approve(address(kr), stake);
                bytes memory proof = _keyProof(w);
                IKeeperRegistry.Role role =
                    actorSeed % 2 == 0 ? IKeeperRegistry.Role.Keeper : IKeeperRegistry.Role.Validator;
                try kr.register(role, _compressed(w), "https://x", stake, proof) {
                    calls["register"]++;
                } catch (bytes memory err) {
                    _expected(err);
                }
            }
        }
        vm.stopPrank();
    }

    /// @dev Tokens sent straight to a contract: owed to nobody, must not break any accounting.
    function donate(uint256 actorSeed, uint256 target, uint256 amount) external {
        address a = _wallet(actorSeed).addr;
        amount = _bound(amount, 0, coin.balanceOf(a) / 100);
        target = target % 3;
        address to = target == 0 ? address(market) : target == 1 ? address(registry) : address(kr);
        vm.prank(a);
        require(coin.transfer(to, amount));
        if (target == 0) donatedMarket += amount;
        else if (target == 1) donatedRegistry += amount;
        else donatedKeeperRegistry += amount;
        calls["donate"]++;
    }

    function withdrawConsent(uint256 actorSeed, uint256 datasetSeed) external {
        if (uint256(keccak256(abi.encode(actorSeed))) % 16 != 0) return; // rare
        vm.prank(_wallet(actorSeed).addr);
        try registry.withdrawConsent(_dataset(datasetSeed)) {
            calls["withdrawConsent"]++;
        } catch (bytes memory err) {
            _expected(err);
        }
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + _bound(secs, 1 minutes, 8 hours));
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    function walletCount() external view returns (uint256) {
        return wallets.length;
    }

    function walletAt(uint256 i) external view returns (address) {
        return wallets[i].addr;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Reverts the rules allow are named custom errors; a panic or an empty revert is a bug.
    function _expected(bytes memory err) internal {
        if (err.length < 4) {
            unexpectedRevert++;
            return;
        }
        bytes4 sel = bytes4(err);
        if (sel == 0x4e487b71 || sel == 0x08c379a0) unexpectedRevert++; // Panic(uint256), Error(string)
        namedReverts[sel]++;
    }

    function _recordDelivery(uint256 pid, address keeper, bytes memory pl) internal {
        uint8 index = registry.shareIndexOf(market.getPurchase(pid).datasetId, keeper);
        _payload[pid][index] = pl;
        _log[pid].push(keccak256(abi.encodePacked(index, keccak256(pl))));
        ghostGood[pid]++;
        if (market.getPurchase(pid).delivered != ghostGood[pid]) goodCountMismatch++;
    }

    function _disputedCredits(uint256 pid) internal view returns (uint256[] memory c) {
        address[] storage d = _disputed[pid];
        c = new uint256[](d.length);
        for (uint256 i; i < d.length; ++i) {
            c[i] = market.creditsOf(d[i]);
        }
    }

    /// @dev No keeper proven wrong for `pid` was credited by its settlement (a keeper may be
    /// proven wrong on one share and... it has one share per dataset, so any credit is a payment).
    function _checkDisputedNotPaid(uint256 pid, uint256[] memory before) internal {
        address[] storage d = _disputed[pid];
        for (uint256 i; i < d.length; ++i) {
            if (market.creditsOf(d[i]) != before[i]) disputedKeeperPaid++;
        }
    }

    /// @dev The purchase's buyer two times in three, else anybody.
    function _actorFor(uint256 seed, uint256 pid) internal view returns (address) {
        if (seed % 3 != 0 && pid != 0 && pid <= market.purchaseCount()) return market.getPurchase(pid).buyer;
        return _wallet(seed).addr;
    }

    /// @dev Wallet index of a validator (honest 4, 5; Sybil 16, 17 — see the invariant test's setUp).
    function _validatorIndex(uint256 seed) internal pure returns (uint256) {
        uint256[4] memory idx = [uint256(4), 5, 16, 17];
        return idx[seed % 4];
    }

    function _validator(uint256 seed) internal view returns (address) {
        return wallets[_validatorIndex(seed)].addr;
    }

    function _wallet(uint256 seed) internal view returns (Vm.Wallet memory) {
        return wallets[seed % wallets.length];
    }

    /// @dev A known dataset id, or now and then an unknown one.
    function _dataset(uint256 seed) internal view returns (uint256) {
        if (seed % 17 == 16) return seed % 1000 + 100;
        return datasetIds[seed % datasetIds.length];
    }

    /// @dev A recent purchase id, or now and then an unknown one.
    function _purchase(uint256 seed) internal view returns (uint256) {
        uint256 n = market.purchaseCount();
        if (n == 0 || seed % 13 == 12) return seed % 1000 + 500;
        return n - (seed % (n < 8 ? n : 8));
    }

    function _pubKey(Vm.Wallet memory w) internal pure returns (bytes memory) {
        return abi.encodePacked(w.publicKeyX, w.publicKeyY);
    }

    function _compressed(Vm.Wallet memory w) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes1(w.publicKeyY & 1 == 0 ? 0x02 : 0x03), bytes32(w.publicKeyX));
    }

    function _keyProof(Vm.Wallet memory w) internal view returns (bytes memory) {
        bytes32 digest = keccak256(abi.encode(kr.KEY_PROOF_TAG(), block.chainid, address(kr), w.addr));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(w.privateKey, digest);
        return abi.encodePacked(r, s, v);
    }
}
