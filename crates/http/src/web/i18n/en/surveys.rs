//! English: satisfaction surveys — the rating form a mailed link or the portal shows, the
//! staff timeline's sentence for a rating, and the admins' survey settings.

/// Sorted by key (binary search; a test keeps it sorted).
pub(super) const TABLE: &[(&str, &str)] = &[
    ("survey.admin.back", "Back to administration"),
    (
        "survey.admin.enabled",
        "Ask requesters to rate resolved tickets",
    ),
    ("survey.admin.group", "Group"),
    (
        "survey.admin.hint",
        "When a ticket is resolved its requester is mailed a one-click rating from 1 to 5, which the portal offers too. A low score is mailed to the group's lead.",
    ),
    ("survey.admin.lead", "Lead"),
    ("survey.admin.leads", "Group leads"),
    (
        "survey.admin.leads.hint",
        "The lead is mailed the group's low scores; a group without one has them mailed to its members.",
    ),
    ("survey.admin.no_groups", "No groups yet."),
    ("survey.admin.save", "Save"),
    ("survey.admin.threshold", "Notify the lead of scores"),
    ("survey.admin.threshold.never", "never"),
    ("survey.admin.ticket_types", "Ticket types surveyed"),
    (
        "survey.closed",
        "This survey has closed: its rating can no longer be given or changed.",
    ),
    ("survey.comment", "Comment (optional)"),
    ("survey.current", "Your rating:"),
    ("survey.for", "Asked of"),
    (
        "survey.question",
        "How satisfied are you with how this was handled?",
    ),
    ("survey.said", "rated the resolution {score} out of 5"),
    (
        "survey.scale",
        "1: not at all satisfied — 5: very satisfied",
    ),
    ("survey.send", "Send"),
    ("survey.thanks", "Thank you: your rating is saved."),
    ("survey.title", "Rate this resolution"),
    ("survey.until", "You can change your rating until"),
];
