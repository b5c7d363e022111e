//! A durable, append-only file log: the storage under the group coordinator's
//! `__consumer_offsets` replay.
//!
//! The coordinator encodes each Kafka record into an opaque payload, appends it here, and on
//! start-up replays every recovered payload in order. The log's one job is to hand back exactly
//! the payloads that were made durable, in order, never a partial or mis-read one, and to refuse
//! loudly rather than quietly drop data it cannot account for.
//!
//! # On-disk format
//!
//! All integers are little-endian.
//!
//! ```text
//! file   := header frame*
//! header := "KGLOG" 0x00 version:u16          (8 bytes; version = 1)
//! frame  := length:u32 crc:u32 payload        (8-byte frame header, then `length` bytes)
//! crc    := crc32c(length as 4 LE bytes ++ payload)
//! ```
//!
//! `length` is at most [`MAX_PAYLOAD_LEN`] (64 MiB); a larger value is never written, so reading
//! one means corruption. The checksum covers the length field as well as the payload: were it the
//! payload's alone, a run of zero bytes (what some filesystems leave in a file's tail after a
//! crash) would read back as a sequence of valid empty frames, because the CRC-32C of the empty
//! string is zero.
//!
//! # Recovery
//!
//! [`Log::open`] reads every frame and classifies the first bad one:
//!
//! - **Torn tail**: the bytes a crash can leave behind an interrupted append. That is a final
//!   frame whose header or payload runs past the end of the file, a final frame whose CRC does not
//!   match and that ends exactly at the end of the file, or a frame whose CRC does not match and
//!   that is followed only by zero bytes (a zero-filled tail; no valid frame is all zeros). The
//!   file is truncated to the end of the last good frame and fsynced, and the cut is reported in
//!   [`Recovered::truncated`]. Nothing acknowledged is lost: an append is acknowledged only once
//!   it is durable, and a durable frame is complete and intact.
//! - **Corruption**: a CRC mismatch, or a length above the maximum, in a frame that is followed by
//!   more (not all-zero) bytes. Bit rot or a foreign write in the middle of the log cannot be told
//!   apart from the loss of acknowledged records, so [`Log::open`] returns
//!   [`LogError::Corrupt`] and leaves the file untouched for a human to decide.
//!
//! A file shorter than the header whose bytes are a prefix of it (an empty file, say) holds no
//! entries and gets a fresh header; any other bad header is [`LogError::BadHeader`].
//!
//! One ambiguity is inherent in a length-prefixed format: if a bit flip in a non-final frame's
//! length field makes the frame appear to run past the end of the file, it is indistinguishable
//! from a torn tail and is truncated as one.
//!
//! # Durability
//!
//! See [`FsyncPolicy`] for what each policy makes durable when. Regardless of policy, creating a
//! log and truncating a torn tail are fsynced, since they change the file's structure. A new log
//! is written to a sibling staging file `<name>.creating`, fsynced, renamed into place and its
//! directory fsynced, so a crash during creation leaves either no log or a complete header.
//!
//! The log assumes a single writer: two [`Log`]s open on the same file corrupt it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Length in bytes of the file header (magic, a zero byte and the format version).
pub const HEADER_LEN: u64 = 8;

/// Length in bytes of each frame's header (payload length and CRC).
pub const FRAME_HEADER_LEN: u64 = 8;

/// The largest payload the log accepts, and so the largest length a sound frame declares.
///
/// Far above any `__consumer_offsets` record, yet small enough that a corrupt length field is
/// recognised as such instead of provoking a huge allocation.
pub const MAX_PAYLOAD_LEN: u32 = 64 * 1024 * 1024;

/// The format version this build reads and writes.
const FORMAT_VERSION: u16 = 1;

/// The complete file header: magic `KGLOG`, a zero byte, and the format version.
const HEADER: [u8; 8] = {
    let version = FORMAT_VERSION.to_le_bytes();
    [b'K', b'G', b'L', b'O', b'G', 0, version[0], version[1]]
};

/// Once [`FsyncPolicy::Batch`] or [`FsyncPolicy::Never`] has buffered this many bytes, they are
/// handed to the OS (without an fsync) so that a caller who rarely syncs does not grow the buffer
/// without bound.
const WRITE_BUFFER_LIMIT: usize = 1 << 20;

/// When and how appends are made durable.
///
/// "Durable" means the entry survives a crash of the process or of the machine: it has been
/// written to the file and the file has been fsynced (`fdatasync`, via [`File::sync_data`], which
/// also persists the file length). An entry that is not yet durable may or may not survive a
/// crash; if it does not, recovery cuts it off as a torn tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every [`Log::append`] writes its frame and fsyncs before it returns, so an entry is
    /// durable as soon as `append` returns `Ok`. Simplest to use correctly; one fsync per entry.
    Always,
    /// Group commit: [`Log::append`] only buffers the frame (handing it to the OS once the buffer
    /// is large, still without an fsync), and [`Log::sync`] writes out the buffer and fsyncs.
    /// An entry is durable only once a later `sync` has returned `Ok`, so the caller must call
    /// `sync` before acknowledging anything appended since the previous one. Entries still
    /// buffered when the `Log` is dropped are discarded, as a crash would discard them.
    Batch,
    /// Like [`FsyncPolicy::Batch`], but [`Log::sync`] only writes out the buffer and never
    /// fsyncs: nothing is ever durable against a machine crash. For benchmarks and tests only;
    /// never acknowledge anything written under this policy.
    Never,
}

/// What [`Log::open`] found in an existing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Every intact payload, in append order; entry `i` is the one `append` returned `i` for.
    pub entries: Vec<Vec<u8>>,
    /// The torn tail that was cut off, if there was one.
    pub truncated: Option<Truncation>,
}

/// A torn tail that [`Log::open`] cut off the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Byte offset of the cut: the end of the last intact frame, and the file's new length.
    pub at: u64,
    /// How many bytes were removed from the end of the file.
    pub dropped_bytes: u64,
    /// Why the tail was judged torn, for the operator's log.
    pub reason: String,
}

/// Everything that can go wrong with the log. Each variant names the log's path.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An IO operation failed.
    #[error("offsets log {}: {action}: {source}", path.display())]
    Io {
        /// The log file.
        path: PathBuf,
        /// What the log was doing, such as "fsync".
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with a header this build understands.
    #[error("offsets log {}: bad header: {reason}", path.display())]
    BadHeader {
        /// The log file.
        path: PathBuf,
        /// What is wrong with the header.
        reason: String,
    },
    /// A frame that is not part of a torn tail is damaged; the file was left untouched.
    #[error(
        "offsets log {}: corrupt frame at byte {offset}: {reason}; refusing to truncate",
        path.display()
    )]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the damaged frame's header.
        offset: u64,
        /// What is wrong with the frame and how much follows it.
        reason: String,
    },
    /// [`Log::append`] was given a payload longer than [`MAX_PAYLOAD_LEN`].
    #[error(
        "offsets log {}: payload of {len} bytes exceeds the maximum of {max} bytes",
        path.display()
    )]
    PayloadTooLarge {
        /// The log file.
        path: PathBuf,
        /// The rejected payload's length.
        len: usize,
        /// [`MAX_PAYLOAD_LEN`].
        max: u32,
    },
    /// An earlier write or fsync failed. After a failed write the file may end in a partial
    /// frame, and after a failed fsync the kernel may have dropped the unsynced pages, so further
    /// appends could land after garbage or be acknowledged without being durable. The log
    /// refuses all further writes; reopening it recovers a consistent prefix.
    #[error(
        "offsets log {}: an earlier write or fsync failed, so the file's tail is unknown; \
         reopen the log to recover",
        path.display()
    )]
    Poisoned {
        /// The log file.
        path: PathBuf,
    },
}

/// An open, append-only log file. See the [module documentation](self) for the format and the
/// recovery rules.
pub struct Log {
    path: PathBuf,
    file: File,
    policy: FsyncPolicy,
    /// Encoded frames not yet handed to the OS.
    pending: Vec<u8>,
    /// Bytes handed to the OS: the file's length, not counting `pending`.
    written: u64,
    /// Whether bytes have been handed to the OS since the last fsync.
    unsynced: bool,
    /// Entries appended, including those still in `pending`.
    entries: u64,
    /// Set when a write or fsync fails; see [`LogError::Poisoned`].
    poisoned: bool,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("path", &self.path)
            .field("policy", &self.policy)
            .field("entries", &self.entries)
            .field("written", &self.written)
            .field("pending_bytes", &self.pending.len())
            .field("unsynced", &self.unsynced)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl Log {
    /// Opens the log at `path`, creating it if it does not exist, and recovers its entries.
    ///
    /// A missing file (or one shorter than the header whose bytes are a prefix of it) becomes a
    /// new, empty log. An existing file has its header checked and every frame read; a torn tail
    /// is truncated and reported, corruption anywhere else is an error (see the
    /// [module documentation](self)). Under [`FsyncPolicy::Always`] and [`FsyncPolicy::Batch`]
    /// the file is fsynced before returning, so every recovered entry is durable even if the
    /// previous writer never synced it and the caller acts on it at once.
    pub fn open(path: &Path, policy: FsyncPolicy) -> Result<(Log, Recovered), LogError> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Self::create(path, policy);
            }
            Err(err) => return Err(io_error(path, "open", err)),
        };
        let file_len = file
            .metadata()
            .map_err(|err| io_error(path, "read metadata", err))?
            .len();

        if file_len < HEADER_LEN {
            let mut present = Vec::new();
            (&file)
                .read_to_end(&mut present)
                .map_err(|err| io_error(path, "read header", err))?;
            if !HEADER.starts_with(&present) {
                return Err(LogError::BadHeader {
                    path: path.to_path_buf(),
                    reason: format!(
                        "the file is {file_len} bytes long, shorter than the {HEADER_LEN}-byte \
                         header, and is not a prefix of it (found {present:02x?})"
                    ),
                });
            }
            // A crash interrupted an in-place header write (this build never writes one in
            // place, but an older or foreign creator might): the file holds no entries.
            drop(file);
            return Self::create(path, policy);
        }

        let mut reader = BufReader::new(&file);
        let mut header = [0u8; HEADER_LEN as usize];
        reader
            .read_exact(&mut header)
            .map_err(|err| io_error(path, "read header", err))?;
        check_header(path, &header)?;
        let scan = scan_frames(path, &mut reader, file_len)?;
        drop(reader);

        let mut file = file;
        if let Some(truncation) = &scan.truncation {
            file.set_len(truncation.at)
                .map_err(|err| io_error(path, "truncate torn tail", err))?;
            file.sync_all()
                .map_err(|err| io_error(path, "fsync after truncating torn tail", err))?;
        } else if policy != FsyncPolicy::Never {
            file.sync_data()
                .map_err(|err| io_error(path, "fsync recovered entries", err))?;
        }
        file.seek(SeekFrom::Start(scan.end))
            .map_err(|err| io_error(path, "seek to end", err))?;

        let log = Log {
            path: path.to_path_buf(),
            file,
            policy,
            pending: Vec::new(),
            written: scan.end,
            unsynced: false,
            entries: scan.entries.len() as u64,
            poisoned: false,
        };
        let recovered = Recovered {
            entries: scan.entries,
            truncated: scan.truncation,
        };
        Ok((log, recovered))
    }

    /// Creates a new, empty log at `path`, replacing whatever is there.
    ///
    /// The header goes to a staging file that is fsynced and then renamed over `path`, and the
    /// directory is fsynced, so a crash at any point leaves either the old state or a complete,
    /// durable header, never a partial one.
    fn create(path: &Path, policy: FsyncPolicy) -> Result<(Log, Recovered), LogError> {
        let staging = staging_path(path).map_err(|err| io_error(path, "create", err))?;
        {
            let mut staged =
                File::create(&staging).map_err(|err| io_error(path, "create staging file", err))?;
            staged
                .write_all(&HEADER)
                .map_err(|err| io_error(path, "write header", err))?;
            staged
                .sync_all()
                .map_err(|err| io_error(path, "fsync new file", err))?;
        }
        fs::rename(&staging, path)
            .map_err(|err| io_error(path, "rename staging file into place", err))?;
        sync_parent_dir(path).map_err(|err| io_error(path, "fsync parent directory", err))?;

        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|err| io_error(path, "open", err))?;
        file.seek(SeekFrom::Start(HEADER_LEN))
            .map_err(|err| io_error(path, "seek to end", err))?;

        let log = Log {
            path: path.to_path_buf(),
            file,
            policy,
            pending: Vec::new(),
            written: HEADER_LEN,
            unsynced: false,
            entries: 0,
            poisoned: false,
        };
        let recovered = Recovered {
            entries: Vec::new(),
            truncated: None,
        };
        Ok((log, recovered))
    }

    /// Appends `payload` as the next entry and returns its index (the number of entries before
    /// it). When the entry is durable depends on the [`FsyncPolicy`]: at once under `Always`,
    /// after the next successful [`Log::sync`] under `Batch`, never under `Never`.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, LogError> {
        self.check_usable()?;
        let len = match u32::try_from(payload.len()) {
            Ok(len) if len <= MAX_PAYLOAD_LEN => len,
            _ => {
                return Err(LogError::PayloadTooLarge {
                    path: self.path.clone(),
                    len: payload.len(),
                    max: MAX_PAYLOAD_LEN,
                })
            }
        };
        let len_bytes = len.to_le_bytes();
        self.pending.extend_from_slice(&len_bytes);
        self.pending
            .extend_from_slice(&frame_crc(len_bytes, payload).to_le_bytes());
        self.pending.extend_from_slice(payload);

        match self.policy {
            FsyncPolicy::Always => {
                self.write_pending()?;
                self.fsync()?;
            }
            FsyncPolicy::Batch | FsyncPolicy::Never => {
                if self.pending.len() >= WRITE_BUFFER_LIMIT {
                    self.write_pending()?;
                }
            }
        }
        let index = self.entries;
        self.entries += 1;
        Ok(index)
    }

    /// Writes out buffered entries and fsyncs them (the fsync is skipped under
    /// [`FsyncPolicy::Never`]). Once it returns `Ok`, every entry appended so far is durable
    /// (except under `Never`) and may be acknowledged. Cheap when there is nothing to sync.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.check_usable()?;
        self.write_pending()?;
        self.fsync()
    }

    /// The number of entries in the log: those recovered plus those appended since, synced or
    /// not.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether the log holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The log's length in bytes, header included, counting frames still buffered in memory:
    /// the length the file will have after the next [`Log::sync`].
    pub fn bytes(&self) -> u64 {
        self.written + self.pending.len() as u64
    }

    /// The path the log was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_usable(&self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Hands the buffered frames to the OS, poisoning the log if that fails part-way.
    fn write_pending(&mut self) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(err) = self.file.write_all(&self.pending) {
            self.poisoned = true;
            return Err(io_error(&self.path, "write", err));
        }
        self.written += self.pending.len() as u64;
        self.unsynced = true;
        self.pending.clear();
        // One huge payload should not pin its buffer for the life of the log.
        if self.pending.capacity() > 2 * WRITE_BUFFER_LIMIT {
            self.pending.shrink_to(WRITE_BUFFER_LIMIT);
        }
        Ok(())
    }

    /// Fsyncs what has been handed to the OS, unless the policy is `Never` or there is nothing
    /// new. Poisons the log on failure: after a failed fsync the kernel may already have dropped
    /// the dirty pages, so retrying could report success for data that is gone.
    fn fsync(&mut self) -> Result<(), LogError> {
        if self.policy == FsyncPolicy::Never || !self.unsynced {
            return Ok(());
        }
        if let Err(err) = self.file.sync_data() {
            self.poisoned = true;
            return Err(io_error(&self.path, "fsync", err));
        }
        self.unsynced = false;
        Ok(())
    }
}

/// The outcome of reading every frame of an existing file.
struct Scan {
    entries: Vec<Vec<u8>>,
    /// End of the last intact frame.
    end: u64,
    truncation: Option<Truncation>,
}

fn check_header(path: &Path, header: &[u8; HEADER_LEN as usize]) -> Result<(), LogError> {
    let bad = |reason: String| LogError::BadHeader {
        path: path.to_path_buf(),
        reason,
    };
    if header[..6] != HEADER[..6] {
        return Err(bad(format!(
            "wrong magic: expected {:02x?} (\"KGLOG\\0\"), found {:02x?}",
            &HEADER[..6],
            &header[..6]
        )));
    }
    let version = u16::from_le_bytes([header[6], header[7]]);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "unsupported format version {version} (this build reads version {FORMAT_VERSION})"
        )));
    }
    Ok(())
}

/// Reads frames from `reader`, positioned just after the header, up to `file_len`, and decides
/// where the intact prefix ends and whether what follows is a torn tail or corruption.
fn scan_frames(path: &Path, reader: &mut impl Read, file_len: u64) -> Result<Scan, LogError> {
    let mut entries = Vec::new();
    let mut offset = HEADER_LEN;
    loop {
        let remaining = file_len - offset;
        if remaining == 0 {
            return Ok(Scan {
                entries,
                end: offset,
                truncation: None,
            });
        }
        let torn = |entries: Vec<Vec<u8>>, reason: String| {
            Ok(Scan {
                entries,
                end: offset,
                truncation: Some(Truncation {
                    at: offset,
                    dropped_bytes: remaining,
                    reason,
                }),
            })
        };
        let corrupt = |reason: String| LogError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason,
        };

        if remaining < FRAME_HEADER_LEN {
            return torn(
                entries,
                format!("incomplete frame header: {remaining} of {FRAME_HEADER_LEN} bytes present"),
            );
        }
        let mut frame_header = [0u8; FRAME_HEADER_LEN as usize];
        reader
            .read_exact(&mut frame_header)
            .map_err(|err| io_error(path, "read frame header", err))?;
        let len_bytes = [
            frame_header[0],
            frame_header[1],
            frame_header[2],
            frame_header[3],
        ];
        let len = u32::from_le_bytes(len_bytes);
        let stored_crc = u32::from_le_bytes([
            frame_header[4],
            frame_header[5],
            frame_header[6],
            frame_header[7],
        ]);
        let after_header = remaining - FRAME_HEADER_LEN;

        if len > MAX_PAYLOAD_LEN {
            let reason =
                format!("length {len} exceeds the maximum payload length {MAX_PAYLOAD_LEN}");
            if after_header == 0 {
                return torn(entries, format!("{reason} in the final frame header"));
            }
            return Err(corrupt(format!(
                "{reason}, followed by {after_header} more bytes"
            )));
        }
        if u64::from(len) > after_header {
            return torn(
                entries,
                format!(
                    "incomplete frame: the header declares a {len}-byte payload but only \
                     {after_header} bytes follow"
                ),
            );
        }

        let mut payload = vec![0u8; len as usize];
        reader
            .read_exact(&mut payload)
            .map_err(|err| io_error(path, "read frame payload", err))?;
        let computed_crc = frame_crc(len_bytes, &payload);
        let frame_end = offset + FRAME_HEADER_LEN + u64::from(len);
        if computed_crc != stored_crc {
            let mismatch =
                format!("crc mismatch (stored {stored_crc:#010x}, computed {computed_crc:#010x})");
            let trailing = file_len - frame_end;
            if trailing == 0 {
                return torn(entries, format!("{mismatch} in the final frame"));
            }
            if rest_is_zero(path, reader, trailing)? {
                return torn(
                    entries,
                    format!(
                        "{mismatch}, followed only by {trailing} zero bytes (a zero-filled tail)"
                    ),
                );
            }
            return Err(corrupt(format!(
                "{mismatch}, followed by {trailing} more bytes"
            )));
        }
        entries.push(payload);
        offset = frame_end;
    }
}

/// Whether the next `count` bytes of `reader` are all zero.
fn rest_is_zero(path: &Path, reader: &mut impl Read, count: u64) -> Result<bool, LogError> {
    let mut chunk = [0u8; 8192];
    let mut left = count;
    while left > 0 {
        let take = left.min(chunk.len() as u64) as usize;
        reader
            .read_exact(&mut chunk[..take])
            .map_err(|err| io_error(path, "read tail", err))?;
        if chunk[..take].iter().any(|&byte| byte != 0) {
            return Ok(false);
        }
        left -= take as u64;
    }
    Ok(true)
}

/// The frame checksum: CRC-32C over the length field's bytes followed by the payload.
fn frame_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload)
}

/// `<dir>/<name>.creating`, where a new log's header is staged before being renamed into place.
fn staging_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let mut staging_name = name.to_os_string();
    staging_name.push(".creating");
    Ok(path.with_file_name(staging_name))
}

/// Fsyncs the directory holding `path`, making a file created or renamed there durable.
#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for fsync outside Unix; the rename is trusted to be durable.
#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

fn io_error(path: &Path, action: &'static str, source: io::Error) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}
