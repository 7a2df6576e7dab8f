// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IPHDCoin} from "./interfaces/IPHDCoin.sol";

/// @title PHDCoin
/// @notice PHD coin: an 18-decimal ERC-20 with EIP-2612 permit and a hard supply cap. Certification
/// rewards are paid from a pre-funded pool in the DataRegistry, not minted; MINTER_ROLE exists
/// for a governed emission but nobody holds it by default, and minting can never exceed the cap.
/// @dev DEFAULT_ADMIN_ROLE (grants and revokes MINTER_ROLE) follows OpenZeppelin's
/// AccessControlDefaultAdminRules: a single admin, handed over in two steps
/// (`beginDefaultAdminTransfer` → wait `defaultAdminDelay()` → `acceptDefaultAdminTransfer`), so
/// the deployer can hand it to a timelock or multisig and nobody can take it instantly.
contract PHDCoin is ERC20, ERC20Permit, ERC20Capped, AccessControlDefaultAdminRules, IPHDCoin {
    /// @inheritdoc IPHDCoin
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Holder of DEFAULT_ADMIN_ROLE (a timelock or multisig in production).
    /// @param adminTransferDelay Seconds an admin transfer waits before it can be accepted.
    /// @param initialHolder Receives `initialSupply` (may be zero when `initialSupply` is zero).
    /// @param initialSupply Coins minted at deployment, in wei units.
    /// @param supplyCap Largest total supply ever (≥ initialSupply, > 0).
    constructor(
        address admin,
        uint48 adminTransferDelay,
        address initialHolder,
        uint256 initialSupply,
        uint256 supplyCap
    )
        ERC20("PHD Coin", "PHD")
        ERC20Permit("PHD Coin")
        ERC20Capped(supplyCap)
        AccessControlDefaultAdminRules(adminTransferDelay, admin)
    {
        if (initialSupply != 0) _mint(initialHolder, initialSupply);
    }

    /// @inheritdoc IPHDCoin
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }

    /// @inheritdoc IPHDCoin
    function cap() public view override(ERC20Capped, IPHDCoin) returns (uint256) {
        return super.cap();
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
