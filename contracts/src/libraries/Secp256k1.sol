// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Secp256k1
/// @notice Validation of 33-byte compressed secp256k1 points (SEC 1 §2.3.3): prefix 0x02/0x03,
/// x < p, and x³ + 7 a quadratic residue mod p, checked by Euler's criterion through the modexp
/// precompile (0x05). A compressed point that passes decompresses to a point on the curve.
/// @dev Used by KeeperRegistry (encryption keys) and DataRegistry (Feldman commitments).
library Secp256k1 {
    /// @notice The field prime p = 2²⁵⁶ − 2³² − 977.
    uint256 internal constant P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    /// @notice (p − 1) / 2, the exponent of Euler's criterion.
    uint256 internal constant HALF_P_MINUS_ONE = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF7FFFFE17;
    /// @notice Length of a compressed point.
    uint256 internal constant COMPRESSED_LENGTH = 33;

    /// @notice True when `key` is a compressed secp256k1 point on the curve.
    function isValidCompressed(bytes calldata key) internal view returns (bool) {
        if (key.length != COMPRESSED_LENGTH) return false;
        uint8 prefix = uint8(key[0]);
        if (prefix != 0x02 && prefix != 0x03) return false;
        return isValidX(uint256(bytes32(key[1:33])));
    }

    /// @notice True when some point of secp256k1 has x-coordinate `x`.
    /// @dev secp256k1 has prime order, so no point has y = 0 and x³ + 7 ≢ 0 (mod p) on the curve:
    /// the residue test is exactly `rhs^((p−1)/2) == 1`.
    function isValidX(uint256 x) internal view returns (bool) {
        if (x >= P) return false;
        uint256 rhs = addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
        return modExp(rhs, HALF_P_MINUS_ONE) == 1;
    }

    /// @notice `base^exponent mod p` via the modexp precompile.
    function modExp(uint256 base, uint256 exponent) internal view returns (uint256 result) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, 0x20)
            mstore(add(ptr, 0x20), 0x20)
            mstore(add(ptr, 0x40), 0x20)
            mstore(add(ptr, 0x60), base)
            mstore(add(ptr, 0x80), exponent)
            mstore(add(ptr, 0xa0), 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F)
            // The precompile cannot fail on well-formed input except by running out of gas.
            if iszero(staticcall(gas(), 0x05, ptr, 0xc0, ptr, 0x20)) { revert(0, 0) }
            result := mload(ptr)
        }
    }
}
