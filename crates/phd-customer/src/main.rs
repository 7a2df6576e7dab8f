//! `phd-customer`: thin binary over the phd-customer library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli: phd_customer::cli::Cli = match phd_cli::parse_as("customer") {
        Ok(cli) => cli,
        Err(e) => return phd_cli::exit_with(Err(e.into())),
    };
    phd_cli::init_tracing(cli.verbose);
    phd_cli::exit_with(phd_customer::cli::run(cli).await)
}
