//! One producer stream (a socket connection, or stdin/stdout): newline-delimited requests in,
//! exactly one reply line per request out, in order, with pipelining.
//!
//! Two halves run concurrently in the connection's task:
//! - the **read half** reads whatever the peer has sent (16 KiB at a time, more for long lines), cuts it into
//!   lines, normalises each one on the spot (cheap, CPU only), appends the accepted ones to a
//!   [`Batch`] and submits it to the ring writer, then queues the batch's bookkeeping for the
//!   reply half. A line over [`MAX_LINE`] is discarded as it streams by (never buffered whole)
//!   and answered `too_large`; the connection goes on.
//! - the **reply half** takes those entries in order, waits for each batch's outcomes, writes the
//!   replies into a buffer and flushes it whenever no further entry is ready — so a pipelining
//!   client gets replies in large writes, and a one-at-a-time client gets each at once.
//!
//! The queue between the halves is bounded ([`PIPELINE_DEPTH`] batches): a client that does not
//! read its replies stops being read from, so memory stays bounded.

use std::time::Instant;

use rand::RngExt;
use shm_layout::Platform;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::normalize::{self, Code, Refusal, MAX_LINE};
use crate::reply;
use crate::request::{self, Request};
use crate::stats::{Stats, Tally};
use crate::writer::{Batch, Outcome, WriterHandle};

/// Largest read buffer: room for one whole maximal line plus the next read.
const READ_BUF_MAX: usize = 2 * MAX_LINE;
/// Starting read buffer: enough for dozens of ordinary requests per read. It grows (up to
/// [`READ_BUF_MAX`]) only for a peer that sends long lines, so a short-lived connection — the
/// gateway opens one per request — costs little memory.
const READ_BUF_START: usize = 16 * 1024;
/// Grow the read buffer when less than this is free after the partial line.
const READ_MIN_FREE: usize = 4 * 1024;
/// A read that fills the whole free space means a pipelining peer with more queued: grow to
/// this, so that each batch (one per read) carries a few hundred requests.
const READ_BUF_BUSY: usize = 64 * 1024;
/// Batches in flight per connection between reading and replying.
pub const PIPELINE_DEPTH: usize = 4;

/// What a connection needs from the process.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// The process's platform, stamped on every message.
    pub platform: Platform,
    /// The ring writer.
    pub writer: WriterHandle,
    /// Process-wide counters.
    pub stats: std::sync::Arc<Stats>,
    /// `--full-wait-ms`, for the `queue_full` sentence.
    pub full_wait_ms: u64,
    /// Linked channels and their states (the gateway's control lines).
    pub control: std::sync::Arc<crate::control::ControlPlane>,
}

enum Item {
    Refused(Refusal),
    Queued(Uuid),
    /// A control line's reply, given at once.
    Reply(Vec<u8>),
}

struct Pending {
    items: Vec<Item>,
    outcomes: Option<oneshot::Receiver<Batch>>,
}

/// Serves one stream until the peer closes it (or stops reading replies), or until shutdown is
/// signalled — then every request already read is still answered. Returns the replies given.
pub async fn serve<R, W>(
    reader: R,
    writer: W,
    ctx: &ConnCtx,
    mut shutdown: watch::Receiver<bool>,
) -> Tally
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(PIPELINE_DEPTH);
    let read_half = read_requests(reader, ctx, tx, &mut shutdown);
    let reply_half = write_replies(rx, writer, ctx);
    let ((), tally) = tokio::join!(read_half, reply_half);
    tally
}

/// Lines of one read, normalised, plus the batch of accepted payloads.
struct Builder<'a> {
    ctx: &'a ConnCtx,
    items: Vec<Item>,
    batch: Batch,
}

impl<'a> Builder<'a> {
    fn new(ctx: &'a ConnCtx) -> Self {
        Builder {
            ctx,
            items: Vec::new(),
            batch: Batch::default(),
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.len() > MAX_LINE {
            return self.refuse(Refusal::line_too_long());
        }
        let now = shm_layout::now_ms();
        let item = match request::classify(line, self.ctx.platform, now) {
            Err(r) => Item::Refused(r),
            Ok(Request::Control(c)) => Item::Reply(self.ctx.control.handle(c)),
            Ok(Request::Event(ev)) => {
                // Every field of an event is bounded (ids ≤ 128, channel ≤ 100, user ≤ 64
                // characters), so it always fits a slot; the writer still refuses one that does
                // not (`too_large`).
                ev.write_json(&mut self.batch.bytes);
                self.batch.push_end();
                Item::Queued(ev.id())
            }
            Ok(Request::Message) => {
                let id = uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid();
                normalize::normalise(line, self.ctx.platform, id, now)
                    .and_then(|msg| normalize::encode(&msg, &mut self.batch.bytes).map(|()| msg.id))
                    .map(|id| {
                        self.batch.push_end();
                        Item::Queued(id)
                    })
                    .unwrap_or_else(Item::Refused)
            }
        };
        self.items.push(item);
    }

    fn refuse(&mut self, r: Refusal) {
        self.items.push(Item::Refused(r));
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    async fn submit(&mut self, tx: &mpsc::Sender<Pending>) -> Result<(), ()> {
        let items = std::mem::take(&mut self.items);
        let batch = std::mem::take(&mut self.batch);
        let outcomes = if batch.is_empty() {
            None
        } else {
            Some(self.ctx.writer.submit(batch).await)
        };
        tx.send(Pending { items, outcomes }).await.map_err(|_| ())
    }
}

async fn read_requests<R: AsyncRead + Unpin>(
    mut reader: R,
    ctx: &ConnCtx,
    tx: mpsc::Sender<Pending>,
    shutdown: &mut watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; READ_BUF_START];
    let (mut start, mut end) = (0usize, 0usize);
    // True while the rest of an over-long line streams by.
    let mut discarding = false;
    let mut builder = Builder::new(ctx);
    loop {
        if start == end {
            (start, end) = (0, 0);
        } else if start > 0 {
            // Keep the partial line (at most MAX_LINE bytes) at the front.
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        if buf.len() - end < READ_MIN_FREE && buf.len() < READ_BUF_MAX {
            // At READ_BUF_MAX a partial line of at most MAX_LINE bytes leaves MAX_LINE free.
            buf.resize((buf.len() * 2).min(READ_BUF_MAX), 0);
        }
        let read = tokio::select! {
            // Stop first: a peer that always has more to send must not keep us reading.
            biased;
            _ = shutdown.wait_for(|&stop| stop) => break,
            r = reader.read(&mut buf[end..]) => r,
        };
        let eof = match read {
            Ok(0) => true,
            Ok(n) => {
                let filled = end + n == buf.len();
                end += n;
                if filled && buf.len() < READ_BUF_BUSY {
                    buf.resize(READ_BUF_BUSY, 0);
                }
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading a producer stream failed; closing it");
                true
            }
        };
        let read_at = Instant::now();
        while let Some(pos) = buf[start..end].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + pos];
            start += pos + 1;
            if discarding {
                discarding = false;
                builder.refuse(Refusal::line_too_long());
            } else {
                builder.line(line);
            }
        }
        if eof {
            // A last line without its newline is still a request.
            if discarding {
                builder.refuse(Refusal::line_too_long());
            } else if start < end {
                builder.line(&buf[start..end]);
            }
            start = end;
        } else if discarding || end - start > MAX_LINE {
            discarding = true;
            start = end;
        }
        if !builder.is_empty() {
            builder.batch.read_at = Some(read_at);
            if builder.submit(&tx).await.is_err() {
                break; // the reply half stopped: the peer is gone
            }
        }
        if eof {
            break;
        }
    }
}

async fn write_replies<W: AsyncWrite + Unpin>(
    mut rx: mpsc::Receiver<Pending>,
    writer: W,
    ctx: &ConnCtx,
) -> Tally {
    let mut out = BufWriter::with_capacity(16 * 1024, writer);
    let mut total = Tally::default();
    let mut line = Vec::new();
    loop {
        // Replies are flushed exactly when the next step would wait: the peer never waits for
        // a reply we hold, and a pipelining peer gets them in large writes.
        let p = match rx.try_recv() {
            Ok(p) => p,
            Err(mpsc::error::TryRecvError::Empty) => {
                if let Err(e) = out.flush().await {
                    return closed(e, total);
                }
                match rx.recv().await {
                    Some(p) => p,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let batch = match p.outcomes {
            None => None,
            Some(mut done) => match done.try_recv() {
                Ok(b) => Some(b),
                Err(oneshot::error::TryRecvError::Closed) => None,
                Err(oneshot::error::TryRecvError::Empty) => {
                    if let Err(e) = out.flush().await {
                        return closed(e, total);
                    }
                    done.await.ok()
                }
            },
        };
        let mut outcomes = batch.iter().flat_map(|b| b.outcomes.iter().copied());
        let mut tally = Tally::default();
        line.clear();
        for item in p.items {
            let refusal = match item {
                Item::Refused(r) => Some(r),
                Item::Reply(bytes) => {
                    line.extend_from_slice(&bytes);
                    None
                }
                // No outcome means the writer thread is gone.
                Item::Queued(id) => match outcomes.next().unwrap_or(Outcome::Unavailable) {
                    Outcome::Enqueued => {
                        reply::write_ok(&mut line, id);
                        tally.accepted += 1;
                        None
                    }
                    o => Some(outcome_refusal(o, ctx.full_wait_ms)),
                },
            };
            if let Some(r) = refusal {
                tracing::debug!(code = %r.code, error = %r.message, "refused a request");
                tally.refused[r.code.index()] += 1;
                reply::write_refusal(&mut line, &r);
            }
        }
        ctx.stats.record(&tally);
        total.add(&tally);
        if let Err(e) = out.write_all(&line).await {
            return closed(e, total);
        }
    }
    if out.flush().await.is_ok() {
        let _ = out.shutdown().await;
    }
    total
}

fn closed(e: std::io::Error, total: Tally) -> Tally {
    tracing::debug!(error = %e, "writing replies failed; closing the stream");
    total
}

fn outcome_refusal(o: Outcome, full_wait_ms: u64) -> Refusal {
    match o {
        Outcome::Full => Refusal {
            code: Code::QueueFull,
            message: format!(
                "the ring stayed full for {full_wait_ms} ms (the gateway is not draining it): the message was not queued, retry later"
            ),
        },
        Outcome::TooLarge => Refusal {
            code: Code::TooLarge,
            message: format!(
                "the normalised message does not fit a ring slot ({} bytes at most): shorten \"text\"",
                shm_layout::MAX_PAYLOAD
            ),
        },
        Outcome::Unavailable | Outcome::Enqueued => Refusal {
            code: Code::Unavailable,
            message: "the segment's lock stayed held by another process through 5 attempts of 1500 ms: the message was not queued, retry later".into(),
        },
    }
}
