//! Quoting input in messages: a long text is cut to its start and its length, so that
//! a multi-megabyte value (an id, a column name, a line) never fills a terminal, a
//! log or a rejects file's reason.

use std::borrow::Cow;

/// The longest text from input that a message quotes in full, in characters.
pub const QUOTED_MAX: usize = 80;

/// `text` for a message: in full when at most `max` characters, else its first `max`
/// characters and its length in bytes.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len())),
    }
}

/// `text` cut at [`QUOTED_MAX`] characters.
pub fn shorten(text: &str) -> Cow<'_, str> {
    cut(text, QUOTED_MAX)
}

/// `message` with every span between backticks cut at [`QUOTED_MAX`] characters:
/// messages quote input that way (`cannot parse `x` as a number`).
pub fn shorten_quoted(message: &str) -> Cow<'_, str> {
    let parts: Vec<&str> = message.split('`').collect();
    // Odd parts are quoted; an unpaired last backtick quotes nothing.
    let quoted = |i: usize| i % 2 == 1 && i + 1 < parts.len();
    if !(0..parts.len()).any(|i| quoted(i) && parts[i].chars().nth(QUOTED_MAX).is_some()) {
        return Cow::Borrowed(message);
    }
    let cut_parts: Vec<Cow<str>> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| match quoted(i) {
            true => shorten(part),
            false => Cow::Borrowed(*part),
        })
        .collect();
    Cow::Owned(cut_parts.join("`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(QUOTED_MAX + 1);
        let cut = shorten(&long);
        assert!(cut.starts_with(&"é".repeat(QUOTED_MAX)), "{cut}");
        assert!(cut.ends_with(&format!("… ({} bytes)", long.len())), "{cut}");
    }

    #[test]
    fn only_long_quoted_spans_are_cut() {
        let message = "keep `short` and `long` or `x";
        assert_eq!(shorten_quoted(message), message);
        let long = "y".repeat(1000);
        let message = format!("cannot parse `{long}` as a `number`");
        let expected = format!("cannot parse `{}… (1000 bytes)` as a `number`", &long[..80]);
        assert_eq!(shorten_quoted(&message), expected);
    }
}
