//! The Erlang C formula for M/M/c queues, the yardstick of the simulator.

/// Probability of waiting and mean wait in an M/M/c queue with `c` servers, arrival rate
/// `lambda` and service rate `mu` per server (any time unit; the mean wait is in that unit).
/// With offered load `lambda / mu >= c` the queue grows without bound: `(1.0, f64::INFINITY)`.
pub fn erlang_c(c: u32, lambda: f64, mu: f64) -> (f64, f64) {
    let a = lambda / mu;
    if c == 0 || !a.is_finite() || a >= f64::from(c) {
        return (1.0, f64::INFINITY);
    }
    if a <= 0.0 {
        return (0.0, 0.0);
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = f64::from(c);
    let p_wait = c * b / (c - a * (1.0 - b));
    let mean_wait = p_wait / (c * mu - lambda);
    (p_wait, mean_wait)
}
