"""Numbers as the report writes them, and ratios with their spreads."""


def fmt(v, digits=3):
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.1f}k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def fmt_spread(m, lo, hi, digits=3):
    if m is None:
        return "n/a"
    if lo is None or hi is None or lo == hi:
        return fmt(m, digits)
    return f"{fmt(m, digits)} [{fmt(lo, digits)}-{fmt(hi, digits)}]"


def ms(run):
    if run is None:
        return "n/a"
    return fmt_spread(run.med() * 1e3, run.lo() * 1e3, run.hi() * 1e3)


def pct(v):
    return "n/a" if v is None else f"{100 * v:.0f}%"


def ratio(num_med, num_lo, num_hi, den_med, den_lo, den_hi):
    """(median ratio, worst, best) of num / den."""
    if None in (num_med, den_med) or den_med == 0:
        return None, None, None
    return num_med / den_med, num_lo / den_hi, num_hi / den_lo


def key_ratio(num, den, key):
    """(median, worst, best) of num's `key` over den's."""
    return ratio(num.med(key), num.lo(key), num.hi(key), den.med(key), den.lo(key), den.hi(key))


def time_ratio(slow, fast):
    """Speedup of `fast` over `slow` from their times."""
    if slow is None or fast is None:
        return None, None, None
    return key_ratio(slow, fast, "seconds")


def time_ratio_items(ref, fast):
    """Per-sample speedup when the two sides ran different sample counts: items/s ratio."""
    if ref is None or fast is None:
        return None, None, None
    return key_ratio(fast, ref, "items_per_second")


def fmt_ratio(r, suffix="x"):
    m, lo, hi = r
    if m is None:
        return "n/a"
    return f"{m:.2f}{suffix} [{lo:.2f}-{hi:.2f}]"


def fmt_fraction(run, key="peak_fraction"):
    """'0.91 [0.90-0.92] (123 GFLOP/s)': a fraction of peak with its spread and the rate."""
    return (f"{run.med(key):.2f} [{run.lo(key):.2f}-{run.hi(key):.2f}] "
            f"({run.med('GFLOP/s'):.0f} GFLOP/s)")
