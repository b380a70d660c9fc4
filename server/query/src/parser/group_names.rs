//! `GROUP BY key AS name`: a group key named where it is written (the result
//! dimension's name), as in `GROUP BY extract(month FROM time) AS month, lat, lon`.
//! sqlparser knows no alias in GROUP BY, so the `AS name` pairs are taken out of the
//! tokens before it parses, remembered per GROUP keyword and key position.

use super::*;
use std::collections::HashMap;

/// Per `GROUP` keyword (by its position in the text), the names given to its keys
/// (by key index).
pub(super) type GroupNames = HashMap<(u64, u64), Vec<(usize, Name)>>;

/// The clauses that end a GROUP BY list.
const AFTER_GROUP_BY: [&str; 8] = [
    "HAVING",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "WINDOW",
    "UNION",
    "EXCEPT",
    "INTERSECT",
];

/// Removes every `AS name` that follows a GROUP BY key from `toks`.
pub(super) fn take_group_names(toks: &mut Vec<TokenWithSpan>) -> GroupNames {
    let mut names = GroupNames::new();
    let mut i = 0;
    while i + 1 < toks.len() {
        if !(is_kw(&toks[i].token, "GROUP") && is_kw(&toks[i + 1].token, "BY")) {
            i += 1;
            continue;
        }
        let at = (toks[i].span.start.line, toks[i].span.start.column);
        let mut key = 0;
        let mut depth = 0usize;
        let mut j = i + 2;
        while j < toks.len() {
            match &toks[j].token {
                Token::LParen => depth += 1,
                // The end of the subquery this GROUP BY is in.
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Comma if depth == 0 => key += 1,
                t if depth == 0 && AFTER_GROUP_BY.iter().any(|k| is_kw(t, k)) => break,
                t if depth == 0
                    && is_kw(t, "AS")
                    && matches!(toks.get(j + 1).map(|n| &n.token), Some(Token::Word(_))) =>
                {
                    let Token::Word(w) = &toks[j + 1].token else {
                        unreachable!()
                    };
                    let name = Name {
                        value: w.value.clone(),
                        span: span_of(toks[j + 1].span),
                    };
                    names.entry(at).or_default().push((key, name));
                    toks.drain(j..j + 2);
                    continue;
                }
                _ => {}
            }
            j += 1;
        }
        i += 2;
    }
    names
}
