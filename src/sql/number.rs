//! How segflow's numbers are typed in SQL: exact decimals of one fixed scale.

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
