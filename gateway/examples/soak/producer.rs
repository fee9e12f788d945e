//! One producer on one ingest's socket for the whole soak: bursts at the ring's limit (a window of
//! unanswered requests far above the ring's 256 slots, so the ring stays full and the pump drains
//! at its best) alternating with light paced traffic, and moderation events mixed in (a `delete`
//! of one of its earlier messages every so many messages, a `clear_user` less often).
//!
//! Messages carry a channel and a platform id, so each has a known id (the UUID v5 the ingest
//! derives) and a delete can name an earlier one; the text is the load drivers' stamp
//! `producer:seq:nanos`. Replies come in order, one per line, so a FIFO of what was written says
//! what each reply answers.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{watch, Semaphore};
use uuid::Uuid;

/// When the producers burst and how they behave.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The start of the run (phases count from it).
    pub start: Instant,
    /// Length of a burst.
    pub burst: Duration,
    /// Length of the light traffic between bursts.
    pub light: Duration,
    /// Messages per second per producer in light traffic.
    pub light_rate: f64,
    /// Unanswered requests a producer keeps in flight in a burst.
    pub window: usize,
    /// A `delete` after every this many messages (0: none).
    pub delete_every: u64,
    /// A `clear_user` after every this many messages (0: none).
    pub clear_user_every: u64,
}

impl Plan {
    /// Whether `at` falls in a burst (each period starts with one).
    pub fn bursting(&self, at: Instant) -> bool {
        let period = (self.burst + self.light).as_secs_f64();
        at.duration_since(self.start).as_secs_f64() % period < self.burst.as_secs_f64()
    }

    /// The number of the burst period `at` falls in.
    pub fn period_index(&self, at: Instant) -> u64 {
        let period = (self.burst + self.light).as_secs_f64();
        (at.duration_since(self.start).as_secs_f64() / period) as u64
    }
}

/// The channel producer `p` writes to (one per producer, so platform ids never collide).
pub fn channel(p: usize) -> String {
    format!("soak{p}")
}

/// The platform id of producer `p`'s message `seq`.
pub fn platform_id(p: usize, seq: u64) -> String {
    format!("{p}-{seq}")
}

/// What one request line was.
#[derive(Debug, Clone)]
enum Line {
    Message(u64),
    /// Deletes the message with this platform id.
    Delete(String),
    /// Clears this user id.
    ClearUser(String),
}

/// What a producer's requests came to.
#[derive(Debug, Default)]
pub struct Acked {
    /// Messages written.
    pub sent: u64,
    /// Acknowledged messages: sequence number and the id the ingest gave, in order.
    pub messages: Vec<(u64, Uuid)>,
    /// Acknowledged deletes: the deleted message's platform id and the event's id.
    pub deletes: Vec<(String, Uuid)>,
    /// Acknowledged clear_user events: the user id and the event's id.
    pub clears: Vec<(String, Uuid)>,
    /// Events written.
    pub events_sent: u64,
    /// Refusals by code (messages and events).
    pub refused: BTreeMap<String, u64>,
    /// Acknowledged message ids that are not the id the ingest should derive (must stay 0).
    pub wrong_ids: u64,
}

/// Counters the driver reads while the producers run.
#[derive(Default)]
pub struct Live {
    /// Acknowledged messages, all producers.
    pub acked: AtomicU64,
    /// Refused requests, all producers.
    pub refused: AtomicU64,
}

/// Producer `p`: runs on `socket` (its platform's ingest) until `stop` turns true, then waits for
/// the replies to everything it wrote.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    p: usize,
    platform: shm_layout::Platform,
    socket: PathBuf,
    streamer: String,
    plan: Plan,
    clock: Instant,
    mut stop: watch::Receiver<bool>,
    live: Arc<Live>,
) -> Acked {
    let stream = UnixStream::connect(&socket)
        .await
        .unwrap_or_else(|e| panic!("producer {p}: {}: {e}", socket.display()));
    let (r, mut w) = stream.into_split();
    let pending: Arc<Mutex<VecDeque<Line>>> = Arc::default();
    let window = Arc::new(Semaphore::new(plan.window));
    let reader = tokio::spawn(read_replies(
        p,
        platform,
        BufReader::new(r),
        pending.clone(),
        window.clone(),
        live,
    ));

    let ch = channel(p);
    let mut seq = 0u64;
    let mut clears = 0u64;
    let mut next_delete = plan.delete_every;
    let mut next_clear = plan.clear_user_every;
    let mut events = 0u64;
    let mut buf = Vec::new();
    // Light traffic: messages due since the light phase began.
    let mut light_from: Option<(Instant, u64)> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    while !*stop.borrow_and_update() {
        let now = Instant::now();
        let want = if plan.bursting(now) {
            light_from = None;
            // As many as the window allows right now (at least one: wait for a reply).
            let first = tokio::select! {
                permit = window.acquire() => permit.expect("the window stays open"),
                _ = stop.changed() => break,
            };
            first.forget();
            let mut n = 1;
            while n < 256 {
                match window.try_acquire() {
                    Ok(permit) => {
                        permit.forget();
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            n
        } else {
            tick.tick().await;
            let (since, base) = *light_from.get_or_insert((now, seq));
            let due = base + (since.elapsed().as_secs_f64() * plan.light_rate) as u64;
            let n = due.saturating_sub(seq) as usize;
            let mut got = 0;
            while got < n {
                match window.try_acquire() {
                    Ok(permit) => {
                        permit.forget();
                        got += 1;
                    }
                    Err(_) => break,
                }
            }
            got
        };
        buf.clear();
        let mut lines = Vec::with_capacity(want);
        for _ in 0..want {
            // Events take a slot of the window like a message: the count of lines in flight is
            // what the window bounds. Each delete names a different earlier message.
            let event = if plan.delete_every > 0 && seq >= next_delete {
                next_delete += plan.delete_every;
                Some(Line::Delete(platform_id(p, seq - plan.delete_every / 2)))
            } else if plan.clear_user_every > 0 && seq >= next_clear {
                next_clear += plan.clear_user_every;
                clears += 1;
                Some(Line::ClearUser(format!("victim-{p}-{clears}")))
            } else {
                None
            };
            let line = match event {
                Some(e) => {
                    events += 1;
                    e
                }
                None => {
                    seq += 1;
                    Line::Message(seq - 1)
                }
            };
            write_line(&mut buf, &line, p, &ch, &streamer, clock);
            lines.push(line);
        }
        if lines.is_empty() {
            continue;
        }
        pending.lock().unwrap().extend(lines);
        if let Err(e) = w.write_all(&buf).await {
            panic!("producer {p}: writing to the ingest failed: {e}");
        }
    }
    w.shutdown().await.ok();
    let mut acked = reader.await.expect("the reply reader");
    acked.sent = seq;
    acked.events_sent = events;
    acked
}

fn write_line(buf: &mut Vec<u8>, line: &Line, p: usize, ch: &str, streamer: &str, clock: Instant) {
    use std::io::Write;
    let _ = match line {
        Line::Message(seq) => {
            let t = clock.elapsed().as_nanos() as u64;
            let pid = platform_id(p, *seq);
            write!(
                buf,
                r#"{{"streamerId":"{streamer}","user":"soak{p}","userId":"u{p}","text":"{p}:{seq}:{t}","channel":"{ch}","platformMessageId":"{pid}"}}"#
            )
        }
        Line::Delete(target) => write!(
            buf,
            r#"{{"type":"delete","streamerId":"{streamer}","channel":"{ch}","platformMessageId":"{target}"}}"#
        ),
        Line::ClearUser(user) => {
            // Half of them timeouts (with an end), half bans.
            let until = if user.ends_with(['0', '2', '4', '6', '8']) {
                format!(r#","until":{}"#, shm_layout::now_ms() + 60_000)
            } else {
                String::new()
            };
            write!(
                buf,
                r#"{{"type":"clear_user","streamerId":"{streamer}","channel":"{ch}","userId":"{user}","user":"{user}"{until}}}"#
            )
        }
    };
    buf.push(b'\n');
}

async fn read_replies(
    p: usize,
    platform: shm_layout::Platform,
    r: BufReader<tokio::net::unix::OwnedReadHalf>,
    pending: Arc<Mutex<VecDeque<Line>>>,
    window: Arc<Semaphore>,
    live: Arc<Live>,
) -> Acked {
    let mut acked = Acked::default();
    let mut lines = r.lines();
    let ch = channel(p);
    while let Ok(Some(reply)) = lines.next_line().await {
        window.add_permits(1);
        let line = pending
            .lock()
            .unwrap()
            .pop_front()
            .expect("a reply answers a line written");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap_or_default();
        let id = v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        match (v["ok"].as_bool(), id) {
            (Some(true), Some(id)) => match line {
                Line::Message(seq) => {
                    let want =
                        shm_layout::platform_message_uuid(platform, &ch, &platform_id(p, seq));
                    if id != want {
                        acked.wrong_ids += 1;
                    }
                    acked.messages.push((seq, id));
                    live.acked.fetch_add(1, Relaxed);
                }
                Line::Delete(target) => acked.deletes.push((target, id)),
                Line::ClearUser(user) => acked.clears.push((user, id)),
            },
            _ => {
                let code = v["code"].as_str().unwrap_or("unreadable reply").to_string();
                *acked.refused.entry(code).or_default() += 1;
                live.refused.fetch_add(1, Relaxed);
            }
        }
    }
    acked
}
