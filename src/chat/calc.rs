//! The built-in calculator tool, executed locally: `+ - * / % ^`,
//! parentheses, unary minus, decimals. No variables, no functions, so
//! nothing the model sends can do more than arithmetic.

use serde_json::{json, Value};

/// The tool definition offered to the model.
pub fn tool() -> Value {
    json!({
        "type": "function",
        "name": "calculator",
        "description": "Evaluate an arithmetic expression, for example (2 + 3) * 4.5 / 2",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "The expression"}},
            "required": ["expression"]
        }
    })
}

/// Runs a call's JSON arguments; the result (or the error) is the output
/// returned to the model.
pub fn run(arguments: &str) -> String {
    let expr = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| {
            v.get("expression")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    match evaluate(&arithmetic_part(&expr)) {
        Ok(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Ok(v) => format!("{v}"),
        Err(e) => format!("error: {e}"),
    }
}

/// The longest run of arithmetic characters in `s`, so that a model (or
/// an echoing mock) passing "what is 2+3" still computes 2+3.
fn arithmetic_part(s: &str) -> String {
    let is_math = |c: char| c.is_ascii_digit() || "+-*/%^(). ".contains(c);
    let mut best = "";
    let mut start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), '\0'))) {
        match (is_math(c) && c != '\0', start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                let run = s[st..i].trim();
                if run.chars().any(|c| c.is_ascii_digit()) && run.len() > best.len() {
                    best = run;
                }
                start = None;
            }
            _ => {}
        }
    }
    best.to_owned()
}

/// Evaluates an expression.
pub fn evaluate(s: &str) -> Result<f64, String> {
    let tokens: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { t: &tokens, i: 0 };
    let v = p.sum()?;
    if p.i != tokens.len() {
        return Err(format!("unexpected `{}`", tokens[p.i]));
    }
    if v.is_finite() {
        Ok(v)
    } else {
        Err("the result is not a finite number".into())
    }
}

struct Parser<'a> {
    t: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.t.get(self.i).copied()
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek() {
            self.i += 1;
            let r = self.product()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.unary()?;
        while let Some(op @ ('*' | '/' | '%')) = self.peek() {
            self.i += 1;
            let r = self.unary()?;
            v = match op {
                '*' => v * r,
                '/' if r == 0.0 => return Err("division by zero".into()),
                '/' => v / r,
                _ => v % r,
            };
        }
        Ok(v)
    }

    /// Unary minus binds looser than `^`: -2^2 is -4.
    fn unary(&mut self) -> Result<f64, String> {
        if self.peek() == Some('-') {
            self.i += 1;
            return Ok(-self.unary()?);
        }
        self.power()
    }

    /// Right-associative; the exponent may be negative (2^-1).
    fn power(&mut self) -> Result<f64, String> {
        let base = self.atom()?;
        if self.peek() == Some('^') {
            self.i += 1;
            return Ok(base.powf(self.unary()?));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some('(') => {
                self.i += 1;
                let v = self.sum()?;
                if self.peek() != Some(')') {
                    return Err("missing `)`".into());
                }
                self.i += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.i += 1;
                }
                let s: String = self.t[start..self.i].iter().collect();
                s.parse().map_err(|_| format!("bad number `{s}`"))
            }
            Some(c) => Err(format!("unexpected `{c}`")),
            None => Err("unexpected end".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(evaluate("2+3*4"), Ok(14.0));
        assert_eq!(evaluate("(2 + 3) * 4.5 / 2"), Ok(11.25));
        assert_eq!(evaluate("-2^2"), Ok(-4.0));
        assert_eq!(evaluate("2^3^2"), Ok(512.0));
        assert_eq!(evaluate("2^-1"), Ok(0.5));
        assert_eq!(evaluate("-(3-5)*2"), Ok(4.0));
        assert!(evaluate("1/0").is_err());
        assert!(evaluate("2+").is_err());
        assert!(evaluate("rm -rf").is_err());
    }

    #[test]
    fn tool_runs_on_arguments() {
        assert_eq!(run(r#"{"expression": "12*(3+4)"}"#), "84");
        assert_eq!(
            run(r#"{"expression": "calculator: what is 7 / 2?"}"#),
            "3.5"
        );
        assert!(run("{}").starts_with("error"));
    }
}
