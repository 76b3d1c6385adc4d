"""The calibrated roofline: step times of prefill and decode from hardware physics.

One engine replica runs *steps*. A step processes ``B`` decode sequences (one
token each, attending to ``ctx`` tokens of context) and ``Np`` prompt tokens
(attending to half their prompt on average). Its time is

    T = max(memory, prompt compute) + decode token work + communication + kernel floor

(for the weight GEMMs, averaged over decode-only steps and steps with a prompt batch, below)

- memory: bytes each GPU reads / (HBM bandwidth x ``hbm_efficiency``): the
  dense weights (attention, shared experts, embeddings) split over the
  attention tensor-parallel group, the routed experts the step's tokens touch
  (uniform routing: a fraction ``1 - (1 - top_k/experts)^tokens`` of them)
  split over every GPU, and the KV cache of the GPU's sequences;
- compute: ``2 x active params`` FLOPs per token at the weight precision's
  tensor rate x a GEMM efficiency that grows with the rows each GEMM runs
  (:func:`gemm_s`: the dense GEMMs' tokens per attention rank, the routed experts' tokens
  per touched expert; decode tokens' share added to the weight reads, not hidden under
  them: :func:`step_time`), attention ``4 x layers x q_heads x head_dim``
  FLOPs per (token, context token) at the BF16 rate x :data:`ATTENTION_EFFICIENCY`;
- communication: per layer two all-reduces over the attention TP group and,
  when experts are spread wider than that group (DP attention with expert
  parallelism), two all-to-alls; each costs ``collective_latency_s`` plus its
  bytes over scale-up bandwidth (scale-out when the engine spans NVLink
  domains) x :data:`NETWORK_EFFICIENCY`;
- kernel floor: per layer, ``kernel_overhead_s`` for each of its weight-GEMM and
  attention kernels (:func:`kernels_per_layer`).

Decode: the largest batch whose step fits the TPOT ``1/X`` (and whose KV fits
the memory left by the weights) gives tokens/s per GPU at interactivity ``X``.
Aggregated engines also prefill arriving prompts (``B x isl / osl`` prompt tokens
per step on average), in whole batches of :data:`PREFILL_BATCH_TOKENS`: a share
``Np / PREFILL_BATCH_TOKENS`` of steps carries one, so the weight GEMMs of a step
average a decode-only step and a compute-bound prompt step instead of hiding the
prompt work under the decode steps' weight reads. Prefill engines process
prompts in batches of about :data:`PREFILL_BATCH_TOKENS`; a TTFT target caps
their utilisation through an M/D/1 queue. ``docs/performance-model.md`` gives
the whole model and the fitted factors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.catalog import Model, Precision, System
from optimizer.performance.capacity import scaleout_bytes_per_s
from optimizer.performance.contract import EngineConfig, TokenLoad

HBM_USABLE_FRACTION = 0.9
"""Share of HBM an engine may fill with weights and KV cache (vLLM's default
``gpu_memory_utilization``); the rest holds activations and runtime buffers."""

NETWORK_EFFICIENCY = 0.7
"""Achieved fraction of link bandwidth in collectives (NCCL bus bandwidth on
NVLink typically reaches 70-80% of the link rate); not fitted."""

PREFILL_BATCH_TOKENS = 8192
"""Prompt tokens a prefill engine, or an aggregated engine between its decode-only steps, batches
into one forward pass (the usual chunked-prefill budget of vLLM and SGLang; InferenceMAX ran vLLM
at ``max-num-batched-tokens`` 8192 and SGLang at chunked-prefill sizes of 8192-32768)."""

ACTIVATION_BYTES = 2
"""Bytes per activation element exchanged in collectives (BF16)."""

SEQUENCES_PER_SCHEDULER = {"aggregated": 256, "decode": 1280}
"""Sequences one scheduler keeps in flight (one per engine, or one per attention rank with DP
attention), by role: the most any serving software ran per attention rank in the measurements
(``inferencemax_points.csv``: aggregated engines 128 with vLLM, SGLang and ATOM, 256 with
TensorRT-LLM; disaggregated decode workers 512 with SGLang, 1280 with TensorRT-LLM;
``tests/optimizer/performance/test_performance_model.py`` re-derives them). The fitted step
time has no term that bends the curve beyond what it saw, so the model does not extrapolate
past the data."""

MAX_BATCH = 65536.0
"""Upper end of the batch search, sequences per replica."""

SEARCH_POINTS = 48
SEARCH_ROUNDS = 3
"""Batch search: 48 log-spaced trial batches per round, 3 rounds (bracket ln(65536) / 47^3 = 1e-4 in ln B)."""

REQUEST = 5
"""Index of ``request_overhead_s`` in :meth:`Factors.as_array`; the step factors come before it."""

OVERHEADS = slice(3, 5)
"""``kernel_overhead_s`` and ``collective_latency_s`` in :meth:`Factors.as_array`: the serving software's fixed costs."""

ATTENTION_EFFICIENCY = 0.67
"""Achieved fraction of the BF16 tensor peak in compute-bound attention kernels, prompt and
decode; not fitted. FlashMLA (deepseek-ai/FlashMLA README, 2025-04-22 update) reaches 660
TFLOPS in its compute-bound decode configuration on H800 SXM5, whose dense BF16 peak is 989
TFLOPS: 0.67; FlashAttention-3 (Shah et al. 2024) reaches up to 740 TFLOPS in BF16 forward
(prefill) attention on H100 SXM5, 0.75 of its 989; 0.67 is kept for both. An attention
kernel's M is the query tokens x heads, so it runs near the peak like a large GEMM, not at the
fitted efficiencies of the weight GEMMs. Decode attention binds only where it is compute-bound
(MLA's absorbed form at long context and large batch); GQA decode stays bound by its KV reads."""

MAX_PREFILL_UTILISATION = 0.95
"""Cap on the utilisation a prefill engine or the prefill share of an aggregated engine runs at."""


@dataclass(frozen=True)
class Factors:
    """The fitted efficiency factors (``instances/catalog/calibration.json`` holds the values in use)."""

    gemm_flops_efficiency: float
    """achieved fraction of dense tensor peak in a weight GEMM of many rows (the limit of
    :func:`gemm_s`'s curve; attention runs at :data:`ATTENTION_EFFICIENCY`)"""
    hbm_efficiency: float
    """achieved fraction of HBM bandwidth"""
    gemm_half_rows: float
    """rows (tokens) at which a weight GEMM reaches half of ``gemm_flops_efficiency``: a GEMM of
    ``m`` rows computes as if it had ``m + gemm_half_rows`` (:func:`gemm_s`)"""
    kernel_overhead_s: float
    """fixed time per weight-GEMM or attention kernel per layer per step (launch, ramp-up and tail,
    and the small elementwise kernels between them), s; a layer runs :func:`kernels_per_layer` of them"""
    collective_latency_s: float
    """latency of one step of an all-reduce or all-to-all, s; a collective among g GPUs takes
    :func:`latency_steps` (log2 g) of them"""
    request_overhead_s: float
    """fixed part of TTFT: request handling, tokenisation, first scheduling, s"""

    def as_array(self) -> np.ndarray:
        return np.array([
            self.gemm_flops_efficiency, self.hbm_efficiency, self.gemm_half_rows,
            self.kernel_overhead_s, self.collective_latency_s, self.request_overhead_s,
        ])


@dataclass(frozen=True)
class Engines:
    """Per-engine quantities as NumPy arrays (one entry per engine, broadcastable).

    Units: bytes, bytes/s, FLOP/s, parameters. Built by :func:`engines`.
    """

    gpus: np.ndarray
    attention_split: np.ndarray
    """GPUs one attention layer is split over (tensor parallel; 1 with DP attention)"""
    attention_ranks: np.ndarray
    """data-parallel attention groups = gpus / attention_split"""
    kv_shards: np.ndarray
    """ways the KV cache of the engine's sequences is divided among its GPUs"""
    layers: np.ndarray
    kernels_per_layer: np.ndarray
    """weight-GEMM and attention kernels one layer runs (:func:`kernels_per_layer`)"""
    hidden: np.ndarray
    top_k: np.ndarray
    experts: np.ndarray
    dense_bytes: np.ndarray
    """weights every attention group reads in full (attention, shared experts, embeddings)"""
    expert_bytes: np.ndarray
    """all routed-expert weights (0 for dense models)"""
    dense_params: np.ndarray
    """parameters every token runs through outside the routed experts (attention, dense FFN,
    shared experts, embeddings)"""
    expert_params: np.ndarray
    """routed-expert parameters one token runs through (top_k x one expert's; 0 for dense models)"""
    decode_attention_flops: np.ndarray
    """FLOPs per (decode token, context token): 2 x full-attention layers x q_heads x (qk + v dims)"""
    prefill_attention_flops: np.ndarray
    """FLOPs per (prompt token, context token); differs from decode for MLA"""
    kv_bytes_per_token: np.ndarray
    hbm_bytes: np.ndarray
    """usable HBM per GPU"""
    hbm_bytes_per_s: np.ndarray
    flops: np.ndarray
    """dense tensor FLOP/s per GPU at the weight precision"""
    bf16_flops: np.ndarray
    link_bytes_per_s: np.ndarray
    """per GPU: scale-up inside one NVLink domain, scale-out when the engine spans domains"""
    scaleout_bytes_per_s: np.ndarray

    @property
    def weight_bytes_per_gpu(self) -> np.ndarray:
        return self.dense_bytes / self.attention_split + self.expert_bytes / self.gpus

    @property
    def kv_capacity_bytes(self) -> np.ndarray:
        """KV bytes (full per-token size) one replica holds; <= 0 when the weights do not fit."""
        return (self.hbm_bytes - self.weight_bytes_per_gpu) * self.kv_shards


MLA_ROPE_DIM = 64
MLA_PREFILL_QK_DIM = 192
MLA_PREFILL_V_DIM = 128
"""DeepSeek-V3 MLA head geometry (HF config: qk_nope_head_dim 128 + qk_rope_head_dim 64,
v_head_dim 128). Prefill attends per head at these widths; decode runs the absorbed form
over the latent (kv_lora_rank + rope for scores, kv_lora_rank for values)."""


def _attention_flops(model: Model) -> tuple[float, float]:
    """(decode, prefill) attention FLOPs per (token, context token).

    GQA stores K and V (2 x kv_heads x head_dim x 2 bytes) per full-attention
    layer, which gives the full-attention layer count from the BF16 KV size
    (gpt-oss: 18 of 36; the sliding-window layers attend 128 tokens and are
    left out). MLA stores one latent of width kv_bytes / (2 bytes x layers).
    """
    if model.head_dim is None:
        latent = model.kv_bytes_per_token_bf16 / (2 * model.layers)
        decode = 2 * model.layers * model.q_heads * (2 * latent - MLA_ROPE_DIM)
        prefill = 2 * model.layers * model.q_heads * (MLA_PREFILL_QK_DIM + MLA_PREFILL_V_DIM)
        return decode, prefill
    full_layers = model.kv_bytes_per_token_bf16 / (4 * model.kv_heads * model.head_dim)
    flops = 4 * full_layers * model.q_heads * model.head_dim
    return flops, flops


def kernels_per_layer(model: Model) -> int:
    """Weight-GEMM and attention kernels in one layer's forward pass, from the layer's modules
    (HF modeling code of each architecture).

    Attention: GQA runs the fused QKV and output projections and the attention kernel (3); MLA
    the query down/up, KV down and output projections, the two absorbed per-head products of the
    KV up-projection and the attention kernel (7). FFN: dense gate-up and down (2); MoE the router
    and the grouped gate-up and down (3) plus gate-up and down of each shared expert
    (gpt-oss 3 + 3 = 6, DeepSeek-R1 7 + 5 = 12, Llama 3 + 2 = 5).
    """
    attention = 7 if model.head_dim is None else 3
    ffn = 3 + 2 * model.shared_experts if model.is_moe else 2
    return attention + ffn


EXPERT_BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "fp4": 4.25 / 8}
"""Bytes per routed-expert parameter (and per dense parameter in ``Model.fp4_dense_precision``):
MXFP4 stores 4 bits plus one 8-bit scale per 32 values (NVFP4: per 16, 4.5 bits; the smaller size
is used so the dense part is not underestimated)."""


def _param_split(model: Model) -> tuple[float, float]:
    """(dense parameters, routed-expert parameters per token): total = dense + experts x per_expert
    and active = dense + top_k x per_expert give per_expert = (total - active) / (experts - top_k)."""
    if not model.is_moe:
        return model.active_params_b * 1e9, 0.0
    per_expert = (model.total_params_b - model.active_params_b) / (model.experts - model.top_k) * 1e9
    return model.active_params_b * 1e9 - model.top_k * per_expert, model.top_k * per_expert


def _weight_split(model: Model, precision: Precision) -> tuple[float, float]:
    """(dense bytes, all routed-expert bytes) of the checkpoint in ``precision``.

    The parameter split is :func:`_param_split`'s. Quantised MoE checkpoints keep attention and
    embeddings wider than the experts. Where the catalog names the FP4 checkpoint's dense precision
    (``fp4_dense_precision``: gpt-oss BF16, DeepSeek-R1 FP8) the dense part is its
    parameters at that width and the experts the rest of the checkpoint; otherwise
    the experts take their nominal bytes and the dense part the rest, at most BF16.
    """
    weights = model.weights_gb(precision)
    assert weights is not None
    total = weights * 1e9
    if not model.is_moe:
        return total, 0.0
    dense_params, expert_params = _param_split(model)
    per_expert = expert_params / model.top_k
    if precision == "fp4" and model.fp4_dense_precision is not None:
        dense = min(dense_params * EXPERT_BYTES_PER_PARAM[model.fp4_dense_precision], total)
    else:
        dense = min(max(total - model.experts * per_expert * EXPERT_BYTES_PER_PARAM[precision], 0.0), 2 * dense_params)
    return dense, total - dense


def engines(
    rows: list[tuple[Model, System, Precision, int, int, bool]],
) -> Engines:
    """Engine arrays for ``(model, system, precision, gpus, tp, dp_attention)`` rows.

    With ``dp_attention`` every GPU runs attention for its own sequences;
    otherwise attention is split over ``tp`` GPUs (``gpus / tp`` such groups).
    Routed experts are spread over all ``gpus`` (expert or tensor parallel: the
    bytes per GPU are the same).
    """
    columns: dict[str, list[float]] = {name: [] for name in Engines.__dataclass_fields__}
    for model, system, precision, gpus, tp, dp_attention in rows:
        if model.weights_gb(precision) is None:
            raise ValueError(f"{model.id} has no {precision} weights")
        dense_bytes, expert_bytes = _weight_split(model, precision)
        dense_params, expert_params = _param_split(model)
        decode_attention, prefill_attention = _attention_flops(model)
        split = 1 if dp_attention else min(tp, gpus)
        kv_heads = 1 if model.head_dim is None else model.kv_heads
        spans_domains = gpus > system.gpus_per_nvlink_domain
        values = {
            "gpus": gpus,
            "attention_split": split,
            "attention_ranks": gpus / split,
            "kv_shards": gpus / split * min(split, kv_heads),
            "layers": model.layers,
            "kernels_per_layer": kernels_per_layer(model),
            "hidden": model.hidden,
            "top_k": model.top_k,
            "experts": model.experts,
            "dense_bytes": dense_bytes,
            "expert_bytes": expert_bytes,
            "dense_params": dense_params,
            "expert_params": expert_params,
            "decode_attention_flops": decode_attention,
            "prefill_attention_flops": prefill_attention,
            "kv_bytes_per_token": model.kv_bytes_per_token(precision),
            "hbm_bytes": system.hbm_gb * 1e9 * HBM_USABLE_FRACTION,
            "hbm_bytes_per_s": system.hbm_tb_s * 1e12,
            "flops": system.tflops(precision) * 1e12,
            "bf16_flops": system.bf16_tflops * 1e12,
            "link_bytes_per_s": scaleout_bytes_per_s(system, 1) if spans_domains else system.scaleup_gb_s * 1e9,
            "scaleout_bytes_per_s": scaleout_bytes_per_s(system, 1),
        }
        for name, value in values.items():
            columns[name].append(float(value))
    return Engines(**{name: np.asarray(values)[:, None] for name, values in columns.items()})


def latency_steps(participants: np.ndarray) -> np.ndarray:
    """Latency steps of one collective among ``participants`` GPUs: log2 of their number.

    Small-message collectives are latency-bound, and their latency grows with the
    number of GPUs taking part: NCCL's tree and low-latency algorithms (and recursive
    doubling) take log2(g) steps, and DeepEP's low-latency MoE all-to-all went from
    77 to 173 us (dispatch) and 114 to 314 us (combine) from 8 to 64 ranks on H800
    (DeepEP README), about the 3 -> 6 of log2. Two GPUs: one step.
    """
    return np.log2(np.maximum(participants, 2.0))


def gemm_s(
    e: Engines, tokens: np.ndarray, touched: np.ndarray, steps: np.ndarray, efficiency: np.ndarray,
    half_rows: np.ndarray,
) -> np.ndarray:
    """Seconds per GPU of the weight GEMMs' tensor work for ``tokens`` tokens per step (a mean over
    steps), run in a share ``steps`` of the steps; ``touched`` is the share of routed experts they reach.

    A GEMM of ``m`` rows runs at ``efficiency x m / (m + half_rows)`` of the tensor peak ``F``:
    tensor-core GEMMs compute tiles of a fixed number of rows (CUTLASS thread-block tiles of 64-256
    in M) and fill the GPU's SMs in waves of tiles, so a few-row GEMM pays for rows it does not
    have and one of thousands of rows reaches ``efficiency``. Rows: a dense GEMM (attention
    projections, dense FFN, shared experts) has the tokens of its attention rank,
    ``tokens / (steps x attention_ranks)``; a touched routed expert
    ``tokens x top_k / (steps x experts x touched)``. ``2 P tokens / (gpus F e(m))`` is then
    ``2 P / (gpus F efficiency) x (tokens + steps x half_rows x tokens / m)``: every dense GEMM on
    each attention rank and every touched expert computes ``half_rows`` rows more than it has.
    """
    dense_rows = tokens + steps * half_rows * e.attention_ranks
    expert_rows = tokens + steps * half_rows * touched * e.experts / np.maximum(e.top_k, 1)
    return 2 * (e.dense_params * dense_rows + e.expert_params * expert_rows) / (e.gpus * e.flops * efficiency)


def step_time(
    e: Engines, f: np.ndarray, batch: np.ndarray, context: np.ndarray,
    prompt_tokens: np.ndarray, prompt_context: np.ndarray,
) -> np.ndarray:
    """Seconds for one step of ``batch`` decode sequences and ``prompt_tokens`` prompt tokens
    (a mean over steps: prompts come in batches of :data:`PREFILL_BATCH_TOKENS`).

    ``context``: tokens each decode sequence attends to; ``prompt_context``: mean
    tokens a prompt token attends to. ``f`` is :meth:`Factors.as_array`, or one such
    column per engine (shape ``(6, engines, 1)``).
    All arguments broadcast against the engine arrays (shape ``(engines, 1)``).
    """
    gemm_eff, hbm_eff, half_rows, kernel_overhead, collective_latency = f[:REQUEST]
    tokens = batch + prompt_tokens
    # prompts arrive in whole prefill batches (PREFILL_BATCH_TOKENS, which touch every routed
    # expert): a share ``prompt_share`` of steps carries one, the rest decode alone, so the step's
    # weight reads average a decode-only step's and a prompt step's; a prompt step takes its
    # weight reads or its tensor work, whichever is longer. Decode tokens (a few rows per expert)
    # and prompt tokens (thousands of rows per GEMM) reach different fractions of the tensor peak
    # on one curve of the rows per GEMM (gemm_s).
    # The decode tokens' work adds to the weight reads instead of hiding under them (a max, as a
    # roofline of one GEMM has it): an MoE layer runs per-token kernels in stream order around its
    # grouped GEMMs (TensorRT-LLM's CutlassMoeFCRunner: expandInputRowsKernel, which permutes and
    # quantises the activations, doActivationKernel, finalizeMoeRoutingKernel; vLLM's fused_experts:
    # moe_align_block_size, the two GEMMs, the activation, moe_sum), and the small-M GEMMs stream
    # their weights whatever the rows. Measured, steps grow with the batch where the weight bytes
    # no longer do: gpt-oss DEP4 on GB200 (every expert touched) stepped in 6.4 ms at 234
    # sequences and 10.8 ms at 914; with max() the model gave 6.5 and 7.9 ms (now 6.7 and 10.1).
    # Prompt steps stay max(weight reads, tensor work): their GEMMs are large and compute-bound.
    decode_touch = np.where(
        e.experts > 0, 1.0 - np.power(1.0 - e.top_k / np.maximum(e.experts, 1), batch), 0.0
    )
    prompt_share = np.minimum(1.0, prompt_tokens / PREFILL_BATCH_TOKENS)
    dense_bytes = e.dense_bytes / e.attention_split
    bandwidth = e.hbm_bytes_per_s * hbm_eff
    decode_s = gemm_s(e, batch, decode_touch, (batch > 0).astype(float), gemm_eff, half_rows)
    prompt_s = gemm_s(e, prompt_tokens, np.ones(1), prompt_share, gemm_eff, half_rows)
    decode_reads = (dense_bytes + e.expert_bytes * decode_touch / e.gpus) / bandwidth  # decode-only steps
    prompt_step = np.maximum(prompt_share * (dense_bytes + e.expert_bytes / e.gpus) / bandwidth, prompt_s)
    gemm = (1.0 - prompt_share) * decode_reads + prompt_step + decode_s
    # attention kernels run apart from the GEMMs: decode reads the KV cache (or is bound by its
    # FLOPs at ATTENTION_EFFICIENCY, as MLA can be); prompt attention is compute-bound
    kv_read = batch * context * e.kv_bytes_per_token / e.kv_shards / bandwidth
    decode_attention = np.maximum(
        kv_read,
        e.decode_attention_flops * batch * context / e.gpus / (e.bf16_flops * ATTENTION_EFFICIENCY),
    )
    prompt_attention = (
        e.prefill_attention_flops * prompt_tokens * prompt_context / e.gpus / (e.bf16_flops * ATTENTION_EFFICIENCY)
    )

    link = e.link_bytes_per_s * NETWORK_EFFICIENCY
    tokens_per_rank = tokens / e.attention_ranks
    split = e.attention_split
    all_reduce_bytes = 2 * (split - 1) / split * tokens_per_rank * e.hidden * ACTIVATION_BYTES
    all_reduce = np.where(
        split > 1, collective_latency * latency_steps(split) + all_reduce_bytes / link, 0.0
    )
    all_to_all_bytes = tokens_per_rank * e.top_k * e.hidden * ACTIVATION_BYTES * (e.gpus - 1) / e.gpus
    all_to_all = np.where(
        (e.experts > 0) & (e.gpus > split),
        collective_latency * latency_steps(e.gpus) + all_to_all_bytes / link,
        0.0,
    )
    per_layer = kernel_overhead * e.kernels_per_layer + 2 * (all_reduce + all_to_all)
    return gemm + decode_attention + prompt_attention + e.layers * per_layer


def max_batch(
    e: Engines, f: np.ndarray, tpot_s: np.ndarray, context: np.ndarray, prompts_per_output: np.ndarray,
    prompt_context: np.ndarray,
) -> np.ndarray:
    """Largest (real) decode batch whose step, with ``batch x prompts_per_output`` prompt
    tokens, takes at most ``tpot_s``; NaN when even a batch of one is too slow.

    The step time grows with the batch: each of :data:`SEARCH_ROUNDS` rounds
    evaluates :data:`SEARCH_POINTS` log-spaced batches in the bracket at once (a
    leading axis) and keeps the pair around the last that fits, so the batch is
    found to a relative 1e-4 in three vectorised passes.
    """
    shape = np.broadcast_shapes(
        e.gpus.shape, np.shape(tpot_s), np.shape(context), np.shape(prompts_per_output), np.shape(prompt_context)
    )
    lo = np.zeros(shape)
    hi = np.full(shape, math.log(MAX_BATCH))

    def fits(log_batch: np.ndarray) -> np.ndarray:
        batch = np.exp(log_batch)
        return step_time(e, f, batch, context, batch * prompts_per_output, prompt_context) <= tpot_s

    feasible = fits(lo)
    steps = np.linspace(0.0, 1.0, SEARCH_POINTS).reshape((-1,) + (1,) * len(shape))
    for _ in range(SEARCH_ROUNDS):
        grid = lo + (hi - lo) * steps
        last = np.maximum(fits(grid).sum(axis=0) - 1, 0)[None]
        lo = np.take_along_axis(grid, last, axis=0)[0]
        hi = np.take_along_axis(grid, np.minimum(last + 1, SEARCH_POINTS - 1), axis=0)[0]
    return np.where(feasible, np.exp(lo), np.nan)


def prefill_batch(e: Engines, isl: np.ndarray) -> np.ndarray:
    """Prompts a prefill engine runs per forward pass: as many as fit :data:`PREFILL_BATCH_TOKENS`
    and whose KV fits the engine's memory, at least one."""
    by_tokens = np.floor(PREFILL_BATCH_TOKENS / isl)
    by_memory = np.floor(e.kv_capacity_bytes / (isl * e.kv_bytes_per_token))
    return np.maximum(1.0, np.minimum(by_tokens, by_memory))


def prefill_service_s(e: Engines, f: np.ndarray, isl: np.ndarray) -> np.ndarray:
    """Seconds to prefill one batch of :func:`prefill_batch` prompts of ``isl`` tokens."""
    return step_time(e, f, np.zeros(1), np.zeros(1), prefill_batch(e, isl) * isl, isl / 2)


def prompt_alone_s(e: Engines, f: np.ndarray, isl: float | np.ndarray) -> np.ndarray:
    """Seconds for one prompt of ``isl`` tokens alone: its step, with its attention on the one
    attention rank that holds the sequence (under DP attention a prompt is not spread over the
    other ranks, so its attention takes ``attention_ranks`` times the share :func:`step_time`
    gives it when the prompt tokens of a step are spread over all ranks)."""
    tokens = np.asarray(isl, dtype=float)
    spread = step_time(e, f, np.zeros(1), np.zeros(1), tokens, tokens / 2)
    attention = e.prefill_attention_flops * tokens * tokens / 2 / e.gpus / (e.bf16_flops * ATTENTION_EFFICIENCY)
    return spread + attention * (e.attention_ranks - 1)


def md1_utilisation(service_s: np.ndarray, wait_budget_s: np.ndarray) -> np.ndarray:
    """Largest utilisation of an M/D/1 queue whose mean wait stays within ``wait_budget_s``.

    Mean wait = rho x S / (2 (1 - rho)) <= Q gives rho = 2Q / (S + 2Q); 0 when Q <= 0.
    """
    budget = np.maximum(wait_budget_s, 0.0)
    return np.minimum(2 * budget / (service_s + 2 * budget), MAX_PREFILL_UTILISATION)


def kv_transfer_s(e: Engines, isl: np.ndarray) -> np.ndarray:
    """Seconds to move one prompt's KV cache into a decode replica over its scale-out NICs."""
    return isl * e.kv_bytes_per_token / (e.gpus * e.scaleout_bytes_per_s)


@dataclass(frozen=True)
class DecodePoint:
    """Arrays describing decode-side operating points (aggregated or decode engines)."""

    batch: np.ndarray
    """batch limited by time and :data:`SEQUENCES_PER_SCHEDULER` (NaN where infeasible)"""
    batch_output_tokens_per_s: np.ndarray
    """per replica, at that batch (faster than the target interactivity where the scheduler limit binds)"""
    served_batch: np.ndarray
    """batch also limited by KV memory"""
    output_tokens_per_s: np.ndarray
    """per replica, at the served batch"""
    prefill_share: np.ndarray
    """fraction of step time spent on prompt tokens (0 for decode engines)"""
    ttft_s: np.ndarray


def decode_points(
    e: Engines, f: np.ndarray, interactivity: np.ndarray, isl: float, osl: float, aggregated: bool,
) -> DecodePoint:
    """Operating points at ``interactivity`` tokens/s per user for requests of isl/osl tokens."""
    tpot = 1.0 / interactivity
    context = np.asarray(isl + osl / 2)
    ratio = np.asarray(isl / osl if aggregated else 0.0)
    prompt_context = np.asarray(isl / 2)
    timed = max_batch(e, f, tpot, context, ratio, prompt_context)
    cap = SEQUENCES_PER_SCHEDULER["aggregated" if aggregated else "decode"]
    batch = np.minimum(timed, cap * e.attention_ranks)
    memory_batch = e.kv_capacity_bytes / (context * e.kv_bytes_per_token)
    fits_one = e.kv_capacity_bytes >= (isl + osl) * e.kv_bytes_per_token
    served = np.where(fits_one, np.minimum(batch, memory_batch), np.nan)

    def rate(b: np.ndarray) -> np.ndarray:
        """Output tokens/s at batch ``b``: ``b X`` where time limits it, faster below that batch."""
        safe = np.nan_to_num(b, nan=1.0)
        step = step_time(e, f, safe, context, safe * ratio, prompt_context)
        return np.where(b < timed, b / step, b * interactivity)
    if aggregated:
        safe = np.nan_to_num(batch, nan=1.0)
        full = step_time(e, f, safe, context, safe * ratio, prompt_context)
        without = step_time(e, f, safe, context, np.zeros(1), prompt_context)
        share = np.minimum(1.0 - without / full, MAX_PREFILL_UTILISATION)
        alone = prompt_alone_s(e, f, float(isl))
        ttft = f[REQUEST] + alone * (1 + share / (2 * (1 - share))) + tpot
    else:
        share = np.zeros(np.shape(batch))
        ttft = kv_transfer_s(e, np.asarray(float(isl))) + tpot * np.ones(np.shape(batch))
    return DecodePoint(batch, rate(batch), served, rate(served), share, ttft)


def prefill_points(
    e: Engines, f: np.ndarray, ttft_s: np.ndarray, isl: float, speed: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input tokens/s per replica, utilisation, wait budget s) of prefill engines kept within a
    TTFT target, their service taking ``1 / speed`` of the modelled seconds (the calibration's
    measured over modelled throughput).

    TTFT = request overhead + service + M/D/1 wait, the wait budget the target less the other
    two; NaN throughput where even an idle engine misses the target.
    """
    isl_arr = np.asarray(float(isl))
    service = prefill_service_s(e, f, isl_arr) / speed
    budget = ttft_s - f[REQUEST] - service
    utilisation = md1_utilisation(service, budget)
    rate = prefill_batch(e, isl_arr) * isl_arr / service * utilisation
    return np.where(budget > 0, rate, np.nan), utilisation, budget


def config_engines(configs: Sequence[EngineConfig], models: dict[str, Model], systems: dict[str, System]) -> Engines:
    """Engine arrays, one row per engine configuration."""
    return engines([(models[c.model], systems[c.system], c.precision, c.gpus, c.tp, c.dp_attention) for c in configs])


def token_loads(
    e: Engines, f: np.ndarray, configs: Sequence[EngineConfig], isl: int, osl: int, speed: np.ndarray | None = None,
) -> list[TokenLoad | None]:
    """The linear load of requests of ``isl``/``osl`` tokens on one replica of each of
    ``configs`` (row i of ``e`` is ``configs[i]``'s engine), one vectorised pass per role, each
    replica ``speed[i]`` times as fast as modelled (default 1: the calibration's planning factor).

    Aggregated and decode: at TPOT ``1/X`` the shape alone sustains a batch
    ``B`` (time limit, at most :data:`SEQUENCES_PER_SCHEDULER` per scheduler),
    ``R = B X`` output tokens/s (``B / step time`` where the scheduler limit binds). The step's prompt share
    ``p`` of time goes to input tokens: ``sec_per_input = p / (R isl/osl)``,
    ``sec_per_output = (1 - p) / R``, so a replica filled with this shape is
    exactly busy. KV held per output token/s = TPOT x (isl + osl/2) x KV bytes
    per token (Little's law). Prefill: ``1 / rate`` s per input token at the
    utilisation the TTFT target allows, with its service ``1 / speed`` of the modelled (so the
    target leaves less for waiting where the engine is slower). None when the weights or one
    sequence's KV do not fit, or the target cannot be met.
    """
    speed = np.ones(len(configs)) if speed is None else np.asarray(speed, dtype=float)
    found: list[TokenLoad | None] = [None] * len(configs)
    kv_per_token = e.kv_bytes_per_token[:, 0]
    fits = e.kv_capacity_bytes[:, 0] >= (isl + osl) * kv_per_token
    prefills = [i for i, c in enumerate(configs) if fits[i] and c.role == "prefill" and c.ttft_s is not None]
    if prefills:
        ttft = np.array([configs[i].ttft_s for i in prefills], dtype=float)[:, None]
        rates, utilisation, wait = prefill_points(_rows(e, prefills), f, ttft, isl, speed[prefills][:, None])
        for i, rate, rho, wait_s in zip(prefills, rates[:, 0].tolist(), utilisation[:, 0].tolist(),
                                        wait[:, 0].tolist(), strict=True):
            if not math.isnan(rate):
                found[i] = TokenLoad(1.0 / rate, 0.0, 0.0, configs[i].ttft_s, math.inf, rho, wait_s)
    for role in ("aggregated", "decode"):
        rows = [i for i, c in enumerate(configs) if fits[i] and c.role == role and c.tokens_per_s_per_user is not None]
        if not rows:
            continue
        speeds = [configs[i].tokens_per_s_per_user for i in rows]
        point = decode_points(_rows(e, rows), f, np.array(speeds, dtype=float)[:, None], isl, osl, role == "aggregated")
        for j, (i, x) in enumerate(zip(rows, speeds, strict=True)):
            if math.isnan(point.batch[j, 0]):
                continue
            output_rate = float(point.batch_output_tokens_per_s[j, 0] * speed[i])
            kv = float((isl + osl / 2) * kv_per_token[i] / x)
            ttft = float(point.ttft_s[j, 0])
            if role == "decode":
                found[i] = TokenLoad(0.0, 1.0 / output_rate, kv, ttft, x)
            elif configs[i].ttft_s is None or ttft <= configs[i].ttft_s:
                share = float(point.prefill_share[j, 0])
                found[i] = TokenLoad(share / (output_rate * isl / osl), (1 - share) / output_rate, kv, ttft, x)
    return found


def _rows(e: Engines, rows: list[int]) -> Engines:
    """The engines at ``rows`` of ``e``."""
    return Engines(**{name: getattr(e, name)[rows] for name in Engines.__dataclass_fields__})
