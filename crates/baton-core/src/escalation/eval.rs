//! Evaluation on labelled data: `text<TAB>label` files (header `text\tlabel`, no quoting, one
//! message per line, label `0` or `1`), precision/recall/F1 and the worst errors.

use super::{Detector, TurnInput};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Which detector output is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// `signals.human_request.detected`.
    HumanRequest,
    /// `signals.frustration.frustrated`.
    Frustration,
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Task, String> {
        match s {
            "human_request" | "human-request" => Ok(Task::HumanRequest),
            "frustration" => Ok(Task::Frustration),
            other => Err(format!(
                "unknown task '{other}', expected human_request or frustration"
            )),
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::HumanRequest => "human_request",
            Task::Frustration => "frustration",
        })
    }
}

/// One labelled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The message.
    pub text: String,
    /// The label.
    pub label: bool,
    /// 1-based line number in the file.
    pub line: usize,
}

/// A malformed line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TsvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses a `text<TAB>label` file. The header line is required; blank lines are skipped.
pub fn parse_tsv(input: &str) -> Result<Vec<Example>, TsvError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut lines = input.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end_matches('\r') == "text\tlabel" => {}
        Some((_, h)) => {
            return Err(TsvError {
                line: 1,
                message: format!(
                    "expected the header 'text<TAB>label', found {:?}",
                    truncate(h, 60)
                ),
            });
        }
        None => {
            return Err(TsvError {
                line: 1,
                message: "empty file: expected the header 'text<TAB>label'".into(),
            });
        }
    }
    let mut out = Vec::new();
    for (i, raw) in lines {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        if l.is_empty() {
            continue;
        }
        let Some((text, label)) = l.rsplit_once('\t') else {
            return Err(TsvError {
                line,
                message: "expected text<TAB>label, found no tab".into(),
            });
        };
        if text.contains('\t') {
            return Err(TsvError {
                line,
                message: "more than one tab: texts may not contain tabs".into(),
            });
        }
        let label = match label.trim() {
            "1" => true,
            "0" => false,
            other => {
                return Err(TsvError {
                    line,
                    message: format!("label must be 0 or 1, found {:?}", truncate(other, 20)),
                });
            }
        };
        out.push(Example {
            text: text.to_string(),
            label,
            line,
        });
    }
    Ok(out)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Reads a `*.sources.tsv` sidecar (header `source`, one source name per line, aligned line by
/// line with its data file) and returns the source of each example, found by its line number.
pub fn attach_sources(examples: &[Example], input: &str) -> Result<Vec<String>, TsvError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let lines: Vec<&str> = input.lines().map(|l| l.trim_end_matches('\r')).collect();
    if lines.first() != Some(&"source") {
        return Err(TsvError {
            line: 1,
            message: "expected the header 'source'".into(),
        });
    }
    examples
        .iter()
        .map(|e| match lines.get(e.line - 1) {
            Some(s) if !s.is_empty() => Ok((*s).to_string()),
            _ => Err(TsvError {
                line: e.line,
                message: "no source for this line: the sidecar is shorter than the data".into(),
            }),
        })
        .collect()
}

/// The distinct source names, sorted.
pub fn source_names(sources: &[String]) -> Vec<String> {
    let mut v: Vec<String> = sources.to_vec();
    v.sort();
    v.dedup();
    v
}

/// One report per source (sorted by name): the figures of a fixed detector on each source.
/// For a rule-based detector this is its leave-one-source-out figure; a detector with a
/// learned part must be trained without the source (see `training::request_loso`).
pub fn evaluate_by_source(
    detector: &Detector,
    task: Task,
    examples: &[Example],
    sources: &[String],
    keep_errors: usize,
) -> Vec<(String, Report)> {
    source_names(sources)
        .into_iter()
        .map(|name| {
            let part: Vec<Example> = examples
                .iter()
                .zip(sources)
                .filter(|(_, s)| **s == name)
                .map(|(e, _)| e.clone())
                .collect();
            let r = evaluate(detector, task, &part, keep_errors);
            (name, r)
        })
        .collect()
}

/// The detector's verdict and score for one message, scored as a lone customer turn.
pub fn predict(detector: &Detector, task: Task, text: &str) -> (bool, f64) {
    let s = detector.signals(&TurnInput::customer_text(text));
    match task {
        Task::HumanRequest => (s.human_request.detected, s.human_request.confidence),
        Task::Frustration => (s.frustration.frustrated, s.frustration.level),
    }
}

/// A misclassified message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorCase {
    /// Line in the input file.
    pub line: usize,
    /// The message.
    pub text: String,
    /// The gold label.
    pub label: bool,
    /// The detector's score.
    pub score: f64,
}

/// Precision, recall, F1 and confusion counts, plus the worst errors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The task.
    pub task: Task,
    /// Messages evaluated.
    pub n: usize,
    /// tp / (tp + fp).
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// (tp + tn) / n.
    pub accuracy: f64,
    /// True positives.
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// False negatives.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// True negatives.
    pub tn: usize,
    /// False positives with the highest scores first.
    pub worst_false_positives: Vec<ErrorCase>,
    /// False negatives with the lowest scores first.
    pub worst_false_negatives: Vec<ErrorCase>,
}

/// Scores every example and summarises, keeping up to `keep_errors` errors of each kind.
pub fn evaluate(
    detector: &Detector,
    task: Task,
    examples: &[Example],
    keep_errors: usize,
) -> Report {
    let (mut tp, mut fp, mut fn_, mut tn) = (0, 0, 0, 0);
    let mut fps = Vec::new();
    let mut fns = Vec::new();
    for e in examples {
        let (pred, score) = predict(detector, task, &e.text);
        let case = || ErrorCase {
            line: e.line,
            text: e.text.clone(),
            label: e.label,
            score,
        };
        match (pred, e.label) {
            (true, true) => tp += 1,
            (true, false) => {
                fp += 1;
                fps.push(case());
            }
            (false, true) => {
                fn_ += 1;
                fns.push(case());
            }
            (false, false) => tn += 1,
        }
    }
    fps.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.line.cmp(&b.line)));
    fns.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.line.cmp(&b.line)));
    fps.truncate(keep_errors);
    fns.truncate(keep_errors);
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Report {
        task,
        n: examples.len(),
        precision,
        recall,
        f1,
        accuracy: ratio(tp + tn, examples.len()),
        tp,
        fp,
        fn_,
        tn,
        worst_false_positives: fps,
        worst_false_negatives: fns,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "task       {}", self.task)?;
        writeln!(f, "messages   {}", self.n)?;
        writeln!(f, "precision  {:.4}", self.precision)?;
        writeln!(f, "recall     {:.4}", self.recall)?;
        writeln!(f, "f1         {:.4}", self.f1)?;
        writeln!(f, "accuracy   {:.4}", self.accuracy)?;
        writeln!(
            f,
            "confusion  tp={} fp={} fn={} tn={}",
            self.tp, self.fp, self.fn_, self.tn
        )?;
        for (title, cases) in [
            (
                "false positives (highest score first)",
                &self.worst_false_positives,
            ),
            (
                "false negatives (lowest score first)",
                &self.worst_false_negatives,
            ),
        ] {
            if cases.is_empty() {
                continue;
            }
            writeln!(f, "\n{title}:")?;
            for c in cases {
                writeln!(
                    f,
                    "  line {:>5}  score {:.2}  {}",
                    c.line,
                    c.score,
                    truncate(&c.text, 110)
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let ex = parse_tsv("text\tlabel\nget me a human\t1\nNone\t0\n\"\t0\n\n").unwrap();
        assert_eq!(ex.len(), 3);
        assert_eq!(
            ex[0],
            Example {
                text: "get me a human".into(),
                label: true,
                line: 2
            }
        );
        assert_eq!(ex[1].text, "None");
        assert_eq!(ex[2].text, "\"");
    }

    #[test]
    fn points_at_malformed_lines() {
        assert_eq!(parse_tsv("").unwrap_err().line, 1);
        assert_eq!(parse_tsv("text,label\n").unwrap_err().line, 1);
        let e = parse_tsv("text\tlabel\nok\t1\nno tab here\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("no tab"), "{e}");
        let e = parse_tsv("text\tlabel\nhi\tyes\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 2: label must be 0 or 1"),
            "{e}"
        );
        assert_eq!(parse_tsv("text\tlabel\na\tb\t1\n").unwrap_err().line, 2);
    }

    #[test]
    fn metrics() {
        let d = Detector::with_defaults();
        let ex = parse_tsv("text\tlabel\nI want to talk to a human\t1\nwhere is my parcel\t0\nagent please\t1\nmy insurance agent called\t0\n").unwrap();
        let r = evaluate(&d, Task::HumanRequest, &ex, 5);
        assert_eq!((r.tp, r.fp, r.fn_, r.tn), (2, 0, 0, 2));
        assert_eq!(r.f1, 1.0);
        let json = serde_json::to_value(&r).unwrap();
        for k in ["precision", "recall", "f1", "tp", "fp", "fn", "tn"] {
            assert!(json.get(k).is_some(), "{k}");
        }
    }
}
