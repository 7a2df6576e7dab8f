// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IPHDCoin} from "./interfaces/IPHDCoin.sol";

/// @title PHDCoin
/// @notice PHD coin: an 18-decimal ERC-20 with EIP-2612 permit. Supply grows only through
/// certification rewards minted by MINTER_ROLE holders (the DataRegistry, granted at deployment).
/// @dev DEFAULT_ADMIN_ROLE (the `admin`) grants and revokes MINTER_ROLE.
contract PHDCoin is ERC20, ERC20Permit, AccessControl, IPHDCoin {
    /// @inheritdoc IPHDCoin
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Holder of DEFAULT_ADMIN_ROLE (grants MINTER_ROLE to the DataRegistry).
    /// @param initialHolder Receives `initialSupply` (may be zero when `initialSupply` is zero).
    /// @param initialSupply Coins minted at deployment, in wei units.
    constructor(address admin, address initialHolder, uint256 initialSupply)
        ERC20("PHD Coin", "PHD")
        ERC20Permit("PHD Coin")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
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
}
