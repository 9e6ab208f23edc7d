//! The operators of the pattern language, one file per section of the rules reference
//! (`rules/README.md`). Each file parses and validates its operator's syntax and decides whether one
//! leaf value satisfies it; `automaton.rs` indexes many of them per field.

pub(crate) mod anything_but;
pub(crate) mod cidr;
pub(crate) mod equals_ignore_case;
pub(crate) mod exact;
pub(crate) mod exists;
pub(crate) mod numbers;
pub(crate) mod numeric;
pub(crate) mod prefix_suffix;
pub(crate) mod wildcard;

use crate::error::{PatternError, Pointer};
use crate::json::Json;

/// One value of a leaf array of a pattern, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueMatcher {
    Exact(exact::Exact),
    Prefix(prefix_suffix::Affix),
    Suffix(prefix_suffix::Affix),
    EqualsIgnoreCase(Box<str>),
    Wildcard(wildcard::Wildcard),
    AnythingBut(anything_but::AnythingBut),
    Numeric(numeric::Range),
    ExistsTrue,
    Cidr(cidr::IpRange),
}

/// A leaf value of an event as the matcher sees it: strings already unescaped.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Leaf<'a> {
    String(&'a [u8]),
    /// The literal text and, when comparable, its value.
    Number(&'a [u8], Option<f64>),
    True,
    False,
    Null,
}

/// What a leaf array means: the matchers OR'ed together, and whether absence also satisfies it
/// (`{"exists": false}` among the values).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LeafMatchers {
    pub(crate) matchers: Vec<ValueMatcher>,
    pub(crate) absent_ok: bool,
}

/// Names that may not be field names inside `$or` branches.
pub(crate) const RESERVED_NAMES: &[&str] = &[
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "exactly",
    "=",
    "<",
    "<=",
    ">",
    ">=",
];

/// Parses the non-empty array at a leaf of a pattern.
pub(crate) fn parse_leaf(items: &[Json], pointer: &Pointer) -> Result<LeafMatchers, PatternError> {
    let mut leaf = LeafMatchers::default();
    for (idx, item) in items.iter().enumerate() {
        let item_pointer = pointer.child(idx);
        match item {
            Json::Object(members) => {
                let (name, value) = match members.as_slice() {
                    [] => {
                        return Err(PatternError::new(&item_pointer, "Match expression name not found"));
                    }
                    [(name, value)] => (name.as_ref(), value),
                    _ => {
                        return Err(PatternError::new(&item_pointer, "Only one key allowed in match expression"));
                    }
                };
                match name {
                    "exists" => match exists::parse(value, &item_pointer)? {
                        true => leaf.matchers.push(ValueMatcher::ExistsTrue),
                        false => leaf.absent_ok = true,
                    },
                    _ => leaf.matchers.push(parse_matcher(name, value, &item_pointer)?),
                }
            }
            Json::Array(_) => {
                return Err(PatternError::new(
                    &item_pointer,
                    "Match value must be String, number, true, false, or null",
                ));
            }
            scalar => leaf.matchers.push(ValueMatcher::Exact(exact::parse(scalar))),
        }
    }
    Ok(leaf)
}

fn parse_matcher(name: &str, value: &Json, pointer: &Pointer) -> Result<ValueMatcher, PatternError> {
    let require_string = |value: &Json| -> Result<Box<str>, PatternError> {
        match value {
            Json::String(text) => Ok(text.clone()),
            _ => Err(PatternError::new(pointer, format!("{name} match pattern must be a string"))),
        }
    };
    match name {
        "prefix" => prefix_suffix::parse("prefix", value, pointer).map(ValueMatcher::Prefix),
        "suffix" => prefix_suffix::parse("suffix", value, pointer).map(ValueMatcher::Suffix),
        "equals-ignore-case" => {
            Ok(ValueMatcher::EqualsIgnoreCase(equals_ignore_case::fold(&require_string(value)?).into()))
        }
        "wildcard" => wildcard::Wildcard::parse(&require_string(value)?, pointer).map(ValueMatcher::Wildcard),
        "anything-but" => anything_but::parse(value, pointer).map(ValueMatcher::AnythingBut),
        "numeric" => numeric::parse(value, pointer).map(ValueMatcher::Numeric),
        "cidr" => cidr::IpRange::parse(&require_string(value)?, pointer).map(ValueMatcher::Cidr),
        "exactly" => Ok(ValueMatcher::Exact(exact::Exact::Exactly(require_string(value)?))),
        other => Err(PatternError::new(pointer, format!("Unrecognized match type {other}"))),
    }
}

impl ValueMatcher {
    /// Whether this matcher accepts one leaf value. The automaton indexes most matchers instead of
    /// calling this; the reference for what "accepts" means is here.
    // The automaton indexes these matchers; its tests check the index against this definition.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn accepts(&self, leaf: &Leaf<'_>) -> bool {
        match self {
            ValueMatcher::Exact(exact) => exact.accepts(leaf),
            ValueMatcher::Prefix(affix) => affix.accepts_prefix(leaf),
            ValueMatcher::Suffix(affix) => affix.accepts_suffix(leaf),
            ValueMatcher::EqualsIgnoreCase(folded) => equals_ignore_case::accepts(folded, leaf),
            ValueMatcher::Wildcard(wildcard) => match leaf {
                Leaf::String(text) => wildcard.matches(text),
                _ => false,
            },
            ValueMatcher::AnythingBut(anything_but) => anything_but.accepts(leaf),
            ValueMatcher::Numeric(range) => match leaf {
                Leaf::Number(_, Some(value)) => range.contains(*value),
                _ => false,
            },
            ValueMatcher::ExistsTrue => true,
            ValueMatcher::Cidr(range) => match leaf {
                Leaf::String(text) => cidr::parse_ip(text).is_some_and(|ip| range.contains(ip)),
                _ => false,
            },
        }
    }
}
