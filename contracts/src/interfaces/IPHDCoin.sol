// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title IPHDCoin
/// @notice PHD coin: ERC-20 with EIP-2612 permit. New coins are only minted as certification
/// rewards ("coins mined by storing data"), by holders of MINTER_ROLE (the DataRegistry).
interface IPHDCoin is IERC20, IERC20Permit {
    /// @notice Mints `amount` to `to`. Only MINTER_ROLE.
    function mint(address to, uint256 amount) external;

    function MINTER_ROLE() external view returns (bytes32);
}
