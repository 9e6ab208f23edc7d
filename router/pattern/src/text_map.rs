//! Texts to lists of items, for the exact, `exactly`, literal-number, ignore-case and affix lookups of
//! a field. Built through a hash map, then sealed into one open-addressing table of 32-byte slots
//! (half a cache line, aligned) that keep a 32-bit hash tag, texts of up to 16 bytes and a single
//! item inline, and two arenas for longer texts and longer item lists. A large map also gets a
//! blocked bit filter (16 bits per text: two bits of one word; a few KiB that stay in cache, about 2%
//! false positives), so most lookups that miss, the common case, touch nothing else; a hit on a short
//! text with one item touches one slot whatever the number of rules (with many rules the tables
//! outgrow the cache and every line touched is a miss).

use std::hash::Hasher;

use rustc_hash::{FxHashMap, FxHasher};

#[derive(Debug, Default)]
pub(crate) struct TextMap {
    draft: FxHashMap<Box<[u8]>, Vec<u32>>,
    slots: Vec<Slot>,
    /// Empty for small maps; else, per text, the two bits `filter_bits` of its hash, in one word.
    filter: Vec<u64>,
    texts: Vec<u8>,
    items: Vec<u32>,
    /// Bit `n` set when some text is `n` bytes long (bit 63: 63 bytes or more), so that a lookup of a
    /// length no text has, common in small maps, costs no hashing.
    lengths: u64,
}

#[inline(always)]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Maps with more texts than this get a bit filter.
const MIN_FILTERED: usize = 32;

/// The word of the filter (given its number of words) and the two bits in it that stand for a hash,
/// from the hash's upper bits (Fx hashes mix those best; the slot index uses the lower ones).
#[inline(always)]
fn filter_bits(hashed: u64, n_words: usize) -> (usize, u64) {
    let word = (hashed >> 40) as usize & (n_words - 1);
    (word, 1 << (hashed >> 28 & 63) | 1 << (hashed >> 34 & 63))
}

/// Texts up to this long are kept in their slot.
const INLINE_TEXT: usize = 16;

#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    /// Upper hash bits with the lowest bit set; 0 marks an empty slot.
    tag: u32,
    text_len: u32,
    /// The text itself when it is at most `INLINE_TEXT` bytes (zero-padded), else its start in
    /// `texts` in the first four bytes.
    text: [u8; INLINE_TEXT],
    /// The item itself when there is one, else the start of the items in `items`.
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
        let n_filter_words = if draft.len() > MIN_FILTERED { (16 * draft.len()).next_power_of_two() / 64 } else { 0 };
        self.filter = vec![0; n_filter_words];
        for (text, items) in draft {
            self.lengths |= length_bit(text.len());
            let hashed = hash(&text);
            let mut inline = [0u8; INLINE_TEXT];
            if text.len() <= INLINE_TEXT {
                inline[..text.len()].copy_from_slice(&text);
            } else {
                inline[..4].copy_from_slice(&(self.texts.len() as u32).to_le_bytes());
                self.texts.extend_from_slice(&text);
            }
            let items_start = match *items {
                [only] => only,
                _ => {
                    self.items.extend_from_slice(&items);
                    (self.items.len() - items.len()) as u32
                }
            };
            let slot = Slot {
                tag: (hashed >> 32) as u32 | 1,
                text_len: text.len() as u32,
                text: inline,
                items_start,
                items_len: items.len() as u32,
            };
            if n_filter_words > 0 {
                let (word, bits) = filter_bits(hashed, n_filter_words);
                self.filter[word] |= bits;
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
        if self.lengths & length_bit(text.len()) == 0 {
            return &[];
        }
        let hashed = hash_words(text, lowercase);
        if !self.filter.is_empty() {
            let (word, bits) = filter_bits(hashed, self.filter.len());
            if self.filter[word] & bits != bits {
                return &[];
            }
        }
        let tag = (hashed >> 32) as u32 | 1;
        let mask = self.slots.len() - 1;
        let mut idx = hashed as usize & mask;
        loop {
            let slot = &self.slots[idx];
            if slot.tag == 0 {
                return &[];
            }
            if slot.tag == tag && slot.text_len as usize == text.len() {
                let stored = if text.len() <= INLINE_TEXT {
                    &slot.text[..text.len()]
                } else {
                    let start = u32::from_le_bytes(slot.text[..4].try_into().expect("4 bytes")) as usize;
                    &self.texts[start..start + text.len()]
                };
                let equal = if lowercase {
                    words(stored, false).zip(words(text, true)).all(|(left, right)| left == right)
                } else {
                    same_bytes(stored, text)
                };
                if equal {
                    return match slot.items_len {
                        1 => std::slice::from_ref(&slot.items_start),
                        len => {
                            let start = slot.items_start as usize;
                            &self.items[start..start + len as usize]
                        }
                    };
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
        let long = "a text longer than the sixteen bytes kept in a slot";
        map.insert(long.as_bytes(), 8);
        map.insert(long.as_bytes(), 9);
        map.seal();
        assert_eq!(map.get(long.as_bytes()), [8, 9]);
        assert!(map.get(&long.as_bytes()[1..]).is_empty());
        assert_eq!(map.get(b"text-500"), [500]);
        assert_eq!(map.get(b"text-3").len(), 1 + 100);
        assert_eq!(map.get(b""), [7]);
        assert!(map.get(b"text-1000").is_empty());
        assert!(TextMap::default().get(b"x").is_empty());
    }
}
