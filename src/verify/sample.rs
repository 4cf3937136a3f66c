//! `export --verify`: a uniform sample of the non-NULL values written to
//! each column `verify` checks, taken from the batches on their way to the
//! export's files (a `sink::BatchObserver`), then judged by
//! `check_samples` against the source. Reservoir sampling, with a fixed
//! seed so the same export samples the same values.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{is_checked, Samples};
use crate::copy_text;
use crate::plan::TablePlan;
use crate::sink::BatchObserver;

/// One table's sampler; its values join `samples` when the table's sink
/// finishes.
pub struct Sampler {
    table: String,
    size: usize,
    columns: Vec<Reservoir>,
    state: u64,
    spans: Vec<(usize, usize)>,
    decoded: Vec<u8>,
    samples: Arc<Mutex<Samples>>,
}

struct Reservoir {
    index: usize,
    name: String,
    seen: u64,
    values: Vec<String>,
}

impl Sampler {
    /// Samples at most `size` values of each checked column of `plan`.
    pub fn new(plan: &TablePlan, size: u32, samples: Arc<Mutex<Samples>>) -> Sampler {
        Sampler {
            table: plan.table.name.to_string(),
            size: size as usize,
            columns: plan
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| is_checked(plan, c))
                .map(|(index, c)| Reservoir {
                    index,
                    name: c.name.clone(),
                    seen: 0,
                    values: Vec::new(),
                })
                .collect(),
            state: 0x9E37_79B9_7F4A_7C15,
            spans: Vec::new(),
            decoded: Vec::new(),
            samples,
        }
    }

    /// splitmix64: a fixed, portable sequence; nothing here needs more.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl BatchObserver for Sampler {
    fn observe(&mut self, batch: &[u8]) {
        if self.columns.is_empty() {
            return;
        }
        let mut spans = std::mem::take(&mut self.spans);
        for row in copy_text::rows(batch) {
            copy_text::field_spans(row, &mut spans);
            for c in 0..self.columns.len() {
                let Some(&(a, b)) = spans.get(self.columns[c].index) else {
                    continue;
                };
                if &row[a..b] == copy_text::NULL {
                    continue;
                }
                self.columns[c].seen += 1;
                let seen = self.columns[c].seen;
                let slot = if self.columns[c].values.len() < self.size {
                    None
                } else {
                    let j = self.next() % seen;
                    match usize::try_from(j) {
                        Ok(j) if j < self.size => Some(j),
                        _ => continue,
                    }
                };
                let value = copy_text::decode(&row[a..b], &mut self.decoded).unwrap_or_default();
                let value = String::from_utf8_lossy(value).into_owned();
                let r = &mut self.columns[c];
                match slot {
                    None => r.values.push(value),
                    Some(j) => r.values[j] = value,
                }
            }
        }
        self.spans = spans;
    }

    fn finished(self) {
        let mut samples = self.samples.lock().expect("samples lock");
        for r in self.columns {
            let distinct: HashSet<String> = r.values.into_iter().collect();
            samples.insert((self.table.clone(), r.name), distinct);
        }
    }
}
