// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Base} from "../Base.t.sol";
import {KeeperRegistry} from "../../src/KeeperRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";

contract KeeperRegistryTest is Base {
    Vm.Wallet internal newW;

    function setUp() public override {
        super.setUp();
        newW = vm.createWallet("newcomer");
    }

    // ---------------------------------------------------------------- register

    function test_Register_Keeper() public {
        bytes memory key = compressed(newW);
        vm.warp(1_700_000_000);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.NodeRegistered(newW.addr, IKeeperRegistry.Role.Keeper, key, ENDPOINT);
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT);

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
        keeperRegistry.register(IKeeperRegistry.Role.Validator, compressed(newW), ENDPOINT);
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
        keeperRegistry.register(IKeeperRegistry.Role.None, compressed(newW), ENDPOINT);
    }

    function test_RevertWhen_RegisterTwice() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IKeeperRegistry.KeeperRegistryAlreadyRegistered.selector, keepers[0], IKeeperRegistry.Role.Keeper
            )
        );
        vm.prank(keepers[0]);
        keeperRegistry.register(IKeeperRegistry.Role.Validator, compressed(keeperWs[0]), ENDPOINT);
    }

    function test_RevertWhen_RegisterKeyWrongLength() public {
        bytes memory key = abi.encodePacked(compressed(newW), bytes1(0));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT);
    }

    function test_RevertWhen_RegisterKeyWrongPrefix() public {
        bytes memory key = compressed(newW);
        key[0] = 0x04;
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT);
    }

    function test_RevertWhen_RegisterKeyXNotBelowP() public {
        bytes memory key = abi.encodePacked(bytes1(0x02), bytes32(type(uint256).max));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT);
    }

    function test_RevertWhen_RegisterKeyOffCurve() public {
        // x = 5: 5³ + 7 = 132 is a quadratic non-residue mod p (see Secp256k1.t.sol).
        bytes memory key = abi.encodePacked(bytes1(0x03), bytes32(uint256(5)));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, key, ENDPOINT);
    }

    function test_RevertWhen_RegisterEndpointEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEndpoint.selector, ""));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), "");
    }

    function test_RevertWhen_RegisterEndpointTooLong() public {
        string memory ep = string(new bytes(257));
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEndpoint.selector, ep));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ep);
    }

    function test_Register_EndpointAtMax() public {
        string memory ep = string(new bytes(256));
        vm.prank(newW.addr);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(newW), ep);
        assertEq(keeperRegistry.node(newW.addr).endpoint, ep);
    }

    // ---------------------------------------------------------------- update

    function test_Update() public {
        bytes memory key = compressed(newW);
        uint64 registeredAt = keeperRegistry.node(keepers[0]).registeredAt;
        vm.warp(block.timestamp + 100);
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.NodeUpdated(keepers[0], key, "https://new.example");
        vm.prank(keepers[0]);
        keeperRegistry.update(key, "https://new.example");
        IKeeperRegistry.Node memory n = keeperRegistry.node(keepers[0]);
        assertEq(n.encryptionKey, key);
        assertEq(n.endpoint, "https://new.example");
        assertEq(n.registeredAt, registeredAt);
    }

    function test_RevertWhen_UpdateNotRegistered() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryNotRegistered.selector, stranger));
        vm.prank(stranger);
        keeperRegistry.update(compressed(newW), ENDPOINT);
    }

    function test_RevertWhen_UpdateInvalidKey() public {
        bytes memory key = hex"02";
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEncryptionKey.selector, key));
        vm.prank(keepers[0]);
        keeperRegistry.update(key, ENDPOINT);
    }

    function test_RevertWhen_UpdateInvalidEndpoint() public {
        vm.expectRevert(abi.encodeWithSelector(IKeeperRegistry.KeeperRegistryInvalidEndpoint.selector, ""));
        vm.prank(keepers[0]);
        keeperRegistry.update(compressed(keeperWs[0]), "");
    }

    // ---------------------------------------------------------------- deregister

    function test_Deregister_KeepsOrder() public {
        vm.expectEmit(address(keeperRegistry));
        emit IKeeperRegistry.NodeDeregistered(keepers[3], IKeeperRegistry.Role.Keeper);
        vm.prank(keepers[3]);
        keeperRegistry.deregister();
        assertFalse(keeperRegistry.isKeeper(keepers[3]));
        assertEq(uint8(keeperRegistry.node(keepers[3]).role), 0);
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
        // Re-registration appends.
        vm.prank(keepers[0]);
        keeperRegistry.register(IKeeperRegistry.Role.Keeper, compressed(keeperWs[0]), ENDPOINT);
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
        vm.prank(keepers[2]);
        keeperRegistry.register(IKeeperRegistry.Role.Validator, compressed(keeperWs[2]), ENDPOINT);
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
}
