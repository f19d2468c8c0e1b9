//! The recipes study of `reproduce recipes` (issue 10): which training choices make the paper's
//! symlog,symexp network extrapolate, and when it is the right model at all.
//!
//! Two parts, both plain sweeps (resumable, shardable) whose records the report groups by
//! their settings:
//!
//! - **Ablation** ([`ABLATION`]): lg on the paper's seven functions, with the paper's ranges
//!   and with [1, 5) → [5, 21), under the paper's recipe with one ingredient of the new
//!   recipes added at a time, and under `lg-relative-cosine` and `lg-scaled` with one
//!   ingredient taken away or changed at a time.
//! - **Families** ([`FAMILIES`]): one function per kind of multiplicative law (homogeneous
//!   degree 1, ratio, mixed degrees, sum of products, five factors, negative inputs), with lg
//!   under the three recipes, relu,linear, the log-linear baseline and the product-type peer units.
//!
//! Nothing here looks at the test range: every setting is fixed in advance, the same for
//! every function.
//!
//! ```
//! use logexp::study::{ABLATION, FAMILIES};
//! assert_eq!(ABLATION[0].name, "paper");
//! assert!(ABLATION.iter().any(|c| c.name == "lg-relative-cosine"));
//! assert!(FAMILIES.iter().any(|f| f.train.low < 0.0));
//! ```

use crate::data::Range;
use crate::experiment::{InputScale, ModelSpec, RunSpec, TargetScale};
use crate::protocol::{BENCH_TEST, BENCH_TRAIN, PAPER_FUNCTIONS};
use crate::recipe::{Ingredients, Recipe};
use crate::sweep::Grid;
use crate::train::{Loss, LrSchedule};

/// One cell of the ablation: a recipe with some of its settings replaced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Short name, as the report's rows are labelled from the records' settings.
    pub name: &'static str,
    /// The recipe whose settings are the starting point.
    pub recipe: Recipe,
    /// The settings replaced (given explicitly, so they win over the recipe's).
    pub replace: Ingredients,
}

impl Cell {
    const fn of(name: &'static str, recipe: Recipe) -> Cell {
        Cell {
            name,
            recipe,
            replace: Ingredients::NONE,
        }
    }

    /// `template` with this cell's settings: the recipe's ingredients, then the replacements
    /// ([`crate::train::Training::with_recipe`]). The model, function, data and seeds of
    /// `template` are kept.
    pub fn apply(&self, template: &RunSpec) -> RunSpec {
        let training = template.training().with_recipe(self.recipe, self.replace);
        template.clone().with_training(training)
    }
}

const PAPER: Cell = Cell::of("paper", Recipe::Paper);
const RECIPE: Cell = Cell::of("lg-relative-cosine", Recipe::LgRelativeCosine);
const SCALED: Cell = Cell::of("lg-scaled", Recipe::LgScaled);
const INPUTS: Cell = Cell::of("lg-scaled-inputs", Recipe::LgScaledInputs);

/// The ablation's cells, in the report's order: the paper, each ingredient of
/// `lg-relative-cosine` added to it alone, the recipe, then the recipe with one ingredient
/// taken away or changed (fewer epochs trace error against cost); then the same for
/// `lg-scaled` (its batch of 8 is taken away at the same number of steps: batch 32 for 1,000
/// epochs); then input scaling added to the paper alone, `lg-scaled-inputs` with and without
/// its target scaling (without its input scaling it is `lg-scaled`), with its cosine
/// replaced by the other schedules, and with weight averaging.
pub const ABLATION: [Cell; 28] = [
    PAPER,
    Cell {
        name: "paper + 1000 epochs",
        replace: Ingredients {
            epochs: Some(1000),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    Cell {
        name: "paper + relative loss",
        replace: Ingredients {
            loss: Some(Loss::Relative),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    Cell {
        name: "paper + log loss",
        replace: Ingredients {
            loss: Some(Loss::Log),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    Cell {
        name: "paper + cosine",
        replace: Ingredients {
            lr_schedule: Some(LrSchedule::Cosine),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    Cell {
        name: "paper + lr 3e-3",
        replace: Ingredients {
            lr: Some(3e-3),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    RECIPE,
    Cell {
        name: "recipe, 300 epochs",
        replace: Ingredients {
            epochs: Some(300),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "recipe, 100 epochs",
        replace: Ingredients {
            epochs: Some(100),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "recipe, mae loss",
        replace: Ingredients {
            loss: Some(Loss::Mae),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "recipe, log loss",
        replace: Ingredients {
            loss: Some(Loss::Log),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "recipe, constant rate",
        replace: Ingredients {
            lr_schedule: Some(LrSchedule::Constant),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "recipe, lr 1e-3",
        replace: Ingredients {
            lr: Some(1e-3),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "recipe + warm-up 1000",
        replace: Ingredients {
            warmup: Some(1000),
            ..Ingredients::NONE
        },
        ..RECIPE
    },
    Cell {
        name: "paper + target scale",
        replace: Ingredients {
            target_scale: Some(TargetScale::Loglinear),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    Cell {
        name: "paper + batch 8",
        replace: Ingredients {
            batch_size: Some(8),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    SCALED,
    Cell {
        name: "lg-scaled, no target scale",
        replace: Ingredients {
            target_scale: Some(TargetScale::None),
            ..Ingredients::NONE
        },
        ..SCALED
    },
    Cell {
        name: "lg-scaled, batch 32 for 1000 epochs",
        replace: Ingredients {
            batch_size: Some(32),
            epochs: Some(1000),
            ..Ingredients::NONE
        },
        ..SCALED
    },
    Cell {
        name: "lg-scaled, mae loss",
        replace: Ingredients {
            loss: Some(Loss::Mae),
            ..Ingredients::NONE
        },
        ..SCALED
    },
    Cell {
        name: "lg-scaled, constant rate",
        replace: Ingredients {
            lr_schedule: Some(LrSchedule::Constant),
            ..Ingredients::NONE
        },
        ..SCALED
    },
    Cell {
        name: "lg-scaled, 25 epochs",
        replace: Ingredients {
            epochs: Some(25),
            ..Ingredients::NONE
        },
        ..SCALED
    },
    Cell {
        name: "paper + input scale",
        replace: Ingredients {
            input_scale: Some(InputScale::Geometric),
            ..Ingredients::NONE
        },
        ..PAPER
    },
    INPUTS,
    Cell {
        name: "lg-scaled-inputs, no target scale",
        replace: Ingredients {
            target_scale: Some(TargetScale::None),
            ..Ingredients::NONE
        },
        ..INPUTS
    },
    Cell {
        name: "lg-scaled-inputs, one-cycle rate",
        replace: Ingredients {
            lr_schedule: Some(LrSchedule::OneCycle),
            ..Ingredients::NONE
        },
        ..INPUTS
    },
    Cell {
        name: "lg-scaled-inputs, rate halved on plateaus",
        replace: Ingredients {
            lr_schedule: Some(LrSchedule::Plateau),
            ..Ingredients::NONE
        },
        ..INPUTS
    },
    Cell {
        name: "lg-scaled-inputs, weights averaged over the last 50 epochs",
        replace: Ingredients {
            average_last: Some(50),
            ..Ingredients::NONE
        },
        ..INPUTS
    },
];

/// One kind of multiplicative law, with the function and ranges that stand for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Family {
    /// What kind of law it is.
    pub name: &'static str,
    /// The function.
    pub function: &'static str,
    /// Training range.
    pub train: Range,
    /// Test (extrapolation) range.
    pub test: Range,
}

const PAPER_TRAIN: Range = Range {
    low: 10.0,
    high: 100.0,
};
const PAPER_TEST: Range = Range {
    low: 100.0,
    high: 1000.0,
};

/// The families of "When does lg help?". All use the paper's ranges except the last, whose
/// inputs are negative ([−100, −10) → [−1000, −100)); constants keep targets in the tens to
/// thousands on the training range, as the paper's do.
pub const FAMILIES: [Family; 6] = [
    Family {
        name: "homogeneous, degree 1",
        function: "x1*x2/x3",
        train: PAPER_TRAIN,
        test: PAPER_TEST,
    },
    Family {
        name: "ratio",
        function: "x1/x2",
        train: PAPER_TRAIN,
        test: PAPER_TEST,
    },
    Family {
        name: "mixed degrees",
        function: "x1^2*x2/100",
        train: PAPER_TRAIN,
        test: PAPER_TEST,
    },
    Family {
        name: "sum of products",
        function: "x1*x2+x3*x4",
        train: PAPER_TRAIN,
        test: PAPER_TEST,
    },
    Family {
        name: "five factors",
        function: "x1*x2*x3*x4*x5/10000",
        train: PAPER_TRAIN,
        test: PAPER_TEST,
    },
    Family {
        name: "negative inputs",
        function: "x1*x2",
        train: Range {
            low: -100.0,
            high: -10.0,
        },
        test: Range {
            low: -1000.0,
            high: -100.0,
        },
    },
];

/// The models of the families study under the paper's recipe: lg, the usual dense network,
/// the closed-form log-linear baseline and the peers' product-type units (lg also runs under
/// `lg-relative-cosine` and `lg-scaled`).
pub const FAMILY_MODELS: [&str; 6] = [
    "lg",
    "relu,linear",
    "loglinear",
    "nmu",
    "real-npu",
    "product",
];

/// The paper's protocol for the template of every grid (function and ranges are set per grid).
fn paper_template() -> RunSpec {
    RunSpec::paper("", crate::experiment::Pair::lg())
}

fn model(name: &str) -> ModelSpec {
    ModelSpec::preset(name)
        .unwrap_or_else(|| ModelSpec::paper(name.parse().expect("study pairs are valid")))
}

/// The ablation's grids: one per (range pair, cell), lg on the paper's seven functions.
pub fn ablation_grids(seeds: u64) -> Vec<Grid> {
    let functions: Vec<String> = PAPER_FUNCTIONS.iter().map(|f| f.to_string()).collect();
    let ranges = [(PAPER_TRAIN, PAPER_TEST), (BENCH_TRAIN, BENCH_TEST)];
    ranges
        .iter()
        .flat_map(|&(train, test)| {
            let functions = functions.clone();
            ABLATION.iter().map(move |cell| Grid {
                functions: functions.clone(),
                models: vec![model("lg")],
                seeds,
                data_seed: None,
                template: cell.apply(&RunSpec {
                    train_range: train,
                    test_range: test,
                    ..paper_template()
                }),
            })
        })
        .collect()
}

/// The families' grids: per family, [`FAMILY_MODELS`] under the paper's recipe and lg under
/// `lg-relative-cosine`, `lg-scaled` and `lg-scaled-inputs`.
pub fn family_grids(seeds: u64) -> Vec<Grid> {
    FAMILIES
        .iter()
        .flat_map(|family| {
            let template = RunSpec {
                train_range: family.train,
                test_range: family.test,
                ..paper_template()
            };
            [
                Grid {
                    functions: vec![family.function.to_string()],
                    models: FAMILY_MODELS.iter().map(|m| model(m)).collect(),
                    seeds,
                    data_seed: None,
                    template: template.clone(),
                },
                Grid {
                    functions: vec![family.function.to_string()],
                    models: vec![model("lg")],
                    seeds,
                    data_seed: None,
                    template: RECIPE.apply(&template),
                },
                Grid {
                    functions: vec![family.function.to_string()],
                    models: vec![model("lg")],
                    seeds,
                    data_seed: None,
                    template: SCALED.apply(&template),
                },
                Grid {
                    functions: vec![family.function.to_string()],
                    models: vec![model("lg")],
                    seeds,
                    data_seed: None,
                    template: INPUTS.apply(&template),
                },
            ]
        })
        .collect()
}

/// The family a record's function and ranges stand for, if any.
pub fn family_of(function: &str, train: Range, test: Range) -> Option<&'static Family> {
    let key: String = function.chars().filter(|c| !c.is_whitespace()).collect();
    FAMILIES
        .iter()
        .find(|f| f.function == key && f.train == train && f.test == test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_cell_is_the_papers_protocol_and_keeps_its_keys() {
        let template = paper_template();
        let spec = PAPER.apply(&template);
        assert_eq!(spec.key(), template.key());
        let recipe = RECIPE.apply(&template);
        assert_eq!(recipe.epochs, 1000);
        assert_eq!(recipe.loss, Loss::Relative);
        assert_eq!(recipe.lr, 3e-3);
        assert_eq!(recipe.lr_schedule, LrSchedule::Cosine);
        assert_eq!(recipe.recipe, Recipe::LgRelativeCosine);
    }

    #[test]
    fn every_cell_is_a_distinct_run_and_changes_one_thing_from_its_base() {
        let template = paper_template();
        let mut keys: Vec<String> = ABLATION.iter().map(|c| c.apply(&template).key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ABLATION.len());
        for cell in &ABLATION[1..] {
            // Batch 32 for 1,000 epochs keeps lg-scaled's steps: one change, not two.
            let replace = cell.replace;
            let same_steps = replace.batch_size.is_some() && replace.epochs.is_some();
            let changed = replace.count() - usize::from(same_steps);
            let is_base =
                ["lg-relative-cosine", "lg-scaled", "lg-scaled-inputs"].contains(&cell.name);
            assert_eq!(changed, usize::from(!is_base), "{}", cell.name);
        }
    }

    #[test]
    fn the_ablation_covers_both_range_pairs_and_the_families_every_model() {
        let grids = ablation_grids(10);
        assert_eq!(grids.len(), 2 * ABLATION.len());
        let runs: usize = grids.iter().map(|g| g.specs().len()).sum();
        assert_eq!(runs, 2 * ABLATION.len() * 7 * 10);
        assert_eq!(grids[0].template.train_range, PAPER_TRAIN);
        assert_eq!(grids[ABLATION.len()].template.train_range, BENCH_TRAIN);
        let families = family_grids(10);
        let runs: usize = families.iter().map(|g| g.specs().len()).sum();
        assert_eq!(runs, 6 * (6 + 3) * 10);
        for grid in &families {
            grid.validate().unwrap();
        }
        let negative = family_of("x1 * x2", FAMILIES[5].train, FAMILIES[5].test).unwrap();
        assert_eq!(negative.name, "negative inputs");
        assert!(family_of("x1*x2", PAPER_TRAIN, PAPER_TEST).is_none());
    }
}
