//! Markdown to plain text, for the index and for snippets.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Renders Markdown as plain text: markup, link targets, images' URLs, HTML and code fences
/// are dropped; link text, image alt text, inline code and code block contents are kept.
/// Blocks (paragraphs, headings, list items, table rows, code blocks) end with a newline, and
/// runs of blank space inside a line collapse to one space.
///
/// ```
/// let text = baton_kb::markdown_to_text("# Refunds\n\nSee [our policy](https://x.y) **now**.");
/// assert_eq!(text, "Refunds\nSee our policy now.");
/// ```
pub fn markdown_to_text(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Text(text) | Event::Code(text) => raw.push_str(&text),
            Event::SoftBreak => raw.push(' '),
            Event::HardBreak | Event::Rule => raw.push('\n'),
            Event::Start(Tag::Item) => raw.push('\n'),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::TableHead
                | TagEnd::TableRow,
            ) => raw.push('\n'),
            Event::End(TagEnd::TableCell) => raw.push(' '),
            _ => {}
        }
    }
    let mut out = String::with_capacity(raw.len());
    for line in raw.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_none() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        for (i, word) in words.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::markdown_to_text;

    #[test]
    fn strips_markup_keeps_text() {
        let md = "# Title\n\nSome *emphasis* and __strong__ and `code`.\n\n\
                  - item [one](http://a.b/c)\n- item ![alt](x.png)\n\n\
                  ```sh\nbaton serve\n```\n\n<div>html</div>\n\n> quoted\n";
        assert_eq!(
            markdown_to_text(md),
            "Title\nSome emphasis and strong and code.\nitem one\nitem alt\nbaton serve\nquoted"
        );
    }

    #[test]
    fn tables_and_empty_input() {
        assert_eq!(markdown_to_text(""), "");
        assert_eq!(
            markdown_to_text("| a | b |\n|---|---|\n| 1 | 2 |\n"),
            "a b\n1 2"
        );
    }
}
