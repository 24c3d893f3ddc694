"""Input checks shared by the detector and the glitch injectors."""

import pandas as pd

__all__ = ["check_numeric_frame"]

_NUMERIC_OBJECTS = {"integer", "floating", "mixed-integer-float", "decimal", "boolean"}


def check_numeric_frame(X, owner, name="X"):
    """Reject a DataFrame with non-numeric columns, naming them and their kinds.

    scikit-learn's validation would stop at the first string with pandas'
    "could not convert string to float", which names neither the column nor
    the remedy. Arrays and numeric frames pass through untouched.

    Parameters
    ----------
    X : object
        The input; only a :class:`pandas.DataFrame` is checked.
    owner : str
        Name of the estimator, for the message.
    name : str, default="X"
        Name of the argument, for the message.

    Raises
    ------
    ValueError
        If a column holds strings, categories of strings, dates or other
        non-numeric values.
    """
    if not isinstance(X, pd.DataFrame):
        return
    bad = [
        f"{column!r} ({X.dtypes.iloc[i]})"
        for i, column in enumerate(X.columns)
        if not _is_numeric(X.iloc[:, i])
    ]
    if bad:
        listed = ", ".join(bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(
            f"{owner} needs numeric features, but {name} has {len(bad)} non-numeric "
            f"column(s): {listed}. Encode them first, e.g. with a ColumnTransformer "
            "and sklearn.preprocessing.OneHotEncoder or OrdinalEncoder."
        )


def _is_numeric(column):
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.cat.categories  # categories of numbers convert fine
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):  # so do numbers held as Python objects
        return pd.api.types.infer_dtype(column, skipna=True) in _NUMERIC_OBJECTS
    return False
