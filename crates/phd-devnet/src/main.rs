//! `phd-devnet up`: the whole local stack in one command, until Ctrl-C / SIGTERM.

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};
use eyre::WrapErr as _;
use phd_devnet::DevnetConfig;

#[derive(Debug, Parser)]
#[command(
    name = "phd-devnet",
    version,
    about = "PHD exchange local stack: anvil, contracts, embedded S3, keepers"
)]
struct Cli {
    /// -v info, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start anvil, deploy, serve S3, run the keepers, write <state>/env; stop on Ctrl-C.
    Up {
        /// State directory (env file, deployment, S3 data, keeper data). Wiped at start.
        #[arg(long, default_value = ".devnet")]
        state_dir: PathBuf,
        /// Number of keepers.
        #[arg(long, default_value_t = 5)]
        keepers: usize,
        /// Threshold advertised for publishing.
        #[arg(long, default_value_t = 3)]
        threshold: u8,
        /// anvil port (0 = any free port).
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Seconds keepers have to deliver a share after a purchase.
        #[arg(long, default_value_t = 3600)]
        delivery_window: u64,
        /// Seconds after the threshold-th share before anyone may settle without the buyer.
        #[arg(long, default_value_t = 86_400)]
        confirmation_window: u64,
        /// Keeper chain poll interval, milliseconds.
        #[arg(long, default_value_t = 250)]
        keeper_poll_ms: u64,
        /// Also write the deployment file here (e.g. deploy/deployments/31337.json).
        #[arg(long)]
        write_deployment: Option<PathBuf>,
        /// Do not start the in-process validator.
        #[arg(long)]
        no_validator: bool,
    },
    /// Demo hardware: the devnet manufacturer (PHD_MANUFACTURER_PRIVATE_KEY, approved on-chain by
    /// `up`) certifies a fresh device key, and the device signs FILE (writes FILE.sig.json).
    DeviceSign {
        /// Recording to sign.
        file: PathBuf,
        /// Device model in the certificate.
        #[arg(long, default_value = "PHD Watch 1")]
        model: String,
        /// Device serial (only its keyed hash goes into the certificate).
        #[arg(long, default_value = "SN-DEVNET-0001")]
        serial: String,
        /// Manufacturer private key (hex).
        #[arg(long, env = "PHD_MANUFACTURER_PRIVATE_KEY", hide_env_values = true)]
        manufacturer_key: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn device_sign(
    file: &std::path::Path,
    model: &str,
    serial: &str,
    key: &str,
    json: bool,
) -> eyre::Result<()> {
    let manufacturer = phd_device::Manufacturer::new(
        phd_chain::signer_from_hex(key).wrap_err("manufacturer key")?,
    );
    let device_key = phd_device::PrivateKeySigner::random();
    let cert = manufacturer.certify_device(device_key.address(), model, serial)?;
    let device = phd_device::Device::new(device_key, cert)?;
    let sig = device
        .sign_recording_file(file)
        .wrap_err_with(|| format!("signing {}", file.display()))?;
    let path = sig.save_sidecar(file)?;
    let out = serde_json::json!({
        "manufacturer": format!("{:#x}", manufacturer.address()),
        "device": format!("{:#x}", device.address()),
        "model": model,
        "content_sha256": format!("{:#x}", sig.content_sha256),
        "signature_file": path.display().to_string(),
    });
    if json {
        println!("{out}");
    } else {
        println!(
            "manufacturer {:#x} certified device {:#x} ({model}); recording signed: {}",
            manufacturer.address(),
            device.address(),
            path.display()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    phd_cli::exit_with(run().await)
}

async fn run() -> eyre::Result<()> {
    // `device-sign --devnet` reads the manufacturer key from the devnet env file.
    let cli: Cli = phd_cli::parse()?;
    match cli.cmd {
        Cmd::DeviceSign {
            file,
            model,
            serial,
            manufacturer_key,
            json,
        } => {
            phd_cli::init_tracing(cli.verbose);
            return device_sign(&file, &model, &serial, &manufacturer_key, json);
        }
        Cmd::Up { .. } => phd_cli::init_tracing(cli.verbose.max(1)),
    }
    match cli.cmd {
        Cmd::DeviceSign { .. } => {}
        Cmd::Up {
            state_dir,
            keepers,
            threshold,
            port,
            delivery_window,
            confirmation_window,
            keeper_poll_ms,
            write_deployment,
            no_validator,
        } => {
            let mut config = DevnetConfig::new(state_dir);
            config.keepers = keepers;
            config.threshold = threshold;
            config.port = port;
            config.deploy.delivery_window = delivery_window;
            config.deploy.confirmation_window = confirmation_window;
            config.keeper_poll_interval = Duration::from_millis(keeper_poll_ms.max(10));
            config.extra_deployment_path = write_deployment;
            config.validator = !no_validator;
            phd_devnet::run(config, phd_cli::shutdown_signal())
                .await
                .wrap_err("phd-devnet up")?;
        }
    }
    Ok(())
}
