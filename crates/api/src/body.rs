//! Request body limits by kind of request. An ordinary write (one release, one rule, one
//! ticket) is read through `web::Bytes` under the small limit the server sets as its
//! `PayloadConfig`; the few bulk endpoints (the Orlo import, Balrog release blobs and locale
//! uploads) take [`BulkBody`], which applies the large limit. Either way an oversized body is
//! a 413 that the face's scope renders in its own error body, before anything is written.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

/// The two body limits, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Every request but the bulk ones.
    pub write: usize,
    /// Imports, release blobs, locale uploads.
    pub bulk: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            write: 1024 * 1024,
            bulk: 16 * 1024 * 1024,
        }
    }
}

/// The body of a bulk request, read under [`BodyLimits::bulk`].
#[derive(Debug)]
pub struct BulkBody(pub web::Bytes);

impl std::ops::Deref for BulkBody {
    type Target = web::Bytes;

    fn deref(&self) -> &web::Bytes {
        &self.0
    }
}

impl FromRequest for BulkBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<BulkBody, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimits>()
            .copied()
            .unwrap_or_default()
            .bulk;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Box::pin(async { Err(PayloadError::Overflow.into()) });
        }
        let payload = web::Payload::from_request(req, payload).into_inner();
        Box::pin(async move {
            let payload = payload?;
            match payload.to_bytes_limited(limit).await {
                Ok(Ok(bytes)) => Ok(BulkBody(bytes)),
                Ok(Err(err)) => Err(err),
                Err(_) => Err(PayloadError::Overflow.into()),
            }
        })
    }
}
