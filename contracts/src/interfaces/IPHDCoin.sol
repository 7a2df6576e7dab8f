// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title IPHDCoin
/// @notice PHD coin: ERC-20 with EIP-2612 permit and a supply cap (`cap()`). Certification rewards
/// come from a pre-funded pool in the DataRegistry; MINTER_ROLE (held by nobody by default, granted
/// only by the delayed default admin) can mint up to the cap.
interface IPHDCoin is IERC20, IERC20Permit {
    /// @notice Mints `amount` to `to`. Only MINTER_ROLE.
    function mint(address to, uint256 amount) external;

    function MINTER_ROLE() external view returns (bytes32);
    /// @notice Largest total supply ever.
    function cap() external view returns (uint256);
}
