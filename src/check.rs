//! The `check` command: rules against the source schema, without copying.
//! Exit 0 when every column is covered and every rule fits; exit 3 with
//! the full list otherwise.

use anyhow::Result;

use crate::catalog::Catalog;
use crate::conn::ConnInfo;
use crate::error::{GapsFound, RulesErrors, UsageError};
use crate::plan::Plan;
use crate::transform::Key;

/// Runs `check` and returns the text to print on success.
pub async fn run(source: Option<&str>, rules_path: &std::path::Path) -> Result<String> {
    let source = source.ok_or_else(|| {
        UsageError::new("no source database; pass --source URL or set SOURCE_DATABASE_URL")
    })?;
    let source = ConnInfo::parse(source, "--source")?;
    let rules = crate::rules::load::load(rules_path)?;
    let snapshot = crate::source::open_snapshot(&source).await?;
    let catalog = Catalog::read(&snapshot.client).await?;
    // check validates shape and types; the secret is not needed for that.
    let key = Key::new(b"check");
    match Plan::build(&rules, catalog, Some(&key)) {
        Ok(plan) => Ok(format!(
            "ok: {} table(s), every column has a rule that fits its type\n",
            plan.tables.len()
        )),
        Err(RulesErrors(list)) => {
            let mut text = String::new();
            for e in &list {
                text.push_str(&format!("{e}\n"));
            }
            print!("{text}");
            Err(GapsFound(format!(
                "{} gap(s) between the rules and the source schema",
                list.len()
            ))
            .into())
        }
    }
}
