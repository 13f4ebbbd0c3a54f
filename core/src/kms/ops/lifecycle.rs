//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion.

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ lifecycle

    pub fn enable_key(&self, req: KeyIdRequest) -> Result<()> {
        self.call("EnableKey", |state, call, audit| {
            let id = state.key_for(
                call,
                audit,
                Operation::EnableKey,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            if rec.state != KeyState::Enabled {
                rec.state = KeyState::Enabled;
                state.save_key(rec)?;
                state.rotate_if_overdue(&id, call.now)?;
            }
            Ok(())
        })
    }

    pub fn disable_key(&self, req: KeyIdRequest) -> Result<()> {
        self.call("DisableKey", |state, call, audit| {
            let id = state.key_for(
                call,
                audit,
                Operation::DisableKey,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            if rec.state != KeyState::Disabled {
                rec.state = KeyState::Disabled;
                state.save_key(rec)?;
            }
            Ok(())
        })
    }

    pub fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse> {
        self.call("ScheduleKeyDeletion", |state, call, audit| {
            let days = req
                .pending_window_in_days
                .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
            if !(MIN_PENDING_WINDOW_DAYS..=MAX_PENDING_WINDOW_DAYS).contains(&days) {
                return Err(Error::validation(
                    format!("PendingWindowInDays must be between {MIN_PENDING_WINDOW_DAYS} and {MAX_PENDING_WINDOW_DAYS}"),
                ));
            }
            let id = state.key_for(call, audit, Operation::ScheduleKeyDeletion, &req.key_id, Facts {
                pending_window_days: Some(days),
                ..Default::default()
            })?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            let has_replicas = rec
                .mrk
                .as_ref()
                .is_some_and(|m| m.primary_region == call.region && !m.replica_regions.is_empty());
            if has_replicas {
                // Waits for its replicas; its window starts after the last one goes.
                rec.state = KeyState::PendingReplicaDeletion;
                rec.deletion_date_ms = None;
            } else {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date_ms = Some(call.now + days as u64 * MS_PER_DAY);
            }
            rec.pending_window_days = Some(days);
            let resp = ScheduleKeyDeletionResponse {
                key_id: rec.arn.clone(),
                deletion_date_ms: rec.deletion_date_ms,
                key_state: rec.state,
                pending_window_in_days: days,
            };
            state.save_key(rec)?;
            Ok(resp)
        })
    }

    pub fn cancel_key_deletion(&self, req: KeyIdRequest) -> Result<KeyIdResponse> {
        self.call("CancelKeyDeletion", |state, call, audit| {
            let id = state.key_for(
                call,
                audit,
                Operation::CancelKeyDeletion,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = state.rec(&id).clone();
            rec.state = if rec.missing_material() {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            rec.deletion_date_ms = None;
            rec.pending_window_days = None;
            let arn = rec.arn.clone();
            state.save_key(rec)?;
            Ok(KeyIdResponse { key_id: arn })
        })
    }
}
