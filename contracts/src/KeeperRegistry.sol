// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IKeeperRegistry} from "./interfaces/IKeeperRegistry.sol";
import {Secp256k1} from "./libraries/Secp256k1.sol";

/// @title KeeperRegistry
/// @notice The PKI of PHD exchange. Key keepers and validators register the compressed secp256k1
/// key that shares are ECIES-encrypted to and the base URL of their HTTP API; the owner keeps the
/// list of device manufacturers whose certificates owner apps accept.
/// @dev Registration is permissionless: a node proves nothing but control of its address. Data
/// owners choose which registered keepers hold their shares. Keepers and validators are kept in
/// two doubly linked lists so that `keepers()`/`validators()` return registration order while
/// deregistration stays O(1).
contract KeeperRegistry is IKeeperRegistry, Ownable {
    /// @notice Longest accepted endpoint URL, in bytes.
    uint256 public constant MAX_ENDPOINT_BYTES = 256;

    /// @dev Insertion-ordered set of addresses with O(1) removal.
    struct List {
        address head;
        address tail;
        uint256 length;
        mapping(address => address) next;
        mapping(address => address) prev;
    }

    mapping(address account => Node) private _nodes;
    mapping(address account => Manufacturer) private _manufacturers;
    List private _keeperList;
    List private _validatorList;

    /// @param initialOwner Administers the approved manufacturers.
    constructor(address initialOwner) Ownable(initialOwner) {}

    // ------------------------------------------------------------------------------------------
    // Nodes
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IKeeperRegistry
    function register(Role role, bytes calldata encryptionKey, string calldata endpoint) external {
        if (role != Role.Keeper && role != Role.Validator) revert KeeperRegistryInvalidRole(role);
        Node storage n = _nodes[msg.sender];
        if (n.role != Role.None) revert KeeperRegistryAlreadyRegistered(msg.sender, n.role);
        _validate(encryptionKey, endpoint);

        n.role = role;
        n.registeredAt = uint64(block.timestamp);
        n.encryptionKey = encryptionKey;
        n.endpoint = endpoint;
        _push(role == Role.Keeper ? _keeperList : _validatorList, msg.sender);
        emit NodeRegistered(msg.sender, role, encryptionKey, endpoint);
    }

    /// @inheritdoc IKeeperRegistry
    function update(bytes calldata encryptionKey, string calldata endpoint) external {
        Node storage n = _nodes[msg.sender];
        if (n.role == Role.None) revert KeeperRegistryNotRegistered(msg.sender);
        _validate(encryptionKey, endpoint);

        n.encryptionKey = encryptionKey;
        n.endpoint = endpoint;
        emit NodeUpdated(msg.sender, encryptionKey, endpoint);
    }

    /// @inheritdoc IKeeperRegistry
    function deregister() external {
        Role role = _nodes[msg.sender].role;
        if (role == Role.None) revert KeeperRegistryNotRegistered(msg.sender);

        delete _nodes[msg.sender];
        _remove(role == Role.Keeper ? _keeperList : _validatorList, msg.sender);
        emit NodeDeregistered(msg.sender, role);
    }

    // ------------------------------------------------------------------------------------------
    // Manufacturers
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IKeeperRegistry
    /// @dev Approving an approved manufacturer again renames it and restarts `approvedAt`.
    function approveManufacturer(address account, string calldata name) external onlyOwner {
        if (account == address(0)) revert KeeperRegistryInvalidManufacturer(account);
        _manufacturers[account] = Manufacturer({approved: true, approvedAt: uint64(block.timestamp), name: name});
        emit ManufacturerApproved(account, name);
    }

    /// @inheritdoc IKeeperRegistry
    function revokeManufacturer(address account) external onlyOwner {
        if (!_manufacturers[account].approved) revert KeeperRegistryManufacturerNotApproved(account);
        delete _manufacturers[account];
        emit ManufacturerRevoked(account);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IKeeperRegistry
    function node(address account) external view returns (Node memory) {
        return _nodes[account];
    }

    /// @inheritdoc IKeeperRegistry
    function isKeeper(address account) external view returns (bool) {
        return _nodes[account].role == Role.Keeper;
    }

    /// @inheritdoc IKeeperRegistry
    function isValidator(address account) external view returns (bool) {
        return _nodes[account].role == Role.Validator;
    }

    /// @inheritdoc IKeeperRegistry
    function keepers() external view returns (address[] memory) {
        return _toArray(_keeperList);
    }

    /// @inheritdoc IKeeperRegistry
    function validators() external view returns (address[] memory) {
        return _toArray(_validatorList);
    }

    /// @notice Number of registered keepers.
    function keeperCount() external view returns (uint256) {
        return _keeperList.length;
    }

    /// @notice Number of registered validators.
    function validatorCount() external view returns (uint256) {
        return _validatorList.length;
    }

    /// @inheritdoc IKeeperRegistry
    function manufacturer(address account) external view returns (Manufacturer memory) {
        return _manufacturers[account];
    }

    /// @inheritdoc IKeeperRegistry
    function isApprovedManufacturer(address account) external view returns (bool) {
        return _manufacturers[account].approved;
    }

    /// @inheritdoc IKeeperRegistry
    function isValidCompressedKey(bytes calldata key) external view returns (bool) {
        return Secp256k1.isValidCompressed(key);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _validate(bytes calldata encryptionKey, string calldata endpoint) private view {
        if (!Secp256k1.isValidCompressed(encryptionKey)) revert KeeperRegistryInvalidEncryptionKey(encryptionKey);
        uint256 len = bytes(endpoint).length;
        if (len == 0 || len > MAX_ENDPOINT_BYTES) revert KeeperRegistryInvalidEndpoint(endpoint);
    }

    function _push(List storage list, address account) private {
        address tail = list.tail;
        if (tail == address(0)) list.head = account;
        else list.next[tail] = account;
        list.prev[account] = tail;
        list.tail = account;
        unchecked {
            ++list.length;
        }
    }

    function _remove(List storage list, address account) private {
        address prev = list.prev[account];
        address next = list.next[account];
        if (prev == address(0)) list.head = next;
        else list.next[prev] = next;
        if (next == address(0)) list.tail = prev;
        else list.prev[next] = prev;
        delete list.prev[account];
        delete list.next[account];
        unchecked {
            --list.length;
        }
    }

    function _toArray(List storage list) private view returns (address[] memory out) {
        out = new address[](list.length);
        address cur = list.head;
        for (uint256 i; i < out.length; ++i) {
            out[i] = cur;
            cur = list.next[cur];
        }
    }
}
