//! Skipping a whole object or array of trusted JSON by counting brackets, 64 bytes at a time.
//!
//! Each block is classified into bit masks (quotes, backslashes, opening and closing brackets); escaped
//! quotes are removed, a prefix-xor of the quote mask marks the bytes inside strings, and brackets
//! inside strings are dropped. A block whose closing brackets cannot bring the depth to zero is skipped
//! with two popcounts; otherwise its brackets are walked in order. The input is trusted: this code
//! never validates, but it never reads out of bounds or panics on any input either.

const BLOCK: usize = 64;

/// The position after the bracket closing the container whose content starts at `start` (just after
/// its opening bracket), or `bytes.len()` when the input ends first.
#[inline(always)]
pub(crate) fn container_end(bytes: &[u8], start: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        match wide::level() {
            // SAFETY: the CPU supports what each function enables (probed at run time by `level`).
            wide::Level::Avx512 => return unsafe { wide::container_end_avx512(bytes, start) },
            wide::Level::Avx2 => return unsafe { wide::container_end(bytes, start) },
            wide::Level::Baseline => {}
        }
    }
    container_end_with(bytes, start, classify, prefix_xor)
}

#[inline(always)]
fn container_end_with(
    bytes: &[u8],
    start: usize,
    classify: impl Fn(&[u8; BLOCK]) -> Masks,
    prefix_xor: impl Fn(u64) -> u64,
) -> usize {
    let mut depth: u64 = 1;
    let mut inside_string: u64 = 0;
    let mut escape_carry: u64 = 0;
    let mut pos = start;
    let mut padded = [b' '; BLOCK];
    while pos < bytes.len() {
        let block = block_at(bytes, pos, &mut padded);
        let masks = classify(block);
        let escaped = escaped_bits(masks.backslash, &mut escape_carry);
        let quotes = masks.quote & !escaped;
        let string_bits = prefix_xor(quotes) ^ inside_string;
        inside_string = ((string_bits as i64) >> 63) as u64;
        let opens = masks.open & !string_bits;
        let closes = masks.close & !string_bits;
        let n_closes = u64::from(closes.count_ones());
        if n_closes < depth {
            depth = depth + u64::from(opens.count_ones()) - n_closes;
        } else {
            let mut brackets = opens | closes;
            while brackets != 0 {
                let bit = brackets.trailing_zeros();
                if opens >> bit & 1 == 1 {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        return (pos + bit as usize + 1).min(bytes.len());
                    }
                }
                brackets &= brackets - 1;
            }
        }
        pos += BLOCK;
    }
    bytes.len()
}

/// Most keys a `FlatKeys` searches for.
pub(crate) const MAX_FLAT_KEYS: usize = 2;
/// Most occurrences of its keys a `FlatKeys` scan records; an object with more is read key by key.
const MAX_FLAT_HITS: usize = 4;

/// The keys searched for in a flat object of trusted input, all in one pass that also finds the
/// object's end. Each block is classified into quotes, backslashes and brackets; a prefix-xor of the
/// quotes marks the bytes inside strings. The object must have no backslash and no `{` or `[`
/// outside strings before its first `}` outside strings, which is its end: without backslashes every
/// `"` delimits a string, and without nesting every key sits at the object's own level. The opening
/// quotes followed by the first two bytes of a name are the candidates, checked against the whole
/// name, its closing quote and a `:` after it.
#[derive(Debug)]
pub(crate) struct FlatKeys {
    /// (first, second) byte of each name; a one-byte name gives (byte, `"`).
    pairs: Box<[[u8; 2]]>,
    /// Each name followed by its closing quote, with the node of its value.
    keys: Box<[(Box<[u8]>, u32)]>,
}

/// What a `FlatKeys` scan found: the value of each occurrence of a key (its position, its node) in
/// the order of the text.
#[derive(Debug, Default)]
pub(crate) struct FlatHits {
    len: usize,
    hits: [(usize, u32); MAX_FLAT_HITS],
}

impl FlatHits {
    #[inline(always)]
    pub(crate) fn hits(&self) -> &[(usize, u32)] {
        &self.hits[..self.len]
    }
}

impl FlatKeys {
    /// Keys named `keys` (with the node of each), or `None` when there are none, too many, or one
    /// is empty.
    pub(crate) fn new<'n>(keys: impl IntoIterator<Item = (&'n [u8], u32)>) -> Option<FlatKeys> {
        let keys: Vec<(Box<[u8]>, u32)> =
            keys.into_iter().map(|(name, node)| ([name, b"\""].concat().into_boxed_slice(), node)).collect();
        let mut pairs: Vec<[u8; 2]> = Vec::new();
        for (quoted, _) in &keys {
            match **quoted {
                [first, second, _, ..] => pairs.push([first, second]),
                [only, quote] => pairs.push([only, quote]),
                _ => return None,
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        if keys.is_empty() || keys.len() > MAX_FLAT_KEYS {
            return None;
        }
        Some(FlatKeys { pairs: pairs.into_boxed_slice(), keys: keys.into_boxed_slice() })
    }

    /// For trusted input, the object whose content starts at `start` (just after its `{`): the
    /// position after its `}`, with the values of its keys in `found`, when it is flat and has no
    /// backslash; `None` otherwise, when the input ends first, or when the keys occur too many times.
    pub(crate) fn scan(&self, bytes: &[u8], start: usize, found: &mut FlatHits) -> Option<usize> {
        found.len = 0;
        #[cfg(target_arch = "x86_64")]
        {
            if wide::level() == wide::Level::Avx512 {
                // SAFETY: the CPU has AVX-512BW and PCLMULQDQ (probed by `level`).
                return unsafe { wide::flat_scan_avx512(self, bytes, start, found) };
            }
        }
        let classify = |block: &[u8; BLOCK]| {
            let masks = classify_block(block);
            let equal = |byte: u8| equal_bits(block, byte);
            (masks, pair_follows(equal, &self.pairs))
        };
        self.scan_with(bytes, start, found, classify, prefix_xor)
    }

    /// `scan` with a given classification of a block: its masks, and the bits of the positions
    /// followed by one of the pairs (see `pair_follows`).
    #[inline(always)]
    fn scan_with(
        &self,
        bytes: &[u8],
        start: usize,
        found: &mut FlatHits,
        classify: impl Fn(&[u8; BLOCK]) -> (Masks, u64),
        prefix_xor: impl Fn(u64) -> u64,
    ) -> Option<usize> {
        let mut inside_string: u64 = 0;
        let mut pos = start;
        let mut padded = [b' '; BLOCK];
        while pos < bytes.len() {
            let block = block_at(bytes, pos, &mut padded);
            let (masks, follows) = classify(block);
            let string_bits = prefix_xor(masks.quote) ^ inside_string;
            inside_string = ((string_bits as i64) >> 63) as u64;
            let closes = masks.close & !string_bits;
            // Everything before the first closing bracket belongs to the object.
            let before_close = if closes == 0 { u64::MAX } else { (closes & closes.wrapping_neg()) - 1 };
            if (masks.backslash | (masks.open & !string_bits)) & before_close != 0 {
                return None;
            }
            // Opening quotes: a quote is inside the string it opens.
            let mut candidates = masks.quote & string_bits & follows & before_close;
            while candidates != 0 {
                let at = pos + candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if let Some((value, node)) = self.key_at(bytes, at + 1) {
                    if found.len == MAX_FLAT_HITS {
                        return None;
                    }
                    found.hits[found.len] = (value, node);
                    found.len += 1;
                }
            }
            if closes != 0 {
                return Some((pos + closes.trailing_zeros() as usize + 1).min(bytes.len()));
            }
            pos += BLOCK;
        }
        None
    }

    /// When the string whose content starts at `start` is one of the names and is followed by `:`,
    /// the position of its value and the value's node. The object has no backslash, so the string
    /// ends at the first quote.
    #[inline(always)]
    fn key_at(&self, bytes: &[u8], start: usize) -> Option<(usize, u32)> {
        let (quoted, node) = self.keys.iter().find(|(quoted, _)| {
            bytes.get(start..start + quoted.len()).is_some_and(|text| crate::text_map::same_bytes(text, quoted))
        })?;
        let colon = crate::event::skip_ws(bytes, start + quoted.len());
        (bytes.get(colon) == Some(&b':')).then(|| (crate::event::skip_ws(bytes, colon + 1), *node))
    }
}

/// Bits of the positions whose next two bytes are one of `pairs`, given `equal(byte)`, the bits of
/// the block's bytes equal to `byte`. The last two positions, whose next bytes lie in the next block,
/// are always set (they are checked byte by byte).
#[inline(always)]
fn pair_follows(equal: impl Fn(u8) -> u64, pairs: &[[u8; 2]]) -> u64 {
    let mut follows = 0b11 << (BLOCK - 2);
    for &[first, second] in pairs {
        follows |= (equal(first) >> 1) & (equal(second) >> 2);
    }
    follows
}

/// Most (first byte, second byte) pairs a `KeyNeedles` compares per block.
const MAX_NEEDLE_PAIRS: usize = 4;
/// Positions a `KeyNeedles` search settles per 64-byte block: each needs the two bytes after it.
const NEEDLE_STEP: usize = BLOCK - 2;

/// The names of the keys that may still matter to a walk, for trusted input: the walker may stop
/// reading an event when nothing after its position can be one of these keys. A key spelled without
/// escapes appears in the text as `"name"`, or `"name.` when it is a dotted path; a key spelled with
/// escapes contains a backslash. So a text with neither, from some position to its end, has no such
/// key there, at any depth. The search compares each byte with `"`, `\` and the bytes of a few
/// (first, second) pairs, 62 positions per 64-byte block, which is cheaper than counting brackets.
#[derive(Debug)]
pub(crate) struct KeyNeedles {
    /// (first, second) byte of each name; a one-byte name gives (byte, `"`) and (byte, `.`).
    pairs: Box<[[u8; 2]]>,
    names: Box<[Box<[u8]>]>,
}

impl KeyNeedles {
    /// Needles for keys named `names`, or `None` when they are too many to search for cheaply (or
    /// one is empty).
    pub(crate) fn new<'n>(names: impl IntoIterator<Item = &'n [u8]>) -> Option<KeyNeedles> {
        let names: Vec<Box<[u8]>> = names.into_iter().map(Box::from).collect();
        let mut pairs: Vec<[u8; 2]> = Vec::new();
        for name in &names {
            match **name {
                [] => return None,
                [only] => pairs.extend([[only, b'"'], [only, b'.']]),
                [first, second, ..] => pairs.push([first, second]),
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        if pairs.is_empty() || pairs.len() > MAX_NEEDLE_PAIRS {
            return None;
        }
        Some(KeyNeedles { pairs: pairs.into_boxed_slice(), names: names.into_boxed_slice() })
    }

    /// The first position at or after `pos` where one of the keys may start (the opening quote of
    /// `"name"` or `"name.`, or any backslash), or `None` when there is none up to the end.
    pub(crate) fn next_candidate(&self, bytes: &[u8], pos: usize) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        {
            if wide::level() == wide::Level::Avx512 {
                // SAFETY: the CPU has AVX-512BW (probed by `level`).
                return unsafe { wide::next_candidate_avx512(self, bytes, pos) };
            }
        }
        self.next_candidate_with(bytes, pos, |block| {
            let equal = |byte: u8| equal_bits(block, byte);
            candidate_bits(equal, &self.pairs)
        })
    }

    /// `next_candidate` with a given classification of a block (see `candidate_bits`).
    #[inline(always)]
    fn next_candidate_with(
        &self,
        bytes: &[u8],
        mut pos: usize,
        classify: impl Fn(&[u8; BLOCK]) -> u64,
    ) -> Option<usize> {
        let mut padded = [0u8; BLOCK];
        while pos < bytes.len() {
            let block: &[u8; BLOCK] = match bytes.get(pos..pos + BLOCK) {
                Some(block) => block.try_into().expect("a 64-byte slice"),
                None => {
                    // Zeros past the end: never a quote or a backslash, and a name that holds a
                    // zero byte is checked against the real text below.
                    let rest = &bytes[pos..];
                    padded[..rest.len()].copy_from_slice(rest);
                    &padded
                }
            };
            let mut bits = classify(block);
            while bits != 0 {
                let at = pos + bits.trailing_zeros() as usize;
                if at >= bytes.len() {
                    return None;
                }
                if bytes[at] == b'\\' || self.is_key_at(bytes, at + 1) {
                    return Some(at);
                }
                bits &= bits - 1;
            }
            pos += NEEDLE_STEP;
        }
        None
    }

    /// Whether one of the names, followed by `"` or `.`, starts at `start`.
    #[inline(always)]
    fn is_key_at(&self, bytes: &[u8], start: usize) -> bool {
        self.names.iter().any(|name| {
            bytes.get(start..start + name.len()).is_some_and(|text| text == &**name)
                && matches!(bytes.get(start + name.len()), Some(b'"' | b'.'))
        })
    }
}

/// The candidates among the first 62 positions of a block, given `equal(byte)`, the bits of the
/// block's bytes equal to `byte`: a `\`, or a `"` whose next two bytes are one of `pairs`.
#[inline(always)]
fn candidate_bits(equal: impl Fn(u8) -> u64, pairs: &[[u8; 2]]) -> u64 {
    const SETTLED: u64 = (1 << NEEDLE_STEP) - 1;
    let mut follows = 0u64;
    for &[first, second] in pairs {
        follows |= (equal(first) >> 1) & (equal(second) >> 2);
    }
    ((equal(b'"') & follows) | equal(b'\\')) & SETTLED
}

/// Bit i set when block[i] is `byte`.
#[inline(always)]
fn equal_bits(block: &[u8; BLOCK], byte: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes inside `block`.
        unsafe {
            let wanted = _mm_set1_epi8(byte as i8);
            let mut bits = 0u64;
            for lane in 0..4 {
                let chunk = _mm_loadu_si128(block.as_ptr().add(lane * 16) as *const __m128i);
                bits |= (_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, wanted)) as u16 as u64) << (lane * 16);
            }
            bits
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        block.iter().enumerate().fold(0u64, |bits, (idx, &found)| bits | u64::from(found == byte) << idx)
    }
}

/// The 64 bytes at `pos`; past the end of `bytes` the block is padded with spaces in `padded`.
#[inline(always)]
fn block_at<'a>(bytes: &'a [u8], pos: usize, padded: &'a mut [u8; BLOCK]) -> &'a [u8; BLOCK] {
    match bytes.get(pos..pos + BLOCK) {
        Some(block) => block.try_into().expect("a 64-byte slice"),
        None => {
            let rest = &bytes[pos..];
            *padded = [b' '; BLOCK];
            padded[..rest.len()].copy_from_slice(rest);
            padded
        }
    }
}

/// The widest classification this CPU runs, for one block.
#[inline(always)]
fn classify_block(block: &[u8; BLOCK]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        if wide::level() == wide::Level::Avx512 {
            // SAFETY: the CPU has AVX-512BW (probed by `level`).
            return unsafe { wide::classify_avx512(block) };
        }
    }
    classify(block)
}

struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// Bits of the characters preceded by an odd run of backslashes. `carry` is 1 when the previous block
/// ended with an escaping backslash.
#[inline(always)]
fn escaped_bits(backslash: u64, carry: &mut u64) -> u64 {
    if backslash == 0 && *carry == 0 {
        return 0;
    }
    let mut escaped = *carry;
    // A backslash that is itself escaped escapes nothing.
    let mut escapers = backslash & !*carry;
    *carry = 0;
    while escapers != 0 {
        let bit = escapers.trailing_zeros();
        if bit == 63 {
            *carry = 1;
            break;
        }
        escaped |= 1 << (bit + 1);
        escapers &= !(1 << bit);
        escapers &= !(1 << (bit + 1));
    }
    escaped
}

/// Bit i of the result is the xor of bits 0..=i of `bits`: 1 from an opening quote up to, not
/// including, its closing quote.
#[inline(always)]
fn prefix_xor(mut bits: u64) -> u64 {
    bits ^= bits << 1;
    bits ^= bits << 2;
    bits ^= bits << 4;
    bits ^= bits << 8;
    bits ^= bits << 16;
    bits ^= bits << 32;
    bits
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify(block: &[u8; BLOCK]) -> Masks {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes inside `block`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        // '[' | 0x20 == '{' and ']' | 0x20 == '}': one compare finds both kinds of bracket.
        let case_bit = _mm_set1_epi8(0x20);
        let open = _mm_set1_epi8(b'{' as i8);
        let close = _mm_set1_epi8(b'}' as i8);
        let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
        for lane in 0..4 {
            let bytes = _mm_loadu_si128(block.as_ptr().add(lane * 16) as *const __m128i);
            let folded = _mm_or_si128(bytes, case_bit);
            let shift = lane * 16;
            masks.quote |= (_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote)) as u16 as u64) << shift;
            masks.backslash |= (_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, backslash)) as u16 as u64) << shift;
            masks.open |= (_mm_movemask_epi8(_mm_cmpeq_epi8(folded, open)) as u16 as u64) << shift;
            masks.close |= (_mm_movemask_epi8(_mm_cmpeq_epi8(folded, close)) as u16 as u64) << shift;
        }
        masks
    }
}

#[cfg(target_arch = "x86_64")]
/// Wider vector code (AVX2, AVX-512) chosen at run time.
mod wide {
    use super::{BLOCK, FlatHits, FlatKeys, KeyNeedles, Masks, candidate_bits, container_end_with, pair_follows};

    pub(super) use crate::scan::{Level, vector_level as level};

    #[target_feature(enable = "avx512f,avx512bw,avx2,pclmulqdq,popcnt,bmi1")]
    pub(super) fn container_end_avx512(bytes: &[u8], start: usize) -> usize {
        container_end_with(bytes, start, |block: &[u8; BLOCK]| classify_avx512(block), |bits| prefix_xor(bits))
    }

    /// One 64-byte load, four compares straight into bit masks.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn classify_avx512(block: &[u8; BLOCK]) -> Masks {
        use std::arch::x86_64::*;
        // SAFETY: the load reads the 64 bytes of `block`; AVX-512BW is enabled for this function.
        let bytes = unsafe { _mm512_loadu_si512(block.as_ptr() as *const _) };
        let folded = _mm512_or_si512(bytes, _mm512_set1_epi8(0x20));
        Masks {
            quote: _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'"' as i8)),
            backslash: _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'\\' as i8)),
            open: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'{' as i8)),
            close: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'}' as i8)),
        }
    }

    #[target_feature(enable = "avx2,pclmulqdq,popcnt,bmi1")]
    pub(super) fn container_end(bytes: &[u8], start: usize) -> usize {
        // The closures inherit this function's target features, so they may call the functions below.
        container_end_with(bytes, start, |block: &[u8; BLOCK]| classify(block), |bits| prefix_xor(bits))
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn next_candidate_avx512(needles: &KeyNeedles, bytes: &[u8], pos: usize) -> Option<usize> {
        use std::arch::x86_64::*;
        needles.next_candidate_with(bytes, pos, |block: &[u8; BLOCK]| {
            // SAFETY: the load reads the 64 bytes of `block`.
            let loaded = unsafe { _mm512_loadu_si512(block.as_ptr() as *const _) };
            let equal = |byte: u8| _mm512_cmpeq_epi8_mask(loaded, _mm512_set1_epi8(byte as i8));
            candidate_bits(equal, &needles.pairs)
        })
    }

    #[target_feature(enable = "avx512f,avx512bw,pclmulqdq")]
    pub(super) fn flat_scan_avx512(keys: &FlatKeys, bytes: &[u8], start: usize, found: &mut FlatHits) -> Option<usize> {
        use std::arch::x86_64::*;
        let classify = |block: &[u8; BLOCK]| {
            // SAFETY: the load reads the 64 bytes of `block`.
            let loaded = unsafe { _mm512_loadu_si512(block.as_ptr() as *const _) };
            let equal = |byte: u8| _mm512_cmpeq_epi8_mask(loaded, _mm512_set1_epi8(byte as i8));
            let folded = _mm512_or_si512(loaded, _mm512_set1_epi8(0x20));
            let masks = Masks {
                quote: equal(b'"'),
                backslash: equal(b'\\'),
                open: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'{' as i8)),
                close: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'}' as i8)),
            };
            (masks, pair_follows(equal, &keys.pairs))
        };
        keys.scan_with(bytes, start, found, classify, |bits| prefix_xor(bits))
    }

    /// `super::prefix_xor` in one carry-less multiplication by all ones.
    #[target_feature(enable = "pclmulqdq")]
    pub(super) fn prefix_xor(bits: u64) -> u64 {
        use std::arch::x86_64::*;
        let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, bits as i64), _mm_set1_epi8(-1), 0);
        _mm_cvtsi128_si64(product) as u64
    }

    #[target_feature(enable = "avx2")]
    fn classify(block: &[u8; BLOCK]) -> Masks {
        use std::arch::x86_64::*;
        // SAFETY: both loads read 32 bytes inside `block`; AVX2 is enabled for this function.
        unsafe {
            let quote = _mm256_set1_epi8(b'"' as i8);
            let backslash = _mm256_set1_epi8(b'\\' as i8);
            let case_bit = _mm256_set1_epi8(0x20);
            let open = _mm256_set1_epi8(b'{' as i8);
            let close = _mm256_set1_epi8(b'}' as i8);
            let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
            for lane in 0..2 {
                let bytes = _mm256_loadu_si256(block.as_ptr().add(lane * 32) as *const __m256i);
                let folded = _mm256_or_si256(bytes, case_bit);
                let shift = lane * 32;
                masks.quote |= (_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, quote)) as u32 as u64) << shift;
                masks.backslash |= (_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, backslash)) as u32 as u64) << shift;
                masks.open |= (_mm256_movemask_epi8(_mm256_cmpeq_epi8(folded, open)) as u32 as u64) << shift;
                masks.close |= (_mm256_movemask_epi8(_mm256_cmpeq_epi8(folded, close)) as u32 as u64) << shift;
            }
            masks
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify(block: &[u8; BLOCK]) -> Masks {
    let mut masks = Masks { quote: 0, backslash: 0, open: 0, close: 0 };
    for (idx, &byte) in block.iter().enumerate() {
        let bit = 1u64 << idx;
        match byte {
            b'"' => masks.quote |= bit,
            b'\\' => masks.backslash |= bit,
            b'{' | b'[' => masks.open |= bit,
            b'}' | b']' => masks.close |= bit,
            _ => {}
        }
    }
    masks
}

#[cfg(test)]
mod tests {
    use super::container_end;

    fn check(text: &str, expected_rest: &str) {
        let end = container_end(text.as_bytes(), 1);
        assert_eq!(&text[end..], expected_rest, "{text}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn carryless_prefix_xor_agrees() {
        if super::wide::level() == super::wide::Level::Baseline {
            return;
        }
        for bits in [0u64, 1, 0b1010, 0x8000_0000_0000_0001, 0xdead_beef_0bad_f00d, u64::MAX] {
            // SAFETY: the CPU has PCLMULQDQ (checked by `available`).
            assert_eq!(unsafe { super::wide::prefix_xor(bits) }, super::prefix_xor(bits));
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_vector_level_agrees() {
        let long = format!(r#"{{"k":"{}","l":[{}]}}!"#, "\\\"}".repeat(40), "[1],".repeat(50) + "2");
        let texts = [long.as_str(), r#"["\\", "]"] rest"#, "[[[", r#"{"a":[1,{"b":"}"}],"c":"\"]"}, tail"#];
        for text in texts {
            let expected = super::container_end_with(text.as_bytes(), 1, super::classify, super::prefix_xor);
            if super::wide::level() != super::wide::Level::Baseline {
                // SAFETY: the CPU has AVX2 and friends (probed).
                assert_eq!(unsafe { super::wide::container_end(text.as_bytes(), 1) }, expected, "{text}");
            }
            if super::wide::level() == super::wide::Level::Avx512 {
                // SAFETY: the CPU has AVX-512BW (probed).
                assert_eq!(unsafe { super::wide::container_end_avx512(text.as_bytes(), 1) }, expected, "{text}");
            }
        }
    }

    #[test]
    fn key_candidates_at_every_offset() {
        let needles = super::KeyNeedles::new([&b"properties"[..], b"a"]).unwrap();
        // The first candidate by definition: a backslash, or `"` + name + `"` or `.`.
        let naive = |text: &[u8], pos: usize| {
            (pos..text.len()).find(|&at| {
                let rest = &text[at..];
                rest[0] == b'\\'
                    || [&b"properties"[..], b"a"].iter().any(|name| {
                        rest.len() > name.len() + 1
                            && rest[0] == b'"'
                            && &rest[1..=name.len()] == *name
                            && matches!(rest[name.len() + 1], b'"' | b'.')
                    })
            })
        };
        for needle in
            [&br#""properties""#[..], br#""properties.x""#, br#""a""#, br#""a."#, b"\\", br#""propertie""#, br#""ab""#]
        {
            for offset in 0..140 {
                let mut text = vec![b'x'; offset];
                text.extend_from_slice(needle);
                text.extend_from_slice(&vec![b'y'; 150 - offset]);
                for end in [text.len(), offset + needle.len(), offset + needle.len() - 1] {
                    let text = &text[..end];
                    for pos in [0, offset.saturating_sub(3), offset, offset + 1] {
                        assert_eq!(
                            needles.next_candidate(text, pos),
                            naive(text, pos),
                            "{needle:?} {offset} {end} {pos}"
                        );
                    }
                }
            }
        }
        assert!(super::KeyNeedles::new([&b""[..]]).is_none());
        assert!(super::KeyNeedles::new([&b"ab"[..], b"cd", b"ef", b"gh", b"ij"]).is_none());
    }

    #[test]
    fn flat_objects() {
        fn flat(text: &str) -> Option<&str> {
            let keys = super::FlatKeys::new([(&b"zz"[..], 1)]).unwrap();
            keys.scan(text.as_bytes(), 1, &mut Default::default()).map(|end| &text[end..])
        }
        assert_eq!(flat(r#"{"a":"x}","b":1} rest"#), Some(" rest"));
        assert_eq!(flat(r#"{"a":{"b":1}} rest"#), None);
        assert_eq!(flat(r#"{"a":[1]} rest"#), None);
        assert_eq!(flat(r#"{"a":"\"x"} rest"#), None);
        assert_eq!(flat(r#"{"a":"[{"} rest"#), Some(" rest"));
        let long = format!(r#"{{"k":"{}","l":2}}!"#, "v".repeat(200));
        assert_eq!(flat(&long), Some("!"));
        assert_eq!(flat(r#"{"a":1"#), None);
        // A backslash after the object does not count.
        assert_eq!(flat(r#"{"a":1} "\""#), Some(r#" "\""#));
    }

    #[test]
    fn flat_keys_at_every_offset() {
        let keys = super::FlatKeys::new([(&b"STREET"[..], 7), (b"S", 9)]).unwrap();
        // By definition: every string of the object equal to a name and followed by `:` (a key: a
        // string value is followed by `,` or `}`).
        let naive = |text: &[u8]| {
            let mut hits = Vec::new();
            let mut at = 1;
            while text[at] != b'}' {
                if text[at] == b'"' {
                    let close = at + 1 + text[at + 1..].iter().position(|&byte| byte == b'"').unwrap();
                    let name = &text[at + 1..close];
                    let mut after = close + 1;
                    while text[after] == b' ' {
                        after += 1;
                    }
                    if text[after] == b':' {
                        let mut value = after + 1;
                        while text[value] == b' ' {
                            value += 1;
                        }
                        match name {
                            b"STREET" => hits.push((value, 7)),
                            b"S" => hits.push((value, 9)),
                            _ => {}
                        }
                    }
                    at = close + 1;
                } else {
                    at += 1;
                }
            }
            (at + 1, hits)
        };
        let members = [
            r#""STREET":"x""#,
            r#""S" : 1"#,
            r#""a":"STREET""#,
            r#""STREETS":"S""#,
            r#""b":"\"STREET\":""#,
            r#""STREET":"}{""#,
        ];
        for first in members {
            for second in members {
                for pad in 0..70 {
                    let text = format!(r#"{{"p":"{}",{first},"STREET":2,{second}}} "S":3"#, "y".repeat(pad));
                    let mut found = super::FlatHits::default();
                    let end = keys.scan(text.as_bytes(), 1, &mut found);
                    if text.contains('\\') {
                        assert!(end.is_none(), "{text}");
                        continue;
                    }
                    assert_eq!((end.unwrap(), found.hits().to_vec()), naive(text.as_bytes()), "{text}");
                }
            }
        }
        // Too many occurrences: read key by key instead.
        let many = format!("{{{}\"z\":1}}", r#""S":1,"#.repeat(5));
        assert!(keys.scan(many.as_bytes(), 1, &mut Default::default()).is_none());
        assert!(super::FlatKeys::new([(&b""[..], 1)]).is_none());
        assert!(super::FlatKeys::new([(&b"a"[..], 1), (b"b", 2), (b"c", 3)]).is_none());
        // Truncated input never panics.
        let text = br#"{"STREET":"x","S":"#;
        for end in 1..text.len() {
            let _ = keys.scan(&text[..end], 1, &mut Default::default());
        }
    }

    #[test]
    fn skips_containers() {
        check("{}x", "x");
        check(r#"{"a":[1,{"b":"}"}],"c":"\"]"}, tail"#, ", tail");
        check(r#"["\\", "]"] rest"#, " rest");
        check(r#"["\\\"]", 1] rest"#, " rest");
        let long = format!(r#"{{"k":"{}","l":[{}]}}!"#, "\\\"}".repeat(40), "[1],".repeat(50) + "2");
        check(&long, "!");
        check("[[[", "");
        let escapes_at_block_edge = format!("[\"{}\\\"]\"]!", "a".repeat(60));
        check(&escapes_at_block_edge, "!");
    }
}
