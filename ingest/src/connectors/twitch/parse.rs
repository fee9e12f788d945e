//! One IRC line (RFC 1459 + IRCv3 message tags) split into borrowed parts, without allocating:
//! `@tags :prefix COMMAND params… :trailing`. Tag values stay escaped until read with
//! [`unescape`], so a line's unused tags cost nothing.

use std::borrow::Cow;

/// Most tags kept per line (a PRIVMSG has about 20; more are ignored, never an error).
pub const MAX_TAGS: usize = 48;
/// Most parameters kept per line (Twitch uses at most 2).
pub const MAX_PARAMS: usize = 8;

/// Why a line is not IRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but spaces.
    Empty,
    /// Tags or prefix without a command after them.
    NoCommand,
    /// A command with characters no IRC command has.
    BadCommand,
}

/// A parsed line borrowing from its text.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    tags: [(&'a str, &'a str); MAX_TAGS],
    ntags: usize,
    /// The source, without the leading `:` (`nick!user@host` or `tmi.twitch.tv`).
    pub prefix: Option<&'a str>,
    /// The command (`PRIVMSG`, `001`, …).
    pub command: &'a str,
    params: [&'a str; MAX_PARAMS],
    nparams: usize,
    /// Whether the last parameter was a `:trailing` one (it may be empty or hold spaces).
    pub has_trailing: bool,
}

impl<'a> Line<'a> {
    /// Parses one line (without its `\r\n`).
    pub fn parse(line: &'a str) -> Result<Line<'a>, ParseError> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        let mut out = Line {
            tags: [("", ""); MAX_TAGS],
            ntags: 0,
            prefix: None,
            command: "",
            params: [""; MAX_PARAMS],
            nparams: 0,
            has_trailing: false,
        };
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return Err(ParseError::Empty);
        }
        if let Some(r) = rest.strip_prefix('@') {
            let (tags, after) = r.split_once(' ').ok_or(ParseError::NoCommand)?;
            // One byte pass (the hot path: ~20 tags per PRIVMSG). `;` and `=` are ASCII, so
            // every slice boundary is a char boundary.
            let bytes = tags.as_bytes();
            let (mut start, mut eq) = (0usize, usize::MAX);
            let mut push = |start: usize, eq: usize, end: usize| {
                if end > start && out.ntags < MAX_TAGS {
                    out.tags[out.ntags] = if eq == usize::MAX {
                        (&tags[start..end], "")
                    } else {
                        (&tags[start..eq], &tags[eq + 1..end])
                    };
                    out.ntags += 1;
                }
            };
            for (i, &c) in bytes.iter().enumerate() {
                if c == b';' {
                    push(start, eq, i);
                    start = i + 1;
                    eq = usize::MAX;
                } else if c == b'=' && eq == usize::MAX {
                    eq = i;
                }
            }
            push(start, eq, bytes.len());
            rest = after.trim_start_matches(' ');
        }
        if let Some(r) = rest.strip_prefix(':') {
            let (p, after) = r.split_once(' ').ok_or(ParseError::NoCommand)?;
            out.prefix = Some(p);
            rest = after.trim_start_matches(' ');
        }
        let (cmd, mut params) = match rest.split_once(' ') {
            Some((c, p)) => (c, p),
            None => (rest, ""),
        };
        if cmd.is_empty() {
            return Err(ParseError::NoCommand);
        }
        if !cmd.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::BadCommand);
        }
        out.command = cmd;
        loop {
            params = params.trim_start_matches(' ');
            if params.is_empty() || out.nparams == MAX_PARAMS {
                break;
            }
            if let Some(t) = params.strip_prefix(':') {
                out.params[out.nparams] = t;
                out.nparams += 1;
                out.has_trailing = true;
                break;
            }
            let (p, after) = params.split_once(' ').unwrap_or((params, ""));
            out.params[out.nparams] = p;
            out.nparams += 1;
            params = after;
        }
        Ok(out)
    }

    /// A tag's raw (still escaped) value; `Some("")` for a tag present without a value.
    #[inline]
    pub fn tag(&self, key: &str) -> Option<&'a str> {
        self.tags[..self.ntags]
            .iter()
            .find(|(k, _)| k.len() == key.len() && *k == key)
            .map(|(_, v)| *v)
    }

    /// A tag's value, unescaped; absent and empty tags are `None`.
    pub fn tag_text(&self, key: &str) -> Option<Cow<'a, str>> {
        self.tag(key).filter(|v| !v.is_empty()).map(unescape)
    }

    /// Every tag, raw.
    pub fn tags(&self) -> &[(&'a str, &'a str)] {
        &self.tags[..self.ntags]
    }

    /// The `i`-th parameter (the trailing one included).
    pub fn param(&self, i: usize) -> Option<&'a str> {
        self.params[..self.nparams].get(i).copied()
    }

    /// The parameters.
    pub fn params(&self) -> &[&'a str] {
        &self.params[..self.nparams]
    }

    /// The nick of a `nick!user@host` prefix (the whole prefix otherwise).
    pub fn nick(&self) -> Option<&'a str> {
        self.prefix.map(|p| p.split(['!', '@']).next().unwrap_or(p))
    }

    /// The first parameter as a channel login: `#Name` → `name` (lower-case, without `#`).
    pub fn channel(&self) -> Option<String> {
        let p = self.param(0)?;
        let c = p.strip_prefix('#')?;
        if c.is_empty() {
            return None;
        }
        Some(c.to_ascii_lowercase())
    }
}

/// IRCv3 tag-value unescaping: `\s` space, `\:` `;`, `\\` `\`, `\r` CR, `\n` LF; any other
/// escaped character stands for itself and a lone trailing `\` is dropped (the spec's rules).
pub fn unescape(v: &str) -> Cow<'_, str> {
    if !v.contains('\\') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some(':') => out.push(';'),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_prefix_command_and_params() {
        let l = Line::parse(
            "@badge-info=;color=#0000FF;display-name=JuN1oRRRR;emotes= :jun1orrrr!jun1orrrr@jun1orrrr.tmi.twitch.tv PRIVMSG #pajlada :dank cam\r\n",
        )
        .unwrap();
        assert_eq!(l.command, "PRIVMSG");
        assert_eq!(l.tag("color"), Some("#0000FF"));
        assert_eq!(l.tag("emotes"), Some(""));
        assert_eq!(l.tag_text("emotes"), None);
        assert_eq!(l.tag("nope"), None);
        assert_eq!(l.nick(), Some("jun1orrrr"));
        assert_eq!(l.channel().as_deref(), Some("pajlada"));
        assert_eq!(l.param(1), Some("dank cam"));
        assert!(l.has_trailing);
    }

    #[test]
    fn both_ping_forms_and_bare_commands() {
        let a = Line::parse("PING :tmi.twitch.tv").unwrap();
        assert_eq!((a.command, a.param(0)), ("PING", Some("tmi.twitch.tv")));
        let b = Line::parse(":tmi.twitch.tv PING").unwrap();
        assert_eq!((b.command, b.param(0)), ("PING", None));
        let r = Line::parse(":tmi.twitch.tv RECONNECT #burkeblack").unwrap();
        assert_eq!(r.channel().as_deref(), Some("burkeblack"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for g in [
            "",
            "   ",
            "@a=b",
            ":prefix",
            "@a=b :p",
            "PRIV$MSG x",
            "\u{1}\u{2}",
            ":p  ",
        ] {
            assert!(Line::parse(g).is_err(), "{g:?}");
        }
        // Odd but parseable.
        assert!(Line::parse("@;;=;a :p X").is_ok());
    }

    #[test]
    fn unescapes_ircv3_values() {
        assert_eq!(unescape(r"Riot\sGames"), "Riot Games");
        assert_eq!(unescape(r"a\:b\\c\rd\ne"), "a;b\\c\rd\ne");
        assert_eq!(unescape(r"x\"), "x");
        assert_eq!(unescape(r"\q"), "q");
        assert!(matches!(unescape("plain"), Cow::Borrowed(_)));
    }
}
