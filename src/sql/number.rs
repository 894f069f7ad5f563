//! How segflow's numbers are typed in SQL: exact decimals of one fixed scale in the
//! tables, of the scale their expression carries when computed ([`Kind`]).

/// Decimal places of every SQL number.
///
/// Numbers are exact decimals in segflow (`rust_decimal`: 96-bit mantissa, at most 28
/// decimal places). SQL fixes a scale per column: 9 places leave 29 integer digits in
/// `DECIMAL(38, 9)`, enough for any sum the engine does not saturate (±7.9·10²⁸), while
/// covering money, rates and scores. Literals and data with more places are refused
/// rather than rounded.
pub const SCALE: u32 = 9;

/// The SQL type of `number` values: see [`SCALE`].
pub const NUMBER: &str = "DECIMAL(38, 9)";

/// The most places of segflow's decimals, and of an average's quotient in SQL.
pub const MAX_PLACES: u32 = 28;

/// How SQL types a value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An exact integer: a count, a condition as a number, an integer literal.
    Int,
    /// An exact decimal with this many places.
    Decimal(u32),
    /// An approximate number: `DOUBLE`.
    Double,
    /// A time, a text or a bool.
    Other,
}

impl Kind {
    /// The places of an exact number.
    pub fn scale(self) -> Option<u32> {
        match self {
            Kind::Int => Some(0),
            Kind::Decimal(scale) => Some(scale),
            Kind::Double | Kind::Other => None,
        }
    }
}
