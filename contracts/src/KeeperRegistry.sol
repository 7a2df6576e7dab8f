// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IKeeperRegistry} from "./interfaces/IKeeperRegistry.sol";
import {Secp256k1} from "./libraries/Secp256k1.sol";

/// @title KeeperRegistry
/// @notice The PKI of PHD exchange. Key keepers and validators register the compressed secp256k1
/// key that shares are ECIES-encrypted to and the base URL of their HTTP API; the owner keeps the
/// list of device manufacturers whose certificates owner apps accept.
/// @dev Registration is permissionless but bonded: a node stakes at least `MIN_STAKE` PHD and
/// proves it holds the private key of the encryption key it publishes (a signature by that key
/// over chain id, this registry and its account), so nobody can register someone else's key.
/// Leaving takes `UNBONDING_DELAY`, longer than every Marketplace window, and the stake stays
/// slashable (by the Marketplace and the SeriesMarket only) until withdrawn. Ownership is two-step and cannot be
/// renounced. Keepers and validators are kept in two doubly linked lists so that
/// `keepers()`/`validators()` return registration order while removal stays O(1).
/// Invariant: STAKE_TOKEN.balanceOf(this) ≥ totalStaked (== for a plain ERC-20, without donations).
contract KeeperRegistry is IKeeperRegistry, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Longest accepted endpoint URL, in bytes.
    uint256 public constant MAX_ENDPOINT_BYTES = 256;
    /// @notice Domain tag of the key-possession proof.
    bytes32 public constant KEY_PROOF_TAG = keccak256("PHD exchange KeeperRegistry key proof v1");
    /// @dev (p + 1) / 4: square roots mod p (p ≡ 3 mod 4).
    uint256 private constant SQRT_EXPONENT = 0x3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBFFFFF0C;
    /// @dev secp256k1 group order / 2: larger s values are rejected (malleability).
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @inheritdoc IKeeperRegistry
    uint256 public immutable MIN_STAKE;
    /// @inheritdoc IKeeperRegistry
    uint64 public immutable UNBONDING_DELAY;
    IERC20 private immutable _STAKE_TOKEN;

    /// @dev A node as stored: role, times and bond share slot 0.
    struct NodeData {
        Role role;
        uint64 registeredAt;
        uint96 stake;
        uint64 unlockAt;
        bytes encryptionKey;
        string endpoint;
    }

    /// @dev Insertion-ordered set of addresses with O(1) removal.
    struct List {
        address head;
        address tail;
        uint256 length;
        mapping(address => address) next;
        mapping(address => address) prev;
    }

    mapping(address account => NodeData) private _nodes;
    mapping(address account => Manufacturer) private _manufacturers;
    List private _keeperList;
    List private _validatorList;
    /// @inheritdoc IKeeperRegistry
    address public marketplace;
    /// @inheritdoc IKeeperRegistry
    uint256 public totalStaked;
    /// @inheritdoc IKeeperRegistry
    address public seriesMarket;

    /// @param initialOwner Administers the approved manufacturers and sets the Marketplace once.
    /// @param stakeToken The PHD coin bonded by nodes.
    /// @param minStake Smallest bond (wei units), > 0 and < 2⁹⁶.
    /// @param unbondingDelay Seconds between `deregister` and `withdrawStake` (> 0); the
    /// Marketplace refuses to deploy when its windows do not fit inside it.
    constructor(address initialOwner, IERC20 stakeToken, uint256 minStake, uint64 unbondingDelay)
        Ownable(initialOwner)
    {
        if (address(stakeToken) == address(0) || minStake == 0 || minStake > type(uint96).max || unbondingDelay == 0) {
            revert KeeperRegistryInvalidConfig();
        }
        _STAKE_TOKEN = stakeToken;
        MIN_STAKE = minStake;
        UNBONDING_DELAY = unbondingDelay;
    }

    // ------------------------------------------------------------------------------------------
    // Nodes
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IKeeperRegistry
    function register(
        Role role,
        bytes calldata encryptionKey,
        string calldata endpoint,
        uint256 stakeAmount,
        bytes calldata keyProof
    ) external nonReentrant {
        if (role != Role.Keeper && role != Role.Validator) revert KeeperRegistryInvalidRole(role);
        NodeData storage n = _nodes[msg.sender];
        if (n.role != Role.None) revert KeeperRegistryAlreadyRegistered(msg.sender, n.role);
        _validate(encryptionKey, endpoint, keyProof);
        if (stakeAmount < MIN_STAKE || stakeAmount > type(uint96).max) {
            revert KeeperRegistryInsufficientStake(stakeAmount, MIN_STAKE);
        }

        n.role = role;
        n.registeredAt = uint64(block.timestamp);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked above
        n.stake = uint96(stakeAmount);
        n.encryptionKey = encryptionKey;
        n.endpoint = endpoint;
        totalStaked += stakeAmount;
        _push(role == Role.Keeper ? _keeperList : _validatorList, msg.sender);
        emit NodeRegistered(msg.sender, role, encryptionKey, endpoint);
        emit StakeAdded(msg.sender, stakeAmount, stakeAmount);
        _STAKE_TOKEN.safeTransferFrom(msg.sender, address(this), stakeAmount);
    }

    /// @inheritdoc IKeeperRegistry
    function update(bytes calldata encryptionKey, string calldata endpoint, bytes calldata keyProof) external {
        NodeData storage n = _active(msg.sender);
        _validate(encryptionKey, endpoint, keyProof);

        n.encryptionKey = encryptionKey;
        n.endpoint = endpoint;
        emit NodeUpdated(msg.sender, encryptionKey, endpoint);
    }

    /// @inheritdoc IKeeperRegistry
    function deregister() external {
        NodeData storage n = _active(msg.sender);
        _exit(msg.sender, n);
    }

    /// @inheritdoc IKeeperRegistry
    function addStake(uint256 amount) external nonReentrant {
        NodeData storage n = _active(msg.sender);
        uint256 total = n.stake + amount;
        if (amount == 0 || total > type(uint96).max) revert KeeperRegistryInsufficientStake(amount, 1);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked above
        n.stake = uint96(total);
        totalStaked += amount;
        emit StakeAdded(msg.sender, amount, total);
        _STAKE_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IKeeperRegistry
    function withdrawStake() external nonReentrant returns (uint256 amount) {
        NodeData storage n = _nodes[msg.sender];
        if (n.role == Role.None) revert KeeperRegistryNotRegistered(msg.sender);
        uint64 unlockAt = n.unlockAt;
        if (unlockAt == 0 || block.timestamp < unlockAt) revert KeeperRegistryStakeLocked(msg.sender, unlockAt);

        amount = n.stake;
        delete _nodes[msg.sender];
        totalStaked -= amount;
        emit StakeWithdrawn(msg.sender, amount);
        if (amount != 0) _STAKE_TOKEN.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IKeeperRegistry
    function slash(address account, uint256 amount) external nonReentrant returns (uint256 slashed) {
        // Unset slashers are address(0), which never calls.
        if (msg.sender != marketplace && msg.sender != seriesMarket) revert KeeperRegistryNotMarketplace(msg.sender);
        NodeData storage n = _nodes[account];
        uint256 stake = n.stake;
        slashed = amount < stake ? amount : stake;
        if (slashed == 0) return 0;

        uint256 remaining = stake - slashed;
        // forge-lint: disable-next-line(unsafe-typecast) -- remaining < stake < 2⁹⁶
        n.stake = uint96(remaining);
        totalStaked -= slashed;
        emit Slashed(account, slashed, remaining, msg.sender);
        if (remaining < MIN_STAKE && n.unlockAt == 0) _exit(account, n);
        _STAKE_TOKEN.safeTransfer(msg.sender, slashed);
    }

    /// @inheritdoc IKeeperRegistry
    function setMarketplace(address marketplace_) external onlyOwner {
        if (marketplace != address(0)) revert KeeperRegistryMarketplaceAlreadySet(marketplace);
        if (marketplace_ == address(0)) revert KeeperRegistryInvalidConfig();
        marketplace = marketplace_;
        emit MarketplaceSet(marketplace_);
    }

    /// @inheritdoc IKeeperRegistry
    function setSeriesMarket(address seriesMarket_) external onlyOwner {
        if (seriesMarket != address(0)) revert KeeperRegistrySeriesMarketAlreadySet(seriesMarket);
        if (seriesMarket_ == address(0)) revert KeeperRegistryInvalidConfig();
        seriesMarket = seriesMarket_;
        emit SeriesMarketSet(seriesMarket_);
    }

    /// @notice Disabled: the registry must always have an owner (manufacturer list).
    function renounceOwnership() public view override onlyOwner {
        revert KeeperRegistryRenounceDisabled();
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
    /// @dev An exiting node (still unbonding) is returned with its role; see `stakeOf`.
    function node(address account) external view returns (Node memory) {
        NodeData storage n = _nodes[account];
        return Node({role: n.role, registeredAt: n.registeredAt, encryptionKey: n.encryptionKey, endpoint: n.endpoint});
    }

    /// @inheritdoc IKeeperRegistry
    function isKeeper(address account) external view returns (bool) {
        return _isBonded(account, Role.Keeper);
    }

    /// @inheritdoc IKeeperRegistry
    function isValidator(address account) external view returns (bool) {
        return _isBonded(account, Role.Validator);
    }

    /// @inheritdoc IKeeperRegistry
    function stakeOf(address account) external view returns (Stake memory) {
        NodeData storage n = _nodes[account];
        return Stake({amount: n.stake, unlockAt: n.unlockAt});
    }

    /// @inheritdoc IKeeperRegistry
    function keyProofDigest(address account) public view returns (bytes32) {
        return keccak256(abi.encode(KEY_PROOF_TAG, block.chainid, address(this), account));
    }

    /// @inheritdoc IKeeperRegistry
    function STAKE_TOKEN() external view returns (address) {
        return address(_STAKE_TOKEN);
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

    function _validate(bytes calldata encryptionKey, string calldata endpoint, bytes calldata keyProof) private view {
        if (!Secp256k1.isValidCompressed(encryptionKey)) revert KeeperRegistryInvalidEncryptionKey(encryptionKey);
        uint256 len = bytes(endpoint).length;
        if (len == 0 || len > MAX_ENDPOINT_BYTES) revert KeeperRegistryInvalidEndpoint(endpoint);
        if (!_provesKey(encryptionKey, keyProof)) revert KeeperRegistryInvalidKeyProof(msg.sender);
    }

    /// @dev True when `proof` (r ‖ s ‖ v) recovers to the Ethereum address of the (valid,
    /// compressed) `key` over `keyProofDigest(msg.sender)`.
    function _provesKey(bytes calldata key, bytes calldata proof) private view returns (bool) {
        if (proof.length != 65) return false;
        bytes32 r = bytes32(proof[0:32]);
        bytes32 s = bytes32(proof[32:64]);
        uint8 v = uint8(proof[64]);
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) return false;
        address signer = ecrecover(keyProofDigest(msg.sender), v, r, s);
        return signer != address(0) && signer == _addressOf(key);
    }

    /// @dev Ethereum address of a valid compressed key: y = (x³ + 7)^((p+1)/4) with the prefix's parity.
    function _addressOf(bytes calldata key) private view returns (address) {
        uint256 x = uint256(bytes32(key[1:33]));
        uint256 p = Secp256k1.P;
        uint256 y = Secp256k1.modExp(addmod(mulmod(mulmod(x, x, p), x, p), 7, p), SQRT_EXPONENT);
        if ((y & 1) != (uint8(key[0]) & 1)) y = p - y;
        return address(uint160(uint256(keccak256(abi.encodePacked(x, y)))));
    }

    function _active(address account) private view returns (NodeData storage n) {
        n = _nodes[account];
        if (n.role == Role.None) revert KeeperRegistryNotRegistered(account);
        if (n.unlockAt != 0) revert KeeperRegistryExiting(account, n.unlockAt);
    }

    function _isBonded(address account, Role role) private view returns (bool) {
        NodeData storage n = _nodes[account];
        return n.role == role && n.unlockAt == 0 && n.stake >= MIN_STAKE;
    }

    /// @dev Leaves the lists and starts unbonding.
    function _exit(address account, NodeData storage n) private {
        Role role = n.role;
        uint64 unlockAt = uint64(block.timestamp) + UNBONDING_DELAY;
        n.unlockAt = unlockAt;
        _remove(role == Role.Keeper ? _keeperList : _validatorList, account);
        emit NodeDeregistered(account, role);
        emit ExitRequested(account, unlockAt);
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
