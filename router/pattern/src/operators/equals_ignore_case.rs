//! `equals-ignore-case` and the case folding shared by every ignore-case form.
//!
//! Folding maps each character to lowercase(uppercase(c)) with Unicode's full mappings, repeated
//! until stable, so `ß`, `ẞ`, `SS` and `ss` are equal and `Σ`, `σ`, `ς` are equal. The Turkish `İ`
//! (U+0130) and `ı` (U+0131) are left alone: they equal only themselves, as in event-ruler. There is no
//! accent stripping and no Unicode normalisation (NFC and NFD forms differ).

use super::Leaf;

/// The folded form of a string.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    out
}

/// Appends the folded form of `text` to `out`.
pub(crate) fn fold_into(text: &str, out: &mut String) {
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
        return;
    }
    for ch in text.chars() {
        fold_char(ch, out, 0);
    }
}

fn fold_char(ch: char, out: &mut String, depth: u8) {
    if ch.is_ascii() {
        out.push(ch.to_ascii_lowercase());
        return;
    }
    if ch == '\u{130}' || ch == '\u{131}' {
        out.push(ch);
        return;
    }
    for upper in ch.to_uppercase() {
        for lower in upper.to_lowercase() {
            // A few characters need a second round (ẞ → ß → ss); three rounds reach every fixed point.
            let stable = lower.is_ascii() || {
                let mut once = lower.to_uppercase().flat_map(char::to_lowercase);
                once.next() == Some(lower) && once.next().is_none()
            };
            if stable || depth >= 3 { out.push(lower) } else { fold_char(lower, out, depth + 1) }
        }
    }
}

/// Folds event bytes; invalid UTF-8 (possible only on the trusted path) folds to nothing that matches.
pub(crate) fn fold_bytes(text: &[u8]) -> String {
    match std::str::from_utf8(text) {
        Ok(text) => fold(text),
        Err(_) => String::from("\u{fffd}\u{0}"),
    }
}

// The automaton indexes these matchers; its tests check the index against this definition.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn accepts(folded: &str, leaf: &Leaf<'_>) -> bool {
    match leaf {
        Leaf::String(text) => fold_bytes(text) == folded,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folding() {
        for (left, right, equal) in [
            ("Hello", "hELLO", true),
            ("straße", "STRASSE", true),
            ("ẞ", "ss", true),
            ("Σίσυφος", "ΣΊΣΥΦΟΣ", true),
            ("ς", "σ", true),
            ("\u{212A}", "k", true),
            ("İ", "i", false),
            ("ı", "i", false),
            ("I", "i", true),
            ("é", "e", false),
            ("\u{e9}", "e\u{301}", false),
        ] {
            assert_eq!(fold(left) == fold(right), equal, "{left} vs {right}");
        }
    }
}
