//! The service's error answers: a status and a JSON body a person can read.
//!
//! Every refusal of a request is one of these, so that bad input never becomes a 500
//! or a bare text body: `{"error": "...", "lines": [...]}` (the lines only for
//! records that failed their check, `diagnostics` instead for definitions).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::catalog::Diagnostic;

use super::index::AsOfError;

/// A refused request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    lines: Vec<LineError>,
    diagnostics: Vec<CheckError>,
}

/// One error in posted definitions, as `segflow check` reports it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CheckError {
    /// The file: `preview` for the posted text, else a catalog file.
    pub file: String,
    /// 1-based line and column.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// The diagnostic as the checker prints it: the line and carets under the fault.
    pub snippet: String,
}

/// One bad line of a records body.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number within the body.
    pub line: usize,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// A refusal with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            lines: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such segment, user or path.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 400 for a records body with bad lines, listing each one.
    pub fn bad_lines(lines: Vec<LineError>) -> ApiError {
        let count = lines.len();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{count} bad line(s); no record was accepted"),
            lines,
            diagnostics: Vec::new(),
        }
    }

    /// 422 for definitions that do not check, each diagnostic with its place and the
    /// line it is on, as `segflow check` prints them.
    pub fn diagnostics(diagnostics: &[Diagnostic]) -> ApiError {
        let diagnostics = diagnostics
            .iter()
            .map(|d| CheckError {
                file: d.loc.file.to_string(),
                line: d.loc.line,
                column: d.loc.col,
                message: d.message.clone(),
                snippet: d.to_string(),
            })
            .collect();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "the definitions do not check".to_owned(),
            lines: Vec::new(),
            diagnostics,
        }
    }

    /// The status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The bad lines it lists.
    pub fn lines(&self) -> &[LineError] {
        &self.lines
    }
}

impl From<AsOfError> for ApiError {
    fn from(error: AsOfError) -> ApiError {
        let status = match error {
            AsOfError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            AsOfError::NotFinal { .. } => StatusCode::BAD_REQUEST,
            AsOfError::Expired { .. } => StatusCode::GONE,
        };
        let message = match error {
            AsOfError::NotFinal { latest } => format!(
                "as_of is later than the latest final time ({})",
                crate::live::frontier::format_tick(latest)
            ),
            AsOfError::Expired { oldest } => format!(
                "as_of is older than the history this service keeps (--history); the \
                 oldest time that can be read is {}",
                crate::live::frontier::format_tick(oldest)
            ),
            AsOfError::NotReady => error.to_string(),
        };
        ApiError::new(status, message)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "<[LineError]>::is_empty")]
    lines: &'a [LineError],
    #[serde(skip_serializing_if = "<[CheckError]>::is_empty")]
    diagnostics: &'a [CheckError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            lines: &self.lines,
            diagnostics: &self.diagnostics,
        };
        (self.status, Json(body)).into_response()
    }
}
