//! pg_dump's table selection: `-t/--table`, `-T/--exclude-table`,
//! `-n/--schema`, `-N/--exclude-schema` and `--exclude-table-data`, with
//! pg_dump's patterns (`*`, `?`, `.` between schema and table, double
//! quotes for exact names, unquoted letters folded to lower case).
//!
//! Applied to the catalog and the rules before the plan is built, so the
//! plan never sees a left-out table. A kept table whose foreign key
//! points at a left-out one is an error naming both: its rows would load
//! without their parents.

use regex::Regex;

use crate::catalog::{Catalog, QualifiedName};
use crate::error::UsageError;
use crate::rules::Rules;

/// One pg_dump name pattern, compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    written: String,
    /// `None` when the pattern has no schema part.
    schema: Option<Regex>,
    name: Regex,
}

impl Pattern {
    /// The pattern as typed.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// Compiles a pattern as psql and pg_dump read it.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let mut parts: Vec<String> = vec![String::new()];
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let part = parts.last_mut().expect("one part");
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    part.push('"');
                }
                '"' => quoted = !quoted,
                _ if quoted => part.push_str(&regex::escape(&c.to_string())),
                '.' => parts.push(String::new()),
                '*' => part.push_str(".*"),
                '?' => part.push('.'),
                '$' => part.push_str("\\$"),
                c => part.extend(c.to_lowercase()),
            }
        }
        if quoted {
            return Err(format!("pattern {text:?} has an unclosed double quote"));
        }
        let anchored = |p: &str| {
            Regex::new(&format!("^(?:{p})$"))
                .map_err(|e| format!("pattern {text:?} is not valid: {e}"))
        };
        let (schema, name) = match parts.as_slice() {
            [name] => (None, anchored(name)?),
            [schema, name] => (Some(anchored(schema)?), anchored(name)?),
            // database.schema.table: pg_dump accepts only the current
            // database there; we do not know its name, so we refuse.
            _ => {
                return Err(format!(
                    "pattern {text:?} has more than one `.`; write schema.table"
                ))
            }
        };
        Ok(Pattern {
            written: text.to_string(),
            schema,
            name,
        })
    }

    /// A table pattern: `schema.table`, or `table` in any schema.
    fn matches_table(&self, t: &QualifiedName) -> bool {
        self.schema.as_ref().is_none_or(|s| s.is_match(&t.schema)) && self.name.is_match(&t.name)
    }

    /// A schema pattern (`-n`/`-N`): the one part names the schema.
    fn matches_schema(&self, schema: &str) -> bool {
        self.schema.is_none() && self.name.is_match(schema)
    }
}

/// What `-t/-T/-n/-N/--exclude-table-data` selected, as typed.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub tables: Vec<Pattern>,
    pub exclude_tables: Vec<Pattern>,
    pub schemas: Vec<Pattern>,
    pub exclude_schemas: Vec<Pattern>,
    pub exclude_data: Vec<Pattern>,
}

/// What applying a selection left out.
#[derive(Debug, Clone, Default)]
pub struct Excluded {
    /// Tables left out entirely: pg_dump must leave them out too.
    pub tables: Vec<QualifiedName>,
}

impl Selection {
    /// Compiles the patterns of the flags; errors name the flag.
    pub fn parse(
        tables: &[String],
        exclude_tables: &[String],
        schemas: &[String],
        exclude_schemas: &[String],
        exclude_data: &[String],
    ) -> anyhow::Result<Selection> {
        let compile = |flag: &str, list: &[String]| -> anyhow::Result<Vec<Pattern>> {
            list.iter()
                .map(|p| {
                    Pattern::parse(p).map_err(|e| UsageError::new(format!("{flag}: {e}")).into())
                })
                .collect()
        };
        let selection = Selection {
            tables: compile("--table", tables)?,
            exclude_tables: compile("--exclude-table", exclude_tables)?,
            schemas: compile("--schema", schemas)?,
            exclude_schemas: compile("--exclude-schema", exclude_schemas)?,
            exclude_data: compile("--exclude-table-data", exclude_data)?,
        };
        for p in selection.schemas.iter().chain(&selection.exclude_schemas) {
            if p.schema.is_some() {
                return Err(UsageError::new(format!(
                    "-n/-N {}: a schema pattern has no `.`; to pick a table use -t/-T",
                    p.written
                ))
                .into());
            }
        }
        Ok(selection)
    }

    /// Whether nothing was asked.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.exclude_tables.is_empty()
            && self.schemas.is_empty()
            && self.exclude_schemas.is_empty()
            && self.exclude_data.is_empty()
    }

    /// Whether `t` is copied, as pg_dump decides: `-t` picks tables (and
    /// then `-n`/`-N` do not apply), else `-n` picks schemas; `-N` and `-T`
    /// then leave out.
    pub fn keeps(&self, t: &QualifiedName) -> bool {
        let picked = if !self.tables.is_empty() {
            self.tables.iter().any(|p| p.matches_table(t))
        } else {
            (self.schemas.is_empty() || self.schemas.iter().any(|p| p.matches_schema(&t.schema)))
                && !self
                    .exclude_schemas
                    .iter()
                    .any(|p| p.matches_schema(&t.schema))
        };
        picked && !self.exclude_tables.iter().any(|p| p.matches_table(t))
    }

    /// Whether `t`'s rows are left out (schema only), as `skip: true`.
    pub fn skips_data(&self, t: &QualifiedName) -> bool {
        self.exclude_data.iter().any(|p| p.matches_table(t))
    }

    /// Removes the left-out tables from the catalog and the rules, and
    /// marks `--exclude-table-data` tables `skip`. A kept table that
    /// references a left-out one is an error naming both (all of them).
    pub fn apply(&self, catalog: &mut Catalog, rules: &mut Rules) -> anyhow::Result<Excluded> {
        if self.is_empty() {
            return Ok(Excluded::default());
        }
        let left_out: Vec<QualifiedName> = catalog
            .tables
            .iter()
            .filter(|t| !self.keeps(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let mut problems = Vec::new();
        for t in catalog.tables.iter().filter(|t| self.keeps(&t.name)) {
            for fk in &t.foreign_keys {
                if left_out.contains(&fk.parent) {
                    problems.push(format!(
                        "{} references {} (foreign key {}), which the table selection \
                         (-t/-T/-n/-N) leaves out; select {} too, or leave {} out as well",
                        t.name, fk.parent, fk.name, fk.parent, t.name
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(UsageError::new(problems.join("\n")).into());
        }
        catalog.tables.retain(|t| !left_out.contains(&t.name));
        // A left-out partitioned table takes its partitions along (pg_dump
        // -T would leave them, attached to nothing).
        let mut left_out = left_out;
        catalog.partitions.retain(|(partition, root)| {
            let out = left_out.contains(root);
            if out {
                left_out.push(partition.clone());
            }
            !out
        });
        rules.tables.retain(|r| !left_out.contains(&r.name));
        for table in &catalog.tables {
            if !self.skips_data(&table.name) {
                continue;
            }
            match rules.tables.iter_mut().find(|r| r.name == table.name) {
                Some(rule) => rule.skip = true,
                None => rules
                    .tables
                    .push(crate::rules::TableRule::skipped(table.name.clone())),
            }
        }
        Ok(Excluded { tables: left_out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str, n: &str) -> QualifiedName {
        QualifiedName::new(s, n)
    }

    #[test]
    fn patterns_read_as_pg_dump_reads_them() {
        let p = Pattern::parse("public.order*").unwrap();
        assert!(p.matches_table(&q("public", "orders")));
        assert!(p.matches_table(&q("public", "order_items")));
        assert!(!p.matches_table(&q("sales", "orders")));
        // Unquoted letters fold to lower case; quoted ones do not.
        assert!(Pattern::parse("Orders")
            .unwrap()
            .matches_table(&q("x", "orders")));
        assert!(!Pattern::parse("\"Orders\"")
            .unwrap()
            .matches_table(&q("x", "orders")));
        let p = Pattern::parse("\"Billing Dept\".\"Invoice Lines\"").unwrap();
        assert!(p.matches_table(&q("Billing Dept", "Invoice Lines")));
        // A quoted dot or star is literal.
        let p = Pattern::parse("\"a.b*\"").unwrap();
        assert!(p.matches_table(&q("s", "a.b*")) && !p.matches_table(&q("s", "a.bc")));
        assert!(Pattern::parse("log_????")
            .unwrap()
            .matches_table(&q("s", "log_2024")));
        assert!(Pattern::parse("a.b.c").is_err());
    }

    #[test]
    fn t_wins_over_n_and_exclusions_come_last() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        let sel = Selection {
            tables: vec![p("audit*")],
            schemas: vec![p("sales")],
            exclude_tables: vec![p("audit_old")],
            ..Selection::default()
        };
        assert!(sel.keeps(&q("public", "audit")));
        assert!(!sel.keeps(&q("sales", "orders")));
        assert!(!sel.keeps(&q("public", "audit_old")));
        let sel = Selection {
            schemas: vec![p("s*")],
            exclude_schemas: vec![p("staging")],
            ..Selection::default()
        };
        assert!(sel.keeps(&q("sales", "x")) && !sel.keeps(&q("staging", "x")));
        assert!(!sel.keeps(&q("public", "x")));
    }
}
