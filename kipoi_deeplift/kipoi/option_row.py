"""One row of ``score``'s option table (:data:`kipoi_deeplift.kipoi.options.SCORE_OPTIONS`):
how an option becomes a flag, an :class:`~kipoi_deeplift.kipoi.options.Options` field, a word
of the rerun command and an attribute of the score file."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

#: The levels of :attr:`Option.same`: ``run``: two files of one run agree on it (merge,
#: compare); ``resume``: an interrupted run continues only with the same value.
SAME_LEVELS = ("run", "resume")


@dataclass(frozen=True)
class Option:
    """One row of :data:`SCORE_OPTIONS`.

    Parameters
    ----------
    name : str
        The :class:`Options` field and the parsed flag's destination.
    flags : tuple of str
        The command line's spellings (Kipoi's where Kipoi has one: ``-n/--num-workers``);
        every ``--two-words`` is also ``--two_words``. Empty: Python only.
    help : str
        The flag's help.
    default : Any
        The run's default. For a ``layered`` option the field's default is ``None`` (not given)
        and this one applies after the model's own defaults.
    type, choices, metavar, nargs : argparse's settings of the flag.
    switch : bool
        A flag without a value (``store_true``).
    layered : bool
        A DeepLIFT setting a model.yaml or zoo config may set (see :func:`layered`).
    argument : bool
        An argument of :func:`~kipoi_deeplift.kipoi.scoring.score` itself, not a field.
    attribute : str or None
        The score file attribute that records the run's value.
    same : {'run', 'resume', None}
        Whether its value makes results differ: files of one run agree on it (``run``), or a
        run continues only with it unchanged (``resume``).
    rerun : bool
        Whether the rerun command writes it; ``always``: even at its default; ``spelling``:
        as which flag (default: the first long one).
    cli : bool
        Whether it has a flag (else Python only).
    word : callable
        The run's value -> the command line's word (``None``: left out).
    record : callable or None
        (the run's value, every option's value) -> the attribute (default: the value).
    read : callable or None
        The parsed flag -> the field's value (default: as parsed).
    """

    name: str
    flags: tuple[str, ...] = ()
    help: str = ""
    default: Any = None
    type: Callable | None = None
    choices: tuple | None = None
    metavar: str | None = None
    nargs: str | None = None
    switch: bool = False
    layered: bool = False
    argument: bool = False
    attribute: str | None = None
    same: str | None = None
    rerun: bool = True
    always: bool = False
    word: Callable[[Any], str | None] = str
    record: Callable[[Any, Mapping[str, Any]], Any] | None = None
    read: Callable[[Any], Any] | None = None
    spelling: str | None = None
    cli: bool = True

    @property
    def flag(self) -> str:
        """How the rerun command spells it.

        Returns
        -------
        str
            ``spelling``, else the first long flag (``--rule`` of ``--rule``/``--method``).
        """
        return self.spelling or next(f for f in self.flags if f.startswith("--"))

    @property
    def field_default(self) -> Any:
        """The :class:`Options` field's default.

        Returns
        -------
        Any
            ``None`` for a layered setting (not given: the model's defaults apply), else
            :attr:`default`.
        """
        return None if self.layered else self.default

    def add_to(self, parser) -> None:
        """Add the option's flag(s) to ``parser`` (none for a Python-only row).

        Parameters
        ----------
        parser : argparse.ArgumentParser
            The ``score`` parser (``--two-words`` also becomes ``--two_words`` there).
        """
        if not self.cli:
            return
        kwargs: dict = {"dest": self.name, "help": self.help}
        if self.switch:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(default=self.field_default,
                          **{k: v for k, v in (("type", self.type), ("choices", self.choices),
                                               ("metavar", self.metavar), ("nargs", self.nargs))
                             if v is not None})
        parser.add_argument(*self.flags, **kwargs)

    def from_args(self, parsed) -> Any:
        """The field's value from the parsed flags.

        Parameters
        ----------
        parsed : argparse.Namespace
            What the ``score`` parser read.

        Returns
        -------
        Any
            The flag's value as :class:`Options` holds it (``read`` applied).
        """
        value = getattr(parsed, self.name, self.field_default)
        return self.read(value) if self.read is not None else value

    def words(self, value: Any) -> list[str]:
        """The option in the rerun command.

        Parameters
        ----------
        value : Any
            The option's value in the run.

        Returns
        -------
        list of str
            ``[flag]`` for a switch that is on, ``[flag, word]``, or ``[]``: left out (not
            given, at its default unless ``always``, or not rerun).
        """
        if not self.rerun or value is None or value is False or not self.cli:
            return []
        if self.switch:
            return [self.flag]
        if not self.always and value == self.default:
            return []
        word = self.word(value)
        return [] if word is None else [self.flag, word]

    def attribute_value(self, value: Any, values: Mapping[str, Any]) -> Any:
        """The score file attribute recording ``value``: ``record``'s, else the value as
        HDF5 stores it (``None``: ``''``; a bool: 0 or 1; a list, tuple or dict: JSON).

        Parameters
        ----------
        value : Any
            The option's value in the run.
        values : Mapping[str, Any]
            Every option's value in the run, by row name (a record may read others).
        """
        if self.record is not None:
            return self.record(value, values)
        if value is None:
            return ""
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (list, tuple, dict)):
            return json.dumps(value, default=str)
        return value


def comma_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """How ``--layers`` is read.

    Parameters
    ----------
    value : str, sequence of str or None
        ``'a,b'`` or ``['a', 'b']``.

    Returns
    -------
    tuple of str
        ``('a', 'b')`` (empty names dropped).
    """
    if isinstance(value, str):
        return tuple(x for x in value.split(",") if x.strip())
    return tuple(value or ())


def references_word(value: Any) -> str:
    """--references in the rerun command.

    Parameters
    ----------
    value : str or numpy.ndarray or dict
        The references of the run.

    Returns
    -------
    str
        The name or file, or ``ARRAY.npy`` for arrays given in Python.
    """
    return value if isinstance(value, str) else "ARRAY.npy"


class Derived(Option):
    """The derived formats (one ``--<format> PREFIX`` flag each, a row of
    :data:`kipoi_deeplift.io.derived.FORMATS`), gathered in one field: format -> prefix.

    Parameters
    ----------
    name, default : as :class:`Option` (``'derived'``, ``{}``); the flags come from the formats.
    """

    def add_to(self, parser) -> None:
        """Add ``--<format> PREFIX`` for every derived format to ``parser``.

        Parameters
        ----------
        parser : argparse.ArgumentParser
        """
        from ..io.derived import FORMATS

        for fmt in FORMATS.values():
            parser.add_argument(f"--{fmt.name}", metavar=fmt.metavar, help=fmt.help)

    def from_args(self, parsed) -> dict:
        """The formats asked for.

        Parameters
        ----------
        parsed : argparse.Namespace
            What the ``score`` or ``merge`` parser read.

        Returns
        -------
        dict of str to str
            Format name -> prefix, for the flags given.
        """
        from ..io.derived import FORMATS

        return {k: getattr(parsed, k) for k in FORMATS if getattr(parsed, k, None)}

    def words(self, value: Mapping[str, str]) -> list[str]:
        """The formats asked for in the rerun command.

        Parameters
        ----------
        value : Mapping[str, str]
            Format -> prefix.

        Returns
        -------
        list of str
            ``--<format> PREFIX`` for each, in order.
        """
        return [w for k, v in value.items() for w in (f"--{k}", str(v))]

    @property
    def flag_names(self) -> list[str]:
        """The formats' flags.

        Returns
        -------
        list of str
            ``--bigwig``, ``--bedgraph``, ... in :data:`~kipoi_deeplift.io.derived.FORMATS`'s
            order.
        """
        from ..io.derived import FORMATS

        return [f"--{k}" for k in FORMATS]


