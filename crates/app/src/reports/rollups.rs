//! Folding the reports' daily roll-ups: every ended UTC day that changed since it was last
//! rolled up (or never was) is rolled up again from its tickets, one day per transaction.

use opsdesk_store::reports::{self as store, DAY_MS};

use crate::{App, AppError};

impl App {
    /// Rolls up every ended day whose figures changed; returns how many days were folded.
    pub async fn fold_reports(&self) -> Result<usize, AppError> {
        let now = self.now_ms();
        let due = {
            let mut conn = self.db().reader().await?;
            store::days_to_fold(&mut conn, now.div_euclid(DAY_MS)).await?
        };
        let mut folded = 0;
        for day in due {
            let ours = self
                .db()
                .write(move |conn| {
                    Box::pin(
                        async move { Ok::<_, AppError>(store::fold_day(conn, day, now).await?) },
                    )
                })
                .await?;
            folded += usize::from(ours);
        }
        Ok(folded)
    }
}
