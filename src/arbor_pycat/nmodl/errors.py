"""The error the NMODL importer raises: it names the file and the line."""
from ..errors import MechanismError


class NmodlError(MechanismError):
    """An NMODL file that cannot be imported: ``file:line: message``."""

    def __init__(self, message, filename="<nmodl>", line=None):
        self._filename = filename
        self.line = line
        self.reason = message
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: {message}")

    @property
    def filename(self):
        """The .mod file (or ``<nmodl>`` for text)."""
        return self._filename

    @property
    def lineno(self):
        return self.line
