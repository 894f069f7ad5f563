//! Reading inputs and writing outputs.

pub mod csv_file;
pub mod error;
pub mod layout;
pub mod load;
pub mod output;
