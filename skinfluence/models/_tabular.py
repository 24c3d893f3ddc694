"""The tabular ResNet and FT-Transformer of Gorishniy et al. (2021).

Both wrap the reference implementation in ``rtdl_revisiting_models``; only
the output block is rebuilt here, so that the logits come from a plain
``torch.nn.Linear`` attribute (``head``) whose inputs are the penultimate
activations of last-layer TracIn.
"""

import rtdl_revisiting_models as rtdl
from torch import nn

from ._utils import running_batchnorm_stats

__all__ = ["TabularResNet", "FTTransformer"]


class TabularResNet(nn.Module):
    """ResNet for tabular data (Gorishniy et al., 2021, Section 3.2).

    The body is ``rtdl_revisiting_models.ResNet`` built without its output
    block; the output block of the paper (batch norm, ReLU, linear) is
    rebuilt with the final linear layer exposed as ``head``.

    Parameters
    ----------
    n_features : int, default=64
        Width of the input.
    n_classes : int, default=2
        Number of logits.
    n_blocks : int, default=2
        Number of residual blocks.
    d_block : int, default=128
        Width of the residual stream; the penultimate width ``d`` of the
        influence closed form.
    d_hidden_multiplier : float, default=2.0
        Hidden width of each block as a multiple of ``d_block``.
    dropout1 : float, default=0.1
        Dropout on the hidden layer of each block.
    dropout2 : float, default=0.0
        Dropout on the residual branch of each block.

    Attributes
    ----------
    backbone : rtdl_revisiting_models.ResNet
        Input projection and residual blocks.
    output_norm : torch.nn.Sequential
        Batch norm and ReLU before the head.
    head : torch.nn.Linear
        The logit layer.

    See Also
    --------
    FTTransformer : The other tabular model of the same paper.
    MLP : A plain multilayer perceptron.

    Notes
    -----
    A training batch of a single row (skorch's last batch when the training
    set size leaves a remainder of one) is normalised with the running
    batch-norm statistics, since batch statistics of one row do not exist.

    References
    ----------
    .. [1] Y. Gorishniy, I. Rubachev, V. Khrulkov and A. Babenko, "Revisiting
       deep learning models for tabular data", NeurIPS 34, 2021.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import TabularResNet
    >>> net = TabularResNet(n_features=5, n_classes=3, n_blocks=1, d_block=8)
    >>> net.eval()(torch.zeros(4, 5)).shape
    torch.Size([4, 3])
    """

    last_layer = "head"

    def __init__(
        self,
        n_features=64,
        n_classes=2,
        n_blocks=2,
        d_block=128,
        d_hidden_multiplier=2.0,
        dropout1=0.1,
        dropout2=0.0,
    ):
        super().__init__()
        self.backbone = rtdl.ResNet(
            d_in=n_features,
            d_out=None,
            n_blocks=n_blocks,
            d_block=d_block,
            d_hidden_multiplier=d_hidden_multiplier,
            dropout1=dropout1,
            dropout2=dropout2,
        )
        self.output_norm = nn.Sequential(nn.BatchNorm1d(d_block), nn.ReLU())
        self.head = nn.Linear(d_block, n_classes)

    def forward(self, X):
        if self.training and X.shape[0] == 1:
            with running_batchnorm_stats(self):
                return self._forward(X)
        return self._forward(X)

    def _forward(self, X):
        return self.head(self.output_norm(self.backbone(X)))


class FTTransformer(nn.Module):
    """Feature Tokenizer + Transformer (Gorishniy et al., 2021, Section 3.3).

    The body is ``rtdl_revisiting_models.FTTransformer`` built without its
    output block; every feature is treated as continuous (the paper's
    Jannis, Forest Cover and Epsilon are all numeric, and scikit-learn hands
    the net one float matrix). The output block of the paper (layer norm,
    ReLU, linear on the [CLS] token) is rebuilt with the final linear layer
    exposed as ``head``.

    Parameters
    ----------
    n_features : int, default=64
        Number of (continuous) input features, each one token.
    n_classes : int, default=2
        Number of logits.
    n_blocks : int, default=3
        Number of transformer blocks, 1 to 6 when other settings are left to
        their defaults.
    d_block : int, default=None
        Token width, a multiple of ``attention_n_heads``; the penultimate
        width ``d`` of the influence closed form. ``None`` takes the
        package's default for ``n_blocks`` (192 for 3 blocks).
    attention_n_heads : int, default=8
        Number of attention heads.
    attention_dropout : float, default=None
        ``None`` takes the package's default for ``n_blocks``.
    ffn_d_hidden_multiplier : float, default=4/3
        Hidden width of the ReGLU feed-forward layers as a multiple of
        ``d_block``.
    ffn_dropout : float, default=None
        ``None`` takes the package's default for ``n_blocks``.
    residual_dropout : float, default=0.0
        Dropout on the residual branches.

    Attributes
    ----------
    model : rtdl_revisiting_models.FTTransformer
        Feature tokenizer, [CLS] token and transformer blocks.
    output_norm : torch.nn.Sequential
        Layer norm and ReLU before the head.
    head : torch.nn.Linear
        The logit layer.

    See Also
    --------
    TabularResNet : The other tabular model of the same paper.

    Notes
    -----
    The defaults are those of ``FTTransformer.get_default_kwargs`` in
    ``rtdl_revisiting_models``, tuned by Gorishniy et al. for AdamW. The
    templates of :func:`~skinfluence.models.make_net` train with plain SGD,
    as TracIn assumes, and under plain SGD the [CLS] token picks up the
    input slowly: it learns well on a few strong features (breast cancer)
    but can stay near chance for many epochs on many weak ones (digits'
    64 pixels). Check the training accuracy; more epochs help, and another
    optimiser (``net.set_params(optimizer=torch.optim.AdamW)``) trains it as
    the paper of origin did, at the price of TracIn's assumption.

    References
    ----------
    .. [1] Y. Gorishniy, I. Rubachev, V. Khrulkov and A. Babenko, "Revisiting
       deep learning models for tabular data", NeurIPS 34, 2021.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import FTTransformer
    >>> net = FTTransformer(n_features=5, n_classes=3, n_blocks=1, d_block=8)
    >>> net(torch.zeros(4, 5)).shape
    torch.Size([4, 3])
    """

    last_layer = "head"

    def __init__(
        self,
        n_features=64,
        n_classes=2,
        n_blocks=3,
        d_block=None,
        attention_n_heads=8,
        attention_dropout=None,
        ffn_d_hidden_multiplier=4 / 3,
        ffn_dropout=None,
        residual_dropout=0.0,
    ):
        super().__init__()
        # The package's defaults are indexed by depth and defined up to six
        # blocks; deeper nets must give the three settings explicitly.
        defaults = (
            rtdl.FTTransformer.get_default_kwargs(n_blocks)
            if 1 <= n_blocks <= 6
            else {}
        )
        d_block = defaults["d_block"] if d_block is None else d_block
        self.model = rtdl.FTTransformer(
            n_cont_features=n_features,
            cat_cardinalities=[],
            d_out=None,
            n_blocks=n_blocks,
            d_block=d_block,
            attention_n_heads=attention_n_heads,
            attention_dropout=(
                defaults["attention_dropout"]
                if attention_dropout is None
                else attention_dropout
            ),
            ffn_d_hidden_multiplier=ffn_d_hidden_multiplier,
            ffn_dropout=defaults["ffn_dropout"] if ffn_dropout is None else ffn_dropout,
            residual_dropout=residual_dropout,
        )
        self.output_norm = nn.Sequential(nn.LayerNorm(d_block), nn.ReLU())
        self.head = nn.Linear(d_block, n_classes)

    def forward(self, X):
        return self.head(self.output_norm(self.model(X, None)))
