// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IKeeperRegistry
/// @notice The blockchain PKI of PHD exchange: key keepers and validators publish the secp256k1
/// key that shares are encrypted to and the HTTP endpoint they serve; the owner lists the device
/// manufacturers whose certificates the owner apps accept. Keepers and validators bond PHD
/// (at least `MIN_STAKE`) to register and prove possession of their encryption key; leaving is
/// `deregister` (request exit) then `withdrawStake` after `UNBONDING_DELAY`, longer than any
/// marketplace window, so that misbehaviour can still be slashed by the Marketplace.
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

    /// @notice A node's bond.
    /// @param amount PHD (wei units) bonded, slashable by the Marketplace.
    /// @param unlockAt 0 while active; after `deregister`, the time from which `withdrawStake` works.
    struct Stake {
        uint256 amount;
        uint64 unlockAt;
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
    event StakeAdded(address indexed node, uint256 amount, uint256 total);
    event ExitRequested(address indexed node, uint64 unlockAt);
    event StakeWithdrawn(address indexed node, uint256 amount);
    /// @param by The Marketplace, which received the slashed PHD.
    event Slashed(address indexed node, uint256 amount, uint256 remaining, address indexed by);
    event MarketplaceSet(address indexed marketplace);
    event SeriesMarketSet(address indexed seriesMarket);

    error KeeperRegistryAlreadyRegistered(address node, Role role);
    error KeeperRegistryNotRegistered(address node);
    error KeeperRegistryInvalidRole(Role role);
    /// @dev Wrong length, wrong prefix, x ≥ p, or x not on secp256k1.
    error KeeperRegistryInvalidEncryptionKey(bytes key);
    /// @dev Empty or longer than 256 bytes.
    error KeeperRegistryInvalidEndpoint(string endpoint);
    error KeeperRegistryInvalidManufacturer(address manufacturer);
    error KeeperRegistryManufacturerNotApproved(address manufacturer);
    /// @dev Below `MIN_STAKE` at registration, or zero in `addStake`.
    error KeeperRegistryInsufficientStake(uint256 amount, uint256 minimum);
    /// @dev The key proof is not a 65-byte signature by the encryption key over `keyProofDigest`.
    error KeeperRegistryInvalidKeyProof(address node);
    /// @dev `withdrawStake` before `deregister` or before `unlockAt`.
    error KeeperRegistryStakeLocked(address node, uint64 unlockAt);
    /// @dev The node already asked to leave (it may only `withdrawStake`).
    error KeeperRegistryExiting(address node, uint64 unlockAt);
    error KeeperRegistryNotMarketplace(address caller);
    error KeeperRegistryMarketplaceAlreadySet(address marketplace);
    error KeeperRegistrySeriesMarketAlreadySet(address seriesMarket);
    error KeeperRegistryInvalidConfig();
    error KeeperRegistryRenounceDisabled();

    /// @notice Registers the caller as a keeper or validator, pulling `stakeAmount` (≥ `MIN_STAKE`)
    /// PHD from it (approve the registry first).
    /// @param keyProof 65-byte secp256k1 signature r ‖ s ‖ v (v = 27/28) by the private key of
    /// `encryptionKey` over `keyProofDigest(msg.sender)` (no EIP-191 prefix).
    function register(
        Role role,
        bytes calldata encryptionKey,
        string calldata endpoint,
        uint256 stakeAmount,
        bytes calldata keyProof
    ) external;

    /// @notice Rotates the caller's encryption key and/or endpoint; the new key must be proven too.
    function update(bytes calldata encryptionKey, string calldata endpoint, bytes calldata keyProof) external;

    /// @notice Requests exit: the caller leaves the keeper/validator lists at once and may
    /// `withdrawStake` after `UNBONDING_DELAY`; until then its stake stays slashable. Datasets
    /// that list it keep working with the remaining keepers.
    function deregister() external;

    /// @notice Adds `amount` PHD to the caller's bond (an active node).
    function addStake(uint256 amount) external;

    /// @notice After `deregister` and `UNBONDING_DELAY`: returns the whole remaining bond and
    /// forgets the node (it may register again).
    function withdrawStake() external returns (uint256 amount);

    /// @notice Marketplace or SeriesMarket only: takes up to `amount` of `account`'s bond (also while unbonding)
    /// and transfers it to the caller. A node left below `MIN_STAKE` is deregistered.
    /// @return slashed What was actually taken (≤ amount).
    function slash(address account, uint256 amount) external returns (uint256 slashed);

    /// @notice Owner only, once: the Marketplace allowed to slash (and whose grants the
    /// DataRegistry trusts).
    function setMarketplace(address marketplace_) external;

    /// @notice Owner only, once: the SeriesMarket allowed to slash (bad series releases).
    function setSeriesMarket(address seriesMarket_) external;

    /// @notice Owner only: accept certificates signed by `manufacturer`.
    function approveManufacturer(address manufacturer, string calldata name) external;

    /// @notice Owner only: stop accepting certificates signed by `manufacturer`.
    function revokeManufacturer(address manufacturer) external;

    function node(address account) external view returns (Node memory);
    /// @notice Registered as keeper, not exiting, bond ≥ MIN_STAKE.
    function isKeeper(address account) external view returns (bool);
    /// @notice Registered as validator, not exiting, bond ≥ MIN_STAKE.
    function isValidator(address account) external view returns (bool);
    function stakeOf(address account) external view returns (Stake memory);
    /// @notice The digest the encryption key signs to register: keccak256(abi.encode(
    /// KEY_PROOF_TAG, block.chainid, address(this), account)).
    function keyProofDigest(address account) external view returns (bytes32);
    function MIN_STAKE() external view returns (uint256);
    function UNBONDING_DELAY() external view returns (uint64);
    function STAKE_TOKEN() external view returns (address);
    function marketplace() external view returns (address);
    /// @notice The SeriesMarket allowed to slash for proven bad series releases (set once).
    function seriesMarket() external view returns (address);
    function totalStaked() external view returns (uint256);
    /// @notice All currently registered keepers, in registration order.
    function keepers() external view returns (address[] memory);
    /// @notice All currently registered validators, in registration order.
    function validators() external view returns (address[] memory);
    function manufacturer(address account) external view returns (Manufacturer memory);
    function isApprovedManufacturer(address account) external view returns (bool);
    /// @notice True when `key` is a 33-byte compressed secp256k1 point on the curve.
    function isValidCompressedKey(bytes calldata key) external view returns (bool);
}
