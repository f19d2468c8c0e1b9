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
//! Variables are `x1`, `x2`, ... (1-based). Numbers are decimal literals such
//! as `3`, `0.5`, `.5`, `1e3` or `2.5E-2`. Implicit multiplication (`2x1`) is
//! not supported.

use std::fmt;
use std::str::FromStr;

/// Nesting limit for parentheses, unary signs and exponents. The parser and
/// the evaluator are recursive, so without a bound a hostile input such as a
/// million `(` would overflow the stack instead of producing an error.
const MAX_DEPTH: usize = 256;

/// Text used in every "missing operand" message.
const EXPECTED_OPERAND: &str = "expected a number, a variable x1..xn or '('";

/// A parsed arithmetic expression over the variables `x1..xn`.
///
/// Build one with [`Expr::parse`] or [`str::parse`]; [`Display`](fmt::Display)
/// prints the (trimmed) source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
    n_vars: usize,
}

/// Error returned when an expression cannot be parsed.
///
/// Renders on one line, e.g.
/// `invalid expression "x1*" at column 4: missing operand after '*': expected
/// a number, a variable x1..xn or '(' (found end of input)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid expression {source_text:?} at column {column}: {message}")]
pub struct ExprError {
    /// The expression text that failed to parse, trimmed of surrounding
    /// whitespace (columns refer to this text).
    pub source_text: String,
    /// 1-based column, counted in characters, where the problem was found.
    /// One past the last character means "at the end of the input".
    pub column: usize,
    /// Human-readable description of the problem.
    pub message: String,
}

impl Expr {
    /// Parses an expression such as `x1*x2/10`.
    ///
    /// Surrounding whitespace is ignored; error columns are 1-based character
    /// positions in the trimmed text.
    ///
    /// # Errors
    ///
    /// Returns an [`ExprError`] pointing at the offending column for empty
    /// input, unknown characters or names, malformed numbers or variables,
    /// missing operands or operators, unbalanced parentheses, and nesting
    /// deeper than 256 levels.
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
    /// # Ok::<(), logexp::expr::ExprError>(())
    /// ```
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let source = source.trim();
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
            source: source.to_string(),
            root,
            n_vars: parser.n_vars,
        })
    }

    /// Number of model inputs: the highest variable index used (`x3` alone
    /// gives 3), or 0 if the expression has no variables.
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

    /// The source text as given to [`Expr::parse`], trimmed of surrounding
    /// whitespace.
    pub fn source(&self) -> &str {
        &self.source
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
    /// Prints [`Expr::source`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
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
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Num(f64),
    /// Zero-based index into the input row.
    Var(usize),
    Neg(Box<Node>),
    /// `first op1 rhs1 op2 rhs2 ...` folded left to right. Kept flat rather
    /// than as nested binary nodes so that a long sum like `x1+x1+...+x1`
    /// does not produce a deep tree (recursion in eval, drop and clone).
    Chain(Box<Node>, Vec<(BinOp, Node)>),
    Pow(Box<Node>, Box<Node>),
}

impl Node {
    fn eval(&self, x: &[f64]) -> f64 {
        match self {
            Node::Num(v) => *v,
            Node::Var(i) => x.get(*i).copied().unwrap_or(f64::NAN),
            Node::Neg(a) => -a.eval(x),
            Node::Chain(first, rest) => rest
                .iter()
                .fold(first.eval(x), |acc, (op, rhs)| op.apply(acc, rhs.eval(x))),
            Node::Pow(base, exp) => base.eval(x).powf(exp.eval(x)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Num(f64),
    /// 1-based, as written.
    Var(usize),
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
        matches!(self, Tok::Num(_) | Tok::Var(_) | Tok::LParen)
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
            Tok::Num(_) => format!("number {}", self.text),
            Tok::Var(_) => format!("variable {}", self.text),
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
            format!("malformed number '{}': {why}", text_of(len)),
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

/// Lexes a name starting at `s[0]`; only `x` followed by a positive integer
/// is valid.
fn lex_name(source: &str, s: &[char], col: usize) -> Result<(Tok, usize), ExprError> {
    let len = s
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .count();
    let name: String = s[..len].iter().collect();
    let fail = |message: String| Err(error(source, col, message));

    let Some(index) = name.strip_prefix('x') else {
        return fail(format!(
            "unknown name '{name}': variables are x1, x2, ... and functions are not supported"
        ));
    };
    if index.is_empty() {
        return fail(format!(
            "invalid variable '{name}': a variable needs an index, as in x1, x2, ..."
        ));
    }
    if !index.chars().all(|c| c.is_ascii_digit()) {
        return fail(format!(
            "unknown name '{name}': variables are x1, x2, ... and functions are not supported"
        ));
    }
    if index.chars().all(|c| c == '0') {
        return fail(format!(
            "invalid variable '{name}': variables start at x1 (x1, x2, ...)"
        ));
    }
    if index.starts_with('0') {
        // Rejected so that each variable has exactly one spelling.
        let trimmed = index.trim_start_matches('0');
        return fail(format!(
            "invalid variable '{name}': write x{trimmed} without leading zeros"
        ));
    }
    match index.parse::<usize>() {
        Ok(i) => Ok((Tok::Var(i), len)),
        Err(_) => fail(format!("invalid variable '{name}': index is too large")),
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
                self.pos += 1;
                Ok(Node::Num(v))
            }
            Tok::Var(i) => {
                self.pos += 1;
                self.n_vars = self.n_vars.max(i);
                Ok(Node::Var(i - 1))
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

fn chain(first: Node, rest: Vec<(BinOp, Node)>) -> Node {
    if rest.is_empty() {
        first
    } else {
        Node::Chain(Box::new(first), rest)
    }
}

/// The canonical spelling of an expression: its text without whitespace, so that `x1 * x2`
/// and `x1*x2` name the same runs in records and sweeps.
pub fn canonical(source: &str) -> String {
    source.split_whitespace().collect()
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
        assert_eq!(e.to_string(), "x1 + x2");
        assert_eq!(e, Expr::parse("x1 + x2").unwrap());
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
        assert_err("x99999999999999999999999", 1, &["too large"]);
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

    /// Independent reference tree for the property tests.
    #[derive(Debug, Clone)]
    enum T {
        Lit(String, f64),
        Var(usize),
        Neg(Box<T>),
        Bin(BinOp, Box<T>, Box<T>),
        Pow(Box<T>, Box<T>),
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
            }
        }

        fn prec(&self) -> u8 {
            match self {
                T::Bin(BinOp::Add | BinOp::Sub, ..) => 1,
                T::Bin(BinOp::Mul | BinOp::Div, ..) => 2,
                T::Neg(_) => 3,
                T::Pow(..) => 4,
                T::Lit(..) | T::Var(_) => 5,
            }
        }

        /// Prints with the fewest parentheses the grammar allows, so the
        /// round trip exercises precedence and associativity.
        fn print(&self, out: &mut String, spaced: bool) {
            let child = |t: &T, out: &mut String, parens: bool| {
                if parens {
                    out.push('(');
                    t.print(out, spaced);
                    out.push(')');
                } else {
                    t.print(out, spaced);
                }
            };
            match self {
                T::Lit(text, _) => out.push_str(text),
                T::Var(i) => out.push_str(&format!("x{}", i + 1)),
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
                (inner.clone(), inner).prop_map(|(a, b)| T::Pow(Box::new(a), Box::new(b))),
            ]
        })
    }

    proptest! {
        #[test]
        fn print_parse_eval_matches_direct_eval(
            t in tree(),
            spaced in any::<bool>(),
            x in prop::collection::vec(-10i8..=10, 4),
        ) {
            let x: Vec<f64> = x.into_iter().map(f64::from).collect();
            let mut text = String::new();
            t.print(&mut text, spaced);
            let e = Expr::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(e.n_vars() <= 4);
            let (got, want) = (e.eval(&x), t.eval(&x));
            // Same operations in the same order, so results are bit-identical.
            prop_assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{text}: parsed {got}, direct {want}"
            );
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in "\\PC{0,40}") {
            check_total(&s)?;
        }

        #[test]
        fn parse_never_panics_on_expression_like_text(s in "[x0-9+*/^(). eE-]{0,40}") {
            check_total(&s)?;
        }
    }

    /// Parsing either succeeds with a usable expression or reports a column
    /// inside (or just past) the trimmed input.
    fn check_total(s: &str) -> Result<(), TestCaseError> {
        match Expr::parse(s) {
            Ok(e) => {
                prop_assert_eq!(e.source(), s.trim());
                if e.n_vars() <= 64 {
                    let _ = e.eval(&vec![1.0; e.n_vars()]);
                }
            }
            Err(err) => {
                prop_assert_eq!(err.source_text.as_str(), s.trim());
                let len = s.trim().chars().count();
                prop_assert!(err.column >= 1 && err.column <= len + 1, "{}", err);
                prop_assert!(!err.message.is_empty());
            }
        }
        Ok(())
    }
}
