//! Importing items from CSV or JSON and exporting them back. Each row finds its item by its
//! class's identification rules, as an agent's report does, so importing a file twice
//! changes nothing and a machine an agent reported is updated rather than recorded twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use opsdesk_domain::cmdb::{self as rules, CiClass, Lifecycle, Source};
use opsdesk_store::cmdb::{self as store, CiValues};
use opsdesk_store::{Conn, StoreError};
use serde::Serialize;

use super::duplicates::identified;
use super::{
    Ci, MOST_RESULTS, NewCi, checked_fields, checked_move, checked_new, differences,
    mark_discovered, mark_source, note_twins, organization_id, owner_id, record_history,
    resolve_new, source_of,
};
use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal};

/// Rows written per transaction: large enough to be fast, small enough that a server
/// sharing the database keeps answering between them.
const CHUNK: usize = 250;
/// The most rows one import takes.
const MOST_ROWS: usize = 50_000;
/// Who the items' history names for an import's changes.
const ACTOR: &str = "import";
/// The CSV columns before the custom fields (`field:NAME`), in the order an export writes.
const COLUMNS: [&str; 15] = [
    "class",
    "name",
    "organization",
    "owner",
    "location",
    "lifecycle",
    "asset_tag",
    "serial_number",
    "smbios_uuid",
    "hostname",
    "macs",
    "needed",
    "purchased_on",
    "purchase_cost",
    "warranty_ends_on",
];
const FIELD_COLUMN: &str = "field:";
/// Attributes of an exported item that an import has no use for (the server sets them).
const EXPORT_ONLY: [&str; 4] = ["id", "created_at", "updated_at", "version"];

/// One row of an import: an item's attributes, or why its row could not be read.
#[derive(Debug, Clone)]
pub enum ImportRow {
    Item(Box<NewCi>),
    /// Problems by field, relative to the row (`needed`).
    Unreadable(Vec<FieldError>),
}

/// The file formats items travel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferFormat {
    Csv,
    Json,
}

impl TransferFormat {
    /// The format of a media type (`text/csv; charset=utf-8`).
    pub fn of_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "text/csv" => Some(Self::Csv),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The format a file name's extension says.
    pub fn of_file_name(name: &str) -> Option<Self> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

impl std::str::FromStr for TransferFormat {
    type Err = AppError;

    /// `csv` or `json`.
    fn from_str(name: &str) -> Result<Self, AppError> {
        match name {
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            _ => Err(AppError::invalid("format", "csv or json")),
        }
    }
}

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Created,
    Updated,
    Unchanged,
    Error,
}

impl ImportOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Error => "error",
        }
    }
}

/// One row of an import's report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportedRow {
    /// The row's index, from 0 (the first row after a CSV header).
    pub row: usize,
    pub outcome: ImportOutcome,
    /// The item the row created or found; absent for errors and for a dry run's new items.
    pub ci: Option<i64>,
    pub name: String,
    /// The attributes it changed (`updated`).
    pub changes: Vec<String>,
    /// Why the row was refused, by field (`rows[3].purchased_on`).
    pub errors: Vec<FieldError>,
}

/// What an import did, or would do in a dry run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: usize,
    pub rows: Vec<ImportedRow>,
}

impl ImportReport {
    fn new(dry_run: bool, rows: Vec<ImportedRow>) -> Self {
        let count = |outcome| rows.iter().filter(|r| r.outcome == outcome).count();
        Self {
            dry_run,
            created: count(ImportOutcome::Created),
            updated: count(ImportOutcome::Updated),
            unchanged: count(ImportOutcome::Unchanged),
            errors: count(ImportOutcome::Error),
            rows,
        }
    }
}

/// Reads the rows of a file, off the async runtime: a large file takes a while to parse.
/// A file that is not CSV or JSON as the format says, or a CSV header naming an unknown
/// column, is refused whole; a row that cannot be read becomes an error in the report.
pub async fn read_rows(
    format: TransferFormat,
    content: Vec<u8>,
) -> Result<Vec<ImportRow>, AppError> {
    let rows = tokio::task::spawn_blocking(move || match format {
        TransferFormat::Csv => rows_from_csv(&content),
        TransferFormat::Json => rows_from_json(&content),
    })
    .await
    .map_err(|e| AppError::internal("reading an import file", e))??;
    if rows.len() > MOST_ROWS {
        return Err(AppError::invalid(
            "rows",
            format!("at most {MOST_ROWS} rows at once; split the file"),
        ));
    }
    Ok(rows)
}

fn rows_from_csv(content: &[u8]) -> Result<Vec<ImportRow>, AppError> {
    // Spreadsheets save UTF-8 with a byte order mark.
    let content = content.strip_prefix(b"\xef\xbb\xbf").unwrap_or(content);
    let unreadable = |e: csv::Error| AppError::invalid("file", format!("not CSV: {e}"));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(content);
    let header: Vec<String> = reader
        .headers()
        .map_err(unreadable)?
        .iter()
        .map(str::to_owned)
        .collect();
    check_header(&header)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(unreadable)?;
        if record.len() != header.len() {
            rows.push(ImportRow::Unreadable(vec![FieldError::new(
                "",
                format!(
                    "{} cells where the header has {} columns",
                    record.len(),
                    header.len()
                ),
            )]));
            continue;
        }
        let cells: BTreeMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(record.iter())
            .filter(|(_, cell)| !cell.is_empty())
            .collect();
        rows.push(row_from_cells(&cells));
    }
    Ok(rows)
}

/// Refuses a header with a column import does not know, one twice, or without `class`
/// and `name`, naming the column.
fn check_header(header: &[String]) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for (index, column) in header.iter().enumerate() {
        let known = COLUMNS.contains(&column.as_str())
            || column
                .strip_prefix(FIELD_COLUMN)
                .is_some_and(|name| !name.is_empty());
        if !known {
            errors.push(FieldError::new(
                format!("header.{column}"),
                format!(
                    "column {} is not one import knows: {} and field:NAME for a custom field",
                    index + 1,
                    COLUMNS.join(", ")
                ),
            ));
        } else if header[..index].contains(column) {
            errors.push(FieldError::new(format!("header.{column}"), "appears twice"));
        }
    }
    for required in ["class", "name"] {
        if !header.iter().any(|c| c == required) {
            errors.push(FieldError::new(
                format!("header.{required}"),
                "this column is required",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// A row from its non-empty cells by column; an empty cell leaves the attribute as it is.
fn row_from_cells(cells: &BTreeMap<&str, &str>) -> ImportRow {
    let text = |column: &str| cells.get(column).map(|cell| (*cell).to_owned());
    let needed = match cells.get("needed").map(|cell| cell.parse::<i64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return ImportRow::Unreadable(vec![FieldError::new("needed", "a whole number")]);
        }
    };
    ImportRow::Item(Box::new(NewCi {
        class: text("class").unwrap_or_default(),
        name: text("name").unwrap_or_default(),
        organization: text("organization"),
        owner: text("owner"),
        location: text("location"),
        lifecycle: text("lifecycle"),
        asset_tag: text("asset_tag"),
        serial_number: text("serial_number"),
        smbios_uuid: text("smbios_uuid"),
        hostname: text("hostname"),
        macs: cells
            .get("macs")
            .map(|cell| cell.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        needed,
        fields: cells
            .iter()
            .filter_map(|(column, cell)| {
                let name = column.strip_prefix(FIELD_COLUMN)?;
                Some((name.to_owned(), serde_json::Value::from(*cell)))
            })
            .collect(),
        purchased_on: text("purchased_on"),
        purchase_cost: text("purchase_cost"),
        warranty_ends_on: text("warranty_ends_on"),
    }))
}

fn rows_from_json(content: &[u8]) -> Result<Vec<ImportRow>, AppError> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(content)
        .map_err(|e| AppError::invalid("file", format!("not a JSON array of items: {e}")))?;
    // A row that is not an item's shape (an unknown attribute, a number for a name) is a
    // mistake in the file, refused whole as a bad CSV header is; mistakes in values are
    // the rows' own.
    let mut rows = Vec::with_capacity(values.len());
    let mut errors = Vec::new();
    for (index, mut value) in values.into_iter().enumerate() {
        if let Some(object) = value.as_object_mut() {
            for key in EXPORT_ONLY {
                object.remove(key);
            }
        }
        match serde_json::from_value::<NewCi>(value) {
            Ok(item) => rows.push(ImportRow::Item(Box::new(item))),
            Err(e) => errors.push(FieldError::new(format!("rows[{index}]"), e)),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Items as CSV with [`COLUMNS`] and a `field:NAME` column for each custom field any of
/// them has: the file an import reads back unchanged.
pub fn cis_to_csv(cis: &[Ci]) -> Result<String, AppError> {
    let fields: std::collections::BTreeSet<&str> = cis
        .iter()
        .flat_map(|ci| ci.fields.keys().map(String::as_str))
        .collect();
    let failed = |e: csv::Error| AppError::internal("writing CSV", e);
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(fields.iter().map(|f| format!("{FIELD_COLUMN}{f}")));
    writer.write_record(header).map_err(failed)?;
    for ci in cis {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut record = vec![
            ci.class.clone(),
            ci.name.clone(),
            text(&ci.organization),
            text(&ci.owner),
            ci.location.clone(),
            ci.lifecycle.clone(),
            text(&ci.asset_tag),
            text(&ci.serial_number),
            text(&ci.smbios_uuid),
            text(&ci.hostname),
            ci.macs.join(" "),
            ci.needed.map(|n| n.to_string()).unwrap_or_default(),
            text(&ci.purchased_on),
            text(&ci.purchase_cost),
            text(&ci.warranty_ends_on),
        ];
        record.extend(fields.iter().map(|f| match ci.fields.get(*f) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }));
        writer.write_record(&record).map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::internal("writing CSV", e.into_error()))?;
    String::from_utf8(bytes).map_err(|e| AppError::internal("writing CSV", e))
}

/// How a transaction of an import ends when it does not commit.
enum Halt {
    /// A dry run, rolled back on purpose once its report was made.
    DryRun(Vec<ImportedRow>),
    Failed(AppError),
}

impl From<AppError> for Halt {
    fn from(error: AppError) -> Self {
        Halt::Failed(error)
    }
}

impl From<StoreError> for Halt {
    fn from(error: StoreError) -> Self {
        Halt::Failed(error.into())
    }
}

/// Called with the number of rows taken so far.
type Progress = Arc<dyn Fn(usize) + Send + Sync>;

impl App {
    /// Imports items (staff): each row updates the item its class's identifiers (and its
    /// asset tag) find, where an import may overwrite, or creates one. A row that finds two
    /// items is refused rather than guessed. A dry run reports the same and writes nothing.
    pub async fn import_cis(
        &self,
        principal: &Principal,
        rows: Vec<ImportRow>,
        dry_run: bool,
    ) -> Result<ImportReport, AppError> {
        self.import_cis_with_progress(principal, rows, dry_run, Arc::new(|_| {}))
            .await
    }

    /// [`App::import_cis`], telling `progress` how many rows are done after each chunk.
    pub async fn import_cis_with_progress(
        &self,
        principal: &Principal,
        rows: Vec<ImportRow>,
        dry_run: bool,
        progress: Progress,
    ) -> Result<ImportReport, AppError> {
        principal.require_staff()?;
        if dry_run {
            // One transaction for the whole file, rolled back: a later row sees what an
            // earlier one would have created, as in a real run.
            let halted = self
                .change_failing_with(principal, Need::Staff, move |tx| {
                    Box::pin(async move {
                        let mut report = Vec::new();
                        let mut rest = rows;
                        while !rest.is_empty() {
                            let chunk: Vec<ImportRow> =
                                rest.drain(..rest.len().min(CHUNK)).collect();
                            let first = report.len();
                            report.extend(
                                take_rows(tx.conn, tx.principal, first, chunk, tx.now, true)
                                    .await?,
                            );
                            progress(report.len());
                        }
                        Err::<std::convert::Infallible, Halt>(Halt::DryRun(report))
                    })
                })
                .await;
            return match halted {
                Err(Halt::DryRun(rows)) => Ok(ImportReport::new(true, rows)),
                Err(Halt::Failed(error)) => Err(error),
                Ok(never) => match never {},
            };
        }
        let mut report = Vec::new();
        let mut rest = rows;
        let mut failure = None;
        while !rest.is_empty() {
            let chunk: Vec<ImportRow> = rest.drain(..rest.len().min(CHUNK)).collect();
            let first = report.len();
            let taken = self
                .change(principal, Need::Staff, move |tx| {
                    Box::pin(async move {
                        take_rows(tx.conn, tx.principal, first, chunk, tx.now, false).await
                    })
                })
                .await;
            match taken {
                Ok(rows) => report.extend(rows),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
            progress(report.len());
        }
        let report = ImportReport::new(false, report);
        // The audit log hears of what committed even when a later chunk failed.
        if report.created + report.updated > 0 || failure.is_none() {
            let summary = serde_json::json!({
                "rows": report.rows.len(),
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "errors": report.errors,
                "complete": failure.is_none(),
            });
            self.change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    tx.webhooks = false;
                    tx.record(Event {
                        entity: Entity::Ci,
                        entity_id: 0,
                        action: Action::Imported,
                        before: None,
                        after: Some(summary),
                    })
                    .await
                })
            })
            .await?;
        }
        if report.created + report.updated > 0 {
            self.cmdb_changed();
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// Every item fitting a search (staff), for a file an import reads back.
    pub async fn export_cis(&self, principal: &Principal, q: &str) -> Result<Vec<Ci>, AppError> {
        principal.require_staff()?;
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |ci: &Ci| ci.id);
            let page = self.search_cis(principal, q, after, MOST_RESULTS).await?;
            let more = page.len() as i64 == MOST_RESULTS;
            all.extend(page);
            if !more {
                return Ok(all);
            }
        }
    }
}

/// Takes rows `first..` in the current transaction.
async fn take_rows(
    conn: &mut Conn,
    principal: &Principal,
    first: usize,
    rows: Vec<ImportRow>,
    now: i64,
    dry_run: bool,
) -> Result<Vec<ImportedRow>, AppError> {
    let mut report = Vec::with_capacity(rows.len());
    for (offset, row) in rows.into_iter().enumerate() {
        let index = first + offset;
        let (name, taken) = match row {
            ImportRow::Unreadable(errors) => (String::new(), Err(AppError::Invalid(errors))),
            ImportRow::Item(item) => {
                let name = item.name.trim().to_owned();
                (name, take_row(conn, principal, &item, now).await)
            }
        };
        let mut line = ImportedRow {
            row: index,
            outcome: ImportOutcome::Unchanged,
            ci: None,
            name,
            changes: Vec::new(),
            errors: Vec::new(),
        };
        match taken {
            Ok(Taken::Created(id)) => {
                line.outcome = ImportOutcome::Created;
                // A dry run's id is rolled back: the real run may give another.
                line.ci = (!dry_run).then_some(id);
            }
            Ok(Taken::Updated(id, changes)) => {
                line.outcome = ImportOutcome::Updated;
                line.ci = Some(id);
                line.changes = changes;
            }
            Ok(Taken::Unchanged(id)) => line.ci = Some(id),
            Err(AppError::Invalid(errors)) => {
                line.outcome = ImportOutcome::Error;
                line.errors = errors
                    .into_iter()
                    .map(|e| FieldError {
                        field: if e.field.is_empty() {
                            format!("rows[{index}]")
                        } else {
                            format!("rows[{index}].{}", e.field)
                        },
                        message: e.message,
                    })
                    .collect();
            }
            Err(other) => return Err(other),
        }
        report.push(line);
    }
    Ok(report)
}

enum Taken {
    Created(i64),
    /// With the attributes changed.
    Updated(i64, Vec<String>),
    Unchanged(i64),
}

/// Takes one row: refuses it with `Invalid` before writing anything, so a refused row leaves
/// the transaction as it was.
async fn take_row(
    conn: &mut Conn,
    principal: &Principal,
    item: &NewCi,
    now: i64,
) -> Result<Taken, AppError> {
    let mut errors = Vec::new();
    let (class, values, macs) = checked_new(item, &mut errors);
    let Some(class) = class.filter(|_| errors.is_empty()) else {
        return Err(AppError::Invalid(errors));
    };
    let mut found: Vec<i64> = identified(conn, class, &values, &macs)
        .await?
        .into_iter()
        .map(|(_, _, id)| id)
        .collect();
    if let Some(tag) = &values.asset_tag
        && let Some(row) = store::ci_by_asset_tag(conn, tag).await?
    {
        found.push(row.id);
    }
    found.sort_unstable();
    found.dedup();
    match found[..] {
        [] => create(conn, principal, class, item, values, &macs, now).await,
        [id] => update(conn, principal, id, item, values, &macs, now).await,
        [a, b, ..] => Err(AppError::invalid(
            "",
            format!("identifies two items, #{a} and #{b}; settle them or change the row"),
        )),
    }
}

async fn create(
    conn: &mut Conn,
    principal: &Principal,
    class: CiClass,
    item: &NewCi,
    mut values: CiValues,
    macs: &[String],
    now: i64,
) -> Result<Taken, AppError> {
    resolve_new(conn, principal, class, item, &mut values).await?;
    values.sources = mark_discovered(Source::Import);
    let id = store::insert_ci(conn, &values, now).await?;
    store::set_macs(conn, id, macs).await?;
    store::insert_history(
        conn,
        id,
        now,
        ACTOR,
        "lifecycle",
        None,
        Some(&values.lifecycle),
    )
    .await?;
    Ok(Taken::Created(id))
}

/// Writes the attributes the row gives onto item `id`, where an import may overwrite who
/// set them last.
async fn update(
    conn: &mut Conn,
    principal: &Principal,
    id: i64,
    item: &NewCi,
    values: CiValues,
    macs: &[String],
    now: i64,
) -> Result<Taken, AppError> {
    let row = store::ci(conn, id).await?.ok_or(AppError::NotFound("ci"))?;
    if !principal.can_see_organization(row.organization_id) {
        return Err(AppError::invalid(
            "",
            "identifies an item of an organization you do not serve",
        ));
    }
    let class = row.class.parse::<CiClass>().unwrap_or(CiClass::Server);
    let before = CiValues::from(&row);
    let mut after = before.clone();
    let mut sources = before.sources.clone();
    let mut give = |attribute: &str, slot: &mut Option<String>, value: Option<String>| {
        overwrite(attribute, slot, value.map(Some), &mut sources);
    };
    give("asset_tag", &mut after.asset_tag, values.asset_tag);
    give(
        "serial_number",
        &mut after.serial_number,
        values.serial_number,
    );
    give("smbios_uuid", &mut after.smbios_uuid, values.smbios_uuid);
    give("hostname", &mut after.hostname, values.hostname);
    give("purchased_on", &mut after.purchased_on, values.purchased_on);
    give(
        "purchase_cost",
        &mut after.purchase_cost,
        values.purchase_cost,
    );
    give(
        "warranty_ends_on",
        &mut after.warranty_ends_on,
        values.warranty_ends_on,
    );
    overwrite("name", &mut after.name, Some(values.name), &mut sources);
    let location = Some(values.location).filter(|l| !l.is_empty());
    overwrite("location", &mut after.location, location, &mut sources);
    overwrite(
        "needed",
        &mut after.needed,
        values.needed.map(Some),
        &mut sources,
    );
    if item.lifecycle.is_some() {
        let from = row
            .lifecycle
            .parse::<Lifecycle>()
            .unwrap_or(Lifecycle::InStock);
        let to = values.lifecycle.parse::<Lifecycle>().unwrap_or(from);
        checked_move(from, to).map_err(|e| AppError::Invalid(vec![e]))?;
        overwrite(
            "lifecycle",
            &mut after.lifecycle,
            Some(values.lifecycle),
            &mut sources,
        );
    }
    if item
        .organization
        .as_deref()
        .is_some_and(|o| !o.trim().is_empty())
    {
        let organization = organization_id(conn, item.organization.as_deref()).await?;
        if !principal.can_see_organization(organization) {
            return Err(AppError::invalid(
                "organization",
                "no organization has this name",
            ));
        }
        overwrite(
            "organization",
            &mut after.organization_id,
            Some(organization),
            &mut sources,
        );
    }
    if item.owner.as_deref().is_some_and(|o| !o.trim().is_empty()) {
        let owner = owner_id(conn, item.owner.as_deref()).await?;
        overwrite("owner", &mut after.owner_id, Some(owner), &mut sources);
    }
    if !item.fields.is_empty() {
        // The row's fields join those the item has; the rest stay.
        let mut fields: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(&before.fields).unwrap_or_default();
        fields.extend(item.fields.clone());
        let fields = checked_fields(conn, class, &fields).await?;
        overwrite("fields", &mut after.fields, Some(fields), &mut sources);
    }
    let old_macs = store::macs(conn, id).await?;
    let new_macs = (!macs.is_empty()
        && old_macs != macs
        && rules::may_overwrite("macs", Source::Import, source_of(&sources, "macs")))
    .then(|| macs.to_vec());
    if new_macs.is_some() {
        sources = mark_source(&sources, "macs", Source::Import);
    }
    after.sources = sources;
    let mut changes: Vec<String> = differences(&before, &after)
        .into_iter()
        .map(|(field, _, _)| field.to_owned())
        .collect();
    if after != before && !store::update_ci(conn, id, row.version, &after, now).await? {
        return Err(AppError::Stale);
    }
    record_history(conn, id, &before, &after, ACTOR, now).await?;
    if let Some(new_macs) = &new_macs {
        store::set_macs(conn, id, new_macs).await?;
        store::insert_history(
            conn,
            id,
            now,
            ACTOR,
            "macs",
            Some(&old_macs.join(" ")),
            Some(&new_macs.join(" ")),
        )
        .await?;
        changes.push("macs".to_owned());
    }
    if changes.is_empty() {
        return Ok(Taken::Unchanged(id));
    }
    let macs_now = new_macs.unwrap_or(old_macs);
    note_twins(conn, id, class, &after, &macs_now, now).await?;
    Ok(Taken::Updated(id, changes))
}

/// Sets `slot` to `value` when it differs and an import may overwrite whoever set it last.
fn overwrite<T: PartialEq>(attribute: &str, slot: &mut T, value: Option<T>, sources: &mut String) {
    if let Some(value) = value
        && *slot != value
        && rules::may_overwrite(attribute, Source::Import, source_of(sources, attribute))
    {
        *slot = value;
        *sources = mark_source(sources, attribute, Source::Import);
    }
}
