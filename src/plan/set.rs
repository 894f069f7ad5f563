//! Set nodes: segment predicates as sets of users.

/// A set of users at every logical time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetNode {
    /// Every user known at the time.
    Universe,
    /// No user.
    Empty,
    /// The users for which an atom's result differs from its result on default values
    /// (see [`super::Atom`]); complemented when the default result is true.
    Exceptions(usize),
    /// The users in every one of these set nodes, by index into
    /// [`Plan::sets`](crate::plan::Plan::sets).
    And(Vec<usize>),
    /// The users in any of these set nodes, by index into
    /// [`Plan::sets`](crate::plan::Plan::sets).
    Or(Vec<usize>),
    /// The universe minus a set (every set is a subset of the universe).
    Not(usize),
}
