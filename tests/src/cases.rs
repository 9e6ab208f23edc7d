//! Reading data-driven pattern cases (`tests/cases/pattern/*.jsonl` and the `jsonl pattern-cases`
//! blocks of rules/README.md) and checking one against the engine.
//!
//! A case is one JSON object: `pattern` (or `pattern_text`), and one expectation: `"match": bool`
//! with `event` (or `event_text`), `"error": "<substring>"` (optionally `"pointer"`), or
//! `"event_error": "<substring>"` with `event_text`. Pattern and event are read as raw JSON text so
//! that numbers keep their literal text.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_pattern::Matcher;

#[derive(Debug, Deserialize)]
pub struct Case {
    #[serde(default)]
    pub name: Option<String>,
    pattern: Option<Box<RawValue>>,
    pattern_text: Option<String>,
    event: Option<Box<RawValue>>,
    event_text: Option<String>,
    #[serde(rename = "match")]
    expect_match: Option<bool>,
    error: Option<String>,
    pointer: Option<String>,
    event_error: Option<String>,
}

impl Case {
    fn pattern_text(&self) -> Result<String, String> {
        match (&self.pattern, &self.pattern_text) {
            (Some(raw), None) => Ok(raw.get().to_string()),
            (None, Some(text)) => Ok(text.clone()),
            _ => Err("a case needs exactly one of pattern / pattern_text".to_string()),
        }
    }

    fn event_text(&self) -> Result<String, String> {
        match (&self.event, &self.event_text) {
            (Some(raw), None) => Ok(raw.get().to_string()),
            (None, Some(text)) => Ok(text.clone()),
            _ => Err("a case needs exactly one of event / event_text".to_string()),
        }
    }

    /// Runs the case; `Err` describes how the engine disagreed with the expectation.
    pub fn check(&self) -> Result<(), String> {
        let pattern = self.pattern_text()?;
        let matcher: Matcher<()> = Matcher::new();
        let added = matcher.add((), &pattern);
        if let Some(expected) = &self.error {
            return match added {
                Ok(()) => Err(format!("pattern accepted, expected an error containing {expected:?}")),
                Err(error) if !error.message().contains(expected.as_str()) => {
                    Err(format!("error {:?}, expected one containing {expected:?}", error.to_string()))
                }
                Err(error) => match &self.pointer {
                    Some(pointer) if error.pointer() != pointer => {
                        Err(format!("error at pointer {:?}, expected {pointer:?}: {error}", error.pointer()))
                    }
                    _ => Ok(()),
                },
            };
        }
        if let Err(error) = added {
            return Err(format!("pattern rejected: {error}"));
        }
        let event = self.event_text()?;
        let validated = matcher.matches(event.as_bytes());
        if let Some(expected) = &self.event_error {
            return match validated {
                Ok(found) => {
                    Err(format!("event accepted (match={}), expected an error {expected:?}", !found.is_empty()))
                }
                Err(error) if !error.to_string().contains(expected.as_str()) => {
                    Err(format!("event error {:?}, expected one containing {expected:?}", error.to_string()))
                }
                Err(_) => Ok(()),
            };
        }
        let expected = self.expect_match.ok_or("a case needs one of match / error / event_error")?;
        let found = validated.map_err(|error| format!("event rejected: {error}"))?;
        if found.is_empty() == expected {
            return Err(format!("match={}, expected {expected}", !found.is_empty()));
        }
        let trusted = matcher.matches_trusted(event.as_bytes()).map_err(|error| format!("trusted: {error}"))?;
        if trusted.is_empty() == expected {
            return Err(format!("trusted match={}, expected {expected}", !trusted.is_empty()));
        }
        Ok(())
    }
}

/// Parses JSON Lines of cases; `origin` names the file for messages.
pub fn parse_lines(origin: &str, text: &str) -> Vec<(String, Case)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(idx, line)| {
            let case: Case =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{origin}:{}: not a case: {error}", idx + 1));
            let label = format!("{origin}:{} {}", idx + 1, case.name.clone().unwrap_or_default());
            (label, case)
        })
        .collect()
}

/// Runs cases and returns one line per failure.
pub fn failures(cases: &[(String, Case)]) -> Vec<String> {
    cases.iter().filter_map(|(label, case)| case.check().err().map(|why| format!("{label}: {why}"))).collect()
}
