// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMarketplace} from "../../src/interfaces/IMarketplace.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {ITokenReceiver} from "./HostileToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice A contract that acts as a data owner or keeper and, when paid, either re-enters the
/// Marketplace (trying to withdraw twice) or refuses the payment.
contract HostileReceiver is ITokenReceiver {
    enum Mode {
        Accept,
        Reenter,
        Refuse
    }

    IMarketplace public immutable market;
    Mode public mode;
    bool public reentered;
    bool public reentrySucceeded;
    bytes public reentryError;

    constructor(IMarketplace market_) {
        market = market_;
    }

    function setMode(Mode m) external {
        mode = m;
    }

    function publish(IDataRegistry registry, IDataRegistry.PublishParams calldata p) external returns (uint256) {
        return registry.publish(p);
    }

    function registerKeeper(IKeeperRegistry kr, bytes calldata key, uint256 stake, bytes calldata proof) external {
        IERC20(kr.STAKE_TOKEN()).approve(address(kr), stake);
        kr.register(IKeeperRegistry.Role.Keeper, key, "https://hostile.example", stake, proof);
    }

    function acknowledge(IDataRegistry registry, uint256 id) external {
        registry.acknowledgeShare(id);
    }

    function commit(uint256 purchaseId) external {
        market.commit(purchaseId);
    }

    function deliver(uint256 purchaseId, bytes calldata payload) external {
        market.deliverShare(purchaseId, payload);
    }

    function withdraw() external returns (uint256) {
        return market.withdraw();
    }

    function onTokenReceived(address, uint256) external {
        if (mode == Mode.Refuse) revert("HostileReceiver: refused");
        if (mode == Mode.Reenter && !reentered) {
            reentered = true;
            try market.withdraw() returns (uint256) {
                reentrySucceeded = true;
            } catch (bytes memory err) {
                reentryError = err;
            }
        }
    }
}
