//! A thin JSON client over `kube::Client` for the agent: paths in, `serde_json::Value`
//! out, and errors that keep the HTTP code so callers can tell "rejected credentials"
//! (401), "not allowed" (403), "absent" (404) and "conflict" (409) from outages.

use futures::{Stream, StreamExt};
use serde_json::Value;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The server answered with a Status: `code`, `reason`, message.
    #[error("{code} {reason}: {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    /// The server could not be reached or the exchange failed.
    #[error("{0}")]
    Transport(String),
}

impl RestError {
    pub fn code(&self) -> Option<u16> {
        match self {
            RestError::Api { code, .. } => Some(*code),
            RestError::Transport(_) => None,
        }
    }
    pub fn is(&self, code: u16) -> bool {
        self.code() == Some(code)
    }
}

impl From<kube::Error> for RestError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => RestError::Api {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            other => RestError::Transport(other.to_string()),
        }
    }
}

/// JSON requests on one API server.
#[derive(Clone)]
pub struct Rest {
    pub client: kube::Client,
}

fn request(
    method: http::Method,
    path: &str,
    content_type: &str,
    body: Option<&Value>,
) -> Result<http::Request<Vec<u8>>, RestError> {
    let bytes = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| RestError::Transport(e.to_string()))?,
        None => Vec::new(),
    };
    http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::ACCEPT, "application/json")
        .body(bytes)
        .map_err(|e| RestError::Transport(e.to_string()))
}

impl Rest {
    pub fn new(client: kube::Client) -> Rest {
        Rest { client }
    }

    pub async fn get(&self, path: &str) -> Result<Value, RestError> {
        Ok(self
            .client
            .request(request(http::Method::GET, path, "application/json", None)?)
            .await?)
    }

    /// GET that maps 404 to `None`.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>, RestError> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, RestError> {
        Ok(self
            .client
            .request(request(
                http::Method::POST,
                path,
                "application/json",
                Some(body),
            )?)
            .await?)
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, RestError> {
        Ok(self
            .client
            .request(request(
                http::Method::PUT,
                path,
                "application/json",
                Some(body),
            )?)
            .await?)
    }

    pub async fn merge_patch(&self, path: &str, body: &Value) -> Result<Value, RestError> {
        Ok(self
            .client
            .request(request(
                http::Method::PATCH,
                path,
                "application/merge-patch+json",
                Some(body),
            )?)
            .await?)
    }

    pub async fn delete(&self, path: &str) -> Result<(), RestError> {
        match self
            .client
            .request_text(request(
                http::Method::DELETE,
                path,
                "application/json",
                None,
            )?)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match RestError::from(e) {
                e if e.is(404) => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Plain-text GET (health endpoints).
    pub async fn text(&self, path: &str) -> Result<String, RestError> {
        Ok(self
            .client
            .request_text(request(http::Method::GET, path, "application/json", None)?)
            .await?)
    }

    /// A watch (`path` must carry `watch=1` and its selectors): events as `(type, object)`.
    pub async fn watch(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<(String, Value), RestError>> + use<>, RestError> {
        let events = self
            .client
            .request_events::<Value>(request(http::Method::GET, path, "application/json", None)?)
            .await?;
        Ok(events.map(|e| match e {
            Ok(kube::api::WatchEvent::Added(o)) => Ok(("ADDED".to_string(), o)),
            Ok(kube::api::WatchEvent::Modified(o)) => Ok(("MODIFIED".to_string(), o)),
            Ok(kube::api::WatchEvent::Deleted(o)) => Ok(("DELETED".to_string(), o)),
            Ok(kube::api::WatchEvent::Bookmark(_)) => Ok(("BOOKMARK".to_string(), Value::Null)),
            Ok(kube::api::WatchEvent::Error(s)) => Err(RestError::Api {
                code: s.code,
                reason: s.reason,
                message: s.message,
            }),
            Err(e) => Err(RestError::from(e)),
        }))
    }
}

/// Percent-encodes a query value.
pub fn query(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
