//! Issue 10 × 12 ("series fit the trust rules"): a keeper that releases a wrong share of a series
//! segment to a subscriber is proven wrong on-chain by the subscriber's follower by itself
//! (`SeriesMarket.disputeRelease`), slashed through the KeeperRegistry and loses its fee for the
//! segment to the subscriber, who still gets the segment byte-identical from the other keepers;
//! a false dispute of an honest keeper's release is refused by name and costs that keeper nothing.

use std::time::Duration;

use alloy::primitives::U256;
use phd_chain::{BlockRange, Purpose, phd};
use phd_devnet::KeeperKnobs;
use phd_e2e::stack::{KEEPER_TIMEOUT, Stack, wait_for};
use phd_keeper::Misbehaviour;
use phd_sdk::{
    ClientCtx,
    series_dispute::dispute_release,
    series_follow::{FollowOptions, follow, segment_path},
    stream::{SegmentBy, StreamOptions, pseudonymised_segment, stream},
};

use crate::e2e_series::{append, basic_motions_rows};

const ROWS: usize = 20;
const KEY: &[u8] = b"series dispute e2e pseudonym key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_series_release_is_disputed_slashed_and_others_decrypt() -> eyre::Result<()> {
    // Keeper 1 (share index 2) releases a wrong but well-formed share to every subscriber.
    let stack = Stack::start_with(|c| {
        c.keeper_knobs = vec![
            KeeperKnobs::default(),
            KeeperKnobs {
                misbehave: Some(Misbehaviour::WrongShare),
                ..Default::default()
            },
        ];
    })
    .await?;
    let d = &stack.devnet;
    let owner = d.user_client().await?;
    let store = d.store().await?;
    let owner_ctx = ClientCtx::new(owner.clone(), Some(store.clone()));
    let price = phd(1);
    let sid = stack.create_series(price).await?;
    let cheater = d.keepers[1].address;
    let honest = d.keepers[0].address;

    // The subscriber subscribes to segment 0 (nothing written yet).
    let customer = d.customer_client().await?;
    let ctx = ClientCtx::new(customer.clone(), Some(store.clone()));
    let work = stack.work();
    let opts = FollowOptions {
        series_id: sid,
        out_dir: work.join("follow"),
        since: Some(0),
        segments: 1,
        max_price_per_segment: price,
        purpose: Purpose::Research,
        subscription_id: None,
        poll: Duration::from_millis(100),
        max_segments: Some(0),
        format: phd_ingest::ExportFormat::Csv,
    };
    let sub = follow(&ctx, &opts, std::future::pending())
        .await?
        .subscription_id;

    // One segment streamed by the owner.
    let source = work.join("wearable.csv");
    let header = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z".to_string();
    let rows = basic_motions_rows(ROWS + 3);
    append(&source, std::slice::from_ref(&header));
    append(&source, &rows);
    let sopts = StreamOptions {
        series_id: sid,
        source: source.clone(),
        state_file: work.join("stream-state.json"),
        segment_by: SegmentBy::Rows(ROWS),
        pseudonym_key: KEY.to_vec(),
        policy: phd_ingest::PseudonymisePolicy::default(),
        poll: Duration::from_millis(50),
        max_segments: Some(1),
        gateway: None,
        pseudonymised_out: None,
        quality: None,
    };
    let streamed = stream(&owner_ctx, &sopts, std::future::pending()).await?;
    eyre::ensure!(
        streamed.segments == vec![0],
        "streamed {:?}",
        streamed.segments
    );

    // Every keeper (the cheater included) releases segment 0 before the follower looks.
    let keepers = d.keeper_addresses().len();
    wait_for(
        "every keeper released segment 0",
        KEEPER_TIMEOUT,
        || async {
            let n = customer
                .released_shares(U256::from(sub), Some(0), BlockRange::default())
                .await?
                .len();
            Ok((n == keepers).then_some(()))
        },
    )
    .await?;
    let slash = customer.series_market().badReleaseSlash().call().await?;
    let stake_before = customer.stake_of(cheater).await?.amount;
    let cheater_credit_before = customer.series_credit_of(cheater).await?;
    let honest_stake = customer.stake_of(honest).await?.amount;

    // The follower writes the segment from the good shares and disputes the wrong one by itself.
    let run = tokio::time::timeout(
        Duration::from_secs(120),
        follow(
            &ctx,
            &FollowOptions {
                subscription_id: Some(sub),
                max_segments: None,
                ..opts.clone()
            },
            std::future::pending(),
        ),
    )
    .await??;
    eyre::ensure!(run.written == vec![0], "written {:?}", run.written);
    eyre::ensure!(
        run.disputes.len() == 1
            && run.disputes[0].keeper == cheater
            && run.disputes[0].share_index == 2
            && !run.disputes[0].refunded,
        "disputes {:?}",
        run.disputes
    );
    let body: String = rows[..ROWS].iter().map(|l| format!("{l}\n")).collect();
    let (expected, n) = pseudonymised_segment(
        &header,
        body.as_bytes(),
        &phd_ingest::PseudonymisePolicy::default(),
        KEY,
    )
    .map_err(|e| eyre::eyre!(e))?;
    eyre::ensure!(n == ROWS, "{n} rows");
    eyre::ensure!(
        std::fs::read(segment_path(&opts.out_dir, 0))? == expected,
        "plaintext differs from the owner's pseudonymised rows"
    );

    // Four good releases of five remain (t = 3): the keeper pays back its fee for the segment
    // (from its credits, else its bond) plus the slash; exactly that is credited to the subscriber.
    let threshold = u64::from(d.threshold);
    let fee_bps = customer.series_market().keeperFeeBps().call().await?;
    let fee = price * U256::from(fee_bps) / U256::from(10_000u64) / U256::from(threshold);
    let compensation = run.disputes[0].compensation;
    eyre::ensure!(
        compensation == fee + slash,
        "compensation {compensation} != {fee} + {slash}"
    );
    let stake_after = customer.stake_of(cheater).await?.amount;
    let cheater_credit_after = customer.series_credit_of(cheater).await?;
    eyre::ensure!(
        stake_before - stake_after + cheater_credit_before - cheater_credit_after == compensation,
        "the cheater lost {} of its bond and {} of its credits, not {compensation}",
        stake_before - stake_after,
        cheater_credit_before - cheater_credit_after
    );
    eyre::ensure!(stake_after < stake_before, "not slashed");
    eyre::ensure!(
        customer.series_credit_of(customer.address()).await? == compensation,
        "subscriber credits"
    );
    let (bits, refunded) = customer.proven_bad_releases(U256::from(sub), 0).await?;
    eyre::ensure!(
        bits == 0b10 && !refunded,
        "proven bad {bits:#b} refunded {refunded}"
    );

    // A second dispute of the same release is refused by name.
    let again = dispute_release(&ctx, sub, 0, 2, false).await;
    eyre::ensure!(
        again
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("already proven wrong")),
        "second dispute: {again:?}"
    );

    // A false dispute of the honest keeper's release (sent anyway with force) is refused on-chain
    // as SeriesMarketFalseDispute: the honest keeper keeps its bond.
    let false_dispute = dispute_release(&ctx, sub, 0, 1, true).await;
    eyre::ensure!(
        false_dispute
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("false dispute")),
        "false dispute: {false_dispute:?}"
    );
    eyre::ensure!(
        customer.stake_of(honest).await?.amount == honest_stake,
        "an honest keeper was slashed"
    );
    // Without force the app refuses to send it at all.
    let refused = dispute_release(&ctx, sub, 0, 1, false).await;
    eyre::ensure!(
        refused
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("is correct")),
        "unforced false dispute: {refused:?}"
    );

    // The subscriber withdraws what the dispute credited.
    let (_, withdrawn) = customer.withdraw_series_credits().await?;
    eyre::ensure!(withdrawn == compensation, "withdrew {withdrawn}");
    Ok(())
}
