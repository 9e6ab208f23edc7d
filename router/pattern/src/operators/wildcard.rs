//! `wildcard`: `*` matches zero or more characters, anchored at both ends; `\*` is a literal star and
//! `\\` a literal backslash. String-only and case-sensitive.
//!
//! Matching is the greedy leftmost algorithm over the literal pieces between stars, which is linear
//! in the value for a fixed wildcard, so no wildcard can make matching explode. The complexity budget
//! (see `Wildcard::score`) bounds the work per value and keeps rules portable to EventBridge, which
//! rejects wildcards it deems too complex.

use crate::error::{PatternError, Pointer};

/// The message EventBridge gives for a wildcard over its complexity threshold.
pub(crate) const TOO_COMPLEX: &str = "Rule is too complex - try using fewer wildcard characters or fewer \
     repeating character sequences after a wildcard character";

/// A parsed wildcard: the literal pieces between unescaped stars (n stars give n + 1 pieces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard {
    pub(crate) pieces: Vec<Box<[u8]>>,
}

impl Wildcard {
    pub(crate) fn parse(text: &str, pointer: &Pointer) -> Result<Wildcard, PatternError> {
        let mut pieces = Vec::new();
        let mut current = String::new();
        let mut chars = text.chars().enumerate().peekable();
        let mut previous_was_star = false;
        while let Some((pos, ch)) = chars.next() {
            match ch {
                '\\' => match chars.next() {
                    Some((_, escaped @ ('*' | '\\'))) => {
                        current.push(escaped);
                        previous_was_star = false;
                    }
                    _ => {
                        return Err(PatternError::new(pointer, format!("Invalid escape character at pos {pos}")));
                    }
                },
                '*' => {
                    if previous_was_star {
                        return Err(PatternError::new(
                            pointer,
                            format!("Consecutive wildcard characters at pos {pos}"),
                        ));
                    }
                    pieces.push(std::mem::take(&mut current).into_bytes().into_boxed_slice());
                    previous_was_star = true;
                }
                other => {
                    current.push(other);
                    previous_was_star = false;
                }
            }
        }
        pieces.push(current.into_bytes().into_boxed_slice());
        Ok(Wildcard { pieces })
    }

    /// The wildcard's contribution to its pattern's complexity score: its stars, not counting a
    /// leading one (a leading star alone is a plain suffix match).
    pub(crate) fn score(&self) -> usize {
        let n_stars = self.pieces.len() - 1;
        if n_stars > 0 && self.pieces[0].is_empty() { n_stars - 1 } else { n_stars }
    }

    /// The literal text before the first star (the whole value when there is no star).
    pub(crate) fn head(&self) -> &[u8] {
        &self.pieces[0]
    }

    /// The literal text after the last star.
    pub(crate) fn tail(&self) -> &[u8] {
        &self.pieces[self.pieces.len() - 1]
    }

    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        let (first, rest) = self.pieces.split_first().expect("a wildcard has at least one piece");
        match rest.split_last() {
            None => value == first.as_ref(),
            Some((last, middle)) => pieces_match(first, middle.iter().map(|piece| &**piece), last, value),
        }
    }
}

/// Whether `value` matches the wildcard of pieces `first`, `middle`..., `last` (at least one star).
#[inline]
pub(crate) fn pieces_match<'p>(
    first: &[u8],
    middle: impl Iterator<Item = &'p [u8]>,
    last: &[u8],
    value: &[u8],
) -> bool {
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last) {
        return false;
    }
    let mut window = &value[first.len()..value.len() - last.len()];
    for piece in middle {
        match find(window, piece) {
            Some(at) => window = &window[at + piece.len()..],
            None => return false,
        }
    }
    true
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if needle.len() > haystack.len() {
        return None;
    }
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wildcard: &str, value: &str, expected: bool) {
        let parsed = Wildcard::parse(wildcard, &Pointer::default()).unwrap();
        assert_eq!(parsed.matches(value.as_bytes()), expected, "{wildcard} vs {value}");
    }

    #[test]
    fn matching() {
        check("143*", "1430022", true);
        check("2*0*1*7", "2607117", true);
        check("2*0*1*7", "2017", true);
        check("2*0*1*7", "217", false);
        check("*", "", true);
        check("", "", true);
        check("", "a", false);
        check("a*a", "a", false);
        check("a*a", "aa", true);
        check(r"a\*b", "a*b", true);
        check(r"a\*b", "axb", false);
        check(r"a\\*", r"a\bc", true);
        check(r"\**", "*x", true);
        check("*/x/*", "a/x/b", true);
    }

    #[test]
    fn rejections() {
        let error = |text: &str| Wildcard::parse(text, &Pointer::default()).unwrap_err().message().to_string();
        assert_eq!(error("a**"), "Consecutive wildcard characters at pos 2");
        assert_eq!(error(r"a\b"), "Invalid escape character at pos 1");
        assert_eq!(error("a\\"), "Invalid escape character at pos 1");
    }
}
