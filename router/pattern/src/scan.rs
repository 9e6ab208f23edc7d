//! Byte-scanning primitives of the event walker, 16 bytes at a time with SSE2 on x86_64 (part of its
//! baseline) and a plain loop elsewhere. They only find positions; what a position means is decided
//! by `event.rs`. Every load is bounds-checked against the slice: the tails go byte by byte.

/// What `string_special` found at the returned position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StringScan {
    /// Position of the first `"`, `\` or control character at or after the start (or the length).
    pub(crate) pos: usize,
    /// Whether a byte >= 0x80 was passed on the way (the run needs UTF-8 validation).
    pub(crate) non_ascii: bool,
}

/// A 64-byte window of the positions of `"` and `\`, reused across consecutive searches: the key, the
/// value and the next key of a small object usually sit in one window, so one classification serves
/// several strings.
#[derive(Debug, Default)]
pub(crate) struct QuoteWindow {
    base: usize,
    bits: u64,
    loaded: bool,
}

impl QuoteWindow {
    /// Like `quote_or_backslash`.
    #[inline(always)]
    pub(crate) fn next(&mut self, bytes: &[u8], mut pos: usize) -> usize {
        loop {
            if self.loaded && pos >= self.base {
                let offset = pos - self.base;
                if offset < 64 {
                    let ahead = self.bits >> offset;
                    if ahead != 0 {
                        return pos + ahead.trailing_zeros() as usize;
                    }
                    pos = self.base + 64;
                }
            }
            if pos >= bytes.len() {
                return bytes.len();
            }
            self.base = pos;
            self.bits = quote_bits(bytes, pos);
            self.loaded = true;
        }
    }
}

/// A 64-byte window of byte classes for validating reads: string specials (`"`, `\`, control
/// characters), non-ASCII bytes and non-digits. Keys, short strings and the digit runs of numbers in
/// one window share one classification. Bytes past the end of the input count as control characters,
/// so every search stops there.
#[derive(Debug, Default)]
pub(crate) struct ClassWindow {
    base: usize,
    special: u64,
    high: u64,
    non_digit: u64,
    loaded: bool,
}

impl ClassWindow {
    #[inline(always)]
    fn ensure(&mut self, bytes: &[u8], pos: usize) {
        if !self.loaded || pos < self.base || pos - self.base >= 64 {
            self.load(bytes, pos);
        }
    }

    fn load(&mut self, bytes: &[u8], pos: usize) {
        let mut block;
        let window: &[u8; 64] = match bytes.get(pos..pos + 64) {
            Some(window) => window.try_into().expect("a 64-byte slice"),
            None => {
                let rest = &bytes[pos.min(bytes.len())..];
                block = [0u8; 64];
                block[..rest.len()].copy_from_slice(rest);
                &block
            }
        };
        let (special, high, non_digit) = classes(window);
        *self = ClassWindow { base: pos, special, high, non_digit, loaded: true };
    }

    /// Like `string_special`.
    #[inline(always)]
    pub(crate) fn string_special(&mut self, bytes: &[u8], mut pos: usize) -> StringScan {
        let mut non_ascii = false;
        loop {
            if pos >= bytes.len() {
                return StringScan { pos: bytes.len(), non_ascii };
            }
            self.ensure(bytes, pos);
            let offset = pos - self.base;
            let ahead = self.special >> offset;
            if ahead != 0 {
                let at = ahead.trailing_zeros();
                non_ascii |= (self.high >> offset) & ((1u64 << at) - 1) != 0;
                return StringScan { pos: (pos + at as usize).min(bytes.len()), non_ascii };
            }
            non_ascii |= self.high >> offset != 0;
            pos = self.base + 64;
        }
    }

    /// Like `digits_end`.
    #[inline(always)]
    pub(crate) fn digits_end(&mut self, bytes: &[u8], mut pos: usize) -> usize {
        loop {
            if pos >= bytes.len() {
                return bytes.len();
            }
            self.ensure(bytes, pos);
            let offset = pos - self.base;
            let ahead = self.non_digit >> offset;
            if ahead != 0 {
                return (pos + ahead.trailing_zeros() as usize).min(bytes.len());
            }
            pos = self.base + 64;
        }
    }
}

/// (string specials, bytes >= 0x80, non-digits) of a 64-byte block.
#[inline(always)]
fn classes(window: &[u8; 64]) -> (u64, u64, u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        if vector_level() == Level::Avx512 {
            // SAFETY: the CPU has AVX-512BW (probed by `vector_level`).
            return unsafe { classes_avx512(window) };
        }
        let (mut special, mut high, mut digit) = (0u64, 0u64, 0u64);
        // SAFETY: SSE2 is in the x86_64 baseline; the loads read the 64 bytes of `window`.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control_max = _mm_set1_epi8(0x1f);
            let below = _mm_set1_epi8(b'0' as i8 - 1);
            let above = _mm_set1_epi8(b'9' as i8 + 1);
            for lane in 0..4 {
                let chunk = _mm_loadu_si128(window.as_ptr().add(lane * 16) as *const __m128i);
                let control = _mm_cmpeq_epi8(_mm_max_epu8(chunk, control_max), control_max);
                let found =
                    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)), control);
                let is_digit = _mm_and_si128(_mm_cmpgt_epi8(chunk, below), _mm_cmplt_epi8(chunk, above));
                let shift = lane * 16;
                special |= (_mm_movemask_epi8(found) as u16 as u64) << shift;
                high |= (_mm_movemask_epi8(chunk) as u16 as u64) << shift;
                digit |= (_mm_movemask_epi8(is_digit) as u16 as u64) << shift;
            }
        }
        (special, high, !digit)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut special, mut high, mut non_digit) = (0u64, 0u64, 0u64);
        for (idx, &byte) in window.iter().enumerate() {
            special |= u64::from(byte == b'"' || byte == b'\\' || byte < 0x20) << idx;
            high |= u64::from(byte >= 0x80) << idx;
            non_digit |= u64::from(!byte.is_ascii_digit()) << idx;
        }
        (special, high, non_digit)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn classes_avx512(window: &[u8; 64]) -> (u64, u64, u64) {
    use std::arch::x86_64::*;
    // SAFETY: the load reads the 64 bytes of `window`; AVX-512BW is enabled for this function.
    let bytes = unsafe { _mm512_loadu_si512(window.as_ptr() as *const _) };
    let special = _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'"' as i8))
        | _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'\\' as i8))
        | _mm512_cmple_epu8_mask(bytes, _mm512_set1_epi8(0x1f));
    let high = _mm512_movepi8_mask(bytes);
    let digit = _mm512_cmple_epu8_mask(_mm512_sub_epi8(bytes, _mm512_set1_epi8(b'0' as i8)), _mm512_set1_epi8(9));
    (special, high, !digit)
}

/// The widest vector code this CPU runs, probed once.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Baseline,
    Avx2,
    Avx512,
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn vector_level() -> Level {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0 = not probed yet, then 1 + the `Level` as a number.
    static LEVEL: AtomicU8 = AtomicU8::new(0);
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Baseline,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("pclmulqdq")
                && std::arch::is_x86_feature_detected!("popcnt")
                && std::arch::is_x86_feature_detected!("bmi1");
            let avx512 = avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw");
            let level = if avx512 {
                Level::Avx512
            } else if avx2 {
                Level::Avx2
            } else {
                Level::Baseline
            };
            LEVEL.store(1 + level as u8, Ordering::Relaxed);
            level
        }
    }
}

/// `quote_bits` for a full 64-byte window in one AVX-512 load.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn quote_bits_avx512(window: &[u8; 64]) -> u64 {
    use std::arch::x86_64::*;
    // SAFETY: the load reads the 64 bytes of `window`; AVX-512BW is enabled for this function.
    let bytes = unsafe { _mm512_loadu_si512(window.as_ptr() as *const _) };
    _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'"' as i8))
        | _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'\\' as i8))
}

/// Bit i set when bytes[pos + i] is `"` or `\` (bits past the end stay clear).
#[inline(always)]
fn quote_bits(bytes: &[u8], pos: usize) -> u64 {
    let mut block;
    let window: &[u8; 64] = match bytes.get(pos..pos + 64) {
        Some(window) => window.try_into().expect("a 64-byte slice"),
        None => {
            let rest = &bytes[pos.min(bytes.len())..];
            block = [b' '; 64];
            block[..rest.len()].copy_from_slice(rest);
            &block
        }
    };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        if vector_level() == Level::Avx512 {
            // SAFETY: the CPU has AVX-512BW (probed by `vector_level`).
            return unsafe { quote_bits_avx512(window) };
        }
        // SAFETY: SSE2 is in the x86_64 baseline; the loads read the 64 bytes of `window`.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let mut bits = 0u64;
            for lane in 0..4 {
                let chunk = _mm_loadu_si128(window.as_ptr().add(lane * 16) as *const __m128i);
                let found = _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash));
                bits |= (_mm_movemask_epi8(found) as u16 as u64) << (lane * 16);
            }
            bits
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        window
            .iter()
            .enumerate()
            .fold(0u64, |bits, (idx, &byte)| bits | (u64::from(byte == b'"' || byte == b'\\') << idx))
    }
}

/// Finds the first `"` or `\` at or after `pos`; the length of `bytes` when there is none. The plain
/// scan that `QuoteWindow` must agree with.
#[cfg(test)]
pub(crate) fn quote_or_backslash(bytes: &[u8], mut pos: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is in the x86_64 baseline; each load reads bytes[pos..pos + 16], in bounds.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            while pos + 16 <= bytes.len() {
                let chunk = _mm_loadu_si128(bytes.as_ptr().add(pos) as *const __m128i);
                let found = _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash));
                let mask = _mm_movemask_epi8(found) as u32;
                if mask != 0 {
                    return pos + mask.trailing_zeros() as usize;
                }
                pos += 16;
            }
        }
    }
    while pos < bytes.len() && bytes[pos] != b'"' && bytes[pos] != b'\\' {
        pos += 1;
    }
    pos
}

/// Finds the first `"`, `\` or control character (< 0x20) at or after `pos`, noting non-ASCII bytes
/// passed on the way.
#[inline(always)]
pub(crate) fn string_special(bytes: &[u8], mut pos: usize) -> StringScan {
    let mut non_ascii = false;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is in the x86_64 baseline; each load reads bytes[pos..pos + 16], in bounds.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control_max = _mm_set1_epi8(0x1f);
            while pos + 16 <= bytes.len() {
                let chunk = _mm_loadu_si128(bytes.as_ptr().add(pos) as *const __m128i);
                // chunk <= 0x1f (unsigned) exactly when max(chunk, 0x1f) == 0x1f.
                let control = _mm_cmpeq_epi8(_mm_max_epu8(chunk, control_max), control_max);
                let found =
                    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)), control);
                let mask = _mm_movemask_epi8(found) as u32;
                let high = _mm_movemask_epi8(chunk) as u32;
                if mask != 0 {
                    let at = mask.trailing_zeros();
                    non_ascii |= high & ((1u32 << at) - 1) != 0;
                    return StringScan { pos: pos + at as usize, non_ascii };
                }
                non_ascii |= high != 0;
                pos += 16;
            }
        }
    }
    while pos < bytes.len() {
        let byte = bytes[pos];
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        non_ascii |= byte >= 0x80;
        pos += 1;
    }
    StringScan { pos, non_ascii }
}

/// The end of the run of ASCII digits starting at `pos`.
#[inline(always)]
pub(crate) fn digits_end(bytes: &[u8], mut pos: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is in the x86_64 baseline; each load reads bytes[pos..pos + 16], in bounds.
        unsafe {
            let below = _mm_set1_epi8(b'0' as i8 - 1);
            let above = _mm_set1_epi8(b'9' as i8 + 1);
            while pos + 16 <= bytes.len() {
                let chunk = _mm_loadu_si128(bytes.as_ptr().add(pos) as *const __m128i);
                // Signed compares: bytes >= 0x80 are negative, so they count as non-digits too.
                let digit = _mm_and_si128(_mm_cmpgt_epi8(chunk, below), _mm_cmplt_epi8(chunk, above));
                let mask = !(_mm_movemask_epi8(digit) as u32) & 0xffff;
                if mask != 0 {
                    return pos + mask.trailing_zeros() as usize;
                }
                pos += 16;
            }
        }
    }
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_window_agrees_with_scan() {
        let text = br#"{"a":"b\"c","long key that spans windows ................................":"v","x":"\\"}"#;
        let mut window = QuoteWindow::default();
        let mut pos = 0;
        while pos < text.len() {
            assert_eq!(window.next(text, pos), quote_or_backslash(text, pos), "at {pos}");
            pos += 1;
        }
    }

    #[test]
    fn class_window_agrees_with_scans() {
        let text = "{\"key\":\"valué\\\"x\",\"n\":-122.37136098622624,\"list\":[1234567890123456789012345678901234567890,\"\u{1}\"]}      ";
        let bytes = text.as_bytes();
        let mut window = ClassWindow::default();
        for pos in 0..bytes.len() {
            assert_eq!(window.string_special(bytes, pos), string_special(bytes, pos), "string at {pos}");
            assert_eq!(window.digits_end(bytes, pos), digits_end(bytes, pos), "digits at {pos}");
        }
        for pos in (0..bytes.len()).rev() {
            assert_eq!(window.string_special(bytes, pos), string_special(bytes, pos), "string at {pos}");
            assert_eq!(window.digits_end(bytes, pos), digits_end(bytes, pos), "digits at {pos}");
        }
    }

    #[test]
    fn scans() {
        let text = b"abcdefghijklmnopqrstu\"vw";
        assert_eq!(quote_or_backslash(text, 0), 21);
        assert_eq!(quote_or_backslash(b"abc", 0), 3);
        let scan = string_special("abcdefghijklmnopqrstué\u{1}x".as_bytes(), 0);
        assert_eq!(scan, StringScan { pos: 23, non_ascii: true });
        assert_eq!(string_special(b"plain ascii text that is long\"", 0), StringScan { pos: 29, non_ascii: false });
        assert_eq!(digits_end(b"12345678901234567890.5", 0), 20);
        assert_eq!(digits_end(b"12\xc3", 0), 2);
        assert_eq!(digits_end(b"", 0), 0);
    }
}
