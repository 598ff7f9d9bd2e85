//! The agent's suite: real processes, real files, an in-memory object store. One binary, to link once.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod codebuild;
mod commands;
mod local_source;
mod s3;
mod support;
mod zips;
