//! Text shared by every output of a report: file-name slugs of functions, record text made
//! printable and escaped for Markdown/HTML, capped lists and number formatting for `report.md`.

use crate::protocol::reproduce_functions;
use std::fmt::Write as _;

/// The longest slug [`slug`] returns, in bytes (all its characters are ASCII). File names
/// built from it (`fig7a-SLUG.svg`, `loss-SLUG.png`) stay far below every file system's limit.
pub const MAX_SLUG_LEN: usize = 64;

/// The readable part of a hashed slug is cut to this many characters.
const HASHED_SLUG_PREFIX: usize = MAX_SLUG_LEN - 17;

/// The character-by-character readable form behind [`slug`]: letters, digits and `_` kept,
/// `*` → `_`, `/` → `_div`, `+` → `_plus_`, `-` → `_minus_`, `^` → `_pow_`, `.` → `p`,
/// whitespace dropped, anything else `_`; runs of `_` merged and trimmed.
fn readable_slug(function: &str) -> String {
    let mut out = String::new();
    let mut push = |s: &str| {
        for c in s.chars() {
            if !(c == '_' && (out.ends_with('_') || out.is_empty())) {
                out.push(c);
            }
        }
    };
    for c in function.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '_' => push(c.encode_utf8(&mut [0; 4])),
            c if c.is_whitespace() => {}
            '*' => push("_"),
            '/' => push("_div"),
            '+' => push("_plus_"),
            '-' => push("_minus_"),
            '^' => push("_pow_"),
            '.' => push("p"),
            _ => push("_"),
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Whether `key` (a function without whitespace) is in the grammar on which
/// [`readable_slug`] is injective: operands `xN` or unsigned decimals (`10`, `0.5`) separated
/// by single binary operators `* / + - ^`, nothing else. Its readable slug is then the operands
/// (with `.` as `p`) joined by `_`, `_div`, `_plus_`, `_minus_`, `_pow_`; split at `_`, each
/// piece is an operand (starts with `x` or a digit), `plus`, `minus`, `pow` or `div` + operand,
/// so the function can be read back from the slug.
fn is_plain(key: &str) -> bool {
    let mut rest = key;
    loop {
        let operand = if let Some(r) = rest.strip_prefix('x') {
            let digits = r.len() - r.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return false;
            }
            1 + digits
        } else {
            let int = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if int == 0 {
                return false;
            }
            match rest[int..].strip_prefix('.') {
                Some(f) => {
                    let frac = f.len() - f.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                    if frac == 0 {
                        return false;
                    }
                    int + 1 + frac
                }
                None => int,
            }
        };
        rest = &rest[operand..];
        match rest.chars().next() {
            None => return true,
            Some('*' | '/' | '+' | '-' | '^') => rest = &rest[1..],
            Some(_) => return false,
        }
    }
}

/// FNV-1a, 64 bits: a hash that never changes between builds, platforms or Rust versions
/// (std's `DefaultHasher` may), so a function keeps its file name.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The file-name stem of a function's ranking CSV and loss figure: unique per function by
/// construction, readable where possible, at most [`MAX_SLUG_LEN`] ASCII characters from
/// `[A-Za-z0-9_-]`, never starting with `-` or `.`.
///
/// Functions are matched with whitespace removed (as the report groups them). Three kinds:
///
/// - the functions of the paper and its normaliser study keep their historical names
///   (`x1_x2_div10`, `x1_x2_plus_x3_plus_x4`, …), which are distinct;
/// - a simple function (operands `xN` or decimals joined by single `* / + - ^`, see below)
///   gets its readable form, unless that is too long or already one of the paper's names:
///   `x1*x2*2` → `x1_x2_2`, `x1 - 0.5` → `x1_minus_0p5`. On these functions the readable
///   form can be read back, so two of them never share it;
/// - any other function gets a cut readable form, `-` and 16 hex digits of a stable 64-bit
///   hash of its text: `(x1)*(x2)` → `x1_x2-…`. Only these names contain `-`, so they never
///   equal a name of the first two kinds.
///
/// ```
/// use logexp::report::slug;
/// assert_eq!(slug("x1*x2/10"), "x1_x2_div10");
/// assert_eq!(slug("x1*(x2+x3)+x4"), "x1_x2_plus_x3_plus_x4");
/// assert_eq!(slug("x1 * x2 * 2"), "x1_x2_2");
/// assert!(slug("(x1)*(x2)").starts_with("x1_x2-"));
/// ```
pub fn slug(function: &str) -> String {
    let key = function_key(function);
    let readable = readable_slug(&key);
    let known = reproduce_functions();
    let is_reserved = |s: &str| known.iter().any(|f| readable_slug(&function_key(f)) == s);
    if known.iter().any(|f| function_key(f) == key)
        || (is_plain(&key) && readable.len() <= MAX_SLUG_LEN && !is_reserved(&readable))
    {
        return readable;
    }
    let prefix: String = readable.chars().take(HASHED_SLUG_PREFIX).collect();
    let prefix = prefix.trim_end_matches('_');
    let prefix = if prefix.is_empty() {
        "function"
    } else {
        prefix
    };
    format!("{prefix}-{:016x}", stable_hash(&key))
}

pub(super) fn function_key(function: &str) -> String {
    function.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Text from a record (a function, a version string) is shown in `report.md`, in figure
/// titles and in notes cut to this many characters, with an ellipsis; the files keep it whole.
pub const MAX_RECORD_TEXT_CHARS: usize = 120;

/// A table cell or list in `report.md` names at most this many distinct values (settings,
/// versions, functions); the rest are counted ("… and 9 more").
pub const MAX_LISTED_VALUES: usize = 12;

/// Characters that must never reach a terminal or `report.md` raw: control characters (escape
/// sequences, newlines that would break a table row) and invisible formatting characters
/// (zero-width ones, direction marks and overrides, line and paragraph separators, the
/// byte-order mark, tag characters: they can make text read differently from what it is).
///
/// ```
/// use logexp::report::is_hidden_char;
/// assert!(is_hidden_char('\u{1b}') && is_hidden_char('\u{202e}') && !is_hidden_char('é'));
/// ```
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// Record text made safe to print: every control or invisible formatting character replaced by
/// its code point (`U+001B`), and the text cut to `max` characters with `…` when longer. For
/// notes and messages that quote a record on a terminal.
///
/// ```
/// use logexp::report::printable;
/// assert_eq!(printable("x1\u{1b}[31m\n", 80), "x1U+001B[31mU+000A");
/// assert_eq!(printable("x1*x2*x3", 5), "x1*x2…");
/// ```
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if is_hidden_char(c) {
            let _ = write!(out, "U+{:04X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Plain text for Markdown (a table cell, a list item, alt text): [`printable`] (not cut), then every
/// character that Markdown or HTML would act on within a line escaped, so the text shows as
/// itself and cannot add cells, links, emphasis or markup. Only line-internal syntax matters
/// because this text never starts a line.
pub(super) fn md_text(text: &str) -> String {
    let mut out = String::new();
    for c in printable(text, usize::MAX).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '#' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether a function can go into a Markdown code span as it is: the characters of the
/// expression grammar, none of which ends a code span or a table cell.
fn code_span_safe(function: &str) -> bool {
    function
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " *+-/^().,".contains(c))
}

/// A function for `report.md`: a code span (`` `x1*x2` ``) when its characters allow, else
/// escaped text ([`md_text`]); cut to [`MAX_RECORD_TEXT_CHARS`] either way.
pub(super) fn md_function(function: &str) -> String {
    if code_span_safe(function) {
        let shown: String = function.chars().take(MAX_RECORD_TEXT_CHARS).collect();
        if shown.len() < function.len() {
            format!("`{shown}` …")
        } else {
            format!("`{shown}`")
        }
    } else {
        md_text(&printable(function, MAX_RECORD_TEXT_CHARS))
    }
}

/// A function in a figure's alt text (no code spans there): `*` shown as `·`.
pub(super) fn md_function_alt(function: &str) -> String {
    if code_span_safe(function) {
        printable(function, MAX_RECORD_TEXT_CHARS).replace('*', "·")
    } else {
        md_text(&printable(function, MAX_RECORD_TEXT_CHARS))
    }
}

/// At most [`MAX_LISTED_VALUES`] values joined by `, `, then how many were left out.
pub(super) fn capped_list(values: &[String]) -> String {
    let shown = values.len().min(MAX_LISTED_VALUES);
    let mut out = values[..shown].join(", ");
    if values.len() > shown {
        let _ = write!(out, ", … and {} more", values.len() - shown);
    }
    out
}

/// Percentages for Markdown: two decimals, ∞ for a median that no finite score reaches.
pub(super) fn md_pct(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "∞".to_string()
    }
}

/// MAE-sized numbers for Markdown: two decimals up to a million, then scientific.
pub(super) fn md_big(v: f64) -> String {
    if !v.is_finite() {
        "∞".to_string()
    } else if v.abs() >= 1e6 {
        format!("{v:.3e}")
    } else {
        format!("{v:.2}")
    }
}

pub(super) fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_readable() {
        assert_eq!(slug("x1*x2"), "x1_x2");
        assert_eq!(slug("x1*x2*x3*x4/1000"), "x1_x2_x3_x4_div1000");
        assert_eq!(slug("x1 - 0.5"), "x1_minus_0p5");
        // Nothing readable left: a placeholder and the hash.
        assert!(slug("((").starts_with("function-"), "{}", slug("(("));
        assert!(
            slug(&"x1*".repeat(100))
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }

    /// The names docs/reproduce/ links to, written out by hand.
    #[test]
    fn the_paper_functions_keep_their_file_names() {
        let expected = [
            ("x1*x2", "x1_x2"),
            ("x1*x2/10", "x1_x2_div10"),
            ("x1*x2*x3", "x1_x2_x3"),
            ("x1*x2*x3/100", "x1_x2_x3_div100"),
            ("x1*x2*x3*x4", "x1_x2_x3_x4"),
            ("x1*x2*x3*x4/1000", "x1_x2_x3_x4_div1000"),
            ("x1*(x2+x3)+x4", "x1_x2_plus_x3_plus_x4"),
            ("x1*x2/100", "x1_x2_div100"),
            ("x1*x2/1000", "x1_x2_div1000"),
            ("x1*x2*x3/10", "x1_x2_x3_div10"),
            ("x1*x2*x3/1000", "x1_x2_x3_div1000"),
            ("x1*x2*x3*x4/10", "x1_x2_x3_x4_div10"),
            ("x1*x2*x3*x4/100", "x1_x2_x3_x4_div100"),
        ];
        for (f, name) in expected {
            assert_eq!(slug(f), name, "{f}");
        }
        assert_eq!(reproduce_functions().len(), expected.len());
    }

    /// Pairs of distinct functions whose readable forms collide.
    #[test]
    fn colliding_readable_forms_get_distinct_slugs() {
        let collide = [
            ["x1*x2", "(x1)*(x2)"],
            ["x1*x2*2", "x1*x2_2"],
            ["x1*(x2+x3)+x4", "x1*x2+x3+x4"],
            ["x1*(x2+x3)", "x1*x2+x3"],
            ["x1*0.5", "x1*0p5"],
            ["x1*x2", "x1**x2"],
        ];
        for [a, b] in collide {
            assert_ne!(slug(a), slug(b), "{a} vs {b}");
        }
        // Whitespace does not make another function.
        assert_eq!(slug("x1 * x2"), slug("x1*x2"));
        // Long functions get short names.
        let long = "x1*".repeat(1000) + "x2";
        assert!(slug(&long).len() <= MAX_SLUG_LEN);
        assert_ne!(slug(&long), slug(&("x1*".repeat(999) + "x2")));
    }

    fn safe_file_name(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_SLUG_LEN
            && !s.starts_with(['-', '.'])
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Distinct functions (whitespace aside) get distinct slugs, each a safe file name.
        #[test]
        fn slugs_are_unique_and_safe(
            a in "[x0-9*/+^().e _-]{0,24}|x[0-9]{1,2}([*/+^-](x[0-9]|[0-9]{1,3}(\\.[0-9])?)){0,6}",
            b in "[x0-9*/+^().e _-]{0,24}|x[0-9]{1,2}([*/+^-](x[0-9]|[0-9]{1,3}(\\.[0-9])?)){0,6}",
            c in "\\PC{0,12}",
        ) {
            for f in [&a, &b, &c] {
                let s = slug(f);
                proptest::prop_assert!(safe_file_name(&s), "{f:?} -> {s:?}");
            }
            for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
                if function_key(x) != function_key(y) {
                    proptest::prop_assert_ne!(slug(x), slug(y), "{:?} vs {:?}", x, y);
                }
            }
        }
    }
}
