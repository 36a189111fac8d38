//! The crate's error type ([`Error`]: starting and running the server) and the JSON error
//! responses of the routes ([`ApiError`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that stops the server from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model could not be opened.
    #[error("cannot open model '{path}': {source}")]
    Model {
        /// The model's path.
        path: String,
        /// Why.
        source: ggufembed::Error,
    },
    /// A flag is out of range or does not suit the model.
    #[error("invalid {name}: {reason}")]
    Config {
        /// The flag, e.g. `--host`.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// Binding, accepting or serving failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A request's failure: its HTTP status and `{"error": {"message", "type"}}` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The human-readable reason, naming the field or limit at fault.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the body is not JSON.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 422: JSON of the wrong shape, types or values.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 413: a limit of the server exceeded.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// 500: the model failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The `type` of the body, after OpenAI's and TEI's names.
    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::TOO_MANY_REQUESTS => "overloaded",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "message": self.message, "type": self.kind() }
        });
        (self.status, axum::Json(body)).into_response()
    }
}
