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
    if let Ok(probe) = std::env::var("PROBE") {
        for text in probe.split('|') {
            let ex = vec![eval::Example { text: text.to_string(), label: true, line: 1 }];
            let r = &training::rows(&ex, &RECIPE.features)[0];
            let names = baton_core::escalation::model::DENSE_NAMES;
            let mut dense = 0.0;
            let mut parts = String::new();
            for i in 0..names.len() {
                let c = m.dense[i] * r.f.dense[i];
                dense += c;
                if c.abs() > 0.05 { parts.push_str(&format!(" {}={:.2}", names[i], c)); }
            }
            let split = r.f.split.min(r.f.sparse.len());
            let w: f64 = r.f.sparse[..split].iter().map(|&i| m.sparse[i as usize] as f64).sum::<f64>() * r.f.scale;
            let c: f64 = r.f.sparse[split..].iter().map(|&i| m.chars[i as usize] as f64).sum::<f64>() * r.f.char_scale;
            println!("p {:.3} bias {:.2} dense {:.2} words {:.2} chars {:.2} rule {:.2} |{} | {text}", m.probability(&r.f), m.bias, dense, w, c, r.rule_level, parts);
        }
        return;
    }
    let mut out: Vec<(f64, f64, bool, &str)> = rows.iter().zip(&src).zip(&ex).filter(|((_, s), _)| *s == held)
        .map(|((r, _), e)| { let p = m.probability(&r.f); (level(r, p, 0.5), p, r.y, e.text.as_str()) }).collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (l, p, y, t) in &out { println!("{l:.3}\t{p:.3}\t{}\t{t}", *y as u8); }
}
#[allow(dead_code)]
fn unused() {}
