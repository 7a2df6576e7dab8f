//! `phd-device`: the hardware check from the command line — act as a manufacturer (keygen,
//! on-chain approval, certify) and as a device (sign), and verify signed recordings the way the
//! owner's app does. Thin: the logic is in the `cli` module; the `phd-device` library is only the
//! format and its crypto.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use eyre::{WrapErr, bail};
use phd_cli::{OutputArgs, RpcArgs, WalletArgs};
use phd_device::{Address, PrivateKeySigner};
use serde::Serialize;

mod cli;

#[derive(Debug, Parser)]
#[command(
    name = "phd-device",
    version,
    about = "PHD exchange device certificates and signed recordings"
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(flatten)]
    out: OutputArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Generate a fresh secp256k1 key (file mode 0600); prints its address.
    Keygen(KeygenArgs),
    /// Registry owner: approve a manufacturer on-chain (KeeperRegistry.approveManufacturer).
    Approve(ApproveArgs),
    /// Manufacturer: certify a device key (writes a certificate JSON).
    Certify(CertifyArgs),
    /// Device: sign a data file (writes <FILE>.sig.json).
    Sign(SignArgs),
    /// Verify a data file against its signature, optionally checking the manufacturer on-chain.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Key file to create (mode 0600); `-` prints the private key on stdout instead.
    #[arg(long, env = "PHD_KEYGEN_OUT", default_value = "key.hex")]
    out: PathBuf,
    /// Replace an existing key file.
    #[arg(long, env = "PHD_KEYGEN_FORCE")]
    force: bool,
}

#[derive(Debug, Args)]
struct ApproveArgs {
    /// Manufacturer address to approve.
    #[arg(long, env = "PHD_MANUFACTURER_ADDRESS")]
    manufacturer: Address,
    /// Manufacturer name recorded on-chain.
    #[arg(long, env = "PHD_MANUFACTURER_NAME")]
    name: String,
    #[command(flatten)]
    rpc: RpcArgs,
    /// The registry owner's account (the deployer).
    #[command(flatten)]
    wallet: WalletArgs,
}

#[derive(Debug, Args)]
struct CertifyArgs {
    /// Manufacturer key: a key file, or the hex key itself (as in the env variable).
    #[arg(
        long,
        env = "PHD_MANUFACTURER_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "FILE|HEX"
    )]
    manufacturer_key: String,
    /// Secret serial-hash key (64 hex digits); default: derived from the manufacturer key.
    #[arg(
        long,
        env = "PHD_MANUFACTURER_SERIAL_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    serial_key: Option<String>,
    /// Address of the device's signing key (see `keygen`).
    #[arg(long, env = "PHD_DEVICE_ADDRESS")]
    device: Address,
    /// Device model (1..=256 bytes).
    #[arg(long, env = "PHD_DEVICE_MODEL")]
    model: String,
    /// Device serial (only its keyed hash goes into the certificate).
    #[arg(long, env = "PHD_DEVICE_SERIAL")]
    serial: String,
    /// Certificate file to write.
    #[arg(long, env = "PHD_DEVICE_CERT", value_name = "CERT.json")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct SignArgs {
    /// Device key: a key file, or the hex key itself.
    #[arg(
        long,
        env = "PHD_DEVICE_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "FILE|HEX"
    )]
    device_key: String,
    /// The device's certificate (from `certify`).
    #[arg(long, env = "PHD_DEVICE_CERT", value_name = "CERT.json")]
    cert: PathBuf,
    /// Signature file to write (default: <FILE>.sig.json next to the data).
    #[arg(long, env = "PHD_SIG_FILE")]
    out: Option<PathBuf>,
    /// Data file to sign.
    #[arg(env = "PHD_DATA_FILE", value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Signature file (default: <FILE>.sig.json).
    #[arg(long, env = "PHD_SIG_FILE")]
    sig: Option<PathBuf>,
    /// Also require the manufacturer to be approved on-chain (KeeperRegistry).
    #[arg(long, env = "PHD_CHECK_CHAIN")]
    check_chain: bool,
    #[command(flatten)]
    rpc: RpcArgs,
    /// Data file to verify.
    #[arg(env = "PHD_DATA_FILE", value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Serialize)]
struct ApproveReport {
    manufacturer: String,
    name: String,
    registry: String,
    approved: bool,
    tx_hash: String,
    block_number: u64,
    gas_used: u64,
    effective_gas_price: u128,
}

async fn approve(args: ApproveArgs, out: OutputArgs) -> eyre::Result<()> {
    if args.manufacturer == Address::ZERO {
        bail!("--manufacturer must not be the zero address");
    }
    let signer = args
        .wallet
        .signer()
        .wrap_err("loading the registry owner's key")?;
    let client = args
        .rpc
        .connect(signer)
        .await
        .wrap_err_with(|| format!("connecting to {}", args.rpc.rpc_url))?;
    let tx = client
        .approve_manufacturer(args.manufacturer, &args.name)
        .await
        .wrap_err_with(|| {
            format!(
                "approveManufacturer({}) as {}",
                args.manufacturer,
                client.address()
            )
        })?;
    let approved = client
        .is_approved_manufacturer(args.manufacturer)
        .await
        .wrap_err("isApprovedManufacturer")?;
    let r = ApproveReport {
        manufacturer: args.manufacturer.to_checksum(None),
        name: args.name,
        registry: client.deployment().keeper_registry.to_checksum(None),
        approved,
        tx_hash: format!("{:#x}", tx.tx_hash),
        block_number: tx.block_number,
        gas_used: tx.gas_used,
        effective_gas_price: tx.effective_gas_price,
    };
    out.emit(&r, || {
        format!(
            "approved manufacturer {} ({:?}) in KeeperRegistry {}\n  tx   {} (block {})\n  gas  {}",
            r.manufacturer, r.name, r.registry, r.tx_hash, r.block_number, r.gas_used
        )
    })?;
    if !approved {
        bail!(
            "transaction mined but isApprovedManufacturer({}) is still false",
            r.manufacturer
        );
    }
    Ok(())
}

async fn verify(args: VerifyArgs, out: OutputArgs) -> eyre::Result<()> {
    let (v, mut report) = cli::verify(&args.file, args.sig.as_deref())?;
    if args.check_chain {
        // Read-only: any key will do.
        let client = args
            .rpc
            .connect(PrivateKeySigner::random())
            .await
            .wrap_err_with(|| format!("connecting to {} for --check-chain", args.rpc.rpc_url))?;
        let approved = client
            .is_approved_manufacturer(v.manufacturer)
            .await
            .wrap_err("isApprovedManufacturer")?;
        report.manufacturer_approved = Some(approved);
        report.ok = approved;
        if !approved {
            if out.json {
                out.emit(&report, String::new)?;
            }
            bail!(
                "verification FAILED: {} is validly signed, but its manufacturer {} is not approved in KeeperRegistry {}",
                args.file.display(),
                report.manufacturer,
                client.deployment().keeper_registry
            );
        }
    }
    out.emit(&report, || report.human())?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    phd_cli::exit_with(run())
}

#[tokio::main]
async fn run() -> eyre::Result<()> {
    let cli: Cli = phd_cli::parse()?;
    phd_cli::init_tracing(cli.verbose);
    let out = cli.out;
    match cli.cmd {
        Cmd::Keygen(a) => {
            let (signer, r) = cli::keygen(&a.out, a.force)?;
            match &r.key_file {
                Some(p) => out.emit(&r, || {
                    format!("{}\n(key written to {}, mode 0600)", r.address, p.display())
                })?,
                None if out.json => {
                    let v = serde_json::json!({ "address": r.address, "private_key": cli::private_key_hex(&signer) });
                    out.emit(&v, String::new)?;
                }
                None => {
                    eprintln!("address {}", r.address);
                    println!("{}", cli::private_key_hex(&signer));
                }
            }
        }
        Cmd::Approve(a) => approve(a, out).await?,
        Cmd::Certify(a) => {
            let key = cli::load_signer(&a.manufacturer_key, "--manufacturer-key")?;
            let serial_key = a
                .serial_key
                .as_deref()
                .map(|s| cli::parse_secret32(s, "--serial-key"))
                .transpose()?;
            let r = cli::certify(key, serial_key, a.device, &a.model, &a.serial, &a.out)?;
            out.emit(&r, || {
                format!(
                    "certified device {} ({}) by manufacturer {}\n  certificate {}",
                    r.device,
                    r.model,
                    r.manufacturer,
                    r.cert_file.display()
                )
            })?;
        }
        Cmd::Sign(a) => {
            let key = cli::load_signer(&a.device_key, "--device-key")?;
            let r = cli::sign(key, &a.cert, &a.file, a.out.as_deref())?;
            out.emit(&r, || {
                format!(
                    "signed {} by device {} ({}, manufacturer {})\n  sha256    {}\n  signature {}",
                    r.data_file.display(),
                    r.device,
                    r.model,
                    r.manufacturer,
                    r.content_sha256,
                    r.signature_file.display()
                )
            })?;
        }
        Cmd::Verify(a) => verify(a, out).await?,
    }
    Ok(())
}
