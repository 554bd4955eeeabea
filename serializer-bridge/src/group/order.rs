//! The receiving side's check of group chunks on one link epoch: per
//! group, the group epoch never goes back and the group sequence runs
//! 1, 2, 3, ... within an epoch. An honest writer never breaks this (a
//! member that would miss a chunk leaves the group epoch instead), so a
//! break is a protocol error. At most [`MAX_GROUPS_PER_LINK`] groups per
//! link epoch are tracked: more is a protocol error too, so a peer cannot
//! grow this without bound.

use crate::epoch::CacheEpoch;
use crate::group::tag::{GroupId, GroupTag};
use crate::session::ProtocolError;

/// Most distinct groups a peer may send on one link epoch.
pub const MAX_GROUPS_PER_LINK: usize = 64;

/// Per group: the group epoch and the last sequence taken in.
#[derive(Debug, Default)]
pub(crate) struct GroupOrder {
    seen: Vec<(GroupId, CacheEpoch, u64)>,
}

impl GroupOrder {
    /// A new link epoch: nothing seen.
    pub(crate) fn reset(&mut self) {
        self.seen.clear();
    }

    /// Checks the next group chunk's tag and records it.
    pub(crate) fn accept(&mut self, tag: GroupTag) -> Result<(), ProtocolError> {
        let Some(entry) = self.seen.iter_mut().find(|(g, _, _)| *g == tag.group) else {
            if self.seen.len() >= MAX_GROUPS_PER_LINK {
                return Err(ProtocolError::TooManyGroups {
                    max: MAX_GROUPS_PER_LINK,
                });
            }
            if tag.seq != 1 || tag.epoch == CacheEpoch(0) {
                return Err(out_of_order(tag, tag.epoch, 1));
            }
            self.seen.push((tag.group, tag.epoch, 1));
            return Ok(());
        };
        let (_, epoch, last) = *entry;
        let expected = if tag.epoch > epoch { 1 } else { last + 1 };
        if tag.epoch < epoch || tag.seq != expected {
            return Err(out_of_order(tag, epoch, expected));
        }
        *entry = (tag.group, tag.epoch, tag.seq);
        Ok(())
    }
}

fn out_of_order(tag: GroupTag, current: CacheEpoch, expected: u64) -> ProtocolError {
    ProtocolError::GroupOutOfOrder {
        group: tag.group.0,
        epoch: tag.epoch,
        seq: tag.seq,
        current,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(group: u32, epoch: u64, seq: u64) -> GroupTag {
        GroupTag {
            group: GroupId(group),
            epoch: CacheEpoch(epoch),
            seq,
        }
    }

    #[test]
    fn sequences_run_per_epoch_and_epochs_only_go_up() {
        let mut o = GroupOrder::default();
        assert!(o.accept(tag(1, 1, 1)).is_ok());
        assert!(o.accept(tag(1, 1, 2)).is_ok());
        assert!(o.accept(tag(2, 5, 1)).is_ok());
        assert!(o.accept(tag(1, 1, 4)).is_err(), "a gap");
        let mut o = GroupOrder::default();
        o.accept(tag(1, 3, 1)).unwrap();
        assert!(o.accept(tag(1, 5, 1)).is_ok(), "a later epoch from 1");
        assert!(o.accept(tag(1, 3, 2)).is_err(), "an epoch went back");
        assert!(o.accept(tag(1, 6, 2)).is_err(), "a new epoch not from 1");
        assert!(GroupOrder::default().accept(tag(1, 1, 2)).is_err());
        assert!(GroupOrder::default().accept(tag(1, 0, 1)).is_err());
    }

    #[test]
    fn groups_per_link_are_capped() {
        let mut o = GroupOrder::default();
        for g in 0..MAX_GROUPS_PER_LINK as u32 {
            o.accept(tag(g, 1, 1)).unwrap();
        }
        assert!(matches!(
            o.accept(tag(999, 1, 1)),
            Err(ProtocolError::TooManyGroups { .. })
        ));
        o.reset();
        assert!(o.accept(tag(999, 1, 1)).is_ok());
    }
}
