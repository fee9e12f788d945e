//! Creating, opening, validating and removing the POSIX shared-memory object.
//!
//! Why `rustix::shm` + `memmap2` and not the `shared_memory` crate: that crate (0.12, unmaintained
//! since 2023) unlinks the object when its creator drops it unless told otherwise, cannot tell a
//! half-created object (size 0 between `shm_open` and `ftruncate`) from a broken one, and pulls in an
//! old `nix`. Here `O_CREAT|O_EXCL` decides who initialises, openers wait a bounded time for the
//! size and then for the magic word, and nothing ever unlinks but [`remove`].

use std::fs::File;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::shm;

use crate::error::OpenError;
use crate::layout::{
    offsets, Header, HeaderPage, Slot, LAYOUT_VERSION, MAGIC, SEGMENT_SIZE, SLOTS_OFFSET,
    SLOT_COUNT, SLOT_SIZE,
};
use crate::sys;

/// The default segment name (`--shm-name`, `CROSSCHAT_SHM_NAME`).
pub const DEFAULT_NAME: &str = "/crosschat";

/// How long an opener waits for a concurrent creator to size and initialise the object.
pub const INIT_WAIT: Duration = Duration::from_secs(2);

/// A mapped, validated CrossChat segment.
///
/// `Segment` is `Send + Sync` (asserted below): every field it hands out is an atomic or sits in a
/// slot that the ring protocol gives to one party at a time. Put it in an `Arc` to share it between
/// threads.
#[derive(Debug)]
pub struct Segment {
    name: String,
    map: MmapRaw,
    created: bool,
    /// This process's pid, read once: the lock word stores it on every acquire, and `getpid` is a
    /// syscall. (CrossChat processes never fork after opening a segment.)
    pid: u32,
}

// No `unsafe impl Send/Sync`: the fields already give both (memmap2 declares `MmapRaw` `Send +
// Sync`; the rest are owned plain values). Sharing one `Segment` between threads is sound for the
// same reason sharing the object between processes is: through `&Segment` the mapping is touched
// only by atomics and by slot copies under the ring protocol (see `ring.rs`). This fails to compile
// if a field ever takes `Send` or `Sync` away, instead of silently needing an `unsafe impl`.
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<Segment>();
};

impl Segment {
    /// Opens the segment, creating and initialising it when absent. Used by `ingest` and `gateway`,
    /// so either may start first; when several start at once exactly one creates.
    pub fn open_or_create(name: &str) -> Result<Segment, OpenError> {
        validate_name(name)?;
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        match shm::open(name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => Segment::initialise(name, File::from(fd)),
            Err(Errno::EXIST) => Segment::open_existing(name),
            Err(e) => Err(OpenError::from_errno(name, "create", e)),
        }
    }

    /// Opens an existing segment without creating it (operator tools).
    pub fn open_existing(name: &str) -> Result<Segment, OpenError> {
        validate_name(name)?;
        let fd = shm::open(name, shm::OFlags::RDWR, Mode::empty())
            .map_err(|e| OpenError::from_errno(name, "open", e))?;
        let file = File::from(fd);
        let deadline = Instant::now() + INIT_WAIT;

        // The creator sizes the object right after creating it; size 0 means "not yet".
        let size = loop {
            let size = file
                .metadata()
                .map_err(|e| OpenError::io(name, "stat", e))?
                .len();
            if size != 0 {
                break size as usize;
            }
            if Instant::now() >= deadline {
                return Err(OpenError::NotInitialised { name: name.into() });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if size < HEADER_LEN {
            return Err(OpenError::WrongSize {
                name: name.into(),
                found: size,
            });
        }
        let map = MmapOptions::new()
            .len(size)
            .map_raw(&file)
            .map_err(|e| OpenError::io(name, "map", e))?;
        let seg = Segment {
            name: name.into(),
            map,
            created: false,
            pid: sys::current_pid(),
        };
        seg.wait_for_magic(deadline)?;
        seg.validate(size)?;
        Ok(seg)
    }

    /// The creator's path: size, fill in the header, publish the magic last.
    fn initialise(name: &str, file: File) -> Result<Segment, OpenError> {
        let fail = |e: OpenError| {
            // Leave nothing half-made behind for the next starter to trip on.
            let _ = shm::unlink(name);
            e
        };
        file.set_len(SEGMENT_SIZE as u64)
            .map_err(|e| fail(OpenError::io(name, "size", e)))?;
        let map = MmapOptions::new()
            .len(SEGMENT_SIZE)
            .map_raw(&file)
            .map_err(|e| fail(OpenError::io(name, "map", e)))?;
        let seg = Segment {
            name: name.into(),
            map,
            created: true,
            pid: sys::current_pid(),
        };
        let page = seg.page_ptr();
        // SAFETY: `page` points at the start of a fresh SEGMENT_SIZE mapping (page-aligned, so
        // aligned for HeaderPage). Nobody else reads these plain fields until the magic below is
        // published, because openers spin on the magic word alone.
        unsafe {
            let h = &raw mut (*page).header;
            (*h).slot_count = SLOT_COUNT;
            (*h).slot_size = SLOT_SIZE;
            (*h).creator_pid = seg.pid;
            (*h).created_ms = sys::now_ms();
            (*h).segment_size = SEGMENT_SIZE as u64;
            (*h).pid_ns = sys::pid_namespace();
        }
        // ftruncate zero-filled head, tail, lock, wake-up words and counters already.
        let header = &seg.page().header;
        header.version.store(LAYOUT_VERSION, Relaxed);
        // Release: an opener that loads MAGIC with Acquire sees the version, the geometry and the
        // zeroed control words above.
        header.magic.store(MAGIC, Release);
        Ok(seg)
    }

    fn wait_for_magic(&self, deadline: Instant) -> Result<(), OpenError> {
        loop {
            // Acquire: pairs with the creator's Release store of MAGIC (see `initialise`).
            let magic = self.page().header.magic.load(Acquire);
            if magic == MAGIC {
                return Ok(());
            }
            if magic != 0 {
                return Err(OpenError::BadMagic {
                    name: self.name.clone(),
                    found: magic.to_le_bytes(),
                });
            }
            if Instant::now() >= deadline {
                return Err(OpenError::NotInitialised {
                    name: self.name.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn validate(&self, mapped: usize) -> Result<(), OpenError> {
        check_header(
            &self.name,
            &self.header_bytes(),
            mapped,
            sys::pid_namespace(),
        )
    }

    /// A copy of the header's bytes as the creator left them.
    fn header_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        // SAFETY: the mapping is at least HEADER_LEN bytes (`open_existing` refuses a smaller
        // object before mapping it) and `out` is a distinct local array of that length. The
        // header is written only by the creator before it publishes the magic, which this opener
        // has loaded with Acquire (`wait_for_magic`), so the bytes are settled; any byte value is
        // a valid u8.
        unsafe { std::ptr::copy_nonoverlapping(self.map.as_ptr(), out.as_mut_ptr(), HEADER_LEN) };
        out
    }

    /// The segment's name (e.g. `/crosschat`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This process's pid as the lock word records it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this handle created (and initialised) the object.
    pub fn created(&self) -> bool {
        self.created
    }

    fn page_ptr(&self) -> *mut HeaderPage {
        self.map.as_mut_ptr().cast::<HeaderPage>()
    }

    /// The header page: identity, control words, lock, wake-up words, counters.
    pub fn page(&self) -> &HeaderPage {
        // SAFETY: the mapping is at least a header's size (checked before any Segment is built) and
        // page-aligned. Fields read through this reference before validation are atomics (magic,
        // version); after validation the mapping is SEGMENT_SIZE bytes, so the whole page is in it.
        // Plain fields are written only by the creator before it publishes the magic.
        unsafe { &*self.page_ptr() }
    }

    /// Raw pointer to slot `index` (0..SLOT_COUNT).
    pub(crate) fn slot_ptr(&self, index: usize) -> *mut Slot {
        debug_assert!(index < SLOT_COUNT as usize);
        // SAFETY: validation guaranteed a SEGMENT_SIZE mapping, so SLOTS_OFFSET + index * SLOT_SIZE
        // + SLOT_SIZE <= SEGMENT_SIZE for every index < SLOT_COUNT.
        unsafe {
            self.map
                .as_mut_ptr()
                .add(SLOTS_OFFSET + index * SLOT_SIZE as usize)
                .cast()
        }
    }
}

/// Bytes of the header [`check_header`] reads: magic, version, geometry, creator, pid namespace.
pub const HEADER_LEN: usize = std::mem::size_of::<Header>();

/// Validates a segment header the way [`Segment::open_existing`] does, over plain bytes (so it is
/// tested and fuzzed without a mapping): `header` is the start of the object (at least
/// [`HEADER_LEN`] bytes, native byte order as mapped), `mapped` the object's size, `our_pid_ns`
/// this process's pid namespace (0 when unknown). Checks, in order: the magic word (0: never
/// initialised), the layout version, the size against the header page, the geometry, the size
/// against the layout, the pid namespace.
pub fn check_header(
    name: &str,
    header: &[u8],
    mapped: usize,
    our_pid_ns: u64,
) -> Result<(), OpenError> {
    let Some(h) = header.get(..HEADER_LEN) else {
        return Err(OpenError::WrongSize {
            name: name.into(),
            found: header.len(),
        });
    };
    let u32_at = |at: usize| u32::from_ne_bytes(h[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_ne_bytes(h[at..at + 8].try_into().expect("8 bytes"));
    let magic = u64_at(offsets::MAGIC);
    if magic == 0 {
        return Err(OpenError::NotInitialised { name: name.into() });
    }
    if magic != MAGIC {
        return Err(OpenError::BadMagic {
            name: name.into(),
            found: magic.to_le_bytes(),
        });
    }
    let version = u32_at(offsets::VERSION);
    if version != LAYOUT_VERSION {
        return Err(OpenError::VersionMismatch {
            name: name.into(),
            found: version,
        });
    }
    if mapped < std::mem::size_of::<HeaderPage>() {
        return Err(OpenError::WrongSize {
            name: name.into(),
            found: mapped,
        });
    }
    let (slot_count, slot_size) = (u32_at(offsets::SLOT_COUNT), u32_at(offsets::SLOT_SIZE));
    if slot_count != SLOT_COUNT
        || slot_size != SLOT_SIZE
        || u64_at(offsets::SEGMENT_SIZE) != SEGMENT_SIZE as u64
    {
        return Err(OpenError::GeometryMismatch {
            name: name.into(),
            slot_count,
            slot_size,
        });
    }
    if mapped != SEGMENT_SIZE {
        return Err(OpenError::WrongSize {
            name: name.into(),
            found: mapped,
        });
    }
    let theirs = u64_at(offsets::PID_NS);
    if theirs != 0 && our_pid_ns != 0 && theirs != our_pid_ns {
        return Err(OpenError::PidNamespaceMismatch { name: name.into() });
    }
    Ok(())
}

/// Unlinks the segment. Processes that still map it keep their mapping; new openers create afresh.
pub fn remove(name: &str) -> Result<(), OpenError> {
    validate_name(name)?;
    shm::unlink(name).map_err(|e| OpenError::from_errno(name, "remove", e))
}

/// Checks a POSIX shm name: a leading `/`, no other `/`, 2–255 bytes.
pub fn validate_name(name: &str) -> Result<(), OpenError> {
    let ok = name.len() >= 2
        && name.len() <= 255
        && name.starts_with('/')
        && !name[1..].contains('/')
        && !name.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(OpenError::InvalidName { name: name.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as `initialise` writes it (native byte order), in namespace `ns`.
    fn header(ns: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        let mut put = |at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
        put(offsets::MAGIC, &MAGIC.to_ne_bytes());
        put(offsets::VERSION, &LAYOUT_VERSION.to_ne_bytes());
        put(offsets::SLOT_COUNT, &SLOT_COUNT.to_ne_bytes());
        put(offsets::SLOT_SIZE, &SLOT_SIZE.to_ne_bytes());
        put(offsets::SEGMENT_SIZE, &(SEGMENT_SIZE as u64).to_ne_bytes());
        put(offsets::PID_NS, &ns.to_ne_bytes());
        h
    }

    #[test]
    fn check_header_accepts_our_layout_and_names_the_first_broken_rule() {
        assert!(check_header("/t", &header(7), SEGMENT_SIZE, 7).is_ok());
        assert!(
            check_header("/t", &header(0), SEGMENT_SIZE, 7).is_ok(),
            "unknown namespace"
        );
        let err = |h: &[u8], mapped, ns| check_header("/t", h, mapped, ns).unwrap_err();
        assert!(matches!(
            err(&header(7)[..HEADER_LEN - 1], SEGMENT_SIZE, 7),
            OpenError::WrongSize { found: 63, .. }
        ));
        assert!(matches!(
            err(&[0; HEADER_LEN], SEGMENT_SIZE, 7),
            OpenError::NotInitialised { .. }
        ));
        let mut h = header(7);
        h[..8].copy_from_slice(b"NOTOURS!");
        assert!(matches!(
            err(&h, SEGMENT_SIZE, 7),
            OpenError::BadMagic { found, .. } if &found == b"NOTOURS!"
        ));
        let mut h = header(7);
        h[offsets::VERSION..][..4].copy_from_slice(&2u32.to_ne_bytes());
        assert!(matches!(
            err(&h, 1, 7),
            OpenError::VersionMismatch { found: 2, .. }
        ));
        assert!(matches!(
            err(&header(7), 4095, 7),
            OpenError::WrongSize { found: 4095, .. }
        ));
        let mut h = header(7);
        h[offsets::SLOT_COUNT..][..4].copy_from_slice(&128u32.to_ne_bytes());
        assert!(matches!(
            err(&h, SEGMENT_SIZE, 7),
            OpenError::GeometryMismatch {
                slot_count: 128,
                ..
            }
        ));
        assert!(matches!(
            err(&header(7), SEGMENT_SIZE + 1, 7),
            OpenError::WrongSize { .. }
        ));
        assert!(matches!(
            err(&header(7), SEGMENT_SIZE, 8),
            OpenError::PidNamespaceMismatch { .. }
        ));
    }
}
