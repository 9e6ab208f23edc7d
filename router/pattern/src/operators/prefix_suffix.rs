//! `prefix` and `suffix`, case-sensitive or with `equals-ignore-case`. String-only: numbers, booleans
//! and null never match. The empty prefix or suffix matches every string.

use super::Leaf;
use super::equals_ignore_case::{fold, fold_bytes};
use crate::error::{PatternError, Pointer};
use crate::json::Json;

/// The text of a prefix or suffix; folded when `ignore_case`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Affix {
    pub(crate) text: Box<str>,
    pub(crate) ignore_case: bool,
}

pub(crate) fn parse(name: &str, value: &Json, pointer: &Pointer) -> Result<Affix, PatternError> {
    match value {
        Json::String(text) => Ok(Affix { text: text.clone(), ignore_case: false }),
        Json::Object(members) => match members.as_slice() {
            [(key, Json::String(text))] if key.as_ref() == "equals-ignore-case" => {
                Ok(Affix { text: fold(text).into(), ignore_case: true })
            }
            [(key, _)] if key.as_ref() == "equals-ignore-case" => {
                Err(PatternError::new(pointer, "equals-ignore-case match pattern must be a string"))
            }
            [(key, _), ..] => Err(PatternError::new(pointer, format!("Unsupported {name} pattern: {key}"))),
            [] => Err(PatternError::new(pointer, format!("Unsupported {name} pattern: {{}}"))),
        },
        _ => Err(PatternError::new(pointer, format!("{name} match pattern must be a string"))),
    }
}

impl Affix {
    // The automaton indexes these matchers; its tests check the index against this definition.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn accepts_prefix(&self, leaf: &Leaf<'_>) -> bool {
        match leaf {
            Leaf::String(text) if self.ignore_case => fold_bytes(text).starts_with(self.text.as_ref()),
            Leaf::String(text) => text.starts_with(self.text.as_bytes()),
            _ => false,
        }
    }

    // The automaton indexes these matchers; its tests check the index against this definition.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn accepts_suffix(&self, leaf: &Leaf<'_>) -> bool {
        match leaf {
            Leaf::String(text) if self.ignore_case => fold_bytes(text).ends_with(self.text.as_ref()),
            Leaf::String(text) => text.ends_with(self.text.as_bytes()),
            _ => false,
        }
    }
}
