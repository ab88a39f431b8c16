//! Per-node clocks: offset, drift and jumps against simulated time.
//!
//! A node reads only its local clock. Local time is a piecewise-linear function of simulated
//! time: from an anchor `(anchor_simulated_ns, anchor_local_ns)` it advances at
//! `(1_000_000 + drift_ppm) / 1_000_000` of simulated speed. Changing the offset, the drift or
//! jumping the clock re-anchors it at the current simulated time.
//!
//! A backward step or offset stops at zero: the reading never goes below zero, and it advances
//! from there at once. (Before, the deficit below zero was kept and the reading stood at zero
//! until simulated time made it up: a node whose clock was stepped back 30 s in all stood still
//! for 30 s of simulated time, timers and all, long after every fault had healed. No real clock
//! does that, and it failed liveness checks for no broker fault.)
//!
//! Invariant: between two changes, local time is non-decreasing in simulated time (drift is
//! bounded above -1_000_000 ppm), so converting a local deadline back to simulated time is exact:
//! `simulated_at(deadline)` is the first simulated instant whose local reading is >= deadline.

/// Drift is bounded so that a clock never stops or runs backwards between jumps.
pub const DRIFT_PPM_MAX: i64 = 500_000;

const PPM: i128 = 1_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    anchor_simulated_ns: u64,
    anchor_local_ns: i128,
    drift_ppm: i64,
    /// The highest reading before the last step or offset change: a timer set at a local
    /// deadline waits for the clock to read it, so one set before a step back waits for the
    /// clock to climb back here first.
    reading_highest_ns: i128,
}

impl Clock {
    pub fn new(offset_ns: i64, drift_ppm: i64) -> Clock {
        assert!(
            drift_ppm.unsigned_abs() <= DRIFT_PPM_MAX.unsigned_abs(),
            "drift {drift_ppm} ppm out of bounds"
        );
        Clock {
            anchor_simulated_ns: 0,
            anchor_local_ns: i128::from(offset_ns).max(0),
            drift_ppm,
            reading_highest_ns: 0,
        }
    }

    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }

    fn local_unclamped(&self, simulated_ns: u64) -> i128 {
        debug_assert!(
            simulated_ns >= self.anchor_simulated_ns,
            "clock read before its anchor"
        );
        let elapsed = simulated_ns - self.anchor_simulated_ns;
        if self.drift_ppm == 0 {
            // The common case, read on every step: no 128-bit division.
            return self.anchor_local_ns + i128::from(elapsed);
        }
        let elapsed = i128::from(elapsed);
        self.anchor_local_ns + elapsed * (PPM + i128::from(self.drift_ppm)) / PPM
    }

    /// The local reading at `simulated_ns` (which must not precede the last change).
    pub fn local_at(&self, simulated_ns: u64) -> u64 {
        clamp_to_u64(self.local_unclamped(simulated_ns))
    }

    /// The first simulated instant, not before `now_ns`, at which the local reading reaches
    /// `deadline_local_ns`.
    pub fn simulated_at(&self, deadline_local_ns: u64, now_ns: u64) -> u64 {
        let remaining = i128::from(deadline_local_ns) - self.anchor_local_ns;
        if remaining <= 0 {
            return now_ns.max(self.anchor_simulated_ns);
        }
        let rate = PPM + i128::from(self.drift_ppm);
        let elapsed = if self.drift_ppm == 0 {
            remaining
        } else {
            (remaining * PPM + rate - 1) / rate
        };
        let simulated = clamp_to_u64(i128::from(self.anchor_simulated_ns) + elapsed);
        debug_assert!(self.local_unclamped(simulated) >= i128::from(deadline_local_ns));
        simulated.max(now_ns)
    }

    fn reanchor(&mut self, now_ns: u64) {
        self.anchor_local_ns = self.local_unclamped(now_ns);
        self.anchor_simulated_ns = now_ns;
    }

    /// How far the reading is below the highest it showed before a step back: the delay every
    /// timer set before that step suffers on top of its own wait. Zero for a clock never stepped
    /// back (or stepped forward again since).
    pub fn behind_highest_ns(&self, now_ns: u64) -> u64 {
        let reading = self.local_unclamped(now_ns);
        clamp_to_u64(self.reading_highest_ns - reading)
    }

    fn note_reading(&mut self, now_ns: u64) {
        self.reading_highest_ns = self.reading_highest_ns.max(self.local_unclamped(now_ns));
    }

    /// Sets the clock to read `simulated + offset_ns` from now on (drift continues from here).
    pub fn set_offset(&mut self, now_ns: u64, offset_ns: i64) {
        self.note_reading(now_ns);
        self.anchor_simulated_ns = now_ns;
        self.anchor_local_ns = (i128::from(now_ns) + i128::from(offset_ns)).max(0);
    }

    pub fn set_drift_ppm(&mut self, now_ns: u64, drift_ppm: i64) {
        assert!(
            drift_ppm.unsigned_abs() <= DRIFT_PPM_MAX.unsigned_abs(),
            "drift {drift_ppm} ppm out of bounds"
        );
        self.reanchor(now_ns);
        self.drift_ppm = drift_ppm;
    }

    /// Moves the local clock by `delta_ns` at once (forwards or backwards), as an NTP step does.
    pub fn jump(&mut self, now_ns: u64, delta_ns: i64) {
        self.note_reading(now_ns);
        self.reanchor(now_ns);
        self.anchor_local_ns = (self.anchor_local_ns + i128::from(delta_ns)).max(0);
    }
}

fn clamp_to_u64(value: i128) -> u64 {
    value.clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_clock_reads_simulated_time() {
        let clock = Clock::default();
        assert_eq!(clock.local_at(0), 0);
        assert_eq!(clock.local_at(123_456), 123_456);
        assert_eq!(clock.simulated_at(500, 0), 500);
    }

    #[test]
    fn offset_and_drift_move_local_time_and_deadlines() {
        let mut clock = Clock::new(1_000, 100_000);
        assert_eq!(clock.local_at(10_000), 1_000 + 11_000);
        let due = clock.simulated_at(12_000, 0);
        assert_eq!(due, 10_000);
        assert!(clock.local_at(due - 1) < 12_000);
        clock.set_drift_ppm(10_000, -100_000);
        assert_eq!(clock.local_at(20_000), 12_000 + 9_000);
        clock.set_offset(20_000, -5_000);
        assert_eq!(clock.local_at(20_000), 15_000);
    }

    #[test]
    fn jumps_move_the_reading_and_stop_at_zero() {
        let mut clock = Clock::default();
        clock.jump(1_000, 5_000);
        assert_eq!(clock.local_at(1_000), 6_000);
        assert_eq!(
            clock.simulated_at(5_500, 1_000),
            1_000,
            "a passed deadline is due now"
        );
        clock.jump(2_000, -100_000);
        assert_eq!(clock.local_at(2_000), 0);
        assert_eq!(
            clock.simulated_at(100, 2_000),
            2_000 + 100,
            "a clock stepped back below zero runs on from zero, it does not stand still"
        );
        clock.set_offset(3_000, -10_000);
        assert_eq!(clock.local_at(3_500), 500);
    }

    #[test]
    fn a_clock_stepped_back_knows_how_far_below_its_highest_reading_it_is() {
        let mut clock = Clock::default();
        assert_eq!(clock.behind_highest_ns(1_000), 0);
        clock.jump(10_000, 5_000);
        assert_eq!(
            clock.behind_highest_ns(10_000),
            0,
            "a step forward delays nothing"
        );
        clock.jump(11_000, -7_000);
        assert_eq!(clock.local_at(11_000), 9_000);
        assert_eq!(clock.behind_highest_ns(11_000), 7_000);
        assert_eq!(
            clock.behind_highest_ns(15_000),
            3_000,
            "it climbs back at its own pace"
        );
        clock.jump(15_000, 3_000);
        assert_eq!(clock.behind_highest_ns(15_000), 0);
    }
}
