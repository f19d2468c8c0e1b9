//! Optimizers over a flat parameter buffer.

/// Adam with Keras's defaults and Keras's update rule (ε added to `√v`, bias correction folded
/// into the step size).
///
/// ```
/// use logexp::optim::Adam;
/// let mut params = [1.0f32];
/// let mut adam = Adam::new(1);
/// adam.step(&mut params, &[0.5]);
/// // Adam's first step moves each parameter by about lr against the gradient's sign.
/// assert!((params[0] - (1.0 - 1e-3)).abs() < 1e-6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// Learning rate (Keras: 1e-3).
    pub learning_rate: f64,
    /// First-moment decay (Keras: 0.9).
    pub beta_1: f64,
    /// Second-moment decay (Keras: 0.999).
    pub beta_2: f64,
    /// Added to `√v` (Keras: 1e-7).
    pub epsilon: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    iterations: u64,
    /// β1ᵗ and β2ᵗ, kept as running products (a `powf` per step cost more than the update of
    /// a small network's parameters).
    beta_1_power: f64,
    beta_2_power: f64,
}

impl Adam {
    /// Adam for `n_params` parameters with the Keras defaults.
    pub fn new(n_params: usize) -> Self {
        Self::with_learning_rate(n_params, 1e-3)
    }

    /// Adam with the Keras defaults except the learning rate.
    pub fn with_learning_rate(n_params: usize, learning_rate: f64) -> Self {
        Adam {
            learning_rate,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            m: vec![0.0; n_params],
            v: vec![0.0; n_params],
            iterations: 0,
            beta_1_power: 1.0,
            beta_2_power: 1.0,
        }
    }

    /// Number of steps taken.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// One update of `params` against `grad`.
    #[inline(always)]
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        assert_eq!(params.len(), self.m.len(), "parameter count");
        assert_eq!(grad.len(), self.m.len(), "gradient length");
        let rates = self.advance();
        self.update(params, grad, 0..params.len(), rates);
    }

    /// One update of the parameters in `ranges` only: the others and their moments stay as
    /// they are. The step count (and so the bias correction) advances once, as TF 1's Adam
    /// advances its shared β powers at every `apply_gradients`, whichever variables it updates.
    #[inline(always)]
    pub fn step_ranges(
        &mut self,
        params: &mut [f32],
        grad: &[f32],
        ranges: &[std::ops::Range<usize>],
    ) {
        assert_eq!(params.len(), self.m.len(), "parameter count");
        assert_eq!(grad.len(), self.m.len(), "gradient length");
        let rates = self.advance();
        for range in ranges {
            self.update(params, grad, range.clone(), rates);
        }
    }

    /// Counts a step and returns its bias-corrected step size α and `1 − β1`, `1 − β2`.
    #[inline(always)]
    fn advance(&mut self) -> [f32; 3] {
        self.iterations += 1;
        self.beta_1_power *= self.beta_1;
        self.beta_2_power *= self.beta_2;
        // Bias corrections in f64: β^t underflows gracefully and costs nothing per parameter.
        let alpha = (self.learning_rate * (1.0 - self.beta_2_power).sqrt()
            / (1.0 - self.beta_1_power)) as f32;
        [
            alpha,
            (1.0 - self.beta_1) as f32,
            (1.0 - self.beta_2) as f32,
        ]
    }

    #[inline(always)]
    fn update(
        &mut self,
        params: &mut [f32],
        grad: &[f32],
        range: std::ops::Range<usize>,
        [alpha, one_minus_b1, one_minus_b2]: [f32; 3],
    ) {
        let eps = self.epsilon;
        for (((p, &g), m), v) in params[range.clone()]
            .iter_mut()
            .zip(&grad[range.clone()])
            .zip(&mut self.m[range.clone()])
            .zip(&mut self.v[range])
        {
            *m += (g - *m) * one_minus_b1;
            *v += (g * g - *v) * one_minus_b2;
            *p -= alpha * *m / (v.sqrt() + eps);
        }
    }

    /// The first moments, one per parameter.
    pub fn first_moments(&self) -> &[f32] {
        &self.m
    }

    /// The second moments, one per parameter.
    pub fn second_moments(&self) -> &[f32] {
        &self.v
    }
}

/// RMSProp as TensorFlow 1's `tf.train.RMSPropOptimizer` with its defaults (decay 0.9, no
/// momentum, ε 1e-10 inside the square root), which iNALU trained with:
/// `v ← ρ v + (1 − ρ) g²`, `p ← p − lr · g / √(v + ε)`.
///
/// ```
/// use logexp::optim::RmsProp;
/// let mut params = [1.0f32];
/// let mut rms = RmsProp::with_learning_rate(1, 0.01);
/// rms.step(&mut params, &[0.5]);
/// // v = 0.1 · 0.25, so the step is 0.01 · 0.5 / √0.025 ≈ 0.0316.
/// assert!((params[0] - (1.0 - 0.031623)).abs() < 1e-5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RmsProp {
    /// Learning rate.
    pub learning_rate: f64,
    /// Decay of the running mean square (TF: 0.9).
    pub rho: f32,
    /// Added to the mean square under the root (TF 1: 1e-10).
    pub epsilon: f32,
    v: Vec<f32>,
}

impl RmsProp {
    /// RMSProp for `n_params` parameters with TF 1's defaults except the learning rate.
    pub fn with_learning_rate(n_params: usize, learning_rate: f64) -> Self {
        RmsProp {
            learning_rate,
            rho: 0.9,
            epsilon: 1e-10,
            v: vec![0.0; n_params],
        }
    }

    /// One update of `params` against `grad`.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        assert_eq!(params.len(), self.v.len(), "parameter count");
        assert_eq!(grad.len(), self.v.len(), "gradient length");
        self.update(params, grad, 0..params.len());
    }

    /// One update of the parameters in `ranges` only: the others and their mean squares stay
    /// as they are (TF 1's `apply_gradients` on a `var_list`).
    pub fn step_ranges(
        &mut self,
        params: &mut [f32],
        grad: &[f32],
        ranges: &[std::ops::Range<usize>],
    ) {
        assert_eq!(params.len(), self.v.len(), "parameter count");
        assert_eq!(grad.len(), self.v.len(), "gradient length");
        for range in ranges {
            self.update(params, grad, range.clone());
        }
    }

    #[inline(always)]
    fn update(&mut self, params: &mut [f32], grad: &[f32], range: std::ops::Range<usize>) {
        let lr = self.learning_rate as f32;
        let keep = self.rho;
        for ((p, &g), v) in params[range.clone()]
            .iter_mut()
            .zip(&grad[range.clone()])
            .zip(&mut self.v[range])
        {
            *v = keep * *v + (1.0 - keep) * g * g;
            *p -= lr * g / (*v + self.epsilon).sqrt();
        }
    }

    /// The running mean squares, one per parameter.
    pub fn mean_squares(&self) -> &[f32] {
        &self.v
    }
}

/// Which optimiser a run uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// [`Adam`] with Keras's defaults (the paper's).
    #[default]
    Adam,
    /// [`RmsProp`] with TF 1's defaults (iNALU's).
    Rmsprop,
}

impl std::str::FromStr for Optimizer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "adam" => Ok(Optimizer::Adam),
            "rmsprop" => Ok(Optimizer::Rmsprop),
            _ => Err(format!(
                "unknown optimiser '{}': use adam or rmsprop",
                s.escape_debug()
            )),
        }
    }
}

impl std::fmt::Display for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Optimizer::Adam => "adam",
            Optimizer::Rmsprop => "rmsprop",
        })
    }
}

/// An optimiser's state for one run.
#[derive(Debug, Clone, PartialEq)]
pub enum OptimizerState {
    /// Adam's moments.
    Adam(Adam),
    /// RMSProp's mean squares.
    RmsProp(RmsProp),
}

impl OptimizerState {
    /// Fresh state of `kind` for `n_params` parameters at `learning_rate`.
    pub fn new(kind: Optimizer, n_params: usize, learning_rate: f64) -> Self {
        match kind {
            Optimizer::Adam => {
                OptimizerState::Adam(Adam::with_learning_rate(n_params, learning_rate))
            }
            Optimizer::Rmsprop => {
                OptimizerState::RmsProp(RmsProp::with_learning_rate(n_params, learning_rate))
            }
        }
    }

    /// Sets the rate of the next steps (a learning-rate schedule).
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        match self {
            OptimizerState::Adam(adam) => adam.learning_rate = learning_rate,
            OptimizerState::RmsProp(rms) => rms.learning_rate = learning_rate,
        }
    }

    /// One update of `params` against `grad`.
    #[inline(always)]
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        match self {
            OptimizerState::Adam(adam) => adam.step(params, grad),
            OptimizerState::RmsProp(rms) => rms.step(params, grad),
        }
    }

    /// One update of the parameters in `ranges` only (see [`Adam::step_ranges`] and
    /// [`RmsProp::step_ranges`]).
    #[inline(always)]
    pub fn step_ranges(
        &mut self,
        params: &mut [f32],
        grad: &[f32],
        ranges: &[std::ops::Range<usize>],
    ) {
        match self {
            OptimizerState::Adam(adam) => adam.step_ranges(params, grad, ranges),
            OptimizerState::RmsProp(rms) => rms.step_ranges(params, grad, ranges),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam's update written out in f64 from Kingma & Ba, in Keras's ε placement.
    fn reference(grads: &[f64], lr: f64) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
        let (mut p, mut m, mut v) = (0.0f64, 0.0, 0.0);
        for (k, g) in grads.iter().enumerate() {
            let t = (k + 1) as f64;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let alpha = lr * (1.0 - b2.powf(t)).sqrt() / (1.0 - b1.powf(t));
            p -= alpha * m / (v.sqrt() + eps);
        }
        p
    }

    #[test]
    fn rmsprop_matches_tf1s_update_written_out() {
        // Two steps by hand: v1 = 0.1·4 = 0.4, p1 = 1 − 0.1·2/√0.4 = 0.683772;
        // v2 = 0.9·0.4 + 0.1·1 = 0.46, p2 = p1 + 0.1·1/√0.46 = 0.831214.
        let mut p = [1.0f32];
        let mut rms = RmsProp::with_learning_rate(1, 0.1);
        rms.step(&mut p, &[2.0]);
        assert!((p[0] - 0.683772).abs() < 1e-6, "{}", p[0]);
        rms.step(&mut p, &[-1.0]);
        assert!((p[0] - 0.831214).abs() < 2e-6, "{}", p[0]);
        assert_eq!("RMSProp".parse::<Optimizer>().unwrap(), Optimizer::Rmsprop);
        assert!(
            "sgd"
                .parse::<Optimizer>()
                .unwrap_err()
                .contains("adam or rmsprop")
        );
    }

    #[test]
    fn matches_the_textbook_update() {
        let grads = [0.3, -1.2, 0.05, 2.0, -0.7, 0.0, 0.4];
        let mut adam = Adam::with_learning_rate(1, 0.01);
        let mut p = [0.0f32];
        for g in grads {
            adam.step(&mut p, &[g as f32]);
        }
        let expected = reference(&grads, 0.01);
        assert!(
            (f64::from(p[0]) - expected).abs() < 1e-6,
            "{} vs {expected}",
            p[0]
        );
        assert_eq!(adam.iterations(), 7);
    }

    /// A step on some ranges leaves the other parameters and their moments alone and matches
    /// a full step on the ones it updates. By hand (lr 1e-3, gradients 2, 3, 5): the first
    /// step moves parameters 0 and 2 by 1e-3 each; parameter 1's first update, at step 2,
    /// moves it by 1e-3 · √(1 − 0.999²)/(1 − 0.9²) · 0.1/√0.001 = 7.44134e-4.
    #[test]
    fn a_step_on_ranges_updates_only_them() {
        let grad = [2.0f32, 3.0, 5.0];
        let mut adam = Adam::new(3);
        let mut p = [0.0f32; 3];
        adam.step_ranges(&mut p, &grad, &[0..1, 2..3]);
        assert_eq!(p[1], 0.0);
        assert_eq!(
            (adam.first_moments()[1], adam.second_moments()[1]),
            (0.0, 0.0)
        );
        assert!(
            (p[0] + 1e-3).abs() < 1e-7 && (p[2] + 1e-3).abs() < 1e-7,
            "{p:?}"
        );
        let middle = 1..2;
        adam.step_ranges(&mut p, &grad, std::slice::from_ref(&middle));
        assert!((p[1] + 7.44134e-4).abs() < 1e-8, "{}", p[1]);
        assert!((p[0] + 1e-3).abs() < 1e-7, "parameter 0 moved: {}", p[0]);
        // The updated part is bitwise what a full step gives.
        let (mut full, mut part) = (Adam::new(3), Adam::new(3));
        let (mut a, mut b) = ([0.5f32, -1.0, 2.0], [0.5f32, -1.0, 2.0]);
        for _ in 0..3 {
            full.step(&mut a, &grad);
            part.step_ranges(&mut b, &grad, &[0..2, 2..3]);
        }
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
        // RMSProp likewise: v = 0.1 · 9 for parameter 1 only.
        let mut rms = RmsProp::with_learning_rate(3, 0.1);
        let mut p = [0.0f32; 3];
        rms.step_ranges(&mut p, &grad, std::slice::from_ref(&middle));
        assert_eq!(rms.mean_squares()[0], 0.0);
        assert_eq!(p[0], 0.0);
        assert!((rms.mean_squares()[1] - 0.9).abs() < 1e-6);
        assert!((p[1] + 0.1 * 3.0 / 0.9f32.sqrt()).abs() < 1e-6, "{}", p[1]);
    }

    #[test]
    fn first_step_size_is_the_learning_rate() {
        let mut adam = Adam::new(2);
        let mut p = [0.0f32, 0.0];
        adam.step(&mut p, &[100.0, -0.5]);
        assert!((p[0] + 1e-3).abs() < 1e-7);
        assert!((p[1] - 1e-3).abs() < 1e-6);
    }

    /// Kingma & Ba's textbook rule, ε added to the bias-corrected √v̂, in f64: what Keras does
    /// *not* do. Near ε the two differ by far.
    fn textbook(grads: &[f64], lr: f64) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-7f64);
        let (mut p, mut m, mut v) = (0.0f64, 0.0, 0.0);
        for (k, g) in grads.iter().enumerate() {
            let t = (k + 1) as i32;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let (m_hat, v_hat) = (m / (1.0 - b1.powi(t)), v / (1.0 - b2.powi(t)));
            p -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        p
    }

    /// With gradients of the size of ε, where ε's place matters. By hand, the first step with
    /// g = 1e-7 and lr = 1e-3: m = 1e-8, v = 1e-17, α = 1e-3·√0.001/0.1 = 3.1623e-4, so Keras
    /// moves the parameter by α·m/(√v + ε) = 3.1623e-12 / 1.0316e-7 = 3.0653e-5, while the
    /// textbook rule moves it by lr·m̂/(√v̂ + ε) = 1e-3 · 1e-7 / 2e-7 = 5e-4, sixteen times more.
    #[test]
    fn epsilon_sits_where_keras_puts_it() {
        let mut adam = Adam::new(1);
        let mut p = [0.0f32];
        adam.step(&mut p, &[1e-7]);
        let keras = -3.065_343_003_171_553e-5;
        assert!(
            (f64::from(p[0]) - keras).abs() < 1e-4 * keras.abs(),
            "{} vs {keras}",
            p[0]
        );
        // A run of small gradients of both signs, against the f64 rules.
        let grads = [
            1e-7, 3e-7, -2e-7, 5e-8, 1e-7, -1e-7, 2e-7, 4e-7, 1e-8, -3e-7,
        ];
        let mut adam = Adam::new(1);
        let mut p = [0.0f32];
        for g in grads {
            adam.step(&mut p, &[g as f32]);
        }
        let expected = reference(&grads, 1e-3);
        let wrong = textbook(&grads, 1e-3);
        assert!(
            (f64::from(p[0]) - expected).abs() < 1e-3 * expected.abs(),
            "{} vs Keras {expected}",
            p[0]
        );
        assert!(
            (wrong - expected).abs() > 0.1 * expected.abs(),
            "the two rules do not differ here: {wrong} vs {expected}"
        );
    }
}
