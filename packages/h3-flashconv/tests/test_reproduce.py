"""The reproduce verdicts: a wrong model gets "not", noise within one sd is not "reproduced", unequal sizes never are."""

import pytest

from h3_flashconv.model import LanguageModel, ModelConfig
from h3_flashconv.reproduce import ar_claim, equal_param_widths, lm_claim

PARAMS = {"H3": 100_000, "hybrid": 101_000, "Transformer": 100_500}


def test_lm_claim_hybrid_worse_than_transformer_is_not():
    loss = {"H3": [2.0, 2.01, 2.02], "hybrid": [2.20, 2.21, 2.19], "Transformer": [2.00, 2.01, 1.99]}
    assert lm_claim(loss, PARAMS).verdict == "not"


def test_lm_claim_hybrid_better_only_within_noise_is_partly():
    loss = {"H3": [2.0] * 3, "hybrid": [1.90, 2.00, 2.10], "Transformer": [2.00, 2.01, 2.02]}
    assert lm_claim(loss, PARAMS).verdict == "partly"


def test_lm_claim_hybrid_clearly_better_is_reproduced():
    loss = {"H3": [2.0] * 3, "hybrid": [1.90, 1.91, 1.92], "Transformer": [2.00, 2.01, 2.02]}
    c = lm_claim(loss, PARAMS)
    assert c.verdict == "reproduced" and c.details["seeds"] == 3


def test_lm_claim_needs_three_seeds_and_equal_parameters():
    better = {"H3": [2.0, 2.0], "hybrid": [1.90, 1.91], "Transformer": [2.00, 2.01]}
    assert lm_claim(better, PARAMS).verdict == "partly"  # two seeds: never reproduced
    three = {k: [*v, v[-1]] for k, v in better.items()}
    assert lm_claim(three, {**PARAMS, "hybrid": 120_000}).verdict == "not"  # 19% larger hybrid


def test_ar_claim_needs_two_standard_errors():
    # n = 500: se of the difference at ~0.6 is ~0.031, so 0.054 (1.7 se) is not enough
    assert ar_claim(0.610, 0.556, 500).verdict == "not"
    assert ar_claim(0.700, 0.556, 500).verdict == "partly"
    assert ar_claim(0.990, 0.860, 500).verdict == "reproduced"
    assert ar_claim(0.400, 0.860, 500).verdict == "not"  # a model worse than S4D


@pytest.mark.parametrize("block", [64])
def test_equal_param_widths_within_five_percent(block):
    shape = {"n_layer": 2, "d_state": 64, "n_head": 4, "max_len": block, "attn_layer_idx": (1,)}
    widths = equal_param_widths(65, shape)
    counts = {
        k: LanguageModel(ModelConfig(model=k, vocab_size=65, d_model=d, **shape)).num_params()
        for k, d in widths.items()
    }
    assert widths["hybrid"] % 4 == 0
    assert all(abs(v - counts["transformer"]) <= 0.05 * counts["transformer"] for v in counts.values()), counts
