// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "../Base.t.sol";
import {SeriesMarket} from "../../src/SeriesMarket.sol";

/// @notice Every contract must deploy on a public chain: EIP-170 caps runtime code at 24 576 bytes.
/// The optimizer's `runs` setting and each new feature move the Marketplace towards the cap.
contract CodeSizeTest is Base {
    uint256 internal constant EIP170_LIMIT = 24_576;

    function test_EveryContractFitsEip170() public view {
        assertLe(address(coin).code.length, EIP170_LIMIT, "PHDCoin");
        assertLe(address(keeperRegistry).code.length, EIP170_LIMIT, "KeeperRegistry");
        assertLe(address(registry).code.length, EIP170_LIMIT, "DataRegistry");
        assertLe(address(market).code.length, EIP170_LIMIT, "Marketplace");
    }

    /// @dev The series dispute (ShareProof inlined) brought the SeriesMarket to ≈ 21.8 kB.
    function test_SeriesMarketFitsEip170() public {
        SeriesMarket series = new SeriesMarket(address(coin), address(keeperRegistry), FEE_BPS, 1 days);
        assertLe(address(series).code.length, EIP170_LIMIT, "SeriesMarket");
    }
}
