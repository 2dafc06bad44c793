//! Just enough JSON for the credential endpoints (ECS, IMDS): one object whose
//! scalar members are kept as text; nested values are skipped.

use std::collections::HashMap;

pub(super) fn parse_object(text: &str) -> Result<HashMap<String, String>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let mut out = HashMap::new();
    p.ws();
    if p.eat(b'}') {
        return Ok(out);
    }
    loop {
        p.ws();
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        if let Some(value) = p.value()? {
            out.insert(key, value);
        }
        p.ws();
        if p.eat(b'}') {
            return Ok(out);
        }
        p.expect(b',')?;
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", b as char, self.i))
        }
    }

    /// A scalar as text; `None` for a nested object or array (skipped).
    fn value(&mut self) -> Result<Option<String>, String> {
        match self.s.get(self.i) {
            Some(b'"') => self.string().map(Some),
            Some(b'{' | b'[') => self.skip_nested().map(|()| None),
            Some(_) => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                Ok(Some(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            None => Err("document ends before a value".into()),
        }
    }

    fn skip_nested(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        while let Some(&b) = self.s.get(self.i) {
            match b {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err("document ends inside a nested value".into())
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("document ends inside a string".into());
            };
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|_| "string is not UTF-8".into()),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("document ends inside an escape".into());
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| format!("bad \\u escape at byte {}", self.i))?;
        self.i += 4;
        Ok(digits)
    }

    fn unicode(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return Err("lone surrogate".into());
            }
            let lo = self.hex4()?;
            0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| "invalid \\u escape".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_escapes_and_skips_nesting() {
        let m = parse_object(
            r#" { "Code" : "Success", "N": 12, "Ok": true, "Nested": {"a": [1, "}"]},
                 "Token": "a\/b\"c\u00e9\ud83d\ude00" } "#,
        )
        .unwrap();
        assert_eq!(m["Code"], "Success");
        assert_eq!(m["N"], "12");
        assert_eq!(m["Ok"], "true");
        assert_eq!(m["Token"], "a/b\"c\u{e9}\u{1F600}");
        assert!(!m.contains_key("Nested"));
        assert!(parse_object("{}").unwrap().is_empty());
    }

    #[test]
    fn rejects_broken_documents() {
        for bad in [
            "",
            "[]",
            r#"{"a": "b""#,
            r#"{"a" "b"}"#,
            r#"{"a": "\x"}"#,
            r#"{"a": {"#,
        ] {
            assert!(parse_object(bad).is_err(), "{bad}");
        }
    }
}
