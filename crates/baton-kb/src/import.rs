//! Reading articles from a folder of Markdown files with optional front matter.

use crate::{ArticleDraft, KbError};
use std::path::{Path, PathBuf};

/// Reads every `*.md` / `*.markdown` file directly inside `dir` (not recursively), sorted by
/// file name, as article drafts. See [`parse_markdown_article`] for the file format.
pub fn import_dir(dir: impl AsRef<Path>) -> Result<Vec<ArticleDraft>, KbError> {
    let dir = dir.as_ref();
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KbError::Io { path, source }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let is_markdown = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("markdown"));
        if is_markdown && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let content = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            parse_markdown_article(&path, &content)
        })
        .collect()
}

/// Parses one Markdown article. `path` names the file in errors and gives the default slug
/// and title.
///
/// The file may start with front matter between two `---` lines:
///
/// ```text
/// ---
/// title: Refund policy
/// tags: [billing, refunds]      # or: tags: billing, refunds   or a `- item` list
/// language: en
/// id: refund-policy             # optional; defaults to the file name's slug
/// ---
/// # Refund policy
/// ...
/// ```
///
/// Values may be quoted; blank lines and `#` comment lines are skipped; other keys (`date:`,
/// `draft:`, ... from static site generators) are ignored. The title defaults to the first
/// `# ` heading, then to the file name; a leading `# ` heading equal to the title is removed
/// from the body. The language defaults to `en`. Malformed front matter is an error naming
/// the file and line.
pub fn parse_markdown_article(path: &Path, content: &str) -> Result<ArticleDraft, KbError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let err = |line: usize, message: String| KbError::FrontMatter {
        path: path.to_path_buf(),
        line,
        message,
    };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");

    let mut title: Option<String> = None;
    let mut tags: Option<Vec<String>> = None;
    let mut language: Option<String> = None;
    let mut id: Option<String> = None;
    let mut body = content;

    let mut lines = content.split_inclusive('\n');
    if lines.next().is_some_and(|l| l.trim_end() == "---") {
        let mut offset = content.find('\n').map_or(content.len(), |i| i + 1);
        let mut closed = false;
        // A `key:` with an empty value collecting `- item` lines (YAML block list).
        let mut list_key: Option<(usize, String)> = None;
        for (n, raw) in lines.enumerate() {
            let line_no = n + 2;
            offset += raw.len();
            let line = raw.trim_end();
            if line == "---" {
                closed = true;
                break;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(item) = trimmed
                .strip_prefix("- ")
                .or(trimmed.strip_prefix('-').filter(|r| r.is_empty()))
            {
                match &list_key {
                    Some((_, key)) if key == "tags" => {
                        let item = unquote(item.trim());
                        if !item.is_empty() {
                            tags.get_or_insert_with(Vec::new).push(item.to_string());
                        }
                        continue;
                    }
                    Some((_, key)) => {
                        return Err(err(
                            line_no,
                            format!("`{key}` takes a single value, not a list"),
                        ));
                    }
                    None => {
                        return Err(err(line_no, "list item outside a `tags:` list".into()));
                    }
                }
            }
            list_key = None;
            let Some((key, value)) = line.split_once(':') else {
                return Err(err(
                    line_no,
                    format!("expected `key: value` in front matter, found {trimmed:?}"),
                ));
            };
            let key = key.trim().to_ascii_lowercase();
            let value = strip_comment(value.trim());
            let duplicate = || err(line_no, format!("`{key}` appears twice"));
            match key.as_str() {
                "title" => {
                    let value = unquote(value);
                    if value.is_empty() {
                        return Err(err(line_no, "`title` is empty".into()));
                    }
                    if title.replace(value.to_string()).is_some() {
                        return Err(duplicate());
                    }
                }
                "tags" => {
                    if tags.is_some() {
                        return Err(duplicate());
                    }
                    if value.is_empty() {
                        tags = Some(Vec::new());
                        list_key = Some((line_no, key));
                        continue;
                    }
                    tags = Some(parse_tags(value).map_err(|m| err(line_no, m))?);
                }
                "language" | "lang" => {
                    let value = unquote(value);
                    if !is_language_tag(value) {
                        return Err(err(
                            line_no,
                            format!(
                                "`{key}` must be a language code such as `en` or `pt-BR`, found {value:?}"
                            ),
                        ));
                    }
                    if language.replace(value.to_string()).is_some() {
                        return Err(duplicate());
                    }
                }
                "id" | "slug" => {
                    let slug = slugify(unquote(value));
                    if slug.is_empty() {
                        return Err(err(line_no, format!("`{key}` has no letters or digits")));
                    }
                    if id.replace(slug).is_some() {
                        return Err(duplicate());
                    }
                }
                "" => return Err(err(line_no, "missing key before `:`".into())),
                _ => {} // date:, draft:, author: ... from other tools
            }
        }
        if !closed {
            return Err(err(
                1,
                "front matter opened with `---` on line 1 is never closed by a `---` line".into(),
            ));
        }
        body = &content[offset.min(content.len())..];
    }

    let heading = first_h1(body);
    let title = match (title, heading) {
        (Some(t), _) => t,
        (None, Some((h, _))) => h.to_string(),
        (None, None) => title_from_stem(stem),
    };
    if title.is_empty() {
        return Err(err(
            1,
            "no title: add `title:` front matter or a `# ` heading".into(),
        ));
    }
    // Drop a leading `# Title` that repeats the title, so snippets don't start with it.
    let body = match first_h1(body) {
        Some((h, rest))
            if h == title
                && body[..body.len() - rest.len()]
                    .trim_start()
                    .starts_with('#') =>
        {
            rest
        }
        _ => body,
    };
    let slug = id.unwrap_or_else(|| slugify(stem));
    if slug.is_empty() {
        return Err(err(
            1,
            "the file name has no letters or digits to make an id from".into(),
        ));
    }
    Ok(ArticleDraft {
        slug,
        title,
        body: body.trim().to_string(),
        tags: tags.unwrap_or_default(),
        language: language.unwrap_or_else(|| "en".to_string()),
    })
}

/// A URL- and id-friendly form of `text`: lower-case letters and digits (accents kept), runs
/// of anything else as one `-`, no leading or trailing `-`.
///
/// ```
/// assert_eq!(baton_kb::slugify("  Refund Policy (EU)_v2.md "), "refund-policy-eu-v2-md");
/// ```
pub fn slugify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The first `# ` heading outside code fences, and the text after its line.
fn first_h1(body: &str) -> Option<(&str, &str)> {
    let mut in_fence = false;
    let mut offset = 0;
    for raw in body.split_inclusive('\n') {
        offset += raw.len();
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_fence = !in_fence;
        } else if !in_fence && let Some(h) = line.strip_prefix("# ") {
            let h = h.trim().trim_end_matches('#').trim();
            return Some((h, &body[offset..]));
        }
    }
    None
}

fn title_from_stem(stem: &str) -> String {
    let words = stem
        .split(|c: char| c == '-' || c == '_' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn parse_tags(value: &str) -> Result<Vec<String>, String> {
    let inner = match (value.starts_with('['), value.ends_with(']')) {
        (true, true) => &value[1..value.len() - 1],
        (true, false) => return Err("`tags` list opened with `[` is not closed by `]`".into()),
        (false, true) => return Err("`tags` list closed by `]` was never opened with `[`".into()),
        (false, false) => value,
    };
    Ok(inner
        .split(',')
        .map(|t| unquote(t.trim()).to_string())
        .filter(|t| !t.is_empty())
        .collect())
}

fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// Drops a trailing ` # comment` from an unquoted value.
fn strip_comment(value: &str) -> &str {
    if value.starts_with('"') || value.starts_with('\'') {
        return value;
    }
    match value.find(" #") {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

fn is_language_tag(value: &str) -> bool {
    let mut parts = value.split(['-', '_']);
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(content: &str) -> Result<ArticleDraft, KbError> {
        parse_markdown_article(Path::new("kb/refund-policy.md"), content)
    }

    #[test]
    fn full_front_matter() {
        let d = parse(
            "---\ntitle: \"Refunds: how they work\"\ntags: [billing, 'refunds']\n\
             language: es-MX\ndate: 2024-01-01\n---\n# Refunds: how they work\n\nBody.\n",
        )
        .unwrap();
        assert_eq!(d.title, "Refunds: how they work");
        assert_eq!(d.tags, ["billing", "refunds"]);
        assert_eq!(d.language, "es-MX");
        assert_eq!(d.slug, "refund-policy");
        assert_eq!(d.body, "Body.");
    }

    #[test]
    fn tags_forms_and_defaults() {
        let d = parse("---\ntags: a, b ,c # comment\n---\nNo heading here.").unwrap();
        assert_eq!(d.tags, ["a", "b", "c"]);
        assert_eq!(d.title, "Refund policy");
        assert_eq!(d.language, "en");
        let d =
            parse("---\ntags:\n  - one\n  - \"two\"\nid: Custom ID\n---\n# Heading\ntext").unwrap();
        assert_eq!(d.tags, ["one", "two"]);
        assert_eq!(d.slug, "custom-id");
        assert_eq!(d.title, "Heading");
        assert_eq!(d.body, "text");
    }

    #[test]
    fn no_front_matter_and_crlf() {
        let d = parse("\u{feff}# Title here\r\n\r\nBody\r\n").unwrap();
        assert_eq!(d.title, "Title here");
        assert_eq!(d.body, "Body");
        let d = parse("---\r\ntitle: X\r\n---\r\nBody").unwrap();
        assert_eq!((d.title.as_str(), d.body.as_str()), ("X", "Body"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                "---\ntitle: A\nthis line is wrong\n---\n",
                3,
                "expected `key: value`",
            ),
            ("---\ntitle: A\n", 1, "never closed"),
            ("---\ntags: [a, b\n---\n", 2, "not closed by `]`"),
            ("---\nlanguage: english!\n---\n", 2, "language code"),
            ("---\ntitle: A\ntitle: B\n---\n", 3, "appears twice"),
            ("---\ntitle: \"\"\n---\n", 2, "`title` is empty"),
            ("---\n- stray\n---\n", 2, "list item"),
        ];
        for (content, line, needle) in cases {
            let e = parse(content).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("kb/refund-policy.md:{line}: ")) && msg.contains(needle),
                "{content:?} → {msg}"
            );
        }
    }
}
