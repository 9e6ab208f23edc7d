//! Texts to lists of items, for the exact, `exactly`, literal-number, ignore-case and affix lookups of
//! a field. Built through a hash map, then sealed into one open-addressing table of small slots that
//! keep a 32-bit hash tag, plus two arenas for the texts and the items. A large map also gets a
//! one-hash bit filter (16 bits per text, a few KiB that stay in cache), so most lookups that miss,
//! the common case, touch nothing else; a hit touches three cache lines, whatever the number of rules.

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

#[derive(Debug, Default)]
pub(crate) struct TextMap {
    draft: FxHashMap<Box<[u8]>, Vec<u32>>,
    slots: Vec<Slot>,
    /// Empty for small maps; else a bit per `filter_bit` value of the texts' hashes.
    filter: Vec<u64>,
    texts: Vec<u8>,
    items: Vec<u32>,
}

/// Maps with more texts than this get a bit filter.
const MIN_FILTERED: usize = 32;

#[inline(always)]
fn filter_bit(hashed: u64, n_bits: usize) -> usize {
    (hashed.rotate_right(24) as usize) & (n_bits - 1)
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Upper hash bits with the lowest bit set; 0 marks an empty slot.
    tag: u32,
    text_start: u32,
    text_len: u32,
    items_start: u32,
    items_len: u32,
}

/// Byte equality without a call into `memcmp` for the short texts that dominate (keys, field values).
#[inline(always)]
pub(crate) fn same_bytes(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let len = left.len();
    if len > 16 {
        return left == right;
    }
    if len >= 8 {
        // Two overlapping 8-byte words cover 8 to 16 bytes.
        let word = |bytes: &[u8], at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        return word(left, 0) == word(right, 0) && word(left, len - 8) == word(right, len - 8);
    }
    left.iter().zip(right).all(|(a, b)| a == b)
}

/// ASCII letters of a word of text made lowercase (bytes >= 0x80 are left alone).
#[inline(always)]
fn ascii_lowercase_word(word: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    // Per byte: the high bit of low7 + 0x3f is set from 'A' up, of low7 + 0x25 from '[' up.
    let at_least_a = low7 + 0x3f3f_3f3f_3f3f_3f3f;
    let past_z = low7 + 0x2525_2525_2525_2525;
    let upper = at_least_a & !past_z & !word & HIGH;
    word | (upper >> 2)
}

/// The text's bytes as little-endian words, the last one zero-padded, optionally lowercased.
#[inline(always)]
fn words(text: &[u8], lowercase: bool) -> impl Iterator<Item = u64> + '_ {
    text.chunks(8).map(move |chunk| {
        let word = match chunk.first_chunk::<8>() {
            Some(full) => u64::from_le_bytes(*full),
            None => chunk.iter().enumerate().fold(0u64, |word, (idx, &byte)| word | u64::from(byte) << (8 * idx)),
        };
        if lowercase { ascii_lowercase_word(word) } else { word }
    })
}

#[inline(always)]
fn hash_words(text: &[u8], lowercase: bool) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_usize(text.len());
    for word in words(text, lowercase) {
        hasher.write_u64(word);
    }
    hasher.finish()
}

#[inline(always)]
fn hash(text: &[u8]) -> u64 {
    hash_words(text, false)
}

impl TextMap {
    pub(crate) fn insert(&mut self, text: &[u8], item: u32) {
        self.draft.entry(text.into()).or_default().push(item);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.draft.is_empty() && self.slots.is_empty()
    }

    /// Freezes the map; call once after the last insert.
    pub(crate) fn seal(&mut self) {
        let draft = std::mem::take(&mut self.draft);
        if draft.is_empty() {
            return;
        }
        // At most half full, so probe runs stay short.
        let n_slots = (2 * draft.len()).next_power_of_two().max(8);
        self.slots = vec![Slot::default(); n_slots];
        let n_filter_bits = if draft.len() > MIN_FILTERED { (16 * draft.len()).next_power_of_two() } else { 0 };
        self.filter = vec![0; n_filter_bits / 64];
        for (text, items) in draft {
            let hashed = hash(&text);
            let slot = Slot {
                tag: (hashed >> 32) as u32 | 1,
                text_start: self.texts.len() as u32,
                text_len: text.len() as u32,
                items_start: self.items.len() as u32,
                items_len: items.len() as u32,
            };
            self.texts.extend_from_slice(&text);
            self.items.extend_from_slice(&items);
            if n_filter_bits > 0 {
                let bit = filter_bit(hashed, n_filter_bits);
                self.filter[bit / 64] |= 1 << (bit % 64);
            }
            let mut idx = hashed as usize & (n_slots - 1);
            while self.slots[idx].tag != 0 {
                idx = (idx + 1) & (n_slots - 1);
            }
            self.slots[idx] = slot;
        }
    }

    /// The items of `text`; empty when it is absent.
    #[inline]
    pub(crate) fn get(&self, text: &[u8]) -> &[u32] {
        self.lookup(text, false)
    }

    /// The items of `text` with its ASCII letters lowercased, for maps of folded texts: the same as
    /// `get` on the lowercased copy, without making one. Only for ASCII `text`.
    #[inline]
    pub(crate) fn get_ascii_lowercase(&self, text: &[u8]) -> &[u32] {
        self.lookup(text, true)
    }

    #[inline(always)]
    fn lookup(&self, text: &[u8], lowercase: bool) -> &[u32] {
        if self.slots.is_empty() {
            return &[];
        }
        let hashed = hash_words(text, lowercase);
        if !self.filter.is_empty() {
            let bit = filter_bit(hashed, self.filter.len() * 64);
            if self.filter[bit / 64] >> (bit % 64) & 1 == 0 {
                return &[];
            }
        }
        let tag = (hashed >> 32) as u32 | 1;
        let mask = self.slots.len() - 1;
        let mut idx = hashed as usize & mask;
        loop {
            let slot = self.slots[idx];
            if slot.tag == 0 {
                return &[];
            }
            if slot.tag == tag && slot.text_len as usize == text.len() {
                let start = slot.text_start as usize;
                let stored = &self.texts[start..start + text.len()];
                let equal = if lowercase {
                    words(stored, false).zip(words(text, true)).all(|(left, right)| left == right)
                } else {
                    same_bytes(stored, text)
                };
                if equal {
                    let items_start = slot.items_start as usize;
                    return &self.items[items_start..items_start + slot.items_len as usize];
                }
            }
            idx = (idx + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TextMap;

    #[test]
    fn byte_equality() {
        for (left, right) in [("", ""), ("a", "a"), ("abcdefgh", "abcdefgh"), ("abcdefghijklmnop", "abcdefghijklmnop")]
        {
            assert!(super::same_bytes(left.as_bytes(), right.as_bytes()));
        }
        for (left, right) in [("a", "b"), ("abcdefgh", "abcdefgX"), ("abcdefghijkl", "Xbcdefghijkl"), ("ab", "abc")] {
            assert!(!super::same_bytes(left.as_bytes(), right.as_bytes()));
        }
        let long = "x".repeat(40);
        assert!(super::same_bytes(long.as_bytes(), long.as_bytes()));
    }

    #[test]
    fn lowercase_words() {
        let text = b"Hello, WORLD! [@`{] \x80\xc3\x89 az AZ";
        for chunk in text.chunks(8) {
            let expected: Vec<u8> = chunk.iter().map(|byte| byte.to_ascii_lowercase()).collect();
            let word = super::words(chunk, true).next().unwrap();
            assert_eq!(&word.to_le_bytes()[..chunk.len()], &expected[..], "{chunk:?}");
        }
        let mut map = TextMap::default();
        map.insert(b"straight street", 1);
        map.insert(b"st", 2);
        map.seal();
        assert_eq!(map.get_ascii_lowercase(b"Straight STREET"), [1]);
        assert_eq!(map.get_ascii_lowercase(b"ST"), [2]);
        assert!(map.get_ascii_lowercase(b"STX").is_empty());
    }

    #[test]
    fn lookups() {
        let mut map = TextMap::default();
        for idx in 0..1000u32 {
            map.insert(format!("text-{idx}").as_bytes(), idx);
            map.insert(format!("text-{}", idx % 10).as_bytes(), 10_000 + idx);
        }
        map.insert(b"", 7);
        map.seal();
        assert_eq!(map.get(b"text-500"), [500]);
        assert_eq!(map.get(b"text-3").len(), 1 + 100);
        assert_eq!(map.get(b""), [7]);
        assert!(map.get(b"text-1000").is_empty());
        assert!(TextMap::default().get(b"x").is_empty());
    }
}
