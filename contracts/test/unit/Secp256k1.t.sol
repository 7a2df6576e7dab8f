// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "forge-std/Test.sol";
import {Secp256k1} from "../../src/libraries/Secp256k1.sol";

/// @dev Exposes the library over calldata.
contract Secp256k1Harness {
    function isValidCompressed(bytes calldata key) external view returns (bool) {
        return Secp256k1.isValidCompressed(key);
    }

    function isValidX(uint256 x) external view returns (bool) {
        return Secp256k1.isValidX(x);
    }

    function modExp(uint256 b, uint256 e) external view returns (uint256) {
        return Secp256k1.modExp(b, e);
    }
}

contract Secp256k1Test is Test {
    uint256 internal constant P = Secp256k1.P;
    uint256 internal constant GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798;
    Secp256k1Harness internal h;

    function setUp() public {
        h = new Secp256k1Harness();
    }

    /// @dev Independent check: p ≡ 3 (mod 4), so a square root is rhs^((p+1)/4); x is on the
    /// curve iff that root squares back to rhs.
    function onCurveBySqrt(uint256 x) internal view returns (bool) {
        uint256 rhs = addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
        uint256 y = h.modExp(rhs, (P + 1) / 4);
        return mulmod(y, y, P) == rhs;
    }

    function test_Constants() public pure {
        assertEq(Secp256k1.P, 2 ** 256 - 2 ** 32 - 977);
        assertEq(Secp256k1.HALF_P_MINUS_ONE, (Secp256k1.P - 1) / 2);
    }

    function test_Generator() public view {
        assertTrue(h.isValidX(GX));
        assertTrue(h.isValidCompressed(abi.encodePacked(bytes1(0x02), GX)));
        assertTrue(h.isValidCompressed(abi.encodePacked(bytes1(0x03), GX)));
    }

    function test_OffCurveSmallX() public view {
        // 5³ + 7 = 132 is a non-residue (checked independently below).
        assertFalse(onCurveBySqrt(5));
        assertFalse(h.isValidX(5));
        assertFalse(h.isValidCompressed(abi.encodePacked(bytes1(0x02), uint256(5))));
    }

    function test_RejectsXAtLeastP() public view {
        assertFalse(h.isValidX(P));
        assertFalse(h.isValidX(type(uint256).max));
        // P + 1 mod p = 1, and 1 + 7 = 8 = 2³; 2 is a QR mod p (p ≡ 7 mod 8), so x = 1 is valid but
        // its unreduced alias P + 1 must still be rejected.
        assertTrue(h.isValidX(1));
        assertFalse(h.isValidCompressed(abi.encodePacked(bytes1(0x02), P + 1)));
    }

    function test_RejectsWrongPrefixAndLength() public view {
        assertFalse(h.isValidCompressed(abi.encodePacked(bytes1(0x04), GX)));
        assertFalse(h.isValidCompressed(abi.encodePacked(bytes1(0x00), GX)));
        assertFalse(h.isValidCompressed(abi.encodePacked(bytes1(0x02), GX, bytes1(0))));
        assertFalse(h.isValidCompressed(abi.encodePacked(GX)));
        assertFalse(h.isValidCompressed(""));
    }

    function testFuzz_WalletKeysAreValid(uint256 pk) public {
        pk = bound(pk, 1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140);
        Vm.Wallet memory w = vm.createWallet(pk);
        bytes1 prefix = w.publicKeyY & 1 == 0 ? bytes1(0x02) : bytes1(0x03);
        assertTrue(h.isValidCompressed(abi.encodePacked(prefix, w.publicKeyX)));
    }

    function testFuzz_MatchesSqrtCheck(uint256 x) public view {
        bool expected = x < P && onCurveBySqrt(x);
        assertEq(h.isValidX(x), expected);
    }
}
