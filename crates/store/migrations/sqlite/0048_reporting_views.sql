-- Read-only views for Grafana and BI tools (docs/reports.md): the desk's records with names
-- instead of ids and times as ISO 8601 text in UTC, stable across releases. Nothing in opsdesk reads them.

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
    strftime('%Y-%m-%dT%H:%M:%fZ', t.created_at / 1000.0, 'unixepoch') AS created_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', t.first_response_at / 1000.0, 'unixepoch') AS first_response_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', t.resolved_at / 1000.0, 'unixepoch') AS resolved_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', t.closed_at / 1000.0, 'unixepoch') AS closed_at,
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
    strftime('%Y-%m-%dT%H:%M:%fZ', out.started_at / 1000.0, 'unixepoch') AS started_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', out.ended_at / 1000.0, 'unixepoch') AS ended_at,
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
    strftime('%Y-%m-%dT%H:%M:%fZ', ch.planned_start / 1000.0, 'unixepoch') AS planned_start,
    strftime('%Y-%m-%dT%H:%M:%fZ', ch.planned_end / 1000.0, 'unixepoch') AS planned_end,
    strftime('%Y-%m-%dT%H:%M:%fZ', ch.actual_start / 1000.0, 'unixepoch') AS actual_start,
    strftime('%Y-%m-%dT%H:%M:%fZ', ch.actual_end / 1000.0, 'unixepoch') AS actual_end,
    strftime('%Y-%m-%dT%H:%M:%fZ', ch.created_at / 1000.0, 'unixepoch') AS created_at
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
    strftime('%Y-%m-%dT%H:%M:%fZ', sv.sent_at / 1000.0, 'unixepoch') AS sent_at,
    strftime('%Y-%m-%dT%H:%M:%fZ', sv.answered_at / 1000.0, 'unixepoch') AS answered_at
FROM satisfaction_surveys sv
JOIN tickets t ON t.id = sv.ticket_id
LEFT JOIN organizations o ON o.id = sv.organization_id
LEFT JOIN groups g ON g.id = sv.group_id
LEFT JOIN users a ON a.id = sv.assignee_id;
