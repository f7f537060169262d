"""The project's error base class: problems with the user's data or params, reported without a traceback."""


class AddError(RuntimeError):
    """Bad input (a file, a param, a dataset): the message names the file or key and the problem."""


class ParamsError(AddError, ValueError):
    """A parameter is missing or has a value that makes no sense (re-exported by :mod:`add.core.params`)."""
