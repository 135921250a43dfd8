//! `${VAR}` and `${VAR:-default}` expansion in string values.

use serde_norway::Value;

use super::ConfigError;

pub(super) fn expand_value(
    v: &mut Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match v {
        Value::String(s) if s.contains('$') => *s = expand_str(s, path, env)?,
        Value::Mapping(m) => {
            for (k, child) in m.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k.as_str().unwrap_or("?"));
                expand_value(child, path, env)?;
                path.truncate(len);
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand_value(child, path, env)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Expands one string. `$$` is a literal `$`.
pub(super) fn expand_str(
    s: &str,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("${") {
            let Some(end) = r.find('}') else {
                return Err(ConfigError::invalid(
                    key,
                    format!("unclosed `${{` in `{s}`"),
                ));
            };
            let expr = &r[..end];
            let (name, default) = match expr.find(":-") {
                Some(j) => (&expr[..j], Some(&expr[j + 2..])),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::invalid(
                    key,
                    format!("`${{{expr}}}` is not a valid variable reference"),
                ));
            }
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(ConfigError::MissingVar {
                        key: key.to_owned(),
                        var: name.to_owned(),
                    })
                }
            }
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The variable names `${…}` references in a text, for hosts whose
/// variable reads are async (Spin): read them first, then expand.
pub fn referenced_vars(text: &str) -> Vec<String> {
    // `$$` is a literal `$`, not the start of a reference.
    let mut names: Vec<String> = text
        .replace("$$", "")
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split(['}', ':']).next())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}
