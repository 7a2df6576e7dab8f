// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IKeeperRegistry
/// @notice The blockchain PKI of PHD exchange: key keepers and validators publish the secp256k1
/// key that shares are encrypted to and the HTTP endpoint they serve; the owner lists the device
/// manufacturers whose certificates the owner apps accept.
interface IKeeperRegistry {
    /// @notice What a registered node does.
    enum Role {
        None,
        Keeper,
        Validator
    }

    /// @notice A registered keeper or validator.
    /// @param role Keeper or Validator (one role per address).
    /// @param encryptionKey 33-byte compressed secp256k1 public key, validated on-curve.
    /// @param endpoint Base URL of the node's HTTP API.
    /// @param registeredAt Block timestamp of the first registration.
    struct Node {
        Role role;
        uint64 registeredAt;
        bytes encryptionKey;
        string endpoint;
    }

    /// @notice A manufacturer whose device certificates are accepted.
    struct Manufacturer {
        bool approved;
        uint64 approvedAt;
        string name;
    }

    event NodeRegistered(address indexed node, Role role, bytes encryptionKey, string endpoint);
    event NodeUpdated(address indexed node, bytes encryptionKey, string endpoint);
    event NodeDeregistered(address indexed node, Role role);
    event ManufacturerApproved(address indexed manufacturer, string name);
    event ManufacturerRevoked(address indexed manufacturer);

    error KeeperRegistryAlreadyRegistered(address node, Role role);
    error KeeperRegistryNotRegistered(address node);
    error KeeperRegistryInvalidRole(Role role);
    /// @dev Wrong length, wrong prefix, x ≥ p, or x not on secp256k1.
    error KeeperRegistryInvalidEncryptionKey(bytes key);
    /// @dev Empty or longer than 256 bytes.
    error KeeperRegistryInvalidEndpoint(string endpoint);
    error KeeperRegistryInvalidManufacturer(address manufacturer);
    error KeeperRegistryManufacturerNotApproved(address manufacturer);

    /// @notice Registers the caller as a keeper or validator.
    function register(Role role, bytes calldata encryptionKey, string calldata endpoint) external;

    /// @notice Rotates the caller's encryption key and/or endpoint.
    function update(bytes calldata encryptionKey, string calldata endpoint) external;

    /// @notice Removes the caller. Datasets that list it keep working with the remaining keepers.
    function deregister() external;

    /// @notice Owner only: accept certificates signed by `manufacturer`.
    function approveManufacturer(address manufacturer, string calldata name) external;

    /// @notice Owner only: stop accepting certificates signed by `manufacturer`.
    function revokeManufacturer(address manufacturer) external;

    function node(address account) external view returns (Node memory);
    function isKeeper(address account) external view returns (bool);
    function isValidator(address account) external view returns (bool);
    /// @notice All currently registered keepers, in registration order.
    function keepers() external view returns (address[] memory);
    /// @notice All currently registered validators, in registration order.
    function validators() external view returns (address[] memory);
    function manufacturer(address account) external view returns (Manufacturer memory);
    function isApprovedManufacturer(address account) external view returns (bool);
    /// @notice True when `key` is a 33-byte compressed secp256k1 point on the curve.
    function isValidCompressedKey(bytes calldata key) external view returns (bool);
}
