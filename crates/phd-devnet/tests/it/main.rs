//! The devnet binary: its env file is read only when asked for, and only if it is private.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::Path, process::Command};

const BIN: &str = env!("CARGO_BIN_EXE_phd-devnet");

/// `device-sign` in `dir` with `args`; PHD_DEVNET_ENV and the manufacturer key unset.
fn device_sign(dir: &Path, args: &[&str]) -> std::process::Output {
    let data = dir.join("rec.csv");
    std::fs::write(&data, "t,acc_x\n0,1\n").unwrap();
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("PHD_DEVNET_ENV")
        .env_remove("PHD_MANUFACTURER_PRIVATE_KEY")
        .arg("device-sign")
        .arg(&data)
        .args(args)
        .output()
        .unwrap()
}

fn write_env(dir: &Path, mode: u32) {
    let d = dir.join(".devnet");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("env");
    // anvil's well-known first dev key: only ever a throw-away local chain's
    std::fs::write(&p, "PHD_MANUFACTURER_PRIVATE_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn env_file_is_ignored_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    write_env(dir.path(), 0o600);
    let o = device_sign(dir.path(), &[]);
    assert!(!o.status.success(), "signed without a manufacturer key");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("using devnet env file"), "{err}");
}

#[test]
fn env_file_is_used_with_devnet_and_named_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    write_env(dir.path(), 0o600);
    let o = device_sign(dir.path(), &["--devnet", "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("using devnet env file") && err.contains(".devnet/env"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn env_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_env(dir.path(), 0o644);
    let o = device_sign(dir.path(), &["--devnet"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing env file") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn devnet_without_env_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = device_sign(dir.path(), &["--devnet"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no .devnet/env"), "{err}");
}
