"""Model shapes the course computes with, as data, each with its source.

One :class:`ModelPreset` per model: the sizes that decide attention's cost (layers, width,
query heads, key-value heads, head width, context length, attention kind, sliding window, MLA
latent), taken from the model's paper or its published configuration. Fields that the sources
at hand did not settle are ``None``, and the preset's ``notes`` say so.

Pages and the in-browser calculator read these through :func:`kv_bytes_per_token`,
:func:`presets_table` and :func:`presets_json`; a preset is named by its ``key``
(``"llama-2-70b"``) so that a page's build-time expression can pass it as a literal::

    {{ presets.kv_bytes_per_token("llama-2-70b") | int }}

Attention kinds:
    ``mha``  every query head has its own key and value head (``n_kv_heads == n_heads``)
    ``gqa``  groups of query heads share a key-value head (``1 < n_kv_heads < n_heads``)
    ``mqa``  all query heads share one key-value head (``n_kv_heads == 1``)
    ``mla``  keys and values are rebuilt from one cached latent per token (DeepSeek-V2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from numbers import Integral

from longctx import checks, costs
from longctx.costs import kv_cache_bytes_per_token, mla_cache_bytes_per_token

__all__ = [
    "ATTENTION_KINDS",
    "PRESETS",
    "ModelPreset",
    "get_preset",
    "kv_bytes_per_token",
    "kv_bytes_ratio",
    "model_kv_cache_bytes",
    "presets_json",
    "presets_table",
]

ATTENTION_KINDS = ("mha", "gqa", "mqa", "mla")


def _check_int(key: str, name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{key}: {name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{key}: {name} must be a positive integer, got {value}")


@dataclass(frozen=True)
class ModelPreset:
    """The attention-relevant shape of one published model.

    Attributes:
        key: short id used by pages and the calculator, e.g. ``"llama-2-70b"``.
        name: the model's name for people.
        layers: decoder layers.
        d_model: width of the residual stream.
        n_heads: query heads per layer.
        n_kv_heads: key-value heads per layer (for MLA: the per-head keys and values that
            are rebuilt from the latent, not cached).
        head_dim: width of one head (for MLA: d_h, the per-head value width).
        context_length: the context the model was released with, in tokens.
        attention: one of :data:`ATTENTION_KINDS`.
        source: paper (authors, year, arXiv id) and/or model configuration for the numbers.
        d_ff: hidden width of the MLP, or None where it is not one number (mixture of
            experts) or not settled by the source.
        vocab: vocabulary size, or None where the source does not state it.
        window: sliding-window size W in every layer, or None for full attention.
        mla_latent_dim: MLA only: d_c, the cached latent's width (``kv_lora_rank``).
        mla_rope_dim: MLA only: the cached decoupled RoPE key's width (``qk_rope_head_dim``).
        notes: caveats about the numbers above.
        params: total parameters as the source states them (every expert of a mixture of
            experts: all of them sit in memory), for the weights' bytes beside the cache.
    """

    key: str
    name: str
    layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    context_length: int
    attention: str
    source: str
    d_ff: int | None = None
    vocab: int | None = None
    window: int | None = None
    mla_latent_dim: int | None = None
    mla_rope_dim: int | None = None
    notes: str = ""
    params: int | None = None

    def __post_init__(self) -> None:
        k = self.key
        for name in ("layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "context_length"):
            _check_int(k, name, getattr(self, name))
        for name in ("d_ff", "vocab", "window", "mla_latent_dim", "mla_rope_dim", "params"):
            _check_int(k, name, getattr(self, name), optional=True)
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"{k}: attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"{k}: n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")
        expected = {
            "mha": self.n_kv_heads == self.n_heads,
            "mqa": self.n_kv_heads == 1,
            "gqa": 1 < self.n_kv_heads < self.n_heads,
            "mla": True,
        }
        if not expected[self.attention]:
            raise ValueError(
                f"{k}: attention={self.attention!r} does not match n_heads={self.n_heads}, "
                f"n_kv_heads={self.n_kv_heads}"
            )
        is_mla = self.attention == "mla"
        if is_mla != (self.mla_latent_dim is not None and self.mla_rope_dim is not None):
            raise ValueError(f"{k}: mla_latent_dim and mla_rope_dim are set exactly when attention is 'mla'")
        if not self.source.strip():
            raise ValueError(f"{k}: source must name the paper or configuration the numbers come from")


_PRESET_LIST = [
    ModelPreset(
        key="gpt-3-175b",
        name="GPT-3 175B",
        layers=96,
        d_model=12288,
        n_heads=96,
        n_kv_heads=96,
        head_dim=128,
        context_length=2048,
        attention="mha",
        d_ff=4 * 12288,
        params=175_000_000_000,
        source="Brown et al. 2020, Language Models are Few-Shot Learners, arXiv:2005.14165, Table 2.1 "
        "(n_layers 96, d_model 12288, n_heads 96, d_head 128, n_ctx 2048; d_ff = 4 d_model)",
        notes="vocab left None: the paper reuses GPT-2's tokenizer without giving its size. Its layers "
        "alternate dense and locally banded sparse attention; the band's width is not given, so "
        "window is None and the costs here treat every layer as dense.",
    ),
    ModelPreset(
        key="llama-1-7b",
        name="LLaMA 7B",
        layers=32,
        d_model=4096,
        n_heads=32,
        n_kv_heads=32,
        head_dim=128,
        context_length=2048,
        attention="mha",
        d_ff=11008,
        vocab=32000,
        params=6_700_000_000,
        source="Touvron et al. 2023, LLaMA: Open and Efficient Foundation Language Models, "
        "arXiv:2302.13971, Table 2; d_ff and vocab from the released configuration",
    ),
    ModelPreset(
        key="llama-1-65b",
        name="LLaMA 65B",
        layers=80,
        d_model=8192,
        n_heads=64,
        n_kv_heads=64,
        head_dim=128,
        context_length=2048,
        attention="mha",
        d_ff=22016,
        vocab=32000,
        params=65_200_000_000,
        source="Touvron et al. 2023, LLaMA: Open and Efficient Foundation Language Models, "
        "arXiv:2302.13971, Table 2; d_ff and vocab from the released configuration",
    ),
    ModelPreset(
        key="llama-2-7b",
        name="Llama 2 7B",
        layers=32,
        d_model=4096,
        n_heads=32,
        n_kv_heads=32,
        head_dim=128,
        context_length=4096,
        attention="mha",
        d_ff=11008,
        vocab=32000,
        params=7_000_000_000,
        source="Touvron et al. 2023, Llama 2: Open Foundation and Fine-Tuned Chat Models, "
        "arXiv:2307.09288, Table 1; meta-llama/Llama-2-7b-hf config.json",
    ),
    ModelPreset(
        key="llama-2-70b",
        name="Llama 2 70B",
        layers=80,
        d_model=8192,
        n_heads=64,
        n_kv_heads=8,
        head_dim=128,
        context_length=4096,
        attention="gqa",
        d_ff=28672,
        vocab=32000,
        params=70_000_000_000,
        source="Touvron et al. 2023, Llama 2: Open Foundation and Fine-Tuned Chat Models, "
        "arXiv:2307.09288, Table 1 (GQA for 34B and 70B); meta-llama/Llama-2-70b-hf config.json",
    ),
    ModelPreset(
        key="mistral-7b-v0.1",
        name="Mistral 7B v0.1",
        layers=32,
        d_model=4096,
        n_heads=32,
        n_kv_heads=8,
        head_dim=128,
        context_length=8192,
        attention="gqa",
        d_ff=14336,
        vocab=32000,
        window=4096,
        params=7_000_000_000,
        source="Jiang et al. 2023, Mistral 7B, arXiv:2310.06825, Table 1 (dim 4096, n_layers 32, "
        "head_dim 128, hidden_dim 14336, n_heads 32, n_kv_heads 8, window_size 4096, "
        "context_len 8192, vocab_size 32000)",
        notes="The sliding window is used in every layer. v0.2 raised the context to 32K and dropped "
        "the window; this preset is v0.1.",
    ),
    ModelPreset(
        key="llama-3-8b",
        name="Llama 3 8B",
        layers=32,
        d_model=4096,
        n_heads=32,
        n_kv_heads=8,
        head_dim=128,
        context_length=8192,
        attention="gqa",
        d_ff=14336,
        vocab=128256,
        params=8_000_000_000,
        source="Llama Team 2024, The Llama 3 Herd of Models, arXiv:2407.21783, Table 3; "
        "meta-llama/Meta-Llama-3-8B config.json (vocab_size 128256, max_position_embeddings 8192)",
        notes="Llama 3.1 8B has the same shape with a 128K context.",
    ),
    ModelPreset(
        key="llama-3-70b",
        name="Llama 3 70B",
        layers=80,
        d_model=8192,
        n_heads=64,
        n_kv_heads=8,
        head_dim=128,
        context_length=8192,
        attention="gqa",
        d_ff=28672,
        vocab=128256,
        params=70_000_000_000,
        source="Llama Team 2024, The Llama 3 Herd of Models, arXiv:2407.21783, Table 3; "
        "meta-llama/Meta-Llama-3-70B config.json",
        notes="Llama 3.1 70B has the same shape with a 128K context.",
    ),
    ModelPreset(
        key="deepseek-llm-67b",
        name="DeepSeek LLM 67B",
        layers=95,
        d_model=8192,
        n_heads=64,
        n_kv_heads=8,
        head_dim=128,
        context_length=4096,
        attention="gqa",
        vocab=102400,
        params=67_000_000_000,
        source="DeepSeek-AI 2024, DeepSeek LLM: Scaling Open-Source Language Models with Longtermism, "
        "arXiv:2401.02954, Table 2; deepseek-ai/deepseek-llm-67b-base config.json",
        notes="The dense baseline DeepSeek-V2's KV-cache saving is measured against. d_ff left None: "
        "not checked against the configuration here.",
    ),
    ModelPreset(
        key="deepseek-v2",
        name="DeepSeek-V2",
        layers=60,
        d_model=5120,
        n_heads=128,
        n_kv_heads=128,
        head_dim=128,
        context_length=128 * 1024,
        attention="mla",
        vocab=102400,
        params=236_000_000_000,
        mla_latent_dim=512,
        mla_rope_dim=64,
        source="DeepSeek-AI 2024, DeepSeek-V2: A Strong, Economical, and Efficient Mixture-of-Experts "
        "Language Model, arXiv:2405.04434, §2.1 and §3.1; deepseek-ai/DeepSeek-V2 config.json "
        "(kv_lora_rank 512, qk_rope_head_dim 64)",
        notes="MLA caches 512 + 64 = 576 elements per token per layer instead of per-head keys and "
        "values. head_dim is d_h = 128 (queries and keys also carry a 64-wide RoPE part); "
        "n_heads * head_dim is not d_model. d_ff left None: the MLPs are mixtures of experts. "
        "Context 128K as in the paper (the configuration allows 163,840 positions).",
    ),
]

#: Every preset, by key, in the order of :func:`presets_table`.
PRESETS: dict[str, ModelPreset] = {p.key: p for p in _PRESET_LIST}


def get_preset(preset: ModelPreset | str) -> ModelPreset:
    """The preset named by ``preset`` (a key of :data:`PRESETS`), or ``preset`` itself.

    Raises:
        ValueError: an unknown key (the message lists the known ones).
        TypeError: neither a key nor a :class:`ModelPreset`.
    """
    if isinstance(preset, ModelPreset):
        return preset
    if not isinstance(preset, str):
        raise TypeError(f"preset must be a ModelPreset or a key of PRESETS, got {type(preset).__name__}")
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"preset: unknown model {preset!r}; expected one of {', '.join(PRESETS)}") from None


# --8<-- [start:preset-kv]
def kv_bytes_per_token(preset, bytes_per_element: str | float = 2) -> float:
    """Bytes one token adds to the model's KV cache, all layers together.

    MHA, GQA and MQA store a key and a value per KV head
    (:func:`longctx.costs.kv_cache_bytes_per_token`); MLA stores its latent and RoPE key
    (:func:`longctx.costs.mla_cache_bytes_per_token`).

    Args:
        preset (ModelPreset): the model (the package also takes a key of :data:`PRESETS`).
        bytes_per_element: bytes of one element, 2 for fp16 (the package also takes a dtype name).
    """
    p = preset
    if p.attention == "mla":
        return mla_cache_bytes_per_token(
            layers=p.layers,
            latent_dim=p.mla_latent_dim,
            rope_dim=p.mla_rope_dim,
            bytes_per_element=bytes_per_element,
        )
    return kv_cache_bytes_per_token(
        layers=p.layers, kv_heads=p.n_kv_heads, head_dim=p.head_dim, bytes_per_element=bytes_per_element
    )


def model_kv_cache_bytes(
    preset, tokens: int, *, batch: int = 1, bytes_per_element: str | float = 2, rolling_buffer: bool = False
) -> float:
    """Bytes of the model's KV cache for ``batch`` sequences of ``tokens`` tokens.

    Args:
        preset (ModelPreset): the model (the package also takes a key of :data:`PRESETS`).
        tokens: cached tokens per sequence (may exceed the context length: it is arithmetic).
        batch: sequences held at once.
        bytes_per_element: bytes of one element, 2 for fp16 (the package also takes a dtype name).
        rolling_buffer: for a sliding-window model, keep only the last ``window`` tokens
            (Mistral's rolling buffer); ignored for a model without a window.
    """
    n = tokens
    if rolling_buffer and preset.window is not None:
        n = min(n, preset.window)
    return kv_bytes_per_token(preset, bytes_per_element) * n * batch


# --8<-- [end:preset-kv]


def kv_bytes_ratio(numerator: ModelPreset | str, denominator: ModelPreset | str) -> float:
    """``kv_bytes_per_token(numerator) / kv_bytes_per_token(denominator)`` at the same dtype."""
    return kv_bytes_per_token(numerator, 1) / kv_bytes_per_token(denominator, 1)


def presets_table(bytes_per_element: str | float = "fp16") -> list[dict]:
    """One row per preset for the site's tables.

    Each row has ``key``, ``name``, ``layers``, ``d_model``, ``n_heads``, ``n_kv_heads``,
    ``head_dim``, ``attention``, ``context_length``, ``window``, ``kv_bytes_per_token`` and
    ``kv_bytes_at_context`` (one sequence filling the context, no rolling buffer) at
    ``bytes_per_element``, and ``source``.
    """
    costs.bytes_per_element(bytes_per_element)  # validate once, before any row
    rows = []
    for p in PRESETS.values():
        per_token = kv_bytes_per_token(p, bytes_per_element)
        rows.append(
            {
                "key": p.key,
                "name": p.name,
                "layers": p.layers,
                "d_model": p.d_model,
                "n_heads": p.n_heads,
                "n_kv_heads": p.n_kv_heads,
                "head_dim": p.head_dim,
                "attention": p.attention,
                "context_length": p.context_length,
                "window": p.window,
                "kv_bytes_per_token": per_token,
                "kv_bytes_at_context": per_token * p.context_length,
                "source": p.source,
            }
        )
    return rows


def presets_json() -> dict:
    """Every preset as plain data (str, int, None, lists, dicts) for the browser calculator.

    Returns:
        ``{"presets": [...], "bytes_per_element": {...}}``: each preset's fields (source and
        notes included) plus ``kv_elements_per_token``, the cached elements per token over all
        layers, so the browser multiplies by a dtype size from ``bytes_per_element``
        (:data:`longctx.costs.BYTES_PER_ELEMENT`) and a token count.
    """
    out = []
    for p in PRESETS.values():
        item = asdict(p)
        item["kv_elements_per_token"] = int(kv_bytes_per_token(p, 1))
        out.append(item)
    return {"presets": out, "bytes_per_element": dict(costs.BYTES_PER_ELEMENT)}


# The two functions the drill book shows are plain arithmetic on a preset; every call of the
# package's functions still checks its arguments (a preset key becomes its ModelPreset, a dtype
# name its bytes): each is rebound once, here, to its wrapped form (see longctx.checks.arguments).
_PRESET_CHECKS = dict(
    preset=lambda name, value: get_preset(value),
    bytes_per_element=lambda name, value: costs.bytes_per_element(value),
)
_CHECKED = {
    "kv_bytes_per_token": _PRESET_CHECKS,
    "model_kv_cache_bytes": dict(
        tokens=checks.positive_int, batch=checks.positive_int, rolling_buffer=checks.flag, **_PRESET_CHECKS
    ),
}
for _name, _checkers in _CHECKED.items():
    globals()[_name] = checks.arguments(**_checkers)(globals()[_name])
del _name, _checkers
