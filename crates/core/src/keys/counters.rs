//! Integer counters in a hash: the one rule every counter store
//! follows (a counter that reaches 0 is removed).

/// Adds `adds` to `map`'s counters, removing those that reach 0 (the
/// rule every [`crate::Host::counters_add`] follows).
pub fn add(map: &mut std::collections::BTreeMap<String, i64>, adds: &[(String, i64)]) {
    for (field, n) in adds {
        let v = map.entry(field.clone()).or_default();
        *v += n;
        if *v == 0 {
            map.remove(field);
        }
    }
}
