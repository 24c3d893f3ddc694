r"""Closed-form last-layer TracIn for regression losses.

For a final linear layer ``z = W h + b`` producing the prediction
``\hat y = z`` (``K`` outputs), the per-sample gradients of a loss
``\ell(\hat y, y)`` are ``grad_W = e h^T`` and ``grad_b = e`` with
``e = \partial \ell / \partial \hat y``, exactly as for classification with
``e = p - onehot(y)``. With the residual ``r = \hat y - y`` and torch's
``reduction="mean"`` over the ``K`` outputs of one row (the per-sample loss
TracIn differentiates; the batch mean only rescales the learning rate):

- ``MSELoss``: ``\ell = \frac1K \|r\|^2``, so ``e = 2 r / K``;
- ``HuberLoss(delta)``: ``e = \mathrm{clip}(r, -\delta, \delta) / K``;
- ``SmoothL1Loss(beta)``: ``e = \mathrm{clip}(r / \beta, -1, 1) / K``;
- ``L1Loss``: ``e = \mathrm{sign}(r) / K``, the subgradient autograd uses
  (0 at ``r = 0``).

The Huber and L1 losses are differentiable except on the measure-zero set
where ``|r|`` equals the threshold (or 0); there the value above is the one
autograd returns, so TracIn matches what the optimiser did. The influence of
row ``i`` on row ``j`` at checkpoint ``t`` is then

.. math::

    I_t(i, j) = \eta_t \, (e_i^t \cdot e_j^t) \, (h_i^t \cdot h_j^t + 1),

which for ``MSELoss`` and one output is ``4 \eta_t r_i r_j (h_i \cdot h_j + 1)``:
:func:`~skinfluence.tracin.influence_block` and
:func:`~skinfluence.tracin.self_influence` apply unchanged to ``e``. ``I > 0``
means that a step on ``i`` lowered the loss of ``j``.
"""

import torch

__all__ = ["REGRESSION_LOSSES", "regression_errors", "regression_loss"]

#: The criteria whose closed-form gradient is known, by class name.
REGRESSION_LOSSES = ("MSELoss", "HuberLoss", "SmoothL1Loss", "L1Loss")


def regression_loss(criterion):
    """``(name, threshold, reduction)`` of a supported regression criterion.

    Parameters
    ----------
    criterion : torch.nn.Module or type
        The criterion instance or class (an instance carries ``delta`` or
        ``beta``).

    Returns
    -------
    name : str
        One of :data:`REGRESSION_LOSSES`.
    threshold : float
        ``delta`` of ``HuberLoss``, ``beta`` of ``SmoothL1Loss``, else 1.0.
    reduction : {"mean", "sum"}
        How the criterion reduces a row's outputs (and the batch).

    Raises
    ------
    TypeError
        For another criterion, or a criterion that does not average per row.
    """
    cls = criterion if isinstance(criterion, type) else type(criterion)
    name = next(
        (base.__name__ for base in cls.__mro__ if base.__name__ in REGRESSION_LOSSES),
        None,
    )
    if name is None or not issubclass(cls, torch.nn.Module):
        raise TypeError(
            f"criterion {cls.__name__} has no closed-form last-layer gradient; "
            f"use one of torch.nn.{', torch.nn.'.join(REGRESSION_LOSSES)}."
        )
    if isinstance(criterion, torch.nn.Module):
        reduction = getattr(criterion, "reduction", "mean")
        if reduction == "none":
            raise TypeError(
                f"{name}(reduction='none') cannot train a skorch net; use 'mean' or 'sum'."
            )
        threshold = getattr(criterion, "delta", getattr(criterion, "beta", 1.0))
        return name, float(threshold), reduction
    return name, 1.0, "mean"


def regression_errors(pred, y, loss="MSELoss", threshold=1.0, reduction="mean"):
    r"""Return ``e = d loss / d pred`` per row: the regression analogue of ``p - onehot(y)``.

    Parameters
    ----------
    pred : torch.Tensor of shape (..., n, K)
        Predictions (the last linear layer's output).
    y : torch.Tensor of shape (n, K)
        Targets.
    loss : {"MSELoss", "HuberLoss", "SmoothL1Loss", "L1Loss"}, default="MSELoss"
    threshold : float, default=1.0
        ``delta`` of ``HuberLoss`` or ``beta`` of ``SmoothL1Loss``.
    reduction : {"mean", "sum"}, default="mean"
        The criterion's reduction: ``"mean"`` averages a row's loss over its
        ``K`` outputs (dividing ``e`` by ``K``), ``"sum"`` adds them.

    Returns
    -------
    e : torch.Tensor of shape (n, K)
        The gradient of the row's own loss with respect to its prediction.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.tracin import regression_errors
    >>> regression_errors(torch.tensor([[3.0]]), torch.tensor([[1.0]]))
    tensor([[4.]])
    >>> regression_errors(torch.tensor([[3.0]]), torch.tensor([[1.0]]), "HuberLoss")
    tensor([[1.]])
    """
    residual = pred - y.to(pred.dtype)
    n_outputs = residual.shape[-1]
    if loss == "MSELoss":
        e = 2.0 * residual
    elif loss == "HuberLoss":
        e = residual.clamp(-threshold, threshold)
    elif loss == "SmoothL1Loss":
        e = (residual / threshold).clamp(-1.0, 1.0)
    elif loss == "L1Loss":
        e = torch.sign(residual)
    else:
        raise ValueError(f"Unknown regression loss {loss!r}; use {REGRESSION_LOSSES}.")
    return e / n_outputs if reduction == "mean" else e
