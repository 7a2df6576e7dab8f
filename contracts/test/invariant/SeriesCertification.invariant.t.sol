// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm} from "forge-std/Test.sol";
import {console2} from "forge-std/console2.sol";
import {SeriesCertificationBase} from "../SeriesCertificationBase.t.sol";
import {SeriesCertification} from "../../src/SeriesCertification.sol";
import {IKeeperRegistry} from "../../src/interfaces/IKeeperRegistry.sol";
import {SeriesCertificationHandler} from "./handlers/SeriesCertificationHandler.sol";

/// @notice No certificate counts without an independent, staked validator to which the certified
/// segments were released, whatever the owner, its keepers, unstaked accounts and leaving
/// validators try; the count always equals the validators whose current certificate scores high.
contract SeriesCertificationInvariantTest is SeriesCertificationBase {
    SeriesCertificationHandler internal handler;

    function setUp() public override {
        super.setUp();
        uint256 id = createSeries(3, 2, SEGMENT_PRICE);
        // The owner is a staked validator too; keeper 0 of the series left and came back as one.
        registerNode(ownerW, IKeeperRegistry.Role.Validator);
        Vm.Wallet memory kw = keeperWs[0];
        vm.prank(kw.addr);
        keeperRegistry.deregister();
        vm.warp(block.timestamp + UNBONDING_DELAY);
        vm.prank(kw.addr);
        keeperRegistry.withdrawStake();
        registerNode(kw, IKeeperRegistry.Role.Validator);

        Vm.Wallet[] memory ws = new Vm.Wallet[](5);
        ws[0] = validatorW;
        ws[1] = validator2W;
        ws[2] = ownerW;
        ws[3] = kw;
        ws[4] = vm.createWallet("unstaked");
        for (uint256 i; i < ws.length; ++i) {
            fundSeries(ws[i].addr, 100_000 * UNIT);
        }
        // Keeper 0 is no longer bonded: the series' releases come from keepers 1 and 2 (t = 2).
        handler = new SeriesCertificationHandler(series, certs, keeperRegistry, id, ws);
        targetContract(address(handler));
    }

    function afterInvariant() public view {
        console2.log("certificates accepted / refused:", handler.accepted(), handler.refused());
    }

    /// forge-config: default.invariant.runs = 128
    /// forge-config: audit.invariant.runs = 1000
    function invariant_NoCertificateWithoutIndependentStakedGrantedValidator() public view {
        assertEq(handler.breach(), "");
    }

    /// @dev The stored count is the number of validators whose current certificate counts.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: audit.invariant.runs = 1000
    function invariant_CountMatchesCurrentCertificates() public view {
        uint256 id = handler.seriesId();
        uint256 counted;
        for (uint256 i; i < handler.actorCount(); ++i) {
            (bool found, SeriesCertification.Certificate memory c) = certs.currentOf(id, handler.actorAt(i));
            if (found && c.scoreBps >= MIN_SERIES_SCORE) ++counted;
        }
        assertEq(certs.countedOf(id), counted);
        assertEq(certs.isCertified(id), counted >= SERIES_K);
    }

    /// @dev Every certificate in the history is by an account other than the owner and keepers.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: audit.invariant.runs = 1000
    function invariant_HistoryHoldsOnlyIndependentValidators() public view {
        uint256 id = handler.seriesId();
        address owner_ = series.series(id).owner;
        for (uint256 i; i < certs.certificationCount(id); ++i) {
            address v = certs.certificationAt(id, i).validator;
            assertTrue(v != owner_ && series.shareIndexOf(id, v) == 0, "not independent");
        }
    }
}
