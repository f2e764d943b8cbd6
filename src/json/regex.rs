//! Whether js-bson's `new RegExp(pattern, flags)` for a BSON regex is sure to succeed.
//!
//! With `bsonRegExp: false` js-bson builds a JS RegExp, which JSON.stringify writes as `{}`; but
//! the constructor throws on a pattern or flags JS rejects, and then the whole decode throws.
//! The renderer may only write `{}` when the constructor cannot throw, so this reads the pattern
//! by a deliberately small subset of the Annex B (non-unicode) grammar V8 uses, and answers no
//! for anything outside it: a no costs a fallback to the JS path, a wrong yes costs wrong bytes.

/// Longer patterns are refused: V8 has size limits of its own we do not model.
const MAX_LEN: usize = 32 * 1024;
/// Deeper group nesting is refused, for the same reason (and our own stack).
const MAX_DEPTH: u32 = 64;
/// More capture groups are refused (V8's own limit is far above; real patterns are far below).
const MAX_GROUPS: u32 = 1000;

/// Ok if js-bson's RegExp for this BSON pattern and options cannot throw, else the reason why not.
pub fn check(pattern: &str, options: &str) -> Result<(), &'static str> {
    // js-bson maps the BSON options m, s, i to the JS flags m, g, i, one flag per letter, and
    // drops the rest; a letter given twice is a repeated flag, which the constructor refuses.
    for flag in [b'm', b's', b'i'] {
        if options.bytes().filter(|&b| b == flag).count() > 1 {
            return Err("a regular expression whose options repeat a flag (JS's RegExp throws)");
        }
    }
    if pattern.len() > MAX_LEN {
        return Err("a regular expression longer than 32 KiB");
    }
    let mut p = Parser { s: pattern, b: pattern.as_bytes(), i: 0, depth: 0, groups: 0 };
    p.disjunction()?;
    if p.i < p.b.len() {
        // disjunction stops only at the end or at a ')' no group opened.
        return Err("a regular expression with an unmatched ')' (JS's RegExp throws)");
    }
    Ok(())
}

type Checked = Result<(), &'static str>;

const OUTSIDE: &str = "a regular expression outside the syntax checked here";

struct Parser<'s> {
    s: &'s str,
    b: &'s [u8],
    i: usize,
    depth: u32,
    groups: u32,
}

/// A class atom as far as a range needs it: a UTF-16 code unit, or something we don't evaluate.
#[derive(Clone, Copy)]
enum ClassAtom {
    Unit(u32),
    Other,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.i + ahead).copied()
    }

    /// Whether the `n` bytes after the current one are hex digits.
    fn hex_follows(&self, n: usize) -> bool {
        (1..=n).all(|k| self.peek_at(k).is_some_and(|c| c.is_ascii_hexdigit()))
    }

    /// Steps over one whole character (a UTF-8 sequence), returning it.
    fn bump_char(&mut self) -> char {
        let c = self.s[self.i..].chars().next().unwrap_or('\0');
        self.i += c.len_utf8().max(1);
        c
    }

    fn disjunction(&mut self) -> Checked {
        loop {
            self.alternative()?;
            if self.peek() != Some(b'|') {
                return Ok(());
            }
            self.i += 1;
        }
    }

    fn alternative(&mut self) -> Checked {
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                return Ok(());
            }
            self.term()?;
        }
        Ok(())
    }

    fn term(&mut self) -> Checked {
        let quantifiable = match self.peek() {
            Some(b'^') | Some(b'$') => {
                self.i += 1;
                false
            }
            Some(b'\\') => match self.peek_at(1) {
                None => return Err("a regular expression ending in '\\' (JS's RegExp throws)"),
                Some(b'b') | Some(b'B') => {
                    self.i += 2;
                    false
                }
                // Outside a class, every other escape is an atom in Annex B: a class escape,
                // a control or hex escape, a back reference or legacy octal, or an identity
                // escape. `\c` with no letter is a lone backslash; the `c` reads as a literal.
                Some(b'c') => {
                    self.i += if self.peek_at(2).is_some_and(|c| c.is_ascii_alphabetic()) {
                        3
                    } else {
                        1
                    };
                    true
                }
                Some(_) => {
                    self.i += 1;
                    self.bump_char();
                    true
                }
            },
            Some(b'(') => self.group()?,
            Some(b'[') => {
                self.class()?;
                true
            }
            Some(b'*') | Some(b'+') | Some(b'?') => {
                return Err("a regular expression with nothing to repeat (JS's RegExp throws)")
            }
            Some(b'{') if self.braced_quantifier().is_some() => {
                return Err("a regular expression with nothing to repeat (JS's RegExp throws)")
            }
            // '.', and any other character: '{', '}' and ']' are literals in Annex B when they
            // do not make a quantifier.
            Some(_) => {
                self.bump_char();
                true
            }
            None => return Ok(()),
        };
        if self.quantifier()? {
            if !quantifiable {
                return Err("a regular expression with nothing to repeat (JS's RegExp throws)");
            }
            if self.peek() == Some(b'?') {
                self.i += 1;
            }
        }
        Ok(())
    }

    /// Reads a quantifier if one is next; true if there was one.
    fn quantifier(&mut self) -> Result<bool, &'static str> {
        match self.peek() {
            Some(b'*') | Some(b'+') | Some(b'?') => {
                self.i += 1;
                Ok(true)
            }
            Some(b'{') => match self.braced_quantifier() {
                Some(Ok(len)) => {
                    self.i += len;
                    Ok(true)
                }
                Some(Err(e)) => Err(e),
                None => Ok(false),
            },
            _ => Ok(false),
        }
    }

    /// At a '{': its length if it is `{n}`, `{n,}` or `{n,m}` with n ≤ m; None if it is no
    /// quantifier at all (then it is a literal); an error if it is one JS refuses or we don't read.
    fn braced_quantifier(&self) -> Option<Result<usize, &'static str>> {
        let rest = &self.b[self.i + 1..];
        let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
        let n_len = digits(rest);
        if n_len == 0 {
            return None;
        }
        let mut at = n_len;
        let mut m_len = None;
        if rest.get(at) == Some(&b',') {
            at += 1;
            let len = digits(&rest[at..]);
            if len > 0 {
                m_len = Some((at, len));
            }
            at += len;
        }
        if rest.get(at) != Some(&b'}') {
            return None;
        }
        // V8 clamps large bounds, which can hide an out-of-order pair: we refuse them instead.
        if n_len > 9 || m_len.is_some_and(|(_, len)| len > 9) {
            return Some(Err("a regular expression with a repeat count above 9 digits"));
        }
        let number = |s: &[u8]| s.iter().fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
        if let Some((start, len)) = m_len {
            if number(&rest[..n_len]) > number(&rest[start..start + len]) {
                return Some(Err(
                    "a regular expression whose {n,m} is out of order (JS's RegExp throws)",
                ));
            }
        }
        Some(Ok(at + 2))
    }

    /// Reads a group; true if a quantifier may follow it.
    fn group(&mut self) -> Result<bool, &'static str> {
        self.i += 1;
        let quantifiable = if self.peek() == Some(b'?') {
            match (self.peek_at(1), self.peek_at(2)) {
                // Non-capturing group, or a lookahead (quantifiable in Annex B).
                (Some(b':'), _) | (Some(b'='), _) | (Some(b'!'), _) => {
                    self.i += 2;
                    true
                }
                // A lookbehind, which no quantifier may follow.
                (Some(b'<'), Some(b'=')) | (Some(b'<'), Some(b'!')) => {
                    self.i += 3;
                    false
                }
                // Named groups (and `\k` with them), modifiers: not read here.
                _ => return Err(OUTSIDE),
            }
        } else {
            self.groups += 1;
            if self.groups > MAX_GROUPS {
                return Err("a regular expression with over 1000 groups");
            }
            true
        };
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("a regular expression nested over 64 groups deep");
        }
        self.disjunction()?;
        if self.peek() != Some(b')') {
            return Err("a regular expression with an unterminated group (JS's RegExp throws)");
        }
        self.i += 1;
        self.depth -= 1;
        Ok(quantifiable)
    }

    fn class(&mut self) -> Checked {
        self.i += 1;
        if self.peek() == Some(b'^') {
            self.i += 1;
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "a regular expression with an unterminated class (JS's RegExp throws)",
                    )
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => {}
            }
            let from = self.class_atom()?;
            if self.peek() == Some(b'-') && !matches!(self.peek_at(1), None | Some(b']')) {
                self.i += 1;
                let to = self.class_atom()?;
                match (from, to) {
                    (ClassAtom::Unit(a), ClassAtom::Unit(b)) if a <= b => {}
                    (ClassAtom::Unit(_), ClassAtom::Unit(_)) => return Err(
                        "a regular expression with a class range out of order (JS's RegExp throws)",
                    ),
                    // Class escapes, octal escapes, astral characters (two code units in
                    // UTF-16) as range ends: JS's rules there are not modelled.
                    _ => return Err(OUTSIDE),
                }
            }
        }
    }

    fn class_atom(&mut self) -> Result<ClassAtom, &'static str> {
        if self.peek() != Some(b'\\') {
            let c = self.bump_char();
            return Ok(if (c as u32) < 0x10000 {
                ClassAtom::Unit(c as u32)
            } else {
                ClassAtom::Other
            });
        }
        self.i += 1;
        let Some(e) = self.peek() else {
            return Err("a regular expression ending in '\\' (JS's RegExp throws)");
        };
        let hex =
            |s: &[u8]| s.iter().fold(0u32, |n, c| n * 16 + (*c as char).to_digit(16).unwrap_or(0));
        let unit = match e {
            b'b' => 8,
            b't' => 9,
            b'n' => 10,
            b'v' => 11,
            b'f' => 12,
            b'r' => 13,
            b'x' if self.hex_follows(2) => {
                let v = hex(&self.b[self.i + 1..self.i + 3]);
                self.i += 3;
                return Ok(ClassAtom::Unit(v));
            }
            b'u' if self.hex_follows(4) => {
                let v = hex(&self.b[self.i + 1..self.i + 5]);
                self.i += 5;
                return Ok(ClassAtom::Unit(v));
            }
            b'0'..=b'9' => {
                // Octal or identity escapes of varying length: take every digit, so whatever
                // follows is not a digit JS would have read as part of it.
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                return Ok(ClassAtom::Other);
            }
            b'c' => {
                self.i += if self.peek_at(1).is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    2
                } else {
                    1
                };
                return Ok(ClassAtom::Other);
            }
            // Any other ASCII punctuation is an identity escape of itself.
            c if c.is_ascii_punctuation() || c == b' ' => u32::from(c),
            // Letters (class escapes \d \w \s, and the rest) and non-ASCII escapes.
            _ => {
                self.bump_char();
                return Ok(ClassAtom::Other);
            }
        };
        self.i += 1;
        Ok(ClassAtom::Unit(unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_what_js_accepts() {
        // `ok` is what node 20 says of new RegExp(pattern, flags); a refusal where node accepts
        // is allowed (listed as "outside"), an acceptance where node throws never is.
        let table: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("ab+c", "imsx", true),
            ("^a.*b$", "", true),
            ("a|b|", "", true),
            ("(a)(?:b)(?=c)(?!d)(?<=e)(?<!f)", "", true),
            ("(?=a)*", "", true),
            ("a{2}b{2,}c{2,3}d{3,3}?", "", true),
            ("{", "", true),
            ("a{", "", true),
            ("a{,5}", "", true),
            ("}]", "", true),
            ("\\d\\w\\s\\D\\W\\S\\.\\/\\k\\p{L}\\u{1F600}\\cA\\c\\1\\8", "", true),
            ("[]", "", true),
            ("[^]", "", true),
            ("[a-z0-9_-]", "", true),
            ("[-a][a-][a-b-c]", "", true),
            ("[\\]\\\\\\-\\b\\cA\\c]", "", true),
            ("[\\x41-\\x5a\\u0100-\\uffff]", "", true),
            ("[😀]é", "", true),
            ("\\", "", false),
            ("a\\", "", false),
            ("[", "", false),
            ("[\\", "", false),
            ("(", "", false),
            (")", "", false),
            ("a)", "", false),
            ("*a", "", false),
            ("a|*", "", false),
            ("a**", "", false),
            ("a*??", "", false),
            ("x{2}{3}", "", false),
            ("{1}", "", false),
            ("a{2,1}", "", false),
            ("^*", "", false),
            ("\\b+", "", false),
            ("(?<=a)*", "", false),
            ("[z-a]", "", false),
            ("[😀-😁]", "", false),
            ("a", "mm", false),
            ("a", "ss", false),
            ("a", "ii", false),
        ];
        for (pattern, options, ok) in table {
            assert_eq!(
                check(pattern, options).is_ok(),
                *ok,
                "/{pattern}/{options}: {:?}",
                check(pattern, options)
            );
        }
    }

    #[test]
    fn refuses_what_it_does_not_read() {
        // Node accepts each of these; we refuse them rather than model them.
        for pattern in ["(?<n>a)\\k<n>", "[\\d-z]", "[\\0-\\1]", "[a-😀]", "a{1234567890}"] {
            assert!(check(pattern, "").is_err(), "{pattern}");
        }
    }
}
