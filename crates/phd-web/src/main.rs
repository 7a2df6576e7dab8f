use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli: phd_web::cli::Cli = match phd_cli::parse() {
        Ok(c) => c,
        Err(e) => return phd_cli::exit_with(Err(e.into())),
    };
    phd_cli::exit_with(phd_web::cli::run(cli).await)
}
