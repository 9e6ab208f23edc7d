//! `exists`: leaf-only presence. `{"exists": true}` is satisfied by any leaf value at the path (null,
//! "" and false included); `{"exists": false}` by the absence of every leaf there: the field is
//! missing, its parent is missing, it holds an object, or it holds an empty array. Presence is judged
//! over the whole flattened event, so a leaf in any element of an array of objects counts.
//!
//! `exists: true` becomes a value matcher that accepts every leaf; `exists: false` is a flag on its
//! leaf array (absence also satisfies the array), checked by the automaton after the walk.

use crate::error::{PatternError, Pointer};
use crate::json::Json;

/// The boolean of an `exists` matcher.
pub(crate) fn parse(value: &Json, pointer: &Pointer) -> Result<bool, PatternError> {
    match value {
        Json::Bool(present) => Ok(*present),
        _ => Err(PatternError::new(pointer, "exists match pattern must be either true or false.")),
    }
}
