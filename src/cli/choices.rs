//! Flags whose value is one of a few names (`--on-error`, `--format`, `--clock`).
//!
//! The library's types name their choices themselves (`FromStr` and `Display`); the
//! command line adds the list of names with a line of help for each, which `--help`
//! shows and a wrong value is answered with.

use std::error::Error;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::engine::batch::OnError;
use crate::live::changelog::LogFormat;
use crate::live::frontier::ClockKind;

/// `--on-error`.
pub fn on_error() -> impl TypedValueParser<Value = OnError> {
    one_of([
        PossibleValue::new("stop")
            .help("Report the first bad row and stop without writing any output"),
        PossibleValue::new("skip")
            .help("Set bad rows aside (in `rejects.csv`), count them, and go on"),
    ])
}

/// `--format` of the change log.
pub fn log_format() -> impl TypedValueParser<Value = LogFormat> {
    one_of([PossibleValue::new("csv"), PossibleValue::new("jsonl")])
}

/// `--clock`.
pub fn clock() -> impl TypedValueParser<Value = ClockKind> {
    one_of([
        PossibleValue::new("event").help("The greatest event time seen (and `clock` records)"),
        PossibleValue::new("wall").help("The machine's clock"),
    ])
}

/// A value that is one of `names`, parsed into `T`.
fn one_of<T, const N: usize>(names: [PossibleValue; N]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn Error + Send + Sync>>,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

#[cfg(test)]
mod tests {
    use std::fmt::Display;

    use super::*;

    /// Every name the command line offers parses, and the value displays as that name.
    fn names_round_trip<T>(parser: impl TypedValueParser<Value = T>)
    where
        T: FromStr + Display,
        T::Err: std::fmt::Debug,
    {
        let names: Vec<PossibleValue> = parser.possible_values().unwrap().collect();
        assert!(!names.is_empty());
        for name in names {
            let value: T = name.get_name().parse().unwrap();
            assert_eq!(value.to_string(), name.get_name());
        }
    }

    #[test]
    fn every_choice_is_a_value_of_the_library() {
        names_round_trip(on_error());
        names_round_trip(log_format());
        names_round_trip(clock());
    }
}
