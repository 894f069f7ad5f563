//! Live input for `segflow tail`: records, followed files, time, and the change log.

pub mod changelog;
pub mod claim;
pub mod definitions;
pub mod follow;
pub mod frontier;
pub mod ledger;
pub mod prefetch;
pub mod record;
pub mod rejects;
