//! A client of an ingest's producer socket (`<runtime-dir>/ingest-<platform>.sock`): JSON request
//! lines in, one JSON reply line per request out.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// A blocking line client of one producer-socket connection.
pub struct SocketClient {
    /// The writing half (clone it to write from another thread, or shut it down).
    pub w: UnixStream,
    /// The reading half, buffered.
    pub r: BufReader<UnixStream>,
}

impl SocketClient {
    /// Connects with a 60 s read timeout (a test that waits longer has failed).
    pub fn connect(path: &Path) -> SocketClient {
        SocketClient::connect_with_timeout(path, Duration::from_secs(60))
    }

    /// Connects; a reply that takes longer than `timeout` fails the read.
    pub fn connect_with_timeout(path: &Path, timeout: Duration) -> SocketClient {
        let w = UnixStream::connect(path).expect("connect to the ingest socket");
        w.set_read_timeout(Some(timeout)).expect("a read timeout");
        let r = BufReader::new(w.try_clone().expect("clone the socket"));
        SocketClient { w, r }
    }

    /// Writes `line` and its newline.
    pub fn send(&mut self, line: &[u8]) {
        self.w.write_all(line).unwrap();
        self.w.write_all(b"\n").unwrap();
    }

    /// The next reply, or None at end of stream.
    pub fn reply(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.r.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                assert!(line.ends_with('\n'), "reply without newline: {line:?}");
                Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            }
            // A stopping ingest closes a connection with unread requests in it, which Linux
            // reports to the peer as a reset once the replies already sent have been read.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Sends one request line and returns its reply.
    pub fn request(&mut self, line: &[u8]) -> Value {
        self.send(line);
        self.reply().expect("a reply")
    }
}

/// Sends one request line (a message, an event or a control line) on a new connection to the
/// ingest socket at `socket` and returns its reply (within 10 s).
pub fn socket_request(socket: &Path, line: &Value) -> Value {
    SocketClient::connect_with_timeout(socket, Duration::from_secs(10))
        .request(line.to_string().as_bytes())
}

/// Writes one message into the ingest socket at `socket` and returns the id it acknowledged
/// (panics on a refusal). Needs no running gateway, so a producer thread can run while a test
/// restarts it.
pub fn produce_to_socket(socket: &Path, streamer_id: &str, user: &str, text: &str) -> String {
    let line = serde_json::json!({
        "streamerId": streamer_id, "user": user, "text": text,
        "isVip": false, "isSub": false, "isMod": false,
    });
    let v = socket_request(socket, &line);
    assert_eq!(v["ok"], true, "ingest refused the message: {v}");
    v["id"].as_str().expect("an id in the reply").to_owned()
}
