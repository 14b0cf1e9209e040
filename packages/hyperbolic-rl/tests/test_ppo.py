"""GAE, the PPO loss, reward normalisation, delta-hyperbolicity and a tiny training run."""

import math

import numpy as np
import pytest
import torch

from hyperbolic_rl.diagnostics import delta_hyperbolicity, delta_hyperbolicity_direct, relative_delta
from hyperbolic_rl.train import RewardNormalizer, TrainConfig, compute_gae, ppo_loss, train


def gae_direct(rewards, values, dones, next_value, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, summed until the episode ends (explicit double loop)."""
    T, N = rewards.shape
    v_ext = np.concatenate([values, next_value[None]], 0)
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for k in range(t, T):
                nonterminal = 1.0 - dones[k, n]
                delta = rewards[k, n] + gamma * v_ext[k + 1, n] * nonterminal - values[k, n]
                total += weight * delta
                if dones[k, n]:
                    break
                weight *= gamma * lam
            adv[t, n] = total
    return adv


def test_gae_matches_direct_sum():
    rng = np.random.default_rng(0)
    T, N = 37, 5
    rewards, values = rng.normal(size=(T, N)), rng.normal(size=(T, N))
    dones = (rng.random((T, N)) < 0.15).astype(np.float64)
    next_value = rng.normal(size=N)
    adv, ret = compute_gae(*(torch.as_tensor(a) for a in (rewards, values, dones, next_value)), 0.97, 0.9)
    expected = gae_direct(rewards, values, dones, next_value, 0.97, 0.9)
    np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret.numpy(), expected + values, rtol=1e-10, atol=1e-10)


def test_gae_lambda_one_is_the_discounted_return_minus_value():
    rewards = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    values = torch.tensor([[0.5], [0.1], [0.2]], dtype=torch.float64)
    dones = torch.zeros(3, 1, dtype=torch.float64)
    _, ret = compute_gae(rewards, values, dones, torch.tensor([4.0], dtype=torch.float64), 0.5, 1.0)
    torch.testing.assert_close(
        ret[:, 0],
        torch.tensor([1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 4, 2 + 0.5 * 3 + 0.25 * 4, 3 + 0.5 * 4], dtype=torch.float64),
    )


def test_ppo_loss_on_a_hand_built_batch():
    # two actions, four samples; every term computed by hand below
    logits = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.5, -0.5]], dtype=torch.float64)
    actions = torch.tensor([0, 0, 1, 1])
    old_logp = torch.tensor([math.log(0.4), math.log(0.9), math.log(0.5), math.log(0.3)], dtype=torch.float64)
    adv = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    values = torch.tensor([1.0, 0.0, 2.0, -1.0], dtype=torch.float64)
    old_values = torch.tensor([0.5, 0.1, 2.5, -1.0], dtype=torch.float64)
    returns = torch.tensor([1.5, 1.0, 1.0, 0.0], dtype=torch.float64)
    loss, st = ppo_loss(
        logits,
        values,
        actions,
        old_logp,
        old_values,
        adv,
        returns,
        clip=0.2,
        ent_coef=0.01,
        vf_coef=0.5,
        normalize_advantages=False,
    )

    probs = [
        [0.5, 0.5],
        [math.e / (math.e + 1), 1 / (math.e + 1)],
        [1 / (1 + math.e**2), math.e**2 / (1 + math.e**2)],
        [math.e**0.5 / (math.e**0.5 + math.e**-0.5), math.e**-0.5 / (math.e**0.5 + math.e**-0.5)],
    ]
    new_p = [probs[i][a] for i, a in enumerate([0, 0, 1, 1])]
    old_p = [0.4, 0.9, 0.5, 0.3]
    pg, vl, ent, kl = 0.0, 0.0, 0.0, 0.0
    for i in range(4):
        r = new_p[i] / old_p[i]
        a = adv[i].item()
        pg += max(-a * r, -a * min(max(r, 0.8), 1.2))
        v, vo, R = values[i].item(), old_values[i].item(), returns[i].item()
        vc = vo + min(max(v - vo, -0.2), 0.2)
        vl += 0.5 * max((v - R) ** 2, (vc - R) ** 2)
        ent += -sum(p * math.log(p) for p in probs[i])
        kl += (r - 1) - math.log(r)
    expected = pg / 4 - 0.01 * ent / 4 + 0.5 * vl / 4
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert st["pg_loss"] == pytest.approx(pg / 4, rel=1e-12)
    assert st["v_loss"] == pytest.approx(vl / 4, rel=1e-12)
    assert st["approx_kl"] == pytest.approx(kl / 4, rel=1e-12)
    clipped = sum(abs(new_p[i] / old_p[i] - 1) > 0.2 for i in range(4))
    assert st["clipfrac"] == pytest.approx(clipped / 4)


def test_ppo_loss_normalises_advantages():
    torch.manual_seed(0)
    logits, actions = torch.randn(16, 3), torch.randint(0, 3, (16,))
    old_logp = torch.log_softmax(logits, -1)[torch.arange(16), actions] + 0.05 * torch.randn(16)
    adv, v, r = torch.randn(16) * 5 + 3, torch.randn(16), torch.randn(16)
    norm = (adv - adv.mean()) / (adv.std() + 1e-8)
    a, _ = ppo_loss(logits, v, actions, old_logp, v, adv, r)
    b, _ = ppo_loss(logits, v, actions, old_logp, v, norm, r, normalize_advantages=False)
    torch.testing.assert_close(a, b)


def test_reward_normaliser_divides_by_running_std_of_discounted_returns():
    rng = np.random.default_rng(1)
    norm = RewardNormalizer(num_envs=3, gamma=0.9, clip=1e9)
    rets, history = np.zeros(3), []
    for _ in range(200):
        r = rng.normal(size=3)
        done = rng.random(3) < 0.1
        out = norm(r, done)
        rets = rets * 0.9 + r
        history.append(rets.copy())
        rets[done] = 0.0
        std = np.concatenate(history).std()
        # running moments start from (mean 0, var 1, count 1e-4): negligible after the first step
        np.testing.assert_allclose(out, r / std, rtol=1e-3)


def test_delta_hyperbolicity_fast_equals_direct_and_is_zero_on_trees():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(25, 3))
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    for base in (0, 7):
        assert delta_hyperbolicity(d, base, block=4) == pytest.approx(delta_hyperbolicity_direct(d, base), abs=1e-12)
    # a star (tree) metric: d(i, j) = w_i + w_j; any tree metric is 0-hyperbolic
    w = rng.random(12)
    tree = w[:, None] + w[None, :]
    np.fill_diagonal(tree, 0)
    assert delta_hyperbolicity(tree) == pytest.approx(0.0, abs=1e-12)
    # the 4-cycle with unit edges has delta = 1 from any base point
    cyc = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]], dtype=float)
    assert delta_hyperbolicity(cyc) == pytest.approx(1.0)
    rel = relative_delta(pts, n=25)
    assert 0 < rel["delta_rel"] <= 1


def test_tiny_cartpole_run_improves_over_random():
    cfg = TrainConfig(
        head="euclidean",
        total_steps=6144,
        num_envs=4,
        num_steps=128,
        lr=2.5e-3,
        anneal_lr=False,
        seed=0,
        hidden=(32, 32),
        embed_dim=16,
    )
    result = train(cfg)
    rets = [r for _, r in result["episodes"]]
    first, last = np.mean(rets[:20]), np.mean(rets[-20:])
    # random CartPole policies last ~22 steps on average; the first episodes are played by the random init
    assert first < 35 and last > 2 * first
    assert result["nonfinite"] == 0


def test_srym_cartpole_return_rises_above_a_fixed_bar():
    """S-RYM (official config, default init) learns CartPole: last 20 episodes >= 60 within 8k steps
    (random play lasts ~22 steps); a broken head or optimiser stays near the random return."""
    cfg = TrainConfig(
        head="srym", total_steps=8192, num_envs=4, num_steps=128, lr=2.5e-3, anneal_lr=False, seed=0, threads=1
    )
    result = train(cfg)
    rets = [r for _, r in result["episodes"]]
    assert np.mean(rets[-20:]) >= 60, np.mean(rets[-20:])
    assert result["nonfinite"] == 0


def test_observation_normaliser_uses_the_running_moments_of_all_batches():
    from hyperbolic_rl.preprocess import ObsNormalizer

    rng = np.random.default_rng(0)
    batches = [rng.normal([5.0, -2.0], [3.0, 0.1], size=(n, 2)) for n in (4, 7, 1, 12)]
    norm = ObsNormalizer((2,), clip=10.0)
    for b in batches:
        norm.update(b)
    data = np.concatenate(batches)
    # the moments of all the data merged once with the prior (mean 0, var 1, count 1e-4) they start from
    n, m, v, c0 = len(data), data.mean(0), data.var(0), 1e-4
    np.testing.assert_allclose(norm.moments.mean, n * m / (n + c0), rtol=1e-9)
    np.testing.assert_allclose(norm.moments.var, (c0 + n * v + m**2 * c0 * n / (n + c0)) / (n + c0), rtol=1e-9)
    x = np.array([[5.0, -2.0], [1e6, -1e6]])
    z = norm(x)
    np.testing.assert_allclose(z[0], (x[0] - data.mean(0)) / data.std(0), rtol=1e-3, atol=1e-3)
    assert z.dtype == np.float32 and (z[1] == [10.0, -10.0]).all()  # clipped at +-10
