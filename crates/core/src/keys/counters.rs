//! Integer counters in a hash: the one rule every counter store
//! follows (a counter that reaches 0 is removed).

/// The field where a store without expiry of its own keeps a hash's
/// expiry (ms since the epoch); never a counter's name (those hold `|`
/// or are ids).
pub const EXPIRES: &str = "~expires";

/// Adds `adds` to `map`'s counters, removing those that reach 0 (the
/// rule every [`crate::Host::counters_add`] follows).
pub fn add(map: &mut std::collections::BTreeMap<String, i64>, adds: &[(String, i64)]) {
    for (field, n) in adds {
        let v = map.entry(field.clone()).or_default();
        *v = v.saturating_add(*n);
        if *v == 0 {
            map.remove(field);
        }
    }
}
