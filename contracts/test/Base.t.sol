// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "forge-std/Test.sol";
import {PHDCoin} from "../src/PHDCoin.sol";
import {KeeperRegistry} from "../src/KeeperRegistry.sol";
import {DataRegistry} from "../src/DataRegistry.sol";
import {Marketplace} from "../src/Marketplace.sol";
import {IKeeperRegistry} from "../src/interfaces/IKeeperRegistry.sol";
import {IDataRegistry} from "../src/interfaces/IDataRegistry.sol";
import {IMarketplace} from "../src/interfaces/IMarketplace.sol";
import {Purposes} from "../src/Purposes.sol";

/// @notice Deployment fixtures and helpers shared by unit, fuzz, gas and invariant tests.
abstract contract Base is Test {
    uint256 internal constant UNIT = 1e18;
    uint256 internal constant INITIAL_SUPPLY = 1_000_000 * UNIT;
    uint256 internal constant REWARD = 10 * UNIT;
    uint256 internal constant SUPPLY_CAP = 1e36; // room for the fuzzers' mints
    uint48 internal constant ADMIN_DELAY = 2 days;
    uint16 internal constant FEE_BPS = 1_000; // 10 %
    uint64 internal constant DELIVERY_WINDOW = 3 days;
    uint64 internal constant CONFIRMATION_WINDOW = 2 days;
    uint256 internal constant PRICE = 100 * UNIT;
    uint256 internal constant N_KEEPERS = 5;
    uint8 internal constant THRESHOLD = 3;
    uint256 internal constant ALL_PURPOSES = 0x1f;
    uint256 internal constant MIN_STAKE = 1_000 * UNIT;
    uint64 internal constant UNBONDING_DELAY = 14 days;
    uint16 internal constant MIN_SCORE = 5_000;
    uint8 internal constant MIN_CERTS = 2;
    uint256 internal constant REWARD_BUDGET = 1_000 * UNIT;
    uint256 internal constant DELIVERY_FEE = 1 * UNIT;
    uint256 internal constant LISTING_BOND = 50 * UNIT;
    /// @dev What the `owner` fixture holds for listing bonds at the start (see `ownerEarnings`).
    uint256 internal constant OWNER_BOND_FLOAT = 100 * LISTING_BOND;
    string internal constant ENDPOINT = "https://keeper.example/api";
    string internal constant STORAGE_URI = "s3://phd-data/datasets/0001.sealed";
    bytes32 internal constant CONTENT_ROOT = keccak256("content root");
    bytes32 internal constant TERMS_HASH = keccak256("consent terms v1");

    address internal admin = makeAddr("admin");
    address internal treasury = makeAddr("treasury");
    address internal stranger = makeAddr("stranger");

    Vm.Wallet internal ownerW;
    Vm.Wallet internal buyerW;
    Vm.Wallet internal buyer2W;
    Vm.Wallet internal validatorW;
    Vm.Wallet internal validator2W;
    Vm.Wallet[] internal keeperWs;

    address internal owner;
    address internal buyer;
    address internal buyer2;
    address internal validator;
    address internal validator2;
    address[] internal keepers;

    PHDCoin internal coin;
    KeeperRegistry internal keeperRegistry;
    DataRegistry internal registry;
    Marketplace internal market;

    function setUp() public virtual {
        ownerW = vm.createWallet("owner");
        buyerW = vm.createWallet("buyer");
        buyer2W = vm.createWallet("buyer2");
        validatorW = vm.createWallet("validator");
        validator2W = vm.createWallet("validator2");
        owner = ownerW.addr;
        buyer = buyerW.addr;
        buyer2 = buyer2W.addr;
        validator = validatorW.addr;
        validator2 = validator2W.addr;
        for (uint256 i; i < 8; ++i) {
            Vm.Wallet memory w = vm.createWallet(string.concat("keeper", vm.toString(i)));
            keeperWs.push(w);
            keepers.push(w.addr);
        }

        vm.startPrank(admin);
        coin = new PHDCoin(admin, ADMIN_DELAY, treasury, INITIAL_SUPPLY, SUPPLY_CAP);
        keeperRegistry = new KeeperRegistry(admin, coin, MIN_STAKE, UNBONDING_DELAY);
        registry = new DataRegistry(coin, keeperRegistry, REWARD, MIN_SCORE, MIN_CERTS, LISTING_BOND);
        (uint64 dw, uint64 cw) = marketWindows();
        market = new Marketplace(address(coin), address(registry), FEE_BPS, dw, cw, DELIVERY_FEE);
        keeperRegistry.setMarketplace(address(market));
        vm.stopPrank();

        vm.startPrank(treasury);
        coin.approve(address(registry), REWARD_BUDGET);
        registry.fundRewards(REWARD_BUDGET);
        vm.stopPrank();

        vm.label(address(coin), "PHDCoin");
        vm.label(address(keeperRegistry), "KeeperRegistry");
        vm.label(address(registry), "DataRegistry");
        vm.label(address(market), "Marketplace");

        for (uint256 i; i < keeperWs.length; ++i) {
            registerNode(keeperWs[i], IKeeperRegistry.Role.Keeper);
        }
        registerNode(validatorW, IKeeperRegistry.Role.Validator);
        registerNode(validator2W, IKeeperRegistry.Role.Validator);

        fund(buyer, 10_000 * UNIT);
        fund(buyer2, 10_000 * UNIT);
        fundBonds(owner, OWNER_BOND_FLOAT);
    }

    /// @dev Gives `who` PHD for listing bonds and approves the DataRegistry to take them.
    function fundBonds(address who, uint256 amount) internal {
        vm.prank(treasury);
        coin.transfer(who, amount);
        vm.prank(who);
        coin.approve(address(registry), type(uint256).max);
    }

    /// @dev What the `owner` fixture earned: its balance less the bond float, with every listing
    /// bond posted so far (all by `owner` in the tests that use this) counted back.
    function ownerEarnings() internal view returns (uint256) {
        return coin.balanceOf(owner) + LISTING_BOND * registry.datasetCount() - OWNER_BOND_FLOAT;
    }

    /// @dev Delivery and confirmation windows of the `market` fixture (overridden by the invariant tests).
    function marketWindows() internal pure virtual returns (uint64, uint64) {
        return (DELIVERY_WINDOW, CONFIRMATION_WINDOW);
    }

    // ------------------------------------------------------------------------------------------
    // Keys
    // ------------------------------------------------------------------------------------------

    /// @dev 33-byte SEC1 compressed public key of a wallet.
    function compressed(Vm.Wallet memory w) internal pure returns (bytes memory) {
        return compressedXY(w.publicKeyX, w.publicKeyY);
    }

    function compressedXY(uint256 x, uint256 y) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes1(y & 1 == 0 ? 0x02 : 0x03), bytes32(x));
    }

    /// @dev 64-byte uncompressed public key without prefix (x ‖ y).
    function pubKey(Vm.Wallet memory w) internal pure returns (bytes memory) {
        return abi.encodePacked(w.publicKeyX, w.publicKeyY);
    }

    /// @dev Public key of the private key `pk` (as Marketplace expects it).
    function pubKeyOf(uint256 pk) internal returns (bytes memory key, address addr) {
        Vm.Wallet memory w = vm.createWallet(pk);
        return (pubKey(w), w.addr);
    }

    /// @dev t valid Feldman-style commitments (valid compressed points: k·G for k = seed + j).
    function commitments(uint256 t, uint256 seed) internal returns (bytes[] memory out) {
        out = new bytes[](t);
        for (uint256 j; j < t; ++j) {
            Vm.Wallet memory w = vm.createWallet(seed + j + 1);
            out[j] = compressed(w);
        }
    }

    /// @dev 65-byte proof that `keyW`'s private key signs for `account` (r ‖ s ‖ v).
    function keyProof(Vm.Wallet memory keyW, address account) internal view returns (bytes memory) {
        return keyProofFor(address(keeperRegistry), keyW, account);
    }

    function keyProofFor(address kr, Vm.Wallet memory keyW, address account) internal view returns (bytes memory) {
        // Computed locally (no external call, so it does not consume a pending prank/expectRevert).
        bytes32 digest =
            keccak256(abi.encode(keccak256("PHD exchange KeeperRegistry key proof v1"), block.chainid, kr, account));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyW.privateKey, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Funds `w` with MIN_STAKE from the treasury, approves the registry and registers with
    /// its own key as encryption key.
    function registerNode(Vm.Wallet memory w, IKeeperRegistry.Role role) internal {
        vm.prank(treasury);
        coin.transfer(w.addr, MIN_STAKE);
        vm.startPrank(w.addr);
        coin.approve(address(keeperRegistry), MIN_STAKE);
        keeperRegistry.register(role, compressed(w), ENDPOINT, MIN_STAKE, keyProof(w, w.addr));
        vm.stopPrank();
    }

    // ------------------------------------------------------------------------------------------
    // Fixtures
    // ------------------------------------------------------------------------------------------

    function fund(address who, uint256 amount) internal {
        vm.prank(treasury);
        coin.transfer(who, amount);
        vm.prank(who);
        coin.approve(address(market), type(uint256).max);
    }

    /// @dev Mints fresh PHD (the test contract takes MINTER_ROLE on first use).
    function mintTo(address to, uint256 amount) internal {
        bytes32 role = coin.MINTER_ROLE();
        if (!coin.hasRole(role, address(this))) {
            vm.prank(admin);
            coin.grantRole(role, address(this));
        }
        coin.mint(to, amount);
    }

    function firstKeepers(uint256 n) internal view returns (address[] memory out) {
        out = new address[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = keepers[i];
        }
    }

    function params(uint256 n, uint8 t, uint256 price) internal returns (IDataRegistry.PublishParams memory p) {
        p = IDataRegistry.PublishParams({
            storageUri: STORAGE_URI,
            contentRoot: CONTENT_ROOT,
            metadata: bytes('{"v":1,"title":"walk","type":"accelerometer","rate_hz":50}'),
            price: price,
            keepers: firstKeepers(n),
            threshold: t,
            commitments: commitments(t, 1000),
            purposes: ALL_PURPOSES,
            consentTermsHash: TERMS_HASH
        });
    }

    function publish(uint256 n, uint8 t, uint256 price) internal returns (uint256 id) {
        IDataRegistry.PublishParams memory p = params(n, t, price);
        vm.prank(owner);
        id = registry.publish(p);
    }

    /// @dev The first `count` listed keepers acknowledge.
    function acknowledge(uint256 id, uint256 count) internal {
        address[] memory ks = registry.keepersOf(id);
        for (uint256 i; i < count; ++i) {
            vm.prank(ks[i]);
            registry.acknowledgeShare(id);
        }
    }

    /// @dev Published with n = 5, t = 3, PRICE, and activated.
    function activeDataset() internal returns (uint256 id) {
        id = publish(N_KEEPERS, THRESHOLD, PRICE);
        acknowledge(id, THRESHOLD);
    }

    function buy(Vm.Wallet memory w, uint256 id) internal returns (uint256 pid) {
        vm.prank(w.addr);
        pid = market.purchase(id, pubKey(w), Purposes.RESEARCH, type(uint256).max);
    }

    function payload(uint256 i) internal pure returns (bytes memory) {
        // ECIES ciphertext stand-in: 33-byte ephemeral key + 32-byte share + 16-byte tag + nonce.
        return abi.encodePacked(
            bytes1(0x02),
            keccak256(abi.encode("eph", i)),
            keccak256(abi.encode("share", i)),
            bytes28(keccak256(abi.encode("tag", i)))
        );
    }

    /// @dev The first `count` listed keepers of the purchase's dataset commit (skipping those
    /// that already did).
    function commitKeepers(uint256 pid, uint256 count) internal {
        address[] memory ks = registry.keepersOf(market.getPurchase(pid).datasetId);
        for (uint256 i; i < count; ++i) {
            if (market.hasCommitted(pid, ks[i])) continue;
            vm.prank(ks[i]);
            market.commit(pid);
        }
    }

    /// @dev The first `count` keepers of `ks` commit to `pid` on marketplace `m`.
    function commitOn(Marketplace m, uint256 pid, address[] memory ks, uint256 count) internal {
        for (uint256 i; i < count; ++i) {
            vm.prank(ks[i]);
            m.commit(pid);
        }
    }

    /// @dev The first max(count, t) listed keepers commit, then the first `count` deliver.
    function deliver(uint256 pid, uint256 count) internal {
        uint256 t = market.getPurchase(pid).threshold;
        commitKeepers(pid, count > t ? count : t);
        address[] memory ks = registry.keepersOf(market.getPurchase(pid).datasetId);
        for (uint256 i; i < count; ++i) {
            vm.prank(ks[i]);
            market.deliverShare(pid, payload(i));
        }
    }

    /// @dev The owner grants `w` access, the first t listed keepers deliver, the grantee confirms
    /// (the grant settles).
    function grantAndSettle(uint256 id, Vm.Wallet memory w) internal returns (uint256 pid) {
        (address o,, uint8 t,,) = registry.purchaseTerms(id);
        fund(o, t * DELIVERY_FEE); // the owner pays the keepers' delivery fee
        vm.prank(o);
        pid = market.grant(id, w.addr, pubKey(w), Purposes.VALIDATION);
        deliver(pid, t);
        vm.prank(w.addr);
        market.confirm(pid);
    }

    function expectedSplit(uint256 price, uint256 deliverers) internal pure returns (uint256 ownerAmt, uint256 each) {
        each = price * FEE_BPS / 10_000 / deliverers;
        ownerAmt = price - each * deliverers;
    }
}
