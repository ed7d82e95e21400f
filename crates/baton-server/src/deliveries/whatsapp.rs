//! whatsapp deliveries. UNFINISHED: the sender is being written; until then these are skipped.

use super::{Attempt, Job};
use crate::AppState;

/// Sends one job.
pub async fn deliver(_state: &AppState, _job: &Job) -> Attempt {
    Attempt::Skipped("not implemented yet".into())
}
