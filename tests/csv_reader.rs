//! The CSV reader under random input: random bytes, and valid files with random
//! mutations, read in any number of parts.
//!
//! The oracle reads the data one line at a time, from scratch: lines end at LF, CRLF
//! or a bare CR; a blank line is nothing; a line is a row when it parses (with a line
//! end after it) into exactly one record, with no line break inside a field and as
//! many fields as the header; any other line is rejected. The reader, in every number
//! of parts, must accept exactly the oracle's rows and reject exactly its lines, so
//! every byte of the input is accounted for — in a row, a rejected line or a blank one —
//! and the answer does not depend on the number of workers. The scan for one column
//! (`for_each_cell`, which finds the default as-of time) sees exactly the accepted
//! rows' cells.

use proptest::prelude::*;
use segflow::io::csv_file::CsvFile;

const HEADER: &str = "a,b,c\n";

/// What reading yields: accepted rows (fields) and rejected lines (number, text), in
/// line order.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    rows: Vec<Vec<Vec<u8>>>,
    rejected: Vec<(u64, Vec<u8>)>,
}

/// The lines of `data` (after the header) with their numbers, line ends removed.
fn lines(data: &[u8]) -> Vec<(u64, &[u8])> {
    let mut lines = Vec::new();
    let (mut start, mut number, mut i) = (0, 2, 0);
    while i < data.len() {
        if data[i] == b'\n' || data[i] == b'\r' {
            lines.push((number, &data[start..i]));
            number += 1;
            i += if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    if start < data.len() {
        lines.push((number, &data[start..]));
    }
    lines
}

fn oracle(data: &[u8]) -> Read {
    let mut read = Read {
        rows: Vec::new(),
        rejected: Vec::new(),
    };
    for (number, line) in lines(data) {
        if line.is_empty() {
            continue;
        }
        let mut text = line.to_vec();
        text.push(b'\n');
        let records: Vec<csv::ByteRecord> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_slice())
            .byte_records()
            .map(|r| r.unwrap())
            .collect();
        let row = match records.as_slice() {
            [record] if record.len() == 3 && !record.as_slice().contains(&b'\n') => record,
            _ => {
                read.rejected.push((number, line.to_vec()));
                continue;
            }
        };
        read.rows.push(row.iter().map(<[u8]>::to_vec).collect());
    }
    read
}

fn reader(data: &[u8], parts: usize) -> Read {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(data);
    let file = CsvFile::from_bytes("t.csv".into(), bytes).unwrap();
    let (mut rows, mut rejected) = (Vec::new(), Vec::new());
    for index in 0..parts {
        file.for_each_row(
            index,
            parts,
            |offset, record| {
                rows.push((offset, record.iter().map(<[u8]>::to_vec).collect()));
                Ok(())
            },
            |error| rejected.push((error.line, error.raw.into_bytes())),
        );
    }
    rows.sort();
    rejected.sort();
    Read {
        rows: rows.into_iter().map(|(_, fields)| fields).collect(),
        rejected,
    }
}

/// The oracle's rejected lines as the reader reports them (lossily decoded).
fn lossy(mut read: Read) -> Read {
    for (_, text) in &mut read.rejected {
        *text = String::from_utf8_lossy(text).into_owned().into_bytes();
    }
    read
}

/// Bytes that matter to CSV, and some that do not.
fn byte() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        b'a', b'1', b' ', b',', b',', b'"', b'"', b'\n', b'\r', 0xff,
    ])
}

/// A valid file: three fields a row, some quoted with separators and quotes inside,
/// LF, CRLF or CR line ends, blank lines.
fn valid() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        "[a-z0-9 ]{0,6}".prop_map(|s| s.into_bytes()),
        "[a-z,\" ]{0,6}".prop_map(|s| format!("\"{}\"", s.replace('"', "\"\"")).into_bytes()),
    ];
    let end = prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n"]);
    prop::collection::vec((prop::collection::vec(field, 3), end), 0..40).prop_map(|rows| {
        let mut data = Vec::new();
        for (fields, end) in rows {
            data.extend_from_slice(&fields.join(&b","[..]));
            data.extend_from_slice(end.as_bytes());
        }
        data
    })
}

/// `data` with a few bytes inserted, removed or replaced.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, byte()), 1..6);
    (valid(), edits).prop_map(|(mut data, edits)| {
        for (at, how, byte) in edits {
            let i = at.index(data.len() + 1);
            match how {
                0 => data.insert(i, byte),
                1 if i < data.len() => {
                    data.remove(i);
                }
                _ if i < data.len() => data[i] = byte,
                _ => data.push(byte),
            }
        }
        data
    })
}

/// The cells of column `position` that `for_each_cell` sees, sorted.
fn cells(data: &[u8], parts: usize, position: usize) -> Vec<Vec<u8>> {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(data);
    let file = CsvFile::from_bytes("t.csv".into(), bytes).unwrap();
    let mut cells = Vec::new();
    for index in 0..parts {
        file.for_each_cell(index, parts, position, |cell| cells.push(cell.to_vec()));
    }
    cells.sort();
    cells
}

fn check(data: &[u8]) -> Result<(), TestCaseError> {
    let expected = lossy(oracle(data));
    for parts in 1..=8 {
        prop_assert_eq!(&reader(data, parts), &expected, "parts={}", parts);
        for position in [0, 2] {
            let mut column: Vec<Vec<u8>> = expected
                .rows
                .iter()
                .map(|row| row[position].clone())
                .collect();
            column.sort();
            prop_assert_eq!(cells(data, parts, position), column, "parts={}", parts);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_read_alike_in_any_number_of_parts(
        data in prop::collection::vec(byte(), 0..300)
    ) {
        check(&data)?;
    }

    #[test]
    fn mutated_files_read_alike_in_any_number_of_parts(data in mutated()) {
        check(&data)?;
    }
}
