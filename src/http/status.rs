//! `Status` errors as HTTP responses: the JSON body, the status code, and `Retry-After`
//! when the details ask for it. The type itself lives in `api::status`.

use axum::response::{IntoResponse, Response};

use crate::api::status::Status;

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        if self.reason == crate::api::status::PAGE_NOT_FOUND {
            return (
                self.status_code(),
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                "404 page not found\n",
            )
                .into_response();
        }
        let retry = self
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0);
        let mut response = (self.status_code(), axum::Json(self)).into_response();
        if let Some(seconds) = retry {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
