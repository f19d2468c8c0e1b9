//! The CSV files of a report: the ranking of each function, Table I and the normaliser study,
//! as text (writing them is [`super::write_report`]'s).

use super::stats::{PairStats, StudyCell, Table1Row};
use std::fmt::Write as _;

/// Numbers for CSV: Rust's shortest round-trip form, `inf` for +∞, empty for missing.
fn csv_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        String::new()
    } else if v > 0.0 {
        "inf".to_string()
    } else {
        "-inf".to_string()
    }
}

fn csv_opt(v: Option<f64>) -> String {
    v.map(csv_num).unwrap_or_default()
}

/// Quotes a CSV field when it needs it (pair names contain commas).
pub(super) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The column header of every ranking CSV.
const RANKING_HEADER: &str = "rank,pair,median_test_pct_err,min_test_pct_err,max_test_pct_err,\
median_test_mae,median_final_train_loss,runs,diverged_runs,unscored_runs";

pub(super) fn ranking_csv(pairs: &[PairStats]) -> String {
    let mut out = String::from(RANKING_HEADER);
    out.push('\n');
    for (i, p) in pairs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            i + 1,
            csv_field(&p.pair.to_string()),
            csv_num(p.median_pct_err),
            csv_num(p.min_pct_err),
            csv_num(p.max_pct_err),
            csv_num(p.median_test_mae),
            csv_num(p.median_final_loss),
            p.runs,
            p.diverged,
            p.unscored
        );
    }
    out
}

pub(super) fn table1_csv_text(rows: &[Table1Row]) -> String {
    let mut out = String::from(
        "function,lg_median_test_pct_err,lg_min_test_pct_err,lg_max_test_pct_err,\
         lg_median_test_mae,best_baseline,best_baseline_median_test_pct_err,lg_rank,pairs,\
         seeds,paper_lg_pct_err,paper_lg_mae,paper_next_best_pair,paper_next_best_pct_err\n",
    );
    for r in rows {
        let lg = r.lg.as_ref();
        let best = r.best_baseline.as_ref();
        let paper = r.paper.as_ref();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.function),
            csv_opt(lg.map(|s| s.median_pct_err)),
            csv_opt(lg.map(|s| s.min_pct_err)),
            csv_opt(lg.map(|s| s.max_pct_err)),
            csv_opt(lg.map(|s| s.median_test_mae)),
            csv_field(&best.map(|s| s.pair.to_string()).unwrap_or_default()),
            csv_opt(best.map(|s| s.median_pct_err)),
            r.lg_rank.map(|n| n.to_string()).unwrap_or_default(),
            r.pairs,
            lg.map_or(0, |s| s.runs),
            csv_opt(paper.map(|p| p.lg_pct_err)),
            csv_opt(paper.and_then(|p| p.lg_mae)),
            csv_field(paper.map_or("", |p| p.next_best_pair.as_str())),
            csv_opt(paper.map(|p| p.next_best_pct_err)),
        );
    }
    out
}

pub(super) fn normaliser_csv_text(cells: &[StudyCell<'_>]) -> String {
    let mut out = String::from(
        "factors,normaliser,function,lg_median_test_pct_err,lg_rank,best_baseline,\
         best_baseline_median_test_pct_err,pairs\n",
    );
    for c in cells {
        let lg = c.lg();
        let best = c.best_baseline();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            c.n_factors,
            c.normaliser,
            csv_field(&c.function),
            csv_opt(lg.map(|(_, s)| s.median_pct_err)),
            lg.map(|(rank, _)| rank.to_string()).unwrap_or_default(),
            csv_field(&best.map(|s| s.pair.to_string()).unwrap_or_default()),
            csv_opt(best.map(|s| s.median_pct_err)),
            c.ranking.map_or(0, |r| r.pairs.len()),
        );
    }
    out
}
