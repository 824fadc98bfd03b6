"""One row of BENCHMARKS.md's table from interleaved timings: the ratio is
the median of the per-round ratios B/A (shared by bench_python.py and
bench_checker.py; bench/bench.c prints the same columns)."""
import statistics


def row(name, side_a, a, side_b, b, target):
    ratios = sorted(y / x for x, y in zip(a, b))
    median, p25, p75 = statistics.median(ratios), ratios[len(ratios) // 4], ratios[-1 - len(ratios) // 4]
    if target is None:
        verdict = ""
    else:
        # "within noise": the median misses, but the middle half of the rounds reaches the target.
        state = "holds" if median <= target else "within noise" if p25 <= target else "**missed**"
        verdict = f"ratio <= {target:.2f}: {state}"
    return (f"| {name} | {side_a} {statistics.median(a):.0f} | {side_b} {statistics.median(b):.0f} | {median:.3f} "
            f"| {p25:.3f} / {p75:.3f} | {ratios[0]:.3f} / {ratios[-1]:.3f} | {verdict} |")
