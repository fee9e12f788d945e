//! CrossChat's shared-memory segment (work in progress).
pub mod message;
pub use message::{ChatMessage, Platform};
