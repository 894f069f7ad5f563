//! [`Timing`]: how a run's logical time relates to event time, and how far it looks.

/// The unit of a run's logical time and, when known in advance, its last time.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Logical time units per second of event time: 1 for batch runs; live runs use
    /// finer ticks so that each round of input can become final within its second.
    pub ticks_per_second: u64,
    /// The last logical time the run observes, when it is known before any input: a
    /// batch run feeds every row at its as-of time and stops there.
    ///
    /// Updates for later times (the retraction that closes a window, the moment a
    /// `now` comparison flips) can then never be seen, so they are not produced at
    /// all; for a year of history that is most of what windows would hold. And since
    /// nothing seen is ever retracted, `min`/`max` keep only each user's extreme of the
    /// values that arrive, not every value. Both need every update *at* the horizon
    /// to be an insertion, which holds for batch runs (rows are only added); live runs,
    /// which retract, leave the horizon open.
    pub horizon: Option<u64>,
}

impl Timing {
    /// A run that may go on for ever (live runs).
    pub fn open(ticks_per_second: u64) -> Timing {
        Timing {
            ticks_per_second,
            horizon: None,
        }
    }

    /// A batch run that evaluates at `time` alone, in seconds.
    pub fn until(time: u64) -> Timing {
        Timing {
            ticks_per_second: 1,
            horizon: Some(time),
        }
    }

    /// Whether the run can ever observe logical time `time`.
    pub fn observes(&self, time: u64) -> bool {
        self.horizon.is_none_or(|horizon| time <= horizon)
    }
}
