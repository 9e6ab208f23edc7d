//! Exact values: strings, numbers (compared numerically, see `numbers.rs`), `true`, `false`, `null`,
//! and ruler's `exactly`. A string that is an IP address literal also equals the other textual forms
//! of the same address (see `cidr.rs`); `exactly` does not.

use super::Leaf;
use super::cidr::parse_ip;
use super::numbers::comparable_value;
use crate::json::Json;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exact {
    String(Box<str>),
    /// Literal text and, when comparable, the value.
    Number(Box<str>, Option<f64>),
    True,
    False,
    Null,
    Exactly(Box<str>),
}

pub(crate) fn parse(scalar: &Json) -> Exact {
    match scalar {
        Json::String(text) => Exact::String(text.clone()),
        Json::Number(literal) => Exact::Number(literal.clone(), comparable_value(literal.as_bytes())),
        Json::Bool(true) => Exact::True,
        Json::Bool(false) => Exact::False,
        // parse_leaf only hands scalars to this function.
        _ => Exact::Null,
    }
}

impl Exact {
    // The automaton indexes these matchers; its tests check the index against this definition.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn accepts(&self, leaf: &Leaf<'_>) -> bool {
        match (self, leaf) {
            (Exact::String(expected), Leaf::String(text)) => {
                expected.as_bytes() == *text
                    || parse_ip(expected.as_bytes()).is_some_and(|ip| parse_ip(text) == Some(ip))
            }
            (Exact::Exactly(expected), Leaf::String(text)) => expected.as_bytes() == *text,
            (Exact::Number(_, Some(expected)), Leaf::Number(_, Some(value))) => expected == value,
            (Exact::Number(literal, None), Leaf::Number(text, None)) => literal.as_bytes() == *text,
            (Exact::True, Leaf::True) | (Exact::False, Leaf::False) | (Exact::Null, Leaf::Null) => true,
            _ => false,
        }
    }
}
