//! Nothing here: the crate's content is its tests (`tests/`), which drive
//! `strongroom serve` with the AWS SDK for Rust and with the official AWS
//! Encryption SDK (Python). See `scripts/clients.sh`.
