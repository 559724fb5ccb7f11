-- Read-only views for Grafana and BI tools (docs/reports.md): the desk's records with names
-- instead of ids and times as timestamptz, stable across releases. Nothing in opsdesk reads them.

CREATE VIEW report_tickets AS
SELECT t.id,
    CASE t.ticket_type WHEN 'incident' THEN 'INC-' WHEN 'service_request' THEN 'REQ-' ELSE 'PRB-' END
        || t.number AS number,
    t.ticket_type,
    t.title,
    t.status,
    'P' || t.priority AS priority,
    t.impact,
    t.urgency,
    o.name AS organization,
    g.name AS support_group,
    a.email AS assignee,
    r.email AS requester,
    c.name AS category,
    t.source AS channel,
    to_timestamp(t.created_at / 1000.0) AS created_at,
    to_timestamp(t.first_response_at / 1000.0) AS first_response_at,
    to_timestamp(t.resolved_at / 1000.0) AS resolved_at,
    to_timestamp(t.closed_at / 1000.0) AS closed_at,
    (t.first_response_at - t.created_at) / 60000.0 AS minutes_to_first_response,
    (t.resolved_at - t.created_at) / 60000.0 AS minutes_to_resolve,
    s.policy_name AS sla_policy,
    s.response_breached AS sla_response_breached,
    s.resolution_breached AS sla_resolution_breached
FROM tickets t
LEFT JOIN organizations o ON o.id = t.organization_id
LEFT JOIN groups g ON g.id = t.group_id
LEFT JOIN users a ON a.id = t.assignee_id
LEFT JOIN users r ON r.id = t.requester_id
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN ticket_sla s ON s.ticket_id = t.id;

CREATE VIEW report_outages AS
SELECT m.name AS monitor,
    m.kind,
    o.name AS organization,
    to_timestamp(out.started_at / 1000.0) AS started_at,
    to_timestamp(out.ended_at / 1000.0) AS ended_at,
    (out.ended_at - out.started_at) / 60000.0 AS minutes,
    out.failures,
    out.first_error,
    CASE t.ticket_type WHEN 'incident' THEN 'INC-' WHEN 'service_request' THEN 'REQ-' ELSE 'PRB-' END
        || t.number AS incident
FROM monitor_outages out
JOIN monitors m ON m.id = out.monitor_id
LEFT JOIN organizations o ON o.id = m.organization_id
LEFT JOIN tickets t ON t.id = out.ticket_id;

CREATE VIEW report_changes AS
SELECT 'CHG-' || ch.id AS number,
    ch.title,
    ch.change_type,
    ch.state,
    ch.approval,
    ch.risk_level,
    o.name AS organization,
    i.email AS implementer,
    to_timestamp(ch.planned_start / 1000.0) AS planned_start,
    to_timestamp(ch.planned_end / 1000.0) AS planned_end,
    to_timestamp(ch.actual_start / 1000.0) AS actual_start,
    to_timestamp(ch.actual_end / 1000.0) AS actual_end,
    to_timestamp(ch.created_at / 1000.0) AS created_at
FROM changes ch
LEFT JOIN organizations o ON o.id = ch.organization_id
LEFT JOIN users i ON i.id = ch.implementer_id;

CREATE VIEW report_satisfaction AS
SELECT CASE t.ticket_type WHEN 'incident' THEN 'INC-' WHEN 'service_request' THEN 'REQ-' ELSE 'PRB-' END
        || t.number AS ticket,
    o.name AS organization,
    g.name AS support_group,
    a.email AS assignee,
    sv.score,
    sv.comment,
    sv.channel,
    to_timestamp(sv.sent_at / 1000.0) AS sent_at,
    to_timestamp(sv.answered_at / 1000.0) AS answered_at
FROM satisfaction_surveys sv
JOIN tickets t ON t.id = sv.ticket_id
LEFT JOIN organizations o ON o.id = sv.organization_id
LEFT JOIN groups g ON g.id = sv.group_id
LEFT JOIN users a ON a.id = sv.assignee_id;
