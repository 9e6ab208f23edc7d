//! `anything-but`: matches any present leaf that is not excluded. String exclusions (values, prefixes,
//! suffixes, ignore-case values, wildcards) never exclude numbers, booleans or null; numeric exclusions
//! never exclude strings, booleans or null. A non-comparable event number cannot be compared, so it
//! never satisfies a numeric `anything-but`. An absent field never matches.

use super::Leaf;
use super::equals_ignore_case::{fold, fold_bytes};
use super::numbers::comparable_value;
use super::wildcard::Wildcard;
use crate::error::{PatternError, Pointer};
use crate::json::Json;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnythingBut {
    Strings(Vec<Box<str>>),
    Numbers(Vec<f64>),
    Prefixes(Vec<Box<str>>),
    Suffixes(Vec<Box<str>>),
    /// Folded values.
    EqualsIgnoreCase(Vec<Box<str>>),
    Wildcards(Vec<Wildcard>),
}

const BAD_VALUE: &str = "Value of anything-but must be an array or single string/number value.";

pub(crate) fn parse(value: &Json, pointer: &Pointer) -> Result<AnythingBut, PatternError> {
    match value {
        Json::String(text) => Ok(AnythingBut::Strings(vec![text.clone()])),
        Json::Number(literal) => Ok(AnythingBut::Numbers(vec![number(literal, pointer)?])),
        Json::Array(items) => parse_list(items, pointer),
        Json::Object(members) => match members.as_slice() {
            [(key, inner)] => parse_object(key, inner, pointer),
            [] => Err(PatternError::new(pointer, "Unsupported anything-but pattern: {}")),
            [(key, _), ..] => Err(PatternError::new(pointer, format!("Unsupported anything-but pattern: {key}"))),
        },
        Json::Null | Json::Bool(_) => Err(PatternError::new(pointer, BAD_VALUE)),
    }
}

fn number(literal: &str, pointer: &Pointer) -> Result<f64, PatternError> {
    comparable_value(literal.as_bytes())
        .ok_or_else(|| PatternError::new(pointer, format!("Cannot compare number : {literal}")))
}

fn parse_list(items: &[Json], pointer: &Pointer) -> Result<AnythingBut, PatternError> {
    if items.is_empty() {
        return Err(PatternError::new(pointer, "Empty arrays are not allowed"));
    }
    let mut strings = Vec::new();
    let mut numbers = Vec::new();
    for item in items {
        match item {
            Json::String(text) => strings.push(text.clone()),
            Json::Number(literal) => numbers.push(number(literal, pointer)?),
            _ => {
                return Err(PatternError::new(
                    pointer,
                    "Inside anything but list, start|null|boolean is not supported.",
                ));
            }
        }
    }
    match (strings.is_empty(), numbers.is_empty()) {
        (false, true) => Ok(AnythingBut::Strings(strings)),
        (true, false) => Ok(AnythingBut::Numbers(numbers)),
        _ => Err(PatternError::new(
            pointer,
            "Inside anything but list, either all values are number or string, mixed type is not supported",
        )),
    }
}

fn parse_object(key: &str, inner: &Json, pointer: &Pointer) -> Result<AnythingBut, PatternError> {
    match key {
        "prefix" | "suffix" => {
            let texts = string_list(key, inner, pointer, |_| format!("{key} match pattern must be a string"))?;
            if texts.iter().any(|text| text.is_empty()) {
                return Err(PatternError::new(pointer, "Null prefix/suffix not allowed"));
            }
            Ok(if key == "prefix" { AnythingBut::Prefixes(texts) } else { AnythingBut::Suffixes(texts) })
        }
        "equals-ignore-case" => {
            let texts = string_list(key, inner, pointer, |item| match item {
                Some(_) => "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                    .to_string(),
                None => "equals-ignore-case match pattern must be a string".to_string(),
            })?;
            Ok(AnythingBut::EqualsIgnoreCase(texts.iter().map(|text| fold(text).into()).collect()))
        }
        "wildcard" => {
            let texts = string_list(key, inner, pointer, |_| "wildcard match pattern must be a string".to_string())?;
            let wildcards = texts.iter().map(|text| Wildcard::parse(text, pointer)).collect::<Result<_, _>>()?;
            Ok(AnythingBut::Wildcards(wildcards))
        }
        other => Err(PatternError::new(pointer, format!("Unsupported anything-but pattern: {other}"))),
    }
}

/// A string or a non-empty list of strings; `message(Some(item))` names a bad list item,
/// `message(None)` a bad single value.
fn string_list(
    key: &str,
    inner: &Json,
    pointer: &Pointer,
    message: impl Fn(Option<&Json>) -> String,
) -> Result<Vec<Box<str>>, PatternError> {
    match inner {
        Json::String(text) => Ok(vec![text.clone()]),
        Json::Array(items) if items.is_empty() => {
            Err(PatternError::new(pointer, format!("Empty arrays are not allowed in anything-but {key}")))
        }
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(text) => Ok(text.clone()),
                other => Err(PatternError::new(pointer, message(Some(other)))),
            })
            .collect(),
        _ => Err(PatternError::new(pointer, message(None))),
    }
}

impl AnythingBut {
    /// Whether this `anything-but` is about numbers (excludes numbers) rather than strings.
    pub(crate) fn is_numeric(&self) -> bool {
        matches!(self, AnythingBut::Numbers(_))
    }

    pub(crate) fn accepts(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (AnythingBut::Numbers(excluded), Leaf::Number(_, value)) => {
                value.is_some_and(|value| !excluded.contains(&value))
            }
            (AnythingBut::Numbers(_), _) => true,
            (_, Leaf::String(text)) => !self.excludes_string(text),
            (_, _) => true,
        }
    }

    fn excludes_string(&self, text: &[u8]) -> bool {
        match self {
            AnythingBut::Strings(excluded) => excluded.iter().any(|value| value.as_bytes() == text),
            AnythingBut::Prefixes(excluded) => excluded.iter().any(|value| text.starts_with(value.as_bytes())),
            AnythingBut::Suffixes(excluded) => excluded.iter().any(|value| text.ends_with(value.as_bytes())),
            AnythingBut::EqualsIgnoreCase(excluded) => {
                let folded = fold_bytes(text);
                excluded.iter().any(|value| value.as_ref() == folded)
            }
            AnythingBut::Wildcards(excluded) => excluded.iter().any(|wildcard| wildcard.matches(text)),
            AnythingBut::Numbers(_) => false,
        }
    }

    /// Wildcards inside this `anything-but`, for the pattern's complexity score.
    pub(crate) fn wildcards(&self) -> &[Wildcard] {
        match self {
            AnythingBut::Wildcards(wildcards) => wildcards,
            _ => &[],
        }
    }
}
