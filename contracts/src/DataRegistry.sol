// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IMarketplace} from "./interfaces/IMarketplace.sol";
import {IDataRegistry} from "./interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "./interfaces/IKeeperRegistry.sol";
import {IPHDCoin} from "./interfaces/IPHDCoin.sol";
import {Purposes} from "./Purposes.sol";
import {Secp256k1} from "./libraries/Secp256k1.sol";
import {ShareProof} from "./libraries/ShareProof.sol";
import {SealKeyCheck} from "./libraries/SealKeyCheck.sol";

/// @title DataRegistry
/// @notice Listings of sealed health datasets. Lifecycle: `publish` → Pending; the
/// `threshold`-th keeper `acknowledgeShare` → Active (purchasable); `withdrawConsent` (from
/// Pending or Active) → Withdrawn, final, after which every listed keeper `confirmErasure`s.
/// Certificates come only from staked, independent validators that hold a settled grant for the
/// dataset; they are kept as a history (one per validator). `MIN_CERTIFICATIONS` certificates with
/// a score ≥ `MIN_SCORE_BPS` certify the dataset and pay its owner `CERTIFICATION_REWARD` once,
/// from a reward pool funded in advance (`fundRewards`): rewards can never exceed what was funded.
/// Every listing deposits `LISTING_BOND`; a buyer who received threshold shares and finds that the
/// object does not open under the committed key proves it (through the Marketplace,
/// `delistForOwnerFraud`): the bond is slashed and the dataset Delisted. Otherwise the owner takes
/// the bond back once the listing is withdrawn and no proof can come any more.
/// @dev Storage is laid out for the Marketplace's hot paths: `purchaseTerms` reads three slots,
/// `deliveryTerms` two, `settlementParties` one plus one per delivering keeper. Commitments are
/// stored as their x-coordinates plus a parity bitmap (one slot per commitment instead of three).
contract DataRegistry is IDataRegistry, ReentrancyGuardTransient {
    using Purposes for uint256;
    using SafeERC20 for IERC20;

    /// @notice Largest metadata blob accepted by `publish`, in bytes.
    uint256 public constant MAX_METADATA_BYTES = 4096;
    /// @notice Longest `storageUri` / `reportUri`, in bytes.
    uint256 public constant MAX_URI_BYTES = 512;
    /// @notice Largest keeper list: bounds the worst `publish` well below the 16 777 216 gas cap
    /// of one transaction (EIP-7825) and fits the Marketplace's 32-bit share bitmaps.
    uint256 public constant MAX_KEEPERS = 32;
    /// @notice Smallest threshold.
    uint256 public constant MIN_THRESHOLD = 2;
    /// @notice Largest score a certificate may carry, in basis points.
    uint16 public constant MAX_SCORE_BPS = 10_000;
    /// @notice Share of a slashed listing bond paid to the buyer who proved the fraud; the rest
    /// goes to the reward pool, so an owner proving fraud on its own listing (it knows the secret)
    /// still loses half of its bond.
    uint16 public constant FRAUD_BOND_TO_BUYER_BPS = 5_000;

    /// @notice The coin the rewards are paid in.
    IPHDCoin public immutable TOKEN;
    /// @dev Where keepers and validators are registered (and the Marketplace is named).
    IKeeperRegistry private immutable _KEEPER_REGISTRY;
    /// @notice PHD (wei units) paid from the pool to a dataset's owner when it becomes certified.
    uint256 public immutable CERTIFICATION_REWARD;
    /// @inheritdoc IDataRegistry
    uint16 public immutable MIN_SCORE_BPS;
    /// @inheritdoc IDataRegistry
    uint8 public immutable MIN_CERTIFICATIONS;
    /// @inheritdoc IDataRegistry
    uint256 public immutable LISTING_BOND;

    /// @dev Per-dataset certificate counters, one slot.
    struct CertStats {
        uint32 count;
        uint32 counted;
        uint64 scoreSum;
        bool rewarded;
    }

    /// @dev A dataset as stored. Slot 0 and 1 hold everything the marketplace needs.
    struct DatasetData {
        // slot 0
        address owner;
        Status status;
        uint8 threshold;
        uint8 keeperCount;
        uint8 acknowledged;
        uint8 erasures;
        bool certified;
        uint40 publishedAt;
        // slot 1
        uint96 price;
        /// @dev When consent was withdrawn or the dataset delisted (the first of the two).
        uint40 withdrawnAt;
        /// @dev Listing bond held (0 once reclaimed or slashed).
        uint96 bond;
        // slot 2..
        uint256 purposes;
        /// @dev Bit j set when commitment j has prefix 0x03 (odd y).
        uint256 commitmentParity;
        bytes32 contentRoot;
        bytes32 metadataHash;
        bytes32 consentTermsHash;
        string storageUri;
    }

    /// @dev One listed keeper (share index i ↦ slot), flags packed with the address.
    struct KeeperSlot {
        address keeper;
        bool acknowledged;
        bool erased;
    }

    uint256 private _datasetCount;
    mapping(uint256 datasetId => DatasetData) private _datasets;
    mapping(uint256 datasetId => mapping(uint256 shareIndex => KeeperSlot)) private _keeperAt;
    mapping(uint256 datasetId => mapping(address keeper => uint8 shareIndex)) private _shareIndex;
    mapping(uint256 datasetId => mapping(uint256 j => bytes32 x)) private _commitmentX;
    mapping(uint256 datasetId => mapping(uint256 index => Certification)) private _certifications;
    mapping(uint256 datasetId => CertStats) private _certStats;
    mapping(uint256 datasetId => mapping(address validator => bool)) private _certifiedBy;
    /// @inheritdoc IDataRegistry
    uint256 public rewardPool;
    /// @inheritdoc IDataRegistry
    uint256 public listingBonds;

    /// @param token PHD coin the rewards are paid in (from the pool; no minting).
    /// @param keeperRegistry Registry of keepers and validators.
    /// @param reward CERTIFICATION_REWARD in wei units (the deployment uses 10 PHD = 10·10¹⁸).
    /// @param minScoreBps Smallest score (basis points) of a counting certificate (≤ 10 000).
    /// @param minCertifications Counting certificates needed to be certified (k ≥ 1).
    /// @param listingBond PHD (wei units) every `publish` deposits (≤ 2⁹⁶ − 1).
    constructor(
        IPHDCoin token,
        IKeeperRegistry keeperRegistry,
        uint256 reward,
        uint16 minScoreBps,
        uint8 minCertifications,
        uint256 listingBond
    ) {
        if (
            address(token) == address(0) || address(keeperRegistry) == address(0) || minScoreBps > MAX_SCORE_BPS
                || minCertifications == 0 || listingBond > type(uint96).max
        ) revert DataRegistryInvalidConfig();
        LISTING_BOND = listingBond;
        TOKEN = token;
        _KEEPER_REGISTRY = keeperRegistry;
        CERTIFICATION_REWARD = reward;
        MIN_SCORE_BPS = minScoreBps;
        MIN_CERTIFICATIONS = minCertifications;
    }

    // ------------------------------------------------------------------------------------------
    // Owner actions
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDataRegistry
    function publish(PublishParams calldata params) external nonReentrant returns (uint256 datasetId) {
        uint256 uriLength = bytes(params.storageUri).length;
        if (uriLength == 0) revert DataRegistryEmptyStorageUri();
        if (uriLength > MAX_URI_BYTES) revert DataRegistryStorageUriTooLong(uriLength, MAX_URI_BYTES);
        if (params.metadata.length > MAX_METADATA_BYTES) {
            revert DataRegistryMetadataTooLarge(params.metadata.length, MAX_METADATA_BYTES);
        }
        if (params.purposes == 0) revert DataRegistryNoPurposes();
        if (params.purposes & ~Purposes.ALL != 0) revert DataRegistryUnknownPurposes(params.purposes);
        _checkPrice(params.price);
        uint256 n = params.keepers.length;
        uint8 t = params.threshold;
        if (t < MIN_THRESHOLD || t > n || n > MAX_KEEPERS) revert DataRegistryInvalidThreshold(t, n);
        if (params.commitments.length != t) revert DataRegistryInvalidCommitments(t, params.commitments.length);

        datasetId = ++_datasetCount;

        uint256 parity;
        for (uint256 j; j < t; ++j) {
            bytes calldata c = params.commitments[j];
            if (!Secp256k1.isValidCompressed(c)) revert DataRegistryInvalidCommitment(j);
            // forge-lint: disable-next-line(incorrect-shift)
            if (c[0] == 0x03) parity |= 1 << j;
            _commitmentX[datasetId][j] = bytes32(c[1:33]);
        }

        for (uint256 i; i < n; ++i) {
            address keeper = params.keepers[i];
            if (!_KEEPER_REGISTRY.isKeeper(keeper)) revert DataRegistryKeeperNotRegistered(keeper);
            if (_shareIndex[datasetId][keeper] != 0) revert DataRegistryDuplicateKeeper(keeper);
            // forge-lint: disable-next-line(unsafe-typecast) -- i < n ≤ 32
            uint8 shareIndex = uint8(i + 1);
            _shareIndex[datasetId][keeper] = shareIndex;
            _keeperAt[datasetId][shareIndex].keeper = keeper;
        }

        DatasetData storage d = _datasets[datasetId];
        d.owner = msg.sender;
        d.status = Status.Pending;
        d.threshold = t;
        // forge-lint: disable-next-line(unsafe-typecast) -- n ≤ 32 checked
        d.keeperCount = uint8(n);
        d.publishedAt = uint40(block.timestamp);
        // forge-lint: disable-next-line(unsafe-typecast) -- _checkPrice
        d.price = uint96(params.price);
        d.purposes = params.purposes;
        if (parity != 0) d.commitmentParity = parity;
        d.contentRoot = params.contentRoot;
        d.metadataHash = keccak256(params.metadata);
        d.consentTermsHash = params.consentTermsHash;
        d.storageUri = params.storageUri;
        uint256 bond = LISTING_BOND;
        if (bond != 0) {
            // forge-lint: disable-next-line(unsafe-typecast) -- LISTING_BOND ≤ 2⁹⁶ − 1 (constructor)
            d.bond = uint96(bond);
            listingBonds += bond;
        }

        _emitPublished(datasetId, params);
        if (bond != 0) {
            emit ListingBondPosted(datasetId, msg.sender, bond);
            IERC20(address(TOKEN)).safeTransferFrom(msg.sender, address(this), bond);
        }
    }

    /// @inheritdoc IDataRegistry
    function reclaimListingBond(uint256 datasetId) external nonReentrant returns (uint256 amount) {
        DatasetData storage d = _existing(datasetId);
        address owner = d.owner;
        if (owner != msg.sender) revert DataRegistryNotOwner(datasetId, msg.sender);
        amount = d.bond;
        if (amount == 0) revert DataRegistryNoListingBond(datasetId);
        if (d.status != Status.Withdrawn) revert DataRegistryListingBondLocked(datasetId, type(uint256).max);
        // Deliveries stop at the withdrawal, so every purchase that reached threshold did so by
        // then and its proof window (the confirmation window) ends by this time.
        address market = _KEEPER_REGISTRY.marketplace();
        uint256 unlocksAt = d.withdrawnAt + (market == address(0) ? 0 : IMarketplace(market).confirmationWindow());
        if (block.timestamp < unlocksAt) revert DataRegistryListingBondLocked(datasetId, unlocksAt);

        d.bond = 0;
        listingBonds -= amount;
        emit ListingBondReclaimed(datasetId, owner, amount);
        IERC20(address(TOKEN)).safeTransfer(owner, amount);
    }

    /// @inheritdoc IDataRegistry
    function delistForOwnerFraud(
        uint256 datasetId,
        address beneficiary,
        uint256 keeperPay,
        uint256 secret,
        bytes calldata header,
        uint64 chunkCount,
        uint64 plaintextLen,
        bytes32 treeRoot
    ) external nonReentrant returns (uint256 toBeneficiary) {
        if (msg.sender != _KEEPER_REGISTRY.marketplace()) revert DataRegistryNotMarketplace(msg.sender);
        DatasetData storage d = _existing(datasetId);
        _requireOwnerFraud(datasetId, d, secret, header, chunkCount, plaintextLen, treeRoot);
        toBeneficiary = _slashForFraud(datasetId, d, beneficiary, keeperPay);
    }

    /// @dev Slashes the bond (keepers' pay to the Marketplace first, then halves of the rest) and
    /// delists the dataset.
    function _slashForFraud(uint256 datasetId, DatasetData storage d, address beneficiary, uint256 keeperPay)
        private
        returns (uint256 toBeneficiary)
    {
        uint256 bond = d.bond;
        // Checked: the Marketplace (the only caller) caps the keepers' pay at the bond it read.
        uint256 rest = bond - keeperPay;
        toBeneficiary = rest * FRAUD_BOND_TO_BUYER_BPS / MAX_SCORE_BPS;
        uint256 toPool = rest - toBeneficiary;
        if (bond != 0) {
            d.bond = 0;
            listingBonds -= bond;
            rewardPool += toPool;
        }
        Status status = d.status;
        bool delists = status == Status.Pending || status == Status.Active;
        if (delists) {
            d.status = Status.Delisted;
            d.withdrawnAt = uint40(block.timestamp);
        }
        emit OwnerFraudProven(datasetId, d.owner, beneficiary, keeperPay, toBeneficiary, toPool);
        if (delists) emit Delisted(datasetId);
        if (keeperPay != 0) IERC20(address(TOKEN)).safeTransfer(msg.sender, keeperPay);
        if (toBeneficiary != 0) IERC20(address(TOKEN)).safeTransfer(beneficiary, toBeneficiary);
    }

    /// @dev Reverts unless `secret` opens C0, the evidence hashes to the listed content root, and
    /// the header's key check differs from the one of the secret's data key.
    function _requireOwnerFraud(
        uint256 datasetId,
        DatasetData storage d,
        uint256 secret,
        bytes calldata header,
        uint64 chunkCount,
        uint64 plaintextLen,
        bytes32 treeRoot
    ) private view {
        if (header.length != SealKeyCheck.HEADER_LENGTH) revert DataRegistryInvalidHeader(header.length);
        // Only the reduced scalar derives the key the owner's app derived (phd-keys: 1 ≤ s < n);
        // s + n would pass the curve check but derive another key.
        if (secret == 0 || secret >= ShareProof.N) revert DataRegistryInvalidSecret(datasetId);
        bytes[] memory c0 = new bytes[](1);
        c0[0] = abi.encodePacked((d.commitmentParity & 1) == 1 ? bytes1(0x03) : bytes1(0x02), _commitmentX[datasetId][0]);
        if (!ShareProof.isCorrectShare(secret, 0, c0)) revert DataRegistryInvalidSecret(datasetId);
        bytes32 root = SealKeyCheck.contentRoot(header, chunkCount, plaintextLen, treeRoot);
        bytes32 listed = d.contentRoot;
        if (root != listed) revert DataRegistryContentRootMismatch(datasetId, listed, root);
        (bytes32 salt, bytes16 claimed) = SealKeyCheck.headerFields(header);
        if (SealKeyCheck.keyCheck(SealKeyCheck.dataKey(secret), salt) == claimed) {
            revert DataRegistryKeyCheckMatches(datasetId);
        }
    }

    /// @inheritdoc IDataRegistry
    function setPrice(uint256 datasetId, uint256 newPrice) external {
        DatasetData storage d = _existing(datasetId);
        if (d.owner != msg.sender) revert DataRegistryNotOwner(datasetId, msg.sender);
        if (d.status >= Status.Withdrawn) revert DataRegistryWrongStatus(datasetId, d.status);
        _checkPrice(newPrice);
        uint256 oldPrice = d.price;
        // forge-lint: disable-next-line(unsafe-typecast) -- _checkPrice
        d.price = uint96(newPrice);
        emit PriceChanged(datasetId, oldPrice, newPrice);
    }

    /// @inheritdoc IDataRegistry
    function withdrawConsent(uint256 datasetId) external {
        DatasetData storage d = _existing(datasetId);
        if (d.owner != msg.sender) revert DataRegistryNotOwner(datasetId, msg.sender);
        if (d.status == Status.Withdrawn) revert DataRegistryWrongStatus(datasetId, Status.Withdrawn);
        // A delisted dataset keeps its delisting time (it bounds the bond's proof window).
        if (d.status != Status.Delisted) d.withdrawnAt = uint40(block.timestamp);
        d.status = Status.Withdrawn;
        emit ConsentWithdrawn(datasetId, msg.sender);
    }

    // ------------------------------------------------------------------------------------------
    // Keeper actions
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDataRegistry
    function acknowledgeShare(uint256 datasetId) external {
        DatasetData storage d = _existing(datasetId);
        uint8 shareIndex = _shareIndex[datasetId][msg.sender];
        if (shareIndex == 0) revert DataRegistryNotListedKeeper(datasetId, msg.sender);
        Status status = d.status;
        if (status >= Status.Withdrawn) revert DataRegistryWrongStatus(datasetId, status);
        KeeperSlot storage k = _keeperAt[datasetId][shareIndex];
        if (k.acknowledged) revert DataRegistryAlreadyAcknowledged(datasetId, msg.sender);

        k.acknowledged = true;
        uint8 acknowledged = d.acknowledged + 1;
        d.acknowledged = acknowledged;
        bool activates = status == Status.Pending && acknowledged >= d.threshold;
        if (activates) d.status = Status.Active;
        emit ShareAcknowledged(datasetId, msg.sender, shareIndex, acknowledged);
        if (activates) emit Activated(datasetId);
    }

    /// @inheritdoc IDataRegistry
    function confirmErasure(uint256 datasetId) external {
        DatasetData storage d = _existing(datasetId);
        uint8 shareIndex = _shareIndex[datasetId][msg.sender];
        if (shareIndex == 0) revert DataRegistryNotListedKeeper(datasetId, msg.sender);
        if (d.status != Status.Withdrawn) revert DataRegistryWrongStatus(datasetId, d.status);
        KeeperSlot storage k = _keeperAt[datasetId][shareIndex];
        if (k.erased) revert DataRegistryAlreadyConfirmedErasure(datasetId, msg.sender);

        k.erased = true;
        uint8 erasures = d.erasures + 1;
        d.erasures = erasures;
        emit ErasureConfirmed(datasetId, msg.sender, erasures);
    }

    // ------------------------------------------------------------------------------------------
    // Validator actions
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDataRegistry
    function certify(uint256 datasetId, uint16 scoreBps, bytes32 modelId, bytes32 reportHash, string calldata reportUri)
        external
        nonReentrant
    {
        if (!_KEEPER_REGISTRY.isValidator(msg.sender)) revert DataRegistryNotValidator(msg.sender);
        if (scoreBps > MAX_SCORE_BPS) revert DataRegistryInvalidScore(scoreBps);
        if (bytes(reportUri).length > MAX_URI_BYTES) {
            revert DataRegistryReportUriTooLong(bytes(reportUri).length, MAX_URI_BYTES);
        }
        DatasetData storage d = _existing(datasetId);
        if (d.status != Status.Active) revert DataRegistryWrongStatus(datasetId, d.status);
        if (_certifiedBy[datasetId][msg.sender]) revert DataRegistryAlreadyCertifiedBy(datasetId, msg.sender);
        address owner = d.owner;
        if (msg.sender == owner || _shareIndex[datasetId][msg.sender] != 0) {
            revert DataRegistryValidatorNotIndependent(datasetId, msg.sender);
        }
        address market = _KEEPER_REGISTRY.marketplace();
        if (
            market == address(0) || IMarketplace(market).dataRegistry() != address(this)
                || !IMarketplace(market).accessGranted(datasetId, msg.sender)
        ) {
            revert DataRegistryAccessNotGranted(datasetId, msg.sender);
        }

        _certifiedBy[datasetId][msg.sender] = true;
        CertStats memory st = _certStats[datasetId];
        _certifications[datasetId][st.count] = Certification({
            validator: msg.sender,
            scoreBps: scoreBps,
            certifiedAt: uint64(block.timestamp),
            modelId: modelId,
            reportHash: reportHash,
            reportUri: reportUri
        });
        ++st.count;
        st.scoreSum += scoreBps;
        if (scoreBps >= MIN_SCORE_BPS) ++st.counted;
        bool reached = !st.rewarded && st.counted >= MIN_CERTIFICATIONS;
        uint256 reward;
        if (reached) {
            st.rewarded = true;
            d.certified = true;
            uint256 pool = rewardPool;
            reward = CERTIFICATION_REWARD < pool ? CERTIFICATION_REWARD : pool;
            if (reward != 0) rewardPool = pool - reward;
        }
        _certStats[datasetId] = st;
        emit Certified(datasetId, msg.sender, scoreBps, modelId, reportHash, reportUri, reward);
        if (reached) emit CertificationReached(datasetId, st.counted, _mean(st));
        if (reward != 0) IERC20(address(TOKEN)).safeTransfer(owner, reward);
    }

    /// @inheritdoc IDataRegistry
    function fundRewards(uint256 amount) external nonReentrant {
        uint256 pool = rewardPool + amount;
        rewardPool = pool;
        emit RewardsFunded(msg.sender, amount, pool);
        IERC20(address(TOKEN)).safeTransferFrom(msg.sender, address(this), amount);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDataRegistry
    function listingBondOf(uint256 datasetId) external view returns (uint256) {
        return _datasets[datasetId].bond;
    }

    /// @inheritdoc IDataRegistry
    function datasetCount() external view returns (uint256) {
        return _datasetCount;
    }

    /// @inheritdoc IDataRegistry
    function dataset(uint256 datasetId) external view returns (Dataset memory) {
        DatasetData storage d = _existing(datasetId);
        return Dataset({
            owner: d.owner,
            status: d.status,
            threshold: d.threshold,
            keeperCount: d.keeperCount,
            acknowledged: d.acknowledged,
            erasures: d.erasures,
            publishedAt: d.publishedAt,
            withdrawnAt: d.withdrawnAt,
            price: d.price,
            purposes: d.purposes,
            contentRoot: d.contentRoot,
            metadataHash: d.metadataHash,
            consentTermsHash: d.consentTermsHash,
            storageUri: d.storageUri
        });
    }

    /// @inheritdoc IDataRegistry
    function keepersOf(uint256 datasetId) external view returns (address[] memory out) {
        uint256 n = _existing(datasetId).keeperCount;
        out = new address[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = _keeperAt[datasetId][i + 1].keeper;
        }
    }

    /// @inheritdoc IDataRegistry
    function commitmentsOf(uint256 datasetId) external view returns (bytes[] memory out) {
        DatasetData storage d = _existing(datasetId);
        uint256 t = d.threshold;
        uint256 parity = d.commitmentParity;
        out = new bytes[](t);
        for (uint256 j; j < t; ++j) {
            bytes1 prefix = (parity >> j) & 1 == 1 ? bytes1(0x03) : bytes1(0x02);
            out[j] = abi.encodePacked(prefix, _commitmentX[datasetId][j]);
        }
    }

    /// @inheritdoc IDataRegistry
    function shareIndexOf(uint256 datasetId, address keeper) external view returns (uint8) {
        return _shareIndex[datasetId][keeper];
    }

    /// @inheritdoc IDataRegistry
    function hasAcknowledged(uint256 datasetId, address keeper) external view returns (bool) {
        uint8 shareIndex = _shareIndex[datasetId][keeper];
        return shareIndex != 0 && _keeperAt[datasetId][shareIndex].acknowledged;
    }

    /// @inheritdoc IDataRegistry
    function hasConfirmedErasure(uint256 datasetId, address keeper) external view returns (bool) {
        uint8 shareIndex = _shareIndex[datasetId][keeper];
        return shareIndex != 0 && _keeperAt[datasetId][shareIndex].erased;
    }

    /// @inheritdoc IDataRegistry
    function isPurposeConsented(uint256 datasetId, uint8 purpose) external view returns (bool) {
        return _datasets[datasetId].purposes.contains(purpose);
    }

    /// @inheritdoc IDataRegistry
    function certification(uint256 datasetId) external view returns (Certification memory c) {
        CertStats memory st = _certStats[datasetId];
        if (st.count == 0) return c;
        c = _certifications[datasetId][st.count - 1];
        c.scoreBps = _mean(st);
    }

    /// @inheritdoc IDataRegistry
    function certificationCount(uint256 datasetId) external view returns (uint256) {
        return _certStats[datasetId].count;
    }

    /// @inheritdoc IDataRegistry
    function certificationAt(uint256 datasetId, uint256 index) external view returns (Certification memory) {
        return _certifications[datasetId][index];
    }

    /// @inheritdoc IDataRegistry
    function certifications(uint256 datasetId) external view returns (Certification[] memory out) {
        uint256 n = _certStats[datasetId].count;
        out = new Certification[](n);
        for (uint256 i; i < n; ++i) {
            out[i] = _certifications[datasetId][i];
        }
    }

    /// @inheritdoc IDataRegistry
    function certificationSummary(uint256 datasetId)
        external
        view
        returns (bool certified, uint16 aggregateScoreBps, uint256 count, uint256 counted)
    {
        CertStats memory st = _certStats[datasetId];
        return (st.counted >= MIN_CERTIFICATIONS, _mean(st), st.count, st.counted);
    }

    /// @inheritdoc IDataRegistry
    function KEEPER_REGISTRY() external view returns (address) {
        return address(_KEEPER_REGISTRY);
    }

    /// @inheritdoc IDataRegistry
    function isCertified(uint256 datasetId) external view returns (bool) {
        return _datasets[datasetId].certified;
    }

    /// @notice True when `validator` certified `datasetId`.
    function isCertifiedBy(uint256 datasetId, address validator) external view returns (bool) {
        return _certifiedBy[datasetId][validator];
    }

    /// @inheritdoc IDataRegistry
    function purchaseTerms(uint256 datasetId)
        external
        view
        returns (address owner, Status status, uint8 threshold, uint256 price, uint256 purposes)
    {
        DatasetData storage d = _datasets[datasetId];
        status = d.status;
        if (status == Status.None) return (owner, status, threshold, price, purposes);
        return (d.owner, status, d.threshold, d.price, d.purposes);
    }

    /// @inheritdoc IDataRegistry
    function deliveryTerms(uint256 datasetId, address keeper) external view returns (Status status, uint8 shareIndex) {
        return (_datasets[datasetId].status, _shareIndex[datasetId][keeper]);
    }

    /// @inheritdoc IDataRegistry
    function settlementParties(uint256 datasetId, uint256 shareBitmap)
        external
        view
        returns (address owner, address[] memory keepers)
    {
        owner = _datasets[datasetId].owner;
        keepers = new address[](_popcount(shareBitmap));
        uint256 k;
        for (uint256 bits = shareBitmap; bits != 0;) {
            uint256 i = _lowestBit(bits);
            keepers[k++] = _keeperAt[datasetId][i + 1].keeper;
            bits &= bits - 1;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _existing(uint256 datasetId) private view returns (DatasetData storage d) {
        d = _datasets[datasetId];
        if (d.status == Status.None) revert DataRegistryUnknownDataset(datasetId);
    }

    /// @dev Mean score of all certificates (0 when none).
    function _mean(CertStats memory st) private pure returns (uint16) {
        // forge-lint: disable-next-line(unsafe-typecast) -- a mean of values ≤ 10 000
        return st.count == 0 ? 0 : uint16(st.scoreSum / st.count);
    }

    function _checkPrice(uint256 price) private pure {
        if (price > type(uint96).max) revert DataRegistryPriceTooLarge(price, type(uint96).max);
    }

    /// @dev Emits `Published`. Its non-indexed fields are exactly the fields of `PublishParams`
    /// in order, so the event data is the canonical ABI encoding of the params tuple (without the
    /// leading offset word). Emitting it this way avoids a stack-too-deep 11-argument emit.
    function _emitPublished(uint256 datasetId, PublishParams calldata p) private {
        bytes memory encoded = abi.encode(p);
        bytes32 topic0 = Published.selector;
        assembly ("memory-safe") {
            // Skip the length word and the tuple's head offset (always 0x20).
            log3(add(encoded, 0x40), sub(mload(encoded), 0x20), topic0, datasetId, caller())
        }
    }

    /// @dev Number of set bits (SWAR).
    function _popcount(uint256 x) private pure returns (uint256 count) {
        unchecked {
            for (; x != 0; ++count) {
                x &= x - 1;
            }
        }
    }

    /// @dev Index of the lowest set bit of a non-zero `x`.
    function _lowestBit(uint256 x) private pure returns (uint256 i) {
        unchecked {
            x &= ~x + 1;
            if (x >= 1 << 128) {
                x >>= 128;
                i += 128;
            }
            if (x >= 1 << 64) {
                x >>= 64;
                i += 64;
            }
            if (x >= 1 << 32) {
                x >>= 32;
                i += 32;
            }
            if (x >= 1 << 16) {
                x >>= 16;
                i += 16;
            }
            if (x >= 1 << 8) {
                x >>= 8;
                i += 8;
            }
            if (x >= 1 << 4) {
                x >>= 4;
                i += 4;
            }
            if (x >= 1 << 2) {
                x >>= 2;
                i += 2;
            }
            if (x >= 1 << 1) i += 1;
        }
    }
}
