// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SealKeyCheck
/// @notice The sealed object's key schedule and content root, recomputed on-chain for owner-fraud
/// proofs (docs/FORMATS.md §1.1, §1.5, §1.6, §2.1):
///     K         = HKDF-SHA256(IKM = s (32 bytes BE), salt = empty, info = "phd data key v1", L = 32)
///     PRK       = HKDF-Extract(salt = header[16..48], IKM = K)
///     key_check = HKDF-Expand(PRK, "phd-seal v1 key check", 16)      (stored in header[48..64])
///     root      = H(0x02 ‖ "phd-seal v1" ‖ H(header) ‖ n (u64) ‖ plaintext_len (u64) ‖ tree)
/// HMAC-SHA256 runs over the sha256 precompile; every key here is 32 bytes, so the HMAC key block
/// is the key followed by 32 zero bytes (RFC 2104) and each HKDF output fits one HMAC block
/// (`T(1)`). A 32-byte zero salt equals the empty salt (RFC 5869 §2.2).
library SealKeyCheck {
    /// @notice Length of a sealed header.
    uint256 internal constant HEADER_LENGTH = 64;
    /// @dev 0x36 (HMAC ipad) repeated over one word.
    bytes32 private constant IPAD = 0x3636363636363636363636363636363636363636363636363636363636363636;
    /// @dev 0x5c (HMAC opad) repeated over one word.
    bytes32 private constant OPAD = 0x5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c;

    /// @notice The content root of a sealed object with this header, chunk count, plaintext length
    /// and chunk tree root (§1.6). `header` must be 64 bytes (the caller checks).
    function contentRoot(bytes calldata header, uint64 chunkCount, uint64 plaintextLen, bytes32 treeRoot)
        internal
        pure
        returns (bytes32)
    {
        return sha256(
            abi.encodePacked(bytes1(0x02), "phd-seal v1", sha256(header), chunkCount, plaintextLen, treeRoot)
        );
    }

    /// @notice The sealing key K of a dataset secret `s` (§2.1, phd-keys `DatasetSecret::data_key`).
    function dataKey(uint256 secret) internal pure returns (bytes32) {
        bytes32 prk = hmac(bytes32(0), abi.encodePacked(secret));
        return hmac(prk, abi.encodePacked("phd data key v1", uint8(1)));
    }

    /// @notice The 16-byte key check of sealing key `key` under the header salt `salt` (§1.5).
    function keyCheck(bytes32 key, bytes32 salt) internal pure returns (bytes16) {
        bytes32 prk = hmac(salt, abi.encodePacked(key));
        return bytes16(hmac(prk, abi.encodePacked("phd-seal v1 key check", uint8(1))));
    }

    /// @notice The salt (bytes 16..48) and key check (bytes 48..64) a 64-byte header carries.
    function headerFields(bytes calldata header) internal pure returns (bytes32 salt, bytes16 check) {
        salt = bytes32(header[16:48]);
        check = bytes16(header[48:64]);
    }

    /// @notice HMAC-SHA256 with a 32-byte key.
    function hmac(bytes32 key, bytes memory message) internal pure returns (bytes32) {
        bytes32 inner = sha256(abi.encodePacked(key ^ IPAD, IPAD, message));
        return sha256(abi.encodePacked(key ^ OPAD, OPAD, inner));
    }
}
