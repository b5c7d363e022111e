//! kgroup-core: the production implementation of Kafka's classic consumer-group protocol.
//!
//! - [`consumer`]: the client side of the protocol (Kafka's `ConsumerCoordinator`), sans-IO:
//!   join, sync, heartbeat, commit, revoke, with rebalance callbacks as outputs.
//! - [`coordinator`]: the group coordinator, sans-IO: requests and timeouts in, responses and
//!   log entries out.
//! - [`records`]: the `__consumer_offsets` record formats (keys and values, versioned as Kafka
//!   versions them).
//! - [`log`]: a durable append-only file log with a CRC per record and an explicit fsync policy.
//! - [`store`]: committed offsets, pending transactional offsets and group metadata, as replaying
//!   the log yields them; [`store::Durable`] couples the store with its log.
//! - [`txn`]: the transaction coordinator, sans-IO, with its own replayed `__transaction_state`
//!   records; its commit and abort markers go to the group coordinator.
//!
//! Architecture Invariant: kgroup-core is pure and deterministic apart from [`log`]'s file IO;
//! it never depends on kgroup-model.

pub mod consumer;
pub mod coordinator;
pub mod log;
pub mod records;
pub mod store;
pub mod txn;
mod wire;
