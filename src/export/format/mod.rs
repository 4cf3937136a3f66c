//! The export formats, one module each behind `Format`: what a table file
//! is called, whether the export is one script or a directory, how rows
//! are written (the encoder) and read back by `load` (the decoding and the
//! COPY options). `ExportFormat` is the name a user picks and
//! `manifest.json` records; `ExportFormat::format` is the one place that
//! maps a name to its module.

pub mod csv;
pub mod jsonl;
pub mod sql;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use super::manifest::{self, ManifestTable};
use crate::plan::TablePlan;
use crate::sink::files::Encoder;

/// What `export` writes, as `--format` and `manifest.json` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Sql,
    Csv,
    Jsonl,
}

impl ExportFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Sql, ExportFormat::Csv, ExportFormat::Jsonl];

    /// The format's module.
    pub fn format(self) -> &'static dyn Format {
        match self {
            ExportFormat::Sql => &sql::Sql,
            ExportFormat::Csv => &csv::Csv,
            ExportFormat::Jsonl => &jsonl::Jsonl,
        }
    }

    /// The name `--format` takes and `manifest.json` holds.
    pub fn name(self) -> &'static str {
        self.format().name()
    }
}

/// How an export is laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One script (`psql -f`), maybe compressed, maybe on stdout; the
    /// table files are parts joined into it.
    Script,
    /// A directory: a file per table, `schema.sql` and `manifest.json`.
    Directory,
}

/// How `load` turns a table file into COPY input.
#[derive(Debug, Clone, Copy)]
pub enum Decoding {
    /// The server reads the file as it is, with the format's COPY options.
    AsIs,
    /// Each non-blank line becomes one COPY text row (in the manifest's
    /// column order); an error names the column, never the value.
    Lines(fn(&[u8], &ManifestTable, &mut BytesMut) -> Result<(), String>),
}

/// One export format.
pub trait Format: Sync {
    /// The name `--format` takes and `manifest.json` holds.
    fn name(&self) -> &'static str;
    /// The extension of a table's file.
    fn extension(&self) -> &'static str;
    /// One script, or a directory.
    fn layout(&self) -> Layout;
    /// Writes `plan`'s rows (COPY text batches) in the format.
    fn encoder(&self, plan: &TablePlan) -> Box<dyn Encoder>;
    /// How `load` reads a table file back.
    fn decoding(&self) -> Decoding;
    /// What follows `COPY t (cols) FROM STDIN` when `load` loads a table
    /// file (empty: PostgreSQL's text format).
    fn copy_options(&self) -> &'static str;

    /// A table's file name: `schema.table.ext`, portable whatever the
    /// table is called (`manifest::file_name`).
    fn file_name(&self, plan: &TablePlan) -> String {
        manifest::file_name(
            &plan.table.name.schema,
            &plan.table.name.name,
            self.extension(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--format`, `manifest.json` and the format's module agree on every
    /// format's name, and each name maps back to its format.
    #[test]
    fn every_format_has_one_name_everywhere() {
        for f in ExportFormat::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.name()));
            let back: ExportFormat = serde_json::from_str(&json).unwrap();
            assert_eq!(back, f);
            assert_eq!(
                <ExportFormat as clap::ValueEnum>::from_str(f.name(), false),
                Ok(f)
            );
        }
        assert_eq!(ExportFormat::Sql.format().layout(), Layout::Script);
        assert_eq!(ExportFormat::Csv.format().layout(), Layout::Directory);
        assert_eq!(ExportFormat::Jsonl.format().layout(), Layout::Directory);
    }
}
