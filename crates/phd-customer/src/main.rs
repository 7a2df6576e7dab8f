//! `phd-customer`: thin binary over the phd-customer library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = phd_cli::load_devnet_env() {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = phd_customer::cli::Cli::parse();
    phd_cli::init_tracing(cli.verbose);
    match phd_customer::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
