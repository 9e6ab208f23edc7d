//! Numbers: the comparability rule shared by exact numeric values, `numeric` and numeric `anything-but`.
//!
//! A JSON number literal is *comparable* when its decimal value survives a round trip through binary64:
//! parse it to the nearest `f64`, take that double's shortest decimal form, and compare the two decimal
//! values. This is event-ruler's `ComparableNumber` rule. Comparable numbers are compared by value
//! (`300`, `300.0` and `3e2` are equal; `-0` equals `0`); non-comparable ones (`9007199254740993`,
//! `0.30000000000000001`, `1e400`) only ever equal the identical literal text.
//!
//! This file does not validate JSON number syntax: callers hand it text that already is a JSON number.

/// The value of a comparable number, normalised so that `-0.0` and `0.0` share one representation.
/// `None` when the literal is not comparable.
pub(crate) fn comparable_value(literal: &[u8]) -> Option<f64> {
    let value: f64 = fast_float2::parse(literal).ok()?;
    if !value.is_finite() {
        return None;
    }
    let value = if value == 0.0 { 0.0 } else { value };
    // Fast path: a decimal with at most 15 significant digits and a modest exponent always round-trips
    // (binary64 carries 15.95 decimal digits), so the shortest form of its double is the same decimal.
    let (n_digits, exponent) = significant_digits(literal);
    if n_digits <= 15 && (-300..=300).contains(&exponent) {
        return Some(value);
    }
    // The shortest form of a double never has more than 17 significant digits.
    if n_digits > 17 {
        return None;
    }
    let mut buffer = ryu::Buffer::new();
    let shortest = buffer.format_finite(value).as_bytes();
    // Most producers write the same shortest form as ryu, byte for byte: then no decimal arithmetic.
    if shortest == literal || same_decimal(literal, shortest) { Some(value) } else { None }
}

/// The bits used as a hash key for numeric equality: equal comparable values give equal keys.
pub(crate) fn value_key(value: f64) -> u64 {
    if value == 0.0 { 0 } else { value.to_bits() }
}

/// A decimal literal reduced to sign, significant digits as an integer (no leading or trailing
/// zeros) and the exponent of the last digit, so that two literals are equal exactly when their
/// decimals are. `None` when the literal has more than 19 significant digits; callers only compare
/// literals of at most 17.
#[derive(PartialEq, Eq, Debug)]
struct Decimal {
    negative: bool,
    digits: u64,
    exponent: i64,
}

fn decimal(text: &[u8]) -> Option<Decimal> {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mut digits: u64 = 0;
    let mut n_digits = 0u32;
    let mut exponent: i64 = 0;
    let mut seen_point = false;
    let mut rest = text;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'0'..=b'9' => {
                if digits != 0 || byte != b'0' {
                    n_digits += 1;
                    if n_digits > 19 {
                        return None;
                    }
                    digits = digits * 10 + u64::from(byte - b'0');
                }
                if seen_point {
                    exponent -= 1;
                }
            }
            b'.' => seen_point = true,
            b'e' | b'E' => {
                let text = std::str::from_utf8(tail).ok()?;
                exponent = exponent.checked_add(text.strip_prefix('+').unwrap_or(text).parse().ok()?)?;
                break;
            }
            _ => return None,
        }
        rest = tail;
    }
    if digits == 0 {
        // Zero has no sign and no exponent.
        return Some(Decimal { negative: false, digits: 0, exponent: 0 });
    }
    while digits.is_multiple_of(10) {
        digits /= 10;
        exponent += 1;
    }
    Some(Decimal { negative, digits, exponent })
}

fn same_decimal(left: &[u8], right: &[u8]) -> bool {
    match (decimal(left), decimal(right)) {
        (Some(left), Some(right)) => left == right,
        _ => false,
    }
}

/// Count of significant digits and the decimal exponent of the first one, cheaply and approximately
/// (exact for the digit count; the exponent only needs to be right to within a few units).
fn significant_digits(text: &[u8]) -> (usize, i64) {
    let mut n_digits = 0usize;
    let mut leading = true;
    let mut int_digits: i64 = 0;
    let mut frac_leading_zeros: i64 = 0;
    let mut seen_point = false;
    let mut trailing_zeros = 0usize;
    let mut exponent: i64 = 0;
    for (idx, &byte) in text.iter().enumerate() {
        match byte {
            b'0' if leading && seen_point => frac_leading_zeros += 1,
            b'0' if leading => {}
            b'0'..=b'9' => {
                leading = false;
                n_digits += 1;
                if byte == b'0' {
                    trailing_zeros += 1
                } else {
                    trailing_zeros = 0
                }
                if !seen_point {
                    int_digits += 1;
                }
            }
            b'.' => seen_point = true,
            b'e' | b'E' => {
                let rest = std::str::from_utf8(&text[idx + 1..]).unwrap_or("0");
                let rest = rest.strip_prefix('+').unwrap_or(rest);
                exponent = rest.parse::<i64>().unwrap_or(i64::MAX / 2);
                break;
            }
            _ => {}
        }
    }
    let n_digits = n_digits - trailing_zeros;
    let magnitude = if int_digits > 0 { int_digits } else { -frac_leading_zeros };
    (n_digits, magnitude.saturating_add(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(literal: &str, expected: Option<f64>) {
        assert_eq!(comparable_value(literal.as_bytes()), expected, "{literal}");
    }

    #[test]
    fn comparability() {
        check("100", Some(100.0));
        check("1e2", Some(100.0));
        check("1.00E+2", Some(100.0));
        check("-0", Some(0.0));
        check("-0.0e5", Some(0.0));
        check("-122.42916360922355", Some(-122.42916360922355));
        check("37.80780792169409", Some(37.80780792169409));
        check("37.807807921694092", None);
        check("9007199254740993", None);
        check("9007199254740992", Some(9007199254740992.0));
        check("0.30000000000000001", None);
        check("0.1", Some(0.1));
        check("1e400", None);
        check("-1e400", None);
        check("5e-324", Some(5e-324));
        check("1e-400", None);
        check("123456789012345678901", None);
        check("1.7976931348623157e308", Some(f64::MAX));
    }

    #[test]
    fn negative_zero_shares_the_key_of_zero() {
        assert_eq!(value_key(comparable_value(b"-0").unwrap()), value_key(0.0));
    }
}
