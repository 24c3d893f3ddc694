r"""Closed-form last-layer TracIn.

For a final linear layer ``z = W h + b`` trained with softmax cross-entropy,
the per-sample gradients are ``grad_W = e h^T`` and ``grad_b = e`` with
``e = p - q`` (``p`` the softmax output, ``q`` the one-hot, possibly
label-smoothed, target). The TracIn influence of training row ``i`` on row
``j`` at checkpoint ``t`` with learning rate ``eta_t`` is therefore

.. math::

    I_t(i, j) = \eta_t \, (e_i^t \cdot e_j^t) \, (h_i^t \cdot h_j^t + 1),

the ``+ 1`` being the bias. ``I > 0`` means that training on ``i`` lowered the
loss of ``j`` (a proponent), as in Pruthi et al. (2020) and Captum's
``TracInCP``. Every function here works on one checkpoint at a time; callers
loop over the (few) checkpoints, never over rows.

Writing ``\tilde h = [h, 1]``, linear class aggregates need no ``n x m``
matrix (identity B of the research notes):

.. math::

    \sum_{j \in V_k} I_t(i, j) = \eta_t \, e_i^t \cdot (M_k^t \tilde h_i^t),
    \qquad M_k^t = \sum_{j \in V_k} e_j^t (\tilde h_j^t)^\top .
"""

import torch

__all__ = [
    "errors",
    "self_influence",
    "class_moments",
    "class_sums",
    "influence_block",
]


def errors(p, y, label_smoothing=0.0):
    """Return ``e = p - q``, the gradient of the loss with respect to the logits.

    Parameters
    ----------
    p : torch.Tensor of shape (n, K)
        Softmax outputs.
    y : torch.Tensor of shape (n,)
        Integer class codes in ``[0, K)``.
    label_smoothing : float, default=0.0
        The criterion's label smoothing ``s``: ``q = (1 - s) onehot(y) + s / K``.

    Returns
    -------
    e : torch.Tensor of shape (n, K)
    """
    n_classes = p.shape[1]
    e = p.clone()
    e -= label_smoothing / n_classes
    e[torch.arange(len(y), device=p.device), y] -= 1.0 - label_smoothing
    return e


def self_influence(h, e, lr):
    r"""Self-influence at one checkpoint: ``eta ||e||^2 (||h||^2 + 1)``.

    Parameters
    ----------
    h : torch.Tensor of shape (n, d)
    e : torch.Tensor of shape (n, K)
    lr : float

    Returns
    -------
    si : torch.Tensor of shape (n,)
    """
    return lr * (e * e).sum(1) * ((h * h).sum(1) + 1.0)


def _augment(h):
    return torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype, device=h.device)], 1)


def class_moments(h_ref, e_ref, y_ref, n_classes):
    r"""Per-class moment matrices ``M_k = sum_{j in V_k} e_j [h_j, 1]^T``.

    Parameters
    ----------
    h_ref : torch.Tensor of shape (m, d)
    e_ref : torch.Tensor of shape (m, K)
    y_ref : torch.Tensor of shape (m,)
        Class codes of the reference rows; ``V_k = {j : y_ref[j] = k}``.
    n_classes : int
        Number of classes ``K``.

    Returns
    -------
    M : torch.Tensor of shape (K, K, d + 1)
        ``M[k]`` is the ``K x (d + 1)`` moment of class ``k``.
    """
    onehot = torch.nn.functional.one_hot(y_ref, n_classes).to(h_ref.dtype)
    # (k, a, b) = sum_j onehot[j, k] e[j, a] h~[j, b]: one matmul, no loop.
    weighted = (onehot.T.unsqueeze(1) * e_ref.T.unsqueeze(0)).reshape(-1, len(y_ref))
    return (weighted @ _augment(h_ref)).reshape(n_classes, e_ref.shape[1], -1)


def class_sums(h, e, moments, lr):
    r"""Summed influence of each row on each reference class.

    ``S[i, k] = sum_{j in V_k} I(i, j) = eta e_i . (M_k [h_i, 1])``.

    Parameters
    ----------
    h : torch.Tensor of shape (n, d)
    e : torch.Tensor of shape (n, K)
    moments : torch.Tensor of shape (K, K, d + 1)
        From :func:`class_moments`.
    lr : float

    Returns
    -------
    S : torch.Tensor of shape (n, K)
    """
    n_classes, k_out, width = moments.shape
    flat = moments.reshape(-1, width)
    # [h, 1] @ M^T as h @ M[:, :d]^T + M[:, d]: no concatenated copy of h.
    projected = torch.addmm(flat[:, -1], h, flat[:, :-1].T)  # (n, K * K)
    projected = projected.reshape(len(h), n_classes, k_out)
    return lr * torch.einsum("nka,na->nk", projected, e)


def influence_block(h_rows, e_rows, h_ref, e_ref, lr):
    """Dense block ``I[i, j]`` of the influence of rows on reference rows.

    Costs ``O(c m (d + K))`` for ``c`` rows and ``m`` reference rows; callers
    bound ``c`` so that the block fits the working memory.

    Returns
    -------
    block : torch.Tensor of shape (c, m)
    """
    block = h_rows @ h_ref.T
    block += 1.0
    block *= e_rows @ e_ref.T
    block *= lr
    return block
