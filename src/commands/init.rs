//! The `init` command: a starter rules file covering every table and column
//! of the source, so a team starts from a complete list rather than a blank
//! page.
//!
//! A column gets a suggested transform when it looks personal, judged by
//! its name (`email`, `phone`, `first_name`, `iban`, `ip`, ...), its type
//! (`inet`) and a sample of its values read inside the snapshot (emails,
//! phone numbers, IBANs, Luhn-valid card numbers, IP addresses, JSON
//! documents holding such keys or values, street addresses, latitude/
//! longitude pairs, licence plates). A text column whose values mention
//! emails, phone or card numbers gets a `regex` rule that replaces each
//! kind where it appears. A name column of company names is not a
//! person's. Every other column gets `keep`.
//! Each line carries a `# why:` comment. The sampled values are only looked
//! at: the file holds counts and kinds, never a value.
//!
//! Each suggestion is a list of candidate rules, best first (`{ fake: email,
//! unique: true }`, then `{ hash: { format: hex } }`, then `null`, ...).
//! The first candidate that this build's plan accepts for the column wins,
//! so what `init` writes passes `check`. When none fits, the best one is
//! written anyway with a `# todo:` and `init` says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::{Catalog, Column, Table, TableKind, TypeKind};
use crate::cli::InitArgs;
use crate::config::{Overrides, Settings};
use crate::error::{PgResultExt, UsageError};
use crate::pii::{self, Kind};
use crate::plan::Secret;
use crate::sql::quote_ident;
use crate::yaml::emit::{key, quote, Writer};

/// File name used when `--out` is a directory.
pub const FILE_NAME: &str = "rules.yml";

/// Share of a column's sampled values that must be of one kind for the
/// column to count as holding that kind.
const VALUE_SHARE: f64 = 0.5;

/// What the sample of one column showed. Counts only.
#[derive(Debug, Default)]
struct Evidence {
    /// Non-NULL values looked at.
    sampled: usize,
    /// Values recognised by shape, per kind.
    kinds: BTreeMap<Kind, usize>,
    /// Personal paths seen inside JSON documents.
    json_paths: BTreeMap<String, Kind>,
    /// Every leaf path seen inside JSON documents, with its personal kind
    /// if any: a json rule names them all, since an unlisted key stops a
    /// run under `unknown_columns: fail`.
    json_leaves: BTreeMap<String, Option<Kind>>,
    /// Paths of objects whose keys are data, with the personal kind the
    /// keys look like (a map keyed by email gets a `keys:` rule).
    json_maps: BTreeMap<String, Option<Kind>>,
    /// Most digits seen in one value (sizes a `hash` of digits).
    max_digits: usize,
    /// Values that are not personal as a whole but mention an email, a
    /// phone or a card number (free text).
    mentions: usize,
    /// Of those, how many mention each kind (emails at reserved domains
    /// and fictional numbers not counted).
    mention_kinds: BTreeMap<Kind, usize>,
    /// Values that read as a company's name (`Acme Corp.`).
    companies: usize,
}

impl Evidence {
    /// The kind most values have, when at least half of them have it.
    fn dominant(&self) -> Option<(Kind, usize)> {
        let (&kind, &n) = self.kinds.iter().max_by_key(|(_, n)| **n)?;
        (n as f64 >= VALUE_SHARE * self.sampled as f64).then_some((kind, n))
    }
}

/// The rule chosen for one column, with its reason.
struct Choice {
    rule: String,
    why: String,
    personal: bool,
    /// No candidate fits this build: the rule is written for a human to fix.
    todo: bool,
}

/// Runs `init` and returns the summary to print.
pub async fn run(args: &InitArgs) -> Result<String> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides {
            source: args.common.source.as_deref(),
            ..Overrides::default()
        },
    )?;
    let source = settings.source_conn()?;
    let selection = args.select.selection()?;
    let path = output_path(&args.out)?;
    if path.exists() && !args.force {
        return Err(UsageError::new(format!(
            "{} exists; pass --force to replace it, or choose another --out",
            path.display()
        ))
        .into());
    }
    let snapshot = crate::source::open_snapshot(&source).await?;
    let mut catalog = Catalog::read(&snapshot.client).await?;
    // Rules for the selected tables only; --exclude-table-data ones skip.
    selection.apply(&mut catalog, &mut crate::rules::Rules::default())?;

    let mut file = StarterFile {
        dbname: source.dbname().to_string(),
        tables: Vec::new(),
    };
    let (mut personal, mut todo, mut columns) = (0usize, Vec::new(), 0usize);
    for table in &catalog.tables {
        let name = table.name.to_string();
        if selection.skips_data(&table.name) {
            file.tables.push(StarterTable {
                name,
                columns: None,
                references: Vec::new(),
            });
            continue;
        }
        let evidence = sample(&snapshot.client, table, args.sample).await?;
        let references = crate::polymorphic::find(&snapshot.client, &catalog, table).await?;
        let mut rules = Vec::new();
        for column in &table.columns {
            columns += 1;
            let choice = choose(table, column, evidence.get(&column.name));
            personal += usize::from(choice.personal);
            if choice.todo {
                todo.push(format!("{}.{}", table.name, column.name));
            }
            rules.push(StarterColumn {
                key: column_key(&column.name),
                choice,
            });
        }
        file.tables.push(StarterTable {
            name,
            columns: Some(rules),
            references,
        });
    }
    let text = file.to_yaml();

    // What init writes must load and plan (unless a column is left for a
    // human); a failure here is a bug in init, reported as such rather than
    // leaving a broken file behind.
    if todo.is_empty() {
        let rules = crate::rules::load::load_str(&path.display().to_string(), &text)
            .context("init wrote rules it cannot read back (a bug in init; please report it)")?;
        crate::plan::prepare(&rules, catalog.clone(), Secret::NotNeeded)
            .map_err(anyhow::Error::from)
            .context("init wrote rules that do not plan (a bug in init; please report it)")?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| UsageError::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&path, &text)
        .map_err(|e| UsageError::new(format!("cannot write {}: {e}", path.display())))?;

    let mut summary = format!(
        "wrote {}: {} table(s), {} column(s), {personal} that look personal; \
         review every line, then run `anonymize check --rules {}`\n",
        path.display(),
        catalog.tables.len(),
        columns,
        path.display()
    );
    if !todo.is_empty() {
        tracing::warn!(
            columns = %todo.join(", "),
            "no transform in this build fits these personal columns; their rules are marked `# todo:` and `check` will fail until they are edited"
        );
        let _ = writeln!(
            summary,
            "{} column(s) marked `# todo:` need a rule by hand: {}",
            todo.len(),
            todo.join(", ")
        );
    }
    Ok(summary)
}

/// `--out` names a file when it ends in `.yml`/`.yaml`, a directory
/// otherwise.
fn output_path(out: &Path) -> Result<PathBuf> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("yml") | Some("yaml") => Ok(out.to_path_buf()),
        _ if out.is_file() => Err(UsageError::new(format!(
            "--out {} is a file without a .yml extension; pass a directory or a .yml file",
            out.display()
        ))
        .into()),
        _ => Ok(out.join(FILE_NAME)),
    }
}

/// The starter rules file, as `init` writes it.
struct StarterFile {
    dbname: String,
    tables: Vec<StarterTable>,
}

struct StarterTable {
    /// `schema.table`, as the rules key it.
    name: String,
    /// The columns' rules; `None` for a table whose data is left out
    /// (`--exclude-table-data`: `skip: true`).
    columns: Option<Vec<StarterColumn>>,
    /// Polymorphic references found by convention (`commentable_type` +
    /// `commentable_id`), for the subset to follow.
    references: Vec<crate::polymorphic::Polymorphic>,
}

struct StarterColumn {
    /// The rules key of the column (`column_key`).
    key: String,
    choice: Choice,
}

impl StarterFile {
    /// The file's text, through the YAML writer (keys quoted where YAML
    /// needs it, reasons kept on their comment line).
    fn to_yaml(&self) -> String {
        let mut w = Writer::new();
        w.comment(
            0,
            &format!(
                "Starter rules written by `anonymize init` from database {}.",
                self.dbname
            ),
        );
        for line in [
            "Every column has a rule: the ones that look personal got a suggested",
            "transform, every other one `keep`, and each line says why. The",
            "suggestions are guesses from names, types and a sample of values:",
            "review every line before the first sync.",
        ] {
            w.comment(0, line);
        }
        w.entry(0, "version", "1", None);
        w.comment(
            0,
            "A column added later by a migration stops the sync until it has a rule.",
        );
        w.entry(0, "unknown_columns", "fail", None);
        w.open(0, "tables");
        for table in &self.tables {
            match &table.columns {
                None => w.entry(
                    1,
                    &table.name,
                    "{ skip: true }",
                    Some("why: --exclude-table-data"),
                ),
                Some(columns) if columns.is_empty() => {
                    w.open(1, &table.name);
                    w.entry(2, "columns", "{}", None);
                }
                Some(columns) => {
                    w.open(1, &table.name);
                    w.open(2, "columns");
                    for c in columns {
                        let marker = if c.choice.todo { "todo" } else { "why" };
                        let why = format!("{marker}: {}", c.choice.why);
                        w.entry(3, &c.key, &c.choice.rule, Some(&why));
                    }
                }
            }
            if !table.references.is_empty() {
                w.open(2, "references");
                for r in &table.references {
                    w.item(
                        3,
                        &format!(
                            "{{ columns: [{}], table: {}, when: {} }}",
                            key(&r.column),
                            key(&r.parent.to_string()),
                            quote(&r.when)
                        ),
                        Some("why: a polymorphic reference by the app's naming convention; the subset follows it both ways"),
                    );
                }
            }
        }
        w.finish()
    }
}

/// Reads up to `limit` rows of the columns whose values can tell something
/// (text, JSON, inet) and sums up what they look like.
async fn sample(
    client: &tokio_postgres::Client,
    table: &Table,
    limit: u32,
) -> Result<BTreeMap<String, Evidence>> {
    let looked: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| {
            !c.generated
                && !c.is_array
                && matches!(
                    c.kind,
                    TypeKind::Text | TypeKind::Json | TypeKind::Jsonb | TypeKind::Inet
                )
        })
        .collect();
    let mut out = BTreeMap::new();
    if looked.is_empty() || limit == 0 {
        return Ok(out);
    }
    let only = if table.kind == TableKind::Ordinary {
        "ONLY "
    } else {
        ""
    };
    let cols: Vec<String> = looked
        .iter()
        .map(|c| format!("{}::text", quote_ident(&c.name)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {only}{} LIMIT {limit}",
        cols.join(", "),
        table.name.sql()
    );
    let rows = client
        .query(&sql, &[])
        .await
        .pg_context(|| format!("sampling values of {}", table.name))?;
    for (i, column) in looked.iter().enumerate() {
        let mut e = Evidence::default();
        let json = matches!(column.kind, TypeKind::Json | TypeKind::Jsonb);
        let docs = if json {
            json_docs(&rows, i)
        } else {
            Vec::new()
        };
        let schema_key = key_counter(&docs);
        for doc in &docs {
            for found in pii::json_layout(doc, &schema_key) {
                match found {
                    pii::JsonPath::Leaf(path, kind) => {
                        if let Some(k) = kind {
                            e.json_paths.entry(path.clone()).or_insert(k);
                        }
                        let slot = e.json_leaves.entry(path).or_insert(None);
                        *slot = slot.or(kind);
                    }
                    pii::JsonPath::DataKeys(path, kind) => {
                        if let Some(k) = kind {
                            e.json_paths.entry(format!("{path} (keys)")).or_insert(k);
                        }
                        let slot = e.json_maps.entry(path).or_insert(None);
                        *slot = slot.or(kind);
                    }
                }
            }
        }
        for row in &rows {
            let Some(v) = row.get::<_, Option<String>>(i) else {
                continue;
            };
            e.sampled += 1;
            e.max_digits = e
                .max_digits
                .max(v.chars().filter(char::is_ascii_digit).count());
            if json {
                continue;
            }
            e.companies += usize::from(pii::is_company(&v));
            if let Some(kind) = pii::by_value(&v) {
                *e.kinds.entry(kind).or_default() += 1;
            } else {
                let mut kinds: Vec<Kind> = pii::fragments(&v)
                    .into_iter()
                    .filter(|(k, t)| !pii::is_reserved(*k, t))
                    .map(|(k, _)| k)
                    .collect();
                kinds.sort();
                kinds.dedup();
                e.mentions += usize::from(!kinds.is_empty());
                for k in kinds {
                    *e.mention_kinds.entry(k).or_default() += 1;
                }
            }
        }
        out.insert(column.name.clone(), e);
    }
    Ok(out)
}

/// The sampled documents of column `i` that parse as JSON.
fn json_docs(rows: &[tokio_postgres::Row], i: usize) -> Vec<serde_json::Value> {
    rows.iter()
        .filter_map(|r| r.get::<_, Option<String>>(i))
        .filter_map(|v| serde_json::from_str(&v).ok())
        .collect()
}

/// Judges keys by how many of `docs` hold them (see `pii::is_schema_key`).
fn key_counter(docs: &[serde_json::Value]) -> impl Fn(&str) -> bool {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for doc in docs {
        let mut keys = std::collections::BTreeSet::new();
        pii::json_keys(doc, &mut keys);
        for k in keys {
            *counts.entry(k.to_string()).or_default() += 1;
        }
    }
    let total = docs.len();
    move |k: &str| pii::is_schema_key(k, counts.get(k).copied().unwrap_or(0), total)
}

/// Whether a suggestion of `kind` makes sense for the column's type: a
/// boolean `email_verified` or a timestamp `email_sent_at` is not an email.
fn fits_type(kind: Kind, column: &Column) -> bool {
    if column.is_array {
        return false;
    }
    let t = column.kind;
    match kind {
        Kind::BirthDate => matches!(
            t,
            TypeKind::Date | TypeKind::Timestamp | TypeKind::TimestampTz | TypeKind::Text
        ),
        Kind::Ip => matches!(t, TypeKind::Inet | TypeKind::Text),
        Kind::Phone | Kind::NationalId | Kind::TaxId | Kind::Card => {
            t == TypeKind::Text || t.is_integer() || t == TypeKind::Numeric
        }
        Kind::Secret => matches!(t, TypeKind::Text | TypeKind::Bytea),
        _ => t == TypeKind::Text,
    }
}

/// Picks the rule for one column.
fn choose(table: &Table, column: &Column, evidence: Option<&Evidence>) -> Choice {
    let keep = |why: String| Choice {
        rule: "keep".into(),
        why,
        personal: false,
        todo: false,
    };
    if column.generated {
        return keep("generated; the target recomputes it".into());
    }
    if column.kind == TypeKind::Bytea && looks_like_picture_or_paper(&column.name) {
        return picture_or_paper(table, column);
    }
    let mut reasons: Vec<String> = Vec::new();
    let by_name = pii::by_name(&table.name.name, &column.name).filter(|k| fits_type(*k, column));
    // `accounts.name` holding `Acme Corp.`: a company, not a person.
    if let (Some(Kind::FullName | Kind::FirstName | Kind::LastName), Some(e)) = (by_name, evidence)
    {
        if e.sampled > 0 && e.companies as f64 >= VALUE_SHARE * e.sampled as f64 {
            return keep(format!(
                "the name suggests a person, but {} of {} sampled values are company names",
                e.companies, e.sampled
            ));
        }
    }
    if let Some(k) = by_name {
        reasons.push(format!("the name suggests {}", k.plural()));
    }
    let by_value = evidence.and_then(|e| e.dominant().map(|(k, n)| (k, n, e.sampled)));
    if let Some((k, n, of)) = by_value {
        reasons.push(format!("{n} of {of} sampled values are {}", k.plural()));
    }
    let by_type = (column.kind == TypeKind::Inet && !column.is_array).then_some(Kind::Ip);
    if by_type.is_some() && by_name.is_none() {
        reasons.push("type inet holds IP addresses".into());
    }
    let json = evidence.filter(|e| !e.json_paths.is_empty());

    let candidates = if let Some(kind) = by_value.map(|v| v.0).or(by_name).or(by_type) {
        candidates_for(kind, column, evidence)
    } else if let Some(e) = json {
        let paths: Vec<String> = e.json_paths.keys().cloned().collect();
        reasons.push(format!(
            "JSON documents hold personal fields at {}",
            paths.join(", ")
        ));
        json_candidates(e, column)
    } else if let Some(e) = evidence.filter(|e| !e.mention_kinds.is_empty()) {
        let found: Vec<String> = e
            .mention_kinds
            .iter()
            .map(|(k, n)| format!("{} ({n})", k.plural()))
            .collect();
        reasons.push(format!(
            "free text: {} of {} sampled values mention {}; each kind is replaced where it \
             appears and the rest of the text is kept",
            e.mentions,
            e.sampled,
            found.join(", ")
        ));
        vec![scrub_rule(e.mention_kinds.keys().copied())]
    } else {
        return keep(keep_reason(table, column, evidence));
    };
    if column.unique {
        reasons.push("unique, so the rule must never repeat a value".into());
    }
    let candidates: Vec<String> = candidates.into_iter().chain(fallbacks(column)).collect();
    let fitting = candidates.iter().position(|c| accepts(table, column, c));
    let why = reasons.join("; ");
    match fitting {
        Some(0) => Choice {
            rule: candidates[0].clone(),
            why,
            personal: true,
            todo: false,
        },
        Some(i) => Choice {
            rule: candidates[i].clone(),
            why: format!("{why} (`{}` does not fit this column here)", candidates[0]),
            personal: true,
            todo: false,
        },
        None => Choice {
            rule: candidates[0].clone(),
            why: format!("{why}; no transform in this build fits it: write a rule by hand"),
            personal: true,
            todo: true,
        },
    }
}

/// Words naming binary columns that hold pictures of people or their
/// papers (`avatar`, `id_scan`, `signaturePng`, `attachments`).
const PICTURE_OR_PAPER: &[&str] = &[
    "picture",
    "photo",
    "avatar",
    "image",
    "img",
    "pic",
    "selfie",
    "portrait",
    "thumbnail",
    "headshot",
    "scan",
    "signature",
    "document",
    "doc",
    "attachment",
    "passport",
    "fingerprint",
];

fn looks_like_picture_or_paper(name: &str) -> bool {
    pii::words(name).iter().any(|w| {
        let singular = w.strip_suffix('s').unwrap_or(w);
        PICTURE_OR_PAPER.contains(&w.as_str()) || PICTURE_OR_PAPER.contains(&singular)
    })
}

/// A face, a signature or a scanned passport cannot be faked by a value
/// transform: the column is emptied (NULL, or an empty value where NULL is
/// not allowed).
fn picture_or_paper(table: &Table, column: &Column) -> Choice {
    let why = "binary column named like a picture, signature or document: it may show a \
               face, a signature or a personal paper, and no transform can fake one, so it \
               is emptied";
    let candidates = ["null", r"{ set: '\x' }"];
    match candidates.iter().find(|c| accepts(table, column, c)) {
        Some(rule) => Choice {
            rule: rule.to_string(),
            why: why.into(),
            personal: true,
            todo: false,
        },
        None => Choice {
            rule: candidates[0].into(),
            why: format!("{why}; no empty value fits it here: write a rule by hand"),
            personal: true,
            todo: true,
        },
    }
}

/// Why a column is kept, in a few words.
fn keep_reason(table: &Table, column: &Column, evidence: Option<&Evidence>) -> String {
    if table
        .primary_key()
        .is_some_and(|k| k.columns.contains(&column.name))
    {
        return "primary key".into();
    }
    if let Some(fk) = table
        .foreign_keys
        .iter()
        .find(|fk| fk.columns.contains(&column.name))
    {
        return format!("foreign key to {}", fk.parent);
    }
    match evidence {
        Some(e) if e.mentions > 0 => format!(
            "nothing personal in its name, but {} of {} sampled values mention an email \
             address, a phone or a card number: review it (`null` empties the column)",
            e.mentions, e.sampled
        ),
        Some(e) if e.sampled > 0 => format!(
            "nothing personal in its name or in {} sampled value(s)",
            e.sampled
        ),
        Some(_) => "nothing personal in its name; no value to sample".into(),
        None => format!("{}; nothing personal in its name", column.type_name),
    }
}

/// Candidate rules for a personal kind, best first (before the generic
/// fallbacks). The `unique: true` variants come first for unique columns.
fn candidates_for(kind: Kind, column: &Column, evidence: Option<&Evidence>) -> Vec<String> {
    let unique = column.unique;
    let fake = |what: &str| {
        if unique {
            format!("{{ fake: {what}, unique: true }}")
        } else {
            format!("{{ fake: {what} }}")
        }
    };
    let hex = "{ hash: { format: hex } }".to_string();
    let digits = |default: usize| {
        let seen = evidence.map(|e| e.max_digits).filter(|&d| d > 0);
        let mut n = seen.unwrap_or(default);
        if let Some(max) = column.max_length {
            n = n.min(max);
        }
        n = match column.kind {
            TypeKind::Int16 => n.min(4),
            TypeKind::Int32 => n.min(9),
            TypeKind::Int64 => n.min(18),
            _ => n,
        };
        let rule = format!("hash: {{ format: digits, length: {} }}", n.max(1));
        if unique {
            format!("{{ {rule}, unique: true }}")
        } else {
            format!("{{ {rule} }}")
        }
    };
    match kind {
        Kind::Email => vec![fake("email"), hex],
        Kind::Phone => vec![fake("phone_number"), digits(10)],
        Kind::FirstName => vec![fake("first_name"), hex],
        Kind::LastName => vec![fake("last_name"), hex],
        Kind::FullName => vec![fake("name"), hex],
        Kind::Username => vec![hex],
        Kind::Street => vec![fake("street_address"), hex],
        Kind::City => vec![fake("city")],
        Kind::Zip => vec![fake("zip")],
        Kind::BirthDate => vec!["{ shift: { days: 180 } }".into()],
        Kind::NationalId | Kind::TaxId => vec![digits(9), hex],
        Kind::Iban => vec![fake("iban"), hex],
        // fpe keeps the number's length and grouping, so the column and
        // any check on it still fit; unique columns stay unique.
        Kind::Card => vec!["{ fpe: {} }".into(), fake("credit_card"), digits(16)],
        Kind::Ip => vec![fake("ipv4")],
        Kind::Secret => vec![hex],
        // The whole degrees stay (the region), the decimals are encrypted:
        // the point moves by up to a degree, keeping its format.
        Kind::GeoPoint => vec![format!(
            "{{ regex: {{ pattern: {}, with: {{ fpe: {{}} }} }} }}",
            quote(r"\.[0-9]{2,}")
        )],
        Kind::LicensePlate => vec![fake("license_plate"), hex],
    }
}

/// A `regex` rule for free text: one pattern per kind found in it (the
/// patterns `verify` looks for), each match replaced by that kind's fake.
fn scrub_rule(kinds: impl Iterator<Item = Kind>) -> String {
    let steps: Vec<String> = kinds
        .filter_map(|k| {
            let (pattern, with) = match k {
                Kind::Email => (pii::EMAIL_PATTERN, "{ fake: email }"),
                Kind::Phone => (pii::PHONE_PATTERN, "{ fake: phone_number }"),
                Kind::Card => (pii::CARD_PATTERN, "{ fpe: {} }"),
                _ => return None,
            };
            Some(format!("{{ pattern: {}, with: {with} }}", quote(pattern)))
        })
        .collect();
    format!("{{ regex: [ {} ] }}", steps.join(", "))
}

/// A `json` rule naming every sampled path: each personal one with its
/// kind's best fake, the others `keep`, and `keys:` for maps keyed by
/// emails, phone numbers or names. A path that is a container elsewhere
/// (`a` null in one document, `a.b` in another) is left to the deeper one.
fn json_candidates(e: &Evidence, column: &Column) -> Vec<String> {
    let text = Column {
        kind: TypeKind::Text,
        unique: false,
        ..column.clone()
    };
    let deeper = |path: &str| {
        e.json_leaves.keys().any(|other| {
            other.len() > path.len()
                && other.starts_with(path)
                && matches!(other.as_bytes()[path.len()], b'.' | b'[')
        })
    };
    let mut paths: Vec<String> = Vec::new();
    for (path, kind) in &e.json_maps {
        let rule = match kind {
            Some(Kind::Email) => "{ fake: email }",
            Some(Kind::Phone) => "{ fake: phone_number }",
            Some(_) => "{ fpe: {} }",
            None => continue,
        };
        paths.push(format!("{}: {{ keys: {rule} }}", quote(path)));
    }
    for (path, kind) in &e.json_leaves {
        if deeper(path) {
            continue;
        }
        let rule = match kind {
            Some(kind) => candidates_for(*kind, &text, None)
                .into_iter()
                .next()
                .unwrap_or_else(|| "null".into()),
            None => "keep".into(),
        };
        paths.push(format!("{}: {rule}", quote(path)));
    }
    vec![format!(
        "{{ json: {{ paths: {{ {} }} }} }}",
        paths.join(", ")
    )]
}

/// Rules that fit nearly any column, for when no realistic one does:
/// NULL where allowed, else a constant of the column's type.
fn fallbacks(column: &Column) -> Vec<String> {
    let mut out = Vec::new();
    if !column.not_null {
        out.push("null".to_string());
    }
    if !column.unique {
        if let Some(v) = constant_for(column) {
            out.push(format!("{{ set: {v} }}"));
        }
    }
    out
}

/// A harmless constant in the column's type, as YAML.
fn constant_for(column: &Column) -> Option<String> {
    if column.is_array {
        return Some("'{}'".into());
    }
    Some(match column.kind {
        TypeKind::Text => {
            let n = column.max_length.unwrap_or(8).min(8);
            "redacted"[..n.max(1)].to_string()
        }
        k if k.is_numeric() => "0".into(),
        TypeKind::Bool => "false".into(),
        TypeKind::Date => "'2000-01-01'".into(),
        TypeKind::Timestamp | TypeKind::TimestampTz => "'2000-01-01 00:00:00'".into(),
        TypeKind::Uuid => "'00000000-0000-0000-0000-000000000000'".into(),
        TypeKind::Json | TypeKind::Jsonb => "'{}'".into(),
        TypeKind::Inet => "192.0.2.1".into(),
        _ => return None,
    })
}

/// Whether this build's plan accepts `rule` for the column: the rule parses
/// (its transform exists) and fits the column's type and constraints.
fn accepts(table: &Table, column: &Column, rule: &str) -> bool {
    let text = format!(
        "version: 1\nunknown_columns: keep\ntables:\n  {}:\n    columns:\n      {}: {rule}\n",
        key(&table.name.to_string()),
        key(&column_key(&column.name))
    );
    let Ok(rules) = crate::rules::load::load_str("init", &text) else {
        return false;
    };
    let catalog = Catalog {
        tables: vec![table.clone()],
        ..Catalog::default()
    };
    crate::plan::prepare(&rules, catalog, Secret::NotNeeded).is_ok()
}

/// A column name as a rules key: SQL-quoted only when the name itself
/// starts and ends with a double quote (the loader strips one such pair).
fn column_key(name: &str) -> String {
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        quote_ident(name)
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: TypeKind, not_null: bool, unique: bool) -> Column {
        Column {
            not_null,
            unique,
            ..Column::new(name, "text", kind)
        }
    }

    /// Issue 22: a json rule names every sampled key (the harmless ones
    /// `keep`), suggests `keys:` for a map keyed by emails, writes no key
    /// that is data, and parses as a rule that accepts the documents under
    /// `unknown_columns: fail`.
    #[test]
    fn json_rules_name_every_key_and_rewrite_email_keys() {
        let docs: Vec<serde_json::Value> = [
            r#"{"owner": {"email": "zoe@corp.example", "theme": "dark"}, "shared_with": {"bob@corp.example": "read"}, "tags": [], "n": null}"#,
            r#"{"owner": {"email": "ann@corp.example", "theme": "light"}, "shared_with": {"amy@corp.example": "write"}, "tags": ["x"], "n": 3}"#,
        ]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
        let schema_key = key_counter(&docs);
        let mut e = Evidence::default();
        for doc in &docs {
            for found in pii::json_layout(doc, &schema_key) {
                match found {
                    pii::JsonPath::Leaf(p, k) => {
                        let slot = e.json_leaves.entry(p).or_insert(None);
                        *slot = slot.or(k);
                    }
                    pii::JsonPath::DataKeys(p, k) => {
                        let slot = e.json_maps.entry(p).or_insert(None);
                        *slot = slot.or(k);
                    }
                }
            }
        }
        let doc_column = column("doc", TypeKind::Jsonb, false, false);
        let rule = json_candidates(&e, &doc_column).remove(0);
        assert!(
            rule.contains("'$.shared_with': { keys: { fake: email } }"),
            "{rule}"
        );
        assert!(rule.contains("'$.shared_with.*': keep"), "{rule}");
        assert!(rule.contains("'$.owner.email': { fake: email }"), "{rule}");
        assert!(
            rule.contains("'$.owner.theme': keep") && rule.contains("'$.tags[*]': keep"),
            "{rule}"
        );
        assert!(
            rule.contains("'$.n': keep") && !rule.contains("'$.tags':"),
            "{rule}"
        );
        assert!(!rule.contains("bob@") && !rule.contains("amy@"), "{rule}");
        let parsed: crate::transform::rule::ColumnRule = crate::yaml::from_str(&rule).unwrap();
        let crate::transform::rule::Action::Transform(options) = parsed.action else {
            panic!("a transform")
        };
        for doc in &docs {
            let text = doc.to_string();
            assert_eq!(
                options.unlisted_paths(text.as_bytes(), true),
                Vec::<String>::new()
            );
        }
    }

    /// Every rule `init` may suggest names a transform of the registry and
    /// builds for the column it is suggested for: a suggestion can never
    /// name a transform that does not exist, or options it does not take.
    #[test]
    fn every_suggestion_is_a_registered_transform_that_builds() {
        let all = [
            Kind::Email,
            Kind::Phone,
            Kind::FirstName,
            Kind::LastName,
            Kind::FullName,
            Kind::Username,
            Kind::Street,
            Kind::City,
            Kind::Zip,
            Kind::BirthDate,
            Kind::NationalId,
            Kind::TaxId,
            Kind::Iban,
            Kind::Card,
            Kind::Ip,
            Kind::Secret,
            Kind::GeoPoint,
            Kind::LicensePlate,
        ];
        for kind in all {
            // Exhaustive: a new kind does not compile until it is listed.
            match kind {
                Kind::Email
                | Kind::Phone
                | Kind::FirstName
                | Kind::LastName
                | Kind::FullName
                | Kind::Username
                | Kind::Street
                | Kind::City
                | Kind::Zip
                | Kind::BirthDate
                | Kind::NationalId
                | Kind::TaxId
                | Kind::Iban
                | Kind::Card
                | Kind::Ip
                | Kind::Secret
                | Kind::GeoPoint
                | Kind::LicensePlate => {}
            }
            let type_kind = if kind == Kind::BirthDate {
                TypeKind::Date
            } else {
                TypeKind::Text
            };
            for unique in [false, true] {
                let c = column("c", type_kind, unique, unique);
                let rules = candidates_for(kind, &c, None)
                    .into_iter()
                    .chain(fallbacks(&c));
                for yaml in rules {
                    let rule: crate::rules::ColumnRule = crate::yaml::from_str(&yaml)
                        .unwrap_or_else(|e| panic!("{kind:?}: `{yaml}`: {e}"));
                    let crate::rules::Action::Transform(options) = &rule.action else {
                        continue;
                    };
                    assert!(
                        rule.transform
                            .is_some_and(|t| crate::transform::names().contains(&t)),
                        "{yaml}"
                    );
                    crate::transform::test_support::build(&**options, &c);
                }
            }
        }
    }

    /// The free-text scrub and the lat/long rule build, replace what they
    /// should and keep the rest of the text.
    #[test]
    fn free_text_scrubs_and_point_rules_keep_the_text_around() {
        use crate::transform::test_support::{apply, build};
        let c = column("notes", TypeKind::Text, false, false);
        let build_rule = |yaml: &str| {
            let rule: crate::rules::ColumnRule =
                crate::yaml::from_str(yaml).unwrap_or_else(|e| panic!("`{yaml}`: {e}"));
            let crate::rules::Action::Transform(options) = &rule.action else {
                panic!("{yaml}");
            };
            build(&**options, &c)
        };
        let scrub = build_rule(&scrub_rule(
            [Kind::Email, Kind::Phone, Kind::Card].into_iter(),
        ));
        let text = "mail ada@shop.com or +44 20 7946 0958, card 4111 1111 1111 1111.";
        let out = apply(&*scrub, Some(text)).unwrap();
        assert!(out.starts_with("mail ") && out.ends_with("."), "{out}");
        for real in ["ada@shop.com", "7946 0958", "4111 1111 1111 1111"] {
            assert!(!out.contains(real), "{real} left in {out}");
        }
        assert!(
            pii::fragments(&out)
                .iter()
                .any(|(k, t)| *k == Kind::Email && pii::is_reserved(*k, t)),
            "{out}"
        );
        let point = candidates_for(Kind::GeoPoint, &c, None).remove(0);
        let out = apply(&*build_rule(&point), Some("48.8566, -73.1234")).unwrap();
        assert!(out.starts_with("48.") && out.contains(", -73."), "{out}");
        assert_ne!(out, "48.8566, -73.1234");
    }

    /// The file's layout, byte for byte: header, a left-out table, a table
    /// without columns, and column lines whose reasons stay comments.
    #[test]
    fn the_starter_file_is_written_line_by_line() {
        let choice = |rule: &str, why: &str, todo: bool| Choice {
            rule: rule.into(),
            why: why.into(),
            personal: false,
            todo,
        };
        let file = StarterFile {
            dbname: "shop\nprod".into(),
            tables: vec![
                StarterTable {
                    name: "public.audit".into(),
                    columns: None,
                    references: vec![],
                },
                StarterTable {
                    name: "public.empty".into(),
                    columns: Some(vec![]),
                    references: vec![],
                },
                StarterTable {
                    name: "public.Users".into(),
                    columns: Some(vec![
                        StarterColumn {
                            key: "id".into(),
                            choice: choice("keep", "not personal", false),
                        },
                        StarterColumn {
                            key: "E-mail".into(),
                            choice: choice("{ fake: email }", "name\nlooks like email", true),
                        },
                    ]),
                    references: vec![crate::polymorphic::Polymorphic {
                        column: "owner_id".into(),
                        parent: crate::catalog::QualifiedName::new("public", "posts"),
                        when: "owner_type = 'Post'".into(),
                    }],
                },
            ],
        };
        let text = file.to_yaml();
        assert_eq!(
            text,
            "# Starter rules written by `anonymize init` from database shop prod.
# Every column has a rule: the ones that look personal got a suggested
# transform, every other one `keep`, and each line says why. The
# suggestions are guesses from names, types and a sample of values:
# review every line before the first sync.
version: 1
# A column added later by a migration stops the sync until it has a rule.
unknown_columns: fail
tables:
  public.audit: { skip: true }  # why: --exclude-table-data
  public.empty:
    columns: {}
  'public.Users':
    columns:
      id: keep  # why: not personal
      'E-mail': { fake: email }  # todo: name looks like email
    references:
      - { columns: [owner_id], table: public.posts, when: 'owner_type = ''Post''' }  # why: a polymorphic reference by the app's naming convention; the subset follows it both ways
"
        );
        let rules = crate::rules::load::load_str("r.yml", &text).unwrap();
        assert_eq!(rules.tables.len(), 3);
        assert_eq!(rules.tables[2].columns[1].name, "E-mail");
    }

    #[test]
    fn unique_columns_get_unique_capable_candidates_first() {
        let c = column("email", TypeKind::Text, true, true);
        assert_eq!(
            candidates_for(Kind::Email, &c, None),
            ["{ fake: email, unique: true }", "{ hash: { format: hex } }"]
        );
        assert!(fallbacks(&c).is_empty(), "no null, no constant");
        let c = column("ssn", TypeKind::Text, false, false);
        let e = Evidence {
            max_digits: 9,
            ..Evidence::default()
        };
        assert_eq!(
            candidates_for(Kind::NationalId, &c, Some(&e))[0],
            "{ hash: { format: digits, length: 9 } }"
        );
        assert_eq!(fallbacks(&c), ["null", "{ set: redacted }"]);
    }

    #[test]
    fn types_veto_name_guesses() {
        assert!(!fits_type(
            Kind::Email,
            &column("email_verified", TypeKind::Bool, true, false)
        ));
        assert!(!fits_type(
            Kind::Email,
            &column("email_sent_at", TypeKind::TimestampTz, false, false)
        ));
        assert!(fits_type(
            Kind::BirthDate,
            &column("birth_date", TypeKind::Date, false, false)
        ));
    }

    #[test]
    fn binary_pictures_and_papers_are_recognised_by_name() {
        for name in [
            "avatar",
            "profilePhoto",
            "id_scan",
            "signature_png",
            "attachments",
            "Images",
        ] {
            assert!(looks_like_picture_or_paper(name), "{name}");
        }
        for name in ["checksum", "payload", "scanner_config_hash", "key"] {
            assert!(!looks_like_picture_or_paper(name), "{name}");
        }
    }

    #[test]
    fn constants_respect_length_limits() {
        let mut c = column("code", TypeKind::Text, true, false);
        c.max_length = Some(3);
        assert_eq!(constant_for(&c).as_deref(), Some("red"));
    }
}
