//! What a segmentation dataflow puts out on worker 0, as its updates.

use crate::dataflow::UserKey;

/// A change to one membership: `((segment version, user id), time, diff)`; the
/// catalog's segment `i` is version `i`.
pub type MembershipUpdate = ((u32, String), u64, isize);

/// A user id (and its key) that became known (+1) or stopped being known (-1) at a
/// time.
pub type KnownUpdate = ((String, UserKey), u64, isize);
