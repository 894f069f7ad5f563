//! Reading inputs and writing outputs.

pub mod csv_file;
pub mod error;
pub mod layout;
pub mod lines;
pub mod load;
pub mod output;
pub mod scored;
pub mod staging;
