"""The public claims of issue 7, each beside tenantplan's figures from the same conditions.

For every claim the script computes, at the claim's model, request shape,
systems, precisions and interactivity:

- **measured**: the best InferenceMAX point (``inferencemax_points.csv``,
  speculative decoding left out, aggregated or disaggregated) running at that
  interactivity or faster;
- **model**: what ``tenantplan perf`` answers (the estimator: the measured
  frontier where measured, carried by the roofline elsewhere), the better of
  aggregated and disaggregated, at the claim's nominal request shape.

Money follows the SemiAnalysis convention the catalog uses: $/Mtok = all-in
$/GPU-hour (``hyperscaler`` column of ``systems.csv``) / (tokens/s per GPU x
3600 / 1e6), input + output tokens; tokens per MW = tokens/s per GPU / all-in
kW per GPU x 1000. Writes ``docs/claims.md``. Run: ``python benchmarks/claims.py``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path


from optimizer.catalog import Precision, builtin_systems
from optimizer.performance import PerformanceModel
from optimizer.performance.calibration import measured_frontiers
from optimizer.performance.estimate import Estimator, query_key
from optimizer.performance.measurements import measured_points
from optimizer.safe_io import write_atomic
from provenance import commit

logger = logging.getLogger("claims")

BASIS = "hyperscaler"
"""TCO column the $/Mtok figures use (SemiAnalysis all-in, owned)."""
GRID = (10.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 150.0, 200.0)
"""Interactivities (tokens/s per user) the ratio tables are read at."""
AGREES = (0.75, 1.33)
"""A figure within this factor band of the claimed one counts as agreeing."""
LIFE_YEARS = 4
"""Service life the catalog's all-in $/GPU-hour spreads capital over (systems.csv README)."""
HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class Setup:
    """One side of a claim: a system running a model in a precision."""

    system: str
    precision: Precision

    @property
    def label(self) -> str:
        return f"{self.system} {self.precision}"


@cache
def _measured() -> dict:
    return measured_frontiers(measured_points())


@cache
def _estimator() -> Estimator:
    return PerformanceModel(None).estimator


def measured_tput(model: str, setup: Setup, isl: int, osl: int, interactivity: float) -> float | None:
    """Best measured tokens/s per GPU at ``interactivity`` or faster; None when no point reaches it."""
    scenario = f"{isl // 1024}k/{osl // 1024}k"
    frontiers = _measured()
    candidates = [
        p.tput_per_gpu
        for mode in ("agg", "disagg")
        for p in frontiers.get((model, setup.system, setup.precision, scenario, mode), [])
        if p.interactivity >= interactivity
    ]
    return max(candidates, default=None)


def model_tput(model: str, setup: Setup, isl: int, osl: int, interactivity: float) -> float | None:
    """The estimator's best tokens/s per GPU at ``interactivity`` or faster, aggregated or
    disaggregated (what ``tenantplan perf`` answers); None when neither reaches it."""
    answers = [
        _estimator().estimate(query_key(model, setup.system, setup.precision, isl, osl, mode), [interactivity])[0]
        for mode in ("agg", "disagg")
    ]
    return max((a.tput_per_gpu for a in answers if a is not None), default=None)


def usd_per_mtok(setup: Setup, tput: float | None) -> float | None:
    if not tput:
        return None
    return builtin_systems()[setup.system].usd_per_gpu_hour(BASIS) / (tput * 3600 / 1e6)


def tokens_per_mw(setup: Setup, tput: float | None) -> float | None:
    if not tput:
        return None
    return tput / builtin_systems()[setup.system].allin_kw_per_gpu * 1000


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def fmt(value: float | None, spec: str = ",.0f", unit: str = "") -> str:
    return "-" if value is None else f"{format(value, spec)}{unit}"


def verdict(claimed: float, value: float | None, what: str) -> str:
    """Whether ``value`` agrees with ``claimed`` within :data:`AGREES`, said plainly."""
    if value is None:
        return f"cannot be checked from this source: {what}"
    low, high = AGREES
    if low * claimed <= value <= high * claimed:
        return f"**agrees**: {value:.3g}x against the claimed {claimed:g}x ({what})"
    side = "**falls short**" if value < claimed else "**exceeds the claim**"
    return f"{side}: {value:.3g}x against the claimed {claimed:g}x ({what})"


Source = tuple[str, object]


SOURCES: tuple[Source, ...] = (("measured (InferenceMAX, no MTP)", measured_tput), ("model (tenantplan perf)", model_tput))


def ratio_table(model: str, new: Setup, old: Setup, isl: int, osl: int, metric: str) -> tuple[list[str], dict[str, list[float | None]]]:
    """Markdown rows of ``new``/``old`` per interactivity of :data:`GRID` for each source, and the ratios.

    ``metric`` is ``throughput`` (tokens/s per GPU), ``mw`` (tokens per MW) or ``cost``
    (old $/Mtok over new $/Mtok: how many times cheaper ``new`` is).
    """
    rows = [
        "| source | " + " | ".join(f"{x:g}" for x in GRID) + " |",
        "|---|" + "---|" * len(GRID),
    ]
    ratios: dict[str, list[float | None]] = {}
    for name, tput in SOURCES:
        values = []
        for x in GRID:
            a, b = tput(model, new, isl, osl, x), tput(model, old, isl, osl, x)  # type: ignore[operator]
            if metric == "throughput":
                values.append(ratio(a, b))
            elif metric == "mw":
                values.append(ratio(tokens_per_mw(new, a), tokens_per_mw(old, b)))
            else:
                values.append(ratio(usd_per_mtok(old, b), usd_per_mtok(new, a)))
        ratios[name] = values
        rows.append(f"| {name} | " + " | ".join(fmt(v, ".2g", "x") for v in values) + " |")
    return rows, ratios


def peak(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """(largest ratio, the interactivity it is read at) over :data:`GRID`."""
    known = [(v, x) for v, x in zip(values, GRID, strict=True) if v is not None]
    if not known:
        return None, None
    return max(known)


def at(values: Sequence[float | None], interactivity: float) -> float | None:
    return values[GRID.index(interactivity)]


# -- the claims -------------------------------------------------------------------------------


def claim_gb200_vs_h200_deepseek() -> list[str]:
    model, isl, osl, x = "deepseek-r1", 8192, 1024, 50.0
    old = Setup("hgx-h200", "fp8")
    systems = builtin_systems()
    lines = [
        "## 1. GB200 NVL72 vs H200 on DeepSeek-R1, 8k in / 1k out, 50 tokens/s per user: claimed 15x",
        "",
        "**Claim** (NVIDIA, citing SemiAnalysis InferenceMAX): GB200 NVL72 serves DeepSeek-R1 at 15x lower cost "
        "per million tokens than H200, and higher throughput per GPU. **Conditions as stated:** DeepSeek-R1, "
        "8k input / 1k output tokens, 50 tokens/s per user. tenantplan reads it as the best GB200 NVL72 point "
        "(FP4, and FP8 for reference) against the best H200 point (FP8: H200 has no FP4 units and the data has no "
        "H200 FP4 DeepSeek-R1 runs), aggregated or disaggregated, at 50 tokens/s per user or faster.",
        "",
        "**tenantplan, same conditions:**",
        "",
        "| source | GB200 precision | GB200 tok/s/GPU | H200 tok/s/GPU | throughput ratio | GB200 $/Mtok "
        "| H200 $/Mtok | cost ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cost_ratios = {}
    for name, tput in SOURCES:
        for precision in ("fp4", "fp8"):
            new = Setup("gb200-nvl72", precision)  # type: ignore[arg-type]
            a, b = tput(model, new, isl, osl, x), tput(model, old, isl, osl, x)  # type: ignore[operator]
            cost = ratio(usd_per_mtok(old, b), usd_per_mtok(new, a))
            if precision == "fp4":
                cost_ratios[name] = cost
            lines.append(
                f"| {name} | {precision} | {fmt(a)} | {fmt(b)} | {fmt(ratio(a, b), '.2f', 'x')} "
                f"| {fmt(usd_per_mtok(new, a), '.3f')} | {fmt(usd_per_mtok(old, b), '.3f')} | {fmt(cost, '.2f', 'x')} |"
            )
    table, ratios = ratio_table(model, Setup("gb200-nvl72", "fp4"), old, isl, osl, "cost")
    measured_peak, measured_where = peak(ratios[SOURCES[0][0]])
    price_ratio = systems["gb200-nvl72"].usd_per_gpu_hour(BASIS) / systems["hgx-h200"].usd_per_gpu_hour(BASIS)
    lines += [
        "",
        "How many times cheaper per Mtok GB200 NVL72 (FP4) is than H200 (FP8), by interactivity (tokens/s per user):",
        "",
        *table,
        "",
        "**Verdict.** Measured: " + verdict(15, cost_ratios[SOURCES[0][0]], "measured points, no MTP") + ". Model: "
        + verdict(15, cost_ratios[SOURCES[1][0]], "tenantplan perf") + ". "
        f"The largest measured ratio on the grid is {fmt(measured_peak, '.3g', 'x')} "
        f"(at {fmt(measured_where, 'g')} tokens/s per user).",
        "",
        f"**Why.** A GB200 GPU-hour costs {price_ratio:.2f}x an H200 GPU-hour in the catalog "
        f"(${systems['gb200-nvl72'].usd_per_gpu_hour(BASIS):.2f} against "
        f"${systems['hgx-h200'].usd_per_gpu_hour(BASIS):.2f}), so the cost ratio is the throughput ratio divided "
        "by that. The throughput ratio itself depends on the interactivity (table above): H200's 8-GPU NVLink "
        "domain limits how widely DeepSeek-R1's experts can be spread, while GB200's 72-GPU domain holds "
        "wide expert-parallel decode. Runs with multi-token prediction (MTP) are left out here, as everywhere in "
        "tenantplan, so any part of the claimed gain that comes from MTP is not in these figures; the model's "
        "figures carry its own error (`docs/perf-accuracy.md`).",
        "",
    ]
    return lines


def claim_two_cents_gpt_oss_b200() -> list[str]:
    model, setup, claimed = "gpt-oss-120b", Setup("hgx-b200", "fp4"), 0.02
    price = builtin_systems()["hgx-b200"].usd_per_gpu_hour(BASIS)
    lines = [
        "## 2. Two cents per million tokens for gpt-oss-120b on B200",
        "",
        "**Claim** (NVIDIA, citing SemiAnalysis InferenceMAX): B200 serves gpt-oss-120b at $0.02 per million "
        "tokens. **Conditions:** HGX B200, FP4 (MXFP4) weights, at the high-throughput end of the curve (low "
        "interactivity, large batches); the request shape is not stated with the figure, so both InferenceMAX "
        "shapes are read.",
        "",
        f"**tenantplan, same conditions** (B200 at ${price:.2f}/GPU-hour; $0.02/Mtok needs "
        f"{price / claimed * 1e6 / 3600:,.0f} tokens/s per GPU), $/Mtok at each interactivity or faster:",
        "",
        "| source | shape | " + " | ".join(f"{x:g}" for x in GRID) + " |",
        "|---|---|" + "---|" * len(GRID),
    ]
    findings = []
    for name, tput in SOURCES:
        for isl, osl in ((1024, 1024), (8192, 1024)):
            shape = f"{isl // 1024}k/{osl // 1024}k"
            costs = [usd_per_mtok(setup, tput(model, setup, isl, osl, x)) for x in GRID]  # type: ignore[operator]
            lines.append(f"| {name} | {shape} | " + " | ".join(fmt(c, ".3f") for c in costs) + " |")
            known = [c for c in costs if c is not None]
            within = [x for c, x in zip(costs, GRID, strict=True) if c is not None and c <= claimed]
            if within:
                findings.append(f"- {name}, {shape}: at or below $0.02 up to {max(within):g} tokens/s per user "
                                f"(cheapest ${min(known):.4f}).")
            elif known:
                findings.append(f"- {name}, {shape}: never at $0.02; cheapest ${min(known):.4f} "
                                f"({min(known) / claimed:.2f}x the claim).")
    reaching = [f for f in findings if "at or below" in f]
    lines += ["", *findings, "",
              "**Verdict.** " + (f"The claim holds in {len(reaching)} of {len(findings)} (source, shape) readings "
                                 "above, each up to the interactivity given there; it is a property of a shape and "
                                 "an end of the curve, not of B200 in general." if reaching
                                 else "no reading above reaches $0.02."),
              "",
              "**Why.** $/Mtok counts input and output tokens alike, and an input token (one parallel prefill pass) "
              "costs far less engine time than an output token (one decode step each), so the blended figure "
              "depends on the shape as much as on the hardware; and at higher interactivity the batch shrinks and "
              "the figure rises.",
              ""]
    return lines


def claim_gb300_vs_hopper() -> list[str]:
    lines = [
        "## 3. GB300 NVL72 vs Hopper: up to 50x tokens per MW and 35x lower cost per Mtok",
        "",
        "**Claim** (NVIDIA): GB300 NVL72 delivers up to 50x higher throughput per megawatt and up to 35x lower cost "
        "per million tokens than Hopper. A press summary of NVIDIA's breakdown (DeepSeek-R1, GB300 NVL72 against "
        "HGX H200 at $2.65 and $1.41 per GPU-hour) gives about 90 -> 6,000 tokens/s per GPU and $4.20 -> $0.12 per "
        "Mtok, with FP4 weights and MTP on GB300; NVIDIA's FAQ pages attach the same multiples to gpt-oss-120b. "
        "The interactivity is not stated with the figure.",
        "",
        "**tenantplan, same conditions.** The bundled InferenceMAX data has no GB300 runs, so only the model "
        "speaks for GB300 (H200's measured points alone give no ratio). Ratios GB300 NVL72 (FP4) / H200 (FP8 for "
        "DeepSeek-R1, FP4 for gpt-oss-120b) by interactivity:",
        "",
    ]
    summary = []
    peaks: dict[str, float | None] = {}
    for model, isl, osl, old in (("deepseek-r1", 8192, 1024, Setup("hgx-h200", "fp8")),
                                 ("gpt-oss-120b", 1024, 1024, Setup("hgx-h200", "fp4"))):
        new = Setup("gb300-nvl72", "fp4")
        for metric, title, claimed in (("mw", "tokens per MW", 50), ("cost", "cost per Mtok (times cheaper)", 35)):
            table, ratios = ratio_table(model, new, old, isl, osl, metric)
            lines += [f"{model}, {isl // 1024}k/{osl // 1024}k, {title}:", "", *table, ""]
            values = ratios[SOURCES[1][0]]
            best, where = peak(values)
            peaks[f"{model} {metric}"] = best
            summary.append(
                f"- {model} {title}: the model's largest ratio on the grid is {fmt(best, '.3g', 'x')} "
                f"(at {fmt(where, 'g')} tokens/s per user; claimed {claimed}x); at 40 tokens/s per user "
                f"{fmt(at(values, 40.0), '.3g', 'x')}."
            )
    lines += [
        *summary,
        "",
        "**Verdict.** Tokens per MW: " + verdict(50, max(filter(None, (peaks["deepseek-r1 mw"], peaks["gpt-oss-120b mw"])), default=None),
                                                 "the model's largest ratio over both models") + ". Cost per Mtok: "
        + verdict(35, max(filter(None, (peaks["deepseek-r1 cost"], peaks["gpt-oss-120b cost"])), default=None),
                  "the model's largest ratio over both models") + ".",
        "",
        "**Why.** \"Up to\" is the largest ratio over interactivity, and the tables show it moves with "
        "interactivity and model: a multiple quoted without its interactivity cannot be compared with one at a "
        "tenant's promise (40 tokens/s per user above). Past H200's fastest point there is no H200 figure at all "
        "(\"-\"). tenantplan's GB300 figures are model-only, the catalog's GB300 price is a placeholder "
        "(1.2x GB200), and MTP, which the reported breakdown uses on GB300, is left out.",
        "",
    ]
    return lines


def claim_gb200_vs_hopper_mw_gpt_oss() -> list[str]:
    new, old = Setup("gb200-nvl72", "fp4"), Setup("hgx-h200", "fp4")
    systems = builtin_systems()
    power = systems["gb200-nvl72"].allin_kw_per_gpu / systems["hgx-h200"].allin_kw_per_gpu
    lines = [
        "## 4. GB200 NVL72 vs Hopper tokens per MW on gpt-oss-120b: claimed 10x",
        "",
        "**Claim** (NVIDIA, citing SemiAnalysis InferenceMAX): GB200 NVL72 delivers 10x the throughput per "
        "megawatt of Hopper on gpt-oss-120b. **Conditions:** GB200 NVL72 against HGX H200, MXFP4 weights on both; "
        "shape and interactivity not stated with the figure, so both InferenceMAX shapes are read.",
        "",
        f"**tenantplan, same conditions** (all-in kW per GPU: GB200 {systems['gb200-nvl72'].allin_kw_per_gpu:.2f}, "
        f"H200 {systems['hgx-h200'].allin_kw_per_gpu:.2f}), GB200 / H200 tokens per MW by interactivity:",
        "",
    ]
    measured_peaks = []
    for isl, osl in ((1024, 1024), (8192, 1024)):
        table, ratios = ratio_table("gpt-oss-120b", new, old, isl, osl, "mw")
        lines += [f"{isl // 1024}k/{osl // 1024}k:", "", *table, ""]
        for name, values in ratios.items():
            best, where = peak(values)
            lines.append(f"- {name}, {isl // 1024}k/{osl // 1024}k: largest {fmt(best, '.3g', 'x')} "
                         f"at {fmt(where, 'g')} tokens/s per user; at 50 tokens/s per user "
                         f"{fmt(at(values, 50.0), '.3g', 'x')}.")
            if name == SOURCES[0][0]:
                measured_peaks.append(best)
        lines.append("")
    best_measured = max((p for p in measured_peaks if p is not None), default=None)
    lines += [
        "**Verdict.** " + verdict(10, best_measured, "largest measured ratio over both shapes") + ".",
        "",
        f"**Why.** A GB200 GPU provisions {power:.2f}x the power of an H200 GPU, so the per-MW ratio is the "
        f"throughput-per-GPU ratio / {power:.2f}. The measured ratio differs by shape and interactivity (tables "
        "above); where the model and the measurements part, the model's error for these groups is in "
        "`docs/perf-accuracy.md`.",
        "",
    ]
    return lines


def claim_rack_roi() -> list[str]:
    setup, model, isl, osl = Setup("gb200-nvl72", "fp4"), "gpt-oss-120b", 1024, 1024
    system = builtin_systems()[setup.system]
    gpus = system.gpus_per_rack
    life_s = LIFE_YEARS * HOURS_PER_YEAR * 3600
    allin = gpus * system.usd_per_gpu_hour(BASIS) * LIFE_YEARS * HOURS_PER_YEAR
    lines = [
        "## 5. A $5M rack returning $75M of token revenue",
        "",
        "**Claim** (NVIDIA, citing SemiAnalysis InferenceMAX): a $5 million GB200 NVL72 investment generates "
        "$75 million of token revenue on gpt-oss-120b, a 15x return. Neither the token price, the utilisation nor "
        "the period is stated with it.",
        "",
        f"**tenantplan's reading.** Over a {LIFE_YEARS}-year life (the catalog's capital period), one "
        f"{gpus}-GPU rack at T tokens/s per GPU and utilisation u serves {gpus} x T x u x {life_s:,.0f} s of tokens; "
        "$75M of revenue needs a price of 75e6 / (that / 1e6) $/Mtok. (For scale: the catalog's all-in cost of "
        f"one rack over {LIFE_YEARS} years is ${allin / 1e6:.2f}M, capital, hosting and power together.) "
        "Required price, $/Mtok, gpt-oss-120b 1k/1k FP4:",
        "",
        "| source | interactivity | tok/s/GPU | u = 100% | u = 60% | u = 30% |",
        "|---|---|---|---|---|---|",
    ]
    floor: dict[str, float] = {}
    for name, tput in SOURCES:
        for x in (20.0, 50.0, 100.0):
            t = tput(model, setup, isl, osl, x)  # type: ignore[operator]
            prices = [75e6 / (gpus * t * u * life_s / 1e6) if t else None for u in (1.0, 0.6, 0.3)]
            if prices[0] is not None:
                floor[name] = min(floor.get(name, prices[0]), prices[0])
            lines.append(f"| {name} | {x:g} | {fmt(t)} | " + " | ".join(fmt(p, '.3f') for p in prices) + " |")
    measured_floor = floor.get(SOURCES[0][0])
    lines += [
        "",
        "**Verdict.** The claim is a pairing of token price and utilisation, not a property of the rack: "
        + (f"with the measured throughput it needs at least ${measured_floor:.3f}/Mtok even at 100% utilisation "
           "at the highest-throughput point read, and proportionally more at lower utilisation (u = 60% needs "
           "1/0.6 times the price)." if measured_floor else "no measured throughput to read it at.")
        + " `tenantplan compare` reports the utilisation a tenant book actually reaches on each option.",
        "",
        "**Why.** ROI is price per token x tokens per rack over capital: the $/Mtok arithmetic inverted, so it "
        "inherits every condition of claims 2 and 4 (operating point, shape) and adds three of its own: the "
        "price, the utilisation and the period over which revenue is counted.",
        "",
    ]
    return lines


SOURCE_NOTES = (
    "## Where the claims were read",
    "",
    "- NVIDIA's InferenceMAX v1 results as summarised at techbuzz.ai (\"NVIDIA Blackwell dominates AI benchmarks "
    "with 15x ROI promise\"): 15x ROI ($5M -> $75M), 10x throughput per MW, $0.02/Mtok for gpt-oss on B200.",
    "- NVIDIA's FAQ pages (perspectives.nvidia.com, tokencostanalysis.com): GB200 NVL72 10x throughput per MW and "
    "GB300 NVL72 up to 50x throughput per MW and 35x lower cost per Mtok against Hopper, on gpt-oss-120b.",
    "- en.theblockbeats.news/flash/343757, summarising NVIDIA's blog on DeepSeek-R1, GB300 NVL72 against HGX H200: "
    "$2.65 vs $1.41 per GPU-hour, 90 -> 6,000 tokens/s per GPU, $4.20 -> $0.12 per Mtok with FP4 and MTP.",
    "- The 15x GB200 NVL72 vs H200 figure on DeepSeek-R1 8k/1k at 50 tokens/s per user: as stated in issue 7.",
    "",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", default="docs/claims.md", help="markdown file to write")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    lines = [
        "# Public claims, checked",
        "",
        f"Computed at commit `{commit()}` by `python benchmarks/claims.py` ({time.strftime('%Y-%m-%d')}). "
        "Each claim is stated with the conditions under which it was made, then tenantplan's figures under the same "
        "conditions from two sources: the measured InferenceMAX points bundled in "
        "`instances/catalog/inferencemax_points.csv` (speculative decoding left out) and tenantplan's performance "
        "model as `tenantplan perf` answers (the measured frontier where measured, carried by the calibrated roofline "
        "elsewhere; `docs/perf-accuracy.md` gives its error on points held out of it). Where the model's figure is "
        "the measured one, the two rows agree by construction. A figure is read as the "
        "best point running at the stated interactivity or faster. $/Mtok uses the catalog's all-in "
        f"'{BASIS}' $/GPU-hour over input + output tokens; tokens per MW the all-in kW per GPU. A figure "
        f"within {AGREES[0]:g}x-{AGREES[1]:g}x of the claim counts as agreeing.",
        "",
        *claim_gb200_vs_h200_deepseek(),
        *claim_two_cents_gpt_oss_b200(),
        *claim_gb300_vs_hopper(),
        *claim_gb200_vs_hopper_mw_gpt_oss(),
        *claim_rack_roi(),
        *SOURCE_NOTES,
    ]
    write_atomic(Path(args.out), "\n".join(lines))
    logger.info("wrote %s in %.1f s", args.out, time.perf_counter() - started)


if __name__ == "__main__":
    main()
