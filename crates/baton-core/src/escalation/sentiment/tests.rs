//! Golden values from the reference implementation (`scripts/vader_golden.py`, vaderSentiment 3.3.2).

use super::*;

#[rustfmt::skip]
const GOLDEN: &[(&str, f64, f64, f64, f64)] = &[
    ("The delivery was quick and the support team was lovely.", 0.7579, 0.0, 0.552, 0.448),
    ("This is ridiculous, I have been waiting for three weeks!!!", -0.5229, 0.273, 0.727, 0.0),
    ("I am NOT happy with this service.", -0.4585, 0.333, 0.667, 0.0),
    ("The app is okay I guess.", 0.2263, 0.0, 0.725, 0.275),
    ("Your bot is useless and I'm really angry.", -0.7501, 0.516, 0.484, 0.0),
    ("Thanks, that solved it :)", 0.7906, 0.0, 0.2, 0.8),
    ("It is not bad at all", 0.431, 0.0, 0.637, 0.363),
    ("At least it isn't a horrible experience.", 0.431, 0.0, 0.678, 0.322),
    ("The refund was processed, but the process was painful and slow.", -0.5927, 0.278, 0.722, 0.0),
    ("WHY IS THIS STILL BROKEN???", -0.5632, 0.476, 0.524, 0.0),
    ("Why is this still BROKEN???", -0.6568, 0.522, 0.478, 0.0),
    ("I guess it kind of works", 0.0, 0.0, 1.0, 0.0),
    ("Never so happy to close an account", 0.6948, 0.0, 0.559, 0.441),
    ("Worst support ever. Absolutely terrible.", -0.6997, 0.615, 0.164, 0.221),
    ("no problem, have a good day", 0.6319, 0.0, 0.437, 0.563),
    ("I'm sort of disappointed, but the agent was great!", 0.6952, 0.145, 0.462, 0.393),
    ("You're not understanding me at all, this is so frustrating", -0.5777, 0.294, 0.706, 0.0),
    ("meh", -0.0772, 1.0, 0.0, 0.0),
    ("", 0.0, 0.0, 0.0, 0.0),
    ("I love it 😍 but the price 😡", 0.5574, 0.0, 0.685, 0.315),
    ("Can I change my delivery address?", 0.0, 0.0, 1.0, 0.0),
    ("Without doubt the best help I've had", 0.8406, 0.0, 0.307, 0.693),
    ("It's the bomb!", -0.5411, 0.636, 0.364, 0.0),
    ("not good, not bad, just average", -0.5824, 0.544, 0.456, 0.0),
    ("extremely helpful and very kind staff", 0.7774, 0.0, 0.371, 0.629),
    ("I hate waiting on hold for hours!!!!!", -0.7067, 0.448, 0.552, 0.0),
    ("Hardly a good answer", 0.3862, 0.0, 0.534, 0.466),
    ("the least helpful reply", -0.3252, 0.437, 0.563, 0.0),
    ("no good options left, no help either", -0.5667, 0.483, 0.517, 0.0),
    ("FRIGGIN AWESOME support!!", 0.9025, 0.0, 0.09, 0.91),
    ("good good good but bad bad", -0.7684, 0.581, 0.061, 0.358),
];

#[test]
fn matches_reference_implementation() {
    for &(text, compound, neg, neu, pos) in GOLDEN {
        let p = polarity_scores(text);
        let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
        assert!(
            close(p.compound, compound, 5e-5),
            "{text:?}: compound {} != {compound}",
            p.compound
        );
        assert!(close(p.neg, neg, 5e-4), "{text:?}: neg {} != {neg}", p.neg);
        assert!(close(p.neu, neu, 5e-4), "{text:?}: neu {} != {neu}", p.neu);
        assert!(close(p.pos, pos, 5e-4), "{text:?}: pos {} != {pos}", p.pos);
    }
}

#[test]
fn lexicon_is_loaded() {
    assert!(TABLES.lexicon.len() > 7000);
    assert!(TABLES.emoji.len() > 1000);
}
