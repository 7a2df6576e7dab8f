//! The access gateway on the real stack (issue 11): `phd-gateway` in-process with the owner's
//! S3 credentials and the real chain, a listing whose storage URI names the gateway, and a buyer
//! that holds no storage credential at all. Proves: the buyer's real `buy` gets the owner's
//! plaintext through the gateway; a stranger is refused with 403 and no bytes; both outcomes
//! are in the access log; `buy` refuses before paying when the object is gone.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, keccak256},
    signers::local::PrivateKeySigner,
};
use phd_chain::{BlockRange, Purpose, phd};
use phd_e2e::stack::{KEEPER_TIMEOUT, Stack, write_accel_csv};
use phd_gateway::{Gateway, GatewayConfig, GatewayError};
use phd_protocol::gateway::{AccessRecord, AccessToken, GatewayDomain};
use phd_sdk::{ClientCtx, SdkError, buyer::BuyerError};

/// A gateway serving on a loopback port until [`RunningGateway::stop`].
struct RunningGateway {
    url: String,
    access_log: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

impl RunningGateway {
    /// Runs the gateway the way the owner does: its own S3 credentials, the devnet's chain.
    async fn start(stack: &Stack) -> eyre::Result<Self> {
        let d = &stack.devnet;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let access_log = stack.work().join("gateway-access.jsonl");
        let config = GatewayConfig::new(
            d.rpc_url.clone(),
            d.deployment.clone(),
            d.s3.client_config(),
            url.clone(),
            access_log.clone(),
        );
        let gateway = Gateway::connect(config).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(phd_gateway::serve(gateway, listener, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            url,
            access_log,
            stop,
            task,
        })
    }

    fn records(&self) -> eyre::Result<Vec<AccessRecord>> {
        Ok(phd_gateway::read_access_log(&self.access_log)?)
    }

    async fn stop(self) -> eyre::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A correctly signed token of `signer` naming `purchase_id`, sent as a ranged GET: the
/// response status, the refusal code and the body length.
pub(crate) async fn read_as(
    http: &reqwest::Client,
    domain: &GatewayDomain,
    storage_uri: &str,
    signer: &PrivateKeySigner,
    dataset_id: u64,
    purchase_id: u64,
) -> eyre::Result<(u16, Option<String>, usize)> {
    let token = AccessToken::sign(
        signer,
        domain.clone(),
        dataset_id,
        purchase_id,
        unix_now() + 120,
        // Unique per request; not secret.
        keccak256(format!("{signer:?} {purchase_id} {:?}", SystemTime::now())),
    )?;
    let resp = http
        .get(storage_uri)
        .header(reqwest::header::AUTHORIZATION, token.to_header())
        .header(reqwest::header::RANGE, "bytes=0-4095")
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await?;
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    Ok((status, code, body.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_without_storage_credentials_buys_through_gateway_and_strangers_get_403()
-> eyre::Result<()> {
    let stack = Stack::start().await?;
    let d = &stack.devnet;
    let work = stack.work();
    let gateway = RunningGateway::start(&stack).await?;

    let input = work.join("walk.csv");
    write_accel_csv(&input, 500, None)?;
    let pseudo = work.join("walk.pseudonymised.csv");
    let published = stack
        .publish_with(&input, phd(3), &[Purpose::Research], &pseudo, |a| {
            a.gateway = Some(gateway.url.clone());
        })
        .await?;
    let dataset_id = published.dataset_id;
    let storage_uri = published.storage_uri.clone();
    eyre::ensure!(
        phd_protocol::gateway::parse_gateway_uri(&storage_uri)
            == Some((gateway.url.clone(), published.object_key.clone())),
        "listed {storage_uri}, not the gateway URI of {}",
        published.object_key
    );

    // (1) The buyer holds its account key and nothing else: no store, no S3 credential.
    let customer = d.customer_client().await?;
    let buyer = ClientCtx::new(customer.clone(), None);
    let out = work.join("bought.csv");
    let mut args = phd_sdk::buyer::buy::BuyArgs::new(dataset_id, Purpose::Research, &out);
    args.retrieve.share_timeout = KEEPER_TIMEOUT;
    args.retrieve.poll = Duration::from_millis(100);
    let bought = phd_sdk::buyer::buy::buy(&buyer, &args).await?;
    eyre::ensure!(
        bought.retrieved.source == "gateway",
        "fetched from {}, not the gateway",
        bought.retrieved.source
    );
    eyre::ensure!(
        std::fs::read(&out)? == std::fs::read(&pseudo)?,
        "the buyer's plaintext differs from the owner's"
    );
    eyre::ensure!(bought.confirm_tx.is_some(), "buy did not confirm");
    let purchase_id = bought.purchase_id;

    // (2) A stranger with a well-formed token of its own, naming the buyer's purchase or one
    //     that does not exist: 403 with a JSON reason, never object bytes.
    let http = reqwest::Client::new();
    let domain = GatewayDomain {
        chain_id: d.deployment.chain_id,
        marketplace: d.deployment.marketplace,
        gateway: gateway.url.clone(),
    };
    let stranger = PrivateKeySigner::random();
    let nonexistent = purchase_id + 1_000;
    for (pid, want) in [
        (purchase_id, "not_buyer"),
        (nonexistent, "no_such_purchase"),
    ] {
        let (status, code, body_len) =
            read_as(&http, &domain, &storage_uri, &stranger, dataset_id, pid).await?;
        eyre::ensure!(
            status == 403 && code.as_deref() == Some(want),
            "stranger naming purchase {pid}: {status} {code:?}, want 403 {want}"
        );
        eyre::ensure!(body_len < 512, "refusal carried {body_len} bytes");
    }
    // The same request signed by the buyer is served, so the refusals above are about the
    // signer, not the request.
    let buyer_signer = customer.signer().clone();
    let (status, _, body_len) = read_as(
        &http,
        &domain,
        &storage_uri,
        &buyer_signer,
        dataset_id,
        purchase_id,
    )
    .await?;
    let want_len = usize::try_from(published.sealed_bytes.min(4096))?;
    eyre::ensure!(
        status == 206 && body_len == want_len,
        "buyer's own ranged read: {status}, {body_len} bytes"
    );

    // (3) The access log names every allowed and refused read.
    let log = gateway.records()?;
    let ours = |r: &&AccessRecord, who: Address| r.route == "object" && r.account == Some(who);
    let served: u64 = log
        .iter()
        .filter(|r| ours(r, customer.address()) && r.allowed)
        .filter(|r| r.purchase_id == Some(purchase_id))
        .map(|r| r.bytes)
        .sum();
    eyre::ensure!(
        served >= published.sealed_bytes,
        "log shows {served} bytes served to the buyer, the object has {}",
        published.sealed_bytes
    );
    eyre::ensure!(
        log.iter()
            .filter(|r| ours(r, customer.address()))
            .all(|r| r.allowed),
        "a buyer request was refused: {log:?}"
    );
    let refused: Vec<(Option<u64>, Option<&str>, u16, u64)> = log
        .iter()
        .filter(|r| ours(r, stranger.address()))
        .map(|r| (r.purchase_id, r.code.as_deref(), r.status, r.bytes))
        .collect();
    eyre::ensure!(
        refused
            == vec![
                (Some(purchase_id), Some("not_buyer"), 403, 0),
                (Some(nonexistent), Some("no_such_purchase"), 403, 0),
            ]
            && log
                .iter()
                .filter(|r| ours(r, stranger.address()))
                .all(|r| !r.allowed),
        "stranger's log entries: {refused:?}"
    );
    eyre::ensure!(
        log.iter()
            .any(|r| r.route == "manifest" && r.key == published.object_key && r.allowed),
        "no manifest read logged (buy's availability check)"
    );

    // (4) The object disappears from the bucket: `buy` refuses before paying.
    stack
        .devnet
        .store()
        .await?
        .delete(&published.object_key)
        .await?;
    let balance = customer.balance_of(customer.address()).await?;
    let purchases = customer
        .purchases(None, Some(customer.address()), BlockRange::all())
        .await?
        .len();
    let again = work.join("again.csv");
    let e = phd_sdk::buyer::buy::buy(
        &buyer,
        &phd_sdk::buyer::buy::BuyArgs::new(dataset_id, Purpose::Research, &again),
    )
    .await;
    eyre::ensure!(
        matches!(
            &e,
            Err(BuyerError::Sdk(SdkError::Unavailable { dataset_id: id, .. })) if *id == dataset_id
        ),
        "buy of a missing object: {e:?}"
    );
    eyre::ensure!(
        customer.balance_of(customer.address()).await? == balance,
        "the buyer paid for a missing object"
    );
    eyre::ensure!(
        customer
            .purchases(None, Some(customer.address()), BlockRange::all())
            .await?
            .len()
            == purchases,
        "a purchase was made for a missing object"
    );
    eyre::ensure!(!again.exists(), "buy wrote {}", again.display());

    gateway.stop().await?;
    stack.stop().await;
    Ok(())
}
