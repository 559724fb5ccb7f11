//! Every string the web UI shows, in one table per language. English ships; a translation
//! is another table with the same keys (the tests check that templates use only known keys).

/// A point in time, however a template holds it (by value or by reference).
pub(crate) trait Moment {
    fn moment(&self) -> jiff::Timestamp;
}

impl Moment for jiff::Timestamp {
    fn moment(&self) -> jiff::Timestamp {
        *self
    }
}

impl<T: Moment + ?Sized> Moment for &T {
    fn moment(&self) -> jiff::Timestamp {
        (**self).moment()
    }
}

/// The language pages are rendered in.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lang;

impl Lang {
    /// The text for `key`; the key itself when missing, so a gap is visible, not fatal.
    pub(crate) fn t<'a>(&self, key: &'a str) -> &'a str {
        lookup(key).unwrap_or(key)
    }

    /// The language code for `<html lang>`.
    pub(crate) fn code(&self) -> &'static str {
        "en"
    }

    /// The label of a value in a family: `label("status", "open")` is the text of
    /// `status.open`.
    pub(crate) fn label(&self, family: &str, value: impl std::fmt::Display) -> String {
        let key = format!("{family}.{value}");
        lookup(&key).map_or(key, str::to_owned)
    }

    /// A time as pages show it: minutes, UTC.
    pub(crate) fn when(&self, at: impl Moment) -> String {
        when(&at.moment())
    }

    /// A span of business time as countdowns show it: hours and minutes, rounded up so
    /// that "0 m left" only ever means the time is up. `static/app.js` formats the same way.
    pub(crate) fn span(&self, seconds: i64) -> String {
        let minutes = (seconds.max(0) + 59) / 60;
        let (hours, minutes) = (minutes / 60, (minutes % 60).to_string());
        if hours == 0 {
            self.t("sla.minutes").replace("{m}", &minutes)
        } else {
            self.t("sla.hours")
                .replace("{h}", &hours.to_string())
                .replace("{m}", &minutes)
        }
    }
}

/// A time as pages show it: minutes, UTC.
pub(crate) fn when(at: &jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn lookup(key: &str) -> Option<&'static str> {
    EN.binary_search_by(|(k, _)| (*k).cmp(key))
        .ok()
        .map(|index| EN[index].1)
}

/// English, sorted by key (binary search; a test keeps it sorted).
const EN: &[(&str, &str)] = &[
    ("admin.action", "Action"),
    ("admin.active", "Active"),
    ("admin.actor", "Actor"),
    ("admin.at", "When"),
    ("admin.audit", "Audit log"),
    ("admin.cancel", "Cancel"),
    ("admin.categories", "Categories and questions"),
    ("admin.category.new", "New category"),
    ("admin.create", "Create"),
    ("admin.delete", "Delete"),
    ("admin.description", "Description"),
    ("admin.domain", "Mail domain"),
    ("admin.edit", "Edit"),
    ("admin.email", "E-mail"),
    ("admin.entity", "Record"),
    ("admin.field.new", "New custom field"),
    ("admin.fields", "Custom fields"),
    ("admin.group.new", "New group"),
    ("admin.groups", "Groups and tiers"),
    ("admin.integrations", "Alert integrations"),
    ("admin.integrations.alerts", "Recent alerts"),
    ("admin.integrations.alerts.none", "No alerts received yet."),
    ("admin.integrations.group_by", "Group alerts by labels"),
    (
        "admin.integrations.group_by.hint",
        "Comma-separated label names (e.g. alertname, cluster); empty: each alert is its own incident.",
    ),
    (
        "admin.integrations.hint",
        "Each integration has a secret URL a monitoring tool posts its alerts to: Alertmanager's webhook, or one JSON alert per request. Alerts become incidents requested by the chosen user, one per problem.",
    ),
    ("admin.integrations.kind", "Sends"),
    ("admin.integrations.none", "No integrations yet."),
    ("admin.integrations.requester", "Incidents requested by"),
    (
        "admin.integrations.url",
        "Post alerts to this URL; it is shown only now:",
    ),
    ("admin.jobs", "Background jobs"),
    ("admin.jobs.all", "All"),
    ("admin.jobs.attempts", "Attempts"),
    ("admin.jobs.error", "Last error"),
    ("admin.jobs.filter", "Jobs by status"),
    ("admin.jobs.none", "No jobs here."),
    ("admin.jobs.retry", "Retry"),
    ("admin.jobs.run_at", "Runs at"),
    ("admin.jobs.status", "Status"),
    ("admin.key", "Key"),
    ("admin.kind", "Kind"),
    ("admin.label", "Label"),
    ("admin.last_used", "Last used"),
    ("admin.mail", "Mail templates"),
    ("admin.mail.back", "Back to the mail templates"),
    ("admin.mail.edit", "Edit mail template"),
    (
        "admin.mail.hint",
        "Values are HTML-escaped in the HTML part. Keep [{{number}}] in the subject so replies find their ticket.",
    ),
    ("admin.mail.html", "HTML part"),
    (
        "admin.mail.intro",
        "The mail sent to requesters. A template saved here replaces the server's files and the built-in text until you revert it.",
    ),
    ("admin.mail.notice", "Notice"),
    ("admin.mail.placeholders", "Placeholders"),
    ("admin.mail.preview", "Preview"),
    (
        "admin.mail.preview.hint",
        "The templates above, not saved yet, filled in with sample values.",
    ),
    ("admin.mail.revert", "Revert to the server's template"),
    ("admin.mail.source", "Source"),
    ("admin.mail.subject", "Subject"),
    ("admin.mail.text", "Plain-text part"),
    ("admin.member.add", "Add agent"),
    ("admin.member.add.submit", "Add"),
    ("admin.member.remove", "Remove"),
    ("admin.member.remove.label", "Remove from the group"),
    ("admin.members", "Members"),
    ("admin.members.everyone", "Every active agent is a member"),
    (
        "admin.members.hint",
        "Agents' e-mail addresses, separated by commas",
    ),
    ("admin.members.none", "No members yet"),
    ("admin.name", "Name"),
    ("admin.no", "no"),
    ("admin.options", "Choices (for select, comma-separated)"),
    ("admin.organization.impact_urgency", "Impact ↓ / urgency →"),
    ("admin.organization.itil", "ITIL default"),
    ("admin.organization.matrix", "Priority matrix"),
    (
        "admin.organization.matrix.hint",
        "Leave every cell on the ITIL default, or set all nine.",
    ),
    ("admin.organization.new", "New organization"),
    (
        "admin.organization.see_all",
        "Customers see their colleagues' tickets",
    ),
    ("admin.organizations", "Organizations"),
    ("admin.parent", "Parent category"),
    ("admin.quarantine", "Mail quarantine"),
    (
        "admin.quarantine.about",
        "Messages that could not become a ticket or a reply. Fix the cause (for example, add the sender's domain to their organization), then reprocess.",
    ),
    ("admin.quarantine.became", "{status}: {ticket}"),
    ("admin.quarantine.discard", "Discard"),
    ("admin.quarantine.empty", "The quarantine is empty."),
    ("admin.quarantine.from", "From"),
    ("admin.quarantine.original", "Original"),
    ("admin.quarantine.reason", "Why"),
    ("admin.quarantine.reprocess", "Reprocess"),
    ("admin.quarantine.subject", "Subject"),
    ("admin.question.add", "Add question"),
    ("admin.question.delete", "Delete question"),
    ("admin.question.new", "New diagnostic question"),
    ("admin.revoke", "Revoke"),
    ("admin.revoked", "Revoked"),
    ("admin.role", "Role"),
    ("admin.save", "Save"),
    ("admin.sections", "Admin sections"),
    ("admin.sla", "SLA policies and calendars"),
    ("admin.sla.all_priorities", "All priorities"),
    (
        "admin.sla.always_open",
        "Open around the clock (24×7; holidays still apply)",
    ),
    ("admin.sla.back", "Other admin pages"),
    ("admin.sla.calendar", "Business calendar"),
    ("admin.sla.calendars", "Business calendars"),
    ("admin.sla.definition", "Hours, holidays and time zone"),
    ("admin.sla.end", "Until"),
    ("admin.sla.holidays", "Holidays"),
    (
        "admin.sla.holidays.hint",
        "One per line: a date (2026-12-25) or a yearly day (12-25).",
    ),
    ("admin.sla.hours", "Working hours"),
    (
        "admin.sla.hours.hint",
        "Leave a day empty when nobody works; an end at or before the start runs past midnight.",
    ),
    (
        "admin.sla.minutes_needed",
        "a whole number of minutes, above 0",
    ),
    ("admin.sla.new_calendar", "New business calendar"),
    ("admin.sla.new_policy", "New SLA policy"),
    ("admin.sla.no_policies", "No policies yet."),
    ("admin.sla.number_needed", "a whole number"),
    (
        "admin.sla.pause_on",
        "Pending reasons that pause the clocks",
    ),
    (
        "admin.sla.percent_needed",
        "percentages separated by commas, e.g. 75, 90",
    ),
    ("admin.sla.policies", "Policies"),
    (
        "admin.sla.policies.hint",
        "Tried in order of position; the first that covers a ticket sets its targets.",
    ),
    ("admin.sla.position", "Position"),
    ("admin.sla.priorities", "Priorities covered"),
    ("admin.sla.priorities.hint", "None ticked: every priority."),
    ("admin.sla.start", "From"),
    ("admin.sla.targets", "Targets in business minutes"),
    (
        "admin.sla.targets.hint",
        "Leave both empty for a priority this policy gives no SLA.",
    ),
    ("admin.sla.timezone", "Time zone"),
    ("admin.sla.warnings", "Warn at (% of a target)"),
    ("admin.sla.weekday", "Day"),
    (
        "admin.stale",
        "Someone saved a newer version meanwhile; open the form again to see it.",
    ),
    ("admin.tier", "Tier"),
    ("admin.token.for", "For user (e-mail; yourself when empty)"),
    ("admin.token.new", "New API token"),
    (
        "admin.token.secret",
        "Copy the token now; it is not shown again:",
    ),
    ("admin.tokens", "API tokens"),
    ("admin.triage", "Triage assistant"),
    (
        "admin.triage.accuracy",
        "Suggestions for new tickets, week by week",
    ),
    (
        "admin.triage.accuracy.hint",
        "Every new ticket without a category gets a suggestion. Corrected counts those where an agent then chose another category; right is the share of suggested tickets whose category now is the one suggested.",
    ),
    (
        "admin.triage.accuracy.none",
        "No suggestions in the last 8 weeks.",
    ),
    ("admin.triage.activate", "Use this version"),
    (
        "admin.triage.activated",
        "Model {model} is in service again.",
    ),
    ("admin.triage.applied", "Applied automatically"),
    ("admin.triage.corrected", "Corrected by agents"),
    ("admin.triage.in_service", "In service"),
    ("admin.triage.models", "Model versions"),
    (
        "admin.triage.models.hint",
        "The assistant trains a new version every 6 hours on the desk's most recent labelled tickets. The last 10 are kept, and any of them can be put back in service.",
    ),
    (
        "admin.triage.models.none",
        "No model yet: the assistant trains its first once 20 tickets have a category or group.",
    ),
    ("admin.triage.right", "Right"),
    ("admin.triage.suggested", "Suggested"),
    ("admin.triage.threshold", "Threshold"),
    (
        "admin.triage.threshold.hint",
        "50 to 100; leave empty to stop applying this category's suggestions.",
    ),
    (
        "admin.triage.threshold.number",
        "give a number from 50 to 100, or nothing",
    ),
    ("admin.triage.thresholds", "Applied automatically"),
    (
        "admin.triage.thresholds.hint",
        "When the assistant is at least this sure of a new ticket's category, it sets the category (and the group, when as sure) itself. The timeline shows it was the assistant, and an agent changes it back like any field.",
    ),
    (
        "admin.triage.thresholds.none",
        "None: suggestions are only shown to agents.",
    ),
    ("admin.triage.tickets", "Tickets"),
    ("admin.triage.train", "Train a new version now"),
    (
        "admin.triage.trained",
        "Model {model}, trained on {tickets} tickets, is in service.",
    ),
    ("admin.triage.trained_at", "Trained"),
    ("admin.triage.trained_by", "By"),
    ("admin.triage.week", "Week of"),
    (
        "admin.user.active",
        "Active (may sign in; unticking signs the user out)",
    ),
    (
        "admin.user.approves_articles",
        "Approves knowledge-base articles (publishes and archives them)",
    ),
    ("admin.user.back", "Back to the users"),
    ("admin.user.edit", "Edit user"),
    ("admin.user.limits", "Limited to organizations"),
    (
        "admin.user.limits.hint",
        "For agents only: tick none to let the agent work for every organization.",
    ),
    ("admin.user.new", "New user"),
    ("admin.users", "Users"),
    ("admin.webhook.events", "Events"),
    (
        "admin.webhook.events.hint",
        "Names such as ticket.created, user.updated, separated by commas; * for all.",
    ),
    ("admin.webhook.new", "New webhook"),
    ("admin.webhook.none", "No webhooks yet."),
    (
        "admin.webhook.secret",
        "Signing secret (shown only now; deliveries carry an x-opsdesk-signature HMAC-SHA256 made with it):",
    ),
    ("admin.webhooks", "Webhooks"),
    ("admin.yes", "yes"),
    ("bulk.action", "Change"),
    ("bulk.apply", "Apply to selected"),
    ("bulk.assign_me", "Assign to me"),
    ("bulk.group", "Move to group"),
    ("bulk.legend", "Selected tickets"),
    ("bulk.status", "Set status"),
    ("bulk.unassign", "Unassign"),
    ("composer.body", "Message"),
    ("composer.files", "Attach files"),
    ("composer.kind", "Write"),
    ("composer.macro", "Canned response"),
    ("composer.macro.apply", "Apply"),
    ("composer.minutes", "Time spent (minutes)"),
    ("composer.note", "Internal note (staff only)"),
    ("composer.reply", "Reply to requester"),
    ("composer.send", "Send"),
    ("dash.all", "Show them all"),
    ("dash.all_up", "Every monitor is up."),
    ("dash.breached", "SLA breached"),
    ("dash.down", "Monitors down now"),
    ("dash.due_soon", "SLA due within an hour"),
    (
        "dash.hint",
        "Each heading opens the full list. The page refreshes when tickets change.",
    ),
    ("dash.mine", "My open tickets"),
    (
        "dash.monitor_incidents",
        "Incidents opened by monitors today",
    ),
    (
        "dash.no_groups",
        "You are in no group yet, so there is no list of unassigned tickets in your groups.",
    ),
    ("dash.nothing", "None."),
    ("dash.title", "Dashboard"),
    ("dash.unassigned", "Unassigned in my groups"),
    ("error.forbidden", "You are not allowed to do this."),
    ("error.home", "Back to the start page"),
    (
        "error.internal",
        "Something went wrong on our side; please try again.",
    ),
    (
        "error.not_found",
        "There is nothing here, or it is not yours to see.",
    ),
    (
        "error.rate_limited",
        "Too many attempts; please wait a minute and try again.",
    ),
    (
        "error.stale",
        "Someone else changed this in the meantime; go back, reload and try again.",
    ),
    ("error.title", "This did not work"),
    ("form.fix_errors", "Please correct the fields marked below."),
    ("form.required", "required"),
    ("form.whole_number", "must be a whole number"),
    ("help.title", "Help articles"),
    ("job_status.dead", "Dead"),
    ("job_status.done", "Done"),
    ("job_status.queued", "Queued"),
    ("job_status.running", "Running"),
    ("kb.article", "Article"),
    ("kb.audience.customers", "Signed-in customers"),
    ("kb.audience.internal", "Internal: staff only"),
    ("kb.audience.public", "Public: anyone on the portal"),
    ("kb.author", "Author"),
    ("kb.compare", "Compare"),
    (
        "kb.corrected",
        "Nothing matched those words exactly; showing results for",
    ),
    ("kb.deflection", "Deflection"),
    ("kb.deflection.came_back", "Came back within 7 days"),
    ("kb.deflection.deflected", "Deflected"),
    (
        "kb.deflection.hint",
        "Visits to the portal's new-ticket form during which articles were shown, over the last 30 days. A visit that ends without a ticket, followed by no ticket or mail from the customer within 7 days, counts as deflected.",
    ),
    (
        "kb.deflection.none",
        "No portal visits showed articles in the last 30 days.",
    ),
    ("kb.deflection.rate", "Deflection rate"),
    ("kb.deflection.submitted", "Ended with a ticket"),
    ("kb.deflection.uncategorized", "(no category)"),
    ("kb.deflection.visits", "Visits with articles shown"),
    ("kb.deflection.waiting", "Within their 7 days"),
    ("kb.diff", "Changes between revisions"),
    ("kb.edit", "Edit"),
    ("kb.expected", "Expected:"),
    ("kb.feedback", "Did this help?"),
    (
        "kb.feedback.comment",
        "What was missing or wrong? (optional)",
    ),
    ("kb.feedback.counts", "Helped / did not help:"),
    ("kb.feedback.no", "No"),
    (
        "kb.feedback.sign_in",
        "Sign in to tell us whether this helped.",
    ),
    ("kb.feedback.thanks", "Thank you for telling us."),
    ("kb.feedback.yes", "Yes, it helped"),
    ("kb.field.audience", "Who may read it once published"),
    ("kb.field.body", "Text (Markdown)"),
    ("kb.field.category", "Category"),
    ("kb.field.kind", "Kind"),
    ("kb.field.language", "Language"),
    (
        "kb.field.monitors",
        "Monitors whose incidents offer this runbook",
    ),
    (
        "kb.field.monitors.hint",
        "Runbooks only. The runbook also shows on tickets of its category.",
    ),
    ("kb.field.organizations", "Only these organizations (ids)"),
    (
        "kb.field.organizations.hint",
        "For signed-in customers only; empty means every organization.",
    ),
    ("kb.field.review_by", "Review by"),
    ("kb.field.steps", "Runbook steps"),
    (
        "kb.field.steps.hint",
        "One step per line: what to check | a command to run by hand | the expected result.",
    ),
    ("kb.field.tags", "Tags (comma-separated)"),
    ("kb.field.title", "Title"),
    ("kb.files", "Files"),
    ("kb.files.add", "Attach a file"),
    ("kb.files.none", "No files."),
    ("kb.files.upload", "Upload"),
    ("kb.gaps", "Asked again and again"),
    ("kb.gaps.asked", "Asked {count} times"),
    ("kb.gaps.draft", "Draft an article from them"),
    ("kb.gaps.evidence", "The tickets and how they were resolved"),
    (
        "kb.gaps.hint",
        "Tickets resolved in the last 30 days that no article is linked to, grouped by alike titles. Drafting an article links them to it.",
    ),
    (
        "kb.gaps.none",
        "No question came up three times without an article.",
    ),
    ("kb.misses", "Searches that found nothing"),
    (
        "kb.misses.about",
        "What people looked for in the last 30 days and did not find: the articles to write next.",
    ),
    ("kb.misses.query", "Search"),
    ("kb.misses.times", "Times"),
    ("kb.move.archive", "Archive"),
    ("kb.move.publish", "Publish"),
    ("kb.move.rework", "Back to draft"),
    ("kb.move.submit", "Submit for review"),
    ("kb.new", "New article"),
    ("kb.new_runbook", "New runbook"),
    ("kb.none", "No articles yet."),
    (
        "kb.nothing_found",
        "No article matches. Try other words, or open a ticket.",
    ),
    ("kb.outcome", "Outcome of step"),
    ("kb.outcome.done", "Done"),
    ("kb.outcome.failed", "Failed"),
    ("kb.outcome.note", "Note"),
    ("kb.outcome.record", "Record"),
    ("kb.outcome.skipped", "Skipped"),
    ("kb.owner", "Owner"),
    ("kb.restore", "Restore revision"),
    ("kb.revision", "Revision"),
    ("kb.revisions", "Revisions"),
    ("kb.runbook", "Runbook"),
    ("kb.search", "Search"),
    ("kb.search.placeholder", "printer jam, VPN, password…"),
    ("kb.status", "Status"),
    ("kb.status.any", "Any status"),
    ("kb.status.archived", "Archived"),
    ("kb.status.draft", "Draft"),
    ("kb.status.in_review", "In review"),
    ("kb.status.published", "Published"),
    ("kb.steps", "Steps"),
    ("kb.still_need_help", "Still need help? Open a ticket."),
    ("kb.title", "Knowledge base"),
    ("kb.translate", "Add a translation"),
    ("kb.translations", "Translations"),
    ("kb.updated", "Updated"),
    ("kb.when", "When"),
    ("keys.apply", "apply the assistant's suggestion"),
    ("keys.help", "Show or hide these shortcuts"),
    ("keys.hint", "Press ? for keyboard shortcuts."),
    ("keys.move", "Next / previous ticket in the list"),
    ("keys.note", "Write an internal note"),
    ("keys.open", "Open the selected ticket"),
    ("keys.queue", "Back to the ticket list"),
    ("keys.reply", "Write a reply"),
    ("keys.search", "Search"),
    ("keys.select", "Tick the selected ticket for a bulk change"),
    ("keys.status", "Change the status"),
    ("keys.title", "Keyboard shortcuts"),
    ("level.high", "High"),
    ("level.low", "Low"),
    ("level.medium", "Medium"),
    ("link.caused_by", "Caused by"),
    ("link.duplicate_of", "Duplicate of"),
    ("link.relates_to", "Relates to"),
    ("list.at_position", "at character"),
    ("list.caption", "Tickets matching the search"),
    (
        "list.changed",
        "Tickets have changed since this page was loaded.",
    ),
    ("list.empty", "No tickets match."),
    ("list.next", "Next page"),
    ("list.queues", "Queues"),
    ("list.reload", "Reload"),
    ("list.search", "Search"),
    (
        "list.search.help",
        "For example: status:open,pending priority:P1,P2 group:\"Service Desk\" assignee:me printer",
    ),
    ("list.search.submit", "Search"),
    ("list.select", "Select"),
    ("list.sort", "Order"),
    ("list.sort.-created", "Newest first"),
    ("list.sort.-updated", "Recently updated"),
    ("list.sort.created", "Oldest first"),
    ("list.sort.default", "Default"),
    ("list.sort.priority", "Most urgent first"),
    ("list.title", "Tickets"),
    ("login.email", "E-mail"),
    (
        "login.expired",
        "The sign-in form had expired; please sign in again.",
    ),
    ("login.failed", "Wrong e-mail address or password."),
    ("login.password", "Password"),
    ("login.submit", "Sign in"),
    ("login.title", "Sign in"),
    ("mail_status.auto_reply", "Automatic reply"),
    ("mail_status.bounce", "Bounce"),
    ("mail_status.comment", "Added to a ticket"),
    ("mail_status.discarded", "Discarded"),
    ("mail_status.quarantined", "Still quarantined"),
    ("mail_status.rate_limited", "Rate limited"),
    ("mail_status.ticket", "Opened a ticket"),
    ("maintenance.duration", "Each time lasts (minutes)"),
    ("maintenance.during", "during maintenance"),
    ("maintenance.ends_at", "Ends (UTC)"),
    ("maintenance.every_monitor", "Every monitor"),
    ("maintenance.in_force", "in force"),
    ("maintenance.manage", "Manage maintenance windows"),
    ("maintenance.monitor", "Monitor"),
    ("maintenance.new", "New maintenance window"),
    ("maintenance.none", "No maintenance windows."),
    ("maintenance.reason", "Reason"),
    ("maintenance.recurring", "Recurring (optional)"),
    ("maintenance.schedule", "Schedule (cron, e.g. 0 2 * * SUN)"),
    ("maintenance.scope", "Covers"),
    ("maintenance.starts_at", "Starts (UTC)"),
    ("maintenance.tag", "Tag"),
    (
        "maintenance.time.hint",
        "Times are UTC, e.g. 2026-01-31T22:00.",
    ),
    ("maintenance.title", "Maintenance windows"),
    ("monitor.add", "Add a monitor"),
    ("monitor.at", "When"),
    ("monitor.back", "Back to the monitors"),
    ("monitor.body", "Request body"),
    ("monitor.checks", "Recent checks"),
    ("monitor.checks.none", "No checks yet."),
    ("monitor.count", "Echo requests per check"),
    ("monitor.edit", "Edit monitor"),
    ("monitor.ended", "Ended"),
    ("monitor.error", "Error"),
    ("monitor.expected", "Expected answer (contains)"),
    (
        "monitor.expected_status",
        "Expected statuses (comma-separated; any 2xx when empty)",
    ),
    ("monitor.failed", "failed"),
    ("monitor.failures", "Failed checks"),
    ("monitor.follow_redirects", "Follow redirects"),
    ("monitor.grace_s", "Grace (seconds late before down)"),
    (
        "monitor.headers",
        "Request headers (one Name: value a line)",
    ),
    ("monitor.headers.hint", "write each header as Name: value"),
    ("monitor.incident", "Incident"),
    ("monitor.incidents", "Incidents it opens"),
    ("monitor.interval_s", "Every (seconds)"),
    ("monitor.keyword", "Body must contain"),
    ("monitor.kind", "Kind"),
    ("monitor.kind.dns", "DNS"),
    ("monitor.kind.heartbeat", "Heartbeat"),
    ("monitor.kind.http", "HTTP"),
    ("monitor.kind.icmp", "Ping (ICMP)"),
    ("monitor.kind.tcp", "TCP port"),
    ("monitor.kind.tls", "TLS certificate"),
    ("monitor.last_check", "Last check"),
    ("monitor.last_error", "Last error"),
    ("monitor.latency_24h", "Response time, 24 h"),
    (
        "monitor.max_latency_ms",
        "Slower than this counts as down (ms)",
    ),
    ("monitor.max_loss_percent", "Highest packet loss (%)"),
    ("monitor.method", "Method (GET when empty)"),
    (
        "monitor.min_days_left",
        "Fewest days the certificate must have left",
    ),
    ("monitor.name", "Name"),
    ("monitor.new", "New monitor"),
    ("monitor.none", "No monitors yet."),
    ("monitor.ok", "ok"),
    ("monitor.one", "Monitor"),
    ("monitor.ongoing", "ongoing"),
    ("monitor.open_incident", "Open incident"),
    ("monitor.outages", "Outages"),
    ("monitor.outages.none", "No outages."),
    ("monitor.pause", "Pause"),
    ("monitor.ping", "Heartbeat"),
    (
        "monitor.ping.hint",
        "Let the job call this address when it finishes; silence longer than the period and grace marks it down.",
    ),
    ("monitor.ping_curl", "Command"),
    ("monitor.ping_url", "Ping URL"),
    ("monitor.record_type", "Record type (A when empty)"),
    ("monitor.recover_after", "Successes before up again"),
    ("monitor.regex", "Body must match (regular expression)"),
    (
        "monitor.resolver",
        "Resolver (ip:port; the system's when empty)",
    ),
    ("monitor.response_time", "Response time"),
    ("monitor.result", "Result"),
    ("monitor.resume", "Resume"),
    ("monitor.retries", "Failures before down"),
    ("monitor.schedule", "Schedule (cron, instead of a period)"),
    (
        "monitor.schedule.hint",
        "For example 0 3 * * * for every day at 03:00.",
    ),
    ("monitor.sections", "Monitoring sections"),
    ("monitor.start_paused", "Start paused"),
    ("monitor.started", "Started"),
    ("monitor.state", "State"),
    ("monitor.status.down", "Down"),
    ("monitor.status.maintenance", "In maintenance"),
    ("monitor.status.paused", "Paused"),
    ("monitor.status.pending", "Pending"),
    ("monitor.status.unreachable", "Unreachable"),
    ("monitor.status.up", "Up"),
    ("monitor.status_pages", "Public status pages"),
    ("monitor.tags", "Tags (comma-separated)"),
    ("monitor.target.dns", "Name to resolve"),
    ("monitor.target.http", "URL"),
    ("monitor.target.icmp", "Host"),
    ("monitor.target.tcp", "Host and port (host:port)"),
    ("monitor.target.tls", "Host and port (host:port)"),
    ("monitor.timeout_s", "Timeout (seconds)"),
    ("monitor.timezone", "Time zone (UTC when empty)"),
    ("monitor.title", "Monitors"),
    ("monitor.uptime", "Uptime"),
    ("monitor.uptime_24h", "Uptime, 24 h"),
    ("monitor.uptime_30d", "Uptime, 30 days"),
    ("monitor.verify_tls", "Verify the certificate"),
    ("nav.admin", "Admin"),
    ("nav.dashboard", "Dashboard"),
    ("nav.help", "Help"),
    ("nav.kb", "Knowledge"),
    ("nav.label", "Main"),
    ("nav.monitors", "Monitors"),
    ("nav.oncall", "On call"),
    ("nav.portal", "Portal"),
    ("nav.sign_out", "Sign out"),
    ("nav.skip", "Skip to content"),
    ("nav.tickets", "Tickets"),
    (
        "notice.acknowledgement",
        "Acknowledgement (a ticket is opened)",
    ),
    ("notice.reply", "Reply (an agent answers publicly)"),
    ("notice.resolution", "Resolution (the ticket is resolved)"),
    (
        "oncall.hint",
        "Who answers now on each schedule, and until when. Schedules and their rotations are set through the API (POST /api/v1/schedules).",
    ),
    ("oncall.nobody", "Nobody"),
    ("oncall.none", "No on-call schedules yet."),
    ("oncall.overrides", "Overrides"),
    ("oncall.take_over", "Take over for"),
    ("oncall.take_over.button", "Take over"),
    ("oncall.title", "On call"),
    ("oncall.until", "until"),
    ("pending.change", "Waiting for a change"),
    ("pending.customer", "Waiting for the customer"),
    ("pending.third_party", "Waiting for a third party"),
    ("portal.back", "Back to my tickets"),
    ("portal.category.legend", "What is it about?"),
    (
        "portal.category.none",
        "No categories are set up yet; describe your request on the next page.",
    ),
    ("portal.change_category", "Choose another category"),
    ("portal.field.description", "Anything else we should know"),
    ("portal.field.title", "Summary"),
    ("portal.field.urgency", "How urgent is it?"),
    ("portal.help_search", "Search the help articles"),
    ("portal.mine", "Your organization's tickets"),
    ("portal.new", "Open a ticket"),
    ("portal.new.title", "Open a ticket"),
    ("portal.next", "Next"),
    ("portal.none", "No tickets yet."),
    ("portal.reply", "Your answer"),
    (
        "portal.similar_reports",
        "{count} people in your organization reported something like this in the last 24 hours. Our team knows about it: you may not need to open a ticket.",
    ),
    ("portal.status", "Service status"),
    (
        "portal.status.about",
        "Whether our services are up right now, and planned maintenance.",
    ),
    ("portal.step1", "Step 1 of 2: choose a category."),
    ("portal.step2", "Step 2 of 2: a few questions about"),
    ("portal.submit", "Send"),
    ("portal.suggested", "These articles may already answer it"),
    ("portal.title", "Support portal"),
    ("resolution.duplicate", "Duplicate"),
    ("resolution.fixed", "Fixed"),
    ("resolution.no_fault_found", "No fault found"),
    ("resolution.workaround", "Workaround"),
    ("role.admin", "Admin"),
    ("role.agent", "Agent"),
    ("role.customer", "Customer"),
    ("sla.breached", "breached"),
    ("sla.breached_ago", "breached {time} ago"),
    ("sla.due_soon", "{time} left, due soon"),
    ("sla.hours", "{h} h {m} m"),
    ("sla.left", "{time} left"),
    ("sla.met", "met"),
    ("sla.met_late", "met late"),
    ("sla.minutes", "{m} m"),
    ("sla.none", "no SLA"),
    ("sla.paused", "paused, {time} left"),
    ("sla.resolution", "Resolution"),
    ("sla.response", "Response"),
    ("sla.stopped", "stopped"),
    ("sla.title", "Service level"),
    ("status.cancelled", "Cancelled"),
    ("status.closed", "Closed"),
    ("status.new", "New"),
    ("status.open", "Open"),
    ("status.pending", "Pending"),
    ("status.resolved", "Resolved"),
    ("template_source.built_in", "Built-in"),
    ("template_source.custom", "Saved here"),
    ("template_source.templates_dir", "Files on the server"),
    ("ticket.assignee", "Assignee"),
    ("ticket.assistant", "Assistant suggests"),
    ("ticket.assistant.apply", "Apply"),
    ("ticket.assistant.because", "because of:"),
    ("ticket.assistant.model", "Model"),
    ("ticket.back", "Back to the list"),
    ("ticket.category", "Category"),
    ("ticket.changed", "Someone else changed this ticket."),
    ("ticket.controls", "Ticket"),
    ("ticket.created", "Created"),
    ("ticket.description", "Description"),
    ("ticket.details", "Details"),
    ("ticket.escalation_reason", "Reason for moving group"),
    ("ticket.group", "Group"),
    ("ticket.impact", "Impact"),
    ("ticket.knowledge", "Knowledge"),
    (
        "ticket.knowledge.draft",
        "Draft an article from this ticket",
    ),
    ("ticket.knowledge.insert", "Insert link"),
    (
        "ticket.knowledge.none",
        "No published article matches this ticket's title.",
    ),
    ("ticket.knowledge.solved", "Solved by this"),
    ("ticket.knowledge.solved_by", "Solved by:"),
    ("ticket.knowledge.suggested", "Articles that may answer it:"),
    ("ticket.major.open", "Open a major incident for all of them"),
    (
        "ticket.major.title",
        "{count} alike incidents opened about the same time: one outage?",
    ),
    ("ticket.merged_into", "Merged into"),
    ("ticket.none", "(none)"),
    ("ticket.number", "Number"),
    ("ticket.organization", "Organization"),
    ("ticket.pending_reason", "Pending reason"),
    ("ticket.priority", "Priority"),
    ("ticket.related", "Related tickets"),
    ("ticket.related.none", "None."),
    ("ticket.replying", "Also replying right now:"),
    ("ticket.requester", "Requester"),
    ("ticket.resolution_code", "Resolution"),
    ("ticket.resolution_note", "Resolution note"),
    ("ticket.runbooks", "Runbooks"),
    ("ticket.save", "Save"),
    ("ticket.source", "Source"),
    ("ticket.status", "Status"),
    ("ticket.tags", "Tags"),
    ("ticket.time_spent", "Time spent (minutes)"),
    ("ticket.timeline", "Timeline"),
    ("ticket.title", "Title"),
    ("ticket.unassigned", "(unassigned)"),
    ("ticket.updated", "Updated"),
    ("ticket.urgency", "Urgency"),
    ("timeline.alert", "received an alert"),
    ("timeline.article_linked", "linked a knowledge article"),
    ("timeline.assigned", "assigned"),
    ("timeline.attachment", "attached a file"),
    ("timeline.attachment_skipped", "did not keep a mailed file"),
    ("timeline.comment", "replied"),
    ("timeline.created", "opened the ticket"),
    ("timeline.escalated", "moved it to another group"),
    ("timeline.files", "Files"),
    ("timeline.linked", "linked a ticket"),
    ("timeline.merged", "merged"),
    ("timeline.monitor_failures", "noted more failed checks"),
    ("timeline.note", "added an internal note"),
    ("timeline.reopened", "reopened"),
    ("timeline.runbook_step", "followed a runbook step"),
    (
        "timeline.said.alert",
        "{title} ({severity}) is {status}, from {integration}",
    ),
    ("timeline.said.assigned", "assigned the ticket to {to}"),
    (
        "timeline.said.attachment_skipped",
        "{filename} ({size}) is over the {limit} limit; it stays in the original message",
    ),
    (
        "timeline.said.created",
        "{number} with priority {priority}, {via}",
    ),
    (
        "timeline.said.escalated",
        "moved the ticket from {from} to {to}",
    ),
    (
        "timeline.said.merged_from",
        "{number} was merged into this ticket ({count} messages moved)",
    ),
    ("timeline.said.merged_into", "merged into {number}"),
    ("timeline.said.no_group", "no group"),
    (
        "timeline.said.runbook_step",
        "{runbook}, step {step}: {outcome}",
    ),
    (
        "timeline.said.sla_breached",
        "the {clock} target was missed",
    ),
    (
        "timeline.said.sla_warning",
        "{percent} % of the {clock} time is used",
    ),
    (
        "timeline.said.status",
        "changed the status from {from} to {to}",
    ),
    (
        "timeline.said.triage_applied",
        "{what}, as suggested by model {model}, applied by {agent}",
    ),
    (
        "timeline.said.triage_automatic",
        "{what}, set by the triage assistant (model {model}, {confidence} sure, threshold {threshold})",
    ),
    (
        "timeline.said.unassigned",
        "took the ticket off its assignee",
    ),
    ("timeline.said.updated", "changed {fields}"),
    ("timeline.staff_only", "staff only"),
    ("timeline.status_changed", "changed the status"),
    ("timeline.triage_applied", "noted a suggestion"),
    ("timeline.updated", "updated"),
    ("type.incident", "Incident"),
    ("type.problem", "Problem"),
    ("type.service_request", "Service request"),
    ("via.alert", "from an alert"),
    ("via.api", "through the API"),
    ("via.email", "by e-mail"),
    ("via.import", "imported from another desk"),
    ("via.monitor", "by a monitor"),
    ("via.phone", "from a phone call"),
    ("via.web", "through the portal"),
    ("weekday.friday", "Friday"),
    ("weekday.monday", "Monday"),
    ("weekday.saturday", "Saturday"),
    ("weekday.sunday", "Sunday"),
    ("weekday.thursday", "Thursday"),
    ("weekday.tuesday", "Tuesday"),
    ("weekday.wednesday", "Wednesday"),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_table_is_sorted_without_duplicates() {
        for pair in EN.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{} must come before {}",
                pair[0].0,
                pair[1].0
            );
        }
    }

    #[test]
    fn templates_use_only_known_keys() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                if lookup(key).is_none() {
                    missing.push(key.to_owned());
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the table: {missing:?}"
        );
    }

    #[test]
    fn every_status_level_link_and_channel_has_a_label() {
        use opsdesk_domain::ticket::{
            Impact, LinkType, PendingReason, Source, TicketStatus, TicketType,
        };
        let names = TicketStatus::NAMES
            .iter()
            .map(|n| format!("status.{n}"))
            .chain(Impact::NAMES.iter().map(|n| format!("level.{n}")))
            .chain(LinkType::NAMES.iter().map(|n| format!("link.{n}")))
            .chain(PendingReason::NAMES.iter().map(|n| format!("pending.{n}")))
            .chain(TicketType::NAMES.iter().map(|n| format!("type.{n}")))
            .chain(Source::NAMES.iter().map(|n| format!("via.{n}")))
            .chain(
                super::super::agent::RESOLUTION_CODES
                    .iter()
                    .map(|n| format!("resolution.{n}")),
            );
        for key in names {
            assert!(lookup(&key).is_some(), "no label for {key}");
        }
    }
}
