//! A small UCI file reader, and a writer that changes one option in place.
//! It owns the UCI text format only (what `libuci`'s `file.c` accepts:
//! `package`, `config TYPE ['NAME']`, `option NAME 'VALUE'`,
//! `list NAME 'VALUE'`, the one-letter forms `p`/`c`/`o`/`l`, single and
//! double quotes, backslash escapes, adjacent strings that concatenate,
//! multi-line quoted values, `#` comments, `;` between commands, CRLF line
//! ends) and nothing about what the options mean.
//!
//! Why not the `uci_rs` crate (0.1.2, checked): a file holding just
//! `package` makes its lexer loop forever, it rejects uci's own quote escape
//! `'it'\''s'` and adjacent strings (`'a''b'`), it keeps backslashes in
//! values undecoded, reports byte offsets instead of lines, and its writer
//! re-serialises the whole file (comments lost) without escaping quotes.
//! The subset we need is about 500 lines, so we own it.
//!
//! Semantics follow libuci in strict mode (the default of the `uci` tool):
//! - `option N ''` deletes option N; a later `option N` replaces an earlier
//!   one (list or not) and moves it to the end, as `uci_set` does;
//! - `list N` after `option N 'v'` turns it into the list `[v, ...]`;
//! - a named section that appears twice is one section (options merge);
//!   with a different type it is an error;
//! - names of sections and options are `[A-Za-z0-9_]+`; types (and package
//!   names) are printable ASCII without spaces;
//! - a non-empty extra argument ("option a b c") is an error.
//!
//! We are stricter than libuci in three corner cases: the file must be
//! UTF-8, hold no NUL byte, and not end in a backslash (libuci drops it;
//! text appended after it would turn it into a line continuation). Also a
//! `;` may start a line here (libuci calls that an invalid command). Every
//! error carries the file name and the 1-based line.

use std::fmt;
use std::ops::Range;

/// A syntax error, with the line it was found on (0: not tied to a line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.msg)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.msg)
        }
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for crate::error::Error {
    fn from(e: ParseError) -> Self {
        crate::error::Error::invalid(e.to_string())
    }
}

/// The value of an option: `option` gives `Single`, `list` gives `List`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Single(String),
    List(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UciOption {
    pub name: String,
    pub value: Value,
    /// Line of the statement that set the value (for a list: its first item).
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub stype: String,
    /// `None` for an anonymous section (`config zone`).
    pub name: Option<String>,
    /// Line of the (first) `config` statement.
    pub line: usize,
    pub options: Vec<UciOption>,
}

impl Section {
    pub fn get(&self, name: &str) -> Option<&UciOption> {
        self.options.iter().find(|o| o.name == name)
    }

    /// The option's value if it is a single value (not a list).
    pub fn get_single(&self, name: &str) -> Option<&str> {
        match self.get(name).map(|o| &o.value) {
            Some(Value::Single(s)) => Some(s),
            _ => None,
        }
    }
}

/// Parse a whole UCI file. `file` is only used in error messages.
/// Never panics, whatever the bytes.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Vec<Section>, ParseError> {
    let text = check_text(file, bytes)?;
    let stmts = lex(file, text)?;
    Ok(assemble(file, &stmts)?.0)
}

/// Set `option` to `value` in the first section of type `section_type`
/// whose option `match_opt.0` is the single value `match_opt.1`, and keep
/// every other byte of `text` as it is. Existing `option`/`list` lines of
/// that name are replaced by one `option` line (at the first one's place).
/// Without such a section, one is appended:
/// `\nconfig TYPE\n\toption MATCH 'VAL'\n\toption OPTION 'VALUE'\n`.
/// An empty `value` means "delete" to uci, as `option N ''` does.
pub fn set_option(
    text: &str,
    section_type: &str,
    match_opt: (&str, &str),
    option: &str,
    value: &str,
) -> Result<String, ParseError> {
    const FILE: &str = "(config text)";
    let arg_err = |msg: String| ParseError {
        file: FILE.to_string(),
        line: 0,
        msg,
    };
    if !valid_type(section_type) {
        return Err(arg_err(format!("invalid section type '{section_type}'")));
    }
    for n in [match_opt.0, option] {
        if !valid_name(n) {
            return Err(arg_err(format!("invalid option name '{n}'")));
        }
    }
    for v in [match_opt.1, value] {
        if v.bytes().any(|b| b < 0x20 && b != b'\t') {
            return Err(arg_err(format!("value {v:?} contains a control character")));
        }
    }

    let stmts = lex(FILE, text)?;
    let (sections, members) = assemble(FILE, &stmts)?;
    let found = sections
        .iter()
        .position(|s| s.stype == section_type && s.get_single(match_opt.0) == Some(match_opt.1));
    let new_stmt = format!("option {option} {}", quote(value));

    let Some(si) = found else {
        let mut out = String::with_capacity(text.len() + 64);
        out.push_str(text);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "\nconfig {section_type}\n\toption {} {}\n",
            match_opt.0,
            quote(match_opt.1)
        ));
        out.push_str(&format!("\t{new_stmt}\n"));
        return Ok(out);
    };

    // Edits as (byte range, replacement), applied back to front.
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let same: Vec<&Stmt> = members[si]
        .iter()
        .filter_map(|&i| stmts.get(i))
        .filter(|s| s.option_name() == Some(option))
        .collect();
    if let Some((first, rest)) = same.split_first() {
        edits.push((first.span.clone(), new_stmt));
        for s in rest {
            edits.push((removal_range(text, &s.span), String::new()));
        }
    } else {
        // Insert after the section's last statement, indented like its
        // options (a tab if it has none).
        let last = members[si].iter().filter_map(|&i| stmts.get(i)).next_back();
        let Some(last) = last else {
            return Err(arg_err("internal: section without statements".into()));
        };
        let indent = members[si]
            .iter()
            .filter_map(|&i| stmts.get(i))
            .filter(|s| s.option_name().is_some())
            .map(|s| line_indent(text, s.span.start))
            .next_back()
            .unwrap_or("\t");
        let end = last.span.end;
        let rest_of_line = line_rest(text, end);
        if rest_is_blank_or_comment(rest_of_line) {
            let at = end + rest_of_line.len();
            if at < text.len() {
                // after the '\n'
                edits.push((at + 1..at + 1, format!("{indent}{new_stmt}\n")));
            } else {
                edits.push((at..at, format!("\n{indent}{new_stmt}\n")));
            }
        } else {
            // Another command follows on the same line (after ';').
            edits.push((end..end, format!("\n{indent}{new_stmt}")));
        }
    }

    edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
    let mut out = text.to_string();
    for (range, repl) in edits {
        if range.start > range.end
            || range.end > out.len()
            || !out.is_char_boundary(range.start)
            || !out.is_char_boundary(range.end)
        {
            return Err(arg_err("internal: edit out of range".into()));
        }
        out.replace_range(range, &repl);
    }
    Ok(out)
}

/// Quote a value the way `uci export` does: single quotes, with each `'`
/// written as `'\''`.
pub fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        if c == '\'' {
            s.push_str("'\\''");
        } else {
            s.push(c);
        }
    }
    s.push('\'');
    s
}

/// uci's rule for section and option names.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// uci's rule for section types and package names.
pub fn valid_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (33..=126).contains(&b))
}

// ---------------------------------------------------------------------
// Lexer: text -> statements with their byte spans and lines.

#[derive(Clone, Debug)]
enum StmtKind {
    Package,
    Config { stype: String, name: Option<String> },
    Option { name: String, value: String },
    List { name: String, value: String },
}

#[derive(Clone, Debug)]
struct Stmt {
    kind: StmtKind,
    line: usize,
    /// From the keyword to the end of its last argument.
    span: Range<usize>,
}

impl Stmt {
    fn option_name(&self) -> Option<&str> {
        match &self.kind {
            StmtKind::Option { name, .. } | StmtKind::List { name, .. } => Some(name),
            _ => None,
        }
    }
}

fn check_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, ParseError> {
    let line_at = |i: usize| 1 + bytes.iter().take(i).filter(|&&b| b == b'\n').count();
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            if let Some(i) = bytes.iter().position(|&b| b == 0) {
                return Err(ParseError {
                    file: file.to_string(),
                    line: line_at(i),
                    msg: "NUL byte in file".into(),
                });
            }
            Ok(text)
        }
        Err(e) => Err(ParseError {
            file: file.to_string(),
            line: line_at(e.valid_up_to()),
            msg: "invalid UTF-8".into(),
        }),
    }
}

/// Whitespace inside a line, as C's isspace() minus '\n'.
fn is_hspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

struct Lexer<'a> {
    file: &'a str,
    b: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn err(&self, line: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            msg: msg.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(self.pos + off).copied()
    }

    fn skip_hspace(&mut self) {
        while self.peek().is_some_and(is_hspace) {
            self.pos += 1;
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    /// If at a backslash that ends the line ("\\\n" or "\\\r\n"), consume
    /// it: uci joins the next line there.
    fn take_continuation(&mut self) -> bool {
        if self.peek() != Some(b'\\') {
            return false;
        }
        let n = match (self.peek_at(1), self.peek_at(2)) {
            (Some(b'\n'), _) => 2,
            (Some(b'\r'), Some(b'\n')) => 3,
            _ => return false,
        };
        self.pos += n;
        self.line += 1;
        true
    }

    /// The next argument of a command, or None at the end of the command
    /// (end of line, `#`, `;`, end of file). An argument may be empty ('').
    fn read_arg(&mut self) -> Result<Option<(String, usize)>, ParseError> {
        self.skip_hspace();
        match self.peek() {
            None | Some(b'\n') | Some(b'#') | Some(b';') => return Ok(None),
            _ => {}
        }
        let mut out: Vec<u8> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b'\n' | b'#' | b';' => break,
                c if is_hspace(c) => break,
                b'\'' => {
                    let start_line = self.line;
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(
                                    self.err(start_line, "unterminated single-quoted string")
                                )
                            }
                            Some(b'\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(c) => {
                                if c == b'\n' {
                                    self.line += 1;
                                }
                                out.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                }
                b'"' => {
                    let start_line = self.line;
                    self.pos += 1;
                    loop {
                        if self.take_continuation() {
                            continue;
                        }
                        match self.peek() {
                            None => {
                                return Err(
                                    self.err(start_line, "unterminated double-quoted string")
                                )
                            }
                            Some(b'"') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b'\\') => {
                                // Drop the backslash, keep the next byte.
                                self.pos += 1;
                                if let Some(c) = self.peek() {
                                    out.push(c);
                                    self.pos += 1;
                                }
                            }
                            Some(c) => {
                                if c == b'\n' {
                                    self.line += 1;
                                }
                                out.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                }
                b'\\' => {
                    if self.take_continuation() {
                        continue;
                    }
                    self.pos += 1;
                    // libuci drops a backslash at the very end of the file;
                    // we refuse it, so that text appended later (by the
                    // writer) cannot turn it into a line continuation.
                    // The same for "\\\r" at the end ("\\\r\n" would join).
                    let c = match (self.peek(), self.peek_at(1)) {
                        (None, _) | (Some(b'\r'), None) => {
                            return Err(self.err(self.line, "backslash at end of file"))
                        }
                        (Some(c), _) => c,
                    };
                    out.push(c);
                    self.pos += 1;
                }
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        let end = self.pos;
        // Only ASCII bytes were removed or split at, so this cannot fail on
        // UTF-8 input; map it to an error anyway instead of panicking.
        let s = String::from_utf8(out).map_err(|_| self.err(self.line, "invalid UTF-8"))?;
        Ok(Some((s, end)))
    }

    /// After a command's arguments: allow empty extra arguments (libuci
    /// does), reject others, then stop at the end of the command.
    fn finish_command(&mut self, end: &mut usize) -> Result<(), ParseError> {
        let line = self.line;
        while let Some((extra, e)) = self.read_arg()? {
            if !extra.is_empty() {
                return Err(self.err(line, format!("too many arguments ('{extra}')")));
            }
            *end = e;
        }
        Ok(())
    }
}

fn lex(file: &str, text: &str) -> Result<Vec<Stmt>, ParseError> {
    let mut lx = Lexer {
        file,
        b: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_hspace();
        let Some(c) = lx.peek() else { break };
        match c {
            b'\n' => {
                lx.pos += 1;
                lx.line += 1;
                continue;
            }
            b'#' => {
                lx.skip_comment();
                continue;
            }
            b';' => {
                lx.pos += 1;
                continue;
            }
            _ => {}
        }
        let start = lx.pos;
        let line = lx.line;
        while lx.peek().is_some_and(|c| !is_hspace(c) && c != b'\n') {
            lx.pos += 1;
        }
        let word = text.get(start..lx.pos).unwrap_or("");
        let mut end;
        let kind = match word {
            "package" | "p" => {
                let Some((name, e)) = lx.read_arg()? else {
                    return Err(lx.err(line, "package without name"));
                };
                if !valid_type(&name) {
                    return Err(lx.err(line, format!("invalid package name '{name}'")));
                }
                end = e;
                StmtKind::Package
            }
            "config" | "c" => {
                let Some((stype, e)) = lx.read_arg()? else {
                    return Err(lx.err(line, "config without section type"));
                };
                if !valid_type(&stype) {
                    return Err(lx.err(line, format!("invalid section type '{stype}'")));
                }
                end = e;
                let mut name = None;
                if let Some((n, e)) = lx.read_arg()? {
                    end = e;
                    if !n.is_empty() {
                        if !valid_name(&n) {
                            return Err(lx.err(
                                line,
                                format!("invalid section name '{n}': use A-Z, a-z, 0-9 and _"),
                            ));
                        }
                        name = Some(n);
                    }
                }
                StmtKind::Config { stype, name }
            }
            "option" | "o" | "list" | "l" => {
                let Some((name, e)) = lx.read_arg()? else {
                    return Err(lx.err(line, format!("{word} without name")));
                };
                if !valid_name(&name) {
                    return Err(lx.err(
                        line,
                        format!("invalid option name '{name}': use A-Z, a-z, 0-9 and _"),
                    ));
                }
                end = e;
                let mut value = String::new();
                if let Some((v, e)) = lx.read_arg()? {
                    value = v;
                    end = e;
                }
                if word.starts_with('o') {
                    StmtKind::Option { name, value }
                } else {
                    StmtKind::List { name, value }
                }
            }
            w if w.starts_with('#') => {
                lx.skip_comment();
                continue;
            }
            w => {
                let shown: String = w.chars().take(40).collect();
                return Err(lx.err(
                    line,
                    format!("invalid command '{shown}': expected package, config, option or list"),
                ));
            }
        };
        lx.finish_command(&mut end)?;
        out.push(Stmt {
            kind,
            line,
            span: start..end,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------
// Assembly: statements -> sections, with libuci's merge rules.

/// Sections, and for each one the indexes of the statements that belong
/// to it (its `config` lines and every option/list line).
type Assembled = (Vec<Section>, Vec<Vec<usize>>);

fn assemble(file: &str, stmts: &[Stmt]) -> Result<Assembled, ParseError> {
    let mut sections: Vec<Section> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut cur: Option<usize> = None;
    for (i, st) in stmts.iter().enumerate() {
        match &st.kind {
            StmtKind::Package => {}
            StmtKind::Config { stype, name } => {
                let existing = name.as_ref().and_then(|n| {
                    sections
                        .iter()
                        .position(|s| s.name.as_deref() == Some(n.as_str()))
                });
                if let Some(idx) = existing {
                    let prev = &sections[idx];
                    if prev.stype != *stype {
                        return Err(ParseError {
                            file: file.to_string(),
                            line: st.line,
                            msg: format!(
                                "section '{}' of type '{}' redefined as type '{}' (first at line {})",
                                name.as_deref().unwrap_or(""),
                                prev.stype,
                                stype,
                                prev.line
                            ),
                        });
                    }
                    members[idx].push(i);
                    cur = Some(idx);
                } else {
                    sections.push(Section {
                        stype: stype.clone(),
                        name: name.clone(),
                        line: st.line,
                        options: Vec::new(),
                    });
                    members.push(vec![i]);
                    cur = Some(sections.len() - 1);
                }
            }
            StmtKind::Option { name, value } | StmtKind::List { name, value } => {
                let Some(idx) = cur else {
                    return Err(ParseError {
                        file: file.to_string(),
                        line: st.line,
                        msg: "option/list before the first config section".into(),
                    });
                };
                members[idx].push(i);
                let opts = &mut sections[idx].options;
                let pos = opts.iter().position(|o| o.name == *name);
                if matches!(st.kind, StmtKind::Option { .. }) {
                    if let Some(p) = pos {
                        opts.remove(p);
                    }
                    if !value.is_empty() {
                        opts.push(UciOption {
                            name: name.clone(),
                            value: Value::Single(value.clone()),
                            line: st.line,
                        });
                    }
                } else {
                    match pos.map(|p| (p, &mut opts[p].value)) {
                        Some((_, Value::List(items))) => items.push(value.clone()),
                        Some((p, Value::Single(old))) => {
                            let items = vec![std::mem::take(old), value.clone()];
                            let line = opts[p].line;
                            opts.remove(p);
                            opts.push(UciOption {
                                name: name.clone(),
                                value: Value::List(items),
                                line,
                            });
                        }
                        None => opts.push(UciOption {
                            name: name.clone(),
                            value: Value::List(vec![value.clone()]),
                            line: st.line,
                        }),
                    }
                }
            }
        }
    }
    Ok((sections, members))
}

// ---------------------------------------------------------------------
// Writer helpers.

/// The text from `at` to the end of its line (without the '\n').
fn line_rest(text: &str, at: usize) -> &str {
    let rest = text.get(at..).unwrap_or("");
    match rest.find('\n') {
        Some(n) => &rest[..n],
        None => rest,
    }
}

fn rest_is_blank_or_comment(rest: &str) -> bool {
    let t = rest.trim_start_matches(|c: char| c.is_ascii() && is_hspace(c as u8));
    t.is_empty() || t.starts_with('#')
}

/// The whitespace before `at` on its line, if only whitespace precedes it.
fn line_indent(text: &str, at: usize) -> &str {
    let before = text.get(..at).unwrap_or("");
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    let indent = &before[start..];
    if indent.bytes().all(|b| b == b' ' || b == b'\t') {
        indent
    } else {
        "\t"
    }
}

/// What to delete to drop the statement at `span`: its whole line when the
/// line holds nothing else (a trailing comment goes with it), else the span.
fn removal_range(text: &str, span: &Range<usize>) -> Range<usize> {
    let before = text.get(..span.start).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let only_space_before = before[line_start..]
        .bytes()
        .all(|b| b == b' ' || b == b'\t');
    let rest = line_rest(text, span.end);
    if only_space_before && rest_is_blank_or_comment(rest) {
        let mut end = span.end + rest.len();
        if end < text.len() {
            end += 1; // the '\n'
        }
        line_start..end
    } else {
        span.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<Section> {
        match parse("t", text.as_bytes()) {
            Ok(s) => s,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn perr(text: &[u8]) -> ParseError {
        match parse("/etc/config/x", text) {
            Ok(s) => panic!("expected an error, got {s:?}"),
            Err(e) => e,
        }
    }

    fn single(s: &Section, name: &str) -> String {
        s.get_single(name)
            .unwrap_or_else(|| panic!("no single option {name} in {s:?}"))
            .to_string()
    }

    /// A typical OpenWrt 23.05 /etc/config/firewall (shortened rules).
    pub(crate) const FIREWALL: &str = "\
config defaults
\toption syn_flood\t1
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT
# Uncomment this line to disable ipv6 rules
#\toption disable_ipv6\t1

config zone
\toption name\t\tlan
\tlist   network\t\t'lan'
\toption input\t\tACCEPT
\toption output\t\tACCEPT
\toption forward\t\tACCEPT

config zone
\toption name\t\twan
\tlist   network\t\t'wan'
\tlist   network\t\t'wan6'
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT
\toption masq\t\t1
\toption mtu_fix\t\t1

config forwarding
\toption src\t\tlan
\toption dest\t\twan

# We need to accept udp packets on port 68,
# see https://dev.openwrt.org/ticket/4108
config rule
\toption name\t\tAllow-DHCP-Renew
\toption src\t\twan
\toption proto\t\tudp
\toption dest_port\t68
\toption target\t\tACCEPT
\toption family\t\tipv4

config rule
\toption name\t\tAllow-ICMPv6-Input
\toption src\t\twan
\toption proto\ticmp
\tlist icmp_type\t\techo-request
\tlist icmp_type\t\techo-reply
\tlist icmp_type\t\tdestination-unreachable
\toption limit\t\t1000/sec
\toption family\t\tipv6
\toption target\t\tACCEPT
";

    #[test]
    fn real_firewall_file() {
        let s = p(FIREWALL);
        let types: Vec<&str> = s.iter().map(|s| s.stype.as_str()).collect();
        assert_eq!(
            types,
            ["defaults", "zone", "zone", "forwarding", "rule", "rule"]
        );
        assert!(s.iter().all(|s| s.name.is_none()));
        assert_eq!(single(&s[1], "name"), "lan");
        assert_eq!(s[1].line, 9);
        assert_eq!(
            s[2].get("network").map(|o| &o.value),
            Some(&Value::List(vec!["wan".into(), "wan6".into()]))
        );
        assert_eq!(s[2].get("network").map(|o| o.line), Some(18));
        assert_eq!(single(&s[5], "limit"), "1000/sec");
        // The commented-out option is not there.
        assert!(s[0].get("disable_ipv6").is_none());
        assert_eq!(single(&s[0], "input"), "REJECT");
    }

    #[test]
    fn quoting_styles() {
        let s = p(concat!(
            "config 'zone' \"lan\"\n",
            "\toption a 'single # not a comment'\n",
            "\toption b \"double \\\"esc\\\" \\\\ back\"\n",
            "\toption c 'it'\\''s'\n",
            "\toption d 'x'\"y\"z\n",
            "\toption e un\\ quoted\n",
            "\toption f \"tab\\tn\"\n",
            "\toption 'g' ''\n",
            "\toption h 'ünï'\n",
        ));
        assert_eq!(s[0].stype, "zone");
        assert_eq!(s[0].name.as_deref(), Some("lan"));
        let sec = &s[0];
        assert_eq!(single(sec, "a"), "single # not a comment");
        assert_eq!(single(sec, "b"), "double \"esc\" \\ back");
        assert_eq!(single(sec, "c"), "it's");
        assert_eq!(single(sec, "d"), "xyz");
        assert_eq!(single(sec, "e"), "un quoted");
        // libuci does not decode \t: the backslash just goes away.
        assert_eq!(single(sec, "f"), "tabtn");
        // `option g ''` sets nothing.
        assert!(sec.get("g").is_none());
        assert_eq!(single(sec, "h"), "ünï");
    }

    #[test]
    fn multiline_values_and_continuations() {
        let s = p("config x\n\toption a 'one\ntwo'\n\toption b lo\\\nng\n\toption c 'z'\n");
        assert_eq!(single(&s[0], "a"), "one\ntwo");
        assert_eq!(single(&s[0], "b"), "long");
        // Lines keep counting through both.
        assert_eq!(s[0].get("c").map(|o| o.line), Some(6));
    }

    #[test]
    fn comments_full_line_and_trailing() {
        let s = p("# head\nconfig zone lan # trailing\n  # indented\n\toption name lan#glued\n\toption x 'a#b' # c\n");
        assert_eq!(s[0].name.as_deref(), Some("lan"));
        assert_eq!(single(&s[0], "name"), "lan");
        assert_eq!(single(&s[0], "x"), "a#b");
    }

    #[test]
    fn crlf_and_short_keywords_and_semicolons() {
        let s = p("package firewall\r\n\r\nc zone\r\n\to name 'lan'\r\n\tl network lan\r\n\toption a 1; option b 2\r\n");
        assert_eq!(single(&s[0], "name"), "lan");
        assert_eq!(
            s[0].get("network").map(|o| &o.value),
            Some(&Value::List(vec!["lan".into()]))
        );
        assert_eq!(single(&s[0], "a"), "1");
        assert_eq!(single(&s[0], "b"), "2");
    }

    #[test]
    fn lists_and_option_list_interplay() {
        let s = p("config z\n\tlist n a\n\tlist n ''\n\tlist n 'b c'\n\toption o 1\n\tlist o 2\n\tlist p x\n\toption p y\n\toption q 1\n\toption q ''\n\toption r 1\n\toption r 2\n");
        let z = &s[0];
        assert_eq!(
            z.get("n").map(|o| &o.value),
            Some(&Value::List(vec!["a".into(), "".into(), "b c".into()]))
        );
        assert_eq!(
            z.get("o").map(|o| &o.value),
            Some(&Value::List(vec!["1".into(), "2".into()]))
        );
        assert_eq!(single(z, "p"), "y");
        assert!(z.get("q").is_none());
        assert_eq!(single(z, "r"), "2");
        assert_eq!(z.get("r").map(|o| o.line), Some(12));
    }

    #[test]
    fn anonymous_and_named_sections_merge() {
        let s = p("config zone\n\toption name a\nconfig zone 'b'\n\toption x 1\nconfig zone\nconfig zone 'b'\n\toption y 2\nconfig zone ''\n");
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].name.as_deref(), Some("b"));
        assert_eq!(single(&s[1], "x"), "1");
        assert_eq!(single(&s[1], "y"), "2");
        assert_eq!(s[1].line, 3);
        assert_eq!(s[3].name, None);
        let e = perr(b"config zone 'b'\nconfig rule 'b'\n");
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("first at line 1"), "{e}");
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert!(p("").is_empty());
        assert!(p("\n\n# nothing\n   \n").is_empty());
        assert!(p("package x").is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = perr(b"config zone\n\toption name 'lan\n\toption x y\n");
        assert_eq!(e.line, 2);
        assert_eq!(e.file, "/etc/config/x");
        assert!(e.msg.contains("unterminated single-quoted"), "{e}");
        assert!(e.to_string().starts_with("/etc/config/x:2: "), "{e}");

        let e = perr(b"config zone\n\n\toption name \"lan\n");
        assert_eq!(e.line, 3);
        assert!(e.msg.contains("double-quoted"), "{e}");

        let e = perr(b"\toption name lan\nconfig zone\n");
        assert_eq!(e.line, 1);
        assert!(e.msg.contains("before the first config"), "{e}");

        let e = perr(b"config zone\n\toption na-me lan\n");
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("invalid option name 'na-me'"), "{e}");

        let e = perr(b"config zone 'my-lan'\n");
        assert!(e.msg.contains("invalid section name"), "{e}");

        let e = perr(b"config 'bad type'\n");
        assert!(e.msg.contains("invalid section type"), "{e}");

        let e = perr(b"config zone\n\toption name lan wan\n");
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("too many arguments"), "{e}");

        let e = perr(b"config zone\n\tfoo name lan\n");
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("invalid command 'foo'"), "{e}");

        let e = perr(b"config\n");
        assert!(e.msg.contains("without section type"), "{e}");
        let e = perr(b"config zone\n\toption\n");
        assert_eq!(e.line, 2);

        let e = perr(b"config zone\n\toption name 'l\xffan'\n");
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("UTF-8"), "{e}");

        let e = perr(b"config zone\n\toption name lan\\");
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("backslash at end of file"), "{e}");
        // Found by the fuzzer: "\\\r" at the end became a continuation
        // once the writer appended a line.
        let e = perr(b"config zone\n\toption name lan\\\r");
        assert!(e.msg.contains("backslash at end of file"), "{e}");

        let e = perr(b"config zone\n\n\n\toption name a\0b\n");
        assert_eq!(e.line, 4);
        assert!(e.msg.contains("NUL"), "{e}");
    }

    #[test]
    fn truncated_files() {
        // Cut a real file at every byte: never panics, and errors (if any)
        // point at a line that exists.
        let full = FIREWALL.as_bytes();
        for n in 0..full.len() {
            let cut = &full[..n];
            if let Err(e) = parse("f", cut) {
                let lines = cut.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(e.line >= 1 && e.line <= lines, "{e} for cut {n}");
            }
        }
        // A cut inside a quoted value is an error, not a silent value.
        let e = perr(b"config zone\n\toption name 'la");
        assert_eq!(e.line, 2);
        // A cut after a complete unquoted value is fine (no final newline).
        assert_eq!(single(&p("config zone\n\toption name la")[0], "name"), "la");
    }

    #[test]
    fn fuzz_seed_files_parse() {
        let seeds: [(&str, &[u8]); 6] = [
            (
                "firewall",
                include_bytes!("../../fuzz/corpus/uci_parse/seed-firewall"),
            ),
            (
                "network",
                include_bytes!("../../fuzz/corpus/uci_parse/seed-network"),
            ),
            (
                "dhcp",
                include_bytes!("../../fuzz/corpus/uci_parse/seed-dhcp"),
            ),
            (
                "nftoffload",
                include_bytes!("../../fuzz/corpus/uci_parse/seed-nftoffload"),
            ),
            (
                "crlf",
                include_bytes!("../../fuzz/corpus/uci_parse/seed-crlf"),
            ),
            (
                "oldstyle",
                include_bytes!("../../fuzz/corpus/uci_parse/seed-oldstyle"),
            ),
        ];
        for (name, bytes) in seeds {
            if let Err(e) = parse(name, bytes) {
                panic!("seed {name}: {e}");
            }
        }
        let net = parse("n", seeds[1].1).unwrap();
        let wan = net
            .iter()
            .find(|s| s.name.as_deref() == Some("wan"))
            .unwrap();
        assert_eq!(single(wan, "password"), "p4ss'word");

        // Old-style quoting everywhere, a re-opened named section, short
        // keywords, `;`, and multi-line values.
        let old = parse("o", seeds[5].1).unwrap();
        let types: Vec<&str> = old.iter().map(|s| s.stype.as_str()).collect();
        assert_eq!(types, ["defaults", "zone", "rule"]);
        assert_eq!(single(&old[0], "output"), "ACCEPT");
        assert_eq!(old[1].name.as_deref(), Some("zlan"));
        assert_eq!(single(&old[1], "device"), "eth0.1 tun+");
        assert_eq!(
            old[1].get("network").map(|o| &o.value),
            Some(&Value::List(vec!["lan lan6".into(), "guest".into()]))
        );
        assert_eq!(single(&old[2], "name"), "Allow-\"quoted\"-'rule'");
        assert_eq!(single(&old[2], "dest"), "lan");
        assert_eq!(single(&old[2], "extra"), "--multi line");
        assert_eq!(single(&old[2], "note"), "multi\nline single");
    }

    #[test]
    fn quote_escapes_single_quotes() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }

    const OFFLOAD: &str = "\
# nftoffload: per-zone flow offloading
config globals 'globals'
\toption enabled '1'   # master switch

config zone
\toption name 'lan'
\toption mode 'software'

# the WAN side
config zone
\toption name 'wan'
\toption mode 'off'
";

    fn find<'a>(s: &'a [Section], zone: &str) -> &'a Section {
        s.iter()
            .find(|s| s.stype == "zone" && s.get_single("name") == Some(zone))
            .unwrap_or_else(|| panic!("no zone {zone}"))
    }

    #[test]
    fn writer_replaces_one_line_and_keeps_the_rest() {
        let out = set_option(OFFLOAD, "zone", ("name", "wan"), "mode", "hardware").unwrap();
        let expected = OFFLOAD.replace(
            "\toption name 'wan'\n\toption mode 'off'",
            "\toption name 'wan'\n\toption mode 'hardware'",
        );
        assert_eq!(out, expected);
        let s = p(&out);
        assert_eq!(single(find(&s, "wan"), "mode"), "hardware");
        assert_eq!(single(find(&s, "lan"), "mode"), "software");
    }

    #[test]
    fn writer_keeps_trailing_comment_on_replaced_line() {
        let out = set_option(OFFLOAD, "globals", ("enabled", "1"), "enabled", "0").unwrap();
        assert!(
            out.contains("\toption enabled '0'   # master switch\n"),
            "{out}"
        );
        assert_eq!(out.len(), OFFLOAD.len());
    }

    #[test]
    fn writer_inserts_missing_option_after_the_section() {
        let text = "config zone\n    option name 'dmz'   # no mode yet\n\nconfig zone\n\toption name 'x'\n";
        let out = set_option(text, "zone", ("name", "dmz"), "mode", "software").unwrap();
        assert_eq!(
            out,
            "config zone\n    option name 'dmz'   # no mode yet\n    option mode 'software'\n\nconfig zone\n\toption name 'x'\n"
        );
        // At the end of a file without a final newline.
        let out = set_option(
            "config zone\n\toption name 'dmz'",
            "zone",
            ("name", "dmz"),
            "mode",
            "off",
        )
        .unwrap();
        assert_eq!(
            out,
            "config zone\n\toption name 'dmz'\n\toption mode 'off'\n"
        );
        // Setting the match option itself: the new section ends with the new value.
        let out = set_option("", "globals", ("x", "y"), "x", "1").unwrap();
        assert_eq!(p(&out)[0].get_single("x"), Some("1"), "{out}");
    }

    #[test]
    fn writer_appends_a_section_when_none_matches() {
        let out = set_option(OFFLOAD, "zone", ("name", "guest"), "mode", "software").unwrap();
        assert!(out.starts_with(OFFLOAD));
        assert_eq!(
            &out[OFFLOAD.len()..],
            "\nconfig zone\n\toption name 'guest'\n\toption mode 'software'\n"
        );
        let out = set_option("# only a comment", "zone", ("name", "a"), "mode", "off").unwrap();
        assert_eq!(
            out,
            "# only a comment\n\nconfig zone\n\toption name 'a'\n\toption mode 'off'\n"
        );
        let out = set_option("", "zone", ("name", "a"), "mode", "off").unwrap();
        assert_eq!(
            out,
            "\nconfig zone\n\toption name 'a'\n\toption mode 'off'\n"
        );
    }

    #[test]
    fn writer_collapses_duplicates_and_lists() {
        let text = "config zone\n\toption name lan\n\tlist mode a # x\n\toption foo 1\n\tlist mode b\n\toption mode c; option bar 2\n";
        let out = set_option(text, "zone", ("name", "lan"), "mode", "hardware").unwrap();
        assert_eq!(
            out,
            "config zone\n\toption name lan\n\toption mode 'hardware' # x\n\toption foo 1\n\t; option bar 2\n"
        );
        let s = p(&out);
        assert_eq!(single(&s[0], "mode"), "hardware");
        assert_eq!(single(&s[0], "bar"), "2");
    }

    #[test]
    fn writer_quotes_values_with_quotes() {
        let out = set_option(OFFLOAD, "zone", ("name", "lan"), "note", "it's \"x\" \\ $y").unwrap();
        assert!(out.contains("option note 'it'\\''s \"x\" \\ $y'"), "{out}");
        let s = p(&out);
        assert_eq!(single(find(&s, "lan"), "note"), "it's \"x\" \\ $y");
        // And a match value with a quote is found again after writing.
        let out2 = set_option(&out, "zone", ("note", "it's \"x\" \\ $y"), "mode", "off").unwrap();
        assert_eq!(single(find(&p(&out2), "lan"), "mode"), "off");
    }

    #[test]
    fn writer_rejects_bad_arguments_and_bad_text() {
        assert!(set_option(OFFLOAD, "zone", ("na me", "x"), "mode", "off").is_err());
        assert!(set_option(OFFLOAD, "zone", ("name", "x"), "mo-de", "off").is_err());
        assert!(set_option(OFFLOAD, "", ("name", "x"), "mode", "off").is_err());
        assert!(set_option(OFFLOAD, "zone", ("name", "x"), "mode", "a\nb").is_err());
        let e = set_option(
            "config zone\n\toption name 'x",
            "zone",
            ("name", "x"),
            "mode",
            "off",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn writer_round_trips_on_the_firewall_file() {
        for zone in ["lan", "wan"] {
            for v in ["a", "it's", "", "x y"] {
                let out = set_option(FIREWALL, "zone", ("name", zone), "offload", v).unwrap();
                let s = p(&out);
                let z = find(&s, zone);
                if v.is_empty() {
                    assert!(z.get("offload").is_none());
                } else {
                    assert_eq!(single(z, "offload"), v);
                }
                // Every other section is unchanged.
                let before = p(FIREWALL);
                assert_eq!(s.len(), before.len());
                let shape = |s: &Section| {
                    let opts: Vec<_> = s
                        .options
                        .iter()
                        .map(|o| (o.name.clone(), o.value.clone()))
                        .collect();
                    (s.stype.clone(), s.name.clone(), opts)
                };
                for (a, b) in s.iter().zip(&before) {
                    if a.get_single("name") != Some(zone) {
                        assert_eq!(shape(a), shape(b));
                    }
                }
                // Only lines were added: the original lines are all there in order.
                let mut it = out.lines();
                for l in FIREWALL.lines() {
                    assert!(it.any(|o| o == l), "lost line {l:?}");
                }
            }
        }
    }
}
