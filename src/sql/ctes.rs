//! The names of the query's own CTEs; segments named like one of them are renamed
//! (`features_2`).

pub const PARAMS: &str = "params";
/// The as-of time, in a query that reads `params`.
pub const NOW: &str = "params.now";
pub const USERS_NOW: &str = "users_now";
pub const EVENTS_NOW: &str = "events_now";
pub const SCORES_NOW: &str = "scores_now";
pub const UNIVERSE: &str = "universe";
pub const EVENT_VALUES: &str = "event_values";
pub const ACTIVE_VERSIONS: &str = "active_versions";
pub const LATEST_SCORES: &str = "latest_scores";
pub const SCORE_VALUES: &str = "score_values";
pub const FEATURES: &str = "features";
