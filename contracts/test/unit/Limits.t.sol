// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {Base} from "../Base.t.sol";
import {IDataRegistry} from "../../src/interfaces/IDataRegistry.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @notice Finding 8: bounds on n, t, strings and purposes, so that the worst `publish` fits in one
/// transaction under the EIP-7825 cap, and undefined purposes are refused.
contract LimitsTest is Base {
    /// @notice EIP-7825 per-transaction gas cap.
    uint256 internal constant TX_GAS_CAP = 16_777_216;

    /// @dev Worst case: n = t = MAX_KEEPERS = 32, 4 096-byte metadata, 512-byte storage URI.
    function _worstParams() internal returns (IDataRegistry.PublishParams memory p) {
        uint256 n = registry.MAX_KEEPERS();
        address[] memory ks = new address[](n);
        for (uint256 i; i < n; ++i) {
            Vm.Wallet memory w = vm.createWallet(string.concat("worst keeper ", vm.toString(i)));
            ks[i] = w.addr;
            registerNode(w, IKeeperRegistry.Role.Keeper);
        }
        bytes memory metadata = new bytes(registry.MAX_METADATA_BYTES());
        bytes memory uri = new bytes(registry.MAX_URI_BYTES());
        for (uint256 i; i < metadata.length; ++i) {
            metadata[i] = 0xff; // non-zero bytes: the most expensive calldata
        }
        for (uint256 i; i < uri.length; ++i) {
            uri[i] = "a";
        }
        p = IDataRegistry.PublishParams({
            storageUri: string(uri),
            contentRoot: CONTENT_ROOT,
            metadata: metadata,
            price: type(uint96).max,
            keepers: ks,
            threshold: uint8(n),
            commitments: commitments(n, 5000),
            purposes: Purposes.ALL,
            consentTermsHash: TERMS_HASH
        });
    }

    /// @dev Calldata cost (EIP-2028/7623 standard rate) + intrinsic + execution stays under the cap.
    function test_Publish_WorstCaseFitsTransactionGasCap() public {
        IDataRegistry.PublishParams memory p = _worstParams();
        bytes memory data = abi.encodeCall(IDataRegistry.publish, (p));
        uint256 calldataGas;
        for (uint256 i; i < data.length; ++i) {
            calldataGas += data[i] == 0 ? 4 : 16;
        }
        // EIP-7623 floor: 10 per token (zero byte = 1 token, non-zero = 4) — take the larger.
        uint256 floorGas = calldataGas * 10 / 4;
        vm.prank(owner);
        uint256 before = gasleft();
        registry.publish(p);
        uint256 execution = before - gasleft();
        uint256 total = 21_000 + (floorGas > calldataGas + execution ? floorGas : calldataGas + execution);
        emit log_named_uint("worst publish execution gas", execution);
        emit log_named_uint("worst publish total gas (incl. intrinsic + calldata)", total);
        assertLt(total, TX_GAS_CAP, "worst publish above the EIP-7825 cap");
    }

    function test_RevertWhen_PublishMoreThanMaxKeepers() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.keepers = new address[](33);
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, THRESHOLD, 33));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishStorageUriTooLong() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.storageUri = string(new bytes(513));
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryStorageUriTooLong.selector, 513, 512));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_PublishUndefinedPurpose() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = 1 << 5;
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownPurposes.selector, 1 << 5));
        vm.prank(owner);
        registry.publish(p);
    }

    function test_RevertWhen_CertifyReportUriTooLong() public {
        uint256 id = activeDataset();
        string memory uri = string(new bytes(513));
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryReportUriTooLong.selector, 513, 512));
        vm.prank(validator);
        registry.certify(id, 9_000, "m", "r", uri);
    }

    /// @dev Finding 8: `publish` with n = t = 255 and 4 KiB metadata cost 19.9 M gas (above the
    /// 16 777 216 cap) and purposes outside the defined set were accepted. Now both are refused.
    function test_Attack_UnboundedPublish() public {
        IDataRegistry.PublishParams memory p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.keepers = new address[](255);
        p.threshold = 255;
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryInvalidThreshold.selector, 255, 255));
        vm.prank(owner);
        registry.publish(p);
        p = params(N_KEEPERS, THRESHOLD, PRICE);
        p.purposes = type(uint256).max;
        vm.expectRevert(abi.encodeWithSelector(IDataRegistry.DataRegistryUnknownPurposes.selector, type(uint256).max));
        vm.prank(owner);
        registry.publish(p);
    }
}
