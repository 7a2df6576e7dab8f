//! `phd-user`: thin binary over the phd-user library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli: phd_user::cli::Cli = match phd_cli::parse_as("user") {
        Ok(cli) => cli,
        Err(e) => return phd_cli::exit_with(Err(e.into())),
    };
    phd_cli::init_tracing(cli.verbose);
    phd_cli::exit_with(phd_user::cli::run(cli).await)
}
