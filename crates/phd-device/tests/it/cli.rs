//! The `phd-device` binary end to end: keygen → certify → sign → verify, failures, and (on
//! anvil) approve + verify --check-chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_phd-device");
const DATA: &[u8] = b"time,ax,ay,az\n0,0.01,0.02,0.98\n10,0.02,0.01,0.99\n";

/// The binary with a clean environment: no devnet env file, no inherited PHD_* variables.
fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env("NO_COLOR", "1");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PHD_") && k != "PHD_ANVIL_BIN" {
            c.env_remove(k);
        }
    }
    c.env_remove("PHD_DEVNET_ENV");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("running phd-device")
}

fn ok(c: &mut Command) -> String {
    let o = run(c);
    assert!(
        o.status.success(),
        "{c:?} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn fails(c: &mut Command) -> String {
    let o = run(c);
    assert!(
        !o.status.success(),
        "{c:?} unexpectedly succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// keygen for the manufacturer and the device, certify, sign; returns (manufacturer, device).
fn setup(dir: &Path) -> (String, String) {
    let m = json(&ok(cmd(dir).args([
        "keygen",
        "--out",
        "maker.key",
        "--json",
    ])));
    let d = json(&ok(cmd(dir).args([
        "keygen",
        "--out",
        "device.key",
        "--json",
    ])));
    let (m, d) = (
        m["address"].as_str().unwrap().to_owned(),
        d["address"].as_str().unwrap().to_owned(),
    );
    ok(cmd(dir).args([
        "certify",
        "--manufacturer-key",
        "maker.key",
        "--device",
        &d,
        "--model",
        "AccelBand 3",
        "--serial",
        "SN-000123",
        "--out",
        "cert.json",
    ]));
    std::fs::write(dir.join("rec.csv"), DATA).unwrap();
    ok(cmd(dir).args([
        "sign",
        "--device-key",
        "device.key",
        "--cert",
        "cert.json",
        "rec.csv",
    ]));
    (m, d)
}

#[test]
fn keygen_certify_sign_verify_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (maker, device) = setup(dir);

    // key files: 0600, one hex line, never printed
    let key = std::fs::read_to_string(dir.join("maker.key")).unwrap();
    assert!(key.starts_with("0x") && key.trim().len() == 66, "{key}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("maker.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let human = ok(cmd(dir).args(["keygen", "--out", "other.key"]));
    let other = std::fs::read_to_string(dir.join("other.key")).unwrap();
    assert!(
        !human.contains(other.trim()) && !human.contains(&other.trim()[2..]),
        "{human}"
    );
    // no silent overwrite
    let err = fails(cmd(dir).args(["keygen", "--out", "maker.key"]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("maker.key")).unwrap(), key);

    // the certificate has the keyed serial hash, not the serial
    let cert = std::fs::read_to_string(dir.join("cert.json")).unwrap();
    assert!(!cert.contains("SN-000123"));
    assert!(dir.join("rec.csv.sig.json").is_file());

    let v = json(&ok(cmd(dir).args(["verify", "rec.csv", "--json"])));
    assert_eq!(v["ok"], true);
    assert_eq!(v["manufacturer"].as_str().unwrap(), maker);
    assert_eq!(v["device"].as_str().unwrap(), device);
    assert_eq!(v["model"], "AccelBand 3");
    assert!(v["manufacturer_approved"].is_null());

    let human = ok(cmd(dir).args(["verify", "rec.csv"]));
    assert!(
        human.starts_with("OK") && human.contains(&maker) && human.contains("not checked"),
        "{human}"
    );

    // env fallbacks: the manufacturer key as hex in PHD_MANUFACTURER_PRIVATE_KEY, explicit --out/--sig
    ok(cmd(dir)
        .args([
            "certify",
            "--device",
            &device,
            "--model",
            "AccelBand 3",
            "--serial",
            "SN-9",
        ])
        .env("PHD_MANUFACTURER_PRIVATE_KEY", key.trim())
        .env("PHD_DEVICE_CERT", "cert2.json"));
    ok(cmd(dir)
        .args([
            "sign",
            "--cert",
            "cert2.json",
            "--out",
            "elsewhere.sig.json",
            "rec.csv",
        ])
        .env("PHD_DEVICE_PRIVATE_KEY", "device.key"));
    let v = json(&ok(cmd(dir)
        .args(["verify", "--sig", "elsewhere.sig.json", "--json"])
        .env("PHD_DATA_FILE", "rec.csv")));
    assert_eq!(v["manufacturer"].as_str().unwrap(), maker);

    // `--out -` is the one way to see a key
    let out = ok(cmd(dir).args(["keygen", "--out", "-", "--json"]));
    let k = json(&out);
    assert_eq!(k["private_key"].as_str().unwrap().len(), 66);
}

#[test]
fn tampered_data_and_wrong_keys_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_maker, device) = setup(dir);

    let mut data = DATA.to_vec();
    data[20] ^= 1;
    std::fs::write(dir.join("rec.csv"), &data).unwrap();
    let err = fails(cmd(dir).args(["verify", "rec.csv"]));
    assert!(
        err.contains("verification FAILED") && err.contains("modified after signing"),
        "{err}"
    );
    assert!(err.contains("content hash mismatch"), "{err}");
    let o = run(cmd(dir).args(["verify", "rec.csv", "--json"]));
    assert!(!o.status.success() && o.stdout.is_empty());

    // a forged certificate (model changed after signing)
    std::fs::write(dir.join("rec.csv"), DATA).unwrap();
    let sig = std::fs::read_to_string(dir.join("rec.csv.sig.json")).unwrap();
    std::fs::write(
        dir.join("rec.csv.sig.json"),
        sig.replace("AccelBand 3", "AccelBand 4"),
    )
    .unwrap();
    let err = fails(cmd(dir).args(["verify", "rec.csv"]));
    assert!(err.contains("forged or corrupted"), "{err}");
    // garbage signature file
    std::fs::write(dir.join("rec.csv.sig.json"), "{not json").unwrap();
    let err = fails(cmd(dir).args(["verify", "rec.csv"]));
    assert!(err.contains("malformed recording signature"), "{err}");

    // signing with a key the certificate is not for
    ok(cmd(dir).args(["keygen", "--out", "wrong.key"]));
    let err = fails(cmd(dir).args([
        "sign",
        "--device-key",
        "wrong.key",
        "--cert",
        "cert.json",
        "rec.csv",
    ]));
    assert!(
        err.contains("does not match certified device") && err.contains(&device),
        "{err}"
    );

    // bad model / address
    let err = fails(cmd(dir).args([
        "certify",
        "--manufacturer-key",
        "maker.key",
        "--device",
        &device,
        "--model",
        "",
        "--serial",
        "x",
        "--out",
        "c.json",
    ]));
    assert!(err.contains("model"), "{err}");
    let err = fails(cmd(dir).args([
        "certify",
        "--manufacturer-key",
        "maker.key",
        "--device",
        "0x12",
        "--model",
        "m",
        "--serial",
        "x",
        "--out",
        "c.json",
    ]));
    assert!(err.contains("--device"), "{err}");
}

#[test]
fn missing_files_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = fails(cmd(dir).args(["verify", "nope.csv"]));
    assert!(err.contains("data file nope.csv not found"), "{err}");

    std::fs::write(dir.join("rec.csv"), DATA).unwrap();
    let err = fails(cmd(dir).args(["verify", "rec.csv"]));
    assert!(err.contains("no signature file rec.csv.sig.json"), "{err}");

    let err = fails(cmd(dir).args([
        "sign",
        "--device-key",
        "missing.key",
        "--cert",
        "cert.json",
        "rec.csv",
    ]));
    assert!(
        err.contains("--device-key: key file missing.key not found"),
        "{err}"
    );

    ok(cmd(dir).args(["keygen", "--out", "device.key"]));
    let err = fails(cmd(dir).args([
        "sign",
        "--device-key",
        "device.key",
        "--cert",
        "cert.json",
        "rec.csv",
    ]));
    assert!(err.contains("certificate cert.json not found"), "{err}");

    // no manufacturer key at all
    let err = fails(cmd(dir).args([
        "certify",
        "--device",
        "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
        "--model",
        "m",
        "--serial",
        "s",
        "--out",
        "c.json",
    ]));
    assert!(err.contains("--manufacturer-key"), "{err}");
    // a bad hex key in the env is rejected without echoing it
    let bad = "0x".to_owned() + &"ab".repeat(31) + "zz";
    let err = fails(
        cmd(dir)
            .args([
                "certify",
                "--device",
                "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
                "--model",
                "m",
            ])
            .args(["--serial", "s", "--out", "c.json"])
            .env("PHD_MANUFACTURER_PRIVATE_KEY", &bad),
    );
    assert!(!err.contains(&"ab".repeat(31)), "{err}");
}

/// On anvil: `approve` as the deployer, then `verify --check-chain` passes for the approved
/// manufacturer and fails for another one. Skipped when anvil is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_and_check_chain_on_anvil() {
    let bin = phd_chain::anvil_bin();
    if Command::new(&bin).arg("--version").output().is_err() {
        eprintln!("skipping: anvil not found ({})", bin.display());
        return;
    }
    let settings = phd_chain::AnvilSettings::load_default().unwrap();
    let anvil = phd_chain::spawn_anvil(&settings, 0).unwrap();
    let url = anvil.endpoint();
    let roles = settings.role_signers().unwrap();
    let out = phd_deploy::deploy(
        &url,
        roles.deployer.clone(),
        &phd_deploy::DeployConfig::default(),
        None,
        true,
    )
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let deployment = dir.join("deployment.json");
    out.deployment.save(&deployment).unwrap();
    let deployer_key = format!("0x{}", hex::encode(roles.deployer.to_bytes().as_slice()));

    let (maker, _device) = setup(&dir);
    let rpc = |c: &mut Command| {
        c.env("PHD_RPC_URL", &url)
            .env("PHD_DEPLOYMENT", &deployment);
    };

    // not yet approved → non-zero exit, JSON still says why
    let mut c = cmd(&dir);
    c.args(["verify", "rec.csv", "--check-chain", "--json"]);
    rpc(&mut c);
    let o = run(&mut c);
    assert!(!o.status.success());
    let v = json(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(v["manufacturer_approved"], false);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not approved"));

    // approve needs the owner: the wrong account is refused with the decoded revert
    let mut c = cmd(&dir);
    c.args(["approve", "--manufacturer", &maker, "--name", "Acme"])
        .env("PHD_PRIVATE_KEY", {
            let k = &roles.customer;
            format!("0x{}", hex::encode(k.to_bytes().as_slice()))
        });
    rpc(&mut c);
    let err = fails(&mut c);
    assert!(err.contains("approveManufacturer"), "{err}");

    let mut c = cmd(&dir);
    c.args([
        "approve",
        "--manufacturer",
        &maker,
        "--name",
        "Acme",
        "--json",
    ])
    .env("PHD_PRIVATE_KEY", &deployer_key);
    rpc(&mut c);
    let a = json(&ok(&mut c));
    assert_eq!(a["approved"], true);
    assert!(a["gas_used"].as_u64().unwrap() > 21_000);
    assert_eq!(a["tx_hash"].as_str().unwrap().len(), 66);

    let mut c = cmd(&dir);
    c.args(["verify", "rec.csv", "--check-chain"]);
    rpc(&mut c);
    let human = ok(&mut c);
    assert!(
        human.contains("approved on-chain") && !human.contains("NOT"),
        "{human}"
    );
}
