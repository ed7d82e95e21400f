use super::*;
use crate::escalation::model;
use crate::escalation::{Detector, eval};

fn toy_row(y: bool, words: usize, compound: f64) -> Row {
    let mut f = Features {
        sparse: vec![0; (2 * words).saturating_sub(1)],
        words,
        ..Features::default()
    };
    f.dense[0] = compound;
    Row {
        f,
        rule_level: 0.0,
        y,
        source: Source::Dev,
        grievance: false,
        weight: 1.0,
        group: 0,
    }
}

fn data<'a>(dev: &'a [&'a Row]) -> Data<'a> {
    Data { dev, support: &[] }
}

#[test]
fn counts_and_f1() {
    let scores = [(0.9, true), (0.8, false), (0.4, true), (0.1, false)];
    let c = Counts::at(&scores, 0.5);
    assert_eq!((c.tp, c.fp, c.fn_, c.tn), (1, 1, 1, 1));
    assert_eq!(c.f1(), 0.5);
    assert_eq!(Counts::at(&scores, 0.95).f1(), 0.0);
}

#[test]
fn experimental_features_are_learned_and_written_with_the_weights() {
    // Only the extra feature tells the classes apart (the experiments' word-embedding features
    // travel this way, see `escalation::embeddings`).
    let rows: Vec<Row> = (0..40)
        .map(|i| {
            let mut r = toy_row(i % 2 == 0, 5, 0.0);
            r.f.extra = vec![if r.y { 1.0 } else { -1.0 }, 0.0];
            r
        })
        .collect();
    let refs: Vec<&Row> = rows.iter().collect();
    let m = train(&refs, SEED, &RECIPE);
    assert_eq!(m.extra.len(), 2);
    assert!(m.extra[0] > 0.5 && m.extra[1] == 0.0, "{:?}", m.extra);
    assert!(m.probability(&rows[0].f) > 0.8 && m.probability(&rows[1].f) < 0.2);
    let back = LinearModel::parse(&m.to_tsv("toy")).expect("parses");
    assert!((back.extra[0] - m.extra[0]).abs() < 1e-5);
    // Features without them (the shipped ones) ignore those weights.
    let mut f = rows[0].f.clone();
    let with = back.margin(&f);
    f.extra.clear();
    assert!((with - back.margin(&f) - back.extra[0]).abs() < 1e-9);
    // A model trained without them (the shipped recipe) has none and writes none.
    let plain: Vec<Row> = (0..10).map(|i| toy_row(i % 2 == 0, 5, 0.0)).collect();
    let m = train(&plain.iter().collect::<Vec<_>>(), SEED, &RECIPE);
    assert!(m.extra.is_empty() && !m.to_tsv("toy").contains("extra:"));
}

#[test]
fn folds_partition_the_rows_evenly_and_deterministically() {
    let f = folds(103, 5, SEED);
    assert_eq!(f, folds(103, 5, SEED));
    assert_ne!(f, folds(103, 5, SEED + 1));
    for k in 0..5 {
        let n = f.iter().filter(|x| **x == k).count();
        assert!((20..=21).contains(&n), "fold {k} has {n}");
    }
}

#[test]
fn choose_finds_the_separating_threshold_and_respects_the_gate() {
    let rows: Vec<Row> = (0..20).map(|i| toy_row(i >= 10, 5, 0.0)).collect();
    let refs: Vec<&Row> = rows.iter().collect();
    let probs: Vec<f64> = (0..20).map(|i| if i >= 10 { 0.7 } else { 0.3 }).collect();
    let s = choose(data(&refs), &probs, &[], &[1.0], 1.0);
    assert_eq!(s.counts.f1(), 1.0);
    assert!(s.threshold > 0.3 && s.threshold <= 0.7, "{s:?}");
    // A short message without negative evidence stays below any threshold the search picks.
    assert!(level(&toy_row(true, 1, 0.0), 1.0, 1.0) <= frustration::UNGATED_CAP);
    assert!(level(&toy_row(true, 2, -0.5), 1.0, 1.0) > 0.9);
}

#[test]
fn nested_cv_never_tunes_on_the_reported_fold() {
    // Labels are pure noise: a threshold tuned on the reported scores could still find some
    // F1; settings chosen inside the training folds and scored on unseen rows cannot beat
    // predicting everyone frustrated by much.
    let mut rng = Lcg(7);
    let rows: Vec<Row> = (0..400)
        .map(|_| {
            let mut r = toy_row(rng.next_u64().is_multiple_of(4), 5, 0.0);
            r.f.sparse = (0..9).map(|_| (rng.next_u64() % 64) as u32).collect();
            r
        })
        .collect();
    let refs: Vec<&Row> = rows.iter().collect();
    let cv = nested_cv(data(&refs), 5, 3, &[1.0], 1.0, SEED, &RECIPE);
    let all_positive = Counts {
        tp: rows.iter().filter(|r| r.y).count(),
        fp: rows.iter().filter(|r| !r.y).count(),
        ..Counts::default()
    };
    assert_eq!(cv.per_fold.len(), 5);
    assert_eq!(
        cv.pooled.tp + cv.pooled.fp + cv.pooled.fn_ + cv.pooled.tn,
        400
    );
    assert!(
        cv.pooled.f1() <= all_positive.f1() + 0.05,
        "{:?} vs {:?}",
        cv.pooled,
        all_positive
    );
}

/// A dev file, if it is beside the repository (`../shared/eval/`). Missing is a failure under
/// CI (`CI` set), a skip elsewhere.
fn dev_file(name: &str) -> Option<Vec<eval::Example>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/eval")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(eval::parse_tsv(&s).expect("dev file parses")),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {} not readable ({e})", path.display());
            None
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The hand-written support-chat messages (`training/frustration-handwritten.tsv`), which
/// `scripts/train-frustration.sh` adds to the dev rows as a source of their own.
fn frustration_handwritten() -> Vec<eval::Example> {
    let h = eval::parse_tsv(include_str!(
        "../../../training/frustration-handwritten.tsv"
    ))
    .expect("the hand-written frustration file parses");
    assert!(h.len() > 350);
    h
}

/// The nested CV of the shipped recipe on the dev files, computed once for both tests below.
struct DevCv {
    dev: Vec<eval::Example>,
    support: Vec<eval::Example>,
    cv: CvReport,
}

static DEV_CV: std::sync::LazyLock<Option<DevCv>> = std::sync::LazyLock::new(|| {
    let dev = dev_file("frustration-dev.tsv")?;
    let support = dev_file("human-request-dev.tsv")?;
    let cfg = RECIPE.features;
    let mut all = dev.clone();
    all.extend(frustration_handwritten());
    let dev_rows = rows(&all, &cfg);
    let support_rows = support_rows(&support, &cfg);
    let d: Vec<&Row> = dev_rows.iter().collect();
    let s: Vec<&Row> = support_rows.iter().collect();
    let data = Data {
        dev: &d,
        support: &s,
    };
    let cv = nested_cv(
        data,
        5,
        5,
        &MODEL_WEIGHTS,
        MAX_SUPPORT_FALSE_ALARMS,
        SEED,
        &RECIPE,
    );
    Some(DevCv { dev, support, cv })
});

/// The honest figure of the shipped recipe: nested 5-fold cross-validation on the dev files
/// (blend weight and threshold chosen inside each training fold), exactly as
/// `scripts/train-frustration.sh` reports it first. The floor is the figure recorded in
/// BENCHMARKS.md minus about 0.005, so a change that makes the model worse fails here; the
/// weights file must record the same figure (it comes from this code), and the detector with
/// the shipped weights must reproduce its in-sample F1 on the file it was trained on.
#[test]
fn frustration_nested_cv_on_dev() {
    let Some(DevCv { dev, cv, .. }) = &*DEV_CV else {
        return;
    };
    let c = cv.pooled;
    eprintln!(
        "nested CV: P {:.4} R {:.4} F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1()
    );
    assert!(
        c.f1() >= NESTED_CV_FLOOR,
        "nested 5-fold CV F1 {:.4}",
        c.f1()
    );
    let recorded = format!(
        "# pooled P {:.4} R {:.4} F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1()
    );
    let file = include_str!("../../../data/frustration_model.tsv");
    assert!(
        file.lines().any(|l| l.starts_with(&recorded)),
        "the weights file does not record {recorded:?}: retrain with scripts/train-frustration.sh"
    );
    assert!(model::shipped().is_some());
    let w = FrustrationWeights::default();
    let chosen = format!(
        "# chosen: model_weight {:.2}, threshold {:.2} ",
        w.model_weight, w.threshold
    );
    assert!(
        file.lines().any(|l| l.starts_with(&chosen)),
        "FrustrationWeights::default() does not match the settings the training chose"
    );

    let d = Detector::with_defaults();
    let r = eval::evaluate(&d, eval::Task::Frustration, dev, 0);
    eprintln!("in-sample: F1 {:.4}", r.f1);
    assert!(r.f1 >= IN_SAMPLE_FLOOR, "in-sample F1 {:.4}", r.f1);
}

/// False alarms on ordinary support traffic (the label-0 rows of the human-request dev file):
/// under the same nested CV, the share of held-out support requests flagged must stay below
/// [`SUPPORT_FALSE_ALARM_BOUND`], and so must the share the shipped detector flags (in-sample
/// for the calm ones, which are training negatives). The bound is the rate of the detector
/// shipped before support traffic was measured (22.8%), so a change may not bring back the
/// false alarms that kept an earlier candidate out.
#[test]
fn frustration_support_false_alarms() {
    let Some(DevCv { support, cv, .. }) = &*DEV_CV else {
        return;
    };
    let held_out = cv.support.false_alarm_rate();
    eprintln!(
        "support false alarms, nested CV: {held_out:.4} ({} of {})",
        cv.support.fp,
        cv.support.fp + cv.support.tn
    );
    assert_eq!(
        cv.support.fp + cv.support.tn,
        support.iter().filter(|e| !e.label).count()
    );
    assert!(
        held_out <= SUPPORT_FALSE_ALARM_BOUND,
        "nested-CV support false alarms {held_out:.4}"
    );
    let requests: Vec<eval::Example> = support.iter().filter(|e| !e.label).cloned().collect();
    let d = Detector::with_defaults();
    let r = eval::evaluate(&d, eval::Task::Frustration, &requests, 0);
    let shipped = r.fp as f64 / r.n as f64;
    eprintln!("support false alarms, shipped detector: {shipped:.4}");
    assert!(
        shipped <= SUPPORT_FALSE_ALARM_BOUND,
        "shipped detector flags {shipped:.4} of the support requests"
    );
    // Requests an earlier candidate flagged.
    for calm in [
        "where is my parcel",
        "I want to change my delivery address",
        "how do I reset my password",
        "What are your opening hours?",
    ] {
        assert!(
            !eval::predict(&d, eval::Task::Frustration, calm).0,
            "{calm:?} flagged"
        );
    }
}

/// See [`frustration_nested_cv_on_dev`].
const NESTED_CV_FLOOR: f64 = 0.795;
/// See [`frustration_nested_cv_on_dev`]. Lowered from 0.935 when the shipped blend weight and
/// threshold came to be chosen by leave-one-source-out (0.60 and 0.36 instead of 0.90 and
/// 0.50): the shipped detector leans less on a model trained on these very rows, so it
/// reproduces less of them (in-sample F1 0.9269; an in-sample figure, not a measurement).
/// Lowered again from 0.92 to 0.905 (in-sample 0.9119) when the hand-written support-chat set
/// joined the training rows and messages under 5 words without negative sentiment or a cue
/// were capped below the threshold (`frustration::GATE_WORDS`, chosen by LOSO for its support
/// false alarms): short tweets and review snippets the model had memorised are no longer
/// flagged on the model's word alone. The figures that measure (LOSO, random CV) are checked
/// in the tests that hold them.
const IN_SAMPLE_FLOOR: f64 = 0.905;
/// See [`frustration_support_false_alarms`].
const SUPPORT_FALSE_ALARM_BOUND: f64 = 0.20;

/// Sources sidecar of a dev file, if present.
fn dev_sources(name: &str, examples: &[eval::Example]) -> Option<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/eval")
        .join(name);
    let s = std::fs::read_to_string(path).ok()?;
    Some(eval::attach_sources(examples, &s).expect("sidecar parses"))
}

/// Nested leave-one-source-out figure of rules + the learned human-request model, as
/// `scripts/train-human-request.sh` reports it (sources held out by data set, the frustration
/// dev file as negatives of its own). Floors: the figures recorded in BENCHMARKS.md minus about
/// 0.005. Also checks that the weights file records this very figure and the threshold in use.
#[test]
fn human_request_loso_on_dev() {
    let (Some(hr), Some(fr)) = (
        dev_file("human-request-dev.tsv"),
        dev_file("frustration-dev.tsv"),
    ) else {
        return;
    };
    let Some(src) = dev_sources("human-request-dev.sources.tsv", &hr) else {
        return;
    };
    let mut src: Vec<String> = src
        .iter()
        .map(|s| s.split(':').next().unwrap().to_string())
        .collect();
    let mut examples = hr;
    for mut e in fr {
        e.label = false;
        examples.push(e);
        src.push("tweets+reviews".into());
    }
    // The hand-written set, a source of its own (as scripts/train-human-request.sh adds it).
    let handwritten = crate::escalation::eval::parse_tsv(include_str!(
        "../../../training/human-request-handwritten.tsv"
    ))
    .expect("the hand-written training file parses");
    assert!(handwritten.len() > 600);
    for e in handwritten {
        examples.push(e);
        src.push("handwritten".into());
    }
    let (names, groups) = group_ids(&src);
    let rows = request_rows(&examples);
    let refs: Vec<&RequestRow> = rows.iter().collect();
    let l = request_loso(&refs, &groups, &names, REQUEST_SEED, &REQUEST_RECIPE);
    let (c, m) = (l.combined, l.model);
    eprintln!(
        "LOSO rules+model P {:.4} R {:.4} F1 {:.4}; model alone F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1(),
        m.f1()
    );
    // Floors a little under the recorded figures (pooled over the dev sources and the
    // hand-written set): rules+model 0.9828, model alone 0.8928 (0.9802 and 0.8802 before
    // session 15's L2).
    assert!(c.f1() >= 0.978, "LOSO rules+model F1 {:.4}", c.f1());
    assert!(m.f1() >= 0.885, "LOSO model-alone F1 {:.4}", m.f1());
    let nlupp = l
        .per_source
        .iter()
        .find(|s| s.name == "nlupp")
        .expect("nlupp");
    assert!(
        nlupp.model.f1() >= 0.70,
        "LOSO model-alone F1 on nlupp {:.4}",
        nlupp.model.f1()
    );
    let file = include_str!("../../../data/human_request_model.tsv");
    let recorded = format!(
        "#   pooled rules+model: P {:.4} R {:.4} F1 {:.4}",
        c.precision(),
        c.recall(),
        c.f1()
    );
    assert!(
        file.lines().any(|l| l.starts_with(&recorded)),
        "the weights file does not record {recorded:?}: retrain with scripts/train-human-request.sh"
    );
    let threshold = format!(
        "# threshold\t{:.2}",
        crate::escalation::request_model::THRESHOLD
    );
    assert!(
        file.lines().any(|l| l == threshold),
        "request_model::THRESHOLD does not match the weights file"
    );
}

#[test]
fn request_groups_split_a_source_holding_every_positive() {
    let mk = |y: bool| RequestRow {
        row: toy_row(y, 3, 0.0),
        rule: false,
        open: true,
        variant: false,
    };
    let rows: Vec<RequestRow> = (0..20).map(|i| mk(i < 10)).collect();
    let refs: Vec<&RequestRow> = rows.iter().collect();
    // Source 0 holds every positive: it is split into folds, source 1 stays whole.
    let groups: Vec<usize> = (0..20).map(|i| usize::from(i >= 10)).collect();
    let g = split_sole_positive_groups(&refs, &groups, 1);
    assert!(g[10..].iter().all(|x| *x == 1));
    let mut firsts: Vec<usize> = g[..10].to_vec();
    firsts.sort_unstable();
    firsts.dedup();
    assert_eq!(firsts.len(), REQUEST_INNER_FOLDS);
}

/// Nested leave-one-source-out of the shipped frustration recipe, as
/// `scripts/train-frustration.sh` reports it first: the figure that decides. Floors: the
/// recorded figures minus about 0.005. The weights file must record the same figure.
#[test]
fn frustration_loso_on_dev() {
    let (Some(dev), Some(support)) = (
        dev_file("frustration-dev.tsv"),
        dev_file("human-request-dev.tsv"),
    ) else {
        return;
    };
    let Some(mut src) = dev_sources("frustration-dev.sources.tsv", &dev) else {
        return;
    };
    let mut dev = dev;
    let handwritten = frustration_handwritten();
    src.extend(std::iter::repeat_n(
        "handwritten".to_string(),
        handwritten.len(),
    ));
    dev.extend(handwritten);
    let cfg = RECIPE.features;
    let dev_rows = rows(&dev, &cfg);
    let support_rows = support_rows(&support, &cfg);
    let d: Vec<&Row> = dev_rows.iter().collect();
    let s: Vec<&Row> = support_rows.iter().collect();
    let data = Data {
        dev: &d,
        support: &s,
    };
    let (names, groups) = group_ids(&src);
    let l = loso(
        data,
        &groups,
        &names,
        &MODEL_WEIGHTS,
        MAX_SUPPORT_FALSE_ALARMS,
        SEED,
        &RECIPE,
    );
    let (worst, _, w) = l.worst().unwrap();
    eprintln!(
        "LOSO pooled F1 {:.4}, worst {worst} F1 {:.4}, support false alarms {:.4}",
        l.pooled.f1(),
        w.f1(),
        l.support.false_alarm_rate()
    );
    // Pooled over the dev sources and the hand-written set (recorded: 0.7466).
    assert!(l.pooled.f1() >= 0.74, "LOSO pooled F1 {:.4}", l.pooled.f1());
    assert!(w.f1() >= 0.545, "LOSO worst-source F1 {:.4}", w.f1());
    assert!(l.support.false_alarm_rate() <= SUPPORT_FALSE_ALARM_BOUND);
    let recorded = format!(
        "#   pooled P {:.4} R {:.4} F1 {:.4}",
        l.pooled.precision(),
        l.pooled.recall(),
        l.pooled.f1()
    );
    let file = include_str!("../../../data/frustration_model.tsv");
    assert!(
        file.lines().any(|x| x.starts_with(&recorded)),
        "the weights file does not record {recorded:?}: retrain with scripts/train-frustration.sh"
    );
}

#[test]
fn typo_variants_are_deterministic_one_edit_per_word() {
    let text = "Could you please transfer me to somebody from the support team?";
    let a = super::typo_variant(text, 3, 1.0);
    assert_eq!(a, super::typo_variant(text, 3, 1.0));
    assert_ne!(a, text);
    assert_eq!(super::typo_variant(text, 3, 0.0), text);
    // Punctuation and short words are kept; each long word is at most one edit away.
    assert!(a.ends_with("?") && a.contains(" me to "));
    for (x, y) in text.split(' ').zip(a.split(' ')) {
        assert!(crate::escalation::text::osa_within(x, y, 1), "{x} -> {y}");
    }
}

/// Two sources that disagree on bucket 1 (a sign of frustration in the large one, of calm in
/// the small one) and agree on bucket 3 (session 16's group weighting and invariant features).
fn two_sources() -> Vec<Row> {
    (0..48)
        .map(|i| {
            let y = i % 2 == 0;
            let small = i >= 40;
            let mut r = toy_row(y, 3, 0.0);
            r.group = usize::from(small);
            r.f.sparse = vec![2];
            if y != small {
                r.f.sparse.push(1);
            }
            if y && i % 4 == 0 {
                r.f.sparse.push(3);
            }
            r
        })
        .collect()
}

#[test]
fn group_weighting_and_invariant_features() {
    let rows = two_sources();
    let refs: Vec<&Row> = rows.iter().collect();
    let base = train(&refs, SEED, &RECIPE);
    // Starting from the sources' shares with η = 0 is the shipped weighting.
    let sizes = Recipe {
        group_weighting: Some(0.0),
        dro_from_sizes: true,
        ..RECIPE
    };
    let same = train(&refs, SEED, &sizes);
    assert!((same.sparse[1] - base.sparse[1]).abs() < 1e-4);
    // Each source the same total weight: the small source's sign counts as much.
    let equal = Recipe {
        group_weighting: Some(0.0),
        ..RECIPE
    };
    let eq = train(&refs, SEED, &equal);
    assert!(base.sparse[1] > 0.5, "{}", base.sparse[1]);
    assert!(
        eq.sparse[1].abs() < 0.5 * base.sparse[1],
        "{}",
        eq.sparse[1]
    );
    // Group DRO from the sources' shares moves weight to the source fitted worse (the small).
    let dro = Recipe {
        group_weighting: Some(3.0),
        dro_from_sizes: true,
        ..RECIPE
    };
    let d = train(&refs, SEED, &dro);
    assert!(
        d.sparse[1] < base.sparse[1],
        "{} {}",
        d.sparse[1],
        base.sparse[1]
    );
    // Invariant features: bucket 1's votes conflict, so it stays 0; bucket 3 is learned.
    let inv = Recipe {
        invariant: 0.01,
        ..RECIPE
    };
    let m = train(&refs, SEED, &inv);
    assert_eq!(m.sparse[1], 0.0);
    assert!(m.sparse[3] > 0.0);
}
