//! Deserialization of `type`-tagged unions that keep unknown variants.
//!
//! serde's internally tagged enums cannot hold a catch-all with data, and
//! its untagged fallback would swallow the error of a *known* but invalid
//! variant. This macro dispatches on `type` itself: a known tag must parse
//! (its error is reported), an unknown or missing one becomes `Other`.

/// Implements `Deserialize` for an enum whose variants are
/// `Variant(Struct)` selected by the JSON `type` field, plus `Other(Value)`.
macro_rules! tagged_union {
    ($name:ident { $($tag:literal => $variant:ident),* $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                let mut value = serde_json::Value::deserialize(d)?;
                let tag = value.get("type").and_then(serde_json::Value::as_str).map(str::to_owned);
                match tag.as_deref() {
                    $(Some($tag) => {
                        if let Some(obj) = value.as_object_mut() {
                            obj.remove("type");
                        }
                        serde_json::from_value(value)
                            .map($name::$variant)
                            .map_err(|e| D::Error::custom(format!("invalid `{}`: {e}", $tag)))
                    })*
                    _ => Ok($name::Other(value)),
                }
            }
        }
    };
}

pub(crate) use tagged_union;

/// Implements `Deserialize` for an enum of `Text(String)` and
/// `$list(Vec<T>)`: a string or a list, where an invalid list element
/// reports its own error and index (an untagged enum would only say
/// "did not match any variant").
macro_rules! string_or_list {
    ($name:ident, $list:ident, $elem:ty, $what:literal) => {
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::Text(v.to_owned()))
                    }
                    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<$name, E> {
                        Ok($name::Text(v))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<$name, A::Error> {
                        let mut out: Vec<$elem> = Vec::new();
                        while let Some(x) = seq.next_element()? {
                            out.push(x);
                        }
                        Ok($name::$list(out))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

pub(crate) use string_or_list;
