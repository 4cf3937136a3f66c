//! The schema of a plain pg_dump script, read from its statements instead
//! of a database: `CREATE TABLE` (columns, types, `NOT NULL`, generated
//! columns, `PARTITION BY`), `ATTACH PARTITION`, `CREATE DOMAIN` and
//! `CREATE TYPE … AS ENUM`. pg_dump writes these in pre-data, before any
//! row, so the catalog is whole when the first `COPY` comes.

use std::collections::HashMap;

use crate::catalog::{Catalog, Column, QualifiedName, RowSecurity, Table, TableKind, TypeKind};
use crate::rules::parse_table_name;

/// The catalog as the script's statements describe it.
#[derive(Debug, Default)]
pub struct ScriptSchema {
    tables: Vec<Table>,
    /// `(partition, root)`, from `ATTACH PARTITION`.
    attached: Vec<(QualifiedName, QualifiedName)>,
    /// Domains and enums: a type name as written → (base type, kind).
    types: HashMap<String, (String, TypeKind)>,
}

impl ScriptSchema {
    /// Reads one statement (comments before it allowed); statements that
    /// say nothing about tables and types are ignored.
    pub fn statement(&mut self, statement: &str) -> Result<(), String> {
        let s = crate::pgdump::split::code_start(statement);
        let lower = s.to_ascii_lowercase();
        if let Some(rest) = strip_words(&lower, s, &["create", "table"])
            .or_else(|| strip_words(&lower, s, &["create", "unlogged", "table"]))
        {
            self.create_table(rest)
        } else if let Some(rest) = strip_words(&lower, s, &["create", "domain"]) {
            let (name, rest) = split_name(rest)?;
            let rest = rest.trim_start();
            let rest = rest
                .get(..3)
                .filter(|w| w.eq_ignore_ascii_case("as "))
                .map_or(rest, |_| &rest[3..]);
            let base = type_until_keyword(rest);
            let (base_type, ..) = base_of(&base);
            let kind = self.kind_of(&base_type);
            self.types.insert(name, (base_type, kind));
            Ok(())
        } else if let Some(rest) = strip_words(&lower, s, &["create", "type"]) {
            let (name, rest) = split_name(rest)?;
            if rest
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("as enum")
            {
                self.types.insert(name.clone(), (name, TypeKind::Enum));
            }
            Ok(())
        } else if lower.starts_with("alter table") && lower.contains(" attach partition ") {
            let after = &s["alter table".len()..];
            let after = after.trim_start();
            let after = if after.to_ascii_lowercase().starts_with("only ") {
                &after[5..]
            } else {
                after
            };
            let (root, rest) = split_name(after)?;
            let at = rest
                .to_ascii_lowercase()
                .find("attach partition")
                .expect("checked");
            let (partition, _) = split_name(&rest[at + "attach partition".len()..])?;
            self.attached
                .push((parse_table_name(&partition)?, parse_table_name(&root)?));
            Ok(())
        } else {
            Ok(())
        }
    }

    /// The catalog: partitions are reached through their (top) root.
    pub fn catalog(mut self) -> Catalog {
        let top = |mut t: QualifiedName, attached: &[(QualifiedName, QualifiedName)]| {
            while let Some((_, root)) = attached.iter().find(|(p, _)| *p == t) {
                t = root.clone();
            }
            t
        };
        let partitions: Vec<(QualifiedName, QualifiedName)> = self
            .attached
            .iter()
            .map(|(p, _)| (p.clone(), top(p.clone(), &self.attached)))
            .collect();
        self.tables
            .retain(|t| !partitions.iter().any(|(p, _)| *p == t.name));
        Catalog {
            tables: self.tables,
            sequences: Vec::new(),
            materialized_views: Vec::new(),
            partitions,
            server_version: 150000,
        }
    }

    fn kind_of(&self, base_type: &str) -> TypeKind {
        match self.types.get(base_type) {
            Some((_, kind)) => *kind,
            None => TypeKind::from_type(base_type, "b"),
        }
    }

    fn create_table(&mut self, rest: &str) -> Result<(), String> {
        let (name, rest) = split_name(rest)?;
        let name = parse_table_name(&name)?;
        let rest = rest.trim_start();
        let lower = rest.to_ascii_lowercase();
        if lower.starts_with("partition of") || lower.starts_with("of ") {
            // Its columns are its parent's; pg_dump does not write this form.
            return Err(format!(
                "CREATE TABLE {name} {}: only pg_dump's own form is read",
                &rest[..rest.len().min(12)]
            ));
        }
        let body_start = rest
            .find('(')
            .ok_or_else(|| format!("CREATE TABLE {name} has no column list"))?;
        let body_end = matching_paren(rest, body_start)
            .ok_or_else(|| format!("CREATE TABLE {name}: the column list is not closed"))?;
        let body = &rest[body_start + 1..body_end];
        let tail = rest[body_end + 1..].to_ascii_lowercase();
        let kind = if tail.trim_start().starts_with("partition by") {
            TableKind::Partitioned
        } else {
            TableKind::Ordinary
        };
        let mut columns = Vec::new();
        for element in split_top_level(body) {
            let element = element.trim();
            let first = element
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if element.is_empty()
                || matches!(
                    first.as_str(),
                    "constraint" | "primary" | "unique" | "check" | "foreign" | "exclude" | "like"
                )
            {
                continue;
            }
            columns.push(self.column(element)?);
        }
        self.tables.push(Table {
            oid: self.tables.len() as u32 + 1,
            name,
            kind,
            columns,
            unique_keys: Vec::new(),
            unique_indexes: Vec::new(),
            exclusions: Vec::new(),
            foreign_keys: Vec::new(),
            estimated_rows: -1,
            rows_from: crate::catalog::RowsFrom::default(),
            estimated_bytes: 0,
            row_security: RowSecurity::Off,
        });
        Ok(())
    }

    /// `name type [NOT NULL] [DEFAULT …] [GENERATED …]`.
    fn column(&self, element: &str) -> Result<Column, String> {
        let (name, rest) = split_name(element)?;
        let name = crate::rules::parse_column_name(&name);
        let type_name = type_until_keyword(rest.trim_start());
        let (base_type, max_length, precision, scale) = base_of(&type_name);
        let upper = rest.to_ascii_uppercase();
        let mut column = Column::new(&name, &type_name, self.kind_of(&base_type));
        column.base_type = base_type;
        column.max_length = max_length;
        column.numeric_precision = precision;
        column.numeric_scale = scale;
        column.not_null = upper.contains(" NOT NULL");
        column.generated = upper.contains(" GENERATED ALWAYS AS (");
        if upper.contains(" GENERATED ALWAYS AS IDENTITY") {
            column.identity = Some('a');
        } else if upper.contains(" GENERATED BY DEFAULT AS IDENTITY") {
            column.identity = Some('d');
        }
        Ok(column)
    }
}

/// `s` after the words `words` (compared on `lower`, its lower-case copy).
fn strip_words<'a>(lower: &str, s: &'a str, words: &[&str]) -> Option<&'a str> {
    let mut at = 0;
    for w in words {
        let rest = &lower[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if !trimmed.starts_with(w) {
            return None;
        }
        at += w.len();
        if !lower[at..].starts_with(|c: char| c.is_whitespace()) {
            return None;
        }
    }
    Some(&s[at..])
}

/// A possibly qualified, possibly quoted name at the start of `s`, as
/// written; and the rest.
fn split_name(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    let mut quoted = false;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if quoted && chars.peek().map(|p| p.1) == Some('"') => {
                chars.next();
            }
            '"' => quoted = !quoted,
            c if !quoted && (c.is_whitespace() || c == '(' || c == ';' || c == ',') => {
                return Ok((s[..i].to_string(), &s[i..]));
            }
            _ => {}
        }
    }
    if quoted {
        return Err("a quoted name is not closed".into());
    }
    Ok((s.to_string(), ""))
}

/// The index of the `)` that closes the `(` at `open`, outside quotes.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let (mut depth, mut single, mut double) = (0i32, false, false);
    for (i, c) in s[open..].char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '(' if !single && !double => depth += 1,
            ')' if !single && !double => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The elements of a column list, split at commas outside parentheses
/// and quotes.
fn split_top_level(body: &str) -> Vec<&str> {
    let (mut depth, mut single, mut double, mut start) = (0i32, false, false, 0);
    let mut out = Vec::new();
    for (i, c) in body.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '(' if !single && !double => depth += 1,
            ')' if !single && !double => depth -= 1,
            ',' if depth == 0 && !single && !double => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    out
}

/// The type at the start of a column definition, up to the first
/// constraint keyword.
fn type_until_keyword(s: &str) -> String {
    const KEYWORDS: &[&str] = &[
        " NOT NULL",
        " NULL",
        " DEFAULT ",
        " GENERATED ",
        " COLLATE ",
        " CONSTRAINT ",
        " CHECK ",
        " CHECK(",
        " REFERENCES ",
        " PRIMARY KEY",
        " UNIQUE",
    ];
    // Newlines and tabs (pg_dump puts a domain's CHECK on its own line).
    let padded = format!(" {}", s.split_whitespace().collect::<Vec<_>>().join(" "));
    let upper = padded.to_ascii_uppercase();
    let end = KEYWORDS
        .iter()
        .filter_map(|k| upper.find(k))
        .filter(|&i| i > 0)
        .min()
        .unwrap_or(padded.len());
    padded[..end]
        .trim()
        .trim_end_matches(',')
        .trim()
        .to_string()
}

/// `character varying(20)[]` → (`character varying`, Some(20), None, None);
/// `numeric(10,2)` → (`numeric`, None, Some(10), Some(2)).
fn base_of(type_name: &str) -> (String, Option<usize>, Option<u32>, Option<u32>) {
    let t = type_name.trim_end_matches("[]").trim();
    let (mut base, mut args) = (String::new(), None);
    let mut rest = t;
    while let Some(open) = rest.find('(') {
        base.push_str(&rest[..open]);
        let close = rest[open..].find(')').map_or(rest.len(), |c| open + c);
        args.get_or_insert_with(|| rest[open + 1..close].to_string());
        rest = rest.get(close + 1..).unwrap_or("");
    }
    base.push_str(rest);
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    let numbers: Vec<u32> = args
        .iter()
        .flat_map(|a| a.split(','))
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match base.as_str() {
        "character varying" | "character" | "varchar" | "bpchar" => {
            (base, numbers.first().map(|&n| n as usize), None, None)
        }
        "numeric" | "decimal" => (
            "numeric".into(),
            None,
            numbers.first().copied(),
            numbers.get(1).copied(),
        ),
        _ => (base, None, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_create_table_reads_back() {
        let mut s = ScriptSchema::default();
        s.statement("CREATE DOMAIN public.us_zip AS text\n\tCONSTRAINT c CHECK ((VALUE ~ '^[0-9]{5}$'::text));").unwrap();
        s.statement("CREATE TYPE public.mood AS ENUM (\n    'ok',\n    'sad'\n);")
            .unwrap();
        s.statement(
            "-- Name: t\nCREATE TABLE \"Billing Dept\".\"Invoice Lines\" (\n    \"Line ID\" integer NOT NULL,\n    email character varying(40) DEFAULT 'a,b'::character varying,\n    total numeric(10,2),\n    tags text[],\n    zip public.us_zip,\n    m public.mood,\n    at timestamp(3) with time zone,\n    g integer GENERATED ALWAYS AS ((\"Line ID\" * 2)) STORED\n);",
        )
        .unwrap();
        s.statement("CREATE TABLE public.events (\n    id integer\n)\nPARTITION BY RANGE (id);")
            .unwrap();
        s.statement("CREATE TABLE public.events_1 (\n    id integer\n);")
            .unwrap();
        s.statement("ALTER TABLE ONLY public.events ATTACH PARTITION public.events_1 FOR VALUES FROM (1) TO (2);").unwrap();
        let c = s.catalog();
        assert_eq!(c.tables.len(), 2);
        let t = &c.tables[0];
        assert_eq!(t.name, QualifiedName::new("Billing Dept", "Invoice Lines"));
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["Line ID", "email", "total", "tags", "zip", "m", "at", "g"]
        );
        assert!(t.columns[0].not_null);
        assert_eq!(t.columns[1].max_length, Some(40));
        assert_eq!(t.columns[1].kind, TypeKind::Text);
        assert_eq!(
            (t.columns[2].numeric_precision, t.columns[2].numeric_scale),
            (Some(10), Some(2))
        );
        assert!(t.columns[3].is_array && t.columns[3].kind == TypeKind::Text);
        assert_eq!(t.columns[4].kind, TypeKind::Text);
        assert_eq!(t.columns[5].kind, TypeKind::Enum);
        assert_eq!(t.columns[6].kind, TypeKind::TimestampTz);
        assert!(t.columns[7].generated);
        assert_eq!(c.tables[1].kind, TableKind::Partitioned);
        assert_eq!(
            c.partitions,
            [(
                QualifiedName::new("public", "events_1"),
                QualifiedName::new("public", "events")
            )]
        );
    }
}
