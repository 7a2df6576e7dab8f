// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Purposes
/// @notice Purpose ids a data owner consents to (GDPR Art. 6/7). A dataset stores a bitmask with
/// bit `id` set for each consented purpose; every purchase or grant names exactly one.
library Purposes {
    uint8 internal constant RESEARCH = 0;
    uint8 internal constant COMMERCIAL = 1;
    uint8 internal constant VALIDATION = 2;
    uint8 internal constant PORTABILITY = 3;
    uint8 internal constant PUBLIC_HEALTH = 4;
    /// @notice Bitmask of every defined purpose; a dataset's mask must be a non-empty subset.
    uint256 internal constant ALL = 0x1f;

    function bit(uint8 purpose) internal pure returns (uint256) {
        return uint256(1) << purpose;
    }

    function contains(uint256 mask, uint8 purpose) internal pure returns (bool) {
        return mask & bit(purpose) != 0;
    }
}
