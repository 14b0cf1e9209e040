"""Deep (L >= 2) DMFT, the single site of one hidden layer: Monte-Carlo fields with exact response
Jacobians, and the closed form of a linear layer. Bordelon & Pehlevan (ICLR 2023), Eq. 5 / Table 1.

Times t = 0..T and samples mu are flattened t-major into one index of size n = (T+1) P. Per layer l the
single-site fields obey the discrete-time (Euler-step) form of Eq. 5, with c = eta gamma0 / P:

  h_l(t) = u_l(t) + sum_{s<t} sum_a [gamma0 A_{l-1}(t,s) g_l(s) + c Delta_a(s) Phi_{l-1}(s,t) gt_l(s)]
  z_l(t) = r_l(t) + sum_{s<=t} gamma0 B_l(t,s) phi(h_l(s)) + sum_{s<t} sum_a c Delta_a(s) Gt_{l+1}(s,t) phi(h_l(s))
  g_l = phi'(h_l) z_l (true gradient),  gt_l from the rule (GD: g_l; DFA: phi'(h_l) d_l; Hebb: Delta phi(h_l))
  u_l ~ GP(0, Phi_{l-1}),  r_l ~ GP(0, G_{l+1}),  Phi_0 = K_x,  G_{L+1} = Gt_{L+1} = 1,  A_0 = B_L = 0,

and the order parameters are single-site averages: Phi_l = <phi phi^T>, G_l = <g g^T>,
Gt_l(t,s) = <g_l(t) gt_l(s)> (true at the row time, pseudo at the column time), and the responses
gamma0 A_l = <d phi(h_l) / d r_l> and gamma0 B_{l-1} = <d g_l / d u_l> (stored here with the gamma0
included). The response matrices are the exact derivatives of the discrete single-site map,
d h = (I - L_h)^{-1} (d u + L_r d r), averaged over (a subset of) the samples. B_l(t,s) includes s = t:
g_{l+1}(t) responds to u_{l+1}(t) at the same step. For DFA and Hebb phi(h_l) does not depend on r_l, so
A = 0 (the paper's "C^l vanishes except for rho-FA", and A^l only for rules that backpropagate through W).

rho-FA backpropagates through the fixed B_l = rho W_l(0)^T + sqrt(1-rho^2) B'_l, so W_l(0) enters a third
field v_l = W_l(0)^T gt_{l+1} / sqrt(N) (besides u_{l+1} and r_l), and B'_l a fourth one, v'_l:

  zt_l(t) = rho v_l + sqrt(1-rho^2) v'_l = rt_l(t) + sum_{s<=t} rho D_l(t,s) phi(h_l(s))   (no learning drive)
  h_l(t)  = u_l(t) + sum_{s<t} [rho C_{l-1}(t,s) + c Delta_a(s) Phi_{l-1}(s,t)] gt_l(s),   gt_l = phi'(h_l) zt_l
  (r_l, rt_l) jointly Gaussian: <r r^T> = G_{l+1}, <r rt^T> = rho Gt_{l+1}, <rt rt^T> = Gtt_{l+1} = <gt gt^T>,

with the responses C_l = <d phi(h_l) / d rt_l> (the paper's C^l; rho C = <d phi / d v>) and
D_l = <d gt_{l+1} / d u_{l+1}> (v's analogue of B). A = 0 for FA: phi(h_l) does not depend on r_l.
At the last layer zt_L = b = rho w_L(0) + sqrt(1-rho^2) b'. The feedback is frozen, so rho = 1 FA is not
GD in the rich regime (it backpropagates through W(0), not W(t)); they agree at gamma0 -> 0.

GLN is GD with phi(h) = s h, where each site draws its gates s_mu = Theta(m . x_mu), m ~ N(0, I_D), fixed in
time and independent across layers (so phi' = s and phi'' = 0; the activation setting is ignored).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from learning_rules.kernels import activation, activation_derivative
from learning_rules.rule_table import get_rule, pseudo_gradient

__all__ = ["DEEP_ACTIVATIONS", "deep_layer_site", "linear_layer_closed_form"]

DEEP_ACTIVATIONS = ("tanh", "erf", "linear")


def _second_derivative(name: str):
    """phi'' (needed for the response functions; ReLU's is a Dirac delta, so ReLU is not offered)."""
    return {
        "tanh": lambda h: -2.0 * jnp.tanh(h) * (1.0 - jnp.tanh(h) ** 2),
        "erf": lambda h: -4.0 * h / jnp.sqrt(jnp.pi) * jnp.exp(-(h**2)),
        "linear": lambda h: jnp.zeros_like(h),
    }[name]


def _tile(K: jnp.ndarray, T1: int) -> jnp.ndarray:
    """A time-independent (P, P) kernel as a two-time (n, n) kernel."""
    return jnp.kron(jnp.ones((T1, T1), K.dtype), K)


def _equal_time(M: jnp.ndarray, T1: int) -> jnp.ndarray:
    """(n, n) two-time kernel -> (T+1, P, P) equal-time blocks M(t, t)."""
    P = M.shape[0] // T1
    M4 = M.reshape(T1, P, T1, P)
    idx = jnp.arange(T1)
    return M4[idx, :, idx, :]


def _drive(K: jnp.ndarray, delta_flat: jnp.ndarray, c: float, T1: int) -> jnp.ndarray:
    """Weight-update drive c Delta_a(s) K[(t,mu),(s,a)] for s < t (strictly causal), as an (n, n) matrix."""
    tb = jnp.repeat(jnp.arange(T1), K.shape[0] // T1)
    return c * K * delta_flat[None, :] * (tb[:, None] > tb[None, :])


def _causal_inverse(Lh: jnp.ndarray, P: int) -> jnp.ndarray:
    """(I - Lh)^-1 for a batch (..., n, n) of strictly causal Lh (zero on and above the diagonal P x P time
    blocks): forward substitution over the T+1 time blocks, Q_t = I_t + Lh_t Q, each step one batched
    matmul (XLA's batched triangular solve is several times slower on CPU for these sizes)."""
    n = Lh.shape[-1]
    eye = jnp.eye(n, dtype=Lh.dtype)

    def body(t, Q):
        rows = jax.lax.dynamic_slice_in_dim(Lh, t * P, P, axis=-2)
        new = jax.lax.dynamic_slice_in_dim(eye, t * P, P, axis=0) + rows @ Q
        return jax.lax.dynamic_update_slice_in_dim(Q, new, t * P, axis=-2)

    return jax.lax.fori_loop(0, n // P, body, jnp.zeros_like(Lh))


def _sym_sqrt(C: jnp.ndarray) -> jnp.ndarray:
    """Symmetric square root of a PSD matrix (negative eigenvalues clipped); continuous in C."""
    lam, V = jnp.linalg.eigh(0.5 * (C + C.T))
    return (V * jnp.sqrt(jnp.clip(lam, 0.0))) @ V.T


@partial(jax.jit, static_argnames=("rule", "act", "P", "need_A", "need_B", "n_jac", "chunk"))
def deep_layer_site(
    eps_u: jnp.ndarray,
    eps_r: jnp.ndarray,
    fb: jnp.ndarray,
    Phi_prev: jnp.ndarray,
    G_next: jnp.ndarray,
    A_prev: jnp.ndarray,
    Mphi: jnp.ndarray,
    Nz: jnp.ndarray,
    delta_flat: jnp.ndarray,
    rule: str,
    act: str,
    P: int,
    need_A: bool,
    need_B: bool,
    n_jac: int,
    chunk: int = 25,
    fa: dict | None = None,
    gates: jnp.ndarray | None = None,
) -> dict:
    """Monte-Carlo single site of one hidden layer: new Phi, G, Gt, responses A_l, B_{l-1}, and <z phi> (for f).

    ``Mphi`` is the strictly causal Phi-drive of h, ``Nz`` = gamma0 B_l + the Gt-drive of z (causal),
    ``A_prev`` = gamma0 A_{l-1}; the sources are u = eps_u Phi_prev^(1/2), r = eps_r G_next^(1/2), DFA's d = fb.
    rho-FA (``fa``): noise ``eps_t`` of rt, the cross covariance ``Grt`` = rho Gt_{l+1} and ``Gtt`` = Gtt_{l+1}
    of (r, rt), and ``Nt`` = rho D_l (causal); the caller adds rho C_{l-1} to ``Mphi``. Returns Gtt, C, D too.
    GLN: ``gates`` (S, P) per site, phi(h) = s h.
    """
    entry = get_rule(rule)
    S, n = eps_u.shape
    T1 = n // P
    if gates is None:
        act_fns = activation(act), activation_derivative(act), _second_derivative(act)
        sgate = jnp.ones((S, n), eps_u.dtype)
    else:  # GLN: the gate enters as a multiplicative factor s; phi = s h, phi' = s, phi'' = 0
        act_fns = (lambda h: h), jnp.ones_like, jnp.zeros_like
        sgate = jnp.tile(gates, (1, T1))

    def phi_fn(h, sg):
        return sg * act_fns[0](h)

    def dphi_fn(h, sg):
        return sg * act_fns[1](h)

    def d2phi_fn(h, sg):
        return sg * act_fns[2](h)

    u = eps_u @ _sym_sqrt(Phi_prev)
    if fa is None:
        r, rt, Nt = eps_r @ _sym_sqrt(G_next), jnp.zeros_like(u), jnp.zeros_like(Nz)
    else:  # (r, rt) jointly Gaussian
        joint = jnp.block([[G_next, fa["Grt"]], [fa["Grt"].T, fa["Gtt"]]])
        rr = jnp.concatenate([eps_r, fa["eps_t"]], axis=1) @ _sym_sqrt(joint)
        r, rt, Nt = rr[:, :n], rr[:, n:], fa["Nt"]

    def pseudo(h, sg, g, zt, t_slice):  # the rule table's gt (Table 1)
        dphi, phi = dphi_fn(h, sg), phi_fn(h, sg)
        return pseudo_gradient(entry, g=g, dphi=dphi, phi=phi, zt=zt, d=fb[:, None], delta=t_slice[None, :])

    def step(t, carry):
        H, PH, Z, ZT, G, GT = carry
        A_rows = jax.lax.dynamic_slice(A_prev, (t * P, 0), (P, n))
        M_rows = jax.lax.dynamic_slice(Mphi, (t * P, 0), (P, n))
        N_rows = jax.lax.dynamic_slice(Nz, (t * P, 0), (P, n))
        Nt_rows = jax.lax.dynamic_slice(Nt, (t * P, 0), (P, n))
        sg = jax.lax.dynamic_slice(sgate, (0, t * P), (S, P))
        h = jax.lax.dynamic_slice(u, (0, t * P), (S, P)) + G @ A_rows.T + GT @ M_rows.T
        PH = jax.lax.dynamic_update_slice(PH, phi_fn(h, sg), (0, t * P))
        z = jax.lax.dynamic_slice(r, (0, t * P), (S, P)) + PH @ N_rows.T  # includes s = t
        zt = jax.lax.dynamic_slice(rt, (0, t * P), (S, P)) + PH @ Nt_rows.T  # FA's feedback field
        g = dphi_fn(h, sg) * z
        gt = pseudo(h, sg, g, zt, jax.lax.dynamic_slice(delta_flat, (t * P,), (P,)))
        upd = [(H, h), (Z, z), (ZT, zt), (G, g), (GT, gt)]
        H, Z, ZT, G, GT = (jax.lax.dynamic_update_slice(a, b, (0, t * P)) for a, b in upd)
        return H, PH, Z, ZT, G, GT

    zeros = jnp.zeros_like(u)
    H, PH, Z, ZT, G, GT = jax.lax.fori_loop(0, T1, step, (zeros,) * 6)
    out = {
        "Phi": PH.T @ PH / S,
        "G": G.T @ G / S,
        "Gt": G.T @ GT / S,
        "zphi": jnp.mean(Z * PH, axis=0),
    }
    if entry.uses_rho:
        out["Gtt"] = GT.T @ GT / S
        # Gaussian integration by parts (Stein) checks of the responses: <phi rt^T> = C Gtt, <gt u^T> = D Phi_prev
        out["stein"] = {"phi_rt": PH.T @ rt / S, "gt_u": GT.T @ u / S}
    else:  # the same checks of A and B: <phi r^T> = gamma0 A G_next, <g u^T> = gamma0 B_{l-1} Phi_prev
        out["stein"] = {"phi_r": PH.T @ r / S, "g_u": G.T @ u / S}
    if not (need_A or need_B):
        return out
    eye = jnp.eye(n, dtype=u.dtype)

    def local(args):
        """One sample's derivatives of its discrete single-site map: d g/d h (E), d gt/d h (Et, FA), the
        strictly causal h-to-h drive Lh and the r-to-h drive Lr (dh = (I - Lh)^-1 (du + Lr dr))."""
        h, z, zt, sg, d = args
        D1, D2 = dphi_fn(h, sg), d2phi_fn(h, sg)
        E = jnp.diag(D2 * z) + D1[:, None] * Nz * D1[None, :]  # d g / d h (through z as well)
        Et = jnp.diag(D2 * zt) + D1[:, None] * Nt * D1[None, :]  # FA: d gt / d h
        kind = entry.pseudo  # d gt / d h of the rule's pseudo-gradient (Table 1)
        if kind == "backprop":  # h is driven by g = gt through A_prev + Mphi
            Mh = A_prev + Mphi
            Lh, Lr = Mh @ E, Mh * D1[None, :]
        elif kind == "feedback":  # h is driven by gt through Mphi (incl. rho C_{l-1}); "A" is C = d phi / d rt
            Lh, Lr = Mphi @ Et, Mphi * D1[None, :]
        elif kind == "direct":  # gt = phi'(h) d
            Lh, Lr = Mphi * (D2 * d)[None, :], jnp.zeros_like(eye)
        else:  # activity: gt = Delta phi(h)
            Lh, Lr = Mphi * (delta_flat * D1)[None, :], jnp.zeros_like(eye)
        return D1, E, Et, Lh, Lr

    def chunk_sum(args):
        """Summed response Jacobians of a chunk of samples: A = D1 (I - Lh)^-1 Lr, B = E (I - Lh)^-1, D = Et (I - Lh)^-1."""
        D1, E, Et, Lh, Lr = jax.vmap(local)(args)
        Q = _causal_inverse(Lh, P)
        res = {}
        if need_A:
            res["A"] = jnp.sum(D1[:, :, None] * (Q @ Lr), axis=0)
        if need_B:
            res["B"] = jnp.sum(E @ Q, axis=0)
            if entry.uses_rho:
                res["D"] = jnp.sum(Et @ Q, axis=0)
        return res

    # average over the first m = min(n_jac, S) samples: full chunks of k under lax.map, then the remainder
    # (every one of the m samples counts; an n_jac that is not a multiple of the chunk is not truncated)
    m = min(n_jac, S)
    k = min(chunk, m)
    full = (m // k) * k
    mats = (H, Z, ZT, sgate)
    args = tuple(a[:full].reshape(-1, k, n) for a in mats) + (fb[:full].reshape(-1, k),)
    total = jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0), jax.lax.map(chunk_sum, args))
    if full < m:
        rest = chunk_sum(tuple(a[full:m] for a in mats) + (fb[full:m],))
        total = jax.tree_util.tree_map(jnp.add, total, rest)
    resp = jax.tree_util.tree_map(lambda a: a / m, total)
    if need_A:
        out["A"] = resp["A"]
    if need_B:
        out["B_prev"] = resp["B"]
        if entry.uses_rho:
            out["D_prev"] = resp["D"]
    return out


def linear_layer_closed_form(
    Phi_prev: jnp.ndarray, G_next: jnp.ndarray, A_prev: jnp.ndarray, Mphi: jnp.ndarray, Nz: jnp.ndarray
) -> dict:
    """Closed-form single site of a linear GD layer (no sampling; Sec. 3.3 / App. E).

    With C = gamma0 A_{l-1} + Mphi and D = Nz, h = Q (u + C r) and z = r + D h, Q = (I - C D)^{-1}:
        Phi_l = Q Phi_{l-1} Q^T + A_l G_{l+1} A_l^T,   gamma0 A_l = Q C,
        G_l = (I + B_{l-1} C) G_{l+1} (I + B_{l-1} C)^T + B_{l-1} Phi_{l-1} B_{l-1}^T,   gamma0 B_{l-1} = D Q.
    """
    n = Phi_prev.shape[0]
    eye = jnp.eye(n, dtype=Phi_prev.dtype)
    C, D = A_prev + Mphi, Nz
    Q = jax.scipy.linalg.solve_triangular(eye - C @ D, eye, lower=True, unit_diagonal=True)
    A = Q @ C
    B = D @ Q
    Phi = Q @ Phi_prev @ Q.T + A @ G_next @ A.T
    R = eye + B @ C
    G = R @ G_next @ R.T + B @ Phi_prev @ B.T
    zh = G_next @ A.T + D @ Phi  # <z h^T> = <r h^T> + D <h h^T>
    return {"Phi": Phi, "G": G, "Gt": G, "A": A, "B_prev": B, "zphi": jnp.diag(zh)}
