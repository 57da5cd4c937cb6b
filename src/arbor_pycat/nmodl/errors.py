"""The error the NMODL importer raises: it names the file and the line."""
from ..errors import MechanismError


class NmodlError(MechanismError):
    """An NMODL file that cannot be imported: ``file:line: message``."""

    def __init__(self, message, filename="<nmodl>", line=None):
        self.filename = filename
        self.line = line
        self.reason = message
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: {message}")
