//! Typed errors. Each `Display` is a sentence an operator can act on.

use rustix::io::Errno;
use thiserror::Error;

use crate::layout::{LAYOUT_VERSION, SEGMENT_SIZE, SLOT_COUNT, SLOT_SIZE};

/// Why a segment could not be opened, created or removed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The name is not a valid POSIX shm name.
    #[error("segment name '{name}' is invalid: it must start with '/' and contain no other '/', e.g. /crosschat")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// No object of that name exists.
    #[error("segment {name} does not exist: start an ingest or the gateway, or run 'crosschat-shm create --shm-name {name}'")]
    NotFound {
        /// The segment name.
        name: String,
    },
    /// The object is not ours to open.
    #[error("permission denied on segment {name}: it is created with mode 0600, so run every CrossChat process as the user that created it")]
    PermissionDenied {
        /// The segment name.
        name: String,
    },
    /// The object exists but its creator never published the magic word.
    #[error("segment {name} exists but was never initialised (its creator may have died while creating it): stop all CrossChat processes and run 'crosschat-shm remove --shm-name {name}'")]
    NotInitialised {
        /// The segment name.
        name: String,
    },
    /// The first 8 bytes are not `XCHATSHM`.
    #[error("segment {name} is not a CrossChat segment (its first bytes are {}): stop all CrossChat processes and run 'crosschat-shm remove --shm-name {name}'", show_bytes(.found))]
    BadMagic {
        /// The segment name.
        name: String,
        /// The bytes found where the magic belongs.
        found: [u8; 8],
    },
    /// Another layout version.
    #[error("segment {name} has layout version {found}, this binary speaks {LAYOUT_VERSION}: stop all CrossChat processes and run 'crosschat-shm remove --shm-name {name}'")]
    VersionMismatch {
        /// The segment name.
        name: String,
        /// The version found.
        found: u32,
    },
    /// Same version, other geometry.
    #[error("segment {name} has {slot_count} slots of {slot_size} bytes, this binary expects {SLOT_COUNT} of {SLOT_SIZE}: stop all CrossChat processes and run 'crosschat-shm remove --shm-name {name}'")]
    GeometryMismatch {
        /// The segment name.
        name: String,
        /// Slot count found.
        slot_count: u32,
        /// Slot size found.
        slot_size: u32,
    },
    /// The object's size is not the layout's size (e.g. truncated).
    #[error("segment {name} is {found} bytes, a CrossChat segment is {SEGMENT_SIZE} (truncated or foreign): stop all CrossChat processes and run 'crosschat-shm remove --shm-name {name}'")]
    WrongSize {
        /// The segment name.
        name: String,
        /// The size found.
        found: usize,
    },
    /// Created in another pid namespace: the pids in its lock word mean nothing here.
    #[error("segment {name} was created in another pid namespace; lock owners could not be checked from here: run every CrossChat process in one pid namespace (share the host's, or the container's)")]
    PidNamespaceMismatch {
        /// The segment name.
        name: String,
    },
    /// Any other system error.
    #[error("could not {op} segment {name}: {source}")]
    Io {
        /// The segment name.
        name: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl OpenError {
    pub(crate) fn from_errno(name: &str, op: &'static str, e: Errno) -> OpenError {
        match e {
            Errno::NOENT => OpenError::NotFound { name: name.into() },
            Errno::ACCESS | Errno::PERM => OpenError::PermissionDenied { name: name.into() },
            Errno::INVAL | Errno::NAMETOOLONG => OpenError::InvalidName { name: name.into() },
            e => OpenError::Io {
                name: name.into(),
                op,
                source: e.into(),
            },
        }
    }

    pub(crate) fn io(name: &str, op: &'static str, source: std::io::Error) -> OpenError {
        OpenError::Io {
            name: name.into(),
            op,
            source,
        }
    }
}

fn show_bytes(b: &[u8; 8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lock word stayed held by a live process for the whole timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the segment's lock word stayed held by live process {owner} for the whole timeout")]
pub struct LockTimeout {
    /// The pid holding the lock when the wait gave up.
    pub owner: u32,
}

/// Why a message was not enqueued. Nothing was written in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EnqueueError {
    /// The payload exceeds a slot.
    #[error("the message is {len} bytes, a slot holds at most {max}", max = crate::layout::MAX_PAYLOAD)]
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// The ring stayed full (256 queued messages): the reader is not draining.
    #[error("the ring is full ({SLOT_COUNT} messages queued): the gateway is not draining it")]
    Full,
    /// The lock word could not be taken.
    #[error(transparent)]
    Lock(#[from] LockTimeout),
}

/// A queued slot whose length prefix is impossible (only a foreign writer can cause it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("slot {seq} has payload length {len}, above the maximum {max}", max = crate::layout::MAX_PAYLOAD)]
pub struct SlotError {
    /// The slot's sequence number.
    pub seq: u64,
    /// The length prefix found.
    pub len: u32,
}

/// Another live process already reads the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("another process (pid {pid}) is already draining this segment; only one gateway may run per segment")]
pub struct ClaimError {
    /// The live reader's pid.
    pub pid: u32,
}
