//! `reproduce`: a whole experiment in one call — its sweep, then the report. Targets
//! ([`Target`]): the paper's experiment (every activation pair over the paper's functions and
//! the normaliser study); the bench of units (`peers`: every peer unit, the log-linear
//! baseline, lg and dense baselines on the paper's functions, with the paper's ranges and with
//! [1, 5) → [5, 21)); three of the peers' own published tasks with their own protocols
//! (`stable-nalu`, `npu`, `inalu`); and the study of training recipes for lg (`recipes`,
//! [`crate::study`]).

use crate::error::Error;
use crate::experiment::{ModelSpec, Pair, RunSpec};
use crate::protocol::{
    BENCH_MODELS, BENCH_TEST, BENCH_TRAIN, PAPER_FUNCTIONS, reproduce_functions,
};
use crate::recipe::Recipe;
use crate::report::recipes::write_recipes_report_keeping;
use crate::report::{ReportSummary, write_report_keeping};
use crate::results::read_results;
use crate::sweep::{Grid, Progress, SweepSummary, run_sweep};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Seeds per cell by default: three times the paper's single run, and still a few minutes on a
/// 2-core laptop.
pub const DEFAULT_SEEDS: u64 = 3;
/// Seeds per (function, model) of `peers` by default: enough for success rates to mean
/// something, a few minutes on 2 cores.
pub const DEFAULT_BENCH_SEEDS: u64 = 10;
/// Epochs of `--quick`: enough for the loss curves to flatten and the ranking to show.
pub const QUICK_EPOCHS: usize = 20;

/// Which experiment `reproduce` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The paper's Table I, figures and normaliser study.
    #[default]
    Paper,
    /// Every peer unit, the log-linear baseline, lg and dense baselines on the paper's seven
    /// functions, with the paper's ranges and with [1, 5) → [5, 21), and the paper's training
    /// protocol.
    Peers,
    /// stable-nalu's small task with its protocol ([`crate::peers`]).
    StableNalu,
    /// stable-nalu's function task with 100 inputs and 5·10⁶ steps ([`crate::peers`]):
    /// `reproduce stable-nalu --full`.
    StableNaluFull,
    /// The NPU paper's simple task, × ([`crate::peers`]).
    Npu,
    /// iNALU's minimal task, × ([`crate::peers`]).
    Inalu,
    /// The ablation of training recipes for lg and the "When does lg help?" table
    /// ([`crate::study`]).
    Recipes,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paper" => Ok(Target::Paper),
            "peers" => Ok(Target::Peers),
            "stable-nalu" => Ok(Target::StableNalu),
            "stable-nalu-full" => Ok(Target::StableNaluFull),
            "npu" => Ok(Target::Npu),
            "inalu" => Ok(Target::Inalu),
            "recipes" => Ok(Target::Recipes),
            _ => Err(format!(
                "unknown target '{}': use paper, peers, stable-nalu, npu, inalu or recipes",
                s.escape_debug()
            )),
        }
    }
}

impl Target {
    /// The target's name, which is also the tail of its default output directory.
    pub fn name(self) -> &'static str {
        match self {
            Target::Paper => "paper",
            Target::Peers => "peers",
            Target::StableNalu => "stable-nalu",
            Target::StableNaluFull => "stable-nalu-full",
            Target::Npu => "npu",
            Target::Inalu => "inalu",
            Target::Recipes => "recipes",
        }
    }

    /// Whether the target's runs take the paper's protocol as their template, so `--epochs`
    /// and `--recipe` apply (the peers' tasks and the recipes study fix their own).
    pub fn takes_training_settings(self) -> bool {
        matches!(self, Target::Paper | Target::Peers)
    }
}

/// What to reproduce.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceOptions {
    /// The experiment.
    pub target: Target,
    /// Seeds per (function, model).
    pub seeds: u64,
    /// Epochs per run.
    pub epochs: usize,
    /// A first look: one seed (three for the bench), [`QUICK_EPOCHS`] epochs, the seven
    /// Table I functions only for the paper.
    pub quick: bool,
    /// The training recipe of the paper's and the bench's runs (their `epochs` still wins
    /// when it is not the recipe's default).
    pub recipe: Recipe,
}

impl Default for ReproduceOptions {
    fn default() -> Self {
        ReproduceOptions {
            target: Target::Paper,
            seeds: DEFAULT_SEEDS,
            epochs: 100,
            quick: false,
            recipe: Recipe::Paper,
        }
    }
}

impl ReproduceOptions {
    /// The full run of `target`.
    pub fn of(target: Target) -> Self {
        ReproduceOptions {
            target,
            seeds: match target {
                Target::Paper => DEFAULT_SEEDS,
                Target::Peers | Target::Recipes => DEFAULT_BENCH_SEEDS,
                // Each task's own seed count (see `grids`).
                Target::StableNalu | Target::StableNaluFull | Target::Npu | Target::Inalu => 0,
            },
            ..ReproduceOptions::default()
        }
    }

    /// The quick preset of the paper.
    pub fn quick() -> Self {
        ReproduceOptions::quick_of(Target::Paper)
    }

    /// The quick preset of `target`.
    pub fn quick_of(target: Target) -> Self {
        ReproduceOptions {
            target,
            seeds: match target {
                Target::Paper => 1,
                _ => 3,
            },
            epochs: QUICK_EPOCHS,
            quick: true,
            recipe: Recipe::Paper,
        }
    }

    /// The grids of the target, run one after the other into one results file.
    pub fn grids(&self) -> Vec<Grid> {
        match self.target {
            Target::Paper => vec![self.grid()],
            // Their protocols fix the epochs; `seeds` 0 means each task's own count.
            Target::StableNalu => self.peer_grids(crate::peers::Group::StableNalu),
            Target::StableNaluFull => self.peer_grids(crate::peers::Group::StableNaluFull),
            Target::Npu => self.peer_grids(crate::peers::Group::Npu),
            Target::Inalu => self.peer_grids(crate::peers::Group::Inalu),
            Target::Recipes => {
                let mut grids = crate::study::ablation_grids(self.seeds);
                grids.extend(crate::study::family_grids(self.seeds));
                grids
            }
            Target::Peers => {
                let models: Vec<ModelSpec> = BENCH_MODELS
                    .iter()
                    .map(|m| {
                        ModelSpec::preset(m).unwrap_or_else(|| {
                            ModelSpec::paper(m.parse().expect("bench pairs are valid"))
                        })
                    })
                    .collect();
                let template = self.template();
                let paper = Grid {
                    functions: PAPER_FUNCTIONS.iter().map(|f| f.to_string()).collect(),
                    models: models.clone(),
                    seeds: self.seeds,
                    data_seed: None,
                    template: template.clone(),
                };
                let laws = Grid {
                    functions: PAPER_FUNCTIONS.iter().map(|f| f.to_string()).collect(),
                    models,
                    seeds: self.seeds,
                    data_seed: None,
                    template: RunSpec {
                        train_range: BENCH_TRAIN,
                        test_range: BENCH_TEST,
                        ..template
                    },
                };
                vec![paper, laws]
            }
        }
    }

    fn peer_grids(&self, group: crate::peers::Group) -> Vec<Grid> {
        crate::peers::grids(group, (self.seeds > 0).then_some(self.seeds))
    }

    /// The paper's grid: all 122 pairs on the seven Table I functions and (unless quick) the
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
            template: self.template(),
        }
    }

    /// The paper's protocol under [`ReproduceOptions::recipe`], with [`ReproduceOptions::epochs`]
    /// where it is not the paper's 100 (an explicit `--epochs`, or `--quick`'s).
    fn template(&self) -> RunSpec {
        let paper = RunSpec::paper("", Pair::lg());
        let ingredients = self.recipe.settings();
        let epochs = if self.epochs == paper.epochs {
            ingredients.epochs
        } else {
            self.epochs
        };
        RunSpec {
            epochs,
            batch_size: ingredients.batch_size,
            target_scale: ingredients.target_scale,
            input_scale: ingredients.input_scale,
            average_last: ingredients.average_last,
            loss: ingredients.loss,
            lr: ingredients.lr,
            lr_schedule: ingredients.lr_schedule,
            warmup: ingredients.warmup,
            recipe: self.recipe,
            ..paper
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
    /// The report's `report.md`.
    pub report_md: PathBuf,
    /// The paper's and the bench's report (`None` for the recipes study, whose report is
    /// [`crate::report::recipes`]).
    pub report: Option<ReportSummary>,
}

/// Sweeps the grids of `options` into `out_dir/results.jsonl` (resuming what is there) and
/// writes the report into `out_dir`, from the records of these grids only.
pub fn reproduce(
    options: &ReproduceOptions,
    out_dir: &Path,
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<ReproduceSummary, Error> {
    let mut specs = Vec::new();
    for grid in options.grids() {
        specs.extend(grid.plan(None)?);
    }
    crate::output::create_directory(out_dir)?;
    let results = out_dir.join("results.jsonl");
    let sweep = run_sweep(&specs, &results, on_progress)?;
    let wanted: HashSet<String> = specs.iter().map(RunSpec::key).collect();
    let records: Vec<_> = read_results(&results)?
        .records
        .into_iter()
        .filter(|r| wanted.contains(&r.spec.key()))
        .collect();
    let inputs = [(results.as_path(), "the results file")];
    if options.target == Target::Recipes {
        let report = write_recipes_report_keeping(&records, out_dir, &inputs)?;
        return Ok(ReproduceSummary {
            results,
            sweep,
            report_md: report.report_md,
            report: None,
        });
    }
    let report = write_report_keeping(&records, out_dir, &inputs)?;
    Ok(ReproduceSummary {
        results,
        sweep,
        report_md: report.report_md.clone(),
        report: Some(report),
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

    #[test]
    fn the_peers_bench_runs_every_model_on_the_paper_functions_in_both_ranges() {
        let grids = ReproduceOptions::of(Target::Peers).grids();
        assert_eq!(grids.len(), 2);
        let runs: usize = grids.iter().map(|g| g.specs().len()).sum();
        assert_eq!(runs, (7 + 7) * 13 * DEFAULT_BENCH_SEEDS as usize);
        let labels: Vec<String> = grids[0].models.iter().map(|m| m.label()).collect();
        assert_eq!(
            labels[..4],
            ["lg", "loglinear", "relu,linear", "tanh,linear"]
        );
        assert_eq!(grids[1].template.train_range, BENCH_TRAIN);
        assert_eq!(grids[1].template.test_range, BENCH_TEST);
        assert_eq!(grids[0].functions, grids[1].functions);
        assert_eq!("Peers".parse::<Target>().unwrap(), Target::Peers);
        assert_eq!("stable-nalu".parse::<Target>().unwrap(), Target::StableNalu);
    }

    #[test]
    fn a_recipe_sets_the_templates_training_and_explicit_epochs_win() {
        let recipe = ReproduceOptions {
            recipe: Recipe::LgRelativeCosine,
            ..ReproduceOptions::of(Target::Peers)
        };
        let template = &recipe.grids()[0].template;
        assert_eq!(template.epochs, 1000);
        assert_eq!(template.lr, 3e-3);
        assert_eq!(template.recipe, Recipe::LgRelativeCosine);
        let short = ReproduceOptions {
            epochs: 20,
            ..recipe
        };
        assert_eq!(short.grid().template.epochs, 20);
        assert_eq!(short.grid().template.loss, crate::train::Loss::Relative);
        // The paper's own template is untouched by the default recipe.
        assert_eq!(
            ReproduceOptions::default().grid().template.key(),
            RunSpec::paper("", Pair::lg()).key()
        );
    }

    #[test]
    fn the_recipes_study_runs_the_ablation_and_the_families() {
        let grids = ReproduceOptions::of(Target::Recipes).grids();
        let runs: usize = grids.iter().map(|g| g.specs().len()).sum();
        let ablation = 2 * crate::study::ABLATION.len() * 7;
        let families = crate::study::FAMILIES.len() * (crate::study::FAMILY_MODELS.len() + 3);
        assert_eq!(runs, (ablation + families) * DEFAULT_BENCH_SEEDS as usize);
        assert_eq!("recipes".parse::<Target>().unwrap(), Target::Recipes);
        assert!(!Target::Recipes.takes_training_settings());
    }

    #[test]
    fn the_peer_tasks_run_with_their_own_seed_counts() {
        let seeds = |t| -> Vec<u64> {
            ReproduceOptions::of(t)
                .grids()
                .iter()
                .map(|g| g.seeds)
                .collect()
        };
        // stable-nalu: 3 models × 100 seeds, on either task; NPU: 6 × 20; iNALU: 2 ranges ×
        // 3 models (NALU with either initialisation) × 10.
        assert_eq!(seeds(Target::StableNalu), [100, 100, 100]);
        assert_eq!(seeds(Target::StableNaluFull), [100, 100, 100]);
        assert_eq!(seeds(Target::Npu), [20; 6]);
        assert_eq!(seeds(Target::Inalu), [10; 6]);
        let full = ReproduceOptions::of(Target::StableNaluFull).grids();
        assert_eq!(full[0].template.epochs, 5_000);
        assert!(full[0].functions[0].ends_with("+0*x100"));
        let quick = ReproduceOptions::quick_of(Target::StableNalu).grids();
        assert!(quick.iter().all(|g| g.seeds == 3));
        // Their protocols fix the epochs: quick does not shorten them.
        assert_eq!(quick[0].template.epochs, 200);
    }
}
