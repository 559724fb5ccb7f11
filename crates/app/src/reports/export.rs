//! A report as a file: the lines of its figures, and those lines as CSV.

use super::Report;
use crate::AppError;

/// A report as a CSV file: one line per figure (`section,figure,value,previous`), then the
/// backlog, volumes and days.
pub fn report_csv(report: &Report) -> Result<String, AppError> {
    let failed = |e: csv::Error| AppError::internal("writing CSV", e);
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in report_lines(report) {
        writer.write_record(record).map_err(failed)?;
    }
    String::from_utf8(
        writer
            .into_inner()
            .map_err(|e| AppError::internal("writing CSV", e))?,
    )
    .map_err(|e| AppError::internal("writing CSV", e))
}

/// The lines of a report's files, a header first: (section, figure, value, previous
/// period's value), the previous value empty where there is none.
pub(super) fn report_lines(report: &Report) -> Vec<[String; 4]> {
    let text = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut lines: Vec<[String; 4]> =
        vec![["section", "figure", "value", "previous"].map(String::from)];
    let mut line = |section: &str, figure: &str, value: String, previous: String| {
        lines.push([section.to_owned(), figure.to_owned(), value, previous]);
    };
    let r = report;
    for (figure, count) in [
        ("created", &r.created),
        ("resolved", &r.resolved),
        ("response_breached", &r.response_breached),
        ("resolution_breached", &r.resolution_breached),
    ] {
        line(
            "tickets",
            figure,
            count.value.to_string(),
            count.previous.to_string(),
        );
    }
    for (figure, average) in [
        ("mtta_minutes", &r.mtta_minutes),
        ("mttr_minutes", &r.mttr_minutes),
    ] {
        line(
            "tickets",
            figure,
            text(average.value),
            text(average.previous),
        );
    }
    for (figure, share) in [
        (
            "first_contact_resolution_percent",
            &r.first_contact_resolution,
        ),
        ("reopen_rate_percent", &r.reopen_rate),
        ("response_compliance_percent", &r.response_compliance),
        ("resolution_compliance_percent", &r.resolution_compliance),
        ("satisfaction_percent", &r.satisfaction),
    ] {
        line("tickets", figure, text(share.value), text(share.previous));
    }
    let m = &r.monitors;
    line(
        "monitors",
        "uptime_percent",
        text(m.uptime),
        text(m.previous_uptime),
    );
    line(
        "monitors",
        "outages",
        m.outages.to_string(),
        m.previous_outages.to_string(),
    );
    line(
        "monitors",
        "outage_minutes",
        m.outage_minutes.to_string(),
        m.previous_outage_minutes.to_string(),
    );
    if let Some(c) = &r.changes {
        line(
            "changes",
            "finished",
            c.finished.to_string(),
            c.previous_finished.to_string(),
        );
        line(
            "changes",
            "success_rate_percent",
            text(c.success_rate),
            text(c.previous_success_rate),
        );
    }
    if let Some(d) = &r.deflection {
        line(
            "deflection",
            "rate_percent",
            text(d.rate),
            text(d.previous_rate),
        );
    }
    for age in &r.backlog {
        line("backlog", &age.age, age.tickets.to_string(), String::new());
    }
    for volume in &r.volume {
        for v in &volume.lines {
            line(
                &format!("volume_by_{}", volume.by),
                &v.label,
                v.tickets.to_string(),
                String::new(),
            );
        }
    }
    for day in &r.days {
        line(
            "created_per_day",
            &day.date.to_string(),
            day.created.to_string(),
            String::new(),
        );
        line(
            "resolved_per_day",
            &day.date.to_string(),
            day.resolved.to_string(),
            String::new(),
        );
    }
    lines
}
