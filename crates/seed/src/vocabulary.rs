//! The words realistic IT-support data is made of, as small tables.
//!
//! Templates use placeholders filled by the generator: `{thing}` (from the topic's own
//! list), `{place}`, `{since}`, `{person}`, `{team}`, `{count}`, `{code}`, `{day}`.

/// A client company and its mail domain.
pub const ORGANIZATIONS: &[(&str, &str)] = &[
    ("Northwind Traders", "northwind.example"),
    ("Contoso Pharma", "contoso.example"),
    ("Fabrikam Logistics", "fabrikam.example"),
    ("Tailspin Toys", "tailspin.example"),
    ("Adventure Works", "adventure-works.example"),
    ("Wide World Importers", "wideworld.example"),
    ("Litware Legal", "litware.example"),
    ("Proseware Energy", "proseware.example"),
    ("Woodgrove Bank", "woodgrove.example"),
    ("Alpine Ski House", "alpineskihouse.example"),
    ("Blue Yonder Airlines", "blueyonder.example"),
    ("Coho Winery", "cohowinery.example"),
    ("Fourth Coffee", "fourthcoffee.example"),
    ("Lucerne Publishing", "lucerne.example"),
    ("Margie's Travel", "margiestravel.example"),
    ("Trey Research", "treyresearch.example"),
];

/// The service provider's own domain, for agents.
pub const STAFF_DOMAIN: &str = "desk.example";

pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Ben", "Chloe", "Daniel", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jamal", "Katrin",
    "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe", "Anders", "Bianca", "Carlos", "Dana",
];

pub const LAST_NAMES: &[&str] = &[
    "Adams",
    "Becker",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jones",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Unger",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zimmermann",
];

/// A support group (tier): name, tier, description, share of the agents.
pub const GROUPS: &[(&str, i64, &str, u32)] = &[
    (
        "Service Desk",
        1,
        "First line: takes every call and mail, fixes what it can.",
        40,
    ),
    (
        "Infrastructure",
        2,
        "Servers, storage, backups and the data centre.",
        15,
    ),
    (
        "Applications",
        2,
        "Business applications: Microsoft 365, SAP, line-of-business tools.",
        20,
    ),
    (
        "Network",
        2,
        "LAN, Wi-Fi, VPN, firewalls and internet links.",
        15,
    ),
    (
        "Vendor escalation",
        3,
        "Cases handed to hardware and software vendors.",
        10,
    ),
];

/// Where people work.
pub const PLACES: &[&str] = &[
    "the 3rd floor",
    "reception",
    "Building B",
    "the Leeds office",
    "the warehouse",
    "meeting room Atlas",
    "the finance open space",
    "home",
    "the Lyon branch",
    "the training room",
];

/// Since when a problem happens.
pub const SINCE: &[&str] = &[
    "since this morning",
    "since the update last night",
    "since Monday",
    "for about an hour",
    "since I moved desks",
    "intermittently for a week",
    "since the power cut",
    "after the latest Windows patch",
];

pub const TEAMS: &[&str] = &[
    "Finance",
    "Sales",
    "HR",
    "Marketing",
    "Operations",
    "Legal",
    "Procurement",
    "Customer Care",
];

pub const DAYS: &[&str] = &[
    "next Monday",
    "on the 1st",
    "tomorrow",
    "next week",
    "on Thursday",
    "at the end of the month",
];

/// Ways to open a description.
pub const GREETINGS: &[&str] = &[
    "Hi team,",
    "Hello,",
    "Good morning,",
    "Hi,",
    "Dear support,",
    "",
];

/// Sentences that fit any incident.
pub const CONTEXT: &[&str] = &[
    "I have already restarted the computer twice.",
    "It worked fine yesterday.",
    "A colleague next to me has the same problem.",
    "This affects {count} people in {team}.",
    "I tried another cable and it made no difference.",
    "The error message says: error {code}.",
    "I am working from {place} today.",
    "Screenshot attached.",
    "We have a deadline this afternoon, so this is getting urgent.",
    "I am not sure whether this is related to the change announced last week.",
    "Logging out and back in did not help.",
    "It only happens on the first attempt; the second one usually works.",
];

/// Closing lines; `{person}` is the requester's first name.
pub const SIGN_OFFS: &[&str] = &[
    "Thanks, {person}",
    "Kind regards,\n{person}",
    "Cheers, {person}",
    "Thank you in advance.",
    "",
];

/// An agent's first public reply.
pub const AGENT_REPLIES: &[&str] = &[
    "Thanks for reporting this. Could you send a screenshot of the error message?",
    "I have picked this up and will call you in the next 15 minutes.",
    "Could you tell me the asset tag on the sticker under the device?",
    "We are aware of a wider issue affecting {place} and are working on it.",
    "I have connected remotely and can reproduce the problem. Looking into it now.",
    "Please try again now; I have cleared the cached credentials on your account.",
    "This needs a visit from a technician; someone will come by {day}.",
    "I have passed this to our {team} contact to confirm the approval.",
];

/// What an agent writes when a ticket is fixed.
pub const RESOLUTIONS: &[&str] = &[
    "The driver has been reinstalled and a test page printed fine.",
    "Your password has been reset; the temporary one was sent by SMS.",
    "We replaced the faulty device; please return the old one to the service desk.",
    "The configuration was corrected and pushed to your machine. Please reboot once.",
    "Old log files were archived and 40 GB freed. Monitoring is green again.",
    "The account was created and the welcome pack sent to the line manager.",
    "The vendor shipped a patch, which we have applied.",
    "Access was granted; it can take up to an hour to show up everywhere.",
];

/// Staff-only notes.
pub const INTERNAL_NOTES: &[&str] = &[
    "Checked the event log: repeated error {code} since 07:12.",
    "Looks like the GPO change from last week. Escalating if the rollback does not help.",
    "Vendor case opened, reference {code}. SLA clock paused while we wait.",
    "Same symptoms as two other tickets from {place}; probably one root cause.",
    "User is a VIP, keep the manager informed.",
    "Spare stock is low, ordered two replacements.",
    "Called the user, no answer. Left a voicemail.",
];

/// What requesters answer.
pub const REQUESTER_REPLIES: &[&str] = &[
    "Still happening after the restart, I am afraid.",
    "That worked, thank you very much!",
    "Screenshot attached as requested.",
    "I will be at my desk until 5 pm if you want to call.",
    "Any update on this? It is blocking the whole team.",
    "The asset tag is {code}.",
];

pub const RESOLUTION_CODES: &[&str] = &[
    "fixed",
    "workaround",
    "replaced",
    "no_fault_found",
    "duplicate",
];

/// Tags any ticket may carry.
pub const GENERAL_TAGS: &[&str] = &[
    "vip",
    "remote-worker",
    "recurring",
    "new-starter",
    "site-visit",
];

/// One kind of problem or request: where it is filed, who handles it, how people describe it.
pub struct Topic {
    pub category: &'static str,
    pub group: &'static str,
    pub ticket_type: &'static str,
    pub tags: &'static [&'static str],
    pub titles: &'static [&'static str],
    pub symptoms: &'static [&'static str],
    pub things: &'static [&'static str],
    /// Relative frequency.
    pub weight: u32,
    /// Whether monitoring opens some of these tickets by itself.
    pub monitored: bool,
}

pub const TOPICS: &[Topic] = &[
    Topic {
        category: "Hardware/Printer",
        group: "Service Desk",
        ticket_type: "incident",
        tags: &["printer", "paper-jam", "toner"],
        titles: &[
            "Printer {thing} in {place} is jammed",
            "Cannot print to {thing}",
            "{thing} prints blank pages",
            "Paper tray error on {thing}",
            "Scan to email not working on {thing}",
            "Printer offline for the whole of {place}",
        ],
        symptoms: &[
            "The printer {thing} shows a paper jam but there is no paper stuck inside.",
            "Print jobs sit in the queue and never come out of {thing}.",
            "Pages come out with grey streaks {since}.",
            "The display on {thing} says toner low although the cartridge is new.",
            "Scanned documents never arrive in my mailbox.",
        ],
        things: &[
            "HP LaserJet M507",
            "Ricoh MP C3004",
            "Canon iR-ADV C5535",
            "the Kyocera by the kitchen",
            "Brother HL-L6400",
        ],
        weight: 12,
        monitored: false,
    },
    Topic {
        category: "Hardware/Laptop",
        group: "Service Desk",
        ticket_type: "incident",
        tags: &["laptop", "hardware-replacement", "docking"],
        titles: &[
            "Laptop does not boot after update",
            "{thing} battery drains in an hour",
            "Screen flickering on {thing}",
            "Docking station not detecting monitors",
            "Keyboard keys stuck on {thing}",
            "Laptop fan very loud and machine hot",
        ],
        symptoms: &[
            "My {thing} gets stuck on the logo screen {since}.",
            "The external monitors stay black when I connect the dock.",
            "The battery goes from full to 10% in about an hour.",
            "The screen flickers whenever I move the lid.",
            "BitLocker asks for a recovery key every time I start the {thing}.",
        ],
        things: &[
            "ThinkPad T14",
            "Dell Latitude 7440",
            "HP EliteBook 840",
            "MacBook Pro 14",
            "Surface Laptop 5",
        ],
        weight: 10,
        monitored: false,
    },
    Topic {
        category: "Hardware/Peripherals",
        group: "Service Desk",
        ticket_type: "service_request",
        tags: &["equipment-request", "monitor", "headset"],
        titles: &[
            "Request for a second monitor",
            "Headset not recognised by {thing}",
            "Need a new mouse and keyboard",
            "Webcam request for {person}",
        ],
        symptoms: &[
            "Could I get a second monitor for my desk in {place}?",
            "My headset is not detected by {thing} after plugging it in.",
            "The mouse wheel stopped working and the keyboard is missing two keys.",
            "A new colleague needs a webcam for customer calls.",
        ],
        things: &["Teams", "Zoom", "the softphone", "the dock"],
        weight: 5,
        monitored: false,
    },
    Topic {
        category: "Software/Outlook",
        group: "Applications",
        ticket_type: "incident",
        tags: &["outlook", "email", "mailbox"],
        titles: &[
            "Outlook keeps asking for password",
            "Shared mailbox {thing} not showing in Outlook",
            "Outlook search returns no results",
            "Calendar invites not arriving",
            "Outlook crashes when opening attachments",
            "Emails stuck in Outbox",
        ],
        symptoms: &[
            "Outlook prompts for my password every few minutes {since}.",
            "The shared mailbox {thing} disappeared from my folder list.",
            "Searching for anything older than a week returns nothing.",
            "External meeting invites do not reach my calendar.",
            "Outlook closes as soon as I open a PDF attachment.",
            "Messages stay in the Outbox and are never sent.",
        ],
        things: &[
            "accounts@",
            "hr-team",
            "the support inbox",
            "invoices",
            "reception",
        ],
        weight: 12,
        monitored: false,
    },
    Topic {
        category: "Software/Microsoft Teams",
        group: "Applications",
        ticket_type: "incident",
        tags: &["teams", "meetings"],
        titles: &[
            "Teams camera not working",
            "Teams meetings freeze after a few minutes",
            "Cannot share screen in Teams",
            "Teams notifications not showing",
        ],
        symptoms: &[
            "Other people see a black square instead of my video.",
            "Meetings freeze and the audio drops {since}.",
            "The share button is greyed out in every meeting.",
            "I miss chats because no notification pops up.",
        ],
        things: &["Teams", "the Teams web app"],
        weight: 6,
        monitored: false,
    },
    Topic {
        category: "Software/SAP",
        group: "Applications",
        ticket_type: "incident",
        tags: &["sap", "erp", "authorization"],
        titles: &[
            "SAP transaction {thing} times out",
            "Cannot post invoices in SAP",
            "SAP GUI crashes on login",
            "Authorization error in SAP {thing}",
            "SAP report runs for hours",
        ],
        symptoms: &[
            "Transaction {thing} runs for minutes and then stops with a timeout.",
            "Posting an invoice fails with message {code}.",
            "SAP GUI closes right after I enter my password.",
            "I get 'You are not authorized to use transaction {thing}'.",
        ],
        things: &["ME21N", "FB60", "VA01", "MIRO", "MM03"],
        weight: 6,
        monitored: false,
    },
    Topic {
        category: "Software/Licensing",
        group: "Applications",
        ticket_type: "service_request",
        tags: &["licence", "software-request"],
        titles: &[
            "{thing} licence request",
            "Office activation error",
            "Install {thing} on my laptop",
        ],
        symptoms: &[
            "I need {thing} for a project starting {day}.",
            "Office says the product is unlicensed and blocks editing.",
            "My manager approved the purchase of {thing}.",
        ],
        things: &[
            "Adobe Acrobat Pro",
            "Visio",
            "Power BI Pro",
            "AutoCAD LT",
            "Tableau",
        ],
        weight: 5,
        monitored: false,
    },
    Topic {
        category: "Network/VPN",
        group: "Network",
        ticket_type: "incident",
        tags: &["vpn", "remote-access"],
        titles: &[
            "VPN disconnects every few minutes",
            "Cannot connect to VPN from {place}",
            "{thing} says certificate expired",
            "VPN connected but no access to file shares",
            "VPN very slow for the whole team",
        ],
        symptoms: &[
            "{thing} drops the connection every five to ten minutes {since}.",
            "The VPN connects but mapped drives and intranet pages do not load.",
            "{thing} reports that the certificate has expired.",
            "Everything over the VPN is very slow; downloads crawl.",
        ],
        things: &[
            "GlobalProtect",
            "Cisco AnyConnect",
            "the WireGuard client",
            "FortiClient",
        ],
        weight: 10,
        monitored: false,
    },
    Topic {
        category: "Network/Wi-Fi",
        group: "Network",
        ticket_type: "incident",
        tags: &["wifi", "wireless"],
        titles: &[
            "Wi-Fi drops in {place}",
            "Cannot join {thing} network",
            "Very slow Wi-Fi in meeting rooms",
            "Guest Wi-Fi password not working",
        ],
        symptoms: &[
            "The Wi-Fi in {place} drops every few minutes {since}.",
            "My laptop cannot join {thing}; it says it cannot connect to this network.",
            "Speed tests show less than 1 Mbit/s during meetings.",
        ],
        things: &["CORP-WIFI", "Guest", "eduroam", "IOT-LAB"],
        weight: 7,
        monitored: false,
    },
    Topic {
        category: "Network/Internet",
        group: "Vendor escalation",
        ticket_type: "incident",
        tags: &["internet", "outage", "isp"],
        titles: &[
            "Internet outage at {place}",
            "Packet loss on the {thing} line",
            "Website {thing} unreachable from the office",
        ],
        symptoms: &[
            "Nobody at {place} can reach the internet {since}.",
            "Monitoring shows heavy packet loss on {thing}.",
            "Calls drop and web pages time out.",
        ],
        things: &["fibre", "backup 4G", "MPLS", "the carrier"],
        weight: 3,
        monitored: true,
    },
    Topic {
        category: "Accounts/Password reset",
        group: "Service Desk",
        ticket_type: "service_request",
        tags: &["password", "account", "mfa"],
        titles: &[
            "Password reset for {person}",
            "Account locked out after password change",
            "MFA phone lost, need a reset",
            "Password expired and cannot log in to {thing}",
        ],
        symptoms: &[
            "I changed my password and now my account is locked.",
            "My new phone does not have the authenticator app, so I cannot sign in.",
            "{thing} says my password has expired but the change page fails.",
            "I forgot my password after the holidays.",
        ],
        things: &["SAP", "Windows", "Citrix", "the HR portal", "Salesforce"],
        weight: 14,
        monitored: false,
    },
    Topic {
        category: "Accounts/Onboarding",
        group: "Service Desk",
        ticket_type: "service_request",
        tags: &["onboarding", "new-starter", "access-request"],
        titles: &[
            "New starter: {person} starting {day}",
            "Onboarding request for {person} in {team}",
            "Access to {thing} for a new team member",
        ],
        symptoms: &[
            "{person} joins {team} {day} and needs a laptop, an account and a phone.",
            "Please give the new colleague the same access as me, including {thing}.",
            "The new starter needs access to the {team} shared drive and to {thing}.",
        ],
        things: &["SAP", "Salesforce", "the finance share", "Jira", "the CRM"],
        weight: 6,
        monitored: false,
    },
    Topic {
        category: "Accounts/Offboarding",
        group: "Service Desk",
        ticket_type: "service_request",
        tags: &["offboarding", "leaver"],
        titles: &[
            "Leaver: disable account for {person}",
            "Remove access for {person} {day}",
        ],
        symptoms: &[
            "{person} leaves {team} {day}; please disable the account and forward mail to the manager.",
            "Please collect the laptop and remove access to {thing}.",
        ],
        things: &["SAP", "the VPN", "Salesforce", "the building badge system"],
        weight: 3,
        monitored: false,
    },
    Topic {
        category: "Infrastructure/Storage",
        group: "Infrastructure",
        ticket_type: "incident",
        tags: &["disk-space", "storage", "backup"],
        titles: &[
            "Disk full on {thing}",
            "Low disk space alert: {thing} at 95%",
            "Backup job failed on {thing}",
            "File share on {thing} read-only",
        ],
        symptoms: &[
            "Volume D: on {thing} has less than 2 GB free.",
            "Last night's backup of {thing} failed with error {code}.",
            "Users report that saving to the share on {thing} fails.",
            "Log files on {thing} grew by 30 GB {since}.",
        ],
        things: &[
            "FS01",
            "SQL-PROD-02",
            "APP-WEB-03",
            "EXCH01",
            "TS-LON-01",
            "BACKUP-NAS",
        ],
        weight: 7,
        monitored: true,
    },
    Topic {
        category: "Infrastructure/Server",
        group: "Infrastructure",
        ticket_type: "incident",
        tags: &["server", "performance"],
        titles: &[
            "Server {thing} unreachable",
            "High CPU on {thing}",
            "Scheduled task failing on {thing}",
            "Certificate on {thing} expires soon",
        ],
        symptoms: &[
            "{thing} does not answer ping {since}.",
            "CPU on {thing} sits at 100% and the application is slow.",
            "The nightly export task on {thing} exits with code {code}.",
            "The TLS certificate on {thing} expires in 7 days.",
        ],
        things: &[
            "APP-WEB-03",
            "SQL-PROD-02",
            "DC02",
            "PRINT-SRV",
            "INTRANET01",
        ],
        weight: 5,
        monitored: true,
    },
    Topic {
        category: "Infrastructure/Server",
        group: "Infrastructure",
        ticket_type: "problem",
        tags: &["root-cause", "recurring"],
        titles: &[
            "Recurring outages of {thing}",
            "Root cause for repeated backup failures on {thing}",
        ],
        symptoms: &[
            "{thing} failed three times this month; we need a permanent fix.",
            "Several incidents point to the same storage controller in {thing}.",
        ],
        things: &["APP-WEB-03", "BACKUP-NAS", "SQL-PROD-02"],
        weight: 1,
        monitored: false,
    },
];
