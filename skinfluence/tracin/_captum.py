"""Bridge to Captum's ``TracInCP``: the independent reference for every influence value.

Captum computes per-sample gradients by autograd at every checkpoint; we feed
it the module states captured during ``fit`` (from memory, no files) and the
learning rate of each epoch, restricted to chosen layers (the last ``Linear``
by default).
"""

import copy

import torch

__all__ = ["captum_tracin"]


def captum_tracin(
    module,
    trajectory,
    X,
    y,
    X_ref=None,
    y_ref=None,
    *,
    layers=None,
    batch_size=256,
    loss_fn=None,
):
    """Influence matrix and self-influence from Captum's ``TracInCP``.

    Parameters
    ----------
    module : torch.nn.Module
        A module of the fitted architecture (copied, not modified).
    trajectory : skinfluence.tracin.Trajectory
        Captured states and learning rates.
    X, y : ndarray
        Training rows (float32) and class codes.
    X_ref, y_ref : ndarray, default=None
        Reference rows; when None only self-influence is computed.
    layers : list of str, default=None
        Layers whose parameters count; the captured last layer by default.
    batch_size : int, default=256
        Rows per batch of Captum's per-sample gradients (the benchmark uses
        2048, Captum's fastest there).
    loss_fn : torch.nn.Module, default=None
        The per-sample loss, with ``reduction="sum"``; None is softmax
        cross-entropy on class codes. Another loss (e.g. ``MSELoss``) takes
        ``y`` and ``y_ref`` as float targets.

    Returns
    -------
    influence : torch.Tensor of shape (n, m) or None
        ``influence[i, j]``: TracIn of training row ``i`` on reference row ``j``.
    self_influence : torch.Tensor of shape (n,)
    """
    from captum.influence import TracInCP

    model = copy.deepcopy(module).cpu().eval()
    target = torch.long if loss_fn is None else torch.float32
    if loss_fn is None:
        loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    X, y = torch.as_tensor(X), torch.as_tensor(y, dtype=target)
    layers = [trajectory.layer] if layers is None else list(layers)
    # Captum's best settings: the states stay in memory (the checkpoint
    # "paths" are epoch numbers read back by the load function), and
    # self-influence loops over checkpoints on the outside.
    checkpoints = [str(t) for t in range(trajectory.n_epochs)]

    def load(net, epoch):
        net.load_state_dict(trajectory.state(int(epoch)))
        return float(trajectory.lrs[int(epoch)])

    tracin = TracInCP(
        model,
        torch.utils.data.TensorDataset(X, y),
        checkpoints=checkpoints,
        checkpoints_load_func=load,
        layers=layers,
        loss_fn=loss_fn,
        batch_size=batch_size,
        sample_wise_grads_per_batch=True,
    )
    self_influence = tracin.self_influence(outer_loop_by_checkpoints=True)
    influence = None
    if X_ref is not None:
        X_ref = torch.as_tensor(X_ref)
        y_ref = torch.as_tensor(y_ref, dtype=target)
        influence = tracin.influence((X_ref, y_ref)).T
    return influence, self_influence
