//! Reading and parsing the followed files on a thread of their own, one poll ahead of
//! the dataflow.
//!
//! In a live run worker 0 both feeds the dataflow and does its share of the dataflow's
//! work, while the other workers wait for it. Reading and parsing a round's lines would
//! take about a fifth of worker 0's time under sustained input; here that work overlaps
//! the previous round's computation instead of preceding it.
//!
//! Each [`Poll`] is exactly one [`Follower::poll`], sent whole and in order, so a round
//! still covers exactly the lines between two recorded positions and a restart replays
//! the same rounds (see [`crate::engine::tail`]). Parsing moves here, and the
//! [`Ledger`] that checks retractions against the events present (it sees the records
//! in order, as the consumer does); time and the frontier stay with the consumer.
//! Checking retractions on worker 0 would cost it about a sixth of its time when
//! appending a million events (docs/BENCHMARKS.md).

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;
use std::time::Duration;

use crate::catalog::ir::Catalog;
use crate::io::error::RowError;

use super::follow::{Follower, Line, Position, MAX_LINE};
use super::ledger::Ledger;
use super::record::{LiveRecord, RecordParser};

/// One line read from a followed file and what it parsed to.
pub struct ParsedLine {
    /// The line as read.
    pub line: Line,
    /// The record it holds, or why it was refused.
    pub record: Result<LiveRecord, RowError>,
}

/// The lines one poll found, parsed, and the positions the files were read to.
pub struct Poll {
    /// Every complete line the poll found, file by file in name order.
    pub lines: Vec<ParsedLine>,
    /// How far every followed file has been read after the poll, by file name.
    pub positions: BTreeMap<String, Position>,
}

/// Parses lines as a live run reads them: at most [`MAX_LINE`] bytes, UTF-8, then one
/// JSON record each, which `ledger` admits (or refuses: a retraction of no event
/// present).
pub fn parse_lines(
    parser: &mut RecordParser,
    ledger: &mut Ledger,
    lines: Vec<Line>,
) -> Vec<ParsedLine> {
    lines
        .into_iter()
        .map(|line| {
            let record = if line.too_long() {
                Err(RowError::row(format!(
                    "line longer than {MAX_LINE} bytes ({} bytes)",
                    line.length
                )))
            } else {
                std::str::from_utf8(&line.bytes)
                    .map_err(|_| RowError::row("the line is not valid UTF-8"))
            };
            let record = record
                .and_then(|text| parser.parse(text))
                .and_then(|record| ledger.admit(&record).map(|()| record));
            ParsedLine { line, record }
        })
        .collect()
}

/// Starts polling `follower` on a thread of `scope`, with `ledger` holding what the
/// records read so far established. Polls arrive in order on the
/// returned receiver, one ahead at most; a poll that found nothing is sent too (it is
/// how the consumer learns the files are quiet), and the next poll waits
/// `poll_interval`. The thread ends when the receiver is dropped or a poll fails (the
/// error is its last message); the scope joins it.
pub fn start<'scope, 'env: 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    catalog: &'env Catalog,
    mut follower: Follower,
    mut ledger: Ledger,
    poll_interval: Duration,
) -> Receiver<anyhow::Result<Poll>> {
    let (sender, receiver) = sync_channel(1);
    scope.spawn(move || {
        let mut parser = RecordParser::new(catalog);
        let mut reading = (&mut follower, &mut parser, &mut ledger);
        while let Some(quiet) = poll_once(&mut reading, &sender) {
            if quiet {
                std::thread::sleep(poll_interval);
            }
        }
    });
    receiver
}

/// One poll, parsed and sent: whether it found nothing, or `None` once the thread
/// should end.
fn poll_once(
    (follower, parser, ledger): &mut (&mut Follower, &mut RecordParser, &mut Ledger),
    sender: &SyncSender<anyhow::Result<Poll>>,
) -> Option<bool> {
    let poll = follower.poll().map(|lines| Poll {
        lines: parse_lines(parser, ledger, lines),
        positions: follower.positions().clone(),
    });
    let (quiet, failed) = match &poll {
        Ok(poll) => (poll.lines.is_empty(), false),
        Err(_) => (false, true),
    };
    match sender.send(poll) {
        Ok(()) if !failed => Some(quiet),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::check_sources;
    use std::io::Write;

    #[test]
    fn polls_arrive_whole_in_order_then_quiet() {
        let catalog = check_sources(&[(
            "t.seg",
            "schema events(amount: number)
             segment s = count(events) > 0",
        )])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut file = std::fs::File::create(dir.path().join("a.jsonl")).unwrap();
        file.write_all(b"{\"type\":\"clock\",\"ts\":5}\n\xff\n{\"type\":\"clock\"")
            .unwrap();
        let follower = Follower::new(dir.path(), BTreeMap::new()).unwrap();
        std::thread::scope(|scope| {
            let ledger = Ledger::default();
            let polls = start(scope, &catalog, follower, ledger, Duration::from_millis(1));
            let first = polls.recv().unwrap().unwrap();
            let numbers: Vec<u64> = first.lines.iter().map(|l| l.line.number).collect();
            assert_eq!(numbers, [1, 2]);
            assert_eq!(first.lines[0].record, Ok(LiveRecord::Clock(5)));
            let invalid = first.lines[1].record.as_ref().unwrap_err();
            assert!(invalid.reason.contains("UTF-8"), "{}", invalid.reason);
            assert_eq!(first.positions["a.jsonl"].line, 2);
            // The unfinished last line is not read until its newline arrives.
            assert!(polls.recv().unwrap().unwrap().lines.is_empty());
            file.write_all(b",\"ts\":6}\n").unwrap();
            let completed = loop {
                let poll = polls.recv().unwrap().unwrap();
                if !poll.lines.is_empty() {
                    break poll;
                }
            };
            assert_eq!(completed.lines[0].line.number, 3);
            assert_eq!(completed.lines[0].record, Ok(LiveRecord::Clock(6)));
        });
    }
}
