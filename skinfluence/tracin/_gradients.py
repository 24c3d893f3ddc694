"""Per-sample gradients of chosen layers, for TracIn beyond the last layer.

For layers other than the last, influence has no small closed form: each
row's gradient ``g_i^t`` over the chosen parameters is computed explicitly
with ``torch.func`` (``vmap`` over ``grad`` of a functional call), batched,
and optionally randomly projected to ``k`` dimensions, which preserves dot
products in expectation (Johnson-Lindenstrauss) and bounds memory at
``T (n + m) k`` floats. Then ``I(i, j) = sum_t eta_t g_i^t . g_j^t``.
"""

import copy

import torch
from torch.func import functional_call, grad, vmap

__all__ = ["layer_parameter_names", "per_sample_gradients"]


def layer_parameter_names(module, layers):
    """Names of the trainable parameters owned by the named submodules.

    Parameters
    ----------
    module : torch.nn.Module
    layers : list of str
        Dotted submodule names, as in Captum's ``layers`` argument.

    Returns
    -------
    names : list of str
        Parameter names in registration order.
    """
    names = []
    for layer in layers:
        try:
            submodule = module.get_submodule(layer)
        except AttributeError:
            raise ValueError(f"The module has no layer named {layer!r}.") from None
        prefix = f"{layer}." if layer else ""
        names += [
            prefix + n for n, p in submodule.named_parameters() if p.requires_grad
        ]
    if not names:
        raise ValueError(f"Layers {layers} have no trainable parameters.")
    return list(dict.fromkeys(names))


def _loss(output, target, output_kind, label_smoothing):
    if output_kind == "proba":  # skorch's NLLLoss convention: the module returns p
        return torch.nn.functional.nll_loss(torch.log(output), target)
    return torch.nn.functional.cross_entropy(
        output, target, label_smoothing=label_smoothing
    )


def per_sample_gradients(
    module,
    trajectory,
    layers,
    X,
    y,
    *,
    output_kind="logits",
    projection=None,
    batch_size=256,
    device="cpu",
):
    """Per-epoch, per-row gradients of the loss over the parameters of ``layers``.

    Parameters
    ----------
    module : torch.nn.Module
        A module of the fitted architecture (copied, not modified).
    trajectory : skinfluence.tracin.Trajectory
        Supplies the module state of each epoch and the label smoothing.
    layers : list of str
        Submodule names whose parameters count.
    X : ndarray of shape (n, n_features), float32
    y : ndarray or torch.Tensor of shape (n,)
        Class codes.
    output_kind : {"logits", "proba"}, default="logits"
    projection : torch.Tensor of shape (P, k), default=None
        Random projection applied to every gradient.
    batch_size : int, default=256
    device : str or torch.device, default="cpu"

    Returns
    -------
    gradients : torch.Tensor of shape (n_epochs, n, P or k)
    """
    model = copy.deepcopy(module).to(device).eval()
    names = layer_parameter_names(model, layers)
    X = torch.as_tensor(X)
    y = torch.as_tensor(y, dtype=torch.long)
    smoothing = trajectory.label_smoothing

    def row_loss(params, fixed, x, target):
        output = functional_call(model, (params, fixed), (x.unsqueeze(0),))
        return _loss(output, target.unsqueeze(0), output_kind, smoothing)

    row_grad = vmap(grad(row_loss), in_dims=(None, None, 0, 0))
    epochs = []
    for t in range(trajectory.n_epochs):
        model.load_state_dict(trajectory.state(t))
        params = {n: p.detach() for n, p in model.named_parameters() if n in names}
        # Everything else enters detached: gradients flow to the chosen layers only.
        fixed = {n: p.detach() for n, p in model.named_parameters() if n not in names}
        fixed.update({n: b.detach() for n, b in model.named_buffers()})
        batches = []
        for start in range(0, len(X), batch_size):
            xb = X[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            grads = row_grad(params, fixed, xb, yb)
            flat = torch.cat([grads[n].reshape(len(xb), -1) for n in names], 1)
            batches.append(flat if projection is None else flat @ projection)
        epochs.append(torch.cat(batches))
    return torch.stack(epochs)
