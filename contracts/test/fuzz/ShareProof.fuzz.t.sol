// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ShareProof} from "../../src/libraries/ShareProof.sol";
import {ShareProofFixture, ShareProofHarness} from "../unit/ShareProof.t.sol";

contract ShareProofFuzzTest is ShareProofFixture {
    function setUp() public {
        h = new ShareProofHarness();
    }

    /// @dev The on-chain Feldman evaluation (Horner, Jacobian) agrees with f(i)·G computed by the
    /// EVM's own key derivation, and rejects every other value.
    function testFuzz_FeldmanCheck(uint256 seed, uint256 t, uint8 index, uint256 delta) public {
        t = bound(t, 1, 12);
        delta = bound(delta, 1, N - 1);
        bytes[] memory cs = new bytes[](t);
        uint256 share;
        uint256 pow = 1;
        for (uint256 j; j < t; ++j) {
            uint256 a = _scalar(seed, string.concat("a", vm.toString(j)));
            (uint256 x, uint256 y) = _mulG(a);
            cs[j] = _compress(x, y);
            share = addmod(share, mulmod(a, pow, N), N);
            pow = mulmod(pow, index, N);
        }
        assertTrue(h.isCorrectShare(share, index, cs));
        assertFalse(h.isCorrectShare(addmod(share, delta, N), index, cs));
    }

    /// @dev A dispute is valid exactly when the keeper masked something other than its share.
    function testFuzz_DisputeDecidesTruth(uint256 seed, uint256 t, uint8 index, uint256 delta, bool honest) public {
        t = bound(t, 2, 6);
        index = uint8(bound(index, 1, 255));
        delta = honest ? 0 : bound(delta, 1, N - 1);
        Case memory c = _makeCase(seed, t, index, delta);
        assertEq(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof), !honest);
    }

    /// @dev Any single-bit change of a proof makes the dispute revert (no proof for another P).
    function testFuzz_TamperedProofReverts(uint256 seed, uint256 at, uint8 bit) public {
        Case memory c = _makeCase(seed, 3, 2, 1);
        at = bound(at, 0, 351);
        bit %= 8;
        bytes memory p = bytes.concat(c.proof);
        p[at] = p[at] ^ bytes1(uint8(1) << bit);
        vm.expectRevert();
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
    }

    /// @dev Arbitrary payloads: malformed ones are a valid dispute without a proof; well-formed
    /// ones need one (an empty proof reverts).
    function testFuzz_ArbitraryPayload(bytes calldata payload, bool wellFormedPrefix) public {
        Case memory c = _makeCase(1, 3, 2, 0);
        bytes memory pl = payload;
        if (wellFormedPrefix && pl.length >= 66) {
            pl[0] = 0x02;
            pl[1] = 0x02;
        }
        if (h.isWellFormedDelivery(pl)) {
            vm.expectRevert(ShareProof.ShareProofInvalidEncoding.selector);
            h.verifyDispute(c.ctx, c.buyerKey, pl, c.commitments, "");
        } else {
            assertTrue(h.verifyDispute(c.ctx, c.buyerKey, pl, c.commitments, ""));
            vm.expectRevert(ShareProof.ShareProofMalformedDelivery.selector);
            h.checkDelivery(pl);
        }
    }
}
