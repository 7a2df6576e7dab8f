// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "forge-std/Test.sol";
import {ShareProof} from "../../src/libraries/ShareProof.sol";

/// @dev Exposes the library externally (calldata → memory, as Marketplace.dispute will).
contract ShareProofHarness {
    function verifyDispute(
        ShareProof.Context calldata ctx,
        bytes calldata buyerKey,
        bytes calldata payload,
        bytes[] calldata commitments,
        bytes calldata proof
    ) external view returns (bool) {
        return ShareProof.verifyDispute(ctx, buyerKey, payload, commitments, proof);
    }

    function checkDelivery(bytes calldata payload) external view {
        ShareProof.checkDelivery(payload);
    }

    function isWellFormedDelivery(bytes calldata payload) external view returns (bool) {
        return ShareProof.isWellFormedDelivery(payload);
    }

    function isCorrectShare(uint256 share, uint256 index, bytes[] calldata commitments) external view returns (bool) {
        return ShareProof.isCorrectShare(share, index, commitments);
    }

    function publicShare(bytes[] calldata commitments, uint256 index) external view returns (uint256, uint256) {
        return ShareProof.publicShare(commitments, index);
    }

    function mask(ShareProof.Context calldata ctx, uint8 prefix, uint256 rx, uint256 px, uint256 py)
        external
        pure
        returns (uint256)
    {
        return ShareProof.mask(ctx, prefix, rx, px, py);
    }

    function here(uint256 purchaseId, uint8 index) external view returns (ShareProof.Context memory) {
        return ShareProof.here(purchaseId, index);
    }

    function mulGAddress(uint256 k) external pure returns (address) {
        return ShareProof.mulGAddress(k);
    }
}

/// @dev A Solidity-side prover: every point it needs is a known multiple of G, so `vm.createWallet`
/// does the scalar multiplications (R = r·G, P = (r·b)·G, A2 = (k·r)·G, ...).
abstract contract ShareProofFixture is Test {
    uint256 internal constant N = ShareProof.N;
    uint256 internal constant P = ShareProof.P;

    ShareProofHarness internal h;

    struct Case {
        ShareProof.Context ctx;
        bytes buyerKey;
        bytes payload;
        bytes[] commitments;
        bytes proof;
        uint256 share; // the correct share f(index)
        uint256 delivered; // what the keeper masked
    }

    function _mulG(uint256 k) internal returns (uint256 x, uint256 y) {
        Vm.Wallet memory w = vm.createWallet(k);
        return (w.publicKeyX, w.publicKeyY);
    }

    function _compress(uint256 x, uint256 y) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(2 + (y & 1)), x);
    }

    function _scalar(uint256 seed, string memory label) internal pure returns (uint256 s) {
        s = uint256(keccak256(abi.encode(seed, label))) % N;
        if (s == 0) s = 1;
    }

    function _challenge(
        ShareProof.Context memory ctx,
        uint256 bx,
        uint256 by,
        uint8 prefix,
        uint256 rx,
        uint256[6] memory pts
    ) internal pure returns (uint256) {
        bytes memory head = abi.encodePacked(
            ShareProof.DLEQ_DST, ctx.chainId, ctx.marketplace, ctx.purchaseId, ctx.index, bx, by, prefix, rx
        );
        return uint256(sha256(abi.encodePacked(head, pts[0], pts[1], pts[2], pts[3], pts[4], pts[5]))) % N;
    }

    /// @dev Dataset of threshold t; keeper `index` delivers f(index) + delta to the buyer.
    function _makeCase(uint256 seed, uint256 t, uint8 index, uint256 delta) internal returns (Case memory c) {
        c.ctx = ShareProof.Context({
            chainId: 31337, marketplace: address(0xBEEF), purchaseId: seed % 1000 + 1, index: index
        });
        c.commitments = new bytes[](t);
        uint256 pow = 1;
        for (uint256 j; j < t; ++j) {
            uint256 a = _scalar(seed, string.concat("a", vm.toString(j)));
            (uint256 cx, uint256 cy) = _mulG(a);
            c.commitments[j] = _compress(cx, cy);
            c.share = addmod(c.share, mulmod(a, pow, N), N);
            pow = mulmod(pow, index, N);
        }
        c.delivered = addmod(c.share, delta, N);
        c.proof = _prove(c, seed);
    }

    /// @dev Prover state (kept in memory: too many values for the stack).
    struct Prover {
        uint256 b;
        uint256 bx;
        uint256 by;
        uint256 r;
        uint256 rx;
        uint8 prefix;
        uint256 rb;
        uint256 k;
        uint256 ch;
        uint256 z;
        uint256[6] pts; // P, A1, A2
        uint256[4] zw; // Z = z·R, W = c·P
    }

    /// @dev Fills buyerKey and payload of `c` (ctx, delivered set) and returns the dispute proof.
    function _prove(Case memory c, uint256 seed) internal returns (bytes memory proof) {
        Prover memory v;
        v.b = _scalar(seed, "b");
        (v.bx, v.by) = _mulG(v.b);
        c.buyerKey = abi.encodePacked(v.bx, v.by);
        v.r = _scalar(seed, "r");
        uint256 ry;
        (v.rx, ry) = _mulG(v.r);
        while (v.rx >= N) {
            v.r = addmod(v.r, 1, N);
            (v.rx, ry) = _mulG(v.r);
        }
        v.prefix = ry & 1 == 1 ? 3 : 2;
        v.rb = mulmod(v.r, v.b, N);
        (v.pts[0], v.pts[1]) = _mulG(v.rb);
        uint256 m = addmod(c.delivered, h.mask(c.ctx, v.prefix, v.rx, v.pts[0], v.pts[1]), N);
        c.payload = abi.encodePacked(uint8(2), v.prefix, v.rx, m);
        for (uint256 attempt;; ++attempt) {
            v.k = _scalar(seed, string.concat("k", vm.toString(attempt)));
            (v.pts[2], v.pts[3]) = _mulG(v.k);
            (v.pts[4], v.pts[5]) = _mulG(mulmod(v.k, v.r, N));
            v.ch = _challenge(c.ctx, v.bx, v.by, v.prefix, v.rx, v.pts);
            v.z = addmod(v.k, mulmod(v.ch, v.b, N), N);
            if (v.ch == 0 || v.z == 0) continue;
            (v.zw[0], v.zw[1]) = _mulG(mulmod(v.z, v.r, N));
            (v.zw[2], v.zw[3]) = _mulG(mulmod(v.ch, v.rb, N));
            if (v.pts[4] == v.zw[2] || v.pts[4] == v.zw[0] || v.zw[2] == v.zw[0]) continue;
            proof = abi.encodePacked(v.pts, v.zw, v.z);
            break;
        }
    }
}

contract ShareProofTest is ShareProofFixture {
    function setUp() public {
        h = new ShareProofHarness();
    }

    // --- honest and dishonest keepers -----------------------------------------------------------

    function test_WrongShareIsProvenBad() public {
        for (uint8 t = 2; t <= 5; ++t) {
            Case memory c = _makeCase(t, t, t - 1, 1);
            assertTrue(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof), "bad share");
        }
    }

    function test_RightShareIsNotBad() public {
        for (uint8 t = 2; t <= 5; ++t) {
            Case memory c = _makeCase(100 + t, t, t + 2, 0);
            assertFalse(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof), "good share");
        }
    }

    function test_LargeIndexAndThreshold() public {
        Case memory c = _makeCase(7, 32, 255, 0);
        assertFalse(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof));
        c = _makeCase(8, 32, 200, 12345);
        assertTrue(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof));
    }

    function test_ZeroDeliveredShare() public {
        // The keeper delivers 0: a wrong share unless f(i) = 0 (it is not here).
        Case memory c = _makeCase(9, 3, 1, 0);
        c.delivered = 0;
        c.proof = _prove(c, 9);
        assertTrue(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof));
    }

    // --- malformed deliveries are bad without a proof -------------------------------------------

    function test_MalformedDeliveryIsBadWithoutProof() public {
        Case memory c = _makeCase(11, 3, 2, 0);
        bytes memory none = "";
        bytes[] memory bad = new bytes[](7);
        bad[0] = "";
        bad[1] = _slice(c.payload, 65); // short
        bad[2] = bytes.concat(bytes1(0x01), _tail(c.payload, 1)); // old ECIES version
        bad[3] = bytes.concat(bytes2(0x0204), _tail(c.payload, 2)); // uncompressed prefix
        bad[4] = abi.encodePacked(uint8(2), uint8(2), N, uint256(1)); // R.x >= n
        bad[5] = abi.encodePacked(uint8(2), uint8(2), uint256(5), uint256(1)); // x = 5 is not on the curve
        bad[6] = bytes.concat(_slice(c.payload, 34), bytes32(N)); // m = n
        for (uint256 k; k < bad.length; ++k) {
            assertFalse(h.isWellFormedDelivery(bad[k]));
            vm.expectRevert(ShareProof.ShareProofMalformedDelivery.selector);
            h.checkDelivery(bad[k]);
            assertTrue(h.verifyDispute(c.ctx, c.buyerKey, bad[k], c.commitments, none));
        }
        assertTrue(h.isWellFormedDelivery(c.payload));
        h.checkDelivery(c.payload);
        // An opaque tail is allowed and ignored.
        bytes memory tailed = bytes.concat(c.payload, "opaque tail");
        h.checkDelivery(tailed);
        assertFalse(h.verifyDispute(c.ctx, c.buyerKey, tailed, c.commitments, c.proof));
    }

    // --- tampered proofs, keys and contexts revert ----------------------------------------------

    function test_TamperedProofWordReverts() public {
        Case memory c = _makeCase(12, 3, 2, 1);
        for (uint256 w; w < 11; ++w) {
            bytes memory p = bytes.concat(c.proof);
            assembly ("memory-safe") {
                let at := add(add(p, 0x20), mul(w, 0x20))
                mstore(at, xor(mload(at), 1))
            }
            vm.expectRevert();
            h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
        }
    }

    function test_ProofErrors() public {
        Case memory c = _makeCase(13, 3, 2, 1);
        bytes memory p;
        // length
        vm.expectRevert(ShareProof.ShareProofInvalidEncoding.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, _slice(c.proof, 351));
        // P off the curve
        p = _setWord(c.proof, 1, 1);
        vm.expectRevert(ShareProof.ShareProofInvalidPoint.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
        // A2 off the curve
        p = _setWord(c.proof, 5, 1);
        vm.expectRevert(ShareProof.ShareProofInvalidPoint.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
        // z = 0, z = n
        p = _setWord(c.proof, 10, 0);
        vm.expectRevert(ShareProof.ShareProofInvalidScalar.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
        p = _setWord(c.proof, 10, N);
        vm.expectRevert(ShareProof.ShareProofInvalidScalar.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
        // z + 1
        p = _setWord(c.proof, 10, addmod(_word(c.proof, 10), 1, N));
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
        // P replaced by another curve point (−P): the challenge changes, A1 no longer matches
        p = _setWord(c.proof, 1, P - _word(c.proof, 1));
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, p);
    }

    function test_ProofBoundToContextAndKey() public {
        Case memory c = _makeCase(14, 3, 2, 1);
        ShareProof.Context memory other = _copy(c.ctx);
        other.purchaseId += 1;
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(other, c.buyerKey, c.payload, c.commitments, c.proof);
        other = _copy(c.ctx);
        other.chainId = 1;
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(other, c.buyerKey, c.payload, c.commitments, c.proof);
        other = _copy(c.ctx);
        other.marketplace = address(0xCAFE);
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(other, c.buyerKey, c.payload, c.commitments, c.proof);
        // The untouched context still verifies
        assertTrue(h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof));
        // Another buyer's key (the proof is for b, not b')
        (uint256 x, uint256 y) = _mulG(777);
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(c.ctx, abi.encodePacked(x, y), c.payload, c.commitments, c.proof);
        // Another delivery R
        bytes memory pay = bytes.concat(c.payload);
        pay[1] = pay[1] == bytes1(0x02) ? bytes1(0x03) : bytes1(0x02); // −R
        vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
        h.verifyDispute(c.ctx, c.buyerKey, pay, c.commitments, c.proof);
    }

    function test_BuyerKeyErrors() public {
        Case memory c = _makeCase(15, 3, 2, 1);
        bytes[] memory keys = new bytes[](4);
        keys[0] = _slice(c.buyerKey, 63);
        keys[1] = bytes.concat(c.buyerKey, bytes1(0));
        keys[2] = abi.encodePacked(_word(c.buyerKey, 0), _word(c.buyerKey, 1) ^ 1);
        keys[3] = abi.encodePacked(uint256(0), uint256(0));
        for (uint256 k; k < keys.length; ++k) {
            vm.expectRevert(ShareProof.ShareProofInvalidBuyerKey.selector);
            h.verifyDispute(c.ctx, keys[k], c.payload, c.commitments, c.proof);
        }
    }

    function test_CommitmentAndIndexErrors() public {
        Case memory c = _makeCase(16, 3, 2, 1);
        ShareProof.Context memory zero = _copy(c.ctx);
        zero.index = 0;
        vm.expectRevert(ShareProof.ShareProofInvalidIndex.selector);
        h.verifyDispute(zero, c.buyerKey, c.payload, c.commitments, c.proof);
        vm.expectRevert(ShareProof.ShareProofInvalidIndex.selector);
        h.publicShare(c.commitments, 256);
        bytes[] memory none = new bytes[](0);
        vm.expectRevert(ShareProof.ShareProofInvalidCommitment.selector);
        h.publicShare(none, 1);
        bytes[] memory cs = new bytes[](3);
        cs[0] = c.commitments[0];
        cs[1] = c.commitments[1];
        cs[2] = abi.encodePacked(uint8(2), uint256(5)); // not on the curve
        vm.expectRevert(ShareProof.ShareProofInvalidCommitment.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, cs, c.proof);
        cs[2] = abi.encodePacked(uint8(4), _word(c.commitments[2], 0)); // wrong prefix / length
        vm.expectRevert(ShareProof.ShareProofInvalidCommitment.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, cs, c.proof);
        cs[2] = abi.encodePacked(uint8(2), P); // x = p
        vm.expectRevert(ShareProof.ShareProofInvalidCommitment.selector);
        h.verifyDispute(c.ctx, c.buyerKey, c.payload, cs, c.proof);
    }

    // --- Feldman evaluation edge cases ----------------------------------------------------------

    function test_SecretCheckAgainstC0() public {
        (uint256 x, uint256 y) = _mulG(42);
        bytes[] memory cs = new bytes[](2);
        cs[0] = _compress(x, y);
        (x, y) = _mulG(43);
        cs[1] = _compress(x, y);
        assertTrue(h.isCorrectShare(42, 0, cs));
        assertFalse(h.isCorrectShare(43, 0, cs));
        assertTrue(h.isCorrectShare(42 + 43 * 5, 5, cs));
    }

    /// @dev Commitments chosen so Horner's rule meets P + P, P + (−P) and ∞ on the way.
    function test_HornerDegenerateSums() public {
        bytes[] memory cs = new bytes[](3);
        // f(x) = a0 + a1 x + a2 x²; index 1: acc = C2; acc = C2 + C1 = (a1 + a2)·G ...
        // a1 = a2 → C2 + C1 is a doubling
        _set(cs, 0, 5);
        _set(cs, 1, 9);
        _set(cs, 2, 9);
        assertTrue(h.isCorrectShare(5 + 9 + 9, 1, cs));
        // a1 = −a2 → C2 + C1 = ∞, then ∞·1 + C0
        _set(cs, 1, N - 9);
        assertTrue(h.isCorrectShare(5, 1, cs));
        // f(2) = 0: a0 = −(2 a1 + 4 a2) → the public share is ∞ and only the share 0 matches
        _set(cs, 1, 3);
        _set(cs, 2, 4);
        _set(cs, 0, N - (2 * 3 + 4 * 4));
        (uint256 x, uint256 y) = h.publicShare(cs, 2);
        assertEq(x, 0);
        assertEq(y, 0);
        assertTrue(h.isCorrectShare(0, 2, cs));
        assertFalse(h.isCorrectShare(1, 2, cs));
        // index·acc where the addition meets acc + acc (index = 3: 2·acc + acc)
        assertTrue(h.isCorrectShare(addmod(N - 22, 3 * 3 + 9 * 4, N), 3, cs));
    }

    function test_HereIsTheCaller() public {
        vm.chainId(8453);
        ShareProof.Context memory c = h.here(77, 4);
        assertEq(c.chainId, 8453);
        assertEq(c.marketplace, address(h));
        assertEq(c.purchaseId, 77);
        assertEq(c.index, 4);
    }

    /// @dev Every share index 1..255 (binary and non-adjacent-form digit paths), t = 3.
    function test_EveryIndex() public {
        uint256[3] memory a = [uint256(11), 22, 33];
        bytes[] memory cs = new bytes[](3);
        for (uint256 j; j < 3; ++j) {
            _set(cs, j, a[j]);
        }
        for (uint256 i = 1; i <= 255; ++i) {
            uint256 share = addmod(addmod(a[0], mulmod(a[1], i, N), N), mulmod(a[2], i * i, N), N);
            assertTrue(h.isCorrectShare(share, i, cs));
            (uint256 x, uint256 y) = h.publicShare(cs, i);
            (uint256 ex, uint256 ey) = _mulG(share);
            assertEq(x, ex);
            assertEq(y, ey);
        }
    }

    function test_MulGAddress() public {
        Vm.Wallet memory w = vm.createWallet(123456789);
        assertEq(h.mulGAddress(123456789), w.addr);
    }

    // --- cross-language vectors (written by crates/phd-keys/src/proof/tests.rs) --------------

    function test_Vectors() public {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/test/vectors/share_proof.json"));
        uint256 count = vm.parseJsonUint(json, ".count");
        assertGe(count, 18);
        for (uint256 k; k < count; ++k) {
            _checkVector(json, string.concat(".cases[", vm.toString(k), "]"));
        }
    }

    function _checkVector(string memory json, string memory at) internal {
        ShareProof.Context memory ctx = ShareProof.Context({
            chainId: vm.parseJsonUint(json, string.concat(at, ".chainId")),
            marketplace: vm.parseJsonAddress(json, string.concat(at, ".marketplace")),
            purchaseId: vm.parseJsonUint(json, string.concat(at, ".purchaseId")),
            index: uint8(vm.parseJsonUint(json, string.concat(at, ".index")))
        });
        bytes[] memory cs = vm.parseJsonBytesArray(json, string.concat(at, ".commitments"));
        bytes memory payload = vm.parseJsonBytes(json, string.concat(at, ".payload"));
        bytes memory proof = vm.parseJsonBytes(json, string.concat(at, ".proof"));
        string memory name = vm.parseJsonString(json, string.concat(at, ".name"));
        if (!vm.parseJsonBool(json, string.concat(at, ".valid"))) {
            // Rust rejects this proof; the contract must revert.
            bytes memory key = vm.parseJsonBytes(json, string.concat(at, ".buyerKey"));
            vm.expectRevert(ShareProof.ShareProofInvalidProof.selector);
            h.verifyDispute(ctx, key, payload, cs, proof);
            return;
        }
        assertEq(
            h.verifyDispute(ctx, vm.parseJsonBytes(json, string.concat(at, ".buyerKey")), payload, cs, proof),
            vm.parseJsonBool(json, string.concat(at, ".bad")),
            name
        );
        assertTrue(h.isCorrectShare(vm.parseJsonUint(json, string.concat(at, ".share")), ctx.index, cs), name);
        if (h.isWellFormedDelivery(payload)) {
            // The share the contract recomputes is the one Rust masked.
            (uint8 prefix, uint256 rx, uint256 m) = _deliveryFields(payload);
            uint256 mk = h.mask(ctx, prefix, rx, _word(proof, 0), _word(proof, 1));
            assertEq(addmod(m, N - mk, N), vm.parseJsonUint(json, string.concat(at, ".delivered")), name);
        }
    }

    function _deliveryFields(bytes memory payload) internal pure returns (uint8 prefix, uint256 rx, uint256 m) {
        assembly ("memory-safe") {
            prefix := byte(1, mload(add(payload, 0x20)))
            rx := mload(add(payload, 0x22))
            m := mload(add(payload, 0x42))
        }
    }

    // --- gas -----------------------------------------------------------------------------------

    /// @dev Execution gas of `verifyDispute` behind an external call (ABI decoding included), and
    /// an estimate of a whole transaction carrying the same arguments: 21,000 + calldata
    /// (EIP-2028: 4 per zero byte, 16 per other byte) + execution. Marketplace's own bookkeeping
    /// (reading the purchase, the commitments, slashing) comes on top.
    function test_GasDispute() public {
        for (uint8 t = 2; t <= 6; ++t) {
            _gasCase(200 + t, t, t, string.concat("t = ", vm.toString(t), ", index = ", vm.toString(t)));
        }
        _gasCase(299, 5, 255, "t = 5, index = 255");
        _gasCase(302, 32, 31, "t = 32, index = 31");
        _gasCase(300, 32, 255, "t = 32, index = 255");
        Case memory c3 = _makeCase(301, 3, 3, 0);
        uint256 gd = gasleft();
        h.checkDelivery(c3.payload);
        gd -= gasleft();
        emit log_named_uint("checkDelivery, execution gas", gd);
    }

    function _gasCase(uint256 seed, uint256 t, uint8 index, string memory label) internal {
        Case memory c = _makeCase(seed, t, index, 1);
        uint256 g = gasleft();
        bool bad = h.verifyDispute(c.ctx, c.buyerKey, c.payload, c.commitments, c.proof);
        g -= gasleft();
        assertTrue(bad);
        bytes memory data = abi.encodeCall(h.verifyDispute, (c.ctx, c.buyerKey, c.payload, c.commitments, c.proof));
        uint256 cd;
        for (uint256 i; i < data.length; ++i) {
            cd += data[i] == 0 ? 4 : 16;
        }
        emit log_named_uint(string.concat("verifyDispute ", label, ": execution"), g);
        emit log_named_uint(string.concat("verifyDispute ", label, ": calldata bytes"), data.length);
        emit log_named_uint(string.concat("verifyDispute ", label, ": tx estimate"), 21_000 + cd + g);
        uint256 gf = gasleft();
        assertTrue(h.isCorrectShare(c.share, index, c.commitments));
        gf -= gasleft();
        emit log_named_uint(string.concat("isCorrectShare ", label, ": execution"), gf);
        assertLt(21_000 + cd + g, 500_000);
    }

    // --- helpers -------------------------------------------------------------------------------

    function _copy(ShareProof.Context memory x) internal pure returns (ShareProof.Context memory) {
        return ShareProof.Context(x.chainId, x.marketplace, x.purchaseId, x.index);
    }

    function _set(bytes[] memory cs, uint256 j, uint256 a) internal {
        (uint256 x, uint256 y) = _mulG(a);
        cs[j] = _compress(x, y);
    }

    function _slice(bytes memory b, uint256 len) internal pure returns (bytes memory out) {
        out = new bytes(len);
        for (uint256 i; i < len; ++i) {
            out[i] = b[i];
        }
    }

    function _tail(bytes memory b, uint256 from) internal pure returns (bytes memory out) {
        out = new bytes(b.length - from);
        for (uint256 i; i < out.length; ++i) {
            out[i] = b[from + i];
        }
    }

    function _word(bytes memory b, uint256 w) internal pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := mload(add(add(b, 0x20), mul(w, 0x20)))
        }
    }

    function _setWord(bytes memory b, uint256 w, uint256 v) internal pure returns (bytes memory out) {
        out = bytes.concat(b);
        assembly ("memory-safe") {
            mstore(add(add(out, 0x20), mul(w, 0x20)), v)
        }
    }
}
