//! Running segmentation dataflows on a timely worker cluster.

pub mod batch;
pub mod cluster;
mod connect;
mod gather;
pub mod segmentation;
