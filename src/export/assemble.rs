//! The one file of a sql export, put together while its tables are copied.
//!
//! The script holds the tables' `COPY … FROM stdin` blocks in foreign-key
//! order, but the tables are copied in parallel, in whatever order balances
//! the workers. So a table whose turn in the file has not come yet is
//! staged in a part file of its own, and appended (a kernel copy) as soon
//! as every table before it is in the file. The table whose turn it is
//! writes straight into the file: most bytes are written once, as pg_dump
//! writes them, and little is left to join after the last row is read.
//!
//! A block starts with a comment giving its rows, known only at its end.
//! A table written straight into the file leaves room for that comment as
//! it would read with the planner's row estimate; when the real count
//! takes another number of digits, its rows are moved into a part file and
//! appended like a staged table's, so the file is the same either way.
//!
//! A compressed export is one stream: every table is staged, and appended
//! through the compressor in the same order.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{anyhow, Context, Result};

use super::compress::{self, Compression};
use crate::plan::TablePlan;
use crate::sink::files::{create_private, Output};

/// What ends a table's block.
const END_OF_DATA: &[u8] = b"\\.\n\n";
/// Bytes appended between two checks for cancellation.
const CHUNK: u64 = 16 << 20;

/// The sql export being written: the file, and where each table stands.
pub struct Assembly {
    path: PathBuf,
    parts_dir: PathBuf,
    /// Tables with rows, in the file's order.
    tables: Vec<Arc<TablePlan>>,
    /// Plain text, so a table may write at its place in the file.
    in_place: bool,
    /// Set when the export stops: appends end at the next chunk.
    cancelled: AtomicBool,
    state: Mutex<State>,
}

struct State {
    /// `None` once `finish` has closed the file.
    out: Option<Joined>,
    /// Where the next table's block starts (plain text).
    end: u64,
    /// The first table, in the file's order, not yet in the file.
    next: usize,
    tables: Vec<Slot>,
}

/// Where appends go.
enum Joined {
    /// The file itself; appends go at `State::end`.
    Plain(File),
    /// The compressed stream, whose bytes are all appended.
    Compressed(compress::Writer<BufWriter<File>>),
}

enum Slot {
    NotStarted,
    /// Copying into its part file; `turn` is set when the tables before it
    /// are all in the file, and it moves in.
    Staging {
        turn: Arc<AtomicBool>,
    },
    /// Copying into the file, at its place.
    InPlace,
    /// Copied into its part file, waiting for the tables before it.
    Staged {
        part: PathBuf,
        rows: u64,
    },
    InFile,
}

/// The comment and statement that open a table's block.
pub fn block_head(t: &TablePlan, rows: u64) -> String {
    format!(
        "--\n-- Data for {}: {rows} row{}\n--\n\n{};\n",
        t.table.name,
        if rows == 1 { "" } else { "s" },
        t.target_statement().replacen("FROM STDIN", "FROM stdin", 1)
    )
}

impl Assembly {
    /// Creates the file at `path` and writes `opening` (the header and
    /// pre-data). `tables`: the tables with rows, in the file's order;
    /// part files go in `parts_dir`.
    pub fn create(
        path: &Path,
        parts_dir: &Path,
        compression: Compression,
        tables: Vec<Arc<TablePlan>>,
        opening: &[u8],
    ) -> Result<Arc<Assembly>> {
        let file = create_private(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = match compression {
            Compression::None => Joined::Plain(file),
            c => Joined::Compressed(compress::Writer::new(
                BufWriter::with_capacity(1 << 20, file),
                c,
            )?),
        };
        let end = match &mut out {
            Joined::Plain(f) => {
                f.write_all(opening)?;
                opening.len() as u64
            }
            Joined::Compressed(w) => {
                w.write_all(opening)?;
                0
            }
        };
        Ok(Arc::new(Assembly {
            path: path.to_path_buf(),
            parts_dir: parts_dir.to_path_buf(),
            in_place: compression == Compression::None,
            cancelled: AtomicBool::new(false),
            state: Mutex::new(State {
                out: Some(out),
                end,
                next: 0,
                tables: tables.iter().map(|_| Slot::NotStarted).collect(),
            }),
            tables,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("export assembly lock")
    }

    /// Stops appends at their next chunk (the export was interrupted).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Where `table`'s rows go: the file, when its turn has come, or else
    /// its part file.
    pub fn open(self: &Arc<Self>, table: &TablePlan) -> Result<TableOut> {
        let index = self
            .tables
            .iter()
            .position(|t| t.table.name == table.table.name)
            .ok_or_else(|| anyhow!("table {} has no place in the export", table.table.name))?;
        let mut state = self.lock();
        let name = &table.table.name;
        if self.in_place && state.next == index {
            tracing::debug!(table = %name, "written in place");
            state.tables[index] = Slot::InPlace;
            let place = self.place(index, state.end)?;
            drop(state);
            return Ok(TableOut {
                assembly: Arc::clone(self),
                index,
                mode: Mode::InPlace(place.0),
                out: place.1,
            });
        }
        tracing::debug!(table = %name, "staged until its turn");
        let turn = Arc::new(AtomicBool::new(false));
        state.tables[index] = Slot::Staging {
            turn: Arc::clone(&turn),
        };
        drop(state);
        let part = self.part_path(index);
        let file = create_private(&part).with_context(|| format!("creating {}", part.display()))?;
        Ok(TableOut {
            assembly: Arc::clone(self),
            index,
            mode: Mode::Staging { part, turn },
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    fn part_path(&self, index: usize) -> PathBuf {
        self.parts_dir.join(format!("{index}.copy"))
    }

    /// Room for table `index`'s head at `at`, as it reads with the
    /// planner's estimate of its rows, and a writer just after it.
    fn place(&self, index: usize, at: u64) -> io::Result<(Place, BufWriter<File>)> {
        let guess = block_head(
            &self.tables[index],
            self.tables[index].expected_rows().max(0) as u64,
        );
        let place = Place {
            head_at: at,
            head_len: guess.len() as u64,
        };
        let mut file = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        file.seek(SeekFrom::Start(place.head_at + place.head_len))?;
        Ok((place, BufWriter::with_capacity(1 << 20, file)))
    }

    /// Writes a finished table's block into the file when its turn has
    /// come, then every staged table that follows it; tells the next table
    /// still being copied that its turn has come.
    fn advance(&self, state: &mut State) -> Result<()> {
        loop {
            match state.tables.get(state.next) {
                Some(Slot::Staged { part, rows }) => {
                    let (part, head) = (part.clone(), block_head(&self.tables[state.next], *rows));
                    tracing::debug!(table = %self.tables[state.next].table.name, "appended");
                    self.append(state, head.as_bytes(), &part)?;
                    let _ = std::fs::remove_file(&part);
                    state.tables[state.next] = Slot::InFile;
                    state.next += 1;
                }
                Some(Slot::Staging { turn }) => {
                    // A compressed stream takes its bytes in order: the
                    // table stays staged.
                    if self.in_place {
                        turn.store(true, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Appends a block: `head`, the rows in `part`, the end-of-data line.
    fn append(&self, state: &mut State, head: &[u8], part: &Path) -> Result<()> {
        let mut rows = File::open(part).with_context(|| format!("reading {}", part.display()))?;
        let len = rows.metadata()?.len();
        let end = state.end;
        match state
            .out
            .as_mut()
            .ok_or_else(|| anyhow!("the export is closed"))?
        {
            Joined::Plain(file) => {
                file.seek(SeekFrom::Start(end))?;
                file.write_all(head)?;
                // File to file: the kernel copies (copy_file_range).
                self.copy(&mut rows, file, len)?;
                file.write_all(END_OF_DATA)?;
                state.end = end + head.len() as u64 + len + END_OF_DATA.len() as u64;
            }
            Joined::Compressed(w) => {
                w.write_all(head)?;
                self.copy(&mut io::BufReader::with_capacity(1 << 20, rows), w, len)?;
                w.write_all(END_OF_DATA)?;
            }
        }
        Ok(())
    }

    /// Copies `len` bytes in chunks, stopping when the export is cancelled.
    fn copy<R: Read, W: Write>(&self, from: &mut R, to: &mut W, len: u64) -> Result<()> {
        let mut left = len;
        while left > 0 {
            if self.cancelled.load(Ordering::Relaxed) {
                return Err(anyhow!("cancelled"));
            }
            let n = io::copy(&mut from.take(left.min(CHUNK)), to)?;
            if n == 0 {
                return Err(anyhow!("a part file ended early"));
            }
            left -= n;
        }
        Ok(())
    }

    /// Ends the file with `closing` (post-data, sequences, views) once
    /// every table is in it.
    pub fn finish(&self, closing: &[u8]) -> Result<()> {
        let mut state = self.lock();
        if state.next != state.tables.len() {
            return Err(anyhow!(
                "the export ended with table {} not written",
                self.tables[state.next].table.name
            ));
        }
        let end = state.end;
        match state.out.take() {
            None => return Err(anyhow!("the export is closed")),
            Some(Joined::Plain(mut file)) => {
                file.seek(SeekFrom::Start(end))?;
                file.write_all(closing)?;
                // A block moved out of place may have left bytes beyond
                // the end.
                file.set_len(end + closing.len() as u64)?;
            }
            Some(Joined::Compressed(mut w)) => {
                w.write_all(closing)?;
                w.finish()?.flush()?;
            }
        }
        Ok(())
    }
}

/// Where a table written in place has its block.
#[derive(Clone, Copy)]
struct Place {
    head_at: u64,
    /// The room left for its head.
    head_len: u64,
}

enum Mode {
    Staging {
        part: PathBuf,
        turn: Arc<AtomicBool>,
    },
    InPlace(Place),
}

/// One table's rows on their way into a sql export.
pub struct TableOut {
    assembly: Arc<Assembly>,
    index: usize,
    mode: Mode,
    out: BufWriter<File>,
}

impl TableOut {
    /// The tables before this one are in the file: what was staged moves
    /// to the table's place, and the rest is written there.
    fn move_in(&mut self) -> io::Result<()> {
        let Mode::Staging { part, .. } = &self.mode else {
            return Ok(());
        };
        let part = part.clone();
        self.out.flush()?;
        let at = {
            let mut state = self.assembly.lock();
            state.tables[self.index] = Slot::InPlace;
            state.end
        };
        let (place, mut out) = self.assembly.place(self.index, at)?;
        let mut staged = File::open(&part)?;
        let len = staged.metadata()?.len();
        let mut file = out.into_inner().map_err(|e| e.into_error())?;
        tracing::debug!(table = %self.assembly.tables[self.index].table.name, bytes = len, "its turn: moved in");
        let copied = io::copy(&mut staged, &mut file)?;
        if copied != len {
            return Err(io::Error::other("a part file changed while it was moved"));
        }
        out = BufWriter::with_capacity(1 << 20, file);
        let _ = std::fs::remove_file(&part);
        self.out = out;
        self.mode = Mode::InPlace(place);
        Ok(())
    }
}

impl Write for TableOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Mode::Staging { turn, .. } = &self.mode {
            if turn.load(Ordering::Relaxed) {
                self.move_in()?;
            }
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Output for TableOut {
    fn done(&mut self, rows: u64) -> Result<()> {
        self.out.flush()?;
        let assembly = Arc::clone(&self.assembly);
        let mut state = assembly.lock();
        match &self.mode {
            Mode::Staging { part, .. } => {
                state.tables[self.index] = Slot::Staged {
                    part: part.clone(),
                    rows,
                };
            }
            Mode::InPlace(place) => {
                let data_at = place.head_at + place.head_len;
                let data_end = self.out.get_mut().stream_position()?;
                let head = block_head(&assembly.tables[self.index], rows);
                if head.len() as u64 == place.head_len {
                    let file = self.out.get_ref();
                    file.write_all_at(head.as_bytes(), place.head_at)?;
                    file.write_all_at(END_OF_DATA, data_end)?;
                    state.end = data_end + END_OF_DATA.len() as u64;
                    state.tables[self.index] = Slot::InFile;
                    state.next += 1;
                } else {
                    // The count takes more or fewer digits than the
                    // estimate: the rows move out, and are appended like a
                    // staged table's.
                    tracing::debug!(table = %assembly.tables[self.index].table.name, "row count unlike the estimate: moved out");
                    let part = assembly.part_path(self.index);
                    let mut moved = create_private(&part)
                        .with_context(|| format!("creating {}", part.display()))?;
                    let mut file = File::open(&assembly.path)?;
                    file.seek(SeekFrom::Start(data_at))?;
                    assembly.copy(&mut file, &mut moved, data_end - data_at)?;
                    state.end = place.head_at;
                    state.tables[self.index] = Slot::Staged { part, rows };
                }
            }
        }
        assembly.advance(&mut state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{QualifiedName, RowSecurity, Table, TableKind};

    fn table(name: &str, estimated_rows: i64) -> Arc<TablePlan> {
        Arc::new(TablePlan::for_tests(Table {
            oid: 1,
            name: QualifiedName::new("public", name),
            kind: TableKind::Ordinary,
            columns: vec![],
            unique_keys: vec![],
            foreign_keys: vec![],
            estimated_rows,
            estimated_bytes: 0,
            unique_indexes: vec![],
            exclusions: Vec::new(),
            rows_from: Default::default(),
            row_security: RowSecurity::Off,
        }))
    }

    /// The script as a join of finished parts would write it.
    fn script(blocks: &[(&Arc<TablePlan>, u64, &[u8])], closing: &[u8]) -> Vec<u8> {
        let mut s = b"OPENING\n".to_vec();
        for (t, rows, data) in blocks {
            s.extend_from_slice(block_head(t, *rows).as_bytes());
            s.extend_from_slice(data);
            s.extend_from_slice(END_OF_DATA);
        }
        s.extend_from_slice(closing);
        s
    }

    fn parts_left(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    /// A table copied before its turn is staged; once the table before it
    /// is in the file, its next write moves what it staged to its place
    /// and the rest goes there directly, with nothing left to join.
    #[test]
    fn a_staged_table_moves_in_when_its_turn_comes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, parts) = (dir.path().join("export.sql"), dir.path().join("parts"));
        std::fs::create_dir(&parts).unwrap();
        let (p, c) = (table("p", 2), table("c", 3));
        let tables = vec![Arc::clone(&p), Arc::clone(&c)];
        let a = Assembly::create(&path, &parts, Compression::None, tables, b"OPENING\n").unwrap();
        let mut child = a.open(&c).unwrap();
        child.write_all(b"c1\n").unwrap();
        child.flush().unwrap();
        assert_eq!(parts_left(&parts), 1, "the child is staged");
        let mut parent = a.open(&p).unwrap();
        parent.write_all(b"p1\np2\n").unwrap();
        parent.done(2).unwrap();
        child.write_all(b"c2\nc3\n").unwrap();
        assert_eq!(parts_left(&parts), 0, "the child moved in");
        child.done(3).unwrap();
        a.finish(b"CLOSING\n").unwrap();
        let expected = script(
            &[(&p, 2, b"p1\np2\n"), (&c, 3, b"c1\nc2\nc3\n")],
            b"CLOSING\n",
        );
        assert_eq!(
            String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    /// Tables written in place whose row counts take more, fewer or as
    /// many digits as the planner's estimate, and tables finished out of
    /// order: the file is the same as a join of the finished parts, byte
    /// for byte, with nothing left past its end.
    #[test]
    fn row_counts_unlike_the_estimate_give_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, parts) = (dir.path().join("export.sql"), dir.path().join("parts"));
        std::fs::create_dir(&parts).unwrap();
        // More digits than estimated, the same, then far fewer (its head
        // shrinks by more than the end-of-data line).
        let (a_, b_, c_, d_) = (
            table("a", 5),
            table("b", 1),
            table("c", 7),
            table("d", 1_000_000),
        );
        let tables = vec![a_.clone(), b_.clone(), c_.clone(), d_.clone()];
        let asm = Assembly::create(&path, &parts, Compression::None, tables, b"OPENING\n").unwrap();
        let twelve = b"r\n".repeat(12);
        // `c` finishes staged before its turn; `b` has one row.
        let mut c = asm.open(&c_).unwrap();
        c.write_all(b"c\n").unwrap();
        c.done(1).unwrap();
        let mut a = asm.open(&a_).unwrap();
        a.write_all(&twelve).unwrap();
        a.done(12).unwrap();
        let mut b = asm.open(&b_).unwrap();
        b.write_all(b"b\n").unwrap();
        b.done(1).unwrap();
        let mut d = asm.open(&d_).unwrap();
        d.write_all(b"d1\nd2\n").unwrap();
        d.done(2).unwrap();
        asm.finish(b"").unwrap();
        let expected = script(
            &[
                (&a_, 12, &twelve),
                (&b_, 1, b"b\n"),
                (&c_, 1, b"c\n"),
                (&d_, 2, b"d1\nd2\n"),
            ],
            b"",
        );
        assert_eq!(
            String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        assert_eq!(parts_left(&parts), 0);
    }

    /// A compressed export stages every table and appends them through the
    /// compressor in the file's order, whatever order they finish in.
    #[test]
    fn a_compressed_export_appends_in_the_files_order() {
        let dir = tempfile::tempdir().unwrap();
        let (path, parts) = (dir.path().join("export.sql.zst"), dir.path().join("parts"));
        std::fs::create_dir(&parts).unwrap();
        // Estimates that match: a table written in place would keep its
        // bytes where they were put.
        let (p, c) = (table("p", 1), table("c", 2));
        let tables = vec![Arc::clone(&p), Arc::clone(&c)];
        let a = Assembly::create(&path, &parts, Compression::Zstd, tables, b"OPENING\n").unwrap();
        let mut child = a.open(&c).unwrap();
        let mut parent = a.open(&p).unwrap();
        child.write_all(b"c1\n").unwrap();
        parent.write_all(b"p1\n").unwrap();
        parent.done(1).unwrap();
        // The child's turn has come, but it stays staged.
        child.write_all(b"c2\n").unwrap();
        child.done(2).unwrap();
        a.finish(b"CLOSING\n").unwrap();
        let expected = script(&[(&p, 1, b"p1\n"), (&c, 2, b"c1\nc2\n")], b"CLOSING\n");
        assert_eq!(
            compress::read_to_string(&path).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }
}
