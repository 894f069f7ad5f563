//! segflow: every segment of a catalog maintained by one differential dataflow.

pub mod catalog;
pub mod cli;
pub mod data;
pub mod dataflow;
pub mod engine;
pub mod gen;
pub mod io;
pub mod plan;
pub mod reference;
pub mod value;
