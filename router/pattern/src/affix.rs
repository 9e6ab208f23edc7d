//! Sets of prefixes (or suffixes) answering "which of them does this text start (or end) with". A
//! large set that uses few distinct lengths probes a `TextMap` once per length (the common shape of
//! many rules: prefixes of one or two lengths), which touches a few cache lines however large the set;
//! small sets, and sets of many lengths, walk a `ByteTrie`, which small sets keep in cache.

use crate::text_map::TextMap;
use crate::trie::ByteTrie;

/// Up to this many distinct lengths, probe a map per length instead of walking a trie.
const MAX_PROBED_LENGTHS: usize = 4;
/// Sets with fewer affixes than this walk a trie.
const MIN_PROBED_AFFIXES: usize = 64;

/// Prefixes of texts.
pub(crate) type Prefixes = AffixSet<false>;
/// Suffixes of texts.
pub(crate) type Suffixes = AffixSet<true>;

/// Affixes of texts: suffixes when `SUFFIX`, else prefixes.
#[derive(Debug, Default)]
pub(crate) struct AffixSet<const SUFFIX: bool> {
    draft: Vec<(Box<[u8]>, u32)>,
    lengths: Vec<usize>,
    by_length: TextMap,
    trie: ByteTrie,
    sealed_as_trie: bool,
}

impl<const SUFFIX: bool> AffixSet<SUFFIX> {
    pub(crate) fn insert(&mut self, affix: &[u8], item: u32) {
        self.draft.push((affix.into(), item));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.draft.is_empty() && self.lengths.is_empty() && !self.sealed_as_trie
    }

    /// Freezes the set; call once after the last insert.
    pub(crate) fn seal(&mut self) {
        let draft = std::mem::take(&mut self.draft);
        if draft.is_empty() {
            return;
        }
        let mut lengths: Vec<usize> = draft.iter().map(|(affix, _)| affix.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        if lengths.len() <= MAX_PROBED_LENGTHS && draft.len() >= MIN_PROBED_AFFIXES {
            for (affix, item) in &draft {
                self.by_length.insert(affix, *item);
            }
            self.by_length.seal();
            self.lengths = lengths;
        } else {
            for (affix, item) in &draft {
                if SUFFIX {
                    self.trie.insert(affix.iter().rev().copied(), *item);
                } else {
                    self.trie.insert(affix.iter().copied(), *item);
                }
            }
            self.trie.seal();
            self.sealed_as_trie = true;
        }
    }

    /// Calls `found` for the items of every stored affix of `text`.
    #[inline]
    pub(crate) fn for_each_affix_of(&self, text: &[u8], mut found: impl FnMut(u32)) {
        if self.sealed_as_trie {
            if SUFFIX {
                self.trie.for_each_prefix_of(text.iter().rev().copied(), found);
            } else {
                self.trie.for_each_prefix_of(text.iter().copied(), found);
            }
            return;
        }
        for &length in &self.lengths {
            if length > text.len() {
                break;
            }
            let affix = if SUFFIX { &text[text.len() - length..] } else { &text[..length] };
            self.by_length.get(affix).iter().for_each(|&item| found(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AffixSet;

    fn affixes<const SUFFIX: bool>(stored: &[String], text: &str) -> Vec<u32> {
        let mut set = AffixSet::<SUFFIX>::default();
        for (idx, affix) in stored.iter().enumerate() {
            set.insert(affix.as_bytes(), idx as u32);
        }
        set.seal();
        let mut found = Vec::new();
        set.for_each_affix_of(text.as_bytes(), |item| found.push(item));
        found.sort();
        found
    }

    fn texts(affixes: &[&str]) -> Vec<String> {
        affixes.iter().map(|affix| affix.to_string()).collect()
    }

    #[test]
    fn both_layouts_agree() {
        let few = texts(&["", "ab", "abc", "xy"]);
        // Padding with never-matching affixes of the same lengths selects the probed layout.
        let mut probed = few.clone();
        probed.extend((0..100).map(|idx| format!("{idx:03}")));
        let many = texts(&["", "a", "ab", "abc", "abcd", "abcde", "xyz"]);
        for set in [&few, &probed] {
            assert_eq!(affixes::<false>(set, "abcd"), [0, 1, 2]);
            assert_eq!(affixes::<true>(set, "zzxy"), [0, 3]);
            assert_eq!(affixes::<false>(set, "a"), [0]);
        }
        assert_eq!(affixes::<false>(&many, "abcd"), [0, 1, 2, 3, 4]);
        assert_eq!(affixes::<true>(&many, "wxyz"), [0, 6]);
    }
}
