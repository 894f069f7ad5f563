//! Splits catalog text into tokens.
//!
//! Line breaks are plain whitespace: a statement ends where the next one begins (at the
//! keywords `schema`, `feature`, `segment`), so an unfinished expression simply
//! continues on the next line. Lexical errors (a stray `@`, an unterminated string) are
//! reported here and leave an [`TokenKind::Invalid`] token behind, which makes the
//! parser drop the statement without a second message about it.

use super::diagnostic::Reports;
use super::source::Span;

/// Reserved words: none of them can name a feature, segment or column.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    Schema,
    Feature,
    Model,
    Segment,
    And,
    Or,
    Not,
    In,
    Where,
    Within,
    True,
    False,
    Now,
    Users,
    Events,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        Some(match word {
            "schema" => Keyword::Schema,
            "feature" => Keyword::Feature,
            "model" => Keyword::Model,
            "segment" => Keyword::Segment,
            "and" => Keyword::And,
            "or" => Keyword::Or,
            "not" => Keyword::Not,
            "in" => Keyword::In,
            "where" => Keyword::Where,
            "within" => Keyword::Within,
            "true" => Keyword::True,
            "false" => Keyword::False,
            "now" => Keyword::Now,
            "users" => Keyword::Users,
            "events" => Keyword::Events,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    Keyword(Keyword),
    /// A decimal number such as `5` or `0.75`.
    Number,
    /// A number immediately followed by letters, such as `30d` (or the invalid `30x`).
    Duration,
    /// A quoted string; holds the text with `''` unescaped.
    Str(String),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    Comma,
    Dot,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    /// Something already reported as a lexical error.
    Invalid,
    /// The end of the file, placed right after the last token.
    Eof,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token<'s> {
    pub kind: TokenKind,
    /// The token exactly as written.
    pub text: &'s str,
    pub span: Span,
}

/// The tokens of one file, always ending with [`TokenKind::Eof`].
pub(crate) fn tokenize<'s>(file: usize, text: &'s str, reports: &mut Reports) -> Vec<Token<'s>> {
    let mut lexer = Lexer {
        file,
        text,
        pos: 0,
        tokens: Vec::new(),
        reports,
    };
    lexer.run();
    let end = lexer.tokens.last().map_or(0, |t| t.span.end);
    lexer.tokens.push(Token {
        kind: TokenKind::Eof,
        text: "",
        span: Span::new(file, end, end),
    });
    lexer.tokens
}

struct Lexer<'s, 'r> {
    file: usize,
    text: &'s str,
    /// Byte offset of the next character; always on a character boundary.
    pos: usize,
    tokens: Vec<Token<'s>>,
    reports: &'r mut Reports,
}

impl<'s> Lexer<'s, '_> {
    fn run(&mut self) {
        while let Some(c) = self.text[self.pos..].chars().next() {
            let start = self.pos;
            match c {
                ' ' | '\t' | '\r' | '\n' => self.pos += 1,
                '#' => self.pos = self.line_end(start),
                'a'..='z' | 'A'..='Z' | '_' => {
                    self.skip_word();
                    let kind = Keyword::from_word(&self.text[start..self.pos])
                        .map_or(TokenKind::Ident, TokenKind::Keyword);
                    self.push(kind, start);
                }
                '0'..='9' => self.number(start),
                '\'' => self.string(start),
                _ => self.symbol(start, c),
            }
        }
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            text: &self.text[start..self.pos],
            span: Span::new(self.file, start, self.pos),
        });
    }

    fn invalid(&mut self, start: usize, message: String, label: &str) {
        self.reports
            .error(Span::new(self.file, start, self.pos), message, label);
        self.push(TokenKind::Invalid, start);
    }

    fn line_end(&self, from: usize) -> usize {
        self.text[from..]
            .find('\n')
            .map_or(self.text.len(), |i| from + i)
    }

    fn skip_word(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
    }

    fn skip_digits(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
    }

    /// `123`, `0.75`, or a duration-like `30d` / `1.5d` (validated by the parser, which
    /// knows whether a duration is wanted there).
    fn number(&mut self, start: usize) {
        self.skip_digits();
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) == Some(&b'.')
            && bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit)
        {
            self.pos += 1;
            self.skip_digits();
        }
        let glued = self.text.as_bytes().get(self.pos);
        if glued.is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') {
            self.skip_word();
            self.push(TokenKind::Duration, start);
        } else {
            self.push(TokenKind::Number, start);
        }
    }

    /// A single-quoted string on one line; `''` stands for one quote.
    fn string(&mut self, start: usize) {
        let bytes = self.text.as_bytes();
        let mut value = String::new();
        let mut piece = start + 1;
        let mut i = start + 1;
        // Only ASCII bytes are matched, so every cut is on a character boundary.
        loop {
            match bytes.get(i) {
                Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => {
                    value.push_str(&self.text[piece..=i]);
                    i += 2;
                    piece = i;
                }
                Some(b'\'') => {
                    value.push_str(&self.text[piece..i]);
                    self.pos = i + 1;
                    self.push(TokenKind::Str(value), start);
                    return;
                }
                Some(b'\n') | None => {
                    self.pos = if i > start + 1 && bytes[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    let message = "unterminated string; close it with `'` on the same line";
                    self.invalid(start, message.to_string(), "string starts here");
                    self.pos = i;
                    return;
                }
                Some(_) => i += 1,
            }
        }
    }

    fn symbol(&mut self, start: usize, c: char) {
        let next = self.text[start + c.len_utf8()..].chars().next();
        let (kind, len) = match (c, next) {
            ('=', Some('=')) => {
                return self.foreign(start, 2, "`==` is not an operator; write `=`")
            }
            ('!', Some('=')) => (TokenKind::Ne, 2),
            ('!', _) => {
                return self.foreign(start, 1, "`!` is not an operator; write `!=` or `not`")
            }
            ('<', Some('>')) => {
                return self.foreign(start, 2, "`<>` is not an operator; write `!=`")
            }
            ('&', Some('&')) => {
                return self.foreign(start, 2, "`&&` is not an operator; write `and`")
            }
            ('|', Some('|')) => {
                return self.foreign(start, 2, "`||` is not an operator; write `or`")
            }
            ('<', Some('=')) => (TokenKind::Le, 2),
            ('>', Some('=')) => (TokenKind::Ge, 2),
            ('=', _) => (TokenKind::Eq, 1),
            ('<', _) => (TokenKind::Lt, 1),
            ('>', _) => (TokenKind::Gt, 1),
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            (',', _) => (TokenKind::Comma, 1),
            ('.', _) => (TokenKind::Dot, 1),
            (':', _) => (TokenKind::Colon, 1),
            ('+', _) => (TokenKind::Plus, 1),
            ('-', _) => (TokenKind::Minus, 1),
            ('*', _) => (TokenKind::Star, 1),
            ('/', _) => (TokenKind::Slash, 1),
            _ => return self.stray(start),
        };
        self.pos += len;
        self.push(kind, start);
    }

    /// An operator from another language (`len` ASCII bytes), reported with its
    /// spelling here.
    fn foreign(&mut self, start: usize, len: usize, message: &str) {
        self.pos = start + len;
        self.invalid(start, message.to_string(), "");
    }

    /// A run of characters that cannot start any token, reported once.
    fn stray(&mut self, start: usize) {
        let rest = &self.text[start..];
        let len = rest
            .char_indices()
            .find(|&(i, c)| i > 0 && (c.is_ascii_whitespace() || starts_token(c)))
            .map_or(rest.len(), |(i, _)| i);
        self.pos = start + len;
        let run: String = rest[..len].chars().flat_map(char::escape_debug).collect();
        let noun = if rest[..len].chars().nth(1).is_some() {
            "characters"
        } else {
            "character"
        };
        self.invalid(
            start,
            format!("unexpected {noun} `{run}`"),
            "not part of the language",
        );
    }
}

fn starts_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_#'=!<>(),.:+-*/".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> (Vec<TokenKind>, usize) {
        let mut reports = Reports::default();
        let tokens = tokenize(0, text, &mut reports);
        let errors = if reports.is_empty() {
            0
        } else {
            count(reports)
        };
        (tokens.into_iter().map(|t| t.kind).collect(), errors)
    }

    fn count(reports: Reports) -> usize {
        let mut sources = super::super::source::SourceMap::default();
        sources.add("t", String::new());
        reports.into_diagnostics(&sources).len()
    }

    #[test]
    fn words_numbers_durations_and_operators() {
        use TokenKind::*;
        let (kinds, errors) = kinds("segment s = x.y >= 1.5 and now - 14d # comment\n!= <=");
        assert_eq!(errors, 0);
        assert_eq!(
            kinds,
            [
                Keyword(super::Keyword::Segment),
                Ident,
                Eq,
                Ident,
                Dot,
                Ident,
                Ge,
                Number,
                Keyword(super::Keyword::And),
                Keyword(super::Keyword::Now),
                Minus,
                Duration,
                Ne,
                Le,
                Eof
            ]
        );
    }

    #[test]
    fn strings_unescape_doubled_quotes() {
        let (kinds, errors) = kinds("'it''s' ''");
        assert_eq!(errors, 0);
        assert_eq!(kinds[0], TokenKind::Str("it's".into()));
        assert_eq!(kinds[1], TokenKind::Str(String::new()));
    }

    #[test]
    fn bad_durations_are_one_token() {
        let mut reports = Reports::default();
        let tokens = tokenize(0, "1.5d 30x", &mut reports);
        assert_eq!(tokens[0].text, "1.5d");
        assert_eq!(tokens[0].kind, TokenKind::Duration);
        assert_eq!(tokens[1].text, "30x");
    }

    #[test]
    fn lexical_errors_leave_invalid_tokens() {
        let (kinds, errors) = kinds("a @@ b 'open\nc == d é");
        assert_eq!(errors, 4);
        assert_eq!(
            kinds.iter().filter(|k| **k == TokenKind::Invalid).count(),
            4
        );
        assert_eq!(kinds.last(), Some(&TokenKind::Eof));
    }

    #[test]
    fn end_of_file_follows_the_last_token() {
        let mut reports = Reports::default();
        let tokens = tokenize(0, "ab  \n\n", &mut reports);
        assert_eq!(tokens[1].span, Span::new(0, 2, 2));
        assert_eq!(tokenize(0, "", &mut reports)[0].span, Span::new(0, 0, 0));
    }
}
