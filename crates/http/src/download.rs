//! Stored files served back: always as a download (`Content-Disposition: attachment`), with a
//! content type that cannot run in the browser, `nosniff`, in a sandbox — uploads and mail
//! are untrusted.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::tickets::served_content_type;

/// `content` as a download named `filename`, of stored type `content_type`.
pub(crate) fn download(filename: &str, content_type: &str, content: Vec<u8>) -> Response {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut response = content.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_TYPE,
            served_content_type(content_type).to_owned(),
        ),
        (header::CONTENT_DISPOSITION, disposition),
        (
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'".to_owned(),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// Items as a file an import reads back, for the export routes of the API and the pages.
pub(crate) fn items_file(
    cis: &[opsdesk_app::cmdb::Ci],
    format: opsdesk_app::cmdb::TransferFormat,
) -> Result<Response, opsdesk_app::AppError> {
    use opsdesk_app::cmdb::TransferFormat;
    Ok(match format {
        TransferFormat::Csv => download(
            "configuration-items.csv",
            "text/csv",
            opsdesk_app::cmdb::cis_to_csv(cis)?.into_bytes(),
        ),
        TransferFormat::Json => download(
            "configuration-items.json",
            "application/json",
            serde_json::to_vec_pretty(cis)
                .map_err(|e| opsdesk_app::AppError::internal("writing JSON", e))?,
        ),
    })
}
