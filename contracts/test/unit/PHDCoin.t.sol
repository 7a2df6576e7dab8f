// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Base} from "../Base.t.sol";
import {PHDCoin} from "../../src/PHDCoin.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";

contract PHDCoinTest is Base {
    function test_Constructor() public view {
        assertEq(coin.name(), "PHD Coin");
        assertEq(coin.symbol(), "PHD");
        assertEq(coin.decimals(), 18);
        assertEq(coin.totalSupply(), INITIAL_SUPPLY);
        assertTrue(coin.hasRole(coin.DEFAULT_ADMIN_ROLE(), admin));
        assertFalse(coin.hasRole(coin.MINTER_ROLE(), address(registry)), "rewards come from a pool");
        assertEq(coin.MINTER_ROLE(), keccak256("MINTER_ROLE"));
    }

    function test_Constructor_ZeroSupply() public {
        PHDCoin c = new PHDCoin(admin, ADMIN_DELAY, address(0), 0, 1);
        assertEq(c.totalSupply(), 0);
    }

    function test_Mint() public {
        bytes32 role = coin.MINTER_ROLE();
        vm.prank(admin);
        coin.grantRole(role, address(this));
        vm.expectEmit(address(coin));
        emit IERC20.Transfer(address(0), stranger, 5);
        coin.mint(stranger, 5);
        assertEq(coin.balanceOf(stranger), 5);
        assertEq(coin.totalSupply(), INITIAL_SUPPLY + 5);
    }

    function test_RevertWhen_MintNotMinter() public {
        bytes32 role = coin.MINTER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        coin.mint(stranger, 1);
    }

    function test_Permit() public {
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                buyer,
                address(market),
                123,
                coin.nonces(buyer),
                deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", coin.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(buyerW.privateKey, digest);
        coin.permit(buyer, address(market), 123, deadline, v, r, s);
        assertEq(coin.allowance(buyer, address(market)), 123);
        assertEq(coin.nonces(buyer), 1);
    }

    function test_SupportsInterface() public view {
        assertTrue(coin.supportsInterface(type(IAccessControl).interfaceId));
    }

    // ---------------------------------------------------------------- governance (finding 7)

    function test_Constructor_Governance() public view {
        assertEq(coin.defaultAdmin(), admin);
        assertEq(coin.defaultAdminDelay(), ADMIN_DELAY);
        assertEq(coin.cap(), SUPPLY_CAP);
        assertTrue(coin.supportsInterface(type(IAccessControlDefaultAdminRules).interfaceId));
    }

    function test_RevertWhen_ConstructorSupplyAboveCap() public {
        vm.expectRevert(abi.encodeWithSelector(ERC20Capped.ERC20ExceededCap.selector, 2, 1));
        new PHDCoin(admin, ADMIN_DELAY, treasury, 2, 1);
    }

    function test_RevertWhen_MintAboveCap() public {
        PHDCoin c = new PHDCoin(admin, ADMIN_DELAY, treasury, 10, 10);
        bytes32 role = c.MINTER_ROLE();
        vm.prank(admin);
        c.grantRole(role, address(this));
        vm.expectRevert(abi.encodeWithSelector(ERC20Capped.ERC20ExceededCap.selector, 11, 10));
        c.mint(stranger, 1);
    }

    /// @dev The admin hands DEFAULT_ADMIN_ROLE to a timelock/multisig: two steps with a delay.
    function test_DefaultAdminTransfer_ToMultisig() public {
        address multisig = makeAddr("multisig");
        vm.prank(admin);
        coin.beginDefaultAdminTransfer(multisig);
        (address pending, uint48 schedule) = coin.pendingDefaultAdmin();
        assertEq(pending, multisig);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        vm.prank(multisig);
        coin.acceptDefaultAdminTransfer();
        vm.warp(schedule + 1);
        vm.prank(multisig);
        coin.acceptDefaultAdminTransfer();
        assertEq(coin.defaultAdmin(), multisig);
        assertFalse(coin.hasRole(coin.DEFAULT_ADMIN_ROLE(), admin));
    }

    /// @dev Finding 7: the deployer kept DEFAULT_ADMIN_ROLE and could grant it (or minting) to
    /// any account at once. Now DEFAULT_ADMIN_ROLE cannot be granted directly at all.
    function test_Attack_AdminGrantsItselfASecondAdmin() public {
        bytes32 adminRole = coin.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        vm.prank(admin);
        coin.grantRole(adminRole, stranger);
    }
}
