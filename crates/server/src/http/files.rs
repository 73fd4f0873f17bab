//! Uploads (admins and stores) and downloads (whoever may read the message a file is
//! attached to, and its uploader until it is sent).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chat_domain::model::Participant;
use chat_domain::upload::StoredFile;
use chat_domain::values::AttachmentKind;
use chat_domain::ChatError;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{AdminCaller, StoreCaller};
use super::openapi::{AuthErrors, ServerErrors};
use crate::state::AppState;
use crate::wire;

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// A file as a form sends it: the field `file` alone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the form; the handler streams it
pub(crate) struct UploadForm {
    /// The file (not empty); its name is kept, its type is read from its bytes.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
}

/// A file as the raw body: its bytes, not empty.
#[derive(Debug)]
pub(crate) struct RawFile;

impl utoipa::PartialSchema for RawFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .min_length(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for RawFile {}

/// The name of a file sent as the raw body.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// The file's name (raw bodies only; a form gives its own).
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    name: Option<String>,
}

/// The content type of `bytes`, from their magic numbers; plain text when they are UTF-8
/// without control characters other than white space.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(bytes) {
        return Some(kind.mime_type());
    }
    let text = std::str::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
        .then_some("text/plain")
}

/// Reads at most `max` bytes of a stream; 413 beyond.
async fn read_limited<S, E>(mut stream: S, max: u64) -> Result<Vec<u8>>
where
    S: futures_util::Stream<Item = std::result::Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("file: {e}")))?;
        if u64::try_from(bytes.len() + chunk.len()).unwrap_or(u64::MAX) > max {
            return Err(ApiError::Chat(ChatError::TooLarge(max)));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The file of a request: the `file` field of a form, or the raw body named by `?name=`.
async fn received(
    req: &HttpRequest,
    payload: web::Payload,
    name: Option<String>,
    max: u64,
) -> Result<(String, Vec<u8>)> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        let bytes = read_limited(payload, max).await?;
        return Ok((name.unwrap_or_else(|| "file".to_owned()), bytes));
    }
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    if let Some(field) = form.next().await {
        let field = field.map_err(|e| ApiError::BadRequest(format!("file: {e}")))?;
        if field.name() != Some("file") {
            // The form has the one field, as documented.
            return Err(ApiError::BadRequest(format!(
                "{}: unknown field; the form has one field, file",
                field.name().unwrap_or_default()
            )));
        }
        let name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned)
            .or(name)
            .unwrap_or_else(|| "file".to_owned());
        let bytes = read_limited(field, max).await?;
        // Nothing after it either.
        if let Some(extra) = form.next().await {
            let extra = extra.map_err(|e| ApiError::BadRequest(format!("file: {e}")))?;
            return Err(ApiError::BadRequest(format!(
                "{}: unknown field; the form has one field, file",
                extra.name().unwrap_or_default()
            )));
        }
        return Ok((name, bytes));
    }
    Err(ApiError::BadRequest(
        "file: is required (a form field named file)".to_owned(),
    ))
}

/// The service's own URL of a file.
fn file_url(state: &AppState, req: &HttpRequest, file: &StoredFile) -> String {
    let base = if state.settings.public_base_url.is_empty() {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    } else {
        state.settings.public_base_url.clone()
    };
    format!(
        "{base}{}{}/",
        chat_domain::usecases::FILES_PATH,
        file.key.as_str()
    )
}

async fn upload(
    state: &AppState,
    req: &HttpRequest,
    uploader: Participant,
    payload: web::Payload,
    name: Option<String>,
) -> Result {
    let max = state.files.max_bytes();
    let outcome = async {
        if let Some(given) = &name {
            chat_domain::upload::check_given_name("name", given).map_err(ChatError::from)?;
        }
        let (name, bytes) = received(req, payload, name, max).await?;
        let sniffed = sniff(&bytes);
        Ok::<_, ApiError>(state.files.upload(uploader, &name, sniffed, bytes).await?)
    }
    .await;
    let file = match outcome {
        Ok(file) => file,
        Err(err) => {
            if let ApiError::Chat(ChatError::TooLarge(_) | ChatError::UnsupportedType(_)) = &err {
                state
                    .metrics
                    .upload_refused(err.status_and_code().1.as_str());
            }
            return Err(err);
        }
    };
    state.metrics.uploaded(file.size);
    Ok(HttpResponse::Created().json(wire::Upload {
        attachment_url: file_url(state, req, &file),
        attachment_type: file.kind().as_str(),
        name: &file.name,
        size: file.size,
        content_type: &file.content_type,
    }))
}

#[utoipa::path(
    operation_id = "admin_upload",
    summary = "Upload a file",
    description = "A file as `multipart/form-data` (field `file`) or as the raw body with `?name=`. Its type is read from its bytes: PNG, JPEG, GIF, WebP, PDF, plain text, MP3, OGG, MP4 or WebM (415 otherwise), at most `files.max_bytes` (10 MiB; 413 above). Send `attachment_url` and `attachment_type` in a message to share it; until then only the uploader reads it, and it is deleted after 24 h.",
    tag = "admin",
    params(UploadQuery),
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (RawFile = "application/octet-stream"),
    )),
    responses(
        (status = 201, description = "The stored file.", body = wire::Upload),
        (status = 400, description = "`invalid_request`: no file, an empty one, or a `name` with NUL or over 200 characters.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `files.max_bytes`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a type not taken.", body = ErrorBody),
        AuthErrors, ServerErrors,
    ),
    security(("admin_token" = [])),
)]
#[post("/upload/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "upload"))]
pub(super) async fn admin_upload(
    AdminCaller(admin): AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result {
    upload(
        &state,
        &req,
        Participant::Admin(admin),
        payload,
        query.into_inner().name,
    )
    .await
}

#[utoipa::path(
    operation_id = "store_upload",
    summary = "Upload a file",
    description = "As the admins' upload.",
    tag = "store",
    params(UploadQuery),
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (RawFile = "application/octet-stream"),
    )),
    responses(
        (status = 201, description = "The stored file.", body = wire::Upload),
        (status = 400, description = "`invalid_request`: no file, an empty one, or a `name` with NUL or over 200 characters.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `files.max_bytes`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a type not taken.", body = ErrorBody),
        AuthErrors, ServerErrors,
    ),
    security(("store_token" = [])),
)]
#[post("/upload/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "upload"))]
pub(super) async fn store_upload(
    StoreCaller(store): StoreCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result {
    upload(
        &state,
        &req,
        Participant::Store(store),
        payload,
        query.into_inner().name,
    )
    .await
}

#[utoipa::path(
    operation_id = "file",
    summary = "Download a file",
    description = "To whoever may read the message it is attached to (an integration too, notes aside), and to its uploader until it is sent; 404 to anyone else. Served with `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`, images inline and every other type as `Content-Disposition: attachment`. The pages fetch it with their token and show the bytes, so no token is ever in a URL.",
    tag = "files",
    params(("key" = String, Path, description = "The file's key (32 hex digits).")),
    responses(
        (status = 200, description = "The file's bytes, with its content type.", content_type = "application/octet-stream", body = String),
        (status = 404, description = "`not_found`: no such file, or not one the caller may read.", body = ErrorBody),
        AuthErrors, ServerErrors,
    ),
    security(("admin_token" = []), ("store_token" = []), ("api_key" = [])),
)]
#[get("/{key}/")]
#[tracing::instrument(name = "use_case", skip_all, fields(name = "file"))]
pub(super) async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result {
    let who = super::extract::caller(&req)?;
    let (file, bytes) = state.files.read(who, &key).await?;
    let disposition = if file.kind() == AttachmentKind::Image {
        "inline"
    } else {
        "attachment"
    };
    let encoded: String = file
        .name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut response = HttpResponse::Ok()
        .content_type(file.content_type.as_str())
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename*=UTF-8''{encoded}"),
        ))
        .body(bytes);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(response)
}
