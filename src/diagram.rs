//! `--dry-run --format mermaid|dot`: the plan as a picture. One box per
//! table with its subset role, the rows it is expected to keep and its
//! masked columns; one arrow per foreign key, from the child to its parent.
//! Mermaid renders in GitHub Markdown, dot in Graphviz.

use std::fmt::Write as _;

use crate::plan::{ColumnAction, Plan, TablePlan};

/// How `--dry-run` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Mermaid,
    Dot,
}

/// Masked columns listed per box before the rest is counted.
const COLUMNS_SHOWN: usize = 6;

/// The plan in `format`.
pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Text => plan.describe(),
        Format::Mermaid => mermaid(plan),
        Format::Dot => dot(plan),
    }
}

/// The table's part in the subset, in a word.
fn role(t: &TablePlan) -> &'static str {
    let s = t.selection().text.as_str();
    if t.skip {
        "skipped"
    } else if s.starts_with("sampled") {
        "root"
    } else if s.starts_with("follows") || s.starts_with("closed over") {
        "follows"
    } else if s.starts_with("whole") {
        "reference"
    } else if s == "all rows" {
        "whole"
    } else {
        "filtered"
    }
}

/// The lines of a table's box: name, role and rows, masked columns.
fn lines(t: &TablePlan) -> Vec<String> {
    let mut out = vec![t.table.name.to_string()];
    let rows = match (t.skip, t.selection().estimated_kept, t.table.estimated_rows) {
        (true, _, _) => "no rows".to_string(),
        (false, Some(kept), _) => format!("~{kept} rows kept"),
        (false, None, n) if n >= 0 => format!("~{n} rows"),
        (false, None, _) => "rows: unknown".to_string(),
    };
    out.push(format!("{}: {rows}", role(t)));
    if t.skip {
        return out;
    }
    let masked: Vec<String> = t
        .columns
        .iter()
        .filter(|c| !matches!(c.action, ColumnAction::Keep))
        .map(|c| format!("{}: {}", crate::sql::display_ident(&c.name), c.rule))
        .collect();
    let kept = t.columns.len() - masked.len();
    out.extend(masked.iter().take(COLUMNS_SHOWN).cloned());
    if masked.len() > COLUMNS_SHOWN {
        out.push(format!("… {} more masked", masked.len() - COLUMNS_SHOWN));
    }
    if kept > 0 {
        out.push(format!("{kept} column(s) kept"));
    }
    out
}

/// `(child index, parent index, label)` for each foreign key between
/// planned tables.
fn edges(plan: &Plan) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, t) in plan.tables().iter().enumerate() {
        for fk in t.foreign_keys() {
            if let Some(j) = plan.tables().iter().position(|p| p.table.name == fk.parent) {
                out.push((i, j, fk.columns.join(", ")));
            }
        }
    }
    out
}

fn mermaid(plan: &Plan) -> String {
    // Mermaid's own escapes: `#quot;` for a double quote; `<br/>` breaks.
    let esc = |s: &str| {
        s.replace('&', "#amp;")
            .replace('"', "#quot;")
            .replace('<', "#lt;")
            .replace('>', "#gt;")
    };
    let mut s = String::from("flowchart LR\n");
    for (i, t) in plan.tables().iter().enumerate() {
        let label: Vec<String> = lines(t).iter().map(|l| esc(l)).collect();
        let _ = writeln!(s, "  t{i}[\"{}\"]", label.join("<br/>"));
        let _ = writeln!(s, "  class t{i} {}", role(t));
    }
    for (child, parent, label) in edges(plan) {
        let _ = writeln!(s, "  t{child} -->|\"{}\"| t{parent}", esc(&label));
    }
    for (class, style) in STYLES {
        let _ = writeln!(s, "  classDef {class} {style}");
    }
    s
}

/// Fill colours per role, shared by both formats.
const STYLES: &[(&str, &str)] = &[
    ("root", "fill:#ffe8a3"),
    ("follows", "fill:#d8ecff"),
    ("reference", "fill:#e3f6d8"),
    ("whole", "fill:#ffffff"),
    ("filtered", "fill:#f3e3ff"),
    ("skipped", "fill:#eeeeee"),
];

fn dot(plan: &Plan) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut s = String::from(
        "digraph plan {\n  rankdir=LR;\n  node [shape=box, style=filled, fontname=\"Helvetica\"];\n",
    );
    for (i, t) in plan.tables().iter().enumerate() {
        let label: Vec<String> = lines(t).iter().map(|l| esc(l)).collect();
        let fill = STYLES
            .iter()
            .find(|(r, _)| *r == role(t))
            .map_or("#ffffff", |(_, f)| f.trim_start_matches("fill:"));
        let _ = writeln!(
            s,
            "  t{i} [label=\"{}\\l\", fillcolor=\"{fill}\"];",
            label.join("\\l")
        );
    }
    for (child, parent, label) in edges(plan) {
        let _ = writeln!(s, "  t{child} -> t{parent} [label=\"{}\"];", esc(&label));
    }
    s.push_str("}\n");
    s
}
