//! The thin binary: help, and a clear error chain on a missing database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_phd-keeper"));
    // Keep a developer's devnet env file out of the test.
    c.env_remove("PHD_DEVNET_ENV")
        .current_dir(std::env::temp_dir());
    c
}

#[test]
fn help_lists_subcommands() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "register", "status"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = bin().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--public-url",
        "--data-dir",
        "--rpc-url",
        "--private-key",
        "PHD_KEEPER_LISTEN",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn status_without_database_fails_with_context() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reading keeper status"), "{err}");
    assert!(err.contains("no keeper database"), "{err}");
}
