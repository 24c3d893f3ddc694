"""The signal registry and the shared, cached inputs of every signal."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn import get_config
from sklearn.utils import gen_batches
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from ..tracin import class_moments, class_sums

__all__ = [
    "TARGETS",
    "Signal",
    "SignalContext",
    "SignalResult",
    "available",
    "get_signal",
    "register",
]

_REGISTRY = {}


#: What a signal can target: the glitch kinds it is built to rank high
#: (``"label_noise"``, ``"anomalies"``: clustered anomalies and scattered
#: outliers, ``"mixtures"``: both at once) or, for ``"dynamics"``, rows the
#: training finds hard or ambiguous whatever their cause.
TARGETS = ("label_noise", "anomalies", "mixtures", "dynamics")


@dataclass(frozen=True)
class Signal:
    """A registered signal: a pure function of the captured epochs.

    Every signal returns scores oriented so that **higher = more suspicious**.

    Attributes
    ----------
    name : str
    func : callable
        ``func(context, epochs) -> SignalResult``.
    description : str
        One line for :func:`available`.
    targets : tuple of str
        What the signal ranks high, from :data:`TARGETS`.
    suggests_label : bool
        Whether its result carries ``extras["suggested_class"]``, a relabel
        suggestion for every row.
    needs_reference : bool
        Whether it reads the reference rows. When False the detector hands it
        an empty reference.
    label_free : callable or None
        ``label_free(context, epochs) -> SignalResult``: the variant scoring new
        rows that come without labels, in which ``context.y_rows`` holds the
        final network's predictions. None scores those predictions with
        ``func`` itself.
    fits_on_training : bool
        Whether its result on the training rows carries ``extras["fit"]``,
        the parameters it read off them (centres, scales, thresholds), which
        new rows must be scored with: the scoring state seeds a new rows'
        context with them (key :func:`training_fit_key`), so a new row's
        score does not depend on the rows scored with it.
    """

    name: str
    func: object = field(repr=False)
    description: str
    targets: tuple = ()
    suggests_label: bool = False
    needs_reference: bool = True
    label_free: object = field(default=None, repr=False)
    fits_on_training: bool = False

    def __call__(self, context, epochs):
        return self.func(context, epochs)

    def without_labels(self, context, epochs):
        """Score rows whose labels are unknown (``context.y_rows`` = predictions)."""
        return (self.label_free or self.func)(context, epochs)


@dataclass
class SignalResult:
    """What a signal returns.

    Attributes
    ----------
    scores : ndarray of shape (n_rows,)
        The signal over the selected epochs; higher = more suspicious.
    epoch_scores : ndarray of shape (n_rows, n_epochs)
        The signal computed on each captured epoch alone.
    extras : dict
        Signal-specific by-products, e.g. ``"suggested_class"`` (class codes).
    """

    scores: np.ndarray
    epoch_scores: np.ndarray
    extras: dict = field(default_factory=dict)


def register(
    name,
    *,
    description,
    targets,
    suggests_label=False,
    needs_reference=True,
    label_free=None,
    fits_on_training=False,
):
    """Decorator registering ``func(context, epochs) -> SignalResult`` as a signal.

    Parameters
    ----------
    name : str
        The name ``InfluenceGlitchDetector(signal=name)`` takes.
    description : str
        One line for :func:`available`.
    targets : tuple of str
        What the signal ranks high, from ``"label_noise"``, ``"anomalies"``,
        ``"mixtures"`` and ``"dynamics"``.
    suggests_label : bool, default=False
        Whether the result carries ``extras["suggested_class"]``.
    needs_reference : bool, default=True
        Whether the signal reads the reference rows.
    label_free : callable, default=None
        The variant scoring rows without labels (see :class:`Signal`).
    fits_on_training : bool, default=False
        Whether new rows are scored with parameters read off the training
        rows (see :class:`Signal`).

    Notes
    -----
    A registered signal is held to the contract of
    ``tests/test_signals_contract.py``: scores of the contracted shapes,
    finite, deterministic, independent of row chunking, a docstring with its
    formula, orientation and reference, and higher scores on a tiny injected
    case of what it targets.
    """
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    unknown = set(targets) - set(TARGETS)
    if not targets or unknown:
        raise ValueError(
            f"targets must be a non-empty subset of {TARGETS}; got {targets}."
        )

    def decorator(func):
        _REGISTRY[name] = Signal(
            name,
            func,
            description,
            targets,
            suggests_label,
            needs_reference,
            label_free,
            fits_on_training,
        )
        return func

    return decorator


def training_fit_key(name, epochs):
    """The context cache key of signal ``name``'s training fit over ``epochs``."""
    return ("training_fit", name, tuple(int(t) for t in np.asarray(epochs).ravel()))


def get_signal(name):
    """Return the registered :class:`Signal` called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown signal {name!r}; available signals: {sorted(_REGISTRY)}."
        ) from None


def available():
    """List every registered signal.

    Every signal is oriented so that higher = more suspicious; the table says
    what each is for.

    Returns
    -------
    table : pandas.DataFrame
        One row per signal with columns ``name``, ``targets`` (comma-separated
        kinds among ``label_noise``, ``anomalies``, ``mixtures`` and
        ``dynamics``), ``suggests_label`` (whether it names a relabel
        suggestion), ``needs_reference`` and ``description``.

    Examples
    --------
    >>> from skinfluence.signals import available
    >>> table = available().set_index("name")
    >>> table.loc["gd_class", "targets"], bool(table.loc["gd_class", "suggests_label"])
    ('label_noise', True)
    """
    columns = ["name", "targets", "suggests_label", "needs_reference", "description"]
    rows = [
        {
            "name": s.name,
            "targets": ", ".join(s.targets),
            "suggests_label": s.suggests_label,
            "needs_reference": s.needs_reference,
            "description": s.description,
        }
        for s in _REGISTRY.values()
    ]
    return pd.DataFrame(rows, columns=columns)


class SignalContext:
    """Factors of the rows to score and of the reference set, with cached reductions.

    Parameters
    ----------
    rows : Factors
        Per-epoch factors of the rows to score (all captured epochs).
    y_rows : torch.Tensor of shape (n,)
        Class codes of the rows to score (the labels their gradients use).
    reference : Factors
        Per-epoch factors of the reference rows.
    y_ref : torch.Tensor of shape (m,)
        Class codes of the reference rows.
    lrs : ndarray of shape (n_epochs,)
    n_classes : int
    self_index : torch.Tensor of shape (n,), default=None
        Position of each scored row in the reference set, or -1. Pairs
        ``(i, self_index[i])`` are left out of every reduction, so that a row
        drawn from the training data never scores itself.
    label_smoothing : float, default=0.0
    working_memory : int, default=None
        MiB allowed for one block of the influence matrix (scikit-learn's
        ``working_memory`` config when None).
    n_jobs : int, default=None
        Parallel row chunks for streamed reductions (joblib).
    progress : bool, default=False
        Show tqdm progress over streamed chunks.
    gradients : tuple of torch.Tensor, default=None
        ``(g_rows, g_ref)`` of shapes ``(n_epochs, n, P)`` and
        ``(n_epochs, m, P)``: explicit per-sample gradients of chosen layers
        (see :func:`skinfluence.tracin.per_sample_gradients`). When given,
        influence reductions (self-influence, class sums, streamed blocks)
        use ``I_t(i, j) = eta_t g_i . g_j`` instead of the last-layer closed
        form; signals built on the factors themselves (features, errors)
        keep using the last layer.
    """

    def __init__(
        self,
        rows,
        y_rows,
        reference,
        y_ref,
        lrs,
        n_classes,
        *,
        self_index=None,
        label_smoothing=0.0,
        working_memory=None,
        n_jobs=None,
        progress=False,
        gradients=None,
    ):
        self.rows = rows
        self.gradients = gradients
        self.y_rows = y_rows
        self.reference = reference
        self.y_ref = y_ref
        self.lrs = np.asarray(lrs, dtype=np.float64)
        self.n_classes = n_classes
        n = len(y_rows)
        self.self_index = (
            torch.full((n,), -1, dtype=torch.long, device=y_rows.device)
            if self_index is None
            else self_index
        )
        self.label_smoothing = label_smoothing
        self.working_memory = working_memory
        self.n_jobs = n_jobs
        self.progress = progress
        self._cache = {}

    @property
    def n_epochs(self):
        return len(self.lrs)

    @property
    def memory_mib(self):
        """MiB one chunk of a streamed computation may use.

        ``working_memory``, or scikit-learn's ``working_memory`` setting when
        None: every chunked computation of every signal reads it here.
        """
        if self.working_memory is None:
            return get_config()["working_memory"]
        return self.working_memory

    def cached(self, key, compute):
        """``compute()``, computed once per context and key.

        Signals share their expensive intermediate results (class sums,
        neighbours, per-epoch scores) through this cache; ``key`` is any
        hashable naming the result and what it depends on (e.g. the epochs).
        """
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # The former private name, kept while concurrent branches still call it.
    _cached = cached

    def peek(self, key, default=None):
        """The cached result ``key`` if it was computed, else ``default``."""
        return self._cache.get(key, default)

    def release(self, *keys):
        """Drop cached results no other signal needs, to free their memory.

        A signal calls it for its own per-row intermediates once its scores
        are formed (on a million rows, ``T x n x k`` tensors of hundreds of
        MB). A released result is computed again if asked for.
        """
        for key in keys:
            self._cache.pop(key, None)

    def errors(self):
        """``e = p - q`` of the scored rows, shape (n_epochs, n, K)."""
        return self.cached(
            "e", lambda: _errors(self.rows.p, self.y_rows, self.label_smoothing)
        )

    def reference_errors(self):
        """``e = p - q`` of the reference rows, shape (n_epochs, m, K)."""
        return self.cached(
            "e_ref", lambda: _errors(self.reference.p, self.y_ref, self.label_smoothing)
        )

    def self_influence(self):
        """Per-epoch self-influence ``eta_t ||e||^2 (||h||^2 + 1)``, shape (n, n_epochs)."""

        def compute():
            if self.gradients is not None:
                g = self.gradients[0]
                lrs = torch.as_tensor(self.lrs, dtype=torch.float64, device=g.device)
                return (g.double() ** 2).sum(2).T * lrs
            # Every epoch at once; a norm reads h in one pass, with no n x d
            # temporary (h * h).
            e, h = self.errors(), self.rows.h
            lrs = torch.as_tensor(self.lrs, dtype=torch.float64, device=h.device)
            h_sq = torch.linalg.vector_norm(h, dim=2).double().square_()
            e_sq = torch.linalg.vector_norm(e, dim=2).double().square_()
            return (lrs[:, None] * e_sq * (h_sq + 1)).T

        return self.cached("si", compute)

    def reference_as_rows(self):
        """A context scoring the reference rows themselves, each left out of its own reference.

        Signals computed there form the *null* distribution of a clean set
        (when the reference is a trusted ``X_val``), which calibrates signals
        of different scales against each other (see the ``auto`` signal).
        """

        def compute():
            null = self._reference_context()
            origin = self.reference_from_training()
            null.cached("reference_from_training", lambda: origin)
            return null

        return self.cached("reference_as_rows", compute)

    def _reference_context(self):
        """The reference rows as rows, each left out of its own reference (uncached)."""
        m = len(self.y_ref)
        gradients = None
        if self.gradients is not None:
            gradients = (self.gradients[1], self.gradients[1])
        return SignalContext(
            self.reference,
            self.y_ref,
            self.reference,
            self.y_ref,
            self.lrs,
            self.n_classes,
            self_index=torch.arange(m, device=self.y_ref.device),
            label_smoothing=self.label_smoothing,
            working_memory=self.working_memory,
            n_jobs=self.n_jobs,
            gradients=gradients,
        )

    def in_reference(self):
        """Boolean mask of the scored rows that are themselves reference rows."""
        return self.self_index >= 0

    def reference_from_training(self):
        """Whether the reference is drawn from the training rows (no trusted ``X_val``).

        True when some scored rows are reference rows; contexts whose rows
        are not (new rows, the reference scored as rows) are told by the
        context or scoring state that built them (the cached
        ``"reference_from_training"``), so that every context against one
        reference makes the same choices.
        """
        seeded = self.peek("reference_from_training")
        if seeded is not None:
            return bool(seeded)
        return bool(self.in_reference().any())

    def class_sums(self):
        """Per-epoch ``S[t, i, k] = sum_{j in V_k, j != i} I_t(i, j)`` (identity B).

        Shape (n_epochs, n, K); the self pair is removed from the row's own
        class when the row belongs to the reference set.
        """

        def compute():
            if self.gradients is not None:
                sums = self._gradient_class_sums()
            else:
                sums = self._factor_class_sums()
            inside = self.in_reference()
            if inside.any():
                rows = torch.nonzero(inside).squeeze(1)
                sums[:, rows, self.y_rows[rows]] -= self.self_influence()[rows].T
            return sums

        return self.cached("class_sums", compute)

    def total_influence(self):
        """Per-epoch ``sum_{j != i} I_t(i, j)`` over every reference row, shape (n, n_epochs).

        The sum over classes of :meth:`class_sums` when they are cached;
        otherwise through the moment of the whole reference set
        (``O(n K d)`` per epoch instead of ``O(n K^2 d)``).
        """

        def compute():
            if "class_sums" in self._cache:
                return self.class_sums().sum(2).T
            if self.gradients is not None:
                g_rows, g_ref = self.gradients
                per_epoch = [
                    self.lrs[t] * g_rows[t] @ g_ref[t].sum(0)
                    for t in range(self.n_epochs)
                ]
                total = torch.stack(per_epoch, 1).double()
            else:
                total = self._factor_total()
            inside = self.in_reference()
            if inside.any():
                total[inside] -= self.self_influence()[inside]
            return total

        return self.cached("total_influence", compute)

    def _factor_total(self):
        # sum_j I_t(i, j) = eta_t e_i . (M [h_i, 1]) with M = sum_j e_j [h_j, 1]^T.
        e, e_ref, h, h_ref = (
            self.errors(),
            self.reference_errors(),
            self.rows.h,
            self.reference.h,
        )
        moment_h = e_ref.transpose(1, 2) @ h_ref  # (T, K, d)
        moment_1 = e_ref.sum(1)  # (T, K)
        per_epoch = [
            self.lrs[t] * (torch.addmm(moment_1[t], h[t], moment_h[t].T) * e[t]).sum(1)
            for t in range(self.n_epochs)
        ]
        return torch.stack(per_epoch, 1).double()

    def _gradient_class_sums(self):
        g_rows, g_ref = self.gradients
        onehot = torch.nn.functional.one_hot(self.y_ref, self.n_classes).to(g_ref.dtype)
        per_epoch = [
            self.lrs[t] * g_rows[t] @ (onehot.T @ g_ref[t]).T
            for t in range(self.n_epochs)
        ]
        return torch.stack(per_epoch).double()

    def _factor_class_sums(self):
        e, e_ref = self.errors(), self.reference_errors()
        return torch.stack(
            [
                class_sums(
                    self.rows.h[t],
                    e[t],
                    class_moments(
                        self.reference.h[t], e_ref[t], self.y_ref, self.n_classes
                    ),
                    self.lrs[t],
                )
                for t in range(self.n_epochs)
            ]
        ).double()

    def class_counts(self):
        """``|V_k \\ {i}|``: reference rows per class seen by each row, shape (n, K)."""

        def compute():
            counts = torch.bincount(self.y_ref, minlength=self.n_classes).double()
            counts = counts.expand(len(self.y_rows), -1).clone()
            inside = torch.nonzero(self.in_reference()).squeeze(1)
            counts[inside, self.y_rows[inside]] -= 1
            return counts

        return self.cached("class_counts", compute)

    def row_chunks(self):
        """The row slices :meth:`stream_blocks` processes, within ``memory_mib``.

        Three ``c x m`` float32 buffers per chunk of ``c`` rows, and about a
        million entries per block so that elementwise passes run from cache.

        Returns
        -------
        chunks : list of slice
        """
        return list(_row_batches(len(self.y_rows), len(self.y_ref), self.memory_mib))

    def stream_blocks(self, reducer, *, desc="scoring"):
        """Stream the influence matrix in row chunks, one epoch block at a time.

        The fast path for non-linear reductions: each chunk's per-epoch blocks
        are computed into two reused buffers, so memory is a few ``c x m``
        blocks whatever ``n``, with ``c`` bounded by ``working_memory`` and
        kept near a million entries so the elementwise passes stay in cache.

        Parameters
        ----------
        reducer : callable
            ``reducer(blocks, self_pairs) -> torch.Tensor of shape (c, ...)``.
            ``blocks`` iterates over the ``n_epochs`` blocks ``I_t`` of shape
            ``(c, m)``; each is overwritten by the next, so use it before
            drawing another. ``self_pairs`` is a pair ``(rows, cols)`` of index
            tensors locating the self pairs of the chunk, which every reducer
            must leave out. It must be picklable (a module-level function, or a
            ``functools.partial`` of one) so joblib backends such as Dask can
            ship it.
        desc : str
            Label of the progress bar.

        Returns
        -------
        reduced : torch.Tensor of shape (n, ...)
            Chunk results concatenated along the rows.
        """
        batches = self.row_chunks()
        if self.gradients is not None:
            g_rows, g_ref = self.gradients
            lrs = torch.as_tensor(self.lrs, dtype=g_rows.dtype, device=g_rows.device)
            g_ref_t = g_ref.transpose(1, 2).contiguous()
            jobs = (
                delayed(_reduce_gradient_chunk)(
                    reducer,
                    g_rows[:, rows] * lrs[:, None, None],
                    g_ref_t,
                    self.self_index[rows],
                )
                for rows in batches
            )
        else:
            e, e_ref = self.errors(), self.reference_errors()
            # Transposed once, contiguous: BLAS is fastest on (d, m) right operands.
            h_ref_t = self.reference.h.transpose(1, 2).contiguous()
            e_ref_t = e_ref.transpose(1, 2).contiguous()
            lrs = torch.as_tensor(self.lrs, dtype=e.dtype, device=e.device)
            jobs = (
                delayed(_reduce_chunk)(
                    reducer,
                    self.rows.h[:, rows],
                    e[:, rows] * lrs[:, None, None],
                    h_ref_t,
                    e_ref_t,
                    self.self_index[rows],
                )
                for rows in batches
            )
        parallel = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")
        results = list(
            tqdm(
                parallel(jobs), total=len(batches), desc=desc, disable=not self.progress
            )
        )
        return torch.cat(results)


def as_numpy(tensor):
    """A tensor as a float64 numpy array on the CPU (what a SignalResult holds)."""
    return tensor.detach().cpu().numpy().astype(np.float64, copy=False)


def _errors(p, y, label_smoothing):
    """``e = p - q`` of every epoch at once, ``q`` the criterion's target (cf. ``errors``)."""
    n_classes = p.shape[-1]
    target = torch.nn.functional.one_hot(y, n_classes).to(p.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
    return p - target


def _row_batches(n, m, working_memory):
    # Three c x m float32 buffers within the working memory, and about a
    # million entries per block so elementwise passes run from cache.
    budget = int(working_memory * 2**20) // (3 * 4 * m)
    chunk = max(1, min(n, budget, max(1, 2**20 // m)))
    return gen_batches(n, chunk)


def _reduce_chunk(reducer, h_rows, e_rows, h_ref_t, e_ref_t, self_index):
    """Reduce the blocks ``I_t = (e_i . e_j)(h_i . h_j + 1)`` of a chunk (``e`` scaled by lr)."""
    c, m = h_rows.shape[1], h_ref_t.shape[2]
    block = torch.empty(c, m, dtype=h_rows.dtype, device=h_rows.device)
    errors_block = torch.empty_like(block)
    one = torch.ones(1, 1, dtype=h_rows.dtype, device=h_rows.device)

    def blocks():
        for t in range(len(h_rows)):
            torch.addmm(one, h_rows[t], h_ref_t[t], out=block)
            _errors_product(e_rows[t], e_ref_t[t], errors_block)
            yield block.mul_(errors_block)

    rows = torch.nonzero(self_index >= 0).squeeze(1)
    return reducer(blocks(), (rows, self_index[rows]))


def _errors_product(e_rows, e_ref_t, out):
    """``out = e_rows @ e_ref_t`` (``K`` inner), as one row slice per CPU thread.

    With ``K`` classes this product is thin and MKL threads it poorly: on two
    cores one ``(524, 10) @ (10, 2000)`` product took 1.4 to 3 times as long
    as the same rows as a batch of per-thread slices.
    """
    parts = torch.get_num_threads() if out.device.type == "cpu" else 1
    size = len(out) // parts
    if parts == 1 or size == 0:
        return torch.mm(e_rows, e_ref_t, out=out)
    split = parts * size
    torch.bmm(
        e_rows[:split].view(parts, size, -1),
        e_ref_t.expand(parts, -1, -1),
        out=out[:split].view(parts, size, -1),
    )
    if split < len(out):
        torch.mm(e_rows[split:], e_ref_t, out=out[split:])
    return out


def _reduce_gradient_chunk(reducer, g_rows, g_ref_t, self_index):
    """Reduce the blocks ``I_t = g_i . g_j`` of a chunk (``g_i`` scaled by ``eta_t``)."""
    block = torch.empty(g_rows.shape[1], g_ref_t.shape[2], dtype=g_rows.dtype)
    block = block.to(g_rows.device)

    def blocks():
        for t in range(len(g_rows)):
            yield torch.mm(g_rows[t], g_ref_t[t], out=block)

    rows = torch.nonzero(self_index >= 0).squeeze(1)
    return reducer(blocks(), (rows, self_index[rows]))
