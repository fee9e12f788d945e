//! CrossChat's shared-memory segment: the only channel between the `ingest` processes (writers)
//! and the `gateway` (the single reader).
//!
//! One POSIX shared-memory object (default `/crosschat`, mode 0600) holds a 4 KiB header page and a
//! ring of 256 slots of 4096 bytes. The byte map is in [`layout`]; in short:
//!
//! ```text
//! 0x0000 header    magic b"XCHATSHM" · version · slot_count · slot_size · creator_pid ·
//!                  created_ms · segment_size · pid_ns
//! 0x0040 head      u64 sequence, own cache line      0x0080 tail   u64 sequence, own cache line
//! 0x00C0 lock      owner pid (u32) · waiters          0x0100 wakeups doorbell · space · …
//! 0x0140 counters  enqueued · dequeued · rejected_full · rejected_too_large · lock_timeouts ·
//!                  lock_takeovers · max_depth
//! 0x1000 slots     256 × (u32 LE length + ≤ 4092 bytes of JSON)           total 1,052,672 bytes
//! ```
//!
//! Modules:
//! - [`layout`]: the `#[repr(C)]` regions and their compile-time offset assertions;
//! - [`segment`]: race-free open-or-create, validation (magic, version, geometry, size), remove;
//! - [`lock`]: the lock word — futex-based, with takeover from a dead owner;
//! - [`ring`]: enqueue (try / wait for space), the single [`Reader`] (peek, commit, doorbell);
//! - [`platform`]: the one list of chat platforms;
//! - [`links`]: what a streamer pastes to link a channel, normalised per platform;
//! - [`message`]: the normalised [`ChatMessage`] (model v2) and its ids;
//! - [`protocol`]: the gateway ↔ ingest control lines (links down, channel states up);
//! - [`event`]: what a slot carries: a message or a moderation event ([`SlotEvent`]);
//! - [`snapshot`]: the operator view printed by `crosschat-shm inspect`;
//! - [`error`]: typed errors whose messages say what to do;
//! - `fuzzing` (hidden): the property checks the fuzz targets and their corpus replay share;
//! - `sys`: futex, pid liveness and clock helpers over `rustix`.
//!
//! Crash consistency: every ring state change is one atomic store (a writer's `tail` publish, the
//! reader's `head` commit), so a process killed at any instruction — even holding the lock — leaves
//! a ring the others keep using, and no torn message is ever delivered.

#![warn(missing_docs)]

pub mod error;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod layout;
pub mod links;
pub mod lock;
pub mod message;
pub mod platform;
pub mod protocol;
pub mod ring;
pub mod segment;
pub mod snapshot;
mod sys;

pub use error::{ClaimError, EnqueueError, LockTimeout, OpenError, SlotError};
pub use event::{ClearChat, ClearUser, Delete, SlotEvent, SlotKind};
pub use layout::{LAYOUT_VERSION, MAX_PAYLOAD, SEGMENT_SIZE, SLOT_COUNT, SLOT_SIZE};
pub use message::{
    code_point_slice, platform_message_uuid, retain_valid_emotes, retain_valid_emotes_in, Amount,
    ChatMessage, Emote, Kind, ReplyTo,
};
pub use platform::Platform;
pub use ring::Reader;
pub use segment::{remove, Segment, DEFAULT_NAME};
pub use snapshot::Snapshot;
pub use sys::{current_pid, now_ms, pid_alive};
