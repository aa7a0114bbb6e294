//! An account inventory from the command line, using only the public library API.
//!
//! Reads the standard AWS environment (profile, region, credentials, `AWS_ENDPOINT_URL`) and
//! prints one line per section, or the whole inventory as JSON:
//!
//! ```text
//! cargo run -p clu-cloud --example inventory -- [--json] [--concurrency N] [--sections a,b]
//! ```
//!
//! Exits with 0 when every section answered, 1 when some failed (the others are still
//! printed), and 2 for a command line it does not understand.

use std::process::ExitCode;

use clu_cloud::Cloud;
use clu_cloud::inventory::{InventoryOptions, SECTIONS, inventory};

struct Args {
    json: bool,
    options: InventoryOptions,
}

fn usage(problem: &str) -> ExitCode {
    let sections: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
    eprintln!("inventory: {problem}");
    eprintln!("usage: inventory [--json] [--concurrency N] [--sections a,b,...]");
    eprintln!("sections: {}", sections.join(", "));
    ExitCode::from(2)
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args { json: false, options: InventoryOptions::default() };
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--json" => args.json = true,
            "--concurrency" => {
                let value = raw.next().ok_or("`--concurrency` needs a number")?;
                args.options.concurrency =
                    value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("`--concurrency {value}` is not a positive number")
                    })?;
            }
            "--sections" => {
                let value = raw.next().ok_or("`--sections` needs a comma-separated list")?;
                for name in value.split(',').filter(|s| !s.is_empty()) {
                    if !SECTIONS.iter().any(|(known, _)| *known == name) {
                        return Err(format!("no section `{name}`"));
                    }
                    args.options.sections.push(name.to_owned());
                }
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problem) => return usage(&problem),
    };
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let cloud = Cloud::new(&config);
    let mut options = args.options;
    options.keep_output = args.json;
    let taken = inventory(&cloud, &options).await;

    if args.json {
        match serde_json::to_string_pretty(&taken) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("inventory: cannot print the inventory as JSON: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{:<22} {:>7} {:>8}  error", "section", "count", "ms");
        for section in &taken.sections {
            let count = match (section.count, section.truncated) {
                (Some(count), true) => format!("{count}+"),
                (Some(count), false) => count.to_string(),
                (None, _) => "-".to_owned(),
            };
            let error = section
                .error
                .as_ref()
                .map_or(String::new(), |e| format!("[{}] {}", e.code, e.message));
            println!("{:<22} {count:>7} {:>8}  {error}", section.name, section.elapsed_ms);
        }
        println!(
            "{} sections in {} ms, {} at a time, {} failed",
            taken.sections.len(),
            taken.elapsed_ms,
            taken.concurrency,
            taken.failures()
        );
    }
    if taken.failures() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
