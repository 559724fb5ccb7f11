//! English: problem management — a problem's incidents and root-cause analysis, and the
//! candidate problems repeat incidents suggest.

/// Sorted by key (binary search; a test keeps it sorted).
pub(super) const TABLE: &[(&str, &str)] = &[
    ("problem.analysis", "Root-cause analysis"),
    ("problem.article", "Known error article:"),
    ("problem.article.open", "read it in the knowledge base"),
    ("problem.candidates", "Candidate problems"),
    (
        "problem.candidates.hint",
        "Configuration items and categories with at least three incidents in the last 30 days that no problem covers yet.",
    ),
    ("problem.candidates.incidents", "Incidents"),
    (
        "problem.candidates.none",
        "No repeat incidents: nothing suggests a problem.",
    ),
    ("problem.candidates.open", "Open a problem"),
    (
        "problem.candidates.problem_description",
        "Opened from repeat incidents: {incidents}.",
    ),
    (
        "problem.candidates.problem_title",
        "Repeat incidents: {name}",
    ),
    ("problem.candidates.where", "Item or category"),
    ("problem.caused_by", "Caused by the problem:"),
    ("problem.contributing_factors", "Contributing factors"),
    ("problem.incidents", "Incidents it caused"),
    ("problem.incidents.none", "No incidents are linked yet."),
    ("problem.kind.category", "category"),
    ("problem.kind.item", "item"),
    (
        "problem.known_error",
        "Known error: the root cause or a workaround is documented",
    ),
    ("problem.link", "Link incidents"),
    ("problem.link.button", "Link"),
    (
        "problem.link.hint",
        "Incident numbers separated by spaces or commas, e.g. INC-12 INC-15",
    ),
    ("problem.publish", "Publish the known error as an article"),
    ("problem.publish.internal", "Internal (staff only)"),
    ("problem.publish.none", "Do not publish now"),
    ("problem.publish.public", "Public"),
    ("problem.root_cause", "Root cause"),
    ("problem.save", "Save the analysis"),
    ("problem.title", "Problem"),
    ("problem.why", "Why? Answer"),
    ("problem.whys", "Five whys"),
    ("problem.workaround", "Workaround"),
];
