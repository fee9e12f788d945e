//! The WebSocket heartbeat on paused time: a client that never answers gets a ping every 30 s and
//! is closed after 90 s of silence.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one server frame (servers never mask): (opcode, payload).
async fn frame(s: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    let mut len = (h[1] & 0x7f) as usize;
    if len == 126 {
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await.unwrap();
        len = u16::from_be_bytes(l) as usize;
    }
    let mut p = vec![0; len];
    s.read_exact(&mut p).await.unwrap();
    (h[0] & 0x0f, p)
}

#[tokio::test(start_paused = true)]
async fn a_silent_socket_is_pinged_then_closed_after_90_s() {
    let (_dir, state) = setup().await;
    let (_, cookie) = register_login(&app(state.clone()), "paula").await;
    let listener = gateway::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gateway::http::server::serve(
        warp::service(gateway::http::routes::routes(state)),
        listener,
        std::future::pending(),
    ));

    // A raw client: it completes the handshake and then never reads a frame's pong duty.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /api/socket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: {cookie}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let opened = tokio::time::Instant::now();

    let (op, _) = frame(&mut s).await;
    assert_eq!(op, 0x9, "a ping first");
    let first_ping = opened.elapsed();
    assert!(
        first_ping >= Duration::from_secs(29) && first_ping <= Duration::from_secs(31),
        "{first_ping:?}"
    );
    let (op, _) = frame(&mut s).await;
    assert_eq!(op, 0x9, "a second ping at 60 s");
    let (op, payload) = frame(&mut s).await;
    assert_eq!(op, 0x8, "then a close");
    let closed = opened.elapsed();
    assert!(
        closed >= Duration::from_secs(89) && closed <= Duration::from_secs(91),
        "{closed:?}"
    );
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1000);
    assert!(String::from_utf8_lossy(&payload[2..]).contains("90 s"));
}
