//! Markdown for the terminal, as text streams in. Each delta is shown at
//! once; when a line ends it is redrawn styled (headings, lists, quotes,
//! code blocks, inline `code` and **bold**), if it fits on one row so that
//! the redraw cannot leave a wrapped half behind.

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";
const YELLOW_BOLD: &str = "\x1b[1;33m";

/// Renders one answer.
pub struct Renderer {
    color: bool,
    width: usize,
    line: String,
    in_code: bool,
}

impl Renderer {
    /// A renderer; `color` false gives the text exactly as received.
    pub fn new(color: bool, width: usize) -> Self {
        Renderer {
            color,
            width: width.max(20),
            line: String::new(),
            in_code: false,
        }
    }

    /// Text to print for a delta.
    pub fn push(&mut self, delta: &str) -> String {
        let mut out = String::new();
        for piece in delta.split_inclusive('\n') {
            match piece.strip_suffix('\n') {
                Some(rest) => {
                    out.push_str(rest);
                    self.line.push_str(rest);
                    out.push_str(&self.end_line());
                    out.push('\n');
                }
                None => {
                    out.push_str(piece);
                    self.line.push_str(piece);
                }
            }
        }
        out
    }

    /// Text to print when the answer ends.
    pub fn finish(&mut self) -> String {
        if self.line.is_empty() {
            return String::new();
        }
        let styled = self.end_line();
        styled + "\n"
    }

    /// The redraw of the line just completed ("" when none is needed).
    fn end_line(&mut self) -> String {
        let line = std::mem::take(&mut self.line);
        if !self.color {
            return String::new();
        }
        let styled = self.style(&line);
        if styled == line || line.chars().count() >= self.width {
            return String::new();
        }
        format!("\r\x1b[2K{styled}")
    }

    fn style(&mut self, line: &str) -> String {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            self.in_code = !self.in_code;
            return format!("{DIM}{line}{RESET}");
        }
        if self.in_code {
            return format!("{CYAN}{line}{RESET}");
        }
        if let Some(h) = heading(trimmed) {
            return format!("{YELLOW_BOLD}{}{RESET}", inline(h));
        }
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            let indent = &line[..line.len() - trimmed.len()];
            return format!("{indent}• {}", inline(item));
        }
        if let Some(q) = trimmed.strip_prefix("> ") {
            return format!("{DIM}│ {}{RESET}", inline(q));
        }
        inline(line)
    }
}

fn heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (1..=6)
        .contains(&hashes)
        .then(|| line[hashes..].strip_prefix(' '))
        .flatten()
}

/// `code` and **bold** within a line.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("**") {
            if let Some(end) = r.find("**") {
                out.push_str(&format!("{BOLD}{}{RESET}", &r[..end]));
                rest = &r[end + 2..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('`') {
            if let Some(end) = r.find('`') {
                out.push_str(&format!("{CYAN}{}{RESET}", &r[..end]));
                rest = &r[end + 1..];
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_when_color_is_off() {
        let mut r = Renderer::new(false, 80);
        let out = r.push("# Title\n- item **b**") + &r.finish();
        assert_eq!(out, "# Title\n- item **b**\n");
    }

    #[test]
    fn styled_redraws_of_finished_lines() {
        let mut r = Renderer::new(true, 80);
        let out = r.push("# Ti") + &r.push("tle\n- one `x`\n```\nlet a;\n```\nplain\n");
        assert!(out.contains("\r\x1b[2K\x1b[1;33mTitle\x1b[0m\n"));
        assert!(out.contains("• one \x1b[36mx\x1b[0m"));
        assert!(out.contains("\x1b[36mlet a;\x1b[0m"), "code block lines");
        assert!(out.ends_with("plain\n"), "plain lines are not redrawn");
    }

    #[test]
    fn long_lines_are_not_redrawn() {
        let mut r = Renderer::new(true, 20);
        let out = r.push("**a very long line that wraps on a narrow terminal**\n");
        assert!(!out.contains('\r'));
    }
}
