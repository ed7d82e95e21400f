//! Searches the demo knowledge base (`demo/kb/`) from the command line and prints the hits,
//! scores, snippets and the KB-bot confidence: a tool for tuning articles and ranking.
//!
//! `cargo run -p baton-kb --example kbq -- "I was charged twice" "olvidé mi contraseña"`

use baton_kb::{KnowledgeBase, SearchOptions, confidence, import_dir};
use std::path::Path;

fn main() -> Result<(), baton_kb::KbError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/kb");
    let kb = KnowledgeBase::new();
    let articles = import_dir(dir)?
        .into_iter()
        .map(|d| d.into_article("demo", 0));
    kb.replace_tenant("demo", articles)?;
    for question in std::env::args().skip(1) {
        let hits = kb.search("demo", &question, &SearchOptions::default())?;
        println!("{question:?}  confidence {:.2}", confidence(&hits));
        for hit in hits.iter().take(4) {
            println!("  {:7.2}  {}  | {}", hit.score, hit.id, hit.snippet);
        }
    }
    Ok(())
}
