//! A person's own preferences: their notification rules (mailed at once and again after
//! some minutes while a page waits, by urgency; quiet hours for low urgency), their time
//! zone, and a secret calendar link their calendar app subscribes to without signing in.

use jiff::tz::TimeZone;
use opsdesk_domain::page_rules::{PageRules, QuietHoursSpec};
use opsdesk_store::Conn;
use opsdesk_store::oncall::{self as store, PreferencesRow};
use serde::{Deserialize, Serialize};

use crate::auth::principal_for;
use crate::change::Need;
use crate::clock::{random_secret, secret_hash};
use crate::{App, AppError, Principal, Via};

/// A person's notification rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRules {
    /// Minutes after being paged for a high-urgency incident at which a mail leaves, while
    /// nobody acknowledged and the page is still at their level: `[0, 5]` mails at once and
    /// again five minutes later. 1 to 5 of them, each 0 to 1440.
    pub high_urgency: Vec<u32>,
    /// The same for the other incidents.
    pub low_urgency: Vec<u32>,
    /// When low-urgency mails wait until the quiet hours end; none: never.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Your own IANA time zone, e.g. `Europe/Paris`: the web UI shows times in it, and
    /// reports and the weekly report mail default to it. None (or left out): times in UTC,
    /// and reports in the quiet hours' zone, else UTC.
    #[serde(default)]
    #[schema(example = "Europe/Paris")]
    pub time_zone: Option<String>,
}

/// Hours of the day when low-urgency pages wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, e.g. `22:00`.
    pub start: String,
    /// `HH:MM`, e.g. `07:00` (the next morning, when before `start`).
    pub end: String,
    /// An IANA time zone, e.g. `Europe/London`.
    pub time_zone: String,
}

/// A new calendar link: shown once; making another revokes it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalendarLink {
    /// `/on-call/calendar/<secret>.ics`.
    pub url_path: String,
}

impl From<QuietHoursSpec> for QuietHours {
    fn from(spec: QuietHoursSpec) -> Self {
        Self {
            start: spec.start,
            end: spec.end,
            time_zone: spec.time_zone,
        }
    }
}

impl From<&PageRules> for NotificationRules {
    fn from(rules: &PageRules) -> Self {
        Self {
            high_urgency: rules.high.clone(),
            low_urgency: rules.low.clone(),
            quiet_hours: rules.quiet.as_ref().map(|q| q.spec().into()),
            time_zone: None,
        }
    }
}

/// The rules a row holds; the defaults (one mail at once) where it holds none or what it
/// holds no longer reads.
fn rules_of_row(row: Option<&PreferencesRow>) -> PageRules {
    let Some(row) = row else {
        return PageRules::default();
    };
    let delays = |text: &str| serde_json::from_str::<Vec<u32>>(text).unwrap_or_else(|_| vec![0]);
    let quiet = row
        .quiet_hours
        .as_deref()
        .and_then(|text| serde_json::from_str::<QuietHoursSpec>(text).ok())
        .and_then(|spec| spec.read().ok());
    PageRules::new(delays(&row.high_urgency), delays(&row.low_urgency), quiet).unwrap_or_default()
}

/// The notification rules of user `user_id`, for paging them.
pub(crate) async fn rules_of(conn: &mut Conn, user_id: i64) -> Result<PageRules, AppError> {
    Ok(rules_of_row(
        store::preferences(conn, user_id).await?.as_ref(),
    ))
}

/// Checks rules as sent, naming each mistake's field.
fn checked(input: &NotificationRules) -> Result<PageRules, AppError> {
    let quiet = match &input.quiet_hours {
        Some(q) => Some(
            QuietHoursSpec {
                start: q.start.clone(),
                end: q.end.clone(),
                time_zone: q.time_zone.clone(),
            }
            .read()
            .map_err(|e| AppError::invalid(e.field, e.message))?,
        ),
        None => None,
    };
    PageRules::new(input.high_urgency.clone(), input.low_urgency.clone(), quiet)
        .map_err(|e| AppError::invalid(e.field(), e.to_string()))
}

/// A person's own time zone as sent: an IANA name the time-zone database knows, kept as
/// its canonical spelling (`europe/paris` is `Europe/Paris`).
fn checked_zone(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let zone = TimeZone::get(name).map_err(|_| {
        AppError::invalid("time_zone", "expected an IANA time zone, e.g. Europe/Paris")
    })?;
    Ok(zone.iana_name().unwrap_or(name).to_owned())
}

/// The time zone a person's reports and weekly report mail are in unless they name one:
/// their own, else their quiet hours', else UTC. A name the time-zone database no longer
/// knows is passed over rather than failing every report.
pub(crate) fn report_zone(own: Option<&str>, quiet_hours: Option<&str>) -> String {
    [own, quiet_hours]
        .into_iter()
        .flatten()
        .find(|name| TimeZone::get(name).is_ok())
        .unwrap_or("UTC")
        .to_owned()
}

/// The signed-in person's own account id: preferences are staff's own.
fn own_id(principal: &Principal) -> Result<i64, AppError> {
    principal.require_staff()?;
    own_person(principal)
}

/// A person's own time zone: their pages show times in it, and their reports default to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeZoneSetting {
    /// An IANA name such as `Europe/Paris`, kept in its canonical spelling; `null`: none
    /// chosen (UTC).
    pub time_zone: Option<String>,
}

/// The signed-in person, staff or customer, for their own settings.
fn own_person(principal: &Principal) -> Result<i64, AppError> {
    principal
        .user_id
        .ok_or_else(|| AppError::Forbidden("preferences are a signed-in person's own".to_owned()))
}

impl App {
    /// The signed-in person's own time zone.
    pub async fn time_zone(&self, principal: &Principal) -> Result<TimeZoneSetting, AppError> {
        let id = own_person(principal)?;
        let mut conn = self.db().reader().await?;
        let user = opsdesk_store::accounts::get_user(&mut conn, id).await?;
        Ok(TimeZoneSetting {
            time_zone: user.and_then(|user| user.time_zone),
        })
    }

    /// Chooses the signed-in person's own time zone (anyone signed in); `None` clears it.
    pub async fn set_time_zone(
        &self,
        principal: &Principal,
        input: TimeZoneSetting,
    ) -> Result<TimeZoneSetting, AppError> {
        let id = own_person(principal)?;
        let time_zone = input
            .time_zone
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .map(checked_zone)
            .transpose()?;
        let saved = time_zone.clone();
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                opsdesk_store::accounts::set_user_time_zone(
                    tx.conn,
                    id,
                    time_zone.as_deref(),
                    tx.now,
                )
                .await?;
                Ok(())
            })
        })
        .await?;
        Ok(TimeZoneSetting { time_zone: saved })
    }

    /// The signed-in staff member's notification rules and time zone.
    pub async fn notification_rules(
        &self,
        principal: &Principal,
    ) -> Result<NotificationRules, AppError> {
        let id = own_id(principal)?;
        let mut conn = self.db().reader().await?;
        let mut rules = NotificationRules::from(&rules_of(&mut conn, id).await?);
        rules.time_zone = opsdesk_store::accounts::get_user(&mut conn, id)
            .await?
            .and_then(|user| user.time_zone);
        Ok(rules)
    }

    /// Replaces the signed-in staff member's notification rules and time zone; pages
    /// already under way keep the mails they planned.
    pub async fn set_notification_rules(
        &self,
        principal: &Principal,
        input: NotificationRules,
    ) -> Result<NotificationRules, AppError> {
        let id = own_id(principal)?;
        let rules = checked(&input)?;
        let time_zone = input.time_zone.as_deref().map(checked_zone).transpose()?;
        let mut saved = NotificationRules::from(&rules);
        saved.time_zone = time_zone.clone();
        let high = json_text(&saved.high_urgency)?;
        let low = json_text(&saved.low_urgency)?;
        let quiet = match &rules.quiet {
            Some(q) => Some(json_text(&q.spec())?),
            None => None,
        };
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                store::put_rules(tx.conn, id, (&high, &low), quiet.as_deref(), tx.now).await?;
                opsdesk_store::accounts::set_user_time_zone(
                    tx.conn,
                    id,
                    time_zone.as_deref(),
                    tx.now,
                )
                .await?;
                Ok(())
            })
        })
        .await?;
        Ok(saved)
    }

    /// Makes the signed-in staff member a new calendar link of their shifts, revoking the
    /// one before; the answer shows it this once.
    pub async fn new_calendar_link(&self, principal: &Principal) -> Result<CalendarLink, AppError> {
        let id = own_id(principal)?;
        let secret = random_secret()?;
        let hash = secret_hash(&secret);
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                store::put_calendar_token(tx.conn, id, Some(&hash), tx.now).await?;
                Ok(())
            })
        })
        .await?;
        Ok(CalendarLink {
            url_path: format!("/on-call/calendar/{secret}.ics"),
        })
    }

    /// Revokes the signed-in staff member's calendar link.
    pub async fn remove_calendar_link(&self, principal: &Principal) -> Result<(), AppError> {
        let id = own_id(principal)?;
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                store::put_calendar_token(tx.conn, id, None, tx.now).await?;
                Ok(())
            })
        })
        .await
    }

    /// Whether the signed-in staff member has a calendar link.
    pub async fn has_calendar_link(&self, principal: &Principal) -> Result<bool, AppError> {
        let id = own_id(principal)?;
        let mut conn = self.db().reader().await?;
        Ok(store::preferences(&mut conn, id)
            .await?
            .is_some_and(|row| row.calendar_token_hash.is_some()))
    }

    /// The shifts calendar of the person whose link carries `secret`, while they are active
    /// staff; an unknown or revoked link is not found.
    pub async fn calendar_by_link(&self, secret: &str) -> Result<String, AppError> {
        let principal = {
            let mut conn = self.db().reader().await?;
            let user =
                match store::user_of_calendar_token(&mut conn, &secret_hash(secret)).await? {
                    Some(id) => opsdesk_store::accounts::get_user(&mut conn, id).await?,
                    None => None,
                }
                .filter(crate::oncall::active_staff)
                .ok_or(AppError::NotFound("calendar"))?;
            principal_for(
                &mut conn,
                &user,
                Via::System {
                    what: "calendar link".to_owned(),
                },
            )
            .await?
        };
        self.shifts_calendar(
            &principal,
            Some(&principal.email),
            crate::oncall::MOST_SHIFT_DAYS,
        )
        .await
    }
}

fn json_text(value: &impl Serialize) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::internal("recording preferences", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rules_round_trip_and_mistakes_name_their_field() {
        let input = NotificationRules {
            high_urgency: vec![5, 0],
            low_urgency: vec![0],
            quiet_hours: Some(QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
                time_zone: "Europe/London".into(),
            }),
            time_zone: None,
        };
        let rules = checked(&input).unwrap();
        let back = NotificationRules::from(&rules);
        assert_eq!(back.high_urgency, [0, 5]);
        assert_eq!(back.quiet_hours, input.quiet_hours);
        let wrong = NotificationRules {
            quiet_hours: Some(QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
                time_zone: "Mars/Olympus".into(),
            }),
            ..input
        };
        assert!(matches!(
            checked(&wrong),
            Err(AppError::Invalid(errors)) if errors[0].field == "quiet_hours.time_zone"
        ));
        assert_eq!(rules_of_row(None), PageRules::default());
    }

    #[test]
    fn a_time_zone_must_be_one_the_database_knows_and_is_kept_in_its_canonical_spelling() {
        assert_eq!(checked_zone(" europe/paris ").unwrap(), "Europe/Paris");
        assert_eq!(checked_zone("UTC").unwrap(), "UTC");
        for wrong in ["Mars/Olympus", "", "+02:00"] {
            assert!(
                matches!(
                    checked_zone(wrong),
                    Err(AppError::Invalid(errors)) if errors[0].field == "time_zone"
                ),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn reports_use_the_own_zone_then_the_quiet_hours_zone_then_utc() {
        let paris = Some("Europe/Paris");
        let tokyo = Some("Asia/Tokyo");
        for (own, quiet, chosen) in [
            (paris, tokyo, "Europe/Paris"),
            (paris, None, "Europe/Paris"),
            (None, tokyo, "Asia/Tokyo"),
            (None, None, "UTC"),
            // A name the database no longer knows is passed over.
            (Some("Mars/Olympus"), tokyo, "Asia/Tokyo"),
            (Some("Mars/Olympus"), Some("Mars/Phobos"), "UTC"),
        ] {
            assert_eq!(report_zone(own, quiet), chosen, "{own:?} {quiet:?}");
        }
    }
}
