//! The `verify` command: the leak check (`crate::verify`) of a target
//! loaded earlier, against the source it came from.

use anyhow::Result;

use crate::cli::{OutputFormat, VerifyArgs};
use crate::config::{Overrides, Settings};
use crate::error::{GapsFound, PgResultExt};
use crate::plan::Secret;
use crate::verify;

/// Runs `verify` as a command: rules and source schema as for `sync`, the
/// target given by `--target`.
pub async fn run(args: &VerifyArgs) -> Result<String> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides {
            ..Overrides::common(&args.common)
        },
    )?;
    if args.sample == 0 {
        return Err(crate::error::UsageError::new(
            "--sample 0 would check nothing; give the number of values to sample per column (default 10000)",
        )
        .into());
    }
    let source = settings.source_conn()?;
    let target = settings.target_conn()?;
    let rules = crate::rules::load::load(&settings.rules)?;
    let snapshot = crate::source::open_snapshot(&source).await?;
    let catalog = crate::catalog::Catalog::read(&snapshot.client).await?;
    // verify never runs a transform, so the secret is not needed.
    let plan = crate::plan::prepare(&rules, catalog, Secret::NotNeeded)?;
    let client = crate::conn::connect_named(&target, "target").await?;
    client
        .batch_execute(&format!(
            "{}; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            crate::target::TARGET_SETTINGS
        ))
        .await
        .pg_context(|| "starting the verify transaction on the target".into())?;
    let report = verify::check(&plan, &snapshot.client, &client, args.sample).await?;
    // Personal data in the schema's own text (a default, a CHECK, a
    // comment) reached the target verbatim: a leak no row rule covers.
    let schema_texts = crate::schema_text::read(&snapshot.client).await?;
    let in_schema = crate::schema_text::personal_literals(&rules, &schema_texts);
    for line in &in_schema {
        eprintln!("leak: schema: {line}");
    }
    let text = match args.format {
        OutputFormat::Text => report.render_text(),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&report).expect("report serializes") + "\n"
        }
    };
    if report.failures > 0 || !in_schema.is_empty() {
        print!("{text}");
        let objects = match in_schema.len() {
            0 => String::new(),
            n => format!(" and {n} schema object(s) holding personal data"),
        };
        return Err(GapsFound(format!(
            "verify found {} leaking column(s){objects} in {}",
            report.failures,
            target.redacted()
        ))
        .into());
    }
    Ok(text)
}
