//! Trains the learned half of the human-request signal on the dev file, reports
//! leave-one-source-out figures, and writes the weights. Deterministic: fixed seeds, fixed epoch
//! count, no threads.
//!
//! `cargo run -p baton-core --example train_human_request -- HUMAN-REQUEST-DEV.tsv HUMAN-REQUEST-DEV.sources.tsv OUT.tsv [--report-only] [--by-subset] [--negatives FILE.tsv NAME] [--extra FILE.tsv NAME]...`
//! (see `scripts/train-human-request.sh`). Train on the dev files only. Experiment switches
//! (environment): `BATON_GLOVE_VALENCE`, `BATON_WORD_VECTORS`, `BATON_EMB_GAIN`, the
//! word-embedding features of session 11 (`escalation::embeddings`; not shipped);
//! `BATON_TYPOS=RATE` (session 15: a typo copy of every row but the `--negatives` ones,
//! `training::typo_variant`, scored as the held-out source's "with typos" figures),
//! `BATON_TYPO_TRAIN=1` (also train on the other sources' copies), `BATON_REQUEST_SEED` (another
//! seed for the LOSO runs, to see the spread). None is used by the script.
//!
//! The report:
//! - the rules alone per source (they are not trained, so this is their leave-one-source-out
//!   figure; but they were written looking at the whole dev file, so it is optimistic);
//! - **nested leave-one-source-out** (the figure that decides): for each source, the model is
//!   trained on the other sources and its threshold chosen on out-of-source scores of those
//!   other sources only; the held-out source is scored with rules + that model;
//! - the shipped threshold: chosen on the pooled out-of-source scores of all sources (each
//!   source scored by a model trained on the others), then one model is trained on everything.

use baton_core::escalation::eval;
use baton_core::escalation::request_model;
use baton_core::escalation::training::{
    self, Counts, REQUEST_RECIPE, REQUEST_SEED, REQUEST_THRESHOLD_ALONE, RequestRow,
    choose_request_threshold, model_counts, request_counts, request_loso_with, request_oof,
};

fn prf(c: &Counts) -> String {
    if c.tp + c.fn_ == 0 {
        return format!(
            "no positives; false alarms {:.4} ({} of {})",
            c.false_alarm_rate(),
            c.fp,
            c.fp + c.tn
        );
    }
    format!(
        "P {:.4} R {:.4} F1 {:.4} (tp {} fp {} fn {} tn {}; false alarms {:.4})",
        c.precision(),
        c.recall(),
        c.f1(),
        c.tp,
        c.fp,
        c.fn_,
        c.tn,
        c.false_alarm_rate()
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(input), Some(sources), Some(output)) = (args.first(), args.get(1), args.get(2))
    else {
        return Err(
            "usage: train_human_request HUMAN-REQUEST-DEV.tsv HUMAN-REQUEST-DEV.sources.tsv OUT.tsv [--report-only]"
                .into(),
        );
    };
    let report_only = args.iter().any(|a| a == "--report-only");
    let examples = eval::parse_tsv(&std::fs::read_to_string(input)?)?;
    let src = eval::attach_sources(&examples, &std::fs::read_to_string(sources)?)?;
    // Held out by data set (`bitext`, not `bitext:utterances-8k`: subsets of one data set share
    // its generator), unless `--by-subset`.
    let src: Vec<String> = if args.iter().any(|a| a == "--by-subset") {
        src
    } else {
        src.iter()
            .map(|s| s.split(':').next().unwrap_or(s).to_string())
            .collect()
    };
    // Extra negatives: every message of another file (say the frustration dev file: tweets and
    // review snippets, where "agent", "manager" and "call me" are seldom a request) as label
    // 0, held out as a source of its own.
    let (mut examples, mut src) = (examples, src);
    if let Some(i) = args.iter().position(|a| a == "--negatives") {
        let (Some(path), Some(source)) = (args.get(i + 1), args.get(i + 2)) else {
            return Err("--negatives FILE.tsv SOURCE-NAME".into());
        };
        for mut e in eval::parse_tsv(&std::fs::read_to_string(path)?)? {
            e.label = false;
            examples.push(e);
            src.push(source.clone());
        }
    }
    // Extra labelled messages (say the hand-written set in
    // crates/baton-core/training/human-request-handwritten.tsv), held out as a source of their
    // own: every dev source's figure is then measured with them in training, and their own
    // figure with them out of it.
    let mut i = 0;
    while let Some(k) = args[i..].iter().position(|a| a == "--extra") {
        let at = i + k;
        let (Some(path), Some(source)) = (args.get(at + 1), args.get(at + 2)) else {
            return Err("--extra FILE.tsv SOURCE-NAME".into());
        };
        for e in eval::parse_tsv(&std::fs::read_to_string(path)?)? {
            examples.push(e);
            src.push(source.clone());
        }
        i = at + 3;
    }
    // BATON_TYPOS=RATE: add a typo copy of every row but the `--negatives` ones
    // (`training::typo_variant`, each word of 4+ letters misspelled with probability RATE),
    // scored for the typo figures of the held-out source; BATON_TYPO_TRAIN=1 also trains on
    // the copies of the other sources (and the shipped model on all of them).
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    // BATON_L2 / BATON_EPOCHS: the recipe's penalty and passes (experiments; the weights file
    // records the recipe it was trained with).
    let recipe = training::Recipe {
        l2: env("BATON_L2").unwrap_or(REQUEST_RECIPE.l2),
        epochs: env("BATON_EPOCHS").map_or(REQUEST_RECIPE.epochs, |e| e as usize),
        ..REQUEST_RECIPE
    };
    let typo_rate = env("BATON_TYPOS").unwrap_or(0.0);
    let train_typos = typo_rate > 0.0 && env("BATON_TYPO_TRAIN").is_some_and(|v| v > 0.0);
    let negatives_name = args
        .iter()
        .position(|a| a == "--negatives")
        .and_then(|i| args.get(i + 2))
        .cloned();
    let clean_len = examples.len();
    if typo_rate > 0.0 {
        for i in 0..clean_len {
            if Some(&src[i]) == negatives_name.as_ref() {
                continue;
            }
            let e = eval::Example {
                text: training::typo_variant(&examples[i].text, i as u64, typo_rate),
                ..examples[i].clone()
            };
            examples.push(e);
            src.push(src[i].clone());
        }
    }
    let (names, groups) = training::group_ids(&src);
    let mut rows: Vec<RequestRow> = training::request_rows(&examples);
    for r in &mut rows[clean_len..] {
        r.variant = true;
    }
    // BATON_BALANCE=1: every source with rows of a class carries the same share of that
    // class's training weight (a row of source s and class c weighs n_c / (S_c · n_{s,c}), S_c
    // the number of sources with rows of class c), so Bitext's templates do not outweigh the
    // other sources' phrasings. A row's weight depends only on its own source.
    if env("BATON_BALANCE").is_some_and(|b| b > 0.0) {
        let mut n = std::collections::BTreeMap::<(usize, bool), f64>::new();
        for (r, g) in rows.iter().zip(&groups) {
            *n.entry((*g, r.row.y)).or_default() += 1.0;
        }
        for (r, g) in rows.iter_mut().zip(&groups) {
            let y = r.row.y;
            let class: Vec<f64> = n
                .iter()
                .filter(|(k, _)| k.1 == y)
                .map(|(_, v)| *v)
                .collect();
            let total: f64 = class.iter().sum();
            r.row.weight = total / (class.len() as f64 * n[&(*g, y)]);
        }
    }
    // BATON_GLOVE_VALENCE / BATON_WORD_VECTORS / BATON_EMB_GAIN: the word-embedding features
    // of the session-11 experiment (escalation::embeddings; not shipped). The human-request
    // model reads the message as written (no artefact removal).
    let experiment = baton_core::escalation::embeddings::Experiment::from_env()?;
    if let Some(x) = &experiment {
        for (r, e) in rows.iter_mut().zip(&examples) {
            r.row.f.extra = x.features(&e.text, false);
        }
    }
    let refs: Vec<&RequestRow> = rows.iter().collect();
    // BATON_REQUEST_SEED: another seed for the LOSO runs (to see the spread).
    let loso_seed = env("BATON_REQUEST_SEED").map_or(REQUEST_SEED, |s| s as u64);
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let mut report = format!(
        "trained on {} ({} rows, sources {})\n{:?}\nseed {REQUEST_SEED}\n",
        name(input),
        rows.len(),
        names.join(", "),
        recipe,
    );
    if let Some(x) = &experiment {
        report.push_str(&x.describe());
        report.push('\n');
    }

    if typo_rate > 0.0 {
        report.push_str(&format!(
            "typo copies at rate {typo_rate} of {} rows; trained on: {train_typos}; LOSO seed {loso_seed}\n",
            rows.len() - clean_len
        ));
    }
    let loso = request_loso_with(&refs, &groups, &names, loso_seed, &recipe, train_typos);
    report.push_str(
        "nested leave-one-source-out (model trained and threshold chosen without the source):\n",
    );
    for s in &loso.per_source {
        report.push_str(&format!(
            "  {:<14} rules only: {}\n  {:<14} model alone (threshold {:.2}): {}\n  {:<14} rules+model: {}\n",
            s.name,
            prf(&s.rules),
            "",
            s.threshold,
            prf(&s.model),
            "",
            prf(&s.combined)
        ));
    }
    report.push_str(&format!(
        "  pooled rules only: {}\n  pooled model alone: {}\n  pooled rules+model: {}\n",
        prf(&loso.rules),
        prf(&loso.model),
        prf(&loso.combined)
    ));
    if typo_rate > 0.0 {
        for s in &loso.per_source {
            report.push_str(&format!(
                "  {:<14} with typos: model alone {}\n  {:<14}             rules+model {}\n",
                s.name,
                prf(&s.model_typos),
                "",
                prf(&s.combined_typos)
            ));
        }
        report.push_str(&format!(
            "  pooled with typos: model alone {}\n  pooled with typos: rules+model {}\n",
            prf(&loso.model_typos),
            prf(&loso.combined_typos)
        ));
    }
    let worst = loso
        .per_source
        .iter()
        .filter(|s| s.combined.tp + s.combined.fn_ > 0)
        .min_by(|a, b| a.combined.f1().total_cmp(&b.combined.f1()));
    if let Some(w) = worst {
        report.push_str(&format!(
            "  worst source with positives: {} F1 {:.4} (rules only {:.4})\n",
            w.name,
            w.combined.f1(),
            w.rules.f1()
        ));
    }
    let worst_fa = loso
        .per_source
        .iter()
        .max_by(|a, b| {
            a.combined
                .false_alarm_rate()
                .total_cmp(&b.combined.false_alarm_rate())
        })
        .expect("some source");
    report.push_str(&format!(
        "  highest false-alarm rate: {} {:.4} (rules only {:.4})\n",
        worst_fa.name,
        worst_fa.combined.false_alarm_rate(),
        worst_fa.rules.false_alarm_rate()
    ));

    // The shipped threshold: on the out-of-source scores of the rows that are not typo copies
    // (the copies are trained on only with BATON_TYPO_TRAIN).
    let trained: Vec<&RequestRow> = rows.iter().filter(|r| train_typos || !r.variant).collect();
    let trained_groups: Vec<usize> = rows
        .iter()
        .zip(&groups)
        .filter(|(r, _)| train_typos || !r.variant)
        .map(|(_, g)| *g)
        .collect();
    let oof_all = request_oof(&trained, &trained_groups, REQUEST_SEED, &recipe);
    let (refs, oof): (Vec<&RequestRow>, Vec<f64>) = trained
        .iter()
        .zip(&oof_all)
        .filter(|(r, _)| !r.variant)
        .map(|(r, p)| (*r, *p))
        .unzip();
    let (threshold, at) = choose_request_threshold(&refs, &oof, REQUEST_THRESHOLD_ALONE);
    report.push_str(&format!(
        "shipped threshold {threshold:.2}, chosen on pooled out-of-source scores of all sources (model alone: {REQUEST_THRESHOLD_ALONE}; optimistic for the figure it is chosen on: {})\n",
        prf(&at)
    ));
    for t in [0.5, 0.6, 0.7, 0.8, 0.9] {
        report.push_str(&format!(
            "  pooled out-of-source at {t:.2}: model alone {}; rules+model {}\n",
            prf(&model_counts(&refs, &oof, t)),
            prf(&request_counts(&refs, Some(&oof), t))
        ));
    }
    if (threshold - request_model::THRESHOLD).abs() > 1e-9 {
        report.push_str(&format!(
            "NOTE: request_model::THRESHOLD is {:.2}; set it to {threshold:.2}\n",
            request_model::THRESHOLD
        ));
    }
    eprint!("{report}");
    if report_only {
        return Ok(());
    }
    let all: Vec<&training::Row> = trained.iter().map(|r| &r.row).collect();
    let m = training::train(&all, REQUEST_SEED, &recipe);
    let probs: Vec<f64> = refs.iter().map(|r| m.probability(&r.row.f)).collect();
    let in_sample = request_counts(&refs, Some(&probs), threshold);
    let report = format!(
        "{report}in-sample (trained on these rows; not a measurement): {}\n",
        prf(&in_sample)
    );
    eprintln!(
        "in-sample (trained on these rows; not a measurement): {}",
        prf(&in_sample)
    );
    std::fs::write(
        output,
        m.to_tsv(&format!(
            "Linear human-request model for baton-core (see escalation/request_model.rs, escalation/training.rs).\nGenerated by scripts/train-human-request.sh; do not edit.\nthreshold\t{threshold:.2}\n{report}"
        )),
    )?;
    Ok(())
}
