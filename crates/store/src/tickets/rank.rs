//! `opsdesk_rank`: FTS5's bm25, remembering how many documents hold each phrase.
//!
//! bm25 weighs each phrase of a query by how rare it is, and SQLite's counts, for every
//! query, the documents holding each phrase across the whole index. For a word in a third of
//! a million tickets that count alone took 10–30 ms, more than ranking the matches. The
//! counts move slowly, so this function keeps them per database, column set and phrase, and
//! counts again once the index has grown or shrunk by a hundredth since. Otherwise it scores
//! exactly as `bm25(ticket_search)` does: same formula, same constants, every column weighing
//! one.
//!
//! SQL calls it as `opsdesk_rank(ticket_search, 'scope')`, the scope naming the column set the
//! query's words are matched in. It is registered on every SQLite connection the process
//! opens (`sqlite3_auto_extension`), before the first is opened.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::{Mutex, Once, PoisonError};

use libsqlite3_sys as ffi;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Counts kept at most; the map starts again beyond (a safeguard, not a working set).
const MAX_REMEMBERED: usize = 200_000;

/// How many documents held a phrase, and how many rows the index had when it was counted.
#[derive(Clone, Copy)]
struct Count {
    documents: i64,
    rows_then: i64,
}

static COUNTS: Mutex<Option<HashMap<String, Count>>> = Mutex::new(None);

/// Makes `opsdesk_rank` available on every SQLite connection opened from now on.
pub fn register_on_new_connections() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `register` has the entry point signature SQLite expects and only uses the
        // handle it is given, for the duration of the call.
        let status = unsafe { ffi::sqlite3_auto_extension(Some(register)) };
        if status != ffi::SQLITE_OK {
            tracing::error!(status, "could not register the ranking function");
        }
    });
}

/// Registers the function on the new connection `db`.
unsafe extern "C" fn register(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _routines: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite passes a valid, open connection handle.
    let api = unsafe { fts5_api(db) };
    if api.is_null() {
        // Without FTS5 the search index cannot exist either; opening must not fail for it.
        return ffi::SQLITE_OK;
    }
    // SAFETY: `api` is the connection's FTS5 API, valid while the connection is open; the
    // name is a NUL-terminated constant and `rank` has the extension function signature.
    unsafe {
        match (*api).xCreateFunction {
            Some(create) => create(
                api,
                c"opsdesk_rank".as_ptr(),
                ptr::null_mut(),
                Some(rank),
                None,
            ),
            None => ffi::SQLITE_ERROR,
        }
    }
}

/// The connection's FTS5 API, or null (SQLite's documented way: `SELECT fts5(?1)` with a
/// pointer bound as `fts5_api_ptr`).
unsafe fn fts5_api(db: *mut ffi::sqlite3) -> *mut ffi::fts5_api {
    let mut api: *mut ffi::fts5_api = ptr::null_mut();
    let mut statement: *mut ffi::sqlite3_stmt = ptr::null_mut();
    // SAFETY: `db` is valid; the statement is finalized before returning, and `api` outlives
    // the step that writes through the bound pointer.
    unsafe {
        let sql = c"SELECT fts5(?1)";
        if ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut statement, ptr::null_mut())
            != ffi::SQLITE_OK
        {
            return ptr::null_mut();
        }
        ffi::sqlite3_bind_pointer(
            statement,
            1,
            (&mut api as *mut *mut ffi::fts5_api).cast::<c_void>(),
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        ffi::sqlite3_step(statement);
        ffi::sqlite3_finalize(statement);
    }
    api
}

/// What one query's rows share: each phrase's weight and the average document length.
struct QueryData {
    idf: Vec<f64>,
    average_length: f64,
    frequencies: Vec<f64>,
}

unsafe extern "C" fn drop_query_data(data: *mut c_void) {
    // SAFETY: the pointer came from `Box::into_raw` in `query_data`, and SQLite calls this
    // once, when the query is done with it.
    drop(unsafe { Box::from_raw(data.cast::<QueryData>()) });
}

/// The FTS5 extension function: the current row's score (lower is better, like bm25).
unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    context: *mut ffi::sqlite3_context,
    argument_count: c_int,
    arguments: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes a valid API table, FTS5 context and SQL function context for the
    // duration of the call, and `argument_count` values at `arguments`.
    unsafe {
        let scope = if argument_count > 0 {
            let text = ffi::sqlite3_value_text(*arguments);
            if text.is_null() {
                String::new()
            } else {
                CStr::from_ptr(text.cast::<c_char>())
                    .to_string_lossy()
                    .into_owned()
            }
        } else {
            String::new()
        };
        match score(&*api, fts, context, &scope) {
            Ok(score) => ffi::sqlite3_result_double(context, score),
            Err(code) => ffi::sqlite3_result_error_code(context, code),
        }
    }
}

/// Turns an FTS5 status into a `Result`.
fn check(status: c_int) -> Result<(), c_int> {
    if status == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(status)
    }
}

/// A missing entry in the API table (never the case for the FTS5 SQLite bundles).
fn missing<T>(entry: Option<T>) -> Result<T, c_int> {
    entry.ok_or(ffi::SQLITE_ERROR)
}

unsafe fn score(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    context: *mut ffi::sqlite3_context,
    scope: &str,
) -> Result<f64, c_int> {
    // SAFETY: as in `rank`; `data` stays valid until the query ends (`xSetAuxdata`).
    unsafe {
        let data = &mut *query_data(api, fts, context, scope)?;
        data.frequencies.fill(0.0);
        let mut instances = 0;
        check(missing(api.xInstCount)?(fts, &mut instances))?;
        for instance in 0..instances {
            let (mut phrase, mut column, mut offset) = (0, 0, 0);
            check(missing(api.xInst)?(
                fts,
                instance,
                &mut phrase,
                &mut column,
                &mut offset,
            ))?;
            if let Some(frequency) = usize::try_from(phrase)
                .ok()
                .and_then(|phrase| data.frequencies.get_mut(phrase))
            {
                *frequency += 1.0;
            }
        }
        let mut tokens = 0;
        check(missing(api.xColumnSize)?(fts, -1, &mut tokens))?;
        let length = f64::from(tokens);
        let score: f64 = data
            .idf
            .iter()
            .zip(&data.frequencies)
            .map(|(idf, frequency)| {
                idf * (frequency * (K1 + 1.0))
                    / (frequency + K1 * (1.0 - B + B * length / data.average_length))
            })
            .sum();
        Ok(-score)
    }
}

/// This query's [`QueryData`], made on its first row.
unsafe fn query_data(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    context: *mut ffi::sqlite3_context,
    scope: &str,
) -> Result<*mut QueryData, c_int> {
    // SAFETY: as in `rank`.
    unsafe {
        let existing = missing(api.xGetAuxdata)?(fts, 0).cast::<QueryData>();
        if !existing.is_null() {
            return Ok(existing);
        }
        let phrases = missing(api.xPhraseCount)?(fts);
        let mut rows: i64 = 0;
        check(missing(api.xRowCount)?(fts, &mut rows))?;
        let mut total_tokens: i64 = 0;
        check(missing(api.xColumnTotalSize)?(fts, -1, &mut total_tokens))?;
        let database = database_name(context);
        let mut idf = Vec::with_capacity(usize::try_from(phrases).unwrap_or(0));
        for phrase in 0..phrases {
            let key = format!(
                "{database}\u{0}{scope}\u{0}{}",
                phrase_text(api, fts, phrase)?
            );
            let documents = match remembered(&key, rows) {
                Some(documents) => documents,
                None => {
                    let mut hits: i64 = 0;
                    check(missing(api.xQueryPhrase)?(
                        fts,
                        phrase,
                        (&mut hits as *mut i64).cast::<c_void>(),
                        Some(count_row),
                    ))?;
                    remember(key, hits, rows);
                    hits
                }
            };
            let weight = ((rows - documents) as f64 + 0.5) / (documents as f64 + 0.5);
            let weight = weight.ln();
            idf.push(if weight <= 0.0 { 1e-6 } else { weight });
        }
        let data = Box::into_raw(Box::new(QueryData {
            frequencies: vec![0.0; idf.len()],
            idf,
            average_length: total_tokens as f64 / rows.max(1) as f64,
        }));
        let status = missing(api.xSetAuxdata)?(fts, data.cast::<c_void>(), Some(drop_query_data));
        if status != ffi::SQLITE_OK {
            // SQLite has already called the destructor on failure.
            return Err(status);
        }
        Ok(data)
    }
}

/// Counts one row for `xQueryPhrase`.
unsafe extern "C" fn count_row(
    _api: *const ffi::Fts5ExtensionApi,
    _fts: *mut ffi::Fts5Context,
    hits: *mut c_void,
) -> c_int {
    // SAFETY: `hits` is the `i64` that `query_data` passed, alive for the whole count.
    unsafe { *hits.cast::<i64>() += 1 };
    ffi::SQLITE_OK
}

/// The tokens of `phrase`, space-separated.
unsafe fn phrase_text(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    phrase: c_int,
) -> Result<String, c_int> {
    // SAFETY: as in `rank`; each token's bytes are valid until the next API call.
    unsafe {
        let size = missing(api.xPhraseSize)?(fts, phrase);
        let mut text = String::new();
        for token in 0..size {
            let (mut bytes, mut length): (*const c_char, c_int) = (ptr::null(), 0);
            check(missing(api.xQueryToken)?(
                fts,
                phrase,
                token,
                &mut bytes,
                &mut length,
            ))?;
            if !bytes.is_null() {
                let slice = std::slice::from_raw_parts(
                    bytes.cast::<u8>(),
                    usize::try_from(length).unwrap_or(0),
                );
                if token > 0 {
                    text.push(' ');
                }
                text.push_str(&String::from_utf8_lossy(slice));
            }
        }
        Ok(text)
    }
}

/// The file of the connection running the query, so that two databases never share counts.
unsafe fn database_name(context: *mut ffi::sqlite3_context) -> String {
    // SAFETY: `context` is valid for the call; the file name belongs to the connection.
    unsafe {
        let db = ffi::sqlite3_context_db_handle(context);
        let name = ffi::sqlite3_db_filename(db, c"main".as_ptr());
        if name.is_null() {
            format!("{db:p}")
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        }
    }
}

/// The remembered count for `key`, unless the index has changed by a hundredth since.
fn remembered(key: &str, rows: i64) -> Option<i64> {
    let counts = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
    let count = *counts.as_ref()?.get(key)?;
    ((count.rows_then - rows).abs() * 100 <= rows).then_some(count.documents)
}

fn remember(key: String, documents: i64, rows: i64) {
    let mut counts = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
    let counts = counts.get_or_insert_with(HashMap::new);
    if counts.len() >= MAX_REMEMBERED {
        counts.clear();
    }
    counts.insert(
        key,
        Count {
            documents,
            rows_then: rows,
        },
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::db::scratch_db;
    use crate::error::StoreError;

    #[tokio::test]
    async fn ranks_exactly_as_bm25_does_and_follows_the_index_as_it_grows() {
        let (db, dir) = scratch_db("rank").await.unwrap();
        let words = [
            "printer",
            "jammed",
            "paper",
            "network",
            "down",
            "printer printer",
        ];
        let add = |from: usize, to: usize| {
            db.write(move |conn| {
                Box::pin(async move {
                    if from == 0 {
                        sqlx::query("CREATE VIRTUAL TABLE docs USING fts5(title, body)")
                            .execute(&mut *conn)
                            .await?;
                    }
                    for n in from..to {
                        let title = format!("{} {}", words[n % 6], words[(n / 6) % 6]);
                        let body =
                            format!("{} again {}", words[(n * 7) % 6], "filler ".repeat(n % 9));
                        sqlx::query("INSERT INTO docs (title, body) VALUES ($1, $2)")
                            .bind(title)
                            .bind(body)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
        };
        let compare = || async {
            let mut conn = db.reader().await.unwrap();
            for query in [
                "printer",
                "printer AND jammed",
                "{title} : (network OR down)",
            ] {
                let rows: Vec<(i64, f64, f64)> = sqlx::query_as(
                    "SELECT rowid, bm25(docs), opsdesk_rank(docs, 'test') FROM docs \
                     WHERE docs MATCH $1",
                )
                .bind(query)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
                assert!(!rows.is_empty(), "{query}");
                for (rowid, bm25, ours) in rows {
                    assert!(
                        (bm25 - ours).abs() < 1e-9,
                        "{query}, row {rowid}: {bm25} vs {ours}"
                    );
                }
            }
        };
        add(0, 60).await.unwrap();
        compare().await;
        // Twice as many rows: the remembered counts are stale and are counted again.
        add(60, 120).await.unwrap();
        compare().await;
        db.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
