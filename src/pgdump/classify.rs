//! A pg_dump script as entries (split at its `-- Name: …; Type: …`
//! headers), and what a post-data entry builds: an index or a key on one
//! table, a foreign key, an index attachment, or something else.

use super::split::code_start;
use crate::sql::{split_ident, split_qualified};

/// The kind of the text before the first header: pg_dump's session
/// settings, which every connection that runs entries needs first.
pub const PREAMBLE: &str = "PREAMBLE";

/// One entry of a pg_dump script, split at its `-- Name: …; Type: …;`
/// headers.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: String,
    pub sql: String,
}

/// Splits a pg_dump script into its entries. Text before the first header
/// (session SETs) is returned as an entry of kind `PREAMBLE`.
pub fn entries(script: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = vec![Entry {
        kind: PREAMBLE.into(),
        sql: String::new(),
    }];
    for line in script.lines() {
        if let Some(rest) = line.strip_prefix("-- Name: ") {
            let kind = rest
                .split("; ")
                .find_map(|p| p.strip_prefix("Type: "))
                .unwrap_or("UNKNOWN")
                .to_string();
            out.push(Entry {
                kind,
                sql: String::new(),
            });
            continue;
        }
        let e = out.last_mut().expect("starts with the preamble");
        e.sql.push_str(line);
        e.sql.push('\n');
    }
    out.retain(|e| {
        e.sql
            .lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with("--"))
    });
    out
}

/// What a post-data entry builds, with the names it is about (unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostData {
    /// `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table …`.
    Index {
        name: String,
        table: (String, String),
    },
    /// `ALTER TABLE [ONLY] schema.table ADD CONSTRAINT name …` (a primary
    /// key, unique, check or exclusion constraint).
    Constraint {
        name: String,
        table: (String, String),
    },
    /// The same for a foreign key; `table` is the referencing one.
    ForeignKey {
        name: String,
        table: (String, String),
    },
    /// `ALTER INDEX … ATTACH PARTITION …`.
    IndexAttach,
    /// Anything else (triggers, rules, …), or an entry whose statement is
    /// not in the shape pg_dump writes for its kind.
    Other,
}

/// What the post-data entry `e` builds.
pub fn classify(e: &Entry) -> PostData {
    let parsed = match e.kind.as_str() {
        "INDEX" => parse_create_index(&e.sql).map(|(name, table)| PostData::Index { name, table }),
        "CONSTRAINT" => parse_alter_table_constraint(&e.sql)
            .map(|(table, name)| PostData::Constraint { name, table }),
        "FK CONSTRAINT" => parse_alter_table_constraint(&e.sql)
            .map(|(table, name)| PostData::ForeignKey { name, table }),
        "INDEX ATTACH" => Some(PostData::IndexAttach),
        _ => None,
    };
    parsed.unwrap_or(PostData::Other)
}

/// `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table …` → (name, table).
fn parse_create_index(sql: &str) -> Option<(String, (String, String))> {
    let s = statement(sql);
    let s = s.strip_prefix("CREATE ")?;
    let s = s.strip_prefix("UNIQUE ").unwrap_or(s);
    let s = s.strip_prefix("INDEX ")?;
    let (name, s) = split_ident(s)?;
    let s = s.trim_start().strip_prefix("ON ")?;
    let s = s.strip_prefix("ONLY ").unwrap_or(s);
    let (table, _) = split_qualified(s)?;
    Some((name, table))
}

/// `ALTER TABLE [ONLY] schema.table ADD CONSTRAINT name …` → (table, name).
fn parse_alter_table_constraint(sql: &str) -> Option<((String, String), String)> {
    let s = statement(sql);
    let s = s.strip_prefix("ALTER TABLE ")?;
    let s = s.strip_prefix("ONLY ").unwrap_or(s);
    let (table, s) = split_qualified(s)?;
    let s = s.trim_start().strip_prefix("ADD CONSTRAINT ")?;
    let (name, _) = split_ident(s)?;
    Some((table, name))
}

/// A primary key or unique constraint, built as its index first and then
/// made a constraint: `CREATE UNIQUE INDEX` takes a SHARE lock, so it
/// builds beside the table's other indexes, while `ADD CONSTRAINT …
/// PRIMARY KEY (…)` holds ACCESS EXCLUSIVE for the whole build and the
/// table's indexes wait for it. `ADD CONSTRAINT … USING INDEX` then takes
/// the finished index in a moment. The catalog ends up the same: the
/// constraint owns an index of its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyByIndex {
    pub create_index: String,
    pub add_constraint: String,
}

/// `ALTER TABLE [ONLY] t ADD CONSTRAINT name {PRIMARY KEY | UNIQUE
/// [NULLS NOT DISTINCT]} (cols) [INCLUDE (cols)] [WITH (params)];` as a
/// `KeyByIndex`; `None` for anything else (deferrable keys, a tablespace,
/// checks, exclusions), which then runs as pg_dump wrote it.
pub fn key_by_index(sql: &str) -> Option<KeyByIndex> {
    let s = statement(sql);
    let s = s.strip_prefix("ALTER TABLE ")?;
    let s = s.strip_prefix("ONLY ").unwrap_or(s);
    let (_, after_table) = split_qualified(s)?;
    let table = s[..s.len() - after_table.len()].trim();
    let s = after_table.trim_start().strip_prefix("ADD CONSTRAINT ")?;
    let (_, after_name) = split_ident(s)?;
    let name = &s[..s.len() - after_name.len()];
    let s = after_name.trim_start();
    let (kind, s) = if let Some(rest) = s.strip_prefix("PRIMARY KEY ") {
        ("PRIMARY KEY", rest)
    } else {
        ("UNIQUE", s.strip_prefix("UNIQUE ")?)
    };
    let (nulls, s) = match s.strip_prefix("NULLS NOT DISTINCT ") {
        Some(rest) => (" NULLS NOT DISTINCT", rest),
        None => ("", s),
    };
    let (columns, mut s) = parenthesized(s)?;
    let mut include = "";
    let mut with = "";
    if let Some(rest) = s.trim_start().strip_prefix("INCLUDE ") {
        (include, s) = parenthesized(rest)?;
    }
    if let Some(rest) = s.trim_start().strip_prefix("WITH ") {
        (with, s) = parenthesized(rest)?;
    }
    // What follows the statement in an entry: blank lines and the next
    // header's leading `--`, nothing else.
    let tail = s.trim_start().strip_prefix(';')?;
    if !code_start(tail).is_empty() {
        return None;
    }
    let include = if include.is_empty() {
        String::new()
    } else {
        format!(" INCLUDE {include}")
    };
    let with = if with.is_empty() {
        String::new()
    } else {
        format!(" WITH {with}")
    };
    Some(KeyByIndex {
        create_index: format!(
            "CREATE UNIQUE INDEX {name} ON {table} USING btree {columns}{include}{nulls}{with};\n"
        ),
        add_constraint: format!(
            "ALTER TABLE ONLY {table} ADD CONSTRAINT {name} {kind} USING INDEX {name};\n"
        ),
    })
}

/// The parenthesized list at the start of `s` (quoted names and string
/// literals may hold parentheses), and the text after it.
fn parenthesized(s: &str) -> Option<(&str, &str)> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[..=i], &s[i + 1..]));
                }
            }
            (None, _) => {}
        }
    }
    None
}

/// The entry's SQL without its leading comment and blank lines.
fn statement(sql: &str) -> &str {
    let mut s = sql;
    loop {
        let t = s.trim_start();
        match t.strip_prefix("--") {
            Some(rest) => s = rest.split_once('\n').map(|(_, r)| r).unwrap_or(""),
            None => return t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, sql: &str) -> Entry {
        Entry {
            kind: kind.into(),
            sql: sql.into(),
        }
    }

    #[test]
    fn parses_pg_dump_index_and_constraint_statements() {
        assert_eq!(
            classify(&entry(
                "INDEX",
                "\nCREATE UNIQUE INDEX \"Odd \"\" idx\" ON ONLY public.\"Order Lines\" USING btree (id);\n"
            )),
            PostData::Index {
                name: "Odd \" idx".into(),
                table: ("public".into(), "Order Lines".into())
            }
        );
        assert_eq!(
            classify(&entry(
                "CONSTRAINT",
                "ALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n"
            )),
            PostData::Constraint {
                name: "orders_pkey".into(),
                table: ("public".into(), "orders".into())
            }
        );
        assert_eq!(
            classify(&entry(
                "FK CONSTRAINT",
                "-- a comment\nALTER TABLE ONLY \"S\".t\n    ADD CONSTRAINT \"t.p\" FOREIGN KEY (p) REFERENCES \"S\".p(id);\n"
            )),
            PostData::ForeignKey {
                name: "t.p".into(),
                table: ("S".into(), "t".into())
            }
        );
        // Not the shape its kind promises: runs with the rest.
        assert_eq!(
            classify(&entry("INDEX", "CREATE TRIGGER t AFTER INSERT")),
            PostData::Other
        );
        assert_eq!(
            classify(&entry("TRIGGER", "CREATE TRIGGER t AFTER INSERT")),
            PostData::Other
        );
    }

    #[test]
    fn entries_split_at_headers() {
        let script = "SET x = 1;\n\n--\n-- Name: t_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\n--\n-- Name: t f; Type: FK CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.t ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES public.p(id);\n";
        let e = entries(script);
        let kinds: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["PREAMBLE", "CONSTRAINT", "FK CONSTRAINT"]);
        assert!(e[1].sql.contains("PRIMARY KEY"));
    }

    #[test]
    fn keys_become_an_index_and_a_constraint_using_it() {
        let k = key_by_index(
            "\nALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n\n\n--\n",
        )
        .unwrap();
        assert_eq!(
            k.create_index,
            "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id);\n"
        );
        assert_eq!(k.add_constraint, "ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY USING INDEX orders_pkey;\n");
        let k = key_by_index(
            "ALTER TABLE ONLY \"S\".\"T (x)\"\n    ADD CONSTRAINT \"k)\" UNIQUE NULLS NOT DISTINCT (a, \"b)\") INCLUDE (c) WITH (fillfactor='90');\n",
        )
        .unwrap();
        assert_eq!(
            k.create_index,
            "CREATE UNIQUE INDEX \"k)\" ON \"S\".\"T (x)\" USING btree (a, \"b)\") INCLUDE (c) NULLS NOT DISTINCT WITH (fillfactor='90');\n"
        );
        assert_eq!(
            k.add_constraint,
            "ALTER TABLE ONLY \"S\".\"T (x)\" ADD CONSTRAINT \"k)\" UNIQUE USING INDEX \"k)\";\n"
        );
        // What USING INDEX cannot express, or an index would not match,
        // runs as pg_dump wrote it.
        for sql in [
            "ALTER TABLE ONLY public.t ADD CONSTRAINT k UNIQUE (a) DEFERRABLE INITIALLY DEFERRED;",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT k PRIMARY KEY (a) USING INDEX TABLESPACE fast;",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT k CHECK ((a > 0));",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT k EXCLUDE USING gist (r WITH &&);",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT k PRIMARY KEY (a",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT k PRIMARY KEY (a);\nALTER TABLE x;",
        ] {
            assert_eq!(key_by_index(sql), None, "{sql}");
        }
    }
}
