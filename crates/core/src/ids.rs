//! Deterministic id generation from a host-supplied seed.

/// Generates `prefix_` + 32 hex digit ids from a seed (SplitMix64), so
/// that tests with a fixed seed produce fixed ids.
#[derive(Debug, Clone)]
pub struct IdGen {
    state: u64,
}

impl IdGen {
    /// A generator from a 64-bit seed.
    pub fn new(seed: u64) -> Self {
        IdGen { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh id with this prefix, such as `msg_`.
    pub fn next(&mut self, prefix: &str) -> String {
        format!("{prefix}{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}
