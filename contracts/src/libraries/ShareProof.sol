// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Secp256k1} from "./Secp256k1.sol";

/// @title ShareProof
/// @notice On-chain check of a keeper → buyer share delivery (docs/FORMATS.md §2.4 "Provable share
/// delivery"): lets the buyer alone prove that a keeper delivered a share that does not match the
/// dataset's Feldman commitments.
///
/// Delivery (posted by the keeper through `Marketplace.deliverShare`, ≥ 66 bytes):
///     `0x02 ‖ R (33, compressed, R.x < n) ‖ m (32, BE, m < n) ‖ optional opaque tail`
/// where `R = r·G` for a fresh `r`, `m = s_i + H_mask(ctx, R, r·B) mod n`, B the buyer's key.
///
/// Dispute proof (by the buyer, exactly 352 bytes = 11 big-endian words):
///     `P.x ‖ P.y ‖ A1.x ‖ A1.y ‖ A2.x ‖ A2.y ‖ Z.x ‖ Z.y ‖ W.x ‖ W.y ‖ z`
/// with `P = b·R` (the ECDH point), a Chaum–Pedersen proof `(A1, A2, z)` that
/// `log_G(B) = log_R(P)`, `c = H_dleq(ctx, B, R, P, A1, A2)`, and the helper points
/// `Z = z·R`, `W = c·P` (checked against `ecrecover`, so they cannot be forged).
///
/// API (all `internal`, for the Marketplace):
/// - `checkDelivery(bytes payload)`: reverts `ShareProofMalformedDelivery()` unless the payload
///   is well formed (call it in `deliverShare`; ≈ 2k gas). `isWellFormedDelivery` returns a bool.
/// - `verifyDispute(Context ctx, bytes buyerKey64, bytes payload, bytes[] commitments, bytes proof)
///   returns (bool bad)`: `true` = the delivery is proven wrong (a malformed payload is wrong
///   without any proof); `false` = the delivered share is correct (a false dispute). Reverts
///   with a `ShareProof…` error when an input is invalid or the proof does not verify.
///   `commitments` are the 33-byte compressed points of `DataRegistry.commitmentsOf`.
/// - `verifyDleq(...)` returns `P` once the proof verifies; `mask(...)` the masking scalar.
/// - `isCorrectShare(uint256 share, uint256 index, bytes[] commitments)`: `share·G == Σ_j index^j·C_j`.
///   With `index = 0` this checks a dataset secret against `C_0` (owner-fraud proofs).
/// - `publicShare(bytes[] commitments, uint256 index)`: the Feldman public share, `(0, 0)` for the
///   point at infinity. `mulGAddress(k)`: Ethereum address of `k·G` through `ecrecover`.
///
/// - `here(purchaseId, index)`: the Context of the calling contract (`block.chainid`, `address(this)`).
///
/// Gas (docs/PERFORMANCE.md "Share proofs (gas)"): `verifyDispute` executes in ≈ 42–71k for
/// t = 3..5 (≈ 76–106k as a whole transaction with its calldata); `checkDelivery` ≈ 3k.
/// @dev Techniques: a scalar multiplication `k·X` (or `a·G + b·X`) is checked by `ecrecover`,
/// which returns `address(r⁻¹(s·X − e·G))` for `r = X.x`; points are compared by address. The
/// Feldman sum is evaluated by Horner's rule in Jacobian coordinates (the multipliers are the
/// 8-bit share index) with one modular inverse at the end (modexp precompile).
library ShareProof {
    /// @notice Field prime p.
    uint256 internal constant P = Secp256k1.P;
    /// @notice Group order n.
    uint256 internal constant N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    /// @notice Generator x-coordinate (its y is even).
    uint256 internal constant GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798;
    /// @notice Generator y-coordinate.
    uint256 internal constant GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8;
    /// @notice First byte of a delivery payload.
    uint8 internal constant DELIVERY_VERSION = 0x02;
    /// @notice Length of a delivery without tail.
    uint256 internal constant DELIVERY_LENGTH = 66;
    /// @notice Length of a dispute proof.
    uint256 internal constant PROOF_LENGTH = 352;
    /// @notice Domain separation tag of the mask hash.
    bytes17 internal constant MASK_DST = "phd share mask v1";
    /// @notice Domain separation tag of the Chaum–Pedersen challenge.
    bytes17 internal constant DLEQ_DST = "phd share dleq v1";
    /// @dev (p + 1) / 4: square roots mod p (p ≡ 3 mod 4).
    uint256 private constant SQRT_EXP = 0x3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBFFFFF0C;

    /// @notice What a delivery is bound to; `index` is the keeper's share index (1..255).
    struct Context {
        uint256 chainId;
        address marketplace;
        uint256 purchaseId;
        uint8 index;
    }

    /// @notice The parsed dispute proof (see the file header).
    struct Proof {
        uint256 px;
        uint256 py;
        uint256 a1x;
        uint256 a1y;
        uint256 a2x;
        uint256 a2y;
        uint256 zx;
        uint256 zy;
        uint256 wx;
        uint256 wy;
        uint256 z;
    }

    /// @notice A delivery payload is malformed (length, version, R, or m ≥ n).
    error ShareProofMalformedDelivery();
    /// @notice The buyer key is not 64 bytes of an on-curve point with x < n.
    error ShareProofInvalidBuyerKey();
    /// @notice The proof is not exactly 352 bytes.
    error ShareProofInvalidEncoding();
    /// @notice P or A2 is not a curve point (or P.x ≥ n).
    error ShareProofInvalidPoint();
    /// @notice The response z is 0 or ≥ n.
    error ShareProofInvalidScalar();
    /// @notice The Chaum–Pedersen proof does not verify.
    error ShareProofInvalidProof();
    /// @notice A commitment is not a 33-byte compressed curve point, or there are none.
    error ShareProofInvalidCommitment();
    /// @notice The share index is 0 in a dispute context.
    error ShareProofInvalidIndex();

    /// @notice The context of a delivery to the calling contract (a library call runs in the
    /// caller's context, so `address(this)` is the Marketplace).
    function here(uint256 purchaseId, uint8 index) internal view returns (Context memory) {
        return Context({chainId: block.chainid, marketplace: address(this), purchaseId: purchaseId, index: index});
    }

    // ------------------------------------------------------------------------------------------
    // Delivery format
    // ------------------------------------------------------------------------------------------

    /// @notice True when `payload` is `0x02 ‖ R ‖ m ‖ tail` with R a compressed curve point,
    /// `0 < R.x < n`, and `m < n`.
    function isWellFormedDelivery(bytes memory payload) internal view returns (bool) {
        if (payload.length < DELIVERY_LENGTH) return false;
        (uint256 version, uint8 prefix, uint256 rx, uint256 m) = _parseDelivery(payload);
        if (version != DELIVERY_VERSION || (prefix != 2 && prefix != 3)) return false;
        if (rx == 0 || rx >= N || m >= N) return false;
        return Secp256k1.isValidX(rx);
    }

    /// @notice Reverts `ShareProofMalformedDelivery()` unless `isWellFormedDelivery(payload)`.
    function checkDelivery(bytes memory payload) internal view {
        if (!isWellFormedDelivery(payload)) revert ShareProofMalformedDelivery();
    }

    // ------------------------------------------------------------------------------------------
    // Dispute
    // ------------------------------------------------------------------------------------------

    /// @notice Decide a buyer's dispute of one delivery.
    /// @param ctx Chain id, marketplace, purchase id and the keeper's share index (≥ 1).
    /// @param buyerKey The buyer's public key, 64 bytes `x ‖ y` (the caller checks it is the buyer's).
    /// @param payload The delivery exactly as posted (the caller checks it was posted).
    /// @param commitments The dataset's Feldman commitments, 33-byte compressed each.
    /// @param proof The 352-byte dispute proof (ignored when the payload is malformed).
    /// @return bad True when the delivered share is proven wrong; false when it is correct.
    function verifyDispute(
        Context memory ctx,
        bytes memory buyerKey,
        bytes memory payload,
        bytes[] memory commitments,
        bytes memory proof
    ) internal view returns (bool bad) {
        if (ctx.index == 0) revert ShareProofInvalidIndex();
        if (!isWellFormedDelivery(payload)) return true;
        (, uint8 prefix, uint256 rx, uint256 m) = _parseDelivery(payload);
        (uint256 bx, uint256 by) = _parseBuyerKey(buyerKey);
        (uint256 px, uint256 py) = verifyDleq(ctx, bx, by, prefix, rx, proof);
        uint256 share = addmod(m, N - mask(ctx, prefix, rx, px, py), N);
        return !isCorrectShare(share, ctx.index, commitments);
    }

    /// @notice Verify the Chaum–Pedersen proof that `P = b·R` for the buyer key `B = b·G`.
    /// @param bx Buyer key x (on the curve, `< n`; checked by `verifyDispute`'s parser).
    /// @param rPrefix 2 or 3, the compressed prefix of R; `rx` its x-coordinate (`< n`).
    /// @return px The x-coordinate of P.
    /// @return py The y-coordinate of P.
    function verifyDleq(Context memory ctx, uint256 bx, uint256 by, uint8 rPrefix, uint256 rx, bytes memory proof)
        internal
        pure
        returns (uint256 px, uint256 py)
    {
        if (proof.length != PROOF_LENGTH) revert ShareProofInvalidEncoding();
        Proof memory d = abi.decode(proof, (Proof));
        if (d.px == 0 || d.px >= N || !_onCurve(d.px, d.py) || !_onCurve(d.a2x, d.a2y)) {
            revert ShareProofInvalidPoint();
        }
        if (d.z == 0 || d.z >= N) revert ShareProofInvalidScalar();
        uint256 c = _challenge(ctx, bx, by, rPrefix, rx, d);
        if (c == 0) revert ShareProofInvalidProof();
        // A1 == z·G − c·B  (ecrecover with X = B: r⁻¹(s·B − e·G), s = −c·r, e = −z·r)
        address a1 = ecrecover(
            bytes32(mulmod(N - d.z, bx, N)), uint8(27 + (by & 1)), bytes32(bx), bytes32(mulmod(N - c, bx, N))
        );
        if (a1 == address(0) || a1 != _address(d.a1x, d.a1y)) revert ShareProofInvalidProof();
        // Z == z·R and W == c·P
        address zr = ecrecover(0, 25 + rPrefix, bytes32(rx), bytes32(mulmod(rx, d.z, N)));
        if (zr == address(0) || zr != _address(d.zx, d.zy)) revert ShareProofInvalidProof();
        address cp = ecrecover(0, uint8(27 + (d.py & 1)), bytes32(d.px), bytes32(mulmod(d.px, c, N)));
        if (cp == address(0) || cp != _address(d.wx, d.wy)) revert ShareProofInvalidProof();
        // A2 + W == Z  ⇔  A2, W, −Z are distinct-x collinear curve points.
        if (!_sumsTo(d.a2x, d.a2y, d.wx, d.wy, d.zx, d.zy)) revert ShareProofInvalidProof();
        return (d.px, d.py);
    }

    /// @notice The masking scalar `H_mask(ctx, R, P) mod n`.
    function mask(Context memory ctx, uint8 rPrefix, uint256 rx, uint256 px, uint256 py)
        internal
        pure
        returns (uint256)
    {
        bytes32 h = sha256(
            abi.encodePacked(MASK_DST, ctx.chainId, ctx.marketplace, ctx.purchaseId, ctx.index, rPrefix, rx, px, py)
        );
        return uint256(h) % N;
    }

    // ------------------------------------------------------------------------------------------
    // Feldman check
    // ------------------------------------------------------------------------------------------

    /// @notice True when `share·G == Σ_j index^j·C_j` (`index = 0`: `share·G == C_0`).
    function isCorrectShare(uint256 share, uint256 index, bytes[] memory commitments) internal view returns (bool) {
        (uint256 yx, uint256 yy) = publicShare(commitments, index);
        share %= N;
        if (share == 0) return yx == 0 && yy == 0;
        if (yx == 0 && yy == 0) return false;
        return mulGAddress(share) == _address(yx, yy);
    }

    /// @notice The Feldman public share `Σ_j index^j·C_j` in affine coordinates, `(0, 0)` for the
    /// point at infinity. Reverts `ShareProofInvalidCommitment()` on a malformed commitment and
    /// `ShareProofInvalidIndex()` for `index > 255`.
    function publicShare(bytes[] memory commitments, uint256 index) internal view returns (uint256 x, uint256 y) {
        uint256 t = commitments.length;
        if (t == 0) revert ShareProofInvalidCommitment();
        if (index > 255) revert ShareProofInvalidIndex();
        if (index == 0) return _decompress(commitments[0]);
        uint256[] memory pts = new uint256[](2 * t);
        for (uint256 j; j < t; ++j) {
            (pts[2 * j], pts[2 * j + 1]) = _decompress(commitments[j]);
        }
        uint256 z;
        // Horner: acc = C_{t-1}; acc = index·acc + C_j for j = t-2 .. 0.
        assembly ("memory-safe") {
            // secp256k1 field prime
            let p := 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F

            // Jacobian doubling (a = 0, dbl-2009-l); z = 0 is the point at infinity.
            function jdouble(x1, y1, z1, pp) -> x3, y3, z3 {
                if iszero(z1) { leave }
                z3 := mulmod(addmod(y1, y1, pp), z1, pp)
                y1 := mulmod(y1, y1, pp) // B = Y²
                z1 := mulmod(x1, x1, pp) // A = X²
                x1 := addmod(x1, y1, pp)
                x1 := mulmod(x1, x1, pp) // (X + B)²
                y3 := mulmod(y1, y1, pp) // C = B²
                x1 := addmod(x1, sub(pp, addmod(z1, y3, pp)), pp)
                x1 := addmod(x1, x1, pp) // D
                z1 := mulmod(3, z1, pp) // E = 3A
                y1 := mulmod(z1, z1, pp) // F = E²
                x3 := addmod(y1, sub(pp, addmod(x1, x1, pp)), pp)
                y3 := addmod(mulmod(z1, addmod(x1, sub(pp, x3), pp), pp), sub(pp, mulmod(8, y3, pp)), pp)
            }

            // Jacobian addition (add-1998-cmo-2), complete: handles ∞, P + P and P + (−P).
            function jadd(x1, y1, z1, x2, y2, z2, pp) -> x3, y3, z3 {
                if iszero(z1) {
                    x3 := x2
                    y3 := y2
                    z3 := z2
                    leave
                }
                if iszero(z2) {
                    x3 := x1
                    y3 := y1
                    z3 := z1
                    leave
                }
                z3 := mulmod(z2, z2, pp)
                x3 := mulmod(x1, z3, pp) // U1
                y3 := mulmod(y1, mulmod(z3, z2, pp), pp) // S1
                z3 := mulmod(z1, z1, pp)
                x2 := addmod(mulmod(x2, z3, pp), sub(pp, x3), pp) // H = U2 − U1
                y2 := addmod(mulmod(y2, mulmod(z3, z1, pp), pp), sub(pp, y3), pp) // R = S2 − S1
                if iszero(x2) {
                    if iszero(y2) {
                        x3, y3, z3 := jdouble(x1, y1, z1, pp)
                        leave
                    }
                    x3 := 0
                    y3 := 0
                    z3 := 0
                    leave
                }
                z3 := mulmod(mulmod(z1, z2, pp), x2, pp) // Z3 = Z1·Z2·H
                z1 := mulmod(x2, x2, pp) // H²
                z2 := mulmod(x2, z1, pp) // H³
                x1 := mulmod(x3, z1, pp) // V = U1·H²
                y1 := mulmod(y3, z2, pp) // S1·H³
                x3 := addmod(addmod(mulmod(y2, y2, pp), sub(pp, z2), pp), sub(pp, addmod(x1, x1, pp)), pp)
                y3 := addmod(mulmod(y2, addmod(x1, sub(pp, x3), pp), pp), sub(pp, y1), pp)
            }

            // Digits of k (1..255) into q + 0x60 (+1 mask), q + 0x80 (−1 mask), q + 0xa0 (top).
            // Bit k of NAF_BETTER is set when the non-adjacent form of k costs less than binary
            // (cost ≈ doublings + 2·additions; e.g. 255 = 2⁸ − 1, but 3 = 0b11 stays binary).
            function digits(k, q) {
                let pos := k
                let neg := 0
                let i := 0
                for {} shr(i, k) {} { i := add(i, 1) }
                if and(shr(k, 0xffffffffffc0c080ffc0c080f880c080fffff880f880c080ffc0c080f880c080), 1) {
                    pos := 0
                    i := 0
                    for { let r := k } r {} {
                        if and(r, 1) {
                            switch and(r, 3)
                            case 1 {
                                pos := or(pos, shl(i, 1))
                                r := sub(r, 1)
                            }
                            default {
                                neg := or(neg, shl(i, 1))
                                r := add(r, 1)
                            }
                        }
                        r := shr(1, r)
                        i := add(i, 1)
                    }
                }
                mstore(add(q, 0x60), pos)
                mstore(add(q, 0x80), neg)
                mstore(add(q, 0xa0), sub(i, 1))
            }

            let base := add(pts, 0x20)
            let j := sub(t, 1)
            let ax := mload(add(base, mul(j, 0x40)))
            let ay := mload(add(base, add(mul(j, 0x40), 0x20)))
            let az := 1
            // Scratch: the multiplicand of each step at q (x, y, z); the digits of index as a mask
            // of +1 digits at q + 0x60, of −1 digits at q + 0x80, and the top digit's position
            // (always +1) at q + 0xa0. Digits are the non-adjacent form (fewer additions than
            // binary: 255 = 2⁸ − 1) or plain binary, whichever is cheaper.
            let q := mload(0x40)
            digits(index, q)
            for {} j {} {
                j := sub(j, 1)
                // acc = index·acc, left to right over the digits of index (1..255).
                mstore(q, ax)
                mstore(add(q, 0x20), ay)
                mstore(add(q, 0x40), az)
                let bit := mload(add(q, 0xa0))
                for {} bit {} {
                    bit := sub(bit, 1)
                    ax, ay, az := jdouble(ax, ay, az, p)
                    if and(shr(bit, mload(add(q, 0x60))), 1) {
                        ax, ay, az := jadd(ax, ay, az, mload(q), mload(add(q, 0x20)), mload(add(q, 0x40)), p)
                    }
                    if and(shr(bit, mload(add(q, 0x80))), 1) {
                        ax, ay, az := jadd(ax, ay, az, mload(q), sub(p, mload(add(q, 0x20))), mload(add(q, 0x40)), p)
                    }
                }
                // acc += C_j
                ax, ay, az :=
                    jadd(ax, ay, az, mload(add(base, mul(j, 0x40))), mload(add(base, add(mul(j, 0x40), 0x20))), 1, p)
            }
            x := ax
            y := ay
            z := az
        }
        if (z == 0) return (0, 0);
        if (z != 1) {
            uint256 zi = Secp256k1.modExp(z, P - 2);
            uint256 zi2 = mulmod(zi, zi, P);
            x = mulmod(x, zi2, P);
            y = mulmod(y, mulmod(zi2, zi, P), P);
        }
    }

    /// @notice The Ethereum address of `k·G` (`0 < k < n`), computed by `ecrecover`.
    function mulGAddress(uint256 k) internal pure returns (address) {
        return ecrecover(0, 27, bytes32(GX), bytes32(mulmod(GX, k, N)));
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    function _parseDelivery(bytes memory payload)
        private
        pure
        returns (uint256 version, uint8 prefix, uint256 rx, uint256 m)
    {
        assembly ("memory-safe") {
            let w := mload(add(payload, 0x20))
            version := byte(0, w)
            prefix := byte(1, w)
            rx := mload(add(payload, 0x22))
            m := mload(add(payload, 0x42))
        }
    }

    function _parseBuyerKey(bytes memory key) private pure returns (uint256 bx, uint256 by) {
        if (key.length != 64) revert ShareProofInvalidBuyerKey();
        assembly ("memory-safe") {
            bx := mload(add(key, 0x20))
            by := mload(add(key, 0x40))
        }
        if (bx == 0 || bx >= N || !_onCurve(bx, by)) revert ShareProofInvalidBuyerKey();
    }

    function _challenge(Context memory ctx, uint256 bx, uint256 by, uint8 rPrefix, uint256 rx, Proof memory d)
        private
        pure
        returns (uint256)
    {
        bytes memory head = abi.encodePacked(
            DLEQ_DST, ctx.chainId, ctx.marketplace, ctx.purchaseId, ctx.index, bx, by, rPrefix, rx
        );
        return uint256(sha256(abi.encodePacked(head, d.px, d.py, d.a1x, d.a1y, d.a2x, d.a2y))) % N;
    }

    /// @dev `(x, y)` with `x, y < p` on y² = x³ + 7.
    function _onCurve(uint256 x, uint256 y) private pure returns (bool) {
        if (x >= P || y >= P) return false;
        return mulmod(y, y, P) == addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
    }

    /// @dev Decompress a 33-byte SEC1 point; reverts `ShareProofInvalidCommitment()`.
    function _decompress(bytes memory c) private view returns (uint256 x, uint256 y) {
        if (c.length != 33) revert ShareProofInvalidCommitment();
        uint256 prefix;
        assembly ("memory-safe") {
            prefix := byte(0, mload(add(c, 0x20)))
            x := mload(add(c, 0x21))
        }
        if ((prefix != 2 && prefix != 3) || x >= P) revert ShareProofInvalidCommitment();
        uint256 rhs = addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
        y = Secp256k1.modExp(rhs, SQRT_EXP);
        if (mulmod(y, y, P) != rhs) revert ShareProofInvalidCommitment();
        if (y & 1 != prefix & 1) y = P - y;
    }

    /// @dev For curve points A, W and Z (W and Z tied to ecrecover results): `A + W == Z`, checked
    /// as "A, W, −Z lie on one line" with pairwise distinct x (so none is a double point).
    function _sumsTo(uint256 ax, uint256 ay, uint256 wx, uint256 wy, uint256 zx, uint256 zy)
        private
        pure
        returns (bool)
    {
        if (ax == wx || ax == zx || wx == zx) return false;
        uint256 nzy = P - zy; // −Z = (zx, p − zy)
        uint256 lhs = mulmod(addmod(wy, P - ay, P), addmod(zx, P - ax, P), P);
        uint256 rhs = mulmod(addmod(nzy, P - ay, P), addmod(wx, P - ax, P), P);
        return lhs == rhs;
    }

    function _address(uint256 x, uint256 y) private pure returns (address a) {
        assembly ("memory-safe") {
            mstore(0x00, x)
            mstore(0x20, y)
            a := and(keccak256(0x00, 0x40), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }
}
