"""Forward passes that read the last-layer factors, and their replay on new rows.

The capture callback and :func:`replay_factors` share one forward pass: a hook
on the final ``torch.nn.Linear`` reads its input ``h`` and output ``z`` (the
logits), and ``p = softmax(z)`` (classification) or ``p = z`` (regression).
"""

import copy

import torch

from ._trajectory import Factors

__all__ = ["find_last_layer", "replay_factors"]


def find_last_layer(module):
    """Return ``(name, layer)`` of the final ``torch.nn.Linear`` of ``module``.

    A module names it explicitly with a class or instance attribute
    ``last_layer`` (a dotted path such as ``"head"``); otherwise the last
    ``torch.nn.Linear`` in registration order is taken.

    Raises
    ------
    TypeError
        If there is no such layer.
    """
    name = getattr(module, "last_layer", None)
    if name is not None:
        layer = module.get_submodule(name)
        if not isinstance(layer, torch.nn.Linear):
            raise TypeError(
                f"{type(module).__name__}.last_layer={name!r} names a "
                f"{type(layer).__name__}, not a torch.nn.Linear."
            )
        return name, layer
    linears = [
        (n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)
    ]
    if not linears:
        raise TypeError(
            f"{type(module).__name__} has no torch.nn.Linear layer. Last-layer "
            "TracIn needs a final Linear producing the logits; add one, or name "
            "it with a `last_layer` attribute on the module."
        )
    return linears[-1]


def _forward_factors(
    module, layer, X, batch_size, device, output_kind, out=None, outputs="softmax"
):
    """Run ``module`` in eval mode over ``X``; return ``(h, p)`` on ``device``.

    With ``out=(h, p)`` preallocated tensors, the factors are written there
    instead of being concatenated (no transient second copy). ``outputs``
    says what ``p`` holds: ``"softmax"`` of the last layer's output
    (classification) or its ``"identity"`` (regression: the prediction).
    """
    link = _LINKS[outputs]
    captured = {}

    def hook(_, inputs, output):
        captured["h"], captured["z"] = inputs[0].detach(), output.detach()

    handle = layer.register_forward_hook(hook)
    was_training = module.training
    module.eval()
    hs, ps = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                batch = torch.as_tensor(X[start : start + batch_size], device=device)
                output = module(batch)
                if "h" not in captured:
                    raise _layer_not_called(module, layer)
                h, z = captured["h"], captured["z"]
                if start == 0 and output_kind != "any":
                    _check_logits(module, layer, z, output, output_kind)
                if out is None:
                    hs.append(h)
                    ps.append(link(z))
                else:
                    rows = slice(start, start + len(batch))
                    out[0][rows] = h
                    out[1][rows] = link(z)
    finally:
        handle.remove()
        module.train(was_training)
    return out if out is not None else (torch.cat(hs), torch.cat(ps))


# What the factors keep of the last layer's output z: softmax probabilities
# for classification, z itself (the prediction) for regression.
_LINKS = {"softmax": lambda z: torch.softmax(z, dim=1), "identity": lambda z: z}


def _all_finite(tensor):
    # One read, no boolean copy: a float64 sum of float32 values cannot
    # overflow, so it is finite exactly when every value is.
    return bool(torch.isfinite(tensor.sum(dtype=torch.float64)))


def _layer_not_called(module, layer):
    name = next((n for n, m in module.named_modules() if m is layer), str(layer))
    cls = type(module).__name__
    if getattr(module, "last_layer", None) is not None:
        chosen = f"{cls}.last_layer={name!r} names {layer}, but"
    else:
        chosen = (
            f"Last-layer TracIn took {name!r} ({layer}), the last torch.nn.Linear "
            f"of {cls} in registration order, as the layer producing the "
            "logits, but"
        )
    # A layer the forward pass skips (an unused auxiliary head registered
    # after the real one) never fires its hook: nothing to read.
    return TypeError(
        f"{chosen} {cls}.forward never calls it. Name the Linear layer that "
        "produces the logits with a `last_layer` attribute on the module "
        'class, e.g. `last_layer = "head"`.'
    )


def _check_logits(module, layer, z, out, output_kind):
    if not isinstance(out, torch.Tensor):
        what = "their softmax" if output_kind == "proba" else "the logits"
        raise TypeError(
            f"{type(module).__name__}.forward returns a {type(out).__name__}, not "
            "a tensor. Last-layer TracIn needs the module to return the logits "
            "of its last Linear layer as one tensor, and skorch's criterion "
            f"needs a tensor too: return {what} alone, and compute other "
            "outputs (features, auxiliary heads) in a separate method."
        )
    if z.ndim != 2:
        raise TypeError(
            f"The last Linear layer of {type(module).__name__} outputs shape "
            f"{tuple(z.shape)}; last-layer TracIn needs (n_samples, n_classes) logits."
        )
    if not torch.isfinite(z).all():
        return  # divergence: reported with its epoch by the caller
    expected = torch.softmax(z, 1) if output_kind == "proba" else z
    if out.shape != z.shape or not torch.allclose(out, expected, rtol=1e-4, atol=1e-5):
        name = type(module).__name__
        if output_kind == "proba" and out.shape == z.shape and torch.allclose(out, z):
            # skorch's default criterion is NLLLoss, which takes the log of
            # the module's output: it expects probabilities, not logits.
            raise TypeError(
                f"{name} returns logits, but the net's criterion is NLLLoss "
                "(skorch's default), which expects probabilities. Pass "
                "criterion=torch.nn.CrossEntropyLoss to the NeuralNetClassifier."
            )
        what = "its softmax" if output_kind == "proba" else "the logits"
        raise TypeError(
            f"The output of {name} is not {what} of its last Linear layer "
            f"({layer}), as last-layer TracIn needs. If the module ends with a "
            "softmax, return the logits and use criterion="
            "torch.nn.CrossEntropyLoss; if another Linear layer produces the "
            "logits, name it with a `last_layer` attribute on the module."
        )


def replay_factors(
    module,
    trajectory,
    X,
    epochs,
    *,
    batch_size=1024,
    device="cpu",
    outputs="softmax",
):
    """Factors of new rows ``X`` at the given epochs, from the stored states.

    Parameters
    ----------
    module : torch.nn.Module
        A module of the fitted architecture; it is copied, not modified.
    trajectory : Trajectory
    X : ndarray of shape (n, n_features), float32
    epochs : array-like of int
    batch_size : int, default=1024
    device : str or torch.device, default="cpu"
    outputs : {"softmax", "identity"}, default="softmax"
        What ``p`` holds: softmax probabilities, or the raw output of the last
        layer (regression predictions).

    Returns
    -------
    factors : Factors
        With ``len(epochs)`` epochs, in the order given.
    """
    module = copy.deepcopy(module).to(device)
    layer = module.get_submodule(trajectory.layer)
    hs, ps = [], []
    for t in epochs:
        module.load_state_dict(trajectory.state(t))
        h, p = _forward_factors(
            module, layer, X, batch_size, device, "any", outputs=outputs
        )
        hs.append(h)
        ps.append(p)
    return Factors.stack(hs, ps, torch.tensor(X))
