//! Round-robin: the one turn-taking rule PUSH, DEALER, PAIR and REQ send
//! by, used by the socket's own routing state ([`crate::Socket::send`])
//! and by a [`crate::Sender`]'s private copy of the pipes alike.
//!
//! The rule is "offer the message to each pipe in turn from the cursor; the
//! first that takes it wins, and the cursor moves past it". What "offer"
//! means (skip a pipe that is not usable, push into a queue) is the
//! caller's, so this file knows nothing of pipes or queues.

/// Offers to `pipes[next..]` then `pipes[..next]` in turn, stopping at the
/// first for which `offer` answers true; returns its index and moves
/// `next` just past it. `None` (cursor unchanged) if none took it.
///
/// No `%` per send: the cursor stays below `pipes.len()`, and a cursor left
/// out of range by pipes that went since starts again at 0.
#[inline]
pub(crate) fn round_robin<P>(
    pipes: &[P],
    next: &mut usize,
    mut offer: impl FnMut(&P) -> bool,
) -> Option<usize> {
    let n = pipes.len();
    let mut i = if *next < n { *next } else { 0 };
    for _ in 0..n {
        let at = i;
        i += 1;
        if i == n {
            i = 0;
        }
        if offer(&pipes[at]) {
            *next = i;
            return Some(at);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::round_robin;

    /// Which pipe takes each of `sends` messages, pipes taking while
    /// `room` allows.
    fn turns(room: &mut [u32], sends: usize, next: &mut usize) -> Vec<Option<usize>> {
        (0..sends)
            .map(|_| {
                let taken = round_robin(room, next, |r| *r > 0);
                if let Some(i) = taken {
                    room[i] -= 1;
                }
                taken
            })
            .collect()
    }

    #[test]
    fn takes_turns_in_order_and_wraps() {
        let mut next = 0;
        let mut room = [9, 9, 9];
        assert_eq!(
            turns(&mut room, 5, &mut next),
            [Some(0), Some(1), Some(2), Some(0), Some(1)]
        );
        assert_eq!(next, 2);
    }

    #[test]
    fn skips_pipes_that_refuse_and_keeps_the_turn_after_the_taker() {
        let mut next = 0;
        let mut room = [1, 0, 2];
        assert_eq!(
            turns(&mut room, 4, &mut next),
            [Some(0), Some(2), Some(2), None]
        );
    }

    #[test]
    fn none_leaves_the_cursor_alone() {
        let mut next = 1;
        let room = [0u32, 0];
        assert_eq!(round_robin(&room, &mut next, |r| *r > 0), None);
        assert_eq!(next, 1);
    }

    #[test]
    fn a_cursor_past_the_end_starts_again_at_zero() {
        // Pipes went since the last send.
        let mut next = 7;
        let room = [1u32, 1];
        assert_eq!(round_robin(&room, &mut next, |r| *r > 0), Some(0));
        assert_eq!(next, 1);
    }

    #[test]
    fn no_pipes_no_taker() {
        let mut next = 0;
        let room: [u32; 0] = [];
        assert_eq!(round_robin(&room, &mut next, |_| true), None);
    }

    #[test]
    fn offers_each_pipe_at_most_once() {
        let mut next = 0;
        let mut offers = 0;
        let pipes = [(); 4];
        assert_eq!(
            round_robin(&pipes, &mut next, |_| {
                offers += 1;
                false
            }),
            None
        );
        assert_eq!(offers, 4);
    }
}
