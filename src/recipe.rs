//! Named training recipes: documented bundles of training choices (issue 10).
//!
//! A recipe only fills in the training settings a run does not give itself; every ingredient
//! is also its own flag (an explicit flag wins over the recipe's value), and a run's record
//! holds the explicit values, plus the recipe's name when it is not `paper`. The `paper`
//! recipe sets nothing: its runs, keys and records are exactly those of a run without
//! `--recipe`.
//!
//! | recipe | epochs | batch | loss | learning rate | schedule | warm-up | target scale | why |
//! | --- | --- | --- | --- | --- | --- | --- | --- | --- |
//! | `paper` | 100 | 32 | mae | 1e-3 | constant | 0 | none | the paper's protocol |
//! | `lg-relative-cosine` | 1,000 | 32 | relative | 3e-3 | cosine | 0 | none | lowest median training % error of the pilot's cells (DESIGN.md, "Training recipes") |
//! | `lg-scaled` | 250 | 8 | relative | 3e-3 | cosine | 0 | loglinear | lowest validation error of four candidates trained on [10, 40) and validated on [40, 100), inside the paper's training range (DESIGN.md, "Training recipes") |
//!
//! ```
//! use logexp::recipe::Recipe;
//! let r: Recipe = "lg-relative-cosine".parse().unwrap();
//! assert_eq!(r.ingredients().epochs, 1000);
//! assert_eq!(r.ingredients().loss, logexp::train::Loss::Relative);
//! assert_eq!(Recipe::default().ingredients(), Recipe::Paper.ingredients());
//! ```

use crate::experiment::TargetScale;
use crate::train::{Loss, LrSchedule};
use serde::{Deserialize, Serialize};

/// A named bundle of training choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Recipe {
    /// The paper's protocol (changes nothing).
    #[default]
    #[serde(rename = "paper")]
    Paper,
    /// For the symlog,symexp network: ten times the paper's epochs, the relative-error loss,
    /// and a cosine decay to 0 of three times the paper's rate (see the table in the module
    /// doc).
    #[serde(rename = "lg-relative-cosine")]
    LgRelativeCosine,
    /// For the symlog,symexp network: `lg-relative-cosine`'s loss and schedule, with targets
    /// divided by the constant of a log-linear fit to the training rows
    /// ([`TargetScale::Loglinear`]) and minibatches of 8 for a quarter of its epochs (the same
    /// number of steps).
    #[serde(rename = "lg-scaled")]
    LgScaled,
}

/// The settings a recipe fills in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ingredients {
    /// Passes over the training set.
    pub epochs: usize,
    /// Rows per minibatch.
    pub batch_size: usize,
    /// The loss minimised.
    pub loss: Loss,
    /// The base learning rate.
    pub lr: f64,
    /// How the rate moves over the steps.
    pub lr_schedule: LrSchedule,
    /// Steps of linear warm-up.
    pub warmup: u64,
    /// Whether targets are divided by a constant estimated from the training rows.
    pub target_scale: TargetScale,
}

impl Recipe {
    /// Every recipe, `paper` first.
    pub const ALL: [Recipe; 3] = [Recipe::Paper, Recipe::LgRelativeCosine, Recipe::LgScaled];

    /// The recipe's name as `--recipe` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Paper => "paper",
            Recipe::LgRelativeCosine => "lg-relative-cosine",
            Recipe::LgScaled => "lg-scaled",
        }
    }

    /// The settings this recipe fills in.
    pub fn ingredients(self) -> Ingredients {
        let paper = Ingredients {
            epochs: 100,
            batch_size: 32,
            loss: Loss::Mae,
            lr: 1e-3,
            lr_schedule: LrSchedule::Constant,
            warmup: 0,
            target_scale: TargetScale::None,
        };
        match self {
            Recipe::Paper => paper,
            Recipe::LgRelativeCosine => Ingredients {
                epochs: 1000,
                loss: Loss::Relative,
                lr: 3e-3,
                lr_schedule: LrSchedule::Cosine,
                ..paper
            },
            Recipe::LgScaled => Ingredients {
                epochs: 250,
                batch_size: 8,
                target_scale: TargetScale::Loglinear,
                ..Recipe::LgRelativeCosine.ingredients()
            },
        }
    }
}

impl std::str::FromStr for Recipe {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Recipe::ALL
            .into_iter()
            .find(|r| r.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Recipe::ALL.iter().map(|r| r.name()).collect();
                format!(
                    "unknown recipe '{}': use {}",
                    s.escape_debug(),
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_recipe_is_the_papers_protocol() {
        let spec = crate::experiment::RunSpec::paper("x1*x2", crate::experiment::Pair::lg());
        let i = Recipe::Paper.ingredients();
        assert_eq!(
            (
                i.epochs,
                i.batch_size,
                i.loss,
                i.lr,
                i.lr_schedule,
                i.warmup
            ),
            (
                spec.epochs,
                spec.batch_size,
                spec.loss,
                spec.lr,
                spec.lr_schedule,
                spec.warmup
            )
        );
        assert_eq!(i.target_scale, spec.target_scale);
        let scaled = Recipe::LgScaled.ingredients();
        // A quarter of the epochs at a quarter of the batch: the same steps as lg-relative-cosine.
        assert_eq!(
            scaled.epochs * 4,
            Recipe::LgRelativeCosine.ingredients().epochs
        );
        assert_eq!(scaled.batch_size * 4, 32);
    }

    #[test]
    fn names_round_trip_and_serialise_as_they_parse() {
        for r in Recipe::ALL {
            assert_eq!(r.name().parse::<Recipe>(), Ok(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
        assert!(
            "fast"
                .parse::<Recipe>()
                .unwrap_err()
                .contains("paper, lg-relative-cosine, lg-scaled")
        );
    }
}
