// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SeriesCertificationBase} from "../SeriesCertificationBase.t.sol";
import {ISeriesCertification} from "../../src/interfaces/ISeriesCertification.sol";

contract SeriesCertificationFuzzTest is SeriesCertificationBase {
    /// @dev A certificate is accepted exactly for a segment in [fromSeq, fromSeq + released).
    function testFuzz_CertifyOnlyReleasedSegments(uint64 fromSeq, uint64 released, uint64 throughSeq) public {
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        fromSeq = uint64(bound(fromSeq, 0, 4));
        released = uint64(bound(released, 0, 4));
        throughSeq = uint64(bound(throughSeq, 0, 12));
        appendUpTo(id, fromSeq + 4);
        uint256 sid = grantTo(id, validatorW, fromSeq, 4);
        releaseRange(id, sid, fromSeq, fromSeq + released);
        if (throughSeq < fromSeq || throughSeq >= fromSeq + released) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ISeriesCertification.SeriesCertificationNotReleased.selector,
                    id,
                    throughSeq,
                    fromSeq,
                    fromSeq + released
                )
            );
        }
        certifyAs(validator, id, sid, throughSeq, 9000);
    }

    /// @dev Rolling scores of two validators: the count is the number whose latest score counts.
    function testFuzz_CountFollowsLatestScores(uint16[6] memory scores) public {
        (uint256 id, uint256 sid) = grantedSeries(validatorW, 3);
        uint256 sid2 = grantTo(id, validator2W, 0, 3);
        releaseRange(id, sid2, 0, 3);
        uint16 last1;
        uint16 last2;
        for (uint64 i; i < 3; ++i) {
            last1 = uint16(bound(scores[2 * i], 0, 10_000));
            last2 = uint16(bound(scores[2 * i + 1], 0, 10_000));
            certifyAs(validator, id, sid, i, last1);
            certifyAs(validator2, id, sid2, i, last2);
            uint256 expected = (last1 >= MIN_SERIES_SCORE ? 1 : 0) + (last2 >= MIN_SERIES_SCORE ? 1 : 0);
            assertEq(certs.countedOf(id), expected);
            assertEq(certs.isCertified(id), expected >= SERIES_K);
        }
        assertEq(certs.certificationCount(id), 6, "history keeps every certificate");
    }
}
