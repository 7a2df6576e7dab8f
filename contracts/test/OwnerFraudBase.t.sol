// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Base} from "./Base.t.sol";
import {IDataRegistry} from "../src/interfaces/IDataRegistry.sol";

/// @notice Fixtures for owner-fraud proofs: a dataset secret S with C0 = S·G, sealed headers
/// whose key check is (honest) or is not (fraud) the one of S's data key, and their content roots.
/// The expected values are computed independently of `SealKeyCheck` (Python's hmac, and
/// crates/phd-sdk/src/fraud.rs `key_schedule_vector` checks the same numbers with phd-keys/phd-seal).
abstract contract OwnerFraudBase is Base {
    /// @dev The dataset secret of the fixtures.
    uint256 internal constant S = 0x6b1a5e2f0c9d8e7a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f10;
    /// @dev HKDF-SHA256(IKM = S, salt = empty, info = "phd data key v1", 32).
    bytes32 internal constant S_DATA_KEY = 0xa21696fad841eac6bab066468b2c793800f90858d4c679d9cce30a7e4a622a83;
    bytes32 internal constant SALT = bytes32(0x1111111111111111111111111111111111111111111111111111111111111111);
    /// @dev HKDF-Expand(HKDF-Extract(SALT, S_DATA_KEY), "phd-seal v1 key check", 16).
    bytes16 internal constant S_KEY_CHECK = 0x579191f0f89c84e66bcd0ac0b5a5bbaa;
    /// @dev Key check of some other key (the owner sealed under it).
    bytes16 internal constant OTHER_KEY_CHECK = 0x0123456789abcdef0123456789abcdef;
    uint64 internal constant CHUNKS = 3;
    uint64 internal constant PLAINTEXT_LEN = 9_000_000;
    bytes32 internal constant TREE_ROOT = keccak256("chunk tree");
    /// @dev secp256k1 group order.
    uint256 internal constant ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    /// @dev A v1 sealed header (magic, version 1, zstd flag, 4 MiB chunks, salt, key check).
    function sealedHeader(bytes32 salt, bytes16 keyCheck) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes8("PHDSEAL\x00"), uint16(1), uint16(1), uint32(4 << 20), salt, keyCheck);
    }

    /// @dev docs/FORMATS.md §1.6.
    function rootOf(bytes memory header, uint64 n, uint64 len, bytes32 tree) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x02), "phd-seal v1", sha256(header), n, len, tree));
    }

    /// @dev Listing (n = 5, t = 3, PRICE, Active) whose C0 = secret·G and whose content root covers `header`.
    function listWithHeader(address by, uint256 secret, bytes memory header) internal returns (uint256 id) {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        Vm.Wallet memory c0 = vm.createWallet(secret);
        p.commitments[0] = compressed(c0);
        p.contentRoot = rootOf(header, CHUNKS, PLAINTEXT_LEN, TREE_ROOT);
        vm.prank(by);
        id = registry.publish(p);
        acknowledge(id, THRESHOLD);
    }

    /// @dev The owner's fraud: the object's header carries another key's check.
    function fraudulentListing() internal returns (uint256) {
        return listWithHeader(owner, S, sealedHeader(SALT, OTHER_KEY_CHECK));
    }

    /// @dev An honest listing: the header's check is the one of S's data key.
    function honestListing() internal returns (uint256) {
        return listWithHeader(owner, S, sealedHeader(SALT, S_KEY_CHECK));
    }

    /// @dev `w` buys `id` and its first t keepers deliver.
    function boughtWithShares(Vm.Wallet memory w, uint256 id) internal returns (uint256 pid) {
        pid = buy(w, id);
        deliver(pid, THRESHOLD);
    }

    function prove(address by, uint256 pid, uint256 secret, bytes memory header) internal returns (uint256, uint256) {
        vm.prank(by);
        return market.proveOwnerFraud(pid, secret, header, CHUNKS, PLAINTEXT_LEN, TREE_ROOT);
    }
}
