//! The best-matching passage of an article's plain text.
//!
//! tantivy's snippet generator cuts the text into fixed, non-overlapping windows, so a match
//! often sits at the very end of its window. This picks whole sentences instead: the run of
//! consecutive sentences that fits the length budget and covers the most (and rarest) query
//! terms.

use std::collections::HashMap;
use std::ops::Range;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer, TokenStream,
};

/// Builds a one-line snippet of at most about `max_chars` characters of `text` (plain text,
/// one block per line). `weights` maps analysed query terms to how much finding them is
/// worth. Without any matching term, the snippet is the start of the text.
pub(crate) fn snippet(
    analyzer: &TextAnalyzer,
    weights: &HashMap<String, f32>,
    text: &str,
    max_chars: usize,
) -> String {
    let text = text.trim_end();
    let range = best_passage(analyzer, weights, text, max_chars)
        .unwrap_or_else(|| 0..cut_at_word(text, 0, max_chars));
    let mut out = String::with_capacity(range.len() + 8);
    if range.start > 0 {
        out.push('…');
    }
    for (i, line) in text[range.clone()].lines().enumerate() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            continue;
        }
        if i > 0 && !out.is_empty() && !out.ends_with('…') {
            // Headings and list items have no final punctuation; keep them apart.
            if !out.ends_with(['.', '!', '?', ':', ';', ',']) {
                out.push('.');
            }
            out.push(' ');
        }
        out.push_str(&line);
    }
    if range.end < text.len() {
        out.push('…');
    }
    out
}

fn best_passage(
    analyzer: &TextAnalyzer,
    weights: &HashMap<String, f32>,
    text: &str,
    max_chars: usize,
) -> Option<Range<usize>> {
    if weights.is_empty() {
        return None;
    }
    // (byte offset, weight, term) of every token that is a query term. Stemming every word of
    // every hit's body was most of a search's time, so words are only stemmed when their first
    // letters (lower-cased, accent-folded) could begin a query stem: Snowball stemmers only
    // rewrite the end of a word.
    let prefixes: Vec<&str> = weights.keys().map(|t| prefix(t)).collect();
    let mut matches: Vec<(usize, f32, &str)> = Vec::new();
    let mut plain = plain_analyzer();
    let mut analyzer = analyzer.clone();
    let mut words = plain.token_stream(text);
    while words.advance() {
        let word = words.token();
        if !prefixes.iter().any(|p| word.text.starts_with(p)) {
            continue;
        }
        let (from, to) = (word.offset_from, word.offset_to);
        let mut stemmed = analyzer.token_stream(&text[from..to]);
        if stemmed.advance()
            && let Some((term, &w)) = weights.get_key_value(stemmed.token().text.as_str())
        {
            matches.push((from, w, term.as_str()));
        }
    }
    if matches.is_empty() {
        return None;
    }

    let sentences = sentences(text);
    let mut best: Option<(f32, Range<usize>)> = None;
    for i in 0..sentences.len() {
        // Passages start with a sentence that matches, not with filler before it.
        if !matches.iter().any(|m| sentences[i].contains(&m.0)) {
            continue;
        }
        let start = sentences[i].start;
        let mut end = sentences[i].end;
        for s in &sentences[i + 1..] {
            if text[start..s.end].chars().count() > max_chars {
                break;
            }
            end = s.end;
        }
        let score = window_score(&matches, start..end);
        if score > 0.0 && best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, start..end));
        }
    }
    let (_, range) = best?;
    if text[range.clone()].chars().count() <= max_chars {
        return Some(range);
    }
    // One sentence longer than the budget: start a little before its first match.
    let first = matches
        .iter()
        .map(|m| m.0)
        .find(|&o| range.contains(&o))
        .unwrap_or(range.start);
    let lead = text[range.start..first]
        .char_indices()
        .rev()
        .nth(60)
        .map_or(range.start, |(i, _)| range.start + i);
    let start = match text[lead..first].find(char::is_whitespace) {
        Some(i) if lead > range.start => lead + i + 1,
        _ => lead,
    };
    Some(start..cut_at_word(text, start, max_chars).min(range.end))
}

/// Words split, lower-cased and accent-folded like the language analyzers, but not stemmed.
fn plain_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The first three characters of a term (all of a shorter one).
fn prefix(term: &str) -> &str {
    term.char_indices().nth(3).map_or(term, |(i, _)| &term[..i])
}

/// Distinct terms count fully, repeats a little.
fn window_score(matches: &[(usize, f32, &str)], range: Range<usize>) -> f32 {
    let mut seen: Vec<&str> = Vec::new();
    let mut score = 0.0;
    for &(offset, w, term) in matches {
        if range.contains(&offset) {
            if seen.contains(&term) {
                score += w * 0.1;
            } else {
                seen.push(term);
                score += w;
            }
        }
    }
    score
}

/// Byte ranges of sentences: lines, split after `.`, `!`, `?` followed by a space.
fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let mut start = line_start;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1) == Some(&b' ') {
                push_trimmed(text, start..line_start + i + 1, &mut out);
                start = line_start + i + 1;
            }
        }
        push_trimmed(text, start..line_start + line.len(), &mut out);
        line_start += line.len();
    }
    out
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let s = &text[range.clone()];
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.trim();
    if !trimmed.is_empty() {
        out.push(range.start + lead..range.start + lead + trimmed.len());
    }
}

/// End of the longest prefix of `text[start..]` with at most `max_chars` characters, cut at
/// whitespace when possible.
fn cut_at_word(text: &str, start: usize, max_chars: usize) -> usize {
    let rest = &text[start..];
    let Some((limit, _)) = rest.char_indices().nth(max_chars) else {
        return text.len();
    };
    match rest[..limit].rfind(char::is_whitespace) {
        Some(i) if i > 0 => start + rest[..i].trim_end().len(),
        _ => start + limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Lang;

    fn weights(terms: &[&str]) -> HashMap<String, f32> {
        terms.iter().map(|t| (t.to_string(), 1.0)).collect()
    }

    #[test]
    fn picks_the_sentences_with_the_most_terms() {
        let text = format!(
            "{}\nVouchers\nA voucher expires after three years. It can't be refunded.\n{}",
            "Welcome to the help centre. ".repeat(10),
            "Thanks for reading. ".repeat(10)
        );
        let s = snippet(
            &Lang::En.analyzer(),
            &weights(&["voucher", "expir"]),
            &text,
            200,
        );
        assert!(s.starts_with("…Vouchers. A voucher expires"), "{s}");
        assert!(s.ends_with('…') && s.chars().count() <= 202, "{s}");
    }

    #[test]
    fn matches_stems_of_accented_and_rewritten_words() {
        let es = Lang::Es.analyzer();
        let text = format!(
            "{} ¿Olvidaste tu contraseña? Pulsa aquí.",
            "Hola. ".repeat(60)
        );
        let s = snippet(&es, &weights(&["contrasen"]), &text, 60);
        assert!(s.starts_with("…¿Olvidaste tu contraseña?"), "{s}");
        let text = format!("{} Happy customers stay.", "Filler words. ".repeat(30));
        let s = snippet(&Lang::En.analyzer(), &weights(&["happi"]), &text, 40);
        assert!(s.starts_with("…Happy customers"), "{s}");
    }

    #[test]
    fn long_sentence_is_cut_around_the_match() {
        let text = format!(
            "{} the refund arrives {}",
            "word ".repeat(100),
            "word ".repeat(100)
        );
        let s = snippet(&Lang::En.analyzer(), &weights(&["refund"]), &text, 200);
        assert!(s.contains("refund arrives"), "{s}");
        assert!(s.starts_with("…word") && s.ends_with("word…"), "{s}");
        assert!(s.chars().count() <= 202);
    }

    #[test]
    fn no_match_gives_the_start() {
        let a = Lang::En.analyzer();
        assert_eq!(
            snippet(&a, &weights(&["x"]), "Short text.", 200),
            "Short text."
        );
        assert_eq!(snippet(&a, &weights(&[]), "", 200), "");
        let long = "abc ".repeat(100);
        let s = snippet(&a, &weights(&[]), &long, 20);
        assert_eq!(s, "abc abc abc abc abc…");
    }
}
