//! Running segmentation dataflows on a timely worker cluster.

pub(crate) mod backfill;
pub mod batch;
mod changes;
pub mod cluster;
pub(crate) mod control;
pub(crate) mod gather;
mod loading;
pub(crate) mod profile;
pub mod segmentation;
pub mod tail;
mod versions;
