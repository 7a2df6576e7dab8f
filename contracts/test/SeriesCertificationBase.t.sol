// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {SeriesBase} from "./SeriesBase.t.sol";
import {SeriesCertification} from "../src/SeriesCertification.sol";
import {Purposes} from "../src/Purposes.sol";

/// @notice `SeriesBase` plus a SeriesCertification (k = 2, minimum score 50 %) and helpers to
/// grant a validator access and have the keepers release segments to it.
abstract contract SeriesCertificationBase is SeriesBase {
    uint16 internal constant MIN_SERIES_SCORE = 5000;
    uint8 internal constant SERIES_K = 2;
    bytes32 internal constant MODEL_ID = keccak256("model");
    bytes32 internal constant REPORT_HASH = keccak256("report");
    string internal constant REPORT_URI = "s3://phd-reports/series/1.json";

    SeriesCertification internal certs;

    function setUp() public virtual override {
        super.setUp();
        certs = new SeriesCertification(address(series), MIN_SERIES_SCORE, SERIES_K);
        vm.label(address(certs), "SeriesCertification");
        fundSeries(owner, 10_000 * UNIT);
    }

    /// @dev The owner grants `w` segments [fromSeq, fromSeq + segments).
    function grantTo(uint256 id, Vm.Wallet memory w, uint64 fromSeq, uint64 segments) internal returns (uint256 sid) {
        vm.prank(owner);
        sid = series.grant(id, w.addr, fromSeq, segments, Purposes.RESEARCH, pubKey(w));
    }

    /// @dev t keepers release segments [from, to) to `sid`.
    function releaseRange(uint256 id, uint256 sid, uint64 from, uint64 to) internal {
        uint256 t = series.series(id).threshold;
        for (uint64 seq = from; seq < to; ++seq) {
            releaseBy(id, t, seq, sid);
        }
    }

    /// @dev A 3-of-2 series with `count` segments, granted to `w` from 0 and released through count − 1.
    function grantedSeries(Vm.Wallet memory w, uint64 count) internal returns (uint256 id, uint256 sid) {
        id = createSeries(3, 2, SEGMENT_PRICE);
        appendUpTo(id, count);
        sid = grantTo(id, w, 0, count);
        releaseRange(id, sid, 0, count);
    }

    function certifyAs(address v, uint256 id, uint256 sid, uint64 throughSeq, uint16 score) internal {
        vm.prank(v);
        certs.certify(id, uint64(sid), throughSeq, score, MODEL_ID, REPORT_HASH, REPORT_URI);
    }
}
