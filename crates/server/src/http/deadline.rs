//! A deadline for every request's body: a client that sends its body slowly holds a
//! connection no longer than one that sends it at once.
//!
//! The head has its own deadline in the HTTP layer (`client_request_timeout`). The body is
//! read by the handlers' extractors; here it is wrapped in a stream that fails once the
//! deadline has passed, and the request is then answered 408 with the JSON error body, on a
//! connection that is closed after it.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{self, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, ConnectionType};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use actix_web::ResponseError;
use futures_util::Stream;

use super::error::ApiError;
use crate::state::AppState;

/// The body of a request, failing once its deadline has passed.
struct Deadline {
    inner: dev::Payload,
    timer: Pin<Box<tokio::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.get() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => {
                if self.timer.as_mut().poll(cx).is_ready() {
                    self.expired.set(true);
                    let timeout = io::Error::new(io::ErrorKind::TimedOut, "request deadline");
                    Poll::Ready(Some(Err(PayloadError::Io(timeout))))
                } else {
                    Poll::Pending
                }
            }
            ready => ready,
        }
    }
}

/// Middleware: bounds the time the request's body may take; see the module's documentation.
pub async fn deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // An upload is larger than any other body: it has a deadline of its own.
    let upload = req.path().ends_with("/upload/") || req.path().ends_with("/upload");
    let secs = req.app_data::<web::Data<AppState>>().map_or(10, |state| {
        if upload {
            state.settings.files.upload_timeout_secs
        } else {
            state.settings.http.request_timeout_secs
        }
    });
    // A WebSocket's "body" is the socket itself, with deadlines of its own; a request without
    // a body has nothing to wait for.
    let bounded = !req.headers().contains_key(header::UPGRADE)
        && !matches!(req.parts().1, dev::Payload::None);
    if !bounded {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let expired = Rc::new(Cell::new(false));
    let payload = Deadline {
        inner: req.take_payload(),
        timer: Box::pin(tokio::time::sleep(Duration::from_secs(secs))),
        expired: expired.clone(),
    };
    req.set_payload(dev::Payload::Stream {
        payload: Box::pin(payload),
    });
    let res = next.call(req).await?;
    if !expired.get() {
        return Ok(res.map_into_left_body());
    }
    let (req, _) = res.into_parts();
    let mut timeout = ApiError::RequestTimeout(secs).error_response();
    timeout
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(req, timeout).map_into_right_body())
}
