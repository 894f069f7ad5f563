//! Set nodes: segment predicates as sets of users.

/// A set of users at every logical time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetNode {
    /// Every user known at the time.
    Universe,
    Empty,
    /// The users for which an atom's result differs from its result on default values
    /// (see [`super::Atom`]); complemented when the default result is true.
    Exceptions(usize),
    And(Vec<usize>),
    Or(Vec<usize>),
    /// The universe minus a set (every set is a subset of the universe).
    Not(usize),
}
