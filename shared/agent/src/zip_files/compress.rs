//! A small pool of threads that deflate archive entries (whole small files, or pieces of large ones) while the
//! caller writes the results in order. The caller bounds what is in flight, so memory stays bounded.
//!
//! A piece of a large entry is deflated on its own and ended with a sync flush (a byte-aligned empty stored
//! block); the last piece ends the stream. Concatenated in order they form one valid deflate stream.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Deflate's fastest level: artifacts are made on every run and mostly read back on this machine, where a
/// higher level's extra CPU buys a few percent of size.
const LEVEL: u32 = 1;

/// Where a task's bytes come from.
pub(crate) enum Source {
    /// A file the worker reads itself (a small one: it is read whole).
    Path(PathBuf),
    /// Bytes already read.
    Bytes(Vec<u8>),
}

/// How a task's output ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A whole entry: hashed, checked and stored instead when deflate does not shrink it.
    Whole,
    /// A piece of a large entry, not the last.
    Middle,
    /// The last piece of a large entry.
    Last,
}

/// One unit of work, numbered in the order its result must be written.
pub(crate) struct Task {
    pub(crate) seq: u64,
    pub(crate) source: Source,
    pub(crate) piece: Piece,
}

/// A task's result.
pub(crate) struct Done {
    /// The data to write (deflated, or the content itself when `method` is stored).
    pub(crate) data: Vec<u8>,
    /// The compression method of `data`.
    pub(crate) method: u16,
    /// CRC-32 of the content (whole entries only).
    pub(crate) crc: u32,
    /// Bytes of content (whole entries only).
    pub(crate) size: u64,
    /// SHA-256 of the content (whole entries only).
    pub(crate) sha256: [u8; 32],
}

/// The threads, fed through one queue, answering on another.
pub(crate) struct Pool {
    tasks: Option<Sender<Task>>,
    results: Receiver<(u64, io::Result<Done>)>,
    workers: Vec<JoinHandle<()>>,
}

/// How many compressing threads to run: one per core, at most 8.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8)
}

impl Pool {
    /// Starts `threads` workers.
    pub(crate) fn start(threads: usize) -> Self {
        let (task_tx, task_rx) = mpsc::channel::<Task>();
        let (done_tx, done_rx) = mpsc::channel();
        let task_rx = Arc::new(Mutex::new(task_rx));
        let workers = (0..threads.max(1))
            .map(|_| {
                let tasks = Arc::clone(&task_rx);
                let done = done_tx.clone();
                std::thread::spawn(move || work(&tasks, &done))
            })
            .collect();
        Pool {
            tasks: Some(task_tx),
            results: done_rx,
            workers,
        }
    }

    /// Queues a task.
    pub(crate) fn submit(&self, task: Task) -> io::Result<()> {
        self.tasks
            .as_ref()
            .and_then(|t| t.send(task).ok())
            .ok_or_else(|| io::Error::other("the compressing threads stopped"))
    }

    /// Waits for the next result, in whatever order the workers finish.
    pub(crate) fn next(&self) -> io::Result<(u64, io::Result<Done>)> {
        self.results
            .recv()
            .map_err(|_| io::Error::other("the compressing threads stopped"))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends the workers once they finish the task at hand.
        self.tasks = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(tasks: &Mutex<Receiver<Task>>, done: &Sender<(u64, io::Result<Done>)>) {
    let mut deflate = Compress::new(Compression::new(LEVEL), false);
    loop {
        let task = match tasks.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(task) = task else { return };
        let result = run(&mut deflate, task.source, task.piece);
        if done.send((task.seq, result)).is_err() {
            return;
        }
    }
}

fn run(deflate: &mut Compress, source: Source, piece: Piece) -> io::Result<Done> {
    let content = match source {
        Source::Bytes(bytes) => bytes,
        Source::Path(path) => {
            let mut file = std::fs::File::open(&path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })?;
            let mut bytes = Vec::with_capacity(file.metadata().map_or(0, |m| m.len() as usize));
            file.read_to_end(&mut bytes).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })?;
            bytes
        }
    };
    let flush = if piece == Piece::Middle {
        FlushCompress::Sync
    } else {
        FlushCompress::Finish
    };
    deflate.reset();
    let data = compress(deflate, &content, flush)?;
    if piece != Piece::Whole {
        return Ok(Done {
            data,
            method: super::format::DEFLATED,
            crc: 0,
            size: 0,
            sha256: [0; 32],
        });
    }
    let mut crc = Crc::new();
    crc.update(&content);
    let sha256: [u8; 32] = Sha256::digest(&content).into();
    let size = content.len() as u64;
    let (data, method) = if data.len() >= content.len() {
        (content, super::format::STORED)
    } else {
        (data, super::format::DEFLATED)
    };
    Ok(Done {
        size,
        data,
        method,
        crc: crc.sum(),
        sha256,
    })
}

/// Deflates `input` with `flush`, growing the output until the compressor has taken everything and flushed.
fn compress(deflate: &mut Compress, input: &[u8], flush: FlushCompress) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start_in = deflate.total_in();
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = usize::try_from(deflate.total_in() - start_in).unwrap_or(usize::MAX);
        let status = deflate
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
        let consumed = usize::try_from(deflate.total_in() - start_in).unwrap_or(usize::MAX);
        match status {
            Status::StreamEnd => return Ok(out),
            // Sync flush is done once all input is in and the output had room to spare.
            Status::Ok | Status::BufError
                if flush == FlushCompress::Sync
                    && consumed == input.len()
                    && out.len() < out.capacity() =>
            {
                return Ok(out)
            }
            Status::Ok | Status::BufError => {}
        }
    }
}
