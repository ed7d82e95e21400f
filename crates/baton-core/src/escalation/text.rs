//! Text normalisation shared by the signals: lowercase, accent-folded word tokens with clause
//! numbers and byte spans into the original text, plus a small typo distance.

/// One word of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Byte range of the normalised form in [`Tokens::norm`].
    pub norm: (u32, u32),
    /// Byte range in the original text.
    pub span: (u32, u32),
    /// Clause index: clauses end at sentence punctuation and commas.
    pub clause: u32,
}

/// A tokenised message. Built once per turn; reuses one string buffer for every word.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    buf: String,
    toks: Vec<Token>,
}

/// Folds one lowercase character to ASCII where it is a Latin letter with a diacritic.
fn fold(c: char, out: &mut String) {
    let s = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'ç' | 'ć' | 'č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' | 'ń' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' => "u",
        'ý' | 'ÿ' => "y",
        'ß' => "ss",
        'œ' => "oe",
        'æ' => "ae",
        'ł' => "l",
        'š' => "s",
        'ž' | 'ź' | 'ż' => "z",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(s);
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}' || c == '`'
}

/// French and Italian elisions split off before an apostrophe (`l'agent`, `qu'un`, `un'operatrice`).
const ELISIONS: &[&str] = &[
    "l", "d", "j", "m", "n", "s", "t", "c", "qu", "un", "dell", "all", "quelqu",
];

impl Tokens {
    /// Tokenises `text`. Letters and digits form words; apostrophes inside words are dropped
    /// (`don't` → `dont`) except after a Romance elision (`l'agent` → `l`, `agent`).
    pub fn new(text: &str) -> Tokens {
        let mut t = Tokens {
            buf: String::with_capacity(text.len() + 8),
            toks: Vec::with_capacity(text.len() / 4 + 1),
        };
        t.fill(text);
        t
    }

    fn fill(&mut self, text: &str) {
        let mut clause = 0u32;
        let mut start: Option<(usize, usize)> = None; // (orig start, norm start)
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c.is_alphanumeric() {
                if start.is_none() {
                    start = Some((i, self.buf.len()));
                }
                if c.is_ascii() {
                    self.buf.push(c.to_ascii_lowercase());
                } else {
                    for lc in c.to_lowercase() {
                        fold(lc, &mut self.buf);
                    }
                }
                continue;
            }
            if is_apostrophe(c)
                && let Some((os, ns)) = start
                && chars.peek().is_some_and(|(_, n)| n.is_alphabetic())
            {
                if ELISIONS.contains(&&self.buf[ns..]) {
                    self.push(os, i, ns, clause);
                    start = None;
                }
                continue;
            }
            if let Some((os, ns)) = start.take() {
                self.push(os, i, ns, clause);
            }
            if matches!(
                c,
                '.' | ',' | ';' | '!' | '?' | ':' | '\n' | '(' | ')' | '¿' | '¡' | '—'
            ) {
                clause += 1;
            }
        }
        if let Some((os, ns)) = start {
            self.push(os, text.len(), ns, clause);
        }
    }

    fn push(&mut self, os: usize, oe: usize, ns: usize, clause: u32) {
        let ne = self.buf.len();
        if ne > ns {
            self.toks.push(Token {
                norm: (ns as u32, ne as u32),
                span: (os as u32, oe as u32),
                clause,
            });
        }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.toks.len()
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.toks.is_empty()
    }

    /// The normalised form of word `i`.
    pub fn word(&self, i: usize) -> &str {
        let (s, e) = self.toks[i].norm;
        &self.buf[s as usize..e as usize]
    }

    /// Word `i` or "" past either end.
    pub fn get(&self, i: isize) -> &str {
        if i < 0 || i as usize >= self.toks.len() {
            ""
        } else {
            self.word(i as usize)
        }
    }

    /// Token metadata for word `i`.
    pub fn token(&self, i: usize) -> Token {
        self.toks[i]
    }

    /// The original text from the start of word `a` to the end of word `b` (inclusive).
    pub fn original<'t>(&self, text: &'t str, a: usize, b: usize) -> &'t str {
        let s = self.toks[a].span.0 as usize;
        let e = self.toks[b].span.1 as usize;
        text.get(s..e).unwrap_or("")
    }

    /// Whether words `a` and `b` are in the same clause.
    pub fn same_clause(&self, a: usize, b: usize) -> bool {
        self.toks[a].clause == self.toks[b].clause
    }

    /// Hashes of the words, sorted and deduplicated: a cheap bag of words for similarity.
    pub fn bag(&self) -> Vec<u64> {
        let mut v: Vec<u64> = (0..self.len())
            .map(|i| fnv1a(self.word(i).as_bytes()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A small, fast hasher for the static word tables (keys are ours, so no DoS concern; lookups
/// with customer words only probe).
#[derive(Debug, Clone, Copy)]
pub struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Removes what a message carries from the platform it was posted on rather than from its
/// writer: @handles, links, a retweet's `RT`, HTML entities (`&amp;` is `&`), and quotes
/// wrapping the whole message (a CSV export's). They say nothing about sentiment, but each
/// data source writes them its own way (`@user`, `@anonymous`, `http://url_removed`), so a
/// model trained on them can learn the source instead of the sentiment. `None` when there is
/// nothing to remove (the usual case in a support chat: no allocation).
pub fn strip_artefacts(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let quoted = b.len() > 2 && b[0] == b'"' && b[b.len() - 1] == b'"';
    let escaped = text.contains('\\') || text.contains("\"\"");
    if !quoted
        && !escaped
        && !b.iter().any(|&c| matches!(c, b'@' | b'&'))
        && !text.contains("http")
        && !text.contains("www.")
        && !text.contains("RT")
    {
        return None;
    }
    let unescaped = escaped.then(|| unescape(text)).filter(|u| u != text);
    let escaped = unescaped.is_some();
    let text = unescaped.as_deref().unwrap_or(text);
    let b = text.as_bytes();
    let quoted = b.len() > 2 && b[0] == b'"' && b[b.len() - 1] == b'"';
    let inner = if quoted {
        &text[1..text.len() - 1]
    } else {
        text
    };
    let mut out = String::with_capacity(inner.len());
    let mut changed = quoted || escaped;
    for chunk in inner.split_whitespace() {
        let lower = chunk.to_ascii_lowercase();
        if chunk == "RT"
            || lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
        {
            changed = true;
            continue;
        }
        let mut word = String::with_capacity(chunk.len());
        let mut rest = chunk;
        while let Some(c) = rest.chars().next() {
            if c == '@' && word.chars().last().is_none_or(|p| !p.is_alphanumeric()) {
                let handle = rest[1..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or(rest.len(), |e| e + 1);
                if handle > 1 {
                    rest = &rest[handle..];
                    changed = true;
                    continue;
                }
            }
            if c == '&' {
                let entity = [
                    ("&amp;", "&"),
                    ("&lt;", "<"),
                    ("&gt;", ">"),
                    ("&quot;", "\""),
                    ("&#39;", "'"),
                ]
                .into_iter()
                .find(|(e, _)| rest.starts_with(e));
                if let Some((e, r)) = entity {
                    word.push_str(r);
                    rest = &rest[e.len()..];
                    changed = true;
                    continue;
                }
            }
            word.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    changed.then_some(out)
}

/// Undoes an export's escaping: JSON-style `\uXXXX` (`can\u2019t` is `can’t`), `\"`, and
/// CSV's doubled quotes (`""` is `"`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(hex) = rest.strip_prefix("\\u").and_then(|r| r.get(..4))
            && let Some(ch) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        {
            out.push(ch);
            rest = &rest[6..];
            continue;
        }
        if rest.starts_with("\\\"") {
            rest = &rest[1..];
            continue;
        }
        if c == '"' {
            out.push('"');
            rest = rest.trim_start_matches('"');
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A `HashMap` with [`FnvHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FnvHasher>>;

/// A `HashSet` with [`FnvHasher`].
pub type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<FnvHasher>>;

/// FNV-1a, 64 bits: a stable, dependency-free string hash.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Jaccard similarity of two sorted, deduplicated bags.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), giving up
/// early: returns `max + 1` as soon as the distance must exceed `max`. ASCII words only;
/// anything longer than 24 bytes is "far".
pub fn osa_within(a: &str, b: &str, max: usize) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max || a.len() > 24 || b.len() > 24 {
        return false;
    }
    let m = b.len();
    let mut prev2 = [0usize; 25];
    let mut prev = [0usize; 25];
    let mut cur = [0usize; 25];
    for (j, p) in prev.iter_mut().enumerate().take(m + 1) {
        *p = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return false;
        }
        prev2 = prev;
        prev = cur;
    }
    prev[m] <= max
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_platform_artefacts() {
        use super::strip_artefacts;
        assert_eq!(strip_artefacts("where is my parcel"), None);
        assert_eq!(strip_artefacts("mail me at a@b.com"), None);
        assert_eq!(
            strip_artefacts("RT @some_one: so bad &amp; slow http://x.co/1 #fail").as_deref(),
            Some(": so bad & slow #fail")
        );
        assert_eq!(
            strip_artefacts("\"@user I waited 3 hours\"").as_deref(),
            Some("I waited 3 hours")
        );
        assert_eq!(strip_artefacts("@ home").as_deref(), None);
        assert_eq!(
            strip_artefacts("I can\\u2019t \"\"stop\"\"").as_deref(),
            Some("I can\u{2019}t \"stop\"")
        );
    }

    use super::*;

    fn words(t: &str) -> Vec<String> {
        let tk = Tokens::new(t);
        (0..tk.len()).map(|i| tk.word(i).to_string()).collect()
    }

    #[test]
    fn folds_accents_and_contractions() {
        assert_eq!(words("Don't  TALK, señor!"), ["dont", "talk", "senor"]);
        assert_eq!(
            words("Je veux parler à l'agent"),
            ["je", "veux", "parler", "a", "l", "agent"]
        );
        assert_eq!(words("quelqu'un"), ["quelqu", "un"]);
        assert_eq!(words("Straße Möglich"), ["strasse", "moglich"]);
        assert!(words("").is_empty());
        assert!(words("!!! ??? 😡").is_empty());
    }

    #[test]
    fn clauses_and_spans() {
        let text = "I'm lost, get me a human";
        let t = Tokens::new(text);
        assert!(!t.same_clause(1, 2));
        assert!(t.same_clause(2, 5));
        assert_eq!(t.original(text, 3, 5), "me a human");
    }

    #[test]
    fn typo_distance() {
        assert!(osa_within("agnet", "agent", 1));
        assert!(osa_within("humna", "human", 1));
        assert!(osa_within("eprson", "person", 1));
        assert!(osa_within("huma", "human", 1));
        assert!(!osa_within("personal", "person", 1));
        assert!(!osa_within("urgent", "agent", 1));
        assert!(osa_within("agent", "agent", 0));
    }

    #[test]
    fn similarity() {
        let a = Tokens::new("where is my order").bag();
        let b = Tokens::new("Where is my ORDER??").bag();
        assert_eq!(jaccard(&a, &b), 1.0);
    }
}
