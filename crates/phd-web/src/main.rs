use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // The service signs for the buyer and for the owner: with --devnet it reads both roles'
    // secrets files (the keys never reach the page).
    let cli: phd_web::cli::Cli = match phd_cli::parse_as_roles(&["customer", "user"]) {
        Ok(c) => c,
        Err(e) => return phd_cli::exit_with(Err(e.into())),
    };
    phd_cli::exit_with(phd_web::cli::run(cli).await)
}
