use std::fmt;

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The target does not grant a key-value store (`capabilities: {kv: true}` is missing).
    NotGranted,
    /// A key, value or the store would exceed its size limit.
    TooLarge(String),
    /// The store could not be read or written.
    Unavailable(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NotGranted => f.write_str("the target does not grant a key-value store"),
            KvError::TooLarge(message) => write!(f, "key-value store limit exceeded: {message}"),
            KvError::Unavailable(message) => write!(f, "key-value store unavailable: {message}"),
        }
    }
}

impl std::error::Error for KvError {}
