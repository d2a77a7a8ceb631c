//! Puts `steps.csv` in step order at the end of a run with bounded memory: the rows appended
//! as results arrived are cut into sorted runs of at most `RUN_ROWS` rows (spilled to files
//! beside it), merged, and the steps without a result are filled in on the way; every row of
//! the final file passes through `sink` once, in step order (the online aggregates).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use crate::model::rows::{self, StepRow};

/// Rows held in memory at once while sorting (about 10 MB of CSV fields).
pub const RUN_ROWS: usize = 20_000;

/// The steps a run executes: all of the plan's, or a list (ascending), without a list of all.
#[derive(Debug, Clone)]
pub enum Steps {
    All(usize),
    Listed(Vec<usize>),
}

impl Steps {
    pub fn len(&self) -> usize {
        match self {
            Self::All(n) => *n,
            Self::Listed(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th step's plan index.
    pub fn get(&self, k: usize) -> usize {
        match self {
            Self::All(_) => k,
            Self::Listed(v) => v[k],
        }
    }
}

/// Which plan steps have a row.
#[derive(Debug, Clone, Default)]
pub struct StepSet {
    bits: Vec<u64>,
}

impl StepSet {
    pub fn new(steps: usize) -> Self {
        Self {
            bits: vec![0; steps.div_ceil(64)],
        }
    }

    /// Marks `i`; false when it was already marked.
    pub fn insert(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let Some(word) = self.bits.get_mut(w) else {
            return false;
        };
        let fresh = *word & b == 0;
        *word |= b;
        fresh
    }

    pub fn contains(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }
}

fn io(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// One sorted source: a spilled run file or the last run, still in memory.
enum Source {
    File(csv::Reader<BufReader<File>>),
    /// A run's steps.csv (its header already read).
    Headed(csv::Reader<BufReader<File>>),
    Memory(std::vec::IntoIter<(u64, csv::ByteRecord)>),
}

impl Source {
    fn next(&mut self) -> std::io::Result<Option<(u64, csv::ByteRecord)>> {
        match self {
            Self::Memory(it) => Ok(it.next()),
            Self::File(r) | Self::Headed(r) => {
                let mut rec = csv::ByteRecord::new();
                if !r.read_byte_record(&mut rec).map_err(io)? {
                    return Ok(None);
                }
                let step = rows::record_step(&rec)
                    .ok_or_else(|| std::io::Error::other("a spilled row lost its step"))?;
                Ok(Some((step, rec)))
            }
        }
    }
}

fn spill(path: &Path, run: &mut Vec<(u64, csv::ByteRecord)>) -> std::io::Result<()> {
    run.sort_unstable_by_key(|x| x.0);
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(BufWriter::new(File::create(path)?));
    for (_, rec) in run.drain(..) {
        w.write_byte_record(&rec).map_err(io)?;
    }
    w.flush()?;
    Ok(())
}

/// Spilled runs merged at once, at most (each holds an open file): more are merged in passes.
pub const FAN_IN: usize = 128;

fn open_run(p: &Path) -> std::io::Result<Source> {
    Ok(Source::File(
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(BufReader::new(File::open(p)?)),
    ))
}

/// Merges sorted sources, handing each record to `emit` in step order, with its source's index.
fn merge(
    mut sources: Vec<Source>,
    mut emit: impl FnMut(u64, usize, csv::ByteRecord) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut heads: Vec<Option<csv::ByteRecord>> = Vec::with_capacity(sources.len());
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        let next = s.next()?;
        if let Some((step, _)) = &next {
            heap.push(Reverse((*step, i)));
        }
        heads.push(next.map(|x| x.1));
    }
    while let Some(Reverse((step, i))) = heap.pop() {
        let rec = heads[i].take().expect("a source in the heap has a head");
        if let Some((s, r)) = sources[i].next()? {
            heap.push(Reverse((s, i)));
            heads[i] = Some(r);
        }
        emit(step, i, rec)?;
    }
    Ok(())
}

/// Rewrites `path` (rows in arrival order, with a header) in step order. `steps` lists the
/// steps of the run in ascending order; `missing(k, idx)` makes the row of `steps[k]` = `idx`
/// when it has none. Temporary files are removed, also on error.
pub fn sort_steps(
    path: &Path,
    steps: &Steps,
    missing: impl FnMut(usize, usize) -> StepRow,
    sink: impl FnMut(&StepRow),
) -> std::io::Result<()> {
    sort_steps_amended(path, steps, &Amended::new(), missing, sink)
}

/// Rows that replace a step's first row (a step whose block a reorg replaced, re-checked).
pub type Amended = std::collections::HashMap<u64, StepRow>;

/// `sort_steps`, each row of a step in `amended` written (and aggregated) as amended.
pub fn sort_steps_amended(
    path: &Path,
    steps: &Steps,
    amended: &Amended,
    missing: impl FnMut(usize, usize) -> StepRow,
    sink: impl FnMut(&StepRow),
) -> std::io::Result<()> {
    sort_steps_with(path, steps, (RUN_ROWS, FAN_IN), amended, missing, sink)
}

/// `sort_steps` with runs of `run_rows` rows merged `fan_in` at a time.
fn sort_steps_with(
    path: &Path,
    steps: &Steps,
    (run_rows, fan_in): (usize, usize),
    amended: &Amended,
    mut missing: impl FnMut(usize, usize) -> StepRow,
    mut sink: impl FnMut(&StepRow),
) -> std::io::Result<()> {
    let fan_in = fan_in.max(2);
    let mut reader = csv::Reader::from_reader(BufReader::new(File::open(path)?));
    let headers = reader.byte_headers().map_err(io)?.clone();
    let mut spilled: Vec<PathBuf> = Vec::new();
    let mut made = 0usize;
    let mut next_run = |spilled: &mut Vec<PathBuf>| {
        let p = path.with_extension(format!("csv.run{made}"));
        made += 1;
        // Listed before it is written: a spill that fails part-way is removed too.
        spilled.push(p.clone());
        p
    };
    let tmp = path.with_extension("csv.tmp");
    let result = (|| {
        let mut run: Vec<(u64, csv::ByteRecord)> = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while reader.read_byte_record(&mut rec).map_err(io)? {
            let Some(step) = rows::record_step(&rec) else {
                continue;
            };
            run.push((step, rec.clone()));
            if run.len() >= run_rows {
                let p = next_run(&mut spilled);
                spill(&p, &mut run)?;
            }
        }
        drop(reader);
        // Too many runs to open at once: merge the oldest FAN_IN into one, until few enough.
        while spilled.len() > fan_in {
            let group: Vec<PathBuf> = spilled[..fan_in].to_vec();
            let p = next_run(&mut spilled);
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(BufWriter::new(File::create(&p)?));
            let sources = group
                .iter()
                .map(|g| open_run(g))
                .collect::<Result<_, _>>()?;
            merge(sources, |_, _, r| w.write_byte_record(&r).map_err(io))?;
            w.flush()?;
            for g in &group {
                let _ = std::fs::remove_file(g);
            }
            spilled.drain(..fan_in);
        }
        run.sort_unstable_by_key(|x| x.0);
        let mut sources = spilled
            .iter()
            .map(|p| open_run(p))
            .collect::<Result<Vec<_>, _>>()?;
        sources.push(Source::Memory(run.into_iter()));
        write_in_order(
            sources,
            &headers,
            steps,
            &tmp,
            amended,
            (&mut missing, &mut sink),
            |step, _, _| {
                // A row for a step outside the run, or a second row for one: dropped.
                tracing::warn!(step, "steps.csv held an unexpected row; dropped");
                Ok(())
            },
        )?;
        std::fs::rename(&tmp, path)
    })();
    for p in &spilled {
        let _ = std::fs::remove_file(p);
    }
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes the row of a step without one: (position in the run's steps, plan index).
type Missing<'a> = &'a mut dyn FnMut(usize, usize) -> StepRow;
/// Receives every row in step order.
type Sink<'a> = &'a mut dyn FnMut(&StepRow);

/// Merges sorted `sources` into a new steps.csv at `out`: every step of `steps` once, in step
/// order, those without a row made by `missing(k, idx)`; every row goes to `sink`. A row for a
/// step outside `steps`, or a second row for one, goes to `unexpected(step, source, earlier)`
/// (`earlier`: the source of the row already written for that step).
fn write_in_order(
    sources: Vec<Source>,
    headers: &csv::ByteRecord,
    steps: &Steps,
    out: &Path,
    amended: &Amended,
    (missing, sink): (Missing<'_>, Sink<'_>),
    mut unexpected: impl FnMut(u64, usize, Option<usize>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut w = rows::steps_writer(BufWriter::new(File::create(out)?));
    let mut k = 0usize;
    let mut last: Option<(u64, usize)> = None;
    let mut write = |r: &StepRow, w: &mut csv::Writer<BufWriter<File>>| {
        sink(r);
        rows::append_step(w, r).map_err(io)
    };
    merge(sources, |step, source, rec| {
        // Steps before this one without a row of their own.
        while k < steps.len() && (steps.get(k) as u64) < step {
            write(&missing(k, steps.get(k)), &mut w)?;
            k += 1;
        }
        if k < steps.len() && steps.get(k) as u64 == step {
            k += 1;
            last = Some((step, source));
            match amended.get(&step) {
                Some(r) => write(r, &mut w),
                None => write(&rows::parse_record(&rec, headers).map_err(io)?, &mut w),
            }
        } else {
            unexpected(step, source, last.filter(|l| l.0 == step).map(|l| l.1))
        }
    })?;
    while k < steps.len() {
        write(&missing(k, steps.get(k)), &mut w)?;
        k += 1;
    }
    w.flush()
}

/// A row that stops `merge_runs`: a step reported by two runs (`first`, `second` index
/// `inputs`), or one outside the plan.
#[derive(Debug)]
pub struct Unexpected {
    pub step: u64,
    pub first: Option<usize>,
    pub second: usize,
}

/// Merges the steps.csv files of several runs of parts of one plan (each in step order, with
/// a header) into `out`: every step of `steps` exactly once, in step order; a step no run
/// reported is made by `missing(k, idx)`. A step two runs reported fails with `Unexpected`.
pub fn merge_runs(
    inputs: &[PathBuf],
    steps: &Steps,
    out: &Path,
    mut missing: impl FnMut(usize, usize) -> StepRow,
    mut sink: impl FnMut(&StepRow),
) -> std::io::Result<Result<(), Unexpected>> {
    let mut headers: Option<csv::ByteRecord> = None;
    let mut sources = Vec::with_capacity(inputs.len());
    for p in inputs {
        let mut r = csv::Reader::from_reader(BufReader::new(File::open(p)?));
        let h = r.byte_headers().map_err(io)?.clone();
        match &headers {
            Some(first) if *first != h => {
                return Err(std::io::Error::other(format!(
                    "{} has other columns than {}",
                    p.display(),
                    inputs[0].display()
                )));
            }
            _ => headers = Some(h),
        }
        sources.push(Source::Headed(r));
    }
    let headers = headers.unwrap_or_default();
    let tmp = out.with_extension("csv.tmp");
    let mut bad: Option<Unexpected> = None;
    let result = write_in_order(
        sources,
        &headers,
        steps,
        &tmp,
        &Amended::new(),
        (&mut missing, &mut |r: &StepRow| sink(r)),
        |step, source, earlier| {
            bad = Some(Unexpected {
                step,
                first: earlier,
                second: source,
            });
            Err(std::io::Error::other("unexpected row"))
        },
    );
    match (result, bad) {
        (_, Some(u)) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(Err(u))
        }
        (Err(e), None) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
        (Ok(()), None) => std::fs::rename(&tmp, out).map(Ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rows::Status;

    fn row(step: u64) -> StepRow {
        StepRow {
            step,
            at_ms: step,
            ..StepRow::sample("transfer", Status::Ok)
        }
    }

    #[test]
    fn rows_come_out_in_step_order_with_the_missing_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.csv");
        // 2.5 runs' worth of rows in a scrambled order, every 7th step missing.
        let n = RUN_ROWS * 5 / 2;
        let mut order: Vec<u64> = (0..n as u64).filter(|i| i % 7 != 3).collect();
        order.reverse();
        order.swap(10, 20_000);
        {
            let mut w = rows::steps_writer(File::create(&path).unwrap());
            for &i in &order {
                rows::append_step(&mut w, &row(i)).unwrap();
            }
            w.flush().unwrap();
        }
        let steps = Steps::All(n);
        let mut seen = Vec::new();
        let mut filled = 0;
        sort_steps(
            &path,
            &steps,
            |_, idx| {
                filled += 1;
                StepRow {
                    status: Status::Timeout,
                    ..row(idx as u64)
                }
            },
            |r| seen.push(r.step),
        )
        .unwrap();
        assert_eq!(filled, n - order.len());
        assert_eq!(seen, (0..n as u64).collect::<Vec<_>>());
        let back = rows::read_steps(File::open(&path).unwrap()).unwrap();
        assert_eq!(back.len(), n);
        assert!(back.windows(2).all(|w| w[0].step < w[1].step));
        assert_eq!(back[3].status, Status::Timeout);
        // No spilled run is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn many_runs_are_merged_in_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.csv");
        let n = 2_500u64;
        {
            let mut w = rows::steps_writer(File::create(&path).unwrap());
            // Interleaved: every run holds steps from all over the range.
            for i in (0..n).map(|i| (i * 7919) % n) {
                rows::append_step(&mut w, &row(i)).unwrap();
            }
            w.flush().unwrap();
        }
        let steps = Steps::Listed((0..n as usize).collect());
        let mut seen = Vec::new();
        // 25 runs of 100, merged 3 at a time; step 77's row amended.
        let mut amended = Amended::new();
        let mut moved = row(77);
        moved.block = Some(4242);
        amended.insert(77, moved);
        let mut blocks = Vec::new();
        sort_steps_with(
            &path,
            &steps,
            (100, 3),
            &amended,
            |_, i| row(i as u64),
            |r| {
                seen.push(r.step);
                blocks.push(r.block);
            },
        )
        .unwrap();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        assert_eq!(blocks[77], Some(4242));
        assert_ne!(blocks[76], Some(4242));
        assert_eq!(
            rows::read_steps(File::open(&path).unwrap()).unwrap().len(),
            2_500
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_step_set_marks_once() {
        let mut s = StepSet::new(130);
        assert!(s.insert(129) && !s.insert(129) && s.contains(129) && !s.contains(0));
        assert!(!s.insert(1_000));
    }
}
