#!/usr/bin/env python3
"""Prints golden VADER values for the Rust port's tests (crates/baton-core/src/escalation/sentiment/tests.rs).

Usage: pip install vaderSentiment==3.3.2 && python3 scripts/vader_golden.py
"""
import json

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SENTENCES = [
    "The delivery was quick and the support team was lovely.",
    "This is ridiculous, I have been waiting for three weeks!!!",
    "I am NOT happy with this service.",
    "The app is okay I guess.",
    "Your bot is useless and I'm really angry.",
    "Thanks, that solved it :)",
    "It is not bad at all",
    "At least it isn't a horrible experience.",
    "The refund was processed, but the process was painful and slow.",
    "WHY IS THIS STILL BROKEN???",
    "Why is this still BROKEN???",
    "I guess it kind of works",
    "Never so happy to close an account",
    "Worst support ever. Absolutely terrible.",
    "no problem, have a good day",
    "I'm sort of disappointed, but the agent was great!",
    "You're not understanding me at all, this is so frustrating",
    "meh",
    "",
    "I love it 😍 but the price 😡",
    "Can I change my delivery address?",
    "Without doubt the best help I've had",
    "It's the bomb!",
    "not good, not bad, just average",
    "extremely helpful and very kind staff",
    "I hate waiting on hold for hours!!!!!",
    "Hardly a good answer",
    "the least helpful reply",
    "no good options left, no help either",
    "FRIGGIN AWESOME support!!",
    "good good good but bad bad",
]

an = SentimentIntensityAnalyzer()
for s in SENTENCES:
    r = an.polarity_scores(s)
    lit = json.dumps(s, ensure_ascii=False)
    print(f'    ({lit}, {r["compound"]}, {r["neg"]}, {r["neu"]}, {r["pos"]}),')
