//! `--format sql`: one script for psql. A table's rows are the body of its
//! `COPY … FROM stdin` block, so they are written as the pipeline sends
//! them (COPY text); `export::assemble` puts the blocks into the script.

use std::io::Write;

use anyhow::Result;

use super::{Decoding, Format, Layout};
use crate::plan::TablePlan;
use crate::sink::files::Encoder;

pub struct Sql;

impl Format for Sql {
    fn name(&self) -> &'static str {
        "sql"
    }

    fn extension(&self) -> &'static str {
        "copy"
    }

    fn layout(&self) -> Layout {
        Layout::Script
    }

    fn encoder(&self, _: &TablePlan) -> Box<dyn Encoder> {
        Box::new(CopyText)
    }

    fn decoding(&self) -> Decoding {
        Decoding::AsIs
    }

    fn copy_options(&self) -> &'static str {
        ""
    }
}

/// COPY text as it comes.
struct CopyText;

impl Encoder for CopyText {
    fn encode(&mut self, batch: &[u8], out: &mut dyn Write) -> Result<()> {
        Ok(out.write_all(batch)?)
    }
}
