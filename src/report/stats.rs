//! The statistics of a report: records deduplicated and grouped by function, medians and
//! per-pair statistics over runs, the ranking rule, the rows of Table I (beside the paper's
//! embedded figures) and the cells of the normaliser study. No text is produced here.

use super::text::function_key;
use crate::experiment::{Pair, RunRecord};
use crate::protocol::{PAPER_FUNCTIONS, normaliser_study, reproduce_functions};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

/// The paper's Table I (and the complex function of section VI.B), transcribed by hand from
/// the paper; embedded so that a report needs no file outside the repository.
const PAPER_TABLE1_JSON: &str = include_str!("../../data/paper-table1.json");

/// One row of the paper's Table I.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PaperRow {
    /// The target function, spelled as in [`PAPER_FUNCTIONS`].
    pub function: String,
    /// The paper's test % error for lg.
    pub lg_pct_err: f64,
    /// The paper's test MAE for lg (`None` where the paper gives none: the complex function).
    pub lg_mae: Option<f64>,
    /// The paper's best baseline pair, as `A1,A2`.
    pub next_best_pair: String,
    /// Its test % error.
    pub next_best_pct_err: f64,
}

#[derive(Deserialize)]
struct PaperTable {
    rows: Vec<PaperRow>,
}

/// The paper's Table I, one row per function of [`PAPER_FUNCTIONS`] in that order.
///
/// The embedded table is checked by a unit test; were it ever unreadable, this returns no rows
/// and the report says that the paper's figures are unavailable rather than failing.
pub fn paper_table1() -> Vec<PaperRow> {
    serde_json::from_str::<PaperTable>(PAPER_TABLE1_JSON)
        .map(|t| t.rows)
        .unwrap_or_default()
}

/// Statistics of one (function, pair) over its runs. Scores that are missing (diverged or not
/// finite) count as `f64::INFINITY`, so every field is always set.
#[derive(Debug, Clone, PartialEq)]
pub struct PairStats {
    /// The activation pair.
    pub pair: Pair,
    /// Number of runs (distinct specs, normally one per seed).
    pub runs: usize,
    /// Runs that diverged (the loss or a parameter became non-finite).
    pub diverged: usize,
    /// Runs without a test % error: the diverged ones and those whose prediction was not
    /// finite.
    pub unscored: usize,
    /// Median test % error over runs.
    pub median_pct_err: f64,
    /// Lowest test % error over runs.
    pub min_pct_err: f64,
    /// Highest test % error over runs (∞ if any run is unscored).
    pub max_pct_err: f64,
    /// Median test MAE over runs.
    pub median_test_mae: f64,
    /// Median training loss of the last epoch over runs (∞ for a diverged run, whose last
    /// recorded loss predates the divergence).
    pub median_final_loss: f64,
}

/// One function's pairs, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionRanking {
    /// The function, spelled as in [`PAPER_FUNCTIONS`] where it is one of them, else as in its
    /// first record.
    pub function: String,
    /// Every pair with records, ranked by median test % error (ties by pair name).
    pub pairs: Vec<PairStats>,
    /// The ranking CSV written for it.
    pub csv: PathBuf,
}

/// One row of Table I: lg and the best baseline for a function, beside the paper's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Table1Row {
    /// The function, as in [`PAPER_FUNCTIONS`].
    pub function: String,
    /// lg's statistics (`lg.runs` is the number of seeds); `None` if lg has no records here.
    pub lg: Option<PairStats>,
    /// The best pair other than lg; `None` if there are no other pairs.
    pub best_baseline: Option<PairStats>,
    /// lg's 1-based rank among all pairs present (1 = best).
    pub lg_rank: Option<usize>,
    /// Number of pairs present for the function.
    pub pairs: usize,
    /// The paper's row, if the embedded table has one.
    pub paper: Option<PaperRow>,
}

/// Drops records whose spec is identical to an earlier one's; returns the rest and how many
/// were dropped.
pub(super) fn dedup(records: &[RunRecord]) -> (Vec<&RunRecord>, usize) {
    let mut seen = HashSet::new();
    let kept: Vec<&RunRecord> = records
        .iter()
        .filter(|r| seen.insert(r.spec.key()))
        .collect();
    let dropped = records.len() - kept.len();
    (kept, dropped)
}

/// The records of one function.
pub(super) struct Group<'a> {
    /// Display spelling.
    pub(super) function: String,
    pub(super) records: Vec<&'a RunRecord>,
    pub(super) by_pair: BTreeMap<Pair, Vec<&'a RunRecord>>,
}

/// Groups by function, ordered as the paper (Table I, then the normaliser study's others),
/// then any other function alphabetically.
pub(super) fn group<'a>(records: &[&'a RunRecord]) -> Vec<Group<'a>> {
    let mut by_key: HashMap<String, Group<'a>> = HashMap::new();
    for &r in records {
        // The paper's tables compare activation pairs of dense networks; other models are
        // reported beside them, not ranked among the pairs.
        let Some(pair) = r.spec.model.pair() else {
            continue;
        };
        let key = function_key(&r.spec.function);
        let g = by_key.entry(key.clone()).or_insert_with(|| Group {
            function: PAPER_FUNCTIONS
                .iter()
                .find(|f| function_key(f) == key)
                .map_or_else(|| r.spec.function.clone(), |f| f.to_string()),
            records: Vec::new(),
            by_pair: BTreeMap::new(),
        });
        g.records.push(r);
        g.by_pair.entry(pair.clone()).or_default().push(r);
    }
    let order: Vec<String> = reproduce_functions()
        .iter()
        .map(|f| function_key(f))
        .collect();
    // Positions computed once per group, not per comparison: reports may hold very many
    // functions.
    let mut groups: Vec<(usize, String, Group<'a>)> = by_key
        .into_iter()
        .map(|(key, g)| {
            let position = order.iter().position(|f| *f == key).unwrap_or(order.len());
            (position, key, g)
        })
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    groups.into_iter().map(|(_, _, g)| g).collect()
}

/// A score as a rankable number: missing or non-finite is +∞.
pub(super) fn score(v: Option<f64>) -> f64 {
    match v {
        Some(v) if v.is_finite() => v,
        _ => f64::INFINITY,
    }
}

/// The median; the mean of the two middle values for an even count. `None` if empty.
pub(super) fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => {
            let (a, b) = (v[n / 2 - 1], v[n / 2]);
            // inf + finite is inf, as the ranking rule wants; avoid inf - inf = NaN paths.
            Some(if a.is_infinite() || b.is_infinite() {
                f64::INFINITY
            } else {
                (a + b) / 2.0
            })
        }
    }
}

pub(super) fn final_loss(r: &RunRecord) -> f64 {
    if r.diverged {
        f64::INFINITY
    } else {
        score(r.final_train_loss())
    }
}

fn pair_stats(pair: &Pair, runs: &[&RunRecord]) -> PairStats {
    let pct: Vec<f64> = runs.iter().map(|r| score(r.test_pct_err)).collect();
    let mae: Vec<f64> = runs.iter().map(|r| score(r.test_mae)).collect();
    let loss: Vec<f64> = runs.iter().map(|r| final_loss(r)).collect();
    let inf = f64::INFINITY;
    PairStats {
        pair: pair.clone(),
        runs: runs.len(),
        diverged: runs.iter().filter(|r| r.diverged).count(),
        unscored: pct.iter().filter(|v| v.is_infinite()).count(),
        median_pct_err: median(&pct).unwrap_or(inf),
        min_pct_err: pct.iter().copied().fold(inf, f64::min),
        max_pct_err: pct.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        median_test_mae: median(&mae).unwrap_or(inf),
        median_final_loss: median(&loss).unwrap_or(inf),
    }
}

/// The ranking rule: median test % error, then the pair's name.
pub(super) fn rank(g: &Group<'_>) -> Vec<PairStats> {
    let mut stats: Vec<PairStats> = g
        .by_pair
        .iter()
        .map(|(pair, runs)| pair_stats(pair, runs))
        .collect();
    stats.sort_by(|a, b| {
        a.median_pct_err
            .total_cmp(&b.median_pct_err)
            .then_with(|| a.pair.to_string().cmp(&b.pair.to_string()))
    });
    stats
}

pub(super) fn table1_rows(rankings: &[FunctionRanking], paper: &[PaperRow]) -> Vec<Table1Row> {
    PAPER_FUNCTIONS
        .iter()
        .filter_map(|f| {
            let ranking = rankings.iter().find(|r| r.function == *f)?;
            let lg_rank = ranking.pairs.iter().position(|p| p.pair.is_lg());
            Some(Table1Row {
                function: f.to_string(),
                lg: lg_rank.map(|i| ranking.pairs[i].clone()),
                best_baseline: ranking.pairs.iter().find(|p| !p.pair.is_lg()).cloned(),
                lg_rank: lg_rank.map(|i| i + 1),
                pairs: ranking.pairs.len(),
                paper: paper.iter().find(|p| p.function == *f).cloned(),
            })
        })
        .collect()
}

/// One cell of the normaliser study.
pub(super) struct StudyCell<'a> {
    pub(super) n_factors: usize,
    pub(super) normaliser: u32,
    pub(super) function: String,
    pub(super) ranking: Option<&'a FunctionRanking>,
}

impl StudyCell<'_> {
    pub(super) fn lg(&self) -> Option<(usize, &PairStats)> {
        let r = self.ranking?;
        r.pairs
            .iter()
            .enumerate()
            .find(|(_, p)| p.pair.is_lg())
            .map(|(i, p)| (i + 1, p))
    }

    pub(super) fn best_baseline(&self) -> Option<&PairStats> {
        self.ranking?.pairs.iter().find(|p| !p.pair.is_lg())
    }
}

pub(super) fn normaliser_cells(rankings: &[FunctionRanking]) -> Vec<StudyCell<'_>> {
    normaliser_study()
        .into_iter()
        .map(|np| {
            let function = np.expression();
            let key = function_key(&function);
            StudyCell {
                n_factors: np.n_factors,
                normaliser: np.normaliser,
                ranking: rankings.iter().find(|r| function_key(&r.function) == key),
                function,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_paper_table_has_the_seven_functions_in_order() {
        let rows = paper_table1();
        let functions: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(functions, PAPER_FUNCTIONS);
        assert_eq!(rows[0].next_best_pair, "relu,linear");
        assert!(
            rows.iter()
                .all(|r| r.next_best_pair.parse::<Pair>().is_ok())
        );
        assert_eq!(rows[6].lg_mae, None);
    }

    #[test]
    fn medians_follow_the_ranking_rule() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[1.0, f64::INFINITY]), Some(f64::INFINITY));
        assert_eq!(median(&[1.0, 2.0, f64::INFINITY]), Some(2.0));
        assert_eq!(median(&[]), None);
    }
}
