// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {console2} from "forge-std/console2.sol";
import {SeriesCertificationBase} from "../SeriesCertificationBase.t.sol";
import {Purposes} from "../../src/Purposes.sol";

/// @notice Gas of a series grant and of certificates (`FOUNDRY_PROFILE=gas`, isolate = true;
/// snapshot `snapshots/series_certification.json`): the owner's grant of 24 segments to a
/// validator (n = 5, t = 3), the validator's first certificate, a rolling one (same validator,
/// later segment) and the certificate that reaches k = 2.
contract SeriesCertificationGas is SeriesCertificationBase {
    function test_Gas_GrantAndCertify() public {
        uint256 id = createSeries(N_KEEPERS, THRESHOLD, SEGMENT_PRICE);
        appendUpTo(id, 2);
        bytes memory key = pubKey(validatorW);
        vm.prank(owner);
        uint256 sid = series.grant(id, validator, 0, 24, Purposes.RESEARCH, key);
        uint256 grantGas = vm.snapshotGasLastCall("series_certification", "grant");
        key = pubKey(validator2W);
        vm.prank(owner);
        uint256 sid2 = series.grant(id, validator2, 0, 24, Purposes.RESEARCH, key);
        releaseRange(id, sid, 0, 2);
        releaseRange(id, sid2, 0, 2);

        vm.prank(validator);
        certs.certify(id, uint64(sid), 0, 9000, MODEL_ID, REPORT_HASH, REPORT_URI);
        uint256 first = vm.snapshotGasLastCall("series_certification", "certify_first");
        vm.prank(validator);
        certs.certify(id, uint64(sid), 1, 8000, MODEL_ID, REPORT_HASH, REPORT_URI);
        uint256 rolling = vm.snapshotGasLastCall("series_certification", "certify_rolling");
        vm.prank(validator2);
        certs.certify(id, uint64(sid2), 1, 7000, MODEL_ID, REPORT_HASH, REPORT_URI);
        uint256 reaching = vm.snapshotGasLastCall("series_certification", "certify_reaches_k");
        console2.log("grant:", grantGas);
        console2.log("certify first / rolling / reaching k:", first, rolling, reaching);
    }
}
