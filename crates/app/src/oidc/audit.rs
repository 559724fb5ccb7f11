//! Refused sign-ins in the audit log: which provider, why, and whom the token named.

use opsdesk_domain::oidc::Claims;

use super::flow::SignInRefused;
use crate::App;
use crate::audit::{Action, Entity, Event};

/// Records a refused sign-in. The refusal stands whatever happens here, so a failure to
/// record is logged rather than returned.
pub(super) async fn record_refusal(
    app: &App,
    provider_id: Option<i64>,
    refused: &SignInRefused,
    person: Option<&Claims>,
) {
    let after = serde_json::json!({
        "reason": refused.trouble.code(),
        "detail": refused.detail,
        "subject": person.map(|p| p.subject.clone()),
        "email": person.and_then(|p| p.email.clone()),
    });
    // Refusals before a provider is known (an unknown state) are filed under provider 0.
    let entity_id = provider_id.unwrap_or(0);
    let recorded = app
        .system_change("sign-in", move |mut tx| {
            Box::pin(async move {
                tx.record(Event {
                    entity: Entity::IdentityProvider,
                    entity_id,
                    action: Action::SignInRefused,
                    before: None,
                    after: Some(after),
                })
                .await
            })
        })
        .await;
    if let Err(error) = recorded {
        tracing::error!(error = %crate::error_chain(&error), "a refused sign-in was not audited");
    }
    tracing::info!(reason = refused.trouble.code(), detail = %refused.detail, "sign-in through a provider refused");
}
