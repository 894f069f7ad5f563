//! Line ends of CSV input: where lines start and how many end before an offset.
//!
//! A line ends at LF, CRLF or a bare CR, as the `csv` crate ends records: files written
//! with any of the three conventions (Unix, Windows, classic Mac) read the same, and
//! the byte ranges of workers, the line numbers of reports and the records of the CSV
//! reader all agree on where a line ends.

/// The offset just past the first line end at or after `from` (CRLF counts as one),
/// or `bytes.len()` when no line ends there.
pub fn next_line_start(bytes: &[u8], from: usize) -> usize {
    match memchr::memchr2(b'\n', b'\r', &bytes[from.min(bytes.len())..]) {
        None => bytes.len(),
        Some(i) => {
            let end = from + i;
            if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
                end + 2
            } else {
                end + 1
            }
        }
    }
}

/// The number of line ends that start in `bytes[from..to]`; a CRLF counts once, by its
/// LF, even when `to` falls between its two bytes.
pub fn line_ends(bytes: &[u8], from: usize, to: usize) -> u64 {
    memchr::memchr2_iter(b'\n', b'\r', &bytes[from..to])
        .filter(|&i| bytes[from + i] == b'\n' || bytes.get(from + i + 1) != Some(&b'\n'))
        .count() as u64
}

/// Whether `byte` ends a line (alone or as part of CRLF).
pub fn is_line_end(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_crlf_and_bare_cr_each_end_one_line() {
        let text = b"a\nb\r\nc\rd";
        assert_eq!(next_line_start(text, 0), 2);
        assert_eq!(next_line_start(text, 2), 5);
        assert_eq!(next_line_start(text, 5), 7);
        assert_eq!(next_line_start(text, 7), text.len());
        assert_eq!(line_ends(text, 0, text.len()), 3);
        // A range that stops between CR and LF counts that line end once, by its LF.
        assert_eq!(line_ends(text, 0, 4), 1);
        assert_eq!(line_ends(text, 4, text.len()), 2);
    }
}
