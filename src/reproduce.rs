//! `reproduce`: the paper's whole experiment in one call — the sweep of every activation pair
//! over the paper's functions and the normaliser study, then the report.

use crate::error::Error;
use crate::experiment::{ModelSpec, Pair, RunSpec};
use crate::protocol::{PAPER_FUNCTIONS, reproduce_functions};
use crate::report::{ReportSummary, write_report};
use crate::results::read_results;
use crate::sweep::{Grid, Progress, SweepSummary, run_sweep};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Seeds per cell by default: three times the paper's single run, and still a few minutes on a
/// 2-core laptop.
pub const DEFAULT_SEEDS: u64 = 3;
/// Epochs of `--quick`: enough for the loss curves to flatten and the ranking to show.
pub const QUICK_EPOCHS: usize = 20;

/// What to reproduce.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceOptions {
    /// Seeds per (function, pair).
    pub seeds: u64,
    /// Epochs per run.
    pub epochs: usize,
    /// A first look: one seed, [`QUICK_EPOCHS`] epochs, the seven Table I functions only.
    pub quick: bool,
}

impl Default for ReproduceOptions {
    fn default() -> Self {
        ReproduceOptions {
            seeds: DEFAULT_SEEDS,
            epochs: 100,
            quick: false,
        }
    }
}

impl ReproduceOptions {
    /// The quick preset.
    pub fn quick() -> Self {
        ReproduceOptions {
            seeds: 1,
            epochs: QUICK_EPOCHS,
            quick: true,
        }
    }

    /// The grid: all 122 pairs on the seven Table I functions and (unless quick) the
    /// normaliser study's six further functions, with the paper's protocol otherwise.
    pub fn grid(&self) -> Grid {
        let functions = if self.quick {
            PAPER_FUNCTIONS.iter().map(|f| f.to_string()).collect()
        } else {
            reproduce_functions()
        };
        Grid {
            functions,
            models: Pair::paper_grid()
                .into_iter()
                .map(ModelSpec::paper)
                .collect(),
            seeds: self.seeds,
            data_seed: None,
            template: RunSpec {
                epochs: self.epochs,
                ..RunSpec::paper("", Pair::lg())
            },
        }
    }
}

/// What `reproduce` did and wrote.
#[derive(Debug, Clone)]
pub struct ReproduceSummary {
    /// The results file.
    pub results: PathBuf,
    /// The sweep.
    pub sweep: SweepSummary,
    /// The report.
    pub report: ReportSummary,
}

/// Sweeps the grid of `options` into `out_dir/results.jsonl` (resuming what is there) and
/// writes the report into `out_dir`, from the records of this grid only.
pub fn reproduce(
    options: &ReproduceOptions,
    out_dir: &Path,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<ReproduceSummary, Error> {
    let specs = options.grid().plan(None)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::io("cannot create directory", out_dir, e))?;
    let results = out_dir.join("results.jsonl");
    let sweep = run_sweep(&specs, &results, on_progress)?;
    let wanted: HashSet<String> = specs.iter().map(RunSpec::key).collect();
    let records: Vec<_> = read_results(&results)?
        .records
        .into_iter()
        .filter(|r| wanted.contains(&r.spec.key()))
        .collect();
    let report = write_report(&records, out_dir)?;
    Ok(ReproduceSummary {
        results,
        sweep,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_grid_is_122_pairs_on_13_functions() {
        let grid = ReproduceOptions::default().grid();
        assert_eq!(grid.specs().len(), 122 * 13 * DEFAULT_SEEDS as usize);
        let quick = ReproduceOptions::quick().grid();
        assert_eq!(quick.specs().len(), 122 * 7);
        assert!(quick.specs().iter().all(|s| s.epochs == QUICK_EPOCHS));
    }
}
