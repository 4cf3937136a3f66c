//! The commands: each one strings the stages together for one job.

pub mod check;
pub mod demo;
pub mod export;
pub mod init;
pub mod load;
pub mod sync;
pub mod verify;
