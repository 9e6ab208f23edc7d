//! A pattern as the user wrote it, validated and brought into the form the automaton compiles: a list
//! of branches (the `$or` combinations multiplied out), each a conjunction of conditions on paths.
//!
//! This file owns the shape rules (objects mirror the event, leaves are non-empty arrays, `$or`, the
//! `a.b` key equivalence, limits); the operators' own syntax lives in `operators/`.

use crate::Limits;
use crate::error::{PatternError, Pointer};
use crate::json::{self, Json};
use crate::operators::{self, LeafMatchers, RESERVED_NAMES, ValueMatcher};

/// A validated event pattern, ready to be added to a [`crate::Matcher`].
///
/// ```
/// use switchyard_pattern::{Limits, Pattern};
/// let pattern = Pattern::parse(r#"{"source": ["aws.ec2"], "detail": {"state": [{"prefix": "run"}]}}"#,
///     &Limits::default()).unwrap();
/// assert_eq!(pattern.n_branches(), 1);
/// let error = Pattern::parse(r#"{"detail": {"state": [{"prefx": "run"}]}}"#, &Limits::default()).unwrap_err();
/// assert_eq!(error.to_string(), "at /detail/state/0: Unrecognized match type prefx");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub(crate) branches: Vec<Vec<Condition>>,
}

/// One path and what its leaves must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// Path segments; a key `a.b` contributes two segments.
    pub(crate) path: Vec<Box<str>>,
    pub(crate) leaf: LeafMatchers,
}

/// An AND of conditions and of `$or`s in the order they were written, before multiplying out.
#[derive(Debug, Default)]
struct Conjunction {
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Condition(Condition),
    Or(Vec<Conjunction>),
}

impl Pattern {
    /// Parses and validates pattern text.
    pub fn parse(text: &str, limits: &Limits) -> Result<Pattern, PatternError> {
        let n_chars = text.chars().count();
        if n_chars > limits.max_pattern_chars {
            return Err(PatternError::whole(format!(
                "pattern is {n_chars} characters, longer than the limit of {}",
                limits.max_pattern_chars
            )));
        }
        let json = json::parse(text).map_err(|error| {
            PatternError::whole(format!(
                "invalid JSON at line {} column {}: {}",
                error.line, error.column, error.message
            ))
        })?;
        let Json::Object(members) = &json else {
            return Err(PatternError::whole("Filter is not an object"));
        };
        let mut budget = Budget { or_combinations: 1, wildcard_score: 0, limits };
        let mut root = Conjunction::default();
        parse_object(members, &Pointer::default(), &[], false, &mut root, &mut budget)?;
        let branches = expand(root);
        Ok(Pattern { branches })
    }

    /// How many branches (`$or` combinations) the pattern has.
    pub fn n_branches(&self) -> usize {
        self.branches.len()
    }
}

struct Budget<'a> {
    or_combinations: usize,
    wildcard_score: usize,
    limits: &'a Limits,
}

fn parse_object(
    members: &[(Box<str>, Json)],
    pointer: &Pointer,
    prefix: &[Box<str>],
    inside_or: bool,
    out: &mut Conjunction,
    budget: &mut Budget<'_>,
) -> Result<(), PatternError> {
    for (key, value) in members {
        let key_pointer = pointer.child(key);
        if key.as_ref() == "$or" {
            out.items.push(Item::Or(parse_or(value, &key_pointer, prefix, budget)?));
            continue;
        }
        if inside_or && RESERVED_NAMES.contains(&key.as_ref()) {
            return Err(PatternError::new(
                &key_pointer,
                format!("{key} is Ruler reserved fieldName which cannot be used inside $or."),
            ));
        }
        let mut path = prefix.to_vec();
        path.extend(key.split('.').map(Box::from));
        match value {
            Json::Object(inner) if inner.is_empty() => {
                return Err(PatternError::new(&key_pointer, "Empty objects are not allowed"));
            }
            Json::Object(inner) => parse_object(inner, &key_pointer, &path, inside_or, out, budget)?,
            Json::Array(items) if items.is_empty() => {
                return Err(PatternError::new(&key_pointer, "Empty arrays are not allowed"));
            }
            Json::Array(items) => {
                let leaf = operators::parse_leaf(items, &key_pointer)?;
                charge_wildcards(&leaf, &key_pointer, budget)?;
                out.items.push(Item::Condition(Condition { path, leaf }));
            }
            _ => {
                return Err(PatternError::new(&key_pointer, format!("\"{key}\" must be an object or an array")));
            }
        }
    }
    Ok(())
}

fn parse_or(
    value: &Json,
    pointer: &Pointer,
    prefix: &[Box<str>],
    budget: &mut Budget<'_>,
) -> Result<Vec<Conjunction>, PatternError> {
    let Json::Array(items) = value else {
        return Err(PatternError::new(pointer, "It must be an Array followed with $or."));
    };
    if items.len() < 2 {
        return Err(PatternError::new(pointer, "There must have at least 2 Objects in $or relationship."));
    }
    budget.or_combinations = budget.or_combinations.saturating_mul(items.len());
    if budget.or_combinations > budget.limits.max_or_combinations {
        return Err(PatternError::new(
            pointer,
            format!(
                "the pattern has too many combinations: the $or arrays multiply to more than {}",
                budget.limits.max_or_combinations
            ),
        ));
    }
    let mut branches = Vec::with_capacity(items.len());
    for (idx, item) in items.iter().enumerate() {
        let item_pointer = pointer.child(idx);
        match item {
            Json::Object(members) if members.is_empty() => {
                return Err(PatternError::new(&item_pointer, "Empty objects are not allowed"));
            }
            Json::Object(members) => {
                let mut branch = Conjunction::default();
                parse_object(members, &item_pointer, prefix, true, &mut branch, budget)?;
                branches.push(branch);
            }
            _ => {
                return Err(PatternError::new(
                    &item_pointer,
                    "Only JSON object is allowed in array of $or relationship.",
                ));
            }
        }
    }
    Ok(branches)
}

fn charge_wildcards(leaf: &LeafMatchers, pointer: &Pointer, budget: &mut Budget<'_>) -> Result<(), PatternError> {
    for matcher in &leaf.matchers {
        let score: usize = match matcher {
            ValueMatcher::Wildcard(wildcard) => wildcard.score(),
            ValueMatcher::AnythingBut(anything_but) => anything_but.wildcards().iter().map(|w| w.score()).sum(),
            _ => 0,
        };
        budget.wildcard_score += score;
    }
    if budget.wildcard_score > budget.limits.max_wildcard_score {
        return Err(PatternError::new(pointer, operators::wildcard::TOO_COMPLEX));
    }
    Ok(())
}

/// Multiplies out the `$or`s: the result has one entry per combination. A path written twice in one
/// combination (`"a"` beside a `$or` branch that also has `"a"`, or the key `"a.b"` beside
/// `{"a": {"b": ...}}`) keeps the one written last, as event-ruler's compiler does.
fn expand(conjunction: Conjunction) -> Vec<Vec<Condition>> {
    let mut result: Vec<Vec<Condition>> = vec![Vec::new()];
    for item in conjunction.items {
        match item {
            Item::Condition(condition) => {
                for partial in &mut result {
                    put(partial, condition.clone());
                }
            }
            Item::Or(branches) => {
                let alternatives: Vec<Vec<Condition>> = branches.into_iter().flat_map(expand).collect();
                let mut next = Vec::with_capacity(result.len() * alternatives.len());
                for partial in &result {
                    for alternative in &alternatives {
                        let mut combined = partial.clone();
                        for condition in alternative {
                            put(&mut combined, condition.clone());
                        }
                        next.push(combined);
                    }
                }
                result = next;
            }
        }
    }
    result
}

/// Adds a condition, replacing an earlier one on the same path.
fn put(conditions: &mut Vec<Condition>, condition: Condition) {
    conditions.retain(|existing| existing.path != condition.path);
    conditions.push(condition);
}
