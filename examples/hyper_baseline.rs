//! A yardstick for `benches/load.sh` (`WORKLOADS=baseline`): hyper's HTTP/1.1 server
//! and client with nothing else. Each client connection gets one upstream connection;
//! each request is forwarded with three fixed headers added. No token, no routing, no
//! timeouts, no limits, no logging: what cognigate costs above this is its own work.
//!
//!   cargo run --release --example hyper_baseline -- 127.0.0.1:8080 127.0.0.1:3000

use std::cell::RefCell;
use std::rc::Rc;

use http::HeaderValue;
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: hyper_baseline LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(&listen).await?;
        loop {
            let (client, _) = listener.accept().await?;
            let upstream = upstream.clone();
            // Errors end the connection quietly: wrk closes its connections mid-request
            // at the end of every run.
            tokio::task::spawn_local(async move {
                let _ = forward(client, &upstream).await;
            });
        }
    })
}

async fn forward(client: TcpStream, upstream: &str) -> Result<(), Box<dyn std::error::Error>> {
    client.set_nodelay(true)?;
    let upstream = TcpStream::connect(upstream).await?;
    upstream.set_nodelay(true)?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(upstream)).await?;
    tokio::task::spawn_local(connection);
    let sender = Rc::new(RefCell::new(sender));
    let service = service_fn(move |mut req: Request<Incoming>| {
        let headers = req.headers_mut();
        headers.insert("x-auth-sub", HeaderValue::from_static("5e1f0000-aaaa-bbbb"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("127.0.0.1"));
        headers.insert(
            "x-request-id",
            HeaderValue::from_static("0a1b2c3d-0000-4000"),
        );
        sender.borrow_mut().send_request(req)
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(client), service)
        .await?;
    Ok(())
}
