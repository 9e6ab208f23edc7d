//! Random patterns and events for the property tests, over small vocabularies of keys and values chosen
//! so that the interesting cases (array consistency, `exists:false`, numeric equality of different
//! literals, case folding, IP forms, wildcards, `$or`) come up often.
//!
//! Generated patterns are always well-formed; only the limits of [`reference::limit_violations`] can
//! make the engine reject one. Nothing here decides whether a pattern matches: that is the reference's job.

use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::reference::{self, TextStyle, Value};

/// Keys of generated patterns: "a.b" and {"a": {"b": …}} name the same path.
pub const PATTERN_KEYS: &[&str] = &["a", "b", "c", "a.b", "detail"];

/// Keys of generated events: the pattern keys and one no pattern mentions.
pub const EVENT_KEYS: &[&str] = &["a", "b", "c", "a.b", "detail", "d"];

/// Strings of events and of exact-match patterns.
pub const STRINGS: &[&str] = &[
    "",
    "A",
    "a",
    "ab",
    "Ab",
    "AB",
    "ba",
    "abc",
    "ß",
    "SS",
    "ss",
    "s",
    "Σ",
    "σ",
    "ς",
    "İ",
    "ı",
    "i",
    "I",
    "é",
    "e\u{301}",
    "\u{212A}",
    "k",
    "x*y",
    "a\\b",
    "a/b",
    "\"",
    "\u{1}",
    "null",
    "5",
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "::FFFF:a00:1",
    "10.0.0.255",
    "10.0.1.0",
    "192.168.0.1",
    "010.0.0.1",
    "10.0.0.256",
    "2001:db8::1",
    "2001:DB8:0:0:0:0:0:1",
    "2001:db8::ffff",
    "::1",
    "fe80::1%eth0",
    "😀",
];

/// Number literals of events and of exact-match patterns, comparable or not.
pub const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "1e2",
    "1E2",
    "100",
    "100.0",
    "3.0E+2",
    "300",
    "5",
    "5.0",
    "5e0",
    "-5",
    "0.1",
    "-3.5",
    "2.5e-3",
    "9007199254740992",
    "9007199254740993",
    "9.007199254740993e15",
    "0.30000000000000001",
    "37.807807921694092",
    "37.80780792169409",
    "1e400",
    "-1e400",
    "1e-400",
    "123456789012345678901",
    "1.7976931348623157e308",
];

/// Comparable literals, the only ones allowed in `numeric` and numeric `anything-but`.
pub const COMPARABLE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1e2",
    "100",
    "100.0",
    "300",
    "5",
    "5.0",
    "-5",
    "0.1",
    "-3.5",
    "2.5e-3",
    "9007199254740992",
    "37.80780792169409",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
];

/// Operands of prefix, suffix, equals-ignore-case and exactly.
pub const AFFIXES: &[&str] = &[
    "", "a", "A", "ab", "AB", "b", "ß", "s", "ss", "SS", "σ", "Σ", "ς", "i", "I", "İ", "ı", "k", "\u{212A}", "10.",
    ".1", "é", "😀", "\"",
];

/// The affixes but "" (anything-but prefix/suffix reject "").
pub const NONEMPTY_AFFIXES: &[&str] = match AFFIXES.split_first() {
    Some((_, rest)) => rest,
    None => &[],
};

/// CIDR blocks (valid: IPv4 mask < 32, IPv6 mask < 128).
pub const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.0.0.0/24",
    "10.0.0.1/31",
    "10.0.0.1/30",
    "10.0.0.128/25",
    "0.0.0.0/0",
    "192.168.0.0/16",
    "2001:db8::/32",
    "2001:db8::1/127",
    "2001:DB8::/64",
    "::/0",
];

/// Pieces of wildcard values.
const WILDCARD_TOKENS: &[&str] = &["a", "b", "A", "ß", "/", "x", "*", "*", "*", "\\*", "\\\\"];

fn text(list: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    select(list).prop_map(String::from)
}

fn string_value(list: &'static [&'static str]) -> impl Strategy<Value = Value> + Clone {
    select(list).prop_map(Value::string)
}

fn number_value(list: &'static [&'static str]) -> impl Strategy<Value = Value> + Clone {
    select(list).prop_map(Value::number)
}

/// A leaf of an event, or an exact match value of a pattern.
pub fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        5 => string_value(STRINGS),
        5 => number_value(NUMBERS),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
    .boxed()
}

/// A valid wildcard value: no two consecutive unescaped stars.
pub fn wildcard() -> impl Strategy<Value = String> + Clone {
    vec(select(WILDCARD_TOKENS), 0..=5).prop_map(|tokens| {
        let mut wildcard = String::new();
        let mut last_was_star = false;
        for token in tokens {
            if token == "*" && last_was_star {
                continue;
            }
            last_was_star = token == "*";
            wildcard.push_str(token);
        }
        wildcard
    })
}

fn one_or_list<S>(item: S) -> impl Strategy<Value = Value>
where
    S: Strategy<Value = Value> + Clone,
{
    prop_oneof![item.clone(), vec(item, 1..=3).prop_map(Value::Array)]
}

fn numeric() -> impl Strategy<Value = Value> {
    let operator = |list: &'static [&'static str]| select(list).prop_map(Value::string);
    let number = || number_value(COMPARABLE_NUMBERS);
    prop_oneof![
        number().prop_map(|value| Value::Array(vec![Value::string("="), value])),
        (operator(&["<", "<=", ">", ">="]), number()).prop_map(|(operator, value)| Value::Array(vec![operator, value])),
        (operator(&[">", ">="]), number(), operator(&["<", "<="]), number()).prop_map(
            |(low_op, low, high_op, high)| {
                let value_of = |number: &Value| match number {
                    Value::Number(literal) => reference::comparable_value(literal).unwrap_or(f64::NAN),
                    _ => f64::NAN,
                };
                let (low_value, high_value) = (value_of(&low), value_of(&high));
                if low_value < high_value {
                    Value::Array(vec![low_op, low, high_op, high])
                } else if high_value < low_value {
                    Value::Array(vec![low_op, high, high_op, low])
                } else {
                    Value::Array(vec![low_op, low])
                }
            }
        ),
    ]
    .prop_map(|terms| Value::matcher("numeric", terms))
}

fn anything_but() -> impl Strategy<Value = Value> {
    let nonempty_affix = || string_value(NONEMPTY_AFFIXES);
    prop_oneof![
        2 => one_or_list(string_value(STRINGS)),
        2 => one_or_list(number_value(COMPARABLE_NUMBERS)),
        1 => one_or_list(nonempty_affix()).prop_map(|operand| Value::matcher("prefix", operand)),
        1 => one_or_list(nonempty_affix()).prop_map(|operand| Value::matcher("suffix", operand)),
        1 => one_or_list(string_value(AFFIXES)).prop_map(|operand| Value::matcher("equals-ignore-case", operand)),
        1 => one_or_list(wildcard().prop_map(Value::String)).prop_map(|operand| Value::matcher("wildcard", operand)),
    ]
    .prop_map(|excluded| Value::matcher("anything-but", excluded))
}

/// One element of a pattern's leaf array: an exact value or a matcher object.
pub fn match_value() -> BoxedStrategy<Value> {
    let ignore_case = |operand: String| Value::matcher("equals-ignore-case", Value::String(operand));
    prop_oneof![
        6 => scalar(),
        1 => text(AFFIXES).prop_map(|operand| Value::matcher("prefix", Value::String(operand))),
        1 => text(AFFIXES).prop_map(move |operand| Value::matcher("prefix", ignore_case(operand))),
        1 => text(AFFIXES).prop_map(|operand| Value::matcher("suffix", Value::String(operand))),
        1 => text(AFFIXES).prop_map(move |operand| Value::matcher("suffix", ignore_case(operand))),
        1 => text(AFFIXES).prop_map(|operand| Value::matcher("equals-ignore-case", Value::String(operand))),
        1 => text(AFFIXES).prop_map(|operand| Value::matcher("exactly", Value::String(operand))),
        2 => wildcard().prop_map(|operand| Value::matcher("wildcard", Value::String(operand))),
        3 => anything_but(),
        2 => numeric(),
        2 => any::<bool>().prop_map(|exists| Value::matcher("exists", Value::Bool(exists))),
        1 => text(CIDRS).prop_map(|operand| Value::matcher("cidr", Value::String(operand))),
    ]
    .boxed()
}

fn pattern_object(depth: u32, min_fields: usize) -> BoxedStrategy<Value> {
    let leaf_array = vec(match_value(), 1..=3).prop_map(Value::Array);
    let field = if depth == 0 {
        (text(PATTERN_KEYS), leaf_array).boxed()
    } else {
        prop_oneof![
            6 => (text(PATTERN_KEYS), leaf_array),
            2 => (text(PATTERN_KEYS), pattern_object(depth - 1, 1)),
            2 => vec(pattern_object(depth - 1, 1), 2..=3).prop_map(|objects| ("$or".to_owned(), Value::Array(objects))),
        ]
        .boxed()
    };
    vec(field, min_fields..=3)
        .prop_map(|fields| {
            // Keys are unique within one object (the duplicate-key rule is not what these tests are about).
            let mut unique: Vec<(String, Value)> = Vec::new();
            for (key, value) in fields {
                if !unique.iter().any(|(seen, _)| *seen == key) {
                    unique.push((key, value));
                }
            }
            Value::Object(unique)
        })
        .boxed()
}

/// A well-formed pattern, up to three objects deep, with nested `$or`; sometimes the catch-all `{}`.
/// A branch may write one path twice (`"a.b"` beside `{"a": {"b": …}}`, or a field beside an `$or`
/// branch naming it): the one written last counts, in the engine and in the reference.
pub fn pattern() -> BoxedStrategy<Value> {
    any_pattern()
}

fn any_pattern() -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Object(Vec::new())), 15 => pattern_object(3, 1)].boxed()
}

fn event_value(depth: u32) -> BoxedStrategy<Value> {
    if depth == 0 {
        return scalar();
    }
    prop_oneof![
        8 => scalar(),
        3 => event_object(depth - 1),
        2 => vec(scalar(), 0..=3).prop_map(Value::Array),
        2 => vec(event_object(depth - 1), 1..=3).prop_map(Value::Array),
        1 => vec(event_value(depth - 1), 0..=2).prop_map(Value::Array),
    ]
    .boxed()
}

fn event_object(depth: u32) -> BoxedStrategy<Value> {
    // Duplicate keys are allowed: every occurrence counts.
    vec((text(EVENT_KEYS), event_value(depth)), 0..=4).prop_map(Value::Object).boxed()
}

/// A random event: an object, up to three levels of objects and arrays deep.
pub fn event() -> BoxedStrategy<Value> {
    event_object(3)
}

/// How a text is written: compact or spaced, non-ASCII raw or escaped.
pub fn text_style() -> impl Strategy<Value = TextStyle> + Clone {
    (any::<bool>(), prop::bool::weighted(0.25))
        .prop_map(|(spaced, escape_non_ascii)| TextStyle { spaced, escape_non_ascii })
}

// ---------------------------------------------------------------------------------------------------
// Events derived from a pattern, so that matches are common.

/// A stream of choices from a list of random numbers, so derived events shrink with the list. Choice 0
/// (also what an exhausted list gives) is always the plain option: no perturbation, no extra array.
#[derive(Debug)]
struct Choices<'c> {
    numbers: &'c [u32],
    next: usize,
}

impl Choices<'_> {
    fn pick(&mut self, n_options: usize) -> usize {
        let number = self.numbers.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        if n_options == 0 { 0 } else { number as usize % n_options }
    }
}

/// An event built to satisfy one branch of `pattern` (one value per condition, placed at the
/// condition's path, sometimes inside arrays or arrays of objects), then perturbed: sometimes a value
/// is replaced, sometimes the fields of `base` are added.
pub fn derive_event(pattern: &Value, choice_numbers: &[u32], base: &Value) -> Value {
    let mut choices = Choices { numbers: choice_numbers, next: 0 };
    let branches = reference::branches(pattern);
    let mut fields: Vec<(String, Value)> = Vec::new();
    if !branches.is_empty() {
        let branch = &branches[choices.pick(branches.len())];
        for condition in branch {
            let match_value = &condition.values[choices.pick(condition.values.len())];
            let Some(mut leaf) = satisfying_leaf(match_value, &mut choices) else {
                continue;
            };
            if choices.pick(5) == 1 {
                // Perturb: any value at all.
                let all: Vec<Value> = vocabulary();
                leaf = all[choices.pick(all.len())].clone();
            }
            if choices.pick(4) == 1 {
                let all: Vec<Value> = vocabulary();
                let other = all[choices.pick(all.len())].clone();
                leaf = if choices.pick(2) == 0 {
                    Value::Array(vec![leaf, other])
                } else {
                    Value::Array(vec![other, leaf])
                };
            }
            let keys: Vec<String> = if choices.pick(2) == 0 {
                condition.keys.clone()
            } else {
                condition.path.split('.').map(String::from).collect()
            };
            insert(&mut fields, &keys, leaf, &mut choices);
        }
    }
    if choices.pick(3) == 1
        && let Value::Object(base_fields) = base
    {
        fields.extend(base_fields.iter().cloned());
    }
    Value::Object(fields)
}

fn vocabulary() -> Vec<Value> {
    let mut all: Vec<Value> = STRINGS.iter().map(|text| Value::string(text)).collect();
    all.extend(NUMBERS.iter().map(|literal| Value::number(literal)));
    all.extend([Value::Bool(true), Value::Bool(false), Value::Null]);
    all
}

/// A leaf accepted by `match_value` when there is one in reach, None for `{"exists": false}`.
fn satisfying_leaf(match_value: &Value, choices: &mut Choices<'_>) -> Option<Value> {
    if matches!(match_value, Value::Object(fields) if fields.len() == 1 && fields[0].0 == "exists" && fields[0].1 == Value::Bool(false))
    {
        return None;
    }
    let mut candidates = constructed_candidates(match_value, choices);
    candidates.extend(vocabulary());
    let accepted: Vec<Value> =
        candidates.into_iter().filter(|leaf| reference::leaf_satisfies(match_value, leaf)).collect();
    if accepted.is_empty() {
        let all = vocabulary();
        return Some(all[choices.pick(all.len())].clone());
    }
    Some(accepted[choices.pick(accepted.len())].clone())
}

/// Leaves made from the match value's own operands (prefix + more, a wildcard filled in, a number
/// inside a range…), which the fixed vocabulary would rarely hit.
fn constructed_candidates(match_value: &Value, choices: &mut Choices<'_>) -> Vec<Value> {
    let fillers = ["", "x", "ab", "ß", "A"];
    let mut candidates = Vec::new();
    let Value::Object(fields) = match_value else {
        return vec![match_value.clone()];
    };
    let Some((name, argument)) = fields.first() else {
        return candidates;
    };
    let operand = match argument {
        Value::String(operand) => Some(operand.clone()),
        Value::Object(inner) => match inner.first() {
            Some((_, Value::String(operand))) => Some(operand.clone()),
            _ => None,
        },
        _ => None,
    };
    match (name.as_str(), operand) {
        ("prefix", Some(operand)) => {
            for filler in fillers {
                candidates.push(Value::String(format!("{operand}{filler}")));
                candidates.push(Value::String(format!("{}{filler}", operand.to_uppercase())));
                candidates.push(Value::String(format!("{}{filler}", operand.to_lowercase())));
            }
        }
        ("suffix", Some(operand)) => {
            for filler in fillers {
                candidates.push(Value::String(format!("{filler}{operand}")));
                candidates.push(Value::String(format!("{filler}{}", operand.to_uppercase())));
                candidates.push(Value::String(format!("{filler}{}", operand.to_lowercase())));
            }
        }
        ("equals-ignore-case" | "exactly", Some(operand)) => {
            candidates.push(Value::String(operand.to_uppercase()));
            candidates.push(Value::String(operand.to_lowercase()));
            candidates.push(Value::String(operand));
        }
        ("wildcard", Some(operand)) => {
            let mut filled = String::new();
            let mut chars = operand.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => filled.extend(chars.next()),
                    '*' => filled.push_str(fillers[choices.pick(fillers.len())]),
                    c => filled.push(c),
                }
            }
            candidates.push(Value::String(filled));
        }
        ("cidr", Some(operand)) => {
            if let Some((network, _)) = operand.split_once('/') {
                candidates.push(Value::string(network));
                if let Some(std::net::IpAddr::V4(v4)) = reference::parse_ip(network) {
                    candidates.push(Value::String(std::net::Ipv4Addr::from(u32::from(v4).wrapping_add(1)).to_string()));
                    candidates.push(Value::String(format!("::ffff:{v4}")));
                }
            }
        }
        ("numeric", _) => {
            if let Value::Array(terms) = argument {
                let bounds: Vec<f64> = terms
                    .iter()
                    .filter_map(|term| match term {
                        Value::Number(literal) => reference::comparable_value(literal),
                        _ => None,
                    })
                    .collect();
                for bound in &bounds {
                    for nearby in [*bound, bound - 1.0, bound + 1.0, bound / 2.0] {
                        candidates.push(Value::Number(format!("{nearby:e}")));
                        // Plain notation too, but not the 300-digit kind (see the report on number length).
                        let plain = format!("{nearby}");
                        if plain.len() <= 40 {
                            candidates.push(Value::Number(plain));
                        }
                    }
                }
                if let [low, high] = bounds.as_slice() {
                    candidates.push(Value::Number(format!("{:e}", low / 2.0 + high / 2.0)));
                }
            }
        }
        _ => {}
    }
    candidates
}

/// Puts `leaf` at `keys` in an event object, reusing or creating objects and arrays of objects on the way.
fn insert(fields: &mut Vec<(String, Value)>, keys: &[String], leaf: Value, choices: &mut Choices<'_>) {
    let Some((key, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        fields.push((key.clone(), leaf));
        return;
    }
    let existing = fields.iter().position(|(existing_key, value)| {
        existing_key == key
            && match value {
                Value::Object(_) => true,
                Value::Array(items) => items.iter().all(|item| matches!(item, Value::Object(_))),
                _ => false,
            }
    });
    if let Some(field_idx) = existing.filter(|_| choices.pick(4) != 1) {
        match &mut fields[field_idx].1 {
            Value::Object(nested) => insert(nested, rest, leaf, choices),
            Value::Array(items) => {
                let element_idx = choices.pick(items.len() + 1);
                if element_idx == items.len() {
                    items.push(Value::Object(Vec::new()));
                }
                if let Value::Object(nested) = &mut items[element_idx] {
                    insert(nested, rest, leaf, choices);
                }
            }
            _ => {}
        }
        return;
    }
    let mut nested = Vec::new();
    insert(&mut nested, rest, leaf, choices);
    let value = if choices.pick(3) == 1 { Value::Array(vec![Value::Object(nested)]) } else { Value::Object(nested) };
    fields.push((key.clone(), value));
}

// ---------------------------------------------------------------------------------------------------
// Whole test cases, printed as JSON text when a property fails.

/// One pattern and one event.
#[derive(Clone)]
pub struct Case {
    pub pattern: Value,
    pub event: Value,
    pub pattern_style: TextStyle,
    pub event_style: TextStyle,
}

impl Case {
    pub fn pattern_text(&self) -> String {
        self.pattern.to_json_text_with(self.pattern_style)
    }

    pub fn event_text(&self) -> String {
        self.event.to_json_text_with(self.event_style)
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n  pattern: {}\n  event:   {}\n", self.pattern_text(), self.event_text())
    }
}

/// A pattern near the engine's limits: many wildcards (score around 16), `$or` arrays whose product is
/// around 1000, long strings (text around 2048 characters). Paths are distinct: "a" for wildcards,
/// "a.b" for long strings, "b", "detail.a" and "c.a" in the `$or` branches.
pub fn pattern_near_limits() -> BoxedStrategy<Value> {
    let starry = vec(select(&["a", "*", "b*", "\\*"][..]), 1..=6).prop_map(|pieces| {
        let mut wildcard = String::new();
        for piece in pieces {
            // No two consecutive unescaped stars: "*" right after a piece ending in a wildcard is dropped.
            let ends_in_wildcard = wildcard.ends_with('*') && !wildcard.ends_with("\\*");
            if !(piece == "*" && ends_in_wildcard) {
                wildcard.push_str(piece);
            }
        }
        Value::String(wildcard)
    });
    let or_of = |key: &'static str| {
        let short = select(&["1", "2", "true", "null"][..]).prop_map(|literal| match literal {
            "true" => Value::Bool(true),
            "null" => Value::Null,
            number => Value::number(number),
        });
        vec(vec(short, 1..=1), 2..=12).prop_map(move |branches| {
            let objects = branches
                .into_iter()
                .map(|values| Value::Object(vec![(key.to_owned(), Value::Array(values))]))
                .collect();
            Value::Object(vec![("$or".to_owned(), Value::Array(objects))])
        })
    };
    (
        vec(starry, 1..=16),
        or_of("b"),
        or_of("a"),
        or_of("a"),
        prop_oneof![3 => Just(0usize), 1 => 12usize..=21],
        prop::bool::weighted(0.5),
    )
        .prop_map(|(wildcards, top_or, detail_or, c_or, n_long, with_c)| {
            let wildcards = wildcards.into_iter().map(|wildcard| Value::matcher("wildcard", wildcard)).collect();
            let mut fields = vec![("a".to_owned(), Value::Array(wildcards))];
            if let Value::Object(top_or) = top_or {
                fields.extend(top_or);
            }
            fields.push(("detail".to_owned(), detail_or));
            if with_c {
                fields.push(("c".to_owned(), c_or));
            }
            if n_long > 0 {
                let long = (0..n_long).map(|long_idx| Value::String(format!("{long_idx}{}", "x".repeat(90)))).collect();
                fields.push(("a.b".to_owned(), Value::Array(long)));
            }
            Value::Object(fields)
        })
        .boxed()
}

/// A pattern and an event that is random or, two times out of three, derived from the pattern; one
/// pattern in eight is near the engine's limits.
pub fn case() -> impl Strategy<Value = Case> {
    let pattern = prop_oneof![7 => pattern(), 1 => pattern_near_limits()];
    (pattern, event(), vec(any::<u32>(), 0..48), prop::bool::weighted(0.67), text_style(), text_style()).prop_map(
        |(pattern, base, choice_numbers, derived, pattern_style, event_style)| {
            let event = if derived { derive_event(&pattern, &choice_numbers, &base) } else { base };
            Case { pattern, event, pattern_style, event_style }
        },
    )
}

/// Many patterns (rule ids are their indices) and a few events.
#[derive(Clone)]
pub struct RuleSetCase {
    pub patterns: Vec<Value>,
    pub events: Vec<Value>,
}

impl fmt::Debug for RuleSetCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        for (rule_idx, pattern) in self.patterns.iter().enumerate() {
            writeln!(f, "  pattern {rule_idx}: {}", pattern.to_json_text())?;
        }
        for event in &self.events {
            writeln!(f, "  event: {}", event.to_json_text())?;
        }
        Ok(())
    }
}

/// 1 to 20 patterns and 1 to 4 events, each event random or derived from one of the patterns.
pub fn rule_set_case() -> impl Strategy<Value = RuleSetCase> {
    let event_seed = (event(), vec(any::<u32>(), 0..48), any::<prop::sample::Index>(), prop::bool::weighted(0.67));
    (vec(pattern(), 1..=20), vec(event_seed, 1..=4)).prop_map(|(patterns, seeds)| {
        let events = seeds
            .into_iter()
            .map(
                |(base, choice_numbers, pattern_idx, derived)| {
                    if derived { derive_event(pattern_idx.get(&patterns), &choice_numbers, &base) } else { base }
                },
            )
            .collect();
        RuleSetCase { patterns, events }
    })
}

// ---------------------------------------------------------------------------------------------------
// Hostile inputs.

/// A byte string an event reader must survive, and what it must say about it.
#[derive(Clone)]
pub enum HostileInput {
    /// Anything at all.
    Bytes(Vec<u8>),
    /// A proper prefix of a valid event: always invalid.
    Truncated(String),
    /// A valid event followed by non-whitespace: always invalid.
    TrailingGarbage(String),
    /// A valid event with some bytes changed.
    Flipped(Vec<u8>),
    /// Deeply nested brackets (possibly unclosed), to prove the reader does not recurse per level.
    Deep(String),
}

impl HostileInput {
    pub fn bytes(&self) -> &[u8] {
        match self {
            HostileInput::Bytes(bytes) | HostileInput::Flipped(bytes) => bytes,
            HostileInput::Truncated(text) | HostileInput::TrailingGarbage(text) | HostileInput::Deep(text) => {
                text.as_bytes()
            }
        }
    }

    /// Whether a validating reader must reject it.
    pub fn must_be_rejected(&self) -> bool {
        matches!(self, HostileInput::Truncated(_) | HostileInput::TrailingGarbage(_))
    }
}

impl fmt::Debug for HostileInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, bytes) = match self {
            HostileInput::Bytes(bytes) => ("bytes", bytes.as_slice()),
            HostileInput::Truncated(text) => ("truncated", text.as_bytes()),
            HostileInput::TrailingGarbage(text) => ("trailing garbage", text.as_bytes()),
            HostileInput::Flipped(bytes) => ("flipped", bytes.as_slice()),
            HostileInput::Deep(text) => ("deep", text.as_bytes()),
        };
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]);
        write!(f, "{kind} ({} bytes): {shown:?}", bytes.len())
    }
}

fn deep_nesting() -> impl Strategy<Value = String> {
    let opener = select(&["[", "{\"a\":", "[{\"a\":", "{\"a\":[", "{\"zz\":"][..]);
    (opener, 990usize..=20_000, any::<bool>(), any::<bool>()).prop_map(|(opener, depth, closed, inside_field)| {
        let mut text = String::new();
        if inside_field {
            text.push_str("{\"a\":1,\"zz\":");
        }
        text.push_str(&opener.repeat(depth));
        if closed {
            text.push('1');
            for _ in 0..depth {
                for c in opener.chars().rev() {
                    match c {
                        '[' => text.push(']'),
                        '{' => text.push('}'),
                        _ => {}
                    }
                }
            }
            if inside_field {
                text.push('}');
            }
        }
        text
    })
}

/// Any byte, or one that often keeps JSON valid (so that corrupted events still get read to the end).
fn flip_byte() -> impl Strategy<Value = u8> + Clone {
    prop_oneof![1 => any::<u8>(), 3 => select(&b"az09AZ .,:-+eE\"\\/[]{}u"[..])]
}

/// Arbitrary bytes, truncated, extended and corrupted events, and deep nesting.
pub fn hostile_input() -> impl Strategy<Value = HostileInput> {
    let event_text = (event(), text_style()).prop_map(|(event, style)| event.to_json_text_with(style));
    let garbage = select(&["x", "}", "]", "{}", "1", ",", "\"", "nul", "{\"a\":1}", "\u{0}"][..]);
    prop_oneof![
        2 => vec(any::<u8>(), 0..96).prop_map(HostileInput::Bytes),
        2 => (event_text.clone(), any::<prop::sample::Index>()).prop_map(|(text, cut)| {
            let cut_at = cut.index(text.len());
            // Cut at a character boundary so the prefix stays text.
            let cut_at = (0..=cut_at).rev().find(|idx| text.is_char_boundary(*idx)).unwrap_or(0);
            HostileInput::Truncated(text[..cut_at].to_owned())
        }),
        2 => (event_text.clone(), garbage, any::<bool>()).prop_map(|(text, garbage, space)| {
            let separator = if space { " " } else { "" };
            HostileInput::TrailingGarbage(format!("{text}{separator}{garbage}"))
        }),
        3 => (event_text, vec((any::<prop::sample::Index>(), flip_byte()), 1..=2)).prop_map(|(text, flips)| {
            let mut bytes = text.into_bytes();
            for (position, byte) in flips {
                let position = position.index(bytes.len());
                bytes[position] = byte;
            }
            HostileInput::Flipped(bytes)
        }),
        1 => deep_nesting().prop_map(HostileInput::Deep),
    ]
}
