//! What the rules assert and the tool cannot prove: `unique: true` beside
//! an `sql:` expression. The plan takes the user's word (the target's
//! unique index, if any, checks the rows it loads); `verify` checks the
//! claim on the whole source column, inside the snapshot: the expression
//! must give as many distinct values as the column holds, or two inputs
//! share an output and a join or a unique index on the copy can break.

use anyhow::Result;
use tokio_postgres::Client;

use super::{ColumnResult, Status};
use crate::error::PgResultExt;
use crate::plan::Plan;
use crate::sql::quote_ident;

/// One verdict per `sql:` column that claims `unique: true`: `ok`, or
/// `not_unique` with the counts (never a value).
pub(super) async fn judge_unique_claims(plan: &Plan, source: &Client) -> Result<Vec<ColumnResult>> {
    let mut out = Vec::new();
    for (t, table) in plan.tables().iter().enumerate().filter(|(_, t)| !t.skip) {
        for (c, column) in table.columns.iter().enumerate() {
            let (true, Some(expr)) = (column.unique_claim, &column.source_expr) else {
                continue;
            };
            let name = table.table.name.to_string();
            let row = source
                .query_one(
                    &format!(
                        "SELECT count(DISTINCT {col})::int8, count(DISTINCT ({expr}))::int8 FROM {}",
                        table.table.sql_only(),
                        col = quote_ident(&column.name),
                    ),
                    &[],
                )
                .await
                .pg_context(|| {
                    format!(
                        "counting the distinct values of {name}.{} and of its `sql:` expression",
                        column.name
                    )
                })?;
            let (inputs, outputs): (i64, i64) = (row.get(0), row.get(1));
            let (status, message) = if outputs < inputs {
                (
                    Status::NotUnique,
                    format!(
                        "the rule says `unique: true`, but its `sql:` expression gives {outputs} distinct values for the column's {inputs}: some inputs share an output; drop `unique: true` (and any unique index on the column), or write an expression that keeps values apart"
                    ),
                )
            } else {
                (
                    Status::Ok,
                    format!("`unique: true` holds: {outputs} distinct outputs for {inputs} distinct values"),
                )
            };
            out.push(ColumnResult {
                order: (t, c),
                table: name,
                column: column.name.clone(),
                rule: column.rule.clone(),
                status,
                sampled: 0,
                found_in_source: None,
                match_rate: None,
                expected_rate: None,
                text: None,
                accepted: None,
                message,
            });
        }
    }
    Ok(out)
}
