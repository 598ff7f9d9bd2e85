//! The zip format, written front to back without seeking: local headers, entry data, the central directory and
//! its end records (zip64 ones when counts or offsets outgrow 32 bits). Everything written goes through a
//! SHA-256, so the archive's digest is known when it is closed, without reading it again.
//!
//! An entry whose compressed data is known before it is written carries its sizes and CRC in its local header;
//! one streamed in pieces (a large file) sets flag bit 3 and follows its data with a zip64 data descriptor.
//! Names are flagged UTF-8; times are the DOS epoch (1980-01-01 00:00), so the same files give the same bytes.

use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// Compression method: stored.
pub(crate) const STORED: u16 = 0;
/// Compression method: deflate.
pub(crate) const DEFLATED: u16 = 8;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// Bit 3: sizes and CRC follow the data. Bit 11: the name is UTF-8.
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
/// 1980-01-01 in DOS date form.
const DOS_DATE: u16 = (1 << 5) | 1;
const UNIX: u16 = 3 << 8;
const V20: u16 = 20;
const V45: u16 = 45;
const MAX32: u64 = 0xffff_ffff;

/// An entry's fields as the central directory repeats them.
struct Central {
    name: String,
    mode: u32,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

/// The archive's size and SHA-256 (hex), from the bytes written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveDigest {
    /// Bytes in the archive.
    pub size: u64,
    /// SHA-256 of the archive, hex.
    pub sha256: String,
}

/// Writes an archive sequentially to `W`, hashing every byte.
pub(crate) struct SeqZip<W: Write> {
    out: W,
    hasher: Sha256,
    position: u64,
    entries: Vec<Central>,
    /// The entry being streamed: its index in `entries`.
    streaming: Option<usize>,
}

fn u16le(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

fn u32le(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

fn low32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn len16(what: &str, n: usize) -> io::Result<u16> {
    u16::try_from(n).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} is longer than 65535 bytes"),
        )
    })
}

impl<W: Write> SeqZip<W> {
    /// An empty archive written to `out`.
    pub(crate) fn new(out: W) -> Self {
        SeqZip {
            out,
            hasher: Sha256::new(),
            position: 0,
            entries: Vec::new(),
            streaming: None,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.position += bytes.len() as u64;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn local_header(
        &mut self,
        name: &str,
        method: u16,
        flags: u16,
        crc: u32,
        compressed: u64,
        size: u64,
        zip64: bool,
    ) -> io::Result<()> {
        let name_len = len16("an entry name", name.len())?;
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&u32le(LOCAL_HEADER));
        h.extend_from_slice(&u16le(if zip64 { V45 } else { V20 }));
        h.extend_from_slice(&u16le(flags));
        h.extend_from_slice(&u16le(method));
        h.extend_from_slice(&u16le(0));
        h.extend_from_slice(&u16le(DOS_DATE));
        h.extend_from_slice(&u32le(crc));
        if zip64 {
            h.extend_from_slice(&u32le(u32::MAX));
            h.extend_from_slice(&u32le(u32::MAX));
        } else {
            h.extend_from_slice(&u32le(low32(compressed)));
            h.extend_from_slice(&u32le(low32(size)));
        }
        h.extend_from_slice(&u16le(name_len));
        h.extend_from_slice(&u16le(if zip64 { 20 } else { 0 }));
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&u16le(ZIP64_EXTRA));
            h.extend_from_slice(&u16le(16));
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&compressed.to_le_bytes());
        }
        self.put(&h)
    }

    /// Adds an entry whose data (`data`, compressed with `method`) is whole: `crc` and `size` are of the
    /// uncompressed content; `mode` is the full unix mode (type bits included).
    pub(crate) fn add_whole(
        &mut self,
        name: &str,
        mode: u32,
        method: u16,
        crc: u32,
        size: u64,
        data: &[u8],
    ) -> io::Result<()> {
        debug_assert!(self.streaming.is_none());
        let compressed = data.len() as u64;
        let zip64 = size >= MAX32 || compressed >= MAX32;
        let offset = self.position;
        self.local_header(name, method, FLAG_UTF8, crc, compressed, size, zip64)?;
        self.put(data)?;
        self.entries.push(Central {
            name: name.to_string(),
            mode,
            method,
            flags: FLAG_UTF8,
            crc,
            compressed,
            size,
            offset,
        });
        Ok(())
    }

    /// Starts an entry whose deflated data follows in pieces ([`Self::stream`]) and ends with [`Self::end`].
    pub(crate) fn begin(&mut self, name: &str, mode: u32) -> io::Result<()> {
        let offset = self.position;
        let flags = FLAG_UTF8 | FLAG_DESCRIPTOR;
        self.local_header(name, DEFLATED, flags, 0, 0, 0, true)?;
        self.entries.push(Central {
            name: name.to_string(),
            mode,
            method: DEFLATED,
            flags,
            crc: 0,
            compressed: 0,
            size: 0,
            offset,
        });
        self.streaming = Some(self.entries.len() - 1);
        Ok(())
    }

    /// Writes a piece of the streamed entry's compressed data.
    pub(crate) fn stream(&mut self, data: &[u8]) -> io::Result<()> {
        let index = self
            .streaming
            .ok_or_else(|| io::Error::other("no entry is being streamed"))?;
        self.put(data)?;
        self.entries[index].compressed += data.len() as u64;
        Ok(())
    }

    /// Ends the streamed entry with its data descriptor: `crc` and `size` of the uncompressed content.
    pub(crate) fn end(&mut self, crc: u32, size: u64) -> io::Result<()> {
        let index = self
            .streaming
            .take()
            .ok_or_else(|| io::Error::other("no entry is being streamed"))?;
        let entry = &mut self.entries[index];
        entry.crc = crc;
        entry.size = size;
        let compressed = entry.compressed;
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&u32le(DATA_DESCRIPTOR));
        d.extend_from_slice(&u32le(crc));
        d.extend_from_slice(&compressed.to_le_bytes());
        d.extend_from_slice(&size.to_le_bytes());
        self.put(&d)
    }

    /// Writes the central directory and end records; returns the writer and the archive's digest.
    pub(crate) fn finish(mut self) -> io::Result<(W, ArchiveDigest)> {
        if self.streaming.is_some() {
            return Err(io::Error::other("an entry was left unfinished"));
        }
        let start = self.position;
        let entries = std::mem::take(&mut self.entries);
        let mut block = Vec::with_capacity(64 * 1024);
        for e in &entries {
            let mut extra = Vec::new();
            if e.size >= MAX32 {
                extra.extend_from_slice(&e.size.to_le_bytes());
            }
            if e.compressed >= MAX32 {
                extra.extend_from_slice(&e.compressed.to_le_bytes());
            }
            if e.offset >= MAX32 {
                extra.extend_from_slice(&e.offset.to_le_bytes());
            }
            let zip64 = !extra.is_empty() || e.flags & FLAG_DESCRIPTOR != 0;
            let extra_len = if extra.is_empty() { 0 } else { extra.len() + 4 };
            let version = if zip64 { V45 } else { V20 };
            block.extend_from_slice(&u32le(CENTRAL_HEADER));
            block.extend_from_slice(&u16le(UNIX | version));
            block.extend_from_slice(&u16le(version));
            block.extend_from_slice(&u16le(e.flags));
            block.extend_from_slice(&u16le(e.method));
            block.extend_from_slice(&u16le(0));
            block.extend_from_slice(&u16le(DOS_DATE));
            block.extend_from_slice(&u32le(e.crc));
            block.extend_from_slice(&u32le(low32(e.compressed)));
            block.extend_from_slice(&u32le(low32(e.size)));
            block.extend_from_slice(&u16le(len16("an entry name", e.name.len())?));
            block.extend_from_slice(&u16le(len16("a zip64 field", extra_len)?));
            block.extend_from_slice(&u16le(0));
            block.extend_from_slice(&u16le(0));
            block.extend_from_slice(&u16le(0));
            block.extend_from_slice(&u32le(e.mode << 16));
            block.extend_from_slice(&u32le(low32(e.offset)));
            block.extend_from_slice(e.name.as_bytes());
            if !extra.is_empty() {
                block.extend_from_slice(&u16le(ZIP64_EXTRA));
                block.extend_from_slice(&u16le(len16("a zip64 field", extra.len())?));
                block.extend_from_slice(&extra);
            }
            if block.len() >= 60 * 1024 {
                self.put(&block)?;
                block.clear();
            }
        }
        self.put(&block)?;
        let count = entries.len() as u64;
        let size = self.position - start;
        let mut end = Vec::with_capacity(98);
        if count >= 0xffff || size >= MAX32 || start >= MAX32 {
            let record = self.position;
            end.extend_from_slice(&u32le(ZIP64_END_OF_CENTRAL));
            end.extend_from_slice(&44u64.to_le_bytes());
            end.extend_from_slice(&u16le(UNIX | V45));
            end.extend_from_slice(&u16le(V45));
            end.extend_from_slice(&u32le(0));
            end.extend_from_slice(&u32le(0));
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&size.to_le_bytes());
            end.extend_from_slice(&start.to_le_bytes());
            end.extend_from_slice(&u32le(ZIP64_LOCATOR));
            end.extend_from_slice(&u32le(0));
            end.extend_from_slice(&record.to_le_bytes());
            end.extend_from_slice(&u32le(1));
        }
        let count16 = u16::try_from(count).unwrap_or(u16::MAX);
        end.extend_from_slice(&u32le(END_OF_CENTRAL));
        end.extend_from_slice(&u16le(0));
        end.extend_from_slice(&u16le(0));
        end.extend_from_slice(&u16le(count16));
        end.extend_from_slice(&u16le(count16));
        end.extend_from_slice(&u32le(low32(size)));
        end.extend_from_slice(&u32le(low32(start)));
        end.extend_from_slice(&u16le(0));
        self.put(&end)?;
        let digest = ArchiveDigest {
            size: self.position,
            sha256: hex::encode(self.hasher.finalize()),
        };
        Ok((self.out, digest))
    }
}
