//! Business calendars and SLA policies, as admins edit them.

use super::*;

/// A business calendar as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Calendar {
    pub id: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    #[serde(skip)]
    pub version: i64,
}

/// A calendar to create or replace: `{"name", "timezone", "hours": [{"weekday","start","end"}],
/// "holidays": ["2026-12-25", "01-01"], "always_open"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// An IANA time zone, e.g. `Europe/London`.
    pub timezone: String,
    /// Working intervals: `{"weekday": "monday", "start": "09:00", "end": "17:00"}`; an end
    /// at or before the start runs past midnight.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub hours: Vec<WorkingHoursSpec>,
    /// Dated (`2026-12-25`) or yearly (`12-25`) holidays.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// 24×7: every moment is working time (holidays still apply).
    #[serde(default)]
    pub always_open: bool,
}

/// An SLA policy as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Policy {
    pub id: i64,
    /// Policies are tried in ascending position; the first that covers a ticket applies.
    pub position: i64,
    pub calendar_id: i64,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    #[serde(skip)]
    pub version: i64,
}

/// A policy to create or replace.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub position: i64,
    pub calendar_id: i64,
    /// `{"name", "organizations", "ticket_types", "priorities", "categories", "targets":
    /// {"P1": {"response_seconds", "resolution_seconds"}, …}, "warnings": [75, 90],
    /// "pause_on": ["pending:customer", "pending:third_party"]}`
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

fn calendar_view(row: store::CalendarRow) -> Calendar {
    Calendar {
        id: row.id,
        name: row.name,
        spec: serde_json::from_str(&row.spec).unwrap_or(serde_json::Value::Null),
        version: row.version,
    }
}

fn policy_view(row: store::PolicyRow) -> Policy {
    Policy {
        id: row.id,
        position: row.position,
        calendar_id: row.calendar_id,
        spec: serde_json::from_str(&row.spec).unwrap_or(serde_json::Value::Null),
        version: row.version,
    }
}

fn parse_calendar(input: &CalendarInput) -> Result<(String, BusinessCalendar, String), AppError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid("name", "must be 1 to 100 characters"));
    }
    let spec = CalendarSpec {
        timezone: input.timezone.clone(),
        hours: input.hours.clone(),
        holidays: input.holidays.clone(),
        always_open: input.always_open,
    };
    let calendar = BusinessCalendar::try_from(spec).map_err(|e| AppError::invalid("hours", e))?;
    let json = serde_json::to_string(calendar.spec())
        .map_err(|e| AppError::internal("serialising a calendar", e))?;
    Ok((name, calendar, json))
}

fn parse_policy(input: &PolicyInput) -> Result<(PolicySpec, String), AppError> {
    let spec: PolicySpec =
        serde_json::from_value(input.spec.clone()).map_err(|e| AppError::invalid("spec", e))?;
    spec.validate().map_err(|e| AppError::invalid("spec", e))?;
    let json = serde_json::to_string(&spec)
        .map_err(|e| AppError::internal("serialising an SLA policy", e))?;
    Ok((spec, json))
}

/// The records admins edit here, as the audit log names them.
trait SlaRecord: Serialize {
    const ENTITY: Entity;

    fn id(&self) -> i64;
}

impl SlaRecord for Calendar {
    const ENTITY: Entity = Entity::Calendar;

    fn id(&self) -> i64 {
        self.id
    }
}

impl SlaRecord for Policy {
    const ENTITY: Entity = Entity::SlaPolicy;

    fn id(&self) -> i64 {
        self.id
    }
}

fn created_event<R: SlaRecord>(after: &R) -> Event {
    Event::created(R::ENTITY, after.id(), after)
}

fn updated_event<R: SlaRecord>(before: &R, after: &R) -> Event {
    Event::updated(R::ENTITY, after.id(), before, after)
}

fn deleted_event<R: SlaRecord>(before: &R) -> Event {
    Event::deleted(R::ENTITY, before.id(), before)
}

async fn calendar_record(conn: &mut Conn, id: i64) -> Result<Calendar, AppError> {
    store::get_calendar(conn, id)
        .await?
        .map(calendar_view)
        .ok_or(AppError::NotFound("calendar"))
}

async fn policy_record(conn: &mut Conn, id: i64) -> Result<Policy, AppError> {
    store::get_policy(conn, id)
        .await?
        .map(policy_view)
        .ok_or(AppError::NotFound("SLA policy"))
}

/// A policy's calendar, which must exist.
async fn policy_calendar(
    conn: &mut Conn,
    input: &PolicyInput,
) -> Result<BusinessCalendar, AppError> {
    let row = store::get_calendar(conn, input.calendar_id)
        .await?
        .ok_or_else(|| AppError::invalid("calendar_id", "no such calendar"))?;
    let spec: CalendarSpec = serde_json::from_str(&row.spec)
        .map_err(|e| AppError::internal("reading a stored calendar", e))?;
    BusinessCalendar::try_from(spec).map_err(|e| AppError::internal("reading a stored calendar", e))
}

impl App {
    pub async fn calendars(&self, principal: &Principal) -> Result<Vec<Calendar>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::calendars(&mut conn)
            .await?
            .into_iter()
            .map(calendar_view)
            .collect())
    }

    pub async fn calendar(&self, principal: &Principal, id: i64) -> Result<Calendar, AppError> {
        principal.require_staff()?;
        calendar_record(&mut *self.db().reader().await?, id).await
    }

    pub async fn create_calendar(
        &self,
        principal: &Principal,
        input: CalendarInput,
    ) -> Result<Calendar, AppError> {
        principal.require_admin()?;
        let (name, _, spec) = parse_calendar(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let created =
                    calendar_view(store::insert_calendar(tx.conn, &name, &spec, tx.now).await?);
                tx.record(created_event(&created)).await?;
                Ok(created)
            })
        })
        .await
    }

    /// Replaces a calendar. Running clocks keep the time they used; their due dates follow
    /// the new hours at once.
    pub async fn update_calendar(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        input: CalendarInput,
    ) -> Result<Calendar, AppError> {
        principal.require_admin()?;
        let expected: Precondition = expected.into();
        let (name, calendar, spec) = parse_calendar(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = calendar_record(tx.conn, id).await?;
                let version = expected.check(before.version)?;
                let after = store::update_calendar(tx.conn, id, version, &name, &spec, tx.now)
                    .await?
                    .map(calendar_view)
                    .ok_or(AppError::Stale)?;
                retime_clocks(tx.conn, store::TimedBy::Calendar(id), None, (id, &calendar)).await?;
                tx.record(updated_event(&before, &after)).await?;
                Ok(after)
            })
        })
        .await
    }

    pub async fn delete_calendar(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = calendar_record(tx.conn, id).await?;
                if !store::delete_calendar(tx.conn, id).await? {
                    return Err(AppError::Conflict {
                        field: None,
                        message: "the calendar is used by a policy or a ticket's SLA".into(),
                    });
                }
                tx.record(deleted_event(&before)).await
            })
        })
        .await
    }

    pub async fn sla_policies(&self, principal: &Principal) -> Result<Vec<Policy>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::policies(&mut conn)
            .await?
            .into_iter()
            .map(policy_view)
            .collect())
    }

    pub async fn sla_policy(&self, principal: &Principal, id: i64) -> Result<Policy, AppError> {
        principal.require_staff()?;
        policy_record(&mut *self.db().reader().await?, id).await
    }

    pub async fn create_sla_policy(
        &self,
        principal: &Principal,
        input: PolicyInput,
    ) -> Result<Policy, AppError> {
        principal.require_admin()?;
        let (_, spec) = parse_policy(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                policy_calendar(tx.conn, &input).await?;
                let created = policy_view(
                    store::insert_policy(tx.conn, input.position, input.calendar_id, &spec, tx.now)
                        .await?,
                );
                tx.record(created_event(&created)).await?;
                Ok(created)
            })
        })
        .await
    }

    pub async fn update_sla_policy(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        input: PolicyInput,
    ) -> Result<Policy, AppError> {
        principal.require_admin()?;
        let expected: Precondition = expected.into();
        let (policy, spec) = parse_policy(&input)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = policy_record(tx.conn, id).await?;
                let calendar = policy_calendar(tx.conn, &input).await?;
                let version = expected.check(before.version)?;
                let after = store::update_policy(
                    tx.conn,
                    id,
                    version,
                    input.position,
                    input.calendar_id,
                    &spec,
                    tx.now,
                )
                .await?
                .map(policy_view)
                .ok_or(AppError::Stale)?;
                let calendar = (input.calendar_id, &calendar);
                retime_clocks(tx.conn, store::TimedBy::Policy(id), Some(&policy), calendar).await?;
                tx.record(updated_event(&before, &after)).await?;
                Ok(after)
            })
        })
        .await
    }

    pub async fn delete_sla_policy(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = policy_record(tx.conn, id).await?;
                store::delete_policy(tx.conn, id).await?;
                tx.record(deleted_event(&before)).await
            })
        })
        .await
    }
}
