//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion.

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ lifecycle

    pub fn enable_key(&self, req: KeyIdRequest) -> Result<()> {
        self.call("EnableKey", |st, cx, au| {
            let id = st.key_for(cx, au, Operation::EnableKey, &req.key_id, Facts::default())?;
            let mut rec = st.rec(&id).clone();
            deny_aws_managed(&rec)?;
            if rec.state != KeyState::Enabled {
                rec.state = KeyState::Enabled;
                st.save_key(rec)?;
                st.rotate_if_overdue(&id, cx.now)?;
            }
            Ok(())
        })
    }

    pub fn disable_key(&self, req: KeyIdRequest) -> Result<()> {
        self.call("DisableKey", |st, cx, au| {
            let id = st.key_for(cx, au, Operation::DisableKey, &req.key_id, Facts::default())?;
            let mut rec = st.rec(&id).clone();
            deny_aws_managed(&rec)?;
            if rec.state != KeyState::Disabled {
                rec.state = KeyState::Disabled;
                st.save_key(rec)?;
            }
            Ok(())
        })
    }

    pub fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse> {
        self.call("ScheduleKeyDeletion", |st, cx, au| {
            let days = req
                .pending_window_in_days
                .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
            if !(MIN_PENDING_WINDOW_DAYS..=MAX_PENDING_WINDOW_DAYS).contains(&days) {
                return Err(Error::validation(
                    format!("PendingWindowInDays must be between {MIN_PENDING_WINDOW_DAYS} and {MAX_PENDING_WINDOW_DAYS}"),
                ));
            }
            let id = st.key_for(cx, au, Operation::ScheduleKeyDeletion, &req.key_id, Facts {
                pending_window_days: Some(days),
                ..Default::default()
            })?;
            let mut rec = st.rec(&id).clone();
            deny_aws_managed(&rec)?;
            let has_replicas = rec
                .mrk
                .as_ref()
                .is_some_and(|m| m.primary_region == cx.region && !m.replica_regions.is_empty());
            if has_replicas {
                // Waits for its replicas; its window starts after the last one goes.
                rec.state = KeyState::PendingReplicaDeletion;
                rec.deletion_date_ms = None;
            } else {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date_ms = Some(cx.now + days as u64 * MS_PER_DAY);
            }
            rec.pending_window_days = Some(days);
            let resp = ScheduleKeyDeletionResponse {
                key_id: rec.arn.clone(),
                deletion_date_ms: rec.deletion_date_ms,
                key_state: rec.state,
                pending_window_in_days: days,
            };
            st.save_key(rec)?;
            Ok(resp)
        })
    }

    pub fn cancel_key_deletion(&self, req: KeyIdRequest) -> Result<KeyIdResponse> {
        self.call("CancelKeyDeletion", |st, cx, au| {
            let id = st.key_for(
                cx,
                au,
                Operation::CancelKeyDeletion,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = st.rec(&id).clone();
            rec.state = if rec.import.as_ref().is_some_and(|i| !i.present) {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            rec.deletion_date_ms = None;
            rec.pending_window_days = None;
            let arn = rec.arn.clone();
            st.save_key(rec)?;
            Ok(KeyIdResponse { key_id: arn })
        })
    }
}
