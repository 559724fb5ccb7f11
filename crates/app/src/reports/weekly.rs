//! The weekly report by mail. A person subscribes; every Monday at 07:00 in their time zone
//! they are mailed the week before's report (Monday to Sunday) as they would see it signed
//! in: its main figures beside the week before in the mail, the whole report attached as a
//! CSV and a PDF file.
//!
//! Each mail is a durable job queued for its Monday. The subscription records that Monday;
//! the job sends, then moves the subscription on a week and queues the next job in one
//! transaction. A job whose Monday the subscription no longer waits for was replaced by a
//! change (a new time zone, a cancellation) and does nothing.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use opsdesk_mail::MailFile;
use opsdesk_store::accounts as account_store;
use opsdesk_store::report_subscriptions::{self as store, SubscriptionRow};
use serde::{Deserialize, Serialize};

use super::{Report, ReportAverage, ReportCount, ReportQuery, ReportShare, report_csv, report_pdf};
use crate::auth::principal_for;
use crate::change::Need;
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{PersonalMail, html_escape};
use crate::{App, AppError, Principal, Via};

/// The hour of Monday morning the mail leaves at, in the subscriber's time zone.
const SEND_HOUR: i8 = 7;

/// A person's weekly report mail.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportSubscription {
    /// Where it is mailed: the subscriber's address.
    pub email: String,
    /// The IANA time zone its weeks and its Monday 07:00 are in.
    pub time_zone: String,
    /// Only this organization's figures; all the subscriber sees when absent.
    pub organization: Option<i64>,
    pub organization_name: Option<String>,
    /// When the next mail leaves.
    #[schema(value_type = String, format = DateTime)]
    pub next_mail_at: Timestamp,
}

/// What a subscription asks for.
#[derive(Debug, Clone, Default, utoipa::ToSchema)]
pub struct ReportSubscriptionInput {
    /// An IANA time zone; when absent the subscriber's own, else their quiet hours', else UTC.
    pub time_zone: Option<String>,
    /// One organization the subscriber may see.
    pub organization: Option<i64>,
}

/// The fields of [`ReportSubscriptionInput`] as a JSON object holds them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFields {
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    organization: Option<i64>,
}

/// Read from an object only: a derived struct with every field optional would also take an
/// array (`[null, null]`), which no client means.
impl<'de> Deserialize<'de> for ReportSubscriptionInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly;
        impl<'de> serde::de::Visitor<'de> for ObjectOnly {
            type Value = ReportSubscriptionInput;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let fields =
                    InputFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ReportSubscriptionInput {
                    time_zone: fields.time_zone,
                    organization: fields.organization,
                })
            }
        }
        deserializer.deserialize_map(ObjectOnly)
    }
}

/// `day` at the sending hour in `zone`.
fn send_time(day: Date, zone: &TimeZone) -> Result<Timestamp, jiff::Error> {
    Ok(day
        .at(SEND_HOUR, 0, 0, 0)
        .to_zoned_datetime(zone.clone())?
        .timestamp())
}

/// The first Monday whose sending time in `zone` is after `now`.
pub(crate) fn first_monday_after(now: Timestamp, zone: &TimeZone) -> Result<Date, jiff::Error> {
    let mut day = now.to_zoned_datetime(zone.clone()).date();
    loop {
        if day.weekday() == Weekday::Monday && send_time(day, zone)? > now {
            return Ok(day);
        }
        day = day.tomorrow()?;
    }
}

/// The Monday-to-Sunday week a mail sent on Monday `send_on` reports.
pub(crate) fn week_before(send_on: Date) -> Result<(Date, Date), jiff::Error> {
    let to = send_on.yesterday()?;
    Ok((to.checked_sub(Span::new().days(6))?, to))
}

fn zone_of(name: &str) -> Result<TimeZone, AppError> {
    TimeZone::get(name).map_err(|_| AppError::invalid("time_zone", "expected an IANA time zone"))
}

fn date_of(text: &str) -> Result<Date, AppError> {
    text.parse()
        .map_err(|e| AppError::internal("a subscription's day", e))
}

fn subscription(row: SubscriptionRow) -> Result<ReportSubscription, AppError> {
    let zone = zone_of(&row.time_zone)?;
    let next_mail_at = send_time(date_of(&row.next_send_on)?, &zone)
        .map_err(|e| AppError::internal("a subscription's sending time", e))?;
    Ok(ReportSubscription {
        email: row.email,
        time_zone: row.time_zone,
        organization: row.organization_id,
        organization_name: row.organization,
        next_mail_at,
    })
}

/// The signed-in person's own account id: a subscription is theirs.
fn own_id(principal: &Principal) -> Result<i64, AppError> {
    principal.user_id.ok_or_else(|| {
        AppError::Forbidden("a report subscription is a signed-in person's own".to_owned())
    })
}

/// Queues the mail of `user_id`'s subscription for Monday `send_on` in the zone `zone_name`.
fn queue_mail(
    batch: &mut opsdesk_store::Batch,
    user_id: i64,
    send_on: Date,
    zone_name: &str,
    now: i64,
) -> Result<(), AppError> {
    let at = send_time(send_on, &zone_of(zone_name)?)
        .map_err(|e| AppError::internal("a sending time", e))?;
    jobs::queue_at(
        batch,
        JobKind::ReportWeekly,
        &serde_json::json!({"user_id": user_id, "send_on": send_on.to_string(),
                            "time_zone": zone_name}),
        at.as_millisecond(),
        now,
    );
    Ok(())
}

impl App {
    /// The signed-in person's weekly report mail, if they subscribed.
    pub async fn report_subscription(
        &self,
        principal: &Principal,
    ) -> Result<Option<ReportSubscription>, AppError> {
        let id = own_id(principal)?;
        let mut conn = self.db().reader().await?;
        store::get(&mut conn, id)
            .await?
            .map(subscription)
            .transpose()
    }

    /// Every weekly report mail (admins).
    pub async fn report_subscriptions(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ReportSubscription>, AppError> {
        principal.require_admin()?;
        let mut conn = self.db().reader().await?;
        store::list(&mut conn)
            .await?
            .into_iter()
            .map(subscription)
            .collect()
    }

    /// Subscribes the signed-in person to the weekly report mail, or changes their
    /// subscription; the first mail leaves on the coming Monday at 07:00 in its time zone.
    pub async fn subscribe_to_report(
        &self,
        principal: &Principal,
        input: ReportSubscriptionInput,
    ) -> Result<ReportSubscription, AppError> {
        let id = own_id(principal)?;
        let zone_name = match input.time_zone.map(|name| name.trim().to_owned()) {
            Some(name) if !name.is_empty() => name,
            _ => self.viewer_time_zone(principal).await?,
        };
        let zone = zone_of(&zone_name)?;
        if let Some(organization) = input.organization
            && !principal.can_see_organization(Some(organization))
        {
            return Err(AppError::invalid(
                "organization",
                "no organization you may see has this id",
            ));
        }
        let send_on =
            first_monday_after(self.now(), &zone).map_err(|e| AppError::invalid("time_zone", e))?;
        let organization = input.organization;
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                if let Some(organization) = organization
                    && account_store::get_organization(tx.conn, organization)
                        .await?
                        .is_none()
                {
                    return Err(AppError::invalid(
                        "organization",
                        "no organization you may see has this id",
                    ));
                }
                let day = send_on.to_string();
                store::put(tx.conn, id, &zone_name, organization, &day, tx.now).await?;
                let mut batch = tx.batch();
                queue_mail(&mut batch, id, send_on, &zone_name, tx.now)?;
                batch.run(tx.conn).await?;
                let row = store::get(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("report subscription"))?;
                subscription(row)
            })
        })
        .await
    }

    /// Ends the signed-in person's weekly report mail; false when they had none.
    pub async fn unsubscribe_from_report(&self, principal: &Principal) -> Result<bool, AppError> {
        let id = own_id(principal)?;
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move { Ok(store::remove(tx.conn, id).await?) })
        })
        .await
    }

    /// The job: mails a subscriber the week before's report, then queues next Monday's.
    pub(crate) async fn send_weekly_report(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let user_id = jobs::id_in(payload, "user_id")?;
        let send_on = payload["send_on"]
            .as_str()
            .and_then(|day| day.parse::<Date>().ok())
            .ok_or_else(|| JobError::Payload("no `send_on` day".to_owned()))?;
        let (row, principal) = {
            let mut conn = self.db().reader().await?;
            let Some(row) = store::get(&mut conn, user_id).await? else {
                return Ok(());
            };
            // A change since the job was queued (another Monday, another zone) queued the
            // job that sends instead.
            if row.next_send_on != send_on.to_string()
                || payload["time_zone"].as_str() != Some(row.time_zone.as_str())
            {
                return Ok(());
            }
            let Some(user) = account_store::get_user(&mut conn, user_id).await? else {
                return Ok(());
            };
            let active = user.active != 0;
            let principal = principal_for(
                &mut conn,
                &user,
                Via::System {
                    what: "weekly report".to_owned(),
                },
            )
            .await?;
            (row, active.then_some(principal))
        };
        // A deactivated account is mailed nothing, but its Mondays go on: reactivated, it
        // gets the next one.
        if let Some(principal) = principal {
            let (from, to) =
                week_before(send_on).map_err(|e| AppError::internal("the week before", e))?;
            let query = ReportQuery {
                from: Some(from),
                to: Some(to),
                organization: row.organization_id,
                time_zone: Some(row.time_zone.clone()),
            };
            match self.report(&principal, &query).await {
                Ok(report) => self.mail_report(&row, &report).await?,
                // The organization is no longer theirs to see: nothing to mail this week.
                Err(AppError::NotFound(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let next = send_on
            .checked_add(Span::new().days(7))
            .map_err(|e| AppError::internal("the next Monday", e))?;
        let zone_name = row.time_zone.clone();
        self.system_change("weekly report", move |tx| {
            Box::pin(async move {
                let (sent, next_day) = (send_on.to_string(), next.to_string());
                if store::advance(tx.conn, user_id, &sent, &next_day, tx.now).await? {
                    let mut batch = tx.batch();
                    queue_mail(&mut batch, user_id, next, &zone_name, tx.now)?;
                    batch.run(tx.conn).await?;
                }
                Ok(())
            })
        })
        .await?;
        Ok(())
    }

    async fn mail_report(&self, row: &SubscriptionRow, report: &Report) -> Result<(), JobError> {
        let scope = row
            .organization
            .as_deref()
            .map_or_else(String::new, |name| format!(" — {name}"));
        let subject = format!("Weekly report {} to {}{scope}", report.from, report.to);
        let link = format!(
            "{}/reports?from={}&to={}&tz={}{}",
            self.config().public_url,
            report.from,
            report.to,
            report.time_zone,
            row.organization_id
                .map_or_else(String::new, |id| format!("&organization={id}"))
        );
        let lines = summary_lines(report);
        let mut text = format!(
            "The service desk from {} to {} ({}), beside the week before:\n\n",
            report.from, report.to, report.time_zone
        );
        let mut html = format!(
            "<p>The service desk from {} to {} ({}), beside the week before:</p>\
             <table><thead><tr><th></th><th>This week</th><th>The week before</th></tr></thead><tbody>",
            report.from,
            report.to,
            html_escape(&report.time_zone)
        );
        for (name, value, previous) in &lines {
            text.push_str(&format!("{name}: {value} (the week before: {previous})\n"));
            html.push_str(&format!(
                "<tr><th scope=\"row\">{name}</th><td>{value}</td><td>{previous}</td></tr>"
            ));
        }
        text.push_str(&format!(
            "\nEvery figure, and the tickets behind each count: {link}\n\
             The whole report is attached as CSV and PDF.\n"
        ));
        html.push_str(&format!(
            "</tbody></table><p><a href=\"{}\">Open the report</a>: every figure, and the \
             tickets behind each count. The whole report is attached as CSV and PDF.</p>",
            html_escape(&link)
        ));
        let name = format!("report-{}-{}", report.from, report.to);
        let files = vec![
            MailFile {
                name: format!("{name}.csv"),
                content_type: "text/csv".to_owned(),
                content: report_csv(report)?.into_bytes(),
            },
            MailFile {
                name: format!("{name}.pdf"),
                content_type: "application/pdf".to_owned(),
                content: report_pdf(report),
            },
        ];
        let mail = PersonalMail {
            to: row.email.clone(),
            subject,
            text,
            html,
            key: format!("report.{}.{}", row.user_id, report.to),
        };
        self.send_personal_with(mail, files).await?;
        Ok(())
    }
}

/// The figures a weekly mail shows: name, this week, the week before.
fn summary_lines(report: &Report) -> Vec<(&'static str, String, String)> {
    let shown = |value: Option<f64>, unit: &str| {
        value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1} {unit}"))
    };
    let count = |name, c: &ReportCount| (name, c.value.to_string(), c.previous.to_string());
    let time = |name, a: &ReportAverage| (name, shown(a.value, "min"), shown(a.previous, "min"));
    let share = |name, s: &ReportShare| (name, shown(s.value, "%"), shown(s.previous, "%"));
    let r = report;
    vec![
        count("Tickets created", &r.created),
        count("Tickets resolved", &r.resolved),
        time("Mean time to respond (MTTA)", &r.mtta_minutes),
        time("Mean time to resolve (MTTR)", &r.mttr_minutes),
        share("First-contact resolution", &r.first_contact_resolution),
        share("Reopen rate", &r.reopen_rate),
        share("Response SLA compliance", &r.response_compliance),
        share("Resolution SLA compliance", &r.resolution_compliance),
        share("Satisfaction (rated 4 or 5)", &r.satisfaction),
        (
            "Monitor uptime",
            shown(r.monitors.uptime, "%"),
            shown(r.monitors.previous_uptime, "%"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_first_mail_leaves_on_the_coming_monday_morning_in_the_zone() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        // Wednesday 4 March 2026: the next Monday is the 9th.
        let day = first_monday_after(at("2026-03-04T12:00:00Z"), &paris);
        assert_eq!(day.ok(), Some(jiff::civil::date(2026, 3, 9)));
        // Monday 07:00 in Paris is 06:00 UTC: at 05:59 UTC it is still today's.
        let day = first_monday_after(at("2026-03-09T05:59:00Z"), &paris);
        assert_eq!(day.ok(), Some(jiff::civil::date(2026, 3, 9)));
        // At 06:00 UTC today's has left; the next is a week later.
        let day = first_monday_after(at("2026-03-09T06:00:00Z"), &paris);
        assert_eq!(day.ok(), Some(jiff::civil::date(2026, 3, 16)));
    }

    #[test]
    fn a_monday_mail_reports_the_monday_to_sunday_before() {
        let week = week_before(jiff::civil::date(2026, 3, 9)).ok();
        let expected = (jiff::civil::date(2026, 3, 2), jiff::civil::date(2026, 3, 8));
        assert_eq!(week, Some(expected));
    }

    proptest! {
        #[test]
        fn the_first_mail_is_a_monday_within_a_week(seconds in 0i64..4_000_000_000) {
            let now = Timestamp::from_second(seconds).unwrap();
            for name in ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"] {
                let zone = TimeZone::get(name).unwrap();
                let day = first_monday_after(now, &zone).unwrap();
                let leaves = send_time(day, &zone).unwrap();
                prop_assert_eq!(day.weekday(), Weekday::Monday);
                prop_assert!(leaves > now);
                prop_assert!(leaves.as_second() - now.as_second() <= 7 * 86_400 + 3_600);
            }
        }
    }
}
