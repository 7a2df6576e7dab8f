// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A malicious ERC-20: on every balance change it can (a) call back into a target
/// (e.g. the Marketplace) itself, and (b) notify the recipient (ERC-777-style hook), which may
/// re-enter. Outcomes of the re-entrant call are recorded for assertions.
contract HostileToken is ERC20 {
    address public target;
    bytes public callData;
    bool public bubble;
    bool public armed;

    bool public lastSuccess;
    bytes public lastReturn;
    uint256 public attempts;

    mapping(address => bool) public hooked;

    constructor() ERC20("Hostile", "HOS") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @param bubble_ Re-throw the inner revert (so the outer call reverts too).
    function arm(address target_, bytes calldata callData_, bool bubble_) external {
        target = target_;
        callData = callData_;
        bubble = bubble_;
        armed = true;
    }

    function disarm() external {
        armed = false;
    }

    function setHooked(address account, bool on) external {
        hooked[account] = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed) {
            armed = false; // one shot
            ++attempts;
            (bool ok, bytes memory ret) = target.call(callData);
            lastSuccess = ok;
            lastReturn = ret;
            if (!ok && bubble) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
        if (to != address(0) && hooked[to]) {
            ITokenReceiver(to).onTokenReceived(from, value);
        }
    }
}

interface ITokenReceiver {
    function onTokenReceived(address from, uint256 value) external;
}
