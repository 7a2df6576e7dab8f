//! Refusals on the full local stack: each a clear, decoded error — insufficient PHD, a price
//! raised above `maxPrice`, an unconsented purpose, a withdrawn dataset — and bad owner input
//! (missing file, malformed CSV, wrong key file, unreachable RPC or S3) failing cleanly with
//! nothing half-written (library calls, plus the built `phd-user` binary when it exists).

use std::{path::PathBuf, time::Duration};

use alloy::primitives::U256;
use phd_chain::{ChainError, Purpose, phd};
use phd_e2e::stack::{Stack, files_under, write_accel_csv};
use phd_user::{UserCtx, UserError, publish::PublishArgs};

fn revert_name(e: &ChainError) -> String {
    e.revert()
        .map(|r| r.name())
        .unwrap_or_else(|| format!("not a revert: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_refusals_are_decoded() -> eyre::Result<()> {
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let input = work.join("in.csv");
    write_accel_csv(&input, 300, None)?;
    let price = phd(10);
    let published = stack
        .publish(&input, price, &[Purpose::Research], &work.join("p.csv"))
        .await?;
    let id = U256::from(published.dataset_id);
    let user = d.user_client().await?;
    let customer = d.customer_client().await?;

    // Insufficient PHD: the manufacturer account has ether but no PHD (the paper's "declined").
    let poor = d.client(&d.accounts.manufacturer).await?;
    let e = poor
        .purchase(id, Purpose::Research, price)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("poor purchase succeeded"))?;
    eyre::ensure!(revert_name(&e) == "MarketplaceInsufficientBalance", "{e}");
    eyre::ensure!(
        e.to_string().contains("declined") && e.to_string().contains("0 PHD"),
        "message: {e}"
    );

    // Unconsented purpose.
    let e = customer
        .purchase(id, Purpose::Commercial, price)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("commercial purchase succeeded"))?;
    eyre::ensure!(revert_name(&e) == "MarketplacePurposeNotConsented", "{e}");

    // Price raised above maxPrice (front-running protection).
    user.set_price(id, phd(20)).await?;
    let before = customer.balance_of(customer.address()).await?;
    let e = customer
        .purchase(id, Purpose::Research, price)
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("over-max purchase succeeded"))?;
    eyre::ensure!(revert_name(&e) == "MarketplacePriceAboveMax", "{e}");
    eyre::ensure!(
        customer.balance_of(customer.address()).await? == before,
        "buyer charged on a refused purchase"
    );

    // Withdrawn dataset.
    user.withdraw_consent(id).await?;
    let e = customer
        .purchase(id, Purpose::Research, phd(20))
        .await
        .err()
        .ok_or_else(|| eyre::eyre!("purchase of withdrawn dataset succeeded"))?;
    eyre::ensure!(revert_name(&e) == "MarketplaceDatasetNotActive", "{e}");
    eyre::ensure!(
        customer.open_escrow().await? == U256::ZERO,
        "escrow not empty"
    );
    stack.stop().await;
    Ok(())
}

/// The built `phd-user` binary next to this test's target directory, if it was built.
/// A workspace binary next to this test binary. `make test` builds every binary first
/// (`--bins`); a missing one fails the test instead of skipping it, so a test that runs the
/// real binary can never pass without running it.
pub(crate) fn built_bin(name: &str) -> eyre::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/it-<hash>
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .ok_or_else(|| eyre::eyre!("no target dir above {}", exe.display()))?;
    let p = profile_dir.join(name);
    eyre::ensure!(
        p.is_file(),
        "{} is not built: run `cargo build --workspace --bins` (make test does)",
        p.display()
    );
    Ok(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_owner_input_fails_cleanly() -> eyre::Result<()> {
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let store = d.store().await?;
    let user = d.user_client().await?;
    let state = stack.dir.path().join("user-state");
    let ctx = UserCtx::new(user.clone(), Some(store.clone()), &state);
    let nothing_published = || async {
        let n = user.dataset_count().await?;
        let objs = files_under(&d.s3.root_dir.join(&d.s3.bucket));
        eyre::ensure!(n == U256::ZERO, "{n} datasets on-chain");
        eyre::ensure!(objs.is_empty(), "objects in S3: {objs:?}");
        Ok::<_, eyre::Report>(())
    };
    let args_for = |file: PathBuf| {
        let mut a = PublishArgs::new(file, phd(1), vec![Purpose::Research]);
        a.threshold = d.threshold;
        a.keepers = d.keeper_addresses();
        a.pseudonymised_out = Some(work.join("pseudo-out.csv"));
        a.ack_timeout = Duration::from_secs(60);
        a
    };

    // Missing file.
    let e = phd_user::publish::publish(&ctx, &args_for(work.join("missing.csv")), None, None)
        .await
        .err();
    eyre::ensure!(
        matches!(e, Some(UserError::Read { .. })),
        "missing file: {e:?}"
    );
    eyre::ensure!(
        e.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("missing.csv"),
        "message names the file"
    );
    nothing_published().await?;

    // Malformed CSV (ragged row, text in a number column).
    let bad = work.join("bad.csv");
    std::fs::write(
        &bad,
        "time,acc_x,acc_y,acc_z\n0.00,1,2,3\n0.02,1,2\n0.04,x,y,z\n",
    )?;
    let e = phd_user::publish::publish(&ctx, &args_for(bad.clone()), None, None)
        .await
        .err();
    eyre::ensure!(
        matches!(e, Some(UserError::Ingest { .. })),
        "malformed CSV: {e:?}"
    );
    nothing_published().await?;
    eyre::ensure!(
        !work.join("pseudo-out.csv").exists(),
        "pseudonymised output half-written"
    );

    // Unreachable S3: nothing goes on-chain.
    let good = work.join("good.csv");
    write_accel_csv(&good, 200, None)?;
    let mut cfg = d.s3.client_config();
    cfg.endpoint = Some("http://127.0.0.1:9".into());
    cfg.max_attempts = 1;
    cfg.connect_timeout = Duration::from_secs(2);
    let dead_store = phd_storage::Store::connect(cfg).await?;
    let dead_ctx = UserCtx::new(user.clone(), Some(dead_store), &state);
    let e = phd_user::publish::publish(&dead_ctx, &args_for(good.clone()), None, None)
        .await
        .err();
    eyre::ensure!(
        matches!(e, Some(UserError::Storage { .. })),
        "unreachable S3: {e:?}"
    );
    nothing_published().await?;

    // Unreachable RPC: a clear error before anything happens.
    let e = phd_chain::PhdClient::connect(
        "http://127.0.0.1:9",
        d.accounts.user.clone(),
        d.deployment.clone(),
    )
    .await
    .err();
    eyre::ensure!(
        matches!(e, Some(ChainError::Unreachable { .. })),
        "unreachable RPC: {e:?}"
    );

    // Wrong key file: not a keystore at all.
    let ks_dir = work.join("ks");
    std::fs::create_dir_all(&ks_dir)?;
    let name = "user.json";
    std::fs::write(ks_dir.join(name), br#"{"address":"not a keystore"}"#)?;
    let wallet = phd_cli_wallet(ks_dir.join(name), "any password");
    let e = wallet.signer().err();
    eyre::ensure!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("user.json")),
        "wrong key file: {e:?}"
    );

    // The real binary: non-zero exit, clear message, nothing written.
    {
        let bin = built_bin("phd-user")?;
        let env: Vec<(String, String)> = d
            .env_vars()
            .into_iter()
            .chain(d.role_vars("user"))
            .collect();
        let run = |args: &[&str]| {
            std::process::Command::new(&bin)
                .args(args)
                .envs(env.iter().cloned())
                .env("PHD_STATE_DIR", &state)
                .env_remove("PHD_DEVNET_ENV")
                .output()
        };
        let missing = work.join("missing.csv");
        let out = run(&[
            "publish",
            missing.to_str().unwrap_or_default(),
            "--price",
            "1",
            "--no-quality",
        ])?;
        eyre::ensure!(!out.status.success(), "missing file: exit 0");
        eyre::ensure!(
            String::from_utf8_lossy(&out.stderr).contains("missing.csv"),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&[
            "publish",
            bad.to_str().unwrap_or_default(),
            "--price",
            "1",
            "--no-quality",
        ])?;
        eyre::ensure!(!out.status.success(), "malformed CSV: exit 0");
        let out = run(&["--rpc-url", "http://127.0.0.1:9", "list"])?;
        eyre::ensure!(!out.status.success(), "unreachable RPC: exit 0");
        eyre::ensure!(!out.stderr.is_empty(), "unreachable RPC: no message");
        nothing_published().await?;
    }
    stack.stop().await;
    Ok(())
}

fn phd_cli_wallet(keystore: PathBuf, password: &str) -> phd_cli::WalletArgs {
    phd_cli::WalletArgs {
        private_key: None,
        keystore: Some(keystore),
        password_file: None,
        password: Some(password.into()),
    }
}
