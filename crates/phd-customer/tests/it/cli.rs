//! The binary: bad input and an unreachable node give a clear error and a non-zero exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const KEY: &str = "0x0101010101010101010101010101010101010101010101010101010101010101";

fn phd_customer(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_phd-customer"))
        .args(args)
        .env_remove("PHD_DEVNET_ENV")
        .env_remove("PHD_RPC_URL")
        .env_remove("PHD_DEPLOYMENT")
        .env_remove("PHD_PRIVATE_KEY")
        .env_remove("PHD_CUSTOMER_PRIVATE_KEY")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unreachable_rpc_is_a_clear_error() {
    let (code, err) = phd_customer(&[
        "purchases",
        "--rpc-url",
        "http://127.0.0.1:1",
        "--private-key",
        KEY,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("127.0.0.1:1"), "{err}");
}

#[test]
fn no_wallet_is_a_clear_error() {
    let (code, err) = phd_customer(&["purchases", "--rpc-url", "http://127.0.0.1:1"]);
    assert_ne!(code, 0);
    assert!(err.contains("--private-key"), "{err}");
}

#[test]
fn bad_price_is_rejected_by_the_parser() {
    let (code, err) = phd_customer(&["buy", "1", "--out", "x.csv", "--max-price", "twelve"]);
    assert_eq!(code, 2);
    assert!(err.contains("--max-price"), "{err}");
}
