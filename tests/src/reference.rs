//! A naive reference matcher for EventBridge event patterns, written from the rules (shared spec §2 and
//! the project's semantics decisions), not from the engine, for the property tests to compare against.
//!
//! It does everything the slow, obvious way, as event-ruler describes it: the event is flattened into
//! leaves (path, value, array trail), `$or` is multiplied out into branches, and a branch matches when
//! some choice of one leaf per condition satisfies every condition with leaves that sit in compatible
//! array elements; every choice is tried. It does not validate pattern syntax: the generator only makes
//! well-formed patterns, and [`limit_violations`] judges the few limits a well-formed pattern can break.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::value::RawValue;

/// A JSON value, for events and patterns alike. Numbers keep their literal text: the engine and the
/// reference both see exactly what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The literal text of a JSON number, e.g. `3.0E+2`.
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Fields in order; duplicate keys are allowed (they are meaningful in events).
    Object(Vec<(String, Value)>),
}

/// How [`Value::to_json_text_with`] writes JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// Whitespace around `:` and `,` and inside brackets.
    pub spaced: bool,
    /// Every non-ASCII character as `\uXXXX` escapes (surrogate pairs beyond the BMP).
    pub escape_non_ascii: bool,
}

impl Value {
    pub fn string(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    pub fn number(literal: &str) -> Value {
        Value::Number(literal.to_owned())
    }

    /// A one-field object, the shape of a matcher such as `{"prefix": "a"}`.
    pub fn matcher(name: &str, argument: Value) -> Value {
        Value::Object(vec![(name.to_owned(), argument)])
    }

    /// Compact JSON text.
    pub fn to_json_text(&self) -> String {
        self.to_json_text_with(TextStyle::default())
    }

    pub fn to_json_text_with(&self, style: TextStyle) -> String {
        let mut text = String::new();
        self.write_json(style, &mut text);
        text
    }

    fn write_json(&self, style: TextStyle, out: &mut String) {
        let (colon, comma, open_pad, close_pad) =
            if style.spaced { (": ", ", ", " ", " ") } else { (":", ",", "", "") };
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Value::Number(literal) => out.push_str(literal),
            Value::String(text) => write_json_string(text, style, out),
            Value::Array(items) => {
                out.push('[');
                out.push_str(open_pad);
                for (item_idx, item) in items.iter().enumerate() {
                    if item_idx > 0 {
                        out.push_str(comma);
                    }
                    item.write_json(style, out);
                }
                out.push_str(close_pad);
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                out.push_str(open_pad);
                for (field_idx, (key, value)) in fields.iter().enumerate() {
                    if field_idx > 0 {
                        out.push_str(comma);
                    }
                    write_json_string(key, style, out);
                    out.push_str(colon);
                    value.write_json(style, out);
                }
                out.push_str(close_pad);
                out.push('}');
            }
        }
    }
}

impl Value {
    /// Reads JSON text (numbers kept as written, duplicate keys kept in order); None if it is not JSON.
    pub fn from_json_text(text: &str) -> Option<Value> {
        let raw: Box<RawValue> = serde_json::from_str(text).ok()?;
        from_raw(&raw)
    }
}

fn from_raw(raw: &RawValue) -> Option<Value> {
    let text = raw.get().trim();
    Some(match text.as_bytes().first()? {
        b'{' => {
            let fields: RawFields = serde_json::from_str(text).ok()?;
            Value::Object(
                fields.0.iter().map(|(key, value)| Some((key.clone(), from_raw(value)?))).collect::<Option<_>>()?,
            )
        }
        b'[' => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text).ok()?;
            Value::Array(items.iter().map(|item| from_raw(item)).collect::<Option<_>>()?)
        }
        b'"' => Value::String(serde_json::from_str(text).ok()?),
        b't' => Value::Bool(true),
        b'f' => Value::Bool(false),
        b'n' => Value::Null,
        _ => Value::Number(text.to_owned()),
    })
}

/// An object's fields in order, duplicates included, values left as text.
struct RawFields(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for RawFields {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
            type Value = RawFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(RawFields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

fn write_json_string(text: &str, style: TextStyle, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if style.escape_non_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    // Upper-case hex on purpose: JSON allows both.
                    let _ = write!(out, "\\u{:04X}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------------
// Patterns: `$or` multiplied out into branches of conditions.

/// One condition of a branch: the leaf array of match values at a path.
#[derive(Debug, Clone)]
pub struct Condition<'p> {
    /// Pattern keys joined with `.`.
    pub path: String,
    /// The pattern keys as written (a key may itself contain dots).
    pub keys: Vec<String>,
    /// The match values, OR'ed.
    pub values: &'p [Value],
    /// Where the leaf array is in the pattern: object keys and `$or` array indices from the root.
    pub location: Vec<String>,
}

/// The pattern's branches: the pattern matches when one branch does. A path written twice in one
/// branch (as `"a.b"` and as `{"a": {"b": …}}`, or inside and beside an `$or`) keeps the condition
/// written last, the way event-ruler's compiler overwrites its per-branch map in document order
/// (`rule.put(name, values)` in `JsonRuleCompiler.writeRules`).
pub fn branches(pattern: &Value) -> Vec<Vec<Condition<'_>>> {
    written_branches(pattern)
        .into_iter()
        .map(|writes| {
            let mut branch: Vec<Condition<'_>> = Vec::new();
            for condition in writes {
                match branch.iter_mut().find(|kept| kept.path == condition.path) {
                    Some(kept) => *kept = condition,
                    None => branch.push(condition),
                }
            }
            branch
        })
        .collect()
}

/// Every branch as the conditions written into it, in document order, repeats included.
fn written_branches(pattern: &Value) -> Vec<Vec<Condition<'_>>> {
    match pattern {
        Value::Object(fields) => object_branches(fields, &[], &[]),
        _ => Vec::new(),
    }
}

fn object_branches<'p>(
    fields: &'p [(String, Value)],
    key_prefix: &[String],
    location: &[String],
) -> Vec<Vec<Condition<'p>>> {
    let mut branches: Vec<Vec<Condition<'p>>> = vec![Vec::new()];
    for (key, value) in fields {
        if key == "$or" {
            let mut alternatives = Vec::new();
            if let Value::Array(objects) = value {
                for (object_idx, object) in objects.iter().enumerate() {
                    if let Value::Object(branch_fields) = object {
                        let branch_location = [location, &[key.clone(), object_idx.to_string()]].concat();
                        alternatives.extend(object_branches(branch_fields, key_prefix, &branch_location));
                    }
                }
            }
            branches = cross(&branches, &alternatives);
            continue;
        }
        let mut keys = key_prefix.to_vec();
        keys.push(key.clone());
        let field_location = [location, std::slice::from_ref(key)].concat();
        match value {
            Value::Array(values) => {
                let condition = Condition { path: keys.join("."), keys, values, location: field_location };
                for branch in &mut branches {
                    branch.push(condition.clone());
                }
            }
            Value::Object(nested) => {
                let nested_branches = object_branches(nested, &keys, &field_location);
                branches = cross(&branches, &nested_branches);
            }
            _ => {}
        }
    }
    branches
}

/// Every left branch followed by every right branch (writes in document order).
fn cross<'p>(left: &[Vec<Condition<'p>>], right: &[Vec<Condition<'p>>]) -> Vec<Vec<Condition<'p>>> {
    let mut product = Vec::new();
    for left_branch in left {
        for right_branch in right {
            product.push(left_branch.iter().chain(right_branch).cloned().collect());
        }
    }
    product
}

// ---------------------------------------------------------------------------------------------------
// Events: flattened into leaves.

/// A leaf of a flattened event.
#[derive(Debug, Clone)]
pub struct Leaf<'e> {
    /// Keys from the root joined with `.`.
    pub path: String,
    /// A string, number, boolean or null.
    pub value: &'e Value,
    /// (array instance, element index) for every enclosing array element that is an object or an
    /// array, outermost first. Scalars of an array are all values of one field and record nothing for
    /// that array.
    pub trail: Vec<(usize, usize)>,
}

/// Every leaf of `event`, in document order.
pub fn flatten(event: &Value) -> Vec<Leaf<'_>> {
    let mut leaves = Vec::new();
    let mut n_arrays = 0;
    let mut trail = Vec::new();
    if let Value::Object(fields) = event {
        for (key, value) in fields {
            flatten_value(value, key.clone(), &mut trail, &mut n_arrays, &mut leaves);
        }
    }
    leaves
}

fn flatten_value<'e>(
    value: &'e Value,
    path: String,
    trail: &mut Vec<(usize, usize)>,
    n_arrays: &mut usize,
    leaves: &mut Vec<Leaf<'e>>,
) {
    match value {
        Value::Object(fields) => {
            for (key, field_value) in fields {
                flatten_value(field_value, format!("{path}.{key}"), trail, n_arrays, leaves);
            }
        }
        Value::Array(items) => {
            let array_instance = *n_arrays;
            *n_arrays += 1;
            for (element_idx, item) in items.iter().enumerate() {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        trail.push((array_instance, element_idx));
                        flatten_value(item, path.clone(), trail, n_arrays, leaves);
                        trail.pop();
                    }
                    _ => leaves.push(Leaf { path: path.clone(), value: item, trail: trail.clone() }),
                }
            }
        }
        _ => leaves.push(Leaf { path, value, trail: trail.clone() }),
    }
}

/// Two leaves may serve one branch unless, in an array both sit in, they sit in different elements.
pub fn compatible(left: &[(usize, usize)], right: &[(usize, usize)]) -> bool {
    left.iter().all(|(array, element)| {
        right.iter().all(|(other_array, other_element)| array != other_array || element == other_element)
    })
}

// ---------------------------------------------------------------------------------------------------
// Matching.

/// Whether `pattern` matches `event` (both well-formed; `event` an object).
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let leaves = flatten(event);
    branches(pattern).iter().any(|branch| branch_matches(branch, &leaves))
}

fn branch_matches(branch: &[Condition<'_>], leaves: &[Leaf<'_>]) -> bool {
    // For every condition, the ways to satisfy it: a leaf index, or None for "absent" (exists:false).
    let mut options: Vec<Vec<Option<usize>>> = Vec::new();
    for condition in branch {
        let mut ways = Vec::new();
        let mut present = false;
        for (leaf_idx, leaf) in leaves.iter().enumerate() {
            if leaf.path != condition.path {
                continue;
            }
            present = true;
            if condition.values.iter().any(|match_value| leaf_satisfies(match_value, leaf.value)) {
                ways.push(Some(leaf_idx));
            }
        }
        if !present && condition.values.iter().any(is_exists_false) {
            ways.push(None);
        }
        if ways.is_empty() {
            return false;
        }
        options.push(ways);
    }
    let mut chosen = Vec::new();
    choose(&options, leaves, &mut chosen)
}

/// Tries every combination of one option per condition, keeping the chosen leaves pairwise compatible.
fn choose(options: &[Vec<Option<usize>>], leaves: &[Leaf<'_>], chosen: &mut Vec<usize>) -> bool {
    let Some((ways, rest)) = options.split_first() else {
        return true;
    };
    for way in ways {
        match way {
            None => {
                if choose(rest, leaves, chosen) {
                    return true;
                }
            }
            Some(leaf_idx) => {
                let trail = &leaves[*leaf_idx].trail;
                if chosen.iter().all(|other| compatible(trail, &leaves[*other].trail)) {
                    chosen.push(*leaf_idx);
                    let found = choose(rest, leaves, chosen);
                    chosen.pop();
                    if found {
                        return true;
                    }
                }
            }
        }
    }
    false
}

fn is_exists_false(match_value: &Value) -> bool {
    matches!(match_value, Value::Object(fields) if fields.len() == 1 && fields[0].0 == "exists" && fields[0].1 == Value::Bool(false))
}

/// Whether one match value (an element of a pattern's leaf array) accepts one event leaf.
/// `{"exists": false}` accepts no leaf: it is satisfied by absence, which [`matches`] handles.
pub fn leaf_satisfies(match_value: &Value, leaf: &Value) -> bool {
    match match_value {
        Value::String(expected) => match leaf {
            Value::String(text) => text == expected || same_ip(expected, text),
            _ => false,
        },
        Value::Number(expected) => matches!(leaf, Value::Number(literal) if numbers_equal(expected, literal)),
        Value::Bool(_) | Value::Null => match_value == leaf,
        Value::Object(fields) if fields.len() == 1 => operator_satisfied(&fields[0].0, &fields[0].1, leaf),
        _ => false,
    }
}

fn operator_satisfied(name: &str, argument: &Value, leaf: &Value) -> bool {
    let text = match leaf {
        Value::String(text) => Some(text.as_str()),
        _ => None,
    };
    match (name, argument) {
        ("exists", Value::Bool(exists)) => *exists,
        ("prefix", Value::String(prefix)) => text.is_some_and(|text| text.starts_with(prefix.as_str())),
        ("prefix", Value::Object(inner)) => match inner.as_slice() {
            [(kind, Value::String(prefix))] if kind == "equals-ignore-case" => {
                text.is_some_and(|text| fold_case(text).starts_with(&fold_case(prefix)))
            }
            _ => false,
        },
        ("suffix", Value::String(suffix)) => text.is_some_and(|text| text.ends_with(suffix.as_str())),
        ("suffix", Value::Object(inner)) => match inner.as_slice() {
            [(kind, Value::String(suffix))] if kind == "equals-ignore-case" => {
                text.is_some_and(|text| fold_case(text).ends_with(&fold_case(suffix)))
            }
            _ => false,
        },
        ("equals-ignore-case", Value::String(expected)) => {
            text.is_some_and(|text| fold_case(text) == fold_case(expected))
        }
        ("wildcard", Value::String(wildcard)) => text.is_some_and(|text| wildcard_matches(wildcard, text)),
        ("exactly", Value::String(expected)) => text == Some(expected.as_str()),
        ("cidr", Value::String(cidr)) => text.is_some_and(|text| cidr_contains(cidr, text)),
        ("numeric", Value::Array(terms)) => numeric_satisfied(terms, leaf),
        ("anything-but", excluded) => anything_but_satisfied(excluded, leaf),
        _ => false,
    }
}

fn numeric_satisfied(terms: &[Value], leaf: &Value) -> bool {
    let Value::Number(literal) = leaf else {
        return false;
    };
    let Some(number) = comparable_value(literal) else {
        return false;
    };
    terms.chunks(2).all(|term| match term {
        [Value::String(operator), Value::Number(bound)] => {
            let Some(bound) = comparable_value(bound) else {
                return false;
            };
            match operator.as_str() {
                "=" => number == bound,
                "<" => number < bound,
                "<=" => number <= bound,
                ">" => number > bound,
                ">=" => number >= bound,
                _ => false,
            }
        }
        _ => false,
    })
}

fn anything_but_satisfied(excluded: &Value, leaf: &Value) -> bool {
    match excluded {
        Value::String(_) | Value::Number(_) => anything_but_satisfied(&Value::Array(vec![excluded.clone()]), leaf),
        Value::Array(values) if values.iter().all(|value| matches!(value, Value::String(_))) => match leaf {
            Value::String(text) => !values.contains(&Value::String(text.clone())),
            _ => true,
        },
        Value::Array(values) => match leaf {
            Value::Number(literal) => match comparable_value(literal) {
                Some(number) => !values.iter().any(|value| match value {
                    Value::Number(excluded) => comparable_value(excluded) == Some(number),
                    _ => false,
                }),
                // A number that cannot be compared never matches a numeric anything-but.
                None => false,
            },
            _ => true,
        },
        Value::Object(inner) if inner.len() == 1 => {
            let (kind, argument) = (&inner[0].0, &inner[0].1);
            let Value::String(text) = leaf else {
                return true;
            };
            let operands: Vec<&str> = match argument {
                Value::String(operand) => vec![operand.as_str()],
                Value::Array(operands) => operands
                    .iter()
                    .filter_map(|operand| match operand {
                        Value::String(operand) => Some(operand.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let excluded_by = |operand: &&str| match kind.as_str() {
                "prefix" => text.starts_with(*operand),
                "suffix" => text.ends_with(*operand),
                "equals-ignore-case" => fold_case(text) == fold_case(operand),
                "wildcard" => wildcard_matches(operand, text),
                _ => false,
            };
            !operands.iter().any(excluded_by)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------
// Numbers.

/// A decimal value: `negative`, significant `digits` without leading or trailing zeros (empty for
/// zero), and the power of ten of the last digit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

/// Reads a JSON number literal (or Rust's `{:e}` output) as an exact decimal.
fn decimal(literal: &str) -> Option<Decimal> {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(e_idx) => (&unsigned[..e_idx], unsigned[e_idx + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if integer.is_empty() || !integer.bytes().chain(fraction.bytes()).all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let all_digits = format!("{integer}{fraction}");
    let mut exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let significant = all_digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    exponent += i64::try_from(significant.len() - trimmed.len()).ok()?;
    if trimmed.is_empty() {
        return Some(Decimal { negative: false, digits: String::new(), exponent: 0 });
    }
    Some(Decimal { negative, digits: trimmed.to_owned(), exponent })
}

/// The binary64 value of a number literal, when the literal is comparable: finite, and the shortest
/// decimal form of that binary64 is the literal's own decimal value.
pub fn comparable_value(literal: &str) -> Option<f64> {
    let number: f64 = literal.parse().ok()?;
    if !number.is_finite() {
        return None;
    }
    let written = decimal(literal)?;
    let shortest = decimal(&format!("{number:e}"))?;
    (written == shortest).then_some(if number == 0.0 { 0.0 } else { number })
}

/// Exact-value equality of two number literals: the same text, or two comparable numbers with the
/// same value.
pub fn numbers_equal(left: &str, right: &str) -> bool {
    left == right
        || match (comparable_value(left), comparable_value(right)) {
            (Some(left), Some(right)) => left == right,
            _ => false,
        }
}

// ---------------------------------------------------------------------------------------------------
// Strings.

/// Case folding for the ignore-case operators: each character to lowercase(uppercase(c)) with full
/// mappings, except the Turkish İ and ı, which stay themselves.
pub fn fold_case(text: &str) -> String {
    let mut folded = String::new();
    for c in text.chars() {
        if c == '\u{130}' || c == '\u{131}' {
            folded.push(c);
        } else {
            folded.extend(c.to_uppercase().flat_map(char::to_lowercase));
        }
    }
    folded
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlobToken {
    Any,
    Char(char),
}

/// Whether the whole of `text` matches a (valid) wildcard: `*` any run of characters, `\*` a star,
/// `\\` a backslash.
pub fn wildcard_matches(wildcard: &str, text: &str) -> bool {
    let mut tokens = Vec::new();
    let mut chars = wildcard.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(GlobToken::Char(escaped)),
                None => return false,
            },
            '*' => tokens.push(GlobToken::Any),
            c => tokens.push(GlobToken::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // reachable[i]: the tokens so far can consume exactly text[..i].
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        for end in 0..=text.len() {
            next[end] = match token {
                GlobToken::Any => reachable[end] || (end > 0 && next[end - 1]),
                GlobToken::Char(c) => end > 0 && reachable[end - 1] && text[end - 1] == c,
            };
        }
        reachable = next;
    }
    reachable[text.len()]
}

// ---------------------------------------------------------------------------------------------------
// IP addresses.

fn parse_ipv4_strict(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        *octet = part.parse::<u16>().ok().and_then(|value| u8::try_from(value).ok())?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// An IP literal: a strict dotted quad, or IPv6 text (an IPv4-mapped IPv6 address is its IPv4 address).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.contains(':') {
        let address: Ipv6Addr = text.parse().ok()?;
        Some(match address.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(address),
        })
    } else {
        parse_ipv4_strict(text).map(IpAddr::V4)
    }
}

fn same_ip(left: &str, right: &str) -> bool {
    match (parse_ip(left), parse_ip(right)) {
        (Some(left), Some(right)) => left == right,
        _ => false,
    }
}

/// Whether the IP literal `text` lies in the (valid) CIDR block `cidr`; host bits of the block are ignored.
pub fn cidr_contains(cidr: &str, text: &str) -> bool {
    let Some((network, mask_bits)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(mask_bits) = mask_bits.parse::<u32>() else {
        return false;
    };
    match (parse_ip(network), parse_ip(text)) {
        (Some(IpAddr::V4(network)), Some(IpAddr::V4(address))) => {
            let mask = u32::MAX.checked_shl(32 - mask_bits).unwrap_or(0);
            u32::from(network) & mask == u32::from(address) & mask
        }
        (Some(IpAddr::V6(network)), Some(IpAddr::V6(address))) => {
            let mask = u128::MAX.checked_shl(128 - mask_bits).unwrap_or(0);
            u128::from(network) & mask == u128::from(address) & mask
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------
// Limits a well-formed pattern can still break.

/// The engine's default limits (EventBridge's).
pub const MAX_PATTERN_CHARS: usize = 2048;
pub const MAX_OR_COMBINATIONS: u64 = 1000;
pub const MAX_WILDCARD_SCORE: usize = 16;

/// For a well-formed pattern and its text, the limits it breaks, each as a piece of the error message
/// the engine must give (any one of them, when there are several); empty when the engine must accept it.
pub fn limit_violations(pattern: &Value, text: &str) -> Vec<&'static str> {
    let mut violations = Vec::new();
    if text.chars().count() > MAX_PATTERN_CHARS {
        violations.push("longer than");
    }
    if or_combinations(pattern) > MAX_OR_COMBINATIONS {
        violations.push("combinations");
    }
    if wildcard_score(pattern) > MAX_WILDCARD_SCORE {
        violations.push("Rule is too complex");
    }
    violations
}

/// The product of the lengths of all `$or` arrays in the pattern.
pub fn or_combinations(pattern: &Value) -> u64 {
    match pattern {
        Value::Object(fields) => fields.iter().fold(1u64, |product, (key, value)| {
            let own = match (key.as_str(), value) {
                ("$or", Value::Array(objects)) => objects.len() as u64,
                _ => 1,
            };
            let nested = match value {
                Value::Array(objects) if key == "$or" => {
                    objects.iter().map(or_combinations).fold(1u64, u64::saturating_mul)
                }
                Value::Object(_) => or_combinations(value),
                _ => 1,
            };
            product.saturating_mul(own).saturating_mul(nested)
        }),
        _ => 1,
    }
}

/// The number of `*` wildcards in all wildcard values of the pattern (plain and anything-but), not
/// counting a star that is the first character of its value.
pub fn wildcard_score(pattern: &Value) -> usize {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| match (key.as_str(), value) {
                ("wildcard", Value::String(wildcard)) => stars(wildcard),
                ("wildcard", Value::Array(wildcards)) => wildcards
                    .iter()
                    .map(|wildcard| match wildcard {
                        Value::String(wildcard) => stars(wildcard),
                        _ => 0,
                    })
                    .sum(),
                _ => wildcard_score(value),
            })
            .sum(),
        Value::Array(items) => items.iter().map(wildcard_score).sum(),
        _ => 0,
    }
}

fn stars(wildcard: &str) -> usize {
    let mut n_stars = 0;
    let mut chars = wildcard.chars().enumerate();
    while let Some((char_idx, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' if char_idx > 0 => n_stars += 1,
            _ => {}
        }
    }
    n_stars
}
