//! Field extraction: order ids, account numbers, emails, phones, amounts, dates, product codes,
//! tracking numbers and invoice numbers, plus tenant-defined named regexes.
//!
//! Built-in extractors are compiled once per process ([`LazyLock`]). Each built-in pattern
//! captures its value in a group named `v`; candidates from all built-ins are then resolved by
//! priority, so one piece of text yields one field (a phone number inside "order number
//! 0612345678" is the order id, not a phone). Tenant extractors run independently of that
//! resolution: a tenant who names a pattern wants it to fire.
//!
//! The `regex` crate has no look-around, so the checks a pattern cannot express ("not followed by
//! a decimal part", "at least 6 digits", "month 1 to 12") are done by each extractor's
//! normaliser, which returns `None` to reject a candidate.

use crate::values::MessageRole;
use regex::{Captures, Regex, RegexBuilder, RegexSet};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::LazyLock;

/// At most this many custom extractors per tenant.
pub const MAX_CUSTOM_EXTRACTORS: usize = 50;
/// At most this many bytes per custom pattern.
pub const MAX_PATTERN_LEN: usize = 512;
/// Compiled-size cap for one custom pattern (guards against patterns like `(a{1000}){1000}`).
const CUSTOM_SIZE_LIMIT: usize = 1 << 20;
/// Only the first this-many bytes of a message are scanned (a pasted 1 MB log would otherwise
/// dominate the cost of a brief).
pub const MAX_SCAN_BYTES: usize = 64 * 1024;

/// A value found in the transcript, with the message it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Extractor name: `order_id`, `account_number`, `email`, `phone`, `amount`, `date`,
    /// `product_code`, `tracking_number`, `invoice_number`, or a tenant extractor's name.
    pub name: String,
    /// Normalised value (`49.99 USD`, `2026-03-14`, `+447700900123`, `1234`).
    pub value: String,
    /// The text as written.
    pub raw: String,
    /// The message it was first found in.
    pub message_id: String,
    /// Who wrote that message (customer values come first; the bot may quote a tracking number).
    pub source: MessageRole,
}

/// One match of [`Extractors::extract_text`], with its byte span in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted<'t> {
    /// Extractor name.
    pub name: Cow<'static, str>,
    /// Normalised value.
    pub value: String,
    /// The matched text.
    pub raw: &'t str,
    /// Byte offset of `raw` in the text.
    pub start: usize,
}

/// Why a tenant extractor was refused. Surfaces as a 422 from the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractorError {
    /// The name is not a short snake_case identifier.
    #[error(
        "extractor name '{name}' is invalid: use 1 to 40 lowercase letters, digits or \
         underscores, starting with a letter"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// Two extractors share a name.
    #[error("extractor '{name}' is defined twice")]
    Duplicate {
        /// The name given twice.
        name: String,
    },
    /// The pattern is longer than [`MAX_PATTERN_LEN`].
    #[error("extractor '{name}': pattern is {len} bytes, the limit is {max}")]
    PatternTooLong {
        /// Extractor name.
        name: String,
        /// Pattern length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The regex does not compile (syntax error or too large once compiled).
    #[error("extractor '{name}': invalid regex: {message}")]
    InvalidPattern {
        /// Extractor name.
        name: String,
        /// What the regex engine said.
        message: String,
    },
    /// The regex matches empty text, so it would "find" a value everywhere.
    #[error("extractor '{name}': the pattern matches empty text")]
    MatchesEmpty {
        /// Extractor name.
        name: String,
    },
    /// More than [`MAX_CUSTOM_EXTRACTORS`].
    #[error("too many custom extractors: {count}, the limit is {max}")]
    TooMany {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl ExtractorError {
    /// The machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        "invalid_extractor"
    }
}

/// The extractors used for a tenant: the built-ins plus the tenant's named regexes.
///
/// Build it once when the tenant's configuration loads and share it; the built-ins are compiled
/// once per process regardless.
#[derive(Debug, Clone, Default)]
pub struct Extractors {
    custom: Vec<Custom>,
}

#[derive(Debug, Clone)]
struct Custom {
    name: String,
    re: Regex,
    /// Index of the capture group holding the value (`value` group, else group 1, else 0).
    group: usize,
}

impl Extractors {
    /// Only the built-in extractors.
    pub fn builtin() -> Self {
        Extractors::default()
    }

    /// The built-ins plus tenant extractors given as `(name, pattern)` pairs. A pattern's value is
    /// its group named `value`, else its first group, else the whole match.
    pub fn with_custom<N: AsRef<str>, P: AsRef<str>>(
        custom: &[(N, P)],
    ) -> Result<Self, ExtractorError> {
        if custom.len() > MAX_CUSTOM_EXTRACTORS {
            return Err(ExtractorError::TooMany {
                count: custom.len(),
                max: MAX_CUSTOM_EXTRACTORS,
            });
        }
        let mut out: Vec<Custom> = Vec::with_capacity(custom.len());
        for (name, pattern) in custom {
            let (name, pattern) = (name.as_ref(), pattern.as_ref());
            if !valid_name(name) {
                return Err(ExtractorError::InvalidName {
                    name: name.to_owned(),
                });
            }
            if out.iter().any(|c| c.name == name) {
                return Err(ExtractorError::Duplicate {
                    name: name.to_owned(),
                });
            }
            if pattern.len() > MAX_PATTERN_LEN {
                return Err(ExtractorError::PatternTooLong {
                    name: name.to_owned(),
                    len: pattern.len(),
                    max: MAX_PATTERN_LEN,
                });
            }
            let re = RegexBuilder::new(pattern)
                .size_limit(CUSTOM_SIZE_LIMIT)
                .dfa_size_limit(CUSTOM_SIZE_LIMIT)
                .build()
                .map_err(|e| ExtractorError::InvalidPattern {
                    name: name.to_owned(),
                    message: e.to_string(),
                })?;
            if re.is_match("") {
                return Err(ExtractorError::MatchesEmpty {
                    name: name.to_owned(),
                });
            }
            let group = re
                .capture_names()
                .position(|n| n == Some("value"))
                .unwrap_or(if re.captures_len() > 1 { 1 } else { 0 });
            out.push(Custom {
                name: name.to_owned(),
                re,
                group,
            });
        }
        Ok(Extractors { custom: out })
    }

    /// The names of the tenant extractors, in the order given.
    pub fn custom_names(&self) -> impl Iterator<Item = &str> {
        self.custom.iter().map(|c| c.name.as_str())
    }

    /// Every field in `text`, in order of appearance. Tenant extractors win over built-ins on
    /// overlapping text.
    /// `from_customer` enables the extractors that are only meaningful in the customer's words
    /// (relative dates: the bot's "today" is small talk).
    pub fn extract_text<'t>(&self, text: &'t str, from_customer: bool) -> Vec<Extracted<'t>> {
        let mut out = Vec::new();
        self.extract_into(text, from_customer, &mut out);
        out
    }

    pub(crate) fn extract_into<'t>(
        &self,
        text: &'t str,
        from_customer: bool,
        out: &mut Vec<Extracted<'t>>,
    ) {
        let text = clip(text, MAX_SCAN_BYTES);
        let bytes = text.as_bytes();
        let has_digit = bytes.iter().any(u8::is_ascii_digit);
        let has_at = memchr_at(bytes);
        // Tenant extractors first: where one matches, its meaning wins over a built-in guess
        // ("BK-20931" is the tenant's booking reference, not a product code).
        let mut kept: Vec<(usize, usize)> = Vec::new();
        let mut found: Vec<Extracted<'t>> = Vec::new();
        for c in &self.custom {
            for caps in c.re.captures_iter(text) {
                let Some(m) = caps.get(c.group) else { continue };
                let value = m.as_str().trim();
                if value.is_empty() {
                    continue;
                }
                kept.push((m.start(), m.end()));
                found.push(Extracted {
                    name: Cow::Owned(c.name.clone()),
                    value: value.to_owned(),
                    raw: m.as_str(),
                    start: m.start(),
                });
            }
        }
        if has_digit || has_at || from_customer {
            let mut cands: Vec<(u8, Extracted<'t>, usize)> = Vec::new();
            for i in BUILTIN_SET.matches(text).iter() {
                let b = &BUILTINS[i];
                let wanted = match b.needs {
                    Needs::Digit => has_digit,
                    Needs::At => has_at,
                    Needs::Customer => from_customer,
                };
                if !wanted {
                    continue;
                }
                for caps in b.re.captures_iter(text) {
                    // `v` is the value's span; `wd` stands in for it in "on Monday".
                    let Some(v) = caps.name("v").or_else(|| caps.name("wd")) else {
                        continue;
                    };
                    let Some(value) = (b.normalize)(&caps, text) else {
                        continue;
                    };
                    // An amount's raw text includes its currency ("$49.99", "49,99 €").
                    let (start, end) = match caps.name("cur") {
                        Some(c) => (v.start().min(c.start()), v.end().max(c.end())),
                        None => (v.start(), v.end()),
                    };
                    cands.push((
                        b.priority,
                        Extracted {
                            name: Cow::Borrowed(b.name),
                            value,
                            raw: &text[start..end],
                            start,
                        },
                        end,
                    ));
                }
            }
            // Strongest first; among equals, leftmost first. Keep a candidate only if its value
            // span overlaps no kept one.
            cands.sort_by_key(|(p, e, _)| (*p, e.start));
            for (_, e, end) in cands {
                if kept.iter().all(|&(s, t)| end <= s || e.start >= t) {
                    kept.push((e.start, end));
                    found.push(e);
                }
            }
        }
        found.sort_by_key(|e| e.start);
        out.extend(found);
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn memchr_at(bytes: &[u8]) -> bool {
    bytes.contains(&b'@')
}

/// `s` cut to at most `max` bytes, on a char boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[derive(Debug, Clone, Copy)]
enum Needs {
    Digit,
    At,
    Customer,
}

type Normalize = fn(&Captures<'_>, &str) -> Option<String>;

struct Builtin {
    name: &'static str,
    /// Lower wins when two candidates overlap.
    priority: u8,
    needs: Needs,
    re: Regex,
    normalize: Normalize,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin").field("name", &self.name).finish()
    }
}

/// `\b` in these patterns means an ASCII word boundary: Unicode `\b` makes the regex crate's
/// lazy DFA give up on non-ASCII text and fall back to a much slower engine.
fn compile(pattern: &str) -> Regex {
    let pattern = pattern.replace(r"\b", r"(?-u:\b)");
    match Regex::new(&pattern) {
        Ok(re) => re,
        // A built-in pattern is a constant; the unit tests compile every one of them.
        Err(e) => panic!("built-in extractor pattern does not compile: {e}\n{pattern}"),
    }
}

/// All built-in patterns as one set: a single pass over a message tells which extractors match
/// at all, and only those run their (slower) capturing search.
static BUILTIN_SET: LazyLock<RegexSet> =
    LazyLock::new(
        || match RegexSet::new(BUILTINS.iter().map(|b| b.re.as_str())) {
            Ok(set) => set,
            Err(e) => panic!("built-in extractor set does not compile: {e}"),
        },
    );

const NUMBER_WORDS: &str = r"(?:\s+(?:number|num|no\.?|nr\.?|n[º°o]\.?|id|ref|reference|número|numero|nummer|code|is|was|de|#))";

static BUILTINS: LazyLock<Vec<Builtin>> = LazyLock::new(|| {
    let amount_num = r"[0-9]{1,3}(?:[.,][0-9]{3})+(?:[.,][0-9]{1,2})?|[0-9]+(?:[.,][0-9]{1,2})?";
    let codes = "USD|EUR|GBP|BRL|CAD|AUD|JPY|CHF|INR|MXN|SEK|NOK|DKK|PLN|NZD|ZAR";
    let en_months = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";
    let other_months = "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|dezembro|janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|januar|februar|märz|juni|juli|oktober|dezember";
    let b = |name, priority, needs, pattern: &str, normalize: Normalize| Builtin {
        name,
        priority,
        needs,
        re: compile(pattern),
        normalize,
    };
    use Needs::{At, Customer, Digit};
    vec![
        b(
            "email",
            0,
            At,
            r"(?P<v>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})\b",
            norm_email,
        ),
        b(
            "tracking_number",
            1,
            Digit,
            r"(?i)\b(?P<v>1Z[0-9A-Z]{16})\b",
            norm_compact_upper,
        ),
        b(
            "tracking_number",
            1,
            Digit,
            r"\b(?P<v>9[2-5][0-9]{2}(?: ?[0-9]{4}){4} ?[0-9]{2})\b",
            norm_compact_upper,
        ),
        b(
            "tracking_number",
            1,
            Digit,
            r"\b(?P<v>[A-Z]{2}[0-9]{9}[A-Z]{2})\b",
            norm_compact_upper,
        ),
        b(
            "order_id",
            3,
            Digit,
            &format!(
                r"(?i)\b(?:order|orders|pedido|commande|bestellung|bestellnummer|ordine|encomenda|purchase){NUMBER_WORDS}{{0,3}}\s*[:#]?\s*#?\s*(?P<v>(?-i:[A-Z]{{1,4}}-?)?[0-9][0-9\-]{{2,}}[0-9A-Z]*)"
            ),
            norm_id,
        ),
        b(
            "account_number",
            4,
            Digit,
            &format!(
                r"(?i)\b(?:account|acct|a/c|customer|client|member(?:ship)?|subscriber|cuenta|conta|compte|konto|kundennummer|socio|sócio|adhérent|mitglied(?:snummer)?){NUMBER_WORDS}{{0,3}}\s*[:#]?\s*#?\s*(?P<v>(?-i:[A-Z]{{1,4}}-?)?[0-9][0-9\-]{{3,}}[0-9A-Z]*)"
            ),
            norm_account,
        ),
        b(
            "invoice_number",
            5,
            Digit,
            &format!(
                r"(?i)\b(?:invoice|factura|fatura|facture|rechnung|rechnungsnummer|receipt){NUMBER_WORDS}{{0,3}}\s*[:#]?\s*#?\s*(?P<v>(?-i:[A-Z]{{1,4}}-?)?[0-9][0-9A-Z\-]{{2,}})"
            ),
            norm_id,
        ),
        b(
            "tracking_number",
            6,
            Digit,
            r"(?i)\b(?:tracking|track|tracked|fedex|dhl|ups|usps|royal mail|correos|correios|colissimo|hermes|dpd|gls|evri|waybill|awb|seguimiento|rastreio|rastreamento|suivi|sendungsnummer|sendungsverfolgung|shipment)\b(?P<fill>(?:[\s:#\-]+(?:[\p{L}']+|no\.|#)){0,4}?)[\s:#\-]+(?P<v>(?-i:[A-Z0-9]{8,35}))\b",
            norm_tracking_ctx,
        ),
        b(
            "product_code",
            7,
            Digit,
            r"(?i)\b(?:sku|product\s+(?:code|id|number|no\.?)|item\s+(?:code|number|no\.?|#)|part\s+(?:number|no\.?|#)|model(?:\s+(?:number|no\.?|#))?|article\s+(?:number|no\.?)|artikelnummer|c[oó]digo\s+(?:de\s+|do\s+)?produ[ct]to)(?:\s+is)?\s*[:#]?\s*(?P<v>[A-Z0-9][A-Z0-9\-/]{2,24})",
            norm_code,
        ),
        b(
            "amount",
            8,
            Digit,
            &format!(
                r"(?i)(?P<cur>US\$|R\$|CA\$|C\$|AU\$|A\$|MX\$|NZ\$|HK\$|[$€£¥₹]|\b(?:{codes})\b)\s?(?P<v>{amount_num})\b"
            ),
            norm_amount,
        ),
        b(
            "amount",
            9,
            Digit,
            &format!(
                r"(?i)\b(?P<v>{amount_num})\s?(?P<cur>[€£$¥₹]|(?:{codes})\b|(?:dollars?|bucks|euros?|pounds|quid|reais|reales|yen|rupees|francs)\b)"
            ),
            norm_amount,
        ),
        b(
            "date",
            10,
            Digit,
            r"\b(?P<v>(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2}))\b",
            norm_date_iso,
        ),
        b(
            "date",
            10,
            Digit,
            r"(?:^|[^0-9.,/\-])(?P<v>(?P<a>[0-9]{1,2})(?P<sep>/)(?P<b>[0-9]{1,2})/(?P<y>[0-9]{4}|[0-9]{2})|(?P<a2>[0-9]{1,2})(?P<sep2>[.\-])(?P<b2>[0-9]{1,2})[.\-](?P<y2>[0-9]{4}))\b",
            norm_date_numeric,
        ),
        b(
            "date",
            10,
            Digit,
            &format!(
                r"(?i)\b(?P<v>(?P<mon>{en_months})\.?\s+(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>[0-9]{{4}}))?)\b"
            ),
            norm_date_month,
        ),
        b(
            "date",
            10,
            Digit,
            &format!(
                r"(?i)\b(?P<v>(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th|\.)?\s+(?:of\s+|de\s+)?(?P<mon>{en_months}|{other_months})(?:,?\s+(?:de\s+)?(?P<y>[0-9]{{4}}))?)\b"
            ),
            norm_date_month,
        ),
        b(
            "phone",
            11,
            Digit,
            r"(?:^|[^0-9A-Za-z+])(?P<v>\+[0-9]{1,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6})",
            norm_phone,
        ),
        b(
            "phone",
            12,
            Digit,
            r"(?i)\b(?:phone|mobile|cell(?:phone)?|tel|telephone|call me(?: back)?(?: on| at)?|reach me(?: on| at)?|text me(?: on| at)?|whatsapp|my number|number to call|tel[eé]fono|telefone|t[eé]l[eé]phone|portable|handy(?:nummer)?|celular|m[oó]vil)\b[^0-9+\n]{0,20}(?P<v>\+?[0-9][0-9 .\-()]{5,17}[0-9])",
            norm_phone,
        ),
        b(
            "phone",
            13,
            Digit,
            r"(?:^|[^0-9A-Za-z+\-/.])(?P<v>(?:1[ .\-])?(?:\([0-9]{3}\)\s?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4})\b",
            norm_phone,
        ),
        b(
            "phone",
            13,
            Digit,
            r"(?:^|[^0-9A-Za-z+\-/.,])(?P<v>0[0-9]{1,4}(?:[ .\-][0-9]{2,4}){2,4})\b",
            norm_phone,
        ),
        b(
            "order_id",
            14,
            Digit,
            r"\b(?P<v>(?:ORD|ORDER|PO|SO)-?[0-9]{3,}(?:-[0-9A-Z]+)*)\b",
            norm_id,
        ),
        b(
            "account_number",
            14,
            Digit,
            r"\b(?P<v>(?:ACC|ACCT|CUST)-?[0-9]{4,}(?:-[0-9A-Z]+)*)\b",
            norm_account,
        ),
        b(
            "invoice_number",
            14,
            Digit,
            r"\b(?P<v>INV-?[0-9][0-9A-Z\-]{2,})\b",
            norm_id,
        ),
        b(
            "order_id",
            15,
            Digit,
            r"(?:^|[^\w&])#\s?(?P<v>[0-9]{3,}(?:-[0-9]+)*)\b",
            norm_hash_order,
        ),
        b(
            "product_code",
            16,
            Digit,
            r"\b(?P<v>(?P<pre>[A-Z]{2,5})-[0-9]{3,6}[A-Z0-9]{0,4}(?:-[A-Z0-9]{1,4})?)\b",
            norm_bare_code,
        ),
        b(
            "date",
            17,
            Customer,
            r"(?i)\b(?:on\s+(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)|(?P<v>yesterday|today|tonight|tomorrow|this morning|last night|(?:last|next) (?:week|month|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|(?:[0-9]{1,2}|a|one|two|three|four|five|six|a few|several)\s+(?:days?|weeks?|months?)\s+ago|hace\s+(?:[0-9]{1,2}|un|una|dos|tres|cuatro|cinco|unos|unas)\s+(?:d[ií]as?|semanas?|mes|meses)|h[aá]\s+(?:[0-9]{1,2}|um|uma|dois|duas|tr[eê]s)\s+(?:dias?|semanas?|m[eê]s|meses)|il y a\s+(?:[0-9]{1,2}|un|une|deux|trois)\s+(?:jours?|semaines?|mois)|vor\s+(?:[0-9]{1,2}|einem|einer|zwei|drei)\s+(?:tagen?|wochen?|monaten?)|anteayer|ayer|hoy|ontem|hoje|gestern|heute|aujourd'hui))\b",
            norm_relative,
        ),
    ]
});

/// Whether the text right after the match continues it as a decimal number ("129" of "129.99").
fn decimal_follows(caps: &Captures<'_>, text: &str) -> bool {
    let Some(v) = caps.name("v") else {
        return false;
    };
    let rest = &text.as_bytes()[v.end()..];
    rest.len() >= 2 && (rest[0] == b'.' || rest[0] == b',') && rest[1].is_ascii_digit()
}

fn v<'c>(caps: &Captures<'c>) -> &'c str {
    caps.name("v").map_or("", |m| m.as_str())
}

fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

fn norm_email(caps: &Captures<'_>, _: &str) -> Option<String> {
    Some(v(caps).trim_end_matches('.').to_ascii_lowercase())
}

fn norm_compact_upper(caps: &Captures<'_>, _: &str) -> Option<String> {
    Some(
        v(caps)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase(),
    )
}

fn norm_id(caps: &Captures<'_>, text: &str) -> Option<String> {
    if decimal_follows(caps, text) {
        return None;
    }
    let s = v(caps).trim_end_matches('-');
    (digit_count(s) >= 3).then(|| s.to_ascii_uppercase())
}

fn norm_account(caps: &Captures<'_>, text: &str) -> Option<String> {
    norm_id(caps, text).filter(|s| digit_count(s) >= 4)
}

fn norm_hash_order(caps: &Captures<'_>, text: &str) -> Option<String> {
    if decimal_follows(caps, text) {
        return None;
    }
    // "ticket #123", "item #123", "apt #123" are not orders.
    let start = caps.get(0).map_or(0, |m| m.start());
    let before = &text[start.saturating_sub(16)..start];
    let before = before.trim_end().to_ascii_lowercase();
    const NOT_ORDERS: [&str; 10] = [
        "ticket", "case", "item", "sku", "apt", "suite", "unit", "room", "issue", "invoice",
    ];
    if NOT_ORDERS.iter().any(|w| before.ends_with(w)) {
        return None;
    }
    Some(v(caps).to_owned())
}

fn norm_tracking_ctx(caps: &Captures<'_>, _: &str) -> Option<String> {
    let s = v(caps);
    if digit_count(s) < 6 {
        return None;
    }
    // "tracking for order 12345678": the number belongs to the other keyword.
    let fill = caps.name("fill").map_or("", |m| m.as_str()).to_lowercase();
    const OTHER: [&str; 7] = [
        "order", "pedido", "account", "invoice", "phone", "customer", "sku",
    ];
    if OTHER.iter().any(|w| fill.contains(w)) {
        return None;
    }
    Some(s.to_ascii_uppercase())
}

fn norm_code(caps: &Captures<'_>, text: &str) -> Option<String> {
    let s = v(caps).trim_end_matches(['-', '/']);
    if digit_count(s) == 0 || decimal_follows(caps, text) {
        return None;
    }
    Some(s.to_ascii_uppercase())
}

fn norm_bare_code(caps: &Captures<'_>, _: &str) -> Option<String> {
    let pre = caps.name("pre").map_or("", |m| m.as_str());
    // Prefixes that name another kind of id, or are not ids at all.
    const NOT_PRODUCTS: [&str; 12] = [
        "ORD", "ORDER", "PO", "SO", "ACC", "ACCT", "CUST", "INV", "TKT", "CASE", "COVID", "ISO",
    ];
    if NOT_PRODUCTS.contains(&pre) {
        return None;
    }
    Some(v(caps).to_owned())
}

fn norm_amount(caps: &Captures<'_>, text: &str) -> Option<String> {
    if decimal_follows(caps, text) {
        return None;
    }
    let cur = caps.name("cur")?.as_str();
    let code = currency_code(cur)?;
    let number = normalize_number(v(caps))?;
    Some(format!("{number} {code}"))
}

fn currency_code(cur: &str) -> Option<&'static str> {
    let lower = cur.to_lowercase();
    Some(match lower.as_str() {
        "$" | "us$" | "dollar" | "dollars" | "bucks" => "USD",
        "r$" | "reais" | "reales" => "BRL",
        "ca$" | "c$" => "CAD",
        "au$" | "a$" => "AUD",
        "mx$" => "MXN",
        "nz$" => "NZD",
        "hk$" => "HKD",
        "€" | "euro" | "euros" => "EUR",
        "£" | "pounds" | "quid" => "GBP",
        "¥" | "yen" => "JPY",
        "₹" | "rupees" => "INR",
        "francs" => "CHF",
        _ => {
            return [
                "USD", "EUR", "GBP", "BRL", "CAD", "AUD", "JPY", "CHF", "INR", "MXN", "SEK", "NOK",
                "DKK", "PLN", "NZD", "ZAR",
            ]
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(cur));
        }
    })
}

/// "1,299.00" → "1299.00", "49,99" → "49.99", "1.299" → "1299", "12,5" → "12.50", "20" → "20".
fn normalize_number(s: &str) -> Option<String> {
    let Some(i) = s.rfind(['.', ',']) else {
        return Some(strip_zeros(s).to_owned());
    };
    let frac = &s[i + 1..];
    let int: String = s[..i].chars().filter(char::is_ascii_digit).collect();
    if frac.len() <= 2 {
        let int = if int.is_empty() {
            "0"
        } else {
            strip_zeros(&int)
        };
        Some(format!("{int}.{frac:0<2}"))
    } else {
        let all: String = s.chars().filter(char::is_ascii_digit).collect();
        Some(strip_zeros(&all).to_owned())
    }
}

fn strip_zeros(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() { "0" } else { t }
}

fn num(caps: &Captures<'_>, name: &str) -> Option<u32> {
    caps.name(name)?.as_str().parse().ok()
}

fn iso(y: u32, m: u32, d: u32) -> Option<String> {
    ((1..=12).contains(&m) && (1..=31).contains(&d) && (1900..=2199).contains(&y))
        .then(|| format!("{y:04}-{m:02}-{d:02}"))
}

fn norm_date_iso(caps: &Captures<'_>, _: &str) -> Option<String> {
    iso(num(caps, "y")?, num(caps, "m")?, num(caps, "d")?)
}

fn norm_date_numeric(caps: &Captures<'_>, _: &str) -> Option<String> {
    let raw = v(caps);
    let (a, b, y, dotted) = if caps.name("a").is_some() {
        (
            num(caps, "a")?,
            num(caps, "b")?,
            caps.name("y")?.as_str(),
            false,
        )
    } else {
        let dotted = caps.name("sep2").is_some_and(|m| m.as_str() == ".");
        (
            num(caps, "a2")?,
            num(caps, "b2")?,
            caps.name("y2")?.as_str(),
            dotted,
        )
    };
    let year: u32 = y.parse().ok()?;
    let year = if y.len() == 2 { 2000 + year } else { year };
    // Day-first when it must be (13/03) or when the writer used dots (European convention);
    // month-first when it must be (03/13). Otherwise both readings are valid: keep the literal.
    if a > 12 || dotted {
        iso(year, b, a)
    } else if b > 12 || a == b {
        iso(year, a, b)
    } else {
        iso(year, a, b).map(|_| raw.to_owned())
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_number(name: &str) -> Option<u32> {
    let l = name.to_lowercase();
    let l = l.as_str();
    let n = match l {
        "enero" | "janeiro" | "janvier" | "januar" => 1,
        "febrero" | "fevereiro" | "février" | "februar" => 2,
        "marzo" | "março" | "mars" | "märz" => 3,
        "abril" | "avril" => 4,
        "mayo" | "maio" | "mai" => 5,
        "junio" | "junho" | "juin" | "juni" => 6,
        "julio" | "julho" | "juillet" | "juli" => 7,
        "agosto" | "août" => 8,
        "septiembre" | "setiembre" | "setembro" | "septembre" => 9,
        "octubre" | "outubro" | "octobre" | "oktober" => 10,
        "noviembre" | "novembro" | "novembre" => 11,
        "diciembre" | "dezembro" | "décembre" | "dezember" => 12,
        _ => {
            let p = l.get(..3)?;
            MONTHS.iter().position(|m| m[..3].eq_ignore_ascii_case(p))? as u32 + 1
        }
    };
    Some(n)
}

fn norm_date_month(caps: &Captures<'_>, _: &str) -> Option<String> {
    let m = month_number(caps.name("mon")?.as_str())?;
    let d = num(caps, "d")?;
    if !(1..=31).contains(&d) {
        return None;
    }
    match num(caps, "y") {
        Some(y) => iso(y, m, d),
        None => Some(format!("{} {d}", MONTHS[m as usize - 1])),
    }
}

fn norm_phone(caps: &Captures<'_>, text: &str) -> Option<String> {
    if decimal_follows(caps, text) {
        return None;
    }
    let s = v(caps).trim();
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let plus = s.starts_with('+');
    let ok = if plus {
        (8..=15).contains(&digits.len())
    } else {
        (7..=12).contains(&digits.len())
    };
    ok.then(|| if plus { format!("+{digits}") } else { digits })
}

fn norm_relative(caps: &Captures<'_>, _: &str) -> Option<String> {
    let m = caps.name("v").or_else(|| caps.name("wd"))?;
    Some(m.as_str().to_lowercase())
}

/// The role a field's source message had, for [`Field::source`].
pub(crate) fn field_from(e: Extracted<'_>, message_id: &str, source: MessageRole) -> Field {
    Field {
        name: e.name.into_owned(),
        value: e.value,
        raw: e.raw.to_owned(),
        message_id: message_id.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<(String, String)> {
        Extractors::builtin()
            .extract_text(text, true)
            .into_iter()
            .map(|e| (e.name.into_owned(), e.value))
            .collect()
    }

    fn of(text: &str, name: &str) -> Vec<String> {
        all(text)
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_builtin_compiles() {
        assert!(BUILTINS.len() > 20);
    }

    #[test]
    fn order_ids() {
        assert_eq!(of("Where is order #1234?", "order_id"), ["1234"]);
        assert_eq!(of("my order A-1234 never came", "order_id"), ["A-1234"]);
        assert_eq!(of("order number 98765", "order_id"), ["98765"]);
        assert_eq!(of("My order number is 98765432.", "order_id"), ["98765432"]);
        assert_eq!(of("Mi pedido 1234 no llegó", "order_id"), ["1234"]);
        assert_eq!(of("pedido nº 55120", "order_id"), ["55120"]);
        assert_eq!(of("commande n° 88231", "order_id"), ["88231"]);
        assert_eq!(of("Order ID: ORD-2026-0042", "order_id"), ["ORD-2026-0042"]);
        assert_eq!(of("ref ORD-77120 please", "order_id"), ["ORD-77120"]);
        assert_eq!(
            of("amazon order 112-7765431-2234455", "order_id"),
            ["112-7765431-2234455"]
        );
        assert_eq!(of("#4411 still not here", "order_id"), ["4411"]);
    }

    #[test]
    fn order_id_negatives() {
        assert!(of("my order was 129.99 dollars", "order_id").is_empty());
        assert!(of("I placed the order 2 weeks ago", "order_id").is_empty());
        assert!(of("see ticket #5512", "order_id").is_empty());
        assert!(of("we're #1 fans", "order_id").is_empty());
        assert!(of("order from 14/03/2026", "order_id").is_empty());
        assert!(of("&#1234; entity", "order_id").is_empty());
    }

    #[test]
    fn account_numbers() {
        assert_eq!(
            of("account number 12345678", "account_number"),
            ["12345678"]
        );
        assert_eq!(of("Account #: AC-445566", "account_number"), ["AC-445566"]);
        assert_eq!(of("customer id 77881", "account_number"), ["77881"]);
        assert_eq!(of("it's CUST-100234", "account_number"), ["CUST-100234"]);
        assert!(of("customer since 2019", "account_number").is_empty());
        assert!(of("my account is locked since 3 days", "account_number").is_empty());
        assert!(of("card ending in 4821", "account_number").is_empty());
        assert_eq!(
            of("número de socio 5512-0098", "account_number"),
            ["5512-0098"]
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            of("it's John.Doe+shop@Example.co.uk.", "email"),
            ["john.doe+shop@example.co.uk"]
        );
        assert!(of("find me @johndoe on twitter", "email").is_empty());
        assert!(of("a@b is not an email", "email").is_empty());
    }

    #[test]
    fn phones() {
        assert_eq!(of("call me on +44 7700 900123", "phone"), ["+447700900123"]);
        assert_eq!(
            of("+1 (555) 010-4477 is my cell", "phone"),
            ["+15550104477"]
        );
        assert_eq!(of("reach me at 555-010-4477", "phone"), ["5550104477"]);
        assert_eq!(of("(555) 010 4477", "phone"), ["5550104477"]);
        assert_eq!(of("mon portable: 06 12 34 56 78", "phone"), ["0612345678"]);
        assert_eq!(of("my number is 612345678", "phone"), ["612345678"]);
        assert_eq!(of("tel. 030 1234567", "phone"), ["0301234567"]);
    }

    #[test]
    fn phone_negatives() {
        // An order number is not a phone, a date is not a phone, an amount is not a phone.
        assert!(of("order number 0612345678", "phone").is_empty());
        assert_eq!(of("order number 0612345678", "order_id"), ["0612345678"]);
        assert!(of("on 2026-03-14 and 14/03/2026 and 14.03.2026", "phone").is_empty());
        assert!(of("I paid $1,299.00", "phone").is_empty());
        assert!(of("it costs 1 299 000", "phone").is_empty());
        assert!(of("tracking 1234567890", "phone").is_empty());
        assert!(of("I'll call you in 5 minutes", "phone").is_empty());
    }

    #[test]
    fn amounts() {
        assert_eq!(of("I paid $49.99", "amount"), ["49.99 USD"]);
        assert_eq!(of("charged $1,299.00 twice", "amount"), ["1299.00 USD"]);
        assert_eq!(of("it was 49,99 €", "amount"), ["49.99 EUR"]);
        assert_eq!(of("EUR 20 fee", "amount"), ["20 EUR"]);
        assert_eq!(of("20 dollars back", "amount"), ["20 USD"]);
        assert_eq!(of("paguei R$ 30,00", "amount"), ["30.00 BRL"]);
        assert_eq!(of("£15 delivery", "amount"), ["15 GBP"]);
        assert_eq!(of("1.299,00€ bezahlt", "amount"), ["1299.00 EUR"]);
        assert_eq!(of("about 250 usd", "amount"), ["250 USD"]);
        assert_eq!(of("€12,5", "amount"), ["12.50 EUR"]);
        assert_eq!(of("CA$ 80", "amount"), ["80 CAD"]);
    }

    #[test]
    fn amount_negatives() {
        assert!(of("I waited 45 minutes", "amount").is_empty());
        assert!(of("order 1234", "amount").is_empty());
        assert!(of("2 people", "amount").is_empty());
        assert!(of("version 4.2", "amount").is_empty());
    }

    #[test]
    fn dates() {
        assert_eq!(of("on 2026-03-14", "date"), ["2026-03-14"]);
        assert_eq!(of("on 14/03/2026", "date"), ["2026-03-14"]);
        assert_eq!(of("on 03/14/2026", "date"), ["2026-03-14"]);
        assert_eq!(of("on 03/04/2026", "date"), ["03/04/2026"]);
        assert_eq!(of("am 14.03.2026", "date"), ["2026-03-14"]);
        assert_eq!(of("since March 14", "date"), ["March 14"]);
        assert_eq!(of("since March 14th, 2026", "date"), ["2026-03-14"]);
        assert_eq!(of("the 3rd of April", "date"), ["April 3"]);
        assert_eq!(of("el 14 de marzo", "date"), ["March 14"]);
        assert_eq!(of("am 2. Februar 2026", "date"), ["2026-02-02"]);
        assert_eq!(of("it came yesterday", "date"), ["yesterday"]);
        assert_eq!(of("ordered 2 weeks ago", "date"), ["2 weeks ago"]);
        assert_eq!(of("I'm moving next week", "date"), ["next week"]);
        assert_eq!(of("I clicked it on Monday", "date"), ["monday"]);
        assert_eq!(of("lo pedí hace dos semanas", "date"), ["hace dos semanas"]);
        assert_eq!(of("paguei há 3 dias", "date"), ["há 3 dias"]);
        assert_eq!(of("bestellt vor zwei Wochen", "date"), ["vor zwei wochen"]);
    }

    #[test]
    fn date_negatives() {
        assert!(of("version 4.12.1", "date").is_empty());
        assert!(of("you may 2x the size", "date").is_empty());
        assert!(of("on 2026-13-45", "date").is_empty());
        assert!(of("I have 3 items", "date").is_empty());
        // The bot's "today" is small talk.
        let bot: Vec<_> = Extractors::builtin().extract_text("How can I help you today?", false);
        assert!(bot.is_empty());
    }

    #[test]
    fn product_codes() {
        assert_eq!(of("SKU: AB-1234-X", "product_code"), ["AB-1234-X"]);
        assert_eq!(of("the product code is xy123", "product_code"), ["XY123"]);
        assert_eq!(
            of("model WH-1000XM4 stopped working", "product_code"),
            ["WH-1000XM4"]
        );
        assert_eq!(
            of("I got JKT-4410-M instead", "product_code"),
            ["JKT-4410-M"]
        );
        assert!(of("COVID-19 delays", "product_code").is_empty());
        assert!(of("the model is broken", "product_code").is_empty());
        assert!(of("INV-2026-0042", "product_code").is_empty());
    }

    #[test]
    fn tracking_numbers() {
        assert_eq!(
            of("1Z999AA10123456784", "tracking_number"),
            ["1Z999AA10123456784"]
        );
        assert_eq!(
            of("usps 9400 1000 0000 0000 0000 00", "tracking_number"),
            ["9400100000000000000000"]
        );
        assert_eq!(
            of("RR123456785DE from Germany", "tracking_number"),
            ["RR123456785DE"]
        );
        assert_eq!(
            of("FedEx tracking: 123456789012", "tracking_number"),
            ["123456789012"]
        );
        assert_eq!(
            of("DHL 1234567890 says delivered", "tracking_number"),
            ["1234567890"]
        );
        assert_eq!(
            of(
                "the tracking number is JD014600006281234567",
                "tracking_number"
            ),
            ["JD014600006281234567"]
        );
        assert!(of("tracking for order 12345678", "tracking_number").is_empty());
        assert_eq!(of("tracking for order 12345678", "order_id"), ["12345678"]);
        assert!(of("tracking page says delivered", "tracking_number").is_empty());
    }

    #[test]
    fn invoices() {
        assert_eq!(
            of("invoice INV-2026-0042 is wrong", "invoice_number"),
            ["INV-2026-0042"]
        );
        assert_eq!(of("factura nº 7781", "invoice_number"), ["7781"]);
        assert!(of("invoice #5531", "order_id").is_empty());
    }

    #[test]
    fn personal_is_not_a_field() {
        assert!(all("I want to speak to a person, this is personal").is_empty());
        assert!(all("").is_empty());
        assert!(all("ünïcödé 🙂 текст 1").is_empty());
    }

    #[test]
    fn several_in_one_message() {
        assert_eq!(
            all("Order #1234, paid $49.99 on 2026-03-14, email me at a@b.co or +44 7700 900123"),
            pairs(&[
                ("order_id", "1234"),
                ("amount", "49.99 USD"),
                ("date", "2026-03-14"),
                ("email", "a@b.co"),
                ("phone", "+447700900123"),
            ])
        );
    }

    #[test]
    fn custom_extractors() {
        let ex = Extractors::with_custom(&[
            ("ticket", r"\bTKT-\d{5}\b"),
            ("loyalty_card", r"(?i)loyalty card (?P<value>\d{8})"),
        ])
        .unwrap();
        let got = ex.extract_text("TKT-00042 and loyalty card 12345678", true);
        let got: Vec<_> = got
            .iter()
            .map(|e| (e.name.as_ref(), e.value.as_str()))
            .collect();
        assert!(got.contains(&("ticket", "TKT-00042")));
        assert!(got.contains(&("loyalty_card", "12345678")));
        assert_eq!(
            ex.custom_names().collect::<Vec<_>>(),
            ["ticket", "loyalty_card"]
        );
        // The tenant's meaning wins over the built-in guess on the same text.
        let ex = Extractors::with_custom(&[("booking_ref", r"\bBK-\d{5}\b")]).unwrap();
        let got = ex.extract_text("booked BK-20931 for $45", true);
        let got: Vec<_> = got
            .iter()
            .map(|e| (e.name.as_ref(), e.value.as_str()))
            .collect();
        assert_eq!(got, [("booking_ref", "BK-20931"), ("amount", "45 USD")]);
    }

    #[test]
    fn custom_extractor_errors() {
        let e = Extractors::with_custom(&[("bad", "(unclosed")]).unwrap_err();
        assert!(matches!(&e, ExtractorError::InvalidPattern { name, .. } if name == "bad"));
        assert!(e.to_string().contains("'bad'"));
        let e = Extractors::with_custom(&[("Bad Name", "x")]).unwrap_err();
        assert!(matches!(e, ExtractorError::InvalidName { .. }));
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        let e = Extractors::with_custom(&[("long", long.as_str())]).unwrap_err();
        assert!(matches!(e, ExtractorError::PatternTooLong { .. }));
        let e = Extractors::with_custom(&[("empty", "a*")]).unwrap_err();
        assert!(matches!(e, ExtractorError::MatchesEmpty { .. }));
        let e = Extractors::with_custom(&[("x", "a"), ("x", "b")]).unwrap_err();
        assert!(matches!(e, ExtractorError::Duplicate { .. }));
        let e = Extractors::with_custom(&[("huge", r"(\w{100}){100}")]).unwrap_err();
        assert!(matches!(e, ExtractorError::InvalidPattern { .. }), "{e}");
        let many: Vec<(String, String)> = (0..=MAX_CUSTOM_EXTRACTORS)
            .map(|i| (format!("x{i}"), "a".into()))
            .collect();
        assert!(matches!(
            Extractors::with_custom(&many),
            Err(ExtractorError::TooMany { .. })
        ));
    }

    #[test]
    fn numbers_normalise() {
        assert_eq!(normalize_number("1,299.00").unwrap(), "1299.00");
        assert_eq!(normalize_number("1.299").unwrap(), "1299");
        assert_eq!(normalize_number("0,5").unwrap(), "0.50");
        assert_eq!(normalize_number("007").unwrap(), "7");
    }

    #[test]
    fn huge_text_is_clipped_on_a_char_boundary() {
        let s = "é".repeat(MAX_SCAN_BYTES);
        assert!(clip(&s, MAX_SCAN_BYTES).len() <= MAX_SCAN_BYTES);
        let big = format!("{} order #1234", "x".repeat(100_000));
        assert!(of(&big, "order_id").is_empty());
        let big = format!("order #1234 {}", "é🙂".repeat(20_000));
        assert_eq!(of(&big, "order_id"), ["1234"]);
    }
}
