"""Index code lengths of exact PFR, plain vs partitioned, against the paper's two-part bound (issue #10).

    python benchmarks/code_bound.py [--encodes M] [--json PATH]

5-D Gaussian targets of ``recnumba.demo`` (prior N(0, I), D_inf = 8, 10, .., 20 bits), M independent
exact PFR encodes each (plain, and partitioned with ratio weights and log2 J = floor(KL) - 2), and the
mean length of the same indices under every index code: plain Elias delta and zeta; partitioned
delta (of the merged n + 1), two-part (j uniformly, then delta of k) and zeta (j uniformly, then
k under ζ with information = KL). The bound is the paper's
|M| <= I + E[eps] + log2(I - log2 J + E[eps] + 1) + C, eps = [log2 J - log2 q(X)/p(X)]_+ with X ~ Q
(E[eps] by Monte Carlo); the script reports, per code, the constant C it needs (the largest mean
excess over the bound without C, and that plus three standard errors). Prints a Markdown table.
"""

import argparse
import json
import sys

from recnumba import demo


class _Quiet:
    def update(self, n=1):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encodes", type=int, default=1000, help="encodes per target and method (default 1000)")
    parser.add_argument("--dinf", type=float, nargs="+", default=[8, 10, 12, 14, 16, 18, 20])
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    rows = demo.pfr_sweep(args.dinf, args.encodes, _Quiet())
    print(f"Exact PFR, 5-D, {args.encodes} encodes per target and method; mean bits per index "
          f"(± one standard error of the partitioned two-part mean)\n")
    print("| D∞ | KL | log2 J | E[ε] | plain δ | plain ζ | part. δ | part. two-part | part. ζ | bound − C |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    excess = {code: [] for code in demo.PARTITIONED_CODES}
    for row in rows:
        plain, part = row["plain"]["codes"], row["part"]["codes"]
        free = demo.two_part_bound(row["kl"], row["log2_bins"], row["epsilon"], constant=0.0)
        for code in excess:
            excess[code].append((part[code] - free, row["part"]["codes_se"][code]))
        print(f"| {row['dinf']:.0f} | {row['kl']:.2f} | {row['log2_bins']:.0f} | {row['epsilon']:.3f} | "
              f"{plain['delta']:.2f} | {plain['zeta']:.2f} | {part['delta']:.2f} | "
              f"{part['two-part']:.2f} ± {row['part']['codes_se']['two-part']:.2f} | {part['zeta']:.2f} | {free:.2f} |")
    print()
    for code, values in excess.items():
        worst = max(values)
        print(f"partitioned {code}: constant C needed = {worst[0]:.2f} bits "
              f"(+3 SE: {max(v + 3 * s for v, s in values):.2f})")
    gaps = [row["part"]["codes"]["two-part"] - min(row["plain"]["codes"].values()) for row in rows]
    print(f"partitioned two-part minus plain's best code: {', '.join(f'{g:+.2f}' for g in gaps)} bits")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
