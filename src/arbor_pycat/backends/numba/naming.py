"""The prefix of every name the generated code makes (methods may not use it)."""

PREFIX = "__pc_"
