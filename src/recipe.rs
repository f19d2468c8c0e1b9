//! Named training recipes: documented bundles of training choices (issue 10).
//!
//! A recipe only fills in the training settings a run does not give itself; every ingredient
//! is also its own flag (an explicit flag wins over the recipe's value), and a run's record
//! holds the resolved values, plus the recipe's name when it is not `paper`. The `paper`
//! recipe sets nothing: its runs, keys and records are exactly those of a run without
//! `--recipe`. The resolution is [`crate::train::Training::with_recipe`], shared by `train`,
//! `sweep` and `fit`.
//!
//! | recipe | epochs | batch | loss | learning rate | schedule | warm-up | target scale | input scale | why |
//! | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
//! | `paper` | 100 | 32 | mae | 1e-3 | constant | 0 | none | none | the paper's protocol |
//! | `lg-relative-cosine` | 1,000 | 32 | relative | 3e-3 | cosine | 0 | none | none | lowest median training % error of the pilot's cells (DESIGN.md, "Training recipes") |
//! | `lg-scaled` | 250 | 8 | relative | 3e-3 | cosine | 0 | loglinear | none | lowest validation error of four candidates trained on [10, 40) and validated on [40, 100), inside the paper's training range (DESIGN.md, "Training recipes") |
//! | `lg-scaled-inputs` | 250 | 8 | relative | 3e-3 | cosine | 0 | loglinear | geometric | `lg-scaled` missed 2 % on [1, 5) → [5, 21); input scaling, its target chosen on validation splits inside [1, 5) and [10, 100) (DESIGN.md, "Training recipes") |
//!
//! ```
//! use logexp::recipe::Recipe;
//! let r: Recipe = "lg-relative-cosine".parse().unwrap();
//! assert_eq!(r.ingredients().epochs, Some(1000));
//! assert_eq!(r.ingredients().loss, Some(logexp::train::Loss::Relative));
//! assert_eq!(Recipe::Paper.ingredients(), Default::default());
//! ```

use crate::experiment::{InputScale, TargetScale};
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
    /// For the symlog,symexp network: `lg-scaled` with each input scaled to a geometric mean
    /// of 50 over the training rows ([`InputScale::Geometric`]), so that inputs near 1 reach
    /// the symlog's logarithmic regime.
    #[serde(rename = "lg-scaled-inputs")]
    LgScaledInputs,
}

/// Values for the settings a recipe may fill in (the fields of [`crate::train::Training`] of
/// the same names, documented there); `None` leaves a setting as it is. The same type carries
/// the values given explicitly, which win over a recipe's.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ingredients {
    /// Passes over the training set.
    pub epochs: Option<usize>,
    /// Rows per minibatch.
    pub batch_size: Option<usize>,
    /// The loss minimised.
    pub loss: Option<Loss>,
    /// The base learning rate.
    pub lr: Option<f64>,
    /// How the rate moves over the steps.
    pub lr_schedule: Option<LrSchedule>,
    /// Steps of linear warm-up.
    pub warmup: Option<u64>,
    /// Whether targets are divided by a constant estimated from the training rows.
    pub target_scale: Option<TargetScale>,
    /// Whether inputs are multiplied by factors estimated from the training rows.
    pub input_scale: Option<InputScale>,
    /// Epochs at the end whose parameters are averaged.
    pub average_last: Option<usize>,
}

impl Ingredients {
    /// No setting given.
    pub const NONE: Ingredients = Ingredients {
        epochs: None,
        batch_size: None,
        loss: None,
        lr: None,
        lr_schedule: None,
        warmup: None,
        target_scale: None,
        input_scale: None,
        average_last: None,
    };

    /// How many settings are given.
    pub fn count(&self) -> usize {
        // Destructured so that a new setting cannot be left out of the count.
        let Ingredients {
            epochs,
            batch_size,
            loss,
            lr,
            lr_schedule,
            warmup,
            target_scale,
            input_scale,
            average_last,
        } = self;
        [
            epochs.is_some(),
            batch_size.is_some(),
            loss.is_some(),
            lr.is_some(),
            lr_schedule.is_some(),
            warmup.is_some(),
            target_scale.is_some(),
            input_scale.is_some(),
            average_last.is_some(),
        ]
        .iter()
        .filter(|&&given| given)
        .count()
    }
}

impl Recipe {
    /// Every recipe, `paper` first.
    pub const ALL: [Recipe; 4] = [
        Recipe::Paper,
        Recipe::LgRelativeCosine,
        Recipe::LgScaled,
        Recipe::LgScaledInputs,
    ];

    /// The recipe's name as `--recipe` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Paper => "paper",
            Recipe::LgRelativeCosine => "lg-relative-cosine",
            Recipe::LgScaled => "lg-scaled",
            Recipe::LgScaledInputs => "lg-scaled-inputs",
        }
    }

    /// Every training setting under this recipe alone: its ingredients over the paper's
    /// defaults ([`crate::train::Training::default`]).
    pub fn settings(self) -> crate::train::Training {
        crate::train::Training::default().with_recipe(self, Ingredients::default())
    }

    /// The settings this recipe fills in (`paper`: none).
    pub fn ingredients(self) -> Ingredients {
        match self {
            Recipe::Paper => Ingredients::default(),
            Recipe::LgRelativeCosine => Ingredients {
                epochs: Some(1000),
                loss: Some(Loss::Relative),
                lr: Some(3e-3),
                lr_schedule: Some(LrSchedule::Cosine),
                ..Ingredients::default()
            },
            Recipe::LgScaled => Ingredients {
                epochs: Some(250),
                batch_size: Some(8),
                target_scale: Some(TargetScale::Loglinear),
                ..Recipe::LgRelativeCosine.ingredients()
            },
            Recipe::LgScaledInputs => Ingredients {
                input_scale: Some(InputScale::Geometric),
                ..Recipe::LgScaled.ingredients()
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
    use crate::train::Training;

    #[test]
    fn the_paper_recipe_sets_nothing() {
        assert_eq!(Recipe::Paper.ingredients(), Ingredients::default());
        let odd = Training {
            epochs: 7,
            lr: 0.5,
            loss: Loss::Mse,
            lr_schedule: LrSchedule::Cosine,
            warmup: 3,
            ..Training::default()
        };
        assert_eq!(odd.with_recipe(Recipe::Paper, Ingredients::default()), odd);
    }

    #[test]
    fn a_recipe_fills_in_what_is_not_given_and_explicit_values_win() {
        let explicit = Ingredients {
            epochs: Some(5),
            loss: Some(Loss::Mse),
            ..Ingredients::default()
        };
        let base = Training {
            batch_size: 8,
            warmup: 9,
            ..Training::default()
        };
        let t = base.with_recipe(Recipe::LgRelativeCosine, explicit);
        // Explicit: epochs, loss. The recipe's: lr 3e-3, cosine. Kept: batch 8, warm-up 9 (the
        // recipe leaves warm-up alone).
        assert_eq!(
            (
                t.epochs,
                t.loss,
                t.lr,
                t.lr_schedule,
                t.batch_size,
                t.warmup
            ),
            (5, Loss::Mse, 3e-3, LrSchedule::Cosine, 8, 9)
        );
        assert_eq!(t.recipe, Recipe::LgRelativeCosine);
        let all_recipe =
            Training::default().with_recipe(Recipe::LgRelativeCosine, Ingredients::default());
        assert_eq!(
            (all_recipe.epochs, all_recipe.loss, all_recipe.lr),
            (1000, Loss::Relative, 3e-3)
        );
        let scaled = Recipe::LgScaled.settings();
        // A quarter of the epochs at a quarter of the batch: the same steps as lg-relative-cosine.
        assert_eq!((scaled.epochs, scaled.batch_size), (250, 8));
        assert_eq!(scaled.target_scale, TargetScale::Loglinear);
        assert_eq!((scaled.loss, scaled.lr), (Loss::Relative, 3e-3));
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
