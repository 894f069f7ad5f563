//! Running segmentation dataflows on a timely worker cluster.

pub mod batch;
mod gather;
pub mod segmentation;
