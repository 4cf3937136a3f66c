//! The `anonymize` binary: parse the command line, set up logging, run the
//! command, and pick the exit code (the only place that does).

use std::process::ExitCode;

use anonymize::cli::{Cli, Command, LogFormat};
use anonymize::error;

fn main() -> ExitCode {
    anonymize::pipeline::map_huge_allocations();
    install_panic_hook();
    let cli = Cli::parse_args();
    let format = cli.common.log_format;
    anonymize::logging::init(format, cli.common.log_level());
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
    let result = runtime.block_on(run(cli));
    // For `-v` and the memory tests: this process's own peak (VmHWM).
    tracing::debug!(
        peak_rss_bytes = anonymize::report::peak_rss_bytes(),
        "peak memory"
    );
    match result {
        Ok(()) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            let code = error::exit_code(&e);
            let text = error::render(&e);
            // With JSON logs every line of stderr is a JSON object, the
            // final error included, so a log pipeline never has to guess.
            match format {
                LogFormat::Json => tracing::error!(exit_code = code, "{text}"),
                LogFormat::Text => eprintln!("error: {text}"),
            }
            ExitCode::from(code)
        }
    }
}

/// Replaces the default panic hook, which prints the panic's message: a
/// message built from a value (an index out of range in some text, a
/// failed parse) could quote personal data. This one says where, never
/// what. A panic in a copy worker is then turned into an ordinary error by
/// the pipeline, so the run still cleans up and exits 1.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{at} (a bug in anonymize; its message is not shown, as it \
             could quote a value). Please report it with the command and the rules, never the data"
        );
    }));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let text = match cli.command {
        None => sync(cli.sync).await?,
        Some(Command::Sync(args)) => sync(args).await?,
        Some(Command::Check(args)) => anonymize::commands::check::run(&args).await?,
        Some(Command::Init(args)) => anonymize::commands::init::run(&args).await?,
        Some(Command::Verify(args)) => anonymize::commands::verify::run(&args).await?,
        Some(Command::Demo(args)) => {
            anonymize::commands::demo::run(&args).await?;
            String::new()
        }
        Some(Command::Export(args)) => anonymize::commands::export::run(&args).await?,
        Some(Command::Load(args)) => anonymize::commands::load::run(&args).await?,
        Some(Command::Filter(args)) => anonymize::commands::filter::run(&args).await?,
        Some(Command::Worker(args)) => anonymize::commands::worker::run(&args).await?,
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "anonymize",
                &mut out,
            );
            String::from_utf8(out)?
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            // The man page's header holds the version on one line.
            let command =
                <Cli as clap::CommandFactory>::command().version(env!("CARGO_PKG_VERSION"));
            clap_mangen::Man::new(command).render(&mut out)?;
            String::from_utf8(out)?
        }
    };
    print!("{text}");
    Ok(())
}

async fn sync(args: anonymize::cli::SyncArgs) -> anyhow::Result<String> {
    let opts = anonymize::commands::sync::SyncOptions::from_args(&args)?;
    // With `--report -` stdout holds the report alone.
    let report_on_stdout = opts
        .report
        .as_deref()
        .is_some_and(|p| p == std::path::Path::new(anonymize::report::STDOUT));
    let outcome = anonymize::commands::sync::run(opts).await?;
    Ok(match outcome.plan_text {
        Some(text) => text,
        None if report_on_stdout => String::new(),
        None => format!(
            "{}{}done in {:.1} s\n",
            anonymize::report::summary_table(&outcome.tables),
            anonymize::report::phases_line(&outcome.phases),
            outcome.seconds
        ),
    })
}
