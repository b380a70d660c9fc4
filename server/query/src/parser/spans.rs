//! Token lookups that give back what sqlparser's spans leave out: parentheses,
//! operators and keywords around an expression's operands.

use super::convert::Converter;
use super::*;

impl Converter {
    /// Index of the first token starting at or after `at`.
    pub(super) fn first_from(&self, at: Location) -> usize {
        self.toks.partition_point(|t| loc(t.span.start) < loc(at))
    }

    pub(super) fn tok(&self, i: usize) -> Option<&Token> {
        self.toks.get(i).map(|t| &t.token)
    }

    /// The index of the `)` closing the `(` at `open`.
    pub(super) fn closing(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (k, t) in self.toks.iter().enumerate().skip(open) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(k);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// `inner` widened to the parentheses right around it, if any.
    pub(super) fn parenthesised(&self, inner: Span) -> Span {
        if !inner.is_known() {
            return inner;
        }
        let i = self.first_from(Location::new(inner.line, inner.column));
        if i == 0 || self.tok(i - 1) != Some(&Token::LParen) {
            return inner;
        }
        match self.closing(i - 1) {
            Some(c) => span_of(self.toks[i - 1].span).union(span_of(self.toks[c].span)),
            None => inner,
        }
    }

    /// `inner` widened to the `WORD( ... )` call around it (`CAST(x AS INT)`,
    /// `FLOOR(x)`), or to the prefix operator token before it (`-x`, `NOT x`).
    pub(super) fn prefixed(&self, inner: Span, words: &[&str], op: Option<&Token>) -> Span {
        if !inner.is_known() {
            return inner;
        }
        let i = self.first_from(Location::new(inner.line, inner.column));
        if let Some(op) = op {
            return match i.checked_sub(1).map(|k| (k, &self.toks[k])) {
                Some((_, t)) if &t.token == op || words.iter().any(|w| is_kw(&t.token, w)) => {
                    span_of(t.span).union(inner)
                }
                _ => inner,
            };
        }
        if i >= 2
            && self.tok(i - 1) == Some(&Token::LParen)
            && words.iter().any(|w| is_kw(&self.toks[i - 2].token, w))
        {
            if let Some(c) = self.closing(i - 1) {
                return span_of(self.toks[i - 2].span).union(span_of(self.toks[c].span));
            }
        }
        inner
    }

    /// `from` extended over the `( ... )` that follows it (a call's argument list).
    pub(super) fn with_args(&self, from: Span) -> Span {
        if !from.is_known() {
            return from;
        }
        let i = self.first_from(Location::new(from.end_line, from.end_column));
        if self.tok(i) != Some(&Token::LParen) {
            return from;
        }
        match self.closing(i) {
            Some(c) => from.union(span_of(self.toks[c].span)),
            None => from,
        }
    }

    /// `inner` extended over the `)` right after it (`x IN (1, 2)`).
    pub(super) fn closed(&self, inner: Span) -> Span {
        if !inner.is_known() {
            return inner;
        }
        let i = self.first_from(Location::new(inner.end_line, inner.end_column));
        match self.toks.get(i) {
            Some(t) if t.token == Token::RParen => inner.union(span_of(t.span)),
            _ => inner,
        }
    }

    /// The first keyword `kw` of the statement (clauses arrayq rejects).
    pub(super) fn keyword(&self, kw: &str) -> Span {
        self.toks
            .iter()
            .find(|t| is_kw(&t.token, kw))
            .map(|t| span_of(t.span))
            .unwrap_or_default()
    }
}

/// Whether the token at `i` is keyword `kw`.
pub(super) fn is_kw_at(c: &Converter, i: usize, kw: &str) -> bool {
    c.toks.get(i).is_some_and(|t| is_kw(&t.token, kw))
}
