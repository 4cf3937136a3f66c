//! The `anonymize` binary: parse the command line, set up logging, run the
//! command, and pick the exit code (the only place that does).

use std::process::ExitCode;

use clap::Parser;

use anonymize::cli::{Cli, Command};
use anonymize::error;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match &cli.command {
        None => cli.sync.common.log_format,
        Some(Command::Sync(a)) => a.common.log_format,
        Some(Command::Check(a)) => a.common.log_format,
        Some(Command::Demo(_)) => anonymize::cli::LogFormat::Text,
    };
    anonymize::logging::init(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::EXIT_RUNTIME);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            eprintln!("error: {}", error::render(&e));
            ExitCode::from(error::exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => sync(cli.sync).await,
        Some(Command::Sync(args)) => sync(args).await,
        Some(Command::Check(args)) => {
            let text =
                anonymize::check::run(args.common.source.as_deref(), &args.common.rules).await?;
            print!("{text}");
            Ok(())
        }
        Some(Command::Demo(args)) => anonymize::demo::run(&args).await,
    }
}

async fn sync(args: anonymize::cli::SyncArgs) -> anyhow::Result<()> {
    let opts = anonymize::sync::SyncOptions::from_args(&args)?;
    let outcome = anonymize::sync::run(opts).await?;
    match outcome.plan_text {
        Some(text) => print!("{text}"),
        None => {
            print!("{}", anonymize::report::summary_table(&outcome.tables));
            println!("done in {:.1} s", outcome.seconds);
        }
    }
    Ok(())
}
