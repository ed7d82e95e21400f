use baton_core::escalation::eval;
use baton_core::escalation::training::{self, Row, RECIPE, SEED, level};
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let ex = eval::parse_tsv(&std::fs::read_to_string(&a[0]).unwrap()).unwrap();
    let src = eval::attach_sources(&ex, &std::fs::read_to_string(&a[1]).unwrap()).unwrap();
    let sup = eval::parse_tsv(&std::fs::read_to_string(&a[2]).unwrap()).unwrap();
    let hw = eval::parse_tsv(&std::fs::read_to_string(&a[3]).unwrap()).unwrap();
    let held = &a[4];
    let rows = training::rows(&ex, &RECIPE.features);
    let hrows = training::rows(&hw, &RECIPE.features);
    let srows = training::support_rows(&sup, &RECIPE.features);
    let mut tr: Vec<&Row> = rows.iter().zip(&src).filter(|(_, s)| *s != held).map(|(r, _)| r).collect();
    tr.extend(hrows.iter());
    tr.extend(srows.iter());
    let m = training::train(&tr, SEED, &RECIPE);
    let mut out: Vec<(f64, f64, bool, &str)> = rows.iter().zip(&src).zip(&ex).filter(|((_, s), _)| *s == held)
        .map(|((r, _), e)| { let p = m.probability(&r.f); (level(r, p, 0.5), p, r.y, e.text.as_str()) }).collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (l, p, y, t) in &out { println!("{l:.3}\t{p:.3}\t{}\t{t}", *y as u8); }
}
