//! The paper's experiment as named presets: its seven target functions and the normaliser study
//! of section II.

/// The seven target functions of the paper, in Table I order (the last is the "complex" eq. 4).
pub const PAPER_FUNCTIONS: [&str; 7] = [
    "x1*x2",
    "x1*x2/10",
    "x1*x2*x3",
    "x1*x2*x3/100",
    "x1*x2*x3*x4",
    "x1*x2*x3*x4/1000",
    "x1*(x2+x3)+x4",
];

/// The second training range of `reproduce peers`, the range convention of physics
/// benchmarks, where ln(1 + |x|) is far from ln |x|: [1, 5).
pub const BENCH_TRAIN: crate::data::Range = crate::data::Range {
    low: 1.0,
    high: 5.0,
};

/// The second test range of `reproduce peers`: [5, 21).
pub const BENCH_TEST: crate::data::Range = crate::data::Range {
    low: 5.0,
    high: 21.0,
};

/// The models of `reproduce peers`: lg, the closed-form log-linear baseline, two dense
/// baselines (relu,linear, the usual choice, and tanh,linear), and every preset of the peers'
/// units.
pub const BENCH_MODELS: [&str; 13] = [
    "lg",
    "loglinear",
    "relu,linear",
    "tanh,linear",
    "nac",
    "nac-mul",
    "nalu",
    "nau",
    "nmu",
    "inalu",
    "npu",
    "real-npu",
    "product",
];

/// The normalising factors N of the normaliser study (paper section II).
pub const NORMALISERS: [u32; 4] = [1, 10, 100, 1000];

/// One function of the normaliser study: the product of `n_factors` inputs divided by `n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedProduct {
    /// How many inputs are multiplied (2, 3 or 4).
    pub n_factors: usize,
    /// The normalising factor N.
    pub normaliser: u32,
}

impl NormalisedProduct {
    /// The expression, spelled as in [`PAPER_FUNCTIONS`] where the paper has it (`x1*x2` for
    /// N = 1, so the study shares those runs with Table I).
    pub fn expression(&self) -> String {
        let product = (1..=self.n_factors)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join("*");
        if self.normaliser == 1 {
            product
        } else {
            format!("{product}/{}", self.normaliser)
        }
    }
}

/// The 12 functions of the normaliser study: x1·x2/N, x1·x2·x3/N and x1·x2·x3·x4/N for every N
/// in [`NORMALISERS`].
pub fn normaliser_study() -> Vec<NormalisedProduct> {
    (2..=4)
        .flat_map(|n_factors| {
            NORMALISERS
                .iter()
                .map(move |&normaliser| NormalisedProduct {
                    n_factors,
                    normaliser,
                })
        })
        .collect()
}

/// Every function `reproduce` trains: the seven of Table I, then the normaliser study's others.
pub fn reproduce_functions() -> Vec<String> {
    let mut functions: Vec<String> = PAPER_FUNCTIONS.iter().map(|f| f.to_string()).collect();
    for f in normaliser_study() {
        let e = f.expression();
        if !functions.contains(&e) {
            functions.push(e);
        }
    }
    functions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_study_shares_the_paper_rows_and_adds_six() {
        let study: Vec<String> = normaliser_study().iter().map(|f| f.expression()).collect();
        assert_eq!(study.len(), 12);
        let shared = study
            .iter()
            .filter(|e| PAPER_FUNCTIONS.contains(&e.as_str()))
            .count();
        assert_eq!(shared, 6);
        assert_eq!(reproduce_functions().len(), 13);
        assert!(study.contains(&"x1*x2*x3/1000".to_string()));
    }
}
