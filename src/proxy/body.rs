//! Body types: request bodies stream to the upstream with identity names removed from
//! their trailers; responses are either the upstream's stream or a short local body.

use super::pool::UpstreamBody;
use crate::identity::IdentityHeaders;
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// What the proxy answers with: the upstream's body, streamed, or a local one.
pub type ResponseBody = Either<UpstreamBody, Full<Bytes>>;

/// A client's request body on its way upstream. HTTP trailers are headers too
/// (RFC 9110 §6.5): a spoofed `X-Auth-Sub` trailer is removed like a header would be.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    identity: Arc<IdentityHeaders>,
}

impl RequestBody {
    /// Wraps a client body, filtering its trailers through `identity`.
    pub fn new(inner: Incoming, identity: Arc<IdentityHeaders>) -> Self {
        RequestBody { inner, identity }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(frame.map(|result| {
            result.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    self.identity.strip(&mut trailers);
                    Frame::trailers(trailers)
                }
                Err(data) => data,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A local response body.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Either::Right(Full::new(bytes.into()))
}
