//! Target expressions `y = f(x1, ..., xn)` for generating synthetic data.
//!
//! An [`Expr`] is parsed once from text such as `x1*(x2+x3)+x4` and then
//! evaluated on every data row with [`Expr::eval`].
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! sum     := product (('+' | '-') product)*      left-associative
//! product := unary (('*' | '/') unary)*          left-associative
//! unary   := ('-' | '+') unary | power
//! power   := primary ('^' unary)?                right-associative
//! primary := number | variable | '(' sum ')'
//! ```
//!
//! So `-x1^2` is `-(x1^2)`, `2^-1` is `2^(-1)` and `2^3^2` is `2^9`.
//! Variables are `x1`, `x2`, ... up to `x1000` ([`MAX_VARIABLES`]). Numbers
//! are decimal literals such as `3`, `0.5`, `.5`, `1e3` or `2.5E-2`. Implicit
//! multiplication (`2x1`) is not supported.
//!
//! Whitespace separates tokens and is otherwise ignored; it never joins them,
//! so `x1 2` is an error (two operands in a row), not `x12`.
//!
//! # Canonical spelling
//!
//! [`Expr::canonical`] (and [`Display`](fmt::Display)) prints the parsed tree
//! back as text; a run's key holds this spelling, so `x1 * x2` and `x1*x2`
//! name the same runs. It has no whitespace, numbers spelled exactly as in the
//! source (`1e3` stays `1e3`, `0.50` stays `0.50`), no unary `+`, and the
//! fewest parentheses that keep the tree: `(x1)*(x2)` and `(x1*x2)*x3` print
//! as `x1*x2` and `x1*x2*x3` (the same operations in the same order), while
//! `x1*(x2*x3)`, `x1-(x2-x3)`, `x1/(x2*x3)` and `(x1^x2)^x3` keep theirs. Any
//! text without whitespace, unary `+` or redundant parentheses is its own
//! canonical spelling, which keeps the keys of existing results files (all the
//! paper's functions among them).

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

/// Nesting limit for parentheses, unary signs and exponents. The parser and
/// the evaluator are recursive, so without a bound a hostile input such as a
/// million `(` would overflow the stack instead of producing an error.
const MAX_DEPTH: usize = 256;

/// The highest variable index an expression may use: `x1000`, so at most 1000
/// network inputs.
///
/// A run's memory and time grow with its input count (the first layer's
/// weights, every data row), and the index arrives as user text, so without a
/// cap `x18446744073709551615` would overflow the size arithmetic and
/// `x1000000` would ask for gigabytes. 1000 inputs is far beyond the paper's 4
/// and still trains in memory.
pub const MAX_VARIABLES: usize = 1000;

/// The most outputs a target may have ([`parse_outputs`]): each adds a network output and a
/// target per row, and the count arrives as user text.
pub const MAX_OUTPUTS: usize = 64;

/// Widest excerpt of the source an error shows, in displayed characters (an
/// escaped control character counts as the width of its escape).
const EXCERPT_WIDTH: usize = 60;

/// Longest token text (a name, a number) quoted inside an error message, in
/// characters; longer ones are cut with an ellipsis.
const TOKEN_WIDTH: usize = 24;

/// Text used in every "missing operand" message.
const EXPECTED_OPERAND: &str = "expected a number, a variable x1..xn or '('";

/// A parsed arithmetic expression over the variables `x1..xn`.
///
/// Build one with [`Expr::parse`] or [`str::parse`];
/// [`Display`](fmt::Display) prints the [canonical
/// spelling](Expr::canonical). Two expressions are equal when their parsed
/// trees are, whatever the whitespace or redundant parentheses of their
/// sources.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    root: Node,
    n_vars: usize,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        // The source's spelling is not part of the expression; `n_vars`
        // follows from the tree.
        self.root == other.root
    }
}

/// Error returned when an expression cannot be parsed.
///
/// Renders on one line, e.g.
/// `invalid expression "x1*" at column 4: missing operand after '*': expected
/// a number, a variable x1..xn or '(' (found end of input)`. A source longer
/// than about 60 characters is shown as an excerpt around the column, marked
/// with `…` and with the columns shown, e.g. `invalid expression "…x1+$+x1…"
/// at column 65002 (columns 64972-65031 of 130003 shown): ...`. Control
/// characters and other characters a terminal could interpret are shown as
/// escapes such as `\u{1b}`, never raw.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ExprError {
    /// The expression text that failed to parse, as given (columns refer to
    /// this text).
    pub source_text: String,
    /// 1-based column, counted in characters, where the problem was found.
    /// One past the last character means "at the end of the input".
    pub column: usize,
    /// Human-readable description of the problem.
    pub message: String,
}

impl ExprError {
    /// This error as the library's [`Error`](crate::Error), naming where the
    /// expression came from, e.g. `--function` or `--functions (element 2)`.
    ///
    /// ```
    /// use logexp::expr::Expr;
    ///
    /// let err = Expr::parse("x1 2").unwrap_err().for_flag("--function");
    /// assert!(err.to_string().starts_with("invalid --function: "));
    /// assert!(err.is_usage());
    /// ```
    pub fn for_flag(self, flag: impl Into<String>) -> crate::Error {
        crate::Error::InvalidExpression {
            flag: flag.into(),
            source: self,
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.source_text.chars().collect();
        let excerpt = Excerpt::around(&chars, self.column);
        write!(
            f,
            "invalid expression \"{}\" at column {}",
            excerpt.text, self.column
        )?;
        if !excerpt.whole {
            write!(
                f,
                " (columns {}-{} of {} shown)",
                excerpt.first,
                excerpt.last,
                chars.len()
            )?;
        }
        // The message is ours, but the fields are public: escape it too.
        let mut message = String::new();
        for c in self.message.chars() {
            push_shown(&mut message, c, false);
        }
        write!(f, ": {message}")
    }
}

/// Appends `c` as it is shown in messages: printable characters as they are,
/// anything else (control characters such as ESC, which would start a
/// terminal escape sequence, line breaks, bidirectional overrides, ...) as
/// Rust's escape for it, e.g. `\u{1b}`. Inside a double-quoted excerpt
/// (`quoted`), `"` and `\` are escaped too, as `{:?}` would.
fn push_shown(out: &mut String, c: char, quoted: bool) {
    match c {
        '"' | '\\' if quoted => {
            out.push('\\');
            out.push(c);
        }
        '"' | '\\' | '\'' => out.push(c),
        _ => {
            let escaped = c.escape_debug();
            if escaped.len() == 1 {
                out.push(c);
            } else {
                out.extend(escaped);
            }
        }
    }
}

/// Width of `c` as shown inside a quoted excerpt.
fn shown_width(c: char) -> usize {
    match c {
        '"' | '\\' => 2,
        _ => c.escape_debug().len(),
    }
}

/// `text` as shown inside a message: escaped like [`push_shown`] and cut to
/// its first [`TOKEN_WIDTH`] characters with an ellipsis, so that a
/// 100,000-digit number or name cannot make a message long.
pub(crate) fn short_text(text: &str) -> String {
    shortened(text, TOKEN_WIDTH)
}

/// `text` escaped like [`push_shown`] and cut to its first `max_chars`
/// characters with an ellipsis.
pub(crate) fn shortened(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        push_shown(&mut out, c, false);
    }
    out
}

/// The part of a source shown in an error.
struct Excerpt {
    /// Escaped text, with `…` where it was cut.
    text: String,
    /// First and last column shown (1-based; `last` < `first` if nothing is).
    first: usize,
    last: usize,
    /// Whether the whole source is shown.
    whole: bool,
}

impl Excerpt {
    /// At most about [`EXCERPT_WIDTH`] displayed characters of `chars` around
    /// `column`: the whole text if it fits, otherwise a window that grows
    /// from the column both ways until the width is used up.
    fn around(chars: &[char], column: usize) -> Excerpt {
        let len = chars.len();
        let fits = chars
            .iter()
            .try_fold(0usize, |width, &c| {
                let width = width + shown_width(c);
                (width <= EXCERPT_WIDTH + 10).then_some(width)
            })
            .is_some();
        let (lo, hi) = if fits {
            (0, len)
        } else {
            // The character at the column (or the end of the input) first,
            // then one more on each side while the width allows.
            let center = column.saturating_sub(1).min(len);
            let (mut lo, mut hi, mut width) = (center, center, 0);
            loop {
                let mut grew = false;
                if hi < len && width + shown_width(chars[hi]) <= EXCERPT_WIDTH {
                    width += shown_width(chars[hi]);
                    hi += 1;
                    grew = true;
                }
                if lo > 0 && width + shown_width(chars[lo - 1]) <= EXCERPT_WIDTH {
                    lo -= 1;
                    width += shown_width(chars[lo]);
                    grew = true;
                }
                if !grew {
                    break;
                }
            }
            (lo, hi)
        };
        let mut text = String::new();
        if lo > 0 {
            text.push('…');
        }
        for &c in &chars[lo..hi] {
            push_shown(&mut text, c, true);
        }
        if hi < len {
            text.push('…');
        }
        Excerpt {
            text,
            first: lo + 1,
            last: hi,
            whole: lo == 0 && hi == len,
        }
    }
}

impl Expr {
    /// Parses an expression such as `x1*x2/10`.
    ///
    /// Whitespace separates tokens and is otherwise ignored; error columns are
    /// 1-based character positions in `source` as given.
    ///
    /// # Errors
    ///
    /// Returns an [`ExprError`] pointing at the offending column for empty
    /// input, unknown characters or names, malformed numbers or variables,
    /// variables past [`MAX_VARIABLES`], missing operands or operators (two
    /// operands in a row, also when only whitespace separates them),
    /// unbalanced parentheses, and nesting deeper than 256 levels.
    ///
    /// # Examples
    ///
    /// ```
    /// use logexp::expr::Expr;
    ///
    /// let f = Expr::parse("x1*(x2+x3)+x4")?;
    /// assert_eq!(f.n_vars(), 4);
    /// assert_eq!(f.eval(&[2.0, 3.0, 4.0, 5.0]), 19.0);
    ///
    /// // `^` binds tighter than unary minus and is right-associative.
    /// assert_eq!(Expr::parse("-2^3^2")?.eval(&[]), -512.0);
    ///
    /// let err = Expr::parse("x1*").unwrap_err();
    /// assert_eq!(err.column, 4);
    /// assert!(err.message.contains("missing operand"));
    ///
    /// // A space never joins two tokens.
    /// assert_eq!(Expr::parse("x1 2").unwrap_err().column, 4);
    /// # Ok::<(), logexp::expr::ExprError>(())
    /// ```
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let tokens = lex(source)?;
        if tokens.is_empty() {
            return Err(error(
                source,
                1,
                "empty expression: expected a formula such as x1*x2".to_string(),
            ));
        }
        let mut parser = Parser {
            source,
            end_col: source.chars().count() + 1,
            tokens,
            pos: 0,
            n_vars: 0,
        };
        let root = parser.sum(0)?;
        if parser.pos < parser.tokens.len() {
            return Err(parser.unexpected_after_operand());
        }
        Ok(Expr {
            source: source.trim().to_string(),
            root,
            n_vars: parser.n_vars,
        })
    }

    /// Number of model inputs: the highest variable index used (`x3` alone
    /// gives 3), or 0 if the expression has no variables. At most
    /// [`MAX_VARIABLES`].
    pub fn n_vars(&self) -> usize {
        self.n_vars
    }

    /// Evaluates the expression with `x[0]` as `x1`, `x[1]` as `x2`, ...
    ///
    /// The caller must pass at least [`n_vars`](Expr::n_vars) values (checked
    /// by a debug assertion; in release builds a missing value reads as NaN
    /// rather than panicking). Division by zero and similar produce
    /// infinities or NaN, so callers should check the result is finite.
    pub fn eval(&self, x: &[f64]) -> f64 {
        debug_assert!(
            x.len() >= self.n_vars,
            "expression {:?} needs {} inputs, got {}",
            self.source,
            self.n_vars,
            x.len()
        );
        self.root.eval(x)
    }

    /// Evaluates the expression on every row of `records` (row-major,
    /// `n_features` inputs per row, each widened to `f64`), writing row `r`'s
    /// value to `out[r]`. The same operations in the same order as
    /// [`Expr::eval`] on each row, so the same bits, but node by node over all
    /// rows, which spares the tree walk per row.
    ///
    /// ```
    /// use logexp::expr::Expr;
    /// let e = Expr::parse("x1*(x2+3)^2").unwrap();
    /// let mut out = [0.0; 2];
    /// e.eval_rows(&[2.0, 1.0, 0.5, -3.0], 2, &mut out);
    /// assert_eq!(out, [e.eval(&[2.0, 1.0]), e.eval(&[0.5, -3.0])]);
    /// assert_eq!(out, [32.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// If `records` does not hold `out.len()` rows of `n_features`.
    pub fn eval_rows(&self, records: &[f32], n_features: usize, out: &mut [f64]) {
        assert_eq!(
            records.len(),
            out.len() * n_features,
            "eval_rows needs {} rows of {n_features} inputs",
            out.len()
        );
        self.root.eval_rows(records, n_features, out);
    }

    /// The source text as given to [`Expr::parse`], trimmed of surrounding
    /// whitespace.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The canonical spelling, printed from the parsed tree (see the [module
    /// documentation](self#canonical-spelling)): no whitespace, numbers as
    /// written, the fewest parentheses. It parses back to an equal expression
    /// that evaluates to identical bits, and is its own canonical spelling.
    ///
    /// ```
    /// use logexp::expr::Expr;
    ///
    /// let canonical = |s: &str| Expr::parse(s).unwrap().canonical();
    /// assert_eq!(canonical(" x1 * ( x2 + x3 ) + x4 "), "x1*(x2+x3)+x4");
    /// assert_eq!(canonical("(x1)*(x2)/1e3"), "x1*x2/1e3");
    /// assert_eq!(canonical("x1*(x2*x3)"), "x1*(x2*x3)");
    /// ```
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.root.write(&mut out);
        out
    }
}

impl FromStr for Expr {
    type Err = ExprError;

    /// Same as [`Expr::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expr::parse(s)
    }
}

impl fmt::Display for Expr {
    /// Prints [`Expr::canonical`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Parses a target with one or more outputs: expressions separated by `;`, such as
/// `x1+x2; x1*x2` (a network with two outputs, trained jointly). Text without `;` gives the
/// one expression [`Expr::parse`] gives.
///
/// Error columns are 1-based character positions in `source` as given, whichever output is at
/// fault; an empty output is an error at its place.
///
/// ```
/// use logexp::expr::{canonical_outputs, parse_outputs};
///
/// let outputs = parse_outputs("x1 + x2; x1*x2")?;
/// assert_eq!(outputs.len(), 2);
/// assert_eq!(outputs[1].eval(&[3.0, 4.0]), 12.0);
/// assert_eq!(canonical_outputs(&outputs), "x1+x2;x1*x2");
///
/// let err = parse_outputs("x1;;x2").unwrap_err();
/// assert_eq!(err.column, 4);
/// assert_eq!(parse_outputs("x1;x2*").unwrap_err().column, 7);
/// # Ok::<(), logexp::expr::ExprError>(())
/// ```
pub fn parse_outputs(source: &str) -> Result<Vec<Expr>, ExprError> {
    let mut outputs = Vec::new();
    // Character column (0-based) where the current output's text starts.
    let mut start_col = 0;
    for (i, piece) in source.split(';').enumerate() {
        let width = piece.chars().count();
        if i == MAX_OUTPUTS {
            return Err(error(
                source,
                start_col + 1,
                format!(
                    "more than {MAX_OUTPUTS} outputs: a target has at most {MAX_OUTPUTS} expressions separated by ';'"
                ),
            ));
        }
        if source.contains(';') && piece.trim().is_empty() {
            return Err(error(
                source,
                start_col + 1,
                format!(
                    "output {} is empty: put an expression between the ';' separators (e.g. x1+x2;x1*x2)",
                    i + 1
                ),
            ));
        }
        let parsed = Expr::parse(piece).map_err(|e| ExprError {
            source_text: source.to_string(),
            column: start_col + e.column,
            message: e.message,
        })?;
        outputs.push(parsed);
        start_col += width + 1;
    }
    Ok(outputs)
}

/// The inputs a network needs for `outputs`: the highest variable index of any of them, and
/// at least 1 (a constant target still has one input).
///
/// ```
/// use logexp::expr::{n_inputs, parse_outputs};
/// assert_eq!(n_inputs(&parse_outputs("x1+x2;x3").unwrap()), 3);
/// assert_eq!(n_inputs(&parse_outputs("2").unwrap()), 1);
/// ```
pub fn n_inputs(outputs: &[Expr]) -> usize {
    outputs.iter().map(Expr::n_vars).max().unwrap_or(0).max(1)
}

/// The canonical spelling of a target with several outputs: each output's
/// [`Expr::canonical`], joined by `;` (no spaces). One output prints as itself, so
/// single-output keys are unchanged.
pub fn canonical_outputs(outputs: &[Expr]) -> String {
    let spelled: Vec<String> = outputs.iter().map(Expr::canonical).collect();
    spelled.join(";")
}

/// The canonical spelling ([`Expr::canonical`]) of the expression `source`,
/// or `source` unchanged if it does not parse, so that the caller's later
/// [`Expr::parse`] reports the error with its columns in the text as given.
///
/// Front ends that can name their flag should parse themselves instead:
/// `Expr::parse(text).map_err(|e| e.for_flag("--function"))?.canonical()`.
///
/// ```
/// use logexp::expr::canonical;
///
/// assert_eq!(canonical("x1 * x2"), "x1*x2");
/// // Never edited into something else: `x1 2` is not `x12`.
/// assert_eq!(canonical("x1 2"), "x1 2");
/// ```
pub fn canonical(source: &str) -> String {
    Expr::parse(source).map_or_else(|_| source.to_string(), |e| e.canonical())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
        }
    }

    fn is_additive(self) -> bool {
        matches!(self, BinOp::Add | BinOp::Sub)
    }

    fn symbol(self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A literal's value and its spelling in the source, which the canonical
    /// spelling keeps (`1e3` must not become `1000`: run keys hold it).
    Num(f64, Box<str>),
    /// Zero-based index into the input row.
    Var(usize),
    Neg(Box<Node>),
    /// `first op1 rhs1 op2 rhs2 ...` folded left to right, all operators of
    /// one level (additive or multiplicative). Kept flat rather than as
    /// nested binary nodes so that a long sum like `x1+x1+...+x1` does not
    /// produce a deep tree (recursion in eval, drop and clone); never holds a
    /// chain of its own level as `first` (see [`chain`]).
    Chain(Box<Node>, Vec<(BinOp, Node)>),
    Pow(Box<Node>, Box<Node>),
    /// A function applied to its parenthesised argument.
    Call(Func, Box<Node>),
}

/// The functions an expression may call: the paper's activations, so that an lg network can
/// be written out exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `sign(v) · ln(1 + |v|)`.
    Symlog,
    /// `sign(v) · (e^|v| − 1)`.
    Symexp,
}

impl Func {
    /// The function's value at `v` (in `f64`, as expressions are evaluated).
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Func::Symlog => v.signum() * v.abs().ln_1p(),
            Func::Symexp => v.signum() * v.abs().exp_m1(),
        }
    }

    /// The function's name as expressions spell it.
    pub fn name(self) -> &'static str {
        match self {
            Func::Symlog => "symlog",
            Func::Symexp => "symexp",
        }
    }
}

impl Node {
    fn eval(&self, x: &[f64]) -> f64 {
        match self {
            Node::Num(v, _) => *v,
            Node::Var(i) => x.get(*i).copied().unwrap_or(f64::NAN),
            Node::Neg(a) => -a.eval(x),
            Node::Chain(first, rest) => rest
                .iter()
                .fold(first.eval(x), |acc, (op, rhs)| op.apply(acc, rhs.eval(x))),
            Node::Pow(base, exp) => base.eval(x).powf(exp.eval(x)),
            Node::Call(f, a) => f.apply(a.eval(x)),
        }
    }

    /// [`Node::eval`] on every row of `records` at once (see
    /// [`Expr::eval_rows`]).
    fn eval_rows(&self, records: &[f32], n_features: usize, out: &mut [f64]) {
        match self {
            Node::Num(v, _) => out.fill(*v),
            Node::Var(i) if *i < n_features => {
                for (o, row) in out.iter_mut().zip(records.chunks_exact(n_features)) {
                    *o = f64::from(row[*i]);
                }
            }
            Node::Var(_) => out.fill(f64::NAN),
            Node::Neg(a) => {
                a.eval_rows(records, n_features, out);
                out.iter_mut().for_each(|o| *o = -*o);
            }
            Node::Chain(first, rest) => {
                first.eval_rows(records, n_features, out);
                let mut rhs_values = vec![0.0; out.len()];
                for (op, rhs) in rest {
                    rhs.eval_rows(records, n_features, &mut rhs_values);
                    let pairs = out.iter_mut().zip(&rhs_values);
                    // One loop per operator, so that none decides per row.
                    match op {
                        BinOp::Add => pairs.for_each(|(o, &b)| *o += b),
                        BinOp::Sub => pairs.for_each(|(o, &b)| *o -= b),
                        BinOp::Mul => pairs.for_each(|(o, &b)| *o *= b),
                        BinOp::Div => pairs.for_each(|(o, &b)| *o /= b),
                    }
                }
            }
            Node::Pow(base, exp) => {
                base.eval_rows(records, n_features, out);
                let mut exponents = vec![0.0; out.len()];
                exp.eval_rows(records, n_features, &mut exponents);
                for (o, &e) in out.iter_mut().zip(&exponents) {
                    *o = o.powf(e);
                }
            }
            Node::Call(f, a) => {
                a.eval_rows(records, n_features, out);
                out.iter_mut().for_each(|o| *o = f.apply(*o));
            }
        }
    }

    /// How tightly the node binds, as the grammar's levels: 1 sum, 2 product,
    /// 3 unary minus, 4 power, 5 operand.
    fn level(&self) -> u8 {
        match self {
            Node::Chain(_, rest) => first_level(rest),
            Node::Neg(_) => 3,
            Node::Pow(..) => 4,
            Node::Num(..) | Node::Var(_) | Node::Call(..) => 5,
        }
    }

    /// Appends the canonical spelling: each child in parentheses exactly when
    /// the grammar would not read it back as that child at its place.
    fn write(&self, out: &mut String) {
        match self {
            Node::Num(_, text) => out.push_str(text),
            Node::Var(i) => {
                let _ = write!(out, "x{}", i + 1);
            }
            Node::Neg(operand) => {
                out.push('-');
                // The operand of a sign is a `unary`: another sign, a power
                // or an operand.
                operand.write_in(out, operand.level() < 3);
            }
            Node::Chain(first, rest) => {
                let level = self.level();
                // A same-level `first` cannot occur (chains are flattened),
                // so this only brackets sums inside products.
                first.write_in(out, first.level() < level);
                for (op, rhs) in rest {
                    out.push(op.symbol());
                    // Left-associative: a same-level right operand needs
                    // parentheses (x1-(x2-x3), x1*(x2*x3)).
                    rhs.write_in(out, rhs.level() <= level);
                }
            }
            Node::Pow(base, exponent) => {
                // The base is a `primary`; the exponent a `unary`, which
                // makes `^` right-associative and allows `2^-1`.
                base.write_in(out, base.level() < 5);
                out.push('^');
                exponent.write_in(out, exponent.level() < 3);
            }
            Node::Call(f, argument) => {
                out.push_str(f.name());
                argument.write_in(out, true);
            }
        }
    }

    fn write_in(&self, out: &mut String, parenthesised: bool) {
        if parenthesised {
            out.push('(');
            self.write(out);
            out.push(')');
        } else {
            self.write(out);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Num(f64),
    /// 1-based, as written.
    Var(usize),
    Func(Func),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
}

impl Tok {
    fn is_operator(self) -> bool {
        matches!(
            self,
            Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Caret
        )
    }

    fn starts_operand(self) -> bool {
        matches!(self, Tok::Num(_) | Tok::Var(_) | Tok::Func(_) | Tok::LParen)
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character column of the first character.
    col: usize,
    text: String,
}

impl Token {
    fn describe(&self) -> String {
        match self.tok {
            Tok::Num(_) => format!("number {}", short_text(&self.text)),
            Tok::Var(_) => format!("variable {}", short_text(&self.text)),
            Tok::Func(f) => format!("function {}", f.name()),
            _ => format!("'{}'", self.text),
        }
    }
}

fn describe(token: Option<&Token>) -> String {
    token.map_or_else(|| "end of input".to_string(), Token::describe)
}

fn error(source: &str, column: usize, message: String) -> ExprError {
    ExprError {
        source_text: source.to_string(),
        column,
        message,
    }
}

fn lex(source: &str) -> Result<Vec<Token>, ExprError> {
    // Work on chars so that columns are character positions, not bytes.
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let single = match c {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            _ => None,
        };
        let (tok, len) = if let Some(tok) = single {
            (tok, 1)
        } else if c.is_ascii_digit() || c == '.' {
            lex_number(source, &chars[i..], col)?
        } else if c.is_alphabetic() || c == '_' {
            lex_name(source, &chars[i..], col)?
        } else {
            return Err(error(
                source,
                col,
                format!(
                    "unexpected character {c:?}: expected numbers, variables x1..xn, \
                     + - * / ^ or parentheses"
                ),
            ));
        };
        tokens.push(Token {
            tok,
            col,
            text: chars[i..i + len].iter().collect(),
        });
        i += len;
    }
    Ok(tokens)
}

/// Lexes a number starting at `s[0]`, returning the token and its length.
fn lex_number(source: &str, s: &[char], col: usize) -> Result<(Tok, usize), ExprError> {
    let mut len = s
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == '.')
        .count();
    let digits = s[..len].iter().filter(|c| c.is_ascii_digit()).count();
    let dots = len - digits;
    let text_of = |len: usize| s[..len].iter().collect::<String>();
    let malformed = |len: usize, why: &str| {
        error(
            source,
            col,
            format!("malformed number '{}': {why}", short_text(&text_of(len))),
        )
    };

    let mut has_exponent = false;
    if matches!(s.get(len), Some('e' | 'E')) {
        has_exponent = true;
        let mut k = len + 1;
        if matches!(s.get(k), Some('+' | '-')) {
            k += 1;
        }
        let exp_digits = s[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return Err(malformed(
                k,
                "the exponent needs digits, as in 1e3 or 2.5E-2",
            ));
        }
        len = k + exp_digits;
    }
    // Swallow obvious continuations such as the ".3" of "1.2.3" or "e4" of
    // "1e3e4" so the error shows the whole bad literal instead of a
    // confusing follow-up error about the leftover.
    let continues = |c: &char| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E');
    if matches!(s.get(len), Some('.')) || (has_exponent && matches!(s.get(len), Some('e' | 'E'))) {
        let extra = s[len..].iter().take_while(|c| continues(c)).count();
        let why = if dots + s[len..len + extra].iter().filter(|c| **c == '.').count() > 1 {
            "more than one decimal point"
        } else {
            "unexpected characters after the number"
        };
        return Err(malformed(len + extra, why));
    }
    if digits == 0 {
        return Err(malformed(len, "expected digits, as in 0.5 or .5"));
    }
    if dots > 1 {
        return Err(malformed(len, "more than one decimal point"));
    }
    let text = text_of(len);
    let value: f64 = text
        .parse()
        .map_err(|_| malformed(len, "not a valid decimal number"))?;
    if !value.is_finite() {
        return Err(malformed(len, "too large for a 64-bit float"));
    }
    Ok((Tok::Num(value), len))
}

/// Lexes a name starting at `s[0]`; only `x` followed by an integer from 1 to
/// [`MAX_VARIABLES`] is valid.
fn lex_name(source: &str, s: &[char], col: usize) -> Result<(Tok, usize), ExprError> {
    let len = s
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .count();
    let name: String = s[..len].iter().collect();
    let shown = short_text(&name);
    let fail = |message: String| Err(error(source, col, message));

    match name.as_str() {
        "symlog" => return Ok((Tok::Func(Func::Symlog), len)),
        "symexp" => return Ok((Tok::Func(Func::Symexp), len)),
        _ => {}
    }
    let Some(index) = name.strip_prefix('x') else {
        return fail(format!(
            "unknown name '{shown}': variables are x1, x2, ... and the functions are symlog(…) and symexp(…)"
        ));
    };
    if index.is_empty() {
        return fail(format!(
            "invalid variable '{shown}': a variable needs an index, as in x1, x2, ..."
        ));
    }
    if !index.chars().all(|c| c.is_ascii_digit()) {
        return fail(format!(
            "unknown name '{shown}': variables are x1, x2, ... and the functions are symlog(…) and symexp(…)"
        ));
    }
    if index.chars().all(|c| c == '0') {
        return fail(format!(
            "invalid variable '{shown}': variables start at x1 (x1, x2, ...)"
        ));
    }
    if index.starts_with('0') {
        // Rejected so that each variable has exactly one spelling.
        let trimmed = short_text(index.trim_start_matches('0'));
        return fail(format!(
            "invalid variable '{shown}': write x{trimmed} without leading zeros"
        ));
    }
    // Digits only, no leading zero: more digits than the cap's is above it,
    // and checking that first keeps the parse from overflowing.
    let max_digits = MAX_VARIABLES.to_string().len();
    match index.parse::<usize>() {
        Ok(i) if index.len() <= max_digits && i <= MAX_VARIABLES => Ok((Tok::Var(i), len)),
        _ => fail(format!(
            "invalid variable '{shown}': the index is above {MAX_VARIABLES}, the most inputs \
             a network may have (x1..x{MAX_VARIABLES})"
        )),
    }
}

struct Parser<'a> {
    source: &'a str,
    /// Column reported for errors at the end of the input.
    end_col: usize,
    tokens: Vec<Token>,
    pos: usize,
    n_vars: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_tok(&self) -> Option<Tok> {
        self.peek().map(|t| t.tok)
    }

    fn prev(&self) -> Option<&Token> {
        self.pos.checked_sub(1).map(|i| &self.tokens[i])
    }

    fn error(&self, column: usize, message: String) -> ExprError {
        error(self.source, column, message)
    }

    /// Returns the depth for one more level of nesting, or an error if that
    /// would exceed [`MAX_DEPTH`].
    fn deeper(&self, depth: usize, col: usize) -> Result<usize, ExprError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(
                col,
                format!(
                    "expression is nested too deeply (more than {MAX_DEPTH} levels of \
                     parentheses, signs or exponents)"
                ),
            ));
        }
        Ok(depth + 1)
    }

    fn sum(&mut self, depth: usize) -> Result<Node, ExprError> {
        let first = self.product(depth)?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek_tok() {
                Some(Tok::Plus) => BinOp::Add,
                Some(Tok::Minus) => BinOp::Sub,
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.product(depth)?));
        }
        Ok(chain(first, rest))
    }

    fn product(&mut self, depth: usize) -> Result<Node, ExprError> {
        let first = self.unary(depth)?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek_tok() {
                Some(Tok::Star) => BinOp::Mul,
                Some(Tok::Slash) => BinOp::Div,
                _ => break,
            };
            self.pos += 1;
            rest.push((op, self.unary(depth)?));
        }
        Ok(chain(first, rest))
    }

    fn unary(&mut self, depth: usize) -> Result<Node, ExprError> {
        let Some(token) = self.peek() else {
            return Err(self.missing_operand());
        };
        let negate = match token.tok {
            Tok::Minus => true,
            Tok::Plus => false,
            _ => return self.power(depth),
        };
        let depth = self.deeper(depth, token.col)?;
        self.pos += 1;
        let operand = self.unary(depth)?;
        Ok(if negate {
            Node::Neg(Box::new(operand))
        } else {
            operand
        })
    }

    fn power(&mut self, depth: usize) -> Result<Node, ExprError> {
        let base = self.primary(depth)?;
        match self.peek() {
            Some(token) if token.tok == Tok::Caret => {
                let depth = self.deeper(depth, token.col)?;
                self.pos += 1;
                // The exponent is a `unary`, which both allows `2^-1` and
                // makes `^` right-associative via the recursion.
                let exponent = self.unary(depth)?;
                Ok(Node::Pow(Box::new(base), Box::new(exponent)))
            }
            _ => Ok(base),
        }
    }

    fn primary(&mut self, depth: usize) -> Result<Node, ExprError> {
        let Some(token) = self.peek() else {
            return Err(self.missing_operand());
        };
        match token.tok {
            Tok::Num(v) => {
                let text = token.text.as_str().into();
                self.pos += 1;
                Ok(Node::Num(v, text))
            }
            Tok::Var(i) => {
                self.pos += 1;
                self.n_vars = self.n_vars.max(i);
                Ok(Node::Var(i - 1))
            }
            Tok::Func(f) => {
                let col = token.col;
                self.pos += 1;
                if self.peek_tok() != Some(Tok::LParen) {
                    return Err(self.error(
                        col,
                        format!(
                            "{} needs its argument in parentheses, as in {}(x1)",
                            f.name(),
                            f.name()
                        ),
                    ));
                }
                Ok(Node::Call(f, Box::new(self.primary(depth)?)))
            }
            Tok::LParen => {
                let open_col = token.col;
                let depth = self.deeper(depth, open_col)?;
                self.pos += 1;
                let inner = self.sum(depth)?;
                match self.peek_tok() {
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    None => Err(self.error(
                        self.end_col,
                        format!(
                            "unbalanced parentheses: '(' at column {open_col} is never \
                             closed (expected ')')"
                        ),
                    )),
                    Some(_) => Err(self.unexpected_after_operand()),
                }
            }
            _ => Err(self.missing_operand()),
        }
    }

    /// Error for the current token when an operand was required.
    fn missing_operand(&self) -> ExprError {
        let found = self.peek();
        let col = found.map_or(self.end_col, |t| t.col);
        let found_tok = found.map(|t| t.tok);
        let prefix = match (self.prev(), found_tok) {
            (Some(p), Some(Tok::RParen)) if p.tok == Tok::LParen => {
                return self.error(
                    col,
                    "empty parentheses '()': expected an expression between them".to_string(),
                );
            }
            (None, Some(Tok::RParen)) => {
                return self.error(
                    col,
                    "unbalanced parentheses: ')' has no matching '('".to_string(),
                );
            }
            (Some(p), _) if p.tok.is_operator() => format!("missing operand after '{}'", p.text),
            (_, Some(f)) if f.is_operator() => {
                format!("missing operand before '{}'", self.tokens[self.pos].text)
            }
            _ => "missing operand".to_string(),
        };
        self.error(
            col,
            format!("{prefix}: {EXPECTED_OPERAND} (found {})", describe(found)),
        )
    }

    /// Error for a token that follows a complete operand but cannot continue
    /// the expression (only called when such a token exists).
    fn unexpected_after_operand(&self) -> ExprError {
        let token = &self.tokens[self.pos];
        let message = if token.tok == Tok::RParen {
            "unbalanced parentheses: ')' has no matching '('".to_string()
        } else if token.tok.starts_operand() {
            format!(
                "missing operator before {}: two operands in a row (implicit \
                 multiplication is not supported; write '*' explicitly)",
                token.describe()
            )
        } else {
            format!("unexpected {}", token.describe())
        };
        self.error(token.col, message)
    }
}

/// A chain node, flattened: when `first` is a chain of the same level (it can
/// only be one written in parentheses, as in `(x1*x2)*x3`), its operands are
/// continued instead of nested. That computes the same operations in the same
/// order, so values are bit-identical, and it gives `(x1*x2)*x3` and
/// `x1*x2*x3` one tree and one canonical spelling.
fn chain(first: Node, mut rest: Vec<(BinOp, Node)>) -> Node {
    let Some(&(op, _)) = rest.first() else {
        return first;
    };
    let level = if op.is_additive() { 1 } else { 2 };
    match first {
        Node::Chain(inner_first, mut inner_rest) if first_level(&inner_rest) == level => {
            inner_rest.append(&mut rest);
            Node::Chain(inner_first, inner_rest)
        }
        first => Node::Chain(Box::new(first), rest),
    }
}

/// The level ([`Node::level`]) of a chain with these operands.
fn first_level(rest: &[(BinOp, Node)]) -> u8 {
    match rest.first() {
        Some((op, _)) if op.is_additive() => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(source: &str, x: &[f64]) -> f64 {
        Expr::parse(source)
            .unwrap_or_else(|e| panic!("{source:?} should parse: {e}"))
            .eval(x)
    }

    /// Asserts that `source` fails at `column` with a message containing
    /// every string in `needles`.
    fn assert_err(source: &str, column: usize, needles: &[&str]) -> ExprError {
        let err = match Expr::parse(source) {
            Ok(e) => panic!("{source:?} should fail but parsed as {e:?}"),
            Err(err) => err,
        };
        assert_eq!(err.column, column, "column for {source:?}: {err}");
        for needle in needles {
            assert!(
                err.message.contains(needle),
                "message for {source:?} should mention {needle:?}: {err}"
            );
        }
        let text = err.to_string();
        assert!(!text.contains('\n'), "error should be one line: {text}");
        err
    }

    #[test]
    fn precedence() {
        let x = [2.0, 3.0, 4.0];
        assert_eq!(ev("x1+x2*x3", &x), 14.0);
        assert_eq!(ev("(x1+x2)*x3", &x), 20.0);
        assert_eq!(ev("x1*x2+x3", &x), 10.0);
        assert_eq!(ev("x1+x2/x1", &x), 3.5);
        assert_eq!(ev("x1*x2^2", &x), 18.0);
        assert_eq!(ev("(x1*x2)^2", &x), 36.0);
        assert_eq!(ev("x3-x1*x2", &x), -2.0);
    }

    #[test]
    fn associativity() {
        assert_eq!(ev("2^3^2", &[]), 512.0);
        assert_eq!(ev("(2^3)^2", &[]), 64.0);
        assert_eq!(ev("8/4/2", &[]), 1.0);
        assert_eq!(ev("8-4-2", &[]), 2.0);
        assert_eq!(ev("8-4+2", &[]), 6.0);
        assert_eq!(ev("8/4*2", &[]), 4.0);
        assert_eq!(ev("x1/x2/x3", &[8.0, 4.0, 2.0]), 1.0);
    }

    #[test]
    fn unary_signs() {
        let x = [3.0, 5.0];
        assert_eq!(ev("-x1", &x), -3.0);
        assert_eq!(ev("-x1^2", &x), -9.0);
        assert_eq!(ev("(-x1)^2", &x), 9.0);
        assert_eq!(ev("2^-1", &[]), 0.5);
        assert_eq!(ev("2^-1^2", &[]), 0.5);
        assert_eq!(ev("x1*-x2", &x), -15.0);
        assert_eq!(ev("x1--x2", &x), 8.0);
        assert_eq!(ev("--x1", &x), 3.0);
        assert_eq!(ev("-+-x1", &x), 3.0);
        assert_eq!(ev("+x1", &x), 3.0);
        assert_eq!(ev("-x1*x2", &x), -15.0);
        assert_eq!(ev("-2^2", &[]), -4.0);
    }

    #[test]
    fn literals() {
        assert_eq!(ev("1e3", &[]), 1000.0);
        assert_eq!(ev("0.5", &[]), 0.5);
        assert_eq!(ev(".5", &[]), 0.5);
        assert_eq!(ev("2.5E-2", &[]), 0.025);
        assert_eq!(ev("1e+2", &[]), 100.0);
        assert_eq!(ev("3.", &[]), 3.0);
        assert_eq!(ev("007", &[]), 7.0);
    }

    #[test]
    fn whitespace_is_allowed_between_tokens() {
        assert_eq!(ev(" \t x1 *\n( x2 + 1 ) ", &[2.0, 3.0]), 8.0);
        assert_eq!(ev("- x1 ^ 2", &[3.0]), -9.0);
    }

    #[test]
    fn paper_functions() {
        let x = [1.5, 2.0, -3.0, 4.0];
        let (x1, x2, x3, x4) = (x[0], x[1], x[2], x[3]);
        let cases: [(&str, usize, f64); 7] = [
            ("x1*x2", 2, x1 * x2),
            ("x1*x2/10", 2, x1 * x2 / 10.0),
            ("x1*x2*x3", 3, x1 * x2 * x3),
            ("x1*x2*x3/100", 3, x1 * x2 * x3 / 100.0),
            ("x1*x2*x3*x4", 4, x1 * x2 * x3 * x4),
            ("x1*x2*x3*x4/1000", 4, x1 * x2 * x3 * x4 / 1000.0),
            ("x1*(x2+x3)+x4", 4, x1 * (x2 + x3) + x4),
        ];
        for (source, n_vars, expected) in cases {
            let e = Expr::parse(source).unwrap();
            assert_eq!(e.n_vars(), n_vars, "{source}");
            assert_eq!(e.eval(&x[..n_vars]), expected, "{source}");
        }
        // Also checked against literal values, in case both sides above were
        // wrong the same way.
        assert_eq!(ev("x1*x2*x3*x4", &x), -36.0);
        assert_eq!(ev("x1*(x2+x3)+x4", &x), 2.5);
    }

    #[test]
    fn n_vars_is_highest_index() {
        assert_eq!(Expr::parse("3").unwrap().n_vars(), 0);
        assert_eq!(Expr::parse("x3").unwrap().n_vars(), 3);
        assert_eq!(Expr::parse("x10+x2").unwrap().n_vars(), 10);
        let mut x = [0.0; 10];
        x[9] = 7.0;
        assert_eq!(ev("x10", &x), 7.0);
    }

    #[test]
    fn division_by_zero_is_not_an_error() {
        assert_eq!(ev("x1/x2", &[1.0, 0.0]), f64::INFINITY);
        assert!(ev("0/0", &[]).is_nan());
    }

    #[test]
    fn source_display_and_from_str() {
        let e: Expr = "  x1 + x2 \n".parse().unwrap();
        assert_eq!(e.source(), "x1 + x2");
        // Display is the canonical spelling, and equality ignores spelling.
        assert_eq!(e.to_string(), "x1+x2");
        assert_eq!(e, Expr::parse("(x1)+(x2)").unwrap());
        assert_ne!(e, Expr::parse("x2+x1").unwrap());
    }

    #[test]
    fn error_display_format() {
        let err = Expr::parse("x1*").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid expression \"x1*\" at column 4: missing operand after '*': expected \
             a number, a variable x1..xn or '(' (found end of input)"
        );
        assert_eq!(err.source_text, "x1*");
        // Newlines inside the source are escaped so the message stays on one line.
        assert!(!Expr::parse("x1\n*").unwrap_err().to_string().contains('\n'));
    }

    #[test]
    fn error_empty() {
        assert_err("", 1, &["empty"]);
        assert_err("   \t", 1, &["empty"]);
    }

    #[test]
    fn error_unexpected_character() {
        assert_err("x1 + $", 6, &["unexpected character '$'"]);
        assert_err("x1 × x2", 4, &["unexpected character '×'"]);
        assert_err("x1, x2", 3, &["unexpected character ','"]);
    }

    #[test]
    fn error_columns_count_characters_not_bytes() {
        // U+3000 is a 3-byte whitespace character: the end of input is
        // character column 5 but byte column 7.
        assert_err("x1\u{3000}*", 5, &["end of input"]);
    }

    #[test]
    fn error_bad_variable() {
        assert_err("x0", 1, &["'x0'", "start at x1"]);
        assert_err("x1+x00", 4, &["start at x1"]);
        assert_err("x", 1, &["'x'", "x1, x2"]);
        assert_err("2*x+1", 3, &["'x'", "index"]);
        assert_err("y1", 1, &["unknown name 'y1'", "x1, x2"]);
        assert_err("x1+sin(x2)", 4, &["unknown name 'sin'", "functions"]);
        assert_err("x1a", 1, &["unknown name 'x1a'"]);
        assert_err("x01", 1, &["leading zeros", "x1"]);
        assert_err("x99999999999999999999999", 1, &["above 1000", "x1..x1000"]);
    }

    #[test]
    fn error_malformed_number() {
        assert_err("1e", 1, &["malformed number '1e'", "exponent"]);
        assert_err("x1*1e+", 4, &["malformed number '1e+'", "exponent"]);
        assert_err("1.2.3", 1, &["malformed number '1.2.3'", "decimal point"]);
        assert_err("1e3.5", 1, &["malformed number '1e3.5'"]);
        assert_err("1e3e4", 1, &["malformed number '1e3e4'"]);
        assert_err("x1+.", 4, &["malformed number '.'", "digits"]);
        assert_err("1e999", 1, &["malformed number '1e999'", "too large"]);
    }

    #[test]
    fn error_missing_operand() {
        assert_err(
            "x1*",
            4,
            &["missing operand after '*'", "found end of input"],
        );
        assert_err("*x1", 1, &["missing operand before '*'", "found '*'"]);
        assert_err("x1+)", 4, &["missing operand after '+'", "found ')'"]);
        assert_err("x1*/x2", 4, &["missing operand after '*'", "found '/'"]);
        assert_err("(^2)", 2, &["missing operand before '^'"]);
        assert_err("-", 2, &["missing operand after '-'"]);
        assert_err("2^", 3, &["missing operand after '^'"]);
    }

    #[test]
    fn error_unbalanced_parentheses() {
        assert_err("(x1+x2", 7, &["unbalanced", "column 1", "never closed"]);
        assert_err("((x1)", 6, &["unbalanced", "never closed"]);
        assert_err("(", 2, &["missing operand"]);
        assert_err("x1)", 3, &["unbalanced", "no matching '('"]);
        assert_err(")", 1, &["unbalanced", "no matching '('"]);
        assert_err("(x1))", 5, &["unbalanced", "no matching '('"]);
    }

    #[test]
    fn error_empty_parentheses() {
        assert_err("()", 2, &["empty parentheses"]);
        assert_err("x1*( )", 6, &["empty parentheses"]);
    }

    #[test]
    fn error_two_operands_in_a_row() {
        assert_err("x1 x2", 4, &["two operands in a row", "variable x2"]);
        assert_err("2x1", 2, &["implicit multiplication", "variable x1"]);
        assert_err("(x1)(x2)", 5, &["two operands in a row", "'('"]);
        assert_err("(x1 2)", 5, &["two operands in a row", "number 2"]);
        assert_err("x1 + x2 3", 9, &["two operands in a row", "number 3"]);
    }

    #[test]
    fn nesting_limit() {
        let ok = format!("{}x1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(ev(&ok, &[2.0]), 2.0);

        let n = MAX_DEPTH + 1;
        let too_deep = format!("{}x1{}", "(".repeat(n), ")".repeat(n));
        assert_err(&too_deep, n, &["nested too deeply"]);

        // Far past the limit: must be an error, not a stack overflow.
        assert_err(&"(".repeat(100_000), MAX_DEPTH + 1, &["nested too deeply"]);
        assert_err(
            &format!("{}x1", "-".repeat(100_000)),
            MAX_DEPTH + 1,
            &["nested too deeply"],
        );
        let pow_chain = format!("{}2", "2^".repeat(100_000));
        assert_err(&pow_chain, 2 * MAX_DEPTH + 2, &["nested too deeply"]);
    }

    #[test]
    fn long_flat_chains_are_fine() {
        let sum = format!("{}x1", "x1+".repeat(100_000));
        assert_eq!(ev(&sum, &[1.0]), 100_001.0);
        let product = format!("{}x1", "x1*".repeat(100_000));
        assert_eq!(ev(&product, &[1.0]), 1.0);
    }

    #[test]
    fn whitespace_separates_tokens_and_never_joins_them() {
        // The old front end deleted spaces first: `x1 2` became `x12`.
        assert_err("x1 2", 4, &["two operands in a row", "number 2"]);
        assert_err("x1 * x2 3", 9, &["two operands in a row", "number 3"]);
        assert_err("1 .5", 3, &["two operands in a row"]);
        assert_err("x 1", 1, &["'x'", "index"]);
        assert_err("1 e3", 3, &["unknown name 'e3'"]);
        // Columns count in the text as given, surrounding whitespace included.
        assert_err("  x1 2", 6, &["number 2"]);
        assert_err("\tx1*", 5, &["end of input"]);
        assert_err("x1* ", 5, &["end of input"]);
        assert_eq!(Expr::parse("  x1 2").unwrap_err().source_text, "  x1 2");
    }

    #[test]
    fn canonical_spelling() {
        let cases = [
            // Whitespace goes; numbers keep their spelling.
            (" x1 * x2 / 10 ", "x1*x2/10"),
            ("x1*1e3", "x1*1e3"),
            ("0.50*x1", "0.50*x1"),
            (".5+3.+007+2.5E-2+1e+2", ".5+3.+007+2.5E-2+1e+2"),
            // Redundant parentheses and unary plus go.
            ("(x1)*(x2)", "x1*x2"),
            ("((x1*x2))", "x1*x2"),
            ("(x1*x2)*x3", "x1*x2*x3"),
            ("(x1/x2)/x3", "x1/x2/x3"),
            ("(x1-x2)-x3", "x1-x2-x3"),
            ("(x1-x2)+x3", "x1-x2+x3"),
            ("x1+(x2*x3)", "x1+x2*x3"),
            ("(x1*(x2+x3))+x4", "x1*(x2+x3)+x4"),
            ("x1^(x2^x3)", "x1^x2^x3"),
            ("-(x1^2)", "-x1^2"),
            ("2^(-1)", "2^-1"),
            ("x1*(-x2)", "x1*-x2"),
            ("x1-(-x2)", "x1--x2"),
            ("-(-x1)", "--x1"),
            ("(-x1)*x2", "-x1*x2"),
            ("+x1", "x1"),
            ("x1*+x2", "x1*x2"),
            // Needed parentheses stay.
            ("x1*(x2*x3)", "x1*(x2*x3)"),
            ("x1/(x2*x3)", "x1/(x2*x3)"),
            ("x1/(x2/x3)", "x1/(x2/x3)"),
            ("x1-(x2-x3)", "x1-(x2-x3)"),
            ("x1-(x2+x3)", "x1-(x2+x3)"),
            ("x1+(x2+x3)", "x1+(x2+x3)"),
            ("(x1+x2)*(x3+x4)", "(x1+x2)*(x3+x4)"),
            ("(x1^x2)^x3", "(x1^x2)^x3"),
            ("x1^x2^x3", "x1^x2^x3"),
            ("(-x1)^2", "(-x1)^2"),
            ("-(x1*x2)", "-(x1*x2)"),
            ("2^(x1+1)", "2^(x1+1)"),
            ("2^-(x1+1)", "2^-(x1+1)"),
        ];
        for (source, want) in cases {
            let e = Expr::parse(source).unwrap_or_else(|err| panic!("{source}: {err}"));
            assert_eq!(e.canonical(), want, "canonical of {source:?}");
            assert_eq!(e.to_string(), want);
            assert_eq!(canonical(source), want);
            // Idempotent, and the same tree.
            let again = Expr::parse(want).unwrap();
            assert_eq!(again.canonical(), want);
            assert_eq!(again, e, "{source:?}");
            let x = [1.25, -2.5, 3.0, 0.75];
            assert_eq!(again.eval(&x).to_bits(), e.eval(&x).to_bits(), "{source:?}");
        }
    }

    #[test]
    fn the_protocol_functions_keep_their_spelling() {
        // Their spelling is in every existing results file's keys.
        let mut all: Vec<String> = crate::protocol::PAPER_FUNCTIONS
            .iter()
            .map(|f| f.to_string())
            .collect();
        all.extend(crate::protocol::reproduce_functions());
        assert!(all.contains(&"x1*x2*x3*x4/1000".to_string()));
        for f in &all {
            assert_eq!(&Expr::parse(f).unwrap().canonical(), f);
            assert_eq!(&canonical(f), f);
        }
    }

    #[test]
    fn canonical_leaves_text_that_does_not_parse_as_it_is() {
        assert_eq!(canonical("x1 2"), "x1 2");
        assert_eq!(canonical(" x1* "), " x1* ");
    }

    #[test]
    fn variable_indices_are_capped() {
        assert_eq!(Expr::parse("x1000").unwrap().n_vars(), MAX_VARIABLES);
        assert_eq!(MAX_VARIABLES, 1000);
        assert_err("x1001", 1, &["'x1001'", "above 1000"]);
        assert_err("x1*x1001", 4, &["above 1000"]);
        // Past usize: an error, not a wrapped index or an overflow.
        assert_err("x18446744073709551615", 1, &["above 1000"]);
        assert_err("x18446744073709551616", 1, &["above 1000"]);
        let thirty = format!("x{}", "9".repeat(30));
        assert_err(&thirty, 1, &["above 1000"]);
        // A huge index is echoed shortened.
        let err = assert_err(&format!("x{}", "7".repeat(100_000)), 1, &["above 1000"]);
        assert!(err.message.len() < 200, "{}", err.message);
    }

    #[test]
    fn long_sources_are_shown_as_an_excerpt_around_the_column() {
        let half = "x1+".repeat(21_667);
        let source = format!("{half}$+{half}x1");
        let chars: Vec<char> = source.chars().collect();
        let err = assert_err(&source, 65_002, &["unexpected character '$'"]);
        let text = err.to_string();
        assert!(text.len() < 300, "{}", text.len());
        // The excerpt is the original text at the columns it claims.
        let (first, last) = (64_972, 65_031);
        assert!(
            text.contains(&format!(
                "at column 65002 (columns {first}-{last} of 130006 shown)"
            )),
            "{text}"
        );
        let shown: String = chars[first - 1..last].iter().collect();
        assert!(text.contains(&format!("\"…{shown}…\"")), "{text}");
        assert!(shown.contains('$'));

        // At the end of the input: no ellipsis after it.
        let err = assert_err(&half, 65_002, &["end of input"]);
        let text = err.to_string();
        assert!(text.len() < 300, "{}", text.len());
        assert!(text.contains("+x1+\" at column 65002"), "{text}");
        // At the start: no ellipsis before it.
        let err = assert_err(&format!("${half}"), 1, &["'$'"]);
        assert!(err.to_string().contains("expression \"$x1+x1+"), "{err}");
        // Short sources are shown whole, as before.
        assert_eq!(
            Expr::parse("x1 2").unwrap_err().to_string(),
            "invalid expression \"x1 2\" at column 4: missing operator before number 2: two \
             operands in a row (implicit multiplication is not supported; write '*' explicitly)"
        );
    }

    #[test]
    fn control_characters_are_escaped_in_errors() {
        // ESC (ANSI sequences), BEL, CR, a C1 CSI, a bidirectional override,
        // a zero-width joiner.
        for hostile in [
            "\u{1b}[2J",
            "\u{7}",
            "\r",
            "\u{9b}31m",
            "\u{202e}",
            "\u{200d}",
        ] {
            for source in [
                format!("x1*{hostile}"),
                format!("{}{hostile}", "x1+".repeat(50)),
                hostile.repeat(5_000),
            ] {
                let err = Expr::parse(&source).unwrap_err();
                let text = err.to_string();
                let first = hostile.chars().next().unwrap();
                assert!(!text.contains(first), "raw {first:?} in {text:?}");
                assert!(text.len() < 300, "{} bytes: {text:?}", text.len());
            }
        }
        let text = Expr::parse("x1*\u{1b}[31m").unwrap_err().to_string();
        assert!(text.contains("\"x1*\\u{1b}[31m\""), "{text}");
        // A message built by a caller is escaped too.
        let err = ExprError {
            source_text: "x".into(),
            column: 1,
            message: "a\u{1b}b\nc".into(),
        };
        assert!(err.to_string().ends_with(": a\\u{1b}b\\nc"), "{err}");
    }

    #[test]
    fn for_flag_names_the_flag() {
        let err = Expr::parse("x1 2").unwrap_err().for_flag("--function");
        let text = err.to_string();
        assert!(text.starts_with("invalid --function: invalid expression \"x1 2\" at column 4"));
        assert!(err.is_usage());
    }

    /// Pathological inputs of some 200,000 characters: each one parses or
    /// fails quickly (no hang, no stack overflow, no quadratic work) with a
    /// short message. Kept as regression cases for the parser's bounds.
    #[test]
    fn huge_inputs_are_bounded() {
        let n = 200_000;
        let inputs = [
            "(".repeat(n),
            ")".repeat(n),
            "-".repeat(n),
            "2^".repeat(n / 2),
            format!("x{}", "9".repeat(n)),
            format!("x1*{}", "1".repeat(n)),
            format!("1e{}", "9".repeat(n)),
            format!("1e-{}", "9".repeat(n)),
            format!("0.{}1", "0".repeat(n)),
            format!("1{}", ".".repeat(n)),
            "é".repeat(n),
            "\u{1b}".repeat(n),
            " ".repeat(n),
            format!("{}x1", "x1+".repeat(n / 3)),
            format!("{}x1", "x1*(".repeat(200)) + &")".repeat(200),
            format!("{}x1 2", "x1*".repeat(n / 3)),
        ];
        for source in &inputs {
            let start = std::time::Instant::now();
            let result = Expr::parse(source);
            let elapsed = start.elapsed();
            let head: String = source.chars().take(20).collect();
            assert!(elapsed.as_secs() < 5, "{head:?}…: {elapsed:?}");
            match result {
                Ok(e) => {
                    let canonical = e.canonical();
                    assert_eq!(Expr::parse(&canonical).unwrap(), e);
                }
                Err(err) => {
                    let len = source.chars().count();
                    assert!((1..=len + 1).contains(&err.column), "{head:?}…");
                    let text = err.to_string();
                    assert!(text.len() < 400, "{head:?}…: {} bytes", text.len());
                }
            }
        }
    }

    #[test]
    fn symlog_and_symexp_parse_evaluate_and_print() {
        let e = Expr::parse(" symexp( symlog(x1) + 2*symlog((x2)) ) ^ 2 ").unwrap();
        assert_eq!(e.canonical(), "symexp(symlog(x1)+2*symlog(x2))^2");
        assert_eq!(e.n_vars(), 2);
        // symlog(e − 1) = 1 and symlog(−(e² − 1)) = −2: symexp(1 − 4) = −(e³ − 1).
        let e1 = std::f64::consts::E;
        let v = e.eval(&[e1 - 1.0, -(e1 * e1 - 1.0)]);
        let want = (e1.powi(3) - 1.0).powi(2);
        assert!((v - want).abs() < 1e-9 * want, "{v} vs {want}");
        assert_eq!(Expr::parse("symlog(0)").unwrap().eval(&[]), 0.0);
        assert_err(
            "symlog x1",
            1,
            &["symlog needs its argument in parentheses"],
        );
        assert_err(
            "exp(x1)",
            1,
            &["unknown name 'exp'", "symlog(…) and symexp(…)"],
        );
        assert_err("symexp()", 8, &["empty parentheses"]);
    }

    /// Independent reference tree for the property tests.
    #[derive(Debug, Clone)]
    enum T {
        Lit(String, f64),
        Var(usize),
        Neg(Box<T>),
        Bin(BinOp, Box<T>, Box<T>),
        Pow(Box<T>, Box<T>),
        Call(Func, Box<T>),
    }

    impl T {
        fn eval(&self, x: &[f64]) -> f64 {
            match self {
                T::Lit(_, v) => *v,
                T::Var(i) => x[*i],
                T::Neg(a) => -a.eval(x),
                T::Bin(op, a, b) => {
                    let (a, b) = (a.eval(x), b.eval(x));
                    match op {
                        BinOp::Add => a + b,
                        BinOp::Sub => a - b,
                        BinOp::Mul => a * b,
                        BinOp::Div => a / b,
                    }
                }
                T::Pow(a, b) => a.eval(x).powf(b.eval(x)),
                T::Call(f, a) => {
                    let v = a.eval(x);
                    match f {
                        Func::Symlog => v.signum() * v.abs().ln_1p(),
                        Func::Symexp => v.signum() * v.abs().exp_m1(),
                    }
                }
            }
        }

        /// The tree the parser should build, written independently: a
        /// left operand that is a chain of the same level is continued.
        fn node(&self) -> Node {
            match self {
                T::Lit(text, v) => Node::Num(*v, text.as_str().into()),
                T::Var(i) => Node::Var(*i),
                T::Neg(a) => Node::Neg(Box::new(a.node())),
                T::Bin(op, a, b) => {
                    let additive = matches!(op, BinOp::Add | BinOp::Sub);
                    let (a, b) = (a.node(), b.node());
                    match a {
                        Node::Chain(first, mut rest)
                            if matches!(rest[0].0, BinOp::Add | BinOp::Sub) == additive =>
                        {
                            rest.push((*op, b));
                            Node::Chain(first, rest)
                        }
                        a => Node::Chain(Box::new(a), vec![(*op, b)]),
                    }
                }
                T::Pow(a, b) => Node::Pow(Box::new(a.node()), Box::new(b.node())),
                T::Call(f, a) => Node::Call(*f, Box::new(a.node())),
            }
        }

        fn prec(&self) -> u8 {
            match self {
                T::Bin(BinOp::Add | BinOp::Sub, ..) => 1,
                T::Bin(BinOp::Mul | BinOp::Div, ..) => 2,
                T::Neg(_) => 3,
                T::Pow(..) => 4,
                T::Lit(..) | T::Var(_) | T::Call(..) => 5,
            }
        }

        /// Prints with the fewest parentheses the grammar allows, so the
        /// round trip exercises precedence and associativity; `spaced` puts
        /// spaces around binary operators, `redundant` brackets every operand
        /// of an operator (which the canonical spelling must drop again).
        fn print(&self, out: &mut String, spaced: bool, redundant: bool) {
            let child = |t: &T, out: &mut String, parens: bool| {
                if parens || redundant {
                    out.push('(');
                    t.print(out, spaced, redundant);
                    out.push(')');
                } else {
                    t.print(out, spaced, redundant);
                }
            };
            match self {
                T::Lit(text, _) => out.push_str(text),
                T::Var(i) => out.push_str(&format!("x{}", i + 1)),
                T::Call(f, a) => {
                    out.push_str(match f {
                        Func::Symlog => "symlog",
                        Func::Symexp => "symexp",
                    });
                    // The argument's own parentheses, doubled when redundant.
                    out.push('(');
                    child(a, out, false);
                    out.push(')');
                }
                T::Neg(a) => {
                    out.push('-');
                    child(a, out, a.prec() < 3);
                }
                T::Bin(op, a, b) => {
                    let p = self.prec();
                    child(a, out, a.prec() < p);
                    let sym = match op {
                        BinOp::Add => "+",
                        BinOp::Sub => "-",
                        BinOp::Mul => "*",
                        BinOp::Div => "/",
                    };
                    if spaced {
                        out.push_str(&format!(" {sym} "));
                    } else {
                        out.push_str(sym);
                    }
                    // Same-precedence right operands need parentheses because
                    // the operators are left-associative.
                    child(b, out, b.prec() <= p);
                }
                T::Pow(a, b) => {
                    child(a, out, a.prec() <= 4);
                    out.push('^');
                    child(b, out, b.prec() < 3);
                }
            }
        }
    }

    fn tree() -> impl Strategy<Value = T> {
        let leaf = prop_oneof![
            (0u8..=9).prop_map(|n| T::Lit(n.to_string(), f64::from(n))),
            prop::sample::select(vec![
                ("0.5", 0.5),
                (".25", 0.25),
                ("1e2", 100.0),
                ("2.5E-1", 0.25),
                ("3.", 3.0),
            ])
            .prop_map(|(text, v)| T::Lit(text.to_string(), v)),
            (0usize..4).prop_map(T::Var),
        ];
        leaf.prop_recursive(6, 48, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| T::Neg(Box::new(a))),
                (
                    prop::sample::select(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]),
                    inner.clone(),
                    inner.clone(),
                )
                    .prop_map(|(op, a, b)| T::Bin(op, Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| T::Pow(Box::new(a), Box::new(b))),
                (
                    prop::sample::select(vec![Func::Symlog, Func::Symexp]),
                    inner
                )
                    .prop_map(|(f, a)| T::Call(f, Box::new(a))),
            ]
        })
    }

    #[test]
    fn outputs_split_on_semicolons_with_columns_in_the_whole_text() {
        let outputs = parse_outputs("x1+x2 ; x1*x2;x1/x2;(x1^2)^0.25").unwrap();
        assert_eq!(outputs.len(), 4);
        assert_eq!(outputs[2].eval(&[3.0, 4.0]), 0.75);
        assert_eq!(canonical_outputs(&outputs), "x1+x2;x1*x2;x1/x2;(x1^2)^0.25");
        // One output is exactly what Expr::parse gives, error included.
        assert_eq!(
            parse_outputs("x1 * x2").unwrap(),
            [Expr::parse("x1*x2").unwrap()]
        );
        assert_eq!(
            parse_outputs("x1 2").unwrap_err(),
            Expr::parse("x1 2").unwrap_err()
        );
        // Errors point into the whole text, at the output at fault.
        let err = parse_outputs("x1+x2;x1 2").unwrap_err();
        assert_eq!((err.column, err.source_text.as_str()), (10, "x1+x2;x1 2"));
        for (text, column, output) in [(";x1", 1, 1), ("x1;", 4, 2), ("x1; ;x2", 4, 2)] {
            let err = parse_outputs(text).unwrap_err();
            assert_eq!(err.column, column, "{text}");
            assert!(
                err.message.contains(&format!("output {output} is empty")),
                "{err}"
            );
        }
        let many = vec!["x1"; MAX_OUTPUTS + 1].join(";");
        let err = parse_outputs(&many).unwrap_err();
        assert!(err.message.contains("at most 64"), "{err}");
        assert_eq!(
            parse_outputs(&many[..many.len() - 3]).unwrap().len(),
            MAX_OUTPUTS
        );
    }

    proptest! {
        #[test]
        fn print_parse_eval_matches_direct_eval(
            t in tree(),
            spaced in any::<bool>(),
            redundant in any::<bool>(),
            x in prop::collection::vec(-10i8..=10, 4),
        ) {
            let x: Vec<f64> = x.into_iter().map(f64::from).collect();
            let mut text = String::new();
            t.print(&mut text, spaced, redundant);
            let mut minimal = String::new();
            t.print(&mut minimal, false, false);
            let e = Expr::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(e.n_vars() <= 4);
            // The parsed tree is the generated one (left-nested chains of one
            // level flattened, as the grammar reads `a+b+c`).
            prop_assert_eq!(&e.root, &t.node(), "{}", text);
            let (got, want) = (e.eval(&x), t.eval(&x));
            // Same operations in the same order, so results are bit-identical.
            prop_assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{text}: parsed {got}, direct {want}"
            );
            // The canonical spelling is the minimal one, whatever the spaces
            // and parentheses of the source: space-free minimal text (as in
            // existing results files) keeps its key.
            let canonical = e.canonical();
            prop_assert_eq!(&canonical, &minimal, "source {}", text);
            let again = Expr::parse(&canonical).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&again, &e);
            prop_assert_eq!(again.canonical(), canonical);
            prop_assert_eq!(again.eval(&x).to_bits(), got.to_bits());
        }

        #[test]
        fn joined_outputs_parse_back_to_their_parts(
            trees in prop::collection::vec(tree(), 1..5),
            spaced in any::<bool>(),
        ) {
            let texts: Vec<String> = trees
                .iter()
                .map(|t| {
                    let mut text = String::new();
                    t.print(&mut text, spaced, false);
                    text
                })
                .collect();
            let outputs = parse_outputs(&texts.join(";"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(outputs.len(), trees.len());
            for (output, t) in outputs.iter().zip(&trees) {
                prop_assert_eq!(&output.root, &t.node());
            }
            let again = parse_outputs(&canonical_outputs(&outputs))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(again, outputs);
        }

        #[test]
        fn any_text_with_separators_parses_or_fails_cleanly(text in "[x0-9;+*/^() .-]{0,40}") {
            match parse_outputs(&text) {
                Ok(outputs) => prop_assert_eq!(outputs.len(), text.split(';').count()),
                Err(e) => {
                    prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1);
                    prop_assert_eq!(e.source_text, text);
                }
            }
        }

        #[test]
        fn eval_rows_gives_the_bits_of_eval_on_each_row(
            t in tree(),
            rows in prop::collection::vec(prop::collection::vec(-10.0f32..10.0, 3), 1..20),
        ) {
            // Three inputs per row while trees use up to x4: x4 reads NaN, as in eval.
            let mut text = String::new();
            t.print(&mut text, false, false);
            let e = Expr::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let records: Vec<f32> = rows.iter().flatten().copied().collect();
            let mut out = vec![0.0; rows.len()];
            e.eval_rows(&records, 3, &mut out);
            for (row, got) in rows.iter().zip(&out) {
                // Spelled out as a fourth value: eval asserts its inputs in debug builds.
                let mut x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
                x.push(f64::NAN);
                let want = e.eval(&x);
                prop_assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{text} on {row:?}: rows {got}, one row {want}"
                );
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in "\\PC{0,40}") {
            check_total(&s)?;
        }

        #[test]
        fn parse_never_panics_on_expression_like_text(s in "[x0-9+*/^(). eE-]{0,40}") {
            check_total(&s)?;
        }

        #[test]
        fn parse_never_panics_on_any_string(s in any::<String>()) {
            // Control characters, unassigned and private-use code points included.
            check_total(&s)?;
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            check_total(&String::from_utf8_lossy(&bytes))?;
        }

        #[test]
        fn parse_never_panics_on_near_misses(
            parts in prop::collection::vec(
                prop_oneof![
                    Just("x1".to_string()),
                    Just("x1000".to_string()),
                    Just("x1001".to_string()),
                    Just("x0".to_string()),
                    "x[0-9]{1,40}",
                    "[0-9]{1,40}",
                    "[0-9]{0,3}\\.?[0-9]{0,3}[eE][+-]?[0-9]{0,8}",
                    Just("1e999999".to_string()),
                    Just("1e-999999".to_string()),
                    "[-+*/^() \t\n\u{1b}\u{3000},;]",
                ],
                0..24,
            ),
        ) {
            check_total(&parts.concat())?;
        }
    }

    /// Parsing either succeeds with a usable expression whose canonical
    /// spelling is stable, or reports a column inside (or just past) the
    /// input as given, in a short message without raw control characters.
    fn check_total(s: &str) -> Result<(), TestCaseError> {
        match Expr::parse(s) {
            Ok(e) => {
                prop_assert_eq!(e.source(), s.trim());
                prop_assert!(e.n_vars() <= MAX_VARIABLES);
                let x = vec![1.5; e.n_vars()];
                let canonical = e.canonical();
                prop_assert!(!canonical.contains(char::is_whitespace), "{}", canonical);
                let again = Expr::parse(&canonical)
                    .map_err(|err| TestCaseError::fail(format!("{s:?} -> {canonical:?}: {err}")))?;
                prop_assert_eq!(&again, &e);
                prop_assert_eq!(again.canonical(), canonical.clone());
                let (a, b) = (e.eval(&x), again.eval(&x));
                prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
            }
            Err(err) => {
                prop_assert_eq!(err.source_text.as_str(), s);
                let len = s.chars().count();
                prop_assert!(err.column >= 1 && err.column <= len + 1, "{}", err);
                prop_assert!(!err.message.is_empty());
                check_display(&err)?;
            }
        }
        Ok(())
    }

    /// An error's line is short and carries no character a terminal would
    /// interpret.
    fn check_display(err: &ExprError) -> Result<(), TestCaseError> {
        let text = err.to_string();
        prop_assert!(text.chars().count() < 400, "{} chars: {}", text.len(), text);
        prop_assert!(
            !text
                .chars()
                .any(|c| c.is_control()
                    || c.escape_debug().len() > 1 && !matches!(c, '"' | '\\' | '\'')),
            "raw control character in {:?}",
            text
        );
        prop_assert!(
            text.contains(&format!("at column {}", err.column)),
            "{}",
            text
        );
        Ok(())
    }
}
