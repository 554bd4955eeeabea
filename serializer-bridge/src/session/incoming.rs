//! The receiving half of a session: chunks of the current epoch in
//! sequence, what the application took, the ACKs owed, and the delivery
//! record the next handshake reports.
//!
//! A chunk counts as delivered when the application takes it, never
//! earlier, and only chunks of the epoch that is up can be taken: when the
//! epoch ends, what was received and not taken is dropped (the sender gets
//! it back through our record). So the record, frozen at the epoch's end,
//! is exact: "the sender's chunks `1..=delivered` of `epoch` reached the
//! application, no others of that epoch ever will".

use std::collections::VecDeque;

use crate::epoch::CacheEpoch;
use crate::session::error::ProtocolError;
use crate::session::outgoing::Window;
use crate::wire::{Record, Wire};

#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) epoch: CacheEpoch,
    /// The next sequence expected.
    expected: u64,
    /// Chunks the application took in this epoch.
    pub(crate) delivered: u64,
    /// The highest sequence we acknowledged.
    acked: u64,
    /// Lengths of the received, unacknowledged chunks (for the window).
    unacked: VecDeque<u64>,
    unacked_bytes: u64,
    /// Received, not yet taken (the chunks sit in the session's events).
    pub(crate) waiting: usize,
    pub(crate) waiting_bytes: u64,
    /// The latest epoch in which we delivered any chunk of the peer.
    pub(crate) record: Record,
}

impl Incoming {
    pub(crate) fn new() -> Self {
        Incoming {
            epoch: CacheEpoch(0),
            expected: 1,
            delivered: 0,
            acked: 0,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            waiting: 0,
            waiting_bytes: 0,
            record: Record::default(),
        }
    }

    /// Starts `epoch`: counters from 1.
    pub(crate) fn start(&mut self, epoch: CacheEpoch) {
        self.epoch = epoch;
        self.expected = 1;
        self.delivered = 0;
        self.acked = 0;
        self.unacked.clear();
        self.unacked_bytes = 0;
        self.waiting = 0;
        self.waiting_bytes = 0;
    }

    /// The peer restarted: what we recorded of its old incarnation means
    /// nothing to the new one.
    pub(crate) fn forget_record(&mut self) {
        self.record = Record::default();
    }

    /// Checks a chunk of the current epoch against the sequence and our
    /// window, and counts it in.
    pub(crate) fn accept(
        &mut self,
        seq: u64,
        len: u64,
        window: Window,
    ) -> Result<(), ProtocolError> {
        if seq != self.expected {
            return Err(ProtocolError::OutOfOrder {
                epoch: self.epoch,
                seq,
                expected: self.expected,
            });
        }
        let chunks = self.unacked.len() as u64 + 1;
        let bytes = self.unacked_bytes.saturating_add(len);
        if chunks > window.chunks || (chunks > 1 && bytes > window.bytes) {
            return Err(ProtocolError::WindowExceeded { chunks, bytes });
        }
        self.expected += 1;
        self.unacked.push_back(len);
        self.unacked_bytes = bytes;
        self.waiting += 1;
        self.waiting_bytes += len;
        Ok(())
    }

    /// The application took the next chunk (of `len` bytes) of the peer
    /// incarnation `about`.
    pub(crate) fn took(&mut self, len: u64, about: u64) {
        self.waiting -= 1;
        self.waiting_bytes -= len;
        self.delivered += 1;
        self.record = Record {
            about,
            epoch: self.epoch,
            delivered: self.delivered,
        };
    }

    /// The epoch ended: chunks not taken are dropped; how many.
    pub(crate) fn end(&mut self) -> usize {
        let dropped = self.waiting;
        self.waiting = 0;
        self.waiting_bytes = 0;
        self.unacked.clear();
        self.unacked_bytes = 0;
        dropped
    }

    /// An ACK is due when enough was read, or everything was.
    pub(crate) fn ack_due(&mut self, every: u64) -> Option<Wire> {
        let unacked = self.delivered - self.acked;
        if unacked == 0 || (unacked < every && self.waiting > 0) {
            return None;
        }
        for _ in 0..unacked {
            if let Some(len) = self.unacked.pop_front() {
                self.unacked_bytes -= len;
            }
        }
        self.acked = self.delivered;
        Some(Wire::Ack {
            epoch: self.epoch,
            seq: self.delivered,
        })
    }
}
