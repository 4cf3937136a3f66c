//! The source schema as the plan needs it: tables, columns and their types,
//! keys, sequences and materialized views, read inside the run's snapshot.
//!
//! The queries live in `src/catalog/*.sql` so they can be read (and run by
//! hand in psql) as SQL.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::PgResultExt;
use crate::sql::{display_ident, quote_qualified};

/// `schema.table` as PostgreSQL spells it (unquoted, case kept).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualifiedName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Always-quoted SQL form: `"public"."Order Lines"`.
    pub fn sql(&self) -> String {
        quote_qualified(&self.schema, &self.name)
    }
}

/// Displays as users write it in rules: quotes only where SQL needs them.
impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            display_ident(&self.schema),
            display_ident(&self.name)
        )
    }
}

/// What kind of value a column holds, as far as transforms care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Text,
    Int16,
    Int32,
    Int64,
    Numeric,
    Float,
    Bool,
    Date,
    Timestamp,
    TimestampTz,
    Time,
    TimeTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    Bytea,
    Inet,
    MacAddr,
    Enum,
    Other,
}

impl TypeKind {
    /// Maps a base type (element type for arrays) to its kind.
    pub fn from_type(type_name: &str, typtype: &str) -> TypeKind {
        if typtype == "e" {
            return TypeKind::Enum;
        }
        match type_name {
            "text" | "character varying" | "character" | "name" | "citext" | "bpchar"
            | "varchar" => TypeKind::Text,
            // An extension's type is schema-qualified: the catalog is read
            // with `search_path = pg_catalog` (see `source`).
            n if n.ends_with(".citext") => TypeKind::Text,
            "smallint" => TypeKind::Int16,
            "integer" => TypeKind::Int32,
            "bigint" => TypeKind::Int64,
            "numeric" => TypeKind::Numeric,
            "real" | "double precision" => TypeKind::Float,
            "boolean" => TypeKind::Bool,
            "date" => TypeKind::Date,
            "timestamp without time zone" => TypeKind::Timestamp,
            "timestamp with time zone" => TypeKind::TimestampTz,
            "time without time zone" => TypeKind::Time,
            "time with time zone" => TypeKind::TimeTz,
            "interval" => TypeKind::Interval,
            "uuid" => TypeKind::Uuid,
            "json" => TypeKind::Json,
            "jsonb" => TypeKind::Jsonb,
            "bytea" => TypeKind::Bytea,
            "inet" | "cidr" => TypeKind::Inet,
            "macaddr" | "macaddr8" => TypeKind::MacAddr,
            _ => TypeKind::Other,
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(self, TypeKind::Int16 | TypeKind::Int32 | TypeKind::Int64)
    }

    pub fn is_numeric(self) -> bool {
        self.is_integer() || matches!(self, TypeKind::Numeric | TypeKind::Float)
    }
}

/// One column of a source table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type()` output, e.g. `character varying(20)`, `text[]`.
    pub type_name: String,
    /// The base type's name without modifiers (the element type for arrays),
    /// e.g. `character varying`.
    pub base_type: String,
    /// Kind of the value (of each element, for arrays).
    pub kind: TypeKind,
    pub is_array: bool,
    /// Length limit of varchar(n)/char(n), in characters.
    pub max_length: Option<usize>,
    /// Precision and scale of numeric(p,s).
    pub numeric_precision: Option<u32>,
    pub numeric_scale: Option<u32>,
    pub not_null: bool,
    /// `GENERATED ALWAYS AS (...) STORED`: computed by the target, never copied.
    pub generated: bool,
    /// `a` (ALWAYS) or `d` (BY DEFAULT) for identity columns.
    pub identity: Option<char>,
    /// Member of a primary key or a single-column unique constraint/index.
    pub unique: bool,
}

impl Column {
    /// A plain nullable column of `type_name` (`text`, `integer[]`, ...),
    /// for columns that do not come from a catalog: values inside a json
    /// document, tests and benchmarks.
    pub fn new(name: &str, type_name: &str, kind: TypeKind) -> Column {
        Column {
            name: name.into(),
            type_name: type_name.into(),
            base_type: type_name.trim_end_matches("[]").into(),
            kind,
            is_array: type_name.ends_with("[]"),
            max_length: None,
            numeric_precision: None,
            numeric_scale: None,
            not_null: false,
            generated: false,
            identity: None,
            unique: false,
        }
    }
}

/// A primary key, unique constraint or unique index.
#[derive(Debug, Clone)]
pub struct UniqueKey {
    pub name: String,
    /// Key columns (an index's INCLUDE columns are not part of the key).
    pub columns: Vec<String>,
    pub primary: bool,
    /// `NULLS NOT DISTINCT`: two NULLs collide.
    pub nulls_not_distinct: bool,
}

/// A unique index on expressions or with a predicate
/// (`CREATE UNIQUE INDEX ... (lower(handle)) WHERE active`). It is not a
/// `UniqueKey`: no foreign key can point at it and the subset never keys
/// rows by it, but the rules of its columns must keep it unique.
#[derive(Debug, Clone)]
pub struct UniqueIndex {
    pub name: String,
    /// Key parts in key order.
    pub parts: Vec<IndexPart>,
    /// The `WHERE` of a partial index, as SQL.
    pub predicate: Option<String>,
    pub nulls_not_distinct: bool,
}

/// An exclusion constraint: no two rows may have every part's operator
/// hold between them. The rules of its columns must not make two rows that
/// did not conflict in the source conflict in the target.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub name: String,
    /// Parts in key order, each with its operator (`=`, `&&`).
    pub parts: Vec<(IndexPart, String)>,
}

/// An index's key parts from a catalog row's `columns` (the column's name,
/// or empty for an expression) and `parts` (`pg_get_indexdef`'s text).
fn index_parts(row: &tokio_postgres::Row) -> Vec<IndexPart> {
    let columns: Vec<String> = row.get("columns");
    let parts: Vec<String> = row.get("parts");
    columns
        .into_iter()
        .zip(parts)
        .map(|(c, p)| {
            if c.is_empty() {
                IndexPart::Expression(p)
            } else {
                IndexPart::Column(c)
            }
        })
        .collect()
}

/// One key part of a `UniqueIndex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexPart {
    /// A plain column.
    Column(String),
    /// An expression, as `pg_get_indexdef` writes it (`lower(handle)`).
    Expression(String),
}

/// A foreign key from `columns` to `parent.parent_columns`.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub parent: QualifiedName,
    pub parent_columns: Vec<String>,
    pub deferrable: bool,
    /// Declared in the rules (`references:`), not in the database.
    pub virtual_key: bool,
    /// The database checked it against every row (not `NOT VALID`), so
    /// each set reference has its parent row; false for a rules key.
    pub validated: bool,
}

/// How a relation takes part in the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// An ordinary table that is not a partition.
    Ordinary,
    /// A partitioned table: copied through its root, rows routed by the target.
    Partitioned,
}

impl TableKind {
    /// `ONLY ` for an ordinary table, so rows of inheritance children are
    /// not read twice; nothing for a partitioned root, whose rows live in
    /// its partitions.
    pub fn only(self) -> &'static str {
        match self {
            TableKind::Ordinary => "ONLY ",
            TableKind::Partitioned => "",
        }
    }
}

/// Row-level security on a source table, as it bears on this role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowSecurity {
    /// The table has no row-level security.
    Off,
    /// Enabled, and this role bypasses it (superuser, BYPASSRLS, or owner
    /// without FORCE): every row is read.
    Bypassed,
    /// Enabled, and it applies to this role: policies would hide rows, so
    /// the copy refuses (sessions run with `row_security = off`, which makes
    /// the server raise an error instead of filtering).
    Applies,
}

/// A table the copy handles (partitions are reached through their root).
#[derive(Debug, Clone)]
pub struct Table {
    pub oid: u32,
    pub name: QualifiedName,
    pub kind: TableKind,
    pub columns: Vec<Column>,
    pub unique_keys: Vec<UniqueKey>,
    /// Unique indexes on expressions or with a predicate.
    pub unique_indexes: Vec<UniqueIndex>,
    /// Exclusion constraints (`EXCLUDE USING gist (room WITH =, during WITH &&)`).
    pub exclusions: Vec<Exclusion>,
    pub foreign_keys: Vec<ForeignKey>,
    /// `pg_class.reltuples` (summed over partitions), or for a table never
    /// analysed, its rows counted or estimated in the snapshot (`rows_from`
    /// says which); -1 only when even that failed.
    pub estimated_rows: i64,
    /// Where `estimated_rows` comes from.
    pub rows_from: RowsFrom,
    /// On-disk size in bytes (summed over partitions).
    pub estimated_bytes: i64,
    pub row_security: RowSecurity,
}

/// Where a table's row count comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsFrom {
    /// The planner's statistics (`pg_class.reltuples`, kept by ANALYZE,
    /// VACUUM and index builds).
    #[default]
    Statistics,
    /// Never analysed, so counted in the snapshot (`count(*)`).
    Counted,
    /// Never analysed and too large to count: the planner's estimate from
    /// the relation's size on disk.
    Estimated,
}

/// A never-analysed table whose planner estimate is at most this many
/// rows is counted exactly; a larger one keeps the estimate, which costs
/// no scan. A count of a million narrow rows takes well under a second.
pub const COUNT_ROWS_UP_TO: i64 = 1_000_000;

impl Table {
    /// The table as SQL names it for statements that must not reach
    /// inheritance children (`ONLY` for an ordinary table; a partitioned
    /// root holds no rows of its own, so it is named bare).
    pub fn sql_only(&self) -> String {
        format!("{}{}", self.kind.only(), self.name.sql())
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn primary_key(&self) -> Option<&UniqueKey> {
        self.unique_keys.iter().find(|k| k.primary)
    }
}

/// A sequence and the value the target must continue from.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub name: QualifiedName,
    /// `None` when this role may not read the sequence (`access` refuses
    /// such a run: the target's would start behind its column).
    pub last_value: Option<i64>,
    /// Whether `nextval` goes past `last_value` (called since its last
    /// reset) or returns it (fresh, or reset by `setval(s, v, false)`).
    pub is_called: bool,
}

/// Reads every sequence's state from the sequence itself, as pg_dump does:
/// `last_value` and `is_called` exactly, so a sequence reset but not used
/// since continues at its reset value in the target.
async fn read_sequences(client: &Client) -> Result<Vec<Sequence>> {
    let listed = client
        .query(include_str!("catalog/sequences.sql"), &[])
        .await
        .pg_context(|| "reading the source sequences".into())?;
    let mut sequences: Vec<Sequence> = Vec::with_capacity(listed.len());
    let mut reads = Vec::new();
    for row in &listed {
        let name = QualifiedName::new(row.get::<_, String>("schema"), row.get::<_, String>("name"));
        if row.get::<_, bool>("readable") {
            reads.push(format!(
                "SELECT {}::int, last_value, is_called FROM {}",
                sequences.len(),
                name.sql()
            ));
        }
        sequences.push(Sequence {
            name,
            last_value: None,
            is_called: false,
        });
    }
    // One round trip per few hundred sequences, not one per sequence.
    for chunk in reads.chunks(500) {
        for row in client
            .query(&chunk.join(" UNION ALL "), &[])
            .await
            .pg_context(|| "reading the state of the source sequences".into())?
        {
            let s = &mut sequences[row.get::<_, i32>(0) as usize];
            s.last_value = Some(row.get(1));
            s.is_called = row.get(2);
        }
    }
    Ok(sequences)
}

/// Fills in the row count of a table never analysed (`reltuples` -1, as
/// after a fresh restore), inside the snapshot: the subset's shares rest on
/// these counts, and without them they shrink down every chain of tables.
/// The planner's estimate (from the relation's size, no scan) first; at
/// most `COUNT_ROWS_UP_TO` rows, an exact `count(*)`. A table the role may
/// not read keeps -1: the access check reports it.
async fn count_rows(client: &Client, table: &mut Table) -> Result<()> {
    client
        .batch_execute("SAVEPOINT anonymize_count")
        .await
        .pg_context(|| "counting rows of tables never analysed".into())?;
    let counted: Result<(i64, RowsFrom), tokio_postgres::Error> = async {
        // EXPLAIN's output is json, read as text (our own SQL, no input).
        let explained = client
            .simple_query(&format!(
                "EXPLAIN (FORMAT JSON) SELECT 1 FROM {}",
                table.sql_only()
            ))
            .await?;
        let plan: serde_json::Value = explained
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
                _ => None,
            })
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0) as i64;
        if estimate > COUNT_ROWS_UP_TO {
            return Ok((estimate, RowsFrom::Estimated));
        }
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}", table.sql_only()), &[])
            .await?
            .get(0);
        Ok((n, RowsFrom::Counted))
    }
    .await;
    let end = if counted.is_ok() {
        "RELEASE SAVEPOINT anonymize_count"
    } else {
        "ROLLBACK TO SAVEPOINT anonymize_count"
    };
    client
        .batch_execute(end)
        .await
        .pg_context(|| "counting rows of tables never analysed".into())?;
    if let Ok((rows, from)) = counted {
        table.estimated_rows = rows;
        table.rows_from = from;
    }
    Ok(())
}

/// Everything the plan needs to know about the source.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tables: Vec<Table>,
    pub sequences: Vec<Sequence>,
    pub materialized_views: Vec<QualifiedName>,
    /// Partitions and their roots: `(partition, root)`. They are not in
    /// `tables` (rows are copied through the root).
    pub partitions: Vec<(QualifiedName, QualifiedName)>,
    /// `server_version_num` of the source.
    pub server_version: i32,
}

impl Catalog {
    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables.iter().find(|t| &t.name == name)
    }

    /// The root a partition is copied through, when `name` is a partition.
    pub fn partition_root(&self, name: &QualifiedName) -> Option<&QualifiedName> {
        self.partitions
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, root)| root)
    }

    /// Reads the catalog. Must run inside the snapshot transaction.
    pub async fn read(client: &Client) -> Result<Catalog> {
        let server_version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .pg_context(|| "reading the source server version".into())?
            .get(0);

        let mut tables: Vec<Table> = Vec::new();
        let mut by_oid: BTreeMap<u32, usize> = BTreeMap::new();
        for row in client
            .query(include_str!("catalog/tables.sql"), &[])
            .await
            .pg_context(|| "reading the source tables".into())?
        {
            let oid: u32 = row.get("oid");
            let kind: i8 = row.get("relkind");
            by_oid.insert(oid, tables.len());
            tables.push(Table {
                oid,
                name: QualifiedName::new(
                    row.get::<_, String>("schema"),
                    row.get::<_, String>("name"),
                ),
                kind: if kind as u8 == b'p' {
                    TableKind::Partitioned
                } else {
                    TableKind::Ordinary
                },
                columns: Vec::new(),
                unique_keys: Vec::new(),
                unique_indexes: Vec::new(),
                exclusions: Vec::new(),
                foreign_keys: Vec::new(),
                estimated_rows: row.get::<_, f64>("reltuples") as i64,
                rows_from: RowsFrom::Statistics,
                estimated_bytes: row.get("bytes"),
                row_security: match (row.get("row_security"), row.get("row_security_applies")) {
                    (false, _) => RowSecurity::Off,
                    (true, false) => RowSecurity::Bypassed,
                    (true, true) => RowSecurity::Applies,
                },
            });
        }

        for row in client
            .query(include_str!("catalog/columns.sql"), &[])
            .await
            .pg_context(|| "reading the source columns".into())?
        {
            let Some(&i) = by_oid.get(&row.get::<_, u32>("table_oid")) else {
                continue;
            };
            let base_type: String = row.get("base_type");
            let typtype: String = row.get("typtype");
            let identity: String = row.get("identity");
            tables[i].columns.push(Column {
                name: row.get("name"),
                type_name: row.get("type_name"),
                kind: TypeKind::from_type(&base_type, &typtype),
                base_type,
                is_array: row.get("is_array"),
                max_length: row.get::<_, Option<i32>>("max_length").map(|n| n as usize),
                numeric_precision: row
                    .get::<_, Option<i32>>("numeric_precision")
                    .map(|n| n as u32),
                numeric_scale: row.get::<_, Option<i32>>("numeric_scale").map(|n| n as u32),
                not_null: row.get("not_null"),
                generated: row.get("generated"),
                identity: identity.chars().next(),
                unique: false,
            });
        }

        for row in client
            .query(include_str!("catalog/unique_keys.sql"), &[])
            .await
            .pg_context(|| "reading the source unique keys".into())?
        {
            let Some(&i) = by_oid.get(&row.get::<_, u32>("table_oid")) else {
                continue;
            };
            let columns: Vec<String> = row.get("columns");
            if columns.len() == 1 {
                if let Some(c) = tables[i].columns.iter_mut().find(|c| c.name == columns[0]) {
                    c.unique = true;
                }
            }
            tables[i].unique_keys.push(UniqueKey {
                name: row.get("name"),
                columns,
                primary: row.get("is_primary"),
                nulls_not_distinct: row.get("nulls_not_distinct"),
            });
        }

        for row in client
            .query(include_str!("catalog/exclusions.sql"), &[])
            .await
            .pg_context(|| "reading the source exclusion constraints".into())?
        {
            let Some(&i) = by_oid.get(&row.get::<_, u32>("table_oid")) else {
                continue;
            };
            let operators: Vec<String> = row.get("operators");
            tables[i].exclusions.push(Exclusion {
                name: row.get("name"),
                parts: index_parts(&row).into_iter().zip(operators).collect(),
            });
        }

        for row in client
            .query(include_str!("catalog/unique_indexes.sql"), &[])
            .await
            .pg_context(|| "reading the source unique indexes".into())?
        {
            let Some(&i) = by_oid.get(&row.get::<_, u32>("table_oid")) else {
                continue;
            };
            tables[i].unique_indexes.push(UniqueIndex {
                name: row.get("name"),
                parts: index_parts(&row),
                predicate: row.get("predicate"),
                nulls_not_distinct: row.get("nulls_not_distinct"),
            });
        }

        for row in client
            .query(include_str!("catalog/foreign_keys.sql"), &[])
            .await
            .pg_context(|| "reading the source foreign keys".into())?
        {
            let Some(&i) = by_oid.get(&row.get::<_, u32>("table_oid")) else {
                continue;
            };
            tables[i].foreign_keys.push(ForeignKey {
                name: row.get("name"),
                columns: row.get("columns"),
                parent: QualifiedName::new(
                    row.get::<_, String>("parent_schema"),
                    row.get::<_, String>("parent_name"),
                ),
                parent_columns: row.get("parent_columns"),
                deferrable: row.get("deferrable"),
                virtual_key: false,
                validated: row.get("validated"),
            });
        }

        for table in tables.iter_mut().filter(|t| t.estimated_rows < 0) {
            count_rows(client, table).await?;
        }

        let sequences = read_sequences(client).await?;

        let materialized_views = client
            .query(
                "SELECT schemaname::text, matviewname::text FROM pg_matviews \
                 WHERE ispopulated ORDER BY 1, 2",
                &[],
            )
            .await
            .pg_context(|| "reading the source materialized views".into())?
            .iter()
            .map(|row| QualifiedName::new(row.get::<_, String>(0), row.get::<_, String>(1)))
            .collect();

        let partitions = client
            .query(include_str!("catalog/partitions.sql"), &[])
            .await
            .pg_context(|| "reading the source partitions".into())?
            .iter()
            .map(|row| {
                (
                    QualifiedName::new(row.get::<_, String>(0), row.get::<_, String>(1)),
                    QualifiedName::new(row.get::<_, String>(2), row.get::<_, String>(3)),
                )
            })
            .collect();

        Ok(Catalog {
            tables,
            sequences,
            materialized_views,
            partitions,
            server_version,
        })
    }
}
