use std::error::Error;
use std::fmt;

/// The outcome of a handler: `Ok(())` or a [`Failure`].
pub type Result<T = (), E = Failure> = core::result::Result<T, E>;

/// Why a delivery failed, and whether trying again could help.
///
/// Any error type converts into a *retryable* failure, so `?` works on most results; its message is
/// the error's text followed by its `source()` chain, joined by `": "`. Use
/// [`Failure::permanent`] when a retry cannot succeed (the payload is invalid, the order does not
/// exist): the router then sends the delivery to the rule's dead-letter storage at once.
///
/// `Failure` deliberately does not implement [`std::error::Error`]; that is what makes the blanket
/// `From` conversion possible (as with `anyhow::Error`).
#[derive(Clone, PartialEq, Eq)]
pub struct Failure {
    permanent: bool,
    message: String,
}

impl Failure {
    /// A failure the router retries with backoff, until the target's retry policy is exhausted.
    pub fn retryable(message: impl Into<String>) -> Self {
        Failure { permanent: false, message: message.into() }
    }

    /// A failure the router does not retry.
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure { permanent: true, message: message.into() }
    }

    /// Whether the router will give up on the delivery without retrying.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The failure's message, as the router records it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, by value.
    pub fn into_message(self) -> String {
        self.message
    }

    /// The same failure with `context` in front of its message (`"context: message"`).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Failure { permanent: self.permanent, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.permanent { "permanent" } else { "retryable" };
        write!(f, "Failure::{kind}({:?})", self.message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.permanent { "permanent" } else { "retryable" };
        write!(f, "{kind} failure: {}", self.message)
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::retryable(chain(&error))
    }
}

/// `error`'s text and that of each of its sources, joined by `": "`.
pub(crate) fn chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some errors repeat their source's text in their own; don't say it twice.
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Adds context to an error on its way into a [`Failure`], like `anyhow::Context`.
///
/// ```
/// use switchyard_guest::{Context, Result};
///
/// fn quantity(text: &str) -> Result<u32> {
///     text.parse::<u32>().context("field `quantity`")
/// }
///
/// let failure = quantity("abc").unwrap_err();
/// assert_eq!(failure.message(), "field `quantity`: invalid digit found in string");
/// assert!(!failure.is_permanent());
/// ```
pub trait Context<T> {
    /// Converts the error into a [`Failure`] (retryable for plain errors, the same kind for a
    /// `Failure`) whose message starts with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// Converts the error into a *permanent* [`Failure`] whose message starts with `context`.
    fn permanent(self, context: impl fmt::Display) -> Result<T>;
}

impl<T, E: Error + Send + Sync + 'static> Context<T> for core::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|error| Failure::retryable(format!("{context}: {}", chain(&error))))
    }

    fn permanent(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|error| Failure::permanent(format!("{context}: {}", chain(&error))))
    }
}

impl<T> Context<T> for Result<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|failure| failure.context(context))
    }

    fn permanent(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|failure| Failure::permanent(format!("{context}: {}", failure.message)))
    }
}
