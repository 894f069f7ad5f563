//! segflow: every segment of a catalog maintained by one differential dataflow.

pub mod catalog;
pub mod data;
pub mod value;
