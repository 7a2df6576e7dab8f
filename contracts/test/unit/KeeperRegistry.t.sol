// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Base} from "../Base.t.sol";
import {KeeperRegistry} from "../../src/KeeperRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";

contract KeeperRegistryTest is Base {
    Vm.Wallet internal newW;

    function setUp() public override {
        super.setUp();
        newW = vm.createWallet("newcomer");
        _fundStake(newW.addr, MIN_STAKE);
    }

    function _fundStake(address who, uint256 amount) internal {
        vm.prank(treasury);
        coin.transfer(who, amount);
        vm.prank(who);
        coin.approve(address(keeperRegistry), type(uint256).max);
    }

    /// @dev Exits `who` and lets its unbonding delay pass, then withdraws its stake.
    function _leave(address who) internal {
        vm.prank(who);
        keeperRegistry.deregister();
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(who);
        keeperRegistry.withdrawStake();
        vm.prank(who);
        coin.approve(address(keeperRegistry), type(uint256).max);
    }

    // ---------------------------------------------------------------- register

    function test_Register_Keeper() public {
        bytes memory key = compressed(newW);
        vm.warp(1_700_000_000);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.NodeRegistered(newW.addr, IKeeperRegistry.Role.Keeper, key, ENDPOINT);
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr));

        IKeeperRegistry.Node memory n = keeperRegistry.node(newW.addr);
        assertEq(uint8(n.role), uint8(IKeeperRegistry.Role.Keeper));
        assertEq(n.registeredAt, 1_700_000_000);
        assertEq(n.encryptionKey, key);
        assertEq(n.endpoint, ENDPOINT);
        assertTrue(keeperRegistry.isKeeper(newW.addr));
        assertFalse(keeperRegistry.isValidator(newW.addr));
        address[] memory ks = keeperRegistry.keepers();
        assertEq(ks.length, 9);
        assertEq(ks[8], newW.addr);
        assertEq(keeperRegistry.keeperCount(), 9);
    }

    function test_Register_Validator() public {
        vm.prank(newW.addr);
        keeperRegistry.register(
            IKeeperRegistry.Role.Validator, compressed(newW), ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr)
        );
        assertTrue(keeperRegistry.isValidator(newW.addr));
        assertFalse(keeperRegistry.isKeeper(newW.addr));
        address[] memory vs = keeperRegistry.validators();
        assertEq(vs.length, 3);
        assertEq(vs[0], validator);
        assertEq(vs[2], newW.addr);
        assertEq(keeperRegistry.validatorCount(), 3);
    }

    function test_RevertWhen_RegisterRoleNone() public {
        vm.expectRevert(
            abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidRole.selector, IKeeperRegistry.Role.None)
        );
        vm.prank(newW.addr);
        keeperRegistry.register(
            IKeeperRegistry.Role.None, compressed(newW), ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr)
        );
    }

    function test_RevertWhen_RegisterTwice() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeeperRegistry.KeeperRegistryAlreadyRegistered.selector, keepers[0], IKeeperRegistry.Role.Keeper
            )
        );
        vm.prank(keepers[0]);
        keeperRegistry.register(
            IKeeperRegistry.Role.Validator,
            compressed(keeperWs[0]),
            ENDPOINT,
            MIN_STAKE,
            keyProof(keeperWs[0], keepers[0])
        );
    }

    function test_RevertWhen_RegisterKeyWrongLength() public {
        bytes memory key = abi.encodePacked(compressed(newW), bytes1(0));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr));
    }

    function test_RevertWhen_RegisterKeyWrongPrefix() public {
        bytes memory key = compressed(newW);
        key[0] = 0x04;
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr));
    }

    function test_RevertWhen_RegisterKeyXNotBelowP() public {
        bytes memory key = abi.encodePacked(bytes1(0x02), bytes32(type(uint256).max));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr));
    }

    function test_RevertWhen_RegisterKeyOffCurve() public {
        // x = 5: 5³ + 7 = 132 is a quadratic non-residue mod p (see Secp256k1.t.sol).
        bytes memory key = abi.encodePacked(bytes1(0x03), bytes32(uint256(5)));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr));
    }

    function test_RevertWhen_RegisterEndpointEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEndpoint.selector, ""));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), "", MIN_STAKE, keyProof(newW, newW.addr));
    }

    function test_RevertWhen_RegisterEndpointTooLong() public {
        string memory ep = string(new bytes(257));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEndpoint.selector, ep));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ep, MIN_STAKE, keyProof(newW, newW.addr));
    }

    function test_Register_EndpointAtMax() public {
        string memory ep = string(new bytes(256));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ep, MIN_STAKE, keyProof(newW, newW.addr));
        assertEq(keeperRegistry.node(newW.addr).endpoint, ep);
    }

    // ---------------------------------------------------------------- update

    function test_Update() public {
        bytes memory key = compressed(newW);
        uint64 registeredAt = keeperRegistry.node(keepers[0]).registeredAt;
        vm.warp(block.timestamp + 100);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.NodeUpdated(keepers[0], key, "https://new.example");
        bytes memory proof = keyProof(newW, keepers[0]);
        vm.prank(keepers[0]);
        keeperRegistry.update(key, "https://new.example", proof);
        IKeeperRegistry.Node memory n = keeperRegistry.node(keepers[0]);
        assertEq(n.encryptionKey, key);
        assertEq(n.endpoint, "https://new.example");
        assertEq(n.registeredAt, registeredAt);
    }

    function test_RevertWhen_UpdateNotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryNotRegistered.selector, stranger));
        vm.prank(stranger);
        keeperRegistry.update(compressed(newW), ENDPOINT, "");
    }

    function test_RevertWhen_UpdateInvalidKey() public {
        bytes memory key = hex"02";
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(keepers[0]);
        keeperRegistry.update(key, ENDPOINT, "");
    }

    function test_RevertWhen_UpdateInvalidEndpoint() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEndpoint.selector, ""));
        bytes memory proof = keyProof(keeperWs[0], keepers[0]);
        vm.prank(keepers[0]);
        keeperRegistry.update(compressed(keeperWs[0]), "", proof);
    }

    // ---------------------------------------------------------------- deregister

    function test_Deregister_KeepsOrder() public {
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.NodeDeregistered(keepers[3], IKeeperRegistry.Role.Keeper);
        vm.prank(keepers[3]);
        keeperRegistry.deregister();
        assertFalse(keeperRegistry.isKeeper(keepers[3]));
        assertEq(uint8(keeperRegistry.node(keepers[3]).role), uint8(IKeeperRegistry.Role.Keeper), "unbonding");
        assertEq(keeperRegistry.stakeOf(keepers[3]).unlockAt, block.timestamp + UNBONDING_DELAY);
        address[] memory ks = keeperRegistry.keepers();
        assertEq(ks.length, 7);
        for (uint256 i; i < 7; ++i) {
            assertEq(ks[i], keepers[i < 3 ? i : i + 1]);
        }
        // Head and tail removal.
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        vm.prank(keepers[7]);
        keeperRegistry.deregister();
        ks = keeperRegistry.keepers();
        assertEq(ks.length, 5);
        assertEq(ks[0], keepers[1]);
        assertEq(ks[4], keepers[6]);
        // Re-registration (after the stake was withdrawn) appends.
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(keepers[0]);
        keeperRegistry.withdrawStake();
        _fundStake(keepers[0], 0);
        bytes memory proof = keyProof(keeperWs[0], keepers[0]);
        vm.prank(keepers[0]);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(keeperWs[0]), ENDPOINT, MIN_STAKE, proof);
        ks = keeperRegistry.keepers();
        assertEq(ks[5], keepers[0]);
    }

    function test_Deregister_All() public {
        for (uint256 i; i < keepers.length; ++i) {
            vm.prank(keepers[i]);
            keeperRegistry.deregister();
        }
        assertEq(keeperRegistry.keepers().length, 0);
        vm.prank(validator);
        keeperRegistry.deregister();
        vm.prank(validator2);
        keeperRegistry.deregister();
        assertEq(keeperRegistry.validators().length, 0);
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(keepers[2]);
        keeperRegistry.withdrawStake();
        _fundStake(keepers[2], 0);
        bytes memory proof = keyProof(keeperWs[2], keepers[2]);
        vm.prank(keepers[2]);
        keeperRegistry.register(IKeeperRegistry.Role.Validator, compressed(keeperWs[2]), ENDPOINT, MIN_STAKE, proof);
        assertEq(keeperRegistry.validators()[0], keepers[2]);
    }

    function test_RevertWhen_DeregisterNotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryNotRegistered.selector, stranger));
        vm.prank(stranger);
        keeperRegistry.deregister();
    }

    // ---------------------------------------------------------------- manufacturers

    function test_ApproveManufacturer() public {
        address m = makeAddr("manufacturer");
        vm.warp(1_800_000_000);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.ManufacturerApproved(m, "Acme Wearables");
        vm.prank(admin);
        keeperRegistry.approveManufacturer(m, "Acme Wearables");
        IKeeperRegistry.Manufacturer memory info = keeperRegistry.manufacturer(m);
        assertTrue(info.approved);
        assertEq(info.approvedAt, 1_800_000_000);
        assertEq(info.name, "Acme Wearables");
        assertTrue(keeperRegistry.isApprovedManufacturer(m));
    }

    function test_RevertWhen_ApproveManufacturerNotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        vm.prank(stranger);
        keeperRegistry.approveManufacturer(stranger, "x");
    }

    function test_RevertWhen_ApproveManufacturerZero() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidManufacturer.selector, address(0)));
        vm.prank(admin);
        keeperRegistry.approveManufacturer(address(0), "x");
    }

    function test_RevokeManufacturer() public {
        address m = makeAddr("manufacturer");
        vm.prank(admin);
        keeperRegistry.approveManufacturer(m, "Acme");
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.ManufacturerRevoked(m);
        vm.prank(admin);
        keeperRegistry.revokeManufacturer(m);
        assertFalse(keeperRegistry.isApprovedManufacturer(m));
        assertEq(keeperRegistry.manufacturer(m).name, "");
    }

    function test_RevertWhen_RevokeManufacturerNotApproved() public {
        vm.expectRevert(
            abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryManufacturerNotApproved.selector, stranger)
        );
        vm.prank(admin);
        keeperRegistry.revokeManufacturer(stranger);
    }

    function test_RevertWhen_RevokeManufacturerNotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        vm.prank(stranger);
        keeperRegistry.revokeManufacturer(stranger);
    }

    // ---------------------------------------------------------------- views

    function test_IsValidCompressedKey() public view {
        assertTrue(keeperRegistry.isValidCompressedKey(compressed(keeperWs[0])));
        assertFalse(keeperRegistry.isValidCompressedKey(""));
        assertFalse(keeperRegistry.isValidCompressedKey(pubKey(keeperWs[0])));
    }

    function test_Owner() public view {
        assertEq(keeperRegistry.owner(), admin);
    }

    // ---------------------------------------------------------------- stake

    function test_Register_PullsStake() public {
        uint256 before = coin.balanceOf(address(keeperRegistry));
        uint256 total = keeperRegistry.totalStaked();
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.StakeAdded(newW.addr, MIN_STAKE, MIN_STAKE);
        vm.prank(newW.addr);
        keeperRegistry.register(
            IKeeperRegistry.Role.Keeper, compressed(newW), ENDPOINT, MIN_STAKE, keyProof(newW, newW.addr)
        );
        assertEq(coin.balanceOf(address(keeperRegistry)), before + MIN_STAKE);
        assertEq(keeperRegistry.totalStaked(), total + MIN_STAKE);
        IKeeperRegistry.Stake memory st = keeperRegistry.stakeOf(newW.addr);
        assertEq(st.amount, MIN_STAKE);
        assertEq(st.unlockAt, 0);
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked(), "balance == staked");
    }

    function test_Constructor_Stake() public view {
        assertEq(keeperRegistry.MIN_STAKE(), MIN_STAKE);
        assertEq(keeperRegistry.UNBONDING_DELAY(), UNBONDING_DELAY);
        assertEq(keeperRegistry.STAKE_TOKEN(), address(coin));
        assertEq(keeperRegistry.marketplace(), address(market));
    }

    function test_RevertWhen_ConstructorInvalid() public {
        vm.expectRevert(IKeeperRegistry.KeeperRegistryInvalidConfig.selector);
        new KeeperRegistry(admin, coin, 0, UNBONDING_DELAY);
        vm.expectRevert(IKeeperRegistry.KeeperRegistryInvalidConfig.selector);
        new KeeperRegistry(admin, coin, MIN_STAKE, 0);
        vm.expectRevert(IKeeperRegistry.KeeperRegistryInvalidConfig.selector);
        new KeeperRegistry(admin, IERC20(address(0)), MIN_STAKE, UNBONDING_DELAY);
    }

    function test_RevertWhen_RegisterStakeBelowMinimum() public {
        bytes memory proof = keyProof(newW, newW.addr);
        vm.expectRevert(
            abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInsufficientStake.selector, MIN_STAKE - 1, MIN_STAKE)
        );
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ENDPOINT, MIN_STAKE - 1, proof);
    }

    function test_RevertWhen_RegisterWithoutApproval() public {
        Vm.Wallet memory w = vm.createWallet("no approval");
        vm.prank(treasury);
        coin.transfer(w.addr, MIN_STAKE);
        bytes memory proof = keyProof(w, w.addr);
        vm.expectRevert();
        vm.prank(w.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(w), ENDPOINT, MIN_STAKE, proof);
    }

    /// @dev Registering somebody else's encryption key (no signature by it) is refused.
    function test_RevertWhen_RegisterKeyProofBySomeoneElse() public {
        // newW signs, but claims keeper 0's public key.
        bytes memory proof = keyProof(newW, newW.addr);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidKeyProof.selector, newW.addr));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(keeperWs[0]), ENDPOINT, MIN_STAKE, proof);
    }

    /// @dev A proof made for another account cannot be replayed.
    function test_RevertWhen_RegisterKeyProofForOtherAccount() public {
        bytes memory proof = keyProof(newW, stranger);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidKeyProof.selector, newW.addr));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ENDPOINT, MIN_STAKE, proof);
    }

    function test_RevertWhen_RegisterKeyProofMalformed() public {
        bytes memory proof = keyProof(newW, newW.addr);
        bytes memory shortProof = new bytes(64);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidKeyProof.selector, newW.addr));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ENDPOINT, MIN_STAKE, shortProof);
        proof[64] = bytes1(uint8(proof[64]) ^ 0x1f); // v = 0/4: invalid
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidKeyProof.selector, newW.addr));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ENDPOINT, MIN_STAKE, proof);
    }

    /// @dev Rotating to a key the node cannot sign with is refused.
    function test_RevertWhen_UpdateKeyProofWrong() public {
        bytes memory proof = keyProof(keeperWs[0], keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidKeyProof.selector, keepers[0]));
        vm.prank(keepers[0]);
        keeperRegistry.update(compressed(newW), ENDPOINT, proof);
    }

    function test_KeyProofDigest_BindsChainAndRegistry() public {
        bytes32 d = keeperRegistry.keyProofDigest(newW.addr);
        assertEq(
            d, keccak256(abi.encode(keeperRegistry.KEY_PROOF_TAG(), block.chainid, address(keeperRegistry), newW.addr))
        );
        vm.chainId(777);
        assertTrue(keeperRegistry.keyProofDigest(newW.addr) != d);
    }

    function test_AddStake() public {
        _fundStake(keepers[0], 5 * UNIT);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.StakeAdded(keepers[0], 5 * UNIT, MIN_STAKE + 5 * UNIT);
        vm.prank(keepers[0]);
        keeperRegistry.addStake(5 * UNIT);
        assertEq(keeperRegistry.stakeOf(keepers[0]).amount, MIN_STAKE + 5 * UNIT);
    }

    function test_RevertWhen_AddStakeZero() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInsufficientStake.selector, 0, 1));
        vm.prank(keepers[0]);
        keeperRegistry.addStake(0);
    }

    function test_Deregister_StartsUnbonding() public {
        vm.warp(1_700_000_000);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.ExitRequested(keepers[0], uint64(1_700_000_000) + UNBONDING_DELAY);
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        assertFalse(keeperRegistry.isKeeper(keepers[0]));
        assertEq(keeperRegistry.stakeOf(keepers[0]).amount, MIN_STAKE, "still bonded");
    }

    function test_RevertWhen_WithdrawStakeBeforeExit() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryStakeLocked.selector, keepers[0], 0));
        vm.prank(keepers[0]);
        keeperRegistry.withdrawStake();
    }

    function test_RevertWhen_WithdrawStakeDuringUnbonding() public {
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        uint64 unlockAt = keeperRegistry.stakeOf(keepers[0]).unlockAt;
        vm.warp(unlockAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryStakeLocked.selector, keepers[0], unlockAt)
        );
        vm.prank(keepers[0]);
        keeperRegistry.withdrawStake();
    }

    function test_WithdrawStake_AfterUnbonding() public {
        uint256 before = coin.balanceOf(keepers[0]);
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.StakeWithdrawn(keepers[0], MIN_STAKE);
        vm.prank(keepers[0]);
        assertEq(keeperRegistry.withdrawStake(), MIN_STAKE);
        assertEq(coin.balanceOf(keepers[0]), before + MIN_STAKE);
        assertEq(uint8(keeperRegistry.node(keepers[0]).role), 0);
        assertEq(keeperRegistry.stakeOf(keepers[0]).amount, 0);
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked());
    }

    function test_RevertWhen_UpdateOrDeregisterWhileExiting() public {
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        uint64 unlockAt = keeperRegistry.stakeOf(keepers[0]).unlockAt;
        bytes memory proof = keyProof(keeperWs[0], keepers[0]);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryExiting.selector, keepers[0], unlockAt));
        vm.prank(keepers[0]);
        keeperRegistry.update(compressed(keeperWs[0]), ENDPOINT, proof);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryExiting.selector, keepers[0], unlockAt));
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeeperRegistry.KeeperRegistryAlreadyRegistered.selector, keepers[0], IKeeperRegistry.Role.Keeper
            )
        );
        vm.prank(keepers[0]);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(keeperWs[0]), ENDPOINT, MIN_STAKE, proof);
    }

    // ---------------------------------------------------------------- slash

    function test_Slash_OnlyMarketplace() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryNotMarketplace.selector, admin));
        vm.prank(admin);
        keeperRegistry.slash(keepers[0], 1);
    }

    function test_Slash_TakesAndEjectsBelowMinimum() public {
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.Slashed(keepers[0], 10 * UNIT, MIN_STAKE - 10 * UNIT, address(market));
        vm.prank(address(market));
        assertEq(keeperRegistry.slash(keepers[0], 10 * UNIT), 10 * UNIT);
        assertEq(coin.balanceOf(address(market)), 10 * UNIT);
        assertFalse(keeperRegistry.isKeeper(keepers[0]), "ejected below minimum");
        assertGt(keeperRegistry.stakeOf(keepers[0]).unlockAt, 0);
        assertEq(coin.balanceOf(address(keeperRegistry)), keeperRegistry.totalStaked());
    }

    function test_Slash_CappedAtStakeAndDuringUnbonding() public {
        vm.prank(keepers[0]);
        keeperRegistry.deregister();
        vm.prank(address(market));
        assertEq(keeperRegistry.slash(keepers[0], 10 * MIN_STAKE), MIN_STAKE);
        vm.prank(address(market));
        assertEq(keeperRegistry.slash(keepers[0], 1), 0);
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(keepers[0]);
        assertEq(keeperRegistry.withdrawStake(), 0);
    }

    /// @dev Finding 1 (first half): registering as validator or keeper was free, so Sybil
    /// accounts cost nothing. Now registration without a bond fails.
    function test_Attack_FreeSybilRegistration() public {
        Vm.Wallet memory sybil = vm.createWallet("sybil");
        bytes memory proof = keyProof(sybil, sybil.addr);
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInsufficientStake.selector, 0, MIN_STAKE));
        vm.prank(sybil.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Validator, compressed(sybil), ENDPOINT, 0, proof);
    }

    // ---------------------------------------------------------------- ownership

    function test_Attack_RenounceOwnership() public {
        vm.expectRevert(IKeeperRegistry.KeeperRegistryRenounceDisabled.selector);
        vm.prank(admin);
        keeperRegistry.renounceOwnership();
        assertEq(keeperRegistry.owner(), admin);
    }

    function test_TransferOwnership_TwoStep() public {
        vm.prank(admin);
        keeperRegistry.transferOwnership(stranger);
        assertEq(keeperRegistry.owner(), admin, "pending only");
        assertEq(keeperRegistry.pendingOwner(), stranger);
        vm.prank(stranger);
        keeperRegistry.acceptOwnership();
        assertEq(keeperRegistry.owner(), stranger);
    }

    function test_RevertWhen_SetMarketplaceTwice() public {
        vm.expectRevert(
            abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryMarketplaceAlreadySet.selector, address(market))
        );
        vm.prank(admin);
        keeperRegistry.setMarketplace(stranger);
    }
}
