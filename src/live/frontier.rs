//! Live time: when each record takes effect, and which times are final.
//!
//! Event time is in seconds, but a live run cannot wait for a second to end before it
//! reports a change: logical time is counted in ticks, [`TICKS_PER_SECOND`] to the
//! second. Second `s` is the tick `s * TICKS_PER_SECOND`; the ticks after it let each
//! record of a second that is still open take effect, and become final, on its own.
//!
//! The frontier is the first tick that is not final yet. Each record takes effect at
//! its own time when that is still open (an event of a later second waits for it), or
//! else at the frontier, which then moves on by one tick; a record whose second has
//! already closed is *late*: it is applied at the frontier, never dropped, and counted.
//! The frontier also follows the clock: the watermark (greatest event time seen minus
//! the allowed lateness) or the wall clock minus the allowed lateness. Seconds before
//! that are closed.
//!
//! With the event clock the frontier is a function of the sequence of records alone,
//! so a replay of the same files takes every record at the same tick again.

use std::time::{SystemTime, UNIX_EPOCH};

/// Logical time units per second of event time in live runs.
pub const TICKS_PER_SECOND: u64 = 1_000_000;

/// The greatest event time a live run accepts, so that its ticks fit in a `u64`.
pub const MAX_LIVE_SECONDS: u64 = u64::MAX / TICKS_PER_SECOND - 1;

/// What moves time forward.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockKind {
    /// The greatest event time seen (and `clock` records).
    Event,
    /// The machine's clock.
    Wall,
}

crate::named_choices!(ClockKind { Event => "event", Wall => "wall" });

/// The live frontier.
#[derive(Clone, Debug)]
pub struct Frontier {
    clock: ClockKind,
    /// Allowed lateness in seconds.
    lateness: u64,
    /// The first tick that is not final.
    now: u64,
    /// The greatest event time seen.
    max_ts: Option<u64>,
}

impl Frontier {
    /// A frontier at tick `now`.
    pub fn new(clock: ClockKind, lateness: u64, now: u64, max_ts: Option<u64>) -> Frontier {
        Frontier {
            clock,
            lateness,
            now,
            max_ts,
        }
    }

    /// The first tick that is not final.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The tick a record of event time `ts` (if it has one) takes effect at, and
    /// whether it is late. Call [`Frontier::admitted`] after applying it.
    pub fn effect(&self, ts: Option<u64>) -> (u64, bool) {
        match ts {
            Some(ts) => {
                let own = ts * TICKS_PER_SECOND;
                (own.max(self.now), ts < self.now / TICKS_PER_SECOND)
            }
            None => (self.now, false),
        }
    }

    /// Moves past a record applied at tick `at` (from [`Frontier::effect`]): with the
    /// event clock its time moves the watermark, and once every tick before `at` is
    /// final, `at` becomes final too, so the record's changes are reported without
    /// waiting for the next record. (While allowed lateness keeps earlier ticks open,
    /// `at` waits with them: an earlier record may still take one of those ticks.)
    pub fn admitted(&mut self, at: u64, ts: Option<u64>) {
        self.saw(ts);
        let next = at + 1;
        // Stay inside the second: only the clock closes a second.
        if self.now == at && !next.is_multiple_of(TICKS_PER_SECOND) {
            self.now = next;
        }
    }

    /// Notes an event time that carries no data (a `clock` record).
    pub fn saw(&mut self, ts: Option<u64>) {
        if self.clock == ClockKind::Event {
            if let Some(ts) = ts {
                self.max_ts = Some(self.max_ts.map_or(ts, |max| max.max(ts)));
                self.close_before(ts.saturating_sub(self.lateness));
            }
        }
    }

    /// With the wall clock, closes the seconds the clock has passed.
    pub fn tick_wall_clock(&mut self) {
        if self.clock == ClockKind::Wall {
            let seconds = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.close_before(seconds.saturating_sub(self.lateness));
        }
    }

    /// Makes every second before `second` final.
    fn close_before(&mut self, second: u64) {
        self.now = self
            .now
            .max(second.min(MAX_LIVE_SECONDS) * TICKS_PER_SECOND);
    }

    /// Moves the frontier to `tick` (a replay reproducing a recorded frontier).
    pub fn set(&mut self, tick: u64) {
        self.now = self.now.max(tick);
    }
}

/// A tick as text: whole seconds when it is a second's first tick, else seconds with a
/// six-digit fraction (`1700000000.000042`), so that text order is time order and
/// summing changes "up to T" needs no knowledge of ticks.
pub fn format_tick(tick: u64) -> String {
    let (seconds, sub) = (tick / TICKS_PER_SECOND, tick % TICKS_PER_SECOND);
    if sub == 0 {
        seconds.to_string()
    } else {
        format!("{seconds}.{sub:06}")
    }
}

/// Parses [`format_tick`]'s output.
pub fn parse_tick(text: &str) -> Option<u64> {
    let (seconds, sub) = match text.split_once('.') {
        Some((seconds, sub)) if sub.len() == 6 => (seconds, sub.parse::<u64>().ok()?),
        Some(_) => return None,
        None => (text, 0),
    };
    seconds
        .parse::<u64>()
        .ok()?
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = TICKS_PER_SECOND;

    #[test]
    fn records_take_effect_at_their_time_or_the_frontier_and_late_ones_are_flagged() {
        let mut frontier = Frontier::new(ClockKind::Event, 0, 100 * T, Some(99));
        assert_eq!(frontier.effect(Some(105)), (105 * T, false));
        frontier.admitted(105 * T, Some(105));
        // Seconds before the watermark closed, and so did the record's own tick: the
        // first record of a new second is final at once.
        assert_eq!(frontier.now(), 105 * T + 1);
        assert_eq!(frontier.effect(Some(105)), (105 * T + 1, false));
        frontier.admitted(105 * T + 1, Some(105));
        assert_eq!(frontier.effect(Some(105)), (105 * T + 2, false));
        assert_eq!(frontier.effect(Some(104)), (105 * T + 2, true));
        assert_eq!(frontier.effect(None), (105 * T + 2, false));
    }

    #[test]
    fn lateness_holds_seconds_open_and_clock_records_close_them() {
        let mut frontier = Frontier::new(ClockKind::Event, 10, 0, None);
        frontier.admitted(100 * T, Some(100));
        // Second 100 stays open: an event of second 90 may still come.
        assert_eq!(frontier.now(), 90 * T);
        assert_eq!(frontier.effect(Some(95)), (95 * T, false));
        assert_eq!(frontier.effect(Some(90)), (90 * T, false));
        frontier.admitted(90 * T, Some(90));
        assert_eq!(frontier.now(), 90 * T + 1);
        frontier.saw(Some(200));
        assert_eq!(frontier.now(), 190 * T);
        frontier.saw(Some(150));
        assert_eq!(frontier.now(), 190 * T);
    }

    #[test]
    fn ticks_never_cross_into_the_next_second_by_themselves() {
        let mut frontier = Frontier::new(ClockKind::Event, 0, 2 * T - 1, Some(1));
        frontier.admitted(2 * T - 1, None);
        assert_eq!(frontier.now(), 2 * T - 1);
    }

    #[test]
    fn the_wall_clock_ignores_event_times() {
        let mut frontier = Frontier::new(ClockKind::Wall, 0, 0, None);
        frontier.saw(Some(u64::MAX / T));
        assert_eq!(frontier.now(), 0);
        frontier.tick_wall_clock();
        assert!(frontier.now() > 1_600_000_000 * T);
    }

    #[test]
    fn ticks_print_as_seconds_and_parse_back() {
        for tick in [0, 5 * T, 1_700_000_000 * T + 42, u64::MAX] {
            assert_eq!(parse_tick(&format_tick(tick)), Some(tick));
        }
        assert_eq!(format_tick(1_700_000_000 * T + 42), "1700000000.000042");
        assert_eq!(parse_tick("1.5"), None);
        assert_eq!(parse_tick("x"), None);
    }
}
