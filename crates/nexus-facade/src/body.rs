//! Reading the request body: its content type, its size limit and its time limit.

// `Problem` (~200 bytes) is the error of every step; it is built at most once per request, so
// boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use futures::StreamExt;

use crate::problem::Problem;

pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "The body must be application/json.",
        ))
    }
}

/// Reads at most `limit` bytes of body, all of it within `timeout` (408 otherwise: a body that
/// stalls is the client's problem, not a dependency's).
pub async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Vec<u8>, Problem> {
    match tokio::time::timeout(timeout, read_all(body, limit)).await {
        Ok(result) => result,
        Err(_) => Err(Problem::request_timeout(timeout.as_secs().max(1))),
    }
}

async fn read_all(body: Body, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("The body must be at most {limit} bytes."),
        )
    };
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Problem::invalid_field("$", "the body could not be read"))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    /// Finding 9: a body that stalls is answered 408 (the caller's problem, not a dependency's).
    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_408() {
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>(Bytes::from_static(br#"{"name": "#))
        });
        let body = Body::from_stream(first.chain(futures::stream::pending()));
        let problem = read_body(body, 1024, Duration::from_secs(10))
            .await
            .expect_err("stalled");
        assert_eq!(problem.status, 408);
        assert!(
            problem
                .headers
                .iter()
                .any(|(name, value)| name == header::CONNECTION && value == "close")
        );
        let complete = read_body(Body::from("{}"), 1024, Duration::from_secs(10)).await;
        assert_eq!(complete.expect("complete body"), b"{}");
    }
}
