"""The base class of the failures textrnn expects and explains."""


class TextrnnError(Exception):
    """A failure whose message tells the user what went wrong and what to do: a bad input record, anomalies in
    the data, a dataset or GloVe file that cannot be had, nothing pushed to predict with. The `textrnn` command
    prints these as one line, without a traceback (`--verbose` shows it).

    Example:

    >>> from textrnn.errors import TextrnnError
    >>> from textrnn.preprocessing.records import InvalidRecordError
    >>> issubclass(InvalidRecordError, TextrnnError)
    True
    """
