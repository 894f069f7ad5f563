//! Durations as written in catalogs: `45s`, `15m`, `12h`, `30d`, `2w`.
//!
//! A duration is a whole number immediately followed by one unit letter. Fractions
//! (`1.5d`), other units (`30x`, `1y`: years and months have no fixed length) and
//! spaces (`30 d`) are rejected rather than guessed at.
//!
//! Decision: a zero duration (`0d`) is rejected. `within 0d` covers `now - 0 < ts <= now`,
//! which is always empty, and `now - 0d` is just `now`; either way a zero most likely
//! hides a mistake. Durations are also capped at `i64::MAX` seconds so that `now ± D`
//! always fits the IR's signed offset.

/// The accepted forms, for error messages.
pub(crate) const EXPECTED: &str =
    "expected a whole number followed by s, m, h, d or w (e.g. `45s`, `15m`, `12h`, `30d`, `2w`)";

/// The length of the duration `text` in seconds, or why it is not a valid duration (a
/// phrase completing "bad duration `text`: ...").
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(EXPECTED.to_string()),
    };
    if digits.is_empty() {
        return Err(EXPECTED.to_string());
    }
    let too_large = || "it is too large".to_string();
    let count: u64 = digits.parse().map_err(|_| too_large())?;
    if count == 0 {
        return Err("a duration must be longer than zero".to_string());
    }
    let seconds = count.checked_mul(unit_seconds).ok_or_else(too_large)?;
    if i64::try_from(seconds).is_err() {
        return Err(too_large());
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit() {
        assert_eq!(parse("45s"), Ok(45));
        assert_eq!(parse("15m"), Ok(900));
        assert_eq!(parse("12h"), Ok(43_200));
        assert_eq!(parse("30d"), Ok(2_592_000));
        assert_eq!(parse("2w"), Ok(1_209_600));
    }

    #[test]
    fn rejects_anything_else() {
        for bad in ["30x", "1.5d", "d", "30", "30dd", "1e5", "30D"] {
            assert_eq!(parse(bad), Err(EXPECTED.to_string()), "{bad}");
        }
        assert_eq!(
            parse("0d"),
            Err("a duration must be longer than zero".into())
        );
        assert_eq!(
            parse("99999999999999999999s"),
            Err("it is too large".into())
        );
        assert_eq!(parse("15250284452472w"), Err("it is too large".into()));
    }
}
