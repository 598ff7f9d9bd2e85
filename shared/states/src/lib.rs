//! The Amazon States Language model and the embedded interpreter (arrives with the embedded runtime).
